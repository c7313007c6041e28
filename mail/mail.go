// Package mail sends valet's mail so that none is lost silently.
//
// A Message (verify an address, recover an account, a notice, a test) is
// rendered from Templates and given to a Worker's Enqueue, which stores it
// in an Outbox (a table of the database) and pokes the worker. The worker
// claims due messages from the outbox, sends each with a Sender, and on a
// failure tries again with exponential backoff until the message is sent
// or, after a permanent refusal or a day of failures, is dead. Every failed
// message is logged once with the server's answer, and counted.
//
// Several nodes may run a worker on one database: a claim holds a message
// for a lease, so that each message is sent by one node. A node that dies
// while sending leaves its claims to expire, and another node sends them:
// delivery is at least once, and a duplicate needs a node to die between
// the server's acceptance and the outbox's record of it.
//
// The SMTP Sender is in package mail/smtp, so that this package, which the
// stores import for the outbox's types, links no mail library; the metrics
// are in package mail/mailmetrics. LogSender stands in for SMTP where no
// server is configured.
package mail

import (
	"context"
	"errors"
	"fmt"
	netmail "net/mail"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/valetauth/valet"
)

// Kind says what a message is for. It names the templates the message is
// rendered from (verify.txt, verify.html) and is kept in the outbox, so
// that logs and metrics can tell a recovery mail from a notice.
type Kind string

// The kinds of mail valet sends, each with built-in templates.
const (
	// KindVerify asks the recipient to confirm their address.
	KindVerify Kind = "verify"
	// KindRecovery carries a link and a code to set a new password.
	KindRecovery Kind = "recovery"
	// KindNotice tells the recipient of a change to their account.
	KindNotice Kind = "notice"
	// KindTest is what `valet mail test` sends.
	KindTest Kind = "test"
)

// Kinds returns the kinds that have built-in templates, in a fixed order.
func Kinds() []Kind { return []Kind{KindVerify, KindRecovery, KindNotice, KindTest} }

// The bounds of a message's parts. A message past them is refused by
// Validate with an error that says which part is too long.
const (
	// MaxAddress bounds the address itself, as RFC 5321 does a path's
	// contents (256 with the angle brackets).
	MaxAddress = 254
	// MaxLocalPart bounds the part of an address before the @ (RFC 5321).
	MaxLocalPart = 64
	// MaxDisplayName bounds the name of "Name <address>", in characters.
	MaxDisplayName = 128
	// MaxSubject bounds a subject, in characters.
	MaxSubject = 250
	// MaxBody bounds each of the text and HTML bodies, in bytes.
	MaxBody = 256 << 10
	// MaxID bounds a message id, in bytes.
	MaxID = 128
	// MaxLastError bounds the failure kept with a message in the outbox, in
	// bytes; the stores cut it there.
	MaxLastError = 1024
	// maxAddressInput bounds what ParseAddress reads at all.
	maxAddressInput = 512
)

// Message is one mail to one recipient, rendered and ready to send.
type Message struct {
	// ID identifies the message in the outbox and in its Message-ID
	// header, so that a message sent twice is one message to the
	// recipient's mail program. Enqueue sets it when it is empty.
	ID string
	// Kind is what the message is for.
	Kind Kind
	// To is the recipient: "ada@example.com" or "Ada <ada@example.com>".
	To string
	// Subject is one line.
	Subject string
	// Text is the plain-text body. It is required: the HTML body is an
	// alternative to it, never the only body.
	Text string
	// HTML is the HTML body; empty sends text only.
	HTML string
}

