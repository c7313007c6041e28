package oidc_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/oidc"
	"github.com/valetauth/valet/token"
)

// TestRedirectURIExactMatch: a redirect_uri that is not byte for byte one
// the client registered gets an error page, never a redirect.
func TestRedirectURIExactMatch(t *testing.T) {
	e := newEnv(t)
	b := e.browser(identity("s"))
	for _, uri := range []string{
		"https://rp.example/c",       // prefix
		"https://rp.example/cb/evil", // extra path
		"https://rp.example/cb/",     // trailing slash
		"https://RP.example/cb",      // case of the host
		"https://rp.example/CB",      // case of the path
		"HTTPS://rp.example/cb",      // case of the scheme
		"http://rp.example/cb",       // scheme
		"https://rp.example/cb#frag", // fragment
		"https://rp.example:444/cb",  // other port
		"https://rp.example:443/cb",  // explicit default port
		"https://evil@rp.example/cb", // userinfo
		"https://rp.example@evil.example/cb",
		"https://rp.example%2Fcb",     // encoded
		"https://rp.example/%63b",     // encoded path
		"https://rp.example/cb?x=1",   // extra query
		"https://rp.example/cb/../cb", // dot segments
		"https://rp.example.evil.example/cb",
		"https://rp.example/cb ",
		"//rp.example/cb",
		"",
	} {
		t.Run(uri, func(t *testing.T) {
			resp, body := b.do("GET", "/oauth2/authorize?"+authParams("redirect_uri", uri).Encode(), nil)
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Errorf("status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			if !strings.Contains(body, "redirect_uri") {
				t.Errorf("page: %s", body)
			}
		})
	}
	t.Run("unknown client", func(t *testing.T) {
		resp, _ := b.do("GET", "/oauth2/authorize?"+authParams("client_id", "ghost").Encode(), nil)
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Errorf("status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	t.Run("another client's redirect_uri", func(t *testing.T) {
		resp, _ := b.do("GET", "/oauth2/authorize?"+authParams("redirect_uri", thirdCB).Encode(), nil)
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Errorf("status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	t.Run("second registered uri", func(t *testing.T) {
		u, _ := b.authorize(authParams("redirect_uri", "https://rp.example/cb2"))
		if u == nil || u.Path != "/cb2" || u.Query().Get("code") == "" {
			t.Errorf("redirect %v", u)
		}
	})
}

// TestAuthorizeErrors: a request from a known client to its own
// redirect_uri that is refused goes back there with the error, the state
// and iss.
func TestAuthorizeErrors(t *testing.T) {
	e := newEnv(t)
	signedIn := e.browser(identity("s"))
	mfa := identity("s-mfa")
	mfa.AMR = []string{valet.AMRPassword, "otp", valet.AMRMulti}
	old := identity("s-old")
	old.AuthTime = time.Now().Add(-2 * time.Hour)
	_, challenge := pkce()
	tests := []struct {
		name    string
		b       *browser
		q       url.Values
		want    string
		wantLoc string // a path on the provider instead of an error
	}{
		{"response_type token", signedIn, authParams("response_type", "token"), "unsupported_response_type", ""},
		{"response_type id_token", signedIn, authParams("response_type", "id_token"), "unsupported_response_type", ""},
		{"response_type code id_token", signedIn, authParams("response_type", "code id_token"), "unsupported_response_type", ""},
		{"no response_type", signedIn, authParams("response_type", "-"), "invalid_request", ""},
		{"unknown scope", signedIn, authParams("scope", "openid admin"), "invalid_scope", ""},
		{"scope beyond the client's", signedIn, authParams("client_id", spaID, "redirect_uri", spaCB, "scope", "openid roles",
			"code_challenge", challenge, "code_challenge_method", "S256"), "invalid_scope", ""},
		{"no scope", signedIn, authParams("scope", "-"), "invalid_scope", ""},
		{"public client without PKCE", signedIn, authParams("client_id", spaID, "redirect_uri", spaCB, "scope", "openid"), "invalid_request", ""},
		{"plain PKCE", signedIn, authParams("code_challenge", strings.Repeat("a", 43), "code_challenge_method", "plain"), "invalid_request", ""},
		{"PKCE without method", signedIn, authParams("code_challenge", challenge), "invalid_request", ""},
		{"PKCE method alone", signedIn, authParams("code_challenge_method", "S256"), "invalid_request", ""},
		{"short challenge", signedIn, authParams("code_challenge", "abc", "code_challenge_method", "S256"), "invalid_request", ""},
		{"request object", signedIn, authParams("request", "eyJhbGciOiJub25lIn0.e30."), "request_not_supported", ""},
		{"request_uri", signedIn, authParams("request_uri", "https://evil.example/r"), "request_uri_not_supported", ""},
		{"response_mode fragment", signedIn, authParams("response_mode", "fragment"), "invalid_request", ""},
		{"prompt none, not signed in", e.browser(nil), authParams("prompt", "none"), "login_required", ""},
		{"prompt none and login", signedIn, authParams("prompt", "none login"), "invalid_request", ""},
		{"prompt unknown", signedIn, authParams("prompt", "select_account"), "invalid_request", ""},
		{"prompt none, max_age passed", e.browser(old), authParams("prompt", "none", "max_age", "60"), "login_required", ""},
		{"prompt none, mfa asked", signedIn, authParams("prompt", "none", "acr_values", "urn:valet:mfa"), "login_required", ""},
		{"max_age negative", signedIn, authParams("max_age", "-1"), "invalid_request", ""},
		{"max_age not a number", signedIn, authParams("max_age", "1e3"), "invalid_request", ""},
		{"not signed in", e.browser(nil), authParams(), "", "/"},
		{"prompt login", signedIn, authParams("prompt", "login"), "", "/"},
		{"prompt login, stale marker", signedIn, authParams("prompt", "login",
			"login_after", strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10)), "", "/"},
		{"login_after not a number", signedIn, authParams("login_after", "x"), "invalid_request", ""},
		{"max_age passed", e.browser(old), authParams("max_age", "60"), "", "/"},
		{"acr mfa without mfa", signedIn, authParams("acr_values", "mfa"), "", "/"},
		{"acr mfa with mfa", e.browser(mfa), authParams("acr_values", "mfa"), "", ""},
		{"max_age met", e.browser(old), authParams("max_age", "86400"), "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, resp := tc.b.authorize(tc.q)
			if u == nil {
				t.Fatalf("status %d, no redirect", resp.StatusCode)
			}
			q := u.Query()
			switch {
			case tc.wantLoc != "":
				if u.Host != "" && u.Host != strings.TrimPrefix(e.srv.URL, "http://") || u.Path != tc.wantLoc {
					t.Fatalf("redirect to %v, want %s", u, tc.wantLoc)
				}
				rt, err := url.Parse(q.Get("return_to"))
				if err != nil || rt.Path != "/oauth2/authorize" || rt.Query().Get("state") != "st-1" {
					t.Errorf("return_to = %q", q.Get("return_to"))
				}
			case tc.want == "":
				if u.Host != "rp.example" || q.Get("code") == "" {
					t.Errorf("redirect to %v, want a code", u)
				}
			default:
				if u.Scheme+"://"+u.Host+u.Path != tc.q.Get("redirect_uri") {
					t.Fatalf("redirect to %v", u)
				}
				if q.Get("error") != tc.want || q.Get("state") != "st-1" || q.Get("iss") != e.srv.URL || q.Get("code") != "" {
					t.Errorf("redirect query %v, want error %s with state and iss", q, tc.want)
				}
			}
		})
	}
}

