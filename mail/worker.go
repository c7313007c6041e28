package mail

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valetauth/valet"
)

// Config holds a Worker's settings. Outbox and Sender are required; every
// other field has a default that the server uses.
type Config struct {
	// Outbox is where messages wait. Required.
	Outbox Outbox
	// Sender sends them: an SMTP sender, or LogSender. Required.
	Sender Sender
	// Seal, when set, seals each message's subject and bodies in the
	// outbox, with its id as additional data; default nil, which stores
	// them in clear. Every node of a cluster needs the same key.
	Seal cipher.AEAD
	// Logger receives a line per failed message (see Worker); default
	// slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time

	// Poll is how often the outbox is looked at for due messages besides
	// when Poke is called; default 1s.
	Poll time.Duration
	// FirstRetry is the wait after a message's first failure; it doubles
	// with each failure after (5s, 10s, 20s, ...) up to MaxRetryDelay.
	// Default 5s.
	FirstRetry time.Duration
	// MaxRetryDelay bounds the wait between tries; default 10m.
	MaxRetryDelay time.Duration
	// GiveUpAfter and MinAttempts say when a failing message dies: at a
	// failure once it is GiveUpAfter old and has been tried MinAttempts
	// times, so that an SMTP outage shorter than GiveUpAfter loses
	// nothing, and a message enqueued long before it was first tried is
	// still tried. Defaults 24h and 12.
	GiveUpAfter time.Duration
	MinAttempts int
	// SendTimeout bounds one try; default 30s.
	SendTimeout time.Duration
	// Batch is how many messages one claim takes; default 5.
	Batch int
	// Lease is how long a claim holds its messages: longer than the time
	// a batch may take to send, so that no other node takes one of them
	// while this one is still at it. Default and least (Batch+1) ×
	// SendTimeout.
	Lease time.Duration
	// Retention is how long sent and dead messages stay in the outbox (their
	// bodies dropped) before the worker deletes them; default 7 days.
	Retention time.Duration
}

const (
	// sweepEvery is how often a started worker deletes old sent and dead
	// messages.
	sweepEvery = time.Hour
	// recordTimeout bounds recording the outcome of a try, which goes on
	// when the worker is being closed.
	recordTimeout = 10 * time.Second
)

// Worker sends the messages of an outbox. It is safe for concurrent use.
//
// It logs once per message that fails, not once per try: at WARN when a
// message first fails and will be retried, with the server's answer; at
// ERROR when it dies, with its last answer (a message refused for good is
// logged only so, once); and at INFO when a message that had failed is
// sent at last. The tries between are logged at DEBUG. A failing outbox
// (the database) is logged once per outage.
type Worker struct {
	cfg Config
	log *slog.Logger

	sent, failures, dead atomic.Uint64
	pending              atomic.Int64

	poke chan struct{}
	done chan struct{}
	// stop ends the goroutine Start began; nil until Start and after Close.
	mu      sync.Mutex
	stop    context.CancelFunc
	started bool

	// Only the worker's goroutine reads and writes these.
	storeFailing bool
	lastCount    time.Time
	lastSweep    time.Time
}