// Validate reports whether m can be sent: an error wrapping
// valet.ErrInvalidEmail for a recipient that is not one email address (with
// no line break, control character or NUL, within the bounds above), and
// one wrapping valet.ErrInvalidRequest for any other part that is missing,
// not valid UTF-8, too long, or holds a line break where none may be. The
// error's sentence (valet.Message) names the part.
func (m Message) Validate() error {
	if m.ID != "" {
		if err := checkID(m.ID); err != nil {
			return err
		}
	}
	if err := checkKind(m.Kind); err != nil {
		return err
	}
	if _, err := ParseAddress(m.To); err != nil {
		return err
	}
	if err := checkSubject(m.Subject); err != nil {
		return err
	}
	if m.Text == "" {
		return valet.Errorf(valet.ErrInvalidRequest, "The message has no text body.")
	}
	for _, b := range []struct{ name, s string }{{"text", m.Text}, {"HTML", m.HTML}} {
		switch {
		case len(b.s) > MaxBody:
			return valet.Errorf(valet.ErrInvalidRequest, "The %s body is longer than %d KiB.", b.name, MaxBody>>10)
		case !utf8.ValidString(b.s):
			return valet.Errorf(valet.ErrInvalidRequest, "The %s body is not valid UTF-8.", b.name)
		case strings.IndexByte(b.s, 0) >= 0:
			return valet.Errorf(valet.ErrInvalidRequest, "The %s body contains a NUL byte.", b.name)
		}
	}
	return nil
}

func checkID(id string) error {
	if len(id) > MaxID {
		return valet.Errorf(valet.ErrInvalidRequest, "The message id is longer than %d bytes.", MaxID)
	}
	for _, r := range id {
		if !(r < utf8.RuneSelf && (r == '-' || r == '_' || r == '.' || unicode.IsLetter(r) || unicode.IsDigit(r))) {
			return valet.Errorf(valet.ErrInvalidRequest, "The message id %s may hold only letters, digits, '-', '_' and '.'.", quote(id))
		}
	}
	return nil
}

func checkKind(k Kind) error {
	if k == "" {
		return valet.Errorf(valet.ErrInvalidRequest, "The message has no kind.")
	}
	if len(k) > 32 {
		return valet.Errorf(valet.ErrInvalidRequest, "The message kind is longer than 32 bytes.")
	}
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return valet.Errorf(valet.ErrInvalidRequest, "The message kind %s may hold only a-z, 0-9 and '-'.", quote(string(k)))
		}
	}
	return nil
}

func checkSubject(s string) error {
	switch {
	case s == "":
		return valet.Errorf(valet.ErrInvalidRequest, "The message has no subject.")
	case !utf8.ValidString(s):
		return valet.Errorf(valet.ErrInvalidRequest, "The subject is not valid UTF-8.")
	case utf8.RuneCountInString(s) > MaxSubject:
		return valet.Errorf(valet.ErrInvalidRequest, "The subject is longer than %d characters.", MaxSubject)
	case hasControl(s):
		// A line break in a header would let the rest of the line become
		// headers or a body of its own.
		return valet.Errorf(valet.ErrInvalidRequest, "The subject contains a line break or another control character.")
	}
	return nil
}

