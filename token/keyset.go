package token

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
)

// KeySource is what a Verifier looks keys up in: a KeySet, or a Manager
// whose set changes as keys rotate. Key returns the key with id kid and true,
// or nil and false when there is none.
type KeySource interface {
	Key(kid string) (*Key, bool)
}

// byteKeySource is a KeySource that can look a kid up without converting it
// to a string first, which spares Verify an allocation, and that knows the
// encoded headers its keys sign with.
type byteKeySource interface {
	keyBytes(kid []byte) (*Key, bool)
	// keyForHeader returns the key whose Sign writes exactly the encoded
	// protected header h, if there is one.
	keyForHeader(h []byte) (*Key, bool)
}

// KeySet is a set of keys by kid: at most one that signs, and any number
// that verify (the signing key verifies too). It is immutable after
// NewKeySet and safe for concurrent use.
type KeySet struct {
	signing *Key
	keys    map[string]*Key
	// headers maps each key's encoded protected header, as Sign writes it,
	// to the key. Parsing a header is a pure function of its bytes, so a
	// token that carries one of these needs no header parsing: its alg, kid
	// and typ are known.
	headers map[string]*Key
	jwks    []byte
}

var (
	_ KeySource     = (*KeySet)(nil)
	_ byteKeySource = (*KeySet)(nil)
)

// NewKeySet returns the set of signing and the verify keys. signing may be
// nil for a verify-only set; nil verify keys are ignored, and a key given
// twice counts once. NewKeySet panics when signing holds no private key or
// two different keys share a kid: both are programming errors.
func NewKeySet(signing *Key, verify ...*Key) *KeySet {
	s := &KeySet{signing: signing, keys: make(map[string]*Key, 1+len(verify)), headers: make(map[string]*Key, 1+len(verify))}
	if signing != nil && !signing.canSign() {
		panic("token: NewKeySet: signing key " + signing.id + " has no private part")
	}
	var jwks bytes.Buffer
	jwks.WriteString(`{"keys":[`)
	for _, k := range append([]*Key{signing}, verify...) {
		if k == nil {
			continue
		}
		if old, ok := s.keys[k.id]; ok {
			if old != k {
				panic("token: NewKeySet: two keys with kid " + k.id)
			}
			continue
		}
		s.keys[k.id] = k
		s.headers[k.header] = k
		if k.jwk != nil {
			if jwks.Len() > len(`{"keys":[`) {
				jwks.WriteByte(',')
			}
			jwks.Write(k.jwk)
		}
	}
	jwks.WriteString("]}")
	s.jwks = jwks.Bytes()
	return s
}

// Key returns the key with id kid and true, or nil and false.
func (s *KeySet) Key(kid string) (*Key, bool) {
	k, ok := s.keys[kid]
	return k, ok
}

func (s *KeySet) keyBytes(kid []byte) (*Key, bool) {
	k, ok := s.keys[string(kid)]
	return k, ok
}

func (s *KeySet) keyForHeader(h []byte) (*Key, bool) {
	k, ok := s.headers[string(h)]
	return k, ok
}

// Signing returns the signing key, or nil for a verify-only set.
func (s *KeySet) Signing() *Key { return s.signing }

// Sign returns c as a compact JWS signed by the signing key, with the
// protected header {"alg":...,"kid":...,"typ":"JWT"}. It returns an error
// wrapping ErrInvalidKey when the set has no signing key, and one wrapping
// ErrMissingClaim or ErrMalformed when c has no exp or a time claim out of
// the range Verify accepts, and one wrapping ErrTooLarge when the token
// would be longer than DefaultMaxSize, which a default Verifier refuses.
func (s *KeySet) Sign(c *Claims) (string, error) {
	k := s.signing
	if k == nil {
		return "", errNoSigningKey
	}
	if c.ExpiresAt == 0 {
		return "", fmt.Errorf("token: sign: %w", errNoExp)
	}
	for _, t := range [...]int64{c.ExpiresAt, c.NotBefore, c.IssuedAt} {
		if t < 0 || t > maxNumericDate {
			return "", fmt.Errorf("token: sign: %w", errNumericDate)
		}
	}
	var scratch [512]byte
	payload := appendClaims(scratch[:0], c)
	buf := make([]byte, 0, len(k.header)+1+b64.EncodedLen(len(payload))+1+b64.EncodedLen(512))
	buf = append(buf, k.header...)
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, payload)
	sig, err := k.sign(buf)
	if err != nil {
		return "", err
	}
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, sig)
	if len(buf) > DefaultMaxSize {
		return "", fmt.Errorf("token: sign: token of %d bytes: %w", len(buf), ErrTooLarge)
	}
	return string(buf), nil
}

