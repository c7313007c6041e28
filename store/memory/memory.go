// Package memory is a store backend that keeps everything in the process's
// memory. It suits tests, single-node development servers, and a session
// store in front of a database; nothing survives a restart.
package memory

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/store/internal/text"
)

// The store implements every store interface of the root package.
var (
	_ valet.UserStore       = (*Store)(nil)
	_ valet.SessionStore    = (*Store)(nil)
	_ valet.SessionLister   = (*Store)(nil)
	_ valet.RefreshStore    = (*Store)(nil)
	_ valet.KeyStore        = (*Store)(nil)
	_ valet.SecretStore     = (*Store)(nil)
	_ valet.RevocationStore = (*Store)(nil)
	_ valet.FactorStore     = (*Store)(nil)
	_ valet.ClientStore     = (*Store)(nil)
	_ valet.Sweeper         = (*Store)(nil)
	_ valet.Pinger          = (*Store)(nil)
)

// sweepEvery is the least number of writes between two sweeps of one kind
// of entry. Between sweeps the writes must also number at least half the
// entries held, so that sweeping costs O(1) per write however large the store
// grows.
const sweepEvery = 1024

// Store is an in-memory store. It is safe for concurrent use. Expired
// sessions, refresh families, revocations and pending sign-in state are
// dropped when they are next looked up, in passing as new ones are written,
// and by Sweep; expired authorization codes and client grants in passing
// and by Sweep.
//
// Each kind of entry has its own lock, so that writes of one kind never delay
// lookups of another: a session lookup is one read-locked map access.
//
// Every method returns an error wrapping valet.ErrUnavailable and the
// context's error when its ctx is done, and does nothing then; otherwise
// errors are only those its doc comment names.
type Store struct {
	now func() time.Time

	umu     sync.RWMutex
	users   map[string]valet.User // by id
	byEmail map[string]string     // email to id

	smu           sync.RWMutex
	sessions      map[string]valet.Session
	userSessions  map[string]map[string]struct{} // user id to session ids
	sessionWrites int

	rmu          sync.RWMutex
	families     map[string]*family
	tokens       map[string]tokenRef            // token hash to family
	userFamilies map[string]map[string]struct{} // user id to family ids
	familyWrites int

	kmu     sync.RWMutex
	keys    map[string]valet.SigningKey
	secrets map[string][]byte

	vmu              sync.RWMutex
	revocations      map[string]time.Time // session id to until
	revocationWrites int

	// outbox is the mail outbox (outbox.go), made at its first use.
	outboxOnce sync.Once
	outbox     *outbox
	// tickets are the one-time tickets (tickets.go), made at their first use.
	ticketsOnce sync.Once
	tickets     *tickets
	// factors are the second factors and recovery codes, and pending the
	// state of sign-ins under way (factors.go), each made at its first use.
	factorsOnce sync.Once
	factors     *factors
	pendingOnce sync.Once
	pending     *pending
	// clients are the OpenID Connect clients with their authorization
	// codes, consents and grants (clients.go), made at their first use.
	clientsOnce sync.Once
	clients     *clients
}

type family struct {
	valet.RefreshFamily
	hashes []string
}

type tokenRef struct {
	familyID string
	gen      int
}

// Option configures a Store.
type Option func(*Store)

// WithClock sets the clock by which the store decides that sessions and
// refresh families have expired. The default is time.Now. now must be safe
// for concurrent use.
func WithClock(now func() time.Time) Option {
	if now == nil {
		panic("memory: WithClock: nil clock")
	}
	return func(s *Store) { s.now = now }
}

