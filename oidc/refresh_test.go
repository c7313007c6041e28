package oidc_test

import (
	"context"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/oidc"
	"github.com/valetauth/valet/token"
)

func TestRefreshWithGoOIDC(t *testing.T) {
	e := newEnv(t)
	rp := e.relyingParty(t, webID, webSecret, webCB, "openid", "email", "offline_access")
	var doc struct {
		Grants []string `json:"grant_types_supported"`
	}
	if err := rp.provider.Claims(&doc); err != nil || !slices.Contains(doc.Grants, "refresh_token") {
		t.Fatalf("grant types %v (%v)", doc.Grants, err)
	}
	id := identity("sess-r")
	b := e.browser(id)
	verifier := oauth2.GenerateVerifier()
	resp, _ := b.do("GET", rp.oauth.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier), gooidc.Nonce("n")), nil)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	ctx := context.Background()
	tok, err := rp.oauth.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token with offline_access")
	}
	first := tok.RefreshToken

	// An expired token makes the token source refresh.
	src := rp.oauth.TokenSource(ctx, &oauth2.Token{RefreshToken: first, Expiry: time.Now().Add(-time.Hour)})
	next, err := src.Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if next.RefreshToken == "" || next.RefreshToken == first || next.AccessToken == tok.AccessToken {
		t.Errorf("refresh did not rotate: %+v", next)
	}
	raw, _ := next.Extra("id_token").(string)
	idt, err := rp.verifier.Verify(ctx, raw)
	if err != nil {
		t.Fatalf("refreshed ID token: %v", err)
	}
	var claims struct {
		AuthTime int64  `json:"auth_time"`
		SID      string `json:"sid"`
	}
	_ = idt.Claims(&claims)
	if idt.Subject != "u1" || idt.Nonce != "" || claims.AuthTime != id.AuthTime.Unix() || claims.SID != "sess-r" {
		t.Errorf("refreshed ID token: sub %q nonce %q %+v", idt.Subject, idt.Nonce, claims)
	}
	if _, err := rp.provider.UserInfo(ctx, oauth2.StaticTokenSource(next)); err != nil {
		t.Errorf("userinfo with the refreshed access token: %v", err)
	}

	// The first token again: reuse, and the family dies with it.
	refresh := func(rt string) (int, string) {
		status, m, _ := e.post("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, webID, webSecret)
		got, _ := m["error"].(string)
		return status, got
	}
	if status, got := refresh(first); status != 400 || got != "invalid_grant" {
		t.Errorf("reuse: %d %q", status, got)
	}
	if status, got := refresh(next.RefreshToken); status != 400 || got != "invalid_grant" {
		t.Errorf("the current token after a reuse: %d %q", status, got)
	}
}

