package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"sync"
)

// The four algorithms a Key can have. EdDSA is the default.
const (
	// EdDSA is Ed25519 (RFC 8037).
	EdDSA = "EdDSA"
	// ES256 is ECDSA on P-256 with SHA-256.
	ES256 = "ES256"
	// RS256 is RSASSA-PKCS1-v1_5 with SHA-256, on keys of 2048 bits or more.
	RS256 = "RS256"
	// HS256 is HMAC with SHA-256, on secrets of 32 bytes or more. Its keys
	// are symmetric: they never appear in a JWKS.
	HS256 = "HS256"
)

const (
	// minRSABits is the smallest RSA modulus accepted (RFC 7518 section 3.3).
	minRSABits = 2048
	// maxRSABits bounds the cost of verifying with a key from elsewhere.
	maxRSABits = 8192
	// minHMACSecret is the smallest HS256 secret accepted: as many bytes as
	// the hash output (RFC 7518 section 3.2).
	minHMACSecret = 32
	// maxKidLen bounds a key id.
	maxKidLen = 256
)

// b64 is the only base64 in this package: URL alphabet, no padding, and no
// stray bits in the last character.
var b64 = base64.RawURLEncoding.Strict()

// Key is a signing or verification key with its id (kid) and its one
// algorithm. A Key made by GenerateKey, NewHMACKey or ParsePrivateKey signs
// and verifies; one from ParsePublicJWK or ParseJWKS only verifies. A Key is
// immutable and safe for concurrent use.
type Key struct {
	id  string
	alg string

	edPriv  ed25519.PrivateKey
	edPub   ed25519.PublicKey
	ecPriv  *ecdsa.PrivateKey
	ecPub   *ecdsa.PublicKey
	rsaPriv *rsa.PrivateKey
	rsaPub  *rsa.PublicKey
	secret  []byte
	// macs holds keyed HMAC states for HS256, so that a verification
	// neither allocates nor redoes the key schedule.
	macs sync.Pool

	// header is the encoded protected header Sign writes with this key.
	header string
	// jwk is the public JWK, nil for HS256.
	jwk []byte
}

// macState is one pooled HMAC and room for its output.
type macState struct {
	h   hash.Hash
	sum [sha256.Size]byte
}

// GenerateKey returns a new key for alg (EdDSA, ES256, RS256 with 2048 bits,
// or HS256 with a 32-byte secret) whose kid is 16 random bytes from
// crypto/rand, base64url encoded. It returns an error wrapping ErrInvalidKey
// for any other alg.
func GenerateKey(alg string) (*Key, error) {
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, fmt.Errorf("token: generate key id: %v: %w", err, ErrInvalidKey)
	}
	kid := b64.EncodeToString(id[:])
	switch alg {
	case EdDSA:
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("token: generate %s key: %v: %w", alg, err, ErrInvalidKey)
		}
		return newKey(kid, alg, &Key{edPriv: priv, edPub: pub})
	case ES256:
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("token: generate %s key: %v: %w", alg, err, ErrInvalidKey)
		}
		return newKey(kid, alg, &Key{ecPriv: priv, ecPub: &priv.PublicKey})
	case RS256:
		priv, err := rsa.GenerateKey(rand.Reader, minRSABits)
		if err != nil {
			return nil, fmt.Errorf("token: generate %s key: %v: %w", alg, err, ErrInvalidKey)
		}
		return newKey(kid, alg, &Key{rsaPriv: priv, rsaPub: &priv.PublicKey})
	case HS256:
		secret := make([]byte, minHMACSecret)
		if _, err := rand.Read(secret); err != nil {
			return nil, fmt.Errorf("token: generate %s key: %v: %w", alg, err, ErrInvalidKey)
		}
		return newKey(kid, alg, &Key{secret: secret})
	}
	return nil, unsupportedAlg(alg)
}

// NewHMACKey returns an HS256 key with id kid and a copy of secret. It
// returns an error wrapping ErrInvalidKey when kid is empty or longer than
// 256 bytes, or secret is shorter than 32 bytes.
func NewHMACKey(kid string, secret []byte) (*Key, error) {
	return newKey(kid, HS256, &Key{secret: append([]byte(nil), secret...)})
}

