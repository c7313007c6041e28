package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/valetauth/valet"
)

// SigningKeys returns every stored key, oldest first. It returns an error
// wrapping valet.ErrUnavailable on failure.
func (db *DB) SigningKeys(ctx context.Context) ([]valet.SigningKey, error) {
	rows, err := db.ro.QueryContext(ctx, `SELECT id, alg, private, public, created_at, retired_at
		FROM signing_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, db.fail(ctx, "signing keys", err)
	}
	defer rows.Close()
	var keys []valet.SigningKey
	for rows.Next() {
		var (
			k                valet.SigningKey
			created, retired sql.NullInt64
		)
		if err := rows.Scan(&k.ID, &k.Alg, &k.Private, &k.Public, &created, &retired); err != nil {
			return nil, db.fail(ctx, "signing keys", err)
		}
		k.Private, k.Public = bytesOf(k.Private), bytesOf(k.Public)
		k.CreatedAt, k.RetiredAt = timeOf(created), timeOf(retired)
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, db.fail(ctx, "signing keys", err)
	}
	return keys, nil
}

// AddSigningKey stores k. It returns an error wrapping valet.ErrConflict if
// k.ID exists and valet.ErrUnavailable on failure.
func (db *DB) AddSigningKey(ctx context.Context, k valet.SigningKey) error {
	_, err := db.rw.ExecContext(ctx, `INSERT INTO signing_keys (id, alg, private, public, created_at, retired_at)
		VALUES (?, ?, ?, ?, ?, ?)`,
		k.ID, k.Alg, blob(k.Private), blob(k.Public), micros(k.CreatedAt), micros(k.RetiredAt))
	if err != nil {
		return db.fail(ctx, "add signing key", err)
	}
	return nil
}

// RetireSigningKey sets the retirement time of key id to at if it has none.
// It returns an error wrapping valet.ErrNotFound for an unknown id and
// valet.ErrUnavailable on failure.
func (db *DB) RetireSigningKey(ctx context.Context, id string, at time.Time) error {
	res, err := db.rw.ExecContext(ctx, `UPDATE signing_keys SET retired_at = coalesce(retired_at, ?) WHERE id = ?`,
		micros(at), id)
	if err != nil {
		return db.fail(ctx, "retire signing key", err)
	}
	return db.oneRow(ctx, "retire signing key", res)
}

// DeleteSigningKey removes key id. Unknown ids are no error. It returns an
// error wrapping valet.ErrUnavailable on failure.
func (db *DB) DeleteSigningKey(ctx context.Context, id string) error {
	if _, err := db.rw.ExecContext(ctx, `DELETE FROM signing_keys WHERE id = ?`, id); err != nil {
		return db.fail(ctx, "delete signing key", err)
	}
	return nil
}

// EnsureSecret stores value under name unless a value is there already, and
// returns the value that is stored; of processes that start at once, the
// first to write wins and all get its value. It returns an error wrapping
// valet.ErrInvalidRequest when nothing is stored and value is empty, and
// valet.ErrUnavailable on failure.
func (db *DB) EnsureSecret(ctx context.Context, name string, value []byte) ([]byte, error) {
	var stored []byte
	var err error
	if len(value) == 0 {
		err = db.rw.QueryRowContext(ctx, `SELECT value FROM secrets WHERE name = ?`, name).Scan(&stored)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("%w: sqlite: empty secret", valet.ErrInvalidRequest)
		}
	} else {
		// The no-op update makes RETURNING give the row that is there, the
		// new one or the one that was, in one atomic statement.
		err = db.rw.QueryRowContext(ctx, `INSERT INTO secrets (name, value) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET value = value RETURNING value`, name, value).Scan(&stored)
	}
	if err != nil {
		return nil, db.fail(ctx, "ensure secret", err)
	}
	return stored, nil
}

// AddRevocation records r; an entry for the same session keeps the later
// Until. It returns an error wrapping valet.ErrUnavailable on failure.
func (db *DB) AddRevocation(ctx context.Context, r valet.Revocation) error {
	_, err := db.rw.ExecContext(ctx, `INSERT INTO revocations (session_id, until) VALUES (?, ?)
		ON CONFLICT (session_id) DO UPDATE SET until = CASE
			WHEN until IS NULL OR excluded.until > until THEN excluded.until ELSE until END`,
		r.SessionID, micros(r.Until))
	if err != nil {
		return db.fail(ctx, "add revocation", err)
	}
	return nil
}

// Revocations returns the entries whose Until is after now, in no particular
// order. It returns an error wrapping valet.ErrUnavailable on failure.
func (db *DB) Revocations(ctx context.Context, now time.Time) ([]valet.Revocation, error) {
	rows, err := db.ro.QueryContext(ctx, `SELECT session_id, until FROM revocations WHERE until > ?`, now.UnixMicro())
	if err != nil {
		return nil, db.fail(ctx, "revocations", err)
	}
	defer rows.Close()
	var out []valet.Revocation
	for rows.Next() {
		var (
			r     valet.Revocation
			until sql.NullInt64
		)
		if err := rows.Scan(&r.SessionID, &until); err != nil {
			return nil, db.fail(ctx, "revocations", err)
		}
		r.Until = timeOf(until)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, db.fail(ctx, "revocations", err)
	}
	return out, nil
}

// RevocationCursor returns the number of the latest revocation recorded in
// the file, by any process; 0 when there is none. It returns an error
// wrapping valet.ErrUnavailable on failure.
func (db *DB) RevocationCursor(ctx context.Context) (int64, error) {
	var seq sql.NullInt64
	if err := db.ro.QueryRowContext(ctx, `SELECT max(seq) FROM revocation_log`).Scan(&seq); err != nil {
		return 0, db.fail(ctx, "revocation cursor", err)
	}
	return seq.Int64, nil
}

// RevocationsAfter returns, in the order they were recorded, at most limit
// of the revocations recorded after the one numbered cursor, by any process,
// and the number of the last one returned (cursor when none is). Entries
// that have ended by the next sweep may be missing. It returns an error
// wrapping valet.ErrUnavailable on failure.
func (db *DB) RevocationsAfter(ctx context.Context, cursor int64, limit int) ([]valet.Revocation, int64, error) {
	rows, err := db.ro.QueryContext(ctx, `SELECT seq, session_id, until FROM revocation_log WHERE seq > ? ORDER BY seq LIMIT ?`, cursor, limit)
	if err != nil {
		return nil, cursor, db.fail(ctx, "revocations after", err)
	}
	defer rows.Close()
	var out []valet.Revocation
	for rows.Next() {
		var (
			r     valet.Revocation
			until int64
		)
		if err := rows.Scan(&cursor, &r.SessionID, &until); err != nil {
			return nil, cursor, db.fail(ctx, "revocations after", err)
		}
		r.Until = time.UnixMicro(until).UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, cursor, db.fail(ctx, "revocations after", err)
	}
	return out, cursor, nil
}
