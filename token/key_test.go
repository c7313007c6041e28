package token

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/valetauth/valet"
)

func TestGenerateKey(t *testing.T) {
	kidPattern := regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)
	for _, alg := range testAlgs {
		t.Run(alg, func(t *testing.T) {
			a, b := newTestKey(t, alg), newTestKey(t, alg)
			if got := a.Alg(); got != alg {
				t.Errorf("Alg = %s, want %s", got, alg)
			}
			if !kidPattern.MatchString(a.ID()) {
				t.Errorf("ID = %q, want 22 base64url characters", a.ID())
			}
			if a.ID() == b.ID() {
				t.Errorf("two keys share the ID %s", a.ID())
			}
			da, err := a.MarshalPrivate()
			if err != nil {
				t.Fatal(err)
			}
			db, err := b.MarshalPrivate()
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(da, db) {
				t.Error("two generated keys have the same material")
			}
			parsed, err := ParsePrivateKey(a.ID(), alg, da)
			if err != nil {
				t.Fatalf("ParsePrivateKey: %v", err)
			}
			// The parsed key signs what the original verifies.
			input := []byte("header.payload")
			sig, err := parsed.sign(input)
			if err != nil {
				t.Fatal(err)
			}
			if !a.verify(input, sig, make([]byte, 72)) {
				t.Error("the original key does not verify the parsed key's signature")
			}
			if b.verify(input, sig, make([]byte, 72)) {
				t.Error("another key verifies the signature")
			}
		})
	}
	if _, err := GenerateKey("none"); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("GenerateKey(none) = %v, want ErrInvalidKey", err)
	}
}

func TestKeyConstructorsRefuse(t *testing.T) {
	ed := testKey(t, EdDSA)
	edDER, err := ed.MarshalPrivate()
	if err != nil {
		t.Fatal(err)
	}
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	rsa1024DER, err := x509.MarshalPKCS8PrivateKey(rsa1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384DER, err := x509.MarshalPKCS8PrivateKey(p384)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		make func() (*Key, error)
	}{
		{"HMAC secret of 31 bytes", func() (*Key, error) { return NewHMACKey("k", make([]byte, 31)) }},
		{"HMAC with an empty kid", func() (*Key, error) { return NewHMACKey("", make([]byte, 32)) }},
		{"kid too long", func() (*Key, error) { return NewHMACKey(strings.Repeat("k", maxKidLen+1), make([]byte, 32)) }},
		{"unknown alg", func() (*Key, error) { return ParsePrivateKey("k", "PS256", edDER) }},
		{"Ed25519 key as ES256", func() (*Key, error) { return ParsePrivateKey("k", ES256, edDER) }},
		{"Ed25519 key as RS256", func() (*Key, error) { return ParsePrivateKey("k", RS256, edDER) }},
		{"garbage DER", func() (*Key, error) { return ParsePrivateKey("k", EdDSA, []byte("not a key")) }},
		{"RSA of 1024 bits", func() (*Key, error) { return ParsePrivateKey("k", RS256, rsa1024DER) }},
		{"P-384 key as ES256", func() (*Key, error) { return ParsePrivateKey("k", ES256, p384DER) }},
		{"short HS256 secret", func() (*Key, error) { return ParsePrivateKey("k", HS256, make([]byte, 16)) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := tc.make()
			if !errors.Is(err, ErrInvalidKey) || k != nil {
				t.Fatalf("got %v, %v; want nil, ErrInvalidKey", k, err)
			}
			if !errors.Is(err, valet.ErrInvalidRequest) {
				t.Errorf("%v does not satisfy errors.Is(valet.ErrInvalidRequest)", err)
			}
		})
	}
}

func TestNewHMACKeyCopiesSecret(t *testing.T) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	k, err := NewHMACKey("k", secret)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := k.sign([]byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	secret[0] ^= 1
	if !k.verify([]byte("x"), sig, nil) {
		t.Error("changing the caller's slice changed the key")
	}
}

