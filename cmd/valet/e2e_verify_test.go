package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/client"
	"github.com/valetauth/valet/middleware"
	"github.com/valetauth/valet/verify"
	"github.com/valetauth/valet/verify/redissub"
)

const servicePassword = "service account passphrase"

// createServiceUser makes a user of role service with the CLI, beside the
// running server, and returns a client logged in as it in token mode.
func createServiceUser(tb testing.TB, base, dir string) *client.Client {
	tb.Helper()
	cmd := exec.Command(binPath, "user", "create", "--email", "orders@svc.example.com", "--role", "service",
		"--data-dir", dir, "--argon2-memory", "8192", "--argon2-iterations", "1")
	cmd.Stdin = strings.NewReader(servicePassword + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("valet user create: %v: %s", err, out)
	}
	c, err := client.New(base)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := c.Login(context.Background(), "orders@svc.example.com", servicePassword, valet.ModeToken); err != nil {
		tb.Fatalf("service login: %v", err)
	}
	return c
}

// ordersService is a service that is not valet, trusting valet's tokens
// through v: GET /orders for anyone signed in.
func ordersService(tb testing.TB, v *verify.Verifier) string {
	tb.Helper()
	mw := middleware.New(v, middleware.Config{})
	srv := httptest.NewServer(mw.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := valet.UserFrom(r.Context())
		fmt.Fprintf(w, "orders of %s", u.Email)
	})))
	tb.Cleanup(srv.Close)
	return srv.URL
}

// refusedWithin polls the orders service with tok until it answers 401, and
// fails the test if that takes longer than limit.
func refusedWithin(tb testing.TB, orders, tok string, limit time.Duration) time.Duration {
	tb.Helper()
	start := time.Now()
	for {
		r := do(tb, orders, req{Path: "/orders", Bearer: tok})
		if r.Status == http.StatusUnauthorized {
			return time.Since(start)
		}
		if r.Status != http.StatusOK {
			tb.Fatalf("orders answered %d: %s", r.Status, r.Body)
		}
		if time.Since(start) > limit {
			tb.Fatalf("revoked hybrid token still accepted after %v", limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// POST /v1/introspect end to end, and an orders service built on the
// verifier that learns of a logout through it.
func TestIntrospectionAndVerifier(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, nil, "--data-dir", dir)
	svc := createServiceUser(t, s.URL, dir)
	svcTok, err := svc.AccessToken(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	body := signupLogin(t, s.URL, "ann@example.com", "hybrid")
	at, sid := body["access_token"].(string), body["session"].(map[string]any)["id"].(string)

	in := do(t, s.URL, req{Method: "POST", Path: "/v1/introspect", Bearer: svcTok, Body: map[string]string{"token": at}})
	expect(t, "introspect as service", in, 200)
	got := in.json(t)
	if got["active"] != true || got["sid"] != sid || got["sub"] != body["user"].(map[string]any)["id"] || got["exp"] == nil || got["iat"] == nil {
		t.Fatalf("introspection = %v", got)
	}
	expect(t, "introspect as a plain user", do(t, s.URL, req{Method: "POST", Path: "/v1/introspect", Bearer: at,
		Body: map[string]string{"token": at}}), 403, "forbidden")
	expect(t, "introspect anonymously", do(t, s.URL, req{Method: "POST", Path: "/v1/introspect",
		Body: map[string]string{"token": at}}), 401, "unauthenticated")
	garbage := do(t, s.URL, req{Method: "POST", Path: "/v1/introspect", Bearer: svcTok, Body: map[string]string{"token": "garbage"}})
	expect(t, "introspect garbage", garbage, 200)
	if g := garbage.json(t); len(g) != 1 || g["active"] != false {
		t.Fatalf("introspection of garbage = %v, want only active false", g)
	}

	v, err := verify.New(context.Background(), s.URL, verify.WithIntrospection(svc.AccessToken, 250*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	orders := ordersService(t, v)
	r := do(t, orders, req{Path: "/orders", Bearer: at})
	expect(t, "orders with a valet token", r, 200)
	if string(r.Body) != "orders of ann@example.com" {
		t.Fatalf("orders body = %q", r.Body)
	}
	expect(t, "orders without a token", do(t, orders, req{Path: "/orders"}), 401, "unauthenticated")

	expect(t, "logout", do(t, s.URL, req{Method: "POST", Path: "/v1/logout", Bearer: at}), 204)
	t.Logf("orders refused the revoked token %v after logout", refusedWithin(t, orders, at, time.Second))
	after := do(t, s.URL, req{Method: "POST", Path: "/v1/introspect", Bearer: svcTok, Body: map[string]string{"token": at}})
	expect(t, "introspect after logout", after, 200)
	if after.json(t)["active"] != false {
		t.Fatalf("introspection after logout = %s", after.Body)
	}
}

// With valet's sessions in Redis, a service that follows the revocation
// channel refuses a logged-out hybrid token within a second, without a
// request to valet per token.
func TestVerifierOnRedisChannel(t *testing.T) {
	rds := startPrivateRedis(t)
	s := startServer(t, nil, "--data-dir", t.TempDir(), "--sessions", rds.URL(), "--mode", "hybrid")
	opt, err := goredis.ParseURL(rds.URL())
	if err != nil {
		t.Fatal(err)
	}
	rc := goredis.NewClient(opt)
	t.Cleanup(func() { _ = rc.Close() })
	// Cleanups run last first: the subscription ends before the client closes.
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	node, err := redissub.Subscribe(ctx, rc, redissub.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !node.Healthy() {
		if time.Now().After(deadline) {
			t.Fatal("revocation channel not up within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	v, err := verify.New(ctx, s.URL, verify.WithRevocations(node))
	if err != nil {
		t.Fatal(err)
	}
	orders := ordersService(t, v)
	at := signupLogin(t, s.URL, "ann@example.com", "hybrid")["access_token"].(string)
	expect(t, "orders with a hybrid token", do(t, orders, req{Path: "/orders", Bearer: at}), 200)
	expect(t, "logout", do(t, s.URL, req{Method: "POST", Path: "/v1/logout", Bearer: at}), 204)
	t.Logf("orders refused the revoked token %v after logout", refusedWithin(t, orders, at, time.Second))
	if _, err := v.Verify(ctx, at); !errors.Is(err, valet.ErrRevoked) {
		t.Fatalf("Verify after logout: %v, want ErrRevoked", err)
	}
}
