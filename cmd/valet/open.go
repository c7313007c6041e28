package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/auth"
	"github.com/valetauth/valet/httpapi"
	"github.com/valetauth/valet/mail"
	"github.com/valetauth/valet/oidc"
	"github.com/valetauth/valet/passkey"
	"github.com/valetauth/valet/password"
	"github.com/valetauth/valet/revoke"
	"github.com/valetauth/valet/revoke/pgnotify"
	"github.com/valetauth/valet/revoke/redispubsub"
	"github.com/valetauth/valet/session"
	"github.com/valetauth/valet/store/memory"
	"github.com/valetauth/valet/store/postgres"
	"github.com/valetauth/valet/store/redis"
	"github.com/valetauth/valet/store/sqlite"
)

// storeFlags are the flags every command that touches the database shares.
type storeFlags struct {
	config       string
	db           string
	sessions     string
	dataDir      string
	pgMaxConns   int
	redisPool    int
	storeTimeout time.Duration
	// log receives the revocation transports' reports of lost connections;
	// nil leaves them to slog.Default. serve sets it to its own log.
	log *slog.Logger
}

// defaultAccessTTL is valet serve's --access-ttl when none is given.
const defaultAccessTTL = 15 * time.Minute

func (o *storeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&o.config, "config", "", "read settings from this YAML `FILE`, whose keys are the flag names (see docs/config.md)")
	fs.StringVar(&o.db, "db", "", "database: sqlite:PATH or postgres://... (default sqlite:<data-dir>/valet.db)")
	fs.StringVar(&o.sessions, "sessions", "db", "session store: db, memory, or redis://host:6379/0 (rediss:// for TLS)")
	fs.StringVar(&o.dataDir, "data-dir", ".", "directory for the SQLite database")
	fs.IntVar(&o.pgMaxConns, "pg-max-conns", 10, "Postgres connection pool size")
	fs.IntVar(&o.redisPool, "redis-pool-size", 0, "Redis connection pool size (default 10 per CPU)")
	fs.DurationVar(&o.storeTimeout, "store-timeout", 3*time.Second, "bound on the store work of one request, all of its store calls together (a bulk import excepted)")
}

// backend is an opened set of stores and what it takes to close them.
type backend struct {
	stores    valet.Stores
	pings     []valet.Pinger
	closers   []func()
	transport revoke.Transport
	kind      string
	// where is the SQLite file, for messages; created says that it was new.
	where   string
	created bool
	// sweeps drop expired rows that a backend keeps until asked.
	sweeps []valet.Sweeper
}

// sweep runs every backend's clean-up of expired records, tickets too.
func (b *backend) sweep(ctx context.Context, now time.Time) error {
	for _, sw := range b.sweeps {
		if _, err := sw.Sweep(ctx, now); err != nil {
			return err
		}
		if ts, ok := sw.(mail.TicketStore); ok {
			if _, err := ts.SweepTickets(ctx, now); err != nil {
				return err
			}
		}
	}
	return nil
}

func (b *backend) Close() {
	for i := len(b.closers) - 1; i >= 0; i-- {
		b.closers[i]()
	}
}

func (b *backend) ready(ctx context.Context) error {
	for _, p := range b.pings {
		if err := p.Ping(ctx); err != nil {
			return err
		}
	}
	return nil
}

