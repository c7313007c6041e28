package memory_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/testclock"
	"github.com/valetauth/valet/store/memory"
	"github.com/valetauth/valet/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(tb testing.TB) valet.Stores { return memory.New().Stores() })
}

// clock is the shared settable test clock.
type clock = testclock.Clock

func newClock() *clock { return testclock.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)) }

func session(tb testing.TB, created time.Time, absolute, idle time.Duration) valet.Session {
	tb.Helper()
	return valet.Session{
		ID:            valet.HashSecret(valet.NewID()),
		UserID:        "user-1",
		Mode:          valet.ModeSession,
		CreatedAt:     created,
		LastSeenAt:    created,
		ExpiresAt:     created.Add(absolute),
		IdleExpiresAt: created.Add(idle),
	}
}

func family(tb testing.TB, created time.Time, absolute, idle time.Duration) valet.RefreshFamily {
	tb.Helper()
	return valet.RefreshFamily{
		ID:            valet.NewID(),
		UserID:        "user-1",
		RotatedAt:     created,
		CreatedAt:     created,
		ExpiresAt:     created.Add(absolute),
		IdleExpiresAt: created.Add(idle),
	}
}

// sweep runs s.Sweep with a live context and returns its count, failing the
// test on an error.
func sweep(tb testing.TB, s *memory.Store, now time.Time) int {
	tb.Helper()
	n, err := s.Sweep(tb.Context(), now)
	if err != nil {
		tb.Fatalf("Sweep: %v", err)
	}
	return n
}

func TestExpiryFollowsClock(t *testing.T) {
	ctx := t.Context()
	clk := newClock()
	t0 := clk.Now()
	s := memory.New(memory.WithClock(clk.Now))
	sess := session(t, t0, time.Hour, 10*time.Minute)
	noIdle := session(t, t0, time.Hour, 0)
	noIdle.IdleExpiresAt = time.Time{}
	fam := family(t, t0, time.Hour, 10*time.Minute)
	famHash := valet.HashSecret(valet.NewID())
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSession(ctx, noIdle); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRefreshFamily(ctx, fam, famHash); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name                             string
		at                               time.Duration
		wantSession, wantNoIdle, wantFam bool
	}{
		{"just created", 0, true, true, true},
		{"before idle expiry", 10*time.Minute - time.Microsecond, true, true, true},
		{"at idle expiry", 10 * time.Minute, false, true, false},
		{"before absolute expiry", time.Hour - time.Microsecond, false, true, false},
		{"at absolute expiry", time.Hour, false, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk.Set(t0.Add(tc.at))
			if _, got, err := s.Session(ctx, sess.ID); err != nil || got != tc.wantSession {
				t.Errorf("Session = %t, %v; want %t, nil", got, err, tc.wantSession)
			}
			if _, got, err := s.Session(ctx, noIdle.ID); err != nil || got != tc.wantNoIdle {
				t.Errorf("Session without idle expiry = %t, %v; want %t, nil", got, err, tc.wantNoIdle)
			}
			if _, _, got, err := s.RefreshByToken(ctx, famHash); err != nil || got != tc.wantFam {
				t.Errorf("RefreshByToken = %t, %v; want %t, nil", got, err, tc.wantFam)
			}
		})
	}
}

func TestExpiredLookupDrops(t *testing.T) {
	ctx := t.Context()
	clk := newClock()
	t0 := clk.Now()
	s := memory.New(memory.WithClock(clk.Now))
	sess := session(t, t0, time.Hour, 10*time.Minute)
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}

	clk.Set(t0.Add(20 * time.Minute))
	if _, found, _ := s.Session(ctx, sess.ID); found {
		t.Fatal("Session of an expired session found = true")
	}
	// The lookup dropped the session: turning the clock back does not bring
	// it back, and there is nothing left to sweep.
	clk.Set(t0)
	if _, found, _ := s.Session(ctx, sess.ID); found {
		t.Error("the expired session is still stored after a lookup found it expired")
	}
	if got := sweep(t, s, t0.Add(20*time.Minute)); got != 0 {
		t.Errorf("Sweep = %d, want 0", got)
	}
}

