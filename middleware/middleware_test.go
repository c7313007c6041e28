package middleware_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/auth"
	"github.com/valetauth/valet/middleware"
	"github.com/valetauth/valet/token"
)

var testPermissions = middleware.Permissions{
	"admin": {"*"},
	"clerk": {"orders:read", "orders:write"},
}

// whoami answers with the signed-in user's email, or "anonymous".
func whoami(w http.ResponseWriter, r *http.Request) {
	if u, ok := valet.UserFrom(r.Context()); ok {
		fmt.Fprint(w, u.Email)
		return
	}
	fmt.Fprint(w, "anonymous")
}

// routes is an application on net/http's ServeMux: a public page, a page
// for signed-in users, one for admins and one that needs a permission.
func routes(mw *middleware.Middleware) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /public", whoami)
	mux.Handle("GET /private", mw.Require(http.HandlerFunc(whoami)))
	mux.Handle("GET /admin", mw.RequireRole("admin")(http.HandlerFunc(whoami)))
	mux.Handle("POST /orders", mw.RequirePermission("orders:write")(http.HandlerFunc(whoami)))
	return mw.Authenticate(mux)
}

// tamper changes the last characters of a token or cookie, breaking its
// signature or MAC while keeping its shape.
func tamper(s string) string {
	if strings.HasSuffix(s, "AA") {
		return s[:len(s)-2] + "BA"
	}
	return s[:len(s)-2] + "AA"
}

