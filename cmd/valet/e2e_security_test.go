package main

// The attack suite: one test per attack, each against the real binary.
// docs/SECURITY.md maps these tests to the requirements they cover.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSecurityHeaders: every response, success or error, carries the
// security headers; HSTS only over TLS; the session cookie is
// __Host-valet_session when Secure and valet_session when not, and the old
// name is still read.
func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil, "--data-dir", t.TempDir())
	signupUser(t, s.URL, "ada@example.com")
	loginR := login(t, s.URL, "ada@example.com", "", req{})
	cookie := sessionCookie(t, loginR)
	for name, r := range map[string]response{
		"login":     loginR,
		"healthz":   do(t, s.URL, req{Path: "/healthz"}),
		"jwks":      do(t, s.URL, req{Path: "/.well-known/jwks.json"}),
		"401":       do(t, s.URL, req{Path: "/v1/me"}),
		"404":       do(t, s.URL, req{Path: "/v1/nope"}),
		"403 csrf":  do(t, s.URL, req{Method: "POST", Path: "/v1/logout", Header: map[string]string{"Sec-Fetch-Site": "cross-site"}}),
		"413":       do(t, s.URL, req{Method: "POST", Path: "/v1/login", Body: strings.Repeat(" ", 70<<10)}),
		"405":       do(t, s.URL, req{Method: "PUT", Path: "/v1/me", Bearer: "x"}),
		"authz 401": do(t, s.URL, req{Path: "/v1/authz"}),
	} {
		for k, want := range map[string]string{
			"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
			"X-Content-Type-Options":  "nosniff",
			"Referrer-Policy":         "no-referrer",
			"X-Frame-Options":         "DENY",
		} {
			if got := r.Header.Get(k); got != want {
				t.Errorf("%s: %s = %q, want %q", name, k, got, want)
			}
		}
		if h := r.Header.Get("Strict-Transport-Security"); h != "" {
			t.Errorf("%s: HSTS %q over plain HTTP", name, h)
		}
	}

	_, h := loginR.cookie("valet_session")
	if !strings.HasPrefix(h, "__Host-valet_session=") {
		t.Fatalf("Secure session cookie %q lacks the __Host- prefix", h)
	}
	for _, attr := range []string{"; Path=/", "; Secure", "; HttpOnly", "; SameSite=Lax"} {
		if !strings.Contains(h, attr) {
			t.Fatalf("cookie %q lacks %s", h, attr)
		}
	}
	if strings.Contains(strings.ToLower(h), "domain=") {
		t.Fatalf("cookie %q has a Domain", h)
	}
	expect(t, "prefixed name", do(t, s.URL, req{Path: "/v1/me", Header: map[string]string{"Cookie": "__Host-valet_session=" + cookie}}), 200)
	expect(t, "old name", do(t, s.URL, req{Path: "/v1/me", Cookie: cookie}), 200)
	// A login that finds the old name clears it, so the browser moves over.
	again := login(t, s.URL, "ada@example.com", "", req{Cookie: cookie})
	var clearedOld bool
	for _, sc := range again.Header.Values("Set-Cookie") {
		if strings.HasPrefix(sc, "valet_session=;") && strings.Contains(sc, "Max-Age=0") {
			clearedOld = true
		}
	}
	if !clearedOld {
		t.Fatalf("login with an old-name cookie did not clear it: %q", again.Header.Values("Set-Cookie"))
	}

	plain := startServer(t, nil, "--data-dir", t.TempDir(), "--cookie-secure=false")
	signupUser(t, plain.URL, "ada@example.com")
	_, h = login(t, plain.URL, "ada@example.com", "", req{}).cookie("valet_session")
	if !strings.HasPrefix(h, "valet_session=") || strings.Contains(h, "Secure") {
		t.Fatalf("insecure cookie = %q, want valet_session without Secure", h)
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key, made now, to
// dir and returns their paths and a pool that trusts the certificate.
func selfSigned(tb testing.TB, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "valet e2e"},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestServeTLS: with --tls-cert and --tls-key valet serves HTTPS itself,
// with HSTS, TLS 1.2 at least, and the __Host- cookie working over it.
func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	s := startServer(t, nil, "--data-dir", dir, "--tls-cert", certFile, "--tls-key", keyFile)
	if !strings.HasPrefix(s.URL, "https://") {
		t.Fatalf("server URL %q is not https", s.URL)
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	t.Cleanup(client.CloseIdleConnections)
	send := func(method, path, body, cookie string) *http.Response {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		r, err := http.NewRequest(method, s.URL+path, rd)
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Content-Type", "application/json")
		if cookie != "" {
			r.Header.Set("Cookie", cookie)
		}
		resp, err := client.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	h := send("GET", "/healthz", "", "")
	if h.StatusCode != 200 || h.Header.Get("Strict-Transport-Security") != "max-age=63072000; includeSubDomains" {
		t.Fatalf("healthz over TLS: %d, HSTS %q", h.StatusCode, h.Header.Get("Strict-Transport-Security"))
	}
	if h.TLS == nil || h.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("TLS state %+v", h.TLS)
	}
	// The pages beside the API carry HSTS as well, with a policy of their own.
	page := send("GET", "/", "", "")
	if page.Header.Get("Strict-Transport-Security") == "" || page.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("page over TLS: HSTS %q, CSP %q", page.Header.Get("Strict-Transport-Security"), page.Header.Get("Content-Security-Policy"))
	}
	if r := send("POST", "/v1/signup", `{"email":"ada@example.com","password":"`+attackPassword+`"}`, ""); r.StatusCode != 201 {
		t.Fatalf("signup over TLS: %d", r.StatusCode)
	}
	l := send("POST", "/v1/login", `{"email":"ada@example.com","password":"`+attackPassword+`"}`, "")
	var c *http.Cookie
	for _, ck := range l.Cookies() {
		if ck.Name == "__Host-valet_session" {
			c = ck
		}
	}
	if c == nil || !c.Secure || c.Path != "/" {
		t.Fatalf("login over TLS set cookies %v, want a Secure __Host-valet_session", l.Cookies())
	}
	if me := send("GET", "/v1/me", "", "__Host-valet_session="+c.Value); me.StatusCode != 200 {
		t.Fatalf("me over TLS: %d", me.StatusCode)
	}

	// TLS 1.1 is refused.
	old := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}}}
	if resp, err := old.Get(s.URL + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatal("a TLS 1.1 client was served")
	}

	// One of the pair alone is a usage error, at start.
	out, err := runValet(t, "serve", "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0", "--tls-cert", certFile)
	if err == nil || !strings.Contains(out, "--tls-key") {
		t.Fatalf("--tls-cert alone: %v, %s", err, out)
	}
}

