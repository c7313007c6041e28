package smtp_test

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/mail"
	"github.com/valetauth/valet/mail/smtp"
	"github.com/valetauth/valet/mail/smtptest"
)

const from = "Valet Test <no-reply@example.com>"

// sender returns a Sender for url (with %s for the server's address),
// trusting srv's authority unless untrusted.
func sender(tb testing.TB, srv *smtptest.Server, url string, trusted bool) *smtp.Sender {
	tb.Helper()
	u, err := smtp.ParseURL(strings.Replace(url, "ADDR", srv.Addr, 1))
	if err != nil {
		tb.Fatalf("ParseURL: %v", err)
	}
	cfg := smtp.Config{URL: u, From: from, Timeout: 5 * time.Second, HELO: "client.example.com"}
	if trusted {
		cfg.RootCAs = srv.CAs
	}
	s, err := smtp.New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return s
}

func message() mail.Message {
	return mail.Message{
		ID: "msg-1", Kind: mail.KindVerify, To: "Ada Lovelace <ada@example.com>", Subject: "Confirm your address — café",
		Text: "Open https://auth.example.com/verify?token=abc\nor enter 123456.\n",
		HTML: `<p><a href="https://auth.example.com/verify?token=abc">Confirm</a> or enter <b>123456</b>.</p>`,
	}
}

func sendError(tb testing.TB, err error) *mail.SendError {
	tb.Helper()
	var se *mail.SendError
	if !errors.As(err, &se) {
		tb.Fatalf("error %v (%T) is not a *mail.SendError", err, err)
	}
	return se
}

// TestSendSTARTTLS sends through a real server that requires STARTTLS and
// AUTH, and checks the message it received part by part.
func TestSendSTARTTLS(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Options{StartTLS: true, Username: "ada", Password: secret})
	s := sender(t, srv, "smtp://ada:"+secret+"@ADDR", true)
	r, err := s.Deliver(t.Context(), message())
	if err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if !strings.HasPrefix(r.TLS, "STARTTLS, TLS 1.") || strings.Contains(r.TLS, "not verified") || r.Auth != "PLAIN as ada" ||
		!strings.HasPrefix(r.Answer, "250 ") || r.Addr != srv.Addr {
		t.Errorf("Receipt = %+v", r)
	}
	got := srv.Messages()
	if len(got) != 1 {
		t.Fatalf("the server received %d messages, want 1", len(got))
	}
	m := got[0]
	if !m.TLS || m.User != "ada" {
		t.Errorf("received over TLS %t as %q, want TLS as ada", m.TLS, m.User)
	}
	if m.From != "no-reply@example.com" || len(m.To) != 1 || m.To[0] != "ada@example.com" {
		t.Errorf("envelope from %q to %q, want the bare addresses", m.From, m.To)
	}
	h := m.Header
	checks := []struct{ header, want string }{
		{"From", `"Valet Test" <no-reply@example.com>`},
		{"To", `"Ada Lovelace" <ada@example.com>`},
		{"Message-Id", "<msg-1@example.com>"},
		{"Auto-Submitted", "auto-generated"},
		{"Mime-Version", "1.0"},
	}
	for _, c := range checks {
		if got := h.Get(c.header); got != c.want {
			t.Errorf("%s = %q, want %q", c.header, got, c.want)
		}
	}
	if subj, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject")); err != nil || subj != "Confirm your address — café" {
		t.Errorf("Subject = %q (%q, %v), want the subject", h.Get("Subject"), subj, err)
	}
	if _, err := h.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
	if !strings.HasPrefix(h.Get("Content-Type"), "multipart/alternative") {
		t.Errorf("Content-Type = %q, want multipart/alternative", h.Get("Content-Type"))
	}
	if m.Text != message().Text {
		t.Errorf("text part = %q, want %q", m.Text, message().Text)
	}
	if m.HTML != message().HTML {
		t.Errorf("HTML part = %q, want %q", m.HTML, message().HTML)
	}
	if strings.Contains(string(m.Data), "User-Agent") {
		t.Error("the message names the mail library in User-Agent")
	}
}

func TestSendTextOnly(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Options{StartTLS: true})
	m := message()
	m.HTML = ""
	if err := sender(t, srv, "smtp://ADDR", true).Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	got := srv.Messages()[0]
	if !strings.HasPrefix(got.Header.Get("Content-Type"), "text/plain") || got.Text != m.Text || got.HTML != "" {
		t.Errorf("received %q with text %q, HTML %q; want text only", got.Header.Get("Content-Type"), got.Text, got.HTML)
	}
}