// TestSignInAgain: prompt=login, max_age and acr_values send a signed-in
// browser to sign in; coming back signed in afresh (and with a second
// factor when asked) it gets a code, and without one it gets
// unmet_authentication_requirements instead of another loop.
func TestSignInAgain(t *testing.T) {
	e := newEnv(t)
	id := identity("s")
	b := e.browser(id)
	for _, tc := range []struct {
		name    string
		q       url.Values
		amr     []string
		wantErr string
	}{
		{"prompt login", authParams("prompt", "login"), []string{"pwd"}, ""},
		{"max_age 0", authParams("max_age", "0"), []string{"pwd"}, ""},
		{"mfa, then mfa", authParams("acr_values", "urn:valet:mfa"), []string{"pwd", "otp", "mfa"}, ""},
		{"mfa, then none", authParams("acr_values", "mfa"), []string{"pwd"}, "unmet_authentication_requirements"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.setIdentity(b.cookie, identity("s"))
			u, _ := b.authorize(tc.q)
			if u == nil || u.Path != "/" {
				t.Fatalf("first: %v, want the sign-in page", u)
			}
			back := u.Query().Get("return_to")
			// Coming back without signing in again changes nothing.
			resp, _ := b.do("GET", back, nil)
			if loc, _ := url.Parse(resp.Header.Get("Location")); loc == nil || loc.Path != "/" {
				t.Fatalf("back without a new sign-in: %v", resp.Header.Get("Location"))
			}
			fresh := identity("s2")
			fresh.AuthTime, fresh.AMR = time.Now().Add(time.Second), tc.amr
			e.setIdentity(b.cookie, fresh)
			resp, _ = b.do("GET", back, nil)
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if loc == nil || loc.Host != "rp.example" {
				t.Fatalf("after sign-in: %v", resp.Header.Get("Location"))
			}
			if got := loc.Query().Get("error"); got != tc.wantErr || (tc.wantErr == "") != (loc.Query().Get("code") != "") {
				t.Errorf("after sign-in: %v", loc)
			}
		})
	}
}

