package storetest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/mail"
)

// outboxOf returns the member of st that is a mail.Outbox, if any.
func outboxOf(st valet.Stores) (mail.Outbox, bool) {
	for _, m := range members(st) {
		if o, ok := m.(mail.Outbox); ok {
			return o, true
		}
	}
	return nil, false
}

// newMail returns a message due at due, created a minute before, with a
// random body.
func newMail(tb testing.TB, due time.Time) mail.OutboxMessage {
	tb.Helper()
	return mail.OutboxMessage{
		ID: valet.NewID(), Kind: mail.KindVerify, To: "ada@example.com", Body: randomBytes(tb, 200),
		CreatedAt: due.Add(-time.Minute), NextAttemptAt: due,
	}
}

func diffMail(got, want mail.OutboxMessage) string {
	var d diff
	d.str("ID", got.ID, want.ID)
	d.str("Kind", string(got.Kind), string(want.Kind))
	d.str("To", got.To, want.To)
	d.bytes("Body", got.Body, want.Body)
	d.str("State", string(got.State), string(want.State))
	d.int("Attempts", got.Attempts, want.Attempts)
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	d.time("NextAttemptAt", got.NextAttemptAt, want.NextAttemptAt)
	d.time("UpdatedAt", got.UpdatedAt, want.UpdatedAt)
	d.str("LastError", got.LastError, want.LastError)
	return d.String()
}

// wantMail fails tb unless message want.ID is stored as want.
func wantMail(tb testing.TB, o mail.Outbox, want mail.OutboxMessage) {
	tb.Helper()
	got, err := o.MailByID(testContext(tb), want.ID)
	noErr(tb, "MailByID", err)
	if d := diffMail(got, want); d != "" {
		tb.Errorf("MailByID(%.8s…): %s", want.ID, d)
	}
}

// claimIDs claims at at and returns the ids, in the order returned.
func claimIDs(tb testing.TB, o mail.Outbox, at time.Time, lease time.Duration, limit int) []string {
	tb.Helper()
	ms, err := o.ClaimMail(testContext(tb), at, lease, limit)
	noErr(tb, "ClaimMail", err)
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.ID
	}
	return ids
}

func wantPending(tb testing.TB, o mail.Outbox, want int) {
	tb.Helper()
	got, err := o.PendingMail(testContext(tb))
	noErr(tb, "PendingMail", err)
	if got != want {
		tb.Errorf("PendingMail = %d, want %d", got, want)
	}
}

// pending is m as the store holds it once enqueued.
func pending(m mail.OutboxMessage) mail.OutboxMessage {
	m.State, m.Attempts, m.UpdatedAt, m.LastError = mail.StatePending, 0, m.CreatedAt, ""
	return m
}

