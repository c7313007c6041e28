package oidc_test

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/valetauth/valet"
)

// memClients is a small valet.ClientStore for the tests.
type memClients struct {
	mu       sync.Mutex
	clients  map[string]valet.Client
	codes    map[string]valet.AuthCode
	taken    map[string]time.Time
	consents map[[2]string]valet.Consent
	grants   map[string][]valet.ClientGrant
	// refresh holds the refresh families, each with its token hashes, the
	// current one last; a revoked family is removed.
	refresh []*testFamily
}

type testFamily struct {
	f      valet.ClientRefresh
	hashes []string
}

var _ valet.ClientStore = (*memClients)(nil)

func newMemClients() *memClients {
	return &memClients{
		clients: map[string]valet.Client{}, codes: map[string]valet.AuthCode{}, taken: map[string]time.Time{},
		consents: map[[2]string]valet.Consent{}, grants: map[string][]valet.ClientGrant{},
	}
}

func (s *memClients) CreateClient(_ context.Context, c valet.Client) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[c.ID]; ok {
		return valet.ErrConflict
	}
	s.clients[c.ID] = c
	return nil
}

func (s *memClients) ClientByID(_ context.Context, id string) (valet.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	if !ok {
		return valet.Client{}, valet.ErrNotFound
	}
	return c, nil
}

func (s *memClients) Clients(context.Context) ([]valet.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []valet.Client
	for _, c := range s.clients {
		out = append(out, c)
	}
	return out, nil
}

func (s *memClients) DeleteClient(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[id]; !ok {
		return valet.ErrNotFound
	}
	delete(s.clients, id)
	return nil
}

func (s *memClients) CreateAuthCode(_ context.Context, c valet.AuthCode) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.codes[c.Hash]; ok {
		return valet.ErrConflict
	}
	s.codes[c.Hash] = c
	return nil
}

func (s *memClients) TakeAuthCode(_ context.Context, hash string, now time.Time) (valet.AuthCode, bool, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if exp, ok := s.taken[hash]; ok && now.Before(exp) {
		return valet.AuthCode{}, false, true, nil
	}
	c, ok := s.codes[hash]
	if !ok || !now.Before(c.ExpiresAt) {
		return valet.AuthCode{}, false, false, nil
	}
	delete(s.codes, hash)
	s.taken[hash] = c.ExpiresAt
	return c, true, false, nil
}

func (s *memClients) SetConsent(_ context.Context, c valet.Consent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.consents[[2]string{c.UserID, c.ClientID}] = c
	return nil
}

func (s *memClients) Consent(_ context.Context, userID, clientID string) (valet.Consent, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.consents[[2]string{userID, clientID}]
	return c, ok, nil
}

func (s *memClients) Consents(_ context.Context, userID string) ([]valet.Consent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []valet.Consent
	for k, c := range s.consents {
		if k[0] == userID {
			out = append(out, c)
		}
	}
	return out, nil
}

func (s *memClients) DeleteConsent(_ context.Context, userID, clientID string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := [2]string{userID, clientID}
	_, ok := s.consents[k]
	delete(s.consents, k)
	return ok, nil
}

func (s *memClients) AddClientGrant(_ context.Context, g valet.ClientGrant) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.grants[g.SessionID]
	i := slices.IndexFunc(list, func(o valet.ClientGrant) bool { return o.ClientID == g.ClientID })
	if i < 0 {
		s.grants[g.SessionID] = append(list, g)
	} else if g.ExpiresAt.After(list[i].ExpiresAt) {
		list[i] = g
	}
	return nil
}

func (s *memClients) ClientGrants(_ context.Context, sid string) ([]valet.ClientGrant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.grants[sid]), nil
}

func (s *memClients) TakeClientGrants(_ context.Context, sid string) ([]valet.ClientGrant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	gs := s.grants[sid]
	delete(s.grants, sid)
	return gs, nil
}

// update changes client id in place.
func (s *memClients) update(id string, f func(*valet.Client)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.clients[id]
	f(&c)
	s.clients[id] = c
}

// family returns the index of the family of clientID holding hash, or -1.
func (s *memClients) family(clientID, hash string) int {
	return slices.IndexFunc(s.refresh, func(f *testFamily) bool {
		return f.f.ClientID == clientID && slices.Contains(f.hashes, hash)
	})
}

func (s *memClients) CreateClientRefresh(_ context.Context, f valet.ClientRefresh, tokenHash string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refresh = append(s.refresh, &testFamily{f: f, hashes: []string{tokenHash}})
	return nil
}

func (s *memClients) RotateClientRefresh(_ context.Context, clientID, tokenHash, newHash string, now time.Time) (valet.ClientRefresh, bool, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.family(clientID, tokenHash)
	if i < 0 {
		return valet.ClientRefresh{}, false, false, nil
	}
	f := s.refresh[i]
	if f.hashes[len(f.hashes)-1] != tokenHash || !now.Before(f.f.ExpiresAt) {
		s.refresh = slices.Delete(s.refresh, i, i+1)
		return valet.ClientRefresh{}, false, f.hashes[len(f.hashes)-1] != tokenHash, nil
	}
	f.hashes = append(f.hashes, newHash)
	return f.f, true, false, nil
}

func (s *memClients) RevokeClientRefreshToken(_ context.Context, clientID, tokenHash string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := s.family(clientID, tokenHash); i >= 0 {
		s.refresh = slices.Delete(s.refresh, i, i+1)
	}
	return nil
}

func (s *memClients) RevokeClientRefreshes(_ context.Context, f valet.ClientRefreshFilter) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.refresh)
	s.refresh = slices.DeleteFunc(s.refresh, func(tf *testFamily) bool { return f.Match(&tf.f) })
	return n - len(s.refresh), nil
}
