package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestForwardAuth drives GET /v1/authz (the alias of
// /v1/authz/forward-auth) as Traefik or Caddy would, and
// /v1/authz/auth-request as nginx would, from a trusted proxy: the caller
// in Remote-* headers, 401 for scripts, a redirect for browsers, and 403
// where an access rule wants a role the caller lacks.
func TestForwardAuth(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServer(t, nil, "--data-dir", dir, "--trusted-proxies", "127.0.0.1",
		"--access-rule", "*/admin admin;app.example.com/ops ops,admin")
	body := signupLogin(t, s.URL, "plain@example.com", "token")
	plain := body["access_token"].(string)
	cmd := exec.Command(binPath, "user", "create", "--email", "boss@example.com", "--role", "admin", "--data-dir", dir,
		"--argon2-memory", "8192", "--argon2-iterations", "1")
	cmd.Stdin = strings.NewReader("correct horse battery\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("user create: %v: %s", err, out)
	}
	login := do(t, s.URL, req{Method: "POST", Path: "/v1/login", Body: map[string]string{
		"email": "boss@example.com", "password": "correct horse battery"}})
	expect(t, "admin login", login, 200)
	adminCookie, _ := login.cookie("valet_session")

	fwd := func(host, uri string) map[string]string {
		return map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Proto": "https", "X-Forwarded-Host": host, "X-Forwarded-Uri": uri}
	}
	tests := []struct {
		name       string
		q          req
		want       int
		wantEmail  string
		wantGroups string
	}{
		{"plain user, open path", req{Bearer: plain, Header: fwd("app.example.com", "/orders")}, 200, "plain@example.com", ""},
		{"plain user, admin path", req{Bearer: plain, Header: fwd("app.example.com", "/admin/users")}, 403, "", ""},
		{"admin by cookie, admin path", req{Cookie: adminCookie, Header: fwd("app.example.com", "/admin/users")}, 200, "boss@example.com", "admin"},
		{"admin, ops path on that host", req{Cookie: adminCookie, Header: fwd("app.example.com", "/ops")}, 200, "boss@example.com", "admin"},
		{"plain, ops path on that host", req{Bearer: plain, Header: fwd("app.example.com", "/ops")}, 403, "", ""},
		{"plain, ops path elsewhere", req{Bearer: plain, Header: fwd("other.example.com", "/ops")}, 200, "plain@example.com", ""},
		{"X-Original-URL", req{Path: "/v1/authz/auth-request", Bearer: plain, Header: map[string]string{"X-Original-Method": "GET", "X-Original-URL": "https://app.example.com/admin"}}, 403, "", ""},
		{"X-Original-URL, open path", req{Path: "/v1/authz/auth-request", Bearer: plain, Header: map[string]string{"X-Original-Method": "GET", "X-Original-URL": "https://app.example.com/orders"}}, 200, "plain@example.com", ""},
		{"forward-auth ignores X-Original-URL", req{Path: "/v1/authz/forward-auth", Bearer: plain, Header: map[string]string{"X-Original-Method": "GET", "X-Original-URL": "https://app.example.com/orders"}}, 403, "", ""},
		{"bypass: encoded letter", req{Bearer: plain, Header: fwd("app.example.com", "/%61dmin/x")}, 403, "", ""},
		{"bypass: upper case", req{Bearer: plain, Header: fwd("app.example.com", "/ADMIN/x")}, 403, "", ""},
		{"bypass: double slash", req{Bearer: plain, Header: fwd("app.example.com", "//admin")}, 403, "", ""},
		{"bypass: dot segments", req{Bearer: plain, Header: fwd("app.example.com", "/x/../admin")}, 403, "", ""},
		{"bypass: path parameter", req{Bearer: plain, Header: fwd("app.example.com", "/admin;x=1")}, 403, "", ""},
		{"ambiguous: encoded slash", req{Bearer: plain, Header: fwd("app.example.com", "/admin%2Fx")}, 403, "", ""},
		{"ambiguous: encoded dots", req{Bearer: plain, Header: fwd("app.example.com", "/%2e%2e/admin")}, 403, "", ""},
		{"ambiguous: double encoding", req{Bearer: plain, Header: fwd("app.example.com", "/%2561dmin")}, 403, "", ""},
		{"ambiguous: backslash", req{Bearer: plain, Header: fwd("app.example.com", "/x%5C..%5Cadmin")}, 403, "", ""},
		{"segments: administrator is not admin", req{Bearer: plain, Header: fwd("app.example.com", "/administrator")}, 200, "plain@example.com", ""},
		{"script without credential", req{Header: fwd("app.example.com", "/orders")}, 401, "", ""},
		{"bad token", req{Bearer: "e30.e30.AA", Header: fwd("app.example.com", "/orders")}, 401, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.q.Path == "" {
				tc.q.Path = "/v1/authz"
			}
			r := do(t, s.URL, tc.q)
			if r.Status != tc.want {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.want, r.Body)
			}
			if tc.want != 200 {
				if r.Header.Get("Remote-User") != "" {
					t.Fatal("a refused request carries Remote-User")
				}
				return
			}
			if r.Header.Get("Remote-User") == "" || r.Header.Get("Remote-Email") != tc.wantEmail || r.Header.Get("Remote-Groups") != tc.wantGroups {
				t.Fatalf("Remote-* = %q %q %q, want a user, %q, %q", r.Header.Get("Remote-User"),
					r.Header.Get("Remote-Email"), r.Header.Get("Remote-Groups"), tc.wantEmail, tc.wantGroups)
			}
		})
	}

	// A browser without a session is sent to sign in at valet's public
	// address (by default the one it listens on), and back afterwards.
	r := do(t, s.URL, req{Path: "/v1/authz", Header: map[string]string{"Accept": "text/html", "X-Forwarded-Method": "GET",
		"X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example.com", "X-Forwarded-Uri": "/orders?id=7"}})
	expect(t, "browser without session", r, 302)
	if loc := r.Header.Get("Location"); loc != s.URL+"/?rd="+"https%3A%2F%2Fapp.example.com%2Forders%3Fid%3D7" {
		t.Fatalf("Location = %q", loc)
	}
}
