package main

// oauth2-proxy v7 as an independent relying party: built from the Go module
// proxy (a module of its own, not in valet's go.mod), run with the flags of
// the section "oauth2-proxy" of docs/oidc.md in front of a small
// application, and driven through the code flow in Chromium.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/valetauth/valet/internal/testenv"
)

// The oauth2-proxy the test runs. scripts/services.sh builds the same
// version into the same directory.
const (
	oauth2ProxyModule  = "github.com/oauth2-proxy/oauth2-proxy/v7"
	oauth2ProxyVersion = "v7.15.6"
)

// oauth2ProxyDir is where the binary is kept between runs:
// $XDG_CACHE_HOME/valet-test/oauth2-proxy-VERSION (~/.cache/... by default).
func oauth2ProxyDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "valet-test", "oauth2-proxy-"+oauth2ProxyVersion)
}

var oauth2ProxyBuild = sync.OnceValues(buildOAuth2Proxy)

// buildOAuth2Proxy installs oauth2-proxy into oauth2ProxyDir unless it is
// there already, and returns its path. It is built outside valet's module
// (go install module@version), into a directory of its own that is then
// renamed, so that two test processes never see half a binary.
func buildOAuth2Proxy() (string, error) {
	dir := oauth2ProxyDir()
	bin := filepath.Join(dir, "oauth2-proxy")
	if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	gobin, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(gobin)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "install", oauth2ProxyModule+"@"+oauth2ProxyVersion)
	cmd.Dir = gobin
	cmd.Env = append(os.Environ(), "GOBIN="+gobin, "GOFLAGS=-mod=mod", "GOWORK=off", "CGO_ENABLED=0")
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install %s@%s: %v\n%s", oauth2ProxyModule, oauth2ProxyVersion, err, out)
	}
	fmt.Fprintf(os.Stderr, "built oauth2-proxy %s in %s\n", oauth2ProxyVersion, time.Since(start).Round(time.Second))
	if err := os.Rename(filepath.Join(gobin, "oauth2-proxy"), bin); err != nil {
		return "", err
	}
	return bin, nil
}

// oauth2ProxyBinary returns the path of oauth2-proxy, building it the
// first time; a failed build skips the test, or fails it with
// VALET_REQUIRE_SERVICES=1.
func oauth2ProxyBinary(tb testing.TB) string {
	tb.Helper()
	bin, err := oauth2ProxyBuild()
	if err != nil {
		if testenv.Required() {
			tb.Fatalf("oauth2-proxy could not be built and VALET_REQUIRE_SERVICES=1: %v", err)
		}
		tb.Skipf("service not configured: oauth2-proxy could not be built: %v", err)
	}
	return bin
}

// oauth2ProxyFlags returns the flags of the oauth2-proxy command shown in
// docs/oidc.md, with the example's addresses and secrets replaced by the
// test's: issuer, the application's address, the client's id and secret,
// the cookie secret and the upstream.
func oauth2ProxyFlags(t *testing.T, issuer, app, id, secret, cookieSecret, upstream string) []string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(proxyDocs, "oidc.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "\n## oauth2-proxy")
	if !ok {
		t.Fatal(`docs/oidc.md has no section "## oauth2-proxy"`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	_, block, ok := strings.Cut(section, "```sh\noauth2-proxy \\\n")
	if !ok {
		t.Fatal("the oauth2-proxy section of docs/oidc.md has no oauth2-proxy command")
	}
	block, _, _ = strings.Cut(block, "```")
	iss, err := url.Parse(issuer)
	if err != nil {
		t.Fatal(err)
	}
	r := strings.NewReplacer("https://auth.example.com", issuer, "auth.example.com", iss.Host, "https://app.example.com", app,
		"<client_id>", id, "<client_secret>", secret, "http://127.0.0.1:8080", upstream)
	var flags []string
	for line := range strings.Lines(block) {
		line = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(line), "\\"))
		if line == "" {
			continue
		}
		name, value, hasValue := strings.Cut(line, "=")
		if !strings.HasPrefix(name, "--") || strings.ContainsAny(name, " \t") {
			t.Fatalf("docs/oidc.md: %q is not a --flag or --flag=value of oauth2-proxy", line)
		}
		if !hasValue {
			flags = append(flags, name)
			continue
		}
		if name == "--cookie-secret" {
			value = cookieSecret
		}
		if len(value) >= 2 && value[0] == '\'' && value[len(value)-1] == '\'' {
			value = value[1 : len(value)-1]
		}
		flags = append(flags, name+"="+r.Replace(value))
	}
	return flags
}