// New returns an empty Store. With no options it reads the real clock.
func New(opts ...Option) *Store {
	s := &Store{
		now:          time.Now,
		users:        make(map[string]valet.User),
		byEmail:      make(map[string]string),
		sessions:     make(map[string]valet.Session),
		userSessions: make(map[string]map[string]struct{}),
		families:     make(map[string]*family),
		tokens:       make(map[string]tokenRef),
		userFamilies: make(map[string]map[string]struct{}),
		keys:         make(map[string]valet.SigningKey),
		secrets:      make(map[string][]byte),
		revocations:  make(map[string]time.Time),
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Stores returns a valet.Stores whose every member is s.
func (s *Store) Stores() valet.Stores {
	return valet.Stores{Users: s, Sessions: s, Refresh: s, Keys: s, Secrets: s, Revocations: s, Factors: s, Clients: s}
}

// Ping reports whether the store can serve: always, unless ctx is done, when
// it returns an error wrapping valet.ErrUnavailable.
func (s *Store) Ping(ctx context.Context) error { return ctxErr(ctx) }

// ctxErr returns nil while ctx is live and, once it is done, an error that
// wraps both valet.ErrUnavailable and the context's own error.
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: memory: %w", valet.ErrUnavailable, err)
	}
	return nil
}

// Sweep drops every session, refresh family (with its token hashes),
// revocation, pending sign-in state, authorization code (taken or not) and
// client grant that has expired at now, and returns how many entries it
// dropped. It returns 0 and an error wrapping valet.ErrUnavailable, having
// dropped nothing, when ctx is done.
func (s *Store) Sweep(ctx context.Context, now time.Time) (int, error) {
	if err := ctxErr(ctx); err != nil {
		return 0, err
	}
	s.smu.Lock()
	n := s.sweepSessionsLocked(now)
	s.smu.Unlock()
	s.rmu.Lock()
	n += s.sweepFamiliesLocked(now)
	s.rmu.Unlock()
	s.vmu.Lock()
	n += s.sweepRevocationsLocked(now)
	s.vmu.Unlock()
	p := s.pendingbox()
	p.mu.Lock()
	n += p.sweepLocked(now)
	p.mu.Unlock()
	cb := s.clientbox()
	cb.mu.Lock()
	n += cb.sweepLocked(now)
	cb.mu.Unlock()
	return n, nil
}

// due reports whether enough writes have passed since the last sweep of a
// kind of entry, of which size are held, for another to be worth its cost.
func due(writes, size int) bool { return writes >= max(sweepEvery, size/2) }

// addToIndex records id under key in an index of sets.
func addToIndex(index map[string]map[string]struct{}, key, id string) {
	set := index[key]
	if set == nil {
		set = make(map[string]struct{})
		index[key] = set
	}
	set[id] = struct{}{}
}

// removeFromIndex forgets id under key, and key once its set is empty.
func removeFromIndex(index map[string]map[string]struct{}, key, id string) {
	set := index[key]
	delete(set, id)
	if len(set) == 0 {
		delete(index, key)
	}
}

// Users

func cloneUser(u valet.User) valet.User {
	u.Roles = slices.Clone(u.Roles)
	return u
}

// CreateUser stores u. It returns an error wrapping valet.ErrConflict when
// u.Email or u.ID is taken.
func (s *Store) CreateUser(ctx context.Context, u valet.User) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	s.umu.Lock()
	defer s.umu.Unlock()
	return s.createUserLocked(u)
}

// createUserLocked stores u as CreateUser says; s.umu is held.
func (s *Store) createUserLocked(u valet.User) error {
	if _, ok := s.byEmail[u.Email]; ok {
		return fmt.Errorf("memory: email is taken: %w", valet.ErrConflict)
	}
	if _, ok := s.users[u.ID]; ok {
		return fmt.Errorf("memory: user id is taken: %w", valet.ErrConflict)
	}
	s.users[u.ID] = cloneUser(u)
	s.byEmail[u.Email] = u.ID
	return nil
}

// UserByID returns the user with id, or an error wrapping valet.ErrNotFound.
func (s *Store) UserByID(ctx context.Context, id string) (valet.User, error) {
	if err := ctxErr(ctx); err != nil {
		return valet.User{}, err
	}
	s.umu.RLock()
	defer s.umu.RUnlock()
	u, ok := s.users[id]
	if !ok {
		return valet.User{}, fmt.Errorf("memory: user: %w", valet.ErrNotFound)
	}
	return cloneUser(u), nil
}

// UserByEmail returns the user with email, or an error wrapping
// valet.ErrNotFound.
func (s *Store) UserByEmail(ctx context.Context, email string) (valet.User, error) {
	if err := ctxErr(ctx); err != nil {
		return valet.User{}, err
	}
	s.umu.RLock()
	defer s.umu.RUnlock()
	id, ok := s.byEmail[email]
	if !ok {
		return valet.User{}, fmt.Errorf("memory: user: %w", valet.ErrNotFound)
	}
	return cloneUser(s.users[id]), nil
}

