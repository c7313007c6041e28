package bench

// Side-by-side benchmarks of JWS sign and verify: valet's token package
// beside golang-jwt v5, go-jose v4, lestrrat-go/jwx v3, and the bare
// primitive each algorithm rests on. Every library works on the same keys
// and the same claims, and every verifier reads the same token, signed by
// valet (TestLibrariesAgree checks that each one accepts it, so that no
// benchmark measures a quick refusal).
//
// Run, from this directory:
//
//	go test -run '^$' -bench . -benchmem -count 6 > /tmp/jws.txt
//	benchstat -col /lib /tmp/jws.txt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"hash"
	"math/big"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/golang-jwt/jwt/v5"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
	jwxjwt "github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/valetauth/valet/token"
)

var algs = []string{token.EdDSA, token.ES256, token.RS256, token.HS256}

const (
	issuer   = "https://valet.example"
	audience = "valet"
)

// fixture is one algorithm's keys in every library's form, and a token of
// the shared claims signed by valet.
type fixture struct {
	alg string
	key *token.Key
	set *token.KeySet
	// verifier is valet's verifier of set, made once as a server does.
	verifier *token.Verifier
	priv     any // ed25519.PrivateKey, *ecdsa.PrivateKey, *rsa.PrivateKey or []byte
	pub      any // the public key, or the secret for HS256
	tok      string
	// The token's signing input and decoded signature, for the primitives.
	input []byte
	sig   []byte
	sigB  string // the signature part, base64url
}

// claims are the claims every library signs and reads.
func claims() token.Claims {
	now := time.Now().Unix()
	return token.Claims{
		Issuer: issuer, Subject: "user-0b0f5e2c", Audience: token.Audience{audience},
		ExpiresAt: now + 3600, NotBefore: now - 10, IssuedAt: now - 10,
		ID: "8d3c7f0e6a", SessionID: "4Jt0m1Qv9cZ", Roles: []string{"user"}, Email: "ada@example.com",
	}
}

var fixtures = sync.OnceValue(func() map[string]*fixture {
	out := make(map[string]*fixture, len(algs))
	for _, alg := range algs {
		k, err := token.GenerateKey(alg)
		if err != nil {
			panic(err)
		}
		f := &fixture{alg: alg, key: k, set: token.NewKeySet(k)}
		f.verifier = token.NewVerifier(f.set, token.WithIssuer(issuer), token.WithAudience(audience))
		der, err := k.MarshalPrivate()
		if err != nil {
			panic(err)
		}
		if alg == token.HS256 {
			f.priv, f.pub = der, der
		} else {
			if f.priv, err = x509.ParsePKCS8PrivateKey(der); err != nil {
				panic(err)
			}
			f.pub = k.Public()
		}
		c := claims()
		if f.tok, err = f.set.Sign(&c); err != nil {
			panic(err)
		}
		dot := strings.LastIndexByte(f.tok, '.')
		f.input, f.sigB = []byte(f.tok[:dot]), f.tok[dot+1:]
		if f.sig, err = base64.RawURLEncoding.DecodeString(f.sigB); err != nil {
			panic(err)
		}
		out[alg] = f
	}
	return out
})

// valet's own claims beyond the registered ones, for the other libraries.
type extra struct {
	SessionID string   `json:"sid,omitempty"`
	Roles     []string `json:"roles,omitempty"`
	Email     string   `json:"email,omitempty"`
}

type golangJWTClaims struct {
	jwt.RegisteredClaims
	extra
}

var joseAlgs = map[string]jose.SignatureAlgorithm{token.EdDSA: jose.EdDSA, token.ES256: jose.ES256, token.RS256: jose.RS256, token.HS256: jose.HS256}

func jwxAlg(alg string) jwa.SignatureAlgorithm {
	switch alg {
	case token.EdDSA:
		return jwa.EdDSA()
	case token.ES256:
		return jwa.ES256()
	case token.RS256:
		return jwa.RS256()
	}
	return jwa.HS256()
}

// A library under test: how it verifies f.tok and how it signs the claims.
type library struct {
	name   string
	verify func(f *fixture) error
	sign   func(f *fixture) (string, error)
}

