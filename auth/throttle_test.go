package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/password"
	"github.com/valetauth/valet/store/memory"
	"github.com/valetauth/valet/throttle"
)

// lockedBuffer is a log sink that tests read while the service writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// auditEvents returns the "event" of every audit record in log.
func auditEvents(tb testing.TB, log string) []map[string]any {
	tb.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			tb.Fatalf("log line is not JSON: %q", line)
		}
		if rec["msg"] == "audit" {
			out = append(out, rec)
		}
	}
	return out
}

// countingSessions counts the lookups that reach the session store.
type countingSessions struct {
	valet.SessionStore
	lookups atomic.Int64
}

func (c *countingSessions) Session(ctx context.Context, id string) (valet.Session, bool, error) {
	c.lookups.Add(1)
	return c.SessionStore.Session(ctx, id)
}

// newThrottled returns a service with the throttle's default policy on a
// clock the test moves, its audit log, and its session store.
func newThrottled(tb testing.TB) (*Service, *lockedBuffer, *countingSessions, func(time.Duration)) {
	tb.Helper()
	var (
		mu  sync.Mutex
		now = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	advance := func(d time.Duration) {
		mu.Lock()
		now = now.Add(d)
		mu.Unlock()
	}
	st := memory.New(memory.WithClock(clock))
	stores := st.Stores()
	counted := &countingSessions{SessionStore: stores.Sessions}
	stores.Sessions = counted
	log := &lockedBuffer{}
	s, err := New(context.Background(), Config{
		Stores: stores, Now: clock,
		Logger:   slog.New(slog.NewJSONHandler(log, nil)),
		Hasher:   password.NewHasher(password.Params{Memory: 8192, Iterations: 1, Parallelism: 1}, 0, 0),
		Throttle: throttle.New(throttle.NewMemory(throttle.MemoryConfig{Now: clock}), throttle.DefaultPolicy()),
	})
	if err != nil {
		tb.Fatal(err)
	}
	return s, log, counted, advance
}

func TestLoginThrottle(t *testing.T) {
	ctx := context.Background()
	s, log, _, advance := newThrottled(t)
	const pw = "correct horse battery"
	if _, err := s.CreateUser(ctx, "ada@example.com", pw, nil); err != nil {
		t.Fatal(err)
	}
	c := Client{IP: "192.0.2.1", UserAgent: "test"}

	tests := []struct {
		name, email string
	}{
		{"known account", "ada@example.com"},
		{"unknown account", "nobody@example.com"},
	}
	var refusals []string
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for i := range 5 {
				_, err := s.Login(ctx, tc.email, "wrong password here", valet.ModeSession, c)
				if !errors.Is(err, valet.ErrInvalidCredentials) {
					t.Fatalf("failure %d: %v, want invalid credentials", i+1, err)
				}
			}
			// Even the right password is refused now: the guess is not checked.
			_, err := s.Login(ctx, " "+strings.ToUpper(tc.email), pw, valet.ModeSession, c)
			if !errors.Is(err, valet.ErrRateLimited) {
				t.Fatalf("sixth attempt: %v, want rate limited", err)
			}
			var wait interface{ RetryAfter() time.Duration }
			if !errors.As(err, &wait) || wait.RetryAfter() != 3*time.Minute {
				t.Fatalf("refusal %v does not say to wait 3m", err)
			}
			refusals = append(refusals, err.Error())
		})
	}
	if len(refusals) == 2 && refusals[0] != refusals[1] {
		t.Fatalf("a known and an unknown account are refused differently:\n%s\n%s", refusals[0], refusals[1])
	}

	advance(3 * time.Minute)
	if _, err := s.Login(ctx, "ada@example.com", pw, valet.ModeSession, c); err != nil {
		t.Fatalf("login after the wait: %v", err)
	}
	// The success forgot the failures: five more are allowed before a refusal.
	for i := range 5 {
		if _, err := s.Login(ctx, "ada@example.com", "wrong password here", valet.ModeSession, c); !errors.Is(err, valet.ErrInvalidCredentials) {
			t.Fatalf("after a success, failure %d: %v", i+1, err)
		}
	}
	if _, err := s.Login(ctx, "ada@example.com", pw, valet.ModeSession, c); !errors.Is(err, valet.ErrRateLimited) {
		t.Fatalf("after five new failures: %v, want rate limited", err)
	}

	var throttled int
	for _, ev := range auditEvents(t, log.String()) {
		if ev["event"] == "throttle" {
			throttled++
			if ev["ip"] != "192.0.2.1" || ev["action"] != "login" || ev["user_agent"] != "test" {
				t.Fatalf("throttle event %v lacks ip, user agent or action", ev)
			}
		}
	}
	if throttled != 3 {
		t.Fatalf("%d throttle events, want 3", throttled)
	}
	if strings.Contains(log.String(), pw) || strings.Contains(log.String(), "wrong password here") {
		t.Fatal("the log holds a password")
	}
}

