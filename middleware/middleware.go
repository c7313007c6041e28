// Package middleware puts valet in front of an application's handlers, as
// func(http.Handler) http.Handler, for net/http's ServeMux, chi, or any
// router that takes that shape.
//
// It works in two steps. Authenticate identifies the caller from the session
// cookie or the Bearer token and puts the identity in the request's context,
// where valet.UserFrom and valet.IdentityFrom find it; it refuses nobody, so
// public pages can greet a signed-in visitor by name. Require, RequireRole
// and RequirePermission then enforce access on the routes that need it:
//
//	mw := middleware.New(svc, middleware.Config{LoginURL: "/login"})
//	mux.Handle("GET /account", mw.Require(account))
//	mux.Handle("GET /admin", mw.RequireRole("admin")(admin))
//	mux.Handle("POST /orders", mw.RequirePermission("orders:write")(createOrder))
//	http.ListenAndServe(addr, mw.Authenticate(mux))
//
// A refused API caller gets the JSON error of valet's HTTP contract (401
// unauthenticated, invalid_token or token_expired with a WWW-Authenticate
// challenge; 403 forbidden; 503 unavailable when a store cannot answer). A
// refused browser (a request that accepts text/html and is not a script's)
// is sent to Config.LoginURL to sign in, or shown a short 403 page.
//
// The identifier is an *auth.Service in the application that embeds valet,
// and a *verify.Verifier in a service that only checks valet's tokens.
package middleware

import (
	"context"
	"errors"
	"html"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/valetauth/valet"
)

// Identifier finds the caller behind an access token. *auth.Service and
// *verify.Verifier implement it. IdentifyBearer returns an error wrapping
// valet.ErrTokenInvalid, ErrTokenExpired or ErrRevoked for a token it
// refuses, and one wrapping valet.ErrUnavailable when it cannot tell.
type Identifier interface {
	IdentifyBearer(ctx context.Context, token string) (*valet.Identity, error)
}

// CookieIdentifier is an Identifier that can also check session cookies, as
// *auth.Service can. IdentifyCookie returns an error wrapping
// valet.ErrUnauthenticated for a cookie it refuses.
type CookieIdentifier interface {
	Identifier
	IdentifyCookie(ctx context.Context, value string) (*valet.Identity, error)
}

// Credentials is a set of the credentials that Authenticate reads.
type Credentials int

// The credentials Authenticate can read.
const (
	// FromCookie reads the session cookie (Config.CookieName).
	FromCookie Credentials = 1 << iota
	// FromBearer reads "Authorization: Bearer <token>".
	FromBearer
)

// Config configures a Middleware. Zero fields take the defaults named.
type Config struct {
	// Credentials are what Authenticate reads. When a request carries a
	// Bearer token that is read, its cookie is not looked at. Default:
	// FromBearer, and FromCookie too when the identifier is a
	// CookieIdentifier.
	Credentials Credentials
	// CookieName is the session cookie's name. Default "valet_session".
	CookieName string
	// LoginURL is where a browser that must sign in is sent, with the page
	// it asked for in the return_to parameter. Default "/".
	LoginURL string
	// Permissions maps roles to the permissions RequirePermission checks.
	// Default: none, so RequirePermission refuses every caller.
	Permissions Permissions
	// Logger receives failures that are not the caller's fault. Default
	// slog.Default().
	Logger *slog.Logger
}

// Middleware identifies callers and enforces access. It is immutable after
// New and safe for concurrent use.
type Middleware struct {
	id      Identifier
	cookies CookieIdentifier // nil unless cookies are read
	bearer  bool
	cfg     Config
	log     *slog.Logger
}

