package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/valetauth/valet"
)

const familyColumns = `f.id, f.user_id, f.session_id, f.generation, f.rotated_at, f.successor,
	f.created_at, f.expires_at, f.idle_expires_at, f.revoked`

// familyLive is the condition that family f has not expired at ?1 (see
// valet.RefreshFamily.Expired).
const familyLive = `f.expires_at > ?1 AND f.idle_expires_at > ?1`

// CreateRefreshFamily stores f and the hash of its first token, at
// generation f.Generation. It returns an error wrapping valet.ErrConflict
// when f.ID or tokenHash exists and valet.ErrUnavailable on failure.
func (db *DB) CreateRefreshFamily(ctx context.Context, f valet.RefreshFamily, tokenHash string) error {
	return db.write(ctx, "create refresh family", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO refresh_families
			(id, user_id, session_id, generation, rotated_at, successor, created_at, expires_at, idle_expires_at, revoked)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			f.ID, f.UserID, f.SessionID, f.Generation, micros(f.RotatedAt), f.Successor,
			micros(f.CreatedAt), micros(f.ExpiresAt), micros(f.IdleExpiresAt), boolInt(f.Revoked))
		if err != nil {
			return db.fail(ctx, "create refresh family", err)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO refresh_tokens (hash, family_id, generation) VALUES (?, ?, ?)`,
			tokenHash, f.ID, f.Generation)
		if err != nil {
			return db.fail(ctx, "create refresh family", err)
		}
		return nil
	})
}

// RefreshByToken returns the family that the token with tokenHash belongs to
// and the generation it was issued at. found is false when the hash is
// unknown or its family has expired; a revoked family is found, with Revoked
// set, until then. It returns an error wrapping valet.ErrUnavailable on
// failure.
func (db *DB) RefreshByToken(ctx context.Context, tokenHash string) (valet.RefreshFamily, int, bool, error) {
	var (
		f                                      valet.RefreshFamily
		gen, revoked                           int
		rotated, created, expires, idleExpires sql.NullInt64
	)
	err := db.ro.QueryRowContext(ctx, `SELECT `+familyColumns+`, t.generation
		FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id
		WHERE t.hash = ?2 AND `+familyLive,
		db.now().UnixMicro(), tokenHash).Scan(
		&f.ID, &f.UserID, &f.SessionID, &f.Generation, &rotated, &f.Successor,
		&created, &expires, &idleExpires, &revoked, &gen)
	if errors.Is(err, sql.ErrNoRows) {
		return valet.RefreshFamily{}, 0, false, nil
	}
	if err != nil {
		return valet.RefreshFamily{}, 0, false, db.fail(ctx, "refresh token", err)
	}
	f.RotatedAt, f.CreatedAt = timeOf(rotated), timeOf(created)
	f.ExpiresAt, f.IdleExpiresAt = timeOf(expires), timeOf(idleExpires)
	f.Successor = bytesOf(f.Successor)
	f.Revoked = revoked != 0
	return f, gen, true, nil
}

// AdvanceRefreshFamily moves family id from generation from to from+1,
// recording newHash at from+1 and setting Successor, RotatedAt and
// IdleExpiresAt, in one transaction. It returns false when the family is at
// another generation, revoked, expired or gone; an error wrapping
// valet.ErrConflict when newHash is known already; and one wrapping
// valet.ErrUnavailable on failure, having changed nothing.
func (db *DB) AdvanceRefreshFamily(ctx context.Context, id string, from int, newHash string, successor []byte, now, idleExpiresAt time.Time) (bool, error) {
	advanced := false
	err := db.write(ctx, "advance refresh family", func(tx *sql.Tx) error {
		advanced = false
		// The generation in the condition is what makes this a compare and
		// swap: of two callers that read generation from, one updates the row
		// and the other finds it moved on.
		res, err := tx.ExecContext(ctx, `UPDATE refresh_families AS f
			SET generation = ?3 + 1, successor = ?4, rotated_at = ?5, idle_expires_at = ?6
			WHERE f.id = ?2 AND f.generation = ?3 AND f.revoked = 0 AND `+familyLive,
			db.now().UnixMicro(), id, from, successor, micros(now), micros(idleExpiresAt))
		if err != nil {
			return db.fail(ctx, "advance refresh family", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return db.fail(ctx, "advance refresh family", err)
		}
		if n != 1 {
			return nil
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO refresh_tokens (hash, family_id, generation) VALUES (?, ?, ?)`,
			newHash, id, from+1)
		if err != nil {
			return db.fail(ctx, "advance refresh family", err)
		}
		advanced = true
		return nil
	})
	if err != nil {
		return false, err
	}
	return advanced, nil
}

// RevokeRefreshFamily marks family id revoked. Unknown ids are no error. It
// returns an error wrapping valet.ErrUnavailable on failure.
func (db *DB) RevokeRefreshFamily(ctx context.Context, id string) error {
	if _, err := db.rw.ExecContext(ctx, `UPDATE refresh_families SET revoked = 1 WHERE id = ?`, id); err != nil {
		return db.fail(ctx, "revoke refresh family", err)
	}
	return nil
}

// RevokeRefreshFamilies marks revoked every family of userID, or only those
// bound to sessionID when it is not empty. It returns an error wrapping
// valet.ErrUnavailable on failure.
func (db *DB) RevokeRefreshFamilies(ctx context.Context, userID, sessionID string) error {
	_, err := db.rw.ExecContext(ctx, `UPDATE refresh_families SET revoked = 1
		WHERE user_id = ?1 AND (?2 = '' OR session_id = ?2)`, userID, sessionID)
	if err != nil {
		return db.fail(ctx, "revoke refresh families", err)
	}
	return nil
}

// Sweep deletes the sessions, refresh families (with their token hashes),
// revocations, pending sign-in state, authorization codes (taken or not),
// client grants and client refresh families that have expired at now, and returns how many it
// deleted.
// Lookups never return expired entries, so Sweep only reclaims space; run it
// now and then. It returns an error wrapping valet.ErrUnavailable on
// failure, having deleted nothing.
func (db *DB) Sweep(ctx context.Context, now time.Time) (int, error) {
	total := 0
	err := db.write(ctx, "sweep", func(tx *sql.Tx) error {
		total = 0
		for _, q := range []string{
			`DELETE FROM sessions WHERE NOT ` + liveFlag,
			`DELETE FROM refresh_families AS f WHERE NOT coalesce((` + familyLive + `), 0)`,
			`DELETE FROM revocations WHERE coalesce(until <= ?1, 1)`,
			`DELETE FROM pending WHERE expires_at <= ?1`,
			`DELETE FROM oauth_codes WHERE expires_at <= ?1`,
			`DELETE FROM oauth_client_grants WHERE expires_at <= ?1`,
			`DELETE FROM oauth_refresh WHERE expires_at <= ?1`,
		} {
			res, err := tx.ExecContext(ctx, q, now.UnixMicro())
			if err != nil {
				return db.fail(ctx, "sweep", err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return db.fail(ctx, "sweep", err)
			}
			total += int(n)
		}
		// The log only numbers revocations for pollers; its ended entries
		// are no records of their own.
		if _, err := tx.ExecContext(ctx, `DELETE FROM revocation_log WHERE until <= ?1`, now.UnixMicro()); err != nil {
			return db.fail(ctx, "sweep", err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return total, nil
}