// ParsePrivateKey returns the key with id kid and algorithm alg from der, as
// MarshalPrivate wrote it: PKCS #8 DER, or the raw secret for HS256. It
// returns an error wrapping ErrInvalidKey when der does not parse, holds a
// key of another type or curve than alg, or is too weak (RSA below 2048
// bits, a secret below 32 bytes).
func ParsePrivateKey(kid, alg string, der []byte) (*Key, error) {
	if alg == HS256 {
		return NewHMACKey(kid, der)
	}
	if alg != EdDSA && alg != ES256 && alg != RS256 {
		return nil, unsupportedAlg(alg)
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		// The parser's error says what is wrong with the encoding, not
		// anything secret.
		return nil, fmt.Errorf("token: parse %s private key %q: %v: %w", alg, kid, err, ErrInvalidKey)
	}
	switch p := priv.(type) {
	case ed25519.PrivateKey:
		if alg == EdDSA {
			return newKey(kid, alg, &Key{edPriv: p, edPub: p.Public().(ed25519.PublicKey)})
		}
	case *ecdsa.PrivateKey:
		if alg == ES256 {
			return newKey(kid, alg, &Key{ecPriv: p, ecPub: &p.PublicKey})
		}
	case *rsa.PrivateKey:
		if alg == RS256 {
			return newKey(kid, alg, &Key{rsaPriv: p, rsaPub: &p.PublicKey})
		}
	}
	return nil, fmt.Errorf("token: private key %q is not an %s key: %w", kid, alg, ErrInvalidKey)
}

func unsupportedAlg(alg string) error {
	return fmt.Errorf("token: algorithm %q is not one of EdDSA, ES256, RS256, HS256: %w", alg, ErrInvalidKey)
}

// newKey checks the material in k against kid and alg and precomputes what
// signing and publishing need.
func newKey(kid, alg string, k *Key) (*Key, error) {
	if kid == "" || len(kid) > maxKidLen {
		return nil, fmt.Errorf("token: key id must have 1 to %d bytes: %w", maxKidLen, ErrInvalidKey)
	}
	k.id, k.alg = kid, alg
	var pub *publicJWK
	switch alg {
	case EdDSA:
		if len(k.edPub) != ed25519.PublicKeySize || (k.edPriv != nil && len(k.edPriv) != ed25519.PrivateKeySize) {
			return nil, fmt.Errorf("token: key %q: bad Ed25519 key size: %w", kid, ErrInvalidKey)
		}
		pub = &publicJWK{Kty: "OKP", Crv: "Ed25519", X: b64.EncodeToString(k.edPub)}
	case ES256:
		if k.ecPub == nil || k.ecPub.Curve != elliptic.P256() {
			return nil, fmt.Errorf("token: key %q: ES256 needs a P-256 key: %w", kid, ErrInvalidKey)
		}
		point, err := k.ecPub.Bytes()
		if err != nil || len(point) != 65 {
			return nil, fmt.Errorf("token: key %q: invalid P-256 public key: %w", kid, ErrInvalidKey)
		}
		pub = &publicJWK{Kty: "EC", Crv: "P-256", X: b64.EncodeToString(point[1:33]), Y: b64.EncodeToString(point[33:])}
	case RS256:
		if k.rsaPub == nil || k.rsaPub.N == nil {
			return nil, fmt.Errorf("token: key %q: missing RSA key: %w", kid, ErrInvalidKey)
		}
		if bits := k.rsaPub.N.BitLen(); bits < minRSABits || bits > maxRSABits {
			return nil, fmt.Errorf("token: key %q: RSA modulus of %d bits, want %d to %d: %w", kid, bits, minRSABits, maxRSABits, ErrInvalidKey)
		}
		if e := k.rsaPub.E; e < 3 || e&1 == 0 {
			return nil, fmt.Errorf("token: key %q: invalid RSA public exponent: %w", kid, ErrInvalidKey)
		}
		pub = &publicJWK{Kty: "RSA", N: b64.EncodeToString(k.rsaPub.N.Bytes()), E: b64.EncodeToString(bigEndian(k.rsaPub.E))}
	case HS256:
		if len(k.secret) < minHMACSecret {
			return nil, fmt.Errorf("token: key %q: HS256 secret of %d bytes, want at least %d: %w", kid, len(k.secret), minHMACSecret, ErrInvalidKey)
		}
		secret := k.secret
		k.macs.New = func() any { return &macState{h: hmac.New(sha256.New, secret)} }
	default:
		return nil, unsupportedAlg(alg)
	}
	header, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{alg, kid, "JWT"})
	if err != nil {
		return nil, fmt.Errorf("token: key %q: %v: %w", kid, err, ErrInvalidKey)
	}
	k.header = b64.EncodeToString(header)
	if pub != nil {
		pub.Kid, pub.Alg, pub.Use = kid, alg, "sig"
		if k.jwk, err = json.Marshal(pub); err != nil {
			return nil, fmt.Errorf("token: key %q: %v: %w", kid, err, ErrInvalidKey)
		}
	}
	return k, nil
}

