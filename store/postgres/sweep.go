package postgres

import (
	"context"
	"time"
)

// sweepBatch is the most rows one statement of Sweep deletes, so that no
// statement holds many row locks or runs long.
const sweepBatch = 1000

// sweeps are Sweep's statements, one per table: each deletes up to $2 rows
// that have expired at $1. A refresh family's token hashes go with it (ON
// DELETE CASCADE). SKIP LOCKED passes over rows that a request is writing,
// and lets two nodes sweep at once; a row so passed over is deleted by the
// next sweep. A session touched after the batch was chosen is re-checked
// against the condition when it is locked, and kept.
var sweeps = [...]struct{ table, sql string }{
	{"sessions", `DELETE FROM sessions WHERE id IN (
		SELECT id FROM sessions WHERE least(expires_at, idle_expires_at) <= $1
		LIMIT $2 FOR UPDATE SKIP LOCKED)`},
	{"refresh families", `DELETE FROM refresh_families WHERE id IN (
		SELECT id FROM refresh_families WHERE least(expires_at, idle_expires_at) <= $1
		LIMIT $2 FOR UPDATE SKIP LOCKED)`},
	{"revocations", `DELETE FROM revocations WHERE session_id IN (
		SELECT session_id FROM revocations WHERE until <= $1
		LIMIT $2 FOR UPDATE SKIP LOCKED)`},
	{"pending", `DELETE FROM pending WHERE key IN (
		SELECT key FROM pending WHERE expires_at <= $1
		LIMIT $2 FOR UPDATE SKIP LOCKED)`},
	{"authorization codes", `DELETE FROM oauth_codes WHERE hash IN (
		SELECT hash FROM oauth_codes WHERE expires_at <= $1
		LIMIT $2 FOR UPDATE SKIP LOCKED)`},
	{"client grants", `DELETE FROM oauth_client_grants WHERE (session_id, client_id) IN (
		SELECT session_id, client_id FROM oauth_client_grants WHERE expires_at <= $1
		LIMIT $2 FOR UPDATE SKIP LOCKED)`},
	{"client refresh families", `DELETE FROM oauth_refresh WHERE id IN (
		SELECT id FROM oauth_refresh WHERE expires_at <= $1
		LIMIT $2 FOR UPDATE SKIP LOCKED)`},
}

// Sweep deletes the sessions, refresh families (with their token hashes),
// revocations, pending sign-in state, authorization codes (taken or not),
// client grants and client refresh families that have expired at now, and returns how many rows of
// them it deleted. Lookups never return expired records, so Sweep only
// reclaims space; run it now and then. It deletes in batches of at most
// 1000 rows, each its own transaction bounded by Config.Timeout, so that
// it never holds many locks for long. It returns an error wrapping
// valet.ErrUnavailable when the database fails, with the number of rows
// that the batches before the failure deleted.
func (db *DB) Sweep(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for _, s := range sweeps {
		for {
			n, err := db.sweepBatch(ctx, s.sql, now)
			total += n
			if err != nil {
				return total, fail("sweep "+s.table, err)
			}
			if n < sweepBatch {
				break
			}
		}
	}
	return total, nil
}

func (db *DB) sweepBatch(ctx context.Context, sql string, now time.Time) (int, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	tag, err := db.pool.Exec(ctx, sql, now, sweepBatch)
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}
