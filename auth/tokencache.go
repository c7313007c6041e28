package auth

import (
	"crypto/sha256"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/valetauth/valet/token"
)

// tokenCacheTTL bounds how long a verified token is taken on trust without
// its signature being checked again. It is the interval at which a server
// reloads its signing keys, so a key that is deleted stops verifying at
// most that much later than it would without the cache.
const tokenCacheTTL = time.Minute

// tokenCache remembers access tokens whose signature and claims have been
// verified, so that a client presenting the same token again, as every
// client does for the token's whole life, costs a hash and a map lookup
// instead of a signature verification (which is most of the cost of a token
// request). Tokens are keyed by their SHA-256, so the cache holds no
// credential. An entry lives until the token expires (with the leeway) or
// tokenCacheTTL, whichever is sooner; the hybrid revocation check is not
// cached and still runs on every request. It is safe for concurrent use.
type tokenCache struct {
	mu      sync.RWMutex
	entries map[[sha256.Size]byte]cachedToken
	max     int
	// refused remembers, apart, tokens refused for good (a bad signature,
	// an expired exp, a malformed token), so that one replayed costs what
	// a valid one does, and a flood of them cannot push valid ones out.
	refused map[[sha256.Size]byte]refusedToken
}

type refusedToken struct {
	err   error
	until time.Time
}

// refusedMax bounds the refused tokens remembered.
const refusedMax = 4096

type cachedToken struct {
	claims token.Claims
	until  time.Time
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{entries: make(map[[sha256.Size]byte]cachedToken), max: max,
		refused: make(map[[sha256.Size]byte]refusedToken)}
}

// get returns the claims of tok if it was verified and its entry is still
// good at now.
func (c *tokenCache) get(key [sha256.Size]byte, now time.Time) (token.Claims, bool) {
	c.mu.RLock()
	e, ok := c.entries[key]
	c.mu.RUnlock()
	if !ok || !now.Before(e.until) {
		return token.Claims{}, false
	}
	// The caller may keep and change what it gets; the cache's copy must
	// stay as verified.
	cl := e.claims
	cl.Audience, cl.Roles = slices.Clone(cl.Audience), slices.Clone(cl.Roles)
	return cl, true
}

// put remembers claims, verified at now, until the token expires with
// leeway or for tokenCacheTTL. When the cache is full it first drops the
// entries that have run out and then, if none had, an arbitrary half.
func (c *tokenCache) put(key [sha256.Size]byte, cl token.Claims, now time.Time, leeway time.Duration) {
	until := time.Unix(cl.ExpiresAt, 0).Add(leeway)
	if ttl := now.Add(tokenCacheTTL); ttl.Before(until) {
		until = ttl
	}
	cl.Audience, cl.Roles = slices.Clone(cl.Audience), slices.Clone(cl.Roles)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		for k, e := range c.entries {
			if !now.Before(e.until) {
				delete(c.entries, k)
			}
		}
		// Map iteration order is random, so this drops a random half.
		for k := range c.entries {
			if len(c.entries) < c.max/2 {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[key] = cachedToken{claims: cl, until: until}
}

// refusal returns the error a token was refused with, if it was refused
// for good less than tokenCacheTTL before now.
func (c *tokenCache) refusal(key [sha256.Size]byte, now time.Time) (error, bool) {
	c.mu.RLock()
	r, ok := c.refused[key]
	c.mu.RUnlock()
	if !ok || !now.Before(r.until) {
		return nil, false
	}
	return r.err, true
}

// refuse remembers that a token was refused with err, when no later check
// could accept it: an unknown key may be a new one, and a token that is not
// valid yet will be, so those are checked again.
func (c *tokenCache) refuse(key [sha256.Size]byte, err error, now time.Time) {
	if errors.Is(err, token.ErrUnknownKey) || errors.Is(err, token.ErrNotYetValid) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.refused) >= refusedMax {
		// Map iteration order is random, so this drops a random half.
		for k := range c.refused {
			if len(c.refused) < refusedMax/2 {
				break
			}
			delete(c.refused, k)
		}
	}
	c.refused[key] = refusedToken{err: err, until: now.Add(tokenCacheTTL)}
}

// verify checks an access token's signature and claims, or finds that it
// did so less than tokenCacheTTL ago, with either outcome.
func (s *Service) verify(tok string, c *token.Claims) error {
	// A token longer than any the server issues is left to the verifier,
	// which refuses it; it is never copied into a pooled buffer.
	if s.tokens == nil || len(tok) > token.DefaultMaxSize {
		return s.verifier.Verify(tok, c)
	}
	key := tokenKey(tok)
	now := s.cfg.Now()
	if cl, ok := s.tokens.get(key, now); ok {
		*c = cl
		return nil
	}
	if err, ok := s.tokens.refusal(key, now); ok {
		return err
	}
	if err := s.verifier.Verify(tok, c); err != nil {
		s.tokens.refuse(key, err, now)
		return err
	}
	s.tokens.put(key, *c, now, s.cfg.Leeway)
	return nil
}

// keyBuffers hold a token's bytes while it is hashed: converting the string
// would allocate on every request, tokens being longer than the compiler's
// stack buffer for such conversions.
var keyBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// tokenKey returns the SHA-256 of tok.
func tokenKey(tok string) [sha256.Size]byte {
	bp := keyBuffers.Get().(*[]byte)
	b := append((*bp)[:0], tok...)
	key := sha256.Sum256(b)
	// The pool must not keep a credential once the hash is taken.
	clear(b)
	*bp = b[:0]
	keyBuffers.Put(bp)
	return key
}
