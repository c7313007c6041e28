package auth

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/testclock"
	"github.com/valetauth/valet/password"
	"github.com/valetauth/valet/store/memory"
	"github.com/valetauth/valet/token"
)

// fakeClock is the shared settable test clock.
type fakeClock = testclock.Clock

// newCacheService returns a Service on a memory store with the given token
// cache size, its clock, and an access token for a user with role "reader".
func newCacheService(tb testing.TB, cacheSize int) (*Service, *fakeClock, string) {
	tb.Helper()
	ctx := context.Background()
	clock := testclock.New(time.Now().Truncate(time.Second))
	st := memory.New(memory.WithClock(clock.Now))
	s, err := New(ctx, Config{
		Stores: st.Stores(), Mode: valet.ModeToken, TokenCache: cacheSize, Now: clock.Now,
		Logger: slog.New(slog.DiscardHandler),
		Hasher: password.NewHasher(password.Params{Memory: 8192, Iterations: 1, Parallelism: 1}, 0, 0),
	})
	if err != nil {
		tb.Fatal(err)
	}
	pw := "cache-" + valet.NewID()[:20]
	u, err := s.CreateUser(ctx, "cache@example.com", pw, []string{"reader"})
	if err != nil {
		tb.Fatal(err)
	}
	g, err := s.Login(ctx, u.Email, pw, valet.ModeToken, Client{})
	if err != nil {
		tb.Fatal(err)
	}
	return s, clock, g.AccessToken
}

