package main

// The attack suite: one test per attack, each against the real binary.
// docs/SECURITY.md maps these tests to the requirements they cover.

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

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
		{"9000 unknown keys", "/v1/login", "{" + strings.Repeat(`"a":1,`, 9000) + `"b":1}`, false, 400, "invalid_request"},
		{"duplicate fields", "/v1/login", `{"email":"a@example.com","email":"b@example.com","password":"x"}`, false, 400, "invalid_request"},
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
	t.Parallel()
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

// TestAttackHeaderInjection: CR and LF in an email never reach a header:
// such an email is refused at signup and login, and forward auth's headers
// and redirects carry only what they should.
func TestAttackHeaderInjection(t *testing.T) {
	// The test speaks as the proxy too, so its address is a trusted one.
	s := startServer(t, nil, "--data-dir", t.TempDir(), "--trusted-proxies", "127.0.0.1")
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
	r = do(t, s.URL, req{Path: "/v1/authz", Header: map[string]string{"Accept": "text/html", "X-Forwarded-Method": "GET",
		"X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example.com", "X-Forwarded-Uri": "/x%0d%0aSet-Cookie:%20evil=1\u2028"}})
	expect(t, "authz redirect", r, 302)
	loc := r.Header.Get("Location")
	if strings.ContainsAny(loc, "\r\n") || strings.Contains(loc, "Set-Cookie: evil") || len(r.Header.Values("Set-Cookie")) != 0 {
		t.Fatalf("redirect Location %q / Set-Cookie %q carry the injection", loc, r.Header.Values("Set-Cookie"))
	}
	if !strings.HasPrefix(loc, s.URL+"/?rd=") {
		t.Fatalf("redirect goes to %q, want the login page", loc)
	}
}

// TestAttackSlowloris: a client that sends its headers one byte a second is
// cut off when ReadHeaderTimeout (5 s) runs out, and others are served
// meanwhile.
func TestAttackSlowloris(t *testing.T) {
	skipInShort(t)
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
