package token

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"math/big"
	"strings"
	"testing"
)

// edJWK returns an Ed25519 JWK whose x is pub.
func edJWK(pub []byte) []byte {
	return []byte(`{"kty":"OKP","crv":"Ed25519","x":"` + b64.EncodeToString(pub) + `","kid":"k"}`)
}

// edJWKS returns a JWKS whose one entry is edJWK(pub).
func edJWKS(pub []byte) []byte {
	return []byte(`{"keys":[` + string(edJWK(pub)) + `]}`)
}

// wantRefused checks that both parsers refuse the key pub with an error
// wrapping ErrInvalidKey whose text says why.
func wantRefused(tb testing.TB, pub []byte, why string) {
	tb.Helper()
	if k, err := ParsePublicJWK(edJWK(pub)); !errors.Is(err, ErrInvalidKey) || !strings.Contains(err.Error(), why) {
		tb.Errorf("ParsePublicJWK(%x) = %v, %v; want an ErrInvalidKey that says %q", pub, k, err, why)
	}
	if s, err := ParseJWKS(edJWKS(pub)); !errors.Is(err, ErrInvalidKey) || !strings.Contains(err.Error(), why) {
		tb.Errorf("ParseJWKS with key %x = %v, %v; want an ErrInvalidKey that says %q", pub, s, err, why)
	}
}

// smallOrderEncodings is every 32-byte string that crypto/ed25519 decodes to
// a point of order 1, 2, 4 or 8: the eight points in their canonical
// encodings, then the six non-canonical ones (y of p or p+1, and x = 0 with
// the sign bit set), as C2SP's CCTV Ed25519 vectors list them.
var smallOrderEncodings = []struct{ name, hex string }{
	{"identity (order 1)", "0100000000000000000000000000000000000000000000000000000000000000"},
	{"order 2", "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"},
	{"order 4, x positive", "0000000000000000000000000000000000000000000000000000000000000000"},
	{"order 4, x negative", "0000000000000000000000000000000000000000000000000000000000000080"},
	{"order 8 (1)", "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"},
	{"order 8 (2)", "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85"},
	{"order 8 (3)", "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"},
	{"order 8 (4)", "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa"},
	{"identity, negative zero", "0100000000000000000000000000000000000000000000000000000000000080"},
	{"identity, y = p+1", "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"},
	{"identity, y = p+1, sign set", "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"},
	{"order 2, negative zero", "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"},
	{"order 4, y = p", "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"},
	{"order 4, y = p, sign set", "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"},
}

func TestParseJWKRefusesSmallOrderEd25519(t *testing.T) {
	for _, tc := range smallOrderEncodings {
		t.Run(tc.name, func(t *testing.T) {
			pub, err := hex.DecodeString(tc.hex)
			if err != nil || len(pub) != ed25519.PublicKeySize {
				t.Fatalf("bad test vector %s", tc.hex)
			}
			wantRefused(t, pub, "small order")
		})
	}
}

// TestSmallOrderForgery shows what the refusal prevents: with the identity
// as the key, the signature R = identity, S = 0 passes crypto/ed25519 for
// every message.
func TestSmallOrderForgery(t *testing.T) {
	identity, _ := hex.DecodeString(smallOrderEncodings[0].hex)
	sig := make([]byte, ed25519.SignatureSize)
	copy(sig, identity)
	for _, msg := range []string{"", "any message", `{"sub":"admin"}`} {
		if !ed25519.Verify(identity, []byte(msg), sig) {
			t.Skipf("crypto/ed25519 now refuses the forgery for %q; the JWK check is still required by RFC 8032's strict rules", msg)
		}
	}
}

// field is arithmetic mod 2^255-19, written apart from the package's own so
// that the tests build their points independently.
var field = func() *big.Int {
	p := new(big.Int).Lsh(big.NewInt(1), 255)
	return p.Sub(p, big.NewInt(19))
}()

// le32 is the 32-byte little-endian encoding of v.
func le32(v *big.Int) []byte {
	out := make([]byte, 32)
	b := v.Bytes()
	for i := range b {
		out[i] = b[len(b)-1-i]
	}
	return out
}

