package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/auth"
	"github.com/valetauth/valet/identify"
)

// userJSON is a user as the API shows it: never its password hash.
type userJSON struct {
	ID            string   `json:"id"`
	Email         string   `json:"email"`
	EmailVerified bool     `json:"email_verified"`
	Roles         []string `json:"roles"`
	Disabled      bool     `json:"disabled,omitempty"`
	CreatedAt     *string  `json:"created_at,omitempty"`
}

func toUserJSON(u valet.User) userJSON {
	j := userJSON{ID: u.ID, Email: u.Email, EmailVerified: u.EmailVerified, Roles: u.Roles, Disabled: u.Disabled}
	if j.Roles == nil {
		j.Roles = []string{}
	}
	if !u.CreatedAt.IsZero() {
		s := rfc3339(u.CreatedAt)
		j.CreatedAt = &s
	}
	return j
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

type credentials struct {
	Email    string `json:"email" valet:"required"`
	Password string `json:"password" valet:"required"`
	Mode     string `json:"mode"`
}

// signupIn is the body of a signup: credentials without a mode, since a
// signup does not sign in.
type signupIn struct {
	Email    string `json:"email" valet:"required"`
	Password string `json:"password" valet:"required"`
}

func (a *API) signup(w http.ResponseWriter, r *http.Request) {
	var in signupIn
	if err := decodeJSON(w, r, &in); err != nil {
		a.metrics.signup(err)
		writeError(w, r, a.log, err)
		return
	}
	u, err := a.svc.Signup(r.Context(), in.Email, in.Password, a.client(r))
	a.metrics.signup(err)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"user": toUserJSON(u)})
}

func (a *API) login(w http.ResponseWriter, r *http.Request) {
	var in credentials
	if err := decodeJSON(w, r, &in); err != nil {
		a.metrics.login(in.Mode, nil, err)
		writeError(w, r, a.log, err)
		return
	}
	g, err := a.svc.Login(r.Context(), in.Email, in.Password, valet.Mode(in.Mode), a.client(r))
	a.metrics.login(in.Mode, g, err)
	if err != nil {
		a.writeLoginError(w, r, err)
		return
	}
	a.finishLogin(w, r, g)
}

// writeGrant answers a login or a refresh. The answer is never compressed:
// it holds tokens, beside an email that the client chose (see Compress).
func writeGrant(w http.ResponseWriter, g *auth.Grant) {
	noCompress(w)
	writeJSON(w, http.StatusOK, grantJSON(g))
}

func grantJSON(g *auth.Grant) map[string]any {
	out := map[string]any{"user": toUserJSON(g.User), "mode": string(g.Mode)}
	if g.Session != nil {
		out["session"] = map[string]string{"id": g.Session.ID, "expires_at": rfc3339(g.Session.Expiry())}
	}
	if g.AccessToken != "" {
		out["access_token"] = g.AccessToken
		out["token_type"] = "Bearer"
		out["expires_in"] = int(g.AccessTTL.Seconds())
		out["refresh_token"] = g.RefreshToken
		out["refresh_expires_in"] = int(g.RefreshTTL.Seconds())
	}
	return out
}

type refreshIn struct {
	RefreshToken string `json:"refresh_token" valet:"required"`
}

func (a *API) refresh(w http.ResponseWriter, r *http.Request) {
	var in refreshIn
	if err := decodeJSON(w, r, &in); err != nil {
		a.metrics.refresh(err)
		writeError(w, r, a.log, err)
		return
	}
	g, err := a.svc.Refresh(r.Context(), in.RefreshToken, a.client(r))
	a.metrics.refresh(err)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeGrant(w, g)
}

type logoutIn struct {
	RefreshToken string `json:"refresh_token"`
}

// logout ends whatever the request presents: a bearer token's hybrid
// session, a refresh token's family, the cookie's session. It always clears
// the cookie and answers 204 unless a store fails.
func (a *API) logout(w http.ResponseWriter, r *http.Request) {
	var in logoutIn
	if err := decodeOptionalJSON(w, r, &in); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	ctx, c := r.Context(), a.client(r)
	if in.RefreshToken != "" {
		if err := a.svc.RevokeRefresh(ctx, in.RefreshToken, c); err != nil {
			writeError(w, r, a.log, err)
			return
		}
	}
	id, err := a.Identify(r)
	switch {
	case err == nil:
		if err := a.svc.Logout(ctx, id, c); err != nil {
			writeError(w, r, a.log, err)
			return
		}
	case identify.SystemFailure(err):
		writeError(w, r, a.log, err)
		return
	}
	a.cfg.Cookie.ClearAll(w, r)
	w.WriteHeader(http.StatusNoContent)
}

