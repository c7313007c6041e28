package token

import (
	"bytes"
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valetauth/valet"
)

// fakeKeyStore is an in-memory valet.KeyStore with hooks to inject
// failures and interleavings.
type fakeKeyStore struct {
	mu    sync.Mutex
	keys  []valet.SigningKey
	reads atomic.Int64

	// beforeRead, when set, runs at the start of SigningKeys, outside the
	// lock.
	beforeRead func()
	// failRead, when set, is returned by SigningKeys.
	failRead error
	// failAdd, when set, is returned by AddSigningKey, after it has run
	// onAdd.
	failAdd error
	// onAdd, when set, runs in AddSigningKey before the key is stored.
	onAdd func()
}

var _ valet.KeyStore = (*fakeKeyStore)(nil)

func (s *fakeKeyStore) SigningKeys(ctx context.Context) ([]valet.SigningKey, error) {
	s.reads.Add(1)
	if f := s.beforeRead; f != nil {
		s.beforeRead = nil
		f()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failRead != nil {
		return nil, s.failRead
	}
	out := make([]valet.SigningKey, len(s.keys))
	for i, k := range s.keys {
		k.Private = bytes.Clone(k.Private)
		k.Public = bytes.Clone(k.Public)
		out[i] = k
	}
	return out, nil
}

func (s *fakeKeyStore) AddSigningKey(ctx context.Context, k valet.SigningKey) error {
	if f := s.onAdd; f != nil {
		s.onAdd = nil
		f()
	}
	if s.failAdd != nil {
		return s.failAdd
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, old := range s.keys {
		if old.ID == k.ID {
			return valet.ErrConflict
		}
	}
	s.keys = append(s.keys, k)
	return nil
}

func (s *fakeKeyStore) RetireSigningKey(ctx context.Context, id string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.keys {
		if s.keys[i].ID == id && s.keys[i].RetiredAt.IsZero() {
			s.keys[i].RetiredAt = at
		}
	}
	return nil
}

func (s *fakeKeyStore) DeleteSigningKey(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = slices.DeleteFunc(s.keys, func(k valet.SigningKey) bool { return k.ID == id })
	return nil
}

func (s *fakeKeyStore) snapshot() []valet.SigningKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.keys)
}

// newSealer returns an AES-256-GCM AEAD with a random key.
func newSealer(tb testing.TB) cipher.AEAD {
	tb.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		tb.Fatal(err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		tb.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		tb.Fatal(err)
	}
	return aead
}

type managerFixture struct {
	store  *fakeKeyStore
	sealer cipher.AEAD
	clock  *testClock
	cfg    ManagerConfig
}

func newManagerFixture(tb testing.TB) *managerFixture {
	tb.Helper()
	clock := newTestClock()
	return &managerFixture{
		store:  &fakeKeyStore{},
		sealer: newSealer(tb),
		clock:  clock,
		cfg:    ManagerConfig{TokenTTL: 15 * time.Minute, Leeway: 30 * time.Second, Now: clock.Now},
	}
}

// manager returns a new Manager on the fixture's store, as a second node
// would have.
func (f *managerFixture) manager(tb testing.TB) *Manager {
	tb.Helper()
	return NewManager(f.store, f.sealer, f.cfg)
}

// loaded returns a new Manager that has loaded.
func (f *managerFixture) loaded(tb testing.TB) *Manager {
	tb.Helper()
	m := f.manager(tb)
	if err := m.Load(context.Background()); err != nil {
		tb.Fatalf("Load: %v", err)
	}
	return m
}

// verifies reports whether m's verifier accepts a fresh token signed by s.
func (f *managerFixture) verifies(tb testing.TB, m *Manager, s *KeySet) error {
	tb.Helper()
	tok := mustSign(tb, s, &Claims{Subject: "s", ExpiresAt: f.clock.Now().Unix() + 60})
	var c Claims
	return NewVerifier(m, WithClock(f.clock.Now)).Verify(tok, &c)
}

