package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/httpapi"
	"github.com/valetauth/valet/session"
)

func TestSafeReturn(t *testing.T) {
	tests := []struct {
		name, target, want string
	}{
		{"empty", "", "/account"},
		{"path", "/admin", "/admin"},
		{"path and query", "/admin?q=ada&page=2", "/admin?q=ada&page=2"},
		{"encoded path kept", "/a%20b", "/a%20b"},
		{"fragment dropped", "/account#sessions", "/account"},
		{"same host absolute", "https://valet.example/admin?q=x", "/admin?q=x"},
		{"same host other case", "https://VALET.example/admin", "/admin"},
		{"other host", "https://evil.example/", "/account"},
		{"other host same suffix", "https://valet.example.evil.example/", "/account"},
		{"scheme relative", "//evil.example/", "/account"},
		{"scheme relative with path", "//evil.example/account", "/account"},
		{"backslash", "/\\evil.example", "/account"},
		{"backslashes", "\\\\evil.example", "/account"},
		{"triple slash", "///evil.example", "/account"},
		{"javascript", "javascript:alert(1)", "/account"},
		{"data", "data:text/html,hi", "/account"},
		{"mailto", "mailto:a@example.com", "/account"},
		{"relative", "account", "/account"},
		{"dot relative", "../admin", "/account"},
		{"user info", "https://valet.example@evil.example/", "/account"},
		{"user info same host", "https://user@valet.example/", "/account"},
		{"tab inside", "/\t/evil.example", "/account"},
		{"newline", "/account\nSet-Cookie: x=y", "/account"},
		{"leading space", " /admin", "/account"},
		{"ftp same host", "ftp://valet.example/admin", "/account"},
		{"too long", "/" + strings.Repeat("a", 3000), "/account"},
		{"same host, other port", "https://valet.example:8443/x?y=1#z", "https://valet.example:8443/x?y=1"},
		{"public host", "https://auth.valet.test/account", "https://auth.valet.test/account"},
		{"under the cookie domain", "https://app.apps.test/orders?id=7", "https://app.apps.test/orders?id=7"},
		{"under the cookie domain, http, port", "http://App.Apps.test:8080", "http://app.apps.test:8080/"},
		{"the cookie domain itself", "https://apps.test/", "https://apps.test/"},
		{"allowed host", "https://partner.example/back", "https://partner.example/back"},
		{"allowed host, any port", "https://partner.example:9443/back", "https://partner.example:9443/back"},
		{"suffix of the cookie domain", "https://evilapps.test/", "/account"},
		{"cookie domain as a prefix", "https://apps.test.evil.example/", "/account"},
		{"allowed host with user info", "https://x@partner.example/", "/account"},
		{"allowed host, ftp", "ftp://partner.example/", "/account"},
		{"allowed host, encoded in the host", "https://partner%2eexample/", "/account"},
		{"allowed host, backslash", "https://partner.example\\@evil.example/", "/account"},
		{"allowed host, scheme relative", "//partner.example/", "/account"},
		{"absolute path that is not", "https:partner.example", "/account"},
	}
	h := &Handler{api: httpapi.Config{
		Cookie:      session.Cookie{Domain: "apps.test"},
		ForwardAuth: httpapi.ForwardAuthConfig{PublicURL: "https://auth.valet.test", AllowedRedirectHosts: []string{"partner.example"}},
	}}
	r := httptest.NewRequest(http.MethodPost, "https://valet.example/signin", nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := h.safeReturn(tc.target, r); got != tc.want {
				t.Errorf("safeReturn(%q) = %q, want %q", tc.target, got, tc.want)
			}
		})
	}
}

