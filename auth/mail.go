package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/mail"
)

// MailConfig configures the mail a Service sends. Zero fields take the
// defaults named; without a Sender no mail is sent, signup sends none, and
// verification, recovery and email change answer valet.ErrInvalidRequest.
type MailConfig struct {
	// Sender sends the mail: an SMTP sender, or a mail.LogSender that
	// writes it to the log. Default nil: no mail.
	Sender mail.Sender
	// Outbox keeps the one-time tickets and the mail waiting to go, in the
	// database of the users: redeeming a ticket, and a change the user is
	// told of (a new password), store the user and its mail in one
	// transaction. Default: Stores.Users, which must then be a
	// mail.TicketStore.
	Outbox mail.TicketStore
	// Templates render the messages. Default: mail.LoadTemplates("").
	Templates *mail.Templates
	// PublicURL is the base of the links in mail, such as
	// https://auth.example.com, without a trailing slash. Required with a
	// Sender.
	PublicURL string
	// Site names the service in mail. Default "valet".
	Site string
	// VerifyTTL is how long a verification or email change link and code
	// stay valid. Default 24 hours.
	VerifyTTL time.Duration
	// RecoveryTTL is how long a recovery link and code stay valid. Default
	// 15 minutes.
	RecoveryTTL time.Duration
	// ReportTTL is how long the link sent to the old address of an email
	// change stays valid: it sets a new password and keeps the old
	// address. Default 7 days.
	ReportTTL time.Duration
	// Worker holds the settings of the mail worker, which New makes (see
	// Service.MailWorker); New sets its Outbox, Sender and Seal (a key
	// derived from the master secret, so that the links and codes in the
	// outbox are sealed), and its Logger to Config.Logger when it has none.
	Worker mail.Config
}

func (c *MailConfig) setDefaults() {
	if c.Site == "" {
		c.Site = "valet"
	}
	if c.VerifyTTL <= 0 {
		c.VerifyTTL = 24 * time.Hour
	}
	if c.RecoveryTTL <= 0 {
		c.RecoveryTTL = 15 * time.Minute
	}
	if c.ReportTTL <= 0 {
		c.ReportTTL = 7 * 24 * time.Hour
	}
}

// mailer is what a Service that sends mail holds.
type mailer struct {
	cfg       MailConfig
	outbox    mail.TicketStore
	worker    *mail.Worker
	templates *mail.Templates
	// cost is what a request for mail to an account took recently
	// (nanoseconds, a moving average), which a request for an address that
	// has no account spends too (see byEmail).
	cost atomic.Int64
}

// newMailer checks cfg.Mail and makes the worker, sealing with a key of
// master.
func newMailer(cfg Config, master []byte) (*mailer, error) {
	mc := cfg.Mail
	m := &mailer{cfg: mc, outbox: mc.Outbox, templates: mc.Templates}
	if m.outbox == nil {
		ts, ok := cfg.Stores.Users.(mail.TicketStore)
		if !ok {
			return nil, errors.New("auth: Mail.Outbox is required when Stores.Users is no mail.TicketStore")
		}
		m.outbox = ts
	}
	if _, err := url.Parse(mc.PublicURL); err != nil || !strings.HasPrefix(mc.PublicURL, "http") {
		return nil, fmt.Errorf("auth: Mail.PublicURL %q is not an http or https URL", mc.PublicURL)
	}
	m.cfg.PublicURL = strings.TrimRight(mc.PublicURL, "/")
	if m.templates == nil {
		t, err := mail.LoadTemplates("")
		if err != nil {
			return nil, fmt.Errorf("auth: %w", err)
		}
		m.templates = t
	}
	seal, err := sealer(master, "valet mail seal v1")
	if err != nil {
		return nil, err
	}
	wc := mc.Worker
	wc.Outbox, wc.Sender, wc.Seal = m.outbox, mc.Sender, seal
	if wc.Logger == nil {
		wc.Logger = cfg.Logger
	}
	m.worker = mail.NewWorker(wc)
	return m, nil
}

