package token

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"math/big"
	"strings"
	"testing"
)

// Published test vectors, RFC 7515 appendix A and RFC 8037 appendix A. Their
// headers have no kid and their payloads no exp, so they exercise the
// signature layer (Key.sign and Key.verify); Verify's strict checks are
// tested with this package's own tokens.
const (
	// RFC 7515 A.1.1: the HS256 key, and the complete JWS of A.1.
	rfcA1Key = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"
	rfcA1JWS = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9" +
		".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ" +
		".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"

	// RFC 7515 A.2.1: the RSA key's n and d (e is AQAB), and the JWS of A.2.
	rfcA2N   = "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"
	rfcA2D   = "Eq5xpGnNCivDflJsRQBXHx1hdR1k6Ulwe2JZD50LpXyWPEAeP88vLNO97IjlA7_GQ5sLKMgvfTeXZx9SE-7YwVol2NXOoAJe46sui395IW_GO-pWJ1O0BkTGoVEn2bKVRUCgu-GjBVaYLU6f3l9kJfFNS3E0QbVdxzubSu3Mkqzjkn439X0M_V51gfpRLI9JYanrC4D4qAdGcopV_0ZHHzQlBjudU2QvXt4ehNYTCBr6XCLQUShb1juUO1ZdiYoFaFQT5Tw8bGUl_x_jTj3ccPDVZFD9pIuhLhBOneufuBiB4cS98l2SR_RQyGWSeWjnczT0QU91p1DhOVRuOopznQ"
	rfcA2JWS = "eyJhbGciOiJSUzI1NiJ9" +
		".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ" +
		".cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw"

	// RFC 7515 A.3.1: the P-256 public key, and the JWS of A.3.
	rfcA3X   = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"
	rfcA3Y   = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
	rfcA3JWS = "eyJhbGciOiJFUzI1NiJ9" +
		".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ" +
		".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"

	// RFC 8037 A.1 and A.2: the Ed25519 private (d) and public (x) key;
	// A.4: the JWS of "Example of Ed25519 signing".
	rfc8037D   = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
	rfc8037X   = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
	rfc8037JWS = "eyJhbGciOiJFZERTQSJ9" +
		".RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc" +
		".hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
)

func mustB64(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := b64.DecodeString(s)
	if err != nil {
		tb.Fatalf("decode %q: %v", s, err)
	}
	return b
}

func TestRFCVectors(t *testing.T) {
	a1, err := NewHMACKey("rfc7515-a1", mustB64(t, rfcA1Key))
	if err != nil {
		t.Fatal(err)
	}
	n := new(big.Int).SetBytes(mustB64(t, rfcA2N))
	a2, err := newKey("rfc7515-a2", RS256, &Key{
		rsaPub: &rsa.PublicKey{N: n, E: 65537},
		// Only n, e and d are needed to sign; crypto/rsa signs without
		// the CRT values.
		rsaPriv: &rsa.PrivateKey{PublicKey: rsa.PublicKey{N: n, E: 65537}, D: new(big.Int).SetBytes(mustB64(t, rfcA2D))},
	})
	if err != nil {
		t.Fatal(err)
	}
	a3pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, mustB64(t, rfcA3X)...), mustB64(t, rfcA3Y)...))
	if err != nil {
		t.Fatal(err)
	}
	a3, err := newKey("rfc7515-a3", ES256, &Key{ecPub: a3pub})
	if err != nil {
		t.Fatal(err)
	}
	edPriv := ed25519.NewKeyFromSeed(mustB64(t, rfc8037D))
	if got, want := b64.EncodeToString(edPriv.Public().(ed25519.PublicKey)), rfc8037X; got != want {
		t.Fatalf("RFC 8037 public key from d = %s, want %s", got, want)
	}
	ed, err := newKey("rfc8037", EdDSA, &Key{edPriv: edPriv, edPub: edPriv.Public().(ed25519.PublicKey)})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		key  *Key
		jws  string
		// deterministic is whether signing must give the vector's bytes;
		// ECDSA signatures are randomized.
		deterministic bool
	}{
		{"RFC 7515 A.1 HS256", a1, rfcA1JWS, true},
		{"RFC 7515 A.2 RS256", a2, rfcA2JWS, true},
		{"RFC 7515 A.3 ES256", a3, rfcA3JWS, false},
		{"RFC 8037 A.4 EdDSA", ed, rfc8037JWS, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dot := strings.LastIndexByte(tc.jws, '.')
			input, sig := []byte(tc.jws[:dot]), mustB64(t, tc.jws[dot+1:])
			if !tc.key.verify(input, sig, make([]byte, 72)) {
				t.Fatal("the vector's signature does not verify")
			}
			bad := append([]byte(nil), sig...)
			bad[len(bad)/2] ^= 1
			if tc.key.verify(input, bad, make([]byte, 72)) {
				t.Error("a signature with one bit flipped verifies")
			}
			if tc.key.verify(append(input, ' '), sig, make([]byte, 72)) {
				t.Error("the signature verifies a changed input")
			}
			if !tc.deterministic {
				return
			}
			got, err := tc.key.sign(input)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := string(input)+"."+b64.EncodeToString(got), tc.jws; got != want {
				t.Errorf("signed JWS =\n%s\nwant\n%s", got, want)
			}
		})
	}
}
