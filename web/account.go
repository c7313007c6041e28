package web

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/auth"
	"github.com/valetauth/valet/oidc"
	"github.com/valetauth/valet/session"
	"github.com/valetauth/valet/token"
)

// sessionView is one session as the account and admin pages show it.
type sessionView struct {
	ID         string
	Mode       valet.Mode
	Device     Device
	UserAgent  string
	IP         string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
	IdleAt     time.Time
	LastSeen   string
	Current    bool
}

// claimLine is one member of a decoded JWT part, in display order.
type claimLine struct {
	Name, Value string
	// Time is the member's value as a time, for exp, iat and nbf.
	Time  time.Time
	Comma bool
}

// holdsView is the comparison of what the browser holds with what the
// server holds, for the mode of the current sign-in.
type holdsView struct {
	Mode        valet.Mode
	CookieName  string
	CookieLen   int
	CookieAttrs []string
	// Record is the server's session record (session and hybrid modes).
	Record *sessionView
	// Header and Claims are the decoded parts of the access token.
	Header, Claims []claimLine
	TokenLen       int
	SignatureLen   int
	TokenError     string
	RefreshHeld    bool
	AccessTTL      time.Duration
	ExpiresAt      time.Time
}

type accountData struct {
	layout
	User     valet.User
	Mode     valet.Mode
	Expires  time.Time
	Sessions []sessionView
	// SessionsNote explains an empty or missing list.
	SessionsNote string
	Others       int
	// TokenSessions counts the listed token-mode sessions, whose access
	// tokens outlive their ending; AccessTTL says by how much at most.
	TokenSessions int
	AccessTTL     time.Duration
	Holds         holdsView
	Password      formState
	// Verify and EmailChange are the forms of the email section; Mail says
	// whether the server sends mail, and so offers them.
	Verify      formState
	EmailChange formState
	Mail        bool
	VerifyTTL   time.Duration
	// MFA is the section of second factors and passkeys; nil when the
	// server keeps none.
	MFA *mfaSection
	// Reauth, when set, asks for a proof of who the user is before a
	// sensitive change.
	Reauth *reauthView
	// Apps are the applications the user let in through valet, when the
	// server is an OpenID Connect provider; ShowApps says it is.
	Apps     []appView
	ShowApps bool
	// MustEnrol says that the server's policy wants a second factor first:
	// the page shows only how to add one. ReturnTo is where to go after.
	MustEnrol bool
	ReturnTo  string
}

// appView is one application on the account page.
type appView struct {
	oidc.App
	// ScopeText says in words what the scopes let the app have.
	ScopeText string
}

// scopeWords are what each scope lets an app have, in words, in the
// order the page says them.
var scopeWords = []struct{ scope, words string }{
	{oidc.ScopeOpenID, "who you are"},
	{oidc.ScopeEmail, "your email address"},
	{oidc.ScopeProfile, "your profile"},
	{oidc.ScopeRoles, "your roles"},
	{oidc.ScopeOfflineAccess, "your data while you are away"},
}

func newAppView(a oidc.App) appView {
	var words []string
	for _, w := range scopeWords {
		if slices.Contains(a.Scopes, w.scope) {
			words = append(words, w.words)
		}
	}
	return appView{App: a, ScopeText: strings.Join(words, ", ")}
}

// accountForms are the forms of the account page shown again after a
// failed post.
type accountForms struct {
	Password, Verify, Email formState
	// TOTP and Passkey are the forms that add a factor; MFA is an error of
	// the section as a whole.
	TOTP, Passkey formState
	MFA           string
	// Reauth asks for a proof of who the user is, with what a failed one
	// said.
	Reauth *formState
}

// bounce sends a visitor who is not (or no longer) signed in to sign in,
// coming back here afterwards when the request was a page view.
func (h *Handler) bounce(w http.ResponseWriter, r *http.Request, ended bool) {
	target := "/"
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		target += "?return_to=" + url.QueryEscape(r.URL.RequestURI())
	}
	key := ""
	if ended {
		key = "session-ended"
	}
	h.redirect(w, r, target, key)
}

