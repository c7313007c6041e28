package main

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// cluster is three valet nodes sharing one Postgres and one Redis.
func startCluster(t *testing.T, redis *privateRedis, extra ...string) []*server {
	t.Helper()
	pg := pgSchema(t)
	args := append([]string{"--db", pg, "--sessions", redis.URL(), "--mode", "hybrid",
		"--store-timeout", "500ms", "--revoke-max-stale", "1s"}, extra...)
	// The first node migrates; the others start at once on the same schema.
	nodes := []*server{startServer(t, nil, args...)}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := startServer(t, nil, args...)
			mu.Lock()
			nodes = append(nodes, n)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return nodes
}

func hybridLogin(t *testing.T, node *server, email string) (token, sid string) {
	t.Helper()
	r := do(t, node.URL, req{Method: "POST", Path: "/v1/login", Body: map[string]string{
		"email": email, "password": "correct horse battery", "mode": "hybrid"}})
	if r.Status != 200 {
		t.Fatalf("hybrid login: %d %s\nserver log:\n%s", r.Status, r.Body, node.logs())
	}
	b := r.json(t)
	return b["access_token"].(string), b["session"].(map[string]any)["id"].(string)
}

// waitStatus polls GET /v1/me with tok on base until it answers want, and
// returns how long that took. It fails the test after limit.
func waitStatus(t *testing.T, base, tok string, want int, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		r := do(t, base, req{Path: "/v1/me", Bearer: tok})
		if r.Status == want {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("%s still answers %d after %v, want %d", base, r.Status, limit, want)
		}
	}
}

// TestHybridRevocationAcrossNodes: log in through node A; B and C accept the
// token; revoke through C; A and B refuse it within a second. 50 rounds,
// p50/p99 of the propagation reported.
func TestHybridRevocationAcrossNodes(t *testing.T) {
	redis := startPrivateRedis(t)
	nodes := startCluster(t, redis)
	a, b, c := nodes[0], nodes[1], nodes[2]
	expect(t, "signup", do(t, a.URL, req{Method: "POST", Path: "/v1/signup",
		Body: map[string]string{"email": "multi@example.com", "password": "correct horse battery"}}), 201)

	var lat []time.Duration
	for i := range 50 {
		tok, sid := hybridLogin(t, a, "multi@example.com")
		for _, n := range []*server{b, c} {
			me := do(t, n.URL, req{Path: "/v1/me", Bearer: tok})
			expect(t, fmt.Sprintf("round %d: me on another node", i), me, 200)
			if got := me.json(t)["auth"].(map[string]any)["session_id"]; got != sid {
				t.Fatalf("session_id = %v, want %v", got, sid)
			}
		}
		expect(t, "revoke on C", do(t, c.URL, req{Method: "DELETE", Path: "/v1/sessions/" + sid, Bearer: tok}), 204)
		var worst time.Duration
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, n := range []*server{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d := waitStatus(t, n.URL, tok, 401, time.Second)
				mu.Lock()
				worst = max(worst, d)
				mu.Unlock()
			}()
		}
		wg.Wait()
		lat = append(lat, worst)
		expect(t, "C refuses at once", do(t, c.URL, req{Path: "/v1/me", Bearer: tok}), 401, "invalid_token")
	}
	slices.Sort(lat)
	t.Logf("hybrid revocation propagation over 3 nodes, %d rounds: p50 %v, p99 %v, max %v",
		len(lat), lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1])
}

