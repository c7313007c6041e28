// Package smtptest runs a real SMTP server in a test's process, on
// github.com/emersion/go-smtp, for tests of what valet sends: with or
// without STARTTLS, with implicit TLS, with AUTH PLAIN, answering what the
// test tells it to, and able to go down and come back on the same address.
// Its TLS certificate and authority are made when the server starts: no key
// is ever committed.
package smtptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

// Options say how a Server behaves. The zero value is a plain server with
// no TLS and no AUTH that takes every message.
type Options struct {
	// StartTLS offers STARTTLS with the server's certificate.
	StartTLS bool
	// ImplicitTLS speaks TLS from the first byte, as on port 465.
	ImplicitTLS bool
	// Username and Password, when set, are the one account of AUTH PLAIN,
	// which is then required before MAIL.
	Username, Password string
	// InsecureAuth offers AUTH on a connection that is not encrypted.
	InsecureAuth bool
	// Refuse, when set, is asked at each step of a transaction ("mail" with
	// the sender, "rcpt" with the recipient, "data" with the message) and
	// may return the reply that refuses it.
	Refuse func(step, arg string) *Reply
}

// Reply is an answer of the server that refuses a step.
type Reply struct {
	Code int
	// Enhanced is the enhanced status code, such as {5, 1, 1}; zero sends
	// none.
	Enhanced [3]int
	Text     string
}

// Received is one message the server took.
type Received struct {
	// From and To are the envelope's MAIL FROM and RCPT TO addresses.
	From string
	To   []string
	// Data is the message as it came.
	Data []byte
	// Header is the message's header.
	Header netmail.Header
	// Text and HTML are its decoded text and HTML parts.
	Text, HTML string
	// TLS says whether the connection was encrypted; User is who
	// authenticated, if anyone.
	TLS  bool
	User string
}

// Server is an SMTP server for one test.
type Server struct {
	// Addr is its address, 127.0.0.1:port; it keeps it across Stop and
	// Start.
	Addr string
	// CAs holds the authority that signed its certificate, and CAPEM is that
	// authority in PEM, for a process that reads SSL_CERT_FILE.
	CAs   *x509.CertPool
	CAPEM []byte

	tb   testing.TB
	opts Options
	tls  *tls.Config

	mu       sync.Mutex
	srv      *gosmtp.Server
	lis      net.Listener
	served   chan struct{}
	msgs     []Received
	arrived  chan struct{} // closed and replaced at each message
	sessions int
}

// NewServer starts a server for tb, stopped when tb ends.
func NewServer(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s := &Server{tb: tb, opts: opts, arrived: make(chan struct{})}
	cert, caPEM, pool, err := newCertificate()
	if err != nil {
		tb.Fatalf("smtptest: certificate: %v", err)
	}
	s.CAs, s.CAPEM = pool, caPEM
	s.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("smtptest: listen: %v", err)
	}
	s.Addr = l.Addr().String()
	s.serve(l)
	tb.Cleanup(s.Stop)
	return s
}

// Port is the server's port.
func (s *Server) Port() string {
	_, p, _ := net.SplitHostPort(s.Addr)
	return p
}

func (s *Server) serve(l net.Listener) {
	if s.opts.ImplicitTLS {
		l = tls.NewListener(l, s.tls)
	}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
		s.mu.Lock()
		s.sessions++
		s.mu.Unlock()
		_, isTLS := c.TLSConnectionState()
		return &session{s: s, conn: c, tls: isTLS}, nil
	}))
	srv.Domain = "smtptest.invalid"
	srv.AllowInsecureAuth = s.opts.InsecureAuth
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	srv.ErrorLog = quiet{}
	if s.opts.StartTLS {
		srv.TLSConfig = s.tls
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(l)
	}()
	s.mu.Lock()
	s.srv, s.lis, s.served = srv, l, served
	s.mu.Unlock()
}

// Stop closes the server and every connection to it: connecting is then
// refused until Start. Stop on a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	srv, lis, served := s.srv, s.lis, s.served
	s.srv = nil
	s.mu.Unlock()
	if srv == nil {
		return
	}
	// Closing the listener too covers a Serve that has not begun yet,
	// which srv.Close would not know of.
	_ = srv.Close()
	_ = lis.Close()
	<-served
}

