package oidc_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/valetauth/valet"
)

// relyingParty is a client built on go-oidc and x/oauth2, as an application
// would be.
type relyingParty struct {
	provider *gooidc.Provider
	verifier *gooidc.IDTokenVerifier
	oauth    oauth2.Config
}

func (e *env) relyingParty(tb testing.TB, clientID, secret, redirect string, scopes ...string) *relyingParty {
	tb.Helper()
	ctx := context.Background()
	prov, err := gooidc.NewProvider(ctx, e.srv.URL)
	if err != nil {
		tb.Fatalf("discovery: %v", err)
	}
	return &relyingParty{
		provider: prov,
		// go-oidc verifies RS256 only unless told otherwise; valet signs
		// with EdDSA.
		verifier: prov.Verifier(&gooidc.Config{ClientID: clientID, SupportedSigningAlgs: []string{gooidc.EdDSA}}),
		oauth: oauth2.Config{
			ClientID: clientID, ClientSecret: secret, Endpoint: prov.Endpoint(),
			RedirectURL: redirect, Scopes: scopes,
		},
	}
}

func TestCodeFlowWithGoOIDC(t *testing.T) {
	tests := []struct {
		name     string
		clientID string
		secret   string
		redirect string
		scopes   []string
		style    oauth2.AuthStyle
	}{
		{"confidential, client_secret_basic", webID, webSecret, webCB, []string{"openid", "email", "roles"}, oauth2.AuthStyleInHeader},
		{"confidential, client_secret_post", webID, webSecret, webCB, []string{"openid", "email", "roles"}, oauth2.AuthStyleInParams},
		{"public", spaID, "", spaCB, []string{"openid", "email"}, oauth2.AuthStyleInParams},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			rp := e.relyingParty(t, tc.clientID, tc.secret, tc.redirect, tc.scopes...)
			rp.oauth.Endpoint.AuthStyle = tc.style
			id := identity("sess-1")
			id.AMR = []string{valet.AMRPassword, "otp", valet.AMRMulti}
			b := e.browser(id)

			verifier := oauth2.GenerateVerifier()
			nonce := valet.NewID()
			state := valet.NewID()
			authURL := rp.oauth.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), gooidc.Nonce(nonce))
			resp, _ := b.do("GET", authURL, nil)
			if resp.StatusCode != http.StatusFound {
				t.Fatalf("authorize: status %d", resp.StatusCode)
			}
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if got := loc.Scheme + "://" + loc.Host + loc.Path; got != tc.redirect {
				t.Fatalf("redirected to %s, want %s", got, tc.redirect)
			}
			q := loc.Query()
			if q.Get("state") != state {
				t.Errorf("state = %q, want %q", q.Get("state"), state)
			}
			if q.Get("iss") != e.srv.URL {
				t.Errorf("iss = %q, want %q (RFC 9207)", q.Get("iss"), e.srv.URL)
			}

			ctx := context.Background()
			tok, err := rp.oauth.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			if tok.TokenType != "Bearer" || tok.Expiry.IsZero() {
				t.Errorf("token type %q, expiry %v", tok.TokenType, tok.Expiry)
			}
			raw, _ := tok.Extra("id_token").(string)
			idt, err := rp.verifier.Verify(ctx, raw)
			if err != nil {
				t.Fatalf("verify ID token: %v", err)
			}
			if idt.Nonce != nonce {
				t.Errorf("nonce = %q, want %q", idt.Nonce, nonce)
			}
			if idt.Subject != "u1" || idt.Issuer != e.srv.URL || !slices.Equal(idt.Audience, []string{tc.clientID}) {
				t.Errorf("sub %q iss %q aud %v", idt.Subject, idt.Issuer, idt.Audience)
			}
			var claims struct {
				AZP           string   `json:"azp"`
				AuthTime      int64    `json:"auth_time"`
				AMR           []string `json:"amr"`
				SID           string   `json:"sid"`
				Email         string   `json:"email"`
				EmailVerified bool     `json:"email_verified"`
				Roles         []string `json:"roles"`
			}
			if err := idt.Claims(&claims); err != nil {
				t.Fatal(err)
			}
			if claims.AZP != tc.clientID || claims.SID != "sess-1" || claims.AuthTime != id.AuthTime.Unix() ||
				!slices.Equal(claims.AMR, id.AMR) || claims.Email != "ada@example.com" || !claims.EmailVerified {
				t.Errorf("claims = %+v", claims)
			}
			if wantRoles := slices.Contains(tc.scopes, "roles"); (len(claims.Roles) > 0) != wantRoles {
				t.Errorf("roles = %v with scopes %v", claims.Roles, tc.scopes)
			}
			if err := idt.VerifyAccessToken(tok.AccessToken); err != nil && idt.AccessTokenHash != "" {
				t.Errorf("at_hash: %v", err)
			}

			info, err := rp.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
			if err != nil {
				t.Fatalf("userinfo: %v", err)
			}
			if info.Subject != "u1" || info.Email != "ada@example.com" || !info.EmailVerified {
				t.Errorf("userinfo = %+v", info)
			}

			grants, _ := e.clients.ClientGrants(ctx, "sess-1")
			if len(grants) != 1 || grants[0].ClientID != tc.clientID || grants[0].UserID != "u1" ||
				!grants[0].ExpiresAt.Equal(id.ExpiresAt) {
				t.Errorf("grants = %+v", grants)
			}
		})
	}
}

