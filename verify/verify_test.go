package verify_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/auth"
	"github.com/valetauth/valet/client"
	"github.com/valetauth/valet/middleware"
	"github.com/valetauth/valet/token"
	"github.com/valetauth/valet/verify"
)

// foreignToken signs claims that valet would accept, with a key valet never
// had, under kid.
func foreignToken(tb testing.TB, kid string, now time.Time) string {
	tb.Helper()
	k, err := token.GenerateKey(token.EdDSA)
	if err != nil {
		tb.Fatal(err)
	}
	if kid != "" {
		der, err := k.MarshalPrivate()
		if err != nil {
			tb.Fatal(err)
		}
		if k, err = token.ParsePrivateKey(kid, token.EdDSA, der); err != nil {
			tb.Fatal(err)
		}
	}
	tok, err := token.NewKeySet(k).Sign(&token.Claims{Issuer: "valet", Audience: token.Audience{"valet"}, Subject: "intruder",
		Roles: []string{"admin"}, IssuedAt: now.Unix(), ExpiresAt: now.Add(10 * time.Minute).Unix()})
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

func kidOf(tb testing.TB, tok string) string {
	tb.Helper()
	h, _, err := token.ParseUnverified(tok)
	if err != nil {
		tb.Fatal(err)
	}
	kid, _ := h["kid"].(string)
	return kid
}

func TestIdentifiesValetTokens(t *testing.T) {
	s := startValet(t, auth.Config{})
	ctx := context.Background()
	v, err := verify.New(ctx, s.URL, verify.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	g := s.login(t, "clerk@example.com", valet.ModeToken, "clerk")
	id, err := v.IdentifyBearer(ctx, g.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if id.User.ID != g.User.ID || id.User.Email != "clerk@example.com" || !slices.Equal(id.User.Roles, []string{"clerk"}) ||
		id.Mode != valet.ModeToken || id.SessionID != g.Session.ID || id.TokenID == "" || id.ExpiresAt.IsZero() {
		t.Fatalf("identity = %+v", id)
	}

	tests := []struct {
		name string
		tok  string
		want error
	}{
		{"garbage", "not-a-token", valet.ErrTokenInvalid},
		{"tampered", g.AccessToken[:len(g.AccessToken)-3] + "AAA", valet.ErrTokenInvalid},
		{"foreign key", foreignToken(t, "", time.Now()), token.ErrUnknownKey},
		{"foreign key under valet's kid", foreignToken(t, kidOf(t, g.AccessToken), time.Now()), token.ErrSignatureInvalid},
		// Without a way to learn of revocations, hybrid tokens are refused.
		{"hybrid without a revocation source", s.login(t, "h@example.com", valet.ModeHybrid).AccessToken, valet.ErrTokenInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := v.IdentifyBearer(ctx, tc.tok); !errors.Is(err, tc.want) {
				t.Fatalf("IdentifyBearer = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestOtherIssuerOrAudience(t *testing.T) {
	s := startValet(t, auth.Config{Issuer: "https://auth.example.com", Audience: "shop"})
	g := s.login(t, "a@example.com", valet.ModeToken)
	tests := []struct {
		name string
		opts []verify.Option
		want error
	}{
		{"defaults expect valet", nil, token.ErrIssuer},
		{"right issuer, wrong audience", []verify.Option{verify.WithIssuer("https://auth.example.com")}, token.ErrAudience},
		{"both right", []verify.Option{verify.WithIssuer("https://auth.example.com"), verify.WithAudience("shop")}, nil},
		{"checks off", []verify.Option{verify.WithIssuer(""), verify.WithAudience("")}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := verify.New(context.Background(), s.URL, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(context.Background(), g.AccessToken); !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

// After a rotation the verifier trusts the new key's tokens and the old
// key's alike; it refuses a token only when its key is truly unknown: a
// foreign key, or one that has left valet's set.
func TestKeyRotation(t *testing.T) {
	start := time.Now().UTC().Truncate(time.Second)
	vc, cc := newClock(start), newClock(start) // valet's clock, the service's
	s := startValet(t, auth.Config{Now: vc.Now})
	ctx := context.Background()
	v, err := verify.New(ctx, s.URL, verify.WithClock(cc.Now), verify.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	old := s.login(t, "a@example.com", valet.ModeToken).AccessToken
	if _, err := v.Verify(ctx, old); err != nil {
		t.Fatalf("token before rotation: %v", err)
	}

	if _, err := s.svc.RotateKeys(ctx); err != nil {
		t.Fatal(err)
	}
	g, err := s.svc.Login(ctx, "a@example.com", pw, valet.ModeToken, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	fresh := g.AccessToken
	if kidOf(t, fresh) == kidOf(t, old) {
		t.Fatal("rotation did not change the signing key")
	}
	// The keys were fetched a moment ago: the bound holds back another
	// fetch, even for a key that valet does have.
	hits := s.jwksHits.Load()
	if _, err := v.Verify(ctx, fresh); !errors.Is(err, token.ErrUnknownKey) {
		t.Fatalf("new key within 30 s of the last fetch: %v, want ErrUnknownKey", err)
	}
	if got := s.jwksHits.Load(); got != hits {
		t.Fatalf("keys fetched %d times within the bound", got-hits)
	}
	cc.Advance(31 * time.Second)
	if _, err := v.Verify(ctx, fresh); err != nil {
		t.Fatalf("token of the new key: %v", err)
	}
	if _, err := v.Verify(ctx, old); err != nil {
		t.Fatalf("token of the retired key: %v", err)
	}

	// Made-up key ids cost one fetch per 30 s at most.
	cc.Advance(31 * time.Second)
	hits = s.jwksHits.Load()
	for range 50 {
		if _, err := v.Verify(ctx, foreignToken(t, "", cc.Now())); !errors.Is(err, token.ErrUnknownKey) {
			t.Fatalf("foreign token: %v, want ErrUnknownKey", err)
		}
	}
	if got := s.jwksHits.Load() - hits; got != 1 {
		t.Fatalf("50 unknown kids fetched the keys %d times, want 1", got)
	}

	// The old key leaves valet's set once every token it signed has expired
	// by valet's clock; the service's clock lags, so to it the old token is
	// still within its exp, and it is refused for its key alone once the
	// cached keys are due again.
	vc.Advance(16 * time.Minute)
	if n, err := s.svc.PruneKeys(ctx); err != nil || n != 1 {
		t.Fatalf("Prune = %d, %v; want 1", n, err)
	}
	if _, err := v.Verify(ctx, old); err != nil {
		t.Fatalf("old token while the cached keys are fresh: %v", err)
	}
	cc.Advance(5 * time.Minute)
	_, err = v.Verify(ctx, old)
	if !errors.Is(err, token.ErrUnknownKey) || errors.Is(err, valet.ErrTokenExpired) {
		t.Fatalf("token of a key that left the set: %v, want ErrUnknownKey", err)
	}
	if _, err := v.Verify(ctx, fresh); err != nil {
		t.Fatalf("token of the current key after the refetch: %v", err)
	}
}

// When valet cannot be reached the keys in hand stay in use.
func TestKeysSurviveAnOutage(t *testing.T) {
	cc := newClock(time.Now())
	s := startValet(t, auth.Config{})
	ctx := context.Background()
	v, err := verify.New(ctx, s.URL, verify.WithClock(cc.Now), verify.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	tok := s.login(t, "a@example.com", valet.ModeToken).AccessToken
	s.unavailable.Store(true)
	cc.Advance(6 * time.Minute)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("Verify while valet is down: %v", err)
	}
	if err := v.Refresh(ctx); !errors.Is(err, valet.ErrUnavailable) {
		t.Fatalf("Refresh while valet is down: %v, want ErrUnavailable", err)
	}
	if _, err := verify.New(ctx, s.URL); !errors.Is(err, valet.ErrUnavailable) {
		t.Fatalf("New while valet is down: %v, want ErrUnavailable", err)
	}
}

func TestNewRefuses(t *testing.T) {
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"keys": "nope"}`))
	}))
	t.Cleanup(bad.Close)
	tests := []struct {
		name, url string
		want      error
	}{
		{"no scheme", "auth.example.com", valet.ErrInvalidRequest},
		{"not http", "ftp://auth.example.com", valet.ErrInvalidRequest},
		{"malformed JWKS", bad.URL, valet.ErrInvalidRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := verify.New(context.Background(), tc.url); !errors.Is(err, tc.want) {
				t.Fatalf("New(%q) = %v, want %v", tc.url, err, tc.want)
			}
		})
	}
}

// serviceClient returns a client logged in (token mode) as a user of role
// service, for introspection.
func serviceClient(tb testing.TB, s *valetServer) *client.Client {
	tb.Helper()
	ctx := context.Background()
	if _, err := s.svc.CreateUser(ctx, "orders@svc.example.com", pw, []string{"service"}); err != nil {
		tb.Fatal(err)
	}
	c, err := client.New(s.URL)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := c.Login(ctx, "orders@svc.example.com", pw, valet.ModeToken); err != nil {
		tb.Fatal(err)
	}
	return c
}

// A hybrid token is refused within a second of its logout, learnt by
// introspection with a short cache.
func TestHybridRevocationByIntrospection(t *testing.T) {
	s := startValet(t, auth.Config{})
	ctx := context.Background()
	v, err := verify.New(ctx, s.URL, verify.WithIntrospection(serviceClient(t, s).AccessToken, 300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	h := s.login(t, "a@example.com", valet.ModeHybrid).AccessToken
	id, err := v.IdentifyBearer(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	if id.Mode != valet.ModeHybrid || id.SessionID == "" {
		t.Fatalf("identity = %+v", id)
	}

	// Concurrent checks of one session share one introspection.
	s.introHits.Store(0)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := v.Verify(ctx, h); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := s.introHits.Load(); got > 1 {
		t.Fatalf("20 checks within the TTL introspected %d times, want at most 1", got)
	}

	s.logout(t, h)
	took := within(t, time.Second, "revoked hybrid token refused", func() bool {
		_, err := v.Verify(ctx, h)
		return errors.Is(err, valet.ErrRevoked) && errors.Is(err, valet.ErrTokenInvalid)
	})
	t.Logf("refused %v after logout", took)

	// The refusal is remembered: no more introspection for that session.
	s.introHits.Store(0)
	for range 5 {
		if _, err := v.Verify(ctx, h); err == nil {
			t.Fatal("a revoked token passed")
		}
	}
	if got := s.introHits.Load(); got != 0 {
		t.Fatalf("a revoked session was introspected %d more times", got)
	}

	// Token-mode tokens need no introspection.
	if _, err := v.Verify(ctx, s.login(t, "b@example.com", valet.ModeToken).AccessToken); err != nil || s.introHits.Load() != 0 {
		t.Fatalf("token-mode Verify = %v with %d introspections", err, s.introHits.Load())
	}
}

func TestIntrospectionFailures(t *testing.T) {
	s := startValet(t, auth.Config{})
	ctx := context.Background()
	plain, err := client.New(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.svc.CreateUser(ctx, "plain@example.com", pw, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := plain.Login(ctx, "plain@example.com", pw, valet.ModeToken); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		credential func(context.Context) (string, error)
		down       bool
	}{
		{"credential without role service", plain.AccessToken, false},
		{"credential fails", func(context.Context) (string, error) { return "", errors.New("vault sealed") }, false},
		{"valet down", serviceClient(t, s).AccessToken, true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := verify.New(ctx, s.URL, verify.WithIntrospection(tc.credential, time.Second))
			if err != nil {
				t.Fatal(err)
			}
			h := s.login(t, fmt.Sprintf("h%d@example.com", i), valet.ModeHybrid).AccessToken
			s.unavailable.Store(tc.down)
			t.Cleanup(func() { s.unavailable.Store(false) })
			if _, err := v.Verify(ctx, h); !errors.Is(err, valet.ErrUnavailable) {
				t.Fatalf("Verify = %v, want ErrUnavailable", err)
			}
		})
	}
}

// ordersService is a service that is not valet: it trusts valet's tokens
// through a Verifier behind the middleware.
func ordersService(v *verify.Verifier) http.Handler {
	mw := middleware.New(v, middleware.Config{Permissions: middleware.Permissions{
		"admin": {"*"}, "clerk": {"orders:read", "orders:write"},
	}})
	mux := http.NewServeMux()
	mux.Handle("GET /orders", mw.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := valet.UserFrom(r.Context())
		fmt.Fprintf(w, "orders of %s", u.Email)
	})))
	mux.Handle("POST /orders", mw.RequirePermission("orders:write")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
	})))
	return mw.Authenticate(mux)
}

func TestOrdersService(t *testing.T) {
	s := startValet(t, auth.Config{})
	ctx := context.Background()
	v, err := verify.New(ctx, s.URL, verify.WithIntrospection(serviceClient(t, s).AccessToken, 200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	orders := httptest.NewServer(ordersService(v))
	t.Cleanup(orders.Close)

	clerk := s.login(t, "clerk@example.com", valet.ModeHybrid, "clerk").AccessToken
	viewer := s.login(t, "viewer@example.com", valet.ModeToken).AccessToken
	call := func(method, tok string) int {
		req, err := http.NewRequest(method, orders.URL+"/orders", nil)
		if err != nil {
			t.Fatal(err)
		}
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	tests := []struct {
		name, method, tok string
		want              int
	}{
		{"clerk reads", "GET", clerk, 200},
		{"clerk writes", "POST", clerk, 201},
		{"viewer reads", "GET", viewer, 200},
		{"viewer may not write", "POST", viewer, 403},
		{"anonymous", "GET", "", 401},
		{"foreign token", "GET", foreignToken(t, "", time.Now()), 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := call(tc.method, tc.tok); got != tc.want {
				t.Fatalf("%s /orders = %d, want %d", tc.method, got, tc.want)
			}
		})
	}
	s.logout(t, clerk)
	within(t, time.Second, "orders refuses the revoked clerk", func() bool { return call("GET", clerk) == 401 })
}

// The options that token and verify share mean the same in both: a
// negative leeway and a nil clock are programmer errors in each.
func TestOptionsMatchToken(t *testing.T) {
	for name, f := range map[string]func(){
		"token.WithLeeway(-1)":  func() { token.WithLeeway(-1) },
		"verify.WithLeeway(-1)": func() { verify.WithLeeway(-1) },
		"token.WithClock(nil)":  func() { token.WithClock(nil) },
		"verify.WithClock(nil)": func() { verify.WithClock(nil) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", name)
				}
			}()
			f()
		})
	}
}