// testOutbox checks mail.Outbox on the member that implements it: the
// life of a message, that a claim holds a message for its lease and no
// longer, that concurrent claimers get distinct messages, and that two
// mail workers on one store send every message once.
func testOutbox(t *testing.T, newStores func(testing.TB) valet.Stores) {
	run := member(t, newStores, outboxOf)
	const lease = time.Minute

	run("EnqueueClaimSent", func(t *testing.T, o mail.Outbox) {
		ctx := testContext(t)
		n := now()
		first, second, later := newMail(t, n.Add(-2*time.Second)), newMail(t, n.Add(-time.Second)), newMail(t, n.Add(time.Hour))
		// Enqueued out of order, so that a store that claims in insertion
		// order fails.
		for _, m := range []mail.OutboxMessage{later, second, first} {
			noErr(t, "EnqueueMail", o.EnqueueMail(ctx, m))
		}
		// What a store ignores of what it is given.
		odd := newMail(t, n)
		odd.State, odd.Attempts, odd.LastError, odd.UpdatedAt = mail.StateDead, 7, "stale", n.Add(time.Hour)
		noErr(t, "EnqueueMail of a message with state, attempts and error set", o.EnqueueMail(ctx, odd))
		wantMail(t, o, pending(odd))
		wantMail(t, o, pending(later))
		wantPending(t, o, 4)

		got, err := o.ClaimMail(ctx, n.Add(-time.Second), lease, 10)
		noErr(t, "ClaimMail", err)
		if len(got) != 2 {
			t.Fatalf("ClaimMail returned %d messages, want the 2 due", len(got))
		}
		for i, want := range []mail.OutboxMessage{first, second} {
			want = pending(want)
			want.Attempts = 1
			if d := diffMail(got[i], want); d != "" {
				t.Errorf("ClaimMail[%d]: %s", i, d)
			}
		}
		wantPending(t, o, 4)

		at := n.Add(time.Second)
		noErr(t, "MailSent", o.MailSent(ctx, first.ID, at))
		sent := pending(first)
		sent.State, sent.Attempts, sent.Body, sent.UpdatedAt = mail.StateSent, 1, nil, at
		wantMail(t, o, sent)
		wantPending(t, o, 3)
		// Long after every lease: the sent message is not claimed again,
		// and the others are, earliest due first.
		if ids := claimIDs(t, o, n.Add(2*time.Hour), lease, 10); fmt.Sprint(ids) != fmt.Sprint([]string{second.ID, odd.ID, later.ID}) {
			t.Errorf("ClaimMail after the leases = %q, want %q", ids, []string{second.ID, odd.ID, later.ID})
		}
		wantErr(t, "EnqueueMail with a taken id", o.EnqueueMail(ctx, newMailWithID(t, first.ID, n)), valet.ErrConflict)
		wantMail(t, o, sent)
	})

	run("Limit", func(t *testing.T, o mail.Outbox) {
		ctx := testContext(t)
		n := now()
		var want []string
		for i := range 5 {
			m := newMail(t, n.Add(time.Duration(i-5)*time.Second))
			noErr(t, "EnqueueMail", o.EnqueueMail(ctx, m))
			want = append(want, m.ID)
		}
		if ids := claimIDs(t, o, n, lease, 0); len(ids) != 0 {
			t.Errorf("ClaimMail with limit 0 claimed %d messages", len(ids))
		}
		if ids := claimIDs(t, o, n, lease, 2); fmt.Sprint(ids) != fmt.Sprint(want[:2]) {
			t.Errorf("ClaimMail(limit 2) = %q, want the two earliest due %q", ids, want[:2])
		}
		if ids := claimIDs(t, o, n, lease, 10); fmt.Sprint(ids) != fmt.Sprint(want[2:]) {
			t.Errorf("ClaimMail(limit 10) = %q, want the three unclaimed %q", ids, want[2:])
		}
	})

	run("LeaseHolds", func(t *testing.T, o mail.Outbox) {
		ctx := testContext(t)
		n := now()
		m := newMail(t, n)
		noErr(t, "EnqueueMail", o.EnqueueMail(ctx, m))
		if ids := claimIDs(t, o, n, lease, 10); len(ids) != 1 {
			t.Fatalf("the first node's claim got %d messages, want 1", len(ids))
		}
		// A second node, while the lease lasts, gets nothing.
		for _, at := range []time.Time{n, n.Add(time.Second), n.Add(lease - time.Microsecond)} {
			if ids := claimIDs(t, o, at, lease, 10); len(ids) != 0 {
				t.Errorf("a second claim %s into the lease got the message", at.Sub(n))
			}
		}
		// Once the lease has ended (its holder died), another claims it.
		got, err := o.ClaimMail(ctx, n.Add(lease), lease, 10)
		noErr(t, "ClaimMail", err)
		if len(got) != 1 || got[0].ID != m.ID || got[0].Attempts != 2 {
			t.Fatalf("the claim at the lease's end = %+v, want the message with 2 attempts", got)
		}
		if ids := claimIDs(t, o, n.Add(lease+time.Second), lease, 10); len(ids) != 0 {
			t.Error("the new claim did not hold the message")
		}
	})

	run("FailedRetry", func(t *testing.T, o mail.Outbox) {
		ctx := testContext(t)
		n := now()
		m := newMail(t, n)
		noErr(t, "EnqueueMail", o.EnqueueMail(ctx, m))
		claimIDs(t, o, n, lease, 10)
		at, next := n.Add(time.Second), n.Add(6*time.Second)
		const answer = "mail: rcpt to: the server answered 451 4.3.0 try again later"
		noErr(t, "MailFailed", o.MailFailed(ctx, m.ID, mail.Failure{At: at, Next: next, Error: answer}))
		want := pending(m)
		want.Attempts, want.NextAttemptAt, want.UpdatedAt, want.LastError = 1, next, at, answer
		wantMail(t, o, want)
		wantPending(t, o, 1)
		if ids := claimIDs(t, o, next.Add(-time.Microsecond), lease, 10); len(ids) != 0 {
			t.Error("a failed message was claimed before it was due again")
		}
		// The failure released the claim: the message is claimed when due,
		// well before the first lease would have ended.
		got, err := o.ClaimMail(ctx, next, lease, 10)
		noErr(t, "ClaimMail", err)
		want.Attempts = 2
		if len(got) != 1 {
			t.Fatalf("ClaimMail when due again got %d messages, want 1", len(got))
		}
		if d := diffMail(got[0], want); d != "" {
			t.Errorf("ClaimMail when due again: %s", d)
		}
	})

	run("Dead", func(t *testing.T, o mail.Outbox) {
		ctx := testContext(t)
		n := now()
		m := newMail(t, n)
		noErr(t, "EnqueueMail", o.EnqueueMail(ctx, m))
		claimIDs(t, o, n, lease, 10)
		at := n.Add(time.Second)
		const answer = "mail: rcpt to: the server answered 550 5.1.1 no such user"
		noErr(t, "MailFailed", o.MailFailed(ctx, m.ID, mail.Failure{At: at, Next: at.Add(time.Hour), Error: answer, Dead: true}))
		dead := pending(m)
		dead.State, dead.Attempts, dead.Body, dead.UpdatedAt, dead.LastError = mail.StateDead, 1, nil, at, answer
		wantMail(t, o, dead)
		wantPending(t, o, 0)
		if ids := claimIDs(t, o, n.Add(48*time.Hour), lease, 10); len(ids) != 0 {
			t.Error("a dead message was claimed")
		}
		// A late failure from a node whose lease had run out changes nothing.
		noErr(t, "MailFailed of a dead message", o.MailFailed(ctx, m.ID, mail.Failure{At: at.Add(time.Minute), Next: at, Error: "late"}))
		wantMail(t, o, dead)
		// A late success is still one.
		noErr(t, "MailSent of a dead message", o.MailSent(ctx, m.ID, at.Add(time.Minute)))
		dead.State, dead.UpdatedAt = mail.StateSent, at.Add(time.Minute)
		wantMail(t, o, dead)
	})

	run("FailedAfterSent", func(t *testing.T, o mail.Outbox) {
		ctx := testContext(t)
		n := now()
		m := newMail(t, n)
		noErr(t, "EnqueueMail", o.EnqueueMail(ctx, m))
		claimIDs(t, o, n, lease, 10)
		// The first node's lease ends; a second sends the message; then the
		// first reports its failure.
		claimIDs(t, o, n.Add(lease), lease, 10)
		noErr(t, "MailSent", o.MailSent(ctx, m.ID, n.Add(lease+time.Second)))
		noErr(t, "MailFailed after MailSent", o.MailFailed(ctx, m.ID, mail.Failure{At: n.Add(lease + 2*time.Second), Next: n.Add(2 * lease), Error: "timeout"}))
		sent := pending(m)
		sent.State, sent.Attempts, sent.Body, sent.UpdatedAt = mail.StateSent, 2, nil, n.Add(lease+time.Second)
		wantMail(t, o, sent)
		if ids := claimIDs(t, o, n.Add(48*time.Hour), lease, 10); len(ids) != 0 {
			t.Error("a sent message was claimed after a stale failure")
		}
	})

	run("UnknownID", func(t *testing.T, o mail.Outbox) {
		ctx := testContext(t)
		id := valet.NewID()
		wantErr(t, "MailSent of an unknown id", o.MailSent(ctx, id, now()), valet.ErrNotFound)
		wantErr(t, "MailFailed of an unknown id", o.MailFailed(ctx, id, mail.Failure{At: now(), Next: now(), Error: "x"}), valet.ErrNotFound)
		_, err := o.MailByID(ctx, id)
		wantErr(t, "MailByID of an unknown id", err, valet.ErrNotFound)
	})

	run("LastErrorCleaned", func(t *testing.T, o mail.Outbox) {
		ctx := testContext(t)
		n := now()
		m := newMail(t, n)
		noErr(t, "EnqueueMail", o.EnqueueMail(ctx, m))
		claimIDs(t, o, n, lease, 10)
		// A server's answer is whatever bytes it sent.
		raw := "554 \xff\xfe bad\x00 bytes " + strings.Repeat("é", mail.MaxLastError)
		noErr(t, "MailFailed", o.MailFailed(ctx, m.ID, mail.Failure{At: n, Next: n, Error: raw}))
		got, err := o.MailByID(ctx, m.ID)
		noErr(t, "MailByID", err)
		switch e := got.LastError; {
		case !utf8.ValidString(e), strings.IndexByte(e, 0) >= 0:
			t.Errorf("LastError = %q: not valid UTF-8 without NUL", e)
		case len(e) > mail.MaxLastError:
			t.Errorf("LastError is %d bytes, want at most %d", len(e), mail.MaxLastError)
		case !strings.HasPrefix(e, "554 \uFFFD bad bytes é"):
			t.Errorf("LastError = %.40q…, want the answer cleaned", e)
		}
	})

	run("Sweep", func(t *testing.T, o mail.Outbox) {
		ctx := testContext(t)
		n := now()
		old, recent := n.Add(-8*24*time.Hour), n.Add(-time.Hour)
		before := n.Add(-7 * 24 * time.Hour)
		add := func(at time.Time, state mail.State) mail.OutboxMessage {
			m := newMail(t, at)
			noErr(t, "EnqueueMail", o.EnqueueMail(ctx, m))
			if state == mail.StatePending {
				return m
			}
			if ids := claimIDs(t, o, at, lease, 1); len(ids) != 1 || ids[0] != m.ID {
				t.Fatalf("claim = %q, want %q", ids, m.ID)
			}
			if state == mail.StateSent {
				noErr(t, "MailSent", o.MailSent(ctx, m.ID, at))
			} else {
				noErr(t, "MailFailed", o.MailFailed(ctx, m.ID, mail.Failure{At: at, Error: "550", Dead: true}))
			}
			return m
		}
		gone := []mail.OutboxMessage{add(old, mail.StateSent), add(old, mail.StateDead)}
		kept := []mail.OutboxMessage{add(recent, mail.StateSent), add(recent, mail.StateDead), add(old, mail.StatePending)}
		got, err := o.SweepMail(ctx, before)
		noErr(t, "SweepMail", err)
		if got != len(gone) {
			t.Errorf("SweepMail = %d, want %d", got, len(gone))
		}
		for _, m := range gone {
			if _, err := o.MailByID(ctx, m.ID); !errors.Is(err, valet.ErrNotFound) {
				t.Errorf("an old sent or dead message is still there after SweepMail: %v", err)
			}
		}
		for _, m := range kept {
			if _, err := o.MailByID(ctx, m.ID); err != nil {
				t.Errorf("SweepMail deleted a recent or pending message: %v", err)
			}
		}
		if again, err := o.SweepMail(ctx, before); err != nil || again != 0 {
			t.Errorf("a second SweepMail = %d, %v; want 0, nil", again, err)
		}
	})

	run("ConcurrentClaims", func(t *testing.T, o mail.Outbox) {
		ctx := testContext(t)
		n := now()
		const total, claimers = 200, 8
		for i := range total {
			noErr(t, "EnqueueMail", o.EnqueueMail(ctx, newMail(t, n.Add(-time.Duration(i)*time.Millisecond))))
		}
		var (
			mu      sync.Mutex
			claims  = map[string]int{}
			errs    []error
			wg      sync.WaitGroup
			start   = make(chan struct{})
			perNode = make([]int, claimers)
		)
		for c := range claimers {
			wg.Go(func() {
				<-start
				for {
					ms, err := o.ClaimMail(ctx, n, lease, 7)
					if err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
						return
					}
					if len(ms) == 0 {
						return
					}
					mu.Lock()
					for _, m := range ms {
						claims[m.ID]++
					}
					perNode[c] += len(ms)
					mu.Unlock()
				}
			})
		}
		close(start)
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("ClaimMail: %v", err)
		}
		if len(claims) != total {
			t.Errorf("%d distinct messages were claimed, want %d", len(claims), total)
		}
		for id, k := range claims {
			if k != 1 {
				t.Errorf("message %.8s… was claimed %d times, want once", id, k)
			}
		}
		t.Logf("claims per claimer: %v", perNode)
	})

	run("TwoWorkers", func(t *testing.T, o mail.Outbox) {
		testTwoWorkers(t, o)
	})

	run("DoneContext", func(t *testing.T, o mail.Outbox) {
		live := testContext(t)
		n := now()
		m := newMail(t, n)
		noErr(t, "EnqueueMail", o.EnqueueMail(live, m))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		calls := map[string]func() error{
			"EnqueueMail": func() error { return o.EnqueueMail(ctx, newMail(t, n)) },
			"ClaimMail":   func() error { _, err := o.ClaimMail(ctx, n, lease, 10); return err },
			"MailSent":    func() error { return o.MailSent(ctx, m.ID, n) },
			"MailFailed":  func() error { return o.MailFailed(ctx, m.ID, mail.Failure{At: n, Next: n, Error: "x"}) },
			"MailByID":    func() error { _, err := o.MailByID(ctx, m.ID); return err },
			"PendingMail": func() error { _, err := o.PendingMail(ctx); return err },
			"SweepMail":   func() error { _, err := o.SweepMail(ctx, n.Add(time.Hour)); return err },
		}
		for name, call := range calls {
			err := callNoPanic(func(context.Context) error { return call() }, ctx)
			switch {
			case err == nil:
				t.Errorf("%s with a done context returned no error", name)
			case !errors.Is(err, valet.ErrUnavailable):
				t.Errorf("%s with a done context = %v, want an error wrapping ErrUnavailable", name, err)
			}
		}
		wantMail(t, o, pending(m))
	})
}

