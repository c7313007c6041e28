package redispubsub

import (
	"context"
	"errors"
	"fmt"
	"net"

	goredis "github.com/redis/go-redis/v9"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/revoke"
)

// DefaultChannel is the pub/sub channel New uses when given none.
const DefaultChannel = "valet:revocations"

type redisTransport struct {
	c       goredis.UniversalClient
	channel string
	opts    revoke.Options
}

// New returns a revoke.Transport over Redis pub/sub on channel (default
// DefaultChannel). Each Subscribe holds one connection of its own; it
// pings the connection when it has been silent for the health interval (see
// revoke.WithHealthInterval) and reconnects with a growing backoff when it is lost.
// New panics if c is nil.
func New(c goredis.UniversalClient, channel string, opts ...revoke.Option) revoke.Transport {
	if c == nil {
		panic("redispubsub: New with a nil client")
	}
	if channel == "" {
		channel = DefaultChannel
	}
	return &redisTransport{c: c, channel: channel, opts: revoke.NewOptions(opts...)}
}

// Publish sends r on the channel. It returns an error wrapping
// valet.ErrUnavailable when Redis cannot be reached, and one wrapping
// valet.ErrInvalidRequest for an empty session id.
func (t *redisTransport) Publish(ctx context.Context, r valet.Revocation) error {
	b, err := revoke.Encode(r)
	if err != nil {
		return err
	}
	if err := t.c.Publish(ctx, t.channel, b).Err(); err != nil {
		return fmt.Errorf("%w: revoke: redis publish: %v", valet.ErrUnavailable, err)
	}
	return nil
}

// Subscribe delivers the channel's messages to fn until ctx ends, and then
// returns ctx's error. Malformed messages are logged and dropped.
func (t *redisTransport) Subscribe(ctx context.Context, fn func(valet.Revocation), up func(bool)) error {
	bo := revoke.NewBackoff()
	for {
		err := t.session(ctx, fn, up, bo)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		t.opts.Logger.Warn("revoke: redis subscription lost; reconnecting", "channel", t.channel, "err", err)
		if !revoke.Sleep(ctx, bo.Next()) {
			return ctx.Err()
		}
	}
}

var errUnsubscribed = errors.New("revoke: unsubscribed by the server")

// session subscribes on a fresh connection and delivers messages until the
// connection is lost or ctx ends. It calls up(true) once Redis has confirmed
// the subscription and, if it did, up(false) before it returns.
func (t *redisTransport) session(ctx context.Context, fn func(valet.Revocation), up func(bool), bo *revoke.Backoff) error {
	// A fresh PubSub for each session, rather than the one go-redis would
	// reconnect by itself, because a connection that went silent without
	// closing is only noticed here, and only a new PubSub drops it.
	ps := t.c.Subscribe(ctx, t.channel)
	// A read in progress does not watch ctx; closing the PubSub ends it.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer func() {
		stop()
		_ = ps.Close()
	}()
	isUp := false
	defer func() {
		if isUp {
			up(false)
		}
	}()

	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, t.opts.Health)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !isTimeout(err) || pinged {
				return err
			}
			// Silence may hide a connection that died without closing:
			// a ping must be answered within the next interval.
			if err := ps.Ping(ctx); err != nil {
				return err
			}
			pinged = true
			continue
		}
		pinged = false
		switch m := msg.(type) {
		case *goredis.Subscription:
			if m.Channel != t.channel {
				continue
			}
			switch m.Kind {
			case "subscribe":
				if !isUp {
					isUp = true
					bo.Reset()
					up(true)
				}
			case "unsubscribe":
				return errUnsubscribed
			}
		case *goredis.Message:
			if m.Channel == t.channel {
				revoke.Deliver(t.opts.Logger, []byte(m.Payload), fn)
			}
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