func TestManagerLoadCreatesAndKeepsKey(t *testing.T) {
	for _, alg := range testAlgs {
		t.Run(alg, func(t *testing.T) {
			f := newManagerFixture(t)
			f.cfg.Alg = alg
			m := f.manager(t)
			if _, err := m.KeySet().Sign(&Claims{ExpiresAt: 1}); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("Sign before Load = %v, want ErrInvalidKey", err)
			}
			if err := m.Load(context.Background()); err != nil {
				t.Fatal(err)
			}
			stored := f.store.snapshot()
			if len(stored) != 1 {
				t.Fatalf("store holds %d keys, want 1", len(stored))
			}
			sk := stored[0]
			k := m.KeySet().Signing()
			if k == nil || k.ID() != sk.ID || k.Alg() != alg || sk.Alg != alg {
				t.Fatalf("signing key %v, stored %s %s", k, sk.ID, sk.Alg)
			}
			if !sk.CreatedAt.Equal(f.clock.Now()) || !sk.RetiredAt.IsZero() {
				t.Errorf("stored times: created %v, retired %v", sk.CreatedAt, sk.RetiredAt)
			}
			der, err := k.MarshalPrivate()
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(sk.Private, der) {
				t.Error("the stored private key is not sealed")
			}
			if alg == HS256 {
				if sk.Public != nil {
					t.Errorf("HS256 key stored with a public half")
				}
			} else {
				pub, err := x509.ParsePKIXPublicKey(sk.Public)
				if err != nil {
					t.Fatalf("stored public key: %v", err)
				}
				if !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(k.Public()) {
					t.Error("stored public key differs from the key's")
				}
			}

			// A second node loads the same key and creates none.
			m2 := f.loaded(t)
			if got := m2.KeySet().Signing().ID(); got != k.ID() {
				t.Errorf("second node signs with %s, want %s", got, k.ID())
			}
			if n := len(f.store.snapshot()); n != 1 {
				t.Errorf("store holds %d keys after a second Load, want 1", n)
			}
			if err := f.verifies(t, m2, m.KeySet()); err != nil {
				t.Errorf("second node refuses the first node's token: %v", err)
			}
		})
	}
}