func TestChangePasswordThrottle(t *testing.T) {
	ctx := context.Background()
	s, _, _, _ := newThrottled(t)
	const pw = "correct horse battery"
	u, err := s.CreateUser(ctx, "ada@example.com", pw, nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := s.Login(ctx, u.Email, pw, valet.ModeSession, Client{IP: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	id := &valet.Identity{User: u, Mode: valet.ModeSession, SessionID: g.Session.ID}
	for i := range 5 {
		_, err := s.ChangePassword(ctx, id, "not the password", "a brand new passphrase", Client{IP: "192.0.2.1"})
		if !errors.Is(err, valet.ErrInvalidCredentials) {
			t.Fatalf("wrong current password %d: %v", i+1, err)
		}
	}
	_, err = s.ChangePassword(ctx, id, pw, "a brand new passphrase", Client{IP: "192.0.2.1"})
	if !errors.Is(err, valet.ErrRateLimited) {
		t.Fatalf("a stolen session guessed the password past the limit: %v", err)
	}
}

func TestSignupRefreshThrottle(t *testing.T) {
	ctx := context.Background()
	s, _, _, _ := newThrottled(t)
	c := Client{IP: "192.0.2.9"}
	for i := range 20 {
		if _, err := s.Signup(ctx, "user"+strings.Repeat("x", i)+"@example.com", "correct horse battery", c); err != nil {
			t.Fatalf("signup %d: %v", i+1, err)
		}
	}
	if _, err := s.Signup(ctx, "one-more@example.com", "correct horse battery", c); !errors.Is(err, valet.ErrRateLimited) {
		t.Fatalf("21st signup from one address: %v, want rate limited", err)
	}
	if _, err := s.users.UserByEmail(ctx, "one-more@example.com"); !errors.Is(err, valet.ErrNotFound) {
		t.Fatalf("the refused signup created the account: %v", err)
	}
	for i := range 300 {
		if _, err := s.Refresh(ctx, "not-a-token", c); !errors.Is(err, valet.ErrInvalidGrant) {
			t.Fatalf("refresh %d: %v, want invalid grant", i+1, err)
		}
	}
	if _, err := s.Refresh(ctx, "not-a-token", c); !errors.Is(err, valet.ErrRateLimited) {
		t.Fatalf("301st refresh in a minute: %v, want rate limited", err)
	}
}

// TestForgedCookieNoLookup: a cookie whose HMAC does not match never
// reaches the session store, even when it carries a live session's secret.
func TestForgedCookieNoLookup(t *testing.T) {
	ctx := context.Background()
	s, _, counted, _ := newThrottled(t)
	const pw = "correct horse battery"
	if _, err := s.CreateUser(ctx, "ada@example.com", pw, nil); err != nil {
		t.Fatal(err)
	}
	g, err := s.Login(ctx, "ada@example.com", pw, valet.ModeSession, Client{})
	if err != nil {
		t.Fatal(err)
	}
	secret, _, _ := strings.Cut(g.Cookie, ".")
	forged := []string{
		secret + "." + strings.Repeat("A", 43),
		valet.NewID() + "." + valet.NewID(),
		flipLastChar(g.Cookie),
		g.Cookie + "A",
		"",
	}
	before := counted.lookups.Load()
	for _, v := range forged {
		if _, err := s.IdentifyCookie(ctx, v); !errors.Is(err, valet.ErrUnauthenticated) {
			t.Fatalf("forged cookie %q: %v, want unauthenticated", v, err)
		}
	}
	if n := counted.lookups.Load() - before; n != 0 {
		t.Fatalf("forged cookies caused %d store lookups, want 0", n)
	}
	if _, err := s.IdentifyCookie(ctx, g.Cookie); err != nil {
		t.Fatal(err)
	}
	if n := counted.lookups.Load() - before; n != 1 {
		t.Fatalf("the real cookie caused %d lookups, want 1 (the count must see lookups)", n)
	}
}

// flipLastChar changes the last character of a cookie (its MAC).
func flipLastChar(v string) string {
	last := byte('A')
	if v[len(v)-1] == 'A' {
		last = 'B'
	}
	return v[:len(v)-1] + string(last)
}
