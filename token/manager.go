package token

import (
	"cmp"
	"context"
	"crypto/cipher"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valetauth/valet"
)

const (
	// reloadInterval is how often, at most, a lookup of an unknown kid makes
	// a Manager re-read the store: often enough to pick up a rotation on
	// another node quickly, rarely enough that tokens with made-up kids
	// cannot turn into a stream of store reads.
	reloadInterval = 10 * time.Second
	// reloadTimeout bounds the store read such a lookup waits for.
	reloadTimeout = 2 * time.Second
	// loadAttempts bounds Load's create-and-re-read rounds.
	loadAttempts = 3
)

// ManagerConfig configures a Manager. The zero value is usable.
type ManagerConfig struct {
	// Alg is the algorithm of the keys the Manager creates; default EdDSA.
	Alg string
	// TokenTTL is the longest lifetime of a token the keys sign. A retired
	// key leaves the set TokenTTL+Leeway after its retirement, when every
	// token it signed has expired; default 15 minutes.
	TokenTTL time.Duration
	// Leeway is the clock skew verifiers allow; default DefaultLeeway (30 s).
	Leeway time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// KeyInfo describes a stored key, without its material.
type KeyInfo struct {
	ID        string
	Alg       string
	CreatedAt time.Time
	// RetiredAt is when a newer key took over signing; zero while it signs.
	RetiredAt time.Time
	// Signing is whether this is the key that signs.
	Signing bool
}

// Manager keeps the signing keys in a valet.KeyStore, each private key
// sealed with an AEAD, and serves the current KeySet. Of the keys in the
// store that are not retired, the oldest signs: every node then picks the
// same one, even when two nodes created a key at the same moment. A Manager
// is safe for concurrent use; reads of the set take no lock.
type Manager struct {
	store  valet.KeyStore
	sealer cipher.AEAD
	alg    string
	keep   time.Duration // TokenTTL + Leeway
	now    func() time.Time

	set atomic.Pointer[KeySet]
	// nextReload is the Unix time, in nanoseconds, before which an unknown
	// kid does not trigger a reload.
	nextReload atomic.Int64

	// mu serializes this node's changes to the store and to set.
	mu sync.Mutex
	// parsed caches unsealed keys by kid: stored keys never change, and
	// parsing an RSA key costs milliseconds.
	parsed map[string]*Key
}

var (
	_ KeySource     = (*Manager)(nil)
	_ byteKeySource = (*Manager)(nil)
)

// NewManager returns a Manager of the keys in store, whose private keys are
// sealed with sealer. Its set is empty until Load. It panics if store or
// sealer is nil or cfg.Alg is not one of the four algorithms.
func NewManager(store valet.KeyStore, sealer cipher.AEAD, cfg ManagerConfig) *Manager {
	if store == nil || sealer == nil {
		panic("token: NewManager: nil store or sealer")
	}
	m := &Manager{store: store, sealer: sealer, alg: cmp.Or(cfg.Alg, EdDSA), now: cfg.Now, parsed: map[string]*Key{}}
	switch m.alg {
	case EdDSA, ES256, RS256, HS256:
	default:
		panic("token: NewManager: unsupported algorithm " + m.alg)
	}
	if m.now == nil {
		m.now = time.Now
	}
	ttl := cmp.Or(cfg.TokenTTL, 15*time.Minute)
	leeway := cmp.Or(cfg.Leeway, DefaultLeeway)
	m.keep = ttl + leeway
	m.set.Store(NewKeySet(nil))
	return m
}

// KeySet returns the current key set. Before the first successful Load it
// is empty, and its Sign fails. It never waits and starts nothing: the
// owner of the Manager calls Load now and then (auth.Service does, every
// second) so that a rotation made elsewhere reaches this node.
func (m *Manager) KeySet() *KeySet { return m.set.Load() }

// Key returns the key with id kid from the current set. On an unknown kid,
// which may be a key that another node has just created, it re-reads the
// store, at most once per 10 seconds for all callers together: the caller
// that triggers the read waits for it (2 seconds at most); others go on
// without waiting. It returns nil and false when the key is still unknown.
func (m *Manager) Key(kid string) (*Key, bool) {
	if k, ok := m.set.Load().keys[kid]; ok {
		return k, true
	}
	return m.reloadFor(kid)
}

func (m *Manager) keyBytes(kid []byte) (*Key, bool) {
	if k, ok := m.set.Load().keys[string(kid)]; ok {
		return k, true
	}
	return m.reloadFor(string(kid))
}

func (m *Manager) keyForHeader(h []byte) (*Key, bool) {
	return m.set.Load().keyForHeader(h)
}

func (m *Manager) reloadFor(kid string) (*Key, bool) {
	now := m.now().UnixNano()
	next := m.nextReload.Load()
	if now < next || !m.nextReload.CompareAndSwap(next, now+int64(reloadInterval)) {
		return nil, false
	}
	// A Load, Rotate or Prune under way is itself reading the store.
	if !m.mu.TryLock() {
		return nil, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), reloadTimeout)
	err := m.load(ctx)
	cancel()
	m.mu.Unlock()
	if err != nil {
		return nil, false
	}
	k, ok := m.set.Load().keys[kid]
	return k, ok
}