func TestKeyNeverPrintsMaterial(t *testing.T) {
	for _, alg := range testAlgs {
		t.Run(alg, func(t *testing.T) {
			k := testKey(t, alg)
			der, err := k.MarshalPrivate()
			if err != nil {
				t.Fatal(err)
			}
			want := "token.Key(" + alg + " " + k.ID() + ")"
			for _, tc := range []struct{ verb, want string }{
				{"%v", want}, {"%+v", want}, {"%#v", want}, {"%s", want},
				{"%q", fmt.Sprintf("%q", want)}, {"%x", fmt.Sprintf("%x", want)},
			} {
				if got := fmt.Sprintf(tc.verb, k); got != tc.want {
					t.Errorf("Sprintf(%s) = %s, want %s", tc.verb, got, tc.want)
				}
			}
			// Nor do the containers a key may end up in.
			got := fmt.Sprintf("%+v", struct{ K *Key }{k})
			if strings.Contains(got, fmt.Sprintf("%x", der[len(der)-16:])) || !strings.Contains(got, want) {
				t.Errorf("Sprintf of a struct holding the key = %s", got)
			}
		})
	}
}

func TestPublicJWK(t *testing.T) {
	tests := []struct {
		alg     string
		members []string
	}{
		{EdDSA, []string{"kty", "crv", "x", "kid", "alg", "use"}},
		{ES256, []string{"kty", "crv", "x", "y", "kid", "alg", "use"}},
		{RS256, []string{"kty", "n", "e", "kid", "alg", "use"}},
	}
	for _, tc := range tests {
		t.Run(tc.alg, func(t *testing.T) {
			k := testKey(t, tc.alg)
			b, ok := k.PublicJWK()
			if !ok {
				t.Fatal("PublicJWK reports no JWK")
			}
			var m map[string]string
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			if len(m) != len(tc.members) {
				t.Errorf("JWK %s has %d members, want %v", b, len(m), tc.members)
			}
			for _, name := range tc.members {
				if m[name] == "" {
					t.Errorf("JWK %s lacks %s", b, name)
				}
			}
			if m["kid"] != k.ID() || m["alg"] != tc.alg || m["use"] != "sig" {
				t.Errorf("JWK %s: wrong kid, alg or use", b)
			}
			pub, err := ParsePublicJWK(b)
			if err != nil {
				t.Fatalf("ParsePublicJWK: %v", err)
			}
			if pub.ID() != k.ID() || pub.Alg() != k.Alg() {
				t.Errorf("parsed key is %v, want %v", pub, k)
			}
			if !pub.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(k.Public()) {
				t.Error("parsed public key differs")
			}
			if _, err := pub.MarshalPrivate(); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("MarshalPrivate of a public key = %v, want ErrInvalidKey", err)
			}
			if _, err := pub.sign([]byte("x")); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("sign with a public key = %v, want ErrInvalidKey", err)
			}
		})
	}
	if b, ok := testKey(t, HS256).PublicJWK(); ok || b != nil {
		t.Errorf("HS256 PublicJWK = %s, %v; want nil, false", b, ok)
	}
}

