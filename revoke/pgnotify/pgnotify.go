package pgnotify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/revoke"
)

// DefaultChannel is the LISTEN/NOTIFY channel NewPostgres uses when
// given none.
const DefaultChannel = "valet_revocations"

// maxIdentifier is the longest name Postgres keeps; LISTEN would cut a
// longer one short, and pg_notify would refuse it.
const maxIdentifier = 63

type postgresTransport struct {
	pool    *pgxpool.Pool
	channel string
	opts    revoke.Options
}

// New returns a revoke.Transport over Postgres LISTEN/NOTIFY on channel
// (default DefaultChannel). Each Subscribe takes a connection out of
// pool for good (it is not returned, since it stays listening) and listens
// on it; when the connection has been silent for the health interval (see
// WithHealthInterval) it pings it, and when the connection is lost it
// acquires another with a growing backoff. Publish uses the pool as usual.
// New panics if pool is nil or channel is longer than the 63 bytes
// of a Postgres identifier.
func New(pool *pgxpool.Pool, channel string, opts ...revoke.Option) revoke.Transport {
	if pool == nil {
		panic("pgnotify: New with a nil pool")
	}
	if channel == "" {
		channel = DefaultChannel
	}
	if len(channel) > maxIdentifier {
		panic("pgnotify: New: channel name longer than 63 bytes")
	}
	return &postgresTransport{pool: pool, channel: channel, opts: revoke.NewOptions(opts...)}
}

// Publish sends r with pg_notify. It returns an error wrapping
// valet.ErrUnavailable when Postgres cannot be reached, and one wrapping
// valet.ErrInvalidRequest for an empty session id.
func (t *postgresTransport) Publish(ctx context.Context, r valet.Revocation) error {
	b, err := revoke.Encode(r)
	if err != nil {
		return err
	}
	if _, err := t.pool.Exec(ctx, "SELECT pg_notify($1, $2)", t.channel, string(b)); err != nil {
		return fmt.Errorf("%w: revoke: postgres notify: %v", valet.ErrUnavailable, err)
	}
	return nil
}

// Subscribe delivers the channel's notifications to fn until ctx ends, and
// then returns ctx's error. Malformed messages are logged and dropped.
func (t *postgresTransport) Subscribe(ctx context.Context, fn func(valet.Revocation), up func(bool)) error {
	bo := revoke.NewBackoff()
	for {
		err := t.listen(ctx, fn, up, bo)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		t.opts.Logger.Warn("revoke: postgres listener lost; reconnecting", "channel", t.channel, "err", err)
		if !revoke.Sleep(ctx, bo.Next()) {
			return ctx.Err()
		}
	}
}

// listen runs one listening connection until it is lost or ctx ends. It
// calls up(true) once LISTEN has succeeded and, if it did, up(false) before
// it returns.
func (t *postgresTransport) listen(ctx context.Context, fn func(valet.Revocation), up func(bool), bo *revoke.Backoff) error {
	pc, err := t.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// A listening connection must never go back to the pool, where another
	// user would receive (and swallow) the notifications.
	conn := pc.Hijack()
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{t.channel}.Sanitize()); err != nil {
		return err
	}
	bo.Reset()
	up(true)
	defer up(false)

	for {
		wctx, cancel := context.WithTimeout(ctx, t.opts.Health)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !pgconn.Timeout(err) && !errors.Is(err, context.DeadlineExceeded) {
				return err
			}
			// Silence may hide a connection that died without closing. A
			// timed-out wait leaves the connection usable, so ask it.
			pctx, cancel := context.WithTimeout(ctx, t.opts.Health)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return err
			}
			continue
		}
		if n.Channel == t.channel {
			revoke.Deliver(t.opts.Logger, []byte(n.Payload), fn)
		}
	}
}
