package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/valetauth/valet"
)

// NewFromPool returns a DB on pool, a pool the application made and keeps
// for its own queries too, checks that the database answers and migrates the
// schema unless cfg.SkipMigrate is set. cfg.MaxConns does not apply: the
// pool's size is the caller's. The pool stays the caller's: Close leaves it
// open. NewFromPool returns an error wrapping valet.ErrInvalidRequest when
// pool is nil and valet.ErrUnavailable when the database cannot be reached
// or migrated.
func NewFromPool(ctx context.Context, pool *pgxpool.Pool, cfg Config) (*DB, error) {
	if pool == nil {
		return nil, fmt.Errorf("%w: postgres: NewFromPool: nil pool", valet.ErrInvalidRequest)
	}
	db := &DB{pool: pool, timeout: cfg.Timeout, now: cfg.Now, shared: true}
	if db.timeout <= 0 {
		db.timeout = 3 * time.Second
	}
	if db.now == nil {
		db.now = time.Now
	}
	if err := db.Ping(ctx); err != nil {
		return nil, err
	}
	if !cfg.SkipMigrate {
		if err := db.Migrate(ctx); err != nil {
			return nil, err
		}
	}
	return db, nil
}
