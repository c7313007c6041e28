package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"time"

	"github.com/valetauth/valet"
)

// DSN returns the data source name with which sql.Open("sqlite", DSN(path))
// opens the file at path the way the store needs it: foreign keys on, a busy
// timeout of 5 seconds, write transactions that take the lock when they
// begin, and (except for ":memory:") WAL mode. An application that keeps
// its own tables in the same file opens it so and hands the pool to New.
// Every connection to ":memory:" is a database of its own: a pool on it
// needs SetMaxOpenConns(1).
func DSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	// Transactions that read before they write would otherwise fail at
	// once, rather than wait, when another connection holds the lock.
	q.Set("_txlock", "immediate")
	if path != ":memory:" {
		q.Add("_pragma", "journal_mode(WAL)")
	}
	return path + "?" + q.Encode()
}

// New returns a store on db, a pool that the caller opened with the driver
// "sqlite" of modernc.org/sqlite, best with DSN, and runs the migrations
// that have not run yet. The store's tables live beside the caller's own.
// The pool stays the caller's: Close releases only what New prepared, and
// db must stay open while the store is used.
//
// New returns an error wrapping valet.ErrInvalidRequest when db is nil or
// its connections do not enforce foreign keys (it was not opened with DSN
// or an equivalent), and one wrapping valet.ErrUnavailable when the
// database cannot be reached or migrated.
func New(ctx context.Context, db *sql.DB, opts ...Option) (*DB, error) {
	if db == nil {
		return nil, fmt.Errorf("%w: sqlite: New: nil *sql.DB", valet.ErrInvalidRequest)
	}
	s := &DB{rw: db, ro: db, now: time.Now, shared: true}
	for _, o := range opts {
		o(s)
	}
	var fk int
	if err := db.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk); err != nil {
		return nil, s.fail(ctx, "open", err)
	}
	if fk != 1 {
		return nil, fmt.Errorf("%w: sqlite: New: the pool must enforce foreign keys; open it with sqlite.DSN", valet.ErrInvalidRequest)
	}
	if err := s.open(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}
