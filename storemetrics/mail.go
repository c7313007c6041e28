package storemetrics

import (
	"context"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/mail"
)

// A wrapper of Users is a mail.TicketStore exactly when what it wraps is
// one (the database that keeps the users keeps the outbox and the tickets
// too), so that the engine, which asks, gets the same answer and the
// outbox's calls are timed as "mail".

// usersMail is the wrapper of a Users member that is a mail.TicketStore.
type usersMail struct {
	*users
	ts  mail.TicketStore
	ops map[string]*op
}

var mailOps = []string{
	"EnqueueMail", "ClaimMail", "MailSent", "MailFailed", "MailByID", "PendingMail", "SweepMail",
	"CreateTicket", "Ticket", "TicketsByEmail", "CountTicketAttempt", "RedeemTicket",
	"UpdateUserWithMail", "ChangeFactorsWithMail", "CreateUserWithTicket", "DeleteTickets", "SweepTickets",
}

func wrapMail(u *users, ts mail.TicketStore, m *meter) *usersMail {
	w := &usersMail{users: u, ts: ts, ops: make(map[string]*op, len(mailOps))}
	for _, name := range mailOps {
		w.ops[name] = m.op("mail", name)
	}
	return w
}

// timed calls f, timing it as op name.
func timed[T any](w *usersMail, name string, f func() (T, error)) (T, error) {
	start := time.Now()
	v, err := f()
	w.ops[name].done(start, err)
	return v, err
}

// timedErr calls f, timing it as op name.
func timedErr(w *usersMail, name string, f func() error) error {
	start := time.Now()
	err := f()
	w.ops[name].done(start, err)
	return err
}

func (w *usersMail) EnqueueMail(ctx context.Context, m mail.OutboxMessage) error {
	return timedErr(w, "EnqueueMail", func() error { return w.ts.EnqueueMail(ctx, m) })
}

func (w *usersMail) ClaimMail(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]mail.OutboxMessage, error) {
	return timed(w, "ClaimMail", func() ([]mail.OutboxMessage, error) { return w.ts.ClaimMail(ctx, now, lease, limit) })
}

func (w *usersMail) MailSent(ctx context.Context, id string, at time.Time) error {
	return timedErr(w, "MailSent", func() error { return w.ts.MailSent(ctx, id, at) })
}

func (w *usersMail) MailFailed(ctx context.Context, id string, f mail.Failure) error {
	return timedErr(w, "MailFailed", func() error { return w.ts.MailFailed(ctx, id, f) })
}

func (w *usersMail) MailByID(ctx context.Context, id string) (mail.OutboxMessage, error) {
	return timed(w, "MailByID", func() (mail.OutboxMessage, error) { return w.ts.MailByID(ctx, id) })
}

func (w *usersMail) PendingMail(ctx context.Context) (int, error) {
	return timed(w, "PendingMail", func() (int, error) { return w.ts.PendingMail(ctx) })
}

func (w *usersMail) SweepMail(ctx context.Context, before time.Time) (int, error) {
	return timed(w, "SweepMail", func() (int, error) { return w.ts.SweepMail(ctx, before) })
}

func (w *usersMail) CreateTicket(ctx context.Context, t valet.Ticket, msgs ...mail.OutboxMessage) error {
	return timedErr(w, "CreateTicket", func() error { return w.ts.CreateTicket(ctx, t, msgs...) })
}

// found is a value and whether it was found, for timed.
type found[T any] struct {
	v  T
	ok bool
}

func (w *usersMail) Ticket(ctx context.Context, id string, now time.Time) (valet.Ticket, bool, error) {
	r, err := timed(w, "Ticket", func() (found[valet.Ticket], error) {
		t, ok, err := w.ts.Ticket(ctx, id, now)
		return found[valet.Ticket]{t, ok}, err
	})
	return r.v, r.ok, err
}

func (w *usersMail) TicketsByEmail(ctx context.Context, email string, purposes []valet.TicketPurpose, now time.Time) ([]valet.Ticket, error) {
	return timed(w, "TicketsByEmail", func() ([]valet.Ticket, error) { return w.ts.TicketsByEmail(ctx, email, purposes, now) })
}

func (w *usersMail) CountTicketAttempt(ctx context.Context, id string, max int, now time.Time) (int, bool, error) {
	r, err := timed(w, "CountTicketAttempt", func() (found[int], error) {
		n, ok, err := w.ts.CountTicketAttempt(ctx, id, max, now)
		return found[int]{n, ok}, err
	})
	return r.v, r.ok, err
}

func (w *usersMail) RedeemTicket(ctx context.Context, id string, r valet.Redemption, now time.Time, msgs ...mail.OutboxMessage) (bool, error) {
	return timed(w, "RedeemTicket", func() (bool, error) { return w.ts.RedeemTicket(ctx, id, r, now, msgs...) })
}

func (w *usersMail) UpdateUserWithMail(ctx context.Context, u valet.User, msgs ...mail.OutboxMessage) error {
	return timedErr(w, "UpdateUserWithMail", func() error { return w.ts.UpdateUserWithMail(ctx, u, msgs...) })
}

func (w *usersMail) ChangeFactorsWithMail(ctx context.Context, c valet.FactorChange, msgs ...mail.OutboxMessage) (int, bool, error) {
	r, err := timed(w, "ChangeFactorsWithMail", func() (found[int], error) {
		n, ok, err := w.ts.ChangeFactorsWithMail(ctx, c, msgs...)
		return found[int]{n, ok}, err
	})
	return r.v, r.ok, err
}

func (w *usersMail) CreateUserWithTicket(ctx context.Context, u valet.User, t valet.Ticket, msgs ...mail.OutboxMessage) error {
	return timedErr(w, "CreateUserWithTicket", func() error { return w.ts.CreateUserWithTicket(ctx, u, t, msgs...) })
}

func (w *usersMail) DeleteTickets(ctx context.Context, userID string, purposes ...valet.TicketPurpose) (int, error) {
	return timed(w, "DeleteTickets", func() (int, error) { return w.ts.DeleteTickets(ctx, userID, purposes...) })
}

func (w *usersMail) SweepTickets(ctx context.Context, now time.Time) (int, error) {
	return timed(w, "SweepTickets", func() (int, error) { return w.ts.SweepTickets(ctx, now) })
}
