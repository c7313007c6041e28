package oidc_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/oidc"
	"github.com/valetauth/valet/token"
)

func tokenAlg(tb testing.TB, tok string) string {
	tb.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.SplitN(tok, ".", 2)[0])
	if err != nil {
		tb.Fatal(err)
	}
	var h struct{ Alg string }
	_ = json.Unmarshal(raw, &h)
	return h.Alg
}

// TestRS256Client: a client that asked for RS256 gets RS256 ID and logout
// tokens, which go-oidc checks with its defaults (RS256 alone), while its
// access tokens stay valet's.
func TestRS256Client(t *testing.T) {
	rsKey, err := token.GenerateKey(token.RS256)
	if err != nil {
		t.Fatal(err)
	}
	rs := token.NewKeySet(rsKey)
	var edSet *token.KeySet
	e := newEnv(t, func(c *oidc.Config) {
		sign := c.Sign
		c.SignAs = func(cl *token.Claims, alg string) (string, error) {
			if alg == token.RS256 {
				return rs.Sign(cl)
			}
			return sign(cl)
		}
		c.JWKS = func() []byte { return token.NewKeySet(edSet.Signing(), rsKey).JWKS() }
	})
	edSet = e.keys
	e.clients.update(webID, func(c *valet.Client) { c.IDTokenAlg = token.RS256 })
	ctx := context.Background()

	prov, err := gooidc.NewProvider(ctx, e.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Algs []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := prov.Claims(&doc); err != nil || len(doc.Algs) != 2 || doc.Algs[1] != token.RS256 {
		t.Errorf("discovery names the algorithms %v (%v), want EdDSA and RS256", doc.Algs, err)
	}
	b := e.browser(identity("s-rs"))
	_, m := e.exchange(b.code(authParams()))
	idt, _ := m["id_token"].(string)
	access, _ := m["access_token"].(string)
	if tokenAlg(t, idt) != token.RS256 || tokenAlg(t, access) != token.EdDSA {
		t.Fatalf("ID token %s, access token %s; want RS256 and EdDSA", tokenAlg(t, idt), tokenAlg(t, access))
	}
	if _, err := prov.Verifier(&gooidc.Config{ClientID: webID}).Verify(ctx, idt); err != nil {
		t.Errorf("go-oidc's default verifier refuses the RS256 ID token: %v", err)
	}

	// Back-channel logout tokens are the client's algorithm too.
	received := make(chan string, 1)
	rp := newRPServer(t, received)
	e.clients.update(webID, func(c *valet.Client) { c.BackchannelLogoutURI = rp.URL + "/backchannel" })
	if err := e.p.SessionEnded(ctx, "u1", "s-rs"); err != nil {
		t.Fatal(err)
	}
	select {
	case lt := <-received:
		if tokenAlg(t, lt) != token.RS256 {
			t.Errorf("logout token signed with %s, want RS256", tokenAlg(t, lt))
		}
		if _, err := prov.Verifier(&gooidc.Config{ClientID: webID}).VerifyLogout(ctx, lt); err != nil {
			t.Errorf("the RS256 logout token does not verify: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no logout token")
	}
}

// TestIDTokenAlgWithoutSignAs: a provider that cannot sign a client's
// algorithm refuses its token request the OAuth way, and keeps serving.
func TestIDTokenAlgWithoutSignAs(t *testing.T) {
	e := newEnv(t)
	e.clients.update(webID, func(c *valet.Client) { c.IDTokenAlg = token.RS256 })
	b := e.browser(identity("s-none"))
	// The server's own failure, not a refusal: e.post would flag its 500.
	form := url.Values{"grant_type": {"authorization_code"}, "code": {b.code(authParams())}, "redirect_uri": {webCB}}
	req, _ := http.NewRequest("POST", e.srv.URL+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(webID, webSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	resp.Body.Close()
	if resp.StatusCode != 500 || m["error"] != "server_error" || m["id_token"] != nil {
		t.Errorf("token answer %d %v, want 500 server_error and no ID token", resp.StatusCode, m)
	}
	e.clients.update(webID, func(c *valet.Client) { c.IDTokenAlg = "" })
	if status, _ := e.exchange(b.code(authParams())); status != 200 {
		t.Errorf("after that, a token request answers %d", status)
	}
}
