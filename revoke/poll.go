package revoke

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/valetauth/valet"
)

// Feed is a revocation store that numbers the revocations it records in the
// order it records them, whichever process records them. store/sqlite
// implements it.
type Feed interface {
	// RevocationCursor returns the number of the latest revocation, 0 when
	// there is none.
	RevocationCursor(ctx context.Context) (int64, error)
	// RevocationsAfter returns, in order, at most limit of the revocations
	// numbered after cursor, and the number of the last one returned
	// (cursor when none is).
	RevocationsAfter(ctx context.Context, cursor int64, limit int) ([]valet.Revocation, int64, error)
}

// pollBatch bounds the revocations read by one poll.
const pollBatch = 1000

// poll is a Transport for processes that share a database but no channel,
// such as a server and the CLI on one SQLite file.
type poll struct {
	feed  Feed
	every time.Duration
	log   *slog.Logger
}

// NewPoll returns a Transport over a database that every node shares but
// that cannot notify. Publish sends nothing: Node.Revoke has recorded the
// revocation in the database, and every subscriber, on this process or
// another, reads it there. Subscribe asks feed every interval (default
// 250ms) for what was recorded after what it last read, so a revocation
// reaches every node within about one interval. While feed fails, the
// channel is down, so a Node falls back to the session store after its
// MaxStale; when feed answers again the channel is up and the Node reloads
// its set.
func NewPoll(feed Feed, every time.Duration, opts ...Option) Transport {
	if every <= 0 {
		every = 250 * time.Millisecond
	}
	return &poll{feed: feed, every: every, log: NewOptions(opts...).Logger}
}

// Publish does nothing but check r: the database holds it already.
func (p *poll) Publish(ctx context.Context, r valet.Revocation) error {
	if r.SessionID == "" {
		return fmt.Errorf("%w: revoke: empty session id", valet.ErrInvalidRequest)
	}
	return ctx.Err()
}

// Subscribe delivers what the feed holds after what it last read, every
// interval, until ctx ends.
func (p *poll) Subscribe(ctx context.Context, fn func(valet.Revocation), up func(bool)) error {
	state := false
	p.run(ctx, fn, func(ok bool) {
		if ok != state {
			state = ok
			up(ok)
		}
	})
	if state {
		up(false)
	}
	return ctx.Err()
}

// run polls the feed until ctx ends, reporting each change of its health.
func (p *poll) run(ctx context.Context, fn func(valet.Revocation), up func(bool)) {
	var (
		cursor  int64
		started bool
		failing bool
	)
	t := time.NewTicker(p.every)
	defer t.Stop()
	for {
		var err error
		if !started {
			// The cursor is read before the channel is said to be up, so
			// the Node's reload that follows up(true) sees every entry the
			// polls will not.
			if cursor, err = p.feed.RevocationCursor(ctx); err == nil {
				started = true
				up(true)
			}
		} else {
			for {
				var rs []valet.Revocation
				rs, cursor, err = p.feed.RevocationsAfter(ctx, cursor, pollBatch)
				if err != nil {
					break
				}
				for _, r := range rs {
					fn(r)
				}
				if len(rs) < pollBatch {
					break
				}
			}
			if err == nil && failing {
				up(true)
			}
		}
		if err != nil && ctx.Err() == nil {
			if !failing {
				p.log.Warn("revoke: polling the database for revocations failed", "err", err)
			}
			// What was recorded while the feed failed is read once it
			// answers, from the same cursor; the Node reloads besides.
			if started {
				up(false)
			}
		}
		failing = err != nil
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
