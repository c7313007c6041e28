package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/auth"
	"github.com/valetauth/valet/identify"
	"github.com/valetauth/valet/session"
)

// viewer is a signed-in visitor and what their browser holds.
type viewer struct {
	id *valet.Identity
	// token is the access token of a token or hybrid sign-in; empty for a
	// session sign-in.
	token string
	// refresh reports that the browser holds a refresh token.
	refresh bool
	// refreshToken is that refresh token as it stands after this request:
	// the one the browser sent, or the one whoIs got it in its place.
	refreshToken string
}

// seenKey is the context key of what enrolFirst found out about a request,
// so that the page it lets through does not identify the browser again.
type seenKey struct{}

type seen struct {
	v     *viewer
	ended bool
}

// whoIs returns the viewer of r, or nil for a visitor who is not signed in,
// by the one identification step that the API uses too, reading cookies
// only: a page is for a browser, and a browser's sign-in is its cookies. An access token
// that has expired (or was dropped by the browser at its Max-Age) is
// renewed with the refresh cookie, so a token sign-in lasts as long as its
// refresh family. ended reports that the browser held a credential that is
// no longer good; its cookies are then cleared on w. err is a failure of a
// store, never a bad credential.
func (h *Handler) whoIs(w http.ResponseWriter, r *http.Request) (v *viewer, ended bool, err error) {
	ctx := r.Context()
	if s, ok := ctx.Value(seenKey{}).(seen); ok {
		return s.v, s.ended, nil
	}
	rt := session.Value(r, session.RefreshName)
	res := h.id.Identify(r)
	switch {
	case res.Identity != nil:
		v := &viewer{id: res.Identity, token: res.Token, refresh: res.Source == identify.TokenCookie && rt != ""}
		if v.refresh {
			v.refreshToken = rt
		}
		return v, false, nil
	case identify.SystemFailure(res.Err):
		return nil, false, res.Err
	case res.Source != identify.None:
		ended = true
	}
	if rt != "" {
		// A revoked hybrid session or a disabled user has had its refresh
		// family revoked too, so this cannot bring an ended sign-in back.
		g, err := h.svc.Refresh(ctx, rt, h.client(r))
		if err == nil {
			var id *valet.Identity
			if id, err = h.svc.IdentifyBearer(ctx, g.AccessToken); err == nil {
				h.setGrantCookies(w, r, g)
				return &viewer{id: id, token: g.AccessToken, refresh: true, refreshToken: g.RefreshToken}, false, nil
			}
		}
		if identify.SystemFailure(err) {
			return nil, false, err
		}
		ended = true
	}
	if ended {
		h.cookies.ClearAll(w, r)
	}
	return nil, ended, nil
}

// renew gets a token sign-in a new access token after the record of its
// device session changed (a factor added, a proof of who the user is
// given): a token carries the methods and time of its sign-in, which the
// policy and the account page read. A failure is logged: the token says
// what it said until it expires, and the refresh then brings the change.
func (h *Handler) renew(w http.ResponseWriter, r *http.Request, v *viewer) {
	if v.token == "" || v.refreshToken == "" {
		return
	}
	g, err := h.svc.Refresh(r.Context(), v.refreshToken, h.client(r))
	if err != nil {
		h.log.WarnContext(r.Context(), "renewing the access token after a change failed", "user_id", v.id.User.ID, "err", err)
		return
	}
	v.token, v.refreshToken = g.AccessToken, g.RefreshToken
	h.setGrantCookies(w, r, g)
}

// enrolFirst holds a browser whose sign-in the server's policy keeps until
// it adds a second factor (Identity.MustEnrol): every page but the account
// page, where one is added, and sign-out sends it there. Form posts are
// held by signedIn. The viewer found is kept on the request for the page.
func (h *Handler) enrolFirst(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if r.Method != http.MethodGet && r.Method != http.MethodHead || p == "/account" || p == "/signout" || strings.HasPrefix(p, "/assets/") {
			next.ServeHTTP(w, r)
			return
		}
		v, ended, err := h.whoIs(w, r)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if v != nil && v.id.MustEnrol {
			h.toEnrol(w, r)
			return
		}
		inner := r.WithContext(context.WithValue(r.Context(), seenKey{}, seen{v: v, ended: ended}))
		next.ServeHTTP(w, inner)
		// The router set the route's pattern on the request it was given;
		// the metrics read it from this one.
		r.Pattern = inner.Pattern
	})
}

