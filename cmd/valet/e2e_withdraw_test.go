package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/valetauth/valet/mail/smtptest"
)

// The devices of one user in a withdrawal test: one login in each mode, each
// made through a node of its own when there are several.
type device struct {
	mode    string
	node    *server
	cookie  string // session mode
	access  string // token and hybrid modes
	refresh string
	sid     string
}

const withdrawPW = "correct horse battery"

func loginDevice(t testing.TB, node *server, email, mode string) *device {
	t.Helper()
	r := do(t, node.URL, req{Method: "POST", Path: "/v1/login", Header: map[string]string{"User-Agent": mode + " device"},
		Body: map[string]string{"email": email, "password": withdrawPW, "mode": mode}})
	if r.Status != 200 {
		t.Fatalf("%s login: %d %s\n%s", mode, r.Status, r.Body, node.logs())
	}
	d := &device{mode: mode, node: node}
	b := r.json(t)
	sess, _ := b["session"].(map[string]any)
	if sess == nil {
		t.Fatalf("a %s login names no device session: %s", mode, r.Body)
	}
	d.sid = sess["id"].(string)
	if mode == "session" {
		d.cookie, _ = r.cookie("valet_session")
	} else {
		d.access, d.refresh = b["access_token"].(string), b["refresh_token"].(string)
	}
	return d
}

// me asks node who d is.
func (d *device) me(t *testing.T, node *server) int {
	t.Helper()
	return do(t, node.URL, req{Path: "/v1/me", Cookie: d.cookie, Bearer: d.access}).Status
}

// canRefresh reports whether d's refresh token still works, and keeps the
// new pair when it does.
func (d *device) canRefresh(t *testing.T) bool {
	t.Helper()
	r := do(t, d.node.URL, req{Method: "POST", Path: "/v1/token/refresh", Body: map[string]string{"refresh_token": d.refresh}})
	if r.Status == 200 {
		b := r.json(t)
		d.access, d.refresh = b["access_token"].(string), b["refresh_token"].(string)
		return true
	}
	if r.Status != 401 {
		t.Fatalf("refresh: %d %s", r.Status, r.Body)
	}
	return false
}

// listed reports whether sid is among the sessions that d's credential lists.
func (d *device) listed(t *testing.T, sid string) bool {
	t.Helper()
	r := do(t, d.node.URL, req{Path: "/v1/sessions", Cookie: d.cookie, Bearer: d.access})
	expect(t, "list sessions", r, 200)
	for _, s := range r.json(t)["sessions"].([]any) {
		if s.(map[string]any)["id"] == sid {
			return true
		}
	}
	return false
}

// page posts a form to a page of node with the session cookie.
func page(t *testing.T, node *server, cookie, path string, form url.Values) *http.Response {
	t.Helper()
	r, err := http.NewRequest(http.MethodPost, node.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.AddCookie(&http.Cookie{Name: "valet_session", Value: cookie})
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST %s: %d, want 303", path, resp.StatusCode)
	}
	return resp
}

