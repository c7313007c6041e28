package oidc

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/token"
)

// tokenResponse is the answer of the token endpoint (RFC 6749 section 5.1,
// OpenID Connect Core section 3.1.3.3).
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

// readPost parses a POST form body of the token and revocation endpoints.
// Parameters in the query are ignored, and one given twice is refused
// (RFC 6749 section 3.2).
func readPost(w http.ResponseWriter, r *http.Request) (url.Values, *oauthError) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		return nil, oerr(errInvalidRequest, "This endpoint takes POST.")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBodySize)
	if err := r.ParseForm(); err != nil {
		return nil, oerr(errInvalidRequest, "The body is not a form of a sensible size.")
	}
	for name, vs := range r.PostForm {
		if len(vs) > 1 {
			return nil, oerr(errInvalidRequest, "The parameter "+name+" is given more than once.")
		}
		if len(vs[0]) > maxParamLen {
			return nil, oerr(errInvalidRequest, "The parameter "+name+" is too long.")
		}
	}
	return r.PostForm, nil
}

// authenticateClient returns the client that makes r: client_secret_basic,
// client_secret_post, or for a public client its client_id alone (none).
func (p *Provider) authenticateClient(r *http.Request, form url.Values) (valet.Client, *oauthError) {
	var id, secret string
	basic := false
	if h := r.Header.Get("Authorization"); h != "" {
		u, s, ok := r.BasicAuth()
		if !ok {
			return valet.Client{}, oerr(errInvalidClient, "The Authorization header is not Basic client credentials.")
		}
		// RFC 6749 section 2.3.1: both are form-encoded before Basic.
		var err1, err2 error
		id, err1 = url.QueryUnescape(u)
		secret, err2 = url.QueryUnescape(s)
		if err1 != nil || err2 != nil {
			return valet.Client{}, oerr(errInvalidClient, "The Basic client credentials are malformed.")
		}
		basic = true
	}
	if form.Has("client_secret") {
		if basic {
			return valet.Client{}, oerr(errInvalidRequest, "Use one client authentication method, not two.")
		}
		secret = form.Get("client_secret")
	}
	if fid := form.Get("client_id"); fid != "" {
		if basic && fid != id {
			return valet.Client{}, oerr(errInvalidRequest, "client_id differs from the authenticated client.")
		}
		id = fid
	}
	if id == "" {
		return valet.Client{}, oerr(errInvalidClient, "Client authentication is required.")
	}
	c, found, err := p.clientByID(r.Context(), id)
	if err != nil {
		p.cfg.Logger.ErrorContext(r.Context(), "oidc: client lookup", "err", err)
		return valet.Client{}, oerr(errServerError, "The server failed; try again.")
	}
	if !found {
		// Spend the time of a comparison, so that an unknown client and a
		// wrong secret take alike.
		secretMatches(&valet.Client{SecretHash: valet.HashSecret("")}, secret+"x")
		return valet.Client{}, oerr(errInvalidClient, "The client is unknown or its credentials are wrong.")
	}
	if c.Public() {
		// Some libraries send a public client's id in Basic with an empty
		// password; that is the id alone.
		if secret != "" {
			return valet.Client{}, oerr(errInvalidClient, "A public client has no secret.")
		}
		return c, nil
	}
	if !secretMatches(&c, secret) {
		return valet.Client{}, oerr(errInvalidClient, "The client is unknown or its credentials are wrong.")
	}
	return c, nil
}

func (p *Provider) tokenEndpoint(w http.ResponseWriter, r *http.Request) {
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
	var resp *tokenResponse
	switch gt := form.Get("grant_type"); gt {
	case "authorization_code":
		resp, e = p.codeGrant(r, form, client)
	case "client_credentials":
		resp, e = p.clientCredentials(form, client)
	case "refresh_token":
		resp, e = p.refreshGrant(r, form, client)
	case "":
		e = oerr(errInvalidRequest, "grant_type is required.")
	default:
		e = oerr(errUnsupportedGrantType, "The grant types are authorization_code, refresh_token and client_credentials.")
	}
	if e != nil {
		writeError(w, e)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, resp)
}

