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
	"encoding/json"
	"html"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/identify"
	"github.com/valetauth/valet/session"
)

// Identifier finds the caller behind an access token. *auth.Service and
// *verify.Verifier implement it.
type Identifier = identify.Bearer

// CookieIdentifier is an Identifier that can also check session cookies, as
// *auth.Service can.
type CookieIdentifier interface {
	identify.Bearer
	identify.Cookies
}

// Credentials is a set of the credentials that Authenticate reads.
type Credentials = identify.Sources

// The credentials Authenticate can read.
const (
	// FromCookie reads the session cookie and the access-token cookie.
	FromCookie = identify.FromCookies
	// FromBearer reads "Authorization: Bearer <token>".
	FromBearer = identify.FromBearer
)

// Config configures a Middleware. Zero fields take the defaults named.
type Config struct {
	// Credentials are what Authenticate reads, in the order of package
	// identify: the Bearer header, then the session cookie, then the
	// access-token cookie; the first one present decides. Default:
	// FromBearer, and FromCookie too when the identifier is a
	// CookieIdentifier.
	Credentials Credentials
	// Cookie names the cookies, as valet's own API names them: use the
	// same value as httpapi.Config.Cookie. Default: Secure and host-only,
	// "__Host-valet_session" (the older "valet_session" is read too).
	Cookie session.Cookie
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
	id     *identify.Identifier
	bearer bool
	cfg    Config
	log    *slog.Logger
}

// New returns a Middleware that identifies callers with id. It panics, as
// for a programmer error, when id is nil, when cfg.Credentials asks for
// cookies and id is not a CookieIdentifier, or when cfg.Credentials has
// unknown bits.
func New(id Identifier, cfg Config) *Middleware {
	if id == nil {
		panic("middleware: New: nil Identifier")
	}
	_, canCookie := id.(CookieIdentifier)
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
	if cfg.LoginURL == "" {
		cfg.LoginURL = "/"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Middleware{
		id:     identify.New(id, cfg.Cookie, cfg.Credentials),
		bearer: cfg.Credentials&FromBearer != 0, cfg: cfg, log: cfg.Logger,
	}
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
	res := m.id.Identify(r)
	return res.Identity, res.Err
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

// refuse answers a request that may not pass, for the reason err.
func (m *Middleware) refuse(w http.ResponseWriter, r *http.Request, err error) {
	if err == nil {
		err = valet.ErrUnauthenticated
	}
	ref := valet.Describe(err)
	if !ref.Known {
		m.log.ErrorContext(r.Context(), "identifying the caller failed", "method", r.Method, "path", r.URL.Path, "err", err)
	} else if ref.Status == http.StatusServiceUnavailable {
		m.log.WarnContext(r.Context(), "cannot identify the caller", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	_, hasBearer := identify.BearerToken(r)
	hasBearer = hasBearer && m.bearer
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	if browser(r) && !hasBearer {
		switch ref.Status {
		case http.StatusUnauthorized:
			http.Redirect(w, r, m.loginURL(r), http.StatusSeeOther)
		default:
			h.Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(ref.Status)
			_, _ = w.Write([]byte("<!doctype html><title>" + http.StatusText(ref.Status) + "</title><p>" + html.EscapeString(ref.Message) + "</p>\n"))
		}
		return
	}
	switch {
	case ref.Status == http.StatusUnauthorized && hasBearer:
		h.Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="`+strings.ReplaceAll(ref.Message, `"`, "'")+`"`)
	case ref.Status == http.StatusUnauthorized && m.bearer:
		// RFC 6750, section 3: a request without a token gets the challenge
		// with no error code.
		h.Set("WWW-Authenticate", "Bearer")
	case ref.Status == http.StatusForbidden && hasBearer:
		h.Set("WWW-Authenticate", `Bearer error="insufficient_scope"`)
	case ref.Status == http.StatusServiceUnavailable:
		h.Set("Retry-After", "1")
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(ref.Status)
	_ = json.NewEncoder(w).Encode(struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}{ref.Code, ref.Message})
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
