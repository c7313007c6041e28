package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"

	"github.com/valetauth/valet"
)

// TestNoSecretsAtRest logs in through the real binary in all three modes on
// Postgres and Redis, then reads every row of every table and every Redis
// key and value, and asserts that no session secret or refresh token the
// clients hold appears in them.
func TestNoSecretsAtRest(t *testing.T) {
	pg := pgSchema(t)
	redis := startPrivateRedis(t)
	s := startServer(t, nil, "--db", pg, "--sessions", redis.URL())
	creds := map[string]string{"email": "rest@example.com", "password": "correct horse battery"}
	expect(t, "signup", do(t, s.URL, req{Method: "POST", Path: "/v1/signup", Body: creds}), 201)

	var secrets []string
	for _, mode := range []string{"session", "token", "hybrid"} {
		creds["mode"] = mode
		r := do(t, s.URL, req{Method: "POST", Path: "/v1/login", Body: creds})
		expect(t, "login "+mode, r, 200)
		if v, _ := r.cookie("valet_session"); v != "" {
			secret, _, _ := strings.Cut(v, ".")
			secrets = append(secrets, secret, v)
		}
		if rt, _ := r.json(t)["refresh_token"].(string); rt != "" {
			secrets = append(secrets, rt)
			// A rotation stores a sealed successor: its plaintext must not
			// appear either.
			rr := do(t, s.URL, req{Method: "POST", Path: "/v1/token/refresh", Body: map[string]string{"refresh_token": rt}})
			expect(t, "refresh "+mode, rr, 200)
			secrets = append(secrets, rr.json(t)["refresh_token"].(string))
		}
	}
	if len(secrets) != 6 {
		t.Fatalf("collected %d secrets, want 6 (cookie secret and value, two refresh tokens per token mode)", len(secrets))
	}

	var dump strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(tables) < 5 {
		t.Fatalf("tables = %v, %v", tables, err)
	}
	for _, table := range tables {
		rows, err := conn.Query(ctx, `SELECT row_to_json(t)::text FROM `+pgx.Identifier{table}.Sanitize()+` t`)
		if err != nil {
			t.Fatal(err)
		}
		vals, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			dump.WriteString(v)
			dump.WriteByte('\n')
		}
	}

	rc := goredis.NewClient(&goredis.Options{Addr: strings.TrimSuffix(strings.TrimPrefix(redis.URL(), "redis://"), "/0")})
	defer rc.Close()
	keys, err := rc.Keys(ctx, "*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("redis keys = %v, %v", keys, err)
	}
	for _, k := range keys {
		dump.WriteString(k + "\n")
		switch typ := rc.Type(ctx, k).Val(); typ {
		case "string":
			dump.WriteString(rc.Get(ctx, k).Val())
		case "hash":
			for f, v := range rc.HGetAll(ctx, k).Val() {
				dump.WriteString(f + "=" + v + "\n")
			}
		case "set":
			dump.WriteString(strings.Join(rc.SMembers(ctx, k).Val(), "\n"))
		case "zset":
			dump.WriteString(strings.Join(rc.ZRange(ctx, k, 0, -1).Val(), "\n"))
		default:
			t.Fatalf("redis key %s has type %s, which this test does not read", k, typ)
		}
		dump.WriteByte('\n')
	}

	all := dump.String()
	if !strings.Contains(all, "rest@example.com") {
		t.Fatal("the dump does not hold the user's email: it did not read the stores")
	}
	// The hashes are there, so the dump did read the session and refresh records.
	for _, i := range []int{0, 2, 5} {
		if !strings.Contains(all, valet.HashSecret(secrets[i])) {
			t.Fatalf("the hash of secret %d is not in the dump: it missed the records it should check", i)
		}
	}
	for i, secret := range secrets {
		if strings.Contains(all, secret) {
			t.Fatalf("secret %d (%d characters) is stored in clear", i, len(secret))
		}
	}
}
