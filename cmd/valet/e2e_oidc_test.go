package main

import (
	"context"
	"encoding/json"
	"errors"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/valetauth/valet"
)

// oidcRP is an application that signs its users in through valet with
// go-oidc and x/oauth2, and takes back-channel logout tokens.
type oidcRP struct {
	srv      *httptest.Server
	provider *gooidc.Provider
	verifier *gooidc.IDTokenVerifier
	oauth    oauth2.Config
	ctx      context.Context // carries the plain HTTP client
	logouts  chan string     // raw logout tokens

	mu      sync.Mutex
	pending map[string]string // PKCE verifiers by state, of /login
}

// newOIDCRP returns a relying party whose callback and back-channel logout
// URI are on its own test server; its client is made later, with
// (*oidcRP).register.
func newOIDCRP(t *testing.T) *oidcRP {
	t.Helper()
	rp := &oidcRP{logouts: make(chan string, 8), pending: map[string]string{}}
	rp.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/bc":
			if r.Method != http.MethodPost {
				http.Error(w, "POST only", http.StatusMethodNotAllowed)
				return
			}
			rp.logouts <- r.PostFormValue("logout_token")
			w.WriteHeader(http.StatusOK)
		case "/login":
			// A browser's sign-in, as an application starts it.
			state, verifier := oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
			rp.mu.Lock()
			rp.pending[state] = verifier
			rp.mu.Unlock()
			http.Redirect(w, r, rp.oauth.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), http.StatusFound)
		case "/cb":
			rp.mu.Lock()
			verifier, ok := rp.pending[r.URL.Query().Get("state")]
			delete(rp.pending, r.URL.Query().Get("state"))
			rp.mu.Unlock()
			if !ok {
				http.Error(w, "unknown state", http.StatusBadRequest)
				return
			}
			tok, err := rp.oauth.Exchange(rp.ctx, r.URL.Query().Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				http.Error(w, "exchange: "+err.Error(), http.StatusBadGateway)
				return
			}
			raw, _ := tok.Extra("id_token").(string)
			idt, err := rp.verifier.Verify(rp.ctx, raw)
			var claims struct {
				Email string `json:"email"`
			}
			if err == nil {
				err = idt.Claims(&claims)
			}
			if err != nil {
				http.Error(w, "ID token: "+err.Error(), http.StatusBadGateway)
				return
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = io.WriteString(w, `<!doctype html><title>App</title><p id="who">`+html.EscapeString(claims.Email)+`</p>`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(rp.srv.Close)
	rp.ctx = gooidc.ClientContext(context.Background(), &http.Client{Timeout: 10 * time.Second})
	return rp
}

// discover points rp at valet's issuer as client id with secret.
func (rp *oidcRP) discover(t *testing.T, issuer, id, secret string) {
	t.Helper()
	prov, err := gooidc.NewProvider(rp.ctx, issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	rp.provider = prov
	// go-oidc verifies RS256 only unless told otherwise; valet signs with
	// EdDSA by default.
	rp.verifier = prov.Verifier(&gooidc.Config{ClientID: id, SupportedSigningAlgs: []string{gooidc.EdDSA, gooidc.ES256, gooidc.RS256}})
	rp.oauth = oauth2.Config{ClientID: id, ClientSecret: secret, Endpoint: prov.Endpoint(),
		RedirectURL: rp.srv.URL + "/cb", Scopes: []string{gooidc.ScopeOpenID, "email", "profile", "roles"}}
}

// browser is a cookie jar that follows valet's redirects itself, stopping
// at a page or at a redirect away from valet.
type browser struct {
	t      *testing.T
	base   string
	client *http.Client
	// signIns and consents count the sign-in and consent forms sent.
	signIns, consents int
	// totp, when set, gives the code the second-factor step asks for.
	totp func() string
}

func newBrowser(t *testing.T, base string) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, base: base, client: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// visit sends method to target (a form when form is not nil, from valet's
// own origin) and follows redirects within valet. It returns the last
// answer, with its body read.
func (b *browser) visit(method, target string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	for range 10 {
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequest(method, target, body)
		if err != nil {
			b.t.Fatal(err)
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", b.base)
		}
		resp, err := b.client.Do(req)
		if err != nil {
			b.t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if resp.StatusCode < 300 || resp.StatusCode > 399 || loc == "" {
			return resp, string(raw)
		}
		next, err := resp.Request.URL.Parse(loc)
		if err != nil {
			b.t.Fatalf("redirect to %q: %v", loc, err)
		}
		if next.Scheme+"://"+next.Host != b.base {
			return resp, string(raw)
		}
		method, target, form = http.MethodGet, next.String(), nil
	}
	b.t.Fatalf("more than 10 redirects from %s", target)
	return nil, ""
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// signInTo runs the authorization request authURL: through valet's sign-in
// page when the browser is not signed in, and its consent page when asked,
// which it allows. It returns the query of the redirect back to the client.
func (b *browser) signInTo(authURL, email, password string) url.Values {
	b.t.Helper()
	resp, page := b.visit(http.MethodGet, authURL, nil)
	if resp.StatusCode == http.StatusOK && resp.Request.URL.Path == "/" {
		returnTo := resp.Request.URL.Query().Get("return_to")
		if !strings.HasPrefix(returnTo, "/oauth2/authorize?") || !strings.Contains(page, `name="return_to"`) {
			b.t.Fatalf("the sign-in page for return_to %q does not carry it: %.300s", returnTo, page)
		}
		b.signIns++
		resp, page = b.visit(http.MethodPost, b.base+"/signin", url.Values{
			"email": {email}, "password": {password}, "return_to": {returnTo}})
	}
	if resp.StatusCode == http.StatusOK && strings.Contains(page, `action="/signin/mfa"`) {
		if b.totp == nil {
			b.t.Fatalf("the sign-in asks for a second factor, and the test has none: %.300s", page)
		}
		form := url.Values{"method": {"totp"}, "code": {b.totp()}}
		for _, name := range []string{"mfa_token", "return_to", "mode", "methods"} {
			m := regexp.MustCompile(`name="` + name + `" value="([^"]*)"`).FindStringSubmatch(page)
			if m == nil {
				b.t.Fatalf("the second-factor page has no %s: %.500s", name, page)
			}
			form.Set(name, html.UnescapeString(m[1]))
		}
		if !strings.HasPrefix(form.Get("return_to"), "/oauth2/authorize?") {
			b.t.Fatalf("the second-factor step lost the way back to the client: return_to %q", form.Get("return_to"))
		}
		resp, page = b.visit(http.MethodPost, b.base+"/signin/mfa", form)
	}
	if resp.StatusCode == http.StatusOK && resp.Request.URL.Path == "/oauth2/consent" {
		form := url.Values{"decision": {"allow"}}
		for _, m := range hiddenRE.FindAllStringSubmatch(page, -1) {
			form.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
		}
		if form.Get("client_id") == "" {
			b.t.Fatalf("the consent page has no form with the request: %.500s", page)
		}
		b.consents++
		resp, page = b.visit(http.MethodPost, b.base+"/oauth2/consent", form)
	}
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("the authorization ended at %s with %d, not a redirect to the client: %.500s", resp.Request.URL, resp.StatusCode, page)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		b.t.Fatal(err)
	}
	return loc.Query()
}

// freeAddr returns a loopback address with a port free at the time.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// createClient runs valet client create with args and returns its id and
// secret.
func createClient(t *testing.T, dir string, args ...string) (id, secret string) {
	t.Helper()
	out, errOut, code := cli(t, "", append([]string{"client", "create", "--data-dir", dir}, args...)...)
	if code != 0 {
		t.Fatalf("valet client create: exit %d: %s", code, errOut)
	}
	var got struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.ID == "" {
		t.Fatalf("valet client create printed %q: %v", out, err)
	}
	return got.ID, got.Secret
}

// codeFlow runs the code flow with PKCE for rp in b and returns the ID
// token, verified, with its sid.
func codeFlow(t *testing.T, rp *oidcRP, b *browser, email string) (*gooidc.IDToken, string, *oauth2.Token) {
	t.Helper()
	verifier, nonce, state := oauth2.GenerateVerifier(), oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
	q := b.signInTo(rp.oauth.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), gooidc.Nonce(nonce)), email, browserPassword)
	if q.Get("state") != state || q.Get("code") == "" {
		t.Fatalf("back at the client with %v, want a code and state %q", q, state)
	}
	tok, err := rp.oauth.Exchange(rp.ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := rp.verifier.Verify(rp.ctx, raw)
	if err != nil {
		t.Fatalf("the ID token does not verify: %v", err)
	}
	if idt.Nonce != nonce {
		t.Fatalf("nonce %q, want %q", idt.Nonce, nonce)
	}
	var claims struct {
		SID   string `json:"sid"`
		Email string `json:"email"`
	}
	if err := idt.Claims(&claims); err != nil || claims.SID == "" || claims.Email != email {
		t.Fatalf("ID token claims %+v (%v), want a sid and email %s", claims, err, email)
	}
	info, err := rp.provider.UserInfo(rp.ctx, oauth2.StaticTokenSource(tok))
	if err != nil || info.Subject != idt.Subject || info.Email != email {
		t.Fatalf("userinfo %+v, %v; want sub %s and email %s", info, err, idt.Subject, email)
	}
	return idt, claims.SID, tok
}

// awaitLogout waits a second at most for rp's back-channel logout token
// and checks that it names sid.
func awaitLogout(t *testing.T, rp *oidcRP, sid, sub string) {
	t.Helper()
	awaitLogoutWithin(t, rp, sid, sub, time.Second)
}

// awaitLogoutWithin is awaitLogout with a wait of its own.
func awaitLogoutWithin(t *testing.T, rp *oidcRP, sid, sub string, wait time.Duration) {
	t.Helper()
	select {
	case raw := <-rp.logouts:
		lt, err := rp.verifier.VerifyLogout(rp.ctx, raw)
		if err != nil {
			t.Fatalf("the logout token does not verify: %v", err)
		}
		if lt.SessionID != sid || lt.Subject != sub {
			t.Fatalf("logout token for sid %q sub %q, want %q %q", lt.SessionID, lt.Subject, sid, sub)
		}
	case <-time.After(wait):
		t.Fatalf("no back-channel logout token for session %s within %v", sid, wait)
	}
}

// TestOIDCThroughTheBinary: valet serve as an OpenID Connect provider to
// applications built on go-oidc: discovery, the code flow with PKCE through
// the real sign-in page (and the consent page for a client that has one),
// the ID token and userinfo, back-channel logout on sign-out and when an
// administrator disables the user, and the refusals of a redirect_uri that
// is not the registered one, a reused code and a wrong PKCE verifier.
func TestOIDCThroughTheBinary(t *testing.T) {
	skipInShort(t)
	dir := t.TempDir()
	createUser(t, dir, "ada@example.com")
	createUser(t, dir, "root@example.com", "admin")
	first, third := newOIDCRP(t), newOIDCRP(t)
	firstID, firstSecret := createClient(t, dir, "--name", "First party", "--redirect-uri", first.srv.URL+"/cb",
		"--skip-consent", "--backchannel-logout-uri", first.srv.URL+"/bc", "--scope", "email,profile,roles,offline_access")
	thirdID, thirdSecret := createClient(t, dir, "--name", "Third party", "--redirect-uri", third.srv.URL+"/cb",
		"--backchannel-logout-uri", third.srv.URL+"/bc", "--scope", "email,profile", "--scope", "roles")
	if firstSecret == "" || thirdSecret == "" {
		t.Fatal("a confidential client was given no secret")
	}
	if out, _, code := cli(t, "", "client", "list", "--data-dir", dir); code != 0 || !strings.Contains(out, firstID) || !strings.Contains(out, "Third party") {
		t.Fatalf("valet client list: exit %d\n%s", code, out)
	}
	if _, errOut, code := cli(t, "", "client", "create", "--data-dir", dir, "--name", "x", "--redirect-uri", "http://evil.example/cb"); code != 2 {
		t.Fatalf("an http redirect URI off localhost: exit %d, want 2 (%s)", code, errOut)
	}

	addr := freeAddr(t)
	pub := "http://" + addr
	s := startServer(t, nil, "--data-dir", dir, "--addr", addr, "--public-url", pub, "--cookie-secure=false")
	if s.URL != pub {
		t.Fatalf("valet listens on %s, want %s", s.URL, pub)
	}
	first.discover(t, pub, firstID, firstSecret)
	third.discover(t, pub, thirdID, thirdSecret)

	t.Run("sign-out on valet logs the first-party app out", func(t *testing.T) {
		b := newBrowser(t, pub)
		idt, sid, _ := codeFlow(t, first, b, "ada@example.com")
		if b.signIns != 1 || b.consents != 0 {
			t.Fatalf("%d sign-ins and %d consents, want 1 and none (--skip-consent)", b.signIns, b.consents)
		}
		// Signed in, the browser gets a code without a form.
		codeFlow(t, first, b, "ada@example.com")
		if b.signIns != 1 {
			t.Fatal("a signed-in browser was asked to sign in again")
		}
		resp, _ := b.visit(http.MethodPost, pub+"/v1/logout", url.Values{})
		if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusOK {
			t.Fatalf("POST /v1/logout answers %d", resp.StatusCode)
		}
		awaitLogout(t, first, sid, idt.Subject)
	})

	t.Run("a refresh token rotates, and ends with the session", func(t *testing.T) {
		b := newBrowser(t, pub)
		cfg := first.oauth
		cfg.Scopes = append(slices.Clone(cfg.Scopes), "offline_access")
		verifier := oauth2.GenerateVerifier()
		q := b.signInTo(cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier), gooidc.Nonce("n")), "ada@example.com", browserPassword)
		tok, err := cfg.Exchange(first.ctx, q.Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("exchange with offline_access: %v (back at the client with %v)", err, q)
		}
		if tok.RefreshToken == "" {
			t.Fatal("no refresh token with offline_access")
		}
		// An expired access token makes x/oauth2 refresh.
		next, err := cfg.TokenSource(first.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token()
		if err != nil || next.RefreshToken == "" || next.RefreshToken == tok.RefreshToken {
			t.Fatalf("refresh: %v; refresh token rotated %t", err, next != nil && next.RefreshToken != tok.RefreshToken)
		}
		raw, _ := next.Extra("id_token").(string)
		idt, err := first.verifier.Verify(first.ctx, raw)
		if err != nil {
			t.Fatalf("the refreshed ID token does not verify: %v", err)
		}
		if _, err := first.provider.UserInfo(first.ctx, oauth2.StaticTokenSource(next)); err != nil {
			t.Fatalf("userinfo with the refreshed access token: %v", err)
		}
		refresh := func(rt string) string {
			_, err := cfg.TokenSource(first.ctx, &oauth2.Token{RefreshToken: rt, Expiry: time.Now().Add(-time.Hour)}).Token()
			var re *oauth2.RetrieveError
			if errors.As(err, &re) {
				return re.ErrorCode
			}
			if err != nil {
				t.Fatalf("refresh: %v", err)
			}
			return ""
		}
		// The same token twice is one rotation: a second family member
		// makes another current, and signing out ends that one.
		again, err := cfg.TokenSource(first.ctx, &oauth2.Token{RefreshToken: next.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token()
		if err != nil {
			t.Fatalf("second refresh: %v", err)
		}
		var claims struct {
			SID string `json:"sid"`
		}
		_ = idt.Claims(&claims)
		resp, _ := b.visit(http.MethodPost, pub+"/v1/logout", url.Values{})
		if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusOK {
			t.Fatalf("POST /v1/logout answers %d", resp.StatusCode)
		}
		awaitLogout(t, first, claims.SID, idt.Subject)
		if code := refresh(again.RefreshToken); code != "invalid_grant" {
			t.Errorf("the refresh token after sign-out: error %q, want invalid_grant", code)
		}
		if code := refresh(tok.RefreshToken); code != "invalid_grant" {
			t.Errorf("the first refresh token again: error %q, want invalid_grant", code)
		}
	})

	t.Run("disabling the user logs the consented app out", func(t *testing.T) {
		b := newBrowser(t, pub)
		idt, sid, _ := codeFlow(t, third, b, "ada@example.com")
		if b.consents != 1 {
			t.Fatalf("%d consents, want 1", b.consents)
		}
		// The consent is remembered.
		codeFlow(t, third, b, "ada@example.com")
		if b.consents != 1 {
			t.Fatal("the consent page was shown again")
		}
		admin := do(t, pub, req{Method: "POST", Path: "/v1/login", Body: map[string]any{
			"email": "root@example.com", "password": browserPassword, "mode": "token"}})
		expect(t, "admin login", admin, http.StatusOK)
		tok, _ := admin.json(t)["access_token"].(string)
		patch := do(t, pub, req{Method: "PATCH", Path: "/v1/admin/users/" + idt.Subject, Bearer: tok,
			Body: map[string]any{"disabled": true}})
		expect(t, "disable", patch, http.StatusOK)
		awaitLogout(t, third, sid, idt.Subject)
		enable := do(t, pub, req{Method: "PATCH", Path: "/v1/admin/users/" + idt.Subject, Bearer: tok,
			Body: map[string]any{"disabled": false}})
		expect(t, "enable", enable, http.StatusOK)
	})

	t.Run("a user with a second factor signs in through it, and the ID token says so", func(t *testing.T) {
		// Confirmed with this step's code, signed in with the next one's
		// (a code is good once; one step of skew is allowed).
		step := earlyInStep()
		_, secret, _, _ := mfaUser(t, s, "otp@example.com", func() time.Time { return step })
		b := newBrowser(t, pub)
		b.totp = func() string { return totpAt(t, secret, step.Add(30*time.Second)) }
		verifier, nonce := oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
		q := b.signInTo(first.oauth.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier), gooidc.Nonce(nonce),
			oauth2.SetAuthURLParam("acr_values", "urn:valet:mfa")), "otp@example.com", withdrawPW)
		tok, err := first.oauth.Exchange(first.ctx, q.Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("exchange: %v (back at the client with %v)", err, q)
		}
		idt, err := first.verifier.Verify(first.ctx, tok.Extra("id_token").(string))
		if err != nil {
			t.Fatal(err)
		}
		var claims struct {
			AMR []string `json:"amr"`
		}
		_ = idt.Claims(&claims)
		if !slices.Contains(claims.AMR, "otp") || !slices.Contains(claims.AMR, "mfa") {
			t.Errorf("amr %v, want otp and mfa", claims.AMR)
		}
	})

	t.Run("an RS256 client, checked by go-oidc's defaults", func(t *testing.T) {
		rp := newOIDCRP(t)
		id, secret := createClient(t, dir, "--name", "RS256 only", "--redirect-uri", rp.srv.URL+"/cb", "--skip-consent", "--id-token-alg", "RS256")
		rp.discover(t, pub, id, secret)
		// go-oidc's default: RS256, and nothing else.
		rp.verifier = rp.provider.Verifier(&gooidc.Config{ClientID: id})
		_, _, tok := codeFlow(t, rp, newBrowser(t, pub), "ada@example.com")
		if alg := jwtHeader(t, tok.Extra("id_token").(string))["alg"]; alg != "RS256" {
			t.Errorf("ID token signed with %v", alg)
		}
		if alg := jwtHeader(t, tok.AccessToken)["alg"]; alg != "EdDSA" {
			t.Errorf("access token signed with %v, want valet's EdDSA", alg)
		}
		for _, bad := range []string{"HS256", "rs256", "none", "ES512", " RS256"} {
			if _, errOut, code := cli(t, "", "client", "create", "--data-dir", dir, "--name", "x", "--redirect-uri", rp.srv.URL+"/cb", "--id-token-alg", bad); code != 2 || !strings.Contains(errOut, "id_token_signed_response_alg") {
				t.Errorf("--id-token-alg %q: exit %d, %s", bad, code, errOut)
			}
		}
	})

	t.Run("an app's server signs the user out with the ID token alone", func(t *testing.T) {
		b := newBrowser(t, pub)
		idt, sid, tok := codeFlow(t, first, b, "ada@example.com")
		// As oauth2-proxy's --backend-logout-url does: no browser, no
		// cookie, the ID token as the hint.
		server := newBrowser(t, pub)
		resp, page := server.visit(http.MethodGet, pub+"/oauth2/logout?"+url.Values{"id_token_hint": {tok.Extra("id_token").(string)}}.Encode(), nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, "signed out") {
			t.Fatalf("cookieless logout: %d %.300s", resp.StatusCode, page)
		}
		awaitLogout(t, first, sid, idt.Subject)
		// The browser's sign-in is gone too.
		if resp, _ := b.visit(http.MethodGet, pub+"/account", nil); resp.Request.URL.Path != "/" {
			t.Errorf("the browser still opens /account after the app's server signed it out (at %s)", resp.Request.URL)
		}
	})

	t.Run("a session the CLI ends is told to the app", func(t *testing.T) {
		b := newBrowser(t, pub)
		idt, sid, _ := codeFlow(t, first, b, "ada@example.com")
		if _, errOut, code := cli(t, "", "user", "disable", "--data-dir", dir, "--email", "ada@example.com"); code != 0 {
			t.Fatalf("valet user disable: exit %d: %s", code, errOut)
		}
		// The CLI's change reaches the server within 2 s; the server
		// then tells the app.
		awaitLogoutWithin(t, first, sid, idt.Subject, 3*time.Second)
		select {
		case raw := <-first.logouts:
			t.Errorf("a second logout token: %.40s", raw)
		case <-time.After(500 * time.Millisecond):
		}
		if _, errOut, code := cli(t, "", "user", "disable", "--enable", "--data-dir", dir, "--email", "ada@example.com"); code != 0 {
			t.Fatalf("valet user disable --enable: exit %d: %s", code, errOut)
		}
	})

	t.Run("the account page lists the app, and removing it signs the app out", func(t *testing.T) {
		b := newBrowser(t, pub)
		// Ada let the app in before, in another browser.
		idt, sid, _ := codeFlow(t, third, b, "ada@example.com")
		before := b.consents
		_, page := b.visit(http.MethodGet, pub+"/account", nil)
		app := regexp.MustCompile(`(?s)<li class="session app" data-client="` + regexp.QuoteMeta(thirdID) + `">.*?</li>`).FindString(page)
		if !strings.Contains(app, "Third party") || !strings.Contains(app, "your email address") {
			t.Fatalf("the account page lists no Third party app with its scopes:\n%s", page)
		}
		if strings.Contains(page, `data-client="`+firstID+`"`) {
			t.Error("the account page lists a --skip-consent app, which asks for no consent")
		}
		resp, page := b.visit(http.MethodPost, pub+"/account/apps/"+thirdID+"/revoke", url.Values{})
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, "access is withdrawn") {
			t.Fatalf("removing the app: %d\n%.2000s", resp.StatusCode, page)
		}
		awaitLogout(t, third, sid, idt.Subject)
		if strings.Contains(page, `data-client="`+thirdID+`"`) {
			t.Error("the app is still listed after its removal")
		}
		// The consent is gone: the next sign-in to the app asks again.
		codeFlow(t, third, b, "ada@example.com")
		if b.consents != before+1 {
			t.Errorf("%d consents after the removal, want %d: the app was let in without asking", b.consents, before+1)
		}
		// Bad ids find nothing to withdraw, and the app stays.
		for _, id := range []string{valet.NewID(), "..%2Fadmin", "%00", strings.Repeat("a", 10_000), "%C3%28", strings.ToUpper(thirdID)} {
			resp, page = b.visit(http.MethodPost, pub+"/account/apps/"+id+"/revoke", url.Values{})
			if resp.StatusCode == http.StatusOK && !strings.Contains(page, "no access left") || resp.StatusCode >= 500 {
				t.Errorf("removing app %.40q: %d\n%.500s", id, resp.StatusCode, page)
			}
		}
		// From another origin, or not signed in, nothing is withdrawn.
		cross, _ := http.NewRequest(http.MethodPost, pub+"/account/apps/"+thirdID+"/revoke", strings.NewReader(""))
		cross.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		cross.Header.Set("Origin", "http://evil.example")
		cross.Header.Set("Sec-Fetch-Site", "cross-site")
		if resp, err := b.client.Do(cross); err != nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("a cross-origin removal: %v, %v; want 403", resp, err)
		} else {
			resp.Body.Close()
		}
		stranger := newBrowser(t, pub)
		if resp, _ := stranger.visit(http.MethodPost, pub+"/account/apps/"+thirdID+"/revoke", url.Values{}); resp.Request.URL.Path != "/" {
			t.Errorf("a removal without a sign-in ends at %s, not the sign-in page", resp.Request.URL)
		}
		_, page = b.visit(http.MethodGet, pub+"/account", nil)
		if !strings.Contains(page, `data-client="`+thirdID+`"`) {
			t.Error("the app lost its consent to a refused removal")
		}
	})

	t.Run("attacks", func(t *testing.T) {
		b := newBrowser(t, pub)
		codeFlow(t, first, b, "ada@example.com")
		// A redirect_uri that only starts like the registered one.
		for _, evil := range []string{first.srv.URL + "/cb/../evil", first.srv.URL + "/cbx", first.srv.URL + "/cb?x=1", first.srv.URL + "/cb/"} {
			c := first.oauth
			c.RedirectURL = evil
			resp, page := b.visit(http.MethodGet, c.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), nil)
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(page, "<") {
				t.Errorf("redirect_uri %s: %d Location %q, want a 400 page and no redirect", evil, resp.StatusCode, resp.Header.Get("Location"))
			}
		}
		// A code is good once.
		verifier := oauth2.GenerateVerifier()
		q := b.signInTo(first.oauth.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), "ada@example.com", browserPassword)
		if _, err := first.oauth.Exchange(first.ctx, q.Get("code"), oauth2.VerifierOption(verifier)); err != nil {
			t.Fatal(err)
		}
		_, err := first.oauth.Exchange(first.ctx, q.Get("code"), oauth2.VerifierOption(verifier))
		wantGrantError(t, "a reused code", err)
		// The verifier must be the one of the challenge.
		q = b.signInTo(first.oauth.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), "ada@example.com", browserPassword)
		_, err = first.oauth.Exchange(first.ctx, q.Get("code"), oauth2.VerifierOption(oauth2.GenerateVerifier()))
		wantGrantError(t, "a wrong PKCE verifier", err)
		// Another client's code is not this one's.
		q = b.signInTo(first.oauth.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), "ada@example.com", browserPassword)
		_, err = third.oauth.Exchange(third.ctx, q.Get("code"), oauth2.VerifierOption(verifier))
		wantGrantError(t, "another client's code", err)
	})
	t.Run("prompt=login asks a signed-in browser to sign in again", func(t *testing.T) {
		b := newBrowser(t, pub)
		codeFlow(t, first, b, "ada@example.com")
		verifier := oauth2.GenerateVerifier()
		authURL := first.oauth.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("prompt", "login"))
		// auth_time and login_after count seconds: a sign-in in the same
		// second as the request would count as the new one.
		time.Sleep(1100 * time.Millisecond)
		get := func(target string) *http.Response {
			t.Helper()
			resp, err := b.client.Get(target)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp
		}
		resp := get(authURL)
		loc, _ := resp.Request.URL.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusFound || loc.Path != "/" {
			t.Fatalf("prompt=login: %d to %s, want the sign-in page", resp.StatusCode, loc)
		}
		if resp = get(loc.String()); resp.StatusCode != http.StatusOK {
			// A signed-in browser must see the form, not be sent back to
			// the provider, which would send it here again.
			t.Fatalf("the sign-in page answers a signed-in browser asked to sign in again with %d to %.60s..., want the form", resp.StatusCode, resp.Header.Get("Location"))
		}
		q := b.signInTo(authURL, "ada@example.com", browserPassword)
		if _, err := first.oauth.Exchange(first.ctx, q.Get("code"), oauth2.VerifierOption(verifier)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("the sign-in page's policy lets its form lead to the client", func(t *testing.T) {
		// A browser applies the sign-in page's form-action to every
		// redirect that answers the form: POST /signin, then
		// /oauth2/authorize, then the client's redirect_uri when no
		// consent page comes between.
		b := newBrowser(t, pub)
		resp, _ := b.visit(http.MethodGet, first.oauth.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), nil)
		if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/" {
			t.Fatalf("authorize without a sign-in: %d at %s, want the sign-in page", resp.StatusCode, resp.Request.URL)
		}
		csp := resp.Header.Get("Content-Security-Policy")
		if i := strings.Index(csp, "form-action"); i >= 0 {
			rest := csp[i:]
			if j := strings.Index(rest, ";"); j >= 0 {
				rest = rest[:j]
			}
			if !strings.Contains(rest, first.srv.URL) && !strings.Contains(rest, "*") {
				t.Fatalf("the sign-in page's policy has %q: Chromium refuses the redirect to %s after signing in (\"Sending form data ... violates ... form-action 'self'\"); the web pages must add the client's redirect_uri origin when return_to is /oauth2/authorize", rest, first.srv.URL)
			}
		}
	})
	if strings.Contains(s.logs(), `"level":"ERROR"`) {
		t.Errorf("valet logged errors:\n%s", s.logs())
	}
}

