package token

import (
	"crypto/elliptic"
	"errors"
	"math/big"
	"testing"
)

// ecJWK returns a P-256 JWK with the coordinates x and y, each 32 bytes.
func ecJWK(x, y []byte) []byte {
	return []byte(`{"kty":"EC","crv":"P-256","x":"` + b64.EncodeToString(x) + `","y":"` + b64.EncodeToString(y) + `","kid":"k"}`)
}

func TestParseJWKChecksP256Point(t *testing.T) {
	point, err := testKey(t, ES256).ecPub.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	x, y := point[1:33], point[33:]
	plusOne := func(v []byte) []byte {
		return new(big.Int).Add(new(big.Int).SetBytes(v), big.NewInt(1)).FillBytes(make([]byte, 32))
	}
	p := elliptic.P256().Params().P.FillBytes(make([]byte, 32))
	zero := make([]byte, 32)

	if got, err := ParsePublicJWK(ecJWK(x, y)); err != nil || got.Alg() != ES256 {
		t.Fatalf("ParsePublicJWK of a valid P-256 key = %v, %v; want an ES256 key", got, err)
	}
	tests := []struct {
		name string
		x, y []byte
	}{
		{"y off by one: not on the curve", x, plusOne(y)},
		{"x off by one: not on the curve", plusOne(x), y},
		{"both zero, which some encode infinity as", zero, zero},
		{"x equal to p", p, y},
		{"y equal to p", x, p},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := ParsePublicJWK(ecJWK(tc.x, tc.y)); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("ParsePublicJWK = %v, %v; want ErrInvalidKey", got, err)
			}
			if got, err := ParseJWKS([]byte(`{"keys":[` + string(ecJWK(tc.x, tc.y)) + `]}`)); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("ParseJWKS = %v, %v; want ErrInvalidKey", got, err)
			}
		})
	}
}
