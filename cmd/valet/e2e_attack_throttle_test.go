package main

// The attack suite: one test per attack, each against the real binary.
// docs/SECURITY.md maps these tests to the requirements they cover.

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestAttackBruteForceAccount: five wrong passwords for one account, from
// wherever, and the sixth attempt is refused with 429 and Retry-After, even
// with the right password; an account that does not exist is refused in
// exactly the same way; a success before the limit starts the count again.
func TestAttackBruteForceAccount(t *testing.T) {
	skipInShort(t)
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
	skipInShort(t)
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
	skipInShort(t)
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
	skipInShort(t)
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