// UpdateUser replaces the user that has u.ID with u. It returns an error
// wrapping valet.ErrNotFound when there is none and valet.ErrConflict when
// another user has u.Email.
func (s *Store) UpdateUser(ctx context.Context, u valet.User) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	s.umu.Lock()
	defer s.umu.Unlock()
	return s.updateUserLocked(u)
}

// updateUserLocked is UpdateUser with s.umu held.
func (s *Store) updateUserLocked(u valet.User) error {
	old, ok := s.users[u.ID]
	if !ok {
		return fmt.Errorf("memory: user: %w", valet.ErrNotFound)
	}
	if owner, taken := s.byEmail[u.Email]; taken && owner != u.ID {
		return fmt.Errorf("memory: email is taken: %w", valet.ErrConflict)
	}
	delete(s.byEmail, old.Email)
	s.byEmail[u.Email] = u.ID
	s.users[u.ID] = cloneUser(u)
	return nil
}

// DeleteUser removes the user with id, with its second factors, recovery
// codes, authorization codes, consents and client grants, or returns an
// error wrapping valet.ErrNotFound. The user's sessions and refresh
// families stay until the caller ends them, so that it learns which
// sessions it ended.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	s.umu.Lock()
	defer s.umu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return fmt.Errorf("memory: user: %w", valet.ErrNotFound)
	}
	delete(s.byEmail, u.Email)
	delete(s.users, id)
	fb := s.factorbox()
	fb.mu.Lock()
	fb.deleteUserLocked(id)
	fb.mu.Unlock()
	cb := s.clientbox()
	cb.mu.Lock()
	cb.deleteUserLocked(id)
	cb.mu.Unlock()
	return nil
}

// ListUsers returns the page of users that q selects, oldest first, and the
// number of all users whose email contains q.Search (case-sensitively). A
// Limit of 0 or less means 50 and a negative Offset means 0.
func (s *Store) ListUsers(ctx context.Context, q valet.UserQuery) ([]valet.User, int, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, 0, err
	}
	limit, offset := q.Limit, max(q.Offset, 0)
	if limit <= 0 {
		limit = 50
	}
	s.umu.RLock()
	matches := make([]valet.User, 0, len(s.users))
	for _, u := range s.users {
		if strings.Contains(u.Email, q.Search) {
			matches = append(matches, u)
		}
	}
	s.umu.RUnlock()
	slices.SortFunc(matches, func(a, b valet.User) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	page := matches[min(offset, len(matches)):min(offset+limit, len(matches))]
	out := make([]valet.User, len(page))
	for i, u := range page {
		out[i] = cloneUser(u)
	}
	return out, len(matches), nil
}

// Sessions

// CreateSession stores sess, its UserAgent and IP made valid UTF-8 without
// NUL bytes and cut to their bounds and its AMR bounded as the other
// backends bound it. It returns an error wrapping valet.ErrConflict when a
// session with sess.ID exists.
func (s *Store) CreateSession(ctx context.Context, sess valet.Session) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	sess = text.Session(sess)
	s.smu.Lock()
	defer s.smu.Unlock()
	if _, ok := s.sessions[sess.ID]; ok {
		return fmt.Errorf("memory: session id is taken: %w", valet.ErrConflict)
	}
	s.sessions[sess.ID] = sess
	addToIndex(s.userSessions, sess.UserID, sess.ID)
	s.sessionWrites++
	if due(s.sessionWrites, len(s.sessions)) {
		s.sweepSessionsLocked(s.now())
	}
	return nil
}

// Session returns the session with id; found is false when there is none or
// it has expired. The error is not nil only when ctx is done.
func (s *Store) Session(ctx context.Context, id string) (valet.Session, bool, error) {
	if err := ctxErr(ctx); err != nil {
		return valet.Session{}, false, err
	}
	s.smu.RLock()
	sess, ok := s.sessions[id]
	s.smu.RUnlock()
	if !ok {
		return valet.Session{}, false, nil
	}
	if now := s.now(); sess.Expired(now) {
		s.dropSessionIfExpired(id, now)
		return valet.Session{}, false, nil
	}
	return cloneSession(sess), true, nil
}