func TestParsePublicJWKRefuses(t *testing.T) {
	ed := testKey(t, EdDSA)
	var edJWK map[string]any
	if err := json.Unmarshal(ed.jwk, &edJWK); err != nil {
		t.Fatal(err)
	}
	rs := testKey(t, RS256)
	var rsJWK map[string]any
	if err := json.Unmarshal(rs.jwk, &rsJWK); err != nil {
		t.Fatal(err)
	}
	es := testKey(t, ES256)
	var esJWK map[string]any
	if err := json.Unmarshal(es.jwk, &esJWK); err != nil {
		t.Fatal(err)
	}
	with := func(base map[string]any, kv ...any) string {
		m := make(map[string]any, len(base))
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
			} else {
				m[kv[i].(string)] = kv[i+1]
			}
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, jwk string }{
		{"not JSON", `{"kty":`},
		{"array", `[]`},
		{"duplicated member", strings.Replace(string(ed.jwk), `{`, `{"kty":"EC",`, 1)},
		{"private member d", with(edJWK, "d", "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")},
		{"kty oct", `{"kty":"oct","k":"AAAA","kid":"h","alg":"HS256"}`},
		{"kty in upper case only", with(edJWK, "kty", nil, "KTY", "OKP")},
		{"alg of another kty", with(edJWK, "alg", "ES256")},
		{"alg HS256", with(edJWK, "alg", "HS256")},
		{"alg PS256", with(rsJWK, "alg", "PS256")},
		{"use enc", with(edJWK, "use", "enc")},
		{"key_ops without verify", with(edJWK, "key_ops", []string{"encrypt"})},
		{"crv X25519", with(edJWK, "crv", "X25519")},
		{"no kid", with(edJWK, "kid", nil)},
		{"kid not a string", with(edJWK, "kid", 7)},
		{"x too short", with(edJWK, "x", "AAAA")},
		{"x padded", with(edJWK, "x", edJWK["x"].(string)+"=")},
		{"EC point off the curve", with(esJWK, "y", b64.EncodeToString(make([]byte, 32)))},
		{"EC crv P-384", with(esJWK, "crv", "P-384")},
		{"RSA of 1024 bits", with(rsJWK, "n", b64.EncodeToString(small.N.Bytes()))},
		{"RSA n with a leading zero", with(rsJWK, "n", b64.EncodeToString(append([]byte{0}, rs.rsaPub.N.Bytes()...)))},
		{"RSA e even", with(rsJWK, "e", b64.EncodeToString([]byte{1, 0, 0}))},
		{"RSA e of five bytes", with(rsJWK, "e", b64.EncodeToString([]byte{1, 0, 0, 0, 1}))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParsePublicJWK([]byte(tc.jwk))
			if !errors.Is(err, ErrInvalidKey) || k != nil {
				t.Errorf("ParsePublicJWK(%s) = %v, %v; want ErrInvalidKey", tc.jwk, k, err)
			}
		})
	}
}

func TestKeySet(t *testing.T) {
	ed, es, rs, hs := newTestKey(t, EdDSA), testKey(t, ES256), testKey(t, RS256), testKey(t, HS256)
	s := NewKeySet(es, ed, hs, rs, nil, es)
	if got := s.Signing(); got != es {
		t.Errorf("Signing = %v, want %v", got, es)
	}
	for _, k := range []*Key{ed, es, rs, hs} {
		if got, ok := s.Key(k.ID()); !ok || got != k {
			t.Errorf("Key(%s) = %v, %v", k.ID(), got, ok)
		}
	}
	for _, k := range []*Key{ed, es, rs, hs} {
		if got, ok := s.keyForHeader([]byte(k.header)); !ok || got != k {
			t.Errorf("keyForHeader of %v's header = %v, %v", k, got, ok)
		}
	}
	if got, ok := s.keyForHeader([]byte(newTestKey(t, EdDSA).header)); ok {
		t.Errorf("keyForHeader of another key's header = %v", got)
	}
	if got, ok := s.Key("nope"); ok || got != nil {
		t.Errorf("Key(nope) = %v, %v", got, ok)
	}
	var doc struct {
		Keys []map[string]string `json:"keys"`
	}
	jwks := s.JWKS()
	if err := json.Unmarshal(jwks, &doc); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range doc.Keys {
		kids = append(kids, k["kid"])
	}
	if got, want := strings.Join(kids, " "), strings.Join([]string{es.ID(), ed.ID(), rs.ID()}, " "); got != want {
		t.Errorf("JWKS kids = %s, want %s (signing first, no HS256)", got, want)
	}
	jwks[0] = 'x'
	if s.JWKS()[0] != '{' {
		t.Error("changing the returned JWKS changed the set's")
	}
	if got := string(NewKeySet(nil).JWKS()); got != `{"keys":[]}` {
		t.Errorf("empty JWKS = %s", got)
	}
	if got := string(NewKeySet(hs).JWKS()); got != `{"keys":[]}` {
		t.Errorf("JWKS of an HS256 set = %s", got)
	}

	pub, err := ParsePublicJWK(ed.jwk)
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func(){
		"verify-only signing key": func() { NewKeySet(pub) },
		"two keys with one kid":   func() { NewKeySet(ed, pub) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("NewKeySet did not panic")
				}
			}()
			f()
		})
	}
}