func wantGrantError(t *testing.T, what string, err error) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Errorf("%s: exchange error %v, want invalid_grant", what, err)
	}
}

// TestBrowserOIDC: in Chromium, an application's sign-in through valet's
// sign-in page and its consent page lands back in the application, and no
// page's policy refuses a step of the way. The client has a consent page:
// see the subtest "the sign-in page's policy lets its form lead to the
// client" of TestOIDCThroughTheBinary for one without.
func TestBrowserOIDC(t *testing.T) {
	t.Parallel()
	chromiumPath(t)
	dir := t.TempDir()
	createUser(t, dir, "ada@example.com")
	rp := newOIDCRP(t)
	id, secret := createClient(t, dir, "--name", "Third party", "--redirect-uri", rp.srv.URL+"/cb")
	addr := freeAddr(t)
	pub := "http://" + addr
	startServer(t, nil, "--data-dir", dir, "--addr", addr, "--public-url", pub, "--cookie-secure=false")
	rp.discover(t, pub, id, secret)

	ada := startChrome(t).person("ada", pub)
	ada.do("open the app and sign in",
		chromedp.Navigate(rp.srv.URL+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`#signin-email`)),
		chromedp.SendKeys(chromedp.CSS(`#signin-email`), "ada@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#signin-password`), browserPassword),
		chromedp.Click(chromedp.CSS(`#signin-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`button[value=allow]`)))
	ada.screenshot("oidc-consent")
	ada.do("allow it",
		chromedp.Click(chromedp.CSS(`button[value=allow]`)),
		chromedp.WaitVisible(chromedp.CSS(`#who`)))
	ada.see("#who", "ada@example.com")
	// Signed in and agreed, the next sign-in to the app has no page.
	ada.do("open the app again",
		chromedp.Navigate(rp.srv.URL+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`#who`)))
	ada.see("#who", "ada@example.com")

	// The account page lists the app; removing it makes the app ask again.
	ada.do("open the account page", chromedp.Navigate(pub+"/account"), chromedp.WaitVisible(chromedp.CSS(`#apps`)))
	ada.see(`#apps li.app`, "Third party")
	ada.accessible("account-with-apps")
	ada.screenshot("account-apps")
	ada.do("remove the app",
		chromedp.Click(chromedp.CSS(`#apps li.app button`)),
		// The page the form lands on has no app left.
		chromedp.WaitNotPresent(chromedp.CSS(`#apps li.app`)),
		chromedp.WaitVisible(chromedp.CSS(`#apps`)))
	ada.see("#apps", "No apps have your consent")
	ada.do("open the app once more",
		chromedp.Navigate(rp.srv.URL+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`button[value=allow]`)))
}
