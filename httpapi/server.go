// Package httpapi serves valet's JSON API (see API.md) over an auth.Service:
// signup, login in three modes, refresh, logout, me, sessions per device,
// password change, administration, JWKS, introspection, forward auth, and
// health. Every error leaves in the contract's one shape.
package httpapi

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/auth"
)

// Config configures the API. Zero fields take the defaults named.
type Config struct {
	// CookieName is the session cookie's name. Default "__Host-valet_session"
	// when the cookie is Secure (the prefix makes browsers refuse the cookie
	// unless it is Secure, Path=/ and has no Domain, so a sibling subdomain
	// cannot plant it), and LegacyCookieName when it is not. LegacyCookieName
	// is accepted on read either way.
	CookieName string
	// CookieInsecure drops the Secure attribute (for plain-HTTP hosts other
	// than localhost). Default false: cookies are Secure.
	CookieInsecure bool
	// TrustedOrigins may send cookie-authenticated unsafe requests from
	// another origin, e.g. "https://app.example.com".
	TrustedOrigins []string
	// AccessRules decide, in forward auth, which roles may reach which hosts
	// and paths. Default none: any signed-in caller may go on.
	AccessRules []AccessRule
	// LoginURL is where forward auth sends a browser to sign in. Default "/".
	LoginURL string
	// Ready reports whether the stores are reachable, for /readyz.
	Ready func(ctx context.Context) error
	// Metrics serves /metrics when set.
	Metrics http.Handler
	// ClientIP returns the client's address, for session records, audit
	// events and throttling. Default: the connection's peer (PeerIP); behind
	// a reverse proxy use ForwardedClientIP.
	ClientIP func(r *http.Request) string
	// Logger receives errors. Default slog.Default().
	Logger *slog.Logger
}

// API is the JSON API as an http.Handler.
type API struct {
	svc  *auth.Service
	cfg  Config
	log  *slog.Logger
	mux  *http.ServeMux
	csrf *http.CrossOriginProtection
}

// New returns the API over svc. It panics on a malformed trusted origin,
// a programmer error.
func New(svc *auth.Service, cfg Config) *API {
	if cfg.CookieName == "" {
		cfg.CookieName = LegacyCookieName
		if !cfg.CookieInsecure {
			cfg.CookieName = "__Host-" + LegacyCookieName
		}
	}
	if cfg.LoginURL == "" {
		cfg.LoginURL = "/"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ClientIP == nil {
		cfg.ClientIP = PeerIP
	}
	a := &API{svc: svc, cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), csrf: http.NewCrossOriginProtection()}
	for _, o := range cfg.TrustedOrigins {
		if err := a.csrf.AddTrustedOrigin(o); err != nil {
			panic("httpapi: " + err.Error())
		}
	}
	a.routes()
	return a
}

func (a *API) routes() {
	m := a.mux
	m.HandleFunc("POST /v1/signup", a.signup)
	m.HandleFunc("POST /v1/login", a.login)
	m.HandleFunc("POST /v1/token/refresh", a.refresh)
	m.HandleFunc("POST /v1/logout", a.logout)
	m.Handle("GET /v1/me", a.authed(a.me))
	m.Handle("GET /v1/sessions", a.authed(a.listSessions))
	m.Handle("DELETE /v1/sessions/{id}", a.authed(a.deleteSession))
	m.Handle("DELETE /v1/sessions", a.authed(a.deleteSessions))
	m.Handle("POST /v1/password", a.authed(a.changePassword))
	m.HandleFunc("GET /.well-known/jwks.json", a.jwks)
	m.Handle("POST /v1/introspect", a.role(a.introspect, "service", "admin"))
	m.HandleFunc("GET /v1/authz", a.authz)
	m.Handle("GET /v1/admin/users", a.role(a.adminListUsers, "admin"))
	m.Handle("POST /v1/admin/users", a.role(a.adminCreateUser, "admin"))
	m.Handle("PATCH /v1/admin/users/{id}", a.role(a.adminPatchUser, "admin"))
	m.Handle("DELETE /v1/admin/users/{id}", a.role(a.adminDeleteUser, "admin"))
	m.Handle("DELETE /v1/admin/users/{id}/sessions", a.role(a.adminEndSessions, "admin"))
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	m.HandleFunc("GET /readyz", a.readyz)
	if a.cfg.Metrics != nil {
		m.Handle("GET /metrics", a.cfg.Metrics)
	}
	m.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, a.log, &Error{Code: "not_found", Message: "No such endpoint."})
	})
}

