package revoke_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/valetauth/valet/revoke"

	"github.com/valetauth/valet"
)

// checkCase is one call of revoke.Node.Check and what it must give.
type checkCase struct {
	name        string
	sid         string
	wantErr     error // nil, or a sentinel that errors.Is must match
	wantLookups int   // session-store lookups that the call makes
}

// runChecks runs each case as a subtest.
func runChecks(t *testing.T, n *revoke.Node, sessions *memSessions, cases []checkCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := sessions.lookupCount()
			err := n.Check(context.Background(), tc.sid)
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("Check(%s) = %v, want %v", tc.sid, err, tc.wantErr)
			}
			if got := sessions.lookupCount() - before; got != tc.wantLookups {
				t.Errorf("Check(%s) made %d session lookups, want %d", tc.sid, got, tc.wantLookups)
			}
		})
	}
}

func TestNodeFailSafe(t *testing.T) {
	clk := newClock()
	store := newMemRevocations()
	sessions := newMemSessions("alive", "gone")
	tr := newFakeTransport()
	n := startNode(t, revoke.Config{Store: store, Transport: tr, Sessions: sessions, MaxStale: 2 * time.Second, Now: clk.Now})
	tr.waitSubscribed(t)
	tr.setUp(true)
	waitFor(t, "node is healthy", n.Healthy)

	// "gone" is revoked on another node whose message this node never hears.
	ctx := context.Background()
	if err := store.AddRevocation(ctx, valet.Revocation{SessionID: "gone", Until: clk.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := sessions.DeleteSession(ctx, "gone"); err != nil {
		t.Fatal(err)
	}

	t.Run("healthy: the set alone answers", func(t *testing.T) {
		runChecks(t, n, sessions, []checkCase{
			{name: "alive", sid: "alive"},
			{name: "missed message", sid: "gone"},
			{name: "empty sid", sid: "", wantErr: valet.ErrTokenInvalid},
		})
	})

	tr.setUp(false)
	if n.Healthy() {
		t.Fatal("Healthy() = true after the channel was lost")
	}
	clk.Advance(2 * time.Second)
	t.Run("down for MaxStale: still no I/O", func(t *testing.T) {
		runChecks(t, n, sessions, []checkCase{
			{name: "alive", sid: "alive"},
			{name: "missed message", sid: "gone"},
		})
	})

	clk.Advance(time.Millisecond)
	t.Run("down longer than MaxStale: sessions decide", func(t *testing.T) {
		runChecks(t, n, sessions, []checkCase{
			{name: "alive", sid: "alive", wantLookups: 1},
			{name: "deleted session refused", sid: "gone", wantErr: valet.ErrRevoked, wantLookups: 1},
			{name: "unknown session refused", sid: "never", wantErr: valet.ErrRevoked, wantLookups: 1},
		})
	})

	sessions.fail(errDown)
	t.Run("down and the session store fails", func(t *testing.T) {
		runChecks(t, n, sessions, []checkCase{
			{name: "alive not accepted blindly", sid: "alive", wantErr: valet.ErrUnavailable, wantLookups: 1},
		})
	})
	sessions.fail(nil)

	loads := store.loadCount()
	tr.setUp(true)
	waitFor(t, "node is healthy again", n.Healthy)
	if got := store.loadCount(); got <= loads {
		t.Errorf("store loads = %d after reconnect, want more than %d", got, loads)
	}
	t.Run("back up: reloaded set, no I/O", func(t *testing.T) {
		runChecks(t, n, sessions, []checkCase{
			{name: "alive", sid: "alive"},
			{name: "loaded revocation", sid: "gone", wantErr: revoke.ErrRevoked},
		})
	})
}

func TestNodeMessageRevokes(t *testing.T) {
	clk := newClock()
	sessions := newMemSessions("s1")
	tr := newFakeTransport()
	n := startNode(t, revoke.Config{Store: newMemRevocations(), Transport: tr, Sessions: sessions, Now: clk.Now})
	tr.waitSubscribed(t)
	tr.setUp(true)
	waitFor(t, "node is healthy", n.Healthy)

	tr.deliver(valet.Revocation{SessionID: "s1", Until: clk.Now().Add(time.Minute)})
	runChecks(t, n, sessions, []checkCase{{name: "revoked by message", sid: "s1", wantErr: revoke.ErrRevoked}})

	// Once every token naming the session has expired, the entry goes and
	// the session store is not asked either: the channel is healthy.
	clk.Advance(time.Minute)
	runChecks(t, n, sessions, []checkCase{{name: "entry expired", sid: "s1"}})
}

// TestNodeWatchSessions: the watcher hears of sessions revoked by message,
// not of the news of users, nor of what the node loads from the store.
func TestNodeWatchSessions(t *testing.T) {
	clk := newClock()
	store := newMemRevocations()
	if err := store.AddRevocation(context.Background(), valet.Revocation{SessionID: "loaded", Until: clk.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	tr := newFakeTransport()
	n := revoke.NewNode(revoke.Config{Store: store, Transport: tr, Sessions: newMemSessions(), Now: clk.Now})
	heard := make(chan string, 8)
	n.WatchSessions(func(sid string) { heard <- sid })
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	tr.waitSubscribed(t)
	tr.setUp(true)
	waitFor(t, "node is healthy", n.Healthy)

	// The news of a user as another node's UserChanged sends it.
	tr.deliver(valet.Revocation{SessionID: "user:u1", Until: clk.Now().Add(time.Minute)})
	tr.deliver(valet.Revocation{SessionID: "s1", Until: clk.Now().Add(time.Minute)})
	select {
	case sid := <-heard:
		if sid != "s1" {
			t.Errorf("the watcher heard of %q first, want s1 (not the loaded entry, not a user)", sid)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the watcher heard of no session")
	}
	select {
	case sid := <-heard:
		t.Errorf("the watcher heard of %q too", sid)
	default:
	}
}

func TestNodeStart(t *testing.T) {
	t.Run("loads the stored set before returning", func(t *testing.T) {
		clk := newClock()
		store := newMemRevocations()
		if err := store.AddRevocation(context.Background(), valet.Revocation{SessionID: "s1", Until: clk.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		n := startNode(t, revoke.Config{Store: store, Transport: newFakeTransport(), Sessions: newMemSessions(), Now: clk.Now})
		if !n.Set().Revoked("s1") {
			t.Error("Revoked(s1) = false after Start, want true")
		}
		// Start loaded the set just now, so the node may answer from it
		// for MaxStale even though its channel is not up yet.
		if err := n.Check(context.Background(), "s2"); err != nil {
			t.Errorf("Check right after Start = %v, want nil", err)
		}
		if err := n.Start(context.Background()); err == nil {
			t.Error("second Start succeeded, want an error")
		}
	})
	t.Run("fails when the store fails", func(t *testing.T) {
		store := newMemRevocations()
		store.fail(errDown)
		n := revoke.NewNode(revoke.Config{Store: store, Sessions: newMemSessions()})
		if err := n.Start(context.Background()); !errors.Is(err, valet.ErrUnavailable) {
			t.Errorf("Start = %v, want ErrUnavailable", err)
		}
	})
	t.Run("unstarted node is in fail-safe mode", func(t *testing.T) {
		sessions := newMemSessions("s1")
		n := revoke.NewNode(revoke.Config{Store: newMemRevocations(), Sessions: sessions})
		runChecks(t, n, sessions, []checkCase{
			{name: "existing session", sid: "s1", wantLookups: 1},
			{name: "missing session", sid: "s2", wantErr: revoke.ErrRevoked, wantLookups: 1},
		})
	})
}

func TestNodeReloadRetries(t *testing.T) {
	clk := newClock()
	store := newMemRevocations()
	tr := newFakeTransport()
	n := startNode(t, revoke.Config{Store: store, Transport: tr, Sessions: newMemSessions(), Now: clk.Now})
	tr.waitSubscribed(t)

	// The channel comes up while the store cannot be read: the set may lack
	// what was published before, so the node must not call itself healthy.
	store.fail(errDown)
	loads := store.loadCount()
	tr.setUp(true)
	waitFor(t, "a reload was tried", func() bool { return store.loadCount() > loads+1 })
	if n.Healthy() {
		t.Fatal("Healthy() = true although the reload failed")
	}
	if err := store.AddRevocation(context.Background(), valet.Revocation{SessionID: "s1", Until: clk.Now().Add(time.Hour)}); !errors.Is(err, errDown) {
		t.Fatalf("AddRevocation on a failing store = %v", err)
	}
	store.fail(nil)
	if err := store.AddRevocation(context.Background(), valet.Revocation{SessionID: "s1", Until: clk.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "node is healthy", n.Healthy)
	if !n.Set().Revoked("s1") {
		t.Error("Revoked(s1) = false after the reload, want true")
	}
}

func TestNodeRevoke(t *testing.T) {
	tests := []struct {
		name          string
		r             func(now time.Time) valet.Revocation
		storeErr      error
		wantErr       error
		wantStored    bool
		wantPublished int
	}{
		{
			name: "recorded, applied and published",
			r: func(now time.Time) valet.Revocation {
				return valet.Revocation{SessionID: "s1", Until: now.Add(time.Hour)}
			},
			wantStored:    true,
			wantPublished: 1,
		},
		{
			name:    "no session id",
			r:       func(now time.Time) valet.Revocation { return valet.Revocation{Until: now.Add(time.Hour)} },
			wantErr: valet.ErrInvalidRequest,
		},
		{
			name:    "no end",
			r:       func(time.Time) valet.Revocation { return valet.Revocation{SessionID: "s1"} },
			wantErr: valet.ErrInvalidRequest,
		},
		{
			name: "already over is a no-op",
			r:    func(now time.Time) valet.Revocation { return valet.Revocation{SessionID: "s1", Until: now} },
		},
		{
			name: "store failure applies nothing",
			r: func(now time.Time) valet.Revocation {
				return valet.Revocation{SessionID: "s1", Until: now.Add(time.Hour)}
			},
			storeErr: errDown,
			wantErr:  valet.ErrUnavailable,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			store := newMemRevocations()
			store.fail(tc.storeErr)
			tr := newFakeTransport()
			n := revoke.NewNode(revoke.Config{Store: store, Transport: tr, Sessions: newMemSessions(), Now: clk.Now})
			err := n.Revoke(context.Background(), tc.r(clk.Now()))
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("Revoke = %v, want %v", err, tc.wantErr)
			}
			if got := store.has("s1"); got != tc.wantStored {
				t.Errorf("stored = %v, want %v", got, tc.wantStored)
			}
			if got := n.Set().Revoked("s1"); got != tc.wantStored {
				t.Errorf("Revoked(s1) = %v, want %v", got, tc.wantStored)
			}
			if got := tr.publishedCount(); got != tc.wantPublished {
				t.Errorf("published %d, want %d", got, tc.wantPublished)
			}
		})
	}
}

func TestNodeRepublishes(t *testing.T) {
	clk := newClock()
	store := newMemRevocations()
	tr := newFakeTransport()
	logs := &logBuffer{}
	n := startNode(t, revoke.Config{Store: store, Transport: tr, Sessions: newMemSessions(), Now: clk.Now, Logger: logs.logger()})

	tr.failPublish(errDown)
	r := valet.Revocation{SessionID: "s1", Until: clk.Now().Add(time.Hour)}
	if err := n.Revoke(context.Background(), r); err != nil {
		t.Fatalf("Revoke with a failing publish = %v, want nil (the store has it)", err)
	}
	if !store.has("s1") || !n.Set().Revoked("s1") {
		t.Fatal("revocation not recorded and applied locally")
	}
	if !strings.Contains(logs.String(), "publishing revocation failed") {
		t.Errorf("failed publish not logged; log:\n%s", logs)
	}
	tr.failPublish(nil)
	waitFor(t, "the revocation is published again", func() bool { return tr.publishedCount() == 1 })
}

func TestNodeCheckDoesNotAllocate(t *testing.T) {
	clk := newClock()
	tr := newFakeTransport()
	n := startNode(t, revoke.Config{Store: newMemRevocations(), Transport: tr, Sessions: newMemSessions(), Now: clk.Now})
	tr.waitSubscribed(t)
	tr.setUp(true)
	waitFor(t, "node is healthy", n.Healthy)
	tr.deliver(valet.Revocation{SessionID: "revoked", Until: clk.Now().Add(time.Hour)})
	ctx := context.Background()
	for _, sid := range []string{"revoked", "live"} {
		if got := testing.AllocsPerRun(100, func() { _ = n.Check(ctx, sid) }); got != 0 {
			t.Errorf("Check(%s) allocates %v times, want 0", sid, got)
		}
	}
}

func TestLocalTransport(t *testing.T) {
	clk := newClock()
	store := newMemRevocations()
	sessions := newMemSessions("s1", "s2")
	shared := revoke.NewLocal()
	a := startNode(t, revoke.Config{Store: store, Transport: shared, Sessions: sessions, Now: clk.Now})
	b := startNode(t, revoke.Config{Store: store, Transport: shared, Sessions: sessions, Now: clk.Now})
	// A node on a transport of its own hears nothing from the others.
	apart := startNode(t, revoke.Config{Store: store, Transport: revoke.NewLocal(), Sessions: sessions, Now: clk.Now})
	for _, n := range []*revoke.Node{a, b, apart} {
		waitFor(t, "node is healthy", n.Healthy)
	}

	if err := a.Revoke(context.Background(), valet.Revocation{SessionID: "s1", Until: clk.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	// Local delivers before Publish returns, so there is nothing to wait for.
	tests := []struct {
		name string
		n    *revoke.Node
		want bool
	}{
		{"revoking node", a, true},
		{"node on the shared transport", b, true},
		{"node on another transport", apart, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.n.Set().Revoked("s1"); got != tc.want {
				t.Errorf("Revoked(s1) = %v, want %v", got, tc.want)
			}
			if got := tc.n.Set().Revoked("s2"); got {
				t.Errorf("Revoked(s2) = true, want false")
			}
		})
	}
	if err := b.Check(context.Background(), "s1"); !errors.Is(err, valet.ErrRevoked) {
		t.Errorf("Check(s1) on the other node = %v, want revoke.ErrRevoked", err)
	}
}

func TestNewNodePanics(t *testing.T) {
	tests := []struct {
		name string
		cfg  revoke.Config
	}{
		{"no store", revoke.Config{Sessions: newMemSessions()}},
		{"no sessions", revoke.Config{Store: newMemRevocations()}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("NewNode did not panic")
				}
			}()
			revoke.NewNode(tc.cfg)
		})
	}
}
