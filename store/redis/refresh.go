package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/valetauth/valet"
)

// Fields of a refresh family hash.
const (
	fSession    = "s"
	fGeneration = "g"
	fRotated    = "r"
	fSuccessor  = "n"
	fRevoked    = "v"
	// fUser, fCreated, fExpires and fIdle are shared with sessions.
)

// createFamily stores a family and its first token hash, both expiring at
// the family's absolute expiry, and indexes the family under its user and
// its session.
//
//	KEYS: family, token, user index, session index (or the user index again)
//	ARGV: expiry (ms), token value, family id, field, value, ...
var createFamily = goredis.NewScript(luaHelpers + `
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2], 'PXAT', ARGV[1])
for i = 3, 4 do
	redis.call('SADD', KEYS[i], ARGV[3])
	extend(KEYS[i], ARGV[1])
end
return 1
`)

// advanceFamily moves a family from one generation to the next and records
// the new token's hash, if the family is at that generation, not revoked
// and not past its absolute expiry.
//
//	KEYS: family, new token
//	ARGV: from, to, successor, now (ns), idle expiry (ns), family id
var advanceFamily = goredis.NewScript(luaHelpers + `
local f = redis.call('HMGET', KEYS[1], 'g', 'v', 'e')
if not f[1] or f[1] ~= ARGV[1] or f[2] == '1' or not before(ARGV[4], f[3]) then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
redis.call('HSET', KEYS[1], 'g', ARGV[2], 'n', ARGV[3], 'r', ARGV[4], 'i', ARGV[5])
redis.call('SET', KEYS[2], ARGV[2] .. ':' .. ARGV[6])
local at = redis.call('PEXPIRETIME', KEYS[1])
if at > 0 then redis.call('PEXPIREAT', KEYS[2], at) end
return 1
`)

// revokeFamily marks a family revoked if it exists.
//
//	KEYS: family
var revokeFamily = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'v', '1')
return 1
`)

// revokeFamilies marks revoked every family in an index that matches a user
// and a session (an empty one matches all), and prunes the index entries of
// families that Redis has expired.
//
//	KEYS: index
//	ARGV: prefix, user id, session id
var revokeFamilies = goredis.NewScript(`
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
	local key = ARGV[1] .. 'rf:' .. id
	local f = redis.call('HMGET', key, 'u', 's')
	if not f[1] then
		redis.call('SREM', KEYS[1], id)
	elseif (ARGV[2] == '' or f[1] == ARGV[2]) and (ARGV[3] == '' or f[2] == ARGV[3]) then
		redis.call('HSET', key, 'v', '1')
	end
