package auth

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/revoke"
)

// UserWatcher is the ability of a Revoker to carry the news of changed
// users to every node, so that each may keep users in memory: a session
// request then reads only its session. *revoke.Node implements it.
type UserWatcher interface {
	// UserChanged tells every node, this one included, that user id
	// changed; revoke.AllUsers says that any may have.
	UserChanged(ctx context.Context, id string) error
	// WatchUsers has fn told of every changed user, and told "" whenever
	// news may have been missed.
	WatchUsers(fn func(userID string))
	// Healthy reports whether no news can have been missed: the cache is
	// read only then.
	Healthy() bool
}

// userCache holds users by id, without their password hashes, for session
// requests. It is exact while the watcher is healthy: every change of a
// user on any node drops the user here, and a gap in the news drops every
// user. A user read from the store is kept only if no news arrived while it
// was read, so a change that raced with the read is never hidden.
type userCache struct {
	max   int
	mu    sync.RWMutex
	users map[string]valet.User
	// kinds holds the kinds of second factor of users, for /v1/me, under
	// the same news.
	kinds map[string][]valet.FactorKind
	// epoch counts the news; a read that began in an older epoch is not
	// kept.
	epoch atomic.Uint64
}

func newUserCache(max int) *userCache {
	return &userCache{max: max, users: make(map[string]valet.User), kinds: make(map[string][]valet.FactorKind)}
}

func (c *userCache) get(id string) (valet.User, bool) {
	c.mu.RLock()
	u, ok := c.users[id]
	c.mu.RUnlock()
	return u, ok
}

// put keeps u unless news arrived since epoch. When the cache is full, an
// arbitrary user makes room.
func (c *userCache) put(u valet.User, epoch uint64) {
	u.PasswordHash = ""
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch.Load() != epoch {
		return
	}
	if _, ok := c.users[u.ID]; !ok && len(c.users) >= c.max {
		for id := range c.users {
			delete(c.users, id)
			break
		}
	}
	c.users[u.ID] = u
}

// forget drops user id, or every user when id is "".
func (c *userCache) forget(id string) {
	c.mu.Lock()
	c.epoch.Add(1)
	if id == "" {
		clear(c.users)
		clear(c.kinds)
	} else {
		delete(c.users, id)
		delete(c.kinds, id)
	}
	c.mu.Unlock()
}

func (c *userCache) getKinds(id string) ([]valet.FactorKind, bool) {
	c.mu.RLock()
	k, ok := c.kinds[id]
	c.mu.RUnlock()
	return k, ok
}

// putKinds keeps the factor kinds of user id unless news arrived since
// epoch.
func (c *userCache) putKinds(id string, k []valet.FactorKind, epoch uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch.Load() != epoch {
		return
	}
	if _, ok := c.kinds[id]; !ok && len(c.kinds) >= c.max {
		for id := range c.kinds {
			delete(c.kinds, id)
			break
		}
	}
	c.kinds[id] = k
}

// FactorKinds returns the kinds of the confirmed second factors of user
// id, each once: from the cache while it is exact, else from the store.
func (s *Service) FactorKinds(ctx context.Context, id string) ([]valet.FactorKind, error) {
	if s.cfg.Stores.Factors == nil {
		return []valet.FactorKind{}, nil
	}
	c := s.userCache
	healthy := c != nil && s.watcher.Healthy()
	if healthy {
		if k, ok := c.getKinds(id); ok {
			return k, nil
		}
	}
	var epoch uint64
	if healthy {
		epoch = c.epoch.Load()
	}
	all, err := s.cfg.Stores.Factors.Factors(ctx, id)
	if err != nil {
		return nil, err
	}
	k := []valet.FactorKind{}
	for _, f := range all {
		if f.Confirmed && !slices.Contains(k, f.Kind) {
			k = append(k, f.Kind)
		}
	}
	if healthy {
		c.putKinds(id, k, epoch)
	}
	return k, nil
}

// sessionUser returns the user of a session request: from the cache while
// it is exact, else from the store, kept for the next request.
func (s *Service) sessionUser(ctx context.Context, id string) (valet.User, error) {
	c := s.userCache
	if c == nil || !s.watcher.Healthy() {
		return s.users.UserByID(ctx, id)
	}
	if u, ok := c.get(id); ok {
		return u, nil
	}
	epoch := c.epoch.Load()
	u, err := s.users.UserByID(ctx, id)
	if err != nil {
		return valet.User{}, err
	}
	c.put(u, epoch)
	return u, nil
}

// userChanged tells every node that user id changed, after the change is
// stored. Its error wraps valet.ErrUnavailable when the news could not be
// recorded: the change stands, but the caller must hear that it may not
// have reached every node.
func (s *Service) userChanged(ctx context.Context, id string) error {
	if s.userCache == nil {
		return nil
	}
	if id == revoke.AllUsers {
		s.userCache.forget("")
	} else {
		s.userCache.forget(id)
	}
	if err := s.watcher.UserChanged(ctx, id); err != nil {
		s.log.ErrorContext(ctx, "announcing a changed user failed; other nodes may serve it from their caches until their revocation channel resyncs", "user_id", id, "err", err)
		return err
	}
	return nil
}
