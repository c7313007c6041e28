package throttle

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/testclock"
)

// clock is the shared settable test clock.
type clock = testclock.Clock

func newClock() *clock { return testclock.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)) }

func TestMemoryBounded(t *testing.T) {
	c := newClock()
	m := NewMemory(MemoryConfig{MaxKeys: 10, Now: c.Now})
	ctx := context.Background()
	l := Limit{Burst: 2, Period: time.Minute}
	for i := range 25 {
		if _, err := m.AllowN(ctx, fmt.Sprint("k", i), l, 1); err != nil {
			t.Fatal(err)
		}
	}
	if got := m.Len(); got > 10 {
		t.Fatalf("holds %d buckets, want at most MaxKeys (10)", got)
	}
	// Once their buckets are full again, keys cost nothing and are swept.
	c.Advance(2 * time.Minute)
	if _, err := m.AllowN(ctx, "new", l, 1); err != nil {
		t.Fatal(err)
	}
	if got := m.Len(); got != 1 {
		t.Fatalf("after every bucket refilled, holds %d buckets; want just the new one", got)
	}
}

func TestParseLimits(t *testing.T) {
	tests := []struct {
		in      string
		want    []Limit
		wantErr bool
	}{
		{"5/15m", []Limit{{5, 15 * time.Minute}}, false},
		{"5/15m, 20/24h", []Limit{{5, 15 * time.Minute}, {20, 24 * time.Hour}}, false},
		{"off", nil, false},
		{"0", nil, false},
		{"", nil, false},
		{"5", nil, true},
		{"x/15m", nil, true},
		{"5/soon", nil, true},
		{"0/15m", nil, true},
		{"-1/15m", nil, true},
		{"1000/1ms", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseLimits(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ParseLimits(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, valet.ErrInvalidRequest) {
				t.Fatalf("error %v does not wrap ErrInvalidRequest", err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("ParseLimits(%q) = %v, want %v", tc.in, got, tc.want)
			}
			if err == nil {
				again, err := ParseLimits(FormatLimits(got))
				if err != nil || fmt.Sprint(again) != fmt.Sprint(got) {
					t.Fatalf("FormatLimits does not round-trip: %q gives %v, %v", FormatLimits(got), again, err)
				}
			}
		})
	}
}

func TestErrorRetryAfter(t *testing.T) {
	tests := []struct {
		wait, want time.Duration
	}{
		{time.Millisecond, time.Second},
		{time.Second, time.Second},
		{1001 * time.Millisecond, 2 * time.Second},
		{3 * time.Minute, 3 * time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.wait.String(), func(t *testing.T) {
			e := &Error{Scope: "ip", Action: "login", Wait: tc.wait}
			if got := e.RetryAfter(); got != tc.want {
				t.Fatalf("RetryAfter() = %v, want %v", got, tc.want)
			}
			if !errors.Is(e, valet.ErrRateLimited) {
				t.Fatal("Error does not wrap ErrRateLimited")
			}
		})
	}
}

// newGuard returns a guard with p on a memory store and its clock.
func newGuard(p Policy) (*Guard, *clock) {
	c := newClock()
	return New(NewMemory(MemoryConfig{Now: c.Now}), p), c
}

// retryAfter returns the wait of a refusal, failing the test on anything else.
func retryAfter(tb testing.TB, err error, scope string) time.Duration {
	tb.Helper()
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, valet.ErrRateLimited) {
		tb.Fatalf("got %v, want a refusal", err)
	}
	if e.Scope != scope {
		tb.Fatalf("refused by the %s limit, want %s", e.Scope, scope)
	}
	return e.Wait
}

// fail runs one failed login: Login, then LoginFailed.
func fail(g *Guard, account, ip string) error {
	ctx := context.Background()
	if err := g.Login(ctx, account, ip); err != nil {
		return err
	}
	return g.LoginFailed(ctx, account, ip)
}

