package memory

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/valetauth/valet"
)

// clients holds one Store's OpenID Connect clients, authorization codes,
// consents and client grants under a lock of their own. A method that
// needs the users too takes the users' lock first, then this one, so that
// nothing is stored for a user that a DeleteUser at the same time removes.
type clients struct {
	mu       sync.Mutex
	byID     map[string]valet.Client
	codes    map[string]*storedCode                  // by hash
	consents map[string]map[string]valet.Consent     // user id to client id to consent
	grants   map[string]map[string]valet.ClientGrant // session id to client id to grant
	// families are the refresh families by id; byHash maps every token
	// hash of a family, current or earlier, to the family's id.
	families map[string]*storedFamily
	byHash   map[string]string
	// writes counts the codes and grants stored since the last sweep.
	writes int
}

// storedCode is an authorization code and whether it has been taken: a
// taken code stays until it expires, so that a replay is told apart from a
// code that never was.
type storedCode struct {
	code  valet.AuthCode
	taken bool
}

// clientbox returns s's clients, making them at the first call.
func (s *Store) clientbox() *clients {
	s.clientsOnce.Do(func() {
		s.clients = &clients{
			byID:     make(map[string]valet.Client),
			codes:    make(map[string]*storedCode),
			consents: make(map[string]map[string]valet.Consent),
			grants:   make(map[string]map[string]valet.ClientGrant),
			families: make(map[string]*storedFamily),
			byHash:   make(map[string]string),
		}
	})
	return s.clients
}

func cloneClient(c valet.Client) valet.Client {
	c.RedirectURIs = slices.Clone(c.RedirectURIs)
	c.PostLogoutRedirectURIs = slices.Clone(c.PostLogoutRedirectURIs)
	c.Scopes = slices.Clone(c.Scopes)
	return c
}

func cloneCode(c valet.AuthCode) valet.AuthCode {
	c.Scopes = slices.Clone(c.Scopes)
	c.AMR = slices.Clone(c.AMR)
	return c
}

func cloneConsent(c valet.Consent) valet.Consent {
	c.Scopes = slices.Clone(c.Scopes)
	return c
}

// deleteWhereLocked removes every code, consent and grant for which match,
// given its user id and client id, is true; cb.mu is held. Codes and grants
// are few and short-lived, and users and clients seldom deleted, so a scan
// costs less than indexes that every write would keep.
func (cb *clients) deleteWhereLocked(match func(userID, clientID string) bool) {
	for hash, c := range cb.codes {
		if match(c.code.UserID, c.code.ClientID) {
			delete(cb.codes, hash)
		}
	}
	for userID, byClient := range cb.consents {
		for clientID := range byClient {
			if match(userID, clientID) {
				delete(byClient, clientID)
			}
		}
		if len(byClient) == 0 {
			delete(cb.consents, userID)
		}
	}
	for sid, byClient := range cb.grants {
		for clientID, g := range byClient {
			if match(g.UserID, clientID) {
				delete(byClient, clientID)
			}
		}
		if len(byClient) == 0 {
			delete(cb.grants, sid)
		}
	}
	for id, f := range cb.families {
		if match(f.f.UserID, f.f.ClientID) {
			cb.dropFamilyLocked(id)
		}
	}
}

// deleteUserLocked removes the codes, consents and grants of userID; cb.mu
// is held.
func (cb *clients) deleteUserLocked(userID string) {
	cb.deleteWhereLocked(func(u, _ string) bool { return u == userID })
}

// sweepLocked drops the codes and grants that have expired at now and
// returns how many; cb.mu is held.
func (cb *clients) sweepLocked(now time.Time) int {
	n := 0
	for hash, c := range cb.codes {
		if !now.Before(c.code.ExpiresAt) {
			delete(cb.codes, hash)
			n++
		}
	}
	for sid, byClient := range cb.grants {
		for clientID, g := range byClient {
			if !now.Before(g.ExpiresAt) {
				delete(byClient, clientID)
				n++
			}
		}
		if len(byClient) == 0 {
			delete(cb.grants, sid)
		}
	}
	for id, f := range cb.families {
		if !now.Before(f.f.ExpiresAt) {
			cb.dropFamilyLocked(id)
			n++
		}
	}
	cb.writes = 0
	return n
}

// wroteLocked counts a write of a code or grant and sweeps in passing when
// enough have passed; cb.mu is held.
func (cb *clients) wroteLocked(now func() time.Time) {
	cb.writes++
	if due(cb.writes, len(cb.codes)+len(cb.grants)+len(cb.families)) {
		cb.sweepLocked(now())
	}
}