// codeGrant redeems an authorization code (RFC 6749 section 4.1.3, RFC 7636
// section 4.6).
func (p *Provider) codeGrant(r *http.Request, form url.Values, client valet.Client) (*tokenResponse, *oauthError) {
	ctx := r.Context()
	raw := form.Get("code")
	if raw == "" {
		return nil, oerr(errInvalidRequest, "code is required.")
	}
	hash := valet.HashSecret(raw)
	now := p.now()
	code, found, used, err := p.cfg.Clients.TakeAuthCode(ctx, hash, now)
	if err != nil {
		p.cfg.Logger.ErrorContext(ctx, "oidc: take code", "err", err)
		return nil, oerr(errServerError, "The server failed; try again.")
	}
	if used {
		// A code used twice was stolen, or its first use was: what it
		// issued is revoked (RFC 6749 section 4.1.2), whichever node
		// issued it, since its ids come from the code.
		if err := p.revokeIssued(ctx, hash, client); err != nil {
			p.cfg.Logger.ErrorContext(ctx, "oidc: revoke what a replayed code issued", "err", err)
			return nil, oerr(errServerError, "The server failed; try again.")
		}
		p.cfg.Logger.WarnContext(ctx, "oidc: authorization code replayed", "client_id", client.ID)
		return nil, oerr(errInvalidGrant, "The code was used already.")
	}
	if !found {
		return nil, oerr(errInvalidGrant, "The code is unknown or expired.")
	}
	if code.ClientID != client.ID {
		return nil, oerr(errInvalidGrant, "The code was issued to another client.")
	}
	if form.Get("redirect_uri") != code.RedirectURI {
		return nil, oerr(errInvalidGrant, "redirect_uri differs from the authorization request's.")
	}
	verifier := form.Get("code_verifier")
	switch {
	case code.CodeChallenge == "" && verifier != "":
		return nil, oerr(errInvalidGrant, "code_verifier without a code_challenge.")
	case code.CodeChallenge != "" && verifier == "":
		return nil, oerr(errInvalidGrant, "code_verifier is required.")
	case code.CodeChallenge != "" && !verifierMatches(verifier, code.CodeChallenge):
		return nil, oerr(errInvalidGrant, "code_verifier does not match the code_challenge.")
	}
	u, err := p.cfg.Users.User(ctx, code.UserID)
	if errors.Is(err, valet.ErrNotFound) || err == nil && u.Disabled {
		return nil, oerr(errInvalidGrant, "The user is gone or disabled.")
	}
	if err != nil {
		p.cfg.Logger.ErrorContext(ctx, "oidc: user", "err", err)
		return nil, oerr(errServerError, "The server failed; try again.")
	}
	return p.issueTokens(ctx, &client, &u, grantInfo{
		sessionID: code.SessionID, scopes: code.Scopes, nonce: code.Nonce, amr: code.AMR, authTime: code.AuthTime,
		jti: fromCode("access token", hash), family: fromCode("refresh family", hash),
	}, "")
}

// grantInfo is what an authorization code or a refresh token stands for.
type grantInfo struct {
	sessionID string
	scopes    []string
	nonce     string
	amr       []string
	authTime  time.Time
	// jti and family are the ids of the access token and of a new refresh
	// family: for a code, derived from it (fromCode); otherwise new.
	jti, family string
}

// fromCode derives the id of what a code issues from the code's hash, so
// that any node can name it when the code comes back: a replay revokes it
// without a record of the first redemption. The ids are no secrets; the
// hash is that of a secret only the client had.
func fromCode(what, hash string) string { return valet.HashSecret("oidc " + what + "\x00" + hash) }

// revokeIssued revokes what the code with hash issued: its access token,
// until the longest an access token of client (or of the server's
// default) may live, and its refresh family.
func (p *Provider) revokeIssued(ctx context.Context, hash string, client valet.Client) error {
	until := p.now().Add(max(p.cfg.AccessTTL, client.AccessTTL) + p.cfg.CodeTTL + token.DefaultLeeway)
	if err := p.revokeToken(ctx, fromCode("access token", hash), until); err != nil {
		return err
	}
	_, err := p.cfg.Clients.RevokeClientRefreshes(ctx, valet.ClientRefreshFilter{ID: fromCode("refresh family", hash)})
	return err
}