// toEnrol sends a browser to the account page to add a second factor,
// with the page it asked for in rd, where the account page leads once a
// factor is added.
func (h *Handler) toEnrol(w http.ResponseWriter, r *http.Request) {
	rd := ""
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		rd = r.URL.RequestURI()
		if r.URL.Path == "/" {
			rd = h.vetReturn(returnParam(r.URL.Query()), r)
		}
	}
	target := "/account"
	if rd != "" && rd != "/account" {
		target += "?rd=" + url.QueryEscape(rd)
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// setGrantCookies hands the browser what a sign-in or refresh gave it, and
// drops what another mode had given it before.
func (h *Handler) setGrantCookies(w http.ResponseWriter, r *http.Request, g *auth.Grant) {
	if g.Mode == valet.ModeSession {
		h.cookies.ClearStale(w, r)
		http.SetCookie(w, h.cookies.Session(g.Cookie, g.Session.ExpiresAt))
		http.SetCookie(w, h.cookies.New(session.TokenName, "", time.Time{}))
		http.SetCookie(w, h.cookies.New(session.RefreshName, "", time.Time{}))
		return
	}
	now := h.now()
	http.SetCookie(w, h.cookies.New(session.TokenName, g.AccessToken, now.Add(g.AccessTTL)))
	http.SetCookie(w, h.cookies.New(session.RefreshName, g.RefreshToken, now.Add(g.RefreshTTL)))
	http.SetCookie(w, h.cookies.Session("", time.Time{}))
	h.cookies.ClearStale(w, r)
}

// endBrowserLogin ends on the server whatever sign-in r's cookies stand for:
// the session, the refresh family, and a hybrid token's session. Cookies
// that are no longer good are skipped; only a store failure is an error.
func (h *Handler) endBrowserLogin(r *http.Request) error {
	ctx, c := r.Context(), h.client(r)
	if v, ok := h.cookies.SessionValue(r); ok {
		id, err := h.svc.IdentifyCookie(ctx, v)
		if err == nil {
			err = h.svc.Logout(ctx, id, c)
		}
		if identify.SystemFailure(err) {
			return err
		}
	}
	// Revoking the refresh family also ends a hybrid family's session.
	if rt := session.Value(r, session.RefreshName); rt != "" {
		if err := h.svc.RevokeRefresh(ctx, rt, c); identify.SystemFailure(err) {
			return err
		}
	}
	if tok := session.Value(r, session.TokenName); tok != "" {
		id, err := h.svc.IdentifyBearer(ctx, tok)
		if err == nil {
			err = h.svc.Logout(ctx, id, c)
		}
		if identify.SystemFailure(err) {
			return err
		}
	}
	return nil
}

// flash is a one-time message shown on the page a redirect lands on.
type flash struct {
	// Kind is "ok", "info" or "error".
	Kind string
	Text string
}

// flashes are the only messages a flash cookie can name: the cookie holds a
// key, never text, so no one can make a page say something of their choice.
var flashes = map[string]flash{
	"welcome":               {"ok", "Welcome. Your account is ready and you are signed in."},
	"welcome-verify":        {"ok", "Welcome. Your account is ready and you are signed in. We sent a link and a code to your address to verify it."},
	"signup-verify":         {"ok", "Your account is ready. We sent a link and a code to your address: verify it, then sign in."},
	"signed-out":            {"ok", "You have signed out."},
	"session-ended":         {"info", "Your sign-in has ended. Sign in again to continue."},
	"session-revoked":       {"ok", "That session is signed out. Its device will be asked to sign in again."},
	"session-gone":          {"info", "That session had already ended."},
	"others-revoked":        {"ok", "Every other session is signed out."},
	"app-revoked":           {"ok", "The app's access is withdrawn: its refresh tokens are revoked, it was told to sign you out, and it must ask you again. An access token it already holds works until it expires."},
	"app-gone":              {"info", "That app had no access left to withdraw."},
	"password-changed":      {"ok", "Your password is changed, every other session is signed out, and this one has a new sign-in."},
	"roles-saved":           {"ok", "Roles saved."},
	"user-disabled":         {"ok", "The user is disabled and all of their sessions are ended."},
	"user-enabled":          {"ok", "The user is enabled again."},
	"user-revoked":          {"ok", "All of the user's sessions are ended."},
	"signup-signin":         {"ok", "Your account is ready. Sign in to continue."},
	"password-signin":       {"ok", "Your password is changed. Sign in with it to continue."},
	"password-reset":        {"ok", "Your new password is set, every device that was signed in is signed out, and this browser is signed in with it."},
	"password-reset-signin": {"ok", "Your new password is set and every device is signed out. Sign in with it to continue."},
	"email-verified":        {"ok", "Your email address is verified."},
	"verify-sent":           {"ok", "A new link and code are on their way to your address. Open the link, or enter the code below."},
	"verify-resent":         {"ok", "If an account with this address is waiting to be verified, a new link and code are on their way to it."},
	"email-change-sent":     {"ok", "A link and a code are on their way to your new address: the change takes effect once you use one of them. Your current address was told."},
	"mfa-expired":           {"info", "That sign-in was finished, took too long, or had too many wrong codes. Sign in again."},
	"password-reset-mfa":    {"ok", "Your password is set. Your second factor is still needed to sign in; a recovery code works if you lost it."},
	"reauth-done":           {"ok", "Thank you: it is you. Make the change again now."},
	"factor-removed":        {"ok", "The second factor is removed. We sent a mail about it to your address."},
	"factor-gone":           {"info", "That second factor had already been removed."},
	"totp-gone":             {"info", "That authenticator app was no longer waiting for its first code. Add it again."},
	"passkey-added":         {"ok", "Your passkey is added: sign in with it alone, or use it after your password."},
	"mfa-reset":             {"ok", "The user's second factors and recovery codes are removed, and all of their sessions are ended. They sign in with their password alone until they add a factor again."},
}

func (h *Handler) setFlash(w http.ResponseWriter, key string) {
	c := h.cookies.New(FlashCookie, key, h.now().Add(time.Minute))
	http.SetCookie(w, c)
}

// tokensSuffix marks a flash key whose change left access tokens working
// (token mode) or carrying old roles until they expire: the message says
// until when.
const tokensSuffix = "+tokens"

// flashKey is the flash of a change that withdrew access: key, or key with
// tokensSuffix when access tokens outlive it.
func flashKey(key string, wd auth.Withdrawal) string {
	if wd.TokensUntil.IsZero() {
		return key
	}
	return key + tokensSuffix
}

// takeFlash returns the message that r's flash cookie names, and clears it.
func (h *Handler) takeFlash(w http.ResponseWriter, r *http.Request) *flash {
	key := session.Value(r, FlashCookie)
	if key == "" {
		return nil
	}
	http.SetCookie(w, h.cookies.New(FlashCookie, "", time.Time{}))
	base, tokens := strings.CutSuffix(key, tokensSuffix)
	f, ok := flashes[base]
	if !ok {
		return nil
	}
	if tokens {
		// The change was made less than the cookie's minute ago, so an
		// access token issued before it expires within AccessTTL of now:
		// the time said is a bound that holds, never an invented one.
		until := h.now().Add(h.svc.Settings().AccessTTL).UTC()
		note := "An app signed in with tokens cannot renew them, but an access token it already holds keeps working until %s at the latest."
		if base == "roles-saved" {
			note = "Access tokens already issued keep the old roles until %s at the latest; session sign-ins have the new ones now."
		}
		f.Text += " " + fmt.Sprintf(note, until.Format("2 Jan 15:04 UTC"))
	}
	return &f
}

// redirect sends the browser to target with a flash message (none when key
// is empty). 303 makes the browser follow a form post with a GET.
func (h *Handler) redirect(w http.ResponseWriter, r *http.Request, target, key string) {
	if key != "" {
		h.setFlash(w, key)
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}
