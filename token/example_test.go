package token_test

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/token"
)

func Example() {
	key, err := token.GenerateKey(token.EdDSA)
	if err != nil {
		panic(err)
	}
	keys := token.NewKeySet(key)
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tok, err := keys.Sign(&token.Claims{
		Subject:   "user-1",
		Audience:  token.Audience{"valet"},
		IssuedAt:  now.Unix(),
		ExpiresAt: now.Add(15 * time.Minute).Unix(),
		Roles:     []string{"admin"},
	})
	if err != nil {
		panic(err)
	}

	v := token.NewVerifier(keys, token.WithAudience("valet"), token.WithClock(func() time.Time { return now }))
	var c token.Claims
	if err := v.Verify(tok, &c); err != nil {
		panic(err)
	}
	fmt.Println(c.Subject, c.Roles)

	// An hour later the token has expired: a client should refresh.
	later := token.NewVerifier(keys, token.WithClock(func() time.Time { return now.Add(time.Hour) }))
	err = later.Verify(tok, &c)
	fmt.Println(errors.Is(err, token.ErrTokenExpired), errors.Is(err, valet.ErrTokenExpired), errors.Is(err, valet.ErrTokenInvalid))

	// A token changed in transit is invalid.
	err = v.Verify(tok[:len(tok)-4]+"AAAA", &c)
	fmt.Println(errors.Is(err, token.ErrSignatureInvalid), errors.Is(err, valet.ErrTokenInvalid))
	// Output:
	// user-1 [admin]
	// true true false
	// true true
}

func ExampleParseJWKS() {
	// The issuer publishes the JWKS of its key set...
	key, err := token.GenerateKey(token.ES256)
	if err != nil {
		panic(err)
	}
	issuer := token.NewKeySet(key)
	doc := issuer.JWKS()

	// ...and another service verifies its tokens with the public keys alone.
	keys, err := token.ParseJWKS(doc)
	if err != nil {
		panic(err)
	}
	tok, err := issuer.Sign(&token.Claims{Subject: "user-1", ExpiresAt: time.Now().Add(time.Minute).Unix()})
	if err != nil {
		panic(err)
	}
	var c token.Claims
	fmt.Println(token.NewVerifier(keys).Verify(tok, &c), c.Subject)

	var parsed struct {
		Keys []struct{ Kty, Crv, Alg, Use string } `json:"keys"`
	}
	if err := json.Unmarshal(doc, &parsed); err != nil {
		panic(err)
	}
	fmt.Printf("%+v\n", parsed.Keys)
	// Output:
	// <nil> user-1
	// [{Kty:EC Crv:P-256 Alg:ES256 Use:sig}]
}

func ExampleKeySet_JWKS() {
	// HS256 keys are symmetric: they never appear in a JWKS.
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		panic(err)
	}
	key, err := token.NewHMACKey("hmac-1", secret)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(token.NewKeySet(key).JWKS()))
	// Output:
	// {"keys":[]}
}
