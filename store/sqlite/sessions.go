package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/store/internal/text"
)

const sessionColumns = `id, user_id, mode, created_at, last_seen_at, expires_at, idle_expires_at, user_agent, ip, amr, auth_time`

// live is the condition that a session has not expired at ?1 (see
// valet.Session.Expired: a NULL idle expiry means none).
const live = `expires_at > ?1 AND (idle_expires_at IS NULL OR idle_expires_at > ?1)`

// liveFlag is live as a value: 1 or 0, never NULL.
const liveFlag = `coalesce((` + live + `), 0)`

// sessionQuery is the lookup of every request that presents a session.
const sessionQuery = `SELECT ` + sessionColumns + ` FROM sessions WHERE id = ?2 AND ` + live

func scanSession(sc scanner) (valet.Session, error) {
	var (
		s                                   valet.Session
		mode, amr                           string
		created, lastSeen, expires, idleExp sql.NullInt64
		authTime                            sql.NullInt64
	)
	if err := sc.Scan(&s.ID, &s.UserID, &mode, &created, &lastSeen, &expires, &idleExp, &s.UserAgent, &s.IP, &amr, &authTime); err != nil {
		return valet.Session{}, err
	}
	s.Mode = valet.Mode(mode)
	s.CreatedAt, s.LastSeenAt = timeOf(created), timeOf(lastSeen)
	s.ExpiresAt, s.IdleExpiresAt = timeOf(expires), timeOf(idleExp)
	s.AMR, s.AuthTime = text.SplitAMR(amr), timeOf(authTime)
	return s, nil
}

// CreateSession stores s, its UserAgent and IP made valid UTF-8 without NUL
// bytes and cut to their bounds and its AMR bounded as the other backends
// bound it. It returns an error wrapping
// valet.ErrConflict when a session with s.ID exists and
// valet.ErrUnavailable on failure.
func (db *DB) CreateSession(ctx context.Context, s valet.Session) error {
	s = text.Session(s)
	_, err := db.rw.ExecContext(ctx, `INSERT INTO sessions (`+sessionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.UserID, string(s.Mode), micros(s.CreatedAt), micros(s.LastSeenAt),
		micros(s.ExpiresAt), micros(s.IdleExpiresAt), s.UserAgent, s.IP,
		text.JoinAMR(s.AMR), micros(s.AuthTime))
	if err != nil {
		return db.fail(ctx, "create session", err)
	}
	return nil
}

// Session returns the session with id; found is false when there is none or
// it has expired. It returns an error wrapping valet.ErrUnavailable on
// failure.
func (db *DB) Session(ctx context.Context, id string) (valet.Session, bool, error) {
	if err := ctx.Err(); err != nil {
		return valet.Session{}, false, db.fail(ctx, "session", err)
	}
	// The driver starts a goroutine to watch every cancelable context it is
	// given, which more than doubles the cost of this lookup of a primary
	// key. A read in WAL mode waits for no writer, so the lookup is over in
	// microseconds: checking the context before it is enough.
	s, err := scanSession(db.session.QueryRowContext(context.WithoutCancel(ctx), db.now().UnixMicro(), id))
	if errors.Is(err, sql.ErrNoRows) {
		return valet.Session{}, false, nil
	}
	if err != nil {
		return valet.Session{}, false, db.fail(ctx, "session", err)
	}
	return s, true, nil
}

// TouchSession sets the session's LastSeenAt and IdleExpiresAt. A session
// that is gone or has expired is left alone, and is no error. It returns an
// error wrapping valet.ErrUnavailable on failure.
func (db *DB) TouchSession(ctx context.Context, id string, lastSeen, idleExpiresAt time.Time) error {
	// The condition keeps a touch that arrives just after the session
	// expired from reviving it.
	_, err := db.rw.ExecContext(ctx, `UPDATE sessions SET last_seen_at = ?3, idle_expires_at = ?4 WHERE id = ?2 AND `+live,
		db.now().UnixMicro(), id, micros(lastSeen), micros(idleExpiresAt))
	if err != nil {
		return db.fail(ctx, "touch session", err)
	}
	return nil
}

// SetSessionAuth sets the session's AuthTime and its AMR, bounded as
// CreateSession bounds it. A session that is gone or has expired is left
// alone, and is no error. It returns an error wrapping valet.ErrUnavailable
// on failure.
func (db *DB) SetSessionAuth(ctx context.Context, id string, authTime time.Time, amr []string) error {
	// As in TouchSession, a session that has just expired stays so.
	_, err := db.rw.ExecContext(ctx, `UPDATE sessions SET auth_time = ?3, amr = ?4 WHERE id = ?2 AND `+live,
		db.now().UnixMicro(), id, micros(authTime), text.JoinAMR(text.AMR(amr)))
	if err != nil {
		return db.fail(ctx, "set session auth", err)
	}
	return nil
}

// DeleteSession removes the session with id and reports whether there was
// one that had not expired. It returns an error wrapping
// valet.ErrUnavailable on failure.
func (db *DB) DeleteSession(ctx context.Context, id string) (bool, error) {
	var wasLive bool
	err := db.rw.QueryRowContext(ctx, `DELETE FROM sessions WHERE id = ?2 RETURNING `+liveFlag,
		db.now().UnixMicro(), id).Scan(&wasLive)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, db.fail(ctx, "delete session", err)
	}
	return wasLive, nil
}

// UserSessions returns the user's sessions that have not expired, newest
// first. It returns an error wrapping valet.ErrUnavailable on failure.
func (db *DB) UserSessions(ctx context.Context, userID string) ([]valet.Session, error) {
	rows, err := db.ro.QueryContext(ctx, `SELECT `+sessionColumns+` FROM sessions
		WHERE user_id = ?2 AND `+live+` ORDER BY created_at DESC, id`,
		db.now().UnixMicro(), userID)
	if err != nil {
		return nil, db.fail(ctx, "user sessions", err)
	}
	defer rows.Close()
	var out []valet.Session
	for rows.Next() {
		s, err := scanSession(rows)
		if err != nil {
			return nil, db.fail(ctx, "user sessions", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, db.fail(ctx, "user sessions", err)
	}
	return out, nil
}

// DeleteUserSessions removes every session of the user except the one with
// id except, if that is not empty, and returns the ids of the sessions it
// removed that had not expired. It returns an error wrapping
// valet.ErrUnavailable on failure, having removed none.
func (db *DB) DeleteUserSessions(ctx context.Context, userID, except string) ([]string, error) {
	var removed []string
	err := db.write(ctx, "delete user sessions", func(tx *sql.Tx) error {
		removed = nil
		rows, err := tx.QueryContext(ctx, `DELETE FROM sessions WHERE user_id = ?2 AND id <> ?3 RETURNING id, `+liveFlag,
			db.now().UnixMicro(), userID, except)
		if err != nil {
			return db.fail(ctx, "delete user sessions", err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				id      string
				wasLive bool
			)
			if err := rows.Scan(&id, &wasLive); err != nil {
				return db.fail(ctx, "delete user sessions", err)
			}
			if wasLive {
				removed = append(removed, id)
			}
		}
		if err := rows.Err(); err != nil {
			return db.fail(ctx, "delete user sessions", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return removed, nil
}
