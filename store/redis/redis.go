// Package redis stores valet's sessions, refresh-token families and
// revocation set in Redis (7.0 or later), for deployments where several
// nodes share them or where the main database should not see every request.
// Users, signing keys, secrets and second factors stay in the main
// database.
//
// Every key starts with Config.Prefix:
//
//	s:<id>          hash   a session; expires with it (the earlier of its
//	                       absolute and idle expiry)
//	u:<user>:s      zset   the user's session ids, scored by creation time
//	rf:<id>         hash   a refresh family; expires at its absolute expiry
//	rt:<hash>       string "<generation>:<family id>" for a token's hash
//	u:<user>:rf     set    the user's refresh family ids
//	sr:<session>    set    the refresh family ids bound to a hybrid session
//	revoked         zset   revoked session ids, scored by Until (unix ms)
//
// Index entries whose record has expired are pruned when the index is read,
// and by Sweep.
// Writes that must happen together run as Lua scripts, which Redis runs
// atomically. The scripts name keys that they derive from stored values, so
// the store needs a single Redis server (or a primary with replicas), not a
// Cluster.
//
// A failure to reach or use Redis wraps valet.ErrUnavailable; no go-redis
// type crosses the API.
package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/valetauth/valet"
)

// Compile-time proof that Store keeps the contracts it claims.
var (
	_ valet.SessionStore    = (*Store)(nil)
	_ valet.SessionLister   = (*Store)(nil)
	_ valet.RefreshStore    = (*Store)(nil)
	_ valet.RevocationStore = (*Store)(nil)
	_ valet.Sweeper         = (*Store)(nil)
	_ valet.Pinger          = (*Store)(nil)
)

// Config tunes a Store. The zero value is ready to use.
type Config struct {
	// Prefix starts every key the store writes; default "valet:".
	Prefix string
	// PoolSize is the number of connections kept per node; default 10 per
	// CPU, as go-redis does.
	PoolSize int
	// Timeout bounds dialing and each read and write of every call; default
	// 2s. A context deadline that comes sooner wins.
	Timeout time.Duration
	// Now is the clock that decides whether a session or refresh family has
	// expired and which revocations are stale; default time.Now. Redis
	// expires keys by its own clock as well.
	Now func() time.Time
}

// Store keeps sessions, refresh families and revocations in Redis. It is
// safe for concurrent use.
type Store struct {
	client *goredis.Client
	prefix string
	now    func() time.Time
	// shared is set by New: the client belongs to the caller.
	shared bool
}

// Open connects to the Redis server at url (redis:// or, for TLS,
// rediss://, with the password and database number taken from the URL) and
// pings it once. It returns an error wrapping valet.ErrInvalidRequest when
// url cannot be parsed and valet.ErrUnavailable when the server does not
// answer.
func Open(ctx context.Context, url string, cfg Config) (*Store, error) {
	opt, err := options(url, cfg)
	if err != nil {
		return nil, err
	}
	s := &Store{client: goredis.NewClient(opt), prefix: cfg.Prefix, now: cfg.Now}
	if s.prefix == "" {
		s.prefix = "valet:"
	}
	if s.now == nil {
		s.now = time.Now
	}
	if err := s.Ping(ctx); err != nil {
		_ = s.client.Close()
		return nil, err
	}
	return s, nil
}

// options returns the client options for url and cfg.
func options(url string, cfg Config) (*goredis.Options, error) {
	opt, err := goredis.ParseURL(url)
	if err != nil {
		// The parse error may quote the URL, password included.
		return nil, fmt.Errorf("redis: parse url: %w", valet.ErrInvalidRequest)
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = timeout, timeout, timeout
	// Let a caller's deadline that comes sooner than the timeout cut a call
	// short, as the store contract asks.
	opt.ContextTimeoutEnabled = true
	if cfg.PoolSize > 0 {
		opt.PoolSize = cfg.PoolSize
	}
	return opt, nil
}

// Close closes the connection pool; a Store made by New leaves the caller's
// client open. It returns an error wrapping valet.ErrUnavailable if closing
// fails.
func (s *Store) Close() error {
	if s.shared {
		return nil
	}
	if err := s.client.Close(); err != nil {
		return fail("close", err)
	}
	return nil
}

// Ping checks that the server answers. It returns an error wrapping
// valet.ErrUnavailable when it does not.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx).Err(); err != nil {
		return fail("ping", err)
	}
	return nil
}

// Client returns the underlying client, for callers that need Redis itself
// (pub/sub). It never returns nil.
func (s *Store) Client() goredis.UniversalClient { return s.client }

// Stores returns the stores that Redis backs: Sessions, Refresh and
// Revocations. The others are nil, to be filled from the main database.
func (s *Store) Stores() valet.Stores {
	return valet.Stores{Sessions: s, Refresh: s, Revocations: s}
}

func (s *Store) sessionKey(id string) string         { return s.prefix + "s:" + id }
func (s *Store) userSessionsKey(user string) string  { return s.prefix + "u:" + user + ":s" }
func (s *Store) familyKey(id string) string          { return s.prefix + "rf:" + id }
func (s *Store) tokenKey(hash string) string         { return s.prefix + "rt:" + hash }
func (s *Store) userFamiliesKey(user string) string  { return s.prefix + "u:" + user + ":rf" }
func (s *Store) sessionFamiliesKey(id string) string { return s.prefix + "sr:" + id }
func (s *Store) revokedKey() string                  { return s.prefix + "revoked" }

// errConflict is what a script returns when the record it would create
// exists already.
const errConflict = -1

// fail wraps an error from go-redis with valet.ErrUnavailable, keeping a
// context's deadline or cancellation visible to errors.Is but no go-redis
// type.
func fail(op string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("redis: %s: %w: %w", op, valet.ErrUnavailable, context.DeadlineExceeded)
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("redis: %s: %w: %w", op, valet.ErrUnavailable, context.Canceled)
	}
	return fmt.Errorf("redis: %s: %w: %s", op, valet.ErrUnavailable, err.Error())
}

// Times are stored as unix nanoseconds in decimal, so they read back exactly;
// the zero time is stored as the empty string.
func encTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.UnixNano(), 10)
}

func decTime(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(0, n).UTC(), nil
}

// expireAt returns t in unix milliseconds, rounded up so that a key never
// expires before its record does. The zero time gives 0: already expired.
func expireAt(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return (t.UnixNano() + int64(time.Millisecond) - 1) / int64(time.Millisecond)
}

// luaHelpers is prepended to the scripts that need it.
const luaHelpers = `
-- extend makes key live at least until at (unix ms): NX sets an expiry on a
-- key that has none (it was just created), GT only ever moves it later.
local function extend(key, at)
	redis.call('PEXPIREAT', key, at, 'NX')
	redis.call('PEXPIREAT', key, at, 'GT')
end

-- ms returns the unix milliseconds, rounded up, of a decimal unix-nanosecond
-- string, working on the digits since a Lua number cannot hold every
-- nanosecond exactly.
local function ms(ns)
	local n = #ns
	if n <= 6 then
		if tonumber(ns) > 0 then return 1 end
		return 0
	end
	local whole = tonumber(string.sub(ns, 1, n - 6))
	if string.sub(ns, n - 5) ~= '000000' then whole = whole + 1 end
	return whole
end

-- before reports whether unix-nanosecond string a is earlier than b.
local function before(a, b)
	if #a ~= #b then return #a < #b end
	return a < b
end
`