// CreateClient stores c, or returns an error wrapping valet.ErrConflict
// when c.ID is taken.
func (s *Store) CreateClient(ctx context.Context, c valet.Client) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	cb := s.clientbox()
	cb.mu.Lock()
	defer cb.mu.Unlock()
	if _, ok := cb.byID[c.ID]; ok {
		return fmt.Errorf("memory: client id is taken: %w", valet.ErrConflict)
	}
	cb.byID[c.ID] = cloneClient(c)
	return nil
}

// ClientByID returns client id, or an error wrapping valet.ErrNotFound.
func (s *Store) ClientByID(ctx context.Context, id string) (valet.Client, error) {
	if err := ctxErr(ctx); err != nil {
		return valet.Client{}, err
	}
	cb := s.clientbox()
	cb.mu.Lock()
	defer cb.mu.Unlock()
	c, ok := cb.byID[id]
	if !ok {
		return valet.Client{}, fmt.Errorf("memory: client: %w", valet.ErrNotFound)
	}
	return cloneClient(c), nil
}

// Clients returns every client, oldest first.
func (s *Store) Clients(ctx context.Context) ([]valet.Client, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	cb := s.clientbox()
	cb.mu.Lock()
	out := make([]valet.Client, 0, len(cb.byID))
	for _, c := range cb.byID {
		out = append(out, cloneClient(c))
	}
	cb.mu.Unlock()
	slices.SortFunc(out, func(a, b valet.Client) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// DeleteClient removes client id with its codes, consents and grants, or
// returns an error wrapping valet.ErrNotFound.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	cb := s.clientbox()
	cb.mu.Lock()
	defer cb.mu.Unlock()
	if _, ok := cb.byID[id]; !ok {
		return fmt.Errorf("memory: client: %w", valet.ErrNotFound)
	}
	delete(cb.byID, id)
	cb.deleteWhereLocked(func(_, clientID string) bool { return clientID == id })
	return nil
}

// ownersLocked returns an error wrapping valet.ErrNotFound unless userID
// names a user and clientID a client; s.umu and cb.mu are held.
func (s *Store) ownersLocked(cb *clients, op, userID, clientID string) error {
	if _, ok := s.users[userID]; !ok {
		return fmt.Errorf("memory: %s: user: %w", op, valet.ErrNotFound)
	}
	if _, ok := cb.byID[clientID]; !ok {
		return fmt.Errorf("memory: %s: client: %w", op, valet.ErrNotFound)
	}
	return nil
}

// CreateAuthCode stores code. It returns an error wrapping
// valet.ErrNotFound when code.UserID names no user or code.ClientID no
// client, and valet.ErrConflict when its hash is stored already, taken or
// not.
func (s *Store) CreateAuthCode(ctx context.Context, code valet.AuthCode) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	s.umu.RLock()
	defer s.umu.RUnlock()
	cb := s.clientbox()
	cb.mu.Lock()
	defer cb.mu.Unlock()
	if err := s.ownersLocked(cb, "create auth code", code.UserID, code.ClientID); err != nil {
		return err
	}
	if _, ok := cb.codes[code.Hash]; ok {
		return fmt.Errorf("memory: auth code hash is taken: %w", valet.ErrConflict)
	}
	cb.codes[code.Hash] = &storedCode{code: cloneCode(code)}
	cb.wroteLocked(s.now)
	return nil
}

// TakeAuthCode marks the code with hash taken and returns it, under the
// clients' lock, so that of callers at once one takes it. found is false
// when there is none or it has expired at now; used is true, with found
// false, when it was taken before and has not expired at now.
func (s *Store) TakeAuthCode(ctx context.Context, hash string, now time.Time) (valet.AuthCode, bool, bool, error) {
	if err := ctxErr(ctx); err != nil {
		return valet.AuthCode{}, false, false, err
	}
	cb := s.clientbox()
	cb.mu.Lock()
	defer cb.mu.Unlock()
	c, ok := cb.codes[hash]
	switch {
	case !ok || !now.Before(c.code.ExpiresAt):
		return valet.AuthCode{}, false, false, nil
	case c.taken:
		return valet.AuthCode{}, false, true, nil
	}
	c.taken = true
	return cloneCode(c.code), true, false, nil
}

