package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/valetauth/valet/httpapi"
	"github.com/valetauth/valet/session"
)

// newAppEnv is an env whose sign-ins may return to app.apps.test, as
// behind forward auth.
func newAppEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t, withAPI(func(c *httpapi.Config) {
		c.ForwardAuth.PublicURL = "https://auth.apps.test"
		c.ForwardAuth.AllowedRedirectHosts = []string{"app.apps.test"}
	}))
	if _, err := e.svc.CreateUser(context.Background(), "ada@example.com", testPassword, nil); err != nil {
		t.Fatal(err)
	}
	return e
}

const appURL = "https://app.apps.test/orders?id=7"

// TestReturnToApplication: rd (as forward auth writes it) and return_to
// lead back to an allowed application after signing in or up, in every
// mode, and the page lets its forms lead there.
func TestReturnToApplication(t *testing.T) {
	e := newAppEnv(t)
	for _, mode := range []string{"session", "token", "hybrid"} {
		t.Run(mode, func(t *testing.T) {
			b := e.browser(uaFirefox)
			p := b.get("/?rd=" + url.QueryEscape(appURL))
			mustSee(t, "sign-in page", p, 200, `name="return_to" value="`+appURL+`"`)
			if csp := p.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' https://app.apps.test;") {
				t.Errorf("CSP %q does not let the form lead back to the application", csp)
			}
			p = b.post("/signin", url.Values{"email": {"ada@example.com"}, "password": {testPassword}, "mode": {mode}, "rd": {appURL}})
			if p.Status != http.StatusSeeOther || p.Location() != appURL {
				t.Fatalf("sign in: %d to %q, want 303 to %q", p.Status, p.Location(), appURL)
			}
			// Signed in already: sent straight on.
			if p := b.get("/?rd=" + url.QueryEscape(appURL)); p.Status != http.StatusSeeOther || p.Location() != appURL {
				t.Fatalf("sign-in page when signed in: %d to %q", p.Status, p.Location())
			}
			if p := b.get("/?return_to=" + url.QueryEscape("https://auth.apps.test/account")); p.Location() != "https://auth.apps.test/account" {
				t.Fatalf("return_to valet's public host: to %q", p.Location())
			}
		})
	}
	t.Run("sign up", func(t *testing.T) {
		b := e.browser(uaFirefox)
		p := b.post("/signup", url.Values{"email": {"bob@example.com"}, "password": {testPassword}, "rd": {appURL}})
		if p.Status != http.StatusSeeOther || p.Location() != appURL {
			t.Fatalf("sign up: %d to %q, want 303 to %q", p.Status, p.Location(), appURL)
		}
		for _, c := range p.Header.Values("Set-Cookie") {
			if strings.HasPrefix(c, FlashCookie+"=") {
				t.Errorf("a flash cookie travels to the application: %s", c)
			}
		}
	})
	t.Run("a failed sign-in keeps the target", func(t *testing.T) {
		b := e.browser(uaFirefox)
		p := b.post("/signin", url.Values{"email": {"ada@example.com"}, "password": {"wrong password"}, "rd": {appURL}})
		mustSee(t, "failed sign-in", p, 401, `name="return_to" value="`+appURL+`"`)
		if csp := p.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "https://app.apps.test") {
			t.Errorf("CSP %q", csp)
		}
	})
}

// TestReturnRefused: a target on a host that is not allowed is dropped,
// and the browser lands on /account; the page's policy stays strict.
func TestReturnRefused(t *testing.T) {
	e := newAppEnv(t)
	for _, target := range []string{
		"https://evil.example/", "https://app.apps.test.evil.example/", "https://evilapp.apps.test/",
		"//app.apps.test/", "https://user@app.apps.test/", "javascript://app.apps.test/%0aalert(1)",
		"https://app.apps.test\\@evil.example/", "https://app.apps.test./",
	} {
		t.Run(target, func(t *testing.T) {
			b := e.browser(uaFirefox)
			p := b.get("/?rd=" + url.QueryEscape(target))
			mustSee(t, "sign-in page", p, 200, `name="return_to" value=""`)
			if csp := p.Header.Get("Content-Security-Policy"); csp != ContentSecurityPolicy {
				t.Errorf("CSP = %q", csp)
			}
			p = b.post("/signin", url.Values{"email": {"ada@example.com"}, "password": {testPassword}, "rd": {target}})
			if p.Status != http.StatusSeeOther || p.Location() != "/account" {
				t.Fatalf("sign in: %d to %q, want /account", p.Status, p.Location())
			}
			if p := b.get("/?rd=" + url.QueryEscape(target)); p.Location() != "/account" {
				t.Fatalf("signed in: to %q, want /account", p.Location())
			}
			p = b.post("/signout", url.Values{"rd": {target}})
			if p.Status != http.StatusSeeOther || p.Location() != "/" {
				t.Fatalf("sign out: %d to %q, want /", p.Status, p.Location())
			}
		})
	}
}

// TestSignoutWithReturn: GET /signout asks first; the form ends the
// sign-in in every mode and leads back to the application, whose next
// request is no longer signed in.
func TestSignoutWithReturn(t *testing.T) {
	e := newAppEnv(t)
	for _, mode := range []string{"session", "token", "hybrid"} {
		t.Run(mode, func(t *testing.T) {
			b := e.browser(uaFirefox)
			b.signIn("ada@example.com", mode)
			p := b.get("/signout?rd=" + url.QueryEscape(appURL))
			mustSee(t, "confirm page", p, 200, `action="/signout"`, `name="rd" value="`+appURL+`"`, "ada@example.com")
			if csp := p.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' https://app.apps.test;") {
				t.Errorf("CSP %q", csp)
			}
			if p := b.get("/account"); p.Status != 200 {
				t.Fatalf("the confirm page signed out: /account %d", p.Status)
			}
			p = b.post("/signout", url.Values{"rd": {appURL}})
			if p.Status != http.StatusSeeOther || p.Location() != appURL {
				t.Fatalf("sign out: %d to %q, want %q", p.Status, p.Location(), appURL)
			}
			for _, name := range []string{"__Host-" + session.BaseName, session.TokenName, session.RefreshName} {
				if v := b.cookie(name); v != "" {
					t.Errorf("cookie %s survives sign-out", name)
				}
			}
			if p := b.get("/account"); p.Status != http.StatusSeeOther {
				t.Fatalf("after sign-out /account is %d", p.Status)
			}
			// Signed out already: sent on without a question.
			if p := b.get("/signout?rd=" + url.QueryEscape(appURL)); p.Status != http.StatusSeeOther || p.Location() != appURL {
				t.Fatalf("signed out: %d to %q", p.Status, p.Location())
			}
		})
	}
}
