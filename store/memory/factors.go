package memory

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/mail"
)

// factors holds one Store's second factors and recovery codes under a lock
// of its own. A method that needs the users too takes the users' lock
// first, then this one, so that a factor is never stored for a user that a
// DeleteUser at the same time removes; one that enqueues mail too
// (ChangeFactorsWithMail) takes the outbox's last.
type factors struct {
	mu           sync.Mutex
	byID         map[string]valet.Factor
	byCredential map[string]string              // credential id to factor id
	byUser       map[string]map[string]struct{} // user id to factor ids
	codes        map[string]map[string]struct{} // user id to recovery code hashes
}

// pending holds the state of sign-ins under way, under a lock of its own:
// it is written at every sign-in, factors seldom.
type pending struct {
	mu     sync.Mutex
	byKey  map[string]pendingValue
	writes int
}

type pendingValue struct {
	value   []byte
	expires time.Time
}

// factorbox returns s's factors, making them at the first call.
func (s *Store) factorbox() *factors {
	s.factorsOnce.Do(func() {
		s.factors = &factors{
			byID:         make(map[string]valet.Factor),
			byCredential: make(map[string]string),
			byUser:       make(map[string]map[string]struct{}),
			codes:        make(map[string]map[string]struct{}),
		}
	})
	return s.factors
}

// pendingbox returns s's pending sign-in state, making it at the first call.
func (s *Store) pendingbox() *pending {
	s.pendingOnce.Do(func() { s.pending = &pending{byKey: make(map[string]pendingValue)} })
	return s.pending
}

func cloneFactor(f valet.Factor) valet.Factor {
	f.Secret = bytes.Clone(f.Secret)
	return f
}

// deleteUserLocked removes every factor and recovery code of userID and
// returns how many factors it removed; fb.mu is held.
func (fb *factors) deleteUserLocked(userID string) int {
	ids := fb.byUser[userID]
	for id := range ids {
		if f := fb.byID[id]; f.CredentialID != "" {
			delete(fb.byCredential, f.CredentialID)
		}
		delete(fb.byID, id)
	}
	delete(fb.byUser, userID)
	delete(fb.codes, userID)
	return len(ids)
}

// factorLocked returns factor id of userID; fb.mu is held.
func (fb *factors) factorLocked(userID, id string) (valet.Factor, bool) {
	f, ok := fb.byID[id]
	if !ok || f.UserID != userID {
		return valet.Factor{}, false
	}
	return f, true
}

// CreateFactor stores f. It returns an error wrapping valet.ErrNotFound
// when f.UserID names no user and valet.ErrConflict when f.ID or a
// non-empty f.CredentialID is taken.
func (s *Store) CreateFactor(ctx context.Context, f valet.Factor) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	s.umu.RLock()
	defer s.umu.RUnlock()
	if _, ok := s.users[f.UserID]; !ok {
		return fmt.Errorf("memory: create factor: user: %w", valet.ErrNotFound)
	}
	fb := s.factorbox()
	fb.mu.Lock()
	defer fb.mu.Unlock()
	return fb.createLocked(f)
}

// createLocked stores f, whose user exists, as CreateFactor says; fb.mu
// is held.
func (fb *factors) createLocked(f valet.Factor) error {
	if _, ok := fb.byID[f.ID]; ok {
		return fmt.Errorf("memory: factor id is taken: %w", valet.ErrConflict)
	}
	if _, ok := fb.byCredential[f.CredentialID]; ok && f.CredentialID != "" {
		return fmt.Errorf("memory: factor credential id is taken: %w", valet.ErrConflict)
	}
	fb.putLocked(f)
	return nil
}

// putLocked stores a copy of f, indexed; fb.mu is held.
func (fb *factors) putLocked(f valet.Factor) {
	fb.byID[f.ID] = cloneFactor(f)
	if f.CredentialID != "" {
		fb.byCredential[f.CredentialID] = f.ID
	}
	addToIndex(fb.byUser, f.UserID, f.ID)
}

