package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valetauth/valet/mail/smtptest"
)

// mailPassword is the SMTP password of these tests; no output may show it.
const mailPassword = "pa55-w0rd-e2e"

// caFile writes srv's authority where SSL_CERT_FILE can name it, so that
// the binary verifies the server's certificate as it would a real one.
func caFile(tb testing.TB, srv *smtptest.Server) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), "ca.pem")
	if err := os.WriteFile(p, srv.CAPEM, 0o600); err != nil {
		tb.Fatal(err)
	}
	return "SSL_CERT_FILE=" + p
}

// TestMailTestSends runs valet mail test against a real SMTP server that
// requires STARTTLS and a login, with the settings on the command line and
// in the environment, and checks what the server received and what the
// command printed.
func TestMailTestSends(t *testing.T) {
	t.Parallel()
	srv := smtptest.NewServer(t, smtptest.Options{StartTLS: true, Username: "ada", Password: mailPassword})
	url := "smtp://ada:" + mailPassword + "@" + srv.Addr
	runs := []struct {
		name string
		env  []string
		args []string
	}{
		{"flags", nil, []string{"--smtp-url", url, "--mail-from", "Valet <no-reply@example.com>"}},
		{"environment", []string{"VALET_SMTP_URL=" + url, "VALET_MAIL_FROM=Valet <no-reply@example.com>"}, nil},
	}
	for i, run := range runs {
		t.Run(run.name, func(t *testing.T) {
			args := append([]string{"mail", "test", "--to", "Ada Lovelace <ada@example.com>"}, run.args...)
			stdout, stderr, code := valetRun(t, append(run.env, caFile(t, srv)), args...)
			if code != 0 {
				t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}
			for _, want := range []string{
				"sending a test message to Ada Lovelace <ada@example.com> through smtp://ada:***@" + srv.Addr,
				"connected to " + srv.Addr + ", which answered EHLO with: ",
				"encryption: STARTTLS, TLS 1.",
				"signed in: PLAIN as ada",
				"the server took the message: 250 ",
				"Message-ID <",
			} {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout)
				}
			}
			if strings.Contains(stdout+stderr, mailPassword) {
				t.Error("the output shows the SMTP password")
			}
			msgs := srv.Wait(t, i+1, 10*time.Second)
			m := msgs[i]
			if !m.TLS || m.User != "ada" || m.From != "no-reply@example.com" || m.To[0] != "ada@example.com" {
				t.Errorf("received over TLS %t as %q from %q to %q", m.TLS, m.User, m.From, m.To)
			}
			if got := m.Header.Get("Subject"); got != "Test message from valet" {
				t.Errorf("Subject = %q", got)
			}
			if !strings.Contains(m.Text, "valet mail test") || !strings.Contains(m.HTML, "<code>valet mail test</code>") {
				t.Errorf("received text %q and HTML %q, want the test template's", m.Text, m.HTML)
			}
			if id := strings.Trim(m.Header.Get("Message-Id"), "<>"); !strings.Contains(stdout, "Message-ID <"+id+">") {
				t.Errorf("stdout does not name the Message-ID %q the server got", id)
			}
		})
	}
}

func TestMailTestImplicitTLSAndTemplates(t *testing.T) {
	t.Parallel()
	srv := smtptest.NewServer(t, smtptest.Options{ImplicitTLS: true})
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "test.txt"), []byte(`{{define "subject"}}Hello from {{.Site}}{{end}}Our own words.`), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := valetRun(t, []string{caFile(t, srv)}, "mail", "test", "--to", "ada@example.com",
		"--smtp-url", "smtps://"+srv.Addr, "--mail-from", "no-reply@example.com", "--mail-templates", dir)
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "encryption: implicit TLS, TLS 1.") {
		t.Errorf("stdout:\n%s", stdout)
	}
	m := srv.Wait(t, 1, 10*time.Second)[0]
	if m.Header.Get("Subject") != "Hello from valet" || m.Text != "Our own words.\n" {
		t.Errorf("received subject %q, text %q; want the override's", m.Header.Get("Subject"), m.Text)
	}
}