func TestMiddleware(t *testing.T) {
	type setup func(t *testing.T, svc *auth.Service, clk *clock) call
	bearer := func(mode valet.Mode, roles ...string) setup {
		return func(t *testing.T, svc *auth.Service, _ *clock) call {
			return call{bearer: login(t, svc, "u@example.com", mode, roles...).AccessToken}
		}
	}
	cookie := func(roles ...string) setup {
		return func(t *testing.T, svc *auth.Service, _ *clock) call {
			return call{cookie: login(t, svc, "u@example.com", valet.ModeSession, roles...).Cookie}
		}
	}
	anonymous := func(*testing.T, *auth.Service, *clock) call { return call{} }

	tests := []struct {
		name    string
		setup   setup
		method  string
		path    string
		browser bool
		// want is the status; code the JSON error code; body the response
		// of a request that passed; location the redirect target.
		want       int
		code       string
		body       string
		location   string
		challenge  string
		noJSONBody bool
	}{
		{name: "no credential", setup: anonymous, path: "/private", want: 401, code: "unauthenticated", challenge: "Bearer"},
		{name: "no credential, browser", setup: anonymous, path: "/private?tab=2", browser: true,
			want: 303, location: "/login?return_to=%2Fprivate%3Ftab%3D2"},
		{name: "no credential, public page", setup: anonymous, path: "/public", want: 200, body: "anonymous"},
		{name: "malformed bearer", path: "/private", want: 401, code: "invalid_token", challenge: `Bearer error="invalid_token"`,
			setup: func(*testing.T, *auth.Service, *clock) call { return call{bearer: "not-a-token"} }},
		{name: "bearer with a bad signature", path: "/private", want: 401, code: "invalid_token", challenge: `Bearer error="invalid_token"`,
			setup: func(t *testing.T, svc *auth.Service, clk *clock) call {
				c := bearer(valet.ModeToken)(t, svc, clk)
				c.bearer = tamper(c.bearer)
				return c
			}},
		{name: "bearer signed by a foreign key", path: "/private", want: 401, code: "invalid_token",
			setup: func(t *testing.T, svc *auth.Service, clk *clock) call {
				k, err := token.GenerateKey(token.EdDSA)
				if err != nil {
					t.Fatal(err)
				}
				now := clk.Now()
				tok, err := token.NewKeySet(k).Sign(&token.Claims{Issuer: "valet", Audience: token.Audience{"valet"},
					Subject: "intruder", Roles: []string{"admin"}, IssuedAt: now.Unix(), ExpiresAt: now.Add(time.Minute).Unix()})
				if err != nil {
					t.Fatal(err)
				}
				return call{bearer: tok}
			}},
		{name: "expired bearer", path: "/private", want: 401, code: "token_expired", challenge: `Bearer error="invalid_token"`,
			setup: func(t *testing.T, svc *auth.Service, clk *clock) call {
				c := bearer(valet.ModeToken)(t, svc, clk)
				clk.Advance(16 * time.Minute)
				return c
			}},
		{name: "revoked hybrid bearer", path: "/private", want: 401, code: "invalid_token",
			setup: func(t *testing.T, svc *auth.Service, clk *clock) call {
				c := bearer(valet.ModeHybrid)(t, svc, clk)
				id, err := svc.IdentifyBearer(context.Background(), c.bearer)
				if err != nil {
					t.Fatal(err)
				}
				if err := svc.Logout(context.Background(), id, auth.Client{}); err != nil {
					t.Fatal(err)
				}
				return c
			}},
		{name: "bad bearer, public page", path: "/public", want: 200, body: "anonymous",
			setup: func(*testing.T, *auth.Service, *clock) call { return call{bearer: "not-a-token"} }},
		{name: "bad bearer wins over a good cookie", path: "/private", want: 401, code: "invalid_token",
			setup: func(t *testing.T, svc *auth.Service, clk *clock) call {
				c := cookie()(t, svc, clk)
				c.bearer = "not-a-token"
				return c
			}},
		{name: "bad bearer, browser", path: "/private", browser: true, want: 401, code: "invalid_token",
			setup: func(*testing.T, *auth.Service, *clock) call { return call{bearer: "not-a-token"} }},
		{name: "cookie with a bad MAC", path: "/private", want: 401, code: "unauthenticated",
			setup: func(t *testing.T, svc *auth.Service, clk *clock) call {
				c := cookie()(t, svc, clk)
				c.cookie = tamper(c.cookie)
				return c
			}},
		{name: "cookie with a bad MAC, browser", path: "/private", browser: true, want: 303, location: "/login?return_to=%2Fprivate",
			setup: func(t *testing.T, svc *auth.Service, clk *clock) call {
				c := cookie()(t, svc, clk)
				c.cookie = tamper(c.cookie)
				return c
			}},
		{name: "expired session cookie", path: "/private", want: 401, code: "unauthenticated",
			setup: func(t *testing.T, svc *auth.Service, clk *clock) call {
				c := cookie()(t, svc, clk)
				clk.Advance(25 * time.Hour)
				return c
			}},
		{name: "cookie of a session logged out", path: "/private", want: 401, code: "unauthenticated",
			setup: func(t *testing.T, svc *auth.Service, clk *clock) call {
				c := cookie()(t, svc, clk)
				id, err := svc.IdentifyCookie(context.Background(), c.cookie)
				if err != nil {
					t.Fatal(err)
				}
				if err := svc.Logout(context.Background(), id, auth.Client{}); err != nil {
					t.Fatal(err)
				}
				return c
			}},
		{name: "cookie", setup: cookie(), path: "/private", want: 200, body: "u@example.com"},
		{name: "cookie, public page", setup: cookie(), path: "/public", want: 200, body: "u@example.com"},
		{name: "token bearer", setup: bearer(valet.ModeToken), path: "/private", want: 200, body: "u@example.com"},
		{name: "hybrid bearer", setup: bearer(valet.ModeHybrid), path: "/private", want: 200, body: "u@example.com"},
		{name: "wrong role, bearer", setup: bearer(valet.ModeToken, "clerk"), path: "/admin",
			want: 403, code: "forbidden", challenge: `Bearer error="insufficient_scope"`},
		{name: "wrong role, cookie", setup: cookie(), path: "/admin", want: 403, code: "forbidden"},
		{name: "wrong role, browser", setup: cookie(), path: "/admin", browser: true, want: 403, noJSONBody: true},
		{name: "no role, anonymous", setup: anonymous, path: "/admin", want: 401, code: "unauthenticated"},
		{name: "right role, bearer", setup: bearer(valet.ModeToken, "admin"), path: "/admin", want: 200, body: "u@example.com"},
		{name: "right role, cookie", setup: cookie("admin"), path: "/admin", want: 200, body: "u@example.com"},
		{name: "permission granted", setup: bearer(valet.ModeToken, "clerk"), method: "POST", path: "/orders", want: 200, body: "u@example.com"},
		{name: "permission granted by *", setup: cookie("admin"), method: "POST", path: "/orders", want: 200, body: "u@example.com"},
		{name: "permission not granted", setup: bearer(valet.ModeToken, "viewer"), method: "POST", path: "/orders", want: 403, code: "forbidden"},
		{name: "permission, anonymous", setup: anonymous, method: "POST", path: "/orders", want: 401, code: "unauthenticated"},
		{name: "permission, anonymous browser posting", setup: anonymous, method: "POST", path: "/orders", browser: true,
			want: 303, location: "/login"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svc, clk := newService(t)
			mw := middleware.New(svc, middleware.Config{LoginURL: "/login", Permissions: testPermissions, Logger: quietLogger()})
			c := tc.setup(t, svc, clk)
			c.method, c.path, c.browser = tc.method, tc.path, tc.browser
			w := serve(t, routes(mw), c)
			if w.Code != tc.want {
				t.Fatalf("status = %d, want %d; body %q", w.Code, tc.want, w.Body)
			}
			if tc.code != "" {
				if got := errorCode(t, w); got != tc.code {
					t.Errorf("error = %q, want %q", got, tc.code)
				}
			}
			if tc.body != "" {
				if got := w.Body.String(); got != tc.body {
					t.Errorf("body = %q, want %q", got, tc.body)
				}
			}
			if got := w.Header().Get("Location"); got != tc.location {
				t.Errorf("Location = %q, want %q", got, tc.location)
			}
			if got := w.Header().Get("WWW-Authenticate"); tc.challenge != "" && !strings.HasPrefix(got, tc.challenge) {
				t.Errorf("WWW-Authenticate = %q, want it to start with %q", got, tc.challenge)
			}
			if tc.noJSONBody {
				if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
					t.Errorf("Content-Type = %q, want an HTML page", ct)
				}
			}
		})
	}
}

