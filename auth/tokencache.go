package auth

import (
	"errors"
	"slices"
	"time"

	"github.com/valetauth/valet/internal/credmemo"
	"github.com/valetauth/valet/token"
)

// tokenCacheTTL bounds how long a verified token is taken on trust without
// its signature being checked again. It is the interval at which a server
// reloads its signing keys, so a key that is deleted stops verifying at
// most that much later than it would without the cache.
const tokenCacheTTL = time.Minute

// tokenCache remembers access tokens whose signature and claims have been
// verified, so that a client presenting the same token again, as every
// client does for the token's whole life, costs a hash and a comparison
// instead of a signature verification (which is most of the cost of a token
// request). A token is found only by its exact bytes (see package
// credmemo). An entry lives until the token expires (with the leeway) or
// tokenCacheTTL, whichever is sooner; the hybrid revocation check is not
// cached and still runs on every request. It is safe for concurrent use.
type tokenCache struct {
	entries *credmemo.Memo[token.Claims]
	// refused remembers, apart, tokens refused for good (a bad signature,
	// an expired exp, a malformed token), so that one replayed costs what
	// a valid one does, and a flood of them cannot push valid ones out.
	refused *credmemo.Memo[error]
}

// refusedMax bounds the refused tokens remembered.
const refusedMax = 4096

func newTokenCache(max int) *tokenCache {
	return &tokenCache{entries: credmemo.New[token.Claims](max), refused: credmemo.New[error](refusedMax)}
}

// get returns the claims of tok if it was verified and its entry is still
// good at now. Their slices are the cache's, which must stay as verified:
// the caller copies what it hands on.
func (c *tokenCache) get(tok string, now time.Time) (token.Claims, bool) {
	return c.entries.Get(tok, now)
}

// put remembers the claims of tok, verified at now, until the token
// expires with leeway or for tokenCacheTTL.
func (c *tokenCache) put(tok string, cl token.Claims, now time.Time, leeway time.Duration) {
	until := time.Unix(cl.ExpiresAt, 0).Add(leeway)
	if ttl := now.Add(tokenCacheTTL); ttl.Before(until) {
		until = ttl
	}
	// The caller keeps cl's slices; the cache keeps its own.
	c.entries.Put(tok, ownSlices(cl), until, now)
}

// refusal returns the error tok was refused with, if it was refused for
// good less than tokenCacheTTL before now.
func (c *tokenCache) refusal(tok string, now time.Time) (error, bool) {
	return c.refused.Get(tok, now)
}

// refuse remembers that tok was refused with err, when no later check
// could accept it: an unknown key may be a new one, and a token that is not
// valid yet will be, so those are checked again.
func (c *tokenCache) refuse(tok string, err error, now time.Time) {
	if errors.Is(err, token.ErrUnknownKey) || errors.Is(err, token.ErrNotYetValid) {
		return
	}
	c.refused.Put(tok, err, now.Add(tokenCacheTTL), now)
}

// ownSlices returns cl with copies of its slices, so that what one holder
// of claims does to them cannot change another's.
func ownSlices(cl token.Claims) token.Claims {
	cl.Audience, cl.Roles, cl.AMR, cl.Events = slices.Clone(cl.Audience), slices.Clone(cl.Roles), slices.Clone(cl.AMR), slices.Clone(cl.Events)
	return cl
}

// verify checks an access token's signature and claims, or finds that it
// did so less than tokenCacheTTL ago, with either outcome. The slices of
// the claims it sets c to may be the token cache's: the caller must not
// change them, and copies what it hands on.
func (s *Service) verify(tok string, c *token.Claims) error {
	// A token longer than any the server issues is left to the verifier,
	// which refuses it; it is never remembered.
	if s.tokens == nil || len(tok) > token.DefaultMaxSize {
		return s.verifier.Verify(tok, c)
	}
	now := s.cfg.Now()
	if cl, ok := s.tokens.get(tok, now); ok {
		*c = cl
		return nil
	}
	if err, ok := s.tokens.refusal(tok, now); ok {
		return err
	}
	if err := s.verifier.Verify(tok, c); err != nil {
		s.tokens.refuse(tok, err, now)
		return err
	}
	s.tokens.put(tok, *c, now, s.cfg.Leeway)
	return nil
}
