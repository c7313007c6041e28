package memory

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/valetauth/valet"
)

// storedFamily is a client's refresh family with its token hashes, the
// current one last.
type storedFamily struct {
	f      valet.ClientRefresh
	hashes []string
}

func (f *storedFamily) current() string { return f.hashes[len(f.hashes)-1] }

func cloneRefresh(f valet.ClientRefresh) valet.ClientRefresh {
	f.Scopes, f.AMR = slices.Clone(f.Scopes), slices.Clone(f.AMR)
	return f
}

// dropFamilyLocked forgets family id and its hashes; cb.mu is held. A token
// of a forgotten family is unknown: refused, and no longer told apart as
// reused, which is harmless since the family is dead.
func (cb *clients) dropFamilyLocked(id string) {
	f, ok := cb.families[id]
	if !ok {
		return
	}
	for _, h := range f.hashes {
		delete(cb.byHash, h)
	}
	delete(cb.families, id)
}

// CreateClientRefresh stores f with its first token's hash. It returns an
// error wrapping valet.ErrNotFound when f.UserID names no user or
// f.ClientID no client, and valet.ErrConflict when the id or the hash is
// taken.
func (s *Store) CreateClientRefresh(ctx context.Context, f valet.ClientRefresh, tokenHash string) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	s.umu.RLock()
	defer s.umu.RUnlock()
	cb := s.clientbox()
	cb.mu.Lock()
	defer cb.mu.Unlock()
	if err := s.ownersLocked(cb, "create client refresh", f.UserID, f.ClientID); err != nil {
		return err
	}
	if _, ok := cb.families[f.ID]; ok {
		return fmt.Errorf("memory: client refresh id is taken: %w", valet.ErrConflict)
	}
	if _, ok := cb.byHash[tokenHash]; ok {
		return fmt.Errorf("memory: client refresh hash is taken: %w", valet.ErrConflict)
	}
	cb.families[f.ID] = &storedFamily{f: cloneRefresh(f), hashes: []string{tokenHash}}
	cb.byHash[tokenHash] = f.ID
	cb.wroteLocked(s.now)
	return nil
}

// RotateClientRefresh is valet.ClientStore.RotateClientRefresh, under the
// clients' lock.
func (s *Store) RotateClientRefresh(ctx context.Context, clientID, tokenHash, newHash string, now time.Time) (valet.ClientRefresh, bool, bool, error) {
	if err := ctxErr(ctx); err != nil {
		return valet.ClientRefresh{}, false, false, err
	}
	cb := s.clientbox()
	cb.mu.Lock()
	defer cb.mu.Unlock()
	id, ok := cb.byHash[tokenHash]
	if !ok {
		return valet.ClientRefresh{}, false, false, nil
	}
	f := cb.families[id]
	switch {
	case f.f.ClientID != clientID:
		return valet.ClientRefresh{}, false, false, nil
	case f.current() != tokenHash:
		cb.dropFamilyLocked(id)
		return valet.ClientRefresh{}, false, true, nil
	case !now.Before(f.f.ExpiresAt):
		cb.dropFamilyLocked(id)
		return valet.ClientRefresh{}, false, false, nil
	}
	if _, taken := cb.byHash[newHash]; taken {
		return valet.ClientRefresh{}, false, false, fmt.Errorf("memory: client refresh hash is taken: %w", valet.ErrConflict)
	}
	f.hashes = append(f.hashes, newHash)
	cb.byHash[newHash] = id
	return cloneRefresh(f.f), true, false, nil
}

// RevokeClientRefreshToken revokes the family of clientID that holds
// tokenHash, current or earlier.
func (s *Store) RevokeClientRefreshToken(ctx context.Context, clientID, tokenHash string) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	cb := s.clientbox()
	cb.mu.Lock()
	defer cb.mu.Unlock()
	if id, ok := cb.byHash[tokenHash]; ok && cb.families[id].f.ClientID == clientID {
		cb.dropFamilyLocked(id)
	}
	return nil
}

// RevokeClientRefreshes revokes the families that f selects and returns
// how many there were.
func (s *Store) RevokeClientRefreshes(ctx context.Context, f valet.ClientRefreshFilter) (int, error) {
	if err := ctxErr(ctx); err != nil {
		return 0, err
	}
	cb := s.clientbox()
	cb.mu.Lock()
	defer cb.mu.Unlock()
	n := 0
	for id, sf := range cb.families {
		if f.Match(&sf.f) {
			cb.dropFamilyLocked(id)
			n++
		}
	}
	return n, nil
}