// runValet runs the binary to completion and returns its combined output.
func runValet(tb testing.TB, args ...string) (string, error) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Dir = tb.TempDir()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestAuditLog: the security events are in the server's log as structured
// "audit" records with the client's address and user agent, and no
// password, cookie value, access token or refresh token is anywhere in it.
func TestAuditLog(t *testing.T) {
	grace := 300 * time.Millisecond
	s := startServer(t, nil, "--data-dir", t.TempDir(), "--log-level", "info",
		"--refresh-grace", grace.String(), "--throttle-login-account", "2/15m")
	const ua = "attack-suite/1.0 (audit)"
	var secrets []string
	call := func(q req) response {
		t.Helper()
		if q.Header == nil {
			q.Header = map[string]string{}
		}
		q.Header["User-Agent"] = ua
		r := do(t, s.URL, q)
		if v, _ := r.cookie("valet_session"); v != "" {
			secrets = append(secrets, v)
		}
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") && len(r.Body) > 0 {
			var m map[string]any
			if json.Unmarshal(r.Body, &m) == nil {
				for _, k := range []string{"access_token", "refresh_token"} {
					if v, ok := m[k].(string); ok {
						secrets = append(secrets, v)
					}
				}
			}
		}
		return r
	}
	creds := func(email, pw, mode string) map[string]string {
		return map[string]string{"email": email, "password": pw, "mode": mode}
	}
	const wrong, newPw = "a wrong password 1", "the new passphrase 2"
	secrets = append(secrets, attackPassword, wrong, newPw)

	expect(t, "signup", call(req{Method: "POST", Path: "/v1/signup", Body: map[string]string{"email": "ada@example.com", "password": attackPassword}}), 201)
	expect(t, "signup bob", call(req{Method: "POST", Path: "/v1/signup", Body: map[string]string{"email": "bob@example.com", "password": attackPassword}}), 201)
	expect(t, "login failure", call(req{Method: "POST", Path: "/v1/login", Body: creds("ada@example.com", wrong, "")}), 401)
	sess := call(req{Method: "POST", Path: "/v1/login", Body: creds("ada@example.com", attackPassword, "session")})
	expect(t, "login", sess, 200)
	cookie := sessionCookie(t, sess)
	other := call(req{Method: "POST", Path: "/v1/login", Body: creds("ada@example.com", attackPassword, "session")})
	otherSid := other.json(t)["session"].(map[string]any)["id"].(string)
	expect(t, "revoke a session", call(req{Method: "DELETE", Path: "/v1/sessions/" + otherSid, Cookie: cookie}), 204)
	tokR := call(req{Method: "POST", Path: "/v1/login", Body: creds("ada@example.com", attackPassword, "token")})
	rt := tokR.json(t)["refresh_token"].(string)
	expect(t, "refresh", call(req{Method: "POST", Path: "/v1/token/refresh", Body: map[string]string{"refresh_token": rt}}), 200)
	time.Sleep(grace + 200*time.Millisecond)
	expect(t, "refresh reuse", call(req{Method: "POST", Path: "/v1/token/refresh", Body: map[string]string{"refresh_token": rt}}), 401)
	change := call(req{Method: "POST", Path: "/v1/password", Cookie: cookie,
		Body: map[string]string{"current_password": attackPassword, "new_password": newPw}})
	expect(t, "password change", change, 204)
	cookie, _ = change.cookie("valet_session")
	expect(t, "logout", call(req{Method: "POST", Path: "/v1/logout", Cookie: cookie}), 204)
	for range 2 {
		call(req{Method: "POST", Path: "/v1/login", Body: creds("bob@example.com", wrong, "")})
	}
	expect(t, "throttled", call(req{Method: "POST", Path: "/v1/login", Body: creds("bob@example.com", attackPassword, "")}), 429)

	// The server writes its log as it goes; wait for the last event.
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(s.logs(), `"event":"throttle"`) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	log := s.logs()
	seen := map[string]int{}
	for _, line := range strings.Split(log, "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil || rec["msg"] != "audit" {
			continue
		}
		ev, _ := rec["event"].(string)
		seen[ev]++
		if rec["ip"] != "127.0.0.1" || rec["user_agent"] != ua {
			t.Errorf("audit event %s lacks the client: ip %v, user agent %v", ev, rec["ip"], rec["user_agent"])
		}
		if ev != "login.failure" && ev != "throttle" && rec["user_id"] == "" {
			t.Errorf("audit event %s has no user id: %s", ev, line)
		}
	}
	for _, ev := range []string{"signup", "login.failure", "login.success", "session.revoke", "token.refresh",
		"token.reuse", "password.change", "logout", "throttle"} {
		if seen[ev] == 0 {
			t.Errorf("no %q audit event; saw %v", ev, seen)
		}
	}
	for _, sec := range secrets {
		if sec != "" && strings.Contains(log, sec) {
			t.Errorf("the log holds a secret (%d characters, starting %.6q)", len(sec), sec)
		}
	}
	if t.Failed() {
		t.Logf("server log:\n%s", log)
	}
}
