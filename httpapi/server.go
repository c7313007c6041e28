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

	"github.com/prometheus/client_golang/prometheus"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/api"
	"github.com/valetauth/valet/auth"
	"github.com/valetauth/valet/identify"
	"github.com/valetauth/valet/session"
	"github.com/valetauth/valet/token"
)

// Config configures the API. Zero fields take the defaults named.
type Config struct {
	// Cookie names and shapes the browser's cookies, as for every other
	// layer. Default: Secure and host-only, "__Host-valet_session".
	Cookie session.Cookie
	// TrustedOrigins may send cookie-authenticated unsafe requests from
	// another origin, e.g. "https://app.example.com".
	TrustedOrigins []string
	// AccessRules decide, in forward auth, which roles may reach which hosts
	// and paths. Default none: any signed-in caller may go on.
	AccessRules []AccessRule
	// LoginURL is where forward auth sends a browser to sign in, under
	// ForwardAuth.PublicURL unless absolute. Default "/".
	LoginURL string
	// ForwardAuth names the trusted proxies, valet's public address and the
	// hosts a browser may be sent back to. Default: no proxy is trusted.
	ForwardAuth ForwardAuthConfig
	// Ready reports whether the stores are reachable, for /readyz.
	Ready func(ctx context.Context) error
	// Metrics serves /metrics when set. Leave it nil to serve the metrics on
	// another listener only.
	Metrics http.Handler
	// Registerer receives the API's series: valet_http_request_duration_seconds
	// by route pattern and status, valet_logins_total by mode and result,
	// valet_signups_total and valet_token_refreshes_total by result, and
	// valet_throttled_requests_total by action. Default nil: none are kept,
	// and serving a request costs nothing for them.
	Registerer prometheus.Registerer
	// ClientIP returns the client's address, for session records, audit
	// events and throttling. Default: the connection's peer (PeerIP); behind
	// a reverse proxy use ForwardedClientIP.
	ClientIP func(r *http.Request) string
	// Logger receives errors. Default slog.Default().
	Logger *slog.Logger
	// Clients keeps the OpenID Connect clients that /v1/admin/clients
	// manages. Default nil: those routes answer not_found.
	Clients valet.ClientStore
}

// Service is the engine the API runs on. *auth.Service implements it. Every
// change goes through it, so none bypasses its audit events and revocations.
type Service interface {
	identify.Bearer
	identify.Cookies
	Signup(ctx context.Context, email, pw string, c auth.Client) (valet.User, error)
	Login(ctx context.Context, email, pw string, mode valet.Mode, c auth.Client) (*auth.Grant, error)
	Refresh(ctx context.Context, rt string, c auth.Client) (*auth.Grant, error)
	RevokeRefresh(ctx context.Context, rt string, c auth.Client) error
	Logout(ctx context.Context, id *valet.Identity, c auth.Client) error
	UserSessions(ctx context.Context, userID string) ([]valet.Session, error)
	RevokeSession(ctx context.Context, userID, sid string, c auth.Client) (auth.Withdrawal, error)
	RevokeUserSessions(ctx context.Context, userID, keep string, c auth.Client) (auth.Withdrawal, error)
	ChangePassword(ctx context.Context, id *valet.Identity, current, next string, c auth.Client) (*auth.Grant, error)
	Mail
	MFA
	JWKS() []byte
	Introspect(ctx context.Context, tok string) (token.Claims, error)
	Admin
}

// Mail is what the API and the pages do by mail: verify an address,
// recover an account, change an email. *auth.Service implements it.
type Mail interface {
	RequestVerification(ctx context.Context, id *valet.Identity, c auth.Client) error
	ResendVerification(ctx context.Context, email string, c auth.Client) error
	CompleteVerification(ctx context.Context, tok, email, code string, c auth.Client) (valet.User, error)
	RequestRecovery(ctx context.Context, email string, c auth.Client) error
	CompleteRecovery(ctx context.Context, tok, email, code, pw string, c auth.Client) (valet.User, auth.Withdrawal, error)
	RequestEmailChange(ctx context.Context, id *valet.Identity, newEmail, currentPassword string, c auth.Client) error
}

// Admin is the administration of users that the admin endpoints and pages
// use. *auth.Service implements it.
type Admin interface {
	ListUsers(ctx context.Context, q valet.UserQuery) ([]valet.User, int, error)
	CreateUser(ctx context.Context, email, pw string, roles []string) (valet.User, error)
	UpdateUser(ctx context.Context, id string, p auth.UserPatch, c auth.Client) (valet.User, auth.Withdrawal, error)
	DeleteUser(ctx context.Context, id string, c auth.Client) (auth.Withdrawal, error)
	EndUserSessions(ctx context.Context, id string, c auth.Client) (auth.Withdrawal, error)
}

var _ Service = (*auth.Service)(nil)

