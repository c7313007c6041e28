package memory

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/mail"
)

// The store keeps the tickets that valet sends by mail, beside its outbox.
var _ mail.TicketStore = (*Store)(nil)

// tickets holds one Store's tickets under a lock of its own. A method
// that changes users or the outbox too takes this lock first, then the
// users' lock, then the outbox's, and so sees and makes the change as one.
type tickets struct {
	mu   sync.Mutex
	byID map[string]valet.Ticket
}

// ticketbox returns s's tickets, making them at the first call.
func (s *Store) ticketbox() *tickets {
	s.ticketsOnce.Do(func() { s.tickets = &tickets{byID: make(map[string]valet.Ticket)} })
	return s.tickets
}

// CreateTicket stores t in place of the user's tickets of the same purpose
// and email, and enqueues msgs, as one change. It returns an error wrapping
// valet.ErrConflict, and changes nothing, when t.ID or a message id is
// taken.
func (s *Store) CreateTicket(ctx context.Context, t valet.Ticket, msgs ...mail.OutboxMessage) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	tb := s.ticketbox()
	tb.mu.Lock()
	defer tb.mu.Unlock()
	o := s.mailbox()
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := s.canCreateTicketLocked(t, msgs); err != nil {
		return err
	}
	s.createTicketLocked(t, msgs)
	return nil
}

// CreateUserWithTicket stores the new user u, then the ticket t as
// CreateTicket does, and enqueues msgs, under the locks of all three (in
// RedeemTicket's order: tickets, users, outbox): all of it or, with an
// error, none.
func (s *Store) CreateUserWithTicket(ctx context.Context, u valet.User, t valet.Ticket, msgs ...mail.OutboxMessage) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	tb := s.ticketbox()
	tb.mu.Lock()
	defer tb.mu.Unlock()
	s.umu.Lock()
	defer s.umu.Unlock()
	o := s.mailbox()
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := s.canCreateTicketLocked(t, msgs); err != nil {
		return err
	}
	if err := s.createUserLocked(u); err != nil {
		return err
	}
	s.createTicketLocked(t, msgs)
	return nil
}

// canCreateTicketLocked returns CreateTicket's error for t and msgs, if
// any; the tickets' and the outbox's locks are held.
func (s *Store) canCreateTicketLocked(t valet.Ticket, msgs []mail.OutboxMessage) error {
	if err := s.mailbox().takenLocked(msgs); err != nil {
		return err
	}
	if old, ok := s.ticketbox().byID[t.ID]; ok && !(old.UserID == t.UserID && old.Purpose == t.Purpose && old.Email == t.Email) {
		return fmt.Errorf("memory: ticket id is taken: %w", valet.ErrConflict)
	}
	return nil
}

// createTicketLocked stores t and msgs, which canCreateTicketLocked has
// passed, as CreateTicket says; the tickets' and the outbox's locks are
// held.
func (s *Store) createTicketLocked(t valet.Ticket, msgs []mail.OutboxMessage) {
	tb, o := s.ticketbox(), s.mailbox()
	for id, old := range tb.byID {
		if old.UserID == t.UserID && old.Purpose == t.Purpose && old.Email == t.Email {
			delete(tb.byID, id)
		}
	}
	t.Attempts = 0
	tb.byID[t.ID] = t
	for _, m := range msgs {
		// takenLocked has checked every id.
		_ = o.enqueueLocked(m)
	}
}

// Ticket returns ticket id unless it is gone or has expired at now.
func (s *Store) Ticket(ctx context.Context, id string, now time.Time) (valet.Ticket, bool, error) {
	if err := ctxErr(ctx); err != nil {
		return valet.Ticket{}, false, err
	}
	tb := s.ticketbox()
	tb.mu.Lock()
	defer tb.mu.Unlock()
	t, ok := tb.byID[id]
	if !ok || t.Expired(now) {
		return valet.Ticket{}, false, nil
	}
	return t, true, nil
}