// open connects to the database (and the session store), running
// migrations unless migrate is false.
func (o *storeFlags) open(ctx context.Context, migrate bool) (*backend, error) {
	b := &backend{}
	ok := false
	defer func() {
		if !ok {
			b.Close()
		}
	}()
	dsn := o.db
	if dsn == "" {
		dsn = "sqlite:" + filepath.Join(o.dataDir, "valet.db")
	}
	openCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		db, err := postgres.Open(openCtx, dsn, postgres.Config{
			MaxConns: int32(o.pgMaxConns), Timeout: o.storeTimeout, SkipMigrate: !migrate,
		})
		if err != nil {
			return nil, errors.New(postgresFailure(dsn, err))
		}
		b.closers = append(b.closers, db.Close)
		b.stores, b.kind = db.Stores(), "postgres"
		b.pings = append(b.pings, db)
		b.transport = pgnotify.New(db.Pool(), "", revoke.WithLogger(o.log))
		b.sweeps = append(b.sweeps, db)
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "//")
		if path == "" {
			return nil, usageError{"--db sqlite: needs a file path, e.g. sqlite:valet.db"}
		}
		if dir := filepath.Dir(path); dir != "" {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, fmt.Errorf("cannot create the data directory: %v", err)
			}
		}
		_, statErr := os.Stat(path)
		b.created = errors.Is(statErr, fs.ErrNotExist)
		db, err := sqlite.Open(openCtx, path)
		if err != nil {
			return nil, fmt.Errorf("cannot open the SQLite database %s: %s", path, oneLine(err))
		}
		b.closers = append(b.closers, func() { _ = db.Close() })
		b.stores, b.kind, b.where = db.Stores(), "sqlite", path
		if abs, err := filepath.Abs(path); err == nil {
			b.where = abs
		}
		b.pings = append(b.pings, db)
		// SQLite cannot notify: a server polls the file for what the CLI
		// records in it, such as the revocations of a user it disables.
		b.transport = revoke.NewPoll(db, 250*time.Millisecond, revoke.WithLogger(o.log))
		b.sweeps = append(b.sweeps, db)
	default:
		return nil, usageError{fmt.Sprintf("--db %q: want sqlite:PATH or postgres://...", dsn)}
	}
	switch s := o.sessions; {
	case s == "" || s == "db":
	case s == "memory":
		m := memory.New()
		b.stores.Sessions, b.stores.Refresh, b.stores.Revocations = m, m, m
		b.sweeps = append(b.sweeps, m)
		// Nothing outside this process can see memory sessions.
		b.transport = revoke.NewLocal()
	case strings.HasPrefix(s, "redis://"), strings.HasPrefix(s, "rediss://"):
		quietRedis()
		r, err := redis.Open(openCtx, s, redis.Config{PoolSize: o.redisPool, Timeout: o.storeTimeout})
		if err != nil {
			return nil, errors.New(redisFailure(s, err))
		}
		b.closers = append(b.closers, func() { _ = r.Close() })
		rs := r.Stores()
		// Revocations stay in the database: Redis may restart empty, and
		// a node that loaded its set from an empty Redis would accept the
		// tokens of sessions that were ended. Redis carries the messages.
		b.stores.Sessions, b.stores.Refresh = rs.Sessions, rs.Refresh
		b.pings = append(b.pings, r)
		b.sweeps = append(b.sweeps, r)
		b.transport = redispubsub.New(r.Client(), "", revoke.WithLogger(o.log))
	default:
		return nil, usageError{fmt.Sprintf("--sessions %q: want db, memory or redis://host:6379/0", s)}
	}
	ok = true
	return b, nil
}

// serviceFlags configure the engine.
type serviceFlags struct {
	mode            string
	accessTTL       time.Duration
	refreshGrace    time.Duration
	refreshLifetime time.Duration
	refreshIdle     time.Duration
	sessionLifetime time.Duration
	sessionIdle     time.Duration
	issuer          string
	audience        string
	alg             string
	argonMemory     uint
	argonTime       uint
	argonThreads    uint
	hashConcurrency int
	hashWait        time.Duration
	revokeMaxStale  time.Duration
	// throttle is set by serve (it needs the opened backend); nil elsewhere.
	throttle auth.Throttle
	// registerer is set by serve, for the node's and the hasher's series;
	// nil elsewhere.
	registerer prometheus.Registerer
	// mail and requireVerified are set by serve; elsewhere no mail is sent.
	mail            auth.MailConfig
	requireVerified bool
	// sessionEnded is set by serve (the OpenID Connect provider's
	// back-channel logout); nil elsewhere.
	sessionEnded func(ctx context.Context, userID, sid string)
	// sessionRevoked is set by serve too: it hears of the sessions that
	// other processes end (the CLI's, other nodes'), whose applications
	// the provider tells when no one has.
	sessionRevoked func(sid string)
	// mfa, reauthWindow and passkeys are set by serve.
	mfa          auth.MFAPolicy
	reauthWindow time.Duration
	passkeys     *passkey.RP
}

func (o *serviceFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&o.mode, "mode", "session", "default login mode: session, token or hybrid")
	fs.DurationVar(&o.accessTTL, "access-ttl", defaultAccessTTL, "access token lifetime")
	fs.DurationVar(&o.refreshGrace, "refresh-grace", 10*time.Second, "window in which a used refresh token returns the same successor")
	fs.DurationVar(&o.refreshLifetime, "refresh-lifetime", 30*24*time.Hour, "absolute lifetime of a refresh-token family")
	fs.DurationVar(&o.refreshIdle, "refresh-idle", 7*24*time.Hour, "idle lifetime of a refresh-token family")
	fs.DurationVar(&o.sessionLifetime, "session-lifetime", 7*24*time.Hour, "absolute session lifetime")
	fs.DurationVar(&o.sessionIdle, "session-idle", 24*time.Hour, "session idle timeout")
	fs.StringVar(&o.issuer, "issuer", "valet", "iss of the tokens")
	fs.StringVar(&o.audience, "audience", "valet", "aud of the tokens")
	fs.StringVar(&o.alg, "alg", "EdDSA", "algorithm of new signing keys: EdDSA, ES256 or RS256")
	fs.UintVar(&o.argonMemory, "argon2-memory", 19456, "argon2id memory in KiB")
	fs.UintVar(&o.argonTime, "argon2-iterations", 2, "argon2id iterations")
	fs.UintVar(&o.argonThreads, "argon2-parallelism", 1, "argon2id lanes")
	fs.IntVar(&o.hashConcurrency, "hash-concurrency", 0, "password hashes run at once (default: number of CPUs)")
	fs.DurationVar(&o.hashWait, "hash-wait", time.Second, "how long a login waits for a hashing slot before 503")
	fs.DurationVar(&o.revokeMaxStale, "revoke-max-stale", 2*time.Second, "after the revocation channel is down this long, hybrid tokens are checked against the store")
}

