package oidc_test

import (
	"context"
	"net/http"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/oidc"
	"github.com/valetauth/valet/token"
)

// ExampleNew shows the wiring of the provider into a server: its routes
// on the mux, and SessionEnded where device sessions end.
func ExampleNew() {
	keys := token.NewKeySet(mustKey(token.GenerateKey(token.EdDSA)))
	var (
		clients  valet.ClientStore // stores.Clients of the database
		users    oidc.UserSource   // *auth.Service
		identify func(*http.Request) (*valet.Identity, error)
	)
	p := oidc.New(oidc.Config{
		Issuer:   "https://id.example.com",
		Clients:  clients,
		Identify: identify,
		Users:    users,
		Sign:     keys.Sign,
		JWKS:     keys.JWKS,
	})
	defer p.Close()

	mux := http.NewServeMux()
	mux.Handle("/oauth2/", p.Handler())
	mux.Handle("/.well-known/openid-configuration", p.Handler())

	// When a device session ends (sign-out, expiry, revocation):
	_ = p.SessionEnded(context.Background(), "user-id", "session-id")
}

func mustKey(k *token.Key, err error) *token.Key {
	if err != nil {
		panic(err)
	}
	return k
}