// issueTokens signs the access token, the ID token (scope openid) and,
// with offline_access and a refresh store, a new refresh-token family, or
// the next token of family when it is not empty.
func (p *Provider) issueTokens(ctx context.Context, client *valet.Client, u *valet.User, gi grantInfo, family string) (*tokenResponse, *oauthError) {
	now := p.now()
	fail := func(err error) (*tokenResponse, *oauthError) {
		p.cfg.Logger.ErrorContext(ctx, "oidc: issue tokens", "err", err)
		return nil, oerr(errServerError, "The server failed; try again.")
	}
	scope := strings.Join(gi.scopes, " ")
	access, accessExp, err := p.accessToken(client, u.ID, gi.sessionID, scope, cmp.Or(gi.jti, valet.NewID()), now)
	if err != nil {
		return fail(err)
	}
	resp := &tokenResponse{AccessToken: access, TokenType: "Bearer", ExpiresIn: int64(accessExp.Sub(now) / time.Second), Scope: scope}
	if slices.Contains(gi.scopes, ScopeOpenID) {
		c := &token.Claims{
			Issuer: p.cfg.Issuer, Subject: u.ID, Audience: token.Audience{client.ID}, AuthorizedParty: client.ID,
			ExpiresAt: now.Add(p.cfg.IDTokenTTL).Unix(), IssuedAt: now.Unix(), ID: valet.NewID(),
			Nonce: gi.nonce, AMR: gi.amr, SessionID: gi.sessionID,
		}
		if !gi.authTime.IsZero() {
			c.AuthTime = gi.authTime.Unix()
		}
		userClaims(c, u, gi.scopes)
		if resp.IDToken, err = p.signFor(client, c); err != nil {
			return fail(err)
		}
	}
	if family == "" && slices.Contains(gi.scopes, ScopeOfflineAccess) {
		ttl := p.cfg.RefreshTTL
		if client.RefreshTTL > 0 {
			ttl = client.RefreshTTL
		}
		rt := valet.NewID()
		g := valet.ClientRefresh{
			ID: cmp.Or(gi.family, valet.NewID()), ClientID: client.ID, UserID: u.ID, SessionID: gi.sessionID, Scopes: gi.scopes,
			AMR: gi.amr, AuthTime: gi.authTime, CreatedAt: now, ExpiresAt: now.Add(ttl),
		}
		if err := p.cfg.Clients.CreateClientRefresh(ctx, g, valet.HashSecret(rt)); err != nil {
			return fail(err)
		}
		resp.RefreshToken = rt
	}
	return resp, nil
}

// refreshGrant rotates a refresh token (RFC 6749 section 6): the token
// given is used up and a new one comes with the new access and ID tokens.
// An earlier token of the family, used again, revokes the family.
func (p *Provider) refreshGrant(r *http.Request, form url.Values, client valet.Client) (*tokenResponse, *oauthError) {
	ctx := r.Context()
	old := form.Get("refresh_token")
	if old == "" {
		return nil, oerr(errInvalidRequest, "refresh_token is required.")
	}
	next := valet.NewID()
	g, found, reused, err := p.cfg.Clients.RotateClientRefresh(ctx, client.ID, valet.HashSecret(old), valet.HashSecret(next), p.now())
	if err != nil {
		p.cfg.Logger.ErrorContext(ctx, "oidc: rotate refresh token", "err", err)
		return nil, oerr(errServerError, "The server failed; try again.")
	}
	if reused {
		p.cfg.Logger.WarnContext(ctx, "oidc: refresh token reused; family revoked", "client_id", client.ID)
		return nil, oerr(errInvalidGrant, "The refresh token was used already; its family is revoked.")
	}
	if !found {
		return nil, oerr(errInvalidGrant, "The refresh token is unknown, expired, revoked or another client's.")
	}
	scopes := g.Scopes
	if s := form.Get("scope"); s != "" {
		scopes = nil
		for v := range strings.FieldsSeq(s) {
			if !slices.Contains(g.Scopes, v) {
				return nil, oerr(errInvalidScope, "The scope "+v+" was not granted.")
			}
			if !slices.Contains(scopes, v) {
				scopes = append(scopes, v)
			}
		}
	}
	u, err := p.cfg.Users.User(ctx, g.UserID)
	if errors.Is(err, valet.ErrNotFound) || err == nil && u.Disabled {
		_, _ = p.cfg.Clients.RevokeClientRefreshes(ctx, valet.ClientRefreshFilter{ID: g.ID})
		return nil, oerr(errInvalidGrant, "The user is gone or disabled.")
	}
	if err != nil {
		p.cfg.Logger.ErrorContext(ctx, "oidc: user", "err", err)
		return nil, oerr(errServerError, "The server failed; try again.")
	}
	// The refreshed ID token has no nonce (OpenID Connect Core section
	// 12.2) and keeps the time and methods of the original sign-in.
	resp, e := p.issueTokens(ctx, &client, &u, grantInfo{sessionID: g.SessionID, scopes: scopes, amr: g.AMR, authTime: g.AuthTime}, g.ID)
	if e != nil {
		return nil, e
	}
	resp.RefreshToken = next
	return resp, nil
}

