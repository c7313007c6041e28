package client_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/auth"
	"github.com/valetauth/valet/client"
	"github.com/valetauth/valet/httpapi"
	"github.com/valetauth/valet/internal/testclock"
	"github.com/valetauth/valet/password"
	"github.com/valetauth/valet/store/memory"
)

const pw = "correct horse battery"

// clock is the shared settable test clock.
type clock = testclock.Clock

func newClock() *clock { return testclock.New(time.Now().UTC().Truncate(time.Second)) }

// server is valet (auth + httpapi on a memory store) on a real listener,
// whose clock the test moves.
type server struct {
	URL   string
	svc   *auth.Service
	clock *clock
}

func startServer(tb testing.TB) *server {
	tb.Helper()
	clk := newClock()
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, err := auth.New(ctx, auth.Config{
		Stores: memory.New(memory.WithClock(clk.Now)).Stores(),
		Hasher: password.NewHasher(password.Params{Memory: 8 * 1024, Iterations: 1, Parallelism: 1}, 0, 0),
		Now:    clk.Now,
		Logger: log,
	})
	if err != nil {
		tb.Fatal(err)
	}
	ts := httptest.NewServer(httpapi.New(svc, httpapi.Config{Logger: log}))
	tb.Cleanup(ts.Close)
	return &server{URL: ts.URL, svc: svc, clock: clk}
}

// newClient returns a client of s whose clock is s's.
func newClient(tb testing.TB, s *server) *client.Client {
	tb.Helper()
	c, err := client.New(s.URL, client.WithClock(s.clock.Now))
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// apiCode returns the code of an *client.Error, or "" for any other error.
func apiCode(err error) string {
	var e *client.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func TestSignupAndLoginErrors(t *testing.T) {
	s := startServer(t)
	c := newClient(t, s)
	ctx := context.Background()
	u, err := c.Signup(ctx, "Ann@Example.com", pw)
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != "ann@example.com" || u.ID == "" || u.CreatedAt.IsZero() || u.Roles == nil {
		t.Fatalf("Signup = %+v", u)
	}
	tests := []struct {
		name     string
		do       func() error
		code     string
		status   int
		sentinel error
	}{
		{"email taken", func() error { _, err := c.Signup(ctx, "ann@example.com", pw); return err }, "conflict", 409, valet.ErrConflict},
		{"weak password", func() error { _, err := c.Signup(ctx, "bob@example.com", "short"); return err }, "invalid_request", 400, valet.ErrInvalidRequest},
		{"wrong password", func() error { _, err := c.Login(ctx, "ann@example.com", "wrong password!", ""); return err },
			"invalid_credentials", 401, valet.ErrInvalidCredentials},
		{"unknown email", func() error { _, err := c.Login(ctx, "nobody@example.com", pw, ""); return err },
			"invalid_credentials", 401, valet.ErrInvalidCredentials},
		{"not logged in", func() error { _, err := c.Me(ctx); return err }, "unauthenticated", 401, valet.ErrUnauthenticated},
		{"bad mode", func() error { _, err := c.Login(ctx, "ann@example.com", pw, "forever"); return err }, "invalid_request", 400, valet.ErrInvalidRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do()
			var e *client.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want an *client.Error", err)
			}
			if e.Code != tc.code || e.Status != tc.status || e.Message == "" {
				t.Fatalf("err = %+v, want code %s status %d with a message", e, tc.code, tc.status)
			}
			if !errors.Is(err, tc.sentinel) {
				t.Fatalf("errors.Is(%v, %v) = false", err, tc.sentinel)
			}
		})
	}
}

