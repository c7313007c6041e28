package redis

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/store/internal/text"
)

// Fields of a session hash.
const (
	fUser      = "u"
	fMode      = "m"
	fCreated   = "c"
	fLastSeen  = "l"
	fExpires   = "e"
	fIdle      = "i"
	fUserAgent = "ua"
	fIP        = "ip"
	fAMR       = "am" // the methods, joined by commas
	fAuthTime  = "at"
)

// createSession stores a session hash that expires with the session and
// indexes it under its user, keeping the index alive as long as the
// session's absolute expiry.
//
//	KEYS: session, user index
//	ARGV: session expiry (ms), absolute expiry (ms), score, id, field, value, ...
var createSession = goredis.NewScript(luaHelpers + `
if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
extend(KEYS[2], ARGV[2])
return 1
`)

// touchSession updates a session's last-seen and idle expiry and moves its
// key's expiry to the earlier of the absolute and the new idle expiry. A
// session that is gone stays gone.
//
//	KEYS: session
//	ARGV: last seen (ns), idle expiry (ns or empty)
var touchSession = goredis.NewScript(luaHelpers + `
local e = redis.call('HGET', KEYS[1], 'e')
if not e then return 0 end
redis.call('HSET', KEYS[1], 'l', ARGV[1], 'i', ARGV[2])
local at = ms(e)
if ARGV[2] ~= '' then at = math.min(at, ms(ARGV[2])) end
redis.call('PEXPIREAT', KEYS[1], at)
return 1
`)

// setSessionAuth sets a session's authentication time and methods. A
// session that is gone stays gone: HSET on a missing key would create it.
//
//	KEYS: session
//	ARGV: auth time (ns or empty), methods
var setSessionAuth = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'at', ARGV[1], 'am', ARGV[2])
return 1
`)

// deleteSession removes a session and its index entry.
//
//	KEYS: session
//	ARGV: prefix, id
var deleteSession = goredis.NewScript(`
local u = redis.call('HGET', KEYS[1], 'u')
if not u then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', ARGV[1] .. 'u:' .. u .. ':s', ARGV[2])
return 1
`)

// deleteUserSessions removes every session in a user's index but one and
// returns the ids of those that still existed.
//
//	KEYS: user index
//	ARGV: prefix, id to keep (or empty)
var deleteUserSessions = goredis.NewScript(`
local removed = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
	if id ~= ARGV[2] then
		if redis.call('DEL', ARGV[1] .. 's:' .. id) == 1 then
			table.insert(removed, id)
		end
		redis.call('ZREM', KEYS[1], id)
	end