// JWKS returns the JWKS document of the set's public keys, {"keys":[...]},
// signing key first. HS256 keys never appear in it. It is computed once, by
// NewKeySet; the caller gets its own copy.
func (s *KeySet) JWKS() []byte { return bytes.Clone(s.jwks) }

// publicJWK is the JSON form of a public key that this package writes.
type publicJWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// errSkipJWK marks a JWK that is well formed but not one this package
// verifies with; ParseJWKS passes over it.
var errSkipJWK = errors.New("token: unsupported JWK")

// ParsePublicJWK returns a verify-only key from one JWK (RFC 7517): an OKP
// Ed25519, EC P-256 or RSA key of 2048 to 8192 bits, with a kid. The alg of
// the key is its alg member, or when that is absent the one algorithm this
// package has for its type. It returns an error wrapping ErrInvalidKey for
// anything else: malformed JSON or key material, a duplicated member, an
// unsupported kty, crv or alg, an alg that does not fit the key, a use other
// than sig, private key members, or a point that is not a valid public key:
// for Ed25519, one off the curve, of small order, outside the prime-order
// subgroup or not canonically encoded (with a key of small order one
// signature verifies every message); for P-256, one off the curve.
func ParsePublicJWK(b []byte) (*Key, error) {
	if ok, _ := validJSONObject(b); !ok {
		return nil, fmt.Errorf("token: JWK is not a strict JSON object: %w", ErrInvalidKey)
	}
	k, err := parseJWK(b)
	if errors.Is(err, errSkipJWK) {
		return nil, fmt.Errorf("%v: %w", err, ErrInvalidKey)
	}
	return k, err
}

// ParseJWKS returns a verify-only KeySet of the keys of a JWKS document.
// Entries this package does not verify with (another kty, crv or alg, a use
// other than sig, no kid) are skipped. It returns an error wrapping
// ErrInvalidKey when the document is malformed, an entry of a supported type
// is malformed or holds a key ParsePublicJWK refuses, two entries share a
// kid, or no entry is usable.
func ParseJWKS(b []byte) (*KeySet, error) {
	if ok, _ := validJSONObject(b); !ok {
		return nil, fmt.Errorf("token: JWKS is not a strict JSON object: %w", ErrInvalidKey)
	}
	// Read "keys" by its exact name: encoding/json would also take "KEYS".
	var members map[string]json.RawMessage
	if err := json.Unmarshal(b, &members); err != nil {
		return nil, fmt.Errorf("token: JWKS: %v: %w", err, ErrInvalidKey)
	}
	raw, ok := members["keys"]
	if !ok {
		return nil, fmt.Errorf("token: JWKS has no keys member: %w", ErrInvalidKey)
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(raw, &entries); err != nil || entries == nil {
		return nil, fmt.Errorf("token: JWKS keys is not an array: %w", ErrInvalidKey)
	}
	var keys []*Key
	seen := make(map[string]bool, len(entries))
	for i, raw := range entries {
		k, err := parseJWK(raw)
		if errors.Is(err, errSkipJWK) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("token: JWKS entry %d: %w", i, err)
		}
		if seen[k.id] {
			return nil, fmt.Errorf("token: JWKS has two keys with kid %q: %w", k.id, ErrInvalidKey)
		}
		seen[k.id] = true
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("token: JWKS has no usable key: %w", ErrInvalidKey)
	}
	return NewKeySet(nil, keys...), nil
}