// TicketsByEmail returns the live tickets sent to email with one of
// purposes, newest first.
func (s *Store) TicketsByEmail(ctx context.Context, email string, purposes []valet.TicketPurpose, now time.Time) ([]valet.Ticket, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	tb := s.ticketbox()
	tb.mu.Lock()
	var out []valet.Ticket
	for _, t := range tb.byID {
		if t.Email == email && slices.Contains(purposes, t.Purpose) && !t.Expired(now) {
			out = append(out, t)
		}
	}
	tb.mu.Unlock()
	slices.SortFunc(out, func(a, b valet.Ticket) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// CountTicketAttempt counts a try of a code against ticket id under the
// tickets' lock, when it is live at now and has had fewer than max.
func (s *Store) CountTicketAttempt(ctx context.Context, id string, max int, now time.Time) (int, bool, error) {
	if err := ctxErr(ctx); err != nil {
		return 0, false, err
	}
	tb := s.ticketbox()
	tb.mu.Lock()
	defer tb.mu.Unlock()
	t, ok := tb.byID[id]
	if !ok || t.Expired(now) || t.Attempts >= max {
		return 0, false, nil
	}
	t.Attempts++
	tb.byID[id] = t
	return t.Attempts, true, nil
}

// RedeemTicket uses up ticket id and applies r to its user, with msgs, as
// one change, as mail.TicketStore says. It returns an error wrapping
// valet.ErrConflict when r.SetEmail is taken.
func (s *Store) RedeemTicket(ctx context.Context, id string, r valet.Redemption, now time.Time, msgs ...mail.OutboxMessage) (bool, error) {
	if err := ctxErr(ctx); err != nil {
		return false, err
	}
	tb := s.ticketbox()
	tb.mu.Lock()
	defer tb.mu.Unlock()
	t, ok := tb.byID[id]
	if !ok || t.Expired(now) || t.UserID != r.UserID {
		return false, nil
	}
	s.umu.Lock()
	defer s.umu.Unlock()
	u, ok := s.users[r.UserID]
	if !ok || r.IfEmail != "" && u.Email != r.IfEmail {
		return false, nil
	}
	if r.SetEmail != "" {
		if owner, taken := s.byEmail[r.SetEmail]; taken && owner != u.ID {
			return false, fmt.Errorf("memory: email is taken: %w", valet.ErrConflict)
		}
	}
	o := s.mailbox()
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.takenLocked(msgs); err != nil {
		return false, err
	}
	delete(tb.byID, id)
	for tid, other := range tb.byID {
		if other.UserID == r.UserID && slices.Contains(r.Drop, other.Purpose) {
			delete(tb.byID, tid)
		}
	}
	if r.SetEmail != "" {
		delete(s.byEmail, u.Email)
		u.Email = r.SetEmail
		s.byEmail[u.Email] = u.ID
	}
	if r.PasswordHash != "" {
		u.PasswordHash = r.PasswordHash
	}
	u.EmailVerified, u.EmailVerifiedAt, u.UpdatedAt = true, r.At, r.At
	s.users[u.ID] = u
	for _, m := range msgs {
		_ = o.enqueueLocked(m)
	}
	return true, nil
}

// DeleteTickets deletes the tickets of userID with one of purposes (any,
// when none is named).
func (s *Store) DeleteTickets(ctx context.Context, userID string, purposes ...valet.TicketPurpose) (int, error) {
	if err := ctxErr(ctx); err != nil {
		return 0, err
	}
	tb := s.ticketbox()
	tb.mu.Lock()
	defer tb.mu.Unlock()
	n := 0
	for id, t := range tb.byID {
		if t.UserID == userID && (len(purposes) == 0 || slices.Contains(purposes, t.Purpose)) {
			delete(tb.byID, id)
			n++
		}
	}
	return n, nil
}

// SweepTickets deletes the tickets that have expired at now.
func (s *Store) SweepTickets(ctx context.Context, now time.Time) (int, error) {
	if err := ctxErr(ctx); err != nil {
		return 0, err
	}
	tb := s.ticketbox()
	tb.mu.Lock()
	defer tb.mu.Unlock()
	n := 0
	for id, t := range tb.byID {
		if t.Expired(now) {
			delete(tb.byID, id)
			n++
		}
	}
	return n, nil
}

// UpdateUserWithMail updates u as UpdateUser does and enqueues msgs, under
// the locks of both: all of it or, with an error, none.
func (s *Store) UpdateUserWithMail(ctx context.Context, u valet.User, msgs ...mail.OutboxMessage) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	s.umu.Lock()
	defer s.umu.Unlock()
	o := s.mailbox()
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.takenLocked(msgs); err != nil {
		return err
	}
	if err := s.updateUserLocked(u); err != nil {
		return err
	}
	for _, m := range msgs {
		// takenLocked has checked every id.
		_ = o.enqueueLocked(m)
	}
	return nil
}
