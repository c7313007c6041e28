// Package web serves valet's pages: sign in at / (with a password and,
// when the account has one, a second factor, or with a passkey alone), sign
// up at /signup, the account page with the sessions of each device, the
// email address, the second factors and passkeys at /account, recovery of a
// forgotten password at /recovery, verification of an address at /verify,
// and the administration of users at /admin. The pages are rendered on the
// server with html/template from files embedded in the binary; every form
// works without JavaScript except those of passkeys, which WebAuthn runs in
// the browser, and every response carries a strict Content-Security-Policy
// that allows no inline script or style.
//
// The pages use the same auth.Service as the JSON API, and the API's cookie
// and origin settings: a browser signed in on the pages is signed in to the
// API, and the other way round.
package web

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/auth"
	"github.com/valetauth/valet/httpapi"
	"github.com/valetauth/valet/identify"
	"github.com/valetauth/valet/oidc"
	"github.com/valetauth/valet/session"
)

//go:embed templates assets
var files embed.FS

// ContentSecurityPolicy is the policy every page response carries: nothing
// inline, nothing from another origin, no framing, forms only to this origin.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"

// FlashCookie carries the key of a one-time message across a redirect. The
// credential cookies are named by session.Cookie.
const FlashCookie = "valet_flash"

// maxFormBytes bounds a form body, as the API bounds a JSON body.
const maxFormBytes = 64 << 10

// Config configures the pages. Zero fields take the defaults named.
type Config struct {
	// PageSize is the number of users on one page of /admin. Default 20.
	PageSize int
	// Apps, when set, lists on /account the applications that the user
	// let have their data through valet's OpenID Connect provider, each
	// with a way to withdraw it. *oidc.Provider implements it.
	Apps Apps
}

// Apps are the applications a user signed in to through valet.
type Apps interface {
	Apps(ctx context.Context, userID string) ([]oidc.App, error)
	// RevokeApp withdraws the consent and refresh tokens of userID for
	// clientID and tells the app that the sessions sids ended for it.
	RevokeApp(ctx context.Context, userID, clientID string, sids []string) (bool, error)
}

// Service is the engine the pages run on: the API's, plus what the account
// page shows. *auth.Service implements it.
type Service interface {
	httpapi.Service
	Settings() auth.Settings
	User(ctx context.Context, id string) (valet.User, error)
	Session(ctx context.Context, userID, sid string) (valet.Session, bool, error)
	// ReauthWindow is how long a proof of who one is lets sensitive
	// changes through.
	ReauthWindow() time.Duration
}

var _ Service = (*auth.Service)(nil)

// Handler serves the pages. It is safe for concurrent use.
type Handler struct {
	svc     Service
	id      *identify.Identifier
	cookies session.Cookie
	api     httpapi.Config
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	mux     *http.ServeMux
	csrf    *http.CrossOriginProtection
	next    http.Handler
	pages   map[string]*template.Template
	// passkeys reports that the service takes passkeys, so that the pages
	// offer them.
	passkeys bool
}

// New returns the pages over svc, with the cookie name and attributes,
// trusted origins, client address and logger of api. It panics when svc or
// api is nil, a template does not parse, or a trusted origin is malformed:
// all programmer errors.
func New(svc Service, api *httpapi.API, cfg Config) *Handler {
	if svc == nil || api == nil {
		panic("web: New needs an auth.Service and the httpapi.API it serves beside")
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = 20
	}
	h := &Handler{
		svc:     svc,
		id:      identify.New(svc, api.Config().Cookie, identify.FromCookies),
		cookies: api.Config().Cookie,
		api:     api.Config(),
		cfg:     cfg,
		now:     svc.Settings().Now,
		mux:     http.NewServeMux(),
		csrf:    http.NewCrossOriginProtection(),
		pages:   parseTemplates(),
	}
	h.passkeys = svc.Settings().Passkeys
	h.log = h.api.Logger
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.api.ClientIP == nil {
		h.api.ClientIP = httpapi.PeerIP
	}
	for _, o := range h.api.TrustedOrigins {
		if err := h.csrf.AddTrustedOrigin(o); err != nil {
			panic("web: " + err.Error())
		}
	}
	h.csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.renderError(w, r, http.StatusForbidden, "Request refused",
			"This form was sent from another site, so it was refused. Go back to the page and try again.")
	}))
	h.routes()
	// Pages and assets are compressed by the API's rule (httpapi.Compress):
	// never a response that sets a cookie. No page carries a token.
	h.next = httpapi.Compress(h.csrf.Handler(h.enrolFirst(h.mux)))
	return h
}

