package main

// The attack suite: one test per attack, each against the real binary.
// docs/SECURITY.md maps these tests to the requirements they cover.

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/valetauth/valet/auth"
	"github.com/valetauth/valet/password"
	"github.com/valetauth/valet/store/sqlite"
	"github.com/valetauth/valet/token"
)

const attackPassword = "correct horse battery"

// noThrottle turns the throttle off, for tests that send many bad logins
// on purpose and are about something else.
var noThrottle = []string{"--throttle-login-account", "off", "--throttle-login-ip", "off", "--throttle-signup", "off", "--throttle-refresh", "off"}

// signupUser creates an account and returns its id.
func signupUser(tb testing.TB, base, email string) string {
	tb.Helper()
	r := do(tb, base, req{Method: "POST", Path: "/v1/signup", Body: map[string]string{"email": email, "password": attackPassword}})
	expect(tb, "signup "+email, r, 201)
	return r.json(tb)["user"].(map[string]any)["id"].(string)
}

// login logs email in with mode ("" for the server's default) and the
// extra request fields in q (a cookie the browser holds, headers).
func login(tb testing.TB, base, email, mode string, q req) response {
	tb.Helper()
	q.Method, q.Path = "POST", "/v1/login"
	q.Body = map[string]string{"email": email, "password": attackPassword, "mode": mode}
	r := do(tb, base, q)
	expect(tb, "login "+email, r, 200)
	return r
}

// sessionCookie returns the session cookie that r set, failing without one.
func sessionCookie(tb testing.TB, r response) string {
	tb.Helper()
	v, _ := r.cookie("valet_session")
	if v == "" {
		tb.Fatalf("no session cookie in %v", r.Header.Values("Set-Cookie"))
	}
	return v
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// forge builds a compact JWS from header and claims, signed with HMAC-SHA256
// under key, or with sig as the signature when key is nil.
func forge(tb testing.TB, header, claims map[string]any, key, sig []byte) string {
	tb.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		tb.Fatal(err)
	}
	input := b64(h) + "." + b64(c)
	if key != nil {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(input))
		sig = m.Sum(nil)
	}
	return input + "." + b64(sig)
}

// goodClaims are claims that the server would accept from its own key: the
// attacks below change only how the token is signed.
func goodClaims(uid string) map[string]any {
	now := time.Now().Unix()
	return map[string]any{"iss": "valet", "aud": "valet", "sub": uid, "exp": now + 600, "iat": now,
		"jti": "forged", "roles": []string{"admin"}, "email": "mallory@example.com"}
}

// serverJWK returns the server's first signing key as its JWKS shows it.
func serverJWK(tb testing.TB, base string) (raw json.RawMessage, kid string, x []byte) {
	tb.Helper()
	r := do(tb, base, req{Path: "/.well-known/jwks.json"})
	expect(tb, "jwks", r, 200)
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(r.Body, &set); err != nil || len(set.Keys) == 0 {
		tb.Fatalf("jwks %s: %v", r.Body, err)
	}
	var k struct {
		Kid string `json:"kid"`
		X   string `json:"x"`
	}
	if err := json.Unmarshal(set.Keys[0], &k); err != nil {
		tb.Fatal(err)
	}
	x, err := base64.RawURLEncoding.DecodeString(k.X)
	if err != nil || len(x) != ed25519.PublicKeySize {
		tb.Fatalf("jwks key x = %q: want an Ed25519 key", k.X)
	}
	return set.Keys[0], k.Kid, x
}

// TestAttackSessionFixation: a login never keeps a session id the browser
// already had: not one an attacker planted, not the browser's own, and not
// an attacker's own session pushed into the victim's browser.
func TestAttackSessionFixation(t *testing.T) {
	s := startServer(t, nil, "--data-dir", t.TempDir())
	signupUser(t, s.URL, "victim@example.com")
	signupUser(t, s.URL, "mallory@example.com")

	first := sessionCookie(t, login(t, s.URL, "victim@example.com", "", req{}))
	planted := valet64(t) + "." + valet64(t)
	mallory := sessionCookie(t, login(t, s.URL, "mallory@example.com", "", req{}))

	tests := []struct {
		name string
		held string
	}{
		{"no cookie", ""},
		{"a value the attacker made up", planted},
		{"the browser's own live session", first},
		{"the attacker's live session", mallory},
	}
	seen := map[string]bool{first: true, mallory: true}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := login(t, s.URL, "victim@example.com", "", req{Cookie: tc.held})
			got := sessionCookie(t, r)
			if seen[got] || got == tc.held {
				t.Fatalf("login handed out a session id the browser already had")
			}
			seen[got] = true
			me := do(t, s.URL, req{Path: "/v1/me", Cookie: got})
			expect(t, "me with the new cookie", me, 200)
			if email := me.json(t)["user"].(map[string]any)["email"]; email != "victim@example.com" {
				t.Fatalf("the new session is %v's", email)
			}
			if tc.held != "" {
				// The old ticket ends with the login: whoever planted it
				// cannot ride along.
				expect(t, "the cookie held before login", do(t, s.URL, req{Path: "/v1/me", Cookie: tc.held}), 401, "unauthenticated")
			}
		})
	}
}

func valet64(tb testing.TB) string {
	tb.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return b64(b)
}

// TestAttackTamperedCookie: any change to a cookie, in its secret or its
// MAC, in any position, is refused.
func TestAttackTamperedCookie(t *testing.T) {
	s := startServer(t, nil, "--data-dir", t.TempDir())
	signupUser(t, s.URL, "ada@example.com")
	cookie := sessionCookie(t, login(t, s.URL, "ada@example.com", "", req{}))
	swap := func(i int) string {
		b := []byte(cookie)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	secret, mac, _ := strings.Cut(cookie, ".")
	tests := []struct{ name, value string }{
		{"first secret character", swap(0)},
		{"middle secret character", swap(20)},
		{"last secret character", swap(42)},
		{"first MAC character", swap(44)},
		{"last MAC character", swap(len(cookie) - 1)},
		{"MAC dropped", secret},
		{"MAC of another secret", valet64(t) + "." + mac},
		{"secret and MAC swapped", mac + "." + secret},
		{"padding added", cookie + "="},
		{"trailing junk", cookie + "x"},
		{"standard base64 alphabet", strings.NewReplacer("-", "+", "_", "/").Replace(cookie)},
		{"upper-cased", strings.ToUpper(cookie)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.value == cookie {
				t.Skip("the change is a no-op for this cookie")
			}
			expect(t, tc.name, do(t, s.URL, req{Path: "/v1/me", Cookie: tc.value}), 401, "unauthenticated")
		})
	}
	expect(t, "the real cookie still works", do(t, s.URL, req{Path: "/v1/me", Cookie: cookie}), 200)
}