// TestHybridRedisDown: with Redis stopped for a few seconds, no node accepts
// a revoked session at any moment, and all recover when Redis returns.
func TestHybridRedisDown(t *testing.T) {
	skipInShort(t)
	redis := startPrivateRedis(t)
	nodes := startCluster(t, redis)
	expect(t, "signup", do(t, nodes[0].URL, req{Method: "POST", Path: "/v1/signup",
		Body: map[string]string{"email": "down@example.com", "password": "correct horse battery"}}), 201)
	revoked, rsid := hybridLogin(t, nodes[0], "down@example.com")
	live, _ := hybridLogin(t, nodes[1], "down@example.com")
	expect(t, "revoke", do(t, nodes[2].URL, req{Method: "DELETE", Path: "/v1/sessions/" + rsid, Bearer: live}), 204)
	for _, n := range nodes {
		waitStatus(t, n.URL, revoked, 401, time.Second)
	}

	redis.kill()
	end := time.Now().Add(3 * time.Second)
	seen := map[int]int{}
	for time.Now().Before(end) {
		for _, n := range nodes {
			if r := do(t, n.URL, req{Path: "/v1/me", Bearer: revoked}); r.Status != 401 {
				t.Fatalf("while Redis is down, %s answered %d for a revoked token", n.URL, r.Status)
			}
			r := do(t, n.URL, req{Path: "/v1/me", Bearer: live})
			if r.Status != 200 && r.Status != 503 {
				t.Fatalf("while Redis is down, a live token got %d %s; want 200 or 503", r.Status, r.Body)
			}
			seen[r.Status]++
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("live token while Redis was down: %v", seen)
	if seen[503] == 0 {
		t.Fatal("no node fell back to the store check while the channel was down past --revoke-max-stale")
	}
	redis.start()
	for _, n := range nodes {
		waitStatus(t, n.URL, live, 200, 15*time.Second)
		expect(t, "revoked after recovery", do(t, n.URL, req{Path: "/v1/me", Bearer: revoked}), 401, "invalid_token")
	}
	// And revocation works again across nodes.
	tok2, sid2 := hybridLogin(t, nodes[0], "down@example.com")
	expect(t, "revoke after recovery", do(t, nodes[1].URL, req{Method: "DELETE", Path: "/v1/sessions/" + sid2, Bearer: live}), 204)
	for _, n := range nodes {
		waitStatus(t, n.URL, tok2, 401, time.Second)
	}
}

// TestRevocationsSurviveRedisLoss: Redis dies and comes back empty. The
// revocations are in the database, so neither a node that ran through the
// loss nor one that starts after it accepts a hybrid token that was logged
// out before it, on SQLite and on Postgres.
func TestRevocationsSurviveRedisLoss(t *testing.T) {
	skipInShort(t)
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			redis := startPrivateRedis(t)
			args := []string{"--sessions", redis.URL(), "--mode", "hybrid", "--store-timeout", "500ms", "--revoke-max-stale", "1s"}
			if db == "postgres" {
				args = append(args, "--db", pgSchema(t))
			} else {
				args = append(args, "--data-dir", t.TempDir())
			}
			before := startServer(t, nil, args...)
			expect(t, "signup", do(t, before.URL, req{Method: "POST", Path: "/v1/signup",
				Body: map[string]string{"email": "loss@example.com", "password": "correct horse battery"}}), 201)
			out, _ := hybridLogin(t, before, "loss@example.com")
			expect(t, "logout", do(t, before.URL, req{Method: "POST", Path: "/v1/logout", Bearer: out}), 204)
			waitStatus(t, before.URL, out, 401, time.Second)

			redis.wipe()
			redis.start()
			after := startServer(t, nil, args...)
			for _, n := range []*server{before, after} {
				// The running node may still be reconnecting: 503 is
				// allowed on the way, a 200 never.
				deadline := time.Now().Add(15 * time.Second)
				for {
					r := do(t, n.URL, req{Path: "/v1/me", Bearer: out})
					if r.Status == 200 {
						t.Fatalf("%s accepts a logged-out hybrid token after Redis lost its data", n.URL)
					}
					if r.Status == 401 && do(t, n.URL, req{Path: "/readyz"}).Status == 200 {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("%s answers %d and is not ready 15 s after Redis came back", n.URL, r.Status)
					}
					time.Sleep(100 * time.Millisecond)
				}
			}
			// Revocation across the two nodes works again on the new Redis.
			live, sid := hybridLogin(t, after, "loss@example.com")
			other, _ := hybridLogin(t, before, "loss@example.com")
			waitStatus(t, before.URL, live, 200, 5*time.Second)
			expect(t, "revoke", do(t, before.URL, req{Method: "DELETE", Path: "/v1/sessions/" + sid, Bearer: other}), 204)
			waitStatus(t, after.URL, live, 401, time.Second)
		})
	}
}