// TestSendRequiresSTARTTLS: smtp:// to a server that offers no STARTTLS
// sends nothing, and not the password.
func TestSendRequiresSTARTTLS(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Options{Username: "ada", Password: secret, InsecureAuth: true})
	err := sender(t, srv, "smtp://ada:"+secret+"@ADDR", true).Send(t.Context(), message())
	se := sendError(t, err)
	if se.Stage != "starttls" || se.Code != 0 || se.Permanent || !strings.Contains(se.Text, "does not offer STARTTLS") {
		t.Errorf("SendError = %+v, want a refusal at starttls", se)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("the server received %d messages", n)
	}
	if strings.Contains(err.Error(), secret) {
		t.Error("the error shows the password")
	}

	// ?insecure, for a test server, lets it through in plain text.
	r, err := sender(t, srv, "smtp://ada:"+secret+"@ADDR?insecure", true).Deliver(t.Context(), message())
	if err != nil {
		t.Fatalf("with ?insecure: %v", err)
	}
	if r.TLS != "none" || srv.Messages()[0].TLS {
		t.Errorf("with ?insecure: TLS %q, want none", r.TLS)
	}
}

// TestSendVerifiesCertificate: a certificate from an authority the sender
// does not trust stops the delivery; ?insecure accepts it, and says so.
func TestSendVerifiesCertificate(t *testing.T) {
	for _, opts := range []smtptest.Options{{StartTLS: true}, {ImplicitTLS: true}} {
		scheme := "smtp"
		if opts.ImplicitTLS {
			scheme = "smtps"
		}
		t.Run(scheme, func(t *testing.T) {
			srv := smtptest.NewServer(t, opts)
			se := sendError(t, sender(t, srv, scheme+"://ADDR", false).Send(t.Context(), message()))
			if se.Stage != "tls" || !strings.Contains(se.Text, "certificate") || se.Permanent {
				t.Errorf("SendError = %+v, want a certificate failure at tls", se)
			}
			if n := len(srv.Messages()); n != 0 {
				t.Errorf("the server received %d messages", n)
			}
			r, err := sender(t, srv, scheme+"://ADDR?insecure", false).Deliver(t.Context(), message())
			if err != nil {
				t.Fatalf("with ?insecure: %v", err)
			}
			if !strings.HasSuffix(r.TLS, ", certificate not verified") {
				t.Errorf("Receipt.TLS = %q, want it to say the certificate was not verified", r.TLS)
			}
		})
	}
}

func TestSendImplicitTLS(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Options{ImplicitTLS: true, Username: "ada", Password: secret})
	r, err := sender(t, srv, "smtps://ada:"+secret+"@ADDR", true).Deliver(t.Context(), message())
	if err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if !strings.HasPrefix(r.TLS, "implicit TLS, TLS 1.") || r.Auth != "PLAIN as ada" {
		t.Errorf("Receipt = %+v", r)
	}
	if got := srv.Messages(); len(got) != 1 || !got[0].TLS || got[0].Text != message().Text {
		t.Errorf("received %+v", got)
	}
	// smtps:// to a server that speaks plain SMTP fails at TLS, clearly.
	plain := smtptest.NewServer(t, smtptest.Options{})
	se := sendError(t, sender(t, plain, "smtps://ADDR", true).Send(t.Context(), message()))
	if se.Stage != "tls" {
		t.Errorf("smtps:// to a plain server: %+v, want a failure at tls", se)
	}
}

func TestSendAuthFailure(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Options{StartTLS: true, Username: "ada", Password: "right"})
	err := sender(t, srv, "smtp://ada:"+secret+"@ADDR", true).Send(t.Context(), message())
	se := sendError(t, err)
	if se.Stage != "auth" || se.Code != 535 || se.Enhanced != "5.7.8" || !strings.Contains(se.Text, "Authentication failed") || se.Permanent {
		t.Errorf("SendError = %+v, want 535 5.7.8 at auth, not permanent", se)
	}
	if want := "mail: auth: the server answered 535 5.7.8 Authentication failed"; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err, want)
	}
	// No credentials for a server that requires them: its own answer.
	se = sendError(t, sender(t, srv, "smtp://ADDR", true).Send(t.Context(), message()))
	if se.Stage != "mail from" || se.Code != 502 || !strings.Contains(se.Text, "authenticate") {
		t.Errorf("SendError without credentials = %+v, want the server's 502", se)
	}
	// Credentials for a server that offers no AUTH.
	noAuth := smtptest.NewServer(t, smtptest.Options{StartTLS: true})
	se = sendError(t, sender(t, noAuth, "smtp://ada:"+secret+"@ADDR", true).Send(t.Context(), message()))
	if se.Stage != "auth" || !strings.Contains(se.Text, "offers no AUTH") {
		t.Errorf("SendError = %+v, want a failure at auth", se)
	}
}