func TestManagerNodesStartingAtOnce(t *testing.T) {
	t.Run("interleaved", func(t *testing.T) {
		// Node A reads an empty store; before it stores its key, node B
		// loads completely (creating a key); A then stores its own, later
		// key. A must settle on B's older key, and retire its own.
		f := newManagerFixture(t)
		a := f.manager(t)
		// B's clock runs a second behind, so that its key is the older.
		cfg := f.cfg
		cfg.Now = func() time.Time { return f.clock.Now().Add(-time.Second) }
		b := NewManager(f.store, f.sealer, cfg)
		f.store.onAdd = func() {
			if err := b.Load(context.Background()); err != nil {
				t.Errorf("B.Load: %v", err)
			}
		}
		if err := a.Load(context.Background()); err != nil {
			t.Fatal(err)
		}
		ka, kb := a.KeySet().Signing(), b.KeySet().Signing()
		if ka.ID() != kb.ID() {
			t.Fatalf("A signs with %s, B with %s", ka.ID(), kb.ID())
		}
		stored := f.store.snapshot()
		if len(stored) != 2 {
			t.Fatalf("store holds %d keys, want 2", len(stored))
		}
		if stored[1].RetiredAt.IsZero() {
			t.Error("A's unused key was not retired")
		}
		if err := f.verifies(t, b, a.KeySet()); err != nil {
			t.Errorf("B refuses A's token: %v", err)
		}
	})
	t.Run("conflict", func(t *testing.T) {
		// The store reports a conflict for A's key after another node has
		// stored one: A re-reads and uses that one.
		f := newManagerFixture(t)
		a, b := f.manager(t), f.manager(t)
		f.store.onAdd = func() {
			if err := b.Load(context.Background()); err != nil {
				t.Errorf("B.Load: %v", err)
			}
			f.store.failAdd = fmt.Errorf("duplicate: %w", valet.ErrConflict)
		}
		if err := a.Load(context.Background()); err != nil {
			t.Fatalf("A.Load after a conflict: %v", err)
		}
		if got, want := a.KeySet().Signing().ID(), b.KeySet().Signing().ID(); got != want {
			t.Errorf("A signs with %s, B with %s", got, want)
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		f := newManagerFixture(t)
		nodes := make([]*Manager, 4)
		var wg sync.WaitGroup
		for i := range nodes {
			nodes[i] = f.manager(t)
			wg.Go(func() {
				if err := nodes[i].Load(context.Background()); err != nil {
					t.Errorf("Load: %v", err)
				}
			})
		}
		wg.Wait()
		for _, a := range nodes {
			for _, b := range nodes {
				if err := f.verifies(t, b, a.KeySet()); err != nil {
					t.Errorf("a node refuses another's token: %v", err)
				}
			}
		}
	})
}

func TestManagerRotateAndPrune(t *testing.T) {
	f := newManagerFixture(t)
	ctx := context.Background()
	m := f.loaded(t)
	other := f.loaded(t)
	first := m.KeySet().Signing()
	oldTok := mustSign(t, m.KeySet(), &Claims{Subject: "old", ExpiresAt: f.clock.Now().Unix() + 900})

	f.clock.Advance(time.Minute)
	rotatedAt := f.clock.Now()
	k, err := m.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if k.ID() == first.ID() || m.KeySet().Signing() != k {
		t.Fatalf("after Rotate the set signs with %v, want the new key %v", m.KeySet().Signing(), k)
	}
	if _, ok := m.KeySet().Key(first.ID()); !ok {
		t.Error("the retired key left the set at once")
	}
	var c Claims
	if err := NewVerifier(m, WithClock(f.clock.Now)).Verify(oldTok, &c); err != nil {
		t.Errorf("a token of the retired key: %v", err)
	}
	infos, err := m.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []KeyInfo{
		{ID: first.ID(), Alg: EdDSA, CreatedAt: rotatedAt.Add(-time.Minute), RetiredAt: rotatedAt},
		{ID: k.ID(), Alg: EdDSA, CreatedAt: rotatedAt, Signing: true},
	}
	if !slices.Equal(infos, want) {
		t.Errorf("List = %+v, want %+v", infos, want)
	}

	// The other node still signs with the old key until it reloads; a token
	// of the new key makes it reload on its own.
	if err := f.verifies(t, other, m.KeySet()); err != nil {
		t.Errorf("the other node refuses a token of the new key: %v", err)
	}
	if got := other.KeySet().Signing(); got.ID() != k.ID() {
		t.Errorf("after its reload the other node signs with %v, want %v", got, k)
	}

	// Until TokenTTL+Leeway after its retirement the old key stays.
	f.clock.Advance(15*time.Minute + 30*time.Second)
	if n, err := m.Prune(ctx); err != nil || n != 0 {
		t.Errorf("Prune at the limit = %d, %v; want 0", n, err)
	}
	if _, ok := m.KeySet().Key(first.ID()); !ok {
		t.Error("the retired key left the set too early")
	}
	f.clock.Advance(time.Second)
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.KeySet().Key(first.ID()); ok {
		t.Error("Load kept a key retired longer than TokenTTL+Leeway ago")
	}
	if n := len(f.store.snapshot()); n != 2 {
		t.Errorf("Load deleted from the store: %d keys left, want 2", n)
	}
	if n, err := m.Prune(ctx); err != nil || n != 1 {
		t.Errorf("Prune = %d, %v; want 1", n, err)
	}
	if stored := f.store.snapshot(); len(stored) != 1 || stored[0].ID != k.ID() {
		t.Errorf("store after Prune = %+v", stored)
	}
}

func TestManagerReloadOnUnknownKid(t *testing.T) {
	f := newManagerFixture(t)
	ctx := context.Background()
	a, b := f.loaded(t), f.loaded(t)
	verifyA := NewVerifier(a, WithClock(f.clock.Now))
	tokenOf := func(m *Manager) string {
		return mustSign(t, m.KeySet(), &Claims{ExpiresAt: f.clock.Now().Unix() + 60})
	}
	if _, err := b.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	var c Claims
	reads := f.store.reads.Load()
	if err := verifyA.Verify(tokenOf(b), &c); err != nil {
		t.Fatalf("a token of a key rotated in on another node: %v", err)
	}
	if got := f.store.reads.Load() - reads; got != 1 {
		t.Errorf("the unknown kid caused %d store reads, want 1", got)
	}

	// Within 10 s of that reload, unknown kids read nothing, even from many
	// callers at once.
	if _, err := b.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	tok := tokenOf(b)
	reads = f.store.reads.Load()
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			var c Claims
			if err := verifyA.Verify(tok, &c); !errors.Is(err, ErrUnknownKey) {
				t.Errorf("Verify within the reload interval = %v, want ErrUnknownKey", err)
			}
			if _, ok := a.Key("made-up"); ok {
				t.Error("a made-up kid was found")
			}
		})
	}
	wg.Wait()
	if got := f.store.reads.Load() - reads; got != 0 {
		t.Errorf("%d store reads within the reload interval, want 0", got)
	}

	f.clock.Advance(reloadInterval)
	if err := verifyA.Verify(tok, &c); err != nil {
		t.Errorf("after the interval: %v", err)
	}

	// A store that fails does not make lookups fail any other way.
	f.clock.Advance(reloadInterval)
	f.store.failRead = fmt.Errorf("down: %w", valet.ErrUnavailable)
	if _, ok := a.Key("made-up"); ok {
		t.Error("a made-up kid was found with the store down")
	}
	if err := verifyA.Verify(tok, &c); err != nil {
		t.Errorf("a known key with the store down: %v", err)
	}
}

