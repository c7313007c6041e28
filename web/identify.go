package web

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/auth"
	"github.com/valetauth/valet/httpapi"
)

// viewer is a signed-in visitor and what their browser holds.
type viewer struct {
	id *valet.Identity
	// token is the access token of a token or hybrid sign-in; empty for a
	// session sign-in.
	token string
	// refresh reports that the browser holds a refresh token.
	refresh bool
}

// whoIs returns the viewer of r, or nil for a visitor who is not signed in.
// The session cookie is tried first, then the access-token cookie; an access
// token that has expired (or was dropped by the browser at its Max-Age) is
// renewed with the refresh cookie, so a token sign-in lasts as long as its
// refresh family. ended reports that the browser held a credential that is
// no longer good; its cookies are then cleared on w. err is a failure of a
// store, never a bad credential.
func (h *Handler) whoIs(w http.ResponseWriter, r *http.Request) (v *viewer, ended bool, err error) {
	ctx := r.Context()
	if value, ok := h.sessionValue(r); ok && value != "" {
		id, err := h.svc.IdentifyCookie(ctx, value)
		if err == nil {
			return &viewer{id: id}, false, nil
		}
		if systemFailure(err) {
			return nil, false, err
		}
		ended = true
	}
	rt := cookieValue(r, RefreshCookie)
	if tok := cookieValue(r, TokenCookie); tok != "" {
		id, err := h.svc.IdentifyBearer(ctx, tok)
		if err == nil {
			return &viewer{id: id, token: tok, refresh: rt != ""}, false, nil
		}
		if systemFailure(err) {
			return nil, false, err
		}
		ended = true
	}
	if rt != "" {
		// A revoked hybrid session or a disabled user has had its refresh
		// family revoked too, so this cannot bring an ended sign-in back.
		g, err := h.svc.Refresh(ctx, rt, h.client(r))
		if err == nil {
			var id *valet.Identity
			if id, err = h.svc.IdentifyBearer(ctx, g.AccessToken); err == nil {
				h.setGrantCookies(w, g)
				return &viewer{id: id, token: g.AccessToken, refresh: true}, false, nil
			}
		}
		if systemFailure(err) {
			return nil, false, err
		}
		ended = true
	}
	if ended {
		h.clearCredentials(w, r)
	}
	return nil, ended, nil
}

// systemFailure reports an error that says nothing about the credential:
// the store or the revocation set could not answer.
func systemFailure(err error) bool {
	return errors.Is(err, valet.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, context.Canceled)
}

func cookieValue(r *http.Request, name string) string {
	if c, err := r.Cookie(name); err == nil {
		return c.Value
	}
	return ""
}

// cookie returns a cookie with the attributes of the API's session cookie.
// An empty value gives the cookie that clears name.
func (h *Handler) cookie(name, value string, expires time.Time) *http.Cookie {
	c := h.session(value, expires)
	c.Name = name
	return c
}

// setGrantCookies hands the browser what a sign-in or refresh gave it, and
// drops what another mode had given it before.
func (h *Handler) setGrantCookies(w http.ResponseWriter, g *auth.Grant) {
	if g.Mode == valet.ModeSession {
		http.SetCookie(w, h.session(g.Cookie, g.Session.ExpiresAt))
		http.SetCookie(w, h.cookie(TokenCookie, "", time.Time{}))
		http.SetCookie(w, h.cookie(RefreshCookie, "", time.Time{}))
		return
	}
	now := h.now()
	http.SetCookie(w, h.cookie(TokenCookie, g.AccessToken, now.Add(g.AccessTTL)))
	http.SetCookie(w, h.cookie(RefreshCookie, g.RefreshToken, now.Add(g.RefreshTTL)))
	http.SetCookie(w, h.session("", time.Time{}))
}

// clearCredentials tells the browser to drop every credential cookie that
// r carries, the session cookie's legacy name included.
func (h *Handler) clearCredentials(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, h.session("", time.Time{}))
	for _, name := range []string{TokenCookie, RefreshCookie, httpapi.LegacyCookieName} {
		if _, err := r.Cookie(name); err == nil && name != h.api.CookieName {
			http.SetCookie(w, h.cookie(name, "", time.Time{}))
		}
	}
}

// endBrowserLogin ends on the server whatever sign-in r's cookies stand for:
// the session, the refresh family, and a hybrid token's session. Cookies
// that are no longer good are skipped; only a store failure is an error.
func (h *Handler) endBrowserLogin(r *http.Request) error {
	ctx, c := r.Context(), h.client(r)
	if v, ok := h.sessionValue(r); ok && v != "" {
		id, err := h.svc.IdentifyCookie(ctx, v)
		if err == nil {
			err = h.svc.Logout(ctx, id, c)
		}
		if err != nil && systemFailure(err) {
			return err
		}
	}
	// Revoking the refresh family also ends a hybrid family's session.
	if rt := cookieValue(r, RefreshCookie); rt != "" {
		if err := h.svc.RevokeRefresh(ctx, rt, c); err != nil && systemFailure(err) {
			return err
		}
	}
	if tok := cookieValue(r, TokenCookie); tok != "" {
		id, err := h.svc.IdentifyBearer(ctx, tok)
		if err == nil {
			err = h.svc.Logout(ctx, id, c)
		}
		if err != nil && systemFailure(err) {
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
	"welcome":          {"ok", "Welcome. Your account is ready and you are signed in."},
	"signed-out":       {"ok", "You have signed out."},
	"session-ended":    {"info", "Your sign-in has ended. Sign in again to continue."},
	"session-revoked":  {"ok", "That session is signed out. Its device will be asked to sign in again."},
	"session-gone":     {"info", "That session had already ended."},
	"others-revoked":   {"ok", "Every other session is signed out."},
	"password-changed": {"ok", "Your password is changed, and every other session is signed out."},
	"roles-saved":      {"ok", "Roles saved."},
	"user-disabled":    {"ok", "The user is disabled and all of their sessions are ended."},
	"user-enabled":     {"ok", "The user is enabled again."},
	"user-revoked":     {"ok", "All of the user's sessions are ended."},
	"signup-signin":    {"ok", "Your account is ready. Sign in to continue."},
	"password-signin":  {"ok", "Your password is changed. Sign in with it to continue."},
}

func (h *Handler) setFlash(w http.ResponseWriter, key string) {
	c := h.cookie(FlashCookie, key, h.now().Add(time.Minute))
	http.SetCookie(w, c)
}

// takeFlash returns the message that r's flash cookie names, and clears it.
func (h *Handler) takeFlash(w http.ResponseWriter, r *http.Request) *flash {
	key := cookieValue(r, FlashCookie)
	if key == "" {
		return nil
	}
	http.SetCookie(w, h.cookie(FlashCookie, "", time.Time{}))
	if f, ok := flashes[key]; ok {
		return &f
	}
	return nil
}

// redirect sends the browser to target with a flash message (none when key
// is empty). 303 makes the browser follow a form post with a GET.
func (h *Handler) redirect(w http.ResponseWriter, r *http.Request, target, key string) {
	if key != "" {
		h.setFlash(w, key)
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}
