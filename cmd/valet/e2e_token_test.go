package main

import (
	"encoding/base64"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func signupLogin(tb testing.TB, base, email, mode string) map[string]any {
	tb.Helper()
	creds := map[string]string{"email": email, "password": "correct horse battery"}
	expect(tb, "signup", do(tb, base, req{Method: "POST", Path: "/v1/signup", Body: creds}), 201)
	creds["mode"] = mode
	r := do(tb, base, req{Method: "POST", Path: "/v1/login", Body: creds})
	expect(tb, "login "+mode, r, 200)
	return r.json(tb)
}

// jwtHeader decodes the protected header of a compact JWS.
func jwtHeader(tb testing.TB, tok string) map[string]any {
	tb.Helper()
	h, _, _ := strings.Cut(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		tb.Fatalf("token header: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		tb.Fatal(err)
	}
	return m
}

func TestTokenLifecycle(t *testing.T) {
	dir := t.TempDir()
	grace := 300 * time.Millisecond
	s := startServer(t, nil, "--data-dir", dir, "--refresh-grace", grace.String())
	body := signupLogin(t, s.URL, "tok@example.com", "token")
	for _, k := range []string{"access_token", "refresh_token", "expires_in", "refresh_expires_in"} {
		if body[k] == nil || body[k] == "" {
			t.Fatalf("token login lacks %s: %v", k, body)
		}
	}
	if body["token_type"] != "Bearer" || body["expires_in"].(float64) != 900 {
		t.Fatalf("token_type/expires_in = %v/%v, want Bearer/900", body["token_type"], body["expires_in"])
	}
	// Every login is a device session, a token-mode one too.
	if sess, _ := body["session"].(map[string]any); sess == nil || sess["id"] == "" || body["mode"] != "token" {
		t.Fatalf("token login: mode %v, session %v", body["mode"], body["session"])
	}
	at, rt := body["access_token"].(string), body["refresh_token"].(string)
	if h := jwtHeader(t, at); h["alg"] != "EdDSA" || h["kid"] == "" {
		t.Fatalf("token header = %v, want EdDSA with a kid", h)
	}

	me := do(t, s.URL, req{Path: "/v1/me", Bearer: at})
	expect(t, "me bearer", me, 200)
	if a := me.json(t)["auth"].(map[string]any); a["mode"] != "token" {
		t.Fatalf("me auth = %v", a)
	}
	// Flip the first character of the signature (its last characters carry
	// the high bits of Ed25519's S, which are nearly always zero).
	sigAt := strings.LastIndexByte(at, '.') + 1
	flipped := byte('A')
	if at[sigAt] == 'A' {
		flipped = 'B'
	}
	bad := do(t, s.URL, req{Path: "/v1/me", Bearer: at[:sigAt] + string(flipped) + at[sigAt+1:]})
	expect(t, "bad signature", bad, 401, "invalid_token")
	if !strings.HasPrefix(bad.Header.Get("WWW-Authenticate"), `Bearer error="invalid_token"`) {
		t.Fatalf("WWW-Authenticate = %q", bad.Header.Get("WWW-Authenticate"))
	}

	// Rotation: a new pair; the same token within grace returns the same successor.
	r1 := do(t, s.URL, req{Method: "POST", Path: "/v1/token/refresh", Body: map[string]string{"refresh_token": rt}})
	expect(t, "refresh", r1, 200)
	b1 := r1.json(t)
	rt2 := b1["refresh_token"].(string)
	if rt2 == rt || b1["access_token"] == at {
		t.Fatal("refresh did not rotate")
	}
	expect(t, "me with refreshed token", do(t, s.URL, req{Path: "/v1/me", Bearer: b1["access_token"].(string)}), 200)
	r2 := do(t, s.URL, req{Method: "POST", Path: "/v1/token/refresh", Body: map[string]string{"refresh_token": rt}})
	expect(t, "refresh again within grace", r2, 200)
	if got := r2.json(t)["refresh_token"]; got != rt2 {
		t.Fatalf("reuse within grace gave %v, want the same successor %v", got, rt2)
	}

	// After grace, the old token is theft: the family dies, successor included.
	time.Sleep(grace + 200*time.Millisecond)
	expect(t, "reuse after grace", do(t, s.URL, req{Method: "POST", Path: "/v1/token/refresh",
		Body: map[string]string{"refresh_token": rt}}), 401, "invalid_grant")
	expect(t, "successor after theft", do(t, s.URL, req{Method: "POST", Path: "/v1/token/refresh",
		Body: map[string]string{"refresh_token": rt2}}), 401, "invalid_grant")
	expect(t, "unknown refresh token", do(t, s.URL, req{Method: "POST", Path: "/v1/token/refresh",
		Body: map[string]string{"refresh_token": "nope"}}), 401, "invalid_grant")

	// Logout with a refresh token revokes its family.
	login := do(t, s.URL, req{Method: "POST", Path: "/v1/login", Body: map[string]string{
		"email": "tok@example.com", "password": "correct horse battery", "mode": "token"}})
	expect(t, "login again", login, 200)
	rt3 := login.json(t)["refresh_token"].(string)
	expect(t, "logout by refresh token", do(t, s.URL, req{Method: "POST", Path: "/v1/logout",
		Body: map[string]string{"refresh_token": rt3}}), 204)
	expect(t, "refresh after logout", do(t, s.URL, req{Method: "POST", Path: "/v1/token/refresh",
		Body: map[string]string{"refresh_token": rt3}}), 401, "invalid_grant")

	// Key rotation: the old token keeps verifying; new tokens use the new key.
	oldKid := jwtHeader(t, at)["kid"]
	s.stop()
	out, err := exec.Command(binPath, "keys", "rotate", "--data-dir", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("keys rotate: %v: %s", err, out)
	}
	out, err = exec.Command(binPath, "keys", "list", "--data-dir", dir).CombinedOutput()
	if err != nil || strings.Count(string(out), "EdDSA") != 2 {
		t.Fatalf("keys list after rotate: %v: %s", err, out)
	}
	s = startServer(t, nil, "--data-dir", dir)
	expect(t, "old token after rotation", do(t, s.URL, req{Path: "/v1/me", Bearer: at}), 200)
	login = do(t, s.URL, req{Method: "POST", Path: "/v1/login", Body: map[string]string{
		"email": "tok@example.com", "password": "correct horse battery", "mode": "token"}})
	expect(t, "login after rotation", login, 200)
	newKid := jwtHeader(t, login.json(t)["access_token"].(string))["kid"]
	if newKid == oldKid {
		t.Fatalf("new token signed with the old key %v", oldKid)
	}
	jwks := do(t, s.URL, req{Path: "/.well-known/jwks.json"})
	expect(t, "jwks", jwks, 200)
	if !strings.Contains(jwks.Header.Get("Cache-Control"), "max-age") {
		t.Fatalf("jwks Cache-Control = %q", jwks.Header.Get("Cache-Control"))
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(jwks.Body, &set); err != nil {
		t.Fatal(err)
	}
	kids := map[any]bool{}
	for _, k := range set.Keys {
		kids[k["kid"]] = true
		if k["d"] != nil || k["k"] != nil {
			t.Fatalf("jwks leaks private or symmetric material: %v", k)
		}
		if k["alg"] == nil || k["use"] != "sig" {
			t.Fatalf("jwks key lacks alg/use: %v", k)
		}
	}
	if !kids[oldKid] || !kids[newKid] {
		t.Fatalf("jwks kids = %v, want both %v and %v", kids, oldKid, newKid)
	}
}