// signedIn returns the viewer of r, or answers the request itself (a
// redirect to sign in, or an error page) and returns nil. A viewer whom
// the server's policy sends to add a second factor first is sent there.
func (h *Handler) signedIn(w http.ResponseWriter, r *http.Request) *viewer {
	v := h.enrolling(w, r)
	if v != nil && v.id.MustEnrol {
		h.toEnrol(w, r)
		return nil
	}
	return v
}

// enrolling is signedIn for the account page and what adds a second
// factor, which a viewer held by the policy may use.
func (h *Handler) enrolling(w http.ResponseWriter, r *http.Request) *viewer {
	v, ended, err := h.whoIs(w, r)
	if err != nil {
		h.fail(w, r, err)
		return nil
	}
	if v == nil {
		h.bounce(w, r, ended)
		return nil
	}
	return v
}

// accountPage shows the account. With ?reauth=1 (where a script is sent
// when a change needs a recent sign-in) it asks for a proof of who the
// user is first, unless the sign-in is recent.
func (h *Handler) accountPage(w http.ResponseWriter, r *http.Request) {
	v := h.enrolling(w, r)
	if v == nil {
		return
	}
	var forms accountForms
	if r.URL.Query().Get("reauth") != "" {
		switch err := h.svc.RequireRecent(r.Context(), v.id); {
		case errors.Is(err, valet.ErrReauthRequired):
			forms.Reauth = &formState{}
		case err != nil && !errors.Is(err, valet.ErrUnauthenticated):
			h.fail(w, r, err)
			return
		}
	}
	h.renderAccount(w, r, v, http.StatusOK, forms, h.takeFlash(w, r))
}

func (h *Handler) renderAccount(w http.ResponseWriter, r *http.Request, v *viewer, status int, forms accountForms, fl *flash) {
	ctx := r.Context()
	u := v.id.User
	if v.token != "" {
		// A token carries only the user's id, email and roles; the page
		// looks up the rest for display. Authorization used the token alone.
		switch full, err := h.svc.User(ctx, u.ID); {
		case err == nil:
			u = full
		case !errors.Is(err, valet.ErrNotFound):
			h.fail(w, r, err)
			return
		}
	}
	d := accountData{
		layout:   h.layoutFor(v, "Your account", "account", fl),
		User:     u,
		Mode:     v.id.Mode,
		Expires:  v.id.ExpiresAt,
		Password: forms.Password,
		Verify:   forms.Verify, EmailChange: forms.Email,
		Mail:      h.svc.Settings().Mail,
		VerifyTTL: h.svc.Settings().VerifyTTL,
		MustEnrol: v.id.MustEnrol,
		ReturnTo:  h.vetReturn(returnParam(r.URL.Query()), r),
	}
	if r.Method == http.MethodPost {
		d.ReturnTo = h.vetReturn(returnParam(r.PostForm), r)
	}
	h.allowFormRedirect(w, d.ReturnTo)
	var err error
	if d.MFA, err = h.mfaSection(r, v, forms); err != nil {
		h.fail(w, r, err)
		return
	}
	if forms.Reauth != nil {
		if d.Reauth, err = h.reauthView(r, v, *forms.Reauth); err != nil {
			h.fail(w, r, err)
			return
		}
		d.Reauth.ReturnTo = d.ReturnTo
	}
	now := h.now()
	list, err := h.svc.UserSessions(ctx, u.ID)
	switch {
	case err == nil:
		for _, s := range list {
			sv := h.sessionView(s, now)
			sv.Current = s.ID == v.id.SessionID
			if !sv.Current {
				d.Others++
			}
			if s.Mode == valet.ModeToken {
				d.TokenSessions++
			}
			d.Sessions = append(d.Sessions, sv)
		}
		// This device first, then newest first as the store gives them.
		slices.SortStableFunc(d.Sessions, func(a, b sessionView) int {
			switch {
			case a.Current == b.Current:
				return 0
			case a.Current:
				return -1
			}
			return 1
		})
	case errors.Is(err, valet.ErrInvalidRequest):
		d.SessionsNote = "This server's session store cannot list sessions."
	default:
		h.fail(w, r, err)
		return
	}
	if h.cfg.Apps != nil && !d.MustEnrol {
		apps, err := h.cfg.Apps.Apps(ctx, u.ID)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		d.ShowApps = true
		for _, a := range apps {
			d.Apps = append(d.Apps, newAppView(a))
		}
	}
	d.AccessTTL = h.svc.Settings().AccessTTL
	if d.SessionsNote == "" && len(d.Sessions) == 0 {
		d.SessionsNote = "No sessions are open on the server for your account."
	}
	if d.Holds, err = h.holds(r, v, d.Sessions, now); err != nil {
		h.fail(w, r, err)
		return
	}
	h.render(w, r, status, "account", d)
}

