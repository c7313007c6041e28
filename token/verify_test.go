package token

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/testclock"
)

const testIssuer = "https://valet.test"

// attackFixture is a key set of every algorithm (EdDSA signs) and a
// verifier that checks iss and aud, on a fixed clock.
type attackFixture struct {
	clock *testClock
	set   *KeySet
	v     *Verifier
	ed    *Key
	es    *Key
	rs    *Key
	hs    *Key
}

func newAttackFixture(tb testing.TB) *attackFixture {
	tb.Helper()
	f := &attackFixture{
		clock: newTestClock(),
		ed:    testKey(tb, EdDSA),
		es:    testKey(tb, ES256),
		rs:    testKey(tb, RS256),
		hs:    testKey(tb, HS256),
	}
	f.set = NewKeySet(f.ed, f.es, f.rs, f.hs)
	f.v = NewVerifier(f.set, WithClock(f.clock.Now), WithIssuer(testIssuer), WithAudience("valet"))
	return f
}

// jwsHeader returns the JSON of a header for k with extra members appended.
func jwsHeader(k *Key, extra string) string {
	return fmt.Sprintf(`{"alg":%q,"kid":%q,"typ":"JWT"%s}`, k.alg, k.id, extra)
}

// payload returns the JSON of valid claims at the fixture's now, changed
// by edit.
func (f *attackFixture) payload(tb testing.TB, edit func(c *Claims)) string {
	tb.Helper()
	c := validClaims(f.clock)
	if edit != nil {
		edit(&c)
	}
	b, err := json.Marshal(&c)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// splitParts splits a token into its three parts.
func splitParts(tok string) (h, p, s string) {
	a := strings.SplitN(tok, ".", 3)
	return a[0], a[1], a[2]
}

// hmacWith returns an HS256 "key" made of arbitrary bytes, such as a public
// key, to forge tokens the way an algorithm-confusion attack does.
func hmacWith(tb testing.TB, kid string, secret []byte) *Key {
	tb.Helper()
	k, err := NewHMACKey(kid, secret)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func TestVerifyRefusesAttacks(t *testing.T) {
	f := newAttackFixture(t)
	now := f.clock.Now().Unix()
	good := func(t *testing.T) string { return rawToken(t, f.ed, jwsHeader(f.ed, ""), f.payload(t, nil)) }

	rsaDER, err := x509.MarshalPKIXPublicKey(f.rs.Public())
	if err != nil {
		t.Fatal(err)
	}
	rsaPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rsaDER})
	edDER, err := x509.MarshalPKIXPublicKey(f.ed.Public())
	if err != nil {
		t.Fatal(err)
	}
	edRaw := append([]byte(nil), f.ed.edPub...)

	tests := []struct {
		name  string
		token func(t *testing.T) string
		want  error
	}{
		{"alg none, empty signature", func(t *testing.T) string {
			return b64.EncodeToString([]byte(`{"alg":"none","kid":"`+f.ed.id+`"}`)) + "." + b64.EncodeToString([]byte(f.payload(t, nil))) + "."
		}, ErrAlgorithm},
		{"alg none, signature of the real key", func(t *testing.T) string {
			return rawToken(t, f.ed, `{"alg":"none","kid":"`+f.ed.id+`"}`, f.payload(t, nil))
		}, ErrAlgorithm},
		{"alg NONE", func(t *testing.T) string {
			return rawToken(t, f.ed, `{"alg":"NONE","kid":"`+f.ed.id+`"}`, f.payload(t, nil))
		}, ErrAlgorithm},
		{"alg missing", func(t *testing.T) string {
			return rawToken(t, f.ed, `{"kid":"`+f.ed.id+`"}`, f.payload(t, nil))
		}, ErrAlgorithm},
		{"alg unsupported", func(t *testing.T) string {
			return rawToken(t, f.hs, `{"alg":"HS512","kid":"`+f.hs.id+`"}`, f.payload(t, nil))
		}, ErrAlgorithm},
		{"alg not a string", func(t *testing.T) string {
			return rawToken(t, f.ed, `{"alg":["EdDSA"],"kid":"`+f.ed.id+`"}`, f.payload(t, nil))
		}, ErrAlgorithm},
		{"alg confusion: HS256 keyed with the RSA public key DER", func(t *testing.T) string {
			return rawToken(t, hmacWith(t, f.rs.id, rsaDER), `{"alg":"HS256","kid":"`+f.rs.id+`"}`, f.payload(t, nil))
		}, ErrAlgorithm},
		{"alg confusion: HS256 keyed with the RSA public key PEM", func(t *testing.T) string {
			return rawToken(t, hmacWith(t, f.rs.id, rsaPEM), `{"alg":"HS256","kid":"`+f.rs.id+`"}`, f.payload(t, nil))
		}, ErrAlgorithm},
		{"alg confusion: HS256 keyed with the Ed25519 public key DER", func(t *testing.T) string {
			return rawToken(t, hmacWith(t, f.ed.id, edDER), `{"alg":"HS256","kid":"`+f.ed.id+`"}`, f.payload(t, nil))
		}, ErrAlgorithm},
		{"alg confusion: HS256 keyed with the raw Ed25519 public key", func(t *testing.T) string {
			return rawToken(t, hmacWith(t, f.ed.id, edRaw), `{"alg":"HS256","kid":"`+f.ed.id+`"}`, f.payload(t, nil))
		}, ErrAlgorithm},
		{"alg not the key's", func(t *testing.T) string {
			return rawToken(t, f.es, `{"alg":"ES256","kid":"`+f.ed.id+`"}`, f.payload(t, nil))
		}, ErrAlgorithm},
		{"RS256 token naming the EdDSA key", func(t *testing.T) string {
			return rawToken(t, f.rs, `{"alg":"RS256","kid":"`+f.ed.id+`"}`, f.payload(t, nil))
		}, ErrAlgorithm},
		{"unknown kid", func(t *testing.T) string {
			return rawToken(t, f.ed, `{"alg":"EdDSA","kid":"no-such-key"}`, f.payload(t, nil))
		}, ErrUnknownKey},
		{"kid missing", func(t *testing.T) string {
			return rawToken(t, f.ed, `{"alg":"EdDSA"}`, f.payload(t, nil))
		}, ErrUnknownKey},
		{"kid empty", func(t *testing.T) string {
			return rawToken(t, f.ed, `{"alg":"EdDSA","kid":""}`, f.payload(t, nil))
		}, ErrUnknownKey},
		{"kid with a path", func(t *testing.T) string {
			return rawToken(t, f.ed, `{"alg":"EdDSA","kid":"../../../../dev/null"}`, f.payload(t, nil))
		}, ErrUnknownKey},
		{"kid with SQL", func(t *testing.T) string {
			return rawToken(t, f.ed, `{"alg":"EdDSA","kid":"x' UNION SELECT 'secret' --"}`, f.payload(t, nil))
		}, ErrUnknownKey},
		{"kid with the real kid and a NUL", func(t *testing.T) string {
			return rawToken(t, f.ed, `{"alg":"EdDSA","kid":"`+f.ed.id+`\u0000"}`, f.payload(t, nil))
		}, ErrUnknownKey},
		{"kid not a string", func(t *testing.T) string {
			return rawToken(t, f.ed, `{"alg":"EdDSA","kid":1}`, f.payload(t, nil))
		}, ErrMalformed},
		{"payload changed", func(t *testing.T) string {
			h, _, s := splitParts(good(t))
			return h + "." + b64.EncodeToString([]byte(f.payload(t, func(c *Claims) { c.Roles = []string{"admin", "root"} }))) + "." + s
		}, ErrSignatureInvalid},
		{"header changed", func(t *testing.T) string {
			_, p, s := splitParts(good(t))
			return b64.EncodeToString([]byte(`{"alg":"EdDSA","kid":"`+f.ed.id+`"}`)) + "." + p + "." + s
		}, ErrSignatureInvalid},
		{"signature changed", func(t *testing.T) string {
			h, p, s := splitParts(good(t))
			c := byte('A')
			if s[0] == 'A' {
				c = 'B'
			}
			return h + "." + p + "." + string(c) + s[1:]
		}, ErrSignatureInvalid},
		{"signature of another key", func(t *testing.T) string {
			other := newTestKey(t, EdDSA)
			other.id = f.ed.id
			return rawToken(t, other, jwsHeader(f.ed, ""), f.payload(t, nil))
		}, ErrSignatureInvalid},
		{"signature empty", func(t *testing.T) string {
			h, p, _ := splitParts(good(t))
			return h + "." + p + "."
		}, ErrSignatureInvalid},
		{"signature truncated", func(t *testing.T) string {
			h, p, s := splitParts(good(t))
			return h + "." + p + "." + s[:40]
		}, ErrSignatureInvalid},
		{"truncated to two parts", func(t *testing.T) string {
			h, p, _ := splitParts(good(t))
			return h + "." + p
		}, ErrMalformed},
		{"truncated in the header", func(t *testing.T) string { return good(t)[:10] }, ErrMalformed},
		{"empty", func(t *testing.T) string { return "" }, ErrMalformed},
		{"four parts", func(t *testing.T) string { return good(t) + ".AAAA" }, ErrMalformed},
		{"JWE compact form", func(t *testing.T) string { return "eyJhbGciOiJkaXIifQ..AAAA.AAAA.AAAA" }, ErrMalformed},
		{"padded base64 signature", func(t *testing.T) string { return good(t) + "==" }, ErrMalformed},
		{"padded base64 header", func(t *testing.T) string {
			h, p, s := splitParts(rawToken(t, f.ed, jwsHeader(f.ed, ` `), f.payload(t, nil)))
			if len(h)%4 == 0 {
				t.Fatal("header needs no padding; change the fixture")
			}
			return h + strings.Repeat("=", 4-len(h)%4) + "." + p + "." + s
		}, ErrMalformed},
		{"standard base64 alphabet", func(t *testing.T) string {
			return strings.NewReplacer("-", "+", "_", "/").Replace(good(t)) + "+/"
		}, ErrMalformed},
		{"non-canonical base64 signature", func(t *testing.T) string {
			tok := good(t)
			// 64 bytes take 86 characters, the last of which carries 4
			// zero bits; setting one makes a second spelling of the same
			// signature.
			last := strings.IndexByte(base64Alphabet, tok[len(tok)-1])
			return tok[:len(tok)-1] + string(base64Alphabet[last|1])
		}, ErrMalformed},
		{"line break in the signature", func(t *testing.T) string {
			tok := good(t)
			return tok[:len(tok)-10] + "\n" + tok[len(tok)-10:]
		}, ErrMalformed},
		{"space in the token", func(t *testing.T) string { return " " + good(t) }, ErrMalformed},
		{"expired", func(t *testing.T) string {
			return rawToken(t, f.ed, jwsHeader(f.ed, ""), f.payload(t, func(c *Claims) { c.ExpiresAt = now - 31; c.IssuedAt = now - 900; c.NotBefore = 0 }))
		}, ErrTokenExpired},
		{"exp zero", func(t *testing.T) string {
			return rawToken(t, f.ed, jwsHeader(f.ed, ""), `{"iss":"`+testIssuer+`","aud":"valet","exp":0}`)
		}, ErrTokenExpired},
		{"not yet valid", func(t *testing.T) string {
			return rawToken(t, f.ed, jwsHeader(f.ed, ""), f.payload(t, func(c *Claims) { c.NotBefore = now + 31 }))
		}, ErrNotYetValid},
		{"iat in the future", func(t *testing.T) string {
			return rawToken(t, f.ed, jwsHeader(f.ed, ""), f.payload(t, func(c *Claims) { c.IssuedAt = now + 31 }))
		}, ErrNotYetValid},
		{"wrong iss", func(t *testing.T) string {
			return rawToken(t, f.ed, jwsHeader(f.ed, ""), f.payload(t, func(c *Claims) { c.Issuer = "https://evil.example" }))
		}, ErrIssuer},
		{"iss missing", func(t *testing.T) string {
			return rawToken(t, f.ed, jwsHeader(f.ed, ""), f.payload(t, func(c *Claims) { c.Issuer = "" }))
		}, ErrIssuer},
		{"wrong aud", func(t *testing.T) string {
			return rawToken(t, f.ed, jwsHeader(f.ed, ""), f.payload(t, func(c *Claims) { c.Audience = Audience{"other", "valet-admin"} }))
		}, ErrAudience},
		{"aud missing", func(t *testing.T) string {
			return rawToken(t, f.ed, jwsHeader(f.ed, ""), f.payload(t, func(c *Claims) { c.Audience = nil }))
		}, ErrAudience},
		{"oversized", func(t *testing.T) string {
			return rawToken(t, f.ed, jwsHeader(f.ed, ""), f.payload(t, func(c *Claims) { c.Email = strings.Repeat("a", 6000) }))
		}, ErrTooLarge},
		{"duplicated claim", func(t *testing.T) string {
			return rawToken(t, f.ed, jwsHeader(f.ed, ""), `{"iss":"`+testIssuer+`","aud":"valet","sub":"user-1","sub":"admin","exp":`+fmt.Sprint(now+60)+`}`)
		}, ErrMalformed},
		{"duplicated claim, one escaped", func(t *testing.T) string {
			return rawToken(t, f.ed, jwsHeader(f.ed, ""), `{"iss":"`+testIssuer+`","aud":"valet","sub":"user-1","\u0073ub":"admin","exp":`+fmt.Sprint(now+60)+`}`)
		}, ErrMalformed},
		{"duplicated unknown claim", func(t *testing.T) string {
			return rawToken(t, f.ed, jwsHeader(f.ed, ""), `{"iss":"`+testIssuer+`","aud":"valet","x":1,"x":2,"exp":`+fmt.Sprint(now+60)+`}`)
		}, ErrMalformed},
		{"duplicated member in a nested object", func(t *testing.T) string {
			return rawToken(t, f.ed, jwsHeader(f.ed, ""), `{"iss":"`+testIssuer+`","aud":"valet","x":{"a":1,"a":2},"exp":`+fmt.Sprint(now+60)+`}`)
		}, ErrMalformed},
		{"duplicated header member", func(t *testing.T) string {
			return rawToken(t, f.ed, `{"alg":"EdDSA","kid":"`+f.ed.id+`","kid":"`+f.ed.id+`"}`, f.payload(t, nil))
		}, ErrMalformed},
		{"duplicated alg, the second none", func(t *testing.T) string {
			return rawToken(t, f.ed, `{"alg":"EdDSA","kid":"`+f.ed.id+`","alg":"none"}`, f.payload(t, nil))
		}, ErrMalformed},
		{"jku header pointing elsewhere", func(t *testing.T) string {
			return rawToken(t, f.ed, jwsHeader(f.ed, `,"jku":"https://evil.example/jwks.json"`), f.payload(t, nil))
		}, ErrUnsupportedHeader},
		{"jwk header", func(t *testing.T) string {
			jwk, _ := f.ed.PublicJWK()
			return rawToken(t, f.ed, jwsHeader(f.ed, `,"jwk":`+string(jwk)), f.payload(t, nil))
		}, ErrUnsupportedHeader},
		{"x5u header", func(t *testing.T) string {
			return rawToken(t, f.ed, jwsHeader(f.ed, `,"x5u":"https://evil.example/cert.pem"`), f.payload(t, nil))
		}, ErrUnsupportedHeader},
		{"x5c header", func(t *testing.T) string {
			return rawToken(t, f.ed, jwsHeader(f.ed, `,"x5c":["MIIB"]`), f.payload(t, nil))
		}, ErrUnsupportedHeader},
		{"jku header, escaped name", func(t *testing.T) string {
			return rawToken(t, f.ed, jwsHeader(f.ed, `,"\u006aku":"https://evil.example/jwks.json"`), f.payload(t, nil))
		}, ErrUnsupportedHeader},
		{"crit header", func(t *testing.T) string {
			return rawToken(t, f.ed, jwsHeader(f.ed, `,"crit":["exp"]`), f.payload(t, nil))
		}, ErrUnsupportedHeader},
		{"typ of another kind", func(t *testing.T) string {
			return rawToken(t, f.ed, `{"alg":"EdDSA","kid":"`+f.ed.id+`","typ":"secevent+jwt"}`, f.payload(t, nil))
		}, ErrUnsupportedHeader},
		{"missing exp", func(t *testing.T) string {
			return rawToken(t, f.ed, jwsHeader(f.ed, ""), `{"iss":"`+testIssuer+`","aud":"valet","sub":"user-1"}`)
		}, ErrMissingClaim},
		{"exp a string", func(t *testing.T) string {
			return rawToken(t, f.ed, jwsHeader(f.ed, ""), `{"iss":"`+testIssuer+`","aud":"valet","exp":"`+fmt.Sprint(now+60)+`"}`)
		}, ErrMalformed},
		{"exp with a fraction", func(t *testing.T) string {
			return rawToken(t, f.ed, jwsHeader(f.ed, ""), `{"iss":"`+testIssuer+`","aud":"valet","exp":`+fmt.Sprint(now+60)+`.5}`)
		}, ErrMalformed},
		{"exp past year 9999", func(t *testing.T) string {
			return rawToken(t, f.ed, jwsHeader(f.ed, ""), `{"iss":"`+testIssuer+`","aud":"valet","exp":9223372036854775807}`)
		}, ErrMalformed},
		{"nbf negative", func(t *testing.T) string {
			return rawToken(t, f.ed, jwsHeader(f.ed, ""), `{"iss":"`+testIssuer+`","aud":"valet","nbf":-1,"exp":`+fmt.Sprint(now+60)+`}`)
		}, ErrMalformed},
		{"roles not strings", func(t *testing.T) string {
			return rawToken(t, f.ed, jwsHeader(f.ed, ""), `{"iss":"`+testIssuer+`","aud":"valet","roles":[true],"exp":`+fmt.Sprint(now+60)+`}`)
		}, ErrMalformed},
		{"JSON array payload", func(t *testing.T) string {
			return rawToken(t, f.ed, jwsHeader(f.ed, ""), `[{"iss":"`+testIssuer+`","aud":"valet","exp":`+fmt.Sprint(now+60)+`}]`)
		}, ErrMalformed},
		{"JSON string payload", func(t *testing.T) string { return rawToken(t, f.ed, jwsHeader(f.ed, ""), `"exp"`) }, ErrMalformed},
		{"empty payload", func(t *testing.T) string { return rawToken(t, f.ed, jwsHeader(f.ed, ""), ``) }, ErrMalformed},
		{"JSON array header", func(t *testing.T) string {
			return rawToken(t, f.ed, `[`+jwsHeader(f.ed, "")+`]`, f.payload(t, nil))
		}, ErrMalformed},
		{"trailing data after the payload JSON", func(t *testing.T) string {
			return rawToken(t, f.ed, jwsHeader(f.ed, ""), f.payload(t, nil)+`x`)
		}, ErrMalformed},
		{"second object after the payload JSON", func(t *testing.T) string {
			return rawToken(t, f.ed, jwsHeader(f.ed, ""), f.payload(t, nil)+`{"sub":"admin"}`)
		}, ErrMalformed},
		{"trailing data after the header JSON", func(t *testing.T) string {
			return rawToken(t, f.ed, jwsHeader(f.ed, "")+`,`, f.payload(t, nil))
		}, ErrMalformed},
		{"invalid UTF-8 in a claim", func(t *testing.T) string {
			return rawToken(t, f.ed, jwsHeader(f.ed, ""), `{"iss":"`+testIssuer+`","aud":"valet","sub":"a`+"\xff"+`","exp":`+fmt.Sprint(now+60)+`}`)
		}, ErrMalformed},
		{"lone surrogate in a claim", func(t *testing.T) string {
			return rawToken(t, f.ed, jwsHeader(f.ed, ""), `{"iss":"`+testIssuer+`","aud":"valet","sub":"\ud800","exp":`+fmt.Sprint(now+60)+`}`)
		}, ErrMalformed},
		{"control character in a claim", func(t *testing.T) string {
			return rawToken(t, f.ed, jwsHeader(f.ed, ""), `{"iss":"`+testIssuer+`","aud":"valet","sub":"a`+"\x01"+`","exp":`+fmt.Sprint(now+60)+`}`)
		}, ErrMalformed},
		{"deeply nested claim", func(t *testing.T) string {
			return rawToken(t, f.ed, jwsHeader(f.ed, ""), `{"iss":"`+testIssuer+`","aud":"valet","x":`+strings.Repeat("[", 100)+strings.Repeat("]", 100)+`,"exp":`+fmt.Sprint(now+60)+`}`)
		}, ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := Claims{Subject: "untouched", Roles: []string{"none"}}
			got := before
			err := f.v.Verify(tc.token(t), &got)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
			wantExpired := tc.want == ErrTokenExpired
			if got, want := errors.Is(err, valet.ErrTokenExpired), wantExpired; got != want {
				t.Errorf("errors.Is(%v, valet.ErrTokenExpired) = %v, want %v", err, got, want)
			}
			if got, want := errors.Is(err, valet.ErrTokenInvalid), !wantExpired; got != want {
				t.Errorf("errors.Is(%v, valet.ErrTokenInvalid) = %v, want %v", err, got, want)
			}
			if !reflect.DeepEqual(got, before) {
				t.Errorf("Verify changed the claims to %+v on failure", got)
			}
		})
	}
}

