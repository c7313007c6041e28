// Package smtp is valet's mail.Sender for an SMTP server, built on
// github.com/wneessen/go-mail, which composes the MIME message and speaks
// the protocol. It is the only package of valet that links go-mail.
//
// A Sender is made from a URL (see ParseURL): smtp:// requires STARTTLS,
// smtps:// speaks TLS from the first byte, and the server's certificate is
// verified in both, unless ?insecure says that this is a test server. Each
// Send opens a connection of its own, so that a server that restarts or a
// connection that dies costs one try, never a stuck queue.
//
// A failure is a *mail.SendError that names the step and carries the
// server's answer (code, enhanced code and text), so that it can be logged
// once with the server's own words.
package smtp

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	netmail "net/mail"
	"net/textproto"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
	gosmtp "github.com/wneessen/go-mail/smtp"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/mail"
)

// The Sender is a mail.Sender.
var _ mail.Sender = (*Sender)(nil)

// Config holds a Sender's settings. URL and From are required.
type Config struct {
	// URL is the server to send through. Required.
	URL *URL
	// From is the sender, "valet <no-reply@example.com>" or a bare address:
	// the From header and the envelope's MAIL FROM. Required.
	From string
	// HELO is the name valet gives itself in EHLO; default the machine's
	// host name, or "localhost" when it has none fit for the purpose.
	HELO string
	// Timeout bounds one delivery, from connecting to the server's answer
	// to the message; default 30s. A deadline of the context given to Send
	// that comes sooner wins.
	Timeout time.Duration
	// RootCAs are the authorities the server's certificate must chain to;
	// default the system's. Tests set it to their own.
	RootCAs *x509.CertPool
	// Now is the clock that dates the messages; default time.Now.
	Now func() time.Time
}

// Sender sends each message through the SMTP server of its URL. It is safe
// for concurrent use.
type Sender struct {
	url     *URL
	from    *netmail.Address
	helo    string
	timeout time.Duration
	roots   *x509.CertPool
	now     func() time.Time
}

