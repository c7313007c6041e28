package main

import (
	"os/exec"
	"strings"
	"testing"
)

func loginAs(t *testing.T, base, email, userAgent string) (cookie, sid string) {
	t.Helper()
	r := do(t, base, req{Method: "POST", Path: "/v1/login", Header: map[string]string{"User-Agent": userAgent},
		Body: map[string]string{"email": email, "password": "correct horse battery"}})
	expect(t, "login "+email, r, 200)
	cookie, _ = r.cookie("valet_session")
	return cookie, r.json(t)["session"].(map[string]any)["id"].(string)
}

// TestSessionsPerDevice covers the session endpoints of API.md over HTTP:
// the list with its fields and the current flag, revoking one device, a
// session that is not the caller's, revoking the others, and everything.
func TestSessionsPerDevice(t *testing.T) {
	s := startServer(t, nil, "--data-dir", t.TempDir())
	for _, e := range []string{"ada@example.com", "eve@example.com"} {
		expect(t, "signup "+e, do(t, s.URL, req{Method: "POST", Path: "/v1/signup",
			Body: map[string]string{"email": e, "password": "correct horse battery"}}), 201)
	}
	laptop, laptopID := loginAs(t, s.URL, "ada@example.com", "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0")
	phone, phoneID := loginAs(t, s.URL, "ada@example.com", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1")
	eve, eveID := loginAs(t, s.URL, "eve@example.com", "curl/8")

	r := do(t, s.URL, req{Path: "/v1/sessions", Cookie: laptop})
	expect(t, "list", r, 200)
	var list []map[string]any
	for _, v := range r.json(t)["sessions"].([]any) {
		list = append(list, v.(map[string]any))
	}
	if len(list) != 2 {
		t.Fatalf("ada has %d sessions listed, want 2 (not eve's): %s", len(list), r.Body)
	}
	current := 0
	for _, sess := range list {
		for _, k := range []string{"id", "mode", "created_at", "last_seen_at", "expires_at", "user_agent", "ip", "current"} {
			if _, ok := sess[k]; !ok {
				t.Fatalf("session %v lacks %q", sess, k)
			}
		}
		if sess["current"] == true {
			current++
			if sess["id"] != laptopID || !strings.Contains(sess["user_agent"].(string), "Firefox") {
				t.Fatalf("the current session is %v, want the laptop's %s", sess, laptopID)
			}
		}
		if sess["id"] == eveID {
			t.Fatal("eve's session is in ada's list")
		}
	}
	if current != 1 {
		t.Fatalf("%d sessions are current, want 1", current)
	}

	expect(t, "revoke eve's session as ada", do(t, s.URL, req{Method: "DELETE", Path: "/v1/sessions/" + eveID, Cookie: laptop}), 404, "not_found")
	expect(t, "eve still signed in", do(t, s.URL, req{Path: "/v1/me", Cookie: eve}), 200)
	expect(t, "revoke the phone", do(t, s.URL, req{Method: "DELETE", Path: "/v1/sessions/" + phoneID, Cookie: laptop}), 204)
	expect(t, "phone after revoke", do(t, s.URL, req{Path: "/v1/me", Cookie: phone}), 401, "unauthenticated")
	expect(t, "revoke it again", do(t, s.URL, req{Method: "DELETE", Path: "/v1/sessions/" + phoneID, Cookie: laptop}), 404, "not_found")

	tablet, _ := loginAs(t, s.URL, "ada@example.com", "tablet")
	expect(t, "revoke the others", do(t, s.URL, req{Method: "DELETE", Path: "/v1/sessions", Cookie: laptop}), 204)
	expect(t, "tablet after revoking the others", do(t, s.URL, req{Path: "/v1/me", Cookie: tablet}), 401, "unauthenticated")
	expect(t, "laptop keeps its session", do(t, s.URL, req{Path: "/v1/me", Cookie: laptop}), 200)

	all := do(t, s.URL, req{Method: "DELETE", Path: "/v1/sessions?include_current=true", Cookie: laptop})
	expect(t, "revoke everything", all, 204)
	if _, h := all.cookie("valet_session"); !strings.Contains(h, "Max-Age=0") {
		t.Fatalf("revoking the current session did not clear the cookie: %q", h)
	}
	expect(t, "laptop after revoking everything", do(t, s.URL, req{Path: "/v1/me", Cookie: laptop}), 401, "unauthenticated")
	expect(t, "eve untouched", do(t, s.URL, req{Path: "/v1/me", Cookie: eve}), 200)
}

// TestAdminEndpoints covers /v1/admin/users over HTTP: refused to a plain
// user, list and search, create, roles, disabling (which ends the user's
// sessions at once), ending sessions, deleting; and /metrics.
func TestAdminEndpoints(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServer(t, nil, "--data-dir", dir)
	cmd := exec.Command(binPath, "user", "create", "--email", "root@example.com", "--role", "admin", "--data-dir", dir,
		"--argon2-memory", "8192", "--argon2-iterations", "1")
	cmd.Stdin = strings.NewReader("correct horse battery\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("user create: %v: %s", err, out)
	}
	admin, _ := loginAs(t, s.URL, "root@example.com", "admin-browser")
	r := do(t, s.URL, req{Method: "POST", Path: "/v1/signup", Body: map[string]string{"email": "bob@example.com", "password": "correct horse battery"}})
	expect(t, "signup bob", r, 201)
	bobID := r.json(t)["user"].(map[string]any)["id"].(string)
	bob, _ := loginAs(t, s.URL, "bob@example.com", "bob-browser")

	expect(t, "plain user lists users", do(t, s.URL, req{Path: "/v1/admin/users", Cookie: bob}), 403, "forbidden")
	expect(t, "plain user disables", do(t, s.URL, req{Method: "PATCH", Path: "/v1/admin/users/" + bobID, Cookie: bob,
		Body: map[string]any{"disabled": true}}), 403, "forbidden")
	expect(t, "anonymous lists users", do(t, s.URL, req{Path: "/v1/admin/users"}), 401, "unauthenticated")

	r = do(t, s.URL, req{Method: "POST", Path: "/v1/admin/users", Cookie: admin,
		Body: map[string]any{"email": "carol@example.com", "password": "correct horse battery", "roles": []string{"ops"}}})
	expect(t, "admin creates carol", r, 201)
	carolID := r.json(t)["user"].(map[string]any)["id"].(string)

	r = do(t, s.URL, req{Path: "/v1/admin/users?q=example.com", Cookie: admin})
	expect(t, "admin lists users", r, 200)
	if total := r.json(t)["total"]; total != float64(3) {
		t.Fatalf("total = %v, want 3", total)
	}
	if strings.Contains(string(r.Body), "argon2") {
		t.Fatal("the user list leaks password hashes")
	}
	r = do(t, s.URL, req{Path: "/v1/admin/users?q=carol", Cookie: admin})
	if users := r.json(t)["users"].([]any); len(users) != 1 || users[0].(map[string]any)["email"] != "carol@example.com" {
		t.Fatalf("search for carol = %s", r.Body)
	}

	r = do(t, s.URL, req{Method: "PATCH", Path: "/v1/admin/users/" + bobID, Cookie: admin, Body: map[string]any{"roles": []string{"ops", "ops"}}})
	expect(t, "admin sets bob's roles", r, 200)
	me := do(t, s.URL, req{Path: "/v1/me", Cookie: bob})
	if roles := me.json(t)["user"].(map[string]any)["roles"].([]any); len(roles) != 1 || roles[0] != "ops" {
		t.Fatalf("bob's roles after the change = %v, want [ops] at once", roles)
	}
	expect(t, "admin disables bob", do(t, s.URL, req{Method: "PATCH", Path: "/v1/admin/users/" + bobID, Cookie: admin,
		Body: map[string]any{"disabled": true}}), 200)
	expect(t, "bob's session after disable", do(t, s.URL, req{Path: "/v1/me", Cookie: bob}), 401, "unauthenticated")
	expect(t, "bob logs in while disabled", do(t, s.URL, req{Method: "POST", Path: "/v1/login",
		Body: map[string]string{"email": "bob@example.com", "password": "correct horse battery"}}), 403, "forbidden")

	carol, _ := loginAs(t, s.URL, "carol@example.com", "carol-browser")
	expect(t, "admin ends carol's sessions", do(t, s.URL, req{Method: "DELETE", Path: "/v1/admin/users/" + carolID + "/sessions", Cookie: admin}), 204)
	expect(t, "carol after", do(t, s.URL, req{Path: "/v1/me", Cookie: carol}), 401, "unauthenticated")
	expect(t, "admin deletes carol", do(t, s.URL, req{Method: "DELETE", Path: "/v1/admin/users/" + carolID, Cookie: admin}), 204)
	expect(t, "delete again", do(t, s.URL, req{Method: "DELETE", Path: "/v1/admin/users/" + carolID, Cookie: admin}), 404, "not_found")
	expect(t, "carol logs in after delete", do(t, s.URL, req{Method: "POST", Path: "/v1/login",
		Body: map[string]string{"email": "carol@example.com", "password": "correct horse battery"}}), 401, "invalid_credentials")

	m := do(t, s.URL, req{Path: "/metrics"})
	expect(t, "metrics", m, 200)
	if !strings.Contains(string(m.Body), "go_goroutines") {
		t.Fatalf("/metrics is not Prometheus text: %.200s", m.Body)
	}
}