// API is the JSON API as an http.Handler.
type API struct {
	svc  Service
	cfg  Config
	id   *identify.Identifier
	log  *slog.Logger
	mux  *http.ServeMux
	csrf *http.CrossOriginProtection
	// metrics is nil without Config.Registerer.
	metrics *metrics
}

// New returns the API over svc. It panics on a malformed trusted origin,
// a programmer error.
func New(svc Service, cfg Config) *API {
	if cfg.LoginURL == "" {
		cfg.LoginURL = "/"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ClientIP == nil {
		cfg.ClientIP = PeerIP
	}
	a := &API{svc: svc, cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), csrf: http.NewCrossOriginProtection(),
		id: identify.New(svc, cfg.Cookie, identify.All)}
	for _, o := range cfg.TrustedOrigins {
		if err := a.csrf.AddTrustedOrigin(o); err != nil {
			panic("httpapi: " + err.Error())
		}
	}
	if cfg.Registerer != nil {
		var mode valet.Mode
		if s, ok := svc.(interface{ Settings() auth.Settings }); ok {
			mode = s.Settings().Mode
		}
		a.metrics = newMetrics(cfg.Registerer, mode)
	}
	a.routes()
	return a
}

// spec is the API's OpenAPI document, served at /openapi.json.
var spec = api.JSON()

func (a *API) routes() {
	m := a.mux
	m.HandleFunc("POST /v1/signup", a.signup)
	m.HandleFunc("POST /v1/login", a.login)
	m.HandleFunc("POST /v1/login/mfa", a.loginMFA)
	m.Handle("POST /v1/reauth", a.enrolling(a.reauth))
	m.Handle("GET /v1/mfa", a.enrolling(a.listFactors))
	m.Handle("POST /v1/mfa/totp", a.enrolling(a.beginTOTP))
	m.Handle("POST /v1/mfa/totp/confirm", a.enrolling(a.confirmTOTP))
	m.Handle("POST /v1/mfa/recovery-codes", a.authed(a.newRecoveryCodes))
	m.Handle("DELETE /v1/mfa/{id}", a.authed(a.deleteFactor))
	m.HandleFunc("POST /v1/webauthn/login/begin", a.passkeyLoginBegin)
	m.HandleFunc("POST /v1/webauthn/login/finish", a.passkeyLoginFinish)
	m.Handle("POST /v1/webauthn/register/begin", a.enrolling(a.passkeyRegisterBegin))
	m.Handle("POST /v1/webauthn/register/finish", a.enrolling(a.passkeyRegisterFinish))
	m.HandleFunc("POST /v1/token/refresh", a.refresh)
	m.HandleFunc("POST /v1/logout", a.logout)
	m.Handle("GET /v1/me", a.enrollingAs(a.me))
	m.Handle("GET /v1/sessions", a.enrolling(a.listSessions))
	m.Handle("DELETE /v1/sessions/{id}", a.enrolling(a.deleteSession))
	m.Handle("DELETE /v1/sessions", a.enrolling(a.needsRecent(a.deleteSessions)))
	m.Handle("POST /v1/password", a.authed(a.changePassword))
	m.Handle("POST /v1/verification", a.authed(a.requestVerification))
	m.HandleFunc("POST /v1/verification/complete", a.completeVerification)
	m.HandleFunc("POST /v1/recovery", a.requestRecovery)
	m.HandleFunc("POST /v1/recovery/complete", a.completeRecovery)
	m.Handle("POST /v1/email", a.authed(a.changeEmail))
	m.HandleFunc("GET /.well-known/jwks.json", a.jwks)
	m.Handle("POST /v1/introspect", a.role(a.introspect, "service", "admin"))
	m.HandleFunc("GET /v1/authz", a.forwardAuth)
	m.HandleFunc("GET /v1/authz/forward-auth", a.forwardAuth)
	m.HandleFunc("GET /v1/authz/auth-request", a.authRequest)
	m.Handle("GET /v1/admin/users", a.role(a.adminListUsers, "admin"))
	m.Handle("POST /v1/admin/users", a.role(a.adminCreateUser, "admin"))
	m.Handle("PATCH /v1/admin/users/{id}", a.role(a.adminPatchUser, "admin"))
	m.Handle("DELETE /v1/admin/users/{id}", a.role(a.adminDeleteUser, "admin"))
	m.Handle("DELETE /v1/admin/users/{id}/sessions", a.role(a.adminEndSessions, "admin"))
	m.Handle("DELETE /v1/admin/users/{id}/mfa", a.role(a.adminResetFactors, "admin"))
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	m.HandleFunc("GET /readyz", a.readyz)
	m.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(spec)
	})
	if a.cfg.Metrics != nil {
		m.Handle("GET /metrics", a.cfg.Metrics)
	}
	a.adminImportRoutes(m)
	a.adminClientRoutes(m)
	// A request that no pattern with its method serves, under /v1/ or any
	// other path that reaches the API (/.well-known/, or a prefix it is
	// mounted at), answers in the error shape.
	m.HandleFunc("/", a.noRoute)
}