// ServeHTTP refuses cross-origin unsafe requests that a browser could have
// sent with the session cookie, then routes.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header(), r)
	if !safeMethod(r.Method) && !hasBearer(r) {
		if err := a.csrf.Check(r); err != nil {
			writeError(w, r, a.log, &Error{Code: "csrf_failed", Message: "Cross-origin request refused."})
			return
		}
	}
	a.mux.ServeHTTP(w, r)
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// PeerIP returns the address of the connection's peer, without the port.
func PeerIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (a *API) client(r *http.Request) auth.Client {
	return auth.Client{UserAgent: r.UserAgent(), IP: a.cfg.ClientIP(r)}
}

// Identify returns the caller of r from its bearer token or, failing that,
// its session cookie. A request with neither gets valet.ErrUnauthenticated.
func (a *API) Identify(r *http.Request) (*valet.Identity, error) {
	if tok, ok := bearerToken(r); ok {
		return a.svc.IdentifyBearer(r.Context(), tok)
	}
	if v, ok := a.SessionCookieValue(r); ok {
		return a.svc.IdentifyCookie(r.Context(), v)
	}
	return nil, valet.ErrUnauthenticated
}

// authed runs h for an identified caller, with the identity in the context.
func (a *API) authed(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := a.Identify(r)
		if err != nil {
			writeError(w, r, a.log, err)
			return
		}
		h(w, r.WithContext(valet.WithIdentity(r.Context(), id)))
	})
}

// role runs h for a caller that has one of roles.
func (a *API) role(h http.HandlerFunc, roles ...string) http.Handler {
	return a.authed(func(w http.ResponseWriter, r *http.Request) {
		id := valet.IdentityFrom(r.Context())
		for _, want := range roles {
			if id.User.HasRole(want) {
				h(w, r)
				return
			}
		}
		writeError(w, r, a.log, &Error{Code: "forbidden", Message: "You do not have the role this needs."})
	})
}

// Config returns the API's settings with defaults filled in, so that the
// pages served beside it use the same cookie and origin settings.
func (a *API) Config() Config { return a.cfg }

// SessionCookie returns the session cookie that carries value until expires,
// with the API's name and attributes: Path=/, HttpOnly, SameSite=Lax, and
// Secure unless CookieInsecure. An empty value gives the cookie that clears
// it (Max-Age=0).
func (a *API) SessionCookie(value string, expires time.Time) *http.Cookie {
	c := &http.Cookie{
		Name: a.cfg.CookieName, Value: value, Path: "/",
		HttpOnly: true, Secure: !a.cfg.CookieInsecure, SameSite: http.SameSiteLaxMode,
	}
	if value == "" {
		c.MaxAge = -1
	} else {
		c.Expires, c.MaxAge = expires, int(time.Until(expires).Seconds())
	}
	return c
}

// setSessionCookie hands the browser its ticket.
func (a *API) setSessionCookie(w http.ResponseWriter, value string, expires time.Time) {
	http.SetCookie(w, a.SessionCookie(value, expires))
}

func (a *API) clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, a.SessionCookie("", time.Time{}))
}

func (a *API) readyz(w http.ResponseWriter, r *http.Request) {
	if a.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := a.cfg.Ready(ctx); err != nil {
			a.log.WarnContext(r.Context(), "not ready", "err", err)
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "unavailable", "message": "The store is not reachable."})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// wantsHTML reports whether r comes from a browser navigating, not a script.
func wantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html") && r.Header.Get("X-Requested-With") == ""
}