// stub is an identifier whose answer the test sets, counting its calls.
type stub struct {
	id    *valet.Identity
	err   error
	calls atomic.Int32
}

func (s *stub) IdentifyBearer(context.Context, string) (*valet.Identity, error) {
	s.calls.Add(1)
	return s.id, s.err
}

func (s *stub) IdentifyCookie(context.Context, string) (*valet.Identity, error) {
	s.calls.Add(1)
	return s.id, s.err
}

// bearerOnly is an identifier that cannot check cookies, like a verifier.
type bearerOnly struct{ s stub }

func (b *bearerOnly) IdentifyBearer(ctx context.Context, tok string) (*valet.Identity, error) {
	return b.s.IdentifyBearer(ctx, tok)
}

func TestFailuresOfTheIdentifier(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		browser    bool
		want       int
		code       string
		retryAfter string
	}{
		{"store unavailable", fmt.Errorf("sqlite: lookup: %w", valet.ErrUnavailable), false, 503, "unavailable", "1"},
		{"deadline", context.DeadlineExceeded, false, 503, "unavailable", "1"},
		{"store unavailable, browser", valet.ErrUnavailable, true, 503, "", ""},
		{"unknown failure", errors.New("disk on fire"), false, 500, "internal", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := &stub{err: tc.err}
			mw := middleware.New(id, middleware.Config{Logger: quietLogger()})
			w := serve(t, routes(mw), call{path: "/private", cookie: "x.y", browser: tc.browser})
			if w.Code != tc.want {
				t.Fatalf("status = %d, want %d; body %q", w.Code, tc.want, w.Body)
			}
			if tc.code != "" {
				if got := errorCode(t, w); got != tc.code {
					t.Errorf("error = %q, want %q", got, tc.code)
				}
			}
			if got := w.Header().Get("Retry-After"); got != tc.retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tc.retryAfter)
			}
			if strings.Contains(w.Body.String(), "fire") {
				t.Errorf("the body shows the internal error: %q", w.Body)
			}
		})
	}
}

