// Package sqlite is the default store backend: one SQLite file, through the
// pure-Go driver modernc.org/sqlite, so that the server needs no C compiler
// and no database server.
//
// The file runs in WAL mode, so lookups never wait for writes. Writes go
// through a single connection, one at a time, which is how SQLite takes them
// anyway; waiting for it in Go is cheaper than SQLite's busy loop. The schema
// is created and upgraded by versioned migrations embedded in the binary.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/valetauth/valet"
)

// The DB implements every store interface of the root package.
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

// busyTimeout is how long a statement waits for another process that holds
// the file's write lock, such as `valet user create` run beside the server.
const busyTimeout = 5 * time.Second

// DB is a valet store in one SQLite file. It is safe for concurrent use.
type DB struct {
	rw  *sql.DB // one connection, for every write
	ro  *sql.DB // read-only connections, for lookups
	now func() time.Time

	session *sql.Stmt // the session lookup of every request, prepared once
	// userByID is the user lookup that follows it, prepared once too:
	// parsing the statement each time was a fifth of a request's cost.
	userByID *sql.Stmt
	// shared is set by New: the pool belongs to the caller, who closes it.
	shared bool
}

// Option configures a DB.
type Option func(*DB)

// WithClock sets the clock by which the store decides that sessions and
// refresh families have expired. The default is time.Now. now must be safe
// for concurrent use.
func WithClock(now func() time.Time) Option {
	if now == nil {
		panic("sqlite: WithClock: nil clock")
	}
	return func(db *DB) { db.now = now }
}

// Open opens the SQLite file at path, creating it if it does not exist, in
// WAL mode with a busy timeout and foreign keys on, and runs the migrations
// that it has not run yet. The path ":memory:" opens a private in-memory
// database that lives until Close. On failure Open returns an error wrapping
// valet.ErrUnavailable (or valet.ErrInvalidRequest for a path it cannot
// use) and leaves nothing open.
func Open(ctx context.Context, path string, opts ...Option) (*DB, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("%w: sqlite: path %q: must name a file and contain no ? or #", valet.ErrInvalidRequest, path)
	}
	db := &DB{now: time.Now}
	for _, o := range opts {
		o(db)
	}

	common := url.Values{}
	common.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	common.Add("_pragma", "foreign_keys(1)")

	rwParams := url.Values{}
	for k, v := range common {
		rwParams[k] = v
	}
	// A write transaction takes the write lock when it begins, not at its
	// first write: a transaction that read first and then found the lock
	// taken would fail at once instead of waiting out the busy timeout.
	rwParams.Set("_txlock", "immediate")
	if path != ":memory:" {
		rwParams.Add("_pragma", "journal_mode(WAL)")
	}
	rw, err := sql.Open("sqlite", path+"?"+rwParams.Encode())
	if err != nil {
		return nil, fmt.Errorf("%w: sqlite: open %s: %v", valet.ErrUnavailable, path, err)
	}
	rw.SetMaxOpenConns(1)
	rw.SetMaxIdleConns(1)
	rw.SetConnMaxLifetime(0)
	rw.SetConnMaxIdleTime(0)
	db.rw = rw

	if path == ":memory:" {
		// Every connection to ":memory:" is a database of its own, so the
		// one connection serves the reads too.
		db.ro = rw
	} else {
		roParams := url.Values{}
		for k, v := range common {
			roParams[k] = v
		}
		roParams.Set("_query_only", "1")
		ro, err := sql.Open("sqlite", path+"?"+roParams.Encode())
		if err != nil {
			rw.Close()
			return nil, fmt.Errorf("%w: sqlite: open %s: %v", valet.ErrUnavailable, path, err)
		}
		n := max(4, runtime.GOMAXPROCS(0))
		ro.SetMaxOpenConns(n)
		ro.SetMaxIdleConns(n)
		db.ro = ro
	}

	if err := db.open(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// open creates the file, migrates it and prepares the hot statements.
func (db *DB) open(ctx context.Context) error {
	if err := db.rw.PingContext(ctx); err != nil {
		return db.fail(ctx, "open", err)
	}
	if err := db.Migrate(ctx); err != nil {
		return err
	}
	var err error
	db.session, err = db.ro.PrepareContext(ctx, sessionQuery)
	if err != nil {
		return db.fail(ctx, "prepare", err)
	}
	db.userByID, err = db.ro.PrepareContext(ctx, userByIDQuery)
	if err != nil {
		return db.fail(ctx, "prepare", err)
	}
	return nil
}

// Close closes the database. It returns an error wrapping
// valet.ErrUnavailable if the file could not be closed cleanly.
func (db *DB) Close() error {
	var errs []error
	if db.session != nil {
		errs = append(errs, db.session.Close())
	}
	if db.userByID != nil {
		errs = append(errs, db.userByID.Close())
	}
	if db.shared {
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("%w: sqlite: close: %v", valet.ErrUnavailable, err)
		}
		return nil
	}
	if db.ro != db.rw {
		errs = append(errs, db.ro.Close())
	}
	errs = append(errs, db.rw.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: sqlite: close: %v", valet.ErrUnavailable, err)
	}
	return nil
}

// Ping reports whether the file can be read and written. It returns an error
// wrapping valet.ErrUnavailable when it cannot, or when ctx is done.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.rw.PingContext(ctx); err != nil {
		return db.fail(ctx, "ping", err)
	}
	if err := db.ro.PingContext(ctx); err != nil {
		return db.fail(ctx, "ping", err)
	}
	return nil
}

// Stores returns a valet.Stores whose every member is db.
func (db *DB) Stores() valet.Stores {
	return valet.Stores{Users: db, Sessions: db, Refresh: db, Keys: db, Secrets: db, Revocations: db, Factors: db, Clients: db}
}

// SQL returns the pool of the connection that writes, for tools that need
// the database itself. Holding a transaction on it stalls every write of the
// store.
func (db *DB) SQL() *sql.DB { return db.rw }

// fail turns an error of the driver into one of the root package's: a
// unique or primary-key violation becomes valet.ErrConflict and anything
// else valet.ErrUnavailable, naming the context's error when ctx is done and
// never exposing the driver's error type.
func (db *DB) fail(ctx context.Context, op string, err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("sqlite: %s: %w", op, valet.ErrConflict)
		}
	}
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%w: sqlite: %s: %w", valet.ErrUnavailable, op, cerr)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: sqlite: %s: %w", valet.ErrUnavailable, op, err)
	}
	return fmt.Errorf("%w: sqlite: %s: %v", valet.ErrUnavailable, op, err)
}

// write runs fn in a transaction on the writing connection and commits it
// when fn returns nil.
func (db *DB) write(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	tx, err := db.rw.BeginTx(ctx, nil)
	if err != nil {
		return db.fail(ctx, op, err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return db.fail(ctx, op, err)
	}
	return nil
}

// micros is how a time is stored: unix microseconds, or NULL for the zero
// time.
func micros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

// timeOf is the inverse of micros, in UTC.
func timeOf(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.UnixMicro(n.Int64).UTC()
}

// blob is how bytes are stored in a NOT NULL column: never as NULL.
func blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// bytesOf returns nil for an empty or NULL column.
func bytesOf(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// boolInt is how a bool is stored.
func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