// TestSendServerAnswers: every refusal carries the server's code and
// text; only a refused recipient or message is permanent.
func TestSendServerAnswers(t *testing.T) {
	tests := []struct {
		step      string
		reply     smtptest.Reply
		stage     string
		permanent bool
	}{
		{"rcpt", smtptest.Reply{Code: 451, Enhanced: [3]int{4, 7, 1}, Text: "greylisted, try again later"}, "rcpt to", false},
		{"rcpt", smtptest.Reply{Code: 550, Enhanced: [3]int{5, 1, 1}, Text: "no such user"}, "rcpt to", true},
		{"mail", smtptest.Reply{Code: 550, Enhanced: [3]int{5, 7, 1}, Text: "sender not allowed"}, "mail from", false},
		{"mail", smtptest.Reply{Code: 421, Enhanced: [3]int{4, 3, 2}, Text: "shutting down"}, "mail from", false},
		{"data", smtptest.Reply{Code: 554, Enhanced: [3]int{5, 7, 1}, Text: "message refused as spam"}, "data", true},
		{"data", smtptest.Reply{Code: 452, Enhanced: [3]int{4, 3, 1}, Text: "out of storage"}, "data", false},
	}
	for _, tc := range tests {
		t.Run(tc.step+" "+tc.reply.Text, func(t *testing.T) {
			srv := smtptest.NewServer(t, smtptest.Options{StartTLS: true, Refuse: func(step, _ string) *smtptest.Reply {
				if step == tc.step {
					return &tc.reply
				}
				return nil
			}})
			err := sender(t, srv, "smtp://ADDR", true).Send(t.Context(), message())
			se := sendError(t, err)
			enh := fmt.Sprintf("%d.%d.%d", tc.reply.Enhanced[0], tc.reply.Enhanced[1], tc.reply.Enhanced[2])
			if se.Stage != tc.stage || se.Code != tc.reply.Code || se.Enhanced != enh || se.Permanent != tc.permanent {
				t.Errorf("SendError = %+v, want stage %q, code %d, enhanced %s, permanent %t", se, tc.stage, tc.reply.Code, enh, tc.permanent)
			}
			for _, want := range []string{strconv.Itoa(tc.reply.Code), enh, tc.reply.Text} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Error() = %q lacks %q", err, want)
				}
			}
		})
	}
}

func TestSendConnectionRefused(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Options{})
	srv.Stop()
	se := sendError(t, sender(t, srv, "smtp://ADDR?insecure", true).Send(t.Context(), message()))
	if se.Stage != "connect" || se.Code != 0 || se.Permanent || !strings.Contains(se.Text, "connection refused") || !strings.Contains(se.Text, srv.Addr) {
		t.Errorf("SendError = %+v, want connection refused at connect", se)
	}
}

func TestSendHonoursDeadline(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Options{ImplicitTLS: true})
	// smtp:// to a TLS port: the server waits for a handshake that never
	// comes, and the deadline ends the wait.
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	se := sendError(t, sender(t, srv, "smtp://ADDR", true).Send(ctx, message()))
	if time.Since(start) > 3*time.Second || se.Stage != "greeting" || !strings.Contains(se.Text, "did not answer") {
		t.Errorf("after %v: SendError = %+v, want a timeout at the greeting", time.Since(start), se)
	}
}

// TestSendValidates: a message that could inject headers or commands is
// refused before any connection.
func TestSendValidates(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Options{StartTLS: true})
	s := sender(t, srv, "smtp://ADDR", true)
	for name, edit := range map[string]func(*mail.Message){
		"CRLF in To":      func(m *mail.Message) { m.To = "ada@example.com\r\nRCPT TO:<eve@example.com>" },
		"CRLF in Subject": func(m *mail.Message) { m.Subject = "Hi\r\nBcc: eve@example.com" },
		"two recipients":  func(m *mail.Message) { m.To = "ada@example.com, eve@example.com" },
		"NUL in text":     func(m *mail.Message) { m.Text = "a\x00b" },
	} {
		m := message()
		edit(&m)
		se := sendError(t, s.Send(t.Context(), m))
		if se.Stage != "message" || !se.Permanent {
			t.Errorf("%s: SendError = %+v, want a permanent refusal of the message", name, se)
		}
	}
	if srv.Sessions() != 0 {
		t.Errorf("the server had %d sessions, want none", srv.Sessions())
	}
}

func TestNewRefusesSender(t *testing.T) {
	u, _ := smtp.ParseURL("smtp://mail.example.com")
	for _, f := range []string{"", "valet", "a@example.com\r\nBcc: eve@example.com", "a@example.com, b@example.com"} {
		_, err := smtp.New(smtp.Config{URL: u, From: f})
		if !errors.Is(err, valet.ErrInvalidEmail) || !strings.HasPrefix(valet.Message(err), "The sender address is not valid: ") {
			t.Errorf("New with From %q = %v, want an invalid sender", f, err)
		}
	}
	if _, err := smtp.New(smtp.Config{From: "a@example.com"}); !errors.Is(err, valet.ErrInvalidRequest) {
		t.Errorf("New without a URL = %v", err)
	}
}
