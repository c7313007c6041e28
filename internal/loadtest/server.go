package loadtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/auth"
	"github.com/valetauth/valet/httpapi"
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

// ErrServiceAbsent is wrapped by NewServer's error when the configuration
// names Postgres or Redis without the URL to reach it.
var ErrServiceAbsent = errors.New("loadtest: service not configured")

// Store names the backend of an in-process server.
type Store string

// The backends an in-process server can run on.
const (
	// StoreMemory keeps everything in the process.
	StoreMemory Store = "memory"
	// StoreSQLite keeps everything in one SQLite file, the default deployment.
	StoreSQLite Store = "sqlite"
	// StorePostgres keeps everything in a fresh schema of a Postgres database.
	StorePostgres Store = "postgres"
	// StoreRedis keeps sessions, refresh families and revocations in Redis
	// and the rest in SQLite, as `valet serve --sessions redis://...` does.
	StoreRedis Store = "redis"
)

// ServerConfig describes an in-process valet server.
type ServerConfig struct {
	// Store is the backend. Default StoreMemory.
	Store Store
	// Mode is the server's default login mode. Default valet.ModeSession.
	Mode valet.Mode
	// PostgresURL is required for StorePostgres; the server works in a
	// schema of its own, dropped by Close.
	PostgresURL string
	// RedisURL is required for StoreRedis; the server's keys carry a prefix
	// of their own, deleted by Close.
	RedisURL string
	// Argon2 are the password hashing parameters. Zero fields take
	// password's defaults.
	Argon2 password.Params
	// Logger receives the servers' log. Default: discarded.
	Logger *slog.Logger
}

// backend is an opened set of stores that one or more nodes share.
type backend struct {
	kind      Store
	stores    valet.Stores
	memory    *memory.Store
	sqlite    *sqlite.DB
	pg        *postgres.DB
	redis     *redis.Store
	schema    string
	prefix    string
	transport func() revoke.Transport
	closers   []func()
}

func openBackend(ctx context.Context, cfg ServerConfig) (_ *backend, err error) {
	b := &backend{kind: cfg.Store}
	defer func() {
		if err != nil {
			b.close()
		}
	}()
	switch cfg.Store {
	case StoreMemory:
		b.memory = memory.New()
		b.stores = b.memory.Stores()
		// Nodes in one process share one in-process channel.
		local := revoke.NewLocal()
		b.transport = func() revoke.Transport { return local }
	case StoreSQLite:
		if err := b.openSQLite(ctx); err != nil {
			return nil, err
		}
		b.stores = b.sqlite.Stores()
		local := revoke.NewLocal()
		b.transport = func() revoke.Transport { return local }
	case StorePostgres:
		if cfg.PostgresURL == "" {
			return nil, fmt.Errorf("%w: postgres (set --postgres or VALET_TEST_POSTGRES)", ErrServiceAbsent)
		}
		if err := b.openPostgres(ctx, cfg.PostgresURL); err != nil {
			return nil, err
		}
		b.stores = b.pg.Stores()
		b.transport = func() revoke.Transport { return pgnotify.New(b.pg.Pool(), b.schema) }
	case StoreRedis:
		if cfg.RedisURL == "" {
			return nil, fmt.Errorf("%w: redis (set --redis or VALET_TEST_REDIS)", ErrServiceAbsent)
		}
		if err := b.openSQLite(ctx); err != nil {
			return nil, err
		}
		b.stores = b.sqlite.Stores()
		b.prefix = "valet_bench_" + randomHex(8) + ":"
		r, err := redis.Open(ctx, cfg.RedisURL, redis.Config{Prefix: b.prefix})
		if err != nil {
			return nil, err
		}
		b.redis = r
		b.closers = append(b.closers, func() { _ = r.Close() }, b.dropRedisKeys)
		rs := r.Stores()
		b.stores.Sessions, b.stores.Refresh, b.stores.Revocations = rs.Sessions, rs.Refresh, rs.Revocations
		b.transport = func() revoke.Transport { return redispubsub.New(r.Client(), b.prefix+"revocations") }
	default:
		return nil, fmt.Errorf("loadtest: unknown store %q", cfg.Store)
	}
	return b, nil
}

func (b *backend) openSQLite(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "valet-bench-")
	if err != nil {
		return err
	}
	b.closers = append(b.closers, func() { _ = os.RemoveAll(dir) })
	db, err := sqlite.Open(ctx, filepath.Join(dir, "valet.db"))
	if err != nil {
		return err
	}
	b.sqlite = db
	b.closers = append(b.closers, func() { _ = db.Close() })
	return nil
}

