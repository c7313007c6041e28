package memory

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/mail"
	"github.com/valetauth/valet/store/internal/text"
)

// The store is the mail outbox too.
var _ mail.Outbox = (*Store)(nil)

// outbox holds one Store's messages under a lock of its own.
type outbox struct {
	mu   sync.Mutex
	msgs map[string]*queued
}

type queued struct {
	m mail.OutboxMessage
	// claimedUntil is the end of the claim's lease; zero when unclaimed.
	claimedUntil time.Time
}

// mailbox returns s's outbox, making it at the first call.
func (s *Store) mailbox() *outbox {
	s.outboxOnce.Do(func() { s.outbox = &outbox{msgs: make(map[string]*queued)} })
	return s.outbox
}

func cloneMail(m mail.OutboxMessage) mail.OutboxMessage {
	m.Body = bytes.Clone(m.Body)
	return m
}

// EnqueueMail stores m as pending, due at m.NextAttemptAt. It returns an
// error wrapping valet.ErrConflict when m.ID is stored already.
func (s *Store) EnqueueMail(ctx context.Context, m mail.OutboxMessage) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	o := s.mailbox()
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.enqueueLocked(m)
}

// takenLocked returns an error wrapping valet.ErrConflict when one of msgs
// has the id of a stored message or of another of msgs.
func (o *outbox) takenLocked(msgs []mail.OutboxMessage) error {
	seen := make(map[string]bool, len(msgs))
	for _, m := range msgs {
		if _, ok := o.msgs[m.ID]; ok || seen[m.ID] {
			return fmt.Errorf("memory: mail id is taken: %w", valet.ErrConflict)
		}
		seen[m.ID] = true
	}
	return nil
}

// enqueueLocked stores m as EnqueueMail says; o.mu is held.
func (o *outbox) enqueueLocked(m mail.OutboxMessage) error {
	if err := o.takenLocked([]mail.OutboxMessage{m}); err != nil {
		return err
	}
	m = cloneMail(m)
	if len(m.Body) == 0 {
		m.Body = nil
	}
	m.State, m.Attempts, m.UpdatedAt, m.LastError = mail.StatePending, 0, m.CreatedAt, ""
	o.msgs[m.ID] = &queued{m: m}
	return nil
}

// ClaimMail claims up to limit due pending messages that no live lease
// holds, holding each until now+lease and counting an attempt, under the
// outbox's lock, so that each goes to one claimer. They are returned
// earliest due first.
func (s *Store) ClaimMail(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]mail.OutboxMessage, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	o := s.mailbox()
	o.mu.Lock()
	defer o.mu.Unlock()
	var due []*queued
	for _, q := range o.msgs {
		if q.m.State == mail.StatePending && !q.m.NextAttemptAt.After(now) && !q.claimedUntil.After(now) {
			due = append(due, q)
		}
	}
	slices.SortFunc(due, func(a, b *queued) int {
		return cmp.Or(a.m.NextAttemptAt.Compare(b.m.NextAttemptAt), a.m.CreatedAt.Compare(b.m.CreatedAt), cmp.Compare(a.m.ID, b.m.ID))
	})
	out := make([]mail.OutboxMessage, 0, min(limit, len(due)))
	for _, q := range due[:min(limit, len(due))] {
		q.claimedUntil = now.Add(lease)
		q.m.Attempts++
		out = append(out, cloneMail(q.m))
	}
	return out, nil
}

// MailSent marks message id sent at at and drops its body and claim. It
// returns an error wrapping valet.ErrNotFound for an unknown id.
func (s *Store) MailSent(ctx context.Context, id string, at time.Time) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	o := s.mailbox()
	o.mu.Lock()
	defer o.mu.Unlock()
	q, ok := o.msgs[id]
	if !ok {
		return fmt.Errorf("memory: mail sent: %w", valet.ErrNotFound)
	}
	q.m.State, q.m.Body, q.m.UpdatedAt, q.claimedUntil = mail.StateSent, nil, at, time.Time{}
	return nil
}

// MailFailed records a failed try of pending message id (see
// mail.Outbox). A message that is not pending is left alone. It returns an
// error wrapping valet.ErrNotFound for an unknown id.
func (s *Store) MailFailed(ctx context.Context, id string, f mail.Failure) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	o := s.mailbox()
	o.mu.Lock()
	defer o.mu.Unlock()
	q, ok := o.msgs[id]
	if !ok {
		return fmt.Errorf("memory: mail failed: %w", valet.ErrNotFound)
	}
	if q.m.State != mail.StatePending {
		return nil
	}
	q.m.LastError, q.m.UpdatedAt, q.claimedUntil = text.Clean(f.Error, mail.MaxLastError), f.At, time.Time{}
	if f.Dead {
		q.m.State, q.m.Body = mail.StateDead, nil
	} else {
		q.m.NextAttemptAt = f.Next
	}
	return nil
}

// MailByID returns message id. It returns an error wrapping
// valet.ErrNotFound when there is none.
func (s *Store) MailByID(ctx context.Context, id string) (mail.OutboxMessage, error) {
	if err := ctxErr(ctx); err != nil {
		return mail.OutboxMessage{}, err
	}
	o := s.mailbox()
	o.mu.Lock()
	defer o.mu.Unlock()
	q, ok := o.msgs[id]
	if !ok {
		return mail.OutboxMessage{}, fmt.Errorf("memory: mail by id: %w", valet.ErrNotFound)
	}
	return cloneMail(q.m), nil
}

// PendingMail returns how many messages are pending.
func (s *Store) PendingMail(ctx context.Context) (int, error) {
	if err := ctxErr(ctx); err != nil {
		return 0, err
	}
	o := s.mailbox()
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, q := range o.msgs {
		if q.m.State == mail.StatePending {
			n++
		}
	}
	return n, nil
}

// SweepMail deletes the sent and dead messages last updated before before
// and returns how many.
func (s *Store) SweepMail(ctx context.Context, before time.Time) (int, error) {
	if err := ctxErr(ctx); err != nil {
		return 0, err
	}
	o := s.mailbox()
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for id, q := range o.msgs {
		if q.m.State != mail.StatePending && q.m.UpdatedAt.Before(before) {
			delete(o.msgs, id)
			n++
		}
	}
	return n, nil
}
