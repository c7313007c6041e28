// Package redisrate keeps throttle counters in Redis through
// github.com/go-redis/redis_rate, so every node that shares the Redis server
// shares the limits. It is the only part of valet's throttling that links a
// Redis driver.
package redisrate

import (
	"context"
	"time"

	"github.com/go-redis/redis_rate/v10"
	goredis "github.com/redis/go-redis/v9"

	"github.com/valetauth/valet/throttle"
)

var _ throttle.Store = (*Store)(nil)

// Store keeps counters in Redis through github.com/go-redis/redis_rate, so
// every node that shares the Redis server shares the limits. Each key lives
// under "rate:" + prefix and expires when its bucket is full again. Time is
// Redis's own clock, the same for every node. It is safe for concurrent use.
type Store struct {
	lim    *redis_rate.Limiter
	prefix string
}

// New returns a store on client whose keys start with prefix (default
// "valet:throttle:"). It panics when client is nil, a programmer error.
func New(client goredis.UniversalClient, prefix string) *Store {
	if client == nil {
		panic("redisrate: New needs a client")
	}
	if prefix == "" {
		prefix = "valet:throttle:"
	}
	return &Store{lim: redis_rate.NewLimiter(client), prefix: prefix}
}

// AllowN implements throttle.Store. Failures wrap valet.ErrUnavailable.
func (r *Store) AllowN(ctx context.Context, key string, l throttle.Limit, n int) (throttle.Result, error) {
	rl := redis_rate.Limit{Rate: l.Burst, Burst: l.Burst, Period: l.Period}
	res, err := r.lim.AllowN(ctx, r.prefix+key, rl, n)
	if err != nil {
		return throttle.Result{}, throttle.Unavailable("redis", err)
	}
	if n > 0 {
		if res.Allowed < n {
			return throttle.Result{RetryAfter: max(res.RetryAfter, 0)}, nil
		}
		return throttle.Result{Allowed: true, Remaining: res.Remaining}, nil
	}
	// A peek (n = 0) is always "allowed" by redis_rate; what matters is
	// whether a whole attempt is left. When none is, the next one comes
	// when the bucket has drained to Burst-1 intervals of debt.
	if res.Remaining >= 1 {
		return throttle.Result{Allowed: true, Remaining: res.Remaining}, nil
	}
	wait := res.ResetAfter - time.Duration(l.Burst-1)*l.Interval()
	return throttle.Result{RetryAfter: max(wait, time.Millisecond)}, nil
}

// Reset implements throttle.Store. Failures wrap valet.ErrUnavailable.
func (r *Store) Reset(ctx context.Context, key string) error {
	if err := r.lim.Reset(ctx, r.prefix+key); err != nil {
		return throttle.Unavailable("redis", err)
	}
	return nil
}
