package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/password"
	"github.com/valetauth/valet/store/memory"
	"github.com/valetauth/valet/token"
)

// newIDKeyService returns a service on st that signs with EdDSA and keeps
// ID-token keys of algs.
func newIDKeyService(tb testing.TB, st *memory.Store, algs ...string) (*Service, error) {
	tb.Helper()
	s, err := New(context.Background(), Config{
		Stores: st.Stores(), AccessTTL: 15 * time.Minute, IDTokenAlgs: algs, KeyReload: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Hasher: password.NewHasher(password.Params{Memory: 8192, Iterations: 1, Parallelism: 1}, 0, 0),
	})
	if err == nil {
		tb.Cleanup(func() { _ = s.Close() })
	}
	return s, err
}

func headerAlg(tb testing.TB, tok string) (alg, kid string) {
	tb.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.SplitN(tok, ".", 2)[0])
	if err != nil {
		tb.Fatal(err)
	}
	var h struct{ Alg, Kid string }
	if err := json.Unmarshal(raw, &h); err != nil {
		tb.Fatal(err)
	}
	return h.Alg, h.Kid
}

func jwksAlgs(tb testing.TB, doc []byte) map[string]string {
	tb.Helper()
	var set struct {
		Keys []struct{ Kid, Alg string }
	}
	if err := json.Unmarshal(doc, &set); err != nil {
		tb.Fatalf("JWKS %s: %v", doc, err)
	}
	out := map[string]string{}
	for _, k := range set.Keys {
		out[k.Kid] = k.Alg
	}
	return out
}

func TestIDTokenKeys(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	s, err := newIDKeyService(t, st, token.EdDSA, token.RS256)
	if err != nil {
		t.Fatal(err)
	}
	c := &token.Claims{Issuer: "valet", Subject: "u1", Audience: token.Audience{"app"}, IssuedAt: time.Now().Unix(), ExpiresAt: time.Now().Add(time.Minute).Unix()}
	rs, err := s.SignClaimsAs(c, token.RS256)
	if err != nil {
		t.Fatal(err)
	}
	ed, err := s.SignClaimsAs(c, "")
	if err != nil {
		t.Fatal(err)
	}
	rsAlg, rsKid := headerAlg(t, rs)
	edAlg, edKid := headerAlg(t, ed)
	if rsAlg != token.RS256 || edAlg != token.EdDSA {
		t.Fatalf("signed with %s and %s, want RS256 and EdDSA", rsAlg, edAlg)
	}
	if same, _ := s.SignClaimsAs(c, token.EdDSA); same == "" {
		t.Error("SignClaimsAs(EdDSA), the signing algorithm, failed")
	}
	if got := jwksAlgs(t, s.JWKS()); got[rsKid] != token.RS256 || got[edKid] != token.EdDSA || len(got) != 2 {
		t.Fatalf("JWKS %v, want the EdDSA key %s and the RS256 key %s", got, edKid, rsKid)
	}

	// The ID-token key signs no access token: the API refuses a token it
	// signed, claims and all.
	access := &token.Claims{Issuer: s.cfg.Issuer, Subject: "u1", Audience: token.Audience{s.cfg.Audience},
		IssuedAt: time.Now().Unix(), ExpiresAt: time.Now().Add(time.Minute).Unix(), ID: "j1"}
	forged, err := s.SignClaimsAs(access, token.RS256)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Introspect(ctx, forged); err == nil {
		t.Error("the API took a token signed with the ID-token key")
	}
	if good, _ := s.SignClaims(access); good == "" {
		t.Fatal("SignClaims failed")
	} else if _, err := s.Introspect(ctx, good); err != nil {
		t.Errorf("the API refused a token of its own signing key: %v", err)
	}

	for _, alg := range []string{token.ES256, token.HS256, "none", "rs256", ""[:0] + "RS512"} {
		if _, err := s.SignClaimsAs(c, alg); !errors.Is(err, valet.ErrInvalidRequest) {
			t.Errorf("SignClaimsAs(%q) = %v, want ErrInvalidRequest", alg, err)
		}
	}

	// A second node on the same store signs with the same keys; a
	// rotation there gives both algorithms new keys, which this node
	// lists.
	other, err := newIDKeyService(t, st, token.EdDSA, token.RS256)
	if err != nil {
		t.Fatal(err)
	}
	if tok, _ := other.SignClaimsAs(c, token.RS256); tok == "" {
		t.Fatal("the second node cannot sign RS256")
	} else if _, kid := headerAlg(t, tok); kid != rsKid {
		t.Errorf("the second node signs RS256 with %s, want the stored %s", kid, rsKid)
	}
	if _, err := other.RotateKeys(ctx); err != nil {
		t.Fatal(err)
	}
	keys, err := s.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byAlg := map[string]int{}
	for _, k := range keys {
		byAlg[k.Alg]++
	}
	if byAlg[token.EdDSA] != 2 || byAlg[token.RS256] != 2 {
		t.Errorf("after a rotation the keys are %v, want 2 of each", byAlg)
	}
}

func TestIDTokenKeysRefused(t *testing.T) {
	for _, alg := range []string{token.HS256, "none", "RS512", ""} {
		if _, err := newIDKeyService(t, memory.New(), alg); err == nil {
			t.Errorf("IDTokenAlgs [%q] was taken", alg)
		}
	}
}