// TestMailTestFailures: each failure says what the server answered, with
// its code, and what to try; none shows the password.
func TestMailTestFailures(t *testing.T) {
	t.Parallel()
	tlsAuth := smtptest.NewServer(t, smtptest.Options{StartTLS: true, Username: "ada", Password: "the-right-one"})
	plain := smtptest.NewServer(t, smtptest.Options{})
	refusing := smtptest.NewServer(t, smtptest.Options{StartTLS: true, Refuse: func(step, _ string) *smtptest.Reply {
		if step == "rcpt" {
			return &smtptest.Reply{Code: 550, Enhanced: [3]int{5, 1, 1}, Text: "no such user here"}
		}
		return nil
	}})
	busy := smtptest.NewServer(t, smtptest.Options{StartTLS: true, Refuse: func(step, _ string) *smtptest.Reply {
		if step == "mail" {
			return &smtptest.Reply{Code: 451, Enhanced: [3]int{4, 3, 2}, Text: "try again later"}
		}
		return nil
	}})
	down := smtptest.NewServer(t, smtptest.Options{})
	down.Stop()
	tests := []struct {
		name  string
		srv   *smtptest.Server
		url   string // ADDR stands for the server's address
		trust bool
		wants []string
	}{
		{"wrong password", tlsAuth, "smtp://ada:" + mailPassword + "@ADDR", true,
			[]string{"auth: the server answered 535 5.7.8 Authentication failed", "check them, and percent-encode"}},
		{"no STARTTLS", plain, "smtp://ADDR", true,
			[]string{"does not offer STARTTLS", "use smtps://", "?insecure"}},
		{"untrusted certificate", tlsAuth, "smtp://ada:" + mailPassword + "@ADDR", false,
			[]string{"certificate cannot be verified", "certificate signed by unknown authority", "for a test server only, add ?insecure"}},
		{"refused recipient", refusing, "smtp://ADDR", true,
			[]string{"rcpt to: the server answered 550 5.1.1 no such user here", "refuses the recipient --to"}},
		{"try later", busy, "smtp://ADDR", true,
			[]string{"mail from: the server answered 451 4.3.2 try again later", "try again later"}},
		{"connection refused", down, "smtp://ADDR", true,
			[]string{"connect: cannot connect to", "connection refused", "nothing listens on"}},
		{"smtps to a plain port", plain, "smtps://ADDR", true,
			[]string{"does not speak TLS on this port", "use smtp://"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var env []string
			if tc.trust {
				env = append(env, caFile(t, tc.srv))
			}
			before := len(tc.srv.Messages())
			stdout, stderr, code := valetRun(t, env, "mail", "test", "--to", "ada@example.com", "--mail-from", "no-reply@example.com",
				"--smtp-url", strings.Replace(tc.url, "ADDR", tc.srv.Addr, 1), "--timeout", "10s")
			if code != 1 {
				t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}
			if !strings.HasPrefix(stderr, "valet: the test message was not sent: mail: ") || strings.Count(stderr, "\n") != 1 {
				t.Errorf("stderr is not one line that says the message was not sent:\n%s", stderr)
			}
			for _, want := range tc.wants {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			if strings.Contains(stdout+stderr, mailPassword) {
				t.Error("the output shows the SMTP password")
			}
			if got := len(tc.srv.Messages()); got != before {
				t.Errorf("the server received a message")
			}
		})
	}
}

// TestMailTestUsage is the attack table of the command's inputs: each
// mistake is one sentence naming the flag (or variable), exit status 2,
// before any connection.
func TestMailTestUsage(t *testing.T) {
	t.Parallel()
	srv := smtptest.NewServer(t, smtptest.Options{})
	ok := "smtp://" + srv.Addr + "?insecure"
	from := "no-reply@example.com"
	nulConfig := filepath.Join(t.TempDir(), "valet.yaml")
	if err := os.WriteFile(nulConfig, []byte(`to: "ada@example.com\0eve@example.com"`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"no subcommand", nil, []string{"mail"}, "valet mail: want test"},
		{"unknown subcommand", nil, []string{"mail", "tset"}, `did you mean "test"?`},
		{"no --to", nil, []string{"mail", "test", "--smtp-url", ok, "--mail-from", from}, "--to is required"},
		{"no --smtp-url", nil, []string{"mail", "test", "--to", from}, "no SMTP server to test; set --smtp-url"},
		{"no --mail-from", nil, []string{"mail", "test", "--to", from, "--smtp-url", ok}, "--smtp-url needs --mail-from"},
		{"bad scheme", nil, []string{"mail", "test", "--to", from, "--smtp-url", "http://ada:" + mailPassword + "@" + srv.Addr}, `--smtp-url: The SMTP URL's scheme "http" is not smtp or smtps`},
		{"missing host", nil, []string{"mail", "test", "--to", from, "--smtp-url", "smtp://:25"}, "--smtp-url: The SMTP URL names no host"},
		{"user without password", nil, []string{"mail", "test", "--to", from, "--smtp-url", "smtp://ada@" + srv.Addr}, `user name "ada" but no password`},
		{"CRLF in --smtp-url", nil, []string{"mail", "test", "--to", from, "--smtp-url", "smtp://" + srv.Addr + "\r\nQUIT"}, "line break"},
		{"encoded CRLF in the password", nil, []string{"mail", "test", "--to", from, "--smtp-url", "smtp://ada:" + mailPassword + "%0d%0a@" + srv.Addr}, "user name or password contains a line break"},
		{"Insecure", nil, []string{"mail", "test", "--to", from, "--smtp-url", ok[:len(ok)-len("insecure")] + "Insecure"}, "did you mean ?insecure"},
		{"insecure=yes", nil, []string{"mail", "test", "--to", from, "--smtp-url", ok + "=yes"}, "takes no value"},
		{"port out of range", nil, []string{"mail", "test", "--to", from, "--smtp-url", "smtp://127.0.0.1:70000"}, "not a number from 1 to 65535"},
		{"bad URL in the environment", []string{"VALET_SMTP_URL=smtps://ada@" + srv.Addr}, []string{"mail", "test", "--to", from}, "environment variable VALET_SMTP_URL: The SMTP URL has the user name"},
		{"CRLF in --to", nil, []string{"mail", "test", "--smtp-url", ok, "--mail-from", from, "--to", "ada@example.com\r\nBcc: eve@example.com"}, "--to: The email address"},
		// No argument or variable can hold a NUL; a config file can.
		{"NUL in to, in the config file", nil, []string{"mail", "test", "--smtp-url", ok, "--mail-from", from, "--config", nulConfig}, "contains a line break, a NUL"},
		{"two recipients", nil, []string{"mail", "test", "--smtp-url", ok, "--mail-from", from, "--to", "ada@example.com, eve@example.com"}, "holds 2 addresses; give one"},
		{"overlong --to", nil, []string{"mail", "test", "--smtp-url", ok, "--mail-from", from, "--to", strings.Repeat("a", 70) + "@example.com"}, "before the @ is longer than 64 bytes"},
		{"encoded CRLF in a display name", nil, []string{"mail", "test", "--smtp-url", ok, "--mail-from", from, "--to", "=?utf-8?q?Ada=0D=0ABcc=3A_eve?= <ada@example.com>"}, "name in"},
		{"bad --mail-from", nil, []string{"mail", "test", "--smtp-url", ok, "--to", from, "--mail-from", "valet"}, `--mail-from: "valet" is not an email address`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := valetRun(t, tc.env, tc.args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, stderr)
			}
			if strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "valet: ") {
				t.Errorf("stderr is not one line:\n%q", stderr)
			}
			if strings.Contains(stderr, mailPassword) {
				t.Error("the message shows the password")
			}
		})
	}
	if n := srv.Sessions(); n != 0 {
		t.Errorf("a refused command connected to the server (%d sessions)", n)
	}
}