var libraries = []library{
	{
		name: "valet",
		verify: func(f *fixture) error {
			var c token.Claims
			return f.verifier.Verify(f.tok, &c)
		},
		sign: func(f *fixture) (string, error) {
			c := claims()
			return f.set.Sign(&c)
		},
	},
	{
		name: "golang-jwt",
		verify: func(f *fixture) error {
			var c golangJWTClaims
			_, err := jwt.ParseWithClaims(f.tok, &c, func(*jwt.Token) (any, error) { return f.pub, nil },
				jwt.WithValidMethods([]string{f.alg}), jwt.WithIssuer(issuer), jwt.WithAudience(audience),
				jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(30*time.Second))
			return err
		},
		sign: func(f *fixture) (string, error) {
			c := claims()
			t := jwt.NewWithClaims(jwt.GetSigningMethod(f.alg), golangJWTClaims{
				RegisteredClaims: jwt.RegisteredClaims{
					Issuer: c.Issuer, Subject: c.Subject, Audience: jwt.ClaimStrings(c.Audience),
					ExpiresAt: jwt.NewNumericDate(time.Unix(c.ExpiresAt, 0)), NotBefore: jwt.NewNumericDate(time.Unix(c.NotBefore, 0)),
					IssuedAt: jwt.NewNumericDate(time.Unix(c.IssuedAt, 0)), ID: c.ID,
				},
				extra: extra{SessionID: c.SessionID, Roles: c.Roles, Email: c.Email},
			})
			t.Header["kid"] = f.key.ID()
			return t.SignedString(f.priv)
		},
	},
	{
		name: "go-jose",
		verify: func(f *fixture) error {
			t, err := josejwt.ParseSigned(f.tok, []jose.SignatureAlgorithm{joseAlgs[f.alg]})
			if err != nil {
				return err
			}
			var std josejwt.Claims
			var ex extra
			if err := t.Claims(f.pub, &std, &ex); err != nil {
				return err
			}
			return std.ValidateWithLeeway(josejwt.Expected{Issuer: issuer, AnyAudience: josejwt.Audience{audience}}, 30*time.Second)
		},
		sign: func(f *fixture) (string, error) {
			c := claims()
			signer, err := jose.NewSigner(jose.SigningKey{Algorithm: joseAlgs[f.alg], Key: f.priv},
				(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", f.key.ID()))
			if err != nil {
				return "", err
			}
			return josejwt.Signed(signer).Claims(josejwt.Claims{
				Issuer: c.Issuer, Subject: c.Subject, Audience: josejwt.Audience(c.Audience),
				Expiry: josejwt.NewNumericDate(time.Unix(c.ExpiresAt, 0)), NotBefore: josejwt.NewNumericDate(time.Unix(c.NotBefore, 0)),
				IssuedAt: josejwt.NewNumericDate(time.Unix(c.IssuedAt, 0)), ID: c.ID,
			}).Claims(extra{SessionID: c.SessionID, Roles: c.Roles, Email: c.Email}).Serialize()
		},
	},
	{
		name: "jwx",
		verify: func(f *fixture) error {
			_, err := jwxjwt.ParseString(f.tok, jwxjwt.WithKey(jwxAlg(f.alg), f.pub),
				jwxjwt.WithIssuer(issuer), jwxjwt.WithAudience(audience), jwxjwt.WithAcceptableSkew(30*time.Second))
			return err
		},
		sign: func(f *fixture) (string, error) {
			c := claims()
			t, err := jwxjwt.NewBuilder().Issuer(c.Issuer).Subject(c.Subject).Audience(c.Audience).
				Expiration(time.Unix(c.ExpiresAt, 0)).NotBefore(time.Unix(c.NotBefore, 0)).IssuedAt(time.Unix(c.IssuedAt, 0)).
				JwtID(c.ID).Claim("sid", c.SessionID).Claim("roles", c.Roles).Claim("email", c.Email).Build()
			if err != nil {
				return "", err
			}
			h := jws.NewHeaders()
			if err := h.Set(jws.KeyIDKey, f.key.ID()); err != nil {
				return "", err
			}
			b, err := jwxjwt.Sign(t, jwxjwt.WithKey(jwxAlg(f.alg), f.priv, jws.WithProtectedHeaders(h)))
			return string(b), err
		},
	},
}

// The bare primitives: the least work any verifier of f.tok must do, on a
// signing input and a signature already split apart. HS256 includes the
// base64url decoding of the signature; the others take it decoded; every
// one includes hashing the signing input.

var errBad = jwt.ErrSignatureInvalid

// ecdsaRS holds the ES256 signature as the integers ecdsa.Verify takes.
var ecdsaRS = sync.OnceValues(func() (*big.Int, *big.Int) {
	sig := fixtures()[token.ES256].sig
	return new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
})

func primitiveVerify(f *fixture) error {
	var ok bool
	switch f.alg {
	case token.HS256:
		sig, err := base64.RawURLEncoding.DecodeString(f.sigB)
		if err != nil {
			return err
		}
		mac := hmac.New(sha256.New, f.pub.([]byte))
		mac.Write(f.input)
		ok = hmac.Equal(mac.Sum(nil), sig)
	case token.EdDSA:
		ok = ed25519.Verify(f.pub.(ed25519.PublicKey), f.input, f.sig)
	case token.ES256:
		r, s := ecdsaRS()
		digest := sha256.Sum256(f.input)
		ok = ecdsa.Verify(f.pub.(*ecdsa.PublicKey), digest[:], r, s)
	case token.RS256:
		digest := sha256.Sum256(f.input)
		ok = rsa.VerifyPKCS1v15(f.pub.(*rsa.PublicKey), crypto.SHA256, digest[:], f.sig) == nil
	}
	if !ok {
		return errBad
	}
	return nil
}

// keyedMAC is an HMAC whose key schedule is done once, as valet does it:
// the fastest an HS256 verifier can be.
var keyedMAC = sync.OnceValue(func() hash.Hash { return hmac.New(sha256.New, fixtures()[token.HS256].pub.([]byte)) })

func primitiveKeyedVerify(f *fixture) error {
	var sig, sum [32]byte
	if n, err := base64.RawURLEncoding.Decode(sig[:], []byte(f.sigB)); err != nil || n != len(sig) {
		return errBad
	}
	mac := keyedMAC()
	mac.Reset()
	mac.Write(f.input)
	if !hmac.Equal(mac.Sum(sum[:0]), sig[:]) {
		return errBad
	}
	return nil
}

func primitiveSign(f *fixture) ([]byte, error) {
	switch f.alg {
	case token.HS256:
		mac := hmac.New(sha256.New, f.priv.([]byte))
		mac.Write(f.input)
		return mac.Sum(nil), nil
	case token.EdDSA:
		return ed25519.Sign(f.priv.(ed25519.PrivateKey), f.input), nil
	case token.ES256:
		digest := sha256.Sum256(f.input)
		return ecdsa.SignASN1(rand.Reader, f.priv.(*ecdsa.PrivateKey), digest[:])
	}
	digest := sha256.Sum256(f.input)
	return rsa.SignPKCS1v15(nil, f.priv.(*rsa.PrivateKey), crypto.SHA256, digest[:])
}

// TestLibrariesAgree checks that every library accepts the token the
// benchmarks verify and that valet accepts every library's token, so that
// each benchmark measures a successful run.
func TestLibrariesAgree(t *testing.T) {
	for _, alg := range algs {
		f := fixtures()[alg]
		for _, lib := range libraries {
			if err := lib.verify(f); err != nil {
				t.Errorf("%s %s refuses valet's token: %v", lib.name, alg, err)
			}
			tok, err := lib.sign(f)
			if err != nil {
				t.Fatalf("%s %s sign: %v", lib.name, alg, err)
			}
			var c token.Claims
			if err := f.verifier.Verify(tok, &c); err != nil {
				t.Errorf("valet refuses the %s %s token: %v", lib.name, alg, err)
			}
			if want := claims(); c.Subject != want.Subject || c.Email != want.Email || c.SessionID != want.SessionID {
				t.Errorf("valet read %+v from the %s %s token", c, lib.name, alg)
			}
		}
		if err := primitiveVerify(f); err != nil {
			t.Errorf("primitive %s: %v", alg, err)
		}
		if alg == token.HS256 {
			if err := primitiveKeyedVerify(f); err != nil {
				t.Errorf("keyed primitive: %v", err)
			}
		}
	}
}

// cpuTime returns the CPU time the process has used, user and system, on
// every thread: the benchmark and the runtime's work for it, such as
// garbage collection.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loop runs op as the benchmark and reports, beside the wall-clock ns/op,
// the CPU time per op. On a machine that other work shares, wall-clock time
// swings with the load while CPU time stays close to the cost of op, so
// the ratios in README.md are taken from cpu-ns/op.
func loop(b *testing.B, op func() error) {
	b.ReportAllocs()
	n := 0
	start := cpuTime(b)
	for b.Loop() {
		if err := op(); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(cpuTime(b)-start)/float64(n), "cpu-ns/op")
}

func BenchmarkVerify(b *testing.B) {
	for _, alg := range algs {
		f := fixtures()[alg]
		b.Run("alg="+alg, func(b *testing.B) {
			run := func(name string, verify func(*fixture) error) {
				b.Run("lib="+name, func(b *testing.B) { loop(b, func() error { return verify(f) }) })
			}
			run("primitive", primitiveVerify)
			if alg == token.HS256 {
				run("primitive-keyed", primitiveKeyedVerify)
			}
			for _, lib := range libraries {
				run(lib.name, lib.verify)
			}
		})
	}
}

func BenchmarkSign(b *testing.B) {
	for _, alg := range algs {
		f := fixtures()[alg]
		b.Run("alg="+alg, func(b *testing.B) {
			b.Run("lib=primitive", func(b *testing.B) {
				loop(b, func() error { _, err := primitiveSign(f); return err })
			})
			for _, lib := range libraries {
				b.Run("lib="+lib.name, func(b *testing.B) {
					loop(b, func() error { _, err := lib.sign(f); return err })
				})
			}
		})
	}
}