func TestCredentials(t *testing.T) {
	user := &valet.Identity{User: valet.User{ID: "u1", Email: "u@example.com"}, Mode: valet.ModeSession}
	tests := []struct {
		name  string
		id    middleware.Identifier
		creds middleware.Credentials
		call  call
		want  int
	}{
		{"default reads cookies", &stub{id: user}, 0, call{cookie: "c"}, 200},
		{"default reads bearer", &stub{id: user}, 0, call{bearer: "t"}, 200},
		{"bearer only ignores cookies", &stub{id: user}, middleware.FromBearer, call{cookie: "c"}, 401},
		{"cookie only ignores bearer", &stub{id: user}, middleware.FromCookie, call{bearer: "t"}, 401},
		{"verifier ignores cookies", &bearerOnly{s: stub{id: user}}, 0, call{cookie: "c"}, 401},
		{"verifier reads bearer", &bearerOnly{s: stub{id: user}}, 0, call{bearer: "t"}, 200},
		{"empty bearer is no credential", &stub{id: user}, 0, call{bearer: " "}, 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mw := middleware.New(tc.id, middleware.Config{Credentials: tc.creds})
			tc.call.path = "/private"
			if w := serve(t, routes(mw), tc.call); w.Code != tc.want {
				t.Fatalf("status = %d, want %d; body %q", w.Code, tc.want, w.Body)
			}
		})
	}
}

// Authenticate identifies the caller once however many checks follow, and
// each Require works without Authenticate before it.
func TestIdentifiesOnce(t *testing.T) {
	admin := &valet.Identity{User: valet.User{ID: "u1", Email: "a@example.com", Roles: []string{"admin"}}, Mode: valet.ModeToken}
	id := &stub{id: admin}
	mw := middleware.New(id, middleware.Config{Permissions: testPermissions})
	h := mw.Require(mw.RequireRole("admin")(mw.RequirePermission("orders:write")(http.HandlerFunc(whoami))))
	tests := []struct {
		name    string
		handler http.Handler
	}{
		{"without Authenticate", h},
		{"after Authenticate", mw.Authenticate(h)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id.calls.Store(0)
			w := serve(t, tc.handler, call{path: "/x", bearer: "t"})
			if w.Code != 200 || w.Body.String() != "a@example.com" {
				t.Fatalf("got %d %q, want 200 a@example.com", w.Code, w.Body)
			}
			if got := id.calls.Load(); got != 1 {
				t.Errorf("identifier called %d times, want 1", got)
			}
		})
	}
}

// The middleware has the shape every router takes: here a chain built the
// way chi's Use and Group build theirs, around a handler that is no mux.
func TestRouterAgnostic(t *testing.T) {
	svc, _ := newService(t)
	mw := middleware.New(svc, middleware.Config{Logger: quietLogger()})
	chain := []func(http.Handler) http.Handler{mw.Authenticate, mw.RequireRole("admin")}
	var h http.Handler = http.HandlerFunc(whoami)
	for i := len(chain) - 1; i >= 0; i-- {
		h = chain[i](h)
	}
	admin := login(t, svc, "root@example.com", valet.ModeToken, "admin")
	tests := []struct {
		name string
		call call
		want int
	}{
		{"admin", call{bearer: admin.AccessToken}, 200},
		{"anonymous", call{}, 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.call.path = "/anything"
			if w := serve(t, h, tc.call); w.Code != tc.want {
				t.Fatalf("status = %d, want %d", w.Code, tc.want)
			}
		})
	}
}

func TestCan(t *testing.T) {
	svc, _ := newService(t)
	mw := middleware.New(svc, middleware.Config{Permissions: testPermissions})
	clerk := login(t, svc, "clerk@example.com", valet.ModeToken, "clerk")
	var got []bool
	h := mw.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, mw.Can(r.Context(), "orders:write"), mw.Can(r.Context(), "users:delete"))
	}))
	serve(t, h, call{path: "/", bearer: clerk.AccessToken})
	serve(t, h, call{path: "/"})
	want := []bool{true, false, false, false}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Can = %v, want %v", got, want)
	}
}

func TestNewPanics(t *testing.T) {
	tests := []struct {
		name string
		id   middleware.Identifier
		cfg  middleware.Config
	}{
		{"nil identifier", nil, middleware.Config{}},
		{"cookies from a verifier", &bearerOnly{}, middleware.Config{Credentials: middleware.FromCookie}},
		{"unknown credentials", &stub{}, middleware.Config{Credentials: 8}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if r := recover(); r == nil || !strings.HasPrefix(fmt.Sprint(r), "middleware: ") {
					t.Fatalf("recovered %v, want a panic starting with \"middleware: \"", r)
				}
			}()
			middleware.New(tc.id, tc.cfg)
		})
	}
}