func TestParseJWKS(t *testing.T) {
	ed, es, rs := testKey(t, EdDSA), testKey(t, ES256), testKey(t, RS256)
	entries := []string{
		string(ed.jwk),
		`{"kty":"oct","k":"c2VjcmV0","kid":"hmac"}`,
		string(es.jwk),
		`{"kty":"RSA","alg":"PS256","kid":"pss","n":"AQAB","e":"AQAB"}`,
		`{"kty":"EC","crv":"P-384","kid":"p384","x":"AA","y":"AA"}`,
		`{"kty":"OKP","crv":"Ed25519","x":"` + b64.EncodeToString(ed.edPub) + `","kid":"enc","use":"enc"}`,
		`{"kty":"OKP","crv":"Ed25519","x":"` + b64.EncodeToString(ed.edPub) + `"}`,
		string(rs.jwk),
	}
	doc := `{"keys":[` + strings.Join(entries, ",") + `],"other":1}`
	s, err := ParseJWKS([]byte(doc))
	if err != nil {
		t.Fatalf("ParseJWKS: %v", err)
	}
	if s.Signing() != nil {
		t.Error("a JWKS set has a signing key")
	}
	for _, k := range []*Key{ed, es, rs} {
		got, ok := s.Key(k.ID())
		if !ok || got.Alg() != k.Alg() {
			t.Errorf("Key(%s) = %v, %v", k.ID(), got, ok)
		}
	}
	for _, kid := range []string{"hmac", "pss", "p384", "enc"} {
		if _, ok := s.Key(kid); ok {
			t.Errorf("unsupported entry %s was not skipped", kid)
		}
	}
	// Tokens signed by the private keys verify against the parsed set.
	clock := newTestClock()
	for _, k := range []*Key{ed, es, rs} {
		tok := mustSign(t, NewKeySet(k), &Claims{ExpiresAt: clock.Now().Unix() + 60})
		var c Claims
		if err := NewVerifier(s, WithClock(clock.Now)).Verify(tok, &c); err != nil {
			t.Errorf("%s token against the parsed JWKS: %v", k.Alg(), err)
		}
	}
	// The JWKS of a KeySet parses back to the same keys.
	again, err := ParseJWKS(NewKeySet(nil, ed, es, rs).JWKS())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(again.JWKS()), string(NewKeySet(nil, ed, es, rs).JWKS()); got != want {
		t.Errorf("JWKS round trip:\n%s\nwant\n%s", got, want)
	}

	bad := []struct{ name, doc string }{
		{"not JSON", `{"keys":[`},
		{"no keys", `{"other":[]}`},
		{"keys not an array", `{"keys":{}}`},
		{"keys null", `{"keys":null}`},
		{"keys in upper case", `{"KEYS":[` + string(ed.jwk) + `]}`},
		{"duplicated keys member", `{"keys":[],"keys":[` + string(ed.jwk) + `]}`},
		{"no usable key", `{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"h"}]}`},
		{"empty", `{"keys":[]}`},
		{"two keys with one kid", `{"keys":[` + string(ed.jwk) + `,` + string(ed.jwk) + `]}`},
		{"malformed supported entry", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"AAAA","kid":"short"}]}`},
		{"private entry", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + b64.EncodeToString(ed.edPub) + `","d":"AA","kid":"p"}]}`},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if s, err := ParseJWKS([]byte(tc.doc)); !errors.Is(err, ErrInvalidKey) || s != nil {
				t.Errorf("ParseJWKS = %v, %v; want ErrInvalidKey", s, err)
			}
		})
	}
}
