package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/valetauth/valet"
)

// A Store on the application's own client works and leaves it open.
func TestNew(t *testing.T) {
	opt, err := goredis.ParseURL(redisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	client := goredis.NewClient(opt)
	t.Cleanup(func() { _ = client.Close() })
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	prefix := "valet_t_" + hex.EncodeToString(b[:]) + ":"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := New(ctx, client, Config{Prefix: prefix})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		keys := allKeys(t, context.Background(), s)
		if len(keys) > 0 {
			_ = client.Del(context.Background(), keys...).Err()
		}
	})
	now := time.Now().UTC()
	sess := valet.Session{ID: "s1", UserID: "u1", Mode: valet.ModeSession, CreatedAt: now, LastSeenAt: now,
		ExpiresAt: now.Add(time.Hour), IdleExpiresAt: now.Add(time.Hour)}
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := client.Ping(ctx).Err(); err != nil {
		t.Fatalf("the caller's client was closed with the store: %v", err)
	}
	if n, err := client.Exists(ctx, prefix+"s:s1").Result(); err != nil || n != 1 {
		t.Fatalf("session key under the prefix: exists = %d, %v; want 1", n, err)
	}
}

func TestNewNil(t *testing.T) {
	if _, err := New(context.Background(), nil, Config{}); !errors.Is(err, valet.ErrInvalidRequest) {
		t.Fatalf("New(nil) = %v, want ErrInvalidRequest", err)
	}
}