// MailWorker returns the worker that sends the service's mail, or nil when
// Config.Mail has no Sender. The caller starts it (Start) on every node
// that should send mail, and closes it (Close) before the stores; a
// Service's own requests only store mail and poke the worker.
func (s *Service) MailWorker() *mail.Worker {
	if s.mail == nil {
		return nil
	}
	return s.mail.worker
}

// errNoMail is the answer of the flows that need mail on a service that
// sends none.
func errNoMail() error {
	return valet.Errorf(valet.ErrInvalidRequest, "This server sends no mail, so it cannot do this.")
}

// codeDigits is the length of a one-time code: 10^8 codes, of which an
// attacker may try five per ticket, within the limits of Throttle.Code.
const codeDigits = 8

// newCode returns a code of codeDigits decimal digits from crypto/rand.
func newCode() string {
	n, err := rand.Int(rand.Reader, big.NewInt(100_000_000))
	if err != nil {
		panic("auth: crypto/rand failed: " + err.Error())
	}
	return fmt.Sprintf("%0*d", codeDigits, n.Int64())
}

// cleanCode returns the code a person typed without the spaces and dashes
// that they may have copied with it, or "" when it cannot be a code.
func cleanCode(s string) string {
	if len(s) > 4*codeDigits {
		return ""
	}
	c := strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\t' {
			return -1
		}
		return r
	}, s)
	if len(c) != codeDigits || strings.ContainsFunc(c, func(r rune) bool { return r < '0' || r > '9' }) {
		return ""
	}
	return c
}

// issued is a ticket about to be stored, with the secrets its mail carries.
type issued struct {
	ticket      valet.Ticket
	token, code string
}

// newTicket makes a ticket of u for purpose, sent to email, valid for ttl,
// with a code unless linkOnly.
func (s *Service) newTicket(u valet.User, purpose valet.TicketPurpose, email string, ttl time.Duration, linkOnly bool) issued {
	now := s.cfg.Now().UTC().Truncate(time.Microsecond)
	is := issued{token: valet.NewID()}
	is.ticket = valet.Ticket{
		ID: valet.HashSecret(is.token), UserID: u.ID, Purpose: purpose, Email: email,
		CreatedAt: now, ExpiresAt: now.Add(ttl),
	}
	if !linkOnly {
		is.code = newCode()
		is.ticket.CodeHash = valet.HashSecret(is.code)
	}
	return is
}

// link returns the public URL of path with the token in its query.
func (m *mailer) link(path, tok string) string {
	return m.cfg.PublicURL + path + "?token=" + url.QueryEscape(tok)
}

