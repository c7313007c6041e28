package session

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valetauth/valet"
)

func testKey(tb testing.TB) []byte {
	tb.Helper()
	return []byte(valet.NewID()) // 43 random characters: enough key material
}

func TestCodecRoundTrip(t *testing.T) {
	c := NewCodec(testKey(t))
	secret := valet.NewID()
	v := c.Encode(secret)
	if len(v) != CookieLen {
		t.Fatalf("len = %d, want %d", len(v), CookieLen)
	}
	got, err := c.Decode(v)
	if err != nil || got != secret {
		t.Fatalf("Decode = %q, %v; want %q, nil", got, err, secret)
	}
}

// badCookie is a cookie value that no codec may accept.
type badCookie struct{ name, value string }

// badCookies returns the attack table for a cookie value: good bent every
// way a client could bend it, and good's secret signed by other.
func badCookies(good string, other *Codec) []badCookie {
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	return []badCookie{
		{"empty", ""},
		{"no dot", strings.Replace(good, ".", "x", 1)},
		{"secret changed", flip(good, 3)},
		{"mac changed", flip(good, CookieLen-3)},
		{"other key", other.Encode(good[:secretLen])},
		{"truncated", good[:len(good)-1]},
		{"extended", good + "A"},
		{"padded mac", good[:len(good)-1] + "="},
		{"bad alphabet", good[:10] + "+" + good[11:]},
		{"mac only", "." + good[secretLen+1:]},
		{"dot moved", good[:secretLen-1] + "." + good[secretLen-1:secretLen] + good[secretLen+1:]},
		{"non-canonical secret", good[:secretLen-1] + "B" + good[secretLen:]},
		{"upper case", strings.ToUpper(good)},
		{"with a space", good + " "},
	}
}

func TestCodecRefuses(t *testing.T) {
	c := NewCodec(testKey(t))
	good := c.Encode(valet.NewID())
	for _, tc := range badCookies(good, NewCodec(testKey(t))) {
		t.Run(tc.name, func(t *testing.T) {
			if tc.value == good {
				t.Skip("mutation produced the original")
			}
			_, err := c.Decode(tc.value)
			if !errors.Is(err, ErrBadCookie) || !errors.Is(err, valet.ErrUnauthenticated) {
				t.Fatalf("Decode(%q) err = %v, want ErrBadCookie", tc.value, err)
			}
		})
	}
}

// TestManagerRemembersCookies: a cookie value checked once is found again
// by its exact bytes, with the id it names; every bent form of it is still
// refused, with the memo holding it or turned off.
func TestManagerRemembersCookies(t *testing.T) {
	for _, memo := range []int{0, -1} {
		t.Run("CookieMemo="+strconv.Itoa(memo), func(t *testing.T) {
			ctx := context.Background()
			st, c := newFakeStore(), newClock()
			m := NewManager(st, NewCodec(testKey(t)), Config{CookieMemo: memo, Now: c.now})
			s, good, err := m.Create(ctx, "u1", valet.ModeSession, "ua", "10.0.0.1")
			if err != nil {
				t.Fatal(err)
			}
			for i := range 2 {
				id, err := m.SessionID(good)
				if err != nil || id != s.ID {
					t.Fatalf("call %d: SessionID = %q, %v; want %q", i, id, err, s.ID)
				}
			}
			if (m.ids != nil) != (memo == 0) {
				t.Fatalf("CookieMemo %d: memo %v", memo, m.ids)
			}
			if m.ids != nil {
				if got, ok := m.ids.Get(good, time.Time{}); !ok || got != s.ID {
					t.Fatalf("the memo holds %q, %v for the cookie; want %q", got, ok, s.ID)
				}
			}
			for _, tc := range badCookies(good, NewCodec(testKey(t))) {
				if tc.value == good {
					continue
				}
				if _, err := m.SessionID(tc.value); !errors.Is(err, ErrBadCookie) {
					t.Errorf("%s: SessionID(%q) err = %v, want ErrBadCookie", tc.name, tc.value, err)
				}
				if _, err := m.LoadCookie(ctx, tc.value); !errors.Is(err, ErrBadCookie) {
					t.Errorf("%s: LoadCookie(%q) err = %v, want ErrBadCookie", tc.name, tc.value, err)
				}
			}
			if st.lookups != 0 {
				t.Fatalf("store lookups = %d, want 0 for bad cookies", st.lookups)
			}
			if got, err := m.LoadCookie(ctx, good); err != nil || got.ID != s.ID {
				t.Fatalf("LoadCookie(good) = %v, %v", got.ID, err)
			}
		})
	}
}

func TestNewCodecShortKeyPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("NewCodec with a short key did not panic")
		}
	}()
	NewCodec([]byte("short"))
}

// fakeStore counts lookups so tests can prove a bad cookie never reaches it.
type fakeStore struct {
	mu      sync.Mutex
	m       map[string]valet.Session
	lookups int
	touches int
}

func newFakeStore() *fakeStore { return &fakeStore{m: map[string]valet.Session{}} }

func (f *fakeStore) CreateSession(_ context.Context, s valet.Session) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m[s.ID] = s
	return nil
}

func (f *fakeStore) Session(_ context.Context, id string) (valet.Session, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	s, ok := f.m[id]
	return s, ok, nil
}

func (f *fakeStore) TouchSession(_ context.Context, id string, seen, idle time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.touches++
	if s, ok := f.m[id]; ok {
		s.LastSeenAt, s.IdleExpiresAt = seen, idle
		f.m[id] = s
	}
	return nil
}

func (f *fakeStore) SetSessionAuth(_ context.Context, id string, authTime time.Time, amr []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.m[id]; ok {
		s.AuthTime, s.AMR = authTime, slices.Clone(amr)
		f.m[id] = s
	}
	return nil
}

func (f *fakeStore) DeleteSession(_ context.Context, id string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.m[id]
	delete(f.m, id)
	return ok, nil
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock                   { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }
func newManager(tb testing.TB, st *fakeStore, c *clock) *Manager {
	tb.Helper()
	return NewManager(st, NewCodec(testKey(tb)), Config{
		Lifetime: 7 * 24 * time.Hour, IdleTimeout: 24 * time.Hour, TouchInterval: time.Minute, Now: c.now,
	})
}

func TestManagerCreateLoad(t *testing.T) {
	ctx := context.Background()
	st, c := newFakeStore(), newClock()
	m := newManager(t, st, c)
	s, cookie, err := m.Create(ctx, "u1", valet.ModeSession, "ua", "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(cookie, s.ID) {
		t.Fatal("cookie carries the stored id; the store must only see a hash of the secret")
	}
	for id := range st.m {
		if strings.Contains(cookie, id) {
			t.Fatal("store key appears in the cookie")
		}
	}
	got, err := m.LoadCookie(ctx, cookie)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != s.ID || got.UserID != "u1" || got.Mode != valet.ModeSession {
		t.Fatalf("loaded %+v, want the created session %+v", got, s)
	}
	_, cookie2, _ := m.Create(ctx, "u1", valet.ModeSession, "ua", "10.0.0.1")
	if cookie2 == cookie {
		t.Fatal("two logins produced the same cookie")
	}
}

func TestManagerBadCookieSkipsStore(t *testing.T) {
	st, c := newFakeStore(), newClock()
	m := newManager(t, st, c)
	forged := NewCodec(testKey(t)).Encode(valet.NewID())
	if _, err := m.LoadCookie(context.Background(), forged); !errors.Is(err, ErrBadCookie) {
		t.Fatalf("err = %v, want ErrBadCookie", err)
	}
	if st.lookups != 0 {
		t.Fatalf("store lookups = %d, want 0 for a forged cookie", st.lookups)
	}
}

func TestManagerExpiry(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		steps  []time.Duration // each step advances the clock, then loads
		wantOK []bool
	}{
		{"fresh", []time.Duration{0}, []bool{true}},
		{"idle just under", []time.Duration{24*time.Hour - time.Second}, []bool{true}},
		{"idle timeout", []time.Duration{24 * time.Hour}, []bool{false}},
		{"sliding keeps it alive", []time.Duration{20 * time.Hour, 20 * time.Hour, 20 * time.Hour}, []bool{true, true, true}},
		{"absolute lifetime wins over sliding", []time.Duration{
			23 * time.Hour, 23 * time.Hour, 23 * time.Hour, 23 * time.Hour, 23 * time.Hour, 23 * time.Hour, 23 * time.Hour, 23 * time.Hour,
		}, []bool{true, true, true, true, true, true, true, false}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, c := newFakeStore(), newClock()
			m := newManager(t, st, c)
			_, cookie, err := m.Create(ctx, "u", valet.ModeSession, "", "")
			if err != nil {
				t.Fatal(err)
			}
			for i, d := range tc.steps {
				c.advance(d)
				_, err := m.LoadCookie(ctx, cookie)
				if got := err == nil; got != tc.wantOK[i] {
					t.Fatalf("step %d: ok = %v (err %v), want %v", i, got, err, tc.wantOK[i])
				}
				if err != nil && !errors.Is(err, ErrNoSession) {
					t.Fatalf("step %d: err = %v, want ErrNoSession", i, err)
				}
			}
		})
	}
}

