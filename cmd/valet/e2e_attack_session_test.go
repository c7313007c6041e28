package main

// The attack suite: one test per attack, each against the real binary.
// docs/SECURITY.md maps these tests to the requirements they cover.

import (
	"bufio"
	"crypto/rand"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

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

// TestAttackPasswordChangeEndsSessions: a thief who holds a session, a
// hybrid token or a refresh token loses all of them when the owner changes
// the password; the owner's browser gets a new session, and the old cookie
// (which a thief may have copied too) is worth nothing.
func TestAttackPasswordChangeEndsSessions(t *testing.T) {
	s := startServer(t, nil, "--data-dir", t.TempDir())
	signupUser(t, s.URL, "ada@example.com")
	owner := sessionCookie(t, login(t, s.URL, "ada@example.com", "session", req{}))
	thiefCookie := sessionCookie(t, login(t, s.URL, "ada@example.com", "session", req{}))
	hybrid := login(t, s.URL, "ada@example.com", "hybrid", req{}).json(t)
	tok := login(t, s.URL, "ada@example.com", "token", req{}).json(t)

	change := do(t, s.URL, req{Method: "POST", Path: "/v1/password", Cookie: owner,
		Body: map[string]string{"current_password": attackPassword, "new_password": "a brand new passphrase"}})
	expect(t, "password change", change, 204)
	rotated, _ := change.cookie("valet_session")
	if rotated == "" || rotated == owner {
		t.Fatalf("the password change set no new session cookie: %v", change.Header.Values("Set-Cookie"))
	}
	expect(t, "owner's new session", do(t, s.URL, req{Path: "/v1/me", Cookie: rotated}), 200)
	expect(t, "owner's old cookie", do(t, s.URL, req{Path: "/v1/me", Cookie: owner}), 401, "unauthenticated")
	expect(t, "thief's session", do(t, s.URL, req{Path: "/v1/me", Cookie: thiefCookie}), 401, "unauthenticated")
	expect(t, "thief's hybrid token", do(t, s.URL, req{Path: "/v1/me", Bearer: hybrid["access_token"].(string)}), 401, "invalid_token")
	for name, rt := range map[string]any{"hybrid": hybrid["refresh_token"], "token": tok["refresh_token"]} {
		expect(t, "thief's "+name+" refresh token", do(t, s.URL, req{Method: "POST", Path: "/v1/token/refresh",
			Body: map[string]string{"refresh_token": rt.(string)}}), 401, "invalid_grant")
	}
	expect(t, "old password", do(t, s.URL, req{Method: "POST", Path: "/v1/login",
		Body: map[string]string{"email": "ada@example.com", "password": attackPassword}}), 401, "invalid_credentials")
}