// cloneSession returns sess with an AMR of its own: the stored one is the
// store's.
func cloneSession(sess valet.Session) valet.Session {
	sess.AMR = slices.Clone(sess.AMR)
	return sess
}

// dropSessionIfExpired removes session id if it is still expired at now: it
// may have been touched since the caller looked.
func (s *Store) dropSessionIfExpired(id string, now time.Time) {
	s.smu.Lock()
	defer s.smu.Unlock()
	if sess, ok := s.sessions[id]; ok && sess.Expired(now) {
		s.deleteSessionLocked(sess)
	}
}

func (s *Store) deleteSessionLocked(sess valet.Session) {
	delete(s.sessions, sess.ID)
	removeFromIndex(s.userSessions, sess.UserID, sess.ID)
}

func (s *Store) sweepSessionsLocked(now time.Time) int {
	n := 0
	for _, sess := range s.sessions {
		if sess.Expired(now) {
			s.deleteSessionLocked(sess)
			n++
		}
	}
	s.sessionWrites = 0
	return n
}

// TouchSession sets the session's LastSeenAt and IdleExpiresAt. A session
// that is gone or has expired is left alone, and is no error.
func (s *Store) TouchSession(ctx context.Context, id string, lastSeen, idleExpiresAt time.Time) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	s.smu.Lock()
	defer s.smu.Unlock()
	sess, ok := s.sessions[id]
	if !ok {
		return nil
	}
	// An expired session must not come back because a request that read it
	// just before it expired touches it just after.
	if sess.Expired(s.now()) {
		s.deleteSessionLocked(sess)
		return nil
	}
	sess.LastSeenAt = lastSeen
	sess.IdleExpiresAt = idleExpiresAt
	s.sessions[id] = sess
	return nil
}

// SetSessionAuth sets the session's AuthTime and its AMR, bounded as
// CreateSession bounds it. A session that is gone or has expired is left
// alone, and is no error.
func (s *Store) SetSessionAuth(ctx context.Context, id string, authTime time.Time, amr []string) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	amr = text.AMR(amr)
	s.smu.Lock()
	defer s.smu.Unlock()
	sess, ok := s.sessions[id]
	if !ok {
		return nil
	}
	if sess.Expired(s.now()) {
		s.deleteSessionLocked(sess)
		return nil
	}
	sess.AuthTime, sess.AMR = authTime, amr
	s.sessions[id] = sess
	return nil
}

// DeleteSession removes the session with id and reports whether there was
// one that had not expired.
func (s *Store) DeleteSession(ctx context.Context, id string) (bool, error) {
	if err := ctxErr(ctx); err != nil {
		return false, err
	}
	s.smu.Lock()
	defer s.smu.Unlock()
	sess, ok := s.sessions[id]
	if !ok {
		return false, nil
	}
	s.deleteSessionLocked(sess)
	return !sess.Expired(s.now()), nil
}

