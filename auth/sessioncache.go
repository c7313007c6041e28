package auth

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/session"
)

// sessionCacheTTL is how long a session record read from the store answers
// cookie requests before it is read again. A session that ends is refused
// at once all the same: its id is in the revocation set of every node,
// which every cookie request checks. The bound is for what the set cannot
// tell: a store that lost the record without anyone ending it.
const sessionCacheTTL = 30 * time.Second

// sessionCache holds live session records by id for cookie requests, so
// that a session request reads no store, as a hybrid one reads none: every
// ended session is in the revocation set, which is checked first, and a gap
// in the channel drops every record (see UserWatcher).
type sessionCache struct {
	max      int
	mu       sync.RWMutex
	sessions map[string]cachedSession
}

type cachedSession struct {
	s valet.Session
	// read is when s was read from the store.
	read time.Time
}

func newSessionCache(max int) *sessionCache {
	return &sessionCache{max: max, sessions: make(map[string]cachedSession)}
}

func (c *sessionCache) get(id string) (cachedSession, bool) {
	c.mu.RLock()
	cs, ok := c.sessions[id]
	c.mu.RUnlock()
	return cs, ok
}

func (c *sessionCache) put(cs cachedSession) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.sessions[cs.s.ID]; !ok && len(c.sessions) >= c.max {
		for id := range c.sessions {
			delete(c.sessions, id)
			break
		}
	}
	c.sessions[cs.s.ID] = cs
}

// forget drops session id, or every session when id is "".
func (c *sessionCache) forget(id string) {
	c.mu.Lock()
	if id == "" {
		clear(c.sessions)
	} else {
		delete(c.sessions, id)
	}
	c.mu.Unlock()
}

// cookieSession returns the live session that a cookie value names: from
// memory while the revocation channel is healthy and the record is fresh,
// else from the store. A value with a wrong HMAC is refused before either.
func (s *Service) cookieSession(ctx context.Context, value string) (valet.Session, error) {
	c := s.sessionCache
	if c == nil || !s.watcher.Healthy() {
		return s.sessions.LoadCookie(ctx, value)
	}
	id, err := s.sessions.SessionID(value)
	if err != nil {
		return valet.Session{}, err
	}
	if err := s.revoker.Check(ctx, id); err != nil {
		if errors.Is(err, valet.ErrRevoked) {
			c.forget(id)
			return valet.Session{}, session.ErrNoSession
		}
		return valet.Session{}, err
	}
	now := s.cfg.Now()
	if cs, ok := c.get(id); ok && now.Sub(cs.read) < sessionCacheTTL && !cs.s.Expired(now) {
		sess, err := s.sessions.Touch(ctx, cs.s)
		if err != nil {
			return valet.Session{}, err
		}
		if sess.LastSeenAt != cs.s.LastSeenAt {
			c.put(cachedSession{s: sess, read: cs.read})
		}
		return sess, nil
	}
	sess, err := s.sessions.Load(ctx, id)
	if err != nil {
		if errors.Is(err, session.ErrNoSession) {
			c.forget(id)
		}
		return valet.Session{}, err
	}
	c.put(cachedSession{s: sess, read: now})
	return sess, nil
}