const base64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

func TestVerifyAccepts(t *testing.T) {
	f := newAttackFixture(t)
	now := f.clock.Now().Unix()
	tests := []struct {
		name    string
		key     *Key
		header  string
		payload string
		want    Claims
	}{
		{
			name: "typ absent", key: f.ed,
			header:  `{"kid":"` + f.ed.id + `","alg":"EdDSA"}`,
			payload: fmt.Sprintf(`{"iss":%q,"aud":"valet","exp":%d}`, testIssuer, now+60),
			want:    Claims{Issuer: testIssuer, Audience: Audience{"valet"}, ExpiresAt: now + 60},
		},
		{
			name: "typ at+jwt", key: f.es,
			header:  `{"alg":"ES256","typ":"at+jwt","kid":"` + f.es.id + `"}`,
			payload: fmt.Sprintf(`{"iss":%q,"aud":"valet","exp":%d}`, testIssuer, now+60),
			want:    Claims{Issuer: testIssuer, Audience: Audience{"valet"}, ExpiresAt: now + 60},
		},
		{
			name: "typ in lower case, unknown header members", key: f.rs,
			header:  `{"alg":"RS256","typ":"jwt","kid":"` + f.rs.id + `","cty":"x","x5t#S256":"abc","b":{"c":[1,null,true]}}`,
			payload: fmt.Sprintf(`{"iss":%q,"aud":"valet","exp":%d}`, testIssuer, now+60),
			want:    Claims{Issuer: testIssuer, Audience: Audience{"valet"}, ExpiresAt: now + 60},
		},
		{
			name: "escapes, whitespace, unknown claims, aud array", key: f.hs,
			header: "\t{ \"alg\" : \"HS\\u0032\\u00356\" , \"kid\":\"" + f.hs.id + "\" }\r\n",
			payload: fmt.Sprintf(` { "iss" : %q, "aud":["other","valet"], "exp":%d, "nbf":%d, "iat":%d,`+
				` "sub":"\u00e9l\u00e8ve \ud83d\ude00 \"q\" \\ \/", "email":"a<b>&c@example.com", "roles":[],`+
				` "extra":{"nested":[1,2.5e3,-0.1,"s",{}]}, "n":null } `, testIssuer, now+60, now+30, now+30),
			want: Claims{
				Issuer: testIssuer, Audience: Audience{"other", "valet"}, ExpiresAt: now + 60, NotBefore: now + 30, IssuedAt: now + 30,
				Subject: "élève 😀 \"q\" \\ /", Email: "a<b>&c@example.com", Roles: []string{},
			},
		},
		{
			name: "expired within the leeway", key: f.ed,
			header:  jwsHeader(f.ed, ""),
			payload: fmt.Sprintf(`{"iss":%q,"aud":"valet","exp":%d}`, testIssuer, now-29),
			want:    Claims{Issuer: testIssuer, Audience: Audience{"valet"}, ExpiresAt: now - 29},
		},
		{
			name: "nbf and iat within the leeway", key: f.ed,
			header:  jwsHeader(f.ed, ""),
			payload: fmt.Sprintf(`{"iss":%q,"aud":"valet","exp":%d,"nbf":%d,"iat":%d}`, testIssuer, now+60, now+30, now+30),
			want:    Claims{Issuer: testIssuer, Audience: Audience{"valet"}, ExpiresAt: now + 60, NotBefore: now + 30, IssuedAt: now + 30},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got Claims
			if err := f.v.Verify(rawToken(t, tc.key, tc.header, tc.payload), &got); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("claims = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	for _, alg := range testAlgs {
		t.Run(alg, func(t *testing.T) {
			clock := newTestClock()
			k := testKey(t, alg)
			set := NewKeySet(k)
			want := validClaims(clock)
			tok := mustSign(t, set, &want)
			h, _, _ := splitParts(tok)
			if got, want := string(mustB64(t, h)), fmt.Sprintf(`{"alg":"%s","kid":"%s","typ":"JWT"}`, alg, k.id); got != want {
				t.Errorf("header = %s, want %s", got, want)
			}
			var got Claims
			v := NewVerifier(set, WithClock(clock.Now), WithIssuer(want.Issuer), WithAudience("valet"))
			if err := v.Verify(tok, &got); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("claims = %+v, want %+v", got, want)
			}
			// A verifier on a set without the key refuses the token.
			other := NewKeySet(newTestKey(t, alg))
			if err := NewVerifier(other, WithClock(clock.Now)).Verify(tok, &got); !errors.Is(err, ErrUnknownKey) {
				t.Errorf("Verify with another set = %v, want ErrUnknownKey", err)
			}
		})
	}
}

func TestVerifierOptions(t *testing.T) {
	clock := newTestClock()
	k := testKey(t, EdDSA)
	set := NewKeySet(k)
	now := clock.Now().Unix()
	tok := mustSign(t, set, &Claims{Issuer: "i", Audience: Audience{"a"}, ExpiresAt: now + 60})
	tests := []struct {
		name    string
		opts    []Option
		advance time.Duration
		want    error
	}{
		{"defaults, valid", []Option{WithClock(clock.Now)}, 0, nil},
		{"default leeway keeps an expired token for 30 s", []Option{WithClock(clock.Now)}, 89 * time.Second, nil},
		{"default leeway ends", []Option{WithClock(clock.Now)}, 90 * time.Second, ErrTokenExpired},
		{"no leeway", []Option{WithClock(clock.Now), WithLeeway(0)}, 60 * time.Second, ErrTokenExpired},
		{"long leeway", []Option{WithClock(clock.Now), WithLeeway(time.Hour)}, 30 * time.Minute, nil},
		{"issuer matches", []Option{WithClock(clock.Now), WithIssuer("i")}, 0, nil},
		{"issuer differs", []Option{WithClock(clock.Now), WithIssuer("j")}, 0, ErrIssuer},
		{"audience matches", []Option{WithClock(clock.Now), WithAudience("a")}, 0, nil},
		{"audience differs", []Option{WithClock(clock.Now), WithAudience("b")}, 0, ErrAudience},
		{"max size below the token", []Option{WithClock(clock.Now), WithMaxSize(len(tok) - 1)}, 0, ErrTooLarge},
		{"max size of the token", []Option{WithClock(clock.Now), WithMaxSize(len(tok))}, 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := testclock.New(clock.Now().Add(tc.advance))
			opts := tc.opts
			if tc.advance != 0 {
				opts = append(opts[:len(opts):len(opts)], WithClock(c.Now))
			}
			var got Claims
			err := NewVerifier(set, opts...).Verify(tok, &got)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Errorf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestVerifierDefaultClock(t *testing.T) {
	set := NewKeySet(testKey(t, HS256))
	v := NewVerifier(set)
	now := time.Now().Unix()
	var got Claims
	if err := v.Verify(mustSign(t, set, &Claims{ExpiresAt: now + 3600}), &got); err != nil {
		t.Errorf("Verify of a token valid for an hour: %v", err)
	}
	if err := v.Verify(mustSign(t, set, &Claims{ExpiresAt: now - 3600}), &got); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("Verify of a token expired an hour ago = %v, want ErrTokenExpired", err)
	}
	if err := v.Verify(mustSign(t, set, &Claims{ExpiresAt: now + 7200, NotBefore: now + 3600}), &got); !errors.Is(err, ErrNotYetValid) {
		t.Errorf("Verify of a token valid in an hour = %v, want ErrNotYetValid", err)
	}
}

// stringSource is a KeySource that only has the string lookup, to test the
// path for KeySource implementations of other packages.
type stringSource map[string]*Key

func (s stringSource) Key(kid string) (*Key, bool) { k, ok := s[kid]; return k, ok }

func TestVerifyWithOtherKeySource(t *testing.T) {
	clock := newTestClock()
	k := testKey(t, ES256)
	tok := mustSign(t, NewKeySet(k), &Claims{Subject: "s", ExpiresAt: clock.Now().Unix() + 60})
	var got Claims
	if err := NewVerifier(stringSource{k.id: k}, WithClock(clock.Now)).Verify(tok, &got); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got.Subject != "s" {
		t.Errorf("sub = %q, want s", got.Subject)
	}
	if err := NewVerifier(stringSource{}, WithClock(clock.Now)).Verify(tok, &got); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Verify with an empty source = %v, want ErrUnknownKey", err)
	}
}

func TestVerifyAllocations(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("allocation counts differ under coverage and the race detector")
	}
	clock := newTestClock()
	for _, tc := range []struct {
		alg string
		max float64
	}{
		// One string holding the payload's claims, one slice for aud and
		// roles.
		{HS256, 2},
		{EdDSA, 2},
	} {
		t.Run(tc.alg, func(t *testing.T) {
			set := NewKeySet(testKey(t, tc.alg))
			c := validClaims(clock)
			tok := mustSign(t, set, &c)
			v := NewVerifier(set, WithClock(clock.Now))
			var got Claims
			allocs := testing.AllocsPerRun(100, func() {
				if err := v.Verify(tok, &got); err != nil {
					t.Fatal(err)
				}
			})
			if allocs > tc.max {
				t.Errorf("Verify allocates %v times, want at most %v", allocs, tc.max)
			}
		})
	}
}

func TestParseUnverified(t *testing.T) {
	clock := newTestClock()
	k := testKey(t, EdDSA)
	c := validClaims(clock)
	tok := mustSign(t, NewKeySet(k), &c)
	h, claims, err := ParseUnverified(tok)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := h["kid"], any(k.id); got != want {
		t.Errorf("kid = %v, want %v", got, want)
	}
	if got, want := claims["exp"], any(json.Number(fmt.Sprint(c.ExpiresAt))); got != want {
		t.Errorf("exp = %#v, want %#v", got, want)
	}
	if got, want := claims["sub"], any(c.Subject); got != want {
		t.Errorf("sub = %v, want %v", got, want)
	}
	// The signature is not checked...
	hp, pp, _ := splitParts(tok)
	if _, _, err := ParseUnverified(hp + "." + pp + ".AAAA"); err != nil {
		t.Errorf("ParseUnverified with a wrong signature: %v", err)
	}
	// ...but the form is.
	for _, bad := range []string{
		"", "a.b", hp + "." + pp + ".AAA=", hp + "." + b64.EncodeToString([]byte(`{"a":1,"a":2}`)) + ".AAAA",
		hp + "." + b64.EncodeToString([]byte(`[1]`)) + ".AAAA", strings.Repeat("A", DefaultMaxSize) + "..",
	} {
		if _, _, err := ParseUnverified(bad); !errors.Is(err, valet.ErrTokenInvalid) {
			t.Errorf("ParseUnverified(%.40q) = %v, want an invalid-token error", bad, err)
		}
	}
}

func TestSignRefuses(t *testing.T) {
	k := testKey(t, EdDSA)
	pub, err := ParsePublicJWK(k.jwk)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		set  *KeySet
		c    Claims
		want error
	}{
		{"no signing key", NewKeySet(nil, pub), Claims{ExpiresAt: 1}, ErrInvalidKey},
		{"no exp", NewKeySet(k), Claims{Subject: "s"}, ErrMissingClaim},
		{"exp out of range", NewKeySet(k), Claims{ExpiresAt: maxNumericDate + 1}, ErrMalformed},
		{"negative iat", NewKeySet(k), Claims{ExpiresAt: 1, IssuedAt: -1}, ErrMalformed},
		{"too large", NewKeySet(k), Claims{ExpiresAt: 1, Email: strings.Repeat("a", DefaultMaxSize)}, ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.set.Sign(&tc.c); !errors.Is(err, tc.want) {
				t.Errorf("Sign = %v, want %v", err, tc.want)
			}
		})
	}
}