// UserSessions returns the user's sessions that have not expired, newest
// first.
func (s *Store) UserSessions(ctx context.Context, userID string) ([]valet.Session, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	now := s.now()
	s.smu.RLock()
	ids := s.userSessions[userID]
	out := make([]valet.Session, 0, len(ids))
	for id := range ids {
		if sess := s.sessions[id]; !sess.Expired(now) {
			out = append(out, cloneSession(sess))
		}
	}
	s.smu.RUnlock()
	slices.SortFunc(out, func(a, b valet.Session) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// DeleteUserSessions removes every session of the user except the one with
// id except, if that is not empty, and returns the ids of the sessions it
// removed that had not expired.
func (s *Store) DeleteUserSessions(ctx context.Context, userID, except string) ([]string, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	now := s.now()
	s.smu.Lock()
	defer s.smu.Unlock()
	var removed []string
	for id := range s.userSessions[userID] {
		if id == except {
			continue
		}
		sess := s.sessions[id]
		s.deleteSessionLocked(sess)
		if !sess.Expired(now) {
			removed = append(removed, id)
		}
	}
	return removed, nil
}

// Refresh-token families

func (f *family) value() valet.RefreshFamily {
	v := f.RefreshFamily
	v.Successor = bytes.Clone(v.Successor)
	return v
}

// CreateRefreshFamily stores f and the hash of its first token, at generation
// f.Generation. It returns an error wrapping valet.ErrConflict when f.ID or
// tokenHash exists.
func (s *Store) CreateRefreshFamily(ctx context.Context, f valet.RefreshFamily, tokenHash string) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if _, ok := s.families[f.ID]; ok {
		return fmt.Errorf("memory: refresh family id is taken: %w", valet.ErrConflict)
	}
	if _, ok := s.tokens[tokenHash]; ok {
		return fmt.Errorf("memory: refresh token hash is taken: %w", valet.ErrConflict)
	}
	f.Successor = bytes.Clone(f.Successor)
	s.families[f.ID] = &family{RefreshFamily: f, hashes: []string{tokenHash}}
	s.tokens[tokenHash] = tokenRef{familyID: f.ID, gen: f.Generation}
	addToIndex(s.userFamilies, f.UserID, f.ID)
	s.familyWrites++
	if due(s.familyWrites, len(s.families)) {
		s.sweepFamiliesLocked(s.now())
	}
	return nil
}

// RefreshByToken returns the family that the token with tokenHash belongs to
// and the generation it was issued at. found is false when the hash is
// unknown or its family has expired; a revoked family is found, with Revoked
// set, until then.
func (s *Store) RefreshByToken(ctx context.Context, tokenHash string) (valet.RefreshFamily, int, bool, error) {
	if err := ctxErr(ctx); err != nil {
		return valet.RefreshFamily{}, 0, false, err
	}
	s.rmu.RLock()
	defer s.rmu.RUnlock()
	ref, ok := s.tokens[tokenHash]
	if !ok {
		return valet.RefreshFamily{}, 0, false, nil
	}
	f := s.families[ref.familyID]
	if f.Expired(s.now()) {
		return valet.RefreshFamily{}, 0, false, nil
	}
	return f.value(), ref.gen, true, nil
}

// AdvanceRefreshFamily moves family id from generation from to from+1,
// recording newHash at from+1 and setting Successor, RotatedAt and
// IdleExpiresAt, all under one lock. It returns false when the family is at
// another generation, revoked, expired or gone, and an error wrapping
// valet.ErrConflict when newHash is known already.
func (s *Store) AdvanceRefreshFamily(ctx context.Context, id string, from int, newHash string, successor []byte, now, idleExpiresAt time.Time) (bool, error) {
	if err := ctxErr(ctx); err != nil {
		return false, err
	}
	s.rmu.Lock()
	defer s.rmu.Unlock()
	f, ok := s.families[id]
	if !ok || f.Generation != from || f.Revoked || f.Expired(s.now()) {
		return false, nil
	}
	if _, taken := s.tokens[newHash]; taken {
		return false, fmt.Errorf("memory: refresh token hash is taken: %w", valet.ErrConflict)
	}
	f.Generation = from + 1
	f.Successor = bytes.Clone(successor)
	f.RotatedAt = now
	f.IdleExpiresAt = idleExpiresAt
	f.hashes = append(f.hashes, newHash)
	s.tokens[newHash] = tokenRef{familyID: id, gen: from + 1}
	return true, nil
}

// RevokeRefreshFamily marks family id revoked. Unknown ids are no error.
func (s *Store) RevokeRefreshFamily(ctx context.Context, id string) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if f, ok := s.families[id]; ok {
		f.Revoked = true
	}
	return nil
}

// RevokeRefreshFamilies marks revoked every family of userID, or only those
// bound to sessionID when it is not empty.
func (s *Store) RevokeRefreshFamilies(ctx context.Context, userID, sessionID string) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	s.rmu.Lock()
	defer s.rmu.Unlock()
	for id := range s.userFamilies[userID] {
		if f := s.families[id]; sessionID == "" || f.SessionID == sessionID {
			f.Revoked = true
		}
	}
	return nil
}