// valetCLI runs a valet command on the store flags of the servers.
func valetCLI(t *testing.T, store []string, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(binPath, append(append(args, store...), "--argon2-memory", "8192", "--argon2-iterations", "1")...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("valet %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// eventually polls check every 20 ms until it is true, and fails after limit.
func eventually(t *testing.T, what string, limit time.Duration, check func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !check() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// withdrawCombos are the store combinations a withdrawal is tried on. The
// nodes send mail through an SMTP server of the test (args), for recovery.
func withdrawCombos(t *testing.T) map[string]func(t *testing.T, args []string) (nodes []*server, store []string) {
	return map[string]func(t *testing.T, args []string) ([]*server, []string){
		"sqlite": func(t *testing.T, args []string) ([]*server, []string) {
			store := []string{"--data-dir", t.TempDir()}
			return []*server{startServer(t, nil, append(store, args...)...)}, store
		},
		"postgres+redis": func(t *testing.T, args []string) ([]*server, []string) {
			store := []string{"--db", pgSchema(t), "--sessions", startPrivateRedis(t).URL()}
			return []*server{startServer(t, nil, append(store, args...)...)}, store
		},
		"three nodes": func(t *testing.T, args []string) ([]*server, []string) {
			store := []string{"--db", pgSchema(t), "--sessions", startPrivateRedis(t).URL()}
			nodes := []*server{startServer(t, nil, append(store, args...)...)}
			for range 2 {
				nodes = append(nodes, startServer(t, nil, append(store, args...)...))
			}
			return nodes, store
		},
	}
}

// recoveryMail returns the recovery token of the newest recovery mail to
// addr that smtp has received, waiting up to 30 s.
func recoveryMail(t *testing.T, smtp *smtptest.Server, addr string) string {
	t.Helper()
	var tok string
	eventually(t, "a recovery mail to "+addr, 30*time.Second, func() bool {
		for _, m := range slices.Backward(smtp.Messages()) {
			if len(m.To) == 1 && m.To[0] == addr {
				if l := tokenRE.FindStringSubmatch(m.Text); l != nil && l[1] == "/recovery" {
					tok = l[2]
					return true
				}
			}
		}
		return false
	})
	return tok
}

// TestWithdrawals is the table of every way a user's access is withdrawn ×
// every mode × {SQLite alone, Postgres + Redis, three nodes}: right after the
// change, each device is asked on every node what it can still do. A
// session cookie and a hybrid token stop at once (the hybrid one within a
// second on the other nodes); a token-mode access token lives until its exp,
// as the answer's Valet-Tokens-Until says, and its refresh token is dead.
func TestWithdrawals(t *testing.T) {
	t.Parallel()
	skipInShort(t)
	type outcome struct{ session, token, hybrid bool } // whether each device keeps working
	ended := outcome{}
	tests := []struct {
		name string
		// by is the device that acts (nil for an administrator or the CLI).
		do func(t *testing.T, env *withdrawEnv) http.Header
		// keeps says which devices keep access; the token device always
		// keeps its access token until exp, its refresh per keeps.token.
		keeps outcome
		// roles says that the change is a role removal, which ends nothing.
		roles bool
	}{
		{"logout of each device (API)", func(t *testing.T, e *withdrawEnv) http.Header {
			for _, d := range e.devices {
				expect(t, "logout "+d.mode, do(t, d.node.URL, req{Method: "POST", Path: "/v1/logout", Cookie: d.cookie, Bearer: d.access}), 204)
			}
			return nil
		}, ended, false},
		{"sign-out page", func(t *testing.T, e *withdrawEnv) http.Header {
			page(t, e.session().node, e.session().cookie, "/signout", url.Values{})
			return nil
		}, outcome{session: false, token: true, hybrid: true}, false},
		{"revoke the token device (API)", func(t *testing.T, e *withdrawEnv) http.Header {
			r := do(t, e.session().node.URL, req{Method: "DELETE", Path: "/v1/sessions/" + e.token().sid, Cookie: e.session().cookie})
			expect(t, "revoke one", r, 204)
			return r.Header
		}, outcome{session: true, token: false, hybrid: true}, false},
		{"revoke the hybrid device (page)", func(t *testing.T, e *withdrawEnv) http.Header {
			page(t, e.session().node, e.session().cookie, "/account/sessions/"+e.hybrid().sid+"/revoke", url.Values{})
			return nil
		}, outcome{session: true, token: true, hybrid: false}, false},
		{"revoke others from the hybrid device (API)", func(t *testing.T, e *withdrawEnv) http.Header {
			r := do(t, e.hybrid().node.URL, req{Method: "DELETE", Path: "/v1/sessions", Bearer: e.hybrid().access})
			expect(t, "revoke others", r, 204)
			return r.Header
		}, outcome{session: false, token: false, hybrid: true}, false},
		{"revoke others (page)", func(t *testing.T, e *withdrawEnv) http.Header {
			page(t, e.session().node, e.session().cookie, "/account/sessions/revoke-others", url.Values{})
			return nil
		}, outcome{session: true, token: false, hybrid: false}, false},
		{"password change (API, from the token device)", func(t *testing.T, e *withdrawEnv) http.Header {
			r := do(t, e.token().node.URL, req{Method: "POST", Path: "/v1/password", Bearer: e.token().access,
				Body: map[string]string{"current_password": withdrawPW, "new_password": "a brand new passphrase"}})
			expect(t, "password change", r, 200)
			fresh := r.json(t)
			if s := fresh["session"].(map[string]any)["id"]; s == e.token().sid {
				t.Fatal("the password change kept the device session's id")
			}
			e.replacement = &device{mode: "token", node: e.token().node, access: fresh["access_token"].(string), refresh: fresh["refresh_token"].(string)}
			return nil
		}, ended, false},
		{"password change (page)", func(t *testing.T, e *withdrawEnv) http.Header {
			resp := page(t, e.session().node, e.session().cookie, "/account/password", url.Values{
				"current_password": {withdrawPW}, "new_password": {"a brand new passphrase"}, "confirm_password": {"a brand new passphrase"}})
			for _, c := range resp.Cookies() {
				if strings.HasSuffix(c.Name, "valet_session") && c.Value != "" {
					e.replacement = &device{mode: "session", node: e.session().node, cookie: c.Value}
				}
			}
			if e.replacement == nil {
				t.Fatal("the password change page set no new session cookie")
			}
			return nil
		}, ended, false},
		{"disable (API)", func(t *testing.T, e *withdrawEnv) http.Header {
			r := do(t, e.admin.node.URL, req{Method: "PATCH", Path: "/v1/admin/users/" + e.userID, Cookie: e.admin.cookie, Body: map[string]any{"disabled": true}})
			expect(t, "disable", r, 200)
			return r.Header
		}, ended, false},
		{"disable (page)", func(t *testing.T, e *withdrawEnv) http.Header {
			page(t, e.admin.node, e.admin.cookie, "/admin/users/"+e.userID, url.Values{"op": {"disable"}})
			return nil
		}, ended, false},
		{"disable (CLI)", func(t *testing.T, e *withdrawEnv) http.Header {
			out := valetCLI(t, e.store, "", "user", "disable", "--email", e.email)
			if !strings.Contains(out, "keep working until") {
				t.Fatalf("valet user disable does not say what the token device keeps:\n%s", out)
			}
			return nil
		}, ended, false},
		{"delete (API)", func(t *testing.T, e *withdrawEnv) http.Header {
			r := do(t, e.admin.node.URL, req{Method: "DELETE", Path: "/v1/admin/users/" + e.userID, Cookie: e.admin.cookie})
			expect(t, "delete", r, 204)
			return r.Header
		}, ended, false},
		{"admin ends sessions (API)", func(t *testing.T, e *withdrawEnv) http.Header {
			r := do(t, e.admin.node.URL, req{Method: "DELETE", Path: "/v1/admin/users/" + e.userID + "/sessions", Cookie: e.admin.cookie})
			expect(t, "end sessions", r, 204)
			return r.Header
		}, ended, false},
		{"admin ends sessions (page)", func(t *testing.T, e *withdrawEnv) http.Header {
			page(t, e.admin.node, e.admin.cookie, "/admin/users/"+e.userID+"/sessions/revoke", url.Values{})
			return nil
		}, ended, false},
		{"account recovery by mail", func(t *testing.T, e *withdrawEnv) http.Header {
			expect(t, "ask for recovery", do(t, e.nodes[0].URL, req{Method: "POST", Path: "/v1/recovery", Body: map[string]string{"email": e.email}}), 202)
			tok := recoveryMail(t, e.smtp, e.email)
			r := do(t, e.nodes[len(e.nodes)-1].URL, req{Method: "POST", Path: "/v1/recovery/complete",
				Body: map[string]string{"token": tok, "new_password": "a brand new passphrase"}})
			expect(t, "complete recovery", r, 204)
			return r.Header
		}, ended, false},
		{"second factors reset by an administrator (API)", func(t *testing.T, e *withdrawEnv) http.Header {
			r := do(t, e.admin.node.URL, req{Method: "DELETE", Path: "/v1/admin/users/" + e.userID + "/mfa", Cookie: e.admin.cookie})
			expect(t, "reset factors", r, 204)
			return r.Header
		}, ended, false},
		{"second factors reset (CLI)", func(t *testing.T, e *withdrawEnv) http.Header {
			out := valetCLI(t, e.store, "", "user", "mfa", "reset", "--email", e.email)
			if !strings.Contains(out, "keep working until") {
				t.Fatalf("valet user mfa reset does not say what the token device keeps:\n%s", out)
			}
			return nil
		}, ended, false},
		{"role removal (API)", func(t *testing.T, e *withdrawEnv) http.Header {
			r := do(t, e.admin.node.URL, req{Method: "PATCH", Path: "/v1/admin/users/" + e.userID, Cookie: e.admin.cookie, Body: map[string]any{"roles": []string{}}})
			expect(t, "roles", r, 200)
			return r.Header
		}, outcome{true, true, true}, true},
		{"role removal (CLI)", func(t *testing.T, e *withdrawEnv) http.Header {
			out := valetCLI(t, e.store, "", "user", "role", "--email", e.email)
			if !strings.Contains(out, "keep the old roles until") {
				t.Fatalf("valet user role does not say what tokens keep:\n%s", out)
			}
			return nil
		}, outcome{true, true, true}, true},
	}
	for combo, start := range withdrawCombos(t) {
		t.Run(combo, func(t *testing.T) {
			smtp, mailFlags := plainMail(t)
			nodes, store := start(t, append(mailFlags, noMailThrottle...))
			valetCLI(t, store, withdrawPW+"\n", "user", "create", "--email", "admin@example.com", "--role", "admin")
			admin := loginDevice(t, nodes[0], "admin@example.com", "session")
			for i, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					e := &withdrawEnv{nodes: nodes, store: store, admin: admin, smtp: smtp, email: fmt.Sprintf("user%d@example.com", i)}
					r := do(t, nodes[0].URL, req{Method: "POST", Path: "/v1/admin/users", Cookie: admin.cookie,
						Body: map[string]any{"email": e.email, "password": withdrawPW, "roles": []string{"editor"}}})
					expect(t, "create the user", r, 201)
					e.userID = r.json(t)["user"].(map[string]any)["id"].(string)
					for j, mode := range []string{"session", "token", "hybrid"} {
						e.devices = append(e.devices, loginDevice(t, nodes[j%len(nodes)], e.email, mode))
					}
					// Every login is a device session, listed on every node.
					for _, n := range nodes {
						for _, d := range e.devices {
							if st := d.me(t, n); st != 200 {
								t.Fatalf("before: the %s device gets %d from %s", d.mode, st, n.URL)
							}
						}
					}
					for _, d := range e.devices {
						if !e.session().listed(t, d.sid) {
							t.Fatalf("the %s login is not listed", d.mode)
						}
					}
					header := tc.do(t, e)
					e.check(t, tc.keeps, tc.roles, header)
				})
			}
		})
	}
}

type withdrawEnv struct {
	smtp    *smtptest.Server
	nodes   []*server
	store   []string
	admin   *device
	email   string
	userID  string
	devices []*device
	// replacement is the new credential a password change gave the device
	// that made it.
	replacement *device
}

func (e *withdrawEnv) session() *device { return e.devices[0] }
func (e *withdrawEnv) token() *device   { return e.devices[1] }
func (e *withdrawEnv) hybrid() *device  { return e.devices[2] }

// check asks every node, right after a withdrawal, what each device can do.
func (e *withdrawEnv) check(t *testing.T, keeps struct{ session, token, hybrid bool }, roles bool, header http.Header) {
	t.Helper()
	keep := map[string]bool{"session": keeps.session, "token": keeps.token, "hybrid": keeps.hybrid}
	for _, d := range e.devices {
		for _, n := range e.nodes {
			want := 200
			if !keep[d.mode] && d.mode != "token" {
				want = 401
			}
			if d.mode == "hybrid" && n != d.node && want == 401 {
				// Another node hears of it over the channel: within a
				// second (TestHybridRevocationAcrossNodes measures p99).
				eventually(t, "the hybrid token refused on "+n.URL, time.Second, func() bool { return d.me(t, n) == 401 })
				continue
			}
			if d.mode == "hybrid" && want == 401 {
				// The node that made the change may be another than d's
				// (an administrator's, or the CLI): within a second too.
				eventually(t, "the hybrid token refused on its node", 2*time.Second, func() bool { return d.me(t, n) == 401 })
				continue
			}
			if got := d.me(t, n); got != want {
				t.Errorf("after: the %s device gets %d from %s, want %d", d.mode, got, n.URL, want)
			}
		}
		if d.mode != "session" {
			if got := d.canRefresh(t); got != keep[d.mode] {
				t.Errorf("after: the %s device refreshes %v, want %v", d.mode, got, keep[d.mode])
			}
		}
	}
	if e.replacement != nil {
		if st := e.replacement.me(t, e.replacement.node); st != 200 {
			t.Errorf("the new credential of the password change gets %d", st)
		}
	}
	if header != nil {
		until := header.Get("Valet-Tokens-Until")
		ends := roles || !keeps.token
		if (until != "") != ends {
			t.Errorf("Valet-Tokens-Until = %q; want it set: %v", until, ends)
		}
		if until != "" {
			at, err := time.Parse(time.RFC3339, until)
			if err != nil || at.Before(time.Now().Add(14*time.Minute)) || at.After(time.Now().Add(16*time.Minute)) {
				t.Errorf("Valet-Tokens-Until = %q, want about 15 minutes from now", until)
			}
		}
	}
	if roles {
		// A session request has the new roles at once; a token keeps the
		// roles it was issued with until it is refreshed.
		r := do(t, e.session().node.URL, req{Path: "/v1/me", Cookie: e.session().cookie})
		if strings.Contains(string(r.Body), `"editor"`) {
			t.Errorf("a session request after the role removal still has the role: %s", r.Body)
		}
		r = do(t, e.hybrid().node.URL, req{Path: "/v1/me", Bearer: e.hybrid().access})
		if strings.Contains(string(r.Body), `"editor"`) {
			t.Errorf("a refreshed hybrid token still has the removed role: %s", r.Body)
		}
	}
}

// TestCLIKeyRotationReachesServer: `valet keys rotate` against the store of
// a running server, on SQLite and on Postgres: within 2 s the server signs
// new tokens with the new key and publishes it, and the old tokens verify.
func TestCLIKeyRotationReachesServer(t *testing.T) {
	skipInShort(t)
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			store := []string{"--data-dir", t.TempDir()}
			if db == "postgres" {
				store = []string{"--db", pgSchema(t)}
			}
			s := startServer(t, nil, store...)
			expect(t, "signup", do(t, s.URL, req{Method: "POST", Path: "/v1/signup", Body: map[string]string{"email": "keys@example.com", "password": withdrawPW}}), 201)
			old := loginDevice(t, s, "keys@example.com", "token")
			oldKid := jwtHeader(t, old.access)["kid"]
			out := valetCLI(t, store, "", "keys", "rotate")
			if !strings.Contains(out, "running servers sign with it within about a second") {
				t.Fatalf("valet keys rotate says: %s", out)
			}
			var newKid any
			eventually(t, "a new login signed with the new key", 2*time.Second, func() bool {
				newKid = jwtHeader(t, loginDevice(t, s, "keys@example.com", "token").access)["kid"]
				return newKid != oldKid
			})
			if !strings.Contains(out, fmt.Sprint(newKid)) {
				t.Fatalf("the server signs with %v, not the key the CLI made: %s", newKid, out)
			}
			jwks := do(t, s.URL, req{Path: "/.well-known/jwks.json"})
			if !strings.Contains(string(jwks.Body), fmt.Sprint(newKid)) || !strings.Contains(string(jwks.Body), fmt.Sprint(oldKid)) {
				t.Fatalf("the JWKS lacks the old or the new key: %s", jwks.Body)
			}
			expect(t, "the old token", do(t, s.URL, req{Path: "/v1/me", Bearer: old.access}), 200)
		})
	}
}