func TestStateIsPerRequest(t *testing.T) {
	e := newEnv(t)
	b := e.browser(identity("s"))
	u1, _ := b.authorize(authParams("state", "one"))
	u2, _ := b.authorize(authParams("state", "two"))
	u3, _ := b.authorize(authParams("state", "-"))
	if u1.Query().Get("state") != "one" || u2.Query().Get("state") != "two" || u3.Query().Has("state") {
		t.Errorf("states: %v %v %v", u1, u2, u3)
	}
	if u1.Query().Get("code") == u2.Query().Get("code") {
		t.Error("two requests got one code")
	}
	// Each code carries its own request's nonce.
	c1 := b.code(authParams("nonce", "n-one"))
	c2 := b.code(authParams("nonce", "n-two"))
	for code, want := range map[string]string{c2: "n-two", c1: "n-one"} {
		_, m := e.exchange(code)
		var c token.Claims
		if err := token.NewVerifier(e.keys).Verify(m["id_token"].(string), &c); err != nil || c.Nonce != want {
			t.Errorf("nonce %q, want %q (%v)", c.Nonce, want, err)
		}
	}
}

func TestCodeReplayRevokes(t *testing.T) {
	e := newEnv(t)
	b := e.browser(identity("s"))
	code := b.code(authParams())
	status, m := e.exchange(code)
	if status != 200 {
		t.Fatalf("first use: %d %v", status, m)
	}
	at := m["access_token"].(string)
	if status, _ := e.userinfo(at); status != 200 {
		t.Fatalf("userinfo: %d", status)
	}
	status, m2 := e.exchange(code)
	if status != 400 || m2["error"] != "invalid_grant" {
		t.Errorf("second use: %d %v", status, m2)
	}
	if status, _ := e.userinfo(at); status != 401 {
		t.Errorf("userinfo with the token of a replayed code: %d, want 401", status)
	}
}