func (o *serviceFlags) validate() error {
	if _, err := valet.ParseMode(o.mode); err != nil {
		return usageError{fmt.Sprintf("--mode %q: want session, token or hybrid", o.mode)}
	}
	switch o.alg {
	case "EdDSA", "ES256", "RS256":
	default:
		return usageError{fmt.Sprintf("--alg %q: want EdDSA, ES256 or RS256", o.alg)}
	}
	if o.argonMemory < 8*1024 || o.argonTime < 1 || o.argonThreads < 1 || o.argonThreads > 255 {
		return usageError{"argon2 settings too weak: memory at least 8192 KiB, iterations and parallelism at least 1"}
	}
	return nil
}

// service builds the engine on b, with a revocation node on b's transport.
// stop ends the engine's background work, then the node's, and waits.
func (o *serviceFlags) service(ctx context.Context, b *backend, log *slog.Logger) (svc *auth.Service, stop func(), err error) {
	var node *revoke.Node
	if b.stores.Revocations != nil {
		node = revoke.NewNode(revoke.Config{
			Store: b.stores.Revocations, Transport: b.transport, Sessions: b.stores.Sessions,
			MaxStale: o.revokeMaxStale, Logger: log,
		})
		if o.sessionRevoked != nil {
			node.WatchSessions(o.sessionRevoked)
		}
		if err := node.Start(ctx); err != nil {
			return nil, nil, fmt.Errorf("cannot load the revocation set: %s", oneLine(err))
		}
	}
	hasher := password.NewHasher(password.Params{
		Memory: uint32(o.argonMemory), Iterations: uint32(o.argonTime), Parallelism: uint8(o.argonThreads),
	}, o.hashConcurrency, o.hashWait)
	if o.registerer != nil {
		if node != nil {
			if err := httpapi.RegisterRevocations(o.registerer, node); err != nil {
				_ = node.Close()
				return nil, nil, err
			}
		}
		if err := httpapi.RegisterHasher(o.registerer, hasher); err != nil {
			if node != nil {
				_ = node.Close()
			}
			return nil, nil, err
		}
	}
	cfg := auth.Config{
		Stores:          b.stores,
		Hasher:          hasher,
		Mode:            valet.Mode(o.mode),
		Session:         session.Config{Lifetime: o.sessionLifetime, IdleTimeout: o.sessionIdle},
		AccessTTL:       o.accessTTL,
		RefreshGrace:    o.refreshGrace,
		RefreshLifetime: o.refreshLifetime,
		RefreshIdle:     o.refreshIdle,
		Issuer:          o.issuer,
		Audience:        o.audience,
		Alg:             o.alg,
		Logger:          log,
		Throttle:        o.throttle,
		Mail:            o.mail,
	}
	if b.stores.Clients != nil {
		// A key of each algorithm an OpenID client may ask for, kept from
		// the first start on, so that a client made later by the CLI finds
		// its key on every running node.
		cfg.IDTokenAlgs = oidc.IDTokenAlgs
	}
	cfg.RequireVerifiedEmail = o.requireVerified
	cfg.SessionEnded = o.sessionEnded
	cfg.MFA, cfg.ReauthWindow, cfg.Passkeys = o.mfa, o.reauthWindow, o.passkeys
	if node != nil {
		cfg.Revoker = node
	}
	svc, err = auth.New(ctx, cfg)
	if err != nil {
		if node != nil {
			_ = node.Close()
		}
		return nil, nil, errors.New(oneLine(err))
	}
	return svc, func() {
		_ = svc.Close()
		if node != nil {
			_ = node.Close()
		}
	}, nil
}

// oneLine keeps the first line of an error: a sentence, not a stack.
func oneLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// redactURL hides a password in a URL for messages.
func redactURL(s string) string {
	if at := strings.LastIndexByte(s, '@'); at >= 0 {
		if i := strings.Index(s, "://"); i >= 0 && i < at {
			return s[:i+3] + "***" + s[at:]
		}
	}
	return s
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError{fmt.Sprintf("--log-level %q: want debug, info, warn or error", level)}
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l, ReplaceAttr: durationsAsText})), nil
}

// durationsAsText writes durations as people read them ("15m0s"): the JSON
// handler would write nanoseconds.
func durationsAsText(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}