// bigEndian returns the minimal big-endian bytes of a positive e.
func bigEndian(e int) []byte {
	var b []byte
	for ; e > 0; e >>= 8 {
		b = append([]byte{byte(e)}, b...)
	}
	return b
}

// ID returns the key's id, the kid of the tokens it signs.
func (k *Key) ID() string { return k.id }

// Alg returns the key's one algorithm: EdDSA, ES256, RS256 or HS256.
func (k *Key) Alg() string { return k.alg }

// String returns the key's algorithm and id, never its material, so that a
// key that reaches a log line gives nothing away.
func (k *Key) String() string { return "token.Key(" + k.alg + " " + k.id + ")" }

// GoString is String, for the %#v verb.
func (k *Key) GoString() string { return k.String() }

// canSign reports whether k holds private material.
func (k *Key) canSign() bool {
	return k.edPriv != nil || k.ecPriv != nil || k.rsaPriv != nil || k.secret != nil
}

// Public returns the public key: an ed25519.PublicKey, *ecdsa.PublicKey or
// *rsa.PublicKey. It returns nil for HS256, which has none.
func (k *Key) Public() crypto.PublicKey {
	switch k.alg {
	case EdDSA:
		return k.edPub
	case ES256:
		return k.ecPub
	case RS256:
		return k.rsaPub
	}
	return nil
}

// MarshalPrivate returns the private key as PKCS #8 DER, or a copy of the
// raw secret for HS256. The result is secret: seal it before storing it. It
// returns an error wrapping ErrInvalidKey for a verify-only key.
func (k *Key) MarshalPrivate() ([]byte, error) {
	var priv any
	switch {
	case k.secret != nil:
		return append([]byte(nil), k.secret...), nil
	case k.edPriv != nil:
		priv = k.edPriv
	case k.ecPriv != nil:
		priv = k.ecPriv
	case k.rsaPriv != nil:
		priv = k.rsaPriv
	default:
		return nil, fmt.Errorf("token: key %q has no private part: %w", k.id, ErrInvalidKey)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("token: marshal key %q: %v: %w", k.id, err, ErrInvalidKey)
	}
	return der, nil
}

// PublicJWK returns the key's public half as a JWK (RFC 7517) with kty,
// crv/x/y or n/e, kid, alg and use "sig", and true. It returns nil and false
// for HS256, whose key must never be published.
func (k *Key) PublicJWK() ([]byte, bool) {
	if k.jwk == nil {
		return nil, false
	}
	return append([]byte(nil), k.jwk...), true
}

// sign returns the signature of input as a JWS carries it.
func (k *Key) sign(input []byte) ([]byte, error) {
	switch k.alg {
	case HS256:
		m := k.macs.Get().(*macState)
		m.h.Reset()
		m.h.Write(input)
		sig := m.h.Sum(nil)
		k.macs.Put(m)
		return sig, nil
	case EdDSA:
		if k.edPriv != nil {
			return ed25519.Sign(k.edPriv, input), nil
		}
	case ES256:
		if k.ecPriv != nil {
			digest := sha256.Sum256(input)
			der, err := ecdsa.SignASN1(rand.Reader, k.ecPriv, digest[:])
			if err != nil {
				return nil, fmt.Errorf("token: sign: %v: %w", err, ErrInvalidKey)
			}
			return ecdsaRawSignature(der)
		}
	case RS256:
		if k.rsaPriv != nil {
			digest := sha256.Sum256(input)
			sig, err := rsa.SignPKCS1v15(nil, k.rsaPriv, crypto.SHA256, digest[:])
			if err != nil {
				return nil, fmt.Errorf("token: sign: %v: %w", err, ErrInvalidKey)
			}
			return sig, nil
		}
	}
	return nil, fmt.Errorf("token: key %q cannot sign: %w", k.id, ErrInvalidKey)
}