func TestTokenErrors(t *testing.T) {
	e := newEnv(t)
	b := e.browser(identity("s"))
	verifier, challenge := pkce()
	withPKCE := func(id, cb string) url.Values {
		return authParams("client_id", id, "redirect_uri", cb, "scope", "openid", "code_challenge", challenge, "code_challenge_method", "S256")
	}
	post := func(form url.Values, id, secret string) (int, string) {
		status, m, h := e.post("/oauth2/token", form, id, secret)
		got, _ := m["error"].(string)
		if got == "invalid_client" && h.Get("WWW-Authenticate") == "" {
			t.Error("invalid_client without WWW-Authenticate")
		}
		return status, got
	}
	codeForm := func(code, cb string, extra ...string) url.Values {
		f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {cb}}
		for i := 0; i+1 < len(extra); i += 2 {
			f.Set(extra[i], extra[i+1])
		}
		return f
	}
	tests := []struct {
		name       string
		form       func() url.Values
		id, secret string
		status     int
		want       string
	}{
		{"wrong secret", func() url.Values { return codeForm(b.code(authParams()), webCB) }, webID, "wrong", 401, "invalid_client"},
		{"unknown client", func() url.Values { return codeForm("x", webCB) }, "ghost", "x", 401, "invalid_client"},
		{"no client", func() url.Values { return codeForm("x", webCB) }, "", "", 401, "invalid_client"},
		{"both methods", func() url.Values {
			f := codeForm(b.code(authParams()), webCB)
			f.Set("client_secret", webSecret)
			return f
		}, webID, webSecret, 400, "invalid_request"},
		{"secret in the form", func() url.Values {
			f := codeForm(b.code(authParams()), webCB)
			f.Set("client_id", webID)
			f.Set("client_secret", webSecret)
			return f
		}, "", "", 200, ""},
		{"confidential client without secret", func() url.Values {
			f := codeForm(b.code(authParams()), webCB)
			f.Set("client_id", webID)
			return f
		}, "", "", 401, "invalid_client"},
		{"public client in Basic without a secret", func() url.Values {
			return codeForm(b.code(withPKCE(spaID, spaCB)), spaCB, "code_verifier", verifier)
		}, spaID, "", 200, ""},
		{"public client with a secret", func() url.Values {
			f := codeForm(b.code(withPKCE(spaID, spaCB)), spaCB, "code_verifier", verifier)
			f.Set("client_id", spaID)
			return f
		}, spaID, "made-up", 401, "invalid_client"},
		{"code of A redeemed by B", func() url.Values {
			return codeForm(b.code(authParams()), webCB)
		}, thirdID, "third-secret", 400, "invalid_grant"},
		{"public code of A redeemed by confidential B", func() url.Values {
			return codeForm(b.code(withPKCE(spaID, spaCB)), spaCB, "code_verifier", verifier)
		}, webID, webSecret, 400, "invalid_grant"},
		{"redirect_uri differs", func() url.Values { return codeForm(b.code(authParams()), "https://rp.example/cb2") }, webID, webSecret, 400, "invalid_grant"},
		{"redirect_uri missing", func() url.Values {
			f := codeForm(b.code(authParams()), webCB)
			f.Del("redirect_uri")
			return f
		}, webID, webSecret, 400, "invalid_grant"},
		{"verifier missing", func() url.Values {
			f := codeForm(b.code(withPKCE(spaID, spaCB)), spaCB)
			f.Set("client_id", spaID)
			return f
		}, "", "", 400, "invalid_grant"},
		{"wrong verifier", func() url.Values {
			other, _ := pkce()
			f := codeForm(b.code(withPKCE(spaID, spaCB)), spaCB, "code_verifier", other)
			f.Set("client_id", spaID)
			return f
		}, "", "", 400, "invalid_grant"},
		{"the challenge as verifier", func() url.Values {
			f := codeForm(b.code(withPKCE(spaID, spaCB)), spaCB, "code_verifier", challenge)
			f.Set("client_id", spaID)
			return f
		}, "", "", 400, "invalid_grant"},
		{"verifier without challenge", func() url.Values {
			return codeForm(b.code(authParams()), webCB, "code_verifier", verifier)
		}, webID, webSecret, 400, "invalid_grant"},
		{"public client, good verifier", func() url.Values {
			f := codeForm(b.code(withPKCE(spaID, spaCB)), spaCB, "code_verifier", verifier)
			f.Set("client_id", spaID)
			return f
		}, "", "", 200, ""},
		{"confidential client with PKCE", func() url.Values {
			q := authParams("code_challenge", challenge, "code_challenge_method", "S256")
			return codeForm(b.code(q), webCB, "code_verifier", verifier)
		}, webID, webSecret, 200, ""},
		{"unknown code", func() url.Values { return codeForm(valet.NewID(), webCB) }, webID, webSecret, 400, "invalid_grant"},
		{"no code", func() url.Values { return codeForm("", webCB) }, webID, webSecret, 400, "invalid_request"},
		{"unknown refresh token", func() url.Values {
			return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}
		}, webID, webSecret, 400, "invalid_grant"},
		{"no refresh token", func() url.Values {
			return url.Values{"grant_type": {"refresh_token"}}
		}, webID, webSecret, 400, "invalid_request"},
		{"password grant", func() url.Values {
			return url.Values{"grant_type": {"password"}, "username": {"a"}, "password": {"b"}}
		}, webID, webSecret, 400, "unsupported_grant_type"},
		{"no grant type", func() url.Values { return url.Values{} }, webID, webSecret, 400, "invalid_request"},
		{"huge code", func() url.Values { return codeForm(strings.Repeat("a", 100_000), webCB) }, webID, webSecret, 400, "invalid_request"},
		{"huge body", func() url.Values {
			f := codeForm("x", webCB)
			f.Set("pad", strings.Repeat("a", 1<<20))
			return f
		}, webID, webSecret, 400, "invalid_request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, got := post(tc.form(), tc.id, tc.secret)
			if status != tc.status || got != tc.want {
				t.Errorf("status %d error %q, want %d %q", status, got, tc.status, tc.want)
			}
		})
	}
	t.Run("GET", func(t *testing.T) {
		resp, body := e.browser(nil).do("GET", "/oauth2/token?grant_type=client_credentials", nil)
		if resp.StatusCode != 400 || !strings.Contains(body, "invalid_request") {
			t.Errorf("GET token: %d %s", resp.StatusCode, body)
		}
	})
	t.Run("code in the query", func(t *testing.T) {
		q := codeForm(b.code(authParams()), webCB)
		status, _, _ := e.post("/oauth2/token?"+q.Encode(), url.Values{}, webID, webSecret)
		if status != 400 {
			t.Errorf("status %d", status)
		}
	})
	t.Run("duplicated parameter", func(t *testing.T) {
		f := codeForm(b.code(authParams()), webCB)
		f.Add("code", "other")
		if status, got := post(f, webID, webSecret); status != 400 || got != "invalid_request" {
			t.Errorf("status %d error %q", status, got)
		}
	})
	t.Run("still serving", func(t *testing.T) {
		if status, m := e.exchange(b.code(authParams())); status != 200 {
			t.Errorf("after the attacks: %d %v", status, m)
		}
	})
}

