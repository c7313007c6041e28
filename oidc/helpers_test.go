package oidc_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/oidc"
	"github.com/valetauth/valet/token"
)

const (
	cookieName = "test_session"
	webID      = "web"
	webSecret  = "web-secret-0123456789"
	webCB      = "https://rp.example/cb"
	webBye     = "https://rp.example/bye"
	spaID      = "spa"
	spaCB      = "http://127.0.0.1:5173/cb"
	thirdID    = "third"
	thirdCB    = "https://third.example/cb"
)

// env is a provider on a test server with a fake sign-in: a browser that
// carries the cookie of a signed-in identity is that identity.
type env struct {
	t       testing.TB
	srv     *httptest.Server
	p       *oidc.Provider
	clients *memClients
	keys    *token.KeySet

	mu    sync.Mutex
	ids   map[string]*valet.Identity
	users map[string]valet.User
	ended []string
}

func newEnv(tb testing.TB, opts ...func(*oidc.Config)) *env {
	tb.Helper()
	key, err := token.GenerateKey(token.EdDSA)
	if err != nil {
		tb.Fatal(err)
	}
	e := &env{
		t: tb, clients: newMemClients(), keys: token.NewKeySet(key),
		ids: map[string]*valet.Identity{},
		users: map[string]valet.User{
			"u1": {ID: "u1", Email: "ada@example.com", EmailVerified: true, Roles: []string{"admin"}},
			"u2": {ID: "u2", Email: "bob@example.com"},
		},
	}
	mux := http.NewServeMux()
	e.srv = httptest.NewServer(mux)
	tb.Cleanup(e.srv.Close)
	cfg := oidc.Config{
		Issuer:   e.srv.URL,
		Clients:  e.clients,
		Identify: e.identify,
		Users:    e,
		Sign:     e.keys.Sign,
		JWKS:     e.keys.JWKS,
		EndSession: func(ctx context.Context, r *http.Request, w http.ResponseWriter) error {
			c, _ := r.Cookie(cookieName)
			e.mu.Lock()
			defer e.mu.Unlock()
			e.ended = append(e.ended, c.Value)
			delete(e.ids, c.Value)
			return nil
		},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, o := range opts {
		o(&cfg)
	}
	e.p = oidc.New(cfg)
	tb.Cleanup(func() { _ = e.p.Close() })
	mux.Handle("/", e.p.Handler())
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "sign-in page")
	})
	ctx := context.Background()
	for _, c := range []valet.Client{
		{
			ID: webID, Name: "Web", SecretHash: valet.HashSecret(webSecret), RedirectURIs: []string{webCB, "https://rp.example/cb2"},
			PostLogoutRedirectURIs: []string{webBye}, Scopes: []string{"openid", "email", "profile", "roles", "offline_access"},
			SkipConsent: true,
		},
		{ID: spaID, Name: "SPA", RedirectURIs: []string{spaCB}, Scopes: []string{"openid", "email"}, SkipConsent: true},
		{
			ID: thirdID, Name: "Third <Party>", SecretHash: valet.HashSecret("third-secret"), RedirectURIs: []string{thirdCB},
			Scopes: []string{"openid", "email"},
		},
	} {
		if err := e.clients.CreateClient(ctx, c); err != nil {
			tb.Fatal(err)
		}
	}
	return e
}

// User makes env a oidc.UserSource.
func (e *env) User(_ context.Context, id string) (valet.User, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	u, ok := e.users[id]
	if !ok {
		return valet.User{}, valet.ErrNotFound
	}
	return u, nil
}

func (e *env) identify(r *http.Request) (*valet.Identity, error) {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil, nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	id := e.ids[c.Value]
	if id == nil {
		return nil, nil
	}
	cp := *id
	return &cp, nil
}

// identity returns the identity of user u1 in session sid, signed in a
// minute ago with a password.
func identity(sid string) *valet.Identity {
	now := time.Now()
	return &valet.Identity{
		User: valet.User{ID: "u1", Email: "ada@example.com", EmailVerified: true, Roles: []string{"admin"}},
		Mode: valet.ModeSession, SessionID: sid, ExpiresAt: now.Add(time.Hour),
		AMR: []string{valet.AMRPassword}, AuthTime: now.Add(-time.Minute),
	}
}