type sessionJSON struct {
	ID         string `json:"id"`
	Mode       string `json:"mode"`
	CreatedAt  string `json:"created_at"`
	LastSeenAt string `json:"last_seen_at"`
	ExpiresAt  string `json:"expires_at"`
	UserAgent  string `json:"user_agent"`
	IP         string `json:"ip"`
	Current    bool   `json:"current"`
}

func (a *API) listSessions(w http.ResponseWriter, r *http.Request) {
	id := valet.IdentityFrom(r.Context())
	ss, err := a.svc.UserSessions(r.Context(), id.User.ID)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	out := make([]sessionJSON, 0, len(ss))
	for _, s := range ss {
		out = append(out, sessionJSON{
			ID: s.ID, Mode: string(s.Mode), CreatedAt: rfc3339(s.CreatedAt), LastSeenAt: rfc3339(s.LastSeenAt),
			ExpiresAt: rfc3339(s.Expiry()), UserAgent: s.UserAgent, IP: s.IP, Current: s.ID == id.SessionID,
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": out})
}

// TokensUntilHeader is set on the answer to a change that withdraws access
// when access tokens already handed out outlive it: token-mode tokens keep
// working, and every token keeps its roles, until their exp. Its value is the
// latest such exp (RFC 3339); they can never be renewed.
const TokensUntilHeader = "Valet-Tokens-Until"

func tokensUntil(w http.ResponseWriter, wd auth.Withdrawal) {
	if !wd.TokensUntil.IsZero() {
		w.Header().Set(TokensUntilHeader, rfc3339(wd.TokensUntil))
	}
}

func (a *API) deleteSession(w http.ResponseWriter, r *http.Request) {
	id := valet.IdentityFrom(r.Context())
	sid := r.PathValue("id")
	wd, err := a.svc.RevokeSession(r.Context(), id.User.ID, sid, a.client(r))
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	tokensUntil(w, wd)
	if sid == id.SessionID {
		a.cfg.Cookie.ClearAll(w, r)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) deleteSessions(w http.ResponseWriter, r *http.Request) {
	id := valet.IdentityFrom(r.Context())
	keep := id.SessionID
	include, _ := strconv.ParseBool(r.URL.Query().Get("include_current"))
	if include {
		keep = ""
	}
	wd, err := a.svc.RevokeUserSessions(r.Context(), id.User.ID, keep, a.client(r))
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	tokensUntil(w, wd)
	if include {
		a.cfg.Cookie.ClearAll(w, r)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) changePassword(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Current string `json:"current_password" valet:"required"`
		New     string `json:"new_password" valet:"required"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	id := valet.IdentityFrom(r.Context())
	g, err := a.svc.ChangePassword(r.Context(), id, in.Current, in.New, a.client(r))
	if err != nil {
		a.metrics.throttle("password", err)
		writeError(w, r, a.log, err)
		return
	}
	// The caller's device session was replaced by one with a new id: a
	// cookie caller gets the new cookie, a token caller the new pair,
	// which it needs, as the old refresh token is revoked.
	if g.Mode == valet.ModeSession {
		a.setSessionCookie(w, r, g.Cookie, g.Session.ExpiresAt)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeGrant(w, g)
}

func (a *API) jwks(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(a.svc.JWKS())
}

func (a *API) introspect(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Token string `json:"token" valet:"required"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	c, err := a.svc.Introspect(r.Context(), in.Token)
	if err != nil {
		if identify.SystemFailure(err) {
			writeError(w, r, a.log, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"active": false})
		return
	}
	out := map[string]any{"active": true, "sub": c.Subject, "exp": c.ExpiresAt, "iat": c.IssuedAt,
		"roles": nonNil(c.Roles), "token_type": "Bearer", "iss": c.Issuer}
	if c.SessionID != "" {
		out["sid"] = c.SessionID
	}
	if c.Email != "" {
		out["email"] = c.Email
	}
	writeJSON(w, http.StatusOK, out)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