func TestDiscovery(t *testing.T) {
	e := newEnv(t)
	rp := e.relyingParty(t, webID, webSecret, webCB)
	var doc struct {
		Issuer      string   `json:"issuer"`
		JWKS        string   `json:"jwks_uri"`
		EndSession  string   `json:"end_session_endpoint"`
		Revocation  string   `json:"revocation_endpoint"`
		Grants      []string `json:"grant_types_supported"`
		Algs        []string `json:"id_token_signing_alg_values_supported"`
		Scopes      []string `json:"scopes_supported"`
		PKCE        []string `json:"code_challenge_methods_supported"`
		Responses   []string `json:"response_types_supported"`
		AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
		ISSParam    bool     `json:"authorization_response_iss_parameter_supported"`
		Backchannel bool     `json:"backchannel_logout_supported"`
	}
	if err := rp.provider.Claims(&doc); err != nil {
		t.Fatal(err)
	}
	if doc.Issuer != e.srv.URL || doc.JWKS != e.srv.URL+"/.well-known/jwks.json" || doc.EndSession != e.srv.URL+"/oauth2/logout" ||
		doc.Revocation != e.srv.URL+"/oauth2/revoke" {
		t.Errorf("endpoints: %+v", doc)
	}
	if !slices.Equal(doc.Grants, []string{"authorization_code", "refresh_token", "client_credentials"}) {
		t.Errorf("grant types = %v", doc.Grants)
	}
	if !slices.Equal(doc.Algs, []string{"EdDSA"}) || !slices.Equal(doc.PKCE, []string{"S256"}) ||
		!slices.Equal(doc.Responses, []string{"code"}) || !doc.ISSParam || !doc.Backchannel {
		t.Errorf("doc = %+v", doc)
	}
	if !slices.Equal(doc.Scopes, []string{"openid", "email", "profile", "offline_access", "roles"}) ||
		!slices.Equal(doc.AuthMethods, []string{"client_secret_basic", "client_secret_post", "none"}) {
		t.Errorf("doc = %+v", doc)
	}
	resp, body := e.browser(nil).do("GET", "/.well-known/jwks.json", nil)
	if resp.StatusCode != 200 || body != string(e.keys.JWKS()) {
		t.Errorf("jwks: %d %s", resp.StatusCode, body)
	}
}

func TestClientCredentials(t *testing.T) {
	e := newEnv(t)
	status, m, _ := e.post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, webID, webSecret)
	if status != 200 || m["access_token"] == nil || m["id_token"] != nil {
		t.Fatalf("client_credentials: %d %v", status, m)
	}
	// A token of the client for itself opens no user's userinfo.
	if status, _ := e.userinfo(m["access_token"].(string)); status == 200 {
		t.Errorf("userinfo with a client_credentials token: %d", status)
	}
	status, m, _ = e.post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {spaID}}, "", "")
	if status != 400 || m["error"] != "unauthorized_client" {
		t.Errorf("public client_credentials: %d %v", status, m)
	}
	status, m, _ = e.post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"openid"}}, webID, webSecret)
	if status != 400 || m["error"] != "invalid_scope" {
		t.Errorf("client_credentials with openid: %d %v", status, m)
	}
}