func (b *backend) openPostgres(ctx context.Context, base string) error {
	b.schema = "valet_bench_" + randomHex(8)
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		return fmt.Errorf("%w: postgres: %v", valet.ErrUnavailable, err)
	}
	defer admin.Close(ctx)
	ident := pgx.Identifier{b.schema}.Sanitize()
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+ident); err != nil {
		return fmt.Errorf("%w: postgres: create schema: %v", valet.ErrUnavailable, err)
	}
	b.closers = append(b.closers, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, base); err == nil {
			_, _ = c.Exec(ctx, "DROP SCHEMA "+ident+" CASCADE")
			_ = c.Close(ctx)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		return fmt.Errorf("%w: postgres url: %v", valet.ErrInvalidRequest, err)
	}
	q := u.Query()
	q.Set("search_path", b.schema)
	u.RawQuery = q.Encode()
	db, err := postgres.Open(ctx, u.String(), postgres.Config{MaxConns: 16})
	if err != nil {
		return err
	}
	b.pg = db
	b.closers = append(b.closers, db.Close)
	return nil
}

// dropRedisKeys deletes every key under the backend's prefix.
func (b *backend) dropRedisKeys() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	DropRedisKeys(ctx, b.redis.Client(), b.prefix)
}

// DropRedisKeys deletes every key of c under prefix, ten thousand at a
// time, until it has or ctx ends.
func DropRedisKeys(ctx context.Context, c goredis.UniversalClient, prefix string) {
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, prefix+"*", 10_000).Result()
		if err != nil {
			return
		}
		if len(keys) > 0 {
			_ = c.Unlink(ctx, keys...).Err()
		}
		if cursor = next; cursor == 0 {
			return
		}
	}
}

func (b *backend) close() {
	// Closers run in reverse, so a store closes before its schema is dropped.
	for i := len(b.closers) - 1; i >= 0; i-- {
		b.closers[i]()
	}
	b.closers = nil
}

// footprint returns what the backend holds for its sessions and refresh
// families, in bytes, by the measure that suits it: the Go heap for the
// memory store, the database's pages for SQLite, the tables' size for
// Postgres, Redis's used_memory for Redis. The measure includes everything
// else the backend holds, so only differences mean anything.
func (b *backend) footprint(ctx context.Context) (int64, error) {
	switch b.kind {
	case StoreMemory:
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc), nil
	case StoreSQLite:
		var n int64
		err := b.sqlite.SQL().QueryRowContext(ctx,
			"SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()").Scan(&n)
		return n, err
	case StorePostgres:
		var n int64
		err := b.pg.Pool().QueryRow(ctx, `SELECT pg_total_relation_size('sessions') +
			pg_total_relation_size('refresh_families') + pg_total_relation_size('refresh_tokens')`).Scan(&n)
		return n, err
	case StoreRedis:
		info, err := b.redis.Client().Info(ctx, "memory").Result()
		if err != nil {
			return 0, err
		}
		for line := range strings.SplitSeq(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
				return strconv.ParseInt(v, 10, 64)
			}
		}
		return 0, errors.New("loadtest: redis INFO has no used_memory")
	}
	return 0, fmt.Errorf("loadtest: no footprint for %q", b.kind)
}

// Server is a valet server built from auth, httpapi and a store, listening
// on 127.0.0.1 on a port of its own.
type Server struct {
	// URL is the server's base URL, such as http://127.0.0.1:41234.
	URL string
	// Service is the engine behind the API.
	Service *auth.Service
	// Node is the server's revocation node.
	Node *revoke.Node
	// Handler is the server's JSON API, for callers that want to call it
	// without the network (httptest).
	Handler http.Handler

	backend *backend
	own     bool // whether Close closes the backend
	srv     *http.Server
	cancel  context.CancelFunc
}

// NewServer builds the server that cfg describes and starts it on
// 127.0.0.1:0. It returns an error wrapping ErrServiceAbsent when cfg names
// Postgres or Redis without its URL, and the store's error when the backend
// cannot be opened. Close stops it and removes what it created.
func NewServer(ctx context.Context, cfg ServerConfig) (*Server, error) {
	b, err := openBackend(ctx, withDefaults(cfg))
	if err != nil {
		return nil, err
	}
	s, err := startNode(ctx, withDefaults(cfg), b)
	if err != nil {
		b.close()
		return nil, err
	}
	s.own = true
	return s, nil
}

// Cluster is several servers (nodes) on one set of stores, whose hybrid
// revocations travel over the backend's channel: Redis pub/sub, Postgres
// LISTEN/NOTIFY, or in-process for the memory and SQLite stores.
type Cluster struct {
	// Nodes are the servers, each on a port of its own.
	Nodes   []*Server
	backend *backend
}

// NewCluster starts n nodes over one backend as NewServer does.
func NewCluster(ctx context.Context, cfg ServerConfig, n int) (*Cluster, error) {
	cfg = withDefaults(cfg)
	b, err := openBackend(ctx, cfg)
	if err != nil {
		return nil, err
	}
	c := &Cluster{backend: b}
	for range n {
		s, err := startNode(ctx, cfg, b)
		if err != nil {
			c.Close()
			return nil, err
		}
		c.Nodes = append(c.Nodes, s)
	}
	return c, nil
}

// Close stops every node, then removes what the backend created.
func (c *Cluster) Close() {
	for _, s := range c.Nodes {
		s.Close()
	}
	c.backend.close()
}

