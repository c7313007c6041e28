package redisrate_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/testenv"
	"github.com/valetauth/valet/throttle"
	"github.com/valetauth/valet/throttle/redisrate"
	"github.com/valetauth/valet/throttle/throttletest"
)

// redisClient returns a client on the test Redis, skipping without one
// unless VALET_REQUIRE_SERVICES=1, and a key prefix of the test's own whose
// keys are deleted when it ends.
func redisClient(tb testing.TB) (*goredis.Client, string) {
	tb.Helper()
	url := testenv.URL(tb, testenv.Redis)
	opt, err := goredis.ParseURL(url)
	if err != nil {
		tb.Fatal(err)
	}
	c := goredis.NewClient(opt)
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "valet_throttle_t_" + hex.EncodeToString(b[:]) + ":"
	tb.Cleanup(func() {
		ctx := context.Background()
		iter := c.Scan(ctx, 0, "rate:"+prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
		_ = c.Close()
	})
	return c, prefix
}

func TestRedisStore(t *testing.T) {
	client, prefix := redisClient(t)
	throttletest.Store(t, redisrate.New(client, prefix), nil)
}

func TestRedisStoreDown(t *testing.T) {
	client := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { _ = client.Close() })
	s := redisrate.New(client, "")
	_, err := s.AllowN(context.Background(), "k", throttle.Limit{Burst: 1, Period: time.Second}, 1)
	if !errors.Is(err, valet.ErrUnavailable) {
		t.Fatalf("AllowN on an unreachable Redis = %v, want ErrUnavailable", err)
	}
	var re goredis.Error
	if errors.As(err, &re) {
		t.Fatalf("the error %v leaks a go-redis type", err)
	}
	if err := s.Reset(context.Background(), "k"); !errors.Is(err, valet.ErrUnavailable) {
		t.Fatalf("Reset on an unreachable Redis = %v, want ErrUnavailable", err)
	}
}
