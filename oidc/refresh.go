package oidc

import (
	"context"
	"slices"
	"sync"
	"time"
)

// RefreshGrant is a family of refresh tokens of one client for one user:
// each use of its current token replaces it by a new one (rotation), and a
// use of any earlier one revokes the family (reuse detection, RFC 9700
// section 4.14.2). Only hashes of its tokens are stored.
type RefreshGrant struct {
	ID        string
	ClientID  string
	UserID    string
	SessionID string
	Scopes    []string
	AMR       []string
	AuthTime  time.Time
	CreatedAt time.Time
	// ExpiresAt is the absolute end of the family.
	ExpiresAt time.Time
}

// RefreshStore keeps refresh-token families. It is a store of its own:
// refresh tokens of clients are never those of valet's first-party API, so
// that one cannot be redeemed as the other. The contract of valet's store
// interfaces holds (err is for system failures only).
type RefreshStore interface {
	// CreateRefreshGrant stores g with the hash of its first token.
	CreateRefreshGrant(ctx context.Context, g RefreshGrant, tokenHash string) error
	// RotateRefreshToken replaces, in one step, the current token of the
	// family whose current token has tokenHash by newHash, and returns the
	// family. found is false when no family of clientID that is live at
	// now has tokenHash as its current token. reused is true, with found
	// false, when tokenHash is an earlier token of a family of clientID:
	// the family is then revoked. Of callers at once with one hash, one
	// rotates it; the others see reused.
	RotateRefreshToken(ctx context.Context, clientID, tokenHash, newHash string, now time.Time) (g RefreshGrant, found, reused bool, err error)
	// RevokeRefreshToken revokes the family of clientID that holds
	// tokenHash, current or earlier. Unknown tokens are no error.
	RevokeRefreshToken(ctx context.Context, clientID, tokenHash string) error
	// RevokeRefreshGrant revokes family id. Unknown ids are no error.
	RevokeRefreshGrant(ctx context.Context, id string) error
}

// MemoryRefreshStore is a RefreshStore in the memory of one process, for
// tests and single-node servers. Families are forgotten when they expire
// (swept as new ones are made) or are revoked.
type MemoryRefreshStore struct {
	mu       sync.Mutex
	families map[string]*memFamily
	// byHash maps every token hash, current or earlier, to its family.
	byHash map[string]string
}

type memFamily struct {
	g       RefreshGrant
	current string
	hashes  []string
}

var _ RefreshStore = (*MemoryRefreshStore)(nil)

// NewMemoryRefreshStore returns an empty MemoryRefreshStore.
func NewMemoryRefreshStore() *MemoryRefreshStore {
	return &MemoryRefreshStore{families: map[string]*memFamily{}, byHash: map[string]string{}}
}

// CreateRefreshGrant stores g with its first token's hash. It never fails.
func (s *MemoryRefreshStore) CreateRefreshGrant(_ context.Context, g RefreshGrant, tokenHash string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for id, f := range s.families {
		if !now.Before(f.g.ExpiresAt) {
			s.dropLocked(id)
		}
	}
	g.Scopes, g.AMR = slices.Clone(g.Scopes), slices.Clone(g.AMR)
	s.families[g.ID] = &memFamily{g: g, current: tokenHash, hashes: []string{tokenHash}}
	s.byHash[tokenHash] = g.ID
	return nil
}

// RotateRefreshToken is RefreshStore.RotateRefreshToken. It never fails.
func (s *MemoryRefreshStore) RotateRefreshToken(_ context.Context, clientID, tokenHash, newHash string, now time.Time) (RefreshGrant, bool, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.byHash[tokenHash]
	if !ok {
		return RefreshGrant{}, false, false, nil
	}
	f := s.families[id]
	if f.g.ClientID != clientID {
		return RefreshGrant{}, false, false, nil
	}
	if f.current != tokenHash {
		s.dropLocked(id)
		return RefreshGrant{}, false, true, nil
	}
	if !now.Before(f.g.ExpiresAt) {
		s.dropLocked(id)
		return RefreshGrant{}, false, false, nil
	}
	f.current = newHash
	f.hashes = append(f.hashes, newHash)
	s.byHash[newHash] = id
	g := f.g
	g.Scopes, g.AMR = slices.Clone(g.Scopes), slices.Clone(g.AMR)
	return g, true, false, nil
}

// RevokeRefreshToken is RefreshStore.RevokeRefreshToken. It never fails.
func (s *MemoryRefreshStore) RevokeRefreshToken(_ context.Context, clientID, tokenHash string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.byHash[tokenHash]; ok && s.families[id].g.ClientID == clientID {
		s.dropLocked(id)
	}
	return nil
}

// RevokeRefreshGrant is RefreshStore.RevokeRefreshGrant. It never fails.
func (s *MemoryRefreshStore) RevokeRefreshGrant(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropLocked(id)
	return nil
}

// dropLocked forgets family id and its hashes. A token of a forgotten
// family is unknown: refused, and no longer detected as reused, which is
// harmless since the family is dead.
func (s *MemoryRefreshStore) dropLocked(id string) {
	f, ok := s.families[id]
	if !ok {
		return
	}
	for _, h := range f.hashes {
		delete(s.byHash, h)
	}
	delete(s.families, id)
}