// New returns a Sender for cfg. It connects to nothing. It returns an
// error wrapping valet.ErrInvalidRequest when cfg.URL is nil, and one
// wrapping valet.ErrInvalidEmail, whose sentence says why, when cfg.From is
// not one email address.
func New(cfg Config) (*Sender, error) {
	if cfg.URL == nil {
		return nil, valet.Errorf(valet.ErrInvalidRequest, "No SMTP server is given.")
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, &valet.Error{Kind: valet.ErrInvalidEmail, Message: "The sender address is not valid: " + valet.Message(err)}
	}
	s := &Sender{url: cfg.URL, from: from, helo: cfg.HELO, timeout: cfg.Timeout, roots: cfg.RootCAs, now: cfg.Now}
	if s.helo == "" {
		s.helo = defaultHELO()
	}
	if s.timeout <= 0 {
		s.timeout = 30 * time.Second
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// defaultHELO is the machine's host name when it is one a server can take.
func defaultHELO() string {
	h, err := os.Hostname()
	if err != nil || h == "" || strings.ContainsFunc(h, func(r rune) bool {
		return !(r == '-' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) {
		return "localhost"
	}
	return h
}

// URL returns the URL of the server the Sender sends through.
func (s *Sender) URL() *URL { return s.url }

// Receipt tells how a delivery went, step by step, as far as it got.
type Receipt struct {
	// Addr is the server's address, host:port.
	Addr string
	// Greeting is the server's answer to EHLO, its first line.
	Greeting string
	// TLS says how the connection was encrypted: "STARTTLS, TLS 1.3",
	// "implicit TLS, TLS 1.3", either with ", certificate not verified"
	// under ?insecure, or "none".
	TLS string
	// Auth is the mechanism and user authenticated with, such as "PLAIN
	// as ada"; empty when the URL has no user.
	Auth string
	// Answer is the server's answer to the message, such as "250 2.0.0 Ok:
	// queued as 4F2A1"; empty unless the delivery succeeded.
	Answer string
}

// Send delivers m, which it checks with Validate first. It returns a
// *mail.SendError on failure: Permanent for a message that Validate
// refuses and for a 5xx answer to the recipient or the message.
func (s *Sender) Send(ctx context.Context, m mail.Message) error {
	_, err := s.Deliver(ctx, m)
	return err
}

// Deliver is Send that also tells how the delivery went, as far as it got,
// for `valet mail test`.
func (s *Sender) Deliver(ctx context.Context, m mail.Message) (Receipt, error) {
	r := Receipt{Addr: s.url.Addr(), TLS: "none"}
	if err := m.Validate(); err != nil {
		return r, &mail.SendError{Stage: "message", Text: valet.Message(err), Permanent: true}
	}
	to, _ := mail.ParseAddress(m.To)
	raw, err := s.compose(m, to)
	if err != nil {
		return r, &mail.SendError{Stage: "message", Text: err.Error(), Permanent: true}
	}

	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	bound := s.timeout
	if d, ok := ctx.Deadline(); ok {
		bound = time.Until(d).Round(time.Millisecond)
	}
	step := "connect"
	fail := func(err error) (Receipt, error) { return r, s.failure(ctx, step, bound, err) }

	tlsConf := &tls.Config{ServerName: s.url.Host, RootCAs: s.roots, MinVersion: tls.VersionTLS12, InsecureSkipVerify: s.url.Insecure}
	var conn net.Conn
	if s.url.ImplicitTLS {
		step = "tls"
		conn, err = (&tls.Dialer{Config: tlsConf}).DialContext(ctx, "tcp", r.Addr)
		if err != nil {
			var op *net.OpError
			if errors.As(err, &op) && op.Op == "dial" {
				step = "connect"
			}
			return fail(err)
		}
	} else {
		conn, err = (&net.Dialer{}).DialContext(ctx, "tcp", r.Addr)
		if err != nil {
			return fail(err)
		}
	}
	// The deadline bounds every read and write; closing the connection
	// when ctx ends stops a server that trickles.
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	defer conn.Close()

	step = "greeting"
	c, err := gosmtp.NewClient(conn, s.url.Host)
	if err != nil {
		return fail(err)
	}
	defer c.Close()
	step = "hello"
	if err := c.Hello(s.helo); err != nil {
		return fail(err)
	}
	r.Greeting = firstLine(c.HelloResponse())

	if !s.url.ImplicitTLS {
		step = "starttls"
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(tlsConf); err != nil {
				return fail(err)
			}
		} else if !s.url.Insecure {
			return fail(errNoStartTLS)
		}
	}
	if st, ok := c.TLSConnectionState(); ok {
		how := "STARTTLS"
		if s.url.ImplicitTLS {
			how = "implicit TLS"
		}
		r.TLS = how + ", " + tls.VersionName(st.Version)
		if s.url.Insecure {
			r.TLS += ", certificate not verified"
		}
	}

	if s.url.Username != "" {
		step = "auth"
		ok, offered := c.Extension("AUTH")
		if !ok {
			return fail(errNoAuth)
		}
		mechs := strings.Fields(strings.ToUpper(offered))
		var a gosmtp.Auth
		switch {
		case slices.Contains(mechs, "PLAIN"):
			a = gosmtp.PlainAuth("", s.url.Username, s.url.password, s.url.Host, s.url.Insecure)
			r.Auth = "PLAIN"
		case slices.Contains(mechs, "LOGIN"):
			a = gosmtp.LoginAuth(s.url.Username, s.url.password, s.url.Host, s.url.Insecure)
			r.Auth = "LOGIN"
		default:
			return fail(fmt.Errorf("the server offers AUTH %s, and valet speaks only PLAIN and LOGIN", offered))
		}
		if err := c.Auth(a); err != nil {
			return fail(err)
		}
		r.Auth += " as " + s.url.Username
	}

	step = "mail from"
	if err := c.Mail(envelope(s.from)); err != nil {
		return fail(err)
	}
	step = "rcpt to"
	if err := c.Rcpt(envelope(to)); err != nil {
		return fail(err)
	}
	step = "data"
	w, err := c.Data()
	if err != nil {
		return fail(err)
	}
	if _, err := w.Write(raw); err != nil {
		return fail(err)
	}
	if err := w.Close(); err != nil {
		return fail(err)
	}
	r.Answer = "250"
	if dc, ok := w.(*gosmtp.DataCloser); ok && dc.ServerResponse() != "" {
		r.Answer += " " + oneLine(dc.ServerResponse())
	}
	// The message is the server's now; a failed QUIT changes nothing.
	_ = c.Quit()
	return r, nil
}

var (
	errNoStartTLS = errors.New("the server does not offer STARTTLS, and smtp:// requires it")
	errNoAuth     = errors.New("the server offers no AUTH (on this connection), and the URL has a user name")
)

// envelope is the address of a as MAIL FROM and RCPT TO take it: <addr>.
func envelope(a *netmail.Address) string { return (&netmail.Address{Address: a.Address}).String() }

// compose writes m as a MIME message: text, and HTML as its alternative
// when there is one.
func (s *Sender) compose(m mail.Message, to *netmail.Address) ([]byte, error) {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(s.from)
	msg.ToMailAddress(to)
	msg.Subject(m.Subject)
	id := m.ID
	if id == "" {
		id = valet.NewID()
	}
	_, domain, _ := strings.Cut(s.from.Address, "@")
	msg.SetMessageIDWithValue(id + "@" + domain)
	msg.SetDateWithValue(s.now())
	// RFC 3834: an automatic message, to which no vacation replies go.
	msg.SetGenHeader(gomail.Header("Auto-Submitted"), "auto-generated")
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	var b bytes.Buffer
	if _, err := msg.WriteTo(&b); err != nil {
		return nil, fmt.Errorf("composing the message: %w", err)
	}
	return b.Bytes(), nil
}

// enhanced finds an RFC 3463 enhanced status code at the start of a reply.
var enhanced = regexp.MustCompile(`^[245]\.\d{1,3}\.\d{1,3}\b`)

// failure turns an error of step into a *mail.SendError with the server's
// answer when there was one, and what went wrong in words when not.
func (s *Sender) failure(ctx context.Context, step string, bound time.Duration, err error) *mail.SendError {
	var tp *textproto.Error
	if errors.As(err, &tp) {
		text := oneLine(tp.Msg)
		return &mail.SendError{
			Stage: step, Code: tp.Code, Enhanced: enhanced.FindString(text), Text: text,
			// A refused recipient or message stays refused; a refused
			// sender, login or connection is the configuration's or the
			// server's state, and mail goes out once that is fixed.
			Permanent: tp.Code >= 500 && (step == "rcpt to" || step == "data"),
		}
	}
	se := &mail.SendError{Stage: step}
	var (
		verr *tls.CertificateVerificationError
		herr x509.HostnameError
		aerr tls.AlertError
		op   *net.OpError
		ne   net.Error
		rh   tls.RecordHeaderError
	)
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		se.Text = "the delivery was cancelled"
	case ctx.Err() != nil, errors.As(err, &ne) && ne.Timeout():
		se.Text = fmt.Sprintf("%s did not answer within %s", s.url.Addr(), bound)
	case errors.As(err, &rh):
		se.Stage = "tls"
		se.Text = "the server does not speak TLS on this port (for a port that starts in plain text and offers STARTTLS, use smtp://): " + err.Error()
	case errors.As(err, &verr), errors.As(err, &herr):
		se.Stage = "tls"
		se.Text = "the server's certificate cannot be verified: " + err.Error()
	case errors.As(err, &aerr):
		se.Stage = "tls"
		se.Text = "the TLS handshake failed: " + err.Error()
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		se.Text = "the server closed the connection"
	case errors.As(err, &op) && op.Op == "dial":
		cause := op.Err
		var sys *os.SyscallError
		if errors.As(cause, &sys) {
			cause = sys.Err
		}
		se.Text = fmt.Sprintf("cannot connect to %s: %v", s.url.Addr(), cause)
	default:
		se.Text = err.Error()
	}
	se.Text = oneLine(se.Text)
	return se
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(line)
}

// oneLine joins the lines of a multi-line reply with spaces.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }), " ")
}