func (s *Store) sweepFamiliesLocked(now time.Time) int {
	n := 0
	for id, f := range s.families {
		if !f.Expired(now) {
			continue
		}
		for _, h := range f.hashes {
			delete(s.tokens, h)
		}
		delete(s.families, id)
		removeFromIndex(s.userFamilies, f.UserID, id)
		n++
	}
	s.familyWrites = 0
	return n
}

// Signing keys

func cloneKey(k valet.SigningKey) valet.SigningKey {
	k.Private = bytes.Clone(k.Private)
	k.Public = bytes.Clone(k.Public)
	return k
}

// SigningKeys returns every stored key, oldest first.
func (s *Store) SigningKeys(ctx context.Context) ([]valet.SigningKey, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	s.kmu.RLock()
	out := make([]valet.SigningKey, 0, len(s.keys))
	for _, k := range s.keys {
		out = append(out, cloneKey(k))
	}
	s.kmu.RUnlock()
	slices.SortFunc(out, func(a, b valet.SigningKey) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// AddSigningKey stores k, or returns an error wrapping valet.ErrConflict if
// k.ID exists.
func (s *Store) AddSigningKey(ctx context.Context, k valet.SigningKey) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	s.kmu.Lock()
	defer s.kmu.Unlock()
	if _, ok := s.keys[k.ID]; ok {
		return fmt.Errorf("memory: signing key id is taken: %w", valet.ErrConflict)
	}
	s.keys[k.ID] = cloneKey(k)
	return nil
}

// RetireSigningKey sets the retirement time of key id to at if it has none.
// It returns an error wrapping valet.ErrNotFound for an unknown id.
func (s *Store) RetireSigningKey(ctx context.Context, id string, at time.Time) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	s.kmu.Lock()
	defer s.kmu.Unlock()
	k, ok := s.keys[id]
	if !ok {
		return fmt.Errorf("memory: signing key: %w", valet.ErrNotFound)
	}
	if k.RetiredAt.IsZero() {
		k.RetiredAt = at
		s.keys[id] = k
	}
	return nil
}

// DeleteSigningKey removes key id. Unknown ids are no error.
func (s *Store) DeleteSigningKey(ctx context.Context, id string) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	s.kmu.Lock()
	defer s.kmu.Unlock()
	delete(s.keys, id)
	return nil
}

// Secrets

// EnsureSecret stores value under name unless a value is there already, and
// returns the value that is stored. It returns an error wrapping
// valet.ErrInvalidRequest when nothing is stored and value is empty.
func (s *Store) EnsureSecret(ctx context.Context, name string, value []byte) ([]byte, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	s.kmu.Lock()
	defer s.kmu.Unlock()
	if v, ok := s.secrets[name]; ok {
		return bytes.Clone(v), nil
	}
	if len(value) == 0 {
		return nil, fmt.Errorf("%w: memory: empty secret", valet.ErrInvalidRequest)
	}
	s.secrets[name] = bytes.Clone(value)
	return bytes.Clone(value), nil
}

// Revocations

// AddRevocation records r; an entry for the same session keeps the later
// Until.
func (s *Store) AddRevocation(ctx context.Context, r valet.Revocation) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	s.vmu.Lock()
	defer s.vmu.Unlock()
	if until, ok := s.revocations[r.SessionID]; !ok || r.Until.After(until) {
		s.revocations[r.SessionID] = r.Until
	}
	s.revocationWrites++
	if due(s.revocationWrites, len(s.revocations)) {
		s.sweepRevocationsLocked(s.now())
	}
	return nil
}

// Revocations returns the entries whose Until is after now, in no particular
// order.
func (s *Store) Revocations(ctx context.Context, now time.Time) ([]valet.Revocation, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	s.vmu.RLock()
	defer s.vmu.RUnlock()
	var out []valet.Revocation
	for id, until := range s.revocations {
		if until.After(now) {
			out = append(out, valet.Revocation{SessionID: id, Until: until})
		}
	}
	return out, nil
}

func (s *Store) sweepRevocationsLocked(now time.Time) int {
	n := 0
	for id, until := range s.revocations {
		if !until.After(now) {
			delete(s.revocations, id)
			n++
		}
	}
	s.revocationWrites = 0
	return n
}
