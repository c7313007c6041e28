package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/store/internal/sqlwhere"
)

const refreshColumns = `f.id, f.client_id, f.user_id, f.session_id, f.scopes, f.amr, f.auth_time, f.created_at, f.expires_at, f.current_hash`

// scanRefresh reads the columns of refreshColumns.
func scanRefresh(sc scanner) (f valet.ClientRefresh, current string, err error) {
	var (
		scopes, amr       string
		authTime, created sql.NullInt64
		expires           int64
	)
	if err := sc.Scan(&f.ID, &f.ClientID, &f.UserID, &f.SessionID, &scopes, &amr, &authTime, &created, &expires, &current); err != nil {
		return valet.ClientRefresh{}, "", err
	}
	if f.Scopes, err = listOf("scopes", scopes); err != nil {
		return valet.ClientRefresh{}, "", err
	}
	if f.AMR, err = listOf("amr", amr); err != nil {
		return valet.ClientRefresh{}, "", err
	}
	f.AuthTime, f.CreatedAt, f.ExpiresAt = timeOf(authTime), timeOf(created), time.UnixMicro(expires).UTC()
	return f, current, nil
}

// CreateClientRefresh stores f with the hash of its first token. It
// returns an error wrapping valet.ErrNotFound when f.UserID names no user
// or f.ClientID no client, valet.ErrConflict when the id or the hash is
// taken, and valet.ErrUnavailable on other failures.
func (db *DB) CreateClientRefresh(ctx context.Context, f valet.ClientRefresh, tokenHash string) error {
	return db.write(ctx, "create client refresh", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO oauth_refresh (user_id, client_id, id, session_id, scopes, amr,
				auth_time, created_at, expires_at, current_hash)
			SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10 WHERE `+ownersExist,
			f.UserID, f.ClientID, f.ID, f.SessionID, listJSON(f.Scopes), listJSON(f.AMR),
			micros(f.AuthTime), micros(f.CreatedAt), f.ExpiresAt.UnixMicro(), tokenHash)
		if err != nil {
			return db.fail(ctx, "create client refresh", err)
		}
		if err := db.oneRow(ctx, "create client refresh: user or client", res); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO oauth_refresh_tokens (hash, family_id) VALUES (?, ?)`, tokenHash, f.ID); err != nil {
			return db.fail(ctx, "create client refresh", err)
		}
		return nil
	})
}

// RotateClientRefresh is valet.ClientStore.RotateClientRefresh, in one
// transaction on the one writing connection, so that of callers at once
// with one hash one rotates it and the others find it earlier. It returns
// an error wrapping valet.ErrUnavailable on failure.
func (db *DB) RotateClientRefresh(ctx context.Context, clientID, tokenHash, newHash string, now time.Time) (valet.ClientRefresh, bool, bool, error) {
	var (
		f             valet.ClientRefresh
		found, reused bool
	)
	err := db.write(ctx, "rotate client refresh", func(tx *sql.Tx) error {
		found, reused = false, false
		var current string
		var err error
		f, current, err = scanRefresh(tx.QueryRowContext(ctx, `SELECT `+refreshColumns+`
			FROM oauth_refresh_tokens AS t JOIN oauth_refresh AS f ON f.id = t.family_id
			WHERE t.hash = ? AND f.client_id = ?`, tokenHash, clientID))
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return db.fail(ctx, "rotate client refresh", err)
		}
		if current != tokenHash || !now.Before(f.ExpiresAt) {
			reused = current != tokenHash
			if _, err := tx.ExecContext(ctx, `DELETE FROM oauth_refresh WHERE id = ?`, f.ID); err != nil {
				return db.fail(ctx, "rotate client refresh", err)
			}
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE oauth_refresh SET current_hash = ? WHERE id = ?`, newHash, f.ID); err != nil {
			return db.fail(ctx, "rotate client refresh", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO oauth_refresh_tokens (hash, family_id) VALUES (?, ?)`, newHash, f.ID); err != nil {
			return db.fail(ctx, "rotate client refresh", err)
		}
		found = true
		return nil
	})
	if err != nil || !found {
		return valet.ClientRefresh{}, false, reused && err == nil, err
	}
	return f, true, false, nil
}

// RevokeClientRefreshToken revokes the family of clientID that holds
// tokenHash, current or earlier. It returns an error wrapping
// valet.ErrUnavailable on failure.
func (db *DB) RevokeClientRefreshToken(ctx context.Context, clientID, tokenHash string) error {
	_, err := db.rw.ExecContext(ctx, `DELETE FROM oauth_refresh WHERE client_id = ?2
		AND id = (SELECT family_id FROM oauth_refresh_tokens WHERE hash = ?1)`, tokenHash, clientID)
	if err != nil {
		return db.fail(ctx, "revoke client refresh token", err)
	}
	return nil
}

// RevokeClientRefreshes revokes the families that f selects and returns
// how many there were. It returns an error wrapping valet.ErrUnavailable
// on failure.
func (db *DB) RevokeClientRefreshes(ctx context.Context, f valet.ClientRefreshFilter) (int, error) {
	if f.Empty() {
		return 0, nil
	}
	where, args := sqlwhere.ClientRefresh(f, func(int) string { return "?" })
	res, err := db.rw.ExecContext(ctx, `DELETE FROM oauth_refresh WHERE `+where, args...)
	if err != nil {
		return 0, db.fail(ctx, "revoke client refreshes", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, db.fail(ctx, "revoke client refreshes", err)
	}
	return int(n), nil
}
