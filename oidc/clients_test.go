package oidc_test

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/oidc"
)

func TestCheckRedirectURI(t *testing.T) {
	tests := []struct {
		uri string
		ok  bool
	}{
		{"https://app.example.com/cb", true},
		{"https://app.example.com:8443/cb?x=1", true},
		{"http://localhost:8080/cb", true},
		{"http://127.0.0.1/cb", true},
		{"http://[::1]:9000/cb", true},
		{"http://app.example.com/cb", false},
		{"http://localhost.evil.example/cb", false},
		{"http://127.0.0.1.evil.example/cb", false},
		{"https://app.example.com/cb#frag", false},
		{"https://app.example.com/cb#", false},
		{"https://user@app.example.com/cb", false},
		{"/cb", false},
		{"//app.example.com/cb", false},
		{"app.example.com/cb", false},
		{"javascript:alert(1)", false},
		{"custom-scheme://cb", false},
		{"https://app.example.com/c b", false},
		{"https://app.example.com/cb\n", false},
		{"", false},
	}
	for _, tc := range tests {
		err := oidc.CheckRedirectURI(tc.uri)
		if got := err == nil; got != tc.ok {
			t.Errorf("CheckRedirectURI(%q) = %v, want ok %v", tc.uri, err, tc.ok)
		}
		if err != nil && !errors.Is(err, valet.ErrInvalidRequest) {
			t.Errorf("CheckRedirectURI(%q) = %v, want valet.ErrInvalidRequest", tc.uri, err)
		}
	}
}

// TestNewClient: the secret is random, returned once and stored as its
// hash; a public client has none; openid is always a scope; the reserved
// id is never served.
func TestNewClient(t *testing.T) {
	ctx := context.Background()
	store := newMemClients()
	spec := oidc.ClientSpec{Name: " App ", RedirectURIs: []string{"https://app.example.com/cb"}, Scopes: []string{"email", "email"}}
	c, secret, err := oidc.NewClient(ctx, store, spec, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	got, err := store.ClientByID(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(secret) != 43 || got.SecretHash != valet.HashSecret(secret) || got.Name != "App" {
		t.Fatalf("stored %+v for secret %q", got, secret)
	}
	if want := []string{"openid", "email"}; len(got.Scopes) != 2 || got.Scopes[0] != want[0] || got.Scopes[1] != want[1] {
		t.Fatalf("scopes %v, want %v", got.Scopes, want)
	}
	spec.Public = true
	if c, secret, err := oidc.NewClient(ctx, store, spec, time.Now()); err != nil || secret != "" || !c.Public() {
		t.Fatalf("public client: %+v, secret %q, %v", c, secret, err)
	}
	for _, bad := range []oidc.ClientSpec{
		{RedirectURIs: []string{"https://a.example/cb"}},
		{Name: "x"},
		{Name: "x", RedirectURIs: []string{"https://a.example/cb"}, Scopes: []string{"admin"}},
		{Name: "x", RedirectURIs: []string{"https://a.example/cb"}, PostLogoutRedirectURIs: []string{"http://a.example/"}},
		{Name: "two\nlines", RedirectURIs: []string{"https://a.example/cb"}},
	} {
		if _, _, err := oidc.NewClient(ctx, store, bad, time.Now()); !errors.Is(err, valet.ErrInvalidRequest) {
			t.Errorf("NewClient(%+v) = %v, want ErrInvalidRequest", bad, err)
		}
	}
}

// TestReservedClientID: a stored client with the audience of valet's own
// tokens as its id is not served, its right secret notwithstanding.
func TestReservedClientID(t *testing.T) {
	e := newEnv(t)
	c, err := e.clients.ClientByID(context.Background(), webID)
	if err != nil {
		t.Fatal(err)
	}
	c.ID = oidc.ReservedClientID
	if err := e.clients.CreateClient(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	status, out, _ := e.post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, oidc.ReservedClientID, webSecret)
	if status != 401 || out["error"] != "invalid_client" {
		t.Fatalf("client_credentials as %q: %d %v, want 401 invalid_client", oidc.ReservedClientID, status, out)
	}
}
