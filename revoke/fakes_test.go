package revoke_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/valetauth/valet/internal/testclock"
	"github.com/valetauth/valet/revoke"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/store/memory"
)

// errDown is what the fake stores return while they are made to fail.
var errDown = fmt.Errorf("%w: test store down", valet.ErrUnavailable)

// memRevocations is the memory store's valet.RevocationStore, with counted
// loads and failures on demand.
type memRevocations struct {
	inner *memory.Store
	mu    sync.Mutex
	err   error
	loads int
}

func newMemRevocations() *memRevocations { return &memRevocations{inner: memory.New()} }

func (s *memRevocations) AddRevocation(ctx context.Context, r valet.Revocation) error {
	if err := s.failure(); err != nil {
		return err
	}
	return s.inner.AddRevocation(ctx, r)
}

func (s *memRevocations) Revocations(ctx context.Context, now time.Time) ([]valet.Revocation, error) {
	s.mu.Lock()
	s.loads++
	s.mu.Unlock()
	if err := s.failure(); err != nil {
		return nil, err
	}
	return s.inner.Revocations(ctx, now)
}

func (s *memRevocations) failure() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// has reports whether sid was ever recorded.
func (s *memRevocations) has(sid string) bool {
	rs, err := s.inner.Revocations(context.Background(), time.Time{})
	if err != nil {
		panic(err)
	}
	return slices.ContainsFunc(rs, func(r valet.Revocation) bool { return r.SessionID == sid })
}

func (s *memRevocations) loadCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loads
}

func (s *memRevocations) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
}

// memSessions is the memory store's valet.SessionStore, with counted
// lookups and failures on demand.
type memSessions struct {
	inner   *memory.Store
	mu      sync.Mutex
	err     error
	lookups int
}

// newMemSessions returns a store holding a live session for each of ids.
func newMemSessions(ids ...string) *memSessions {
	s := &memSessions{inner: memory.New()}
	for _, id := range ids {
		if err := s.add(id); err != nil {
			panic(err)
		}
	}
	return s
}

// add stores a hybrid session with id that lasts a day of real time; the
// tests' own clock drives only the revocation set.
func (s *memSessions) add(id string) error {
	now := time.Now()
	return s.CreateSession(context.Background(), valet.Session{
		ID: id, UserID: "u1", Mode: valet.ModeHybrid,
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(24 * time.Hour),
	})
}

func (s *memSessions) CreateSession(ctx context.Context, sess valet.Session) error {
	if err := s.failure(); err != nil {
		return err
	}
	return s.inner.CreateSession(ctx, sess)
}

func (s *memSessions) Session(ctx context.Context, id string) (valet.Session, bool, error) {
	s.mu.Lock()
	s.lookups++
	s.mu.Unlock()
	if err := s.failure(); err != nil {
		return valet.Session{}, false, err
	}
	return s.inner.Session(ctx, id)
}

func (s *memSessions) TouchSession(ctx context.Context, id string, lastSeen, idleExpiresAt time.Time) error {
	if err := s.failure(); err != nil {
		return err
	}
	return s.inner.TouchSession(ctx, id, lastSeen, idleExpiresAt)
}

func (s *memSessions) SetSessionAuth(ctx context.Context, id string, authTime time.Time, amr []string) error {
	if err := s.failure(); err != nil {
		return err
	}
	return s.inner.SetSessionAuth(ctx, id, authTime, amr)
}

func (s *memSessions) DeleteSession(ctx context.Context, id string) (bool, error) {
	if err := s.failure(); err != nil {
		return false, err
	}
	return s.inner.DeleteSession(ctx, id)
}

func (s *memSessions) failure() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *memSessions) lookupCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lookups
}

func (s *memSessions) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
}

var (
	_ valet.RevocationStore = (*memRevocations)(nil)
	_ valet.SessionStore    = (*memSessions)(nil)
)

