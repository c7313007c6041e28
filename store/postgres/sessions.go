package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/store/internal/text"
)

const sessionColumns = `id, user_id, mode, created_at, last_seen_at, expires_at, idle_expires_at, user_agent, ip, amr, auth_time`

// live is the condition on a session row that it has not expired at $2.
const live = `expires_at > $2 AND (idle_expires_at IS NULL OR idle_expires_at > $2)`

// CreateSession stores s, its UserAgent and IP made valid UTF-8 without NUL
// bytes (a text column refuses both) and cut to their bounds, and its AMR
// bounded as the other backends bound it. It returns an error wrapping
// valet.ErrConflict when s.ID exists and valet.ErrUnavailable when the
// database fails.
func (db *DB) CreateSession(ctx context.Context, s valet.Session) error {
	s = text.Session(s)
	ctx, cancel := db.bound(ctx)
	defer cancel()
	_, err := db.pool.Exec(ctx, `INSERT INTO sessions (`+sessionColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		s.ID, s.UserID, string(s.Mode), s.CreatedAt, s.LastSeenAt, s.ExpiresAt,
		nullTime(s.IdleExpiresAt), s.UserAgent, s.IP, nonNil(s.AMR), nullTime(s.AuthTime))
	if err != nil {
		return fail("create session", err)
	}
	return nil
}

// Session returns the session with id. found is false, with a nil error,
// when there is none or it has expired by Config.Now. It returns an error
// wrapping valet.ErrUnavailable when the database fails.
func (db *DB) Session(ctx context.Context, id string) (valet.Session, bool, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	row := db.pool.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions
		WHERE id = $1 AND `+live, id, db.now())
	s, err := scanSession(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return valet.Session{}, false, nil
	}
	if err != nil {
		return valet.Session{}, false, fail("session", err)
	}
	return s, true, nil
}

// TouchSession records that the session was seen at lastSeen and moves its
// idle expiry to idleExpiresAt. A session that is gone is no error. It
// returns an error wrapping valet.ErrUnavailable when the database fails.
func (db *DB) TouchSession(ctx context.Context, id string, lastSeen, idleExpiresAt time.Time) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	// The liveness condition keeps a touch that arrives just after the
	// session expired from reviving it.
	_, err := db.pool.Exec(ctx, `UPDATE sessions SET last_seen_at = $3, idle_expires_at = $4 WHERE id = $1 AND `+live,
		id, db.now(), lastSeen, nullTime(idleExpiresAt))
	if err != nil {
		return fail("touch session", err)
	}
	return nil
}

// SetSessionAuth sets the session's AuthTime and its AMR, bounded as
// CreateSession bounds it. A session that is gone or has expired by
// Config.Now is left alone, and is no error. It returns an error wrapping
// valet.ErrUnavailable when the database fails.
func (db *DB) SetSessionAuth(ctx context.Context, id string, authTime time.Time, amr []string) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	// As in TouchSession, a session that has just expired stays so.
	_, err := db.pool.Exec(ctx, `UPDATE sessions SET auth_time = $3, amr = $4 WHERE id = $1 AND `+live,
		id, db.now(), nullTime(authTime), nonNil(text.AMR(amr)))
	if err != nil {
		return fail("set session auth", err)
	}
	return nil
}

// DeleteSession removes the session with id and reports whether it existed.
// It returns an error wrapping valet.ErrUnavailable when the database fails.
func (db *DB) DeleteSession(ctx context.Context, id string) (bool, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	tag, err := db.pool.Exec(ctx, `DELETE FROM sessions WHERE id = $1`, id)
	if err != nil {
		return false, fail("delete session", err)
	}
	return tag.RowsAffected() > 0, nil
}

// UserSessions returns the user's sessions that have not expired by
// Config.Now, newest first. It returns an error wrapping
// valet.ErrUnavailable when the database fails.
func (db *DB) UserSessions(ctx context.Context, userID string) ([]valet.Session, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	rows, err := db.pool.Query(ctx, `SELECT `+sessionColumns+` FROM sessions
		WHERE user_id = $1 AND `+live+` ORDER BY created_at DESC, id DESC`, userID, db.now())
	if err != nil {
		return nil, fail("user sessions", err)
	}
	defer rows.Close()
	var ss []valet.Session
	for rows.Next() {
		s, err := scanSession(rows)
		if err != nil {
			return nil, fail("user sessions", err)
		}
		ss = append(ss, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fail("user sessions", err)
	}
	return ss, nil
}

// DeleteUserSessions removes every session of the user except the one with
// id except (if not empty), expired ones included, and returns the ids it
// removed. It returns an error wrapping valet.ErrUnavailable when the
// database fails, in which case nothing was removed.
func (db *DB) DeleteUserSessions(ctx context.Context, userID, except string) ([]string, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	rows, err := db.pool.Query(ctx, `DELETE FROM sessions WHERE user_id = $1 AND id <> $2 RETURNING id`, userID, except)
	if err != nil {
		return nil, fail("delete user sessions", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fail("delete user sessions", err)
	}
	return ids, nil
}

func scanSession(row pgx.Row) (valet.Session, error) {
	var (
		s              valet.Session
		mode           string
		idle, authTime *time.Time
	)
	err := row.Scan(&s.ID, &s.UserID, &mode, &s.CreatedAt, &s.LastSeenAt, &s.ExpiresAt, &idle, &s.UserAgent, &s.IP, &s.AMR, &authTime)
	s.Mode = valet.Mode(mode)
	s.CreatedAt, s.LastSeenAt, s.ExpiresAt = s.CreatedAt.UTC(), s.LastSeenAt.UTC(), s.ExpiresAt.UTC()
	s.IdleExpiresAt, s.AuthTime = fromNull(idle), fromNull(authTime)
	if len(s.AMR) == 0 {
		s.AMR = nil
	}
	return s, err
}