// yOf reads the y coordinate and sign bit of an encoding.
func yOf(pub []byte) (*big.Int, byte) {
	be := make([]byte, 32)
	for i := range be {
		be[i] = pub[31-i]
	}
	sign := be[0] >> 7
	be[0] &= 0x7f
	return new(big.Int).SetBytes(be), sign
}

// onCurve reports, by Euler's criterion, whether some x has (x, y) on the
// curve: whether (y²-1)/(d y²+1) is a square.
func onCurve(y int64) bool {
	p := field
	d := new(big.Int).ModInverse(big.NewInt(121666), p)
	d.Mul(d, big.NewInt(-121665)).Mod(d, p)
	yy := new(big.Int).Mul(big.NewInt(y), big.NewInt(y))
	u := new(big.Int).Sub(yy, big.NewInt(1))
	v := new(big.Int).Mul(d, yy)
	v.Add(v, big.NewInt(1))
	uv := new(big.Int).Mul(u, v)
	return big.Jacobi(uv.Mod(uv, p), p) >= 0
}

func TestParseJWKRefusesInvalidEd25519(t *testing.T) {
	// Of the small y, find one that is on the curve and one that is not.
	var onY, offY int64
	for y := int64(2); onY == 0 || offY == 0; y++ {
		if onCurve(y) {
			if onY == 0 {
				onY = y
			}
		} else if offY == 0 {
			offY = y
		}
	}
	if onY > 18 {
		t.Fatalf("no small y on the curve below 19 (first is %d)", onY)
	}

	valid := testKey(t, EdDSA).edPub
	y, sign := yOf(valid)
	// Adding the point (0, -1) of order 2 to a key negates both coordinates:
	// the result has a component of small order.
	mixed := le32(new(big.Int).Sub(field, y))
	mixed[31] |= (sign ^ 1) << 7

	tests := []struct {
		name string
		pub  []byte
		why  string
	}{
		{"y with no x on the curve", le32(big.NewInt(offY)), "not a point on the curve"},
		{"that y with the sign bit set", func() []byte { b := le32(big.NewInt(offY)); b[31] |= 0x80; return b }(), "not a point on the curve"},
		{"y of p or more, for a point of large order", le32(new(big.Int).Add(field, big.NewInt(onY))), "not the canonical encoding"},
		{"a key plus a point of order 2", mixed, "not in the prime-order subgroup"},
		{"all ones", []byte(strings.Repeat("\xff", 32)), "Ed25519 public key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantRefused(t, tc.pub, tc.why)
		})
	}
}

func TestParseJWKAcceptsEd25519(t *testing.T) {
	// RFC 8037 appendix A.2.
	rfc, err := ParsePublicJWK([]byte(`{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"rfc"}`))
	if err != nil {
		t.Fatalf("ParsePublicJWK of RFC 8037's key: %v", err)
	}
	if rfc.Alg() != EdDSA {
		t.Errorf("Alg = %s, want EdDSA", rfc.Alg())
	}
	// Keys as an implementation makes them, each of which must pass.
	for range 20 {
		k := newTestKey(t, EdDSA)
		jwk, _ := k.PublicJWK()
		got, err := ParsePublicJWK(jwk)
		if err != nil {
			t.Fatalf("ParsePublicJWK of a generated key %x: %v", k.edPub, err)
		}
		sig := ed25519.Sign(k.edPriv, []byte("message"))
		if !got.verify([]byte("message"), sig, make([]byte, 72)) {
			t.Fatalf("the parsed key does not verify its signature")
		}
		if _, err := ParseJWKS(k.jwks()); err != nil {
			t.Fatalf("ParseJWKS of a generated key: %v", err)
		}
	}
}

// jwks returns the JWKS of k alone.
func (k *Key) jwks() []byte { return NewKeySet(nil, k).JWKS() }

func BenchmarkParsePublicJWKEd25519(b *testing.B) {
	jwk, _ := testKey(b, EdDSA).PublicJWK()
	for b.Loop() {
		if _, err := ParsePublicJWK(jwk); err != nil {
			b.Fatal(err)
		}
	}
}
