package redis

import (
	"context"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/valetauth/valet"
)

// New returns a Store on client, a connection the application made and
// keeps for its own use too, and pings the server once. Of cfg only Prefix
// and Now apply: pool size and timeouts are the client's own. The client
// stays the caller's: Close leaves it open. New returns an error wrapping
// valet.ErrInvalidRequest when client is nil and valet.ErrUnavailable when
// the server does not answer.
func New(ctx context.Context, client *goredis.Client, cfg Config) (*Store, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: redis: New: nil client", valet.ErrInvalidRequest)
	}
	s := &Store{client: client, prefix: cfg.Prefix, now: cfg.Now, shared: true}
	if s.prefix == "" {
		s.prefix = "valet:"
	}
	if s.now == nil {
		s.now = time.Now
	}
	if err := s.Ping(ctx); err != nil {
		return nil, err
	}
	return s, nil
}