func (h *Handler) routes() {
	m := h.mux
	m.HandleFunc("GET /{$}", h.signinPage)
	m.HandleFunc("GET /signin", redirectHome)
	m.HandleFunc("GET /signup", h.signupPage)
	m.HandleFunc("POST /signin", h.signin)
	m.HandleFunc("POST /signin/mfa", h.signinMFA)
	m.HandleFunc("POST /signin/passkey", h.signinPasskey)
	m.HandleFunc("POST /signup", h.signup)
	m.HandleFunc("GET /signout", h.signoutPage)
	m.HandleFunc("POST /signout", h.signout)
	m.HandleFunc("GET /account", h.accountPage)
	m.HandleFunc("POST /account/sessions/{id}/revoke", h.revokeSession)
	m.HandleFunc("POST /account/sessions/revoke-others", h.revokeOthers)
	m.HandleFunc("POST /account/apps/{id}/revoke", h.revokeApp)
	m.HandleFunc("POST /account/password", h.changePassword)
	m.HandleFunc("POST /account/verification", h.requestVerification)
	m.HandleFunc("POST /account/email", h.changeEmail)
	m.HandleFunc("POST /account/reauth", h.reauth)
	m.HandleFunc("POST /account/mfa/totp", h.beginTOTP)
	m.HandleFunc("POST /account/mfa/totp/confirm", h.confirmTOTP)
	m.HandleFunc("POST /account/mfa/{id}/delete", h.deleteFactor)
	m.HandleFunc("POST /account/recovery-codes", h.newRecoveryCodes)
	m.HandleFunc("POST /account/passkeys", h.addPasskey)
	m.HandleFunc("GET /recovery", h.recoveryPage)
	m.HandleFunc("POST /recovery", h.requestRecovery)
	m.HandleFunc("POST /recovery/reset", h.resetPassword)
	m.HandleFunc("GET /verify", h.verifyPage)
	m.HandleFunc("POST /verify", h.verify)
	m.HandleFunc("POST /verify/resend", h.resendVerification)
	m.HandleFunc("GET /admin", h.adminPage)
	m.HandleFunc("POST /admin/users/{id}", h.adminUpdateUser)
	m.HandleFunc("POST /admin/users/{id}/sessions/revoke", h.adminRevokeSessions)
	m.HandleFunc("POST /admin/users/{id}/mfa/reset", h.adminResetFactors)
	m.HandleFunc("GET /assets/{name}", serveAsset)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.renderError(w, r, http.StatusNotFound, "Page not found", "There is no page at this address.")
	})
}

// ServeHTTP sets the security headers on every response, refuses
// cross-origin form posts, bounds form bodies, and routes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", ContentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	// The sign-in page's address may carry a return_to path; it stays here.
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	if r.TLS != nil {
		hd.Set("Strict-Transport-Security", httpapi.HSTS)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	}
	h.next.ServeHTTP(w, r)
}

func redirectHome(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (h *Handler) client(r *http.Request) auth.Client {
	return auth.Client{UserAgent: r.UserAgent(), IP: h.api.ClientIP(r)}
}

// layout is what every page shows around its content.
type layout struct {
	Title string
	// Nav names the current section: "account" or "admin".
	Nav     string
	Viewer  *valet.User
	IsAdmin bool
	Flash   *flash
}

// render executes page name with data into a buffer first, so that a
// template failure becomes a clean 500 rather than half a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	var buf bytes.Buffer
	if err := h.pages[name].ExecuteTemplate(&buf, "layout", data); err != nil {
		h.log.ErrorContext(r.Context(), "rendering page failed", "page", name, "err", err)
		status, buf = http.StatusInternalServerError, bytes.Buffer{}
		buf.WriteString(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Error</title></head>` +
			`<body><h1>Something went wrong</h1><p>Something went wrong on our side. Try again.</p></body></html>`)
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	// Pages show who is signed in and their sessions: no cache may keep them.
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}

type errorPage struct {
	layout
	Heading, Message string
}

// renderError shows a page that explains what went wrong, with status.
func (h *Handler) renderError(w http.ResponseWriter, r *http.Request, status int, heading, message string) {
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	h.render(w, r, status, "error", errorPage{layout: layout{Title: heading}, Heading: heading, Message: message})
}

// fail shows the page for an error that no form can fix: a store that is
// down, or a failure that only the log may describe.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, valet.ErrUnavailable) {
		h.log.WarnContext(r.Context(), "store unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		h.renderError(w, r, http.StatusServiceUnavailable, "Try again shortly",
			"The service is busy or cannot reach its store. Try again in a moment.")
		return
	}
	h.log.ErrorContext(r.Context(), "page failed", "method", r.Method, "path", r.URL.Path, "err", err)
	h.renderError(w, r, http.StatusInternalServerError, "Something went wrong",
		"Something went wrong on our side. Try again; if it keeps happening, tell the people who run this server.")
}

// assetFS is the assets folder of the embedded files.
var assetFS = func() fs.FS {
	sub, err := fs.Sub(files, "assets")
	if err != nil {
		panic("web: " + err.Error())
	}
	return sub
}()
