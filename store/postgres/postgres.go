// Package postgres stores valet's users, sessions, refresh-token families,
// signing keys, secrets, revocations, second factors and OpenID Connect
// clients in PostgreSQL, through a pgx connection pool.
//
// Open connects and, unless told not to, migrates the schema. Tables are
// created in the first schema of the connection's search_path, which can be
// set in the URL's query (postgres://host/db?search_path=valet).
//
// Every method is bounded by Config.Timeout. A unique violation becomes
// valet.ErrConflict, a missing row becomes valet.ErrNotFound or found=false
// as the store contract says, and every other failure wraps
// valet.ErrUnavailable; no pgx type crosses the API.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/valetauth/valet"
)

// Compile-time proof that DB keeps every store contract.
var (
	_ valet.UserStore       = (*DB)(nil)
	_ valet.SessionStore    = (*DB)(nil)
	_ valet.SessionLister   = (*DB)(nil)
	_ valet.RefreshStore    = (*DB)(nil)
	_ valet.KeyStore        = (*DB)(nil)
	_ valet.SecretStore     = (*DB)(nil)
	_ valet.RevocationStore = (*DB)(nil)
	_ valet.FactorStore     = (*DB)(nil)
	_ valet.ClientStore     = (*DB)(nil)
	_ valet.Sweeper         = (*DB)(nil)
	_ valet.Pinger          = (*DB)(nil)
)

// Config tunes a DB. The zero value is ready to use.
type Config struct {
	// MaxConns is the size of the connection pool; default 10.
	MaxConns int32
	// Timeout bounds every store call; default 3s. Migrate is bounded by its
	// caller's context only, since it may wait for another node's migration.
	Timeout time.Duration
	// SkipMigrate stops Open from migrating the schema, for deployments that
	// run migrations as a separate step; default false (Open migrates).
	SkipMigrate bool
	// Now is the clock that decides whether a session or refresh family has
	// expired; default time.Now.
	Now func() time.Time
}

// DB is a PostgreSQL-backed store. It implements valet.UserStore,
// SessionStore, SessionLister, RefreshStore, KeyStore, SecretStore,
// RevocationStore, FactorStore, ClientStore, Sweeper and Pinger, and is
// safe for concurrent use.
type DB struct {
	pool    *pgxpool.Pool
	timeout time.Duration
	now     func() time.Time
	// shared is set by NewFromPool: the pool belongs to the caller.
	shared bool
}

// Open connects to the database at url, checks that it answers, and migrates
// the schema unless cfg.SkipMigrate is set. It returns an error wrapping
// valet.ErrInvalidRequest when url cannot be parsed and valet.ErrUnavailable
// when the database cannot be reached or migrated.
func Open(ctx context.Context, url string, cfg Config) (*DB, error) {
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgconn redacts the password from its parse errors.
		return nil, fmt.Errorf("postgres: parse url: %w: %v", valet.ErrInvalidRequest, err)
	}
	pcfg.MaxConns = cfg.MaxConns
	if pcfg.MaxConns <= 0 {
		pcfg.MaxConns = 10
	}
	db := &DB{timeout: cfg.Timeout, now: cfg.Now}
	if db.timeout <= 0 {
		db.timeout = 3 * time.Second
	}
	if db.now == nil {
		db.now = time.Now
	}
	db.pool, err = pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fail("open", err)
	}
	if err := db.Ping(ctx); err != nil {
		db.pool.Close()
		return nil, err
	}
	if !cfg.SkipMigrate {
		if err := db.Migrate(ctx); err != nil {
			db.pool.Close()
			return nil, err
		}
	}
	return db, nil
}

// Close closes every connection of the pool, waiting for those in use. A
// DB made by NewFromPool leaves the caller's pool open.
func (db *DB) Close() {
	if !db.shared {
		db.pool.Close()
	}
}

// Ping checks that the database answers, within Config.Timeout. It returns
// an error wrapping valet.ErrUnavailable when it does not.
func (db *DB) Ping(ctx context.Context) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	if err := db.pool.Ping(ctx); err != nil {
		return fail("ping", err)
	}
	return nil
}

// Stores returns every store a server needs, all backed by db.
func (db *DB) Stores() valet.Stores {
	return valet.Stores{
		Users:       db,
		Sessions:    db,
		Refresh:     db,
		Keys:        db,
		Secrets:     db,
		Revocations: db,
		Factors:     db,
		Clients:     db,
	}
}

// Pool returns the underlying connection pool, for callers that need
// PostgreSQL itself (LISTEN/NOTIFY). It never returns nil.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// bound limits ctx to the configured timeout; an earlier deadline stays.
func (db *DB) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, db.timeout)
}

// uniqueViolation is the SQLSTATE of a unique or primary key violation,
// and foreignKeyViolation that of a row that names a row that is not there.
const (
	uniqueViolation     = "23505"
	foreignKeyViolation = "23503"
)

// fail turns an error from pgx into one of the root package's sentinels, so
// that callers never see a pgx type: a unique violation is a conflict,
// anything else means the database cannot serve now.
func fail(op string, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == uniqueViolation {
		return fmt.Errorf("postgres: %s: %w", op, valet.ErrConflict)
	}
	return unavailable(op, err)
}

// unavailable wraps err with valet.ErrUnavailable, keeping a deadline or a
// cancellation visible to errors.Is (callers may tell their own
// cancellation apart from a failing database) but no pgx type.
func unavailable(op string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("postgres: %s: %w: %w", op, valet.ErrUnavailable, context.DeadlineExceeded)
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("postgres: %s: %w: %w", op, valet.ErrUnavailable, context.Canceled)
	}
	return fmt.Errorf("postgres: %s: %w: %s", op, valet.ErrUnavailable, err.Error())
}

// nullTime maps the zero time to SQL NULL, so that "never" reads as such.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// nonNil keeps a nil slice from becoming SQL NULL in a NOT NULL column.
func nonNil(a []string) []string {
	if a == nil {
		return []string{}
	}
	return a
}

// fromNull maps SQL NULL back to the zero time and every time to UTC.
func fromNull(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}
