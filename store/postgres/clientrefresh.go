package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/store/internal/sqlwhere"
)

const refreshColumns = `f.id, f.client_id, f.user_id, f.session_id, f.scopes, f.amr, f.auth_time, f.created_at, f.expires_at, f.current_hash`

// scanRefresh reads the columns of refreshColumns.
func scanRefresh(row pgx.Row) (f valet.ClientRefresh, current string, err error) {
	var authTime *time.Time
	if err := row.Scan(&f.ID, &f.ClientID, &f.UserID, &f.SessionID, &f.Scopes, &f.AMR, &authTime,
		&f.CreatedAt, &f.ExpiresAt, &current); err != nil {
		return valet.ClientRefresh{}, "", err
	}
	f.Scopes, f.AMR = listOf(f.Scopes), listOf(f.AMR)
	f.AuthTime, f.CreatedAt, f.ExpiresAt = fromNull(authTime), f.CreatedAt.UTC(), f.ExpiresAt.UTC()
	return f, current, nil
}

// CreateClientRefresh stores f with the hash of its first token, in one
// statement. It returns an error wrapping valet.ErrNotFound when f.UserID
// names no user or f.ClientID no client, valet.ErrConflict when the id or
// the hash is taken, and valet.ErrUnavailable when the database fails.
func (db *DB) CreateClientRefresh(ctx context.Context, f valet.ClientRefresh, tokenHash string) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	_, err := db.pool.Exec(ctx, `WITH family AS (
			INSERT INTO oauth_refresh (id, client_id, user_id, session_id, scopes, amr, auth_time, created_at, expires_at, current_hash)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id)
		INSERT INTO oauth_refresh_tokens (hash, family_id) SELECT $10, id FROM family`,
		f.ID, f.ClientID, f.UserID, f.SessionID, nonNil(f.Scopes), nonNil(f.AMR), nullTime(f.AuthTime),
		f.CreatedAt, f.ExpiresAt, tokenHash)
	if err != nil {
		if noUser(err) {
			return fmt.Errorf("postgres: create client refresh: user or client: %w", valet.ErrNotFound)
		}
		return fail("create client refresh", err)
	}
	return nil
}

// RotateClientRefresh is valet.ClientStore.RotateClientRefresh, in one
// transaction that locks the family's row: of callers at once with one
// hash, the first rotates it, and the others, once it commits, read the
// family again and find the hash earlier. It returns an error wrapping
// valet.ErrUnavailable when the database fails.
func (db *DB) RotateClientRefresh(ctx context.Context, clientID, tokenHash, newHash string, now time.Time) (valet.ClientRefresh, bool, bool, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return valet.ClientRefresh{}, false, false, fail("rotate client refresh", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	f, current, err := scanRefresh(tx.QueryRow(ctx, `SELECT `+refreshColumns+`
		FROM oauth_refresh_tokens AS t JOIN oauth_refresh AS f ON f.id = t.family_id
		WHERE t.hash = $1 AND f.client_id = $2 FOR UPDATE OF f`, tokenHash, clientID))
	if errors.Is(err, pgx.ErrNoRows) {
		return valet.ClientRefresh{}, false, false, nil
	}
	if err != nil {
		return valet.ClientRefresh{}, false, false, fail("rotate client refresh", err)
	}
	if current != tokenHash || !now.Before(f.ExpiresAt) {
		if _, err := tx.Exec(ctx, `DELETE FROM oauth_refresh WHERE id = $1`, f.ID); err != nil {
			return valet.ClientRefresh{}, false, false, fail("rotate client refresh", err)
		}
		if err := tx.Commit(ctx); err != nil {
			return valet.ClientRefresh{}, false, false, fail("rotate client refresh", err)
		}
		return valet.ClientRefresh{}, false, current != tokenHash, nil
	}
	var b pgx.Batch
	b.Queue(`UPDATE oauth_refresh SET current_hash = $2 WHERE id = $1`, f.ID, newHash)
	b.Queue(`INSERT INTO oauth_refresh_tokens (hash, family_id) VALUES ($2, $1)`, f.ID, newHash)
	if err := runBatch(ctx, tx, &b); err != nil {
		return valet.ClientRefresh{}, false, false, fail("rotate client refresh", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return valet.ClientRefresh{}, false, false, fail("rotate client refresh", err)
	}
	return f, true, false, nil
}

// RevokeClientRefreshToken revokes the family of clientID that holds
// tokenHash, current or earlier. It returns an error wrapping
// valet.ErrUnavailable when the database fails.
func (db *DB) RevokeClientRefreshToken(ctx context.Context, clientID, tokenHash string) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	_, err := db.pool.Exec(ctx, `DELETE FROM oauth_refresh WHERE client_id = $2
		AND id = (SELECT family_id FROM oauth_refresh_tokens WHERE hash = $1)`, tokenHash, clientID)
	if err != nil {
		return fail("revoke client refresh token", err)
	}
	return nil
}

// RevokeClientRefreshes revokes the families that f selects and returns
// how many there were. It returns an error wrapping valet.ErrUnavailable
// when the database fails.
func (db *DB) RevokeClientRefreshes(ctx context.Context, f valet.ClientRefreshFilter) (int, error) {
	if f.Empty() {
		return 0, nil
	}
	ctx, cancel := db.bound(ctx)
	defer cancel()
	where, args := sqlwhere.ClientRefresh(f, func(n int) string { return fmt.Sprintf("$%d", n) })
	tag, err := db.pool.Exec(ctx, `DELETE FROM oauth_refresh WHERE `+where, args...)
	if err != nil {
		return 0, fail("revoke client refreshes", err)
	}
	return int(tag.RowsAffected()), nil
}