// Factors returns the factors of userID, oldest first.
func (s *Store) Factors(ctx context.Context, userID string) ([]valet.Factor, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	fb := s.factorbox()
	fb.mu.Lock()
	out := make([]valet.Factor, 0, len(fb.byUser[userID]))
	for id := range fb.byUser[userID] {
		out = append(out, cloneFactor(fb.byID[id]))
	}
	fb.mu.Unlock()
	slices.SortFunc(out, func(a, b valet.Factor) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// FactorByCredential returns the factor with credentialID; found is false
// when there is none, as for an empty credentialID.
func (s *Store) FactorByCredential(ctx context.Context, credentialID string) (valet.Factor, bool, error) {
	if err := ctxErr(ctx); err != nil {
		return valet.Factor{}, false, err
	}
	fb := s.factorbox()
	fb.mu.Lock()
	defer fb.mu.Unlock()
	id, ok := fb.byCredential[credentialID]
	if !ok {
		return valet.Factor{}, false, nil
	}
	return cloneFactor(fb.byID[id]), true, nil
}

// UpdateFactor replaces Name, Secret, Confirmed and LastUsedAt of factor
// f.ID of f.UserID, and reports whether there was one.
func (s *Store) UpdateFactor(ctx context.Context, f valet.Factor) (bool, error) {
	if err := ctxErr(ctx); err != nil {
		return false, err
	}
	fb := s.factorbox()
	fb.mu.Lock()
	defer fb.mu.Unlock()
	old, ok := fb.factorLocked(f.UserID, f.ID)
	if !ok {
		return false, nil
	}
	old.Name, old.Secret, old.Confirmed, old.LastUsedAt = f.Name, bytes.Clone(f.Secret), f.Confirmed, f.LastUsedAt
	fb.byID[f.ID] = old
	return true, nil
}

// UseFactorStep sets LastStep to step, LastUsedAt to at and Confirmed of
// factor id of userID under the factors' lock, when its LastStep is earlier
// than step, and reports whether it did.
func (s *Store) UseFactorStep(ctx context.Context, userID, id string, step int64, at time.Time) (bool, error) {
	if err := ctxErr(ctx); err != nil {
		return false, err
	}
	fb := s.factorbox()
	fb.mu.Lock()
	defer fb.mu.Unlock()
	return fb.useStepLocked(userID, id, step, at), nil
}

// useStepLocked records step as UseFactorStep says and reports whether it
// did; fb.mu is held.
func (fb *factors) useStepLocked(userID, id string, step int64, at time.Time) bool {
	f, ok := fb.factorLocked(userID, id)
	if !ok || f.LastStep >= step {
		return false
	}
	f.LastStep, f.LastUsedAt, f.Confirmed = step, at, true
	fb.byID[id] = f
	return true
}

// DeleteFactor removes factor id of userID and reports whether it existed.
func (s *Store) DeleteFactor(ctx context.Context, userID, id string) (bool, error) {
	if err := ctxErr(ctx); err != nil {
		return false, err
	}
	fb := s.factorbox()
	fb.mu.Lock()
	defer fb.mu.Unlock()
	return fb.deleteLocked(userID, id), nil
}

// deleteLocked removes factor id of userID and reports whether it existed;
// fb.mu is held.
func (fb *factors) deleteLocked(userID, id string) bool {
	f, ok := fb.factorLocked(userID, id)
	if !ok {
		return false
	}
	if f.CredentialID != "" {
		delete(fb.byCredential, f.CredentialID)
	}
	delete(fb.byID, id)
	removeFromIndex(fb.byUser, userID, id)
	return true
}

// DeleteFactors removes every factor and recovery code of userID and
// returns how many factors it removed.
func (s *Store) DeleteFactors(ctx context.Context, userID string) (int, error) {
	if err := ctxErr(ctx); err != nil {
		return 0, err
	}
	fb := s.factorbox()
	fb.mu.Lock()
	defer fb.mu.Unlock()
	return fb.deleteUserLocked(userID), nil
}

// SetRecoveryCodes replaces the recovery codes of userID by hashes (a hash
// given twice is one code). It returns an error wrapping valet.ErrNotFound,
// and changes nothing, when userID names no user.
func (s *Store) SetRecoveryCodes(ctx context.Context, userID string, hashes []string) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	s.umu.RLock()
	defer s.umu.RUnlock()
	if _, ok := s.users[userID]; !ok {
		return fmt.Errorf("memory: set recovery codes: user: %w", valet.ErrNotFound)
	}
	fb := s.factorbox()
	fb.mu.Lock()
	defer fb.mu.Unlock()
	fb.setCodesLocked(userID, hashes)
	return nil
}

// setCodesLocked replaces the recovery codes of userID, whose user exists,
// by hashes; fb.mu is held.
func (fb *factors) setCodesLocked(userID string, hashes []string) {
	if len(hashes) == 0 {
		delete(fb.codes, userID)
		return
	}
	set := make(map[string]struct{}, len(hashes))
	for _, h := range hashes {
		set[h] = struct{}{}
	}
	fb.codes[userID] = set
}

// UseRecoveryCode deletes the recovery code of userID with hash under the
// factors' lock, and reports whether there was one.
func (s *Store) UseRecoveryCode(ctx context.Context, userID, hash string) (bool, error) {
	if err := ctxErr(ctx); err != nil {
		return false, err
	}
	fb := s.factorbox()
	fb.mu.Lock()
	defer fb.mu.Unlock()
	return fb.useCodeLocked(userID, hash), nil
}

// useCodeLocked deletes the recovery code of userID with hash and reports
// whether there was one; fb.mu is held.
func (fb *factors) useCodeLocked(userID, hash string) bool {
	if _, ok := fb.codes[userID][hash]; !ok {
		return false
	}
	removeFromIndex(fb.codes, userID, hash)
	return true
}

// RecoveryCodes returns how many unused recovery codes userID has.
func (s *Store) RecoveryCodes(ctx context.Context, userID string) (int, error) {
	if err := ctxErr(ctx); err != nil {
		return 0, err
	}
	fb := s.factorbox()
	fb.mu.Lock()
	defer fb.mu.Unlock()
	return len(fb.codes[userID]), nil
}

// ChangeFactorsWithMail makes c and enqueues msgs as one change, under the
// users' lock (read), the factors' lock and the outbox's, taken in that
// order, as mail.TicketStore says. ok is false, and nothing changes, when
// a condition of c does not hold; n is how many factors c.DeleteAll
// removed. It returns an error wrapping valet.ErrNotFound when c.Create
// or c.SetRecoveryCodes is set and c.UserID names no user,
// valet.ErrConflict when the id or credential id of c.Create or a message
// id is taken, and valet.ErrInvalidRequest when c.Create is another
// user's; with one, nothing changes.
func (s *Store) ChangeFactorsWithMail(ctx context.Context, c valet.FactorChange, msgs ...mail.OutboxMessage) (n int, ok bool, err error) {
	if err := ctxErr(ctx); err != nil {
		return 0, false, err
	}
	if c.Create != nil && c.Create.UserID != c.UserID {
		return 0, false, fmt.Errorf("%w: memory: change factors: the factor to create is another user's", valet.ErrInvalidRequest)
	}
	s.umu.RLock()
	defer s.umu.RUnlock()
	if _, known := s.users[c.UserID]; !known && (c.Create != nil || c.SetRecoveryCodes) {
		return 0, false, fmt.Errorf("memory: change factors: user: %w", valet.ErrNotFound)
	}
	fb := s.factorbox()
	fb.mu.Lock()
	defer fb.mu.Unlock()
	o := s.mailbox()
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.takenLocked(msgs); err != nil {
		return 0, false, err
	}
	// Every part touches only c.UserID's factors and codes, so a copy of
	// them taken first undoes a change that stops half way.
	saved := fb.saveLocked(c.UserID)
	n, ok, err = fb.changeLocked(c)
	if err != nil || !ok {
		fb.restoreLocked(c.UserID, saved)
		return 0, false, err
	}
	for _, m := range msgs {
		// takenLocked has checked every id.
		_ = o.enqueueLocked(m)
	}
	return n, true, nil
}

// changeLocked makes the parts of c in order, as ChangeFactorsWithMail
// says, stopping at the first that fails; fb.mu is held. The caller undoes
// what it made when ok is false or err is not nil.
func (fb *factors) changeLocked(c valet.FactorChange) (n int, ok bool, err error) {
	if c.Create != nil {
		if err := fb.createLocked(*c.Create); err != nil {
			return 0, false, err
		}
	}
	if st := c.Step; st != nil && !fb.useStepLocked(c.UserID, st.ID, st.Step, st.At) {
		return 0, false, nil
	}
	if c.Delete != "" && !fb.deleteLocked(c.UserID, c.Delete) {
		return 0, false, nil
	}
	if c.DeleteAll {
		n = fb.deleteUserLocked(c.UserID)
	}
	if c.UseRecoveryCode != "" && !fb.useCodeLocked(c.UserID, c.UseRecoveryCode) {
		return 0, false, nil
	}
	if c.SetRecoveryCodes {
		fb.setCodesLocked(c.UserID, c.RecoveryCodes)
	}
	return n, true, nil
}

// savedFactors is a copy of one user's factors and recovery codes.
type savedFactors struct {
	factors []valet.Factor
	codes   []string
}

// saveLocked copies the factors and recovery codes of userID; fb.mu is
// held.
func (fb *factors) saveLocked(userID string) savedFactors {
	var sv savedFactors
	for id := range fb.byUser[userID] {
		sv.factors = append(sv.factors, cloneFactor(fb.byID[id]))
	}
	for h := range fb.codes[userID] {
		sv.codes = append(sv.codes, h)
	}
	return sv
}

// restoreLocked puts back the factors and recovery codes of userID that
// saveLocked copied; fb.mu is held.
func (fb *factors) restoreLocked(userID string, sv savedFactors) {
	fb.deleteUserLocked(userID)
	for _, f := range sv.factors {
		fb.putLocked(f)
	}
	fb.setCodesLocked(userID, sv.codes)
}

// PutPending stores value under key until expires, replacing what key held.
func (s *Store) PutPending(ctx context.Context, key string, value []byte, expires time.Time) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	p := s.pendingbox()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.byKey[key] = pendingValue{value: bytes.Clone(value), expires: expires}
	p.writes++
	if due(p.writes, len(p.byKey)) {
		p.sweepLocked(s.now())
	}
	return nil
}

// TakePending deletes the value under key and returns it, under the
// pending state's lock, so that one caller finds it; found is false when
// there is none or it has expired at now.
func (s *Store) TakePending(ctx context.Context, key string, now time.Time) ([]byte, bool, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, false, err
	}
	p := s.pendingbox()
	p.mu.Lock()
	defer p.mu.Unlock()
	v, ok := p.byKey[key]
	if !ok {
		return nil, false, nil
	}
	delete(p.byKey, key)
	if !now.Before(v.expires) {
		return nil, false, nil
	}
	return v.value, true, nil
}

// sweepLocked drops the values that have expired at now and returns how
// many; p.mu is held.
func (p *pending) sweepLocked(now time.Time) int {
	n := 0
	for key, v := range p.byKey {
		if !now.Before(v.expires) {
			delete(p.byKey, key)
			n++
		}
	}
	p.writes = 0
	return n
}