// SetConsent stores c in place of the consent of its user and client. It
// returns an error wrapping valet.ErrNotFound when c.UserID names no user
// or c.ClientID no client.
func (s *Store) SetConsent(ctx context.Context, c valet.Consent) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	s.umu.RLock()
	defer s.umu.RUnlock()
	cb := s.clientbox()
	cb.mu.Lock()
	defer cb.mu.Unlock()
	if err := s.ownersLocked(cb, "set consent", c.UserID, c.ClientID); err != nil {
		return err
	}
	byClient := cb.consents[c.UserID]
	if byClient == nil {
		byClient = make(map[string]valet.Consent)
		cb.consents[c.UserID] = byClient
	}
	byClient[c.ClientID] = cloneConsent(c)
	return nil
}

// Consent returns the consent of userID for clientID; found is false when
// there is none.
func (s *Store) Consent(ctx context.Context, userID, clientID string) (valet.Consent, bool, error) {
	if err := ctxErr(ctx); err != nil {
		return valet.Consent{}, false, err
	}
	cb := s.clientbox()
	cb.mu.Lock()
	defer cb.mu.Unlock()
	c, ok := cb.consents[userID][clientID]
	if !ok {
		return valet.Consent{}, false, nil
	}
	return cloneConsent(c), true, nil
}

// Consents returns the consents of userID, newest first.
func (s *Store) Consents(ctx context.Context, userID string) ([]valet.Consent, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	cb := s.clientbox()
	cb.mu.Lock()
	out := make([]valet.Consent, 0, len(cb.consents[userID]))
	for _, c := range cb.consents[userID] {
		out = append(out, cloneConsent(c))
	}
	cb.mu.Unlock()
	slices.SortFunc(out, func(a, b valet.Consent) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), cmp.Compare(a.ClientID, b.ClientID))
	})
	return out, nil
}

// DeleteConsent removes the consent of userID for clientID and reports
// whether there was one.
func (s *Store) DeleteConsent(ctx context.Context, userID, clientID string) (bool, error) {
	if err := ctxErr(ctx); err != nil {
		return false, err
	}
	cb := s.clientbox()
	cb.mu.Lock()
	defer cb.mu.Unlock()
	byClient := cb.consents[userID]
	if _, ok := byClient[clientID]; !ok {
		return false, nil
	}
	delete(byClient, clientID)
	if len(byClient) == 0 {
		delete(cb.consents, userID)
	}
	return true, nil
}

// AddClientGrant records g; a grant of the same session and client keeps
// the later ExpiresAt. It returns an error wrapping valet.ErrNotFound when
// g.UserID names no user or g.ClientID no client.
func (s *Store) AddClientGrant(ctx context.Context, g valet.ClientGrant) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	s.umu.RLock()
	defer s.umu.RUnlock()
	cb := s.clientbox()
	cb.mu.Lock()
	defer cb.mu.Unlock()
	if err := s.ownersLocked(cb, "add client grant", g.UserID, g.ClientID); err != nil {
		return err
	}
	byClient := cb.grants[g.SessionID]
	if byClient == nil {
		byClient = make(map[string]valet.ClientGrant)
		cb.grants[g.SessionID] = byClient
	}
	if old, ok := byClient[g.ClientID]; ok && old.ExpiresAt.After(g.ExpiresAt) {
		g.ExpiresAt = old.ExpiresAt
	}
	byClient[g.ClientID] = g
	cb.wroteLocked(s.now)
	return nil
}

// ClientGrants returns the grants of session sid that have not expired by
// the store's clock, by client id.
func (s *Store) ClientGrants(ctx context.Context, sid string) ([]valet.ClientGrant, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	now := s.now()
	cb := s.clientbox()
	cb.mu.Lock()
	out := make([]valet.ClientGrant, 0, len(cb.grants[sid]))
	for _, g := range cb.grants[sid] {
		if now.Before(g.ExpiresAt) {
			out = append(out, g)
		}
	}
	cb.mu.Unlock()
	slices.SortFunc(out, func(a, b valet.ClientGrant) int { return cmp.Compare(a.ClientID, b.ClientID) })
	return out, nil
}

// TakeClientGrants deletes the grants of session sid, under the clients'
// lock, and returns those that had not expired by the store's clock, by
// client id.
func (s *Store) TakeClientGrants(ctx context.Context, sid string) ([]valet.ClientGrant, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	now := s.now()
	cb := s.clientbox()
	cb.mu.Lock()
	out := make([]valet.ClientGrant, 0, len(cb.grants[sid]))
	for _, g := range cb.grants[sid] {
		if now.Before(g.ExpiresAt) {
			out = append(out, g)
		}
	}
	delete(cb.grants, sid)
	cb.mu.Unlock()
	slices.SortFunc(out, func(a, b valet.ClientGrant) int { return cmp.Compare(a.ClientID, b.ClientID) })
	return out, nil
}