func TestManagerReloadDoesNotBlockOthers(t *testing.T) {
	f := newManagerFixture(t)
	m := f.loaded(t)
	known := m.KeySet().Signing().ID()
	release := make(chan struct{})
	entered := make(chan struct{})
	f.store.beforeRead = func() {
		close(entered)
		<-release
	}
	done := make(chan bool)
	go func() {
		_, ok := m.Key("unknown")
		done <- ok
	}()
	<-entered
	// While one caller waits for the store, others are answered at once.
	if _, ok := m.Key(known); !ok {
		t.Error("a known kid was not found during a reload")
	}
	if _, ok := m.Key("unknown-too"); ok {
		t.Error("an unknown kid was found during a reload")
	}
	close(release)
	if <-done {
		t.Error("the unknown kid was found after the reload")
	}
}

func TestManagerSealing(t *testing.T) {
	ctx := context.Background()
	t.Run("key moved to another id", func(t *testing.T) {
		f := newManagerFixture(t)
		f.loaded(t)
		stored := f.store.snapshot()
		moved := stored[0]
		moved.ID = "moved"
		moved.CreatedAt = moved.CreatedAt.Add(-time.Hour)
		f.store.keys = append(f.store.keys, moved)
		if err := f.manager(t).Load(ctx); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Load = %v, want ErrInvalidKey", err)
		}
	})
	t.Run("wrong master key", func(t *testing.T) {
		f := newManagerFixture(t)
		f.loaded(t)
		m := NewManager(f.store, newSealer(t), f.cfg)
		if err := m.Load(ctx); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Load = %v, want ErrInvalidKey", err)
		}
		if m.KeySet().Signing() != nil {
			t.Error("a failed Load swapped in a set")
		}
	})
	t.Run("truncated", func(t *testing.T) {
		f := newManagerFixture(t)
		f.loaded(t)
		f.store.keys[0].Private = f.store.keys[0].Private[:5]
		if err := f.manager(t).Load(ctx); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Load = %v, want ErrInvalidKey", err)
		}
	})
}

func TestManagerStoreFailures(t *testing.T) {
	ctx := context.Background()
	down := fmt.Errorf("connection refused: %w", valet.ErrUnavailable)
	f := newManagerFixture(t)
	m := f.loaded(t)
	before := m.KeySet()
	f.store.failRead = down
	if err := m.Load(ctx); !errors.Is(err, valet.ErrUnavailable) {
		t.Errorf("Load = %v, want ErrUnavailable", err)
	}
	if m.KeySet() != before {
		t.Error("a failed Load changed the set")
	}
	if _, err := m.List(ctx); !errors.Is(err, valet.ErrUnavailable) {
		t.Errorf("List = %v, want ErrUnavailable", err)
	}
	if _, err := m.Prune(ctx); !errors.Is(err, valet.ErrUnavailable) {
		t.Errorf("Prune = %v, want ErrUnavailable", err)
	}
	f.store.failRead = nil
	f.store.failAdd = down
	if _, err := m.Rotate(ctx); !errors.Is(err, valet.ErrUnavailable) {
		t.Errorf("Rotate = %v, want ErrUnavailable", err)
	}
	if m.KeySet() != before {
		t.Error("a failed Rotate changed the set")
	}
	empty := newManagerFixture(t)
	empty.store.failAdd = down
	if err := empty.manager(t).Load(ctx); !errors.Is(err, valet.ErrUnavailable) {
		t.Errorf("Load with a failing AddSigningKey = %v, want ErrUnavailable", err)
	}
}

func TestNewManagerPanics(t *testing.T) {
	f := newManagerFixture(t)
	for name, fn := range map[string]func(){
		"nil store":   func() { NewManager(nil, f.sealer, f.cfg) },
		"nil sealer":  func() { NewManager(f.store, nil, f.cfg) },
		"unknown alg": func() { NewManager(f.store, f.sealer, ManagerConfig{Alg: "none"}) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("NewManager did not panic")
				}
			}()
			fn()
		})
	}
}

func TestManagerDefaults(t *testing.T) {
	f := newManagerFixture(t)
	m := NewManager(f.store, f.sealer, ManagerConfig{})
	if err := m.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := m.KeySet().Signing().Alg(); got != EdDSA {
		t.Errorf("default alg = %s, want EdDSA", got)
	}
	if got, want := m.keep, 15*time.Minute+30*time.Second; got != want {
		t.Errorf("keep = %v, want %v", got, want)
	}
	if got := f.store.snapshot()[0].CreatedAt; time.Since(got) > time.Minute {
		t.Errorf("default clock is not time.Now: created %v", got)
	}
}