func TestRevoke(t *testing.T) {
	e := newEnv(t)
	b := e.browser(identity("s"))
	_, m := e.exchange(b.code(authParams()))
	at := m["access_token"].(string)
	if status, _ := e.userinfo(at); status != 200 {
		t.Fatalf("userinfo before revocation: %d", status)
	}
	// Another client cannot revoke it.
	status, _, _ := e.post("/oauth2/revoke", url.Values{"token": {at}}, thirdID, "third-secret")
	if status != 200 {
		t.Errorf("revoke by another client: %d", status)
	}
	if status, _ := e.userinfo(at); status != 200 {
		t.Errorf("userinfo after another client's revocation: %d", status)
	}
	for _, tok := range []string{"garbage", at} {
		status, m, _ := e.post("/oauth2/revoke", url.Values{"token": {tok}}, webID, webSecret)
		if status != 200 {
			t.Errorf("revoke %.10s: %d %v", tok, status, m)
		}
	}
	if status, _ := e.userinfo(at); status != 401 {
		t.Errorf("userinfo after revocation: %d", status)
	}
	status, m, _ = e.post("/oauth2/revoke", url.Values{"token": {at}}, webID, "wrong")
	if status != 401 || m["error"] != "invalid_client" {
		t.Errorf("revoke with a wrong secret: %d %v", status, m)
	}
}

func TestConsent(t *testing.T) {
	e := newEnv(t)
	b := e.browser(identity("s"))
	q := authParams("client_id", thirdID, "redirect_uri", thirdCB, "scope", "openid email")
	u, _ := b.authorize(q)
	if u == nil || u.Path != "/oauth2/consent" {
		t.Fatalf("authorize sent to %v, want the consent page", u)
	}
	resp, body := b.do("GET", u.String(), nil)
	if resp.StatusCode != 200 || !contains(body, "Third &lt;Party&gt;", "your email address", `value="allow"`, `value="deny"`) {
		t.Fatalf("consent page: %d %s", resp.StatusCode, body)
	}
	if resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Error("the consent page may be framed")
	}

	// A POST from another site is refused.
	form := u.Query()
	form.Set("decision", "allow")
	resp, _ = b.do("POST", "/oauth2/consent", form, "Sec-Fetch-Site", "cross-site")
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site consent: %d", resp.StatusCode)
	}

	form.Set("decision", "deny")
	resp, _ = b.do("POST", "/oauth2/consent", form, "Sec-Fetch-Site", "same-origin")
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != 302 || loc.Query().Get("error") != "access_denied" || loc.Query().Get("state") != "st-1" {
		t.Errorf("deny: %d %v", resp.StatusCode, loc)
	}

	form.Set("decision", "allow")
	resp, _ = b.do("POST", "/oauth2/consent", form, "Sec-Fetch-Site", "same-origin")
	loc, _ = url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != 302 || loc.Query().Get("code") == "" || loc.Host != "third.example" {
		t.Fatalf("allow: %d %v", resp.StatusCode, loc)
	}
	// Remembered: the next request goes straight back with a code, also
	// with prompt=none.
	q.Set("prompt", "none")
	if u, _ := b.authorize(q); u == nil || u.Query().Get("code") == "" {
		t.Errorf("second authorize: %v", u)
	}
	// A scope not consented to yet asks again, and prompt=none refuses.
	e.clients.update(thirdID, func(c *valet.Client) { c.Scopes = append(c.Scopes, "roles") })
	q.Set("scope", "openid roles")
	if u, _ := b.authorize(q); u == nil || u.Query().Get("error") != "consent_required" {
		t.Errorf("prompt=none with a new scope: %v", u)
	}
	q.Set("prompt", "consent")
	q.Set("scope", "openid")
	if u, _ := b.authorize(q); u == nil || u.Path != "/oauth2/consent" {
		t.Errorf("prompt=consent: %v", u)
	}
}