// redisMonitor records every command a Redis server runs (MONITOR).
type redisMonitor struct {
	mu    sync.Mutex
	lines []string
}

func monitorRedis(tb testing.TB, redisURL string) *redisMonitor {
	tb.Helper()
	u, err := url.Parse(redisURL)
	if err != nil {
		tb.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	if _, err := conn.Write([]byte("MONITOR\r\n")); err != nil {
		tb.Fatal(err)
	}
	br := bufio.NewReader(conn)
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "+OK") {
		tb.Fatalf("MONITOR answered %q, %v", line, err)
	}
	m := &redisMonitor{}
	go func() {
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			m.mu.Lock()
			m.lines = append(m.lines, strings.TrimSpace(line))
			m.mu.Unlock()
		}
	}()
	return m
}

// until waits for a command that mentions marker and returns every command
// run before it.
func (m *redisMonitor) until(tb testing.TB, marker string) []string {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		m.mu.Lock()
		for i, l := range m.lines {
			if strings.Contains(l, marker) {
				before := slices.Clone(m.lines[:i])
				m.mu.Unlock()
				return before
			}
		}
		m.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	tb.Fatalf("Redis never ran a command on %q", marker)
	return nil
}

// TestAttackForgedCookieNoStoreLookup: a cookie without a valid HMAC is
// refused before the session store is asked. The sessions live in a Redis
// of the test's own, whose every command the test watches (MONITOR): the
// forged cookies cause none, and the real one that follows causes the
// lookup that proves the watch works.
func TestAttackForgedCookieNoStoreLookup(t *testing.T) {
	redis := startPrivateRedis(t)
	s := startServer(t, nil, "--data-dir", t.TempDir(), "--sessions", redis.URL())
	signupUser(t, s.URL, "ada@example.com")
	r := login(t, s.URL, "ada@example.com", "", req{})
	cookie := sessionCookie(t, r)
	sid := r.json(t)["session"].(map[string]any)["id"].(string)
	secret, _, _ := strings.Cut(cookie, ".")

	mon := monitorRedis(t, redis.URL())
	forged := []string{
		secret + "." + valet64(t), // a live session's secret with a made-up MAC
		valet64(t) + "." + valet64(t),
		strings.Repeat("A", 43) + "." + strings.Repeat("A", 43),
		"x",
	}
	for i := range 25 {
		v := forged[i%len(forged)]
		expect(t, "forged cookie", do(t, s.URL, req{Path: "/v1/me", Cookie: v}), 401, "unauthenticated")
	}
	expect(t, "real cookie", do(t, s.URL, req{Path: "/v1/me", Cookie: cookie}), 200)
	before := mon.until(t, "s:"+sid)
	for _, l := range before {
		if strings.Contains(l, "valet:s:") || strings.Contains(strings.ToLower(l), "hgetall") {
			t.Fatalf("a forged cookie reached the session store: %s", l)
		}
	}
	t.Logf("%d Redis commands ran during 25 forged-cookie requests (none touched a session)", len(before))
}

// TestAttackCookieReplayAfterLogout: a cookie copied before logout is dead
// after it, on every endpoint, and logging out again changes nothing.
func TestAttackCookieReplayAfterLogout(t *testing.T) {
	s := startServer(t, nil, "--data-dir", t.TempDir())
	signupUser(t, s.URL, "ada@example.com")
	cookie := sessionCookie(t, login(t, s.URL, "ada@example.com", "", req{}))
	expect(t, "logout", do(t, s.URL, req{Method: "POST", Path: "/v1/logout", Cookie: cookie}), 204)
	for _, q := range []req{
		{Path: "/v1/me"},
		{Path: "/v1/sessions"},
		{Path: "/v1/authz"},
		{Method: "POST", Path: "/v1/password", Body: map[string]string{"current_password": attackPassword, "new_password": "a brand new passphrase"}},
		{Method: "DELETE", Path: "/v1/sessions"},
	} {
		q.Cookie = cookie
		expect(t, "replay "+q.Method+" "+q.Path, do(t, s.URL, q), 401, "unauthenticated")
	}
	// Under the prefixed name too.
	expect(t, "replay as __Host-", do(t, s.URL, req{Path: "/v1/me", Header: map[string]string{"Cookie": "__Host-valet_session=" + cookie}}), 401, "unauthenticated")
	expect(t, "logout again", do(t, s.URL, req{Method: "POST", Path: "/v1/logout", Cookie: cookie}), 204)
	expect(t, "password unchanged", do(t, s.URL, req{Method: "POST", Path: "/v1/login",
		Body: map[string]string{"email": "ada@example.com", "password": attackPassword}}), 200)
}

// TestAttackRefreshReplay: a refresh token used again after the grace
// window is theft: the request fails, and the whole family dies with it,
// the thief's fresh successor included; in hybrid mode the session and its
// access tokens die too.
func TestAttackRefreshReplay(t *testing.T) {
	grace := 300 * time.Millisecond
	s := startServer(t, nil, "--data-dir", t.TempDir(), "--refresh-grace", grace.String())
	for _, mode := range []string{"token", "hybrid"} {
		t.Run(mode, func(t *testing.T) {
			email := mode + "@example.com"
			signupUser(t, s.URL, email)
			body := login(t, s.URL, email, mode, req{}).json(t)
			stolen := body["refresh_token"].(string)
			// The thief refreshes first, then the victim's copy comes back late.
			thief := do(t, s.URL, req{Method: "POST", Path: "/v1/token/refresh", Body: map[string]string{"refresh_token": stolen}})
			expect(t, "thief refreshes", thief, 200)
			tb := thief.json(t)
			time.Sleep(grace + 200*time.Millisecond)
			expect(t, "replay after grace", do(t, s.URL, req{Method: "POST", Path: "/v1/token/refresh",
				Body: map[string]string{"refresh_token": stolen}}), 401, "invalid_grant")
			expect(t, "thief's successor", do(t, s.URL, req{Method: "POST", Path: "/v1/token/refresh",
				Body: map[string]string{"refresh_token": tb["refresh_token"].(string)}}), 401, "invalid_grant")
			if mode == "hybrid" {
				for _, at := range []string{body["access_token"].(string), tb["access_token"].(string)} {
					expect(t, "hybrid access token after theft", do(t, s.URL, req{Path: "/v1/me", Bearer: at}), 401, "invalid_token")
				}
			}
		})
	}
}

