package auth

import (
	"bytes"
	"cmp"
	"context"
	"crypto/cipher"
	"fmt"
	"slices"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/token"
)

// keysOfAlgs is a view of a KeyStore that shows only the keys whose
// algorithm keep accepts, so that managers of different algorithms share
// one store without one signing with, or retiring, another's keys. Keys
// are retired and deleted by id, which only their own manager knows.
type keysOfAlgs struct {
	valet.KeyStore
	keep func(alg string) bool
}

func (k keysOfAlgs) SigningKeys(ctx context.Context) ([]valet.SigningKey, error) {
	all, err := k.KeyStore.SigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(sk valet.SigningKey) bool { return !k.keep(sk.Alg) }), nil
}

// idTokenKeep is the longest lifetime of a token that an ID-token key
// signs: ID tokens live 15 minutes by default, logout tokens 2.
const idTokenKeep = 15 * time.Minute

// newIDKeys returns a manager for each of Config.IDTokenAlgs that is not
// Config.Alg, each over the keys of its algorithm, and the store the
// primary's manager is to use: one without them. The managers are loaded
// after the primary's (loadIDKeys), so that on a new database the signing
// key is the oldest: a process that keeps no ID-token keys, and so sees
// every key, still signs with it.
func newIDKeys(cfg *Config, aead cipher.AEAD) (map[string]*token.Manager, valet.KeyStore, error) {
	extra := slices.DeleteFunc(slices.Clone(cfg.IDTokenAlgs), func(a string) bool { return a == cfg.Alg })
	if len(extra) == 0 {
		return nil, cfg.Stores.Keys, nil
	}
	managers := make(map[string]*token.Manager, len(extra))
	for _, alg := range extra {
		switch alg {
		case token.EdDSA, token.ES256, token.RS256:
		default:
			// HS256 is keyed by valet's own secret: no application could
			// check an ID token signed with it.
			return nil, nil, fmt.Errorf("auth: ID tokens cannot be signed with %q; use EdDSA, ES256 or RS256", alg)
		}
		managers[alg] = token.NewManager(keysOfAlgs{cfg.Stores.Keys, func(a string) bool { return a == alg }}, aead, token.ManagerConfig{
			Alg: alg, TokenTTL: max(cfg.AccessTTL, idTokenKeep), Leeway: cfg.Leeway, Now: cfg.Now,
		})
	}
	primary := keysOfAlgs{cfg.Stores.Keys, func(a string) bool { return !slices.Contains(extra, a) }}
	return managers, primary, nil
}

// loadIDKeys loads each ID-token key manager, making its first key when
// the store has none.
func loadIDKeys(ctx context.Context, managers map[string]*token.Manager) error {
	for alg, m := range managers {
		if err := m.Load(ctx); err != nil {
			return fmt.Errorf("auth: load %s ID-token keys: %w", alg, err)
		}
	}
	return nil
}

// SignClaimsAs signs c as SignClaims does, with a key of alg: the signing
// key when alg is empty or the algorithm of Config.Alg, else the key of
// alg that Config.IDTokenAlgs has the service keep. It is for the ID and
// logout tokens of OpenID clients that want their own algorithm.
func (s *Service) SignClaimsAs(c *token.Claims, alg string) (string, error) {
	if alg == "" || alg == s.cfg.Alg {
		return s.SignClaims(c)
	}
	m, ok := s.idKeys[alg]
	if !ok {
		return "", valet.Errorf(valet.ErrInvalidRequest, "This server keeps no %s key; it signs with %s.", alg, s.cfg.Alg)
	}
	return m.KeySet().Sign(c)
}

// jwks returns the public keys of every manager as one JWK set: the
// signing keys first, then those of Config.IDTokenAlgs in their order.
func (s *Service) jwks() []byte {
	doc := s.keys.KeySet().JWKS()
	for _, alg := range s.cfg.IDTokenAlgs {
		if m, ok := s.idKeys[alg]; ok {
			doc = mergeJWKS(doc, m.KeySet().JWKS())
		}
	}
	return doc
}

// mergeJWKS joins two JWK sets of the form KeySet.JWKS writes,
// {"keys":[...]}.
func mergeJWKS(a, b []byte) []byte {
	const head, tail = `{"keys":[`, `]}`
	ak := bytes.TrimSuffix(bytes.TrimPrefix(a, []byte(head)), []byte(tail))
	bk := bytes.TrimSuffix(bytes.TrimPrefix(b, []byte(head)), []byte(tail))
	out := make([]byte, 0, len(a)+len(b))
	out = append(out, head...)
	out = append(out, ak...)
	if len(ak) > 0 && len(bk) > 0 {
		out = append(out, ',')
	}
	out = append(out, bk...)
	return append(out, tail...)
}

// idKeysDo calls fn with each ID-token key manager, in the order of
// Config.IDTokenAlgs, and returns the first error.
func (s *Service) idKeysDo(fn func(*token.Manager) error) error {
	for _, alg := range s.cfg.IDTokenAlgs {
		if m, ok := s.idKeys[alg]; ok {
			if err := fn(m); err != nil {
				return err
			}
		}
	}
	return nil
}

// listAllKeys returns the keys of every manager, newest first.
func (s *Service) listAllKeys(ctx context.Context) ([]token.KeyInfo, error) {
	all, err := s.keys.List(ctx)
	if err != nil {
		return nil, err
	}
	err = s.idKeysDo(func(m *token.Manager) error {
		more, err := m.List(ctx)
		all = append(all, more...)
		return err
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(all, func(a, b token.KeyInfo) int { return cmp.Compare(b.CreatedAt.UnixNano(), a.CreatedAt.UnixNano()) })
	return all, nil
}
