package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestEveryPageIsLockedDown fetches every page in each of its states and
// checks the security headers and that the HTML holds nothing inline.
func TestEveryPageIsLockedDown(t *testing.T) {
	e := newEnv(t, withPageSize(2))
	admin := e.browser("Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0.0.0 Safari/537.36")
	admin.signUp("admin@example.com")
	if _, err := e.svc.CreateUser(context.Background(), "root@example.com", testPassword, []string{"admin"}); err != nil {
		t.Fatal(err)
	}
	admin.signIn("root@example.com", "")
	user := e.browser("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Version/17.5 Mobile/15E148 Safari/604.1")
	user.signUp("user@example.com")
	tokenUser := e.browser("curl/8.5.0")
	tokenUser.signIn("user@example.com", "token")
	hybridUser := e.browser("curl/8.5.0")
	hybridUser.signIn("user@example.com", "hybrid")
	anon := e.browser("curl/8.5.0")
	mfaUser := e.browser("curl/8.5.0")
	mfaUser.signUp("mfa@example.com")
	mfaUser.enrolTOTP(t)
	stepper := e.browser("curl/8.5.0")
	var mfaToken string

	pages := []struct {
		name   string
		fetch  func() page
		status int
		html   bool
	}{
		{"sign in", func() page { return anon.get("/") }, 200, true},
		{"sign in with return_to", func() page { return anon.get("/?return_to=%2Fadmin&email=a%40b.example") }, 200, true},
		{"sign in failed", func() page {
			return anon.post("/signin", url.Values{"email": {"user@example.com"}, "password": {"wrong password!"}})
		}, 401, true},
		{"sign up failed", func() page {
			return anon.post("/signup", url.Values{"email": {"user@example.com"}, "password": {testPassword}})
		}, 409, true},
		{"account, session", func() page { return user.get("/account") }, 200, true},
		{"sign out, confirm", func() page { return user.get("/signout") }, 200, true},
		{"account, token", func() page { return tokenUser.get("/account") }, 200, true},
		{"account, hybrid", func() page { return hybridUser.get("/account") }, 200, true},
		{"password change failed", func() page {
			return user.post("/account/password", url.Values{"current_password": {"nope nope nope"}, "new_password": {"a new good passphrase"}, "confirm_password": {"a new good passphrase"}})
		}, 401, true},
		{"second-factor step", func() page {
			p := stepper.post("/signin", url.Values{"email": {"mfa@example.com"}, "password": {testPassword}})
			mfaToken = hidden(t, p, "mfa_token")
			return p
		}, 200, true},
		{"second-factor step, wrong code", func() page {
			return stepper.post("/signin/mfa", url.Values{"mfa_token": {mfaToken}, "method": {"totp"}, "code": {"000000"}})
		}, 400, true},
		{"authenticator app", func() page { return user.post("/account/mfa/totp", nil) }, 200, true},
		{"recovery codes", func() page { return mfaUser.post("/account/recovery-codes", nil) }, 200, true},
		{"account with a factor", func() page { return mfaUser.get("/account") }, 200, true},
		{"admin", func() page { return admin.get("/admin") }, 200, true},
		{"admin page 2 with search", func() page { return admin.get("/admin?q=example&page=2") }, 200, true},
		{"admin refused", func() page { return user.get("/admin") }, 403, true},
		{"admin change failed", func() page {
			return admin.post("/admin/users/nobody", url.Values{"op": {"disable"}})
		}, 404, true},
		{"not found", func() page { return anon.get("/no/such/page") }, 404, true},
		{"confirm it is you", func() page {
			e.clk.Advance(11 * time.Minute)
			return user.post("/account/mfa/totp", nil)
		}, 403, true},
		{"cross-site post", func() page {
			return anon.do(http.MethodPost, "/signin", url.Values{"email": {"x@example.com"}}, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"})
		}, 403, true},
		{"account, signed out", func() page { return anon.get("/account") }, 303, false},
		{"stylesheet", func() page { return anon.get(assetURL("style.css")) }, 200, false},
		{"script", func() page { return anon.get(assetURL("app.js")) }, 200, false},
		{"passkey script", func() page { return anon.get(assetURL("webauthn.js")) }, 200, false},
		{"unknown asset", func() page { return anon.get("/assets/secret.txt") }, 404, false},
	}
	for _, tc := range pages {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.fetch()
			if p.Status != tc.status {
				t.Fatalf("status %d, want %d; body:\n%s", p.Status, tc.status, p.Body)
			}
			for name, want := range map[string]string{
				"Content-Security-Policy": ContentSecurityPolicy,
				"X-Content-Type-Options":  "nosniff",
				"X-Frame-Options":         "DENY",
				"Referrer-Policy":         "no-referrer",
			} {
				if got := p.Header.Get(name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			if got := p.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(got, "max-age=") {
				t.Errorf("Strict-Transport-Security = %q over TLS", got)
			}
			if !tc.html {
				return
			}
			if ct := p.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type = %q", ct)
			}
			if cc := p.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
			problems, elements, err := inlineProblems(p.Body)
			if err != nil {
				t.Fatalf("page does not parse: %v\n%s", err, p.Body)
			}
			if elements < 20 {
				t.Fatalf("parsed only %d elements; is this a page?\n%s", elements, p.Body)
			}
			if len(problems) > 0 {
				t.Errorf("inline content a strict CSP blocks: %v", problems)
			}
		})
	}
}

