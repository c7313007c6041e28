package verify_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/auth"
	"github.com/valetauth/valet/internal/testenv"
	"github.com/valetauth/valet/revoke"
	"github.com/valetauth/valet/revoke/redispubsub"
	"github.com/valetauth/valet/store/memory"
	"github.com/valetauth/valet/store/redis"
	"github.com/valetauth/valet/token"
	"github.com/valetauth/valet/verify"
	"github.com/valetauth/valet/verify/redissub"
)

// redisClient returns a client of the server in VALET_TEST_REDIS, skipping
// the test without it unless VALET_REQUIRE_SERVICES=1, and a key prefix
// and channel of the test's own, cleaned up when it ends.
func redisClient(tb testing.TB) (*goredis.Client, string) {
	tb.Helper()
	u := testenv.URL(tb, testenv.Redis)
	opt, err := goredis.ParseURL(u)
	if err != nil {
		tb.Fatal(err)
	}
	c := goredis.NewClient(opt)
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatal(err)
	}
	prefix := "valet_t_" + hex.EncodeToString(b[:]) + ":"
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		keys, err := c.Keys(ctx, prefix+"*").Result()
		if err == nil && len(keys) > 0 {
			_ = c.Del(ctx, keys...).Err()
		}
		_ = c.Close()
	})
	return c, prefix
}

// A hybrid token is refused within a second of its logout on a valet node,
// learnt from valet's revocation channel with no request to valet.
func TestHybridRevocationByRedis(t *testing.T) {
	rc, prefix := redisClient(t)
	channel := prefix + "revocations"
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	// valet as `valet serve --sessions redis://...` builds it.
	rs, err := redis.New(ctx, rc, redis.Config{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	stores := memory.New().Stores()
	stores.Sessions, stores.Refresh, stores.Revocations = rs, rs, rs
	node := revoke.NewNode(revoke.Config{Store: rs, Sessions: rs, Transport: redispubsub.New(rc, channel), Logger: quiet()})
	if err := node.Start(ctx); err != nil {
		t.Fatal(err)
	}
	s := startValet(t, auth.Config{Stores: stores, Revoker: node})

	sub, err := redissub.Subscribe(ctx, rc, redissub.Config{Prefix: prefix, Channel: channel, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	within(t, 5*time.Second, "subscription up", sub.Healthy)
	v, err := verify.New(ctx, s.URL, verify.WithRevocations(sub))
	if err != nil {
		t.Fatal(err)
	}
	h := s.login(t, "a@example.com", valet.ModeHybrid).AccessToken
	if _, err := v.Verify(ctx, h); err != nil {
		t.Fatal(err)
	}
	s.logout(t, h)
	took := within(t, time.Second, "revoked hybrid token refused", func() bool {
		_, err := v.Verify(ctx, h)
		return errors.Is(err, valet.ErrRevoked) && errors.Is(err, valet.ErrTokenInvalid)
	})
	t.Logf("refused %v after logout", took)
	if got := s.introHits.Load(); got != 0 {
		t.Fatalf("the channel made %d introspection requests", got)
	}

	// A node that subscribes later loads what was revoked before it.
	late, err := redissub.Subscribe(ctx, rc, redissub.Config{Prefix: prefix, Channel: channel, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	live, err := v.Verify(ctx, s.login(t, "b@example.com", valet.ModeHybrid).AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if err := late.Check(ctx, live.SessionID); err != nil {
		t.Fatalf("live session on the late node: %v", err)
	}
	_, claims, err := token.ParseUnverified(h)
	if err != nil {
		t.Fatal(err)
	}
	if err := late.Check(ctx, claims["sid"].(string)); !errors.Is(err, valet.ErrRevoked) {
		t.Fatalf("session revoked before the late node started: %v, want ErrRevoked", err)
	}
}
