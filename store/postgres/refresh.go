package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/valetauth/valet"
)

const familyColumns = `f.id, f.user_id, f.session_id, f.generation, f.rotated_at, f.successor,
	f.created_at, f.expires_at, f.idle_expires_at, f.revoked`

// CreateRefreshFamily stores f and tokenHash as its token at f.Generation,
// in one transaction. It returns an error wrapping valet.ErrConflict when the
// family id or the token hash exists, and valet.ErrUnavailable when the
// database fails.
func (db *DB) CreateRefreshFamily(ctx context.Context, f valet.RefreshFamily, tokenHash string) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	// One statement is one transaction: either both rows exist or neither.
	_, err := db.pool.Exec(ctx, `WITH f AS (
		INSERT INTO refresh_families (id, user_id, session_id, generation, rotated_at, successor,
			created_at, expires_at, idle_expires_at, revoked)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		RETURNING id, generation)
	INSERT INTO refresh_tokens (hash, family_id, generation) SELECT $11, id, generation FROM f`,
		f.ID, f.UserID, f.SessionID, f.Generation, f.RotatedAt, f.Successor,
		f.CreatedAt, f.ExpiresAt, f.IdleExpiresAt, f.Revoked, tokenHash)
	if err != nil {
		return fail("create refresh family", err)
	}
	return nil
}

// RefreshByToken returns the family that the token with tokenHash belongs to
// and the generation the token was issued at. found is false, with a nil
// error, when the hash is unknown or its family has passed its absolute
// expiry by Config.Now; a revoked family is returned with Revoked set. It
// returns an error wrapping valet.ErrUnavailable when the database fails.
func (db *DB) RefreshByToken(ctx context.Context, tokenHash string) (valet.RefreshFamily, int, bool, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	var (
		f   valet.RefreshFamily
		gen int
	)
	err := db.pool.QueryRow(ctx, `SELECT `+familyColumns+`, t.generation
		FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id
		WHERE t.hash = $1 AND f.expires_at > $2`, tokenHash, db.now()).Scan(
		&f.ID, &f.UserID, &f.SessionID, &f.Generation, &f.RotatedAt, &f.Successor,
		&f.CreatedAt, &f.ExpiresAt, &f.IdleExpiresAt, &f.Revoked, &gen)
	if errors.Is(err, pgx.ErrNoRows) {
		return valet.RefreshFamily{}, 0, false, nil
	}
	if err != nil {
		return valet.RefreshFamily{}, 0, false, fail("refresh by token", err)
	}
	f.RotatedAt, f.CreatedAt = f.RotatedAt.UTC(), f.CreatedAt.UTC()
	f.ExpiresAt, f.IdleExpiresAt = f.ExpiresAt.UTC(), f.IdleExpiresAt.UTC()
	return f, gen, true, nil
}

// AdvanceRefreshFamily moves family id from generation from to from+1: it
// records newHash at from+1 and sets Successor, RotatedAt=now and
// IdleExpiresAt, all in one statement. It returns false, changing nothing,
// when the family is not at generation from, is revoked, has passed its
// absolute expiry at now, or is gone. Of two concurrent calls with the same
// from, one wins. It returns an error wrapping valet.ErrConflict when newHash
// is stored already and valet.ErrUnavailable when the database fails.
func (db *DB) AdvanceRefreshFamily(ctx context.Context, id string, from int, newHash string, successor []byte, now, idleExpiresAt time.Time) (bool, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	// The UPDATE's WHERE is re-checked on the row's newest version after a
	// concurrent writer commits, so only one caller can move a generation;
	// the INSERT sees the UPDATE's row only if it matched, and a failed
	// INSERT undoes the UPDATE, since the statement is one transaction.
	tag, err := db.pool.Exec(ctx, `WITH f AS (
		UPDATE refresh_families SET generation = generation + 1, successor = $4,
			rotated_at = $5, idle_expires_at = $6
		WHERE id = $1 AND generation = $2 AND NOT revoked AND expires_at > $5
		RETURNING id, generation)
	INSERT INTO refresh_tokens (hash, family_id, generation) SELECT $3, id, generation FROM f`,
		id, from, newHash, successor, now, idleExpiresAt)
	if err != nil {
		return false, fail("advance refresh family", err)
	}
	return tag.RowsAffected() == 1, nil
}

// RevokeRefreshFamily marks the family with id revoked. Unknown ids are no
// error. It returns an error wrapping valet.ErrUnavailable when the database
// fails.
func (db *DB) RevokeRefreshFamily(ctx context.Context, id string) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	if _, err := db.pool.Exec(ctx, `UPDATE refresh_families SET revoked = true WHERE id = $1`, id); err != nil {
		return fail("revoke refresh family", err)
	}
	return nil
}

// RevokeRefreshFamilies marks revoked every family of userID, or only those
// bound to sessionID when it is not empty. With both empty it does nothing.
// It returns an error wrapping valet.ErrUnavailable when the database fails.
func (db *DB) RevokeRefreshFamilies(ctx context.Context, userID, sessionID string) error {
	if userID == "" && sessionID == "" {
		return nil
	}
	ctx, cancel := db.bound(ctx)
	defer cancel()
	_, err := db.pool.Exec(ctx, `UPDATE refresh_families SET revoked = true
		WHERE NOT revoked AND ($1 = '' OR user_id = $1) AND ($2 = '' OR session_id = $2)`,
		userID, sessionID)
	if err != nil {
		return fail("revoke refresh families", err)
	}
	return nil
}