func TestMailTestTemplateErrors(t *testing.T) {
	t.Parallel()
	srv := smtptest.NewServer(t, smtptest.Options{})
	broken := t.TempDir()
	if err := os.WriteFile(filepath.Join(broken, "test.html"), []byte("<p>{{.Nope}}</p>"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct{ dir, want string }{
		"missing": {filepath.Join(t.TempDir(), "nope"), "does not exist"},
		"broken":  {broken, filepath.Join(broken, "test.html") + " fails on sample data"},
	} {
		t.Run(name, func(t *testing.T) {
			_, stderr, code := valetRun(t, nil, "mail", "test", "--to", "ada@example.com", "--mail-from", "no-reply@example.com",
				"--smtp-url", "smtp://"+srv.Addr+"?insecure", "--mail-templates", tc.dir)
			if code != 1 || !strings.Contains(stderr, "--mail-templates: ") || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want 1 and an error naming the file", code, stderr)
			}
		})
	}
	if n := srv.Sessions(); n != 0 {
		t.Errorf("the command connected with broken templates (%d sessions)", n)
	}
}

func TestMailHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"mail", "-h"}, {"mail", "--help"}, {"mail", "test", "-h"}} {
		stdout, stderr, code := valetRun(t, nil, args...)
		if code != 0 || stderr != "" || !strings.Contains(stdout, "valet mail test") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
	stdout, _, _ := valetRun(t, nil, "mail", "test", "-h")
	for _, want := range []string{"--smtp-url URL  (VALET_SMTP_URL)", "--mail-from ADDRESS  (VALET_MAIL_FROM)", "--to ADDRESS", "--mail-templates DIR"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("valet mail test -h lacks %q:\n%s", want, stdout)
		}
	}
}
