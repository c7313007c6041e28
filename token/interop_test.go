package token

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/golang-jwt/jwt/v5"
)

// Interoperability with two widely used JOSE libraries: what this package
// signs, they verify, and what they sign with the same keys, this package
// verifies, for each algorithm.

// privateOf returns k's signing material in the form both libraries take.
func privateOf(k *Key) any {
	switch k.alg {
	case EdDSA:
		return k.edPriv
	case ES256:
		return k.ecPriv
	case RS256:
		return k.rsaPriv
	}
	return k.secret
}

// publicOf returns k's verification material in the form both libraries
// take.
func publicOf(k *Key) any {
	if k.alg == HS256 {
		return k.secret
	}
	return k.Public()
}

// golangJWTClaims is valet's claims as a golang-jwt claims type.
type golangJWTClaims struct {
	jwt.RegisteredClaims
	SessionID string   `json:"sid,omitempty"`
	Roles     []string `json:"roles,omitempty"`
	Email     string   `json:"email,omitempty"`
}

// valetExtra is valet's own claims, for go-jose.
type valetExtra struct {
	SessionID string   `json:"sid,omitempty"`
	Roles     []string `json:"roles,omitempty"`
	Email     string   `json:"email,omitempty"`
}

func TestInteropGolangJWT(t *testing.T) {
	for _, alg := range testAlgs {
		t.Run(alg, func(t *testing.T) {
			clock := newTestClock()
			k := testKey(t, alg)
			set := NewKeySet(k)
			want := validClaims(clock)

			t.Run("ours verify under golang-jwt", func(t *testing.T) {
				tok := mustSign(t, set, &want)
				var got golangJWTClaims
				parsed, err := jwt.ParseWithClaims(tok, &got, func(tk *jwt.Token) (any, error) {
					if tk.Header["kid"] != k.ID() {
						t.Errorf("kid = %v, want %s", tk.Header["kid"], k.ID())
					}
					return publicOf(k), nil
				}, jwt.WithValidMethods([]string{alg}), jwt.WithTimeFunc(clock.Now), jwt.WithIssuer(want.Issuer),
					jwt.WithAudience("valet"), jwt.WithExpirationRequired(), jwt.WithIssuedAt())
				if err != nil {
					t.Fatalf("golang-jwt: %v", err)
				}
				if parsed.Header["typ"] != "JWT" {
					t.Errorf("typ = %v", parsed.Header["typ"])
				}
				if got.Subject != want.Subject || got.ExpiresAt.Unix() != want.ExpiresAt || got.SessionID != want.SessionID ||
					!reflect.DeepEqual(got.Roles, want.Roles) || got.Email != want.Email || got.ID != want.ID {
					t.Errorf("golang-jwt read %+v, want %+v", got, want)
				}
			})

			t.Run("golang-jwt's verify under ours", func(t *testing.T) {
				method := jwt.GetSigningMethod(alg)
				tk := jwt.NewWithClaims(method, golangJWTClaims{
					RegisteredClaims: jwt.RegisteredClaims{
						Issuer: want.Issuer, Subject: want.Subject, Audience: jwt.ClaimStrings{"valet", "other"},
						ExpiresAt: jwt.NewNumericDate(time.Unix(want.ExpiresAt, 0)), IssuedAt: jwt.NewNumericDate(time.Unix(want.IssuedAt, 0)),
						NotBefore: jwt.NewNumericDate(time.Unix(want.NotBefore, 0)), ID: want.ID,
					},
					SessionID: want.SessionID, Roles: want.Roles, Email: want.Email,
				})
				tk.Header["kid"] = k.ID()
				tok, err := tk.SignedString(privateOf(k))
				if err != nil {
					t.Fatal(err)
				}
				var got Claims
				v := NewVerifier(set, WithClock(clock.Now), WithIssuer(want.Issuer), WithAudience("valet"))
				if err := v.Verify(tok, &got); err != nil {
					t.Fatalf("Verify: %v", err)
				}
				want := want
				want.Audience = Audience{"valet", "other"}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("claims = %+v, want %+v", got, want)
				}
			})
		})
	}
}