// TestInlineProblemsFinds checks the checker itself: each kind of inline
// content must be caught.
func TestInlineProblemsFinds(t *testing.T) {
	tests := []struct {
		name, html string
		want       int
	}{
		{"clean", `<!doctype html><html><head><script src="/a.js"></script><link rel="stylesheet" href="/s.css"></head><body><p class="x">hi<br>there</p><input required></body></html>`, 0},
		{"inline script", `<html><body><script>alert(1)</script></body></html>`, 2},
		{"empty script without src", `<html><body><script></script></body></html>`, 1},
		{"style element", `<html><head><style>p{}</style></head></html>`, 1},
		{"style attribute", `<html><body><p style="color:red">x</p></body></html>`, 1},
		{"style attribute upper case", `<html><body><p STYLE="color:red">x</p></body></html>`, 1},
		{"event handler", `<html><body><button onclick="go()">x</button></body></html>`, 1},
		{"javascript url", `<html><body><a href=" JavaScript:go()">x</a></body></html>`, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := inlineProblems(tc.html)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.want {
				t.Errorf("found %v, want %d problems", got, tc.want)
			}
		})
	}
}

func TestAssets(t *testing.T) {
	e := newEnv(t)
	b := e.browser("curl/8.5.0")
	tests := []struct {
		name, path, contentType, cache string
		status                         int
	}{
		{"versioned stylesheet", assetURL("style.css"), "text/css; charset=utf-8", "public, max-age=31536000, immutable", 200},
		{"versioned script", assetURL("app.js"), "text/javascript; charset=utf-8", "public, max-age=31536000, immutable", 200},
		{"versioned image", assetURL("logo.svg"), "image/svg+xml", "public, max-age=31536000, immutable", 200},
		{"stale version", "/assets/style.css?v=0", "text/css; charset=utf-8", "no-cache", 200},
		{"no version", "/assets/app.js", "text/javascript; charset=utf-8", "no-cache", 200},
		{"directory", "/assets/", "", "", 404},
		{"template source", "/assets/..%2Ftemplates%2Flayout.html", "", "", 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := b.get(tc.path)
			if p.Status != tc.status {
				t.Fatalf("status %d, want %d", p.Status, tc.status)
			}
			if tc.status != 200 {
				return
			}
			if got := p.Header.Get("Content-Type"); got != tc.contentType {
				t.Errorf("Content-Type = %q, want %q", got, tc.contentType)
			}
			if got := p.Header.Get("Cache-Control"); got != tc.cache {
				t.Errorf("Cache-Control = %q, want %q", got, tc.cache)
			}
			if len(p.Body) < 100 {
				t.Errorf("body is %d bytes", len(p.Body))
			}
		})
	}
}