// New returns a Middleware that identifies callers with id. It panics, as
// for a programmer error, when id is nil, when cfg.Credentials asks for
// cookies and id is not a CookieIdentifier, or when cfg.Credentials has
// unknown bits.
func New(id Identifier, cfg Config) *Middleware {
	if id == nil {
		panic("middleware: New: nil Identifier")
	}
	ci, canCookie := id.(CookieIdentifier)
	if cfg.Credentials == 0 {
		cfg.Credentials = FromBearer
		if canCookie {
			cfg.Credentials |= FromCookie
		}
	}
	if cfg.Credentials&^(FromCookie|FromBearer) != 0 {
		panic("middleware: New: unknown Credentials bits")
	}
	if cfg.Credentials&FromCookie != 0 && !canCookie {
		panic("middleware: New: FromCookie needs an identifier that checks cookies (a CookieIdentifier)")
	}
	if cfg.CookieName == "" {
		cfg.CookieName = "valet_session"
	}
	if cfg.LoginURL == "" {
		cfg.LoginURL = "/"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	m := &Middleware{id: id, bearer: cfg.Credentials&FromBearer != 0, cfg: cfg, log: cfg.Logger}
	if cfg.Credentials&FromCookie != 0 {
		m.cookies = ci
	}
	return m
}

// result is what Authenticate found out about a request.
type result struct {
	id  *valet.Identity
	err error // why id is nil; nil when no credential was presented
}

type resultKey struct{}

// Authenticate identifies the caller of each request and passes the request
// on, with the identity in its context (see valet.IdentityFrom) when there
// is one. It refuses nobody: a request with no credential, or one that is
// not valid, goes on anonymous, and the Require functions later answer for
// the reason. Its result is kept in the context, so a Require after it does
// not identify the caller again.
func (m *Middleware) Authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, m.authenticate(r))
	})
}

// authenticate returns r with the result of identifying its caller in the
// context, identifying it only if that has not happened yet.
func (m *Middleware) authenticate(r *http.Request) *http.Request {
	if _, ok := r.Context().Value(resultKey{}).(*result); ok {
		return r
	}
	res := &result{}
	res.id, res.err = m.identify(r)
	ctx := context.WithValue(r.Context(), resultKey{}, res)
	if res.id != nil {
		ctx = valet.WithIdentity(ctx, res.id)
	}
	return r.WithContext(ctx)
}

// identify returns the caller of r, or nil and why not; nil and nil when r
// carries no credential that m reads.
func (m *Middleware) identify(r *http.Request) (*valet.Identity, error) {
	if m.bearer {
		if tok, ok := bearerToken(r); ok {
			return m.id.IdentifyBearer(r.Context(), tok)
		}
	}
	if m.cookies != nil {
		if c, err := r.Cookie(m.cfg.CookieName); err == nil && c.Value != "" {
			return m.cookies.IdentifyCookie(r.Context(), c.Value)
		}
	}
	return nil, nil
}

// Require passes on requests from an identified caller and refuses the
// others: 401 for an API caller (the code says whether the credential was
// missing, invalid or expired), a redirect to Config.LoginURL for a
// browser, and 503 when the caller could not be checked because a store or
// valet did not answer. It identifies the caller itself when Authenticate
// has not run before it.
func (m *Middleware) Require(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = m.authenticate(r)
		if valet.IdentityFrom(r.Context()) == nil {
			m.refuse(w, r, resultFrom(r.Context()))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// RequireRole returns middleware that passes on requests from a caller who
// has at least one of roles, refuses other callers with 403 forbidden, and
// anonymous ones as Require does. Roles come from the user record for a
// cookie and from the token's roles claim for a Bearer token. It panics if
// no role is given.
func (m *Middleware) RequireRole(roles ...string) func(http.Handler) http.Handler {
	if len(roles) == 0 {
		panic("middleware: RequireRole: no role given")
	}
	return m.require(func(id *valet.Identity) bool {
		for _, r := range roles {
			if id.User.HasRole(r) {
				return true
			}
		}
		return false
	})
}

// RequirePermission returns middleware that passes on requests from a caller
// whose roles grant perm under Config.Permissions, refuses other callers
// with 403 forbidden, and anonymous ones as Require does. It panics if perm
// is empty.
func (m *Middleware) RequirePermission(perm string) func(http.Handler) http.Handler {
	if perm == "" {
		panic("middleware: RequirePermission: empty permission")
	}
	return m.require(func(id *valet.Identity) bool {
		return m.cfg.Permissions.Allows(id.User.Roles, perm)
	})
}

// Can reports whether the caller identified in ctx has perm under
// Config.Permissions: for a page that shows a link only to those who may
// follow it. It is false for an anonymous caller.
func (m *Middleware) Can(ctx context.Context, perm string) bool {
	id := valet.IdentityFrom(ctx)
	return id != nil && m.cfg.Permissions.Allows(id.User.Roles, perm)
}

func (m *Middleware) require(allowed func(*valet.Identity) bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r = m.authenticate(r)
			id := valet.IdentityFrom(r.Context())
			switch {
			case id == nil:
				m.refuse(w, r, resultFrom(r.Context()))
			case !allowed(id):
				m.refuse(w, r, valet.ErrForbidden)
			default:
				next.ServeHTTP(w, r)
			}
		})
	}
}