// TestAttackAlgNone: a token that says alg "none" (in any case), with or
// without a signature, is refused.
func TestAttackAlgNone(t *testing.T) {
	s := startServer(t, nil, "--data-dir", t.TempDir())
	uid := signupUser(t, s.URL, "ada@example.com")
	real := login(t, s.URL, "ada@example.com", "token", req{}).json(t)["access_token"].(string)
	_, kid, _ := serverJWK(t, s.URL)
	realSig, _ := base64.RawURLEncoding.DecodeString(real[strings.LastIndexByte(real, '.')+1:])
	for _, alg := range []string{"none", "None", "NONE", "nOnE", ""} {
		for _, sig := range [][]byte{nil, realSig} {
			name := fmt.Sprintf("alg %q, %d-byte signature", alg, len(sig))
			t.Run(name, func(t *testing.T) {
				tok := forge(t, map[string]any{"alg": alg, "kid": kid, "typ": "JWT"}, goodClaims(uid), nil, sig)
				r := do(t, s.URL, req{Path: "/v1/me", Bearer: tok})
				expect(t, name, r, 401, "invalid_token")
				if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), `Bearer error="invalid_token"`) {
					t.Fatalf("WWW-Authenticate = %q", r.Header.Get("WWW-Authenticate"))
				}
			})
		}
	}
	expect(t, "the real token", do(t, s.URL, req{Path: "/v1/me", Bearer: real}), 200)
}

// TestAttackAlgConfusion: HS256 signed with the server's public key, in
// every form an attacker could take it from the JWKS, is refused.
func TestAttackAlgConfusion(t *testing.T) {
	s := startServer(t, nil, "--data-dir", t.TempDir())
	uid := signupUser(t, s.URL, "ada@example.com")
	jwk, kid, x := serverJWK(t, s.URL)
	spki, err := x509.MarshalPKIXPublicKey(ed25519.PublicKey(x))
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string][]byte{
		"raw public key":  x,
		"base64url x":     []byte(b64(x)),
		"JWK JSON":        jwk,
		"SPKI DER":        spki,
		"SPKI PEM":        pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}),
		"kid as a secret": []byte(kid),
	}
	for name, key := range keys {
		for _, alg := range []string{"HS256", "HS384", "HS512"} {
			t.Run(name+" "+alg, func(t *testing.T) {
				tok := forge(t, map[string]any{"alg": alg, "kid": kid, "typ": "JWT"}, goodClaims(uid), key, nil)
				expect(t, name, do(t, s.URL, req{Path: "/v1/me", Bearer: tok}), 401, "invalid_token")
				expect(t, name+" on introspect-free authz", do(t, s.URL, req{Path: "/v1/authz", Bearer: tok}), 401, "invalid_token")
			})
		}
	}
	// A JWK embedded in the header (RFC 7515 "jwk") is not a way in either.
	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	h := map[string]any{"alg": "EdDSA", "typ": "JWT", "jwk": map[string]string{"kty": "OKP", "crv": "Ed25519", "x": b64(priv.Public().(ed25519.PublicKey))}}
	hb, _ := json.Marshal(h)
	cb, _ := json.Marshal(goodClaims(uid))
	input := b64(hb) + "." + b64(cb)
	tok := input + "." + b64(ed25519.Sign(priv, []byte(input)))
	expect(t, "embedded jwk", do(t, s.URL, req{Path: "/v1/me", Bearer: tok}), 401, "invalid_token")
}

// signWithServerKey signs c with the signing key of the server whose data
// directory is dir, through the library, as a token the server issued at
// another time would be.
func signWithServerKey(tb testing.TB, dir string, c token.Claims) string {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "valet.db"))
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	svc, err := auth.New(ctx, auth.Config{
		Stores: db.Stores(), Logger: slog.New(slog.DiscardHandler),
		Hasher: password.NewHasher(password.Params{Memory: 8192, Iterations: 1, Parallelism: 1}, 0, 0),
	})
	if err != nil {
		tb.Fatal(err)
	}
	tok, err := svc.Keys().KeySet().Sign(&c)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// TestAttackExpiredToken: a token signed by the server's own key is refused
// once exp (plus the 30 s leeway) has passed; the same token with a future
// exp is accepted, which shows that only the expiry differs.
func TestAttackExpiredToken(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, nil, "--data-dir", dir)
	uid := signupUser(t, s.URL, "ada@example.com")
	now := time.Now()
	claims := func(exp time.Time) token.Claims {
		return token.Claims{Issuer: "valet", Audience: token.Audience{"valet"}, Subject: uid,
			ExpiresAt: exp.Unix(), IssuedAt: now.Add(-time.Hour).Unix(), ID: "e2e", Email: "ada@example.com"}
	}
	live := signWithServerKey(t, dir, claims(now.Add(10*time.Minute)))
	expect(t, "same key, future exp", do(t, s.URL, req{Path: "/v1/me", Bearer: live}), 200)
	for _, ago := range []time.Duration{31 * time.Second, time.Hour, 30 * 24 * time.Hour} {
		tok := signWithServerKey(t, dir, claims(now.Add(-ago)))
		r := do(t, s.URL, req{Path: "/v1/me", Bearer: tok})
		expect(t, "expired "+ago.String()+" ago", r, 401, "token_expired")
		if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), `Bearer error="invalid_token"`) {
			t.Fatalf("WWW-Authenticate = %q", r.Header.Get("WWW-Authenticate"))
		}
	}
}

// TestAttackRevokedToken: a hybrid access token dies with its session, by
// logout or by revoking the session from another device; a token-mode
// refresh token dies with logout.
func TestAttackRevokedToken(t *testing.T) {
	s := startServer(t, nil, "--data-dir", t.TempDir())
	signupUser(t, s.URL, "ada@example.com")

	a := login(t, s.URL, "ada@example.com", "hybrid", req{}).json(t)
	expect(t, "hybrid before logout", do(t, s.URL, req{Path: "/v1/me", Bearer: a["access_token"].(string)}), 200)
	expect(t, "logout", do(t, s.URL, req{Method: "POST", Path: "/v1/logout", Bearer: a["access_token"].(string)}), 204)
	expect(t, "hybrid after logout", do(t, s.URL, req{Path: "/v1/me", Bearer: a["access_token"].(string)}), 401, "invalid_token")
	expect(t, "its refresh token", do(t, s.URL, req{Method: "POST", Path: "/v1/token/refresh",
		Body: map[string]string{"refresh_token": a["refresh_token"].(string)}}), 401, "invalid_grant")

	b := login(t, s.URL, "ada@example.com", "hybrid", req{}).json(t)
	other := sessionCookie(t, login(t, s.URL, "ada@example.com", "session", req{}))
	sid := b["session"].(map[string]any)["id"].(string)
	expect(t, "revoke from another device", do(t, s.URL, req{Method: "DELETE", Path: "/v1/sessions/" + sid, Cookie: other}), 204)
	expect(t, "revoked hybrid token", do(t, s.URL, req{Path: "/v1/me", Bearer: b["access_token"].(string)}), 401, "invalid_token")

	c := login(t, s.URL, "ada@example.com", "token", req{}).json(t)
	expect(t, "logout by refresh token", do(t, s.URL, req{Method: "POST", Path: "/v1/logout",
		Body: map[string]string{"refresh_token": c["refresh_token"].(string)}}), 204)
	expect(t, "refresh after logout", do(t, s.URL, req{Method: "POST", Path: "/v1/token/refresh",
		Body: map[string]string{"refresh_token": c["refresh_token"].(string)}}), 401, "invalid_grant")
}

