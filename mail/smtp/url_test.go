package smtp_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/mail/smtp"
)

// secret is the password of every URL below; no message may show it.
const secret = "s3cr3t-pa55"

func TestParseURL(t *testing.T) {
	tests := []struct {
		in         string
		implicit   bool
		host       string
		port       int
		user       string
		insecure   bool
		redactedAs string
	}{
		{"smtp://mail.example.com", false, "mail.example.com", 587, "", false, "smtp://mail.example.com:587"},
		{"smtp://ada:" + secret + "@mail.example.com:2525", false, "mail.example.com", 2525, "ada", false, "smtp://ada:***@mail.example.com:2525"},
		{"smtps://mail.example.com", true, "mail.example.com", 465, "", false, "smtps://mail.example.com:465"},
		{"SMTPS://ada:" + secret + "@mail.example.com:465/", true, "mail.example.com", 465, "ada", false, "smtps://ada:***@mail.example.com:465"},
		{"smtp://127.0.0.1:25?insecure", false, "127.0.0.1", 25, "", true, "smtp://127.0.0.1:25?insecure"},
		{"smtp://[::1]:25", false, "::1", 25, "", false, "smtp://[::1]:25"},
		{"smtp://ada%40example.com:p%40ss%3Aw%2Fd%3F%23@mail.example.com", false, "mail.example.com", 587, "ada@example.com", false, "smtp://ada%40example.com:***@mail.example.com:587"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			u, err := smtp.ParseURL(tc.in)
			if err != nil {
				t.Fatalf("ParseURL: %v", err)
			}
			if u.ImplicitTLS != tc.implicit || u.Host != tc.host || u.Port != tc.port || u.Username != tc.user || u.Insecure != tc.insecure {
				t.Errorf("ParseURL = %+v", u)
			}
			if got := u.String(); got != tc.redactedAs {
				t.Errorf("String = %q, want %q", got, tc.redactedAs)
			}
			if got := fmt.Sprintf("%v %+v %#v", u, u, *u); strings.Contains(got, secret) {
				t.Errorf("printing the URL shows the password: %s", got)
			}
			if smtp.Redact(tc.in) != tc.redactedAs {
				t.Errorf("Redact = %q, want %q", smtp.Redact(tc.in), tc.redactedAs)
			}
		})
	}
}

// TestParseURLRefuses is the attack table of --smtp-url: every refusal is
// one sentence that says what is wrong, and none shows the password.
func TestParseURLRefuses(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "is empty"},
		{"http scheme", "http://ada:" + secret + "@mail.example.com", `scheme "http" is not smtp or smtps`},
		{"smtp+tls scheme", "smtp+tls://mail.example.com", "is not smtp or smtps"},
		{"no scheme", "mail.example.com:587", "no scheme"},
		{"no slashes", "smtp:mail.example.com", "must start with smtp://"},
		{"missing host", "smtp://ada:" + secret + "@:587", "names no host"},
		{"missing host, no port", "smtp://", "names no host"},
		{"user without password", "smtp://ada@mail.example.com", `user name "ada" but no password`},
		{"user with empty password", "smtp://ada:@mail.example.com", `user name "ada" but no password`},
		{"password without user", "smtp://:" + secret + "@mail.example.com", "a password but no user name"},
		{"empty userinfo", "smtp://@mail.example.com", "no user name before it"},
		{"CRLF in the URL", "smtp://mail.example.com\r\nRCPT TO:<eve@example.com>", "line break"},
		{"LF in the password", "smtp://ada:" + secret + "\n@mail.example.com", "line break"},
		{"NUL", "smtp://mail.example.com\x00", "control character"},
		{"encoded CRLF in the password", "smtp://ada:" + secret + "%0D%0AAUTH@mail.example.com", "user name or password contains a line break"},
		{"encoded CRLF in the user", "smtp://ada%0D%0AQUIT:" + secret + "@mail.example.com", "user name or password contains a line break"},
		{"encoded NUL in the password", "smtp://ada:" + secret + "%00@mail.example.com", "line break or another control character"},
		{"encoded CRLF in the host", "smtp://mail%0D%0A.example.com", "cannot be parsed"},
		{"port 0", "smtp://mail.example.com:0", `port "0" is not a number from 1 to 65535`},
		{"port too large", "smtp://mail.example.com:65536", `port "65536" is not a number from 1 to 65535`},
		{"port not a number", "smtp://ada:" + secret + "@mail.example.com:abc", "cannot be parsed"},
		{"empty port", "smtp://mail.example.com:", "port is empty"},
		{"insecure with a value", "smtp://mail.example.com?insecure=1", "takes no value"},
		{"insecure=true", "smtp://mail.example.com?insecure=true", "takes no value"},
		{"insecure= empty", "smtp://mail.example.com?insecure=", "takes no value"},
		{"Insecure", "smtp://mail.example.com?Insecure", `"Insecure" is unknown; did you mean ?insecure`},
		{"skip_verify", "smtp://mail.example.com?skip_verify", `"skip_verify" is unknown; the only one is ?insecure`},
		{"in-secure", "smtp://mail.example.com?in-secure", "did you mean ?insecure"},
		{"two settings", "smtp://mail.example.com?insecure&tls=off", `"tls" is unknown`},
		{"semicolon", "smtp://mail.example.com?insecure;x", "cannot be parsed"},
		{"path", "smtp://mail.example.com/relay", `has a path ("/relay")`},
		{"fragment", "smtp://ada:pa#ss@mail.example.com", "cannot be parsed"},
		{"trailing fragment", "smtp://mail.example.com#x", "fragment"},
		{"overlong", "smtp://" + strings.Repeat("a", 3000) + ".example.com", "longer than 2048"},
		{"space in host", "smtp://mail example.com", "cannot be parsed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := smtp.ParseURL(tc.in)
			if err == nil {
				t.Fatalf("ParseURL(%q) = %v, want a refusal", tc.in, u)
			}
			if !errors.Is(err, valet.ErrInvalidRequest) {
				t.Errorf("error %v does not wrap valet.ErrInvalidRequest", err)
			}
			msg := valet.Message(err)
			if !strings.Contains(msg, tc.want) {
				t.Errorf("sentence %q, want it to say %q", msg, tc.want)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(msg, secret) {
				t.Errorf("the refusal shows the password: %q", err)
			}
			if strings.ContainsAny(msg, "\r\n\x00") || !strings.HasSuffix(msg, ".") && !strings.HasSuffix(msg, "?") {
				t.Errorf("sentence %q is not one clean sentence", msg)
			}
			if strings.Contains(smtp.Redact(tc.in), secret) {
				t.Errorf("Redact(%q) shows the password", tc.in)
			}
		})
	}
}