func TestHugeAuthorizeParameters(t *testing.T) {
	e := newEnv(t)
	b := e.browser(identity("s"))
	for _, q := range []url.Values{
		authParams("state", strings.Repeat("s", 10_000)),
		authParams("nonce", strings.Repeat("n", 100_000)),
		authParams("client_id", strings.Repeat("c", 5000)),
		authParams("x", strings.Repeat("x", 200_000)),
	} {
		resp, _ := b.do("GET", "/oauth2/authorize?"+q.Encode(), nil)
		if resp.StatusCode != 400 && resp.StatusCode != 431 && resp.StatusCode != 414 || resp.Header.Get("Location") != "" {
			t.Errorf("status %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	q := authParams()
	q.Add("redirect_uri", "https://evil.example/")
	if resp, _ := b.do("GET", "/oauth2/authorize?"+q.Encode(), nil); resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
		t.Errorf("two redirect_uri: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Still serving.
	b.code(authParams())
}

// TestUserinfoRefusesOtherTokens: only an access token of this provider,
// for a known client, with openid, opens userinfo.
func TestUserinfoRefusesOtherTokens(t *testing.T) {
	e := newEnv(t)
	b := e.browser(identity("s"))
	_, m := e.exchange(b.code(authParams()))
	at, idt := m["access_token"].(string), m["id_token"].(string)
	now := time.Now()
	sign := func(c token.Claims) string {
		s, err := e.keys.Sign(&c)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	base := token.Claims{
		Issuer: e.srv.URL, Subject: "u1", Audience: token.Audience{webID}, AuthorizedParty: webID,
		Scope: "openid email", ExpiresAt: now.Add(time.Minute).Unix(), IssuedAt: now.Unix(), ID: "j",
	}
	mod := func(f func(*token.Claims)) string {
		c := base
		f(&c)
		return sign(c)
	}
	otherKey, _ := token.GenerateKey(token.EdDSA)
	other, _ := token.NewKeySet(otherKey).Sign(&base)
	for _, tc := range []struct {
		name   string
		tok    string
		status int
	}{
		{"its access token", at, 200},
		{"forged with the same claims", sign(base), 200},
		{"ID token", idt, 401},
		{"unknown client", mod(func(c *token.Claims) { c.Audience, c.AuthorizedParty = token.Audience{"ghost"}, "ghost" }), 401},
		{"aud A, azp B", mod(func(c *token.Claims) { c.AuthorizedParty = thirdID }), 401},
		{"two audiences", mod(func(c *token.Claims) { c.Audience = token.Audience{webID, thirdID} }), 401},
		{"valet first-party token", mod(func(c *token.Claims) {
			c.Issuer, c.Audience, c.AuthorizedParty, c.Scope = "valet", token.Audience{"valet"}, "", ""
		}), 401},
		{"other issuer", mod(func(c *token.Claims) { c.Issuer = "https://evil.example" }), 401},
		{"no openid", mod(func(c *token.Claims) { c.Scope = "email" }), 403},
		{"expired", mod(func(c *token.Claims) { c.ExpiresAt = now.Add(-time.Hour).Unix() }), 401},
		{"other key", other, 401},
		{"gone user", mod(func(c *token.Claims) { c.Subject = "nobody" }), 401},
		{"garbage", "abc.def.ghi", 401},
		{"alg none", algNone(at), 401},
		{"huge", strings.Repeat("a", 20_000), 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if status, m := e.userinfo(tc.tok); status != tc.status {
				t.Errorf("status %d %v, want %d", status, m, tc.status)
			}
		})
	}
	t.Run("no token", func(t *testing.T) {
		resp, _ := e.browser(nil).do("GET", "/oauth2/userinfo", nil)
		if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("status %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	})
	t.Run("claims by scope", func(t *testing.T) {
		_, m := e.exchange(b.code(authParams("scope", "openid")))
		status, info := e.userinfo(m["access_token"].(string))
		if status != 200 || info["sub"] != "u1" || info["email"] != nil || info["roles"] != nil {
			t.Errorf("userinfo with openid alone: %d %v", status, info)
		}
	})
}

// algNone returns tok with the header {"alg":"none"} and no signature.
func algNone(tok string) string {
	parts := strings.Split(tok, ".")
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	return h + "." + parts[1] + "."
}

// TestAlgDowngrade: an ID token re-signed with alg none, or with HS256
// keyed with the public key, or with its claims changed, is refused by a
// go-oidc verifier of the provider.
func TestAlgDowngrade(t *testing.T) {
	e := newEnv(t)
	b := e.browser(identity("s"))
	_, m := e.exchange(b.code(authParams()))
	idt := m["id_token"].(string)
	prov, err := gooidc.NewProvider(context.Background(), e.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, cfg := range []*gooidc.Config{
		{ClientID: webID, SupportedSigningAlgs: []string{gooidc.EdDSA}},
		// With the algorithms left to discovery.
		{ClientID: webID},
	} {
		v := prov.Verifier(cfg)
		if _, err := v.Verify(ctx, idt); err != nil {
			t.Fatalf("the genuine ID token: %v", err)
		}
		parts := strings.Split(idt, ".")
		var header map[string]any
		hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
		_ = json.Unmarshal(hb, &header)

		reheader := func(alg string) string {
			h := map[string]any{"alg": alg, "kid": header["kid"], "typ": "JWT"}
			j, _ := json.Marshal(h)
			return base64.RawURLEncoding.EncodeToString(j)
		}
		var jwk struct {
			Keys []struct {
				X string `json:"x"`
			} `json:"keys"`
		}
		_ = json.Unmarshal(e.keys.JWKS(), &jwk)
		hs := func(secret []byte) string {
			in := reheader("HS256") + "." + parts[1]
			mac := hmac.New(sha256.New, secret)
			mac.Write([]byte(in))
			return in + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
		}
		pub, _ := base64.RawURLEncoding.DecodeString(jwk.Keys[0].X)
		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		altered := strings.Replace(string(payload), `"sub":"u1"`, `"sub":"u2"`, 1)
		for name, tok := range map[string]string{
			"alg none":                 reheader("none") + "." + parts[1] + ".",
			"alg none with signature":  reheader("none") + "." + parts[1] + "." + parts[2],
			"HS256 keyed with the JWK": hs([]byte(jwk.Keys[0].X)),
			"HS256 keyed with the key": hs(pub),
			"RS256 header":             reheader("RS256") + "." + parts[1] + "." + parts[2],
			"claims changed":           parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(altered)) + "." + parts[2],
		} {
			if _, err := v.Verify(ctx, tok); err == nil {
				t.Errorf("%s: verified", name)
			}
			if status, _ := e.userinfo(tok); status != 401 {
				t.Errorf("%s: userinfo %d", name, status)
			}
		}
	}
}

func TestLogout(t *testing.T) {
	e := newEnv(t)
	idTokenOf := func(b *browser) string {
		_, m := e.exchange(b.code(authParams()))
		return m["id_token"].(string)
	}
	t.Run("redirect attempts", func(t *testing.T) {
		for _, uri := range []string{
			"https://evil.example/", "https://rp.example/bye/", "https://rp.example/by", "https://rp.example/bye?x=1",
			"https://rp.example/bye#x", "//evil.example", "https://rp.example@evil.example/bye", webCB,
			"https://RP.example/bye", "javascript:alert(1)",
		} {
			b := e.browser(identity("s"))
			q := url.Values{"id_token_hint": {idTokenOf(b)}, "post_logout_redirect_uri": {uri}, "state": {"x"}}
			resp, body := b.do("GET", "/oauth2/logout?"+q.Encode(), nil)
			if resp.StatusCode != 200 || resp.Header.Get("Location") != "" || !strings.Contains(body, "signed out") {
				t.Errorf("%s: status %d Location %q", uri, resp.StatusCode, resp.Header.Get("Location"))
			}
		}
	})
	t.Run("registered, with a hint", func(t *testing.T) {
		b := e.browser(identity("s"))
		q := url.Values{"id_token_hint": {idTokenOf(b)}, "post_logout_redirect_uri": {webBye}, "state": {"bye-state"}}
		resp, _ := b.do("GET", "/oauth2/logout?"+q.Encode(), nil)
		if resp.StatusCode != 302 || resp.Header.Get("Location") != webBye+"?state=bye-state" {
			t.Errorf("status %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		e.mu.Lock()
		ended := len(e.ended) > 0 && e.ended[len(e.ended)-1] == b.cookie
		e.mu.Unlock()
		if !ended {
			t.Error("the session was not ended")
		}
	})
	t.Run("registered uri of another client", func(t *testing.T) {
		b := e.browser(identity("s"))
		q := url.Values{"id_token_hint": {idTokenOf(b)}, "client_id": {thirdID}, "post_logout_redirect_uri": {webBye}}
		resp, _ := b.do("GET", "/oauth2/logout?"+q.Encode(), nil)
		if resp.Header.Get("Location") != "" {
			t.Errorf("Location %q", resp.Header.Get("Location"))
		}
	})
	t.Run("no hint: confirm first", func(t *testing.T) {
		b := e.browser(identity("s"))
		q := url.Values{"client_id": {webID}, "post_logout_redirect_uri": {webBye}}
		resp, body := b.do("GET", "/oauth2/logout?"+q.Encode(), nil)
		if resp.StatusCode != 200 || resp.Header.Get("Location") != "" || !strings.Contains(body, `value="yes"`) {
			t.Fatalf("status %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		if id, _ := e.identify(cookieReq(b.cookie)); id == nil {
			t.Fatal("signed out by a GET without a hint")
		}
		form := url.Values{"client_id": {webID}, "post_logout_redirect_uri": {webBye}, "confirm": {"yes"}}
		resp, _ = b.do("POST", "/oauth2/logout", form, "Sec-Fetch-Site", "cross-site")
		if resp.StatusCode != 403 {
			t.Errorf("cross-site confirmation: %d", resp.StatusCode)
		}
		resp, _ = b.do("POST", "/oauth2/logout", form, "Sec-Fetch-Site", "same-origin")
		if resp.StatusCode != 302 || resp.Header.Get("Location") != webBye {
			t.Errorf("confirmed: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		if id, _ := e.identify(cookieReq(b.cookie)); id != nil {
			t.Error("still signed in")
		}
	})
	t.Run("hint of another user", func(t *testing.T) {
		b := e.browser(identity("s"))
		hint := idTokenOf(b)
		other := identity("s-other")
		other.User.ID = "u2"
		ob := e.browser(other)
		resp, body := ob.do("GET", "/oauth2/logout?"+url.Values{"id_token_hint": {hint}}.Encode(), nil)
		if resp.StatusCode != 200 || !strings.Contains(body, `value="yes"`) {
			t.Errorf("status %d", resp.StatusCode)
		}
	})
	t.Run("forged hint", func(t *testing.T) {
		b := e.browser(identity("s"))
		q := url.Values{"id_token_hint": {algNone(idTokenOf(b))}, "post_logout_redirect_uri": {webBye}}
		resp, _ := b.do("GET", "/oauth2/logout?"+q.Encode(), nil)
		if resp.Header.Get("Location") != "" {
			t.Errorf("Location %q", resp.Header.Get("Location"))
		}
	})
}

func cookieReq(v string) *http.Request {
	r, _ := http.NewRequest("GET", "/", nil)
	r.AddCookie(&http.Cookie{Name: cookieName, Value: v})
	return r
}

// TestCodeReplayOnAnotherNode: two providers on one client store and one
// revocation channel, as two nodes are. A code redeemed on the first and
// replayed on the second revokes, on both, the access token and the
// refresh family that the first issued, and so does an access token
// revoked at the second.
func TestCodeReplayOnAnotherNode(t *testing.T) {
	var (
		mu      sync.Mutex
		revoked = map[string]time.Time{}
		cfg     oidc.Config
	)
	shared := func(c *oidc.Config) {
		c.RevokeToken = func(_ context.Context, id string, until time.Time) error {
			mu.Lock()
			defer mu.Unlock()
			revoked[id] = until
			return nil
		}
		c.TokenRevoked = func(_ context.Context, id string) error {
			mu.Lock()
			defer mu.Unlock()
			if _, ok := revoked[id]; ok {
				return valet.ErrRevoked
			}
			return nil
		}
		cfg = *c
	}
	e := newEnv(t, shared)
	other := oidc.New(cfg)
	t.Cleanup(func() { _ = other.Close() })
	node2 := httptest.NewServer(other.Handler())
	t.Cleanup(node2.Close)
	post2 := func(form url.Values) (int, map[string]any) {
		req, _ := http.NewRequest("POST", node2.URL+"/oauth2/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(webID, webSecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}

	b := e.browser(identity("s-two"))
	code := b.code(authParams("scope", "openid email offline_access"))
	status, m := e.exchange(code)
	if status != 200 || m["refresh_token"] == nil {
		t.Fatalf("first use on node 1: %d %v", status, m)
	}
	at, rt := m["access_token"].(string), m["refresh_token"].(string)
	status, m2 := post2(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webCB}})
	if status != 400 || m2["error"] != "invalid_grant" {
		t.Fatalf("replay on node 2: %d %v", status, m2)
	}
	if status, _ := e.userinfo(at); status != 401 {
		t.Errorf("node 1's userinfo with the access token of a code replayed on node 2: %d, want 401", status)
	}
	status, m3 := post2(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	if status != 400 || m3["error"] != "invalid_grant" {
		t.Errorf("the refresh token of a code replayed on node 2: %d %v", status, m3)
	}

	// RFC 7009 at node 2 reaches node 1.
	_, m = e.exchange(b.code(authParams()))
	at = m["access_token"].(string)
	req, _ := http.NewRequest("POST", node2.URL+"/oauth2/revoke", strings.NewReader(url.Values{"token": {at}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(webID, webSecret)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("revoke at node 2: %v %v", resp, err)
	}
	if status, _ := e.userinfo(at); status != 401 {
		t.Errorf("node 1's userinfo with an access token revoked at node 2: %d, want 401", status)
	}
}
