// Package redissub lets a service that checks valet's tokens with package
// verify hear of hybrid-token revocations from valet's Redis channel, in
// milliseconds and with no call per request. It is the only part of verify
// that links a Redis driver.
package redissub

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/valetauth/valet/revoke"
	"github.com/valetauth/valet/revoke/redispubsub"
	"github.com/valetauth/valet/store/redis"
)

// Config says where in Redis valet keeps its sessions and publishes its
// revocations: the same settings that valet serve was given. Zero fields
// take the defaults named.
type Config struct {
	// Prefix starts valet's keys; default "valet:", as valet's.
	Prefix string
	// Channel is the revocation channel; default redispubsub.DefaultChannel,
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

// Subscribe joins valet's revocation channel on client and returns the
// node that keeps the set of revoked sessions, for verify.WithRevocations. It loads
// the revocations recorded in Redis, then follows the channel until ctx
// ends or the node is closed. It returns an error wrapping valet.ErrInvalidRequest for a nil
// client and one wrapping valet.ErrUnavailable when Redis does not answer.
func Subscribe(ctx context.Context, client *goredis.Client, cfg Config) (*revoke.Node, error) {
	st, err := redis.New(ctx, client, redis.Config{Prefix: cfg.Prefix, Now: cfg.Now})
	if err != nil {
		return nil, fmt.Errorf("redissub: %w", err)
	}
	n := revoke.NewNode(revoke.Config{
		Store:     st,
		Sessions:  st,
		Transport: redispubsub.New(client, cfg.Channel, revoke.WithLogger(cfg.Logger)),
		MaxStale:  cfg.MaxStale,
		Now:       cfg.Now,
		Logger:    cfg.Logger,
	})
	if err := n.Start(ctx); err != nil {
		return nil, fmt.Errorf("redissub: %w", err)
	}
	return n, nil
}