func contains(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

func TestBackchannelLogout(t *testing.T) {
	received := make(chan string, 4)
	rpSrv := newRPServer(t, received)
	e := newEnv(t)
	e.clients.update(webID, func(c *valet.Client) { c.BackchannelLogoutURI = rpSrv.URL + "/backchannel" })

	b := e.browser(identity("sess-bc"))
	status, m := e.exchange(b.code(authParams()))
	if status != 200 {
		t.Fatal("exchange failed")
	}
	// The public client has no back-channel URI: it gets nothing.
	spa := authParams("client_id", spaID, "redirect_uri", spaCB, "scope", "openid")
	_, ch := pkce()
	spa.Set("code_challenge", ch)
	spa.Set("code_challenge_method", "S256")
	b.code(spa)

	start := time.Now()
	if err := e.p.SessionEnded(context.Background(), "u1", "sess-bc"); err != nil {
		t.Fatal(err)
	}
	var raw string
	select {
	case raw = <-received:
	case <-time.After(time.Second):
		t.Fatal("no logout token within 1 s")
	}
	t.Logf("logout token after %v", time.Since(start))

	prov, err := gooidc.NewProvider(context.Background(), e.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	v := prov.Verifier(&gooidc.Config{ClientID: webID, SupportedSigningAlgs: []string{gooidc.EdDSA}})
	lt, err := v.VerifyLogout(context.Background(), raw)
	if err != nil {
		t.Fatalf("VerifyLogout: %v", err)
	}
	if lt.SessionID != "sess-bc" || lt.Subject != "u1" || lt.Issuer != e.srv.URL || !slices.Equal(lt.Audience, []string{webID}) {
		t.Errorf("logout token = %+v", lt)
	}
	if d := lt.Expiry.Sub(lt.IssuedAt); d != 2*time.Minute {
		t.Errorf("logout token lives %v", d)
	}
	var claims map[string]any
	if err := lt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	events, _ := claims["events"].(map[string]any)
	if ev, ok := events["http://schemas.openid.net/event/backchannel-logout"].(map[string]any); !ok || len(ev) != 0 || len(events) != 1 {
		t.Errorf("events = %v", claims["events"])
	}
	if _, ok := claims["nonce"]; ok {
		t.Error("logout token has a nonce")
	}
	// An ID token of the same session is no logout token, and an altered
	// logout token is refused.
	if _, err := v.VerifyLogout(context.Background(), m["id_token"].(string)); err == nil {
		t.Error("an ID token verified as a logout token")
	}
	// One character of the signature changed, to one it is not.
	i := len(raw) - 10
	flip := map[bool]string{true: "B", false: "A"}[raw[i] == 'A']
	if _, err := v.VerifyLogout(context.Background(), raw[:i]+flip+raw[i+1:]); err == nil {
		t.Error("altered logout token verified")
	}
	select {
	case extra := <-received:
		t.Errorf("second delivery: %.20s", extra)
	case <-time.After(100 * time.Millisecond):
	}
	if g, _ := e.clients.ClientGrants(context.Background(), "sess-bc"); len(g) != 0 {
		t.Errorf("grants left: %v", g)
	}
}

func TestBackchannelLogoutRetries(t *testing.T) {
	received := make(chan string, 4)
	fails := 1
	rpSrv := newRPServer(t, received, &fails)
	e := newEnv(t)
	e.clients.update(webID, func(c *valet.Client) { c.BackchannelLogoutURI = rpSrv.URL + "/backchannel" })
	b := e.browser(identity("sess-r"))
	b.code(authParams())
	if err := e.p.SessionEnded(context.Background(), "u1", "sess-r"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-received:
	case <-time.After(3 * time.Second):
		t.Fatal("no logout token after a failed first attempt")
	}
}

// newRPServer returns a relying party's back-channel logout endpoint that
// sends each logout token it takes to received. With fails, it answers 500
// that many times first.
func newRPServer(tb testing.TB, received chan<- string, fails ...*int) *httptest.Server {
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/backchannel" ||
			r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		mu.Lock()
		fail := len(fails) > 0 && *fails[0] > 0
		if fail {
			*fails[0]--
		}
		mu.Unlock()
		if fail {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		received <- r.PostFormValue("logout_token")
	}))
	tb.Cleanup(srv.Close)
	return srv
}

func TestCORS(t *testing.T) {
	e := newEnv(t)
	b := e.browser(nil)
	for _, path := range []string{"/oauth2/token", "/oauth2/userinfo", "/oauth2/revoke", "/.well-known/openid-configuration", "/.well-known/jwks.json"} {
		resp, _ := b.do("OPTIONS", path, nil, "Origin", "https://spa.example", "Access-Control-Request-Method", "POST",
			"Access-Control-Request-Headers", "authorization")
		if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "*" ||
			!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
			t.Errorf("preflight %s: %d %v", path, resp.StatusCode, resp.Header)
		}
	}
	// The pages that read the cookie are not open to other origins.
	for _, path := range []string{"/oauth2/authorize", "/oauth2/consent", "/oauth2/logout"} {
		resp, _ := b.do("GET", path, nil, "Origin", "https://spa.example")
		if resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s allows other origins", path)
		}
	}
}