end
return removed
`)

// CreateSession stores sess with a time to live that ends at sess.Expiry(),
// its UserAgent and IP made valid UTF-8 without NUL bytes and cut to their
// bounds and its AMR bounded, as the other backends store them. It returns an error wrapping
// valet.ErrConflict when sess.ID exists and valet.ErrUnavailable when Redis
// fails.
func (s *Store) CreateSession(ctx context.Context, sess valet.Session) error {
	sess = text.Session(sess)
	args := []any{
		expireAt(sess.Expiry()), expireAt(sess.ExpiresAt), sess.CreatedAt.UnixMilli(), sess.ID,
		fUser, sess.UserID,
		fMode, string(sess.Mode),
		fCreated, encTime(sess.CreatedAt),
		fLastSeen, encTime(sess.LastSeenAt),
		fExpires, encTime(sess.ExpiresAt),
		fIdle, encTime(sess.IdleExpiresAt),
		fUserAgent, sess.UserAgent,
		fIP, sess.IP,
		fAMR, text.JoinAMR(sess.AMR),
		fAuthTime, encTime(sess.AuthTime),
	}
	keys := []string{s.sessionKey(sess.ID), s.userSessionsKey(sess.UserID)}
	n, err := createSession.Run(ctx, s.client, keys, args...).Int()
	if err != nil {
		return fail("create session", err)
	}
	if n == errConflict {
		return fmt.Errorf("redis: create session: %w", valet.ErrConflict)
	}
	return nil
}

// Session returns the session with id. found is false, with a nil error,
// when there is none or it has expired by Config.Now. It returns an error
// wrapping valet.ErrUnavailable when Redis fails or the record is
// malformed.
func (s *Store) Session(ctx context.Context, id string) (valet.Session, bool, error) {
	m, err := s.client.HGetAll(ctx, s.sessionKey(id)).Result()
	if err != nil {
		return valet.Session{}, false, fail("session", err)
	}
	if len(m) == 0 {
		return valet.Session{}, false, nil
	}
	sess, err := decodeSession(id, m)
	if err != nil {
		return valet.Session{}, false, fail("session", err)
	}
	if sess.Expired(s.now()) {
		return valet.Session{}, false, nil
	}
	return sess, true, nil
}

// TouchSession records that the session was seen at lastSeen and moves its
// idle expiry, and the key's time to live with it, to idleExpiresAt. A
// session that is gone is no error. It returns an error wrapping
// valet.ErrUnavailable when Redis fails.
func (s *Store) TouchSession(ctx context.Context, id string, lastSeen, idleExpiresAt time.Time) error {
	err := touchSession.Run(ctx, s.client, []string{s.sessionKey(id)},
		encTime(lastSeen), encTime(idleExpiresAt)).Err()
	if err != nil {
		return fail("touch session", err)
	}
	return nil
}

// SetSessionAuth sets the session's AuthTime and its AMR, bounded as
// CreateSession bounds it, leaving the key's time to live as it is. A
// session that is gone is no error. It returns an error wrapping
// valet.ErrUnavailable when Redis fails.
func (s *Store) SetSessionAuth(ctx context.Context, id string, authTime time.Time, amr []string) error {
	err := setSessionAuth.Run(ctx, s.client, []string{s.sessionKey(id)},
		encTime(authTime), text.JoinAMR(text.AMR(amr))).Err()
	if err != nil {
		return fail("set session auth", err)
	}
	return nil
}

// DeleteSession removes the session with id and reports whether it existed.
// It returns an error wrapping valet.ErrUnavailable when Redis fails.
func (s *Store) DeleteSession(ctx context.Context, id string) (bool, error) {
	n, err := deleteSession.Run(ctx, s.client, []string{s.sessionKey(id)}, s.prefix, id).Int()
	if err != nil {
		return false, fail("delete session", err)
	}
	return n == 1, nil
}

// UserSessions returns the user's sessions that have not expired by
// Config.Now, newest first, and prunes the index entries of sessions that
// Redis has expired. It returns an error wrapping valet.ErrUnavailable when
// Redis fails.
func (s *Store) UserSessions(ctx context.Context, userID string) ([]valet.Session, error) {
	index := s.userSessionsKey(userID)
	ids, err := s.client.ZRangeArgs(ctx, goredis.ZRangeArgs{Key: index, Start: 0, Stop: -1, Rev: true}).Result()
	if err != nil {
		return nil, fail("user sessions", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	cmds := make([]*goredis.MapStringStringCmd, len(ids))
	_, err = s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, s.sessionKey(id))
		}
		return nil
	})
	if err != nil {
		return nil, fail("user sessions", err)
	}
	now := s.now()
	var (
		sessions []valet.Session
		gone     []any
	)
	for i, cmd := range cmds {
		m := cmd.Val()
		if len(m) == 0 {
			// A session is written together with its index entry and deleted
			// together with it, so a missing hash means Redis expired it.
			gone = append(gone, ids[i])
			continue
		}
		sess, err := decodeSession(ids[i], m)
		if err != nil {
			return nil, fail("user sessions", err)
		}
		if !sess.Expired(now) {
			sessions = append(sessions, sess)
		}
	}
	if len(gone) > 0 {
		if err := s.client.ZRem(ctx, index, gone...).Err(); err != nil {
			return nil, fail("user sessions", err)
		}
	}
	// The index orders by creation time to the millisecond; the records
	// know it to the nanosecond.
	slices.SortStableFunc(sessions, func(a, b valet.Session) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), cmp.Compare(b.ID, a.ID))
	})
	return sessions, nil
}

// DeleteUserSessions removes every session of the user except the one with
// id except (if not empty), and returns the ids of those it removed. It runs
// as one script, so a session created meanwhile is either removed and
// reported or kept. It returns an error wrapping valet.ErrUnavailable when
// Redis fails.
func (s *Store) DeleteUserSessions(ctx context.Context, userID, except string) ([]string, error) {
	ids, err := deleteUserSessions.Run(ctx, s.client, []string{s.userSessionsKey(userID)}, s.prefix, except).StringSlice()
	if err != nil {
		return nil, fail("delete user sessions", err)
	}
	return ids, nil
}

func decodeSession(id string, m map[string]string) (valet.Session, error) {
	sess := valet.Session{
		ID:        id,
		UserID:    m[fUser],
		Mode:      valet.Mode(m[fMode]),
		UserAgent: m[fUserAgent],
		IP:        m[fIP],
		// A session stored before the methods were recorded has neither
		// field, and reads as one without them.
		AMR: text.SplitAMR(m[fAMR]),
	}
	var err error
	for _, f := range []struct {
		field string
		dst   *time.Time
	}{
		{fCreated, &sess.CreatedAt},
		{fLastSeen, &sess.LastSeenAt},
		{fExpires, &sess.ExpiresAt},
		{fIdle, &sess.IdleExpiresAt},
		{fAuthTime, &sess.AuthTime},
	} {
		if *f.dst, err = decTime(m[f.field]); err != nil {
			return valet.Session{}, fmt.Errorf("session field %s: %w", f.field, err)
		}
	}
	return sess, nil
}