// verify reports whether sig is k's signature of input. scratch is room for
// at least 72 bytes that verify may overwrite.
func (k *Key) verify(input, sig, scratch []byte) bool {
	switch k.alg {
	case HS256:
		if len(sig) != sha256.Size {
			return false
		}
		m := k.macs.Get().(*macState)
		m.h.Reset()
		m.h.Write(input)
		ok := hmac.Equal(m.h.Sum(m.sum[:0]), sig)
		k.macs.Put(m)
		return ok
	case EdDSA:
		return len(sig) == ed25519.SignatureSize && ed25519.Verify(k.edPub, input, sig)
	case ES256:
		if len(sig) != 64 {
			return false
		}
		der, ok := ecdsaDER(scratch[:0], sig)
		if !ok {
			return false
		}
		digest := sha256.Sum256(input)
		return ecdsa.VerifyASN1(k.ecPub, digest[:], der)
	case RS256:
		digest := sha256.Sum256(input)
		return rsa.VerifyPKCS1v15(k.rsaPub, crypto.SHA256, digest[:], sig) == nil
	}
	return false
}

// ecdsaDER appends the ASN.1 DER form of the JWS signature r||s (RFC 7518
// section 3.4), which is what crypto/ecdsa verifies. It reports false for a
// zero r or s, which no valid signature has.
func ecdsaDER(dst, rs []byte) ([]byte, bool) {
	half := len(rs) / 2
	r, s := trimZeros(rs[:half]), trimZeros(rs[half:])
	if len(r) == 0 || len(s) == 0 {
		return nil, false
	}
	rl, sl := len(r), len(s)
	if r[0] >= 0x80 {
		rl++
	}
	if s[0] >= 0x80 {
		sl++
	}
	dst = append(dst, 0x30, byte(2+rl+2+sl))
	dst = appendDERInt(dst, r, rl)
	dst = appendDERInt(dst, s, sl)
	return dst, true
}

func appendDERInt(dst, v []byte, n int) []byte {
	dst = append(dst, 0x02, byte(n))
	if n > len(v) {
		dst = append(dst, 0)
	}
	return append(dst, v...)
}

func trimZeros(b []byte) []byte {
	for len(b) > 0 && b[0] == 0 {
		b = b[1:]
	}
	return b
}

// ecdsaRawSignature converts an ASN.1 DER ECDSA signature on P-256 to the
// 64 bytes r||s of a JWS.
func ecdsaRawSignature(der []byte) ([]byte, error) {
	bad := fmt.Errorf("token: unexpected ECDSA signature encoding: %w", ErrInvalidKey)
	if len(der) < 8 || der[0] != 0x30 || int(der[1]) != len(der)-2 {
		return nil, bad
	}
	out := make([]byte, 64)
	rest := der[2:]
	for i := range 2 {
		if len(rest) < 2 || rest[0] != 0x02 || int(rest[1]) > len(rest)-2 {
			return nil, bad
		}
		v := trimZeros(rest[2 : 2+int(rest[1])])
		if len(v) > 32 {
			return nil, bad
		}
		copy(out[32*(i+1)-len(v):32*(i+1)], v)
		rest = rest[2+int(rest[1]):]
	}
	if len(rest) != 0 {
		return nil, bad
	}
	return out, nil
}

// Ed25519 public keys from elsewhere are checked as points, because
// crypto/ed25519 verifies with any 32 bytes it can decode: with a key of
// small order (the identity, say), a signature whose R is of small order
// too and whose S is 0 verifies for every message. A key that an Ed25519
// implementation made is [a]B for the base point B, so it is a canonical
// encoding of a point of the prime-order subgroup other than the identity;
// checkEd25519PublicKey refuses everything else.
var (
	errEdNotOnCurve   = errors.New("Ed25519 public key is not a point on the curve")
	errEdSmallOrder   = errors.New("Ed25519 public key is a point of small order")
	errEdNonCanonical = errors.New("Ed25519 public key is not the canonical encoding of its point")
	errEdMixedOrder   = errors.New("Ed25519 public key is not in the prime-order subgroup")
)

// edwardsConstants returns the curve's constants, computed once.
var edwardsConstants = sync.OnceValue(newEdwardsConstants)

// edwards holds the constants of edwards25519 (RFC 8032 section 5.1).
type edwards struct {
	p, d, d2, l *big.Int
}

func newEdwardsConstants() *edwards {
	one := big.NewInt(1)
	p := new(big.Int).Sub(new(big.Int).Lsh(one, 255), big.NewInt(19))
	// d = -121665 / 121666 mod p
	d := new(big.Int).ModInverse(big.NewInt(121666), p)
	d.Mul(d, big.NewInt(-121665)).Mod(d, p)
	l, _ := new(big.Int).SetString("27742317777372353535851937790883648493", 10)
	l.Add(l, new(big.Int).Lsh(one, 252))
	return &edwards{p: p, d: d, d2: new(big.Int).Lsh(d, 1), l: l}
}

