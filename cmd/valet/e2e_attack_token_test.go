package main

// The attack suite: one test per attack, each against the real binary.
// docs/SECURITY.md maps these tests to the requirements they cover.

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valetauth/valet/auth"
	"github.com/valetauth/valet/password"
	"github.com/valetauth/valet/store/sqlite"
	"github.com/valetauth/valet/token"
)

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
	skipInShort(t)
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
	tok, err := svc.SignClaims(&c)
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

// TestAttackKidPathTraversal: a kid that names a file, a URL or nothing
// sensible is an unknown key, nothing more.
func TestAttackKidPathTraversal(t *testing.T) {
	skipInShort(t)
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
	r := do(t, s.URL, req{Path: "/v1/authz", Cookie: cookie, Header: map[string]string{"Accept": "text/html"}})
	expect(t, "browser sent to sign in", r, 302)
	if loc := r.Header.Get("Location"); strings.Contains(loc, cookie) || strings.Contains(loc, at) {
		t.Fatalf("redirect %q carries a credential", loc)
	}
}