// TestAttackCrossOriginPost: a cross-origin unsafe request that a browser
// sends with the session cookie is refused, whichever way the browser marks
// it; the same request with a bearer token, from a trusted origin or from
// the same origin is not.
func TestAttackCrossOriginPost(t *testing.T) {
	s := startServer(t, nil, "--data-dir", t.TempDir(), "--trusted-origins", "https://app.example.com")
	signupUser(t, s.URL, "ada@example.com")
	cookie := sessionCookie(t, login(t, s.URL, "ada@example.com", "", req{}))
	crossSite := map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
	sameSite := map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "https://evil.example.com"}
	originOnly := map[string]string{"Origin": "https://evil.example"}

	refused := []struct {
		name string
		q    req
	}{
		{"logout, cross-site", req{Method: "POST", Path: "/v1/logout", Header: crossSite}},
		{"logout, same-site", req{Method: "POST", Path: "/v1/logout", Header: sameSite}},
		{"logout, Origin only (older browser)", req{Method: "POST", Path: "/v1/logout", Header: originOnly}},
		{"password change", req{Method: "POST", Path: "/v1/password", Header: crossSite,
			Body: map[string]string{"current_password": attackPassword, "new_password": "attacker chosen passphrase"}}},
		{"revoke all sessions", req{Method: "DELETE", Path: "/v1/sessions?include_current=true", Header: crossSite}},
		{"login (login CSRF)", req{Method: "POST", Path: "/v1/login", Header: crossSite,
			Body: map[string]string{"email": "ada@example.com", "password": attackPassword}}},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			tc.q.Cookie = cookie
			expect(t, tc.name, do(t, s.URL, tc.q), 403, "csrf_failed")
		})
	}
	// None of those took effect.
	expect(t, "still signed in", do(t, s.URL, req{Path: "/v1/me", Cookie: cookie}), 200)

	tok := login(t, s.URL, "ada@example.com", "token", req{}).json(t)["access_token"].(string)
	allowed := []struct {
		name string
		q    req
		want int
	}{
		// A session that does not exist: 404 shows the request got past the check.
		{"bearer, cross-site", req{Method: "DELETE", Path: "/v1/sessions/none", Bearer: tok, Header: crossSite}, 404},
		{"cookie, trusted origin", req{Method: "DELETE", Path: "/v1/sessions/none", Cookie: cookie,
			Header: map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://app.example.com"}}, 404},
		{"cookie, same origin", req{Method: "DELETE", Path: "/v1/sessions/none", Cookie: cookie,
			Header: map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": s.URL}}, 404},
		{"cookie, no browser headers (a script)", req{Method: "DELETE", Path: "/v1/sessions/none", Cookie: cookie}, 404},
		{"cookie, safe method cross-site", req{Path: "/v1/me", Cookie: cookie, Header: crossSite}, 200},
	}
	for _, tc := range allowed {
		t.Run(tc.name, func(t *testing.T) {
			expect(t, tc.name, do(t, s.URL, tc.q), tc.want)
		})
	}
}

// TestAttackBruteForceAccount: five wrong passwords for one account, from
// wherever, and the sixth attempt is refused with 429 and Retry-After, even
// with the right password; an account that does not exist is refused in
// exactly the same way; a success before the limit starts the count again.
func TestAttackBruteForceAccount(t *testing.T) {
	s := startServer(t, nil, "--data-dir", t.TempDir(), "--log-level", "info")
	signupUser(t, s.URL, "ada@example.com")
	signupUser(t, s.URL, "bob@example.com")
	attempt := func(email, pw string) response {
		return do(t, s.URL, req{Method: "POST", Path: "/v1/login", Body: map[string]string{"email": email, "password": pw}})
	}
	var refusals []response
	for _, email := range []string{"ada@example.com", "nobody@example.com"} {
		for i := range 5 {
			expect(t, fmt.Sprintf("%s failure %d", email, i+1), attempt(email, "wrong password guess"), 401, "invalid_credentials")
		}
		r := attempt(strings.ToUpper(email), attackPassword)
		expect(t, email+" sixth attempt", r, 429, "rate_limited")
		if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 170 || ra > 180 {
			t.Fatalf("Retry-After = %q, want about 180 (15m / 5)", r.Header.Get("Retry-After"))
		}
		refusals = append(refusals, r)
	}
	if string(refusals[0].Body) != string(refusals[1].Body) || refusals[0].Header.Get("Retry-After") != refusals[1].Header.Get("Retry-After") {
		t.Fatalf("a known and an unknown account are refused differently:\n%s %v\n%s %v", refusals[0].Body,
			refusals[0].Header.Get("Retry-After"), refusals[1].Body, refusals[1].Header.Get("Retry-After"))
	}

	for i := range 4 {
		expect(t, fmt.Sprintf("bob failure %d", i+1), attempt("bob@example.com", "wrong password guess"), 401, "invalid_credentials")
	}
	expect(t, "bob logs in before the limit", attempt("bob@example.com", attackPassword), 200)
	for i := range 5 {
		expect(t, fmt.Sprintf("bob failure %d after success", i+1), attempt("bob@example.com", "wrong password guess"), 401, "invalid_credentials")
	}
	expect(t, "bob sixth after success", attempt("bob@example.com", attackPassword), 429, "rate_limited")
	if !strings.Contains(s.logs(), `"event":"throttle"`) {
		t.Fatalf("no throttle audit event in the log:\n%s", s.logs())
	}
}

// TestAttackBruteForceIP: 50 failed logins from one address, across many
// accounts, and the address is refused; a forged X-Forwarded-For does not
// get around it; behind a trusted proxy the forwarded address is the one
// limited, and entries the client wrote itself are not believed.
func TestAttackBruteForceIP(t *testing.T) {
	s := startServer(t, nil, "--data-dir", t.TempDir())
	signupUser(t, s.URL, "ada@example.com")
	for i := range 50 {
		r := do(t, s.URL, req{Method: "POST", Path: "/v1/login", Body: map[string]string{
			"email": fmt.Sprintf("spray%d@example.com", i), "password": "Winter2026!"}})
		expect(t, fmt.Sprintf("spray %d", i+1), r, 401, "invalid_credentials")
	}
	for _, xff := range []string{"", "198.51.100.77", "10.0.0.1, 198.51.100.78"} {
		r := do(t, s.URL, req{Method: "POST", Path: "/v1/login", Header: map[string]string{"X-Forwarded-For": xff},
			Body: map[string]string{"email": "ada@example.com", "password": attackPassword}})
		expect(t, "51st attempt, X-Forwarded-For "+xff, r, 429, "rate_limited")
		if r.Header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
	}

	p := startServer(t, nil, "--data-dir", t.TempDir(), "--trusted-proxies", "127.0.0.1/32", "--throttle-login-ip", "3/15m")
	signupUser(t, p.URL, "ada@example.com")
	from := func(xff, pw string) response {
		return do(t, p.URL, req{Method: "POST", Path: "/v1/login", Header: map[string]string{"X-Forwarded-For": xff},
			Body: map[string]string{"email": "ada" + strconv.Itoa(len(xff)) + "@example.com", "password": pw}})
	}
	for i := range 3 {
		expect(t, fmt.Sprintf("proxied failure %d", i+1), from("203.0.113.7", "nope nope nope"), 401, "invalid_credentials")
	}
	expect(t, "the limited client", from("203.0.113.7", "nope nope nope"), 429, "rate_limited")
	expect(t, "the limited client, spoofing on the left", from("203.0.113.99, 203.0.113.7", "nope nope nope"), 429, "rate_limited")
	expect(t, "another client behind the proxy", from("203.0.113.8", "nope nope nope"), 401, "invalid_credentials")
	r := do(t, p.URL, req{Method: "POST", Path: "/v1/login", Header: map[string]string{"X-Forwarded-For": "203.0.113.9"},
		Body: map[string]string{"email": "ada@example.com", "password": attackPassword}})
	expect(t, "login behind the proxy", r, 200)
	list := do(t, p.URL, req{Path: "/v1/sessions", Cookie: sessionCookie(t, r)})
	expect(t, "sessions", list, 200)
	if got := list.json(t)["sessions"].([]any)[0].(map[string]any)["ip"]; got != "203.0.113.9" {
		t.Fatalf("session ip = %v, want the forwarded client 203.0.113.9", got)
	}
}

// TestAttackBruteForceAcrossNodes: with Redis configured, the nodes share
// their counts, so an attacker who spreads guesses over nodes gains nothing.
func TestAttackBruteForceAcrossNodes(t *testing.T) {
	redis := startPrivateRedis(t)
	a := startServer(t, nil, "--data-dir", t.TempDir(), "--sessions", redis.URL())
	b := startServer(t, nil, "--data-dir", t.TempDir(), "--sessions", redis.URL())
	guess := func(s *server) response {
		return do(t, s.URL, req{Method: "POST", Path: "/v1/login", Body: map[string]string{"email": "target@example.com", "password": "a wrong guess"}})
	}
	for i, s := range []*server{a, b, a, b, a} {
		expect(t, fmt.Sprintf("guess %d", i+1), guess(s), 401, "invalid_credentials")
	}
	expect(t, "sixth guess on the other node", guess(b), 429, "rate_limited")
	expect(t, "and on the first", guess(a), 429, "rate_limited")
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// TestAttackUserEnumeration: an unknown email and a wrong password get the
// same status, headers and body, and take the same time: the medians of 15
// tries each, interleaved, are within 20 percent of each other. The server
// hashes with the production argon2id settings, so that noise from the
// machine is small next to the work being compared.
func TestAttackUserEnumeration(t *testing.T) {
	s := startServer(t, nil, append([]string{"--data-dir", t.TempDir(),
		"--argon2-memory", "19456", "--argon2-iterations", "2"}, noThrottle...)...)
	for i := range 15 {
		signupUser(t, s.URL, fmt.Sprintf("user%d@example.com", i))
	}
	try := func(email string) (response, time.Duration) {
		t.Helper()
		start := time.Now()
		r := do(t, s.URL, req{Method: "POST", Path: "/v1/login", Body: map[string]string{"email": email, "password": "wrong password guess"}})
		return r, time.Since(start)
	}
	// Warm both paths (connections, caches, the hasher's memory).
	try("user0@example.com")
	try("warm@example.net")
	first, _ := try("user0@example.com")
	// One round is 15 tries of each, interleaved. A machine busy with other
	// work can skew one round; a real difference skews every round, so the
	// test fails only when three rounds in a row are more than 20% apart.
	var rounds []string
	for round := range 3 {
		var known, unknown []time.Duration
		for i := range 15 {
			var rk, ru response
			var dk, du time.Duration
			// Alternate which goes first, so that neither always follows the other.
			if i%2 == 0 {
				rk, dk = try(fmt.Sprintf("user%d@example.com", i))
				ru, du = try(fmt.Sprintf("ghost%d-%d@example.com", round, i))
			} else {
				ru, du = try(fmt.Sprintf("ghost%d-%d@example.com", round, i))
				rk, dk = try(fmt.Sprintf("user%d@example.com", i))
			}
			known, unknown = append(known, dk), append(unknown, du)
			for _, r := range []response{rk, ru} {
				expect(t, "failed login", r, 401, "invalid_credentials")
			}
			if string(rk.Body) != string(ru.Body) || string(first.Body) != string(ru.Body) {
				t.Fatalf("bodies differ:\nknown   %s\nunknown %s", rk.Body, ru.Body)
			}
			for _, h := range []string{"Content-Type", "Cache-Control", "Set-Cookie", "WWW-Authenticate", "Retry-After"} {
				if rk.Header.Get(h) != ru.Header.Get(h) {
					t.Fatalf("header %s differs: %q vs %q", h, rk.Header.Get(h), ru.Header.Get(h))
				}
			}
		}
		mk, mu := median(known), median(unknown)
		diff := float64(mk-mu) / float64(max(mk, mu))
		rounds = append(rounds, fmt.Sprintf("existing %v, unknown %v (%.1f%% apart)", mk, mu, 100*max(diff, -diff)))
		t.Logf("round %d: median login time: %s", round+1, rounds[round])
		if diff <= 0.2 && diff >= -0.2 {
			return
		}
	}
	t.Fatalf("median login times for an existing and an unknown email are more than 20%% apart in every round: %v", rounds)
}

// TestAttackHostileJSON: bodies that are too large, too deep, or not what
// the endpoint reads are refused with the contract's errors, and the server
// keeps serving.
func TestAttackHostileJSON(t *testing.T) {
	s := startServer(t, nil, "--data-dir", t.TempDir())
	deepArrays := `{"email":` + strings.Repeat("[", 30000) + strings.Repeat("]", 30000) + `}`
	deepObjects := strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000)
	tests := []struct {
		name, path, body string
		chunked          bool
		want             int
		code             string
	}{
		{"70 KiB", "/v1/login", `{"email":"` + strings.Repeat("a", 70<<10) + `"}`, false, 413, "payload_too_large"},
		{"70 KiB, no Content-Length", "/v1/signup", `{"password":"` + strings.Repeat("a", 70<<10) + `"}`, true, 413, "payload_too_large"},
		{"1 MiB of whitespace", "/v1/token/refresh", strings.Repeat(" ", 1<<20) + "{}", true, 413, "payload_too_large"},
		{"30000 nested arrays", "/v1/login", deepArrays, false, 400, "invalid_request"},
		{"10000 nested objects", "/v1/signup", deepObjects, false, 400, "invalid_request"},
		{"9000 unknown keys", "/v1/login", "{" + strings.Repeat(`"a":1,`, 9000) + `"b":1}`, false, 401, "invalid_credentials"},
		{"duplicate fields", "/v1/login", `{"email":"a@example.com","email":"b@example.com","password":"x"}`, false, 401, "invalid_credentials"},
		{"number for a string", "/v1/token/refresh", `{"refresh_token":1e999999}`, false, 400, "invalid_request"},
		{"invalid UTF-8", "/v1/login", "{\"email\":\"\xff\xfe\",\"password\":\"x\"}", false, 401, "invalid_credentials"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader = strings.NewReader(tc.body)
			if tc.chunked {
				// A reader of unknown length makes the client stream it chunked.
				body = io.MultiReader(strings.NewReader(tc.body))
			}
			r, err := http.NewRequest("POST", s.URL+tc.path, body)
			if err != nil {
				t.Fatal(err)
			}
			r.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			expect(t, tc.name, response{Status: resp.StatusCode, Header: resp.Header, Body: b}, tc.want, tc.code)
		})
	}
	expect(t, "still serving", do(t, s.URL, req{Path: "/healthz"}), 200)
}

// TestAttackInjection: SQL metacharacters and NUL bytes in every string
// field, in the path and in the query never cause a server error, never
// match anything they should not, and leave the data as it was. It runs on
// SQLite and, when configured, on Postgres.
func TestAttackInjection(t *testing.T) {
	payloads := []string{
		`' OR '1'='1`, `' OR 1=1 --`, `"; DROP TABLE users; --`, `'); DELETE FROM sessions; --`,
		`' UNION SELECT password_hash, email FROM users --`, `admin'--`, `%`, `_`, `\`, `$1`, `?`,
		"\x00", "a\x00b@example.com", "ada@example.com\x00", "%00", `\u0000`, "' || pg_sleep(5) --",
		"\xff\xfe", "\r\n",
	}
	backends := []struct {
		name string
		args func(t *testing.T) []string
	}{
		{"sqlite", func(t *testing.T) []string { return []string{"--data-dir", t.TempDir()} }},
		{"postgres", func(t *testing.T) []string { return []string{"--db", pgSchema(t)} }},
	}
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			args := be.args(t)
			s := startServer(t, nil, append(args, noThrottle...)...)
			signupUser(t, s.URL, "ada@example.com")
			tok := login(t, s.URL, "ada@example.com", "token", req{}).json(t)["access_token"].(string)
			admin := adminToken(t, s.URL, args)
			for _, p := range payloads {
				qs := []req{
					{Method: "POST", Path: "/v1/signup", Body: map[string]string{"email": p, "password": attackPassword}},
					{Method: "POST", Path: "/v1/signup", Body: map[string]string{"email": "x@example.com", "password": p}},
					{Method: "POST", Path: "/v1/login", Body: map[string]string{"email": p, "password": p}},
					{Method: "POST", Path: "/v1/login", Body: map[string]string{"email": "ada@example.com", "password": p}},
					{Method: "POST", Path: "/v1/login", Body: map[string]string{"email": "ada@example.com", "password": attackPassword, "mode": p}},
					{Method: "POST", Path: "/v1/token/refresh", Body: map[string]string{"refresh_token": p}},
					{Method: "POST", Path: "/v1/logout", Body: map[string]string{"refresh_token": p}},
					{Method: "POST", Path: "/v1/password", Bearer: tok, Body: map[string]string{"current_password": p, "new_password": p}},
					{Method: "POST", Path: "/v1/introspect", Bearer: tok, Body: map[string]string{"token": p}},
					{Method: "DELETE", Path: "/v1/sessions/" + url.PathEscape(p), Bearer: tok},
					{Path: "/v1/admin/users?q=" + url.QueryEscape(p), Bearer: admin},
					{Method: "POST", Path: "/v1/admin/users", Bearer: admin, Body: map[string]any{"email": p, "password": attackPassword}},
					{Method: "POST", Path: "/v1/admin/users", Bearer: admin, Body: map[string]any{"email": "y@example.com", "password": attackPassword, "roles": []string{p}}},
					{Method: "PATCH", Path: "/v1/admin/users/" + url.PathEscape(p), Bearer: admin, Body: map[string]any{"roles": []string{p}}},
					{Method: "DELETE", Path: "/v1/admin/users/" + url.PathEscape(p), Bearer: admin},
					{Method: "DELETE", Path: "/v1/admin/users/" + url.PathEscape(p) + "/sessions", Bearer: admin},
				}
				if !strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f || r == utf8.RuneError }) {
					// net/http will not send control bytes in a header.
					qs = append(qs, req{Path: "/v1/me", Bearer: p})
				}
				for _, q := range qs {
					r := do(t, s.URL, q)
					if r.Status >= 500 {
						t.Fatalf("%s %s with %q: %d %s\nserver log:\n%s", q.Method, q.Path, p, r.Status, r.Body, s.logs())
					}
					if q.Path == "/v1/login" && r.Status == 200 && q.Body.(map[string]string)["password"] != attackPassword {
						t.Fatalf("login with %q as the password succeeded", p)
					}
				}
			}
			list := do(t, s.URL, req{Path: "/v1/admin/users", Bearer: admin})
			expect(t, "list users", list, 200)
			// Only the well-formed accounts the payloads asked for may exist,
			// and none that was there is gone.
			emails := map[string]bool{}
			for _, u := range list.json(t)["users"].([]any) {
				emails[u.(map[string]any)["email"].(string)] = true
			}
			for e := range emails {
				if e != "ada@example.com" && e != "root@example.com" && e != "x@example.com" && e != "y@example.com" {
					t.Fatalf("the attack made an account %q", e)
				}
			}
			if !emails["ada@example.com"] || !emails["root@example.com"] {
				t.Fatalf("an account is gone after the attack: %v", emails)
			}
			expect(t, "the account is intact", do(t, s.URL, req{Method: "POST", Path: "/v1/login",
				Body: map[string]string{"email": "ada@example.com", "password": attackPassword}}), 200)
			expect(t, "the token still works", do(t, s.URL, req{Path: "/v1/me", Bearer: tok}), 200)
		})
	}
}

// adminToken creates an administrator with the CLI, on the database that
// args name, and returns an access token of theirs.
func adminToken(tb testing.TB, base string, args []string) string {
	tb.Helper()
	cmd := exec.Command(binPath, append([]string{"user", "create", "--email", "root@example.com", "--role", "admin"}, args...)...)
	cmd.Stdin = strings.NewReader(attackPassword + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("valet user create: %v: %s", err, out)
	}
	return login(tb, base, "root@example.com", "token", req{}).json(tb)["access_token"].(string)
}

// TestAttackKidPathTraversal: a kid that names a file, a URL or nothing
// sensible is an unknown key, nothing more.
func TestAttackKidPathTraversal(t *testing.T) {
	s := startServer(t, nil, "--data-dir", t.TempDir())
	uid := signupUser(t, s.URL, "ada@example.com")
	_, realKid, _ := serverJWK(t, s.URL)
	kids := []string{
		"../../../../../../etc/passwd", "/etc/passwd", "..\\..\\windows\\win.ini", "/dev/zero", "/dev/random",
		"file:///etc/passwd", "https://evil.example/jwks.json", "../" + realKid, realKid + "/..", realKid + "\x00",
		"' OR 1=1 --", strings.Repeat("A", 4000), "",
	}
	for _, kid := range kids {
		for _, alg := range []string{"EdDSA", "HS256"} {
			t.Run(alg+" "+kid[:min(len(kid), 40)], func(t *testing.T) {
				tok := forge(t, map[string]any{"alg": alg, "kid": kid, "typ": "JWT"}, goodClaims(uid), []byte(""), nil)
				start := time.Now()
				expect(t, "kid "+kid, do(t, s.URL, req{Path: "/v1/me", Bearer: tok}), 401, "invalid_token")
				if d := time.Since(start); d > 2*time.Second {
					t.Fatalf("kid %q took %v: the server tried to read something", kid, d)
				}
			})
		}
	}
	// A header that asks the server to fetch keys elsewhere is refused too.
	for _, h := range []map[string]any{
		{"alg": "EdDSA", "kid": realKid, "jku": "https://evil.example/jwks.json"},
		{"alg": "EdDSA", "kid": realKid, "x5u": "https://evil.example/cert.pem"},
	} {
		tok := forge(t, h, goodClaims(uid), []byte(""), nil)
		expect(t, "remote key header", do(t, s.URL, req{Path: "/v1/me", Bearer: tok}), 401, "invalid_token")
	}
}

// TestAttackHeaderInjection: CR and LF in an email never reach a header:
// such an email is refused at signup and login, and forward auth's headers
// and redirects carry only what they should.
func TestAttackHeaderInjection(t *testing.T) {
	s := startServer(t, nil, "--data-dir", t.TempDir())
	signupUser(t, s.URL, "ada@example.com")
	evil := []string{
		"ada@example.com\r\nX-Injected: yes", "ada@example.com\nX-Injected: yes", "ada@example.com\rX-Injected: yes",
		"x\r\n\r\n<html>@example.com", "ada@example.com\u2028X-Injected: yes", "ada@example.com\u0085X-Injected: yes",
	}
	for _, e := range evil {
		r := do(t, s.URL, req{Method: "POST", Path: "/v1/signup", Body: map[string]string{"email": e, "password": attackPassword}})
		expect(t, fmt.Sprintf("signup %q", e), r, 400, "invalid_request")
		r = do(t, s.URL, req{Method: "POST", Path: "/v1/login", Body: map[string]string{"email": e, "password": attackPassword}})
		expect(t, fmt.Sprintf("login %q", e), r, 401, "invalid_credentials")
		if r.Header.Get("X-Injected") != "" {
			t.Fatalf("email %q injected a header", e)
		}
	}
	tok := login(t, s.URL, "ada@example.com", "token", req{}).json(t)["access_token"].(string)
	r := do(t, s.URL, req{Path: "/v1/authz", Bearer: tok})
	expect(t, "authz", r, 200)
	if got := r.Header.Values("Remote-Email"); len(got) != 1 || got[0] != "ada@example.com" {
		t.Fatalf("Remote-Email = %q", got)
	}
	if r.Header.Get("X-Injected") != "" {
		t.Fatal("authz carries an injected header")
	}
	// The address the proxy forwards ends up in a Location header: escaped.
	r = do(t, s.URL, req{Path: "/v1/authz", Header: map[string]string{"Accept": "text/html",
		"X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example.com", "X-Forwarded-Uri": "/x%0d%0aSet-Cookie:%20evil=1\u2028"}})
	expect(t, "authz redirect", r, 302)
	loc := r.Header.Get("Location")
	if strings.ContainsAny(loc, "\r\n") || strings.Contains(loc, "Set-Cookie: evil") || len(r.Header.Values("Set-Cookie")) != 0 {
		t.Fatalf("redirect Location %q / Set-Cookie %q carry the injection", loc, r.Header.Values("Set-Cookie"))
	}
	if !strings.HasPrefix(loc, "/?return_to=") {
		t.Fatalf("redirect goes to %q, want the login page", loc)
	}
}

// TestAttackSlowloris: a client that sends its headers one byte a second is
// cut off when ReadHeaderTimeout (5 s) runs out, and others are served
// meanwhile.
func TestAttackSlowloris(t *testing.T) {
	s := startServer(t, nil, "--data-dir", t.TempDir())
	host := strings.TrimPrefix(s.URL, "http://")
	conns := make([]net.Conn, 20)
	for i := range conns {
		c, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns[i] = c
	}
	start := time.Now()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		request := "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 100)
		for i := 0; i < len(request); i++ {
			for _, c := range conns {
				_, _ = c.Write([]byte{request[i]})
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Second):
			}
		}
	}()
	expect(t, "others are served", do(t, s.URL, req{Path: "/healthz"}), 200)
	var wg sync.WaitGroup
	closed := make([]time.Duration, len(conns))
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetReadDeadline(start.Add(20 * time.Second))
			buf := make([]byte, 512)
			for {
				if _, err := c.Read(buf); err != nil {
					if ne, ok := err.(net.Error); ok && ne.Timeout() {
						closed[i] = -1
					} else {
						closed[i] = time.Since(start)
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	for i, d := range closed {
		if d < 0 {
			t.Fatalf("connection %d was still open after 20 s of one byte a second", i)
		}
		if d < 4*time.Second || d > 9*time.Second {
			t.Fatalf("connection %d closed after %v, want about 5 s (ReadHeaderTimeout)", i, d)
		}
	}
	t.Logf("slow clients cut off after %v", slices.Max(closed))
}

// TestAttackOversizedHeaders: headers beyond MaxHeaderBytes get 431, and a
// bearer token over the token package's 8 KiB limit is refused unparsed.
func TestAttackOversizedHeaders(t *testing.T) {
	s := startServer(t, nil, "--data-dir", t.TempDir())
	r := do(t, s.URL, req{Path: "/healthz", Header: map[string]string{"X-Big": strings.Repeat("a", 64<<10)}})
	if r.Status != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("64 KiB header: status %d, want 431", r.Status)
	}
	signupUser(t, s.URL, "ada@example.com")
	tok := login(t, s.URL, "ada@example.com", "token", req{}).json(t)["access_token"].(string)
	head, rest, _ := strings.Cut(tok, ".")
	// A valid token padded in its payload position past 8 KiB.
	padded := head + "." + strings.Repeat("A", 9<<10) + rest
	expect(t, "9 KiB token", do(t, s.URL, req{Path: "/v1/me", Bearer: padded}), 401, "invalid_token")
	expect(t, "9 KiB refresh token", do(t, s.URL, req{Method: "POST", Path: "/v1/token/refresh",
		Body: map[string]string{"refresh_token": strings.Repeat("A", 9<<10)}}), 401, "invalid_grant")
	expect(t, "9 KiB cookie", do(t, s.URL, req{Path: "/v1/me", Cookie: strings.Repeat("A", 9<<10)}), 401, "unauthenticated")
}

// TestSecurityHeaders: every response, success or error, carries the
// security headers; HSTS only over TLS; the session cookie is
// __Host-valet_session when Secure and valet_session when not, and the old
// name is still read.
func TestSecurityHeaders(t *testing.T) {
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

	expect(t, "signup", call(req{Method: "POST", Path: "/v1/signup", Body: creds("ada@example.com", attackPassword, "")}), 201)
	expect(t, "signup bob", call(req{Method: "POST", Path: "/v1/signup", Body: creds("bob@example.com", attackPassword, "")}), 201)
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
	expect(t, "password change", call(req{Method: "POST", Path: "/v1/password", Cookie: cookie,
		Body: map[string]string{"current_password": attackPassword, "new_password": newPw}}), 204)
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

// TestAttackPasswordChangeEndsSessions: a thief who holds a session, a
// hybrid token or a refresh token loses all of them when the owner changes
// the password; the owner's own session stays.
func TestAttackPasswordChangeEndsSessions(t *testing.T) {
	s := startServer(t, nil, "--data-dir", t.TempDir())
	signupUser(t, s.URL, "ada@example.com")
	owner := sessionCookie(t, login(t, s.URL, "ada@example.com", "session", req{}))
	thiefCookie := sessionCookie(t, login(t, s.URL, "ada@example.com", "session", req{}))
	hybrid := login(t, s.URL, "ada@example.com", "hybrid", req{}).json(t)
	tok := login(t, s.URL, "ada@example.com", "token", req{}).json(t)

	expect(t, "password change", do(t, s.URL, req{Method: "POST", Path: "/v1/password", Cookie: owner,
		Body: map[string]string{"current_password": attackPassword, "new_password": "a brand new passphrase"}}), 204)
	expect(t, "owner's session", do(t, s.URL, req{Path: "/v1/me", Cookie: owner}), 200)
	expect(t, "thief's session", do(t, s.URL, req{Path: "/v1/me", Cookie: thiefCookie}), 401, "unauthenticated")
	expect(t, "thief's hybrid token", do(t, s.URL, req{Path: "/v1/me", Bearer: hybrid["access_token"].(string)}), 401, "invalid_token")
	for name, rt := range map[string]any{"hybrid": hybrid["refresh_token"], "token": tok["refresh_token"]} {
		expect(t, "thief's "+name+" refresh token", do(t, s.URL, req{Method: "POST", Path: "/v1/token/refresh",
			Body: map[string]string{"refresh_token": rt.(string)}}), 401, "invalid_grant")
	}
	expect(t, "old password", do(t, s.URL, req{Method: "POST", Path: "/v1/login",
		Body: map[string]string{"email": "ada@example.com", "password": attackPassword}}), 401, "invalid_credentials")
}

// TestAttackTokenInURL: credentials are never taken from a URL (where logs,
// history and Referer would keep them) and never put into one.
func TestAttackTokenInURL(t *testing.T) {
	s := startServer(t, nil, "--data-dir", t.TempDir())
	signupUser(t, s.URL, "ada@example.com")
	cookie := sessionCookie(t, login(t, s.URL, "ada@example.com", "session", req{}))
	at := login(t, s.URL, "ada@example.com", "token", req{}).json(t)["access_token"].(string)
	for _, q := range []string{"access_token=" + at, "token=" + at, "session=" + cookie, "valet_session=" + cookie} {
		expect(t, "credential in the query", do(t, s.URL, req{Path: "/v1/me?" + q}), 401, "unauthenticated")
	}
	// A browser whose session has ended still sends the cookie; the
	// redirect to sign in must not copy it anywhere.
	expect(t, "logout", do(t, s.URL, req{Method: "POST", Path: "/v1/logout", Cookie: cookie}), 204)
	r := do(t, s.URL, req{Path: "/v1/authz", Cookie: cookie, Header: map[string]string{"Accept": "text/html",
		"X-Forwarded-Host": "app.example.com", "X-Forwarded-Uri": "/private"}})
	expect(t, "browser sent to sign in", r, 302)
	if loc := r.Header.Get("Location"); strings.Contains(loc, cookie) || strings.Contains(loc, at) {
		t.Fatalf("redirect %q carries a credential", loc)
	}
}