func TestSweep(t *testing.T) {
	ctx := t.Context()
	clk := newClock()
	t0 := clk.Now()
	s := memory.New(memory.WithClock(clk.Now))

	live := session(t, t0, time.Hour, 30*time.Minute)
	idle := session(t, t0, time.Hour, 10*time.Minute)
	absolute := session(t, t0, 15*time.Minute, 30*time.Minute)
	for _, sess := range []valet.Session{live, idle, absolute} {
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
	}
	liveFam, oldFam := family(t, t0, time.Hour, 30*time.Minute), family(t, t0, time.Hour, 10*time.Minute)
	liveHash, oldHash := valet.HashSecret(valet.NewID()), valet.HashSecret(valet.NewID())
	if err := s.CreateRefreshFamily(ctx, liveFam, liveHash); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRefreshFamily(ctx, oldFam, oldHash); err != nil {
		t.Fatal(err)
	}
	oldNext := valet.HashSecret(valet.NewID())
	if ok, err := s.AdvanceRefreshFamily(ctx, oldFam.ID, 0, oldNext, nil, t0, t0.Add(10*time.Minute)); !ok || err != nil {
		t.Fatalf("AdvanceRefreshFamily = %t, %v", ok, err)
	}
	for i, until := range []time.Duration{5 * time.Minute, 20 * time.Minute, 40 * time.Minute} {
		r := valet.Revocation{SessionID: fmt.Sprintf("sid-%d", i), Until: t0.Add(until)}
		if err := s.AddRevocation(ctx, r); err != nil {
			t.Fatal(err)
		}
	}

	// At t0+20m: two sessions, one family and two revocations have ended.
	at := t0.Add(20 * time.Minute)
	if got, want := sweep(t, s, at), 5; got != want {
		t.Errorf("Sweep = %d, want %d", got, want)
	}
	if got := sweep(t, s, at); got != 0 {
		t.Errorf("a second Sweep = %d, want 0", got)
	}

	// Turning the clock back shows what Sweep really removed.
	clk.Set(t0)
	for _, tc := range []struct {
		name string
		id   string
		want bool
	}{
		{"live session", live.ID, true},
		{"idle-expired session", idle.ID, false},
		{"expired session", absolute.ID, false},
	} {
		if _, found, _ := s.Session(ctx, tc.id); found != tc.want {
			t.Errorf("%s: found = %t, want %t", tc.name, found, tc.want)
		}
	}
	for _, tc := range []struct {
		name string
		hash string
		want bool
	}{
		{"live family", liveHash, true},
		{"expired family, first token", oldHash, false},
		{"expired family, second token", oldNext, false},
	} {
		if _, _, found, _ := s.RefreshByToken(ctx, tc.hash); found != tc.want {
			t.Errorf("%s: found = %t, want %t", tc.name, found, tc.want)
		}
	}
	revs, err := s.Revocations(ctx, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(revs) != 1 || revs[0].SessionID != "sid-2" {
		t.Errorf("Revocations after Sweep = %+v, want only sid-2", revs)
	}
}

func TestSweepOnWrite(t *testing.T) {
	ctx := t.Context()
	clk := newClock()
	t0 := clk.Now()
	s := memory.New(memory.WithClock(clk.Now))
	old := session(t, t0, time.Minute, time.Minute)
	if err := s.CreateSession(ctx, old); err != nil {
		t.Fatal(err)
	}
	oldFam := family(t, t0, time.Minute, time.Minute)
	if err := s.CreateRefreshFamily(ctx, oldFam, valet.HashSecret(valet.NewID())); err != nil {
		t.Fatal(err)
	}
	if err := s.AddRevocation(ctx, valet.Revocation{SessionID: "old", Until: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutPending(ctx, "old", []byte("state"), t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	user := valet.User{ID: valet.NewID(), Email: "ada@example.test", CreatedAt: t0, UpdatedAt: t0}
	if err := s.CreateUser(ctx, user); err != nil {
		t.Fatal(err)
	}
	client := valet.Client{ID: valet.NewID(), CreatedAt: t0}
	if err := s.CreateClient(ctx, client); err != nil {
		t.Fatal(err)
	}
	code := func(expires time.Time) valet.AuthCode {
		return valet.AuthCode{Hash: valet.HashSecret(valet.NewID()), ClientID: client.ID, UserID: user.ID, CreatedAt: t0, ExpiresAt: expires}
	}
	grant := func(sid string, expires time.Time) valet.ClientGrant {
		return valet.ClientGrant{SessionID: sid, ClientID: client.ID, UserID: user.ID, ExpiresAt: expires}
	}
	if err := s.CreateAuthCode(ctx, code(t0.Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	if err := s.AddClientGrant(ctx, grant("old", t0.Add(time.Minute))); err != nil {
		t.Fatal(err)
	}

	clk.Set(t0.Add(time.Hour))
	// Enough writes of each kind that the store must have swept in passing.
	for i := range 2048 {
		if err := s.CreateSession(ctx, session(t, t0, 2*time.Hour, 2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateRefreshFamily(ctx, family(t, t0, 2*time.Hour, 2*time.Hour), valet.HashSecret(valet.NewID())); err != nil {
			t.Fatal(err)
		}
		if err := s.AddRevocation(ctx, valet.Revocation{SessionID: fmt.Sprint(i), Until: t0.Add(2 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutPending(ctx, fmt.Sprint(i), []byte("state"), t0.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateAuthCode(ctx, code(t0.Add(2*time.Hour))); err != nil {
			t.Fatal(err)
		}
		if err := s.AddClientGrant(ctx, grant(fmt.Sprint(i), t0.Add(2*time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	if got := sweep(t, s, t0.Add(time.Hour)); got != 0 {
		t.Errorf("Sweep after many writes = %d, want 0: expired entries were not swept in passing", got)
	}
}

func TestDeleteExpiredSession(t *testing.T) {
	ctx := t.Context()
	clk := newClock()
	t0 := clk.Now()
	s := memory.New(memory.WithClock(clk.Now))
	live := session(t, t0, time.Hour, time.Hour)
	expired := session(t, t0, time.Minute, time.Minute)
	for _, sess := range []valet.Session{live, expired} {
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
	}
	clk.Set(t0.Add(30 * time.Minute))

	tests := []struct {
		name string
		id   string
		want bool
	}{
		{"live", live.ID, true},
		{"expired", expired.ID, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.DeleteSession(ctx, tc.id)
			if err != nil || got != tc.want {
				t.Errorf("DeleteSession = %t, %v; want %t, nil", got, err, tc.want)
			}
		})
	}
}

func TestDeleteUserSessionsSkipsExpired(t *testing.T) {
	ctx := t.Context()
	clk := newClock()
	t0 := clk.Now()
	s := memory.New(memory.WithClock(clk.Now))
	live := session(t, t0, time.Hour, time.Hour)
	expired := session(t, t0, time.Minute, time.Minute)
	for _, sess := range []valet.Session{live, expired} {
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
	}
	clk.Set(t0.Add(30 * time.Minute))
	got, err := s.DeleteUserSessions(ctx, live.UserID, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != live.ID {
		t.Errorf("DeleteUserSessions = %q, want [%q]", got, live.ID)
	}
	if n := sweep(t, s, t0.Add(30*time.Minute)); n != 0 {
		t.Errorf("Sweep after DeleteUserSessions = %d, want 0: the expired session was left", n)
	}
}

func TestTouchExpiredSession(t *testing.T) {
	ctx := t.Context()
	clk := newClock()
	t0 := clk.Now()
	s := memory.New(memory.WithClock(clk.Now))
	sess := session(t, t0, time.Hour, 10*time.Minute)
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	// A request that read the session at t0+9m touches it only at t0+11m,
	// after it expired: the touch must not revive it.
	at := t0.Add(11 * time.Minute)
	clk.Set(at)
	if err := s.TouchSession(ctx, sess.ID, at, at.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := s.Session(ctx, sess.ID); found {
		t.Error("a touch after the idle expiry revived the session")
	}
}

func TestEnsureSecretRefusesEmpty(t *testing.T) {
	ctx := t.Context()
	s := memory.New()
	tests := []struct {
		name  string
		value []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.EnsureSecret(ctx, "master", tc.value)
			if !errors.Is(err, valet.ErrInvalidRequest) {
				t.Errorf("EnsureSecret = %x, %v; want an error wrapping ErrInvalidRequest", got, err)
			}
		})
	}
}

func TestDoneContextWrapsCause(t *testing.T) {
	s := memory.New()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, _, err := s.Session(ctx, "x")
	if !errors.Is(err, valet.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Errorf("Session with a canceled context: error %v, want one wrapping ErrUnavailable and context.Canceled", err)
	}
}

func TestWithClockNilPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("WithClock(nil) did not panic")
		}
	}()
	memory.WithClock(nil)
}

func ExampleStore() {
	ctx := context.Background()
	s := memory.New()
	now := time.Now()
	sess := valet.Session{
		ID:            valet.HashSecret("the secret only the client holds"),
		UserID:        "user-1",
		Mode:          valet.ModeSession,
		CreatedAt:     now,
		LastSeenAt:    now,
		ExpiresAt:     now.Add(24 * time.Hour),
		IdleExpiresAt: now.Add(time.Hour),
	}
	if err := s.CreateSession(ctx, sess); err != nil {
		fmt.Println(err)
		return
	}
	got, found, err := s.Session(ctx, sess.ID)
	fmt.Println(got.UserID, found, err)
	// Output: user-1 true <nil>
}

// BenchmarkSession measures the session lookup of every authenticated
// request. The baseline is the bare read-locked map lookup the store is
// built on.
func BenchmarkSession(b *testing.B) {
	const sessions = 10000
	ctx := context.Background()
	s := memory.New()
	now := time.Now()
	ids := make([]string, sessions)
	baseline := make(map[string]valet.Session, sessions)
	for i := range ids {
		sess := session(b, now, 24*time.Hour, time.Hour)
		ids[i] = sess.ID
		baseline[sess.ID] = sess
		if err := s.CreateSession(ctx, sess); err != nil {
			b.Fatal(err)
		}
	}
	missing := valet.HashSecret(valet.NewID())

	b.Run("baseline-map", func(b *testing.B) {
		var mu sync.RWMutex
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			mu.RLock()
			sess, ok := baseline[ids[i%sessions]]
			mu.RUnlock()
			if !ok || sess.Expired(time.Now()) {
				b.Fatal("not found")
			}
			i++
		}
	})
	b.Run("hit", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, found, err := s.Session(ctx, ids[i%sessions]); !found || err != nil {
				b.Fatal("not found")
			}
			i++
		}
	})
	b.Run("miss", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, found, err := s.Session(ctx, missing); found || err != nil {
				b.Fatal("found")
			}
		}
	})
	b.Run("hit-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, found, err := s.Session(ctx, ids[i%sessions]); !found || err != nil {
					b.Error("not found")
					return
				}
				i++
			}
		})
	})
}
