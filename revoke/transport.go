package revoke

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/valetauth/valet"
)

// Transport carries revocations between nodes. Implementations are safe for
// concurrent use.
type Transport interface {
	// Publish sends r to every subscriber of every node. It returns an error
	// wrapping valet.ErrUnavailable when the message could not be sent.
	Publish(ctx context.Context, r valet.Revocation) error
	// Subscribe delivers every revocation published by any node (including
	// this one) to fn until ctx ends. It calls up(true) each time the channel
	// is (re)established and up(false) when it is lost, or when Subscribe
	// returns while it is up; messages published while it is lost are not
	// delivered. It reconnects by itself and returns only when ctx ends (with
	// ctx's error) or on a failure it cannot recover from. Calls to fn and up
	// do not overlap.
	Subscribe(ctx context.Context, fn func(valet.Revocation), up func(bool)) error
}

// Option configures the Redis and Postgres transports.
type Option func(*Options)

// Options are a transport's settings, built from its Option values by
// NewOptions. Transports in other packages (revoke/redispubsub,
// revoke/pgnotify) read them.
type Options struct {
	// Logger receives malformed messages and lost connections.
	Logger *slog.Logger
	// Health is how long a subscription may stay silent before it is pinged.
	Health time.Duration
}

// NewOptions applies opts to the defaults: slog.Default() and 1 s.
func NewOptions(opts ...Option) Options {
	o := Options{Logger: slog.Default(), Health: time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithLogger sets where a transport reports malformed messages and lost
// connections (default slog.Default()). A nil logger keeps the default.
func WithLogger(l *slog.Logger) Option {
	return func(o *Options) {
		if l != nil {
			o.Logger = l
		}
	}
}

// WithHealthInterval sets how long a subscription may stay silent before the
// transport pings its connection, and how long it waits for the answer
// before it declares the connection lost (default 1s). A connection that
// dies without closing is thus noticed within about twice d. Values below
// 10ms are raised to 10ms.
func WithHealthInterval(d time.Duration) Option {
	return func(o *Options) {
		o.Health = max(d, 10*time.Millisecond)
	}
}

// maxMessage bounds the size of a message on the wire. Session ids are 43
// characters; anything much larger is not ours.
const maxMessage = 1024

// wireMessage is a revocation on the wire: {"sid":"...","until":<unix ms>}.
type wireMessage struct {
	SID   string `json:"sid"`
	Until int64  `json:"until"`
}

// Encode returns r's wire form. Until is rounded up to the next millisecond
// so that a revocation never ends earlier on the receiving side.
func Encode(r valet.Revocation) ([]byte, error) {
	if r.SessionID == "" {
		return nil, fmt.Errorf("%w: revoke: empty session id", valet.ErrInvalidRequest)
	}
	// UnixMilli, unlike UnixNano, does not overflow for far-off times.
	ms := r.Until.UnixMilli()
	if r.Until.Nanosecond()%int(time.Millisecond) != 0 {
		ms++
	}
	return json.Marshal(wireMessage{SID: r.SessionID, Until: ms})
}

// errMalformed marks a message that is not a revocation.
var errMalformed = errors.New("revoke: malformed message")

// Decode parses a message in wire form. Unknown fields are ignored so that
// newer nodes may add some.
func Decode(b []byte) (valet.Revocation, error) {
	if len(b) > maxMessage {
		return valet.Revocation{}, fmt.Errorf("%w: %d bytes", errMalformed, len(b))
	}
	var m wireMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return valet.Revocation{}, fmt.Errorf("%w: %v", errMalformed, err)
	}
	if m.SID == "" || m.Until <= 0 {
		return valet.Revocation{}, fmt.Errorf("%w: missing sid or until", errMalformed)
	}
	return valet.Revocation{SessionID: m.SID, Until: time.UnixMilli(m.Until)}, nil
}

// Deliver decodes a message and hands it to fn, or logs and drops it. The
// payload itself is not logged: it comes from whoever can publish on the
// channel.
func Deliver(log *slog.Logger, payload []byte, fn func(valet.Revocation)) {
	r, err := Decode(payload)
	if err != nil {
		log.Warn("revoke: ignoring malformed revocation message", "err", err, "bytes", len(payload))
		return
	}
	fn(r)
}

// local is a Transport within one process: every Subscribe on it hears
// every Publish, synchronously, before Publish returns. It never loses its
// channel.
type local struct {
	mu   sync.Mutex
	subs map[*localSub]struct{}
}

type localSub struct {
	// mu serializes calls to fn and keeps fn from being called once
	// Subscribe has returned.
	mu   sync.Mutex
	done bool
	fn   func(valet.Revocation)
}

// NewLocal returns a Transport for nodes in a single process, such as a
// single-node server or tests. Every node that shares it hears each Publish
// before Publish returns. It never loses its channel, and Publish fails only
// for an empty session id (valet.ErrInvalidRequest) or an ended ctx.
func NewLocal() Transport { return &local{subs: map[*localSub]struct{}{}} }

// Publish delivers r to every current subscriber and returns when they all
// have it. It returns an error wrapping valet.ErrInvalidRequest for an empty
// session id, and ctx's error if ctx has ended.
func (l *local) Publish(ctx context.Context, r valet.Revocation) error {
	if r.SessionID == "" {
		return fmt.Errorf("%w: revoke: empty session id", valet.ErrInvalidRequest)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	subs := make([]*localSub, 0, len(l.subs))
	for s := range l.subs {
		subs = append(subs, s)
	}
	l.mu.Unlock()
	for _, s := range subs {
		s.mu.Lock()
		if !s.done {
			s.fn(r)
		}
		s.mu.Unlock()
	}
	return nil
}

// Subscribe calls up(true), delivers every Publish to fn until ctx ends,
// then calls up(false) and returns ctx's error.
func (l *local) Subscribe(ctx context.Context, fn func(valet.Revocation), up func(bool)) error {
	s := &localSub{fn: fn}
	// Holding s.mu until up(true) has returned keeps fn from being called
	// before the subscriber has heard that its channel is up.
	s.mu.Lock()
	l.mu.Lock()
	l.subs[s] = struct{}{}
	l.mu.Unlock()
	up(true)
	s.mu.Unlock()

	<-ctx.Done()
	l.mu.Lock()
	delete(l.subs, s)
	l.mu.Unlock()
	s.mu.Lock()
	s.done = true
	up(false)
	s.mu.Unlock()
	return ctx.Err()
}

// Backoff yields growing, jittered waits between reconnection attempts,
// from 50 ms to 2 s. The zero value is not ready: use NewBackoff.
type Backoff struct {
	min, max, cur time.Duration
}

// NewBackoff returns a Backoff at its first step.
func NewBackoff() *Backoff {
	return &Backoff{min: 50 * time.Millisecond, max: 2 * time.Second}
}

// Next returns the wait before the next attempt: the current step ±20%.
func (b *Backoff) Next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	// Jitter keeps the nodes of a cluster from reconnecting in lockstep
	// after a shared outage.
	j := time.Duration(rand.Int64N(int64(b.cur)/5*2+1)) - b.cur/5
	return b.cur + j
}

// Reset starts the steps again, after a connection has succeeded.
func (b *Backoff) Reset() { b.cur = 0 }

// Sleep waits for d or until ctx ends, and reports whether ctx is still live.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
