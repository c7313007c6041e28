package main

import (
	"strings"
	"testing"
	"time"
)

// TestRedisOutage: while the session store is down or hung, requests that
// need it get 503 (never 500, never a logout, never a wrong 401; a 200 only
// from memory, until the node sees its channel gone), and
// /readyz fails; when it returns, valet serves again without a restart and
// the session is still valid.
func TestRedisOutage(t *testing.T) {
	skipInShort(t)
	redis := startPrivateRedis(t)
	s := startServer(t, nil, "--data-dir", t.TempDir(), "--sessions", redis.URL(), "--store-timeout", "500ms")
	expect(t, "signup", do(t, s.URL, req{Method: "POST", Path: "/v1/signup", Body: map[string]string{
		"email": "outage@example.com", "password": "correct horse battery"}}), 201)
	login := do(t, s.URL, req{Method: "POST", Path: "/v1/login", Body: map[string]string{
		"email": "outage@example.com", "password": "correct horse battery"}})
	expect(t, "login", login, 200)
	cookie, _ := login.cookie("valet_session")
	expect(t, "me before", do(t, s.URL, req{Path: "/v1/me", Cookie: cookie}), 200)

	during := func(what string) {
		t.Helper()
		// A session read a moment ago answers from memory until the node
		// notices that its channel to Redis is gone (within about two
		// seconds); from then on it is read from Redis, which fails.
		deadline := time.Now().Add(5 * time.Second)
		r := do(t, s.URL, req{Path: "/v1/me", Cookie: cookie})
		for r.Status == 200 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
			r = do(t, s.URL, req{Path: "/v1/me", Cookie: cookie})
		}
		expect(t, what+": me", r, 503, "unavailable")
		if v, h := r.cookie("valet_session"); v != "" || h != "" {
			t.Fatalf("%s: the 503 touched the cookie: %q", what, h)
		}
		if r.Header.Get("Retry-After") == "" {
			t.Fatalf("%s: 503 without Retry-After", what)
		}
		expect(t, what+": readyz", do(t, s.URL, req{Path: "/readyz"}), 503)
		expect(t, what+": healthz", do(t, s.URL, req{Path: "/healthz"}), 200)
		// A forged cookie is still refused before any store lookup.
		expect(t, what+": forged cookie", do(t, s.URL, req{Path: "/v1/me", Cookie: strings.Repeat("A", 43) + "." + strings.Repeat("A", 43)}), 401, "unauthenticated")
		// Login needs the store too: 503, not a false invalid_credentials.
		lr := do(t, s.URL, req{Method: "POST", Path: "/v1/login", Body: map[string]string{
			"email": "outage@example.com", "password": "correct horse battery"}})
		expect(t, what+": login", lr, 503, "unavailable")
	}
	recovered := func(what string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			r := do(t, s.URL, req{Path: "/v1/me", Cookie: cookie})
			if r.Status == 200 {
				break
			}
			if r.Status != 503 || time.Now().After(deadline) {
				t.Fatalf("%s: me = %d %s, want 503 until it recovers, then 200", what, r.Status, r.Body)
			}
			time.Sleep(100 * time.Millisecond)
		}
		expect(t, what+": readyz", do(t, s.URL, req{Path: "/readyz"}), 200)
	}

	// A hung Redis: calls time out.
	redis.pause()
	during("hung")
	redis.resume()
	recovered("after hang")

	// A Redis that is down, then restarted with its data.
	redis.kill()
	during("down")
	redis.start()
	recovered("after restart")
	expect(t, "logout after recovery", do(t, s.URL, req{Method: "POST", Path: "/v1/logout", Cookie: cookie}), 204)
	expect(t, "me after logout", do(t, s.URL, req{Path: "/v1/me", Cookie: cookie}), 401, "unauthenticated")
}

// TestOneDeadlinePerRequest: --store-timeout bounds the whole of a
// request's store work, not each call, so with Redis hung or down every
// request that needs it answers 503 within the bound (and a little time for
// the answer itself), however many store calls it would make. (Requests
// that hash a password have each store call bounded instead: hashing may
// take longer than the bound.)
func TestOneDeadlinePerRequest(t *testing.T) {
	skipInShort(t)
	const bound = time.Second
	redis := startPrivateRedis(t)
	s := startServer(t, nil, "--data-dir", t.TempDir(), "--sessions", redis.URL(), "--store-timeout", bound.String())
	body := map[string]string{"email": "deadline@example.com", "password": "correct horse battery"}
	expect(t, "signup", do(t, s.URL, req{Method: "POST", Path: "/v1/signup", Body: body}), 201)
	login := do(t, s.URL, req{Method: "POST", Path: "/v1/login", Body: body})
	expect(t, "login", login, 200)
	cookie, _ := login.cookie("valet_session")
	tl := do(t, s.URL, req{Method: "POST", Path: "/v1/login", Body: map[string]string{
		"email": body["email"], "password": body["password"], "mode": "token"}})
	expect(t, "token login", tl, 200)
	refresh := tl.json(t)["refresh_token"].(string)

	requests := []struct {
		name string
		q    req
	}{
		{"me by cookie", req{Path: "/v1/me", Cookie: cookie}},
		{"sessions by cookie", req{Path: "/v1/sessions", Cookie: cookie}},
		{"refresh", req{Method: "POST", Path: "/v1/token/refresh", Body: map[string]string{"refresh_token": refresh}}},
		{"logout", req{Method: "POST", Path: "/v1/logout", Cookie: cookie}},
		{"account page", req{Path: "/account", Cookie: cookie}},
	}
	for _, outage := range []struct {
		name       string
		start, end func()
	}{
		{"hung", redis.pause, redis.resume},
		{"down", redis.kill, redis.start},
	} {
		outage.start()
		for _, rq := range requests {
			began := time.Now()
			r := do(t, s.URL, rq.q)
			took := time.Since(began)
			if r.Status != 503 {
				t.Errorf("%s Redis: %s = %d %s, want 503", outage.name, rq.name, r.Status, r.Body)
			}
			t.Logf("%s Redis: %s took %v", outage.name, rq.name, took.Round(time.Millisecond))
			if took > bound+700*time.Millisecond {
				t.Errorf("%s Redis: %s took %v to answer, want within the %v bound", outage.name, rq.name, took.Round(time.Millisecond), bound)
			}
		}
		outage.end()
		deadline := time.Now().Add(15 * time.Second)
		for do(t, s.URL, req{Path: "/readyz"}).Status != 200 {
			if time.Now().After(deadline) {
				t.Fatalf("not ready again after Redis was %s", outage.name)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}