end
return 0
`)

// CreateRefreshFamily stores f and tokenHash as its token at f.Generation,
// all expiring at f.ExpiresAt. It returns an error wrapping
// valet.ErrConflict when the family id or the token hash exists, and
// valet.ErrUnavailable when Redis fails.
func (s *Store) CreateRefreshFamily(ctx context.Context, f valet.RefreshFamily, tokenHash string) error {
	sessionIndex := s.userFamiliesKey(f.UserID)
	if f.SessionID != "" {
		sessionIndex = s.sessionFamiliesKey(f.SessionID)
	}
	keys := []string{s.familyKey(f.ID), s.tokenKey(tokenHash), s.userFamiliesKey(f.UserID), sessionIndex}
	revoked := "0"
	if f.Revoked {
		revoked = "1"
	}
	n, err := createFamily.Run(ctx, s.client, keys,
		expireAt(f.ExpiresAt), tokenValue(f.Generation, f.ID), f.ID,
		fUser, f.UserID,
		fSession, f.SessionID,
		fGeneration, strconv.Itoa(f.Generation),
		fRotated, encTime(f.RotatedAt),
		fSuccessor, f.Successor,
		fCreated, encTime(f.CreatedAt),
		fExpires, encTime(f.ExpiresAt),
		fIdle, encTime(f.IdleExpiresAt),
		fRevoked, revoked,
	).Int()
	if err != nil {
		return fail("create refresh family", err)
	}
	if n == errConflict {
		return fmt.Errorf("redis: create refresh family: %w", valet.ErrConflict)
	}
	return nil
}

// RefreshByToken returns the family that the token with tokenHash belongs to
// and the generation the token was issued at. found is false, with a nil
// error, when the hash is unknown or its family has passed its absolute
// expiry by Config.Now; a revoked family is returned with Revoked set. It
// returns an error wrapping valet.ErrUnavailable when Redis fails or a
// record is malformed.
func (s *Store) RefreshByToken(ctx context.Context, tokenHash string) (valet.RefreshFamily, int, bool, error) {
	v, err := s.client.Get(ctx, s.tokenKey(tokenHash)).Result()
	if errors.Is(err, goredis.Nil) {
		return valet.RefreshFamily{}, 0, false, nil
	}
	if err != nil {
		return valet.RefreshFamily{}, 0, false, fail("refresh by token", err)
	}
	genStr, id, ok := strings.Cut(v, ":")
	gen, err := strconv.Atoi(genStr)
	if !ok || err != nil {
		return valet.RefreshFamily{}, 0, false, fail("refresh by token", errors.New("malformed token record"))
	}
	m, err := s.client.HGetAll(ctx, s.familyKey(id)).Result()
	if err != nil {
		return valet.RefreshFamily{}, 0, false, fail("refresh by token", err)
	}
	if len(m) == 0 {
		return valet.RefreshFamily{}, 0, false, nil
	}
	f, err := decodeFamily(id, m)
	if err != nil {
		return valet.RefreshFamily{}, 0, false, fail("refresh by token", err)
	}
	if !s.now().Before(f.ExpiresAt) {
		return valet.RefreshFamily{}, 0, false, nil
	}
	return f, gen, true, nil
}

// AdvanceRefreshFamily moves family id from generation from to from+1 in
// one script: it records newHash at from+1 and sets Successor, RotatedAt=now
// and IdleExpiresAt. It returns false, changing nothing, when the family is
// not at generation from, is revoked, has passed its absolute expiry at now,
// or is gone. It returns an error wrapping valet.ErrConflict when newHash is
// stored already and valet.ErrUnavailable when Redis fails.
func (s *Store) AdvanceRefreshFamily(ctx context.Context, id string, from int, newHash string, successor []byte, now, idleExpiresAt time.Time) (bool, error) {
	n, err := advanceFamily.Run(ctx, s.client, []string{s.familyKey(id), s.tokenKey(newHash)},
		strconv.Itoa(from), strconv.Itoa(from+1), successor, encTime(now), encTime(idleExpiresAt), id).Int()
	if err != nil {
		return false, fail("advance refresh family", err)
	}
	if n == errConflict {
		return false, fmt.Errorf("redis: advance refresh family: %w", valet.ErrConflict)
	}
	return n == 1, nil
}

// RevokeRefreshFamily marks the family with id revoked. Unknown ids are no
// error. It returns an error wrapping valet.ErrUnavailable when Redis fails.
func (s *Store) RevokeRefreshFamily(ctx context.Context, id string) error {
	if err := revokeFamily.Run(ctx, s.client, []string{s.familyKey(id)}).Err(); err != nil {
		return fail("revoke refresh family", err)
	}
	return nil
}

// RevokeRefreshFamilies marks revoked every family of userID, or only those
// bound to sessionID when it is not empty. With both empty it does nothing.
// It returns an error wrapping valet.ErrUnavailable when Redis fails.
func (s *Store) RevokeRefreshFamilies(ctx context.Context, userID, sessionID string) error {
	var index string
	switch {
	case sessionID != "":
		index = s.sessionFamiliesKey(sessionID)
	case userID != "":
		index = s.userFamiliesKey(userID)
	default:
		return nil
	}
	if err := revokeFamilies.Run(ctx, s.client, []string{index}, s.prefix, userID, sessionID).Err(); err != nil {
		return fail("revoke refresh families", err)
	}
	return nil
}

func tokenValue(gen int, familyID string) string {
	return strconv.Itoa(gen) + ":" + familyID
}

func decodeFamily(id string, m map[string]string) (valet.RefreshFamily, error) {
	f := valet.RefreshFamily{
		ID:        id,
		UserID:    m[fUser],
		SessionID: m[fSession],
		Revoked:   m[fRevoked] == "1",
	}
	if v := m[fSuccessor]; v != "" {
		f.Successor = []byte(v)
	}
	var err error
	if f.Generation, err = strconv.Atoi(m[fGeneration]); err != nil {
		return valet.RefreshFamily{}, fmt.Errorf("family field %s: %w", fGeneration, err)
	}
	for _, t := range []struct {
		field string
		dst   *time.Time
	}{
		{fRotated, &f.RotatedAt},
		{fCreated, &f.CreatedAt},
		{fExpires, &f.ExpiresAt},
		{fIdle, &f.IdleExpiresAt},
	} {
		if *t.dst, err = decTime(m[t.field]); err != nil {
			return valet.RefreshFamily{}, fmt.Errorf("family field %s: %w", t.field, err)
		}
	}
	return f, nil
}