func TestSessionMode(t *testing.T) {
	s := startServer(t)
	c := newClient(t, s)
	ctx := context.Background()
	if _, err := c.Signup(ctx, "ann@example.com", pw); err != nil {
		t.Fatal(err)
	}
	g, err := c.Login(ctx, "ann@example.com", pw, valet.ModeSession)
	if err != nil {
		t.Fatal(err)
	}
	if g.Mode != valet.ModeSession || g.SessionID == "" || g.AccessToken != "" || c.Tokens() != (client.Tokens{}) {
		t.Fatalf("session login = %+v, tokens %+v", g, c.Tokens())
	}
	me, err := c.Me(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if me.Mode != valet.ModeSession || me.SessionID != g.SessionID || me.User.Email != "ann@example.com" {
		t.Fatalf("Me = %+v", me)
	}

	// A second device: its session shows up, not current, and can be ended.
	other := newClient(t, s)
	og, err := other.Login(ctx, "ann@example.com", pw, valet.ModeSession)
	if err != nil {
		t.Fatal(err)
	}
	ss, err := c.Sessions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	current := map[string]bool{}
	for _, x := range ss {
		current[x.ID] = x.Current
	}
	if len(ss) != 2 || !current[g.SessionID] || current[og.SessionID] {
		t.Fatalf("Sessions = %+v, want this one current and the other not", ss)
	}
	if err := c.RevokeSession(ctx, og.SessionID); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Me(ctx); apiCode(err) != "unauthenticated" {
		t.Fatalf("Me on a revoked session: %v, want unauthenticated", err)
	}
	if err := c.RevokeSession(ctx, "no-such-session"); apiCode(err) != "not_found" {
		t.Fatalf("RevokeSession of an unknown id: %v, want not_found", err)
	}

	if err := c.ChangePassword(ctx, "wrong password!", "a new long password"); !errors.Is(err, valet.ErrInvalidCredentials) {
		t.Fatalf("ChangePassword with a wrong current password: %v", err)
	}
	if err := c.ChangePassword(ctx, pw, "a new long password"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Me(ctx); err != nil {
		t.Fatalf("the session that changed the password ended: %v", err)
	}
	if err := c.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Me(ctx); apiCode(err) != "unauthenticated" {
		t.Fatalf("Me after Logout: %v, want unauthenticated", err)
	}
	if _, err := c.Login(ctx, "ann@example.com", "a new long password", valet.ModeSession); err != nil {
		t.Fatalf("login with the new password: %v", err)
	}
}

func TestTokenModeRefreshes(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	c := newClient(t, s)
	if _, err := c.Signup(ctx, "ann@example.com", pw); err != nil {
		t.Fatal(err)
	}
	g, err := c.Login(ctx, "ann@example.com", pw, valet.ModeToken)
	if err != nil {
		t.Fatal(err)
	}
	if g.Mode != valet.ModeToken || g.AccessToken == "" || g.RefreshToken == "" || !g.ExpiresAt.Equal(s.clock.Now().Add(15*time.Minute)) {
		t.Fatalf("token login = %+v", g)
	}

	// Close to expiry, the client refreshes before it calls.
	s.clock.Advance(14*time.Minute + 45*time.Second)
	me, err := c.Me(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if me.Mode != valet.ModeToken {
		t.Fatalf("Me = %+v", me)
	}
	after := c.Tokens()
	if after.AccessToken == g.AccessToken || after.RefreshToken == g.RefreshToken {
		t.Fatal("the client did not refresh a token 15 s from expiry")
	}

	// A server whose clock runs ahead says the token expired: the client
	// refreshes and calls again.
	skewed, err := client.New(s.URL, client.WithClock(func() time.Time { return s.clock.Now().Add(-time.Hour) }))
	if err != nil {
		t.Fatal(err)
	}
	skewed.SetTokens(c.Tokens())
	s.clock.Advance(16 * time.Minute)
	if _, err := skewed.Me(ctx); err != nil {
		t.Fatalf("Me with an access token the server calls expired: %v", err)
	}
	if skewed.Tokens().AccessToken == after.AccessToken {
		t.Fatal("the client did not refresh after token_expired")
	}

	// The old refresh token, used after the grace window, is theft: the
	// family dies and the client forgets what it held.
	s.clock.Advance(time.Minute)
	c.SetTokens(client.Tokens{RefreshToken: g.RefreshToken})
	if _, err := c.Refresh(ctx); !errors.Is(err, valet.ErrInvalidGrant) {
		t.Fatalf("Refresh with a reused token: %v, want invalid_grant", err)
	}
	if c.Tokens() != (client.Tokens{}) {
		t.Fatalf("tokens after invalid_grant = %+v, want none", c.Tokens())
	}
	if _, err := c.Refresh(ctx); !errors.Is(err, valet.ErrUnauthenticated) {
		t.Fatalf("Refresh holding nothing: %v", err)
	}
	if _, err := skewed.Refresh(ctx); !errors.Is(err, valet.ErrInvalidGrant) {
		t.Fatalf("Refresh in the family of a reused token: %v, want invalid_grant", err)
	}
}

func TestHybridLogoutAndIntrospection(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	if _, err := s.svc.CreateUser(ctx, "orders@svc.example.com", pw, []string{"service"}); err != nil {
		t.Fatal(err)
	}
	svcClient := newClient(t, s)
	if _, err := svcClient.Login(ctx, "orders@svc.example.com", pw, valet.ModeToken); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, s)
	if _, err := c.Signup(ctx, "ann@example.com", pw); err != nil {
		t.Fatal(err)
	}
	g, err := c.Login(ctx, "ann@example.com", pw, valet.ModeHybrid)
	if err != nil {
		t.Fatal(err)
	}
	if g.Mode != valet.ModeHybrid || g.SessionID == "" {
		t.Fatalf("hybrid login = %+v", g)
	}
	in, err := svcClient.Introspect(ctx, g.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if !in.Active || in.SessionID != g.SessionID || in.Subject != g.User.ID || in.Email != "ann@example.com" || !in.ExpiresAt.Equal(g.ExpiresAt) {
		t.Fatalf("Introspect = %+v, grant %+v", in, g)
	}
	if _, err := c.Introspect(ctx, g.AccessToken); apiCode(err) != "forbidden" {
		t.Fatalf("Introspect by a plain user: %v, want forbidden", err)
	}
	if err := c.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	if in, err := svcClient.Introspect(ctx, g.AccessToken); err != nil || in.Active {
		t.Fatalf("Introspect after logout = %+v, %v; want inactive", in, err)
	}
	if err := c.Logout(ctx); err != nil {
		t.Fatalf("Logout holding nothing: %v", err)
	}
}

// Answers that are not in the contract's shape still become *Error values.
func TestErrorsFromElsewhere(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		retryAfter string
		code       string
		wait       time.Duration
	}{
		{"proxy page", 502, "<html>Bad Gateway</html>", "", "unavailable", 0},
		{"rate limited", 429, `{"error":"rate_limited","message":"Too many attempts; try again later."}`, "7", "rate_limited", 7 * time.Second},
		{"plain 500", 500, "oops", "", "internal", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			t.Cleanup(ts.Close)
			c, err := client.New(ts.URL)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Login(context.Background(), "a@example.com", pw, "")
			var e *client.Error
			if !errors.As(err, &e) || e.Code != tc.code || e.Status != tc.status || e.RetryAfter != tc.wait || e.Message == "" {
				t.Fatalf("err = %#v, want code %s status %d wait %v", err, tc.code, tc.status, tc.wait)
			}
		})
	}
}

func TestNewRefusesBadURLs(t *testing.T) {
	for _, u := range []string{"", "auth.example.com", "ftp://auth.example.com", "http://"} {
		t.Run(u, func(t *testing.T) {
			if _, err := client.New(u); !errors.Is(err, valet.ErrInvalidRequest) {
				t.Fatalf("New(%q) = %v, want ErrInvalidRequest", u, err)
			}
		})
	}
}

// A server that is not there is valet.ErrUnavailable, not a net error.
func TestUnreachable(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	url := ts.URL
	ts.Close()
	c, err := client.New(url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Signup(context.Background(), "a@example.com", pw); !errors.Is(err, valet.ErrUnavailable) {
		t.Fatalf("Signup to a closed port: %v, want ErrUnavailable", err)
	}
}
