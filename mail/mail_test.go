package mail_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/mail"
)

func TestParseAddress(t *testing.T) {
	tests := []struct {
		name, in string
		wantAddr string // "" for a refusal
		wantName string
		wantMsg  string // part of the refusal's sentence
	}{
		{"bare", "ada@example.com", "ada@example.com", "", ""},
		{"display name", "Ada Lovelace <ada@example.com>", "ada@example.com", "Ada Lovelace", ""},
		{"quoted display name", `"Lovelace, Ada" <ada@example.com>`, "ada@example.com", "Lovelace, Ada", ""},
		{"encoded display name", "=?utf-8?q?Ad=C3=A1?= <ada@example.com>", "ada@example.com", "Adá", ""},
		{"utf-8 display name", "Adá <ada@example.com>", "ada@example.com", "Adá", ""},
		{"empty", "", "", "", "No email address"},
		{"CRLF then header", "ada@example.com\r\nBcc: eve@example.com", "", "", "line break"},
		{"LF alone", "ada@example.com\nX: y", "", "", "line break"},
		{"CR alone", "ada@example.com\r", "", "", "line break"},
		{"NUL", "ada@example.com\x00eve@example.com", "", "", "NUL"},
		{"tab", "Ada\t<ada@example.com>", "", "", "control character"},
		{"unicode line separator", "Ada\u2028 <ada@example.com>", "", "", "control character"},
		{"CRLF in encoded display name", "=?utf-8?q?Ada=0D=0ABcc=3A_eve?= <ada@example.com>", "", "", "name in"},
		{"two addresses", "ada@example.com, eve@example.com", "", "", "holds 2 addresses"},
		{"no at", "ada.example.com", "", "", "is not an email address"},
		{"no domain", "ada@", "", "", "is not an email address"},
		{"angle brackets unbalanced", "Ada <ada@example.com", "", "", "is not an email address"},
		{"invalid UTF-8", "ad\xffa@example.com", "", "", "not valid UTF-8"},
		{"overlong input", strings.Repeat("a", 600) + "@example.com", "", "", "longer than 512 bytes"},
		{"overlong address", strings.Repeat("a", 60) + "@" + strings.Repeat("b", 200) + ".example.com", "", "", "longer than 254 bytes"},
		{"overlong local part", strings.Repeat("a", 65) + "@example.com", "", "", "before the @ is longer than 64"},
		{"overlong display name", strings.Repeat("N", 129) + " <ada@example.com>", "", "", "name in the email address is longer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := mail.ParseAddress(tc.in)
			if tc.wantAddr == "" {
				if err == nil {
					t.Fatalf("ParseAddress(%q) = %v, want a refusal", tc.in, a)
				}
				if !errors.Is(err, valet.ErrInvalidEmail) {
					t.Errorf("error %v does not wrap valet.ErrInvalidEmail", err)
				}
				if got := valet.Message(err); !strings.Contains(got, tc.wantMsg) {
					t.Errorf("sentence %q, want it to say %q", got, tc.wantMsg)
				}
				if got := valet.Message(err); strings.ContainsAny(got, "\r\n\x00") || len(got) > 300 {
					t.Errorf("sentence %q holds a line break or NUL, or is overlong", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseAddress(%q): %v", tc.in, err)
			}
			if a.Address != tc.wantAddr || a.Name != tc.wantName {
				t.Errorf("ParseAddress(%q) = %q, %q; want %q, %q", tc.in, a.Name, a.Address, tc.wantName, tc.wantAddr)
			}
		})
	}
}

func validMessage() mail.Message {
	return mail.Message{ID: valet.NewID(), Kind: mail.KindVerify, To: "ada@example.com", Subject: "Confirm", Text: "Open the link.\n", HTML: "<p>Open</p>"}
}

func TestMessageValidate(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*mail.Message)
		want    error  // nil: valid
		wantMsg string // part of the sentence
	}{
		{"valid", func(*mail.Message) {}, nil, ""},
		{"no id is fine", func(m *mail.Message) { m.ID = "" }, nil, ""},
		{"no HTML is fine", func(m *mail.Message) { m.HTML = "" }, nil, ""},
		{"id with a line break", func(m *mail.Message) { m.ID = "a\r\nb" }, valet.ErrInvalidRequest, "message id"},
		{"id with @", func(m *mail.Message) { m.ID = "a@b" }, valet.ErrInvalidRequest, "message id"},
		{"overlong id", func(m *mail.Message) { m.ID = strings.Repeat("a", 129) }, valet.ErrInvalidRequest, "longer than 128"},
		{"no kind", func(m *mail.Message) { m.Kind = "" }, valet.ErrInvalidRequest, "no kind"},
		{"kind with a space", func(m *mail.Message) { m.Kind = "a b" }, valet.ErrInvalidRequest, "kind"},
		{"recipient with CRLF", func(m *mail.Message) { m.To = "ada@example.com\r\nBcc: eve@example.com" }, valet.ErrInvalidEmail, "line break"},
		{"no subject", func(m *mail.Message) { m.Subject = "" }, valet.ErrInvalidRequest, "no subject"},
		{"subject with CRLF", func(m *mail.Message) { m.Subject = "Hi\r\nBcc: eve@example.com" }, valet.ErrInvalidRequest, "subject contains a line break"},
		{"subject with NUL", func(m *mail.Message) { m.Subject = "Hi\x00" }, valet.ErrInvalidRequest, "subject contains"},
		{"overlong subject", func(m *mail.Message) { m.Subject = strings.Repeat("é", 251) }, valet.ErrInvalidRequest, "longer than 250"},
		{"no text", func(m *mail.Message) { m.Text = "" }, valet.ErrInvalidRequest, "no text body"},
		{"text with NUL", func(m *mail.Message) { m.Text = "a\x00b" }, valet.ErrInvalidRequest, "NUL"},
		{"HTML not UTF-8", func(m *mail.Message) { m.HTML = "\xff" }, valet.ErrInvalidRequest, "HTML body is not valid UTF-8"},
		{"overlong text", func(m *mail.Message) { m.Text = strings.Repeat("a", mail.MaxBody+1) }, valet.ErrInvalidRequest, "longer than 256 KiB"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := validMessage()
			tc.edit(&m)
			err := m.Validate()
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Validate = %v, want an error wrapping %v", err, tc.want)
			}
			if got := valet.Message(err); !strings.Contains(got, tc.wantMsg) {
				t.Errorf("sentence %q, want it to say %q", got, tc.wantMsg)
			}
		})
	}
}