// edPoint is a point in extended coordinates (X:Y:Z:T), x = X/Z, y = Y/Z,
// xy = T/Z.
type edPoint struct{ x, y, z, t *big.Int }

// add returns p+q by the unified formulas of Hisil, Wong, Carter and Dawson
// for a = -1, which hold for every pair of points of the curve, doubling
// included.
func (c *edwards) add(p, q edPoint) edPoint {
	mod := func(v *big.Int) *big.Int { return v.Mod(v, c.p) }
	mul := func(a, b *big.Int) *big.Int { return mod(new(big.Int).Mul(a, b)) }
	a := mul(new(big.Int).Sub(p.y, p.x), new(big.Int).Sub(q.y, q.x))
	b := mul(new(big.Int).Add(p.y, p.x), new(big.Int).Add(q.y, q.x))
	cc := mul(mul(p.t, c.d2), q.t)
	d := mod(new(big.Int).Lsh(mul(p.z, q.z), 1))
	e := mod(new(big.Int).Sub(b, a))
	f := mod(new(big.Int).Sub(d, cc))
	g := mod(new(big.Int).Add(d, cc))
	h := mod(new(big.Int).Add(b, a))
	return edPoint{x: mul(e, f), y: mul(g, h), z: mul(f, g), t: mul(e, h)}
}

// mul returns [k]p.
func (c *edwards) mul(p edPoint, k *big.Int) edPoint {
	r := edPoint{x: big.NewInt(0), y: big.NewInt(1), z: big.NewInt(1), t: big.NewInt(0)}
	for i := k.BitLen() - 1; i >= 0; i-- {
		r = c.add(r, r)
		if k.Bit(i) == 1 {
			r = c.add(r, p)
		}
	}
	return r
}

// isIdentity reports whether p is the neutral element (0, 1).
func (c *edwards) isIdentity(p edPoint) bool {
	yz := new(big.Int).Sub(p.y, p.z)
	return new(big.Int).Mod(p.x, c.p).Sign() == 0 && yz.Mod(yz, c.p).Sign() == 0
}

// checkEd25519PublicKey returns nil when pub (32 bytes) is the canonical
// encoding of a point of the prime-order subgroup other than the identity,
// and otherwise one of the errEd errors, the first that applies in their
// order above. It decodes as crypto/ed25519 does, so that every encoding
// that package would verify with, including the non-canonical ones, is
// judged by the point it stands for.
func checkEd25519PublicKey(pub []byte) error {
	c := edwardsConstants()
	// The encoding is y, little-endian, with the sign of x in the top bit.
	var be [32]byte
	for i := range be {
		be[i] = pub[31-i]
	}
	sign := uint(be[0] >> 7)
	be[0] &= 0x7f
	y := new(big.Int).SetBytes(be[:])
	canonical := y.Cmp(c.p) < 0
	y.Mod(y, c.p)

	// x² = (y² - 1) / (d y² + 1); the divisor is never 0, since -1/d is not
	// a square.
	yy := new(big.Int).Mul(y, y)
	yy.Mod(yy, c.p)
	u := new(big.Int).Sub(yy, big.NewInt(1))
	v := new(big.Int).Mul(c.d, yy)
	v.Add(v, big.NewInt(1)).Mod(v, c.p)
	xx := u.Mul(u, new(big.Int).ModInverse(v, c.p))
	xx.Mod(xx, c.p)
	x := new(big.Int).ModSqrt(xx, c.p)
	if x == nil {
		return errEdNotOnCurve
	}
	if x.Sign() == 0 && sign == 1 {
		// "Negative zero": RFC 8032 refuses it, crypto/ed25519 reads it as
		// x = 0.
		canonical = false
	} else if x.Bit(0) != sign {
		x.Sub(c.p, x)
	}

	pt := edPoint{x: x, y: y, z: big.NewInt(1), t: new(big.Int).Mod(new(big.Int).Mul(x, y), c.p)}
	if c.isIdentity(c.mul(pt, big.NewInt(8))) {
		return errEdSmallOrder
	}
	if !canonical {
		return errEdNonCanonical
	}
	if !c.isIdentity(c.mul(pt, c.l)) {
		return errEdMixedOrder
	}
	return nil
}
