package throttle

import (
	"context"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

var _ Store = (*Memory)(nil)

// MemoryConfig tunes a Memory store. The zero value is ready to use.
type MemoryConfig struct {
	// MaxKeys bounds the number of buckets kept. When it is reached, full
	// buckets (which hold nothing worth keeping) are dropped, and if that is
	// not enough, arbitrary ones. Default 100000.
	MaxKeys int
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Memory keeps counters in this process, one golang.org/x/time/rate bucket
// per key. Nodes that each keep their own counters multiply the limits by
// their number; use Redis to share them. It is safe for concurrent use.
type Memory struct {
	mu        sync.Mutex
	max       int
	now       func() time.Time
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim *rate.Limiter
	l   Limit
}

// NewMemory returns an empty Memory store.
func NewMemory(cfg MemoryConfig) *Memory {
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = 100_000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Memory{max: cfg.MaxKeys, now: cfg.Now, buckets: make(map[string]*bucket)}
}

// AllowN implements Store. It fails only when ctx is done.
func (m *Memory) AllowN(ctx context.Context, key string, l Limit, n int) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, unavailable("memory", err)
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.buckets[key]
	if b == nil {
		if n == 0 {
			return Result{Allowed: true, Remaining: l.Burst}, nil
		}
		m.makeRoom(now)
		b = &bucket{lim: rate.NewLimiter(rate.Every(l.interval()), l.Burst), l: l}
		m.buckets[key] = b
	} else if b.l != l {
		// The policy changed under a live key: keep its count, take the new rate.
		b.lim.SetLimitAt(now, rate.Every(l.interval()))
		b.lim.SetBurstAt(now, l.Burst)
		b.l = l
	}
	// The bucket's arithmetic is in floating point, so a client that waited
	// exactly the time it was told may find its bucket a hair short of a
	// whole token: tolerate that, and round waits up to the millisecond.
	tokens := b.lim.TokensAt(now)
	need := float64(max(n, 1))
	if tokens+1e-9 < need {
		ms := math.Ceil((need - tokens) * float64(l.interval()) / float64(time.Millisecond))
		return Result{RetryAfter: time.Duration(ms) * time.Millisecond}, nil
	}
	if n > 0 {
		// ReserveN, unlike AllowN, takes the tokens even when the bucket is
		// within the tolerance above of holding them.
		b.lim.ReserveN(now, n)
		tokens -= float64(n)
	}
	return Result{Allowed: true, Remaining: int(tokens + 1e-9)}, nil
}

// Reset implements Store. It fails only when ctx is done.
func (m *Memory) Reset(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return unavailable("memory", err)
	}
	m.mu.Lock()
	delete(m.buckets, key)
	m.mu.Unlock()
	return nil
}

// Len returns the number of buckets kept.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.buckets)
}

// makeRoom drops full buckets once a minute, or at once when the store is
// at MaxKeys; a full bucket is the same as none. If every bucket is in use,
// one is dropped at random, which forgets some client's attempts: that
// takes MaxKeys keys' worth of attempts, each limited itself.
func (m *Memory) makeRoom(now time.Time) {
	if len(m.buckets) < m.max && now.Sub(m.lastSweep) < time.Minute {
		return
	}
	m.lastSweep = now
	for k, b := range m.buckets {
		if b.lim.TokensAt(now) >= float64(b.l.Burst) {
			delete(m.buckets, k)
		}
	}
	for k := range m.buckets {
		if len(m.buckets) < m.max {
			break
		}
		delete(m.buckets, k)
	}
}
