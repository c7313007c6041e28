package mail

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// State is where a message in the outbox stands.
type State string

// The states of a message in the outbox.
const (
	// StatePending: not sent yet; it is due at NextAttemptAt.
	StatePending State = "pending"
	// StateSent: the receiving server took it.
	StateSent State = "sent"
	// StateDead: refused for good, or failing for too long; it will not be
	// sent, and was logged and counted when it died.
	StateDead State = "dead"
)

// OutboxMessage is a message as the outbox keeps it.
type OutboxMessage struct {
	// ID is the Message's id, unique in the outbox.
	ID string
	// Kind and To are the Message's, kept in clear for logs and metrics.
	Kind Kind
	To   string
	// Body is the rendered subject, text and HTML, encoded by the Worker
	// and sealed when it has a key (Config.Seal), so that links and codes
	// are not in the database in clear. The store keeps it as opaque bytes
	// and drops it once the message is sent or dead.
	Body []byte
	// State is pending, sent or dead.
	State State
	// Attempts counts the claims of the message, that is the tries to
	// send it, including one that a node began and never finished.
	Attempts int
	// CreatedAt is when the message was enqueued.
	CreatedAt time.Time
	// NextAttemptAt is when a pending message is due.
	NextAttemptAt time.Time
	// UpdatedAt is when the state last changed: enqueued, failed, sent or
	// dead. Sweeping goes by it.
	UpdatedAt time.Time
	// LastError is the last failure with the server's answer, empty until
	// the first; a store keeps at most MaxLastError bytes of valid UTF-8.
	LastError string
}

// Failure is a try to send a message that failed, for Outbox.MailFailed.
type Failure struct {
	// At is when the try failed.
	At time.Time
	// Next is when the message is due again; ignored when Dead.
	Next time.Time
	// Error is what failed, with the server's answer.
	Error string
	// Dead says that the message will not be tried again.
	Dead bool
}

// Outbox is where messages wait to be sent: a table of the database, so
// that a message enqueued survives restarts and outages of the SMTP
// server, and every node may send it. Its contract, for every backend:
//   - an error is for system failures only and wraps valet.ErrUnavailable
//     (also when ctx is done); ErrNotFound and ErrConflict are answers;
//   - of claimers at once, on one node or many, each due message goes to
//     one, and stays theirs until its lease ends;
//   - times are kept to the microsecond.
type Outbox interface {
	// EnqueueMail stores m as pending, due at m.NextAttemptAt, with no
	// attempts and no error, updated at m.CreatedAt; m's State,
	// Attempts, UpdatedAt and LastError are ignored. It returns ErrConflict
	// when m.ID is stored already.
	EnqueueMail(ctx context.Context, m OutboxMessage) error
	// ClaimMail claims up to limit pending messages that are due at now
	// (NextAttemptAt <= now) and are not held by a claim whose lease ends
	// after now, the earliest due first. Each is held until now+lease and
	// its Attempts grows by one; they are returned as they are after the
	// claim. limit <= 0 claims none.
	ClaimMail(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]OutboxMessage, error)
	// MailSent marks message id sent at at, drops its Body and its claim.
	// A message that is dead already is marked sent too: a late success is
	// still one. It returns ErrNotFound for an unknown id.
	MailSent(ctx context.Context, id string, at time.Time) error
	// MailFailed records a failed try of pending message id: LastError
	// becomes f.Error (cut to MaxLastError bytes of valid UTF-8),
	// UpdatedAt f.At, and its claim is released; it becomes dead, its
	// Body dropped, when f.Dead, and is otherwise due again at f.Next. A
	// message that is no longer pending (another node sent it after this
	// one's lease ran out) is left as it is, without error. It returns
	// ErrNotFound for an unknown id.
	MailFailed(ctx context.Context, id string, f Failure) error
	// MailByID returns message id, or ErrNotFound.
	MailByID(ctx context.Context, id string) (OutboxMessage, error)
	// PendingMail returns how many messages are pending, claimed or not.
	PendingMail(ctx context.Context) (int, error)
	// SweepMail deletes the sent and dead messages whose UpdatedAt is
	// before before, and returns how many it deleted.
	SweepMail(ctx context.Context, before time.Time) (int, error)
}

// The first byte of a Body says how it is encoded.
const (
	bodyPlain  byte = 1 // JSON
	bodySealed byte = 2 // nonce, then JSON sealed with the message id as additional data
)

// body is the part of a Message that Body holds.
type body struct {
	Subject string `json:"s"`
	Text    string `json:"t"`
	HTML    string `json:"h,omitempty"`
}

// encodeBody encodes m's subject and bodies, sealed with aead when it is
// not nil.
func encodeBody(m Message, aead cipher.AEAD) ([]byte, error) {
	js, err := json.Marshal(body{Subject: m.Subject, Text: m.Text, HTML: m.HTML})
	if err != nil {
		return nil, fmt.Errorf("mail: encode message: %w", err)
	}
	if aead == nil {
		return append([]byte{bodyPlain}, js...), nil
	}
	ns := aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(js)+aead.Overhead())
	out[0] = bodySealed
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("mail: crypto/rand: %w", err)
	}
	return aead.Seal(out, out[1:], js, []byte(m.ID)), nil
}

// errBody is a Body that cannot be read: sealed with another key, cut, or
// written by a newer build.
var errBody = errors.New("the stored message cannot be read")

// decodeBody is the inverse of encodeBody for message om.
func decodeBody(om OutboxMessage, aead cipher.AEAD) (Message, error) {
	m := Message{ID: om.ID, Kind: om.Kind, To: om.To}
	if len(om.Body) == 0 {
		return m, fmt.Errorf("%w: it is empty", errBody)
	}
	js := om.Body[1:]
	switch om.Body[0] {
	case bodyPlain:
	case bodySealed:
		if aead == nil {
			return m, fmt.Errorf("%w: it is sealed, and this node has no key", errBody)
		}
		ns := aead.NonceSize()
		if len(js) < ns {
			return m, fmt.Errorf("%w: it is cut short", errBody)
		}
		var err error
		js, err = aead.Open(nil, js[:ns], js[ns:], []byte(om.ID))
		if err != nil {
			return m, fmt.Errorf("%w: it is sealed with another key, or altered", errBody)
		}
	default:
		return m, fmt.Errorf("%w: its encoding %d is unknown to this build", errBody, om.Body[0])
	}
	var b body
	if err := json.Unmarshal(js, &b); err != nil {
		return m, fmt.Errorf("%w: %v", errBody, err)
	}
	m.Subject, m.Text, m.HTML = b.Subject, b.Text, b.HTML
	return m, nil
}