// NewWorker returns a Worker for cfg, with defaults filled in. It starts
// nothing: Start does. It panics if cfg.Outbox or cfg.Sender is nil.
func NewWorker(cfg Config) *Worker {
	if cfg.Outbox == nil {
		panic("mail: Config.Outbox is nil")
	}
	if cfg.Sender == nil {
		panic("mail: Config.Sender is nil")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.FirstRetry <= 0 {
		cfg.FirstRetry = 5 * time.Second
	}
	if cfg.MaxRetryDelay <= 0 {
		cfg.MaxRetryDelay = 10 * time.Minute
	}
	if cfg.GiveUpAfter <= 0 {
		cfg.GiveUpAfter = 24 * time.Hour
	}
	if cfg.MinAttempts <= 0 {
		cfg.MinAttempts = 12
	}
	if cfg.SendTimeout <= 0 {
		cfg.SendTimeout = 30 * time.Second
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 5
	}
	cfg.Lease = max(cfg.Lease, time.Duration(cfg.Batch+1)*cfg.SendTimeout)
	if cfg.Retention <= 0 {
		cfg.Retention = 7 * 24 * time.Hour
	}
	w := &Worker{cfg: cfg, log: cfg.Logger, poke: make(chan struct{}, 1), done: make(chan struct{})}
	w.pending.Store(-1)
	return w
}

// Prepare returns m as the outbox stores it, due now: with an id (a new one
// when m.ID is empty) and its subject and bodies encoded, and sealed when
// the worker has a key. Enqueue uses it; a caller that writes the message
// in a transaction of its own (so that the mail goes if and only if the
// change it tells of is made) stores what Prepare returns and then calls
// Poke. It returns Validate's error for a message that cannot be sent.
func (w *Worker) Prepare(m Message) (OutboxMessage, error) {
	if m.ID == "" {
		m.ID = valet.NewID()
	}
	if err := m.Validate(); err != nil {
		return OutboxMessage{}, err
	}
	b, err := encodeBody(m, w.cfg.Seal)
	if err != nil {
		return OutboxMessage{}, err
	}
	now := w.cfg.Now().UTC().Truncate(time.Microsecond)
	return OutboxMessage{
		ID: m.ID, Kind: m.Kind, To: m.To, Body: b, State: StatePending,
		CreatedAt: now, NextAttemptAt: now, UpdatedAt: now,
	}, nil
}

// Enqueue stores m in the outbox, due now, and pokes the worker so that a
// started one sends it at once. Once Enqueue returns nil the message is
// durable: it is sent by this node or another, or logged as dead. It
// returns the id of the message (m.ID, or the new one when m.ID is empty),
// Validate's error for a message that cannot be sent, and the outbox's
// error (wrapping valet.ErrUnavailable, or valet.ErrConflict for an id
// stored already) when storing fails.
func (w *Worker) Enqueue(ctx context.Context, m Message) (string, error) {
	om, err := w.Prepare(m)
	if err != nil {
		return "", err
	}
	if err := w.cfg.Outbox.EnqueueMail(ctx, om); err != nil {
		return "", fmt.Errorf("mail: enqueue: %w", err)
	}
	w.Poke()
	return om.ID, nil
}

// Poke makes a started worker look at the outbox now rather than at its
// next poll. It never blocks.
func (w *Worker) Poke() {
	select {
	case w.poke <- struct{}{}:
	default:
	}
}

// Stats are a worker's numbers, for metrics.
type Stats struct {
	// Sent counts the messages this worker sent; Failures its tries that
	// failed; Dead the messages it gave up on.
	Sent, Failures, Dead uint64
	// Pending is the number of pending messages in the outbox, of every
	// node, as last counted (at most Poll ago while the outbox answers);
	// -1 before the first count.
	Pending int64
}

// Stats returns the worker's numbers now.
func (w *Worker) Stats() Stats {
	return Stats{Sent: w.sent.Load(), Failures: w.failures.Load(), Dead: w.dead.Load(), Pending: w.pending.Load()}
}

// Start begins sending in the background until Close is called or ctx
// ends: at once, every Poll, and when poked. It returns an error if the
// worker was started already.
func (w *Worker) Start(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started {
		return errors.New("mail: worker already started")
	}
	w.started = true
	ctx, w.stop = context.WithCancel(ctx)
	go w.run(ctx)
	return nil
}

// Close stops the goroutine Start began and waits for it, which may take
// as long as the try under way (at most SendTimeout): it is finished and
// recorded rather than cut off, so that it is not sent again. Messages
// claimed and not yet tried wait for their lease to end, then any node
// sends them. Close on a worker never started, or twice, returns nil.
func (w *Worker) Close() error {
	w.mu.Lock()
	stop := w.stop
	w.stop = nil
	w.mu.Unlock()
	if stop == nil {
		return nil
	}
	stop()
	<-w.done
	return nil
}

func (w *Worker) run(ctx context.Context) {
	defer close(w.done)
	t := time.NewTicker(w.cfg.Poll)
	defer t.Stop()
	for {
		w.drain(ctx)
		w.housekeep(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.poke:
		}
	}
}

// drain sends due messages until none is left or the outbox fails.
func (w *Worker) drain(ctx context.Context) {
	for ctx.Err() == nil {
		msgs, err := w.cfg.Outbox.ClaimMail(ctx, w.cfg.Now(), w.cfg.Lease, w.cfg.Batch)
		if !w.storeOK(ctx, "claiming messages", err) {
			return
		}
		for _, om := range msgs {
			if ctx.Err() != nil {
				return
			}
			w.deliver(ctx, om)
		}
		if len(msgs) < w.cfg.Batch {
			return
		}
	}
}

// housekeep counts the pending messages at most once per Poll, and deletes
// old sent and dead messages once per hour.
func (w *Worker) housekeep(ctx context.Context) {
	now := w.cfg.Now()
	if now.Sub(w.lastCount) >= w.cfg.Poll || now.Before(w.lastCount) {
		n, err := w.cfg.Outbox.PendingMail(ctx)
		if w.storeOK(ctx, "counting pending messages", err) {
			w.pending.Store(int64(n))
			w.lastCount = now
		}
	}
	if now.Sub(w.lastSweep) >= sweepEvery || now.Before(w.lastSweep) {
		n, err := w.cfg.Outbox.SweepMail(ctx, now.Add(-w.cfg.Retention))
		if w.storeOK(ctx, "deleting old messages", err) {
			w.lastSweep = now
			if n > 0 {
				w.log.Debug("mail: deleted old sent and dead messages", "count", n)
			}
		}
	}
}

// storeOK reports whether err is nil, logging the first failure of an
// outage and the recovery after it.
func (w *Worker) storeOK(ctx context.Context, what string, err error) bool {
	switch {
	case err == nil && w.storeFailing:
		w.storeFailing = false
		w.log.Info("mail: the outbox answers again; sending resumes")
	case err != nil && ctx.Err() == nil && !w.storeFailing:
		w.storeFailing = true
		w.log.Error("mail: the outbox fails; mail waits in it until it answers", "while", what, "err", err)
	}
	return err == nil
}

// deliver tries om once and records the outcome.
func (w *Worker) deliver(ctx context.Context, om OutboxMessage) {
	m, err := decodeBody(om, w.cfg.Seal)
	if err == nil {
		// A try under way is finished even when the worker is closed: cut
		// off after the server took the message, it would be sent again.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.SendTimeout)
		err = w.cfg.Sender.Send(sctx, m)
		cancel()
	} else {
		// Not permanent: a node whose key differs from the others' (a
		// misconfiguration) must not kill mail that they can send.
		err = &SendError{Stage: "message", Text: err.Error()}
	}
	now := w.cfg.Now()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	attrs := []any{"id", om.ID, "kind", string(om.Kind), "to", om.To, "attempts", om.Attempts}
	if err == nil {
		w.sent.Add(1)
		if rerr := w.cfg.Outbox.MailSent(rctx, om.ID, now); rerr != nil {
			w.log.Error("mail: a message was sent, but recording it failed; it may be sent again when its claim ends",
				append(attrs, "err", rerr)...)
			return
		}
		if om.LastError != "" {
			w.log.Info("mail: a message that had failed is sent", attrs...)
		}
		return
	}

	w.failures.Add(1)
	text := oneLine(err.Error())
	dead := Permanent(err) || om.Attempts >= w.cfg.MinAttempts && now.Sub(om.CreatedAt) >= w.cfg.GiveUpAfter
	next := now.Add(w.backoff(om.Attempts))
	if rerr := w.cfg.Outbox.MailFailed(rctx, om.ID, Failure{At: now, Next: next, Error: text, Dead: dead}); rerr != nil {
		// The claim ends with its lease and the message is tried again:
		// nothing is lost, and the next outcome is recorded instead.
		w.log.Error("mail: recording a failed message failed; it is tried again when its claim ends",
			append(attrs, "err", text, "record_err", rerr)...)
		return
	}
	switch {
	case dead:
		reason := "it failed for too long"
		if Permanent(err) {
			reason = "it was refused for good"
		}
		w.log.Error("mail: gave up on a message, which will not be sent: "+reason,
			append(attrs, "age", now.Sub(om.CreatedAt).Round(time.Second), "err", text)...)
		// Counted once logged, so that whoever sees the count finds the line.
		w.dead.Add(1)
	case om.LastError == "":
		w.log.Warn("mail: sending a message failed; it will be retried, and logged again only if it is sent or given up",
			append(attrs, "retry_at", next.UTC().Format(time.RFC3339), "err", text)...)
	default:
		w.log.Debug("mail: sending a message failed again", append(attrs, "retry_at", next.UTC().Format(time.RFC3339), "err", text)...)
	}
}

// backoff is the wait after a message's attempts-th failure: FirstRetry,
// doubled for each failure before, up to MaxRetryDelay.
func (w *Worker) backoff(attempts int) time.Duration {
	d := w.cfg.FirstRetry
	for i := 1; i < attempts && d < w.cfg.MaxRetryDelay; i++ {
		d *= 2
	}
	return min(d, w.cfg.MaxRetryDelay)
}

// oneLine keeps an error on one line, as the outbox and the log hold it.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }), " ")
}