func (h *Handler) layoutFor(v *viewer, title, nav string, fl *flash) layout {
	u := v.id.User
	// Held until a second factor is added, an administrator has no admin
	// page to go to yet.
	return layout{Title: title, Nav: nav, Viewer: &u, IsAdmin: u.HasRole("admin") && !v.id.MustEnrol, Flash: fl}
}

func (h *Handler) sessionView(s valet.Session, now time.Time) sessionView {
	return sessionView{
		ID: s.ID, Mode: s.Mode, Device: ParseUserAgent(s.UserAgent), UserAgent: s.UserAgent, IP: s.IP,
		CreatedAt: s.CreatedAt, LastSeenAt: s.LastSeenAt, ExpiresAt: s.ExpiresAt, IdleAt: s.IdleExpiresAt,
		LastSeen: ago(now, s.LastSeenAt),
	}
}

// holds builds the comparison panel. The page never shows a credential:
// not the cookie's value, not the token's signature, not the refresh token.
func (h *Handler) holds(r *http.Request, v *viewer, sessions []sessionView, now time.Time) (holdsView, error) {
	hv := holdsView{Mode: v.id.Mode, RefreshHeld: v.refresh, AccessTTL: h.svc.Settings().AccessTTL, ExpiresAt: v.id.ExpiresAt}
	if v.id.SessionID != "" {
		for i := range sessions {
			if sessions[i].ID == v.id.SessionID {
				hv.Record = &sessions[i]
			}
		}
		if hv.Record == nil {
			s, found, err := h.svc.Session(r.Context(), v.id.User.ID, v.id.SessionID)
			if err != nil {
				return holdsView{}, err
			}
			if found {
				sv := h.sessionView(s, now)
				sv.Current = true
				hv.Record = &sv
			}
		}
	}
	if v.token == "" {
		hv.CookieName = h.cookies.SessionName()
		value, _ := h.cookies.SessionValue(r)
		hv.CookieLen = len(value)
		hv.CookieAttrs = []string{"HttpOnly", "SameSite=Lax", "Path=/"}
		if !h.cookies.Insecure {
			hv.CookieAttrs = append(hv.CookieAttrs, "Secure")
		}
		return hv, nil
	}
	hv.CookieName = session.TokenName
	hv.TokenLen = len(v.token)
	if i := strings.LastIndexByte(v.token, '.'); i >= 0 {
		hv.SignatureLen = base64.RawURLEncoding.DecodedLen(len(v.token) - i - 1)
	}
	// Decoded for display only, after whoIs verified the token.
	header, claims, err := token.ParseUnverified(v.token)
	if err != nil {
		hv.TokenError = "The token could not be decoded for display."
		return hv, nil
	}
	hv.Header = claimLines(header, []string{"alg", "typ", "kid"})
	hv.Claims = claimLines(claims, []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "sid", "email", "roles"})
	return hv, nil
}