// noRoute answers a request that no pattern with its method serves: 405
// with Allow when patterns serve its path with other methods, else 404.
// Asking the mux, rather than keeping a list beside it, holds for every
// pattern however it was registered; ServeMux's own 405 would be plain
// text, and the catch-all would turn it into a 404.
func (a *API) noRoute(w http.ResponseWriter, r *http.Request) {
	if allow := a.allowed(r); allow != "" {
		w.Header().Set("Allow", allow)
		writeError(w, r, a.log, valet.Errorf(valet.ErrMethodNotAllowed, "This path takes only %s.", allow))
		return
	}
	writeError(w, r, a.log, valet.Errorf(valet.ErrNotFound, "No such endpoint."))
}

// probeMethods are the methods noRoute asks the mux about, in the order
// Allow lists them.
var probeMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// allowed returns the methods that patterns serve r's path with, joined
// for Allow, or "" when there are none.
func (a *API) allowed(r *http.Request) string {
	var allow []string
	probe := *r
	for _, m := range probeMethods {
		probe.Method = m
		_, pattern := a.mux.Handler(&probe)
		if strings.HasPrefix(pattern, m+" ") || m == http.MethodHead && strings.HasPrefix(pattern, "GET ") {
			allow = append(allow, m)
		}
	}
	return strings.Join(allow, ", ")
}

// ServeHTTP refuses cross-origin unsafe requests that a browser could have
// sent with the session cookie, then routes. It compresses what may be
// compressed (see Compress) and, with Config.Registerer, counts the request
// by the pattern that served it.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header(), r)
	gz := r.Method != http.MethodHead && acceptsGzip(r)
	if a.metrics == nil && !gz {
		a.serve(w, r)
		return
	}
	var start time.Time
	if a.metrics != nil {
		start = requestStart(r)
	}
	rw := newResponseWriter(w, gz)
	a.serve(rw, r)
	rw.finish()
	if a.metrics != nil {
		// The mux set r.Pattern on r as it routed.
		a.metrics.observe(r.Pattern, rw.code(), time.Since(start))
	}
	rw.release()
}

func (a *API) serve(w http.ResponseWriter, r *http.Request) {
	if !safeMethod(r.Method) && !hasBearer(r) {
		if err := a.csrf.Check(r); err != nil {
			writeError(w, r, a.log, valet.ErrCrossOrigin)
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

// Identify returns the caller of r by the one identification step (see
// package identify). A request with no credential gets
// valet.ErrUnauthenticated.
func (a *API) Identify(r *http.Request) (*valet.Identity, error) {
	res := a.id.Identify(r)
	if res.Source == identify.None {
		return nil, valet.ErrUnauthenticated
	}
	return res.Identity, res.Err
}

// authed runs h for an identified caller, with the identity in the context.
func (a *API) authed(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := a.Identify(r)
		if err != nil {
			writeError(w, r, a.log, err)
			return
		}
		if id.MustEnrol {
			writeError(w, r, a.log, errMustEnrol())
			return
		}
		h(w, r.WithContext(valet.WithIdentity(r.Context(), id)))
	})
}

// enrolling is authed that also lets in a caller whom the server's policy
// sends to add a second factor first: what it runs is how one is added,
// or what a caller must always be able to see and end.
func (a *API) enrolling(h http.HandlerFunc) http.Handler {
	return a.enrollingAs(func(w http.ResponseWriter, r *http.Request, id *valet.Identity) {
		h(w, r.WithContext(valet.WithIdentity(r.Context(), id)))
	})
}

// enrollingAs is enrolling for a handler that takes the identity as an
// argument: GET /v1/me, the hottest request, is spared the context and the
// copy of the request that carry it to the others.
func (a *API) enrollingAs(h func(w http.ResponseWriter, r *http.Request, id *valet.Identity)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := a.Identify(r)
		if err != nil {
			writeError(w, r, a.log, err)
			return
		}
		h(w, r, id)
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
		writeError(w, r, a.log, valet.Errorf(valet.ErrForbidden, "You do not have the role this needs."))
	})
}

// Config returns the API's settings with defaults filled in, so that the
// pages served beside it use the same cookie and origin settings.
func (a *API) Config() Config { return a.cfg }

// setSessionCookie hands the browser its ticket, and drops a session
// cookie it holds under an older name.
func (a *API) setSessionCookie(w http.ResponseWriter, r *http.Request, value string, expires time.Time) {
	a.cfg.Cookie.ClearStale(w, r)
	http.SetCookie(w, a.cfg.Cookie.Session(value, expires))
}

func (a *API) readyz(w http.ResponseWriter, r *http.Request) {
	if a.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := a.cfg.Ready(ctx); err != nil {
			a.log.WarnContext(r.Context(), "not ready", "err", err)
			// Every 503 says when to ask again, as the contract wants.
			w.Header().Set("Retry-After", "1")
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