// resultFrom returns why the caller in ctx is anonymous: nil when no
// credential was presented.
func resultFrom(ctx context.Context) error {
	if res, ok := ctx.Value(resultKey{}).(*result); ok {
		return res.err
	}
	return nil
}

// refusal is how one kind of refusal is answered.
type refusal struct {
	status  int
	code    string
	message string
}

// refusalFor returns the answer to a caller refused for err; a nil err
// means no credential was presented.
func refusalFor(err error) (refusal, bool) {
	switch {
	case err == nil, errors.Is(err, valet.ErrUnauthenticated):
		return refusal{http.StatusUnauthorized, "unauthenticated", "You are not signed in."}, true
	case errors.Is(err, valet.ErrForbidden):
		return refusal{http.StatusForbidden, "forbidden", "You are not allowed to do this."}, true
	case errors.Is(err, valet.ErrTokenExpired):
		return refusal{http.StatusUnauthorized, "token_expired", "The access token has expired."}, true
	case errors.Is(err, valet.ErrRevoked):
		return refusal{http.StatusUnauthorized, "invalid_token", "The access token was revoked."}, true
	case errors.Is(err, valet.ErrTokenInvalid):
		return refusal{http.StatusUnauthorized, "invalid_token", "The access token is not valid."}, true
	case errors.Is(err, valet.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return refusal{http.StatusServiceUnavailable, "unavailable", "The service cannot check your credentials now; try again shortly."}, true
	}
	return refusal{http.StatusInternalServerError, "internal", "Something went wrong on our side."}, false
}

// refuse answers a request that may not pass, for the reason err.
func (m *Middleware) refuse(w http.ResponseWriter, r *http.Request, err error) {
	ref, known := refusalFor(err)
	if !known {
		m.log.ErrorContext(r.Context(), "identifying the caller failed", "method", r.Method, "path", r.URL.Path, "err", err)
	} else if ref.status == http.StatusServiceUnavailable {
		m.log.WarnContext(r.Context(), "cannot identify the caller", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	_, hasBearer := bearerToken(r)
	hasBearer = hasBearer && m.bearer
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	if browser(r) && !hasBearer {
		switch ref.status {
		case http.StatusUnauthorized:
			http.Redirect(w, r, m.loginURL(r), http.StatusSeeOther)
		default:
			h.Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(ref.status)
			_, _ = w.Write([]byte("<!doctype html><title>" + http.StatusText(ref.status) + "</title><p>" + html.EscapeString(ref.message) + "</p>\n"))
		}
		return
	}
	switch {
	case ref.status == http.StatusUnauthorized && hasBearer:
		h.Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="`+ref.message+`"`)
	case ref.status == http.StatusUnauthorized && m.bearer:
		// RFC 6750, section 3: a request without a token gets the challenge
		// with no error code.
		h.Set("WWW-Authenticate", "Bearer")
	case ref.status == http.StatusForbidden && hasBearer:
		h.Set("WWW-Authenticate", `Bearer error="insufficient_scope"`)
	case ref.status == http.StatusServiceUnavailable:
		h.Set("Retry-After", "1")
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(ref.status)
	// The messages are fixed sentences without quotes or backslashes.
	_, _ = w.Write([]byte(`{"error":"` + ref.code + `","message":"` + ref.message + `"}` + "\n"))
}

// loginURL returns Config.LoginURL with the page asked for as return_to,
// when it is a page a browser can come back to.
func (m *Middleware) loginURL(r *http.Request) string {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return m.cfg.LoginURL
	}
	sep := "?"
	if strings.Contains(m.cfg.LoginURL, "?") {
		sep = "&"
	}
	return m.cfg.LoginURL + sep + "return_to=" + url.QueryEscape(r.URL.RequestURI())
}

// browser reports whether r comes from a browser navigating, not a script.
func browser(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html") && r.Header.Get("X-Requested-With") == ""
}

// bearerToken returns the token of an "Authorization: Bearer" header.
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return "", false
	}
	tok := strings.TrimSpace(h[7:])
	return tok, tok != ""
}