// fakeTransport is a revoke.Transport driven by the test: it says the channel is up
// or down, and delivers messages, only when told to.
type fakeTransport struct {
	mu         sync.Mutex
	fn         func(valet.Revocation)
	up         func(bool)
	subscribed chan struct{}
	published  []valet.Revocation
	pubErr     error
}

func newFakeTransport() *fakeTransport {
	return &fakeTransport{subscribed: make(chan struct{})}
}

func (f *fakeTransport) Publish(_ context.Context, r valet.Revocation) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pubErr != nil {
		return f.pubErr
	}
	f.published = append(f.published, r)
	return nil
}

func (f *fakeTransport) Subscribe(ctx context.Context, fn func(valet.Revocation), up func(bool)) error {
	f.mu.Lock()
	f.fn, f.up = fn, up
	close(f.subscribed)
	f.mu.Unlock()
	<-ctx.Done()
	return ctx.Err()
}

// waitSubscribed waits until a node has subscribed.
func (f *fakeTransport) waitSubscribed(tb testing.TB) {
	tb.Helper()
	select {
	case <-f.subscribed:
	case <-time.After(10 * time.Second):
		tb.Fatal("node never subscribed")
	}
}

// setUp reports the channel up or down to the subscriber.
func (f *fakeTransport) setUp(up bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.up(up)
}

func (f *fakeTransport) deliver(r valet.Revocation) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fn(r)
}

func (f *fakeTransport) failPublish(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pubErr = err
}

func (f *fakeTransport) publishedCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.published)
}

// arrival is a message a node received, and when.
type arrival struct {
	r  valet.Revocation
	at time.Time
}

// observed wraps a revoke.Transport to record what its subscriber hears.
type observed struct {
	revoke.Transport
	arrivals chan arrival
	mu       sync.Mutex
	ups      int
	downs    int
}

func observe(t revoke.Transport) *observed {
	return &observed{Transport: t, arrivals: make(chan arrival, 1024)}
}

func (o *observed) Subscribe(ctx context.Context, fn func(valet.Revocation), up func(bool)) error {
	return o.Transport.Subscribe(ctx,
		func(r valet.Revocation) {
			fn(r)
			select {
			case o.arrivals <- arrival{r: r, at: time.Now()}:
			default:
			}
		},
		func(b bool) {
			up(b)
			o.mu.Lock()
			if b {
				o.ups++
			} else {
				o.downs++
			}
			o.mu.Unlock()
		})
}

func (o *observed) counts() (ups, downs int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.ups, o.downs
}

// await returns when the subscriber heard of sid, or fails after timeout.
func (o *observed) await(tb testing.TB, sid string, timeout time.Duration) time.Time {
	tb.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case a := <-o.arrivals:
			if a.r.SessionID == sid {
				return a.at
			}
		case <-deadline:
			tb.Fatalf("revocation of %s not delivered within %v", sid, timeout)
		}
	}
}

// startNode starts a node and stops it, waiting for its goroutines, when the
// test ends.
func startNode(tb testing.TB, cfg revoke.Config) *revoke.Node {
	tb.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	n := revoke.NewNode(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	if err := n.Start(ctx); err != nil {
		cancel()
		tb.Fatalf("Start: %v", err)
	}
	tb.Cleanup(func() {
		defer cancel()
		closed := make(chan error, 1)
		go func() { closed <- n.Close() }()
		select {
		case err := <-closed:
			if err != nil {
				tb.Errorf("Close: %v", err)
			}
		case <-time.After(10 * time.Second):
			tb.Errorf("Close did not return within 10s")
		}
	})
	return n
}

// waitFor polls cond until it holds, or fails the test after 10s. It is for
// state that other goroutines reach on their own, never for the passing of
// time, which the tests drive through a clock.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// logBuffer is a concurrency-safe log destination.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, nil))
}

// clock is the shared settable test clock.
type clock = testclock.Clock

func newClock() *clock {
	return testclock.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
}
