package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/valetauth/valet"
)

// SigningKeys returns every stored key, oldest first. It returns an error
// wrapping valet.ErrUnavailable when the database fails.
func (db *DB) SigningKeys(ctx context.Context) ([]valet.SigningKey, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	rows, err := db.pool.Query(ctx, `SELECT id, alg, private, public, created_at, retired_at
		FROM signing_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, fail("signing keys", err)
	}
	keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (valet.SigningKey, error) {
		var (
			k       valet.SigningKey
			retired *time.Time
		)
		err := row.Scan(&k.ID, &k.Alg, &k.Private, &k.Public, &k.CreatedAt, &retired)
		k.CreatedAt, k.RetiredAt = k.CreatedAt.UTC(), fromNull(retired)
		return k, err
	})
	if err != nil {
		return nil, fail("signing keys", err)
	}
	return keys, nil
}

// AddSigningKey stores k. It returns an error wrapping valet.ErrConflict
// when k.ID exists and valet.ErrUnavailable when the database fails.
func (db *DB) AddSigningKey(ctx context.Context, k valet.SigningKey) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	_, err := db.pool.Exec(ctx, `INSERT INTO signing_keys (id, alg, private, public, created_at, retired_at)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		k.ID, k.Alg, k.Private, k.Public, k.CreatedAt, nullTime(k.RetiredAt))
	if err != nil {
		return fail("add signing key", err)
	}
	return nil
}

// RetireSigningKey sets the retirement time of key id to at, unless it has
// one already. It returns an error wrapping valet.ErrNotFound when there is
// no key id and valet.ErrUnavailable when the database fails.
func (db *DB) RetireSigningKey(ctx context.Context, id string, at time.Time) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	// coalesce keeps a first retirement time while still counting the row,
	// so one statement tells a retired key from a missing one.
	tag, err := db.pool.Exec(ctx, `UPDATE signing_keys SET retired_at = coalesce(retired_at, $2) WHERE id = $1`, id, at)
	if err != nil {
		return fail("retire signing key", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: retire signing key: %w", valet.ErrNotFound)
	}
	return nil
}

// DeleteSigningKey removes key id. Unknown ids are no error. It returns an
// error wrapping valet.ErrUnavailable when the database fails.
func (db *DB) DeleteSigningKey(ctx context.Context, id string) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	if _, err := db.pool.Exec(ctx, `DELETE FROM signing_keys WHERE id = $1`, id); err != nil {
		return fail("delete signing key", err)
	}
	return nil
}

// EnsureSecret stores value under name unless a value is there already, and
// returns the value that is stored, so that nodes starting at once agree on
// one. An empty value is never stored: it only looks the name up, and gets
// an error wrapping valet.ErrNotFound when nothing is stored. It returns an
// error wrapping valet.ErrUnavailable when the database fails.
func (db *DB) EnsureSecret(ctx context.Context, name string, value []byte) ([]byte, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	if len(value) > 0 {
		// The SELECT below runs as its own statement after this one, so it
		// sees the winner's row even when a concurrent INSERT made ours do
		// nothing.
		if _, err := db.pool.Exec(ctx, `INSERT INTO secrets (name, value) VALUES ($1, $2)
			ON CONFLICT (name) DO NOTHING`, name, value); err != nil {
			return nil, fail("ensure secret", err)
		}
	}
	var stored []byte
	err := db.pool.QueryRow(ctx, `SELECT value FROM secrets WHERE name = $1`, name).Scan(&stored)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: ensure secret: %w", valet.ErrNotFound)
	}
	if err != nil {
		return nil, fail("ensure secret", err)
	}
	return stored, nil
}

// AddRevocation records r; an existing entry for the same session keeps the
// later Until. It returns an error wrapping valet.ErrUnavailable when the
// database fails.
func (db *DB) AddRevocation(ctx context.Context, r valet.Revocation) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	_, err := db.pool.Exec(ctx, `INSERT INTO revocations (session_id, until) VALUES ($1, $2)
		ON CONFLICT (session_id) DO UPDATE SET until = GREATEST(revocations.until, EXCLUDED.until)`,
		r.SessionID, r.Until)
	if err != nil {
		return fail("add revocation", err)
	}
	return nil
}

// Revocations returns the entries whose Until is after now, and removes the
// others. It returns an error wrapping valet.ErrUnavailable when the
// database fails.
func (db *DB) Revocations(ctx context.Context, now time.Time) ([]valet.Revocation, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	// Entries that ended can never matter again: every token naming them has
	// expired. Trimming here keeps the set that a starting node loads small.
	if _, err := db.pool.Exec(ctx, `DELETE FROM revocations WHERE until <= $1`, now); err != nil {
		return nil, fail("revocations", err)
	}
	rows, err := db.pool.Query(ctx, `SELECT session_id, until FROM revocations WHERE until > $1 ORDER BY until`, now)
	if err != nil {
		return nil, fail("revocations", err)
	}
	revs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (valet.Revocation, error) {
		var r valet.Revocation
		err := row.Scan(&r.SessionID, &r.Until)
		r.Until = r.Until.UTC()
		return r, err
	})
	if err != nil {
		return nil, fail("revocations", err)
	}
	return revs, nil
}