func withDefaults(cfg ServerConfig) ServerConfig {
	if cfg.Store == "" {
		cfg.Store = StoreMemory
	}
	if cfg.Mode == "" {
		cfg.Mode = valet.ModeSession
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg
}

// startNode runs one server over b: its own revocation node and listener.
func startNode(ctx context.Context, cfg ServerConfig, b *backend) (_ *Server, err error) {
	s := &Server{backend: b}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	var nodeCtx context.Context
	nodeCtx, s.cancel = context.WithCancel(context.Background())
	s.Node = revoke.NewNode(revoke.Config{
		Store: b.stores.Revocations, Transport: b.transport(), Sessions: b.stores.Sessions, Logger: cfg.Logger,
	})
	if err := s.Node.Start(nodeCtx); err != nil {
		return nil, err
	}
	s.Service, err = auth.New(ctx, auth.Config{
		Stores:  b.stores,
		Hasher:  password.NewHasher(cfg.Argon2, 0, 0),
		Mode:    cfg.Mode,
		Revoker: s.Node,
		Logger:  cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	api := httpapi.New(s.Service, httpapi.Config{Cookie: session.Cookie{Insecure: true}, Logger: cfg.Logger})
	s.Handler = api
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.srv = &http.Server{Handler: api, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 30 * time.Second}
	s.URL = "http://" + ln.Addr().String()
	go func() { _ = s.srv.Serve(ln) }()
	if err := waitHealthy(ctx, s.Node); err != nil {
		return nil, err
	}
	return s, nil
}

// waitHealthy waits (ten seconds at most) until the revocation node has
// joined its channel, so that no measurement runs in its fail-safe mode.
func waitHealthy(ctx context.Context, n *revoke.Node) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for !n.Healthy() {
		select {
		case <-ctx.Done():
			return errors.New("loadtest: the revocation channel did not come up within 10s")
		case <-t.C:
		}
	}
	return nil
}

// Close stops the server and, for one made by NewServer, removes what it
// created: its schema, its Redis keys, its SQLite file.
func (s *Server) Close() {
	if s.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = s.srv.Shutdown(ctx)
		cancel()
		s.srv = nil
	}
	if s.cancel != nil {
		s.cancel()
	}
	if s.own {
		s.backend.close()
	}
}

// Stores returns the stores the server runs on.
func (s *Server) Stores() valet.Stores { return s.backend.stores }

// AddSessions creates n sessions (and, for token and hybrid modes, the
// refresh family a login makes) directly in the server's stores, sixteen at
// a time, as n logins of userID in mode would. It returns the first error.
func (s *Server) AddSessions(ctx context.Context, userID string, mode valet.Mode, n int) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan struct{})
	)
	stores := s.backend.stores
	// The engine's default lifetimes, which the server runs with.
	cfg := auth.Config{
		Session:         session.Config{Lifetime: 7 * 24 * time.Hour, IdleTimeout: 24 * time.Hour},
		RefreshLifetime: 30 * 24 * time.Hour, RefreshIdle: 7 * 24 * time.Hour,
	}
	for range 16 {
		wg.Go(func() {
			for range next {
				err := addLogin(ctx, stores, cfg, userID, mode)
				if err != nil {
					mu.Lock()
					first = cmpErr(first, err)
					mu.Unlock()
				}
			}
		})
	}
	for range n {
		if ctx.Err() != nil {
			break
		}
		next <- struct{}{}
	}
	close(next)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// addLogin stores what one login in mode leaves on the server: a session
// (session, hybrid) and a refresh family with its first token's hash (token,
// hybrid). The family's sealed successor is empty until a refresh, as after
// a real login.
func addLogin(ctx context.Context, stores valet.Stores, cfg auth.Config, userID string, mode valet.Mode) error {
	sid := ""
	now := time.Now().UTC()
	if mode != valet.ModeToken {
		sid = valet.HashSecret(valet.NewID())
		err := stores.Sessions.CreateSession(ctx, valet.Session{
			ID: sid, UserID: userID, Mode: mode, CreatedAt: now, LastSeenAt: now,
			ExpiresAt: now.Add(cfg.Session.Lifetime), IdleExpiresAt: now.Add(cfg.Session.IdleTimeout),
			UserAgent: "Mozilla/5.0 (X11; Linux x86_64) valet-bench", IP: "127.0.0.1",
		})
		if err != nil {
			return err
		}
	}
	if mode == valet.ModeSession {
		return nil
	}
	f := valet.RefreshFamily{
		ID: valet.NewID(), UserID: userID, SessionID: sid, RotatedAt: now, CreatedAt: now,
		ExpiresAt: now.Add(cfg.RefreshLifetime), IdleExpiresAt: now.Add(cfg.RefreshIdle),
	}
	return stores.Refresh.CreateRefreshFamily(ctx, f, valet.HashSecret(valet.NewID()))
}

// randomHex returns n random bytes in hex, for names that must not collide
// with those of another run against the same server.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