// Load reads the keys from the store and swaps in a new set. When no stored
// key signs, it creates one and stores it; nodes that start at once each
// re-read the store afterwards and settle on the same signing key. Keys
// retired more than TokenTTL+Leeway ago are left out of the set (Prune
// deletes them). It returns the store's error, wrapped, when the store
// fails, and an error wrapping ErrInvalidKey when a stored key cannot be
// unsealed or parsed; the current set is kept then.
func (m *Manager) Load(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.load(ctx)
}

// load is Load with m.mu held.
func (m *Manager) load(ctx context.Context) error {
	created := ""
	for range loadAttempts {
		stored, err := m.store.SigningKeys(ctx)
		if err != nil {
			return fmt.Errorf("token: read signing keys: %w", err)
		}
		set, err := m.build(stored)
		if err != nil {
			return err
		}
		if set.signing != nil {
			if created != "" && set.signing.id != created {
				// Another node's key, older than ours, won: ours has signed
				// nothing, so retiring it at once loses nothing, and Prune
				// removes it later. Failing to is harmless.
				_ = m.store.RetireSigningKey(ctx, created, m.now())
			}
			m.set.Store(set)
			return nil
		}
		k, err := GenerateKey(m.alg)
		if err != nil {
			return err
		}
		sk, err := m.seal(k, m.now())
		if err != nil {
			return err
		}
		// On a conflict another node stored a key first; either way the
		// next round reads what the store holds now.
		if err := m.store.AddSigningKey(ctx, sk); err != nil && !errors.Is(err, valet.ErrConflict) {
			return fmt.Errorf("token: store signing key: %w", err)
		} else if err == nil {
			created = k.id
			m.parsed[k.id] = k
		}
	}
	return fmt.Errorf("token: no signing key after %d attempts: %w", loadAttempts, valet.ErrUnavailable)
}

// signingIndex returns the index in stored of the key that signs: the
// oldest that is not retired (ties broken by id), or -1.
func signingIndex(stored []valet.SigningKey) int {
	best := -1
	for i, sk := range stored {
		if !sk.RetiredAt.IsZero() {
			continue
		}
		if best < 0 || sk.CreatedAt.Before(stored[best].CreatedAt) ||
			(sk.CreatedAt.Equal(stored[best].CreatedAt) && sk.ID < stored[best].ID) {
			best = i
		}
	}
	return best
}

// build returns the key set of the stored keys that still verify.
func (m *Manager) build(stored []valet.SigningKey) (*KeySet, error) {
	now := m.now()
	si := signingIndex(stored)
	var signing *Key
	verify := make([]*Key, 0, len(stored))
	parsed := make(map[string]*Key, len(stored))
	for i, sk := range stored {
		if m.expired(sk, now) {
			continue
		}
		k, err := m.open(sk)
		if err != nil {
			return nil, err
		}
		parsed[sk.ID] = k
		if i == si {
			signing = k
		} else {
			verify = append(verify, k)
		}
	}
	m.parsed = parsed
	return NewKeySet(signing, verify...), nil
}

// expired reports whether sk was retired long enough ago that no token it
// signed is still valid.
func (m *Manager) expired(sk valet.SigningKey, now time.Time) bool {
	return !sk.RetiredAt.IsZero() && now.Sub(sk.RetiredAt) > m.keep
}