func TestInteropGoJose(t *testing.T) {
	joseAlg := map[string]jose.SignatureAlgorithm{EdDSA: jose.EdDSA, ES256: jose.ES256, RS256: jose.RS256, HS256: jose.HS256}
	for _, alg := range testAlgs {
		t.Run(alg, func(t *testing.T) {
			clock := newTestClock()
			k := testKey(t, alg)
			set := NewKeySet(k)
			want := validClaims(clock)

			t.Run("ours verify under go-jose", func(t *testing.T) {
				tok := mustSign(t, set, &want)
				parsed, err := josejwt.ParseSigned(tok, []jose.SignatureAlgorithm{joseAlg[alg]})
				if err != nil {
					t.Fatalf("go-jose parse: %v", err)
				}
				if got := parsed.Headers[0].KeyID; got != k.ID() {
					t.Errorf("kid = %s, want %s", got, k.ID())
				}
				var std josejwt.Claims
				var extra valetExtra
				if err := parsed.Claims(publicOf(k), &std, &extra); err != nil {
					t.Fatalf("go-jose verify: %v", err)
				}
				if err := std.Validate(josejwt.Expected{Issuer: want.Issuer, AnyAudience: josejwt.Audience{"valet"}, Time: clock.Now()}); err != nil {
					t.Errorf("go-jose validate: %v", err)
				}
				if std.Subject != want.Subject || std.Expiry.Time().Unix() != want.ExpiresAt || extra.SessionID != want.SessionID ||
					!reflect.DeepEqual(extra.Roles, want.Roles) || extra.Email != want.Email {
					t.Errorf("go-jose read %+v %+v, want %+v", std, extra, want)
				}
			})

			t.Run("go-jose's verify under ours", func(t *testing.T) {
				signer, err := jose.NewSigner(jose.SigningKey{Algorithm: joseAlg[alg], Key: privateOf(k)},
					(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", k.ID()))
				if err != nil {
					t.Fatal(err)
				}
				tok, err := josejwt.Signed(signer).Claims(josejwt.Claims{
					Issuer: want.Issuer, Subject: want.Subject, Audience: josejwt.Audience{"valet"},
					Expiry: josejwt.NewNumericDate(time.Unix(want.ExpiresAt, 0)), IssuedAt: josejwt.NewNumericDate(time.Unix(want.IssuedAt, 0)),
					NotBefore: josejwt.NewNumericDate(time.Unix(want.NotBefore, 0)), ID: want.ID,
				}).Claims(valetExtra{SessionID: want.SessionID, Roles: want.Roles, Email: want.Email}).Serialize()
				if err != nil {
					t.Fatal(err)
				}
				var got Claims
				v := NewVerifier(set, WithClock(clock.Now), WithIssuer(want.Issuer), WithAudience("valet"))
				if err := v.Verify(tok, &got); err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("claims = %+v, want %+v", got, want)
				}
			})

			if alg == HS256 {
				return
			}
			t.Run("JWK both ways", func(t *testing.T) {
				var jwk jose.JSONWebKey
				b, _ := k.PublicJWK()
				if err := json.Unmarshal(b, &jwk); err != nil {
					t.Fatalf("go-jose reads our JWK: %v", err)
				}
				if jwk.KeyID != k.ID() || jwk.Algorithm != alg || jwk.Use != "sig" || !jwk.Valid() {
					t.Errorf("go-jose read kid %q alg %q use %q", jwk.KeyID, jwk.Algorithm, jwk.Use)
				}
				if !reflect.DeepEqual(jwk.Key, k.Public()) {
					t.Errorf("go-jose's key %T differs from ours", jwk.Key)
				}
				theirs, err := json.Marshal(jose.JSONWebKey{Key: k.Public(), KeyID: k.ID(), Algorithm: alg, Use: "sig"})
				if err != nil {
					t.Fatal(err)
				}
				pub, err := ParsePublicJWK(theirs)
				if err != nil {
					t.Fatalf("ParsePublicJWK of go-jose's JWK %s: %v", theirs, err)
				}
				if pub.ID() != k.ID() || pub.Alg() != alg || !reflect.DeepEqual(pub.Public(), k.Public()) {
					t.Errorf("ParsePublicJWK of go-jose's JWK = %v", pub)
				}
			})
		})
	}
}