// parseJWK parses one JWK whose JSON validJSONObject has accepted. It
// returns an error wrapping errSkipJWK for a key of a kind it does not
// handle.
func parseJWK(b []byte) (*Key, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return nil, fmt.Errorf("token: JWK is not a JSON object: %w", ErrInvalidKey)
	}
	// Members are read by their exact names; encoding/json would match a
	// struct field case-insensitively.
	str := func(name string) (string, bool, error) {
		raw, ok := m[name]
		if !ok {
			return "", false, nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", true, fmt.Errorf("token: JWK member %s is not a string: %w", name, ErrInvalidKey)
		}
		return s, true, nil
	}
	var (
		v   [9]string
		has [9]bool
	)
	for i, name := range [...]string{"kty", "crv", "x", "y", "n", "e", "kid", "alg", "use"} {
		var err error
		if v[i], has[i], err = str(name); err != nil {
			return nil, err
		}
	}
	kty, crv, x, y, n, e, kid, alg, use := v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8]
	if has[8] && use != "sig" {
		return nil, fmt.Errorf("%w: use %q", errSkipJWK, use)
	}
	if raw, ok := m["key_ops"]; ok {
		var ops []string
		if err := json.Unmarshal(raw, &ops); err != nil {
			return nil, fmt.Errorf("token: JWK %q: key_ops is not an array of strings: %w", kid, ErrInvalidKey)
		}
		if !slices.Contains(ops, "verify") {
			return nil, fmt.Errorf("%w: key_ops without verify", errSkipJWK)
		}
	}
	var want string
	switch {
	case kty == "OKP" && crv == "Ed25519":
		want = EdDSA
	case kty == "EC" && crv == "P-256":
		want = ES256
	case kty == "RSA":
		want = RS256
	default:
		return nil, fmt.Errorf("%w: kty %q crv %q", errSkipJWK, kty, crv)
	}
	// A private key published by mistake is refused, not skipped: whoever
	// serves it must hear about it.
	for _, name := range [...]string{"d", "p", "q", "dp", "dq", "qi", "oth"} {
		if _, ok := m[name]; ok {
			return nil, fmt.Errorf("token: JWK %q holds private key member %s: %w", kid, name, ErrInvalidKey)
		}
	}
	if has[7] && alg != want {
		if alg == EdDSA || alg == ES256 || alg == RS256 || alg == HS256 {
			return nil, fmt.Errorf("token: JWK %q: alg %s does not fit kty %s: %w", kid, alg, kty, ErrInvalidKey)
		}
		return nil, fmt.Errorf("%w: alg %q", errSkipJWK, alg)
	}
	if !has[6] || kid == "" {
		return nil, fmt.Errorf("%w: no kid", errSkipJWK)
	}
	bad := func(what string) error {
		return fmt.Errorf("token: JWK %q: invalid %s: %w", kid, what, ErrInvalidKey)
	}
	switch want {
	case EdDSA:
		pub, err := b64.DecodeString(x)
		if err != nil || len(pub) != ed25519.PublicKeySize {
			return nil, bad("x")
		}
		if err := checkEd25519PublicKey(pub); err != nil {
			return nil, fmt.Errorf("token: JWK %q: invalid x: %v: %w", kid, err, ErrInvalidKey)
		}
		return newKey(kid, want, &Key{edPub: ed25519.PublicKey(pub)})
	case ES256:
		bx, errX := b64.DecodeString(x)
		by, errY := b64.DecodeString(y)
		if errX != nil || errY != nil || len(bx) != 32 || len(by) != 32 {
			return nil, bad("x or y")
		}
		// The parser refuses coordinates of p or more, a point off the
		// curve and the point at infinity; P-256 has no small subgroup.
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, bx...), by...))
		if err != nil {
			return nil, bad("point")
		}
		return newKey(kid, want, &Key{ecPub: pub})
	default:
		bn, errN := b64.DecodeString(n)
		be, errE := b64.DecodeString(e)
		// RFC 7518 section 6.3.1: no leading zero octets.
		if errN != nil || len(bn) == 0 || bn[0] == 0 {
			return nil, bad("n")
		}
		if errE != nil || len(be) == 0 || len(be) > 4 || be[0] == 0 {
			return nil, bad("e")
		}
		var exp int
		for _, c := range be {
			exp = exp<<8 | int(c)
		}
		if exp > 1<<31-1 {
			return nil, bad("e")
		}
		return newKey(kid, want, &Key{rsaPub: &rsa.PublicKey{N: new(big.Int).SetBytes(bn), E: exp}})
	}
}