func newMailWithID(tb testing.TB, id string, due time.Time) mail.OutboxMessage {
	m := newMail(tb, due)
	m.ID = id
	return m
}

// recorder is a mail.Sender that counts what it is given.
type recorder struct {
	mu   sync.Mutex
	sent map[string]int
}

func (r *recorder) Send(ctx context.Context, m mail.Message) error {
	// A moment per message lets the two workers' claims interleave.
	select {
	case <-time.After(time.Millisecond):
	case <-ctx.Done():
		return ctx.Err()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent[m.ID]++
	return nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sent)
}

// testTwoWorkers runs two mail workers, two nodes, on one outbox and
// checks that every message enqueued on either is sent exactly once.
func testTwoWorkers(t *testing.T, o mail.Outbox) {
	rec := &recorder{sent: map[string]int{}}
	var workers [2]*mail.Worker
	for i := range workers {
		w := mail.NewWorker(mail.Config{Outbox: o, Sender: rec, Poll: 20 * time.Millisecond, Batch: 3, SendTimeout: 5 * time.Second,
			Logger: slog.New(slog.DiscardHandler)})
		noErr(t, "Start", w.Start(t.Context()))
		t.Cleanup(func() { _ = w.Close() })
		workers[i] = w
	}
	const total = 60
	ctx := testContext(t)
	for i := range total {
		m := mail.Message{Kind: mail.KindTest, To: fmt.Sprintf("user%d@example.com", i), Subject: "Test", Text: "Hello.\n"}
		if _, err := workers[i%2].Enqueue(ctx, m); err != nil {
			t.Fatalf("Enqueue: %v", err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for rec.count() < total && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	for _, w := range workers {
		noErr(t, "Close", w.Close())
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.sent) != total {
		t.Fatalf("%d messages were sent within 30s, want %d", len(rec.sent), total)
	}
	for id, k := range rec.sent {
		if k != 1 {
			t.Errorf("message %.8s… was sent %d times, want once", id, k)
		}
	}
	wantPending(t, o, 0)
	var sent [2]uint64
	for i, w := range workers {
		sent[i] = w.Stats().Sent
	}
	if sent[0]+sent[1] != total {
		t.Errorf("the workers count %v sent, want %d in all", sent, total)
	}
	t.Logf("sent per worker: %v", sent)
}