// FuzzSafeReturn checks that whatever a sign-in link says, the browser is
// sent to a path on this site or to an allowed host.
func FuzzSafeReturn(f *testing.F) {
	for _, s := range []string{"/admin?q=1", "//evil.example", "/\\evil", "https://valet.example/x", "https://evil.example", "/%2F/evil", "javascript:alert(1)",
		"https://app.example/x", "http://app.example:1/", "https://app.example.evil/"} {
		f.Add(s)
	}
	h := &Handler{api: httpapi.Config{ForwardAuth: httpapi.ForwardAuthConfig{AllowedRedirectHosts: []string{"app.example"}}}}
	r := httptest.NewRequest(http.MethodPost, "https://valet.example/signin", nil)
	f.Fuzz(func(t *testing.T, target string) {
		got := h.safeReturn(target, r)
		if strings.ContainsAny(got, "\\\r\n\t ") {
			t.Fatalf("safeReturn(%q) = %q holds a character a browser may read otherwise", target, got)
		}
		if isAbsolute(got) {
			u, err := url.Parse(got)
			if err != nil || u.User != nil || (u.Scheme != "http" && u.Scheme != "https") ||
				(u.Hostname() != "valet.example" && u.Hostname() != "app.example") || u.String() != got {
				t.Fatalf("safeReturn(%q) = %q leads to a host that is not allowed (%v)", target, got, err)
			}
			return
		}
		if !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") {
			t.Fatalf("safeReturn(%q) = %q: not a local path", target, got)
		}
		u, err := url.Parse(got)
		if err != nil {
			t.Fatalf("safeReturn(%q) = %q does not parse: %v", target, got, err)
		}
		if u.Host != "" || u.Scheme != "" || u.User != nil {
			t.Fatalf("safeReturn(%q) = %q names a host", target, got)
		}
		// What a browser does with the Location header: resolve it against
		// the page's own address. It must stay on this site.
		base, _ := url.Parse("https://valet.example/signin")
		if res := base.ResolveReference(u); res.Host != "valet.example" {
			t.Fatalf("safeReturn(%q) = %q resolves to host %q", target, got, res.Host)
		}
	})
}

func TestDescribe(t *testing.T) {
	h := &Handler{log: quietLogger()}
	r := httptest.NewRequest(http.MethodPost, "/signin", nil)
	weak := valet.Errorf(valet.ErrWeakPassword, "Password must be at least 8 characters.")
	tests := []struct {
		name       string
		err        error
		op         string
		status     int
		field      string
		message    string
		retryAfter int
	}{
		{"wrong password", valet.ErrInvalidCredentials, "signin", 401, "", "Wrong email or password.", 0},
		{"wrong current password", fmt.Errorf("%w: the current password is wrong", valet.ErrInvalidCredentials), "password", 401, "current_password", "Your current password is not right.", 0},
		{"disabled", fmt.Errorf("%w: this account is disabled", valet.ErrUserDisabled), "signin", 403, "", "This account is disabled. Ask an administrator to enable it.", 0},
		{"weak on signup", weak, "signup", 400, "password", "Password must be at least 8 characters.", 0},
		{"weak on change", weak, "password", 400, "new_password", "Password must be at least 8 characters.", 0},
		{"common", valet.Errorf(valet.ErrWeakPassword, "This password is too common; choose another."), "signup", 400, "password", "This password is too common; choose another.", 0},
		{"invalid email", fmt.Errorf("%w: enter an email address", valet.ErrInvalidEmail), "signup", 400, "email", "Enter an email address like name@example.com.", 0},
		{"taken", fmt.Errorf("%w: an account with this email already exists", valet.ErrConflict), "signup", 409, "email", "An account with this email already exists. Sign in instead, or use another email.", 0},
		{"throttled", valet.ErrRateLimited, "signin", 429, "", "Too many attempts. Try again in 1 minute.", 60},
		{"throttled with wait", waitError{wait: 2500 * time.Millisecond}, "signin", 429, "", "Too many attempts. Try again in a few seconds.", 3},
		{"throttled long", waitError{wait: 4*time.Minute + time.Second}, "signup", 429, "", "Too many attempts. Try again in 5 minutes.", 241},
		{"unavailable", fmt.Errorf("store: %w", valet.ErrUnavailable), "signin", 503, "", "The service is busy or cannot reach its store. Try again in a moment.", 1},
		{"deadline", context.DeadlineExceeded, "signin", 503, "", "The service is busy or cannot reach its store. Try again in a moment.", 1},
		{"bad mode", valet.Errorf(valet.ErrInvalidRequest, "Mode must be session, token or hybrid."), "signin", 400, "", "Mode must be session, token or hybrid.", 0},
		{"old sign-in", valet.Errorf(valet.ErrReauthRequired, "Confirm it is you: sign in again within 10 minutes to make this change."), "factor", 403, "",
			"Confirm it is you: sign in again within 10 minutes to make this change.", 0},
		{"passkey registered", valet.Errorf(valet.ErrConflict, "This passkey is registered already."), "factor", 409, "", "This passkey is registered already.", 0},
		{"no such factor", valet.Errorf(valet.ErrNotFound, "No such second factor."), "factor", 404, "", "No such second factor.", 0},
		{"unknown", errors.New("pq: relation users does not exist"), "signin", 500, "", "Something went wrong on our side. Try again.", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := h.describe(r, tc.err, tc.op)
			want := formErr{status: tc.status, field: tc.field, message: tc.message, retryAfter: tc.retryAfter}
			if got != want {
				t.Errorf("describe = %+v, want %+v", got, want)
			}
			if strings.Contains(got.message, "pq:") {
				t.Errorf("message leaks a dependency's error: %q", got.message)
			}
		})
	}
}

