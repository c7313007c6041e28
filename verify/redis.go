package verify

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/valetauth/valet/revoke"
	"github.com/valetauth/valet/store/redis"
)

// RedisConfig says where in Redis valet keeps its sessions and publishes its
// revocations: the same settings that valet serve was given. Zero fields
// take the defaults named.
type RedisConfig struct {
	// Prefix starts valet's keys; default "valet:", as valet's.
	Prefix string
	// Channel is the revocation channel; default revoke.DefaultRedisChannel,
	// as valet's.
	Channel string
	// MaxStale is how long checks trust the set alone after the channel is
	// lost, before they read the session from Redis; default 2 seconds.
	MaxStale time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives the channel's state changes; default slog.Default().
	Logger *slog.Logger
}

// SubscribeRedis joins valet's revocation channel on client and returns the
// node that keeps the set of revoked sessions, for WithRevocations. It loads
// the revocations recorded in Redis, then follows the channel until ctx
// ends. It returns an error wrapping valet.ErrInvalidRequest for a nil
// client and one wrapping valet.ErrUnavailable when Redis does not answer.
func SubscribeRedis(ctx context.Context, client *goredis.Client, cfg RedisConfig) (*revoke.Node, error) {
	st, err := redis.New(ctx, client, redis.Config{Prefix: cfg.Prefix, Now: cfg.Now})
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	n := revoke.NewNode(revoke.Config{
		Store:     st,
		Sessions:  st,
		Transport: revoke.NewRedis(client, cfg.Channel, revoke.WithLogger(cfg.Logger)),
		MaxStale:  cfg.MaxStale,
		Now:       cfg.Now,
		Logger:    cfg.Logger,
	})
	if err := n.Start(ctx); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	return n, nil
}