// dropSigningKeys rotates to a new signing key and deletes every older one,
// as an operator who believes a key leaked would, then reloads the keys.
func dropSigningKeys(tb testing.TB, s *Service) {
	tb.Helper()
	ctx := context.Background()
	ks := s.cfg.Stores.Keys
	old, err := ks.SigningKeys(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := s.keys.Rotate(ctx); err != nil {
		tb.Fatal(err)
	}
	for _, k := range old {
		if err := ks.DeleteSigningKey(ctx, k.ID); err != nil {
			tb.Fatal(err)
		}
	}
	if err := s.keys.Load(ctx); err != nil {
		tb.Fatal(err)
	}
}

func TestTokenCache(t *testing.T) {
	tests := []struct {
		name  string
		cache int
		// advance moves the clock after the token's key was deleted.
		advance time.Duration
		wantErr error // nil: the token is still accepted
	}{
		{"cached token skips the signature check", 0, 0, nil},
		{"cached token is checked again after the cache TTL", 0, tokenCacheTTL, valet.ErrTokenInvalid},
		{"cache turned off checks every time", -1, 0, valet.ErrTokenInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, clock, tok := newCacheService(t, tc.cache)
			ctx := context.Background()
			if _, err := s.IdentifyBearer(ctx, tok); err != nil {
				t.Fatalf("first IdentifyBearer: %v", err)
			}
			dropSigningKeys(t, s)
			clock.Advance(tc.advance)
			_, err := s.IdentifyBearer(ctx, tok)
			if tc.wantErr == nil && err != nil {
				t.Fatalf("IdentifyBearer after the key was dropped: %v, want the cached answer", err)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("IdentifyBearer after the key was dropped: %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestTokenCacheExpiry(t *testing.T) {
	s, clock, tok := newCacheService(t, 0)
	ctx := context.Background()
	id, err := s.IdentifyBearer(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	// Just inside exp plus leeway the cached answer stands; at it, the
	// token has expired whatever the cache holds.
	clock.Advance(id.ExpiresAt.Sub(clock.Now()) + s.cfg.Leeway - time.Second)
	if _, err := s.IdentifyBearer(ctx, tok); err != nil {
		t.Fatalf("IdentifyBearer one second before exp+leeway: %v", err)
	}
	clock.Advance(time.Second)
	if _, err := s.IdentifyBearer(ctx, tok); !errors.Is(err, valet.ErrTokenExpired) {
		t.Fatalf("IdentifyBearer at exp+leeway: %v, want ErrTokenExpired", err)
	}
}

func TestTokenCacheRefusesAlteredToken(t *testing.T) {
	s, _, tok := newCacheService(t, 0)
	ctx := context.Background()
	if _, err := s.IdentifyBearer(ctx, tok); err != nil {
		t.Fatal(err)
	}
	// Flip the last character of the signature: a token that differs from a
	// cached one in any byte has another key and gets the full check.
	last := tok[len(tok)-1]
	alt := "A"
	if last == 'A' {
		alt = "B"
	}
	bad := tok[:len(tok)-1] + alt
	if _, err := s.IdentifyBearer(ctx, bad); !errors.Is(err, valet.ErrTokenInvalid) {
		t.Fatalf("IdentifyBearer(altered token): %v, want ErrTokenInvalid", err)
	}
}

func TestTokenCacheReturnsCopies(t *testing.T) {
	s, _, tok := newCacheService(t, 0)
	ctx := context.Background()
	for i := range 2 {
		id, err := s.IdentifyBearer(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := strings.Join(id.User.Roles, ","), "reader"; got != want {
			t.Fatalf("call %d: roles %q, want %q", i, got, want)
		}
		if got, want := strings.Join(id.AMR, ","), "pwd"; got != want {
			t.Fatalf("call %d: amr %q, want %q", i, got, want)
		}
		// A caller that changes what it got must not change the cache.
		id.User.Roles[0], id.AMR[0] = "admin", "hwk"
	}
	for i := range 2 {
		c, err := s.Introspect(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := strings.Join(c.Roles, ",")+" "+strings.Join(c.AMR, ",")+" "+strings.Join(c.Audience, ","), "reader pwd valet"; got != want {
			t.Fatalf("Introspect %d: roles, amr and aud %q, want %q", i, got, want)
		}
		c.Roles[0], c.AMR[0], c.Audience[0] = "admin", "hwk", "other"
	}
	if id, err := s.IdentifyBearer(ctx, tok); err != nil || id.User.Roles[0] != "reader" || id.AMR[0] != "pwd" {
		t.Fatalf("after the callers changed theirs: %v, %v", id, err)
	}
}

func TestTokenCacheBounded(t *testing.T) {
	const max = 64
	c := newTokenCache(max)
	now := time.Now()
	cl := token.Claims{ExpiresAt: now.Add(time.Hour).Unix(), Roles: []string{"r"}}
	for i := range 10 * max {
		c.put("token-"+strconv.Itoa(i), cl, now, 0)
		if got := c.entries.Len(); got > max {
			t.Fatalf("after %d puts the cache holds %d entries, want at most %d", i+1, got, max)
		}
	}
	key := "last"
	c.put(key, cl, now, 0)
	if _, ok := c.get(key, now); !ok {
		t.Fatal("the entry just put is not found")
	}
	if _, ok := c.get(key, now.Add(tokenCacheTTL)); ok {
		t.Fatal("an entry is found after tokenCacheTTL")
	}
}

// TestTokenCacheRemembersRefusals: a token refused for good is refused
// again from memory with the same error; a refusal that a later check
// could overturn (an unknown key) is not remembered; and a flood of
// refused tokens does not push out the valid ones.
func TestTokenCacheRemembersRefusals(t *testing.T) {
	s, clock, tok := newCacheService(t, 0)
	ctx := context.Background()
	bad := forge(tok)
	_, first := s.IdentifyBearer(ctx, bad)
	if !errors.Is(first, token.ErrSignatureInvalid) {
		t.Fatalf("altered token: %v", first)
	}
	if err, ok := s.tokens.refusal(bad, clock.Now()); !ok || err != first {
		t.Fatalf("the refusal is not remembered: %v, %v", err, ok)
	}
	if _, err := s.IdentifyBearer(ctx, bad); err != first {
		t.Fatalf("replayed altered token: %v, want %v", err, first)
	}
	// An expired token.
	if _, err := s.IdentifyBearer(ctx, tok); err != nil {
		t.Fatal(err)
	}
	clock.Advance(s.cfg.AccessTTL + s.cfg.Leeway + time.Minute)
	for range 2 {
		if _, err := s.IdentifyBearer(ctx, tok); !errors.Is(err, valet.ErrTokenExpired) {
			t.Fatalf("expired token: %v", err)
		}
	}
	if _, ok := s.tokens.refusal(tok, clock.Now()); !ok {
		t.Fatal("the expired token's refusal is not remembered")
	}
	// An unknown kid may be a key another node has just made.
	c := token.Claims{Subject: "u", ExpiresAt: clock.Now().Add(time.Minute).Unix()}
	other, _, _ := newCacheService(t, 0)
	foreign, err := other.SignClaims(&c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.IdentifyBearer(ctx, foreign); !errors.Is(err, token.ErrUnknownKey) {
		t.Fatalf("a token of another server: %v", err)
	}
	if _, ok := s.tokens.refusal(foreign, clock.Now()); ok {
		t.Fatal("an unknown key's refusal is remembered")
	}
	// A flood of refused tokens stays bounded and apart.
	for i := range refusedMax + 10 {
		s.tokens.refuse("refused-"+strconv.Itoa(i), token.ErrSignatureInvalid, clock.Now())
	}
	if n := s.tokens.refused.Len(); n > refusedMax {
		t.Fatalf("%d refusals remembered, more than %d", n, refusedMax)
	}
}

// BenchmarkIdentifyBearerReplay compares a valid token presented again with
// an expired one and a forged one presented again: an attacker who replays
// a refused token must not cost more than a client with a good one.
func BenchmarkIdentifyBearerReplay(b *testing.B) {
	ctx := context.Background()
	s, clock, tok := newCacheService(b, 0)
	forged := forge(tok)
	cases := []struct {
		name string
		tok  string
		want error
	}{
		{"valid", tok, nil},
		{"forged", forged, valet.ErrTokenInvalid},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := s.IdentifyBearer(ctx, c.tok); !errors.Is(err, c.want) && (c.want != nil || err != nil) {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("expired", func(b *testing.B) {
		clock.Advance(s.cfg.AccessTTL + s.cfg.Leeway + time.Second)
		defer clock.Advance(-(s.cfg.AccessTTL + s.cfg.Leeway + time.Second))
		for b.Loop() {
			if _, err := s.IdentifyBearer(ctx, tok); !errors.Is(err, valet.ErrTokenExpired) {
				b.Fatal(err)
			}
		}
	})
}

// forge changes one character in the middle of tok's signature, where every
// base64url character is canonical, so the token still parses.
func forge(tok string) string {
	i := len(tok) - 10
	c := byte('A')
	if tok[i] == 'A' {
		c = 'B'
	}
	return tok[:i] + string(c) + tok[i+1:]
}