func TestGuardAccount(t *testing.T) {
	ctx := context.Background()
	g, c := newGuard(DefaultPolicy())
	for i := range 5 {
		// Each failure comes from another address: the account limit alone.
		if err := fail(g, "ada@example.com", fmt.Sprint("192.0.2.", i)); err != nil {
			t.Fatalf("failure %d refused: %v", i+1, err)
		}
	}
	err := g.Login(ctx, "ada@example.com", "198.51.100.1")
	if wait := retryAfter(t, err, "account"); wait != 3*time.Minute {
		t.Fatalf("wait after 5 failures = %v, want 3m (15m / 5)", wait)
	}
	if err := g.Login(ctx, "bob@example.com", "198.51.100.1"); err != nil {
		t.Fatalf("another account is refused: %v", err)
	}

	c.Advance(3 * time.Minute)
	if err := g.Login(ctx, "ada@example.com", "198.51.100.1"); err != nil {
		t.Fatalf("refused after the wait: %v", err)
	}
	if err := g.LoginSucceeded(ctx, "ada@example.com", "198.51.100.1"); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := fail(g, "ada@example.com", "198.51.100.1"); err != nil {
			t.Fatalf("after a success, failure %d refused: %v", i+1, err)
		}
	}
	retryAfter(t, g.Login(ctx, "ada@example.com", "198.51.100.1"), "account")
}

// TestGuardFactorSucceeded: the account's limit of second factors counts
// wrong ones: a right one gives the account its tries back, and leaves
// the address's count and other accounts' as they were.
func TestGuardFactorSucceeded(t *testing.T) {
	ctx := context.Background()
	g, _ := newGuard(Policy{
		FactorAccount: []Limit{{3, 15 * time.Minute}, {6, 24 * time.Hour}},
		FactorIP:      []Limit{{8, 15 * time.Minute}},
	})
	for i := range 3 {
		if err := g.Factor(ctx, "u1", "192.0.2.1"); err != nil {
			t.Fatalf("try %d refused: %v", i+1, err)
		}
	}
	retryAfter(t, g.Factor(ctx, "u1", "192.0.2.2"), "account")
	if err := g.Factor(ctx, "u2", "192.0.2.3"); err != nil {
		t.Fatalf("another account is refused: %v", err)
	}
	if err := g.FactorSucceeded(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	// Every tier is given back: three more, and no fewer, then refused.
	for i := range 3 {
		if err := g.Factor(ctx, "u1", "192.0.2.4"); err != nil {
			t.Fatalf("after a right factor, try %d refused: %v", i+1, err)
		}
	}
	retryAfter(t, g.Factor(ctx, "u1", "192.0.2.4"), "account")
	// The address keeps what it spent: 192.0.2.1 tried 3, 192.0.2.4 3
	// (its refusal spent none), so it has 5 left of 8.
	for i := range 5 {
		if err := g.Factor(ctx, "u"+fmt.Sprint(10+i), "192.0.2.1"); err != nil {
			t.Fatalf("address try %d refused: %v", i+1, err)
		}
	}
	retryAfter(t, g.Factor(ctx, "u20", "192.0.2.1"), "ip")
}

// TestGuardGrowingDelay: an attacker who waits out each refusal meets the
// daily limit and a much longer wait.
func TestGuardGrowingDelay(t *testing.T) {
	g, c := newGuard(DefaultPolicy())
	var waits []time.Duration
	for range 25 {
		err := fail(g, "ada@example.com", "192.0.2.1")
		for err != nil {
			w := retryAfter(t, err, "account")
			waits = append(waits, w)
			c.Advance(w)
			err = fail(g, "ada@example.com", fmt.Sprint("192.0.2.", len(waits)%200))
		}
	}
	if len(waits) == 0 {
		t.Fatal("25 failures were never refused")
	}
	if first, longest := waits[0], slices.Max(waits); first != 3*time.Minute || longest < time.Hour {
		t.Fatalf("waits %v: want 3m at first, over an hour once the daily limit is reached", waits)
	}
}

func TestGuardIP(t *testing.T) {
	ctx := context.Background()
	g, _ := newGuard(DefaultPolicy())
	for i := range 50 {
		if err := fail(g, fmt.Sprintf("user%d@example.com", i), "203.0.113.9"); err != nil {
			t.Fatalf("failure %d refused: %v", i+1, err)
		}
	}
	retryAfter(t, g.Login(ctx, "fresh@example.com", "203.0.113.9"), "ip")
	if err := g.Login(ctx, "fresh@example.com", "203.0.113.10"); err != nil {
		t.Fatalf("another address is refused: %v", err)
	}

	// Successful logins do not use up an address (an office behind one NAT).
	g2, _ := newGuard(DefaultPolicy())
	for i := range 200 {
		acct := fmt.Sprintf("user%d@example.com", i)
		if err := g2.Login(ctx, acct, "203.0.113.9"); err != nil {
			t.Fatalf("login %d refused: %v", i+1, err)
		}
		if err := g2.LoginSucceeded(ctx, acct, "203.0.113.9"); err != nil {
			t.Fatal(err)
		}
	}
}

func TestGuardIPv6Block(t *testing.T) {
	ctx := context.Background()
	g, _ := newGuard(Policy{LoginIP: []Limit{{2, time.Hour}}})
	for _, ip := range []string{"2001:db8:1:2::1", "2001:db8:1:2:ffff::9"} {
		if err := fail(g, "a@example.com", ip); err != nil {
			t.Fatal(err)
		}
	}
	retryAfter(t, g.Login(ctx, "a@example.com", "2001:db8:1:2:abcd::1"), "ip")
	if err := g.Login(ctx, "a@example.com", "2001:db8:1:3::1"); err != nil {
		t.Fatalf("another /64 is refused: %v", err)
	}
	// An IPv4 client seen through an IPv6 socket is the same client.
	if err := fail(g, "a@example.com", "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if err := fail(g, "a@example.com", "::ffff:192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	retryAfter(t, g.Login(ctx, "a@example.com", "192.0.2.1"), "ip")
}

func TestGuardSignupRefresh(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		p     Policy
		call  func(g *Guard, ip string) error
		limit int
	}{
		{"signup", Policy{Signup: []Limit{{20, time.Hour}}}, func(g *Guard, ip string) error { return g.Signup(ctx, ip) }, 20},
		{"refresh", Policy{Refresh: []Limit{{300, time.Minute}}}, func(g *Guard, ip string) error { return g.Refresh(ctx, ip) }, 300},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, _ := newGuard(tc.p)
			for i := range tc.limit {
				if err := tc.call(g, "192.0.2.7"); err != nil {
					t.Fatalf("%s %d refused: %v", tc.name, i+1, err)
				}
			}
			retryAfter(t, tc.call(g, "192.0.2.7"), "ip")
			if err := tc.call(g, "192.0.2.8"); err != nil {
				t.Fatalf("another address is refused: %v", err)
			}
		})
	}
}