func TestManagerTouchThrottled(t *testing.T) {
	ctx := context.Background()
	st, c := newFakeStore(), newClock()
	m := newManager(t, st, c)
	_, cookie, _ := m.Create(ctx, "u", valet.ModeSession, "", "")
	for range 100 {
		c.advance(100 * time.Millisecond) // 10 s in all
		if _, err := m.LoadCookie(ctx, cookie); err != nil {
			t.Fatal(err)
		}
	}
	if st.touches != 0 {
		t.Fatalf("touches = %d within the first minute, want 0", st.touches)
	}
	c.advance(time.Minute)
	s, err := m.LoadCookie(ctx, cookie)
	if err != nil {
		t.Fatal(err)
	}
	if st.touches != 1 {
		t.Fatalf("touches = %d after a minute, want 1", st.touches)
	}
	if !s.LastSeenAt.Equal(c.now()) || !s.IdleExpiresAt.Equal(c.now().Add(24*time.Hour)) {
		t.Fatalf("touch did not slide the session: %+v", s)
	}
}

func TestManagerDestroy(t *testing.T) {
	ctx := context.Background()
	st, c := newFakeStore(), newClock()
	m := newManager(t, st, c)
	s, cookie, _ := m.Create(ctx, "u", valet.ModeSession, "", "")
	if ok, err := m.Destroy(ctx, s.ID); !ok || err != nil {
		t.Fatalf("Destroy = %v, %v", ok, err)
	}
	if _, err := m.LoadCookie(ctx, cookie); !errors.Is(err, ErrNoSession) {
		t.Fatalf("after destroy err = %v, want ErrNoSession", err)
	}
}

func BenchmarkDecode(b *testing.B) {
	c := NewCodec(testKey(b))
	v := c.Encode(valet.NewID())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Decode(v); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzDecodeCookie(f *testing.F) {
	key := []byte("fuzz-key-fuzz-key-fuzz-key-fuzz-key!")
	c := NewCodec(key)
	f.Add(c.Encode("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))
	f.Add("")
	f.Add(".")
	f.Fuzz(func(t *testing.T, v string) {
		secret, err := c.Decode(v)
		if err != nil {
			return
		}
		// Anything accepted must be exactly what Encode makes of its secret.
		if again := c.Encode(secret); again != v {
			t.Fatalf("accepted %q, but its canonical form is %q", v, again)
		}
	})
}

// TestManagerTokenLifetimes: a token-mode device session follows its
// refresh family's lifetimes, at creation and when a refresh touches it;
// other modes keep the session lifetimes.
func TestManagerTokenLifetimes(t *testing.T) {
	ctx := context.Background()
	st, c := newFakeStore(), newClock()
	m := NewManager(st, NewCodec(testKey(t)), Config{
		Lifetime: 7 * 24 * time.Hour, IdleTimeout: 24 * time.Hour,
		TokenLifetime: 30 * 24 * time.Hour, TokenIdleTimeout: 7 * 24 * time.Hour,
		TouchInterval: time.Minute, Now: c.now,
	})
	for _, tc := range []struct {
		mode           valet.Mode
		lifetime, idle time.Duration
	}{
		{valet.ModeToken, 30 * 24 * time.Hour, 7 * 24 * time.Hour},
		{valet.ModeHybrid, 7 * 24 * time.Hour, 24 * time.Hour},
		{valet.ModeSession, 7 * 24 * time.Hour, 24 * time.Hour},
	} {
		s, _, err := m.Create(ctx, "u", tc.mode, "", "")
		if err != nil {
			t.Fatal(err)
		}
		start := c.now()
		if !s.ExpiresAt.Equal(start.Add(tc.lifetime)) || !s.IdleExpiresAt.Equal(start.Add(tc.idle)) {
			t.Fatalf("%s: created with expiry %v and idle %v, want %v and %v", tc.mode, s.ExpiresAt, s.IdleExpiresAt, start.Add(tc.lifetime), start.Add(tc.idle))
		}
		c.advance(2 * 24 * time.Hour)
		got, err := m.Load(ctx, s.ID)
		if tc.idle < 2*24*time.Hour {
			if !errors.Is(err, ErrNoSession) {
				t.Fatalf("%s: loaded after two idle days: %v", tc.mode, err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if want := c.now().Add(tc.idle); !got.IdleExpiresAt.Equal(want) {
			t.Fatalf("%s: touched idle expiry %v, want %v", tc.mode, got.IdleExpiresAt, want)
		}
	}
}