// ParseAddress checks s, one address with or without a display name
// ("ada@example.com", "Ada Lovelace <ada@example.com>"), and returns it
// parsed. It refuses, with an error wrapping valet.ErrInvalidEmail whose
// sentence says why: an empty s; one over 512 bytes or not valid UTF-8; a
// line break, NUL or other control character anywhere, also in a display
// name once its RFC 2047 encoding is undone; anything that is not exactly
// one address; an address over 254 bytes or with a local part over 64; a
// display name over 128 characters.
func ParseAddress(s string) (*netmail.Address, error) {
	switch {
	case s == "":
		return nil, valet.Errorf(valet.ErrInvalidEmail, "No email address is given.")
	case len(s) > maxAddressInput:
		return nil, valet.Errorf(valet.ErrInvalidEmail, "The email address is longer than %d bytes.", maxAddressInput)
	case !utf8.ValidString(s):
		return nil, valet.Errorf(valet.ErrInvalidEmail, "The email address %s is not valid UTF-8.", quote(s))
	case hasControl(s):
		return nil, valet.Errorf(valet.ErrInvalidEmail, "The email address %s contains a line break, a NUL or another control character.", quote(s))
	}
	a, err := netmail.ParseAddress(s)
	if err != nil {
		if list, lerr := netmail.ParseAddressList(s); lerr == nil && len(list) > 1 {
			return nil, valet.Errorf(valet.ErrInvalidEmail, "%s holds %d addresses; give one.", quote(s), len(list))
		}
		return nil, valet.Errorf(valet.ErrInvalidEmail, "%s is not an email address such as ada@example.com or \"Ada <ada@example.com>\".", quote(s))
	}
	local, _, _ := strings.Cut(a.Address, "@")
	switch {
	case len(a.Address) > MaxAddress:
		return nil, valet.Errorf(valet.ErrInvalidEmail, "The email address is longer than %d bytes.", MaxAddress)
	case len(local) > MaxLocalPart:
		return nil, valet.Errorf(valet.ErrInvalidEmail, "The part of the email address before the @ is longer than %d bytes.", MaxLocalPart)
	case hasControl(a.Name) || !utf8.ValidString(a.Name):
		// An encoded word (=?utf-8?q?...?=) may decode to a line break.
		return nil, valet.Errorf(valet.ErrInvalidEmail, "The name in %s contains a line break or another control character.", quote(s))
	case utf8.RuneCountInString(a.Name) > MaxDisplayName:
		return nil, valet.Errorf(valet.ErrInvalidEmail, "The name in the email address is longer than %d characters.", MaxDisplayName)
	}
	return a, nil
}

// hasControl reports whether s holds a C0 or C1 control character, DEL,
// or a Unicode line or paragraph separator.
func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
	})
}

// quote quotes s for a message, escaping what could break the line and
// cutting it short.
func quote(s string) string {
	const most = 64
	if len(s) > most {
		cut := most
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "..."
	}
	return strconv.Quote(s)
}

// Sender sends one message now. A Sender is safe for concurrent use.
type Sender interface {
	// Send delivers m, or returns why not: a *SendError when a server
	// answered or could not be reached, with the server's answer in it.
	// Send returns only once the receiving server has taken the message
	// (or refused it) and honours ctx's deadline.
	Send(ctx context.Context, m Message) error
}

// SendError is a delivery that failed, with what the server answered. A
// Sender returns it so that the failure can be logged once with the
// server's own words and the Worker can tell a refusal that retrying cannot
// change from one that it can.
type SendError struct {
	// Stage is the step that failed: "connect", "tls", "greeting", "hello",
	// "starttls", "auth", "mail from", "rcpt to", "data" or "message".
	Stage string
	// Code is the server's reply code, such as 550; 0 when the failure was
	// not a reply (the connection was refused or dropped, TLS failed).
	Code int
	// Enhanced is the reply's enhanced status code (RFC 3463), such as
	// "5.1.1", when it has one.
	Enhanced string
	// Text is the server's reply after the code, on one line, or what went
	// wrong when there was no reply. It never holds a password.
	Text string
	// Permanent is true when sending this message again cannot succeed: the
	// server refused the recipient or the message itself with a 5xx reply,
	// or the message cannot be sent as it is. A refusal of the sender or of
	// the credentials is not permanent: it is the configuration's, and
	// mail goes out once the configuration is fixed.
	Permanent bool
}

// Error says what failed, with the server's answer.
func (e *SendError) Error() string {
	if e.Code != 0 {
		return fmt.Sprintf("mail: %s: the server answered %d %s", e.Stage, e.Code, e.Text)
	}
	return fmt.Sprintf("mail: %s: %s", e.Stage, e.Text)
}

// Permanent reports whether err is a *SendError that says retrying the
// message cannot succeed.
func Permanent(err error) bool {
	var se *SendError
	return errors.As(err, &se) && se.Permanent
}
