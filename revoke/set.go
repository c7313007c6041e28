// Package revoke keeps the set of revoked hybrid-mode sessions in memory on
// every node and broadcasts each revocation to the other nodes.
//
// A hybrid access token names its server session in the sid claim. Checking
// it costs a signature check, a claims check and a lookup of sid in a Set: no
// store round trip. A Node keeps its Set current: it loads the revocations
// recorded in a valet.RevocationStore when it starts and each time its
// Transport reconnects, and it adds every revocation that any node publishes.
// While the Transport has been down for longer than Config.MaxStale, a
// message may have been missed, so Node.Check falls back to asking the
// session store whether the session still exists.
package revoke

import (
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valetauth/valet"
)

// Set is the in-memory revocation set. An entry lives only until its Until,
// after which every token that could name the session has expired anyway,
// so the set stays small: it holds the sessions revoked within the lifetime
// of one access token.
//
// Readers load an immutable map through an atomic pointer, so Revoked takes
// no lock and allocates nothing however many goroutines call it. Writers copy
// the map, which makes Add O(n) in the size of the set; revocations are rare
// next to checks, and the copy drops expired entries on the way.
//
// A Set is safe for concurrent use. The zero Set is not usable; call NewSet.
type Set struct {
	now func() time.Time
	// m is never modified once stored; writers replace it under mu.
	m  atomic.Pointer[map[string]time.Time]
	mu sync.Mutex
}

// NewSet returns an empty Set that reads the time from now (default
// time.Now when now is nil).
func NewSet(now func() time.Time) *Set {
	if now == nil {
		now = time.Now
	}
	s := &Set{now: now}
	empty := map[string]time.Time{}
	s.m.Store(&empty)
	return s
}

// Add records r. An entry for the same session keeps the later Until. A
// revocation with an empty SessionID, or whose Until is not after now, is
// ignored: no token can be refused by it.
func (s *Set) Add(r valet.Revocation) {
	s.addAll([]valet.Revocation{r})
}

// addAll records every revocation in rs with a single copy of the map, so
// that loading a large set from the store is linear, not quadratic.
func (s *Set) addAll(rs []valet.Revocation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	old := *s.m.Load()
	var next map[string]time.Time
	for _, r := range rs {
		if r.SessionID == "" || !r.Until.After(now) {
			continue
		}
		if until, ok := old[r.SessionID]; ok && !r.Until.After(until) {
			continue
		}
		if next == nil {
			// Copying only once something changes keeps a replayed message
			// (every node hears its own publications) from costing a copy.
			next = make(map[string]time.Time, len(old)+len(rs))
			for sid, until := range old {
				if until.After(now) {
					next[sid] = until
				}
			}
		}
		if until, ok := next[r.SessionID]; !ok || r.Until.After(until) {
			next[r.SessionID] = r.Until
		}
	}
	if next != nil {
		s.m.Store(&next)
	}
}

// Revoked reports whether sid has an entry whose Until is after now. It
// returns false for an unknown or empty sid. It takes no lock and does not
// allocate.
func (s *Set) Revoked(sid string) bool {
	until, ok := (*s.m.Load())[sid]
	return ok && s.now().Before(until)
}

// Len returns the number of entries held, including those that expired
// since the last Add or Sweep.
func (s *Set) Len() int {
	return len(*s.m.Load())
}

// Sweep drops the entries whose Until is not after now. It copies the set
// only when something has expired.
func (s *Set) Sweep() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	old := *s.m.Load()
	expired := false
	for _, until := range old {
		if !until.After(now) {
			expired = true
			break
		}
	}
	if !expired {
		return
	}
	next := maps.Clone(old)
	maps.DeleteFunc(next, func(_ string, until time.Time) bool { return !until.After(now) })
	s.m.Store(&next)
}