// message renders kind for to, ready for the outbox.
func (m *mailer) message(kind mail.Kind, to string, d mail.Data) (mail.OutboxMessage, error) {
	d.Site, d.URL, d.Email = m.cfg.Site, m.cfg.PublicURL, cmpOr(d.Email, to)
	msg, err := m.templates.Render(kind, d)
	if err != nil {
		return mail.OutboxMessage{}, fmt.Errorf("auth: render %s mail: %w", kind, err)
	}
	msg.To = to
	om, err := m.worker.Prepare(msg)
	if err != nil {
		return mail.OutboxMessage{}, fmt.Errorf("auth: %s mail: %w", kind, err)
	}
	return om, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// send stores the ticket with the mail that carries its link (to path)
// and code, in one transaction, and pokes the worker.
func (s *Service) send(ctx context.Context, is issued, kind mail.Kind, path, notice string) error {
	return s.sendWith(is, kind, path, notice, func(t valet.Ticket, om mail.OutboxMessage) error {
		return s.mail.outbox.CreateTicket(ctx, t, om)
	})
}

// sendWith renders the mail of is as send does and has store store the
// ticket with it, in one transaction, and pokes the worker.
func (s *Service) sendWith(is issued, kind mail.Kind, path, notice string, store func(valet.Ticket, mail.OutboxMessage) error) error {
	m := s.mail
	ttl := is.ticket.ExpiresAt.Sub(is.ticket.CreatedAt)
	om, err := m.message(kind, is.ticket.Email, mail.Data{Link: m.link(path, is.token), Code: is.code, ValidFor: ttl, Notice: notice})
	if err != nil {
		return err
	}
	if err := store(is.ticket, om); err != nil {
		return err
	}
	m.worker.Poke()
	return nil
}

// updateUserNotified stores u and, when the service sends mail, the notice
// to its address, in one transaction: the change is never stored without
// the mail that tells of it.
func (s *Service) updateUserNotified(ctx context.Context, u valet.User, notice string) error {
	if s.mail == nil {
		return s.users.UpdateUser(ctx, u)
	}
	om, err := s.mail.message(mail.KindNotice, u.Email, mail.Data{Notice: notice})
	if err != nil {
		return err
	}
	if err := s.mail.outbox.UpdateUserWithMail(ctx, u, om); err != nil {
		return err
	}
	s.mail.worker.Poke()
	return nil
}

// byEmail answers a request for mail to the account of email (recovery, a
// new verification link) in the same time whether or not there is one:
// for an account that want accepts it calls issue, which stores a ticket
// and its mail; otherwise it makes and stores a decoy ticket that names no
// user and that no one holds, with no mail, and waits out what the real
// work took lately. So the status, the body and the time of the answer
// tell nothing about which addresses have accounts. It returns nil, or a
// store's error (in both cases alike), or ErrInvalidEmail for a malformed
// address.
func (s *Service) byEmail(ctx context.Context, email string, purpose valet.TicketPurpose, c Client,
	want func(valet.User) bool, issue func(valet.User) error) error {
	if s.mail == nil {
		return errNoMail()
	}
	e, err := NormalizeEmail(email)
	if err != nil {
		return err
	}
	if s.cfg.Throttle != nil {
		if err := s.cfg.Throttle.Mail(ctx, e, c.IP); err != nil {
			return s.throttled(ctx, err, string(purpose)+".request", "", c, "email_hash", valet.HashSecret(e)[:12])
		}
	}
	start := time.Now()
	u, err := s.users.UserByEmail(ctx, e)
	if err != nil && !errors.Is(err, valet.ErrNotFound) {
		return err
	}
	if err == nil && want(u) {
		if err := issue(u); err != nil {
			return err
		}
		s.mail.observe(time.Since(start))
		s.audit(ctx, string(purpose)+".request", u.ID, "", c)
		return nil
	}
	// The decoy costs what the real work costs: a rendered and sealed
	// message, and a ticket written in a transaction of its own.
	decoy := s.newTicket(valet.User{}, purpose, valet.HashSecret(e), time.Minute, false)
	if _, err := s.mail.message(mail.KindRecovery, e, mail.Data{Link: s.mail.link("/", decoy.token), Code: decoy.code}); err != nil {
		return err
	}
	if err := s.mail.outbox.CreateTicket(ctx, decoy.ticket); err != nil {
		return err
	}
	if wait := time.Duration(s.mail.cost.Load()) - time.Since(start); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	s.audit(ctx, string(purpose)+".request", "", "", c, "email_hash", valet.HashSecret(e)[:12], "sent", false)
	return nil
}

// observe folds the time of a real request for mail into the average.
func (m *mailer) observe(d time.Duration) {
	for {
		old := m.cost.Load()
		next := int64(d)
		if old > 0 {
			next = old + (int64(d)-old)/8
		}
		if m.cost.CompareAndSwap(old, next) {
			return
		}
	}
}

// errInvalidCode is the one answer to a token or code that is wrong, used,
// expired, tampered with or another's.
func errInvalidCode() error {
	return valet.Errorf(valet.ErrInvalidCode, "This link or code is wrong, used or expired. Ask for a new one.")
}

// findTicket returns the live ticket of one of purposes that tok (a link
// token) or email and code name. A code is tried against each ticket of
// the address, each try counted first (so that tries at once cannot pass
// the limit), its hash compared in constant time; the fifth wrong try
// against a ticket deletes it. Anything that names no ticket gets
// errInvalidCode.
func (s *Service) findTicket(ctx context.Context, tok, email, code string, purposes []valet.TicketPurpose, c Client) (valet.Ticket, error) {
	if s.mail == nil {
		return valet.Ticket{}, errNoMail()
	}
	now := s.cfg.Now()
	switch {
	case tok != "" && (email != "" || code != ""):
		return valet.Ticket{}, valet.Errorf(valet.ErrInvalidRequest, "Send a token, or an email and a code, not both.")
	case tok != "":
		if s.cfg.Throttle != nil {
			if err := s.cfg.Throttle.Code(ctx, "", c.IP); err != nil {
				return valet.Ticket{}, s.throttled(ctx, err, "code", "", c)
			}
		}
		if !plausibleID(tok) {
			return valet.Ticket{}, errInvalidCode()
		}
		t, found, err := s.mail.outbox.Ticket(ctx, valet.HashSecret(tok), now)
		if err != nil {
			return valet.Ticket{}, err
		}
		if !found || !slices.Contains(purposes, t.Purpose) || t.UserID == "" {
			s.audit(ctx, "code.failure", "", "", c, "by", "token")
			return valet.Ticket{}, errInvalidCode()
		}
		return t, nil
	case email == "" || code == "":
		return valet.Ticket{}, valet.Errorf(valet.ErrInvalidRequest, "Send a token, or an email and a code.")
	}
	e, err := NormalizeEmail(email)
	if err != nil {
		return valet.Ticket{}, err
	}
	if s.cfg.Throttle != nil {
		if err := s.cfg.Throttle.Code(ctx, e, c.IP); err != nil {
			return valet.Ticket{}, s.throttled(ctx, err, "code", "", c, "email_hash", valet.HashSecret(e)[:12])
		}
	}
	clean := cleanCode(code)
	if clean == "" {
		return valet.Ticket{}, errInvalidCode()
	}
	hash := valet.HashSecret(clean)
	ts, err := s.mail.outbox.TicketsByEmail(ctx, e, purposes, now)
	if err != nil {
		return valet.Ticket{}, err
	}
	for _, t := range ts {
		if t.CodeHash == "" || t.UserID == "" {
			continue
		}
		n, ok, err := s.mail.outbox.CountTicketAttempt(ctx, t.ID, mail.MaxTicketAttempts, now)
		if err != nil {
			return valet.Ticket{}, err
		}
		if !ok {
			continue
		}
		if subtle.ConstantTimeCompare([]byte(hash), []byte(t.CodeHash)) == 1 {
			return t, nil
		}
		if n >= mail.MaxTicketAttempts {
			// The last try was wrong: the ticket dies, its link too.
			if _, err := s.mail.outbox.DeleteTickets(ctx, t.UserID, t.Purpose); err != nil {
				return valet.Ticket{}, err
			}
			s.audit(ctx, "code.dead", t.UserID, "", c, "purpose", string(t.Purpose))
		}
	}
	s.audit(ctx, "code.failure", "", "", c, "by", "code", "email_hash", valet.HashSecret(e)[:12])
	return valet.Ticket{}, errInvalidCode()
}

// redeem uses ticket t with r and msgs, answering errInvalidCode when it
// was used meanwhile or its user no longer qualifies, and tells every node
// that the user changed.
func (s *Service) redeem(ctx context.Context, t valet.Ticket, r valet.Redemption, msgs ...mail.OutboxMessage) (valet.User, error) {
	r.UserID = t.UserID
	if r.At.IsZero() {
		r.At = s.cfg.Now().UTC().Truncate(time.Microsecond)
	}
	ok, err := s.mail.outbox.RedeemTicket(ctx, t.ID, r, s.cfg.Now(), msgs...)
	if errors.Is(err, valet.ErrConflict) {
		return valet.User{}, valet.Errorf(valet.ErrConflict, "Another account has this email address now.")
	}
	if err != nil {
		return valet.User{}, err
	}
	if !ok {
		return valet.User{}, errInvalidCode()
	}
	if len(msgs) > 0 {
		s.mail.worker.Poke()
	}
	if err := s.userChanged(ctx, t.UserID); err != nil {
		return valet.User{}, err
	}
	return s.users.UserByID(ctx, t.UserID)
}