// TestSignInForPeople: sign-up is its own page and keeps the return target;
// the mode choice is under a closed disclosure with the server's default
// checked (open when another mode was asked for); a wrong password puts
// the cursor back in the password field, the email kept.
func TestSignInForPeople(t *testing.T) {
	e := newEnv(t, withAPI(func(c *httpapi.Config) { c.ForwardAuth.AllowedRedirectHosts = []string{"app.example.com"} }))
	if _, err := e.svc.CreateUser(context.Background(), "ada@example.com", testPassword, nil); err != nil {
		t.Fatal(err)
	}
	b := e.browser(uaFirefox)
	p := b.get("/?rd=" + url.QueryEscape("https://app.example.com/x"))
	mustSee(t, "sign-in page", p, 200, `<details class="advanced">`, `value="session" checked`, "(this server's default)",
		`href="/signup?return_to=https%3a%2f%2fapp.example.com%2fx"`)
	if strings.Contains(p.Body, `id="signup-form"`) {
		t.Error("the sign-in page still holds the sign-up form")
	}
	p = b.get("/signup?return_to=" + url.QueryEscape("https://app.example.com/x"))
	mustSee(t, "sign-up page", p, 200, `id="signup-form"`, `name="return_to" value="https://app.example.com/x"`)
	if csp := p.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' https://app.example.com") {
		t.Errorf("the sign-up page's form cannot lead back to the application: %s", csp)
	}

	p = b.post("/signin", url.Values{"email": {"ada@example.com"}, "password": {"wrong password"}})
	mustSee(t, "wrong password", p, 401, `value="ada@example.com"`)
	if !regexp.MustCompile(`id="signin-password"[^>]*autofocus`).MatchString(p.Body) {
		t.Errorf("the password field does not get the focus after a wrong password:\n%s", p.Body)
	}
	if regexp.MustCompile(`id="signin-email"[^>]*autofocus`).MatchString(p.Body) {
		t.Error("the email field gets the focus after a wrong password")
	}
	p = b.post("/signin", url.Values{"email": {"ada@example.com"}, "password": {"wrong password"}, "mode": {"hybrid"}})
	mustSee(t, "wrong password in hybrid mode", p, 401, `<details class="advanced" open>`, `value="hybrid" checked`)

	b.signIn("ada@example.com", "")
	if p := b.get("/signup"); p.Status != 303 || p.Location() != "/account" {
		t.Errorf("/signup signed in: %d → %q", p.Status, p.Location())
	}
}
