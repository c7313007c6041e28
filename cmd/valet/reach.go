package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	goredis "github.com/redis/go-redis/v9"

	"github.com/valetauth/valet"
)

// The stores keep driver types out of their errors, so when one cannot be
// opened the binary, which links the drivers anyway, asks once more to
// learn why in terms a person can act on.

// probeTimeout bounds that second attempt.
const probeTimeout = 3 * time.Second

// postgresFailure is the sentence for a Postgres database at dsn that
// postgres.Open could not open with err.
func postgresFailure(dsn string, err error) string {
	cfg, perr := pgconn.ParseConfig(dsn)
	if perr != nil || errors.Is(err, valet.ErrInvalidRequest) {
		return fmt.Sprintf("--db: cannot read the Postgres URL: %s", flatten(err))
	}
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	if strings.HasPrefix(cfg.Host, "/") {
		addr = fmt.Sprintf("%s/.s.PGSQL.%d", cfg.Host, cfg.Port)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("cannot open the Postgres database at %s: no answer in time", addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	conn, cerr := pgconn.ConnectConfig(ctx, cfg)
	if cerr == nil {
		// It answers: the failure came later, in the migrations or a query.
		_ = conn.Close(ctx)
		return fmt.Sprintf("cannot open the Postgres database at %s: %s", addr, flatten(err))
	}
	var pgErr *pgconn.PgError
	if errors.As(cerr, &pgErr) {
		return fmt.Sprintf("cannot open the Postgres database at %s: the server says: %s", addr, pgErr.Message)
	}
	return fmt.Sprintf("cannot open the Postgres database at %s: %s", addr, dialReason(cerr))
}

// redisFailure is the sentence for a Redis at url that redis.Open could not
// open with err.
func redisFailure(url string, err error) string {
	opt, perr := goredis.ParseURL(url)
	if perr != nil || errors.Is(err, valet.ErrInvalidRequest) {
		return fmt.Sprintf("--sessions: cannot read the Redis URL %s", redactURL(url))
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("cannot reach Redis at %s: no answer in time", opt.Addr)
	}
	opt.MaxRetries, opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = -1, probeTimeout, probeTimeout, probeTimeout
	c := goredis.NewClient(opt)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	perr = c.Ping(ctx).Err()
	var redisErr goredis.Error
	switch {
	case perr == nil:
		return fmt.Sprintf("cannot use Redis at %s: %s", opt.Addr, flatten(err))
	case errors.As(perr, &redisErr):
		return fmt.Sprintf("cannot use Redis at %s: the server says: %s", opt.Addr, redisErr.Error())
	}
	return fmt.Sprintf("cannot reach Redis at %s: %s", opt.Addr, dialReason(perr))
}

// dialReason says why a connection failed: the name that did not
// resolve, the refusal, the silence.
func dialReason(err error) string {
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return fmt.Sprintf("the host name %s does not resolve", dnsErr.Name)
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("cannot look up the host name %s: %s", dnsErr.Name, dnsErr.Err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused (nothing listens there)"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "no answer in time"
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return opErr.Error()
	}
	return flatten(err)
}

// flatten writes err on one line, keeping every part.
func flatten(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

var quietRedisOnce sync.Once

// quietRedis sends go-redis's own log lines nowhere: valet reports a store
// that is down itself, in its log and on /readyz, once per event rather
// than once per failed dial.
func quietRedis() {
	quietRedisOnce.Do(func() { goredis.SetLogger(discardRedisLog{}) })
}

type discardRedisLog struct{}

func (discardRedisLog) Printf(context.Context, string, ...any) {}
