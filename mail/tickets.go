package mail

import (
	"context"
	"time"

	"github.com/valetauth/valet"
)

// MaxTicketAttempts is how many codes may be tried against one ticket: the
// fifth wrong one kills it.
const MaxTicketAttempts = 5

// TicketStore keeps the one-time tickets that valet sends by mail
// (valet.Ticket) in the database of the Outbox, so that a ticket and the
// message that carries it, or a change and the message that tells of it,
// are stored in one transaction: a message goes out if and only if its
// change is made. The contract is Outbox's, and:
//   - a ticket is found by its id (the hash of its link token) or by the
//     address it was sent to, never by its code: a code is checked by the
//     caller against the CodeHash of each ticket of an address;
//   - a ticket that has expired at the now a method is given is never
//     returned, counted or used; SweepTickets reclaims its space;
//   - of callers at once, on one node or many, one uses a ticket, and a
//     ticket is never tried more than max times.
type TicketStore interface {
	Outbox
	// CreateTicket stores t, with no attempts, and enqueues msgs (as
	// EnqueueMail does) in one transaction: all of them or, with an error,
	// none. It deletes first the user's tickets of the same purpose and
	// email, so that a new request replaces the one before. It returns
	// ErrConflict when t.ID or the id of a message is stored already.
	CreateTicket(ctx context.Context, t valet.Ticket, msgs ...OutboxMessage) error
	// Ticket returns the ticket with id. found is false, with a nil error,
	// when there is none or it has expired at now.
	Ticket(ctx context.Context, id string, now time.Time) (t valet.Ticket, found bool, err error)
	// TicketsByEmail returns the tickets sent to email with one of
	// purposes that have not expired at now, newest first.
	TicketsByEmail(ctx context.Context, email string, purposes []valet.TicketPurpose, now time.Time) ([]valet.Ticket, error)
	// CountTicketAttempt counts one try of a code against ticket id when it
	// has had fewer than max, and returns the count with it. ok is false,
	// and nothing is counted, when the ticket is gone, has expired at now
	// or has had max tries: the code must then not be compared.
	CountTicketAttempt(ctx context.Context, id string, max int, now time.Time) (n int, ok bool, err error)
	// RedeemTicket uses up ticket id: in one transaction it deletes the
	// ticket and the user's other tickets of the purposes r.Drop names,
	// applies r to the ticket's user (valet.Redemption says how) and
	// enqueues msgs. ok is false, and nothing changes, when the ticket is
	// gone or has expired at now, is not r.UserID's, or the user is gone
	// or no longer has the email r.IfEmail. It returns ErrConflict, and
	// changes nothing, when r.SetEmail is another user's email.
	RedeemTicket(ctx context.Context, id string, r valet.Redemption, now time.Time, msgs ...OutboxMessage) (ok bool, err error)
	// UpdateUserWithMail replaces the stored user that has u.ID with u, as
	// valet.UserStore.UpdateUser does, and enqueues msgs, in one
	// transaction: a change that the user must be told of is never stored
	// without its notice. Its errors are UpdateUser's and EnqueueMail's,
	// and with one nothing changes.
	UpdateUserWithMail(ctx context.Context, u valet.User, msgs ...OutboxMessage) error
	// ChangeFactorsWithMail makes c (see valet.FactorChange) and enqueues
	// msgs in one transaction: a change of a second factor that the user
	// must be told of is never stored without its notice. ok is false, and
	// nothing changes, when a condition of c does not hold; n is the
	// number of factors that c.DeleteAll removed. Its errors are those of
	// the FactorStore methods c names and EnqueueMail's, and with one
	// nothing changes.
	ChangeFactorsWithMail(ctx context.Context, c valet.FactorChange, msgs ...OutboxMessage) (n int, ok bool, err error)
	// CreateUserWithTicket stores the new user u as
	// valet.UserStore.CreateUser does, then the ticket t as CreateTicket
	// does, and enqueues msgs, in one transaction: a new account is never
	// stored without the mail that verifies its address. Its errors are
	// CreateUser's and CreateTicket's, and with one nothing changes.
	CreateUserWithTicket(ctx context.Context, u valet.User, t valet.Ticket, msgs ...OutboxMessage) error
	// DeleteTickets deletes the tickets of userID with one of purposes, or
	// with any purpose when none is named, and returns how many it deleted.
	DeleteTickets(ctx context.Context, userID string, purposes ...valet.TicketPurpose) (int, error)
	// SweepTickets deletes the tickets that have expired at now and
	// returns how many it deleted.
	SweepTickets(ctx context.Context, now time.Time) (int, error)
}