// userClaims sets the claims of u that scopes allow.
func userClaims(c *token.Claims, u *valet.User, scopes []string) {
	if slices.Contains(scopes, ScopeEmail) {
		c.Email, c.EmailVerified = u.Email, u.EmailVerified
	}
	if slices.Contains(scopes, ScopeRoles) {
		c.Roles = slices.Clone(u.Roles)
	}
}

// accessToken signs an access token of client for sub: a JWT (RFC 9068
// claims) whose aud and azp are the client, with jti as its id. It returns
// the token and its expiry.
func (p *Provider) accessToken(client *valet.Client, sub, sid, scope, jti string, now time.Time) (string, time.Time, error) {
	ttl := p.cfg.AccessTTL
	if client.AccessTTL > 0 {
		ttl = client.AccessTTL
	}
	exp := now.Add(ttl).Truncate(time.Second)
	c := &token.Claims{
		Issuer: p.cfg.Issuer, Subject: sub, Audience: token.Audience{client.ID}, AuthorizedParty: client.ID,
		ExpiresAt: exp.Unix(), IssuedAt: now.Unix(), ID: jti, SessionID: sid, Scope: scope,
	}
	tok, err := p.cfg.Sign(c)
	return tok, exp, err
}

// clientCredentials issues an access token to a confidential client for
// itself (RFC 6749 section 4.4): sub is the client, and there is no ID
// token.
func (p *Provider) clientCredentials(form url.Values, client valet.Client) (*tokenResponse, *oauthError) {
	if client.Public() {
		return nil, oerr(errUnauthorizedClient, "A public client cannot use client_credentials.")
	}
	var scopes []string
	for s := range strings.FieldsSeq(form.Get("scope")) {
		// The user scopes mean nothing without a user.
		if s == ScopeOpenID || s == ScopeOfflineAccess || !slices.Contains(client.Scopes, s) {
			return nil, oerr(errInvalidScope, "The scope "+s+" is not available to client_credentials.")
		}
		if !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	now := p.now()
	scope := strings.Join(scopes, " ")
	tok, exp, err := p.accessToken(&client, client.ID, "", scope, valet.NewID(), now)
	if err != nil {
		p.cfg.Logger.Error("oidc: sign", "err", err)
		return nil, oerr(errServerError, "The server failed; try again.")
	}
	return &tokenResponse{AccessToken: tok, TokenType: "Bearer", ExpiresIn: int64(exp.Sub(now) / time.Second), Scope: scope}, nil
}

// verifierMatches reports whether BASE64URL(SHA256(verifier)) is challenge
// (RFC 7636 section 4.6), in constant time.
func verifierMatches(verifier, challenge string) bool {
	if len(verifier) < 43 || len(verifier) > 128 || !validPKCEChars(verifier) {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) == 1
}