// open unseals and parses a stored key, or returns it from the cache.
func (m *Manager) open(sk valet.SigningKey) (*Key, error) {
	if k, ok := m.parsed[sk.ID]; ok && k.alg == sk.Alg {
		return k, nil
	}
	ns := m.sealer.NonceSize()
	if len(sk.Private) < ns {
		return nil, fmt.Errorf("token: stored key %q: sealed key too short: %w", sk.ID, ErrInvalidKey)
	}
	der, err := m.sealer.Open(nil, sk.Private[:ns], sk.Private[ns:], []byte(sk.ID))
	if err != nil {
		return nil, fmt.Errorf("token: stored key %q does not unseal (wrong master key?): %w", sk.ID, ErrInvalidKey)
	}
	k, err := ParsePrivateKey(sk.ID, sk.Alg, der)
	clear(der)
	return k, err
}

// seal returns k as stored: its private key sealed with a random nonce in
// front and the kid as additional data, so that a sealed key cannot be
// moved to another id.
func (m *Manager) seal(k *Key, now time.Time) (valet.SigningKey, error) {
	der, err := k.MarshalPrivate()
	if err != nil {
		return valet.SigningKey{}, err
	}
	defer clear(der)
	nonce := make([]byte, m.sealer.NonceSize(), m.sealer.NonceSize()+len(der)+m.sealer.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return valet.SigningKey{}, fmt.Errorf("token: seal key: %v: %w", err, ErrInvalidKey)
	}
	var public []byte
	if pub := k.Public(); pub != nil {
		if public, err = x509.MarshalPKIXPublicKey(pub); err != nil {
			return valet.SigningKey{}, fmt.Errorf("token: marshal public key: %v: %w", err, ErrInvalidKey)
		}
	}
	return valet.SigningKey{
		ID:        k.id,
		Alg:       k.alg,
		Private:   m.sealer.Seal(nonce, nonce, der, []byte(k.id)),
		Public:    public,
		CreatedAt: now,
	}, nil
}

// Rotate creates a new signing key, stores it, retires every other key that
// signs (they keep verifying until TokenTTL+Leeway after now), and swaps in
// the new set. It returns the new key, or the store's error wrapped; after a
// failure the store may hold the new key beside the old signing key, which
// then goes on signing.
func (m *Manager) Rotate(ctx context.Context) (*Key, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, err := GenerateKey(m.alg)
	if err != nil {
		return nil, err
	}
	now := m.now()
	sk, err := m.seal(k, now)
	if err != nil {
		return nil, err
	}
	if err := m.store.AddSigningKey(ctx, sk); err != nil {
		return nil, fmt.Errorf("token: store signing key: %w", err)
	}
	stored, err := m.store.SigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("token: read signing keys: %w", err)
	}
	for _, old := range stored {
		if old.ID != k.id && old.RetiredAt.IsZero() {
			if err := m.store.RetireSigningKey(ctx, old.ID, now); err != nil {
				return nil, fmt.Errorf("token: retire key %s: %w", old.ID, err)
			}
		}
	}
	m.parsed[k.id] = k
	if err := m.load(ctx); err != nil {
		return nil, err
	}
	return k, nil
}

// Prune deletes from the store the keys retired more than TokenTTL+Leeway
// ago, swaps in the set without them, and returns how many it deleted. It
// returns the store's error wrapped, with the number deleted until then.
func (m *Manager) Prune(ctx context.Context) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	stored, err := m.store.SigningKeys(ctx)
	if err != nil {
		return 0, fmt.Errorf("token: read signing keys: %w", err)
	}
	now := m.now()
	n := 0
	for _, sk := range stored {
		if m.expired(sk, now) {
			if err := m.store.DeleteSigningKey(ctx, sk.ID); err != nil {
				return n, fmt.Errorf("token: delete key %s: %w", sk.ID, err)
			}
			n++
		}
	}
	return n, m.load(ctx)
}

// List returns every stored key, oldest first, and which one signs. It
// returns the store's error wrapped.
func (m *Manager) List(ctx context.Context) ([]KeyInfo, error) {
	stored, err := m.store.SigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("token: read signing keys: %w", err)
	}
	si := signingIndex(stored)
	out := make([]KeyInfo, len(stored))
	for i, sk := range stored {
		out[i] = KeyInfo{ID: sk.ID, Alg: sk.Alg, CreatedAt: sk.CreatedAt, RetiredAt: sk.RetiredAt, Signing: i == si}
	}
	slices.SortStableFunc(out, func(a, b KeyInfo) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}