// oauth2Proxy is a running oauth2-proxy.
type oauth2Proxy struct {
	URL  string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

// startOAuth2Proxy runs bin with flags and waits until it answers /ping.
func startOAuth2Proxy(t *testing.T, bin, addr string, flags ...string) *oauth2Proxy {
	t.Helper()
	p := &oauth2Proxy{URL: "http://" + addr, done: make(chan struct{})}
	p.cmd = exec.Command(bin, append(flags, "--http-address="+addr)...)
	w := writerFunc(func(b []byte) (int, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.out.Write(b)
	})
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("oauth2-proxy at %s logged:\n%s", p.URL, p.logs())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-p.done:
			t.Fatalf("oauth2-proxy exited: %s", p.logs())
		default:
		}
		resp, err := http.Get(p.URL + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("oauth2-proxy does not answer /ping within 30s (%v): %s", err, p.logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (p *oauth2Proxy) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// o2pSeen is what the application behind oauth2-proxy received.
type o2pSeen struct {
	URI, Email, User, Groups, PreferredUsername, AccessToken, Authorization string
}

// o2pApp is the application behind oauth2-proxy: it shows what oauth2-proxy
// told it of the user, and keeps it.
type o2pApp struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []o2pSeen
}

func startO2PApp(t *testing.T) *o2pApp {
	t.Helper()
	a := &o2pApp{}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := o2pSeen{URI: r.RequestURI, Email: r.Header.Get("X-Forwarded-Email"), User: r.Header.Get("X-Forwarded-User"),
			Groups: strings.Join(r.Header.Values("X-Forwarded-Groups"), ","), PreferredUsername: r.Header.Get("X-Forwarded-Preferred-Username"),
			AccessToken: r.Header.Get("X-Forwarded-Access-Token"), Authorization: r.Header.Get("Authorization")}
		a.mu.Lock()
		a.got = append(a.got, s)
		a.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>Wiki</title><h1>Wiki</h1><dl><dt>Email</dt><dd id="app-email">%s</dd>`+
			`<dt>User</dt><dd id="app-user">%s</dd><dt>Groups</dt><dd id="app-groups">%s</dd><dt>Path</dt><dd id="app-uri">%s</dd></dl>`,
			html.EscapeString(s.Email), html.EscapeString(s.User), html.EscapeString(s.Groups), html.EscapeString(s.URI))
	}))
	t.Cleanup(a.srv.Close)
	return a
}

// last returns the last request the application received, and how many.
func (a *o2pApp) last() (o2pSeen, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.got) == 0 {
		return o2pSeen{}, 0
	}
	return a.got[len(a.got)-1], len(a.got)
}

// tapped is one request to valet's /oauth2/ endpoints, as it went by.
type tapped struct {
	Path   string
	Query  url.Values // of the URL
	Form   url.Values // of a form body
	Basic  string     // the client id of HTTP Basic authentication
	Status int
}

// valetTap stands at valet's public URL in front of valet and keeps the
// requests to /oauth2/authorize and /oauth2/token, those of the browser
// and those of oauth2-proxy: it sees what neither tells.
type valetTap struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []tapped
}

func startValetTap(t *testing.T, valetAddr string) *valetTap {
	t.Helper()
	tap := &valetTap{}
	target := &url.URL{Scheme: "http", Host: valetAddr}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host // valet sees its public host
		},
		ModifyResponse: func(resp *http.Response) error {
			r := resp.Request
			if r.URL.Path != "/oauth2/authorize" && r.URL.Path != "/oauth2/token" {
				return nil
			}
			tp := tapped{Path: r.URL.Path, Query: r.URL.Query(), Status: resp.StatusCode}
			if f, ok := r.Context().Value(tapForm{}).(url.Values); ok {
				tp.Form = f
			}
			if user, _, ok := r.BasicAuth(); ok {
				tp.Basic, _ = url.QueryUnescape(user)
			}
			tap.mu.Lock()
			tap.got = append(tap.got, tp)
			tap.mu.Unlock()
			return nil
		},
	}
	tap.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/oauth2/token" {
			body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			form, _ := url.ParseQuery(string(body))
			r.Body = io.NopCloser(bytes.NewReader(body))
			r = r.WithContext(context.WithValue(r.Context(), tapForm{}, form))
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(tap.srv.Close)
	return tap
}

type tapForm struct{}

// requests returns the requests to path seen so far.
func (tap *valetTap) requests(path string) []tapped {
	tap.mu.Lock()
	defer tap.mu.Unlock()
	var out []tapped
	for _, r := range tap.got {
		if r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// randomSecret returns n random bytes, base64url-encoded.
func randomSecret(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// TestOAuth2Proxy: oauth2-proxy, configured as docs/oidc.md says, signs a
// Chromium user into the application behind it through valet's sign-in and
// consent pages with the code flow and PKCE S256, and passes the
// application what valet's ID token says. A wrong client secret gets no
// one in. Signing out of valet does not end oauth2-proxy's own session
// until its next refresh (--cookie-refresh), which the ended valet session
// refuses; oauth2-proxy's own sign-out leads through valet's.
func TestOAuth2Proxy(t *testing.T) {
	chromiumPath(t)
	t.Parallel()
	bin := oauth2ProxyBinary(t)
	dir := t.TempDir()
	const email = "ada@example.com"
	app := startO2PApp(t)
	proxyAddr, wrongAddr, valetAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	proxyURL, wrongURL := "http://"+proxyAddr, "http://"+wrongAddr
	id, secret := createClient(t, dir, "--name", "Wiki",
		"--redirect-uri", proxyURL+"/oauth2/callback", "--redirect-uri", wrongURL+"/oauth2/callback",
		"--post-logout-redirect-uri", proxyURL+"/", "--scope", "openid,email,profile,roles,offline_access")
	tap := startValetTap(t, valetAddr)
	pub := tap.srv.URL
	mail, mailFlags := plainMail(t)
	s := startServer(t, nil, append([]string{"--data-dir", dir, "--addr", valetAddr, "--public-url", pub, "--cookie-secure=false"}, mailFlags...)...)
	// oauth2-proxy takes only verified addresses: sign up, verify by the
	// mail's code, and be given a role, which it passes as a group.
	expect(t, "signup", do(t, pub, req{Method: "POST", Path: "/v1/signup", Body: map[string]string{"email": email, "password": browserPassword}}), 201)
	m := (&inbox{srv: mail}).next(t)
	wantMailTo(t, m, email, "Confirm your email address")
	_, _, code := secretsOf(t, m)
	expect(t, "verify", do(t, pub, req{Method: "POST", Path: "/v1/verification/complete", Body: map[string]string{"email": email, "code": code}}), 204)
	if out, errOut, code := cli(t, "", "user", "role", "--data-dir", dir, "--email", email, "--role", "editor"); code != 0 {
		t.Fatalf("valet user role: exit %d: %s%s", code, out, errOut)
	}

	// What a test on plain HTTP changes: the cookie is not Secure, each
	// oauth2-proxy has its own cookie name (cookies are not told apart by
	// port), and the session is refreshed after seconds, not minutes.
	const refresh = 5 * time.Second
	local := func(name string) []string {
		return []string{"--cookie-secure=false", "--cookie-name=_" + name, "--cookie-refresh=" + refresh.String()}
	}
	proxy := startOAuth2Proxy(t, bin, proxyAddr, append(oauth2ProxyFlags(t, pub, proxyURL, id, secret,
		randomSecret(t, 32), app.srv.URL), local("wiki")...)...)
	wrong := startOAuth2Proxy(t, bin, wrongAddr, append(oauth2ProxyFlags(t, pub, wrongURL, id, "not-"+randomSecret(t, 32),
		randomSecret(t, 32), app.srv.URL), local("wrong")...)...)

	ada := startChrome(t).person("ada", pub)
	ada.do("open the wiki",
		chromedp.Navigate(proxyURL+"/page?x=1"),
		chromedp.WaitVisible(chromedp.CSS(`#signin-email`)))
	if p := ada.path(); !strings.HasPrefix(p, "/?return_to=%2Foauth2%2Fauthorize%3F") {
		t.Fatalf("oauth2-proxy sent the browser to %s, want valet's sign-in page on the way to /oauth2/authorize", p)
	}
	ada.screenshot("valet-signin")
	ada.do("sign in",
		chromedp.SendKeys(chromedp.CSS(`#signin-email`), email),
		chromedp.SendKeys(chromedp.CSS(`#signin-password`), browserPassword),
		chromedp.Click(chromedp.CSS(`#signin-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`button[value=allow]`)))
	ada.see("main", "Wiki")
	ada.screenshot("valet-consent")
	ada.do("allow",
		chromedp.Click(chromedp.CSS(`button[value=allow]`)),
		chromedp.WaitVisible(chromedp.CSS(`#app-email`)))
	signedIn := time.Now()
	ada.screenshot("wiki")
	ada.see("#app-email", email)
	ada.see("#app-groups", "editor")
	ada.see("#app-uri", "/page?x=1")

	// What the application got is what valet's ID token says.
	seen, _ := app.last()
	ctx := gooidc.ClientContext(context.Background(), &http.Client{Timeout: 10 * time.Second})
	prov, err := gooidc.NewProvider(ctx, pub)
	if err != nil {
		t.Fatal(err)
	}
	raw, ok := strings.CutPrefix(seen.Authorization, "Bearer ")
	if !ok {
		t.Fatalf("the application got Authorization %q, want the ID token (--pass-authorization-header)", seen.Authorization)
	}
	idt, err := prov.Verifier(&gooidc.Config{ClientID: id, SupportedSigningAlgs: []string{gooidc.EdDSA, gooidc.ES256, gooidc.RS256}}).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("the ID token oauth2-proxy passed does not verify: %v", err)
	}
	var claims struct {
		Email    string   `json:"email"`
		Verified bool     `json:"email_verified"`
		Roles    []string `json:"roles"`
		SID      string   `json:"sid"`
	}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if claims.Email != email || !claims.Verified || claims.SID == "" || !slices.Contains(claims.Roles, "editor") ||
		seen.Email != email || seen.User != idt.Subject {
		t.Fatalf("ID token sub %s claims %+v; the application got X-Forwarded-Email %q and X-Forwarded-User %q, want %s and the sub",
			idt.Subject, claims, seen.Email, seen.User, email)
	}
	// The access token is valet's, good at its userinfo endpoint.
	info, err := prov.UserInfo(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: seen.AccessToken}))
	if err != nil || info.Subject != idt.Subject || info.Email != email {
		t.Fatalf("userinfo with the access token oauth2-proxy passed: %+v, %v", info, err)
	}

	// oauth2-proxy used PKCE S256, asked for offline_access and
	// authenticated with HTTP Basic.
	authz, tokens := tap.requests("/oauth2/authorize"), tap.requests("/oauth2/token")
	if len(authz) == 0 || len(tokens) != 1 {
		t.Fatalf("valet saw %d authorization requests and %d token requests, want some and 1", len(authz), len(tokens))
	}
	q, tr := authz[len(authz)-1].Query, tokens[0]
	sum := sha256.Sum256([]byte(tr.Form.Get("code_verifier")))
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") != base64.RawURLEncoding.EncodeToString(sum[:]) ||
		tr.Form.Get("code_verifier") == "" {
		t.Fatalf("authorization request %v and token request %v: want a code_challenge S256 of the code_verifier", q, tr.Form)
	}
	if q.Get("client_id") != id || !strings.Contains(" "+q.Get("scope")+" ", " offline_access ") {
		t.Fatalf("authorization request %v: want client_id %s and scope offline_access", q, id)
	}
	if tr.Status != http.StatusOK || tr.Basic != id || tr.Form.Get("grant_type") != "authorization_code" {
		t.Fatalf("token request: %d, Basic client %q, form %v", tr.Status, tr.Basic, tr.Form)
	}

	// The next page is oauth2-proxy's alone: valet sees nothing.
	ada.do("open another page", chromedp.Navigate(proxyURL+"/other"), chromedp.WaitVisible(chromedp.CSS(`#app-email`)))
	ada.see("#app-uri", "/other")
	if n := len(tap.requests("/oauth2/authorize")); n != len(authz) {
		t.Errorf("a signed-in page went to valet's /oauth2/authorize")
	}

	t.Run("a wrong client secret gets no one in", func(t *testing.T) {
		_, before := app.last()
		// The browser is signed in to valet and the consent is the same
		// client's: valet answers with a code at once, which oauth2-proxy
		// cannot redeem.
		ada.do("open the wiki through the misconfigured proxy",
			chromedp.Navigate(wrongURL+"/page"),
			chromedp.WaitVisible(chromedp.CSS(`body`)))
		if p := runIn(ada, "location", chromedp.Location()); !strings.HasPrefix(p, wrongURL+"/oauth2/callback?") {
			t.Fatalf("the misconfigured proxy's sign-in ended at %s, want its callback", p)
		}
		ada.screenshot("wrong-secret")
		ada.see("body", "Internal Server Error")
		if _, after := app.last(); after != before {
			t.Fatal("the application was reached through an oauth2-proxy with a wrong client secret")
		}
		tokens := tap.requests("/oauth2/token")
		if last := tokens[len(tokens)-1]; last.Status != http.StatusUnauthorized {
			t.Fatalf("valet answered the wrong secret's token request with %d, want 401 (invalid_client)", last.Status)
		}
		if !strings.Contains(wrong.logs(), "invalid_client") {
			t.Errorf("oauth2-proxy did not log valet's invalid_client:\n%s", wrong.logs())
		}
	})

	// refreshes returns the answers to oauth2-proxy's refresh_token grants
	// since the nth token request.
	refreshes := func(n int) []int {
		var st []int
		for _, r := range tap.requests("/oauth2/token")[n:] {
			if r.Form.Get("grant_type") == "refresh_token" {
				st = append(st, r.Status)
			}
		}
		return st
	}
	// due waits until oauth2-proxy refreshes a session made at since.
	due := func(since time.Time) { time.Sleep(time.Until(since.Add(refresh + 1100*time.Millisecond))) }

	t.Run("the proxy refreshes while the valet session lasts", func(t *testing.T) {
		due(signedIn)
		n := len(tap.requests("/oauth2/token"))
		ada.do("open the wiki when the refresh is due", chromedp.Navigate(proxyURL+"/page"), chromedp.WaitVisible(chromedp.CSS(`#app-email`)))
		signedIn = time.Now()
		ada.see("#app-email", email)
		if st := refreshes(n); len(st) != 1 || st[0] != http.StatusOK {
			t.Fatalf("valet answered oauth2-proxy's refreshes with %v, want one 200", st)
		}
		if now, _ := app.last(); now.AccessToken == seen.AccessToken || now.Email != email {
			t.Fatalf("after the refresh the application got the same access token, or email %q", now.Email)
		}
	})

	t.Run("sign-out of valet ends the proxy's session at its next refresh", func(t *testing.T) {
		n := len(tap.requests("/oauth2/token"))
		ada.do("open valet's account page", chromedp.Navigate(pub+"/account"), chromedp.WaitVisible(chromedp.CSS(`#who-email`)))
		ada.signOut()
		// oauth2-proxy keeps its own session in its cookie and has no
		// back-channel logout: until its refresh is due, it lets the
		// browser in.
		if time.Since(signedIn) < refresh/2 {
			ada.do("open the wiki at once", chromedp.Navigate(proxyURL+"/page"), chromedp.WaitVisible(chromedp.CSS(`#app-email`)))
			ada.see("#app-email", email)
		} else {
			t.Logf("the sign-out took %s: too long to see the proxy's session outlive it", time.Since(signedIn))
		}
		due(signedIn)
		// Its refresh is refused (the session's refresh tokens ended with
		// it), so it drops its session and sends the browser to sign in.
		_, before := app.last()
		ada.do("open the wiki when the refresh is due",
			chromedp.Navigate(proxyURL+"/page"),
			chromedp.WaitVisible(chromedp.CSS(`#signin-email`)))
		if _, after := app.last(); after != before {
			t.Fatal("the application was reached after the valet session ended and the refresh was due")
		}
		// x/oauth2 tries HTTP Basic, then the form, when the first fails.
		st := refreshes(n)
		if len(st) == 0 {
			t.Fatal("oauth2-proxy did not refresh")
		}
		for _, code := range st {
			if code != http.StatusBadRequest {
				t.Fatalf("valet answered the refreshes of an ended session with %v, want 400 (invalid_grant)", st)
			}
		}
		if !strings.Contains(proxy.logs(), "invalid_grant") {
			t.Errorf("oauth2-proxy did not log valet's invalid_grant")
		}
	})

	t.Run("the proxy's sign-out leads through valet's", func(t *testing.T) {
		ada.do("sign in again",
			chromedp.SendKeys(chromedp.CSS(`#signin-email`), email),
			chromedp.SendKeys(chromedp.CSS(`#signin-password`), browserPassword),
			chromedp.Click(chromedp.CSS(`#signin-form button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`#app-email`)))
		ada.see("#app-uri", "/page")
		logout := pub + "/oauth2/logout?" + url.Values{"client_id": {id}, "post_logout_redirect_uri": {proxyURL + "/"}}.Encode()
		ada.do("sign out of the wiki",
			chromedp.Navigate(proxyURL+"/oauth2/sign_out?rd="+url.QueryEscape(logout)),
			chromedp.WaitVisible(chromedp.CSS(`form[action="/oauth2/logout"] button`)))
		ada.screenshot("valet-logout")
		ada.do("confirm",
			chromedp.Click(chromedp.CSS(`form[action="/oauth2/logout"] button`)),
			chromedp.WaitVisible(chromedp.CSS(`#signin-email`)))
		ada.do("valet's account page", chromedp.Navigate(pub+"/account"), chromedp.WaitVisible(chromedp.CSS(`#signin-form`)))
	})
	if strings.Contains(s.logs(), `"level":"ERROR"`) {
		t.Errorf("valet logged errors:\n%s", s.logs())
	}
}