// claimLines lists the members of a decoded JWT part as JSON values, those
// named in order first, then the rest by name.
func claimLines(m map[string]any, order []string) []claimLine {
	names := make([]string, 0, len(m))
	for k := range m {
		if !slices.Contains(order, k) {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	var known []string
	for _, k := range order {
		if _, ok := m[k]; ok {
			known = append(known, k)
		}
	}
	names = append(known, names...)
	out := make([]claimLine, 0, len(names))
	for i, k := range names {
		b, err := json.Marshal(m[k])
		if err != nil {
			b = []byte(`"?"`)
		}
		l := claimLine{Name: k, Value: string(b), Comma: i < len(names)-1}
		if k == "exp" || k == "iat" || k == "nbf" {
			if n, ok := m[k].(json.Number); ok {
				if sec, err := strconv.ParseInt(string(n), 10, 64); err == nil {
					l.Time = time.Unix(sec, 0).UTC()
				}
			}
		}
		out = append(out, l)
	}
	return out
}

// ago says how long before now t was, in the words a person would use.
func ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case t.IsZero():
		return "never"
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute") + " ago"
	case d < 24*time.Hour:
		return plural(int(d/time.Hour), "hour") + " ago"
	case d < 48*time.Hour:
		return "yesterday"
	case d < 30*24*time.Hour:
		return plural(int(d/(24*time.Hour)), "day") + " ago"
	}
	return "on " + t.UTC().Format("2 Jan 2006")
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

func (h *Handler) revokeSession(w http.ResponseWriter, r *http.Request) {
	v := h.signedIn(w, r)
	if v == nil {
		return
	}
	sid := r.PathValue("id")
	wd, err := h.svc.RevokeSession(r.Context(), v.id.User.ID, sid, h.client(r))
	switch {
	case errors.Is(err, valet.ErrNotFound):
		h.redirect(w, r, "/account", "session-gone")
	case err != nil:
		h.fail(w, r, err)
	case sid == v.id.SessionID:
		// Ending this device's session is signing out; a hybrid sign-in's
		// refresh family went with its session.
		h.cookies.ClearAll(w, r)
		h.redirect(w, r, "/", "signed-out")
	default:
		h.redirect(w, r, "/account", flashKey("session-revoked", wd))
	}
}

func (h *Handler) revokeOthers(w http.ResponseWriter, r *http.Request) {
	v := h.signedIn(w, r)
	if v == nil {
		return
	}
	// As DELETE /v1/sessions: a stolen sign-in must not lock the owner's
	// other devices out.
	if err := h.svc.RequireRecent(r.Context(), v.id); err != nil {
		h.needRecent(w, r, v, err)
		return
	}
	wd, err := h.svc.RevokeUserSessions(r.Context(), v.id.User.ID, v.id.SessionID, h.client(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.redirect(w, r, "/account", flashKey("others-revoked", wd))
}

// revokeApp withdraws an application's access: its consent and refresh
// tokens, and, through back-channel logout, its sign-ins from every device
// session of the user.
func (h *Handler) revokeApp(w http.ResponseWriter, r *http.Request) {
	v := h.signedIn(w, r)
	if v == nil {
		return
	}
	if h.cfg.Apps == nil {
		http.NotFound(w, r)
		return
	}
	var sids []string
	switch list, err := h.svc.UserSessions(r.Context(), v.id.User.ID); {
	case err == nil:
		for _, s := range list {
			sids = append(sids, s.ID)
		}
	case !errors.Is(err, valet.ErrInvalidRequest):
		h.fail(w, r, err)
		return
	}
	found, err := h.cfg.Apps.RevokeApp(r.Context(), v.id.User.ID, r.PathValue("id"), sids)
	switch {
	case err != nil:
		h.fail(w, r, err)
	case !found:
		h.redirect(w, r, "/account", "app-gone")
	default:
		h.redirect(w, r, "/account", "app-revoked")
	}
}

func (h *Handler) changePassword(w http.ResponseWriter, r *http.Request) {
	v := h.signedIn(w, r)
	if v == nil || !h.parseForm(w, r) {
		return
	}
	ctx, c := r.Context(), h.client(r)
	current, next := r.PostForm.Get("current_password"), r.PostForm.Get("new_password")
	var (
		g   *auth.Grant
		err error
	)
	if next != r.PostForm.Get("confirm_password") {
		err = errMismatch
	} else {
		g, err = h.svc.ChangePassword(ctx, v.id, current, next, c)
	}
	if errors.Is(err, valet.ErrReauthRequired) {
		h.needRecent(w, r, v, err)
		return
	}
	if err != nil {
		fe := formErr{status: http.StatusBadRequest, field: "confirm_password", message: "The two new passwords are not the same."}
		if !errors.Is(err, errMismatch) {
			fe = h.describe(r, err, "password")
		}
		pw := formState{Error: fe.message, Fields: map[string]string{}}
		if fe.field != "" {
			pw.Fields[fe.field], pw.Error = fe.message, ""
		}
		if fe.retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(fe.retryAfter))
		}
		h.renderAccount(w, r, v, fe.status, accountForms{Password: pw}, nil)
		return
	}
	// Every device session ended, this browser's too, which has a new one.
	h.setGrantCookies(w, r, g)
	h.redirect(w, r, "/account", "password-changed")
}

var errMismatch = errors.New("web: new passwords differ")