// browser returns a client that never follows redirects and, when id is
// not nil, is signed in as id.
func (e *env) browser(id *valet.Identity) *browser {
	b := &browser{e: e}
	if id != nil {
		b.cookie = valet.NewID()
		e.setIdentity(b.cookie, id)
	}
	return b
}

func (e *env) setIdentity(cookie string, id *valet.Identity) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ids[cookie] = id
}

type browser struct {
	e      *env
	cookie string
}

// do sends a request and returns the response with its body read.
func (b *browser) do(method, target string, form url.Values, hdr ...string) (*http.Response, string) {
	b.e.t.Helper()
	if strings.HasPrefix(target, "/") {
		target = b.e.srv.URL + target
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		b.e.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if b.cookie != "" {
		req.AddCookie(&http.Cookie{Name: cookieName, Value: b.cookie})
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 500 {
		b.e.t.Errorf("%s %s: status %d: %s", method, target, resp.StatusCode, out)
	}
	return resp, string(out)
}

// authorize sends an authorization request with q and returns the query of
// the address it redirects to (nil when it does not).
func (b *browser) authorize(q url.Values) (*url.URL, *http.Response) {
	b.e.t.Helper()
	resp, _ := b.do("GET", "/oauth2/authorize?"+q.Encode(), nil)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || loc == "" {
		return nil, resp
	}
	u, err := url.Parse(loc)
	if err != nil {
		b.e.t.Fatal(err)
	}
	return u, resp
}

// authParams returns the parameters of a good authorization request of the
// web client.
func authParams(mod ...string) url.Values {
	q := url.Values{
		"response_type": {"code"}, "client_id": {webID}, "redirect_uri": {webCB},
		"scope": {"openid email roles"}, "state": {"st-1"}, "nonce": {"n-1"},
	}
	for i := 0; i+1 < len(mod); i += 2 {
		if mod[i+1] == "-" {
			q.Del(mod[i])
		} else {
			q.Set(mod[i], mod[i+1])
		}
	}
	return q
}

// pkce returns a verifier and its S256 challenge.
func pkce() (verifier, challenge string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	verifier = base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// code runs an authorization request that must succeed and returns the
// code.
func (b *browser) code(q url.Values) string {
	b.e.t.Helper()
	u, resp := b.authorize(q)
	if u == nil || u.Query().Get("code") == "" {
		b.e.t.Fatalf("authorize %v: status %d, Location %q", q, resp.StatusCode, resp.Header.Get("Location"))
	}
	return u.Query().Get("code")
}

// tokenReq posts form to the token endpoint with optional Basic
// credentials and returns the status and the decoded JSON.
func (e *env) post(path string, form url.Values, basicID, basicSecret string) (int, map[string]any, http.Header) {
	e.t.Helper()
	req, err := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicID != "" {
		req.SetBasicAuth(url.QueryEscape(basicID), url.QueryEscape(basicSecret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 500 {
		e.t.Errorf("POST %s: status %d: %s", path, resp.StatusCode, body)
	}
	var m map[string]any
	if len(body) > 0 {
		if err := json.Unmarshal(body, &m); err != nil {
			e.t.Fatalf("POST %s: %v: %s", path, err, body)
		}
	}
	return resp.StatusCode, m, resp.Header
}

// exchange redeems code for the web client.
func (e *env) exchange(code string, extra ...string) (int, map[string]any) {
	e.t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webCB}}
	for i := 0; i+1 < len(extra); i += 2 {
		form.Set(extra[i], extra[i+1])
	}
	status, m, _ := e.post("/oauth2/token", form, webID, webSecret)
	return status, m
}

// userinfo calls the UserInfo endpoint with tok.
func (e *env) userinfo(tok string) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+"/oauth2/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 500 {
		e.t.Errorf("userinfo: status %d: %s", resp.StatusCode, body)
	}
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	return resp.StatusCode, m
}