// Start listens again on Addr after Stop.
func (s *Server) Start() {
	s.tb.Helper()
	s.mu.Lock()
	running := s.srv != nil
	s.mu.Unlock()
	if running {
		return
	}
	var l net.Listener
	var err error
	// The port was ours a moment ago; another process may take it in
	// between, which is rare enough to retry only briefly.
	for range 50 {
		if l, err = net.Listen("tcp", s.Addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.tb.Fatalf("smtptest: listen again on %s: %v", s.Addr, err)
	}
	s.serve(l)
}

// Messages returns the messages taken so far, in order.
func (s *Server) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.msgs...)
}

// Sessions returns how many sessions (EHLO exchanges) the server has had.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions
}

// Wait returns the messages once there are at least n, failing tb when
// they have not come within timeout.
func (s *Server) Wait(tb testing.TB, n int, timeout time.Duration) []Received {
	tb.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		got, arrived := len(s.msgs), s.arrived
		s.mu.Unlock()
		if got >= n {
			return s.Messages()
		}
		select {
		case <-arrived:
		case <-deadline.C:
			tb.Fatalf("smtptest: %d messages arrived within %s, want %d", got, timeout, n)
		}
	}
}

type quiet struct{}

func (quiet) Printf(string, ...any) {}
func (quiet) Println(...any)        {}

// session is one client's transaction.
type session struct {
	s    *Server
	conn *gosmtp.Conn
	tls  bool
	user string
	from string
	to   []string
}

func (ss *session) refuse(step, arg string) error {
	if ss.s.opts.Refuse == nil {
		return nil
	}
	r := ss.s.opts.Refuse(step, arg)
	if r == nil {
		return nil
	}
	return &gosmtp.SMTPError{Code: r.Code, EnhancedCode: gosmtp.EnhancedCode(r.Enhanced), Message: r.Text}
}

func (ss *session) AuthMechanisms() []string {
	if ss.s.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain || ss.s.opts.Username == "" {
		return nil, gosmtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != ss.s.opts.Username || password != ss.s.opts.Password {
			return gosmtp.ErrAuthFailed
		}
		ss.user = username
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *gosmtp.MailOptions) error {
	if ss.s.opts.Username != "" && ss.user == "" {
		return gosmtp.ErrAuthRequired
	}
	if err := ss.refuse("mail", from); err != nil {
		return err
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	if err := ss.refuse("rcpt", to); err != nil {
		return err
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if err := ss.refuse("data", string(data)); err != nil {
		return err
	}
	_, isTLS := ss.conn.TLSConnectionState()
	got := Received{From: ss.from, To: append([]string(nil), ss.to...), Data: data, TLS: isTLS || ss.tls, User: ss.user}
	if err := parse(&got); err != nil {
		return &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 6, 0}, Message: "smtptest cannot parse the message: " + err.Error()}
	}
	s := ss.s
	s.mu.Lock()
	s.msgs = append(s.msgs, got)
	close(s.arrived)
	s.arrived = make(chan struct{})
	s.mu.Unlock()
	return nil
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }

// parse fills the header and the text and HTML parts of got from its data.
func parse(got *Received) error {
	m, err := netmail.ReadMessage(bytes.NewReader(got.Data))
	if err != nil {
		return err
	}
	got.Header = m.Header
	return parsePart(got, m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"), m.Body)
}

func parsePart(got *Received, ctype, cte string, body io.Reader) error {
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		return fmt.Errorf("content type %q: %v", ctype, err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if err := parsePart(got, p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p); err != nil {
				return err
			}
		}
	}
	switch strings.ToLower(cte) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	text := strings.ReplaceAll(string(b), "\r\n", "\n")
	switch mt {
	case "text/plain":
		got.Text = text
	case "text/html":
		got.HTML = text
	}
	return nil
}

// newCertificate makes an authority and a certificate it signs for
// 127.0.0.1, ::1 and localhost, valid for a day.
func newCertificate() (tls.Certificate, []byte, *x509.CertPool, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, nil, err
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "smtptest authority"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, nil, nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return tls.Certificate{}, nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, nil, err
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, nil, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, caPEM, pool, nil
}
