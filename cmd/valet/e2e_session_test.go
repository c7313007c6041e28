package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestSessionLifecycle walks the foundation's end-to-end story against the
// real binary on SQLite: signup, login, me, tamper, restart, logout.
func TestSessionLifecycle(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServer(t, nil, "--data-dir", dir)
	creds := map[string]string{"email": "  Ada@Example.com ", "password": "correct horse battery"}

	r := do(t, s.URL, req{Method: "POST", Path: "/v1/signup", Body: creds})
	expect(t, "signup", r, 201)
	user := r.json(t)["user"].(map[string]any)
	if user["email"] != "ada@example.com" {
		t.Fatalf("signup email = %v, want it trimmed and lower-cased", user["email"])
	}
	if _, leaked := user["password_hash"]; leaked || strings.Contains(string(r.Body), "argon2") {
		t.Fatalf("signup response leaks the password hash: %s", r.Body)
	}

	expect(t, "duplicate signup", do(t, s.URL, req{Method: "POST", Path: "/v1/signup",
		Body: map[string]string{"email": "ada@example.com", "password": "another good password"}}), 409, "conflict")
	expect(t, "wrong password", do(t, s.URL, req{Method: "POST", Path: "/v1/login",
		Body: map[string]string{"email": "ada@example.com", "password": "not the password"}}), 401, "invalid_credentials")
	unknown := do(t, s.URL, req{Method: "POST", Path: "/v1/login",
		Body: map[string]string{"email": "nobody@example.com", "password": "not the password"}})
	expect(t, "unknown email", unknown, 401, "invalid_credentials")
	wrong := do(t, s.URL, req{Method: "POST", Path: "/v1/login",
		Body: map[string]string{"email": "ada@example.com", "password": "not the password"}})
	if string(wrong.Body) != string(unknown.Body) {
		t.Fatalf("unknown email and wrong password differ:\n%s\n%s", unknown.Body, wrong.Body)
	}

	login := do(t, s.URL, req{Method: "POST", Path: "/v1/login", Body: creds})
	expect(t, "login", login, 200)
	cookie, header := login.cookie("valet_session")
	if cookie == "" {
		t.Fatalf("login set no valet_session cookie: %v", login.Header)
	}
	for _, attr := range []string{"HttpOnly", "SameSite=Lax", "Secure", "Path=/"} {
		if !strings.Contains(header, attr) {
			t.Errorf("cookie %q lacks %s", header, attr)
		}
	}
	body := login.json(t)
	sess := body["session"].(map[string]any)
	if sess["id"] == "" || sess["expires_at"] == "" {
		t.Fatalf("login session = %v", sess)
	}
	if strings.Contains(cookie, sess["id"].(string)) {
		t.Fatal("the cookie carries the public session id; it must carry only the secret")
	}

	me := do(t, s.URL, req{Path: "/v1/me", Cookie: cookie})
	expect(t, "me", me, 200)
	mb := me.json(t)
	if got := mb["user"].(map[string]any)["email"]; got != "ada@example.com" {
		t.Fatalf("me email = %v", got)
	}
	if a := mb["auth"].(map[string]any); a["mode"] != "session" || a["session_id"] != sess["id"] {
		t.Fatalf("me auth = %v, want mode session and the login's session id", a)
	}

	tampered := []byte(cookie)
	tampered[5] ^= 1
	expect(t, "tampered cookie", do(t, s.URL, req{Path: "/v1/me", Cookie: string(tampered)}), 401, "unauthenticated")
	expect(t, "garbage cookie", do(t, s.URL, req{Path: "/v1/me", Cookie: "%%%not-a-cookie"}), 401, "unauthenticated")
	expect(t, "no cookie", do(t, s.URL, req{Path: "/v1/me"}), 401, "unauthenticated")

	// A restart keeps the secrets, so the session stays valid.
	s.stop()
	s = startServer(t, nil, "--data-dir", dir)
	expect(t, "me after restart", do(t, s.URL, req{Path: "/v1/me", Cookie: cookie}), 200)

	out := do(t, s.URL, req{Method: "POST", Path: "/v1/logout", Cookie: cookie})
	expect(t, "logout", out, 204)
	if _, h := out.cookie("valet_session"); !strings.Contains(h, "Max-Age=0") {
		t.Fatalf("logout did not clear the cookie: %q", h)
	}
	expect(t, "me after logout", do(t, s.URL, req{Path: "/v1/me", Cookie: cookie}), 401, "unauthenticated")

	expect(t, "malformed JSON", do(t, s.URL, req{Method: "POST", Path: "/v1/login", Body: `{"email":`}), 400, "invalid_request")
	expect(t, "wrong JSON type", do(t, s.URL, req{Method: "POST", Path: "/v1/login", Body: `{"email":5}`}), 400, "invalid_request")
	expect(t, "trailing JSON", do(t, s.URL, req{Method: "POST", Path: "/v1/login", Body: `{} {}`}), 400, "invalid_request")
	big := `{"email":"` + strings.Repeat("a", 70<<10) + `"}`
	expect(t, "oversized body", do(t, s.URL, req{Method: "POST", Path: "/v1/signup", Body: big}), 413, "payload_too_large")
	expect(t, "weak password", do(t, s.URL, req{Method: "POST", Path: "/v1/signup",
		Body: map[string]string{"email": "b@example.com", "password": "short"}}), 400, "invalid_request")
	expect(t, "common password", do(t, s.URL, req{Method: "POST", Path: "/v1/signup",
		Body: map[string]string{"email": "b@example.com", "password": "password123"}}), 400, "invalid_request")
	expect(t, "bad email", do(t, s.URL, req{Method: "POST", Path: "/v1/signup",
		Body: map[string]string{"email": "not an email", "password": "correct horse battery"}}), 400, "invalid_request")
	expect(t, "unknown endpoint", do(t, s.URL, req{Path: "/v1/nope"}), 404, "not_found")

	// The server still serves after all that bad input.
	expect(t, "healthz", do(t, s.URL, req{Path: "/healthz"}), 200)
	expect(t, "readyz", do(t, s.URL, req{Path: "/readyz"}), 200)
}

// TestServeBadConfig: a bad flag or an unreachable database fails at start
// with one clear sentence.
func TestServeBadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"bad mode", []string{"serve", "--mode", "magic"}, "--mode"},
		{"bad db", []string{"serve", "--db", "mysql://x"}, "--db"},
		{"unreachable postgres", []string{"serve", "--db", "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2"}, "cannot open the Postgres database"},
		{"unreachable redis", []string{"serve", "--sessions", "redis://127.0.0.1:1/0", "--data-dir", "TMP"}, "cannot reach Redis"},
		{"unknown flag", []string{"serve", "--nope"}, "unknown flag --nope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string(nil), tc.args...)
			for i, a := range args {
				if a == "TMP" {
					args[i] = t.TempDir()
				}
			}
			cmd := exec.Command(binPath, args...)
			cmd.Dir = t.TempDir()
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("valet %v succeeded; want a failure", args)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Fatalf("output %q does not mention %q", out, tc.want)
			}
			if strings.Contains(string(out), "goroutine ") || strings.Contains(string(out), "panic") {
				t.Fatalf("output is a stack trace: %s", out)
			}
		})
	}
}