func TestRefreshErrors(t *testing.T) {
	e := newEnv(t)
	b := e.browser(identity("s"))
	newRefresh := func() string {
		_, m := e.exchange(b.code(authParams("scope", "openid email offline_access")))
		rt, _ := m["refresh_token"].(string)
		if rt == "" {
			t.Fatalf("no refresh token: %v", m)
		}
		return rt
	}
	refresh := func(rt, id, secret string, extra ...string) (int, map[string]any) {
		f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
		for i := 0; i+1 < len(extra); i += 2 {
			f.Set(extra[i], extra[i+1])
		}
		status, m, _ := e.post("/oauth2/token", f, id, secret)
		return status, m
	}

	t.Run("no offline_access, no refresh token", func(t *testing.T) {
		_, m := e.exchange(b.code(authParams()))
		if m["refresh_token"] != nil {
			t.Errorf("refresh token without offline_access: %v", m)
		}
	})
	t.Run("the session's end ends its families", func(t *testing.T) {
		ended, other := newRefresh(), ""
		{
			b2 := e.browser(identity("s2"))
			_, m := e.exchange(b2.code(authParams("scope", "openid offline_access")))
			other, _ = m["refresh_token"].(string)
		}
		if err := e.p.SessionEnded(context.Background(), "u1", "s"); err != nil {
			t.Fatal(err)
		}
		if status, m := refresh(ended, webID, webSecret); status != 400 || m["error"] != "invalid_grant" {
			t.Errorf("a family of the ended session: %d %v", status, m)
		}
		if status, m := refresh(other, webID, webSecret); status != 200 {
			t.Errorf("a family of another session: %d %v", status, m)
		}
	})
	t.Run("another client's token", func(t *testing.T) {
		rt := newRefresh()
		if status, m := refresh(rt, thirdID, "third-secret"); status != 400 || m["error"] != "invalid_grant" {
			t.Errorf("%d %v", status, m)
		}
		// Not rotated by the other client's attempt.
		if status, m := refresh(rt, webID, webSecret); status != 200 {
			t.Errorf("the owner after another client's attempt: %d %v", status, m)
		}
	})
	t.Run("wider scope", func(t *testing.T) {
		if status, m := refresh(newRefresh(), webID, webSecret, "scope", "openid roles"); status != 400 || m["error"] != "invalid_scope" {
			t.Errorf("%d %v", status, m)
		}
	})
	t.Run("narrower scope", func(t *testing.T) {
		status, m := refresh(newRefresh(), webID, webSecret, "scope", "openid")
		if status != 200 || m["scope"] != "openid" {
			t.Fatalf("%d %v", status, m)
		}
		var c token.Claims
		if err := token.NewVerifier(e.keys).Verify(m["id_token"].(string), &c); err != nil || c.Email != "" {
			t.Errorf("narrowed ID token has email %q (%v)", c.Email, err)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		if status, m := refresh(valet.NewID(), webID, webSecret); status != 400 || m["error"] != "invalid_grant" {
			t.Errorf("%d %v", status, m)
		}
	})
	t.Run("missing", func(t *testing.T) {
		if status, m := refresh("", webID, webSecret); status != 400 || m["error"] != "invalid_request" {
			t.Errorf("%d %v", status, m)
		}
	})
	t.Run("revoked", func(t *testing.T) {
		rt := newRefresh()
		status, _, _ := e.post("/oauth2/revoke", url.Values{"token": {rt}, "token_type_hint": {"refresh_token"}}, webID, webSecret)
		if status != 200 {
			t.Fatalf("revoke: %d", status)
		}
		if status, m := refresh(rt, webID, webSecret); status != 400 || m["error"] != "invalid_grant" {
			t.Errorf("%d %v", status, m)
		}
	})
	t.Run("code replay revokes the family", func(t *testing.T) {
		code := b.code(authParams("scope", "openid offline_access"))
		_, m := e.exchange(code)
		rt := m["refresh_token"].(string)
		if status, _ := e.exchange(code); status != 400 {
			t.Fatalf("replay: %d", status)
		}
		if status, m := refresh(rt, webID, webSecret); status != 400 || m["error"] != "invalid_grant" {
			t.Errorf("refresh after a code replay: %d %v", status, m)
		}
	})
	t.Run("disabled user", func(t *testing.T) {
		rt := newRefresh()
		e.mu.Lock()
		u := e.users["u1"]
		u.Disabled = true
		e.users["u1"] = u
		e.mu.Unlock()
		defer func() {
			e.mu.Lock()
			u.Disabled = false
			e.users["u1"] = u
			e.mu.Unlock()
		}()
		if status, m := refresh(rt, webID, webSecret); status != 400 || m["error"] != "invalid_grant" {
			t.Errorf("%d %v", status, m)
		}
	})
	t.Run("one of racing uses wins", func(t *testing.T) {
		rt := newRefresh()
		var wins atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if status, _ := refresh(rt, webID, webSecret); status == 200 {
					wins.Add(1)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Errorf("%d uses won", wins.Load())
		}
	})
}

func TestRefreshFamilyExpires(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	e := newEnv(t, func(c *oidc.Config) { c.Now, c.RefreshTTL = clock, time.Hour })
	b := e.browser(identity("s"))
	_, m := e.exchange(b.code(authParams("scope", "openid offline_access")))
	rt := m["refresh_token"].(string)
	mu.Lock()
	now = now.Add(time.Hour)
	mu.Unlock()
	status, m, _ := e.post("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, webID, webSecret)
	if status != 400 || m["error"] != "invalid_grant" {
		t.Errorf("expired family: %d %v", status, m)
	}
}