func TestGuardNoPolicy(t *testing.T) {
	ctx := context.Background()
	g, _ := newGuard(Policy{})
	for range 1000 {
		if err := fail(g, "a@example.com", "192.0.2.1"); err != nil {
			t.Fatal(err)
		}
		if err := g.Signup(ctx, "192.0.2.1"); err != nil {
			t.Fatal(err)
		}
	}
}

// failingStore fails every call, as an unreachable Redis does.
type failingStore struct{}

func (failingStore) AllowN(context.Context, string, Limit, int) (Result, error) {
	return Result{}, fmt.Errorf("down: %w", valet.ErrUnavailable)
}
func (failingStore) Reset(context.Context, string) error {
	return fmt.Errorf("down: %w", valet.ErrUnavailable)
}

// TestGuardFailsClosed: when the counters cannot be reached, the guard
// refuses to guess rather than let unlimited attempts through.
func TestGuardFailsClosed(t *testing.T) {
	ctx := context.Background()
	g := New(failingStore{}, DefaultPolicy())
	for name, err := range map[string]error{
		"login":   g.Login(ctx, "a@example.com", "192.0.2.1"),
		"signup":  g.Signup(ctx, "192.0.2.1"),
		"refresh": g.Refresh(ctx, "192.0.2.1"),
	} {
		if !errors.Is(err, valet.ErrUnavailable) {
			t.Errorf("%s with the store down = %v, want ErrUnavailable", name, err)
		}
	}
}

// TestGuardConcurrent: parallel guesses at one account get exactly the
// limit through, because Login counts before the password is checked.
func TestGuardConcurrent(t *testing.T) {
	g, _ := newGuard(DefaultPolicy())
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := g.Login(context.Background(), "ada@example.com", fmt.Sprint("192.0.2.", i)); err == nil {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if allowed != 5 {
		t.Fatalf("%d of 40 parallel attempts got through, want 5", allowed)
	}
}

func TestKeysHideAccounts(t *testing.T) {
	k := accountKey("ada@example.com")
	if k == accountKey("bob@example.com") || k != accountKey("ada@example.com") {
		t.Fatal("account keys are not a function of the account")
	}
	for _, part := range []string{"ada", "example"} {
		if contains(k, part) {
			t.Fatalf("account key %q shows the email", k)
		}
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