func TestSendErrorText(t *testing.T) {
	tests := []struct {
		err  *mail.SendError
		want string
	}{
		{&mail.SendError{Stage: "rcpt to", Code: 550, Enhanced: "5.1.1", Text: "5.1.1 no such user", Permanent: true},
			"mail: rcpt to: the server answered 550 5.1.1 no such user"},
		{&mail.SendError{Stage: "connect", Text: "cannot connect to 127.0.0.1:1: connection refused"},
			"mail: connect: cannot connect to 127.0.0.1:1: connection refused"},
	}
	for _, tc := range tests {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
	wrapped := errors.Join(errors.New("context"), &mail.SendError{Stage: "data", Code: 554, Permanent: true})
	if !mail.Permanent(wrapped) || mail.Permanent(&mail.SendError{Code: 451}) || mail.Permanent(errors.New("x")) {
		t.Error("Permanent does not follow the SendError in the chain")
	}
}

func TestLogSender(t *testing.T) {
	var buf bytes.Buffer
	s := mail.LogSender{Logger: slog.New(slog.NewTextHandler(&buf, nil))}
	m := validMessage()
	m.Text = "Open https://auth.example.com/verify?token=abc or enter 123456.\n"
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	out := buf.String()
	for _, want := range []string{"level=WARN", "mail is not being sent", "no SMTP server is configured",
		"to=ada@example.com", "subject=Confirm", "https://auth.example.com/verify?token=abc", "123456", "kind=verify"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log line lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "\n") != 1 {
		t.Errorf("LogSender wrote %d lines, want 1", strings.Count(out, "\n"))
	}

	bad := validMessage()
	bad.To = "ada@example.com\r\nBcc: eve@example.com"
	if err := s.Send(context.Background(), bad); !mail.Permanent(err) {
		t.Errorf("Send of an invalid message = %v, want a permanent SendError", err)
	}
}
