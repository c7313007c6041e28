package oidc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/token"
)

// accessClaims verifies an access token of this provider: valet's
// signature, the issuer, an aud that is one known client and its azp, and a
// scope (ID tokens and valet's own first-party tokens have none). It
// returns the claims and the client.
func (p *Provider) accessClaims(ctx context.Context, tok string) (*token.Claims, valet.Client, error) {
	var c token.Claims
	if err := p.verify(tok, &c); err != nil {
		return nil, valet.Client{}, err
	}
	if len(c.Audience) != 1 || c.AuthorizedParty == "" || c.Audience[0] != c.AuthorizedParty || c.Scope == "" || c.ID == "" {
		return nil, valet.Client{}, errNotAccessToken
	}
	client, found, err := p.clientByID(ctx, c.AuthorizedParty)
	if err != nil {
		return nil, valet.Client{}, err
	}
	if !found {
		return nil, valet.Client{}, errNotAccessToken
	}
	if p.tokenRevoked(ctx, c.ID) {
		return nil, valet.Client{}, errTokenRevoked
	}
	return &c, client, nil
}

var (
	errNotAccessToken = errors.New("oidc: not an access token of this provider")
	errTokenRevoked   = errors.New("oidc: access token revoked")
)

// bearerError answers a refused userinfo request (RFC 6750 section 3).
func bearerError(w http.ResponseWriter, code, desc string) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	if code == "" {
		h.Set("WWW-Authenticate", `Bearer realm="valet"`)
		writeJSON(w, http.StatusUnauthorized, oerr(errInvalidRequest, desc))
		return
	}
	h.Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="valet", error=%q, error_description=%q`, code, desc))
	writeJSON(w, http.StatusUnauthorized, oerr(code, desc))
}

// userinfo answers the UserInfo endpoint (OpenID Connect Core section
// 5.3): the claims of the token's user that its scopes allow.
func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		writeError(w, oerr(errInvalidRequest, "This endpoint takes GET and POST."))
		return
	}
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		bearerError(w, "", "A Bearer access token is required.")
		return
	}
	ctx := r.Context()
	c, _, err := p.accessClaims(ctx, tok)
	if err != nil {
		if !errors.Is(err, valet.ErrTokenInvalid) && !errors.Is(err, valet.ErrTokenExpired) &&
			!errors.Is(err, errNotAccessToken) && !errors.Is(err, errTokenRevoked) {
			p.cfg.Logger.ErrorContext(ctx, "oidc: userinfo", "err", err)
			writeError(w, oerr(errServerError, "The server failed; try again."))
			return
		}
		bearerError(w, errInvalidToken, "The access token is invalid, expired or revoked.")
		return
	}
	scopes := strings.Fields(c.Scope)
	if !slices.Contains(scopes, ScopeOpenID) || c.Subject == c.AuthorizedParty {
		w.Header().Set("WWW-Authenticate", `Bearer realm="valet", error="insufficient_scope", scope="openid"`)
		writeJSON(w, http.StatusForbidden, oerr("insufficient_scope", "The access token has no openid scope."))
		return
	}
	u, err := p.cfg.Users.User(ctx, c.Subject)
	if errors.Is(err, valet.ErrNotFound) || err == nil && u.Disabled {
		bearerError(w, errInvalidToken, "The user is gone or disabled.")
		return
	}
	if err != nil {
		p.cfg.Logger.ErrorContext(ctx, "oidc: userinfo", "err", err)
		writeError(w, oerr(errServerError, "The server failed; try again."))
		return
	}
	out := map[string]any{"sub": u.ID}
	if slices.Contains(scopes, ScopeEmail) {
		out["email"], out["email_verified"] = u.Email, u.EmailVerified
	}
	if slices.Contains(scopes, ScopeRoles) {
		roles := u.Roles
		if roles == nil {
			roles = []string{}
		}
		out["roles"] = roles
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, out)
}

// revoke answers RFC 7009 revocation. A refresh token of the calling
// client revokes its whole family. An access token of the calling client is
// refused by userinfo from now on, in this process; a resource server that
// verifies the JWT itself accepts it until its exp. Unknown tokens and
// those of other clients get 200 too, as section 2.2 asks.
func (p *Provider) revoke(w http.ResponseWriter, r *http.Request) {
	form, e := readPost(w, r)
	if e != nil {
		writeError(w, e)
		return
	}
	client, e := p.authenticateClient(r, form)
	if e != nil {
		writeError(w, e)
		return
	}
	tok := form.Get("token")
	if tok == "" {
		writeError(w, oerr(errInvalidRequest, "token is required."))
		return
	}
	if err := p.cfg.Clients.RevokeClientRefreshToken(r.Context(), client.ID, valet.HashSecret(tok)); err != nil {
		p.cfg.Logger.ErrorContext(r.Context(), "oidc: revoke", "err", err)
		writeError(w, oerr(errServerError, "The server failed; try again."))
		return
	}
	c, tc, err := p.accessClaims(r.Context(), tok)
	if err == nil && tc.ID == client.ID {
		if err := p.revokeToken(r.Context(), c.ID, time.Unix(c.ExpiresAt, 0).Add(token.DefaultLeeway)); err != nil {
			p.cfg.Logger.ErrorContext(r.Context(), "oidc: revoke", "err", err)
			writeError(w, oerr(errServerError, "The server failed; try again."))
			return
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// logout answers RP-initiated logout (OpenID Connect RP-Initiated Logout
// 1.0). The browser's valet session is ended at once when the request
// carries a valid id_token_hint of the signed-in user (or no one is signed
// in); otherwise the user confirms on a page whose POST is refused from
// another origin, so that a link elsewhere cannot sign anyone out. The
// browser goes to post_logout_redirect_uri only when it is one of the
// client's PostLogoutRedirectURIs exactly; else it sees a signed-out page.
func (p *Provider) logout(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		if err := http.NewCrossOriginProtection().Check(r); err != nil {
			errorPage(w, http.StatusForbidden, "The sign-out was asked for by another site.")
			return
		}
	} else if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET, POST")
		errorPage(w, http.StatusMethodNotAllowed, "This address takes GET and POST.")
		return
	}
	if !readForm(w, r) {
		errorPage(w, http.StatusBadRequest, "The request is malformed or too large.")
		return
	}
	form := r.Form
	ctx := r.Context()
	for name, vs := range form {
		if len(vs) > 1 {
			errorPage(w, http.StatusBadRequest, "The parameter "+name+" is given more than once.")
			return
		}
	}
	var hint *token.Claims
	if h := form.Get("id_token_hint"); h != "" {
		var c token.Claims
		// An ID token: aud one client, azp the same, no scope.
		if err := p.verify(h, &c); err == nil && len(c.Audience) == 1 && c.Audience[0] == c.AuthorizedParty && c.Scope == "" {
			hint = &c
		}
	}
	clientID := form.Get("client_id")
	if hint != nil {
		if clientID != "" && clientID != hint.AuthorizedParty {
			hint, clientID = nil, ""
		} else {
			clientID = hint.AuthorizedParty
		}
	}
	var target string
	if uri := form.Get("post_logout_redirect_uri"); uri != "" && clientID != "" {
		client, found, err := p.clientByID(ctx, clientID)
		if err != nil {
			p.serverError(w, r, "logout", err)
			return
		}
		if found && slices.Contains(client.PostLogoutRedirectURIs, uri) {
			q := url.Values{}
			if s := form.Get("state"); s != "" {
				q.Set("state", s)
			}
			target = withQuery(uri, q)
		}
	}
	id := p.identify(r)
	confirmed := r.Method == http.MethodPost && r.PostForm.Get("confirm") == "yes"
	if id != nil && !confirmed && (hint == nil || hint.Subject != id.User.ID) {
		var fields []field
		for _, name := range []string{"id_token_hint", "client_id", "post_logout_redirect_uri", "state"} {
			if v := form.Get(name); v != "" {
				fields = append(fields, field{Name: name, Value: v})
			}
		}
		render(w, http.StatusOK, "logout", page{Title: "Sign out", Action: "/oauth2/logout", Fields: fields})
		return
	}
	if id != nil && p.cfg.EndSession != nil {
		if err := p.cfg.EndSession(ctx, r, w); err != nil {
			p.serverError(w, r, "logout", err)
			return
		}
	}
	if id == nil && hint != nil && hint.SessionID != "" {
		// No browser session came with the request: an application's
		// server asks, holding the ID token of the session to end.
		if p.cfg.EndSessionByID == nil {
			errorPage(w, http.StatusBadRequest, "This server cannot end a session without its browser: nothing was signed out.")
			return
		}
		if err := p.cfg.EndSessionByID(ctx, hint.Subject, hint.SessionID); err != nil {
			p.serverError(w, r, "logout", err)
			return
		}
	}
	if target == "" {
		render(w, http.StatusOK, "signedout", page{Title: "Signed out"})
		return
	}
	w.Header().Set("Location", target)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusFound)
}

// SessionEnded tells the clients that got tokens from the device session
// sid that it has ended (OpenID Back-Channel Logout 1.0),
// forgets its grants and revokes the clients' refresh families that came
// from it. For each client with a BackchannelLogoutURI it signs
// a logout token and POSTs it in the background, trying again a few times
// (Config.LogoutRetries) while the answer is not 200 or 204; Close waits
// for the deliveries. The error is that of the store; the deliveries' are
// logged.
//
// Its shape is that of auth.Config.SessionEnded; the user is that of each
// grant, so the userID given, which may be empty (a session that another
// process ended), is not needed.
//
// The tokens' header has typ "JWT": valet's token package writes no other.
func (p *Provider) SessionEnded(ctx context.Context, _, sid string) error {
	if sid == "" {
		return nil
	}
	// Taken, not read: of the nodes told at once that the session ended,
	// one tells each client.
	grants, err := p.cfg.Clients.TakeClientGrants(ctx, sid)
	if err != nil {
		return fmt.Errorf("oidc: session ended: %w", err)
	}
	for _, g := range grants {
		client, found, err := p.clientByID(ctx, g.ClientID)
		if err != nil {
			return fmt.Errorf("oidc: session ended: %w", err)
		}
		if !found {
			continue
		}
		if err := p.tellLogout(&client, g.UserID, sid); err != nil {
			return fmt.Errorf("oidc: session ended: %w", err)
		}
	}
	// The families of clients that came from the session end with it, so
	// that a sign-out everywhere leaves no app signed in.
	if _, err := p.cfg.Clients.RevokeClientRefreshes(ctx, valet.ClientRefreshFilter{SessionID: sid}); err != nil {
		return fmt.Errorf("oidc: session ended: %w", err)
	}
	return nil
}

// deliver POSTs a logout token to uri, trying again with a growing pause
// until it is taken, the retries are spent or the provider closes.
func (p *Provider) deliver(clientID, uri, tok string) {
	defer p.wg.Done()
	body := url.Values{"logout_token": {tok}}.Encode()
	pause := time.Second
	for attempt := 0; ; attempt++ {
		err := p.post(uri, body)
		if err == nil {
			return
		}
		if attempt >= p.cfg.LogoutRetries {
			p.cfg.Logger.Warn("oidc: back-channel logout not delivered", "client_id", clientID, "err", err)
			return
		}
		select {
		case <-p.closing:
			p.cfg.Logger.Warn("oidc: back-channel logout abandoned at close", "client_id", clientID, "err", err)
			return
		case <-time.After(pause):
		}
		pause *= 2
	}
}

func (p *Provider) post(uri, body string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-p.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, uri, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := p.cfg.HTTPClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}
