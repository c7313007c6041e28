package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/auth"
	"github.com/valetauth/valet/httpapi"
	"github.com/valetauth/valet/password"
	"github.com/valetauth/valet/session"
	"github.com/valetauth/valet/store/memory"
)

// forwardEnv is an API with one plain user and one admin, signed in in
// every mode, trusting proxies at 10.0.0.0/8.
type forwardEnv struct {
	api                  *httpapi.API
	cookie, token, admin string
	userID               string
}

func newForwardEnv(tb testing.TB) *forwardEnv {
	tb.Helper()
	ctx := context.Background()
	svc, err := auth.New(ctx, auth.Config{
		Stores: memory.New().Stores(),
		Hasher: password.NewHasher(password.Params{Memory: 8 * 1024, Iterations: 1, Parallelism: 1}, 0, 0),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		tb.Fatal(err)
	}
	const pw = "correct horse battery"
	u, err := svc.CreateUser(ctx, "ada@example.com", pw, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := svc.CreateUser(ctx, "root@example.com", pw, []string{"admin"}); err != nil {
		tb.Fatal(err)
	}
	e := &forwardEnv{userID: u.ID}
	g, err := svc.Login(ctx, "ada@example.com", pw, valet.ModeSession, auth.Client{})
	if err != nil {
		tb.Fatal(err)
	}
	e.cookie = g.Cookie
	if g, err = svc.Login(ctx, "ada@example.com", pw, valet.ModeHybrid, auth.Client{}); err != nil {
		tb.Fatal(err)
	}
	e.token = g.AccessToken
	if g, err = svc.Login(ctx, "root@example.com", pw, valet.ModeToken, auth.Client{}); err != nil {
		tb.Fatal(err)
	}
	e.admin = g.AccessToken
	rule, err := httpapi.ParseAccessRule("app.example.com/admin admin")
	if err != nil {
		tb.Fatal(err)
	}
	e.api = httpapi.New(svc, httpapi.Config{
		Cookie:      session.Cookie{Domain: "example.com"},
		AccessRules: []httpapi.AccessRule{rule},
		ForwardAuth: httpapi.ForwardAuthConfig{
			TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
			PublicURL:      "https://auth.example.com",
		},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	return e
}

const (
	proxyPeer = "10.1.2.3:40000"
	otherPeer = "192.0.2.7:40000"
)

// traefik is what Traefik and Caddy send about GET https://app.example.com+uri.
func traefik(uri string) map[string]string {
	return map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example.com", "X-Forwarded-Uri": uri}
}

// nginx is what the documented nginx configuration sends about the same.
func nginx(uri string) map[string]string {
	return map[string]string{"X-Original-Method": "GET", "X-Original-URL": "https://app.example.com" + uri}
}

func with(h map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range h {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(out, kv[i])
			continue
		}
		out[kv[i]] = kv[i+1]
	}
	return out
}

func TestForwardAuthEndpoints(t *testing.T) {
	e := newForwardEnv(t)
	browser := map[string]string{"Accept": "text/html,application/xhtml+xml"}
	tests := []struct {
		name     string
		path     string
		peer     string
		header   map[string]string
		cred     string // "cookie", "token cookie", "bearer", "admin", ""
		browser  bool
		want     int
		location string
	}{
		{"forward-auth, session cookie", "/v1/authz/forward-auth", proxyPeer, traefik("/orders"), "cookie", false, 200, ""},
		{"forward-auth, token cookie", "/v1/authz/forward-auth", proxyPeer, traefik("/orders"), "token cookie", false, 200, ""},
		{"forward-auth, bearer", "/v1/authz/forward-auth", proxyPeer, traefik("/orders"), "bearer", false, 200, ""},
		{"alias", "/v1/authz", proxyPeer, traefik("/orders"), "cookie", false, 200, ""},
		{"auth-request, session cookie", "/v1/authz/auth-request", proxyPeer, nginx("/orders"), "cookie", false, 200, ""},
		{"auth-request, token cookie", "/v1/authz/auth-request", proxyPeer, nginx("/orders"), "token cookie", false, 200, ""},
		{"forward-auth, rule denies", "/v1/authz/forward-auth", proxyPeer, traefik("/Admin/x"), "cookie", false, 403, ""},
		{"forward-auth, rule lets admin in", "/v1/authz/forward-auth", proxyPeer, traefik("/admin/x"), "admin", false, 200, ""},
		{"auth-request, rule denies", "/v1/authz/auth-request", proxyPeer, nginx("/%61dmin"), "cookie", false, 403, ""},
		{"auth-request, fragment", "/v1/authz/auth-request", proxyPeer, nginx("/ok#/../admin"), "cookie", false, 403, ""},

		{"forward-auth, browser to sign in", "/v1/authz/forward-auth", proxyPeer, traefik("/orders?id=7"), "", true, 302,
			"https://auth.example.com/?rd=https%3A%2F%2Fapp.example.com%2Forders%3Fid%3D7"},
		{"forward-auth, script", "/v1/authz/forward-auth", proxyPeer, traefik("/orders"), "", false, 401, ""},
		{"auth-request, browser", "/v1/authz/auth-request", proxyPeer, nginx("/orders"), "", true, 401,
			"https://auth.example.com/?rd=https%3A%2F%2Fapp.example.com%2Forders"},
		{"auth-request, script", "/v1/authz/auth-request", proxyPeer, nginx("/orders"), "", false, 401, ""},

		{"forward-auth from an untrusted peer", "/v1/authz/forward-auth", otherPeer, traefik("/orders"), "cookie", false, 403, ""},
		{"alias from an untrusted peer", "/v1/authz", otherPeer, traefik("/orders"), "cookie", false, 403, ""},
		{"untrusted peer, browser not sent on", "/v1/authz/forward-auth", otherPeer, traefik("/orders"), "", true, 403, ""},
		{"untrusted peer, one header", "/v1/authz/forward-auth", otherPeer, map[string]string{"X-Forwarded-Uri": "/orders"}, "cookie", false, 403, ""},
		{"auth-request from an untrusted peer", "/v1/authz/auth-request", otherPeer, nginx("/orders"), "cookie", false, 403, ""},
		{"auth-request, untrusted, X-Original-URL only", "/v1/authz/auth-request", otherPeer, map[string]string{"X-Original-URL": "https://app.example.com/"}, "cookie", false, 403, ""},
		{"no X-Forwarded-Proto", "/v1/authz/forward-auth", proxyPeer, with(traefik("/orders"), "X-Forwarded-Proto", ""), "cookie", false, 403, ""},
		{"X-Forwarded-Proto ftp", "/v1/authz/forward-auth", proxyPeer, with(traefik("/orders"), "X-Forwarded-Proto", "ftp"), "cookie", false, 403, ""},
		{"no X-Forwarded-Uri", "/v1/authz/forward-auth", proxyPeer, with(traefik(""), "X-Forwarded-Uri", ""), "cookie", false, 403, ""},
		{"no X-Forwarded-Method", "/v1/authz/forward-auth", proxyPeer, with(traefik("/orders"), "X-Forwarded-Method", ""), "cookie", false, 403, ""},
		{"two hosts", "/v1/authz/forward-auth", proxyPeer, with(traefik("/orders"), "X-Forwarded-Host", "app.example.com, other.example.com"), "cookie", false, 403, ""},
		{"host with a path", "/v1/authz/forward-auth", proxyPeer, with(traefik("/orders"), "X-Forwarded-Host", "app.example.com/admin"), "cookie", false, 403, ""},
		{"host with user info", "/v1/authz/forward-auth", proxyPeer, with(traefik("/orders"), "X-Forwarded-Host", "x@app.example.com"), "cookie", false, 403, ""},
		{"relative uri", "/v1/authz/forward-auth", proxyPeer, with(traefik("/orders"), "X-Forwarded-Uri", "orders"), "cookie", false, 403, ""},
		{"no X-Original-Method", "/v1/authz/auth-request", proxyPeer, with(nginx("/orders"), "X-Original-Method", ""), "cookie", false, 403, ""},
		{"relative X-Original-URL", "/v1/authz/auth-request", proxyPeer, with(nginx("/orders"), "X-Original-URL", "/orders"), "cookie", false, 403, ""},
		{"X-Original-URL with user info", "/v1/authz/auth-request", proxyPeer, with(nginx("/orders"), "X-Original-URL", "https://u@app.example.com/"), "cookie", false, 403, ""},

		// Each endpoint reads only its own proxy's headers.
		{"forward-auth ignores X-Original-URL", "/v1/authz/forward-auth", proxyPeer, with(traefik("/orders"), "X-Original-URL", "https://app.example.com/admin"), "cookie", false, 200, ""},
		{"auth-request ignores X-Forwarded-Uri", "/v1/authz/auth-request", proxyPeer, with(nginx("/admin"), "X-Forwarded-Uri", "/orders"), "cookie", false, 403, ""},

		// No original request named: who the caller is, and no rule can pass.
		{"no proxy headers, rules set", "/v1/authz/forward-auth", otherPeer, nil, "cookie", false, 403, ""},
		{"no proxy headers, browser", "/v1/authz/forward-auth", otherPeer, nil, "", true, 302, "https://auth.example.com/"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, tc.path, nil)
			r.RemoteAddr = tc.peer
			for k, v := range tc.header {
				r.Header.Set(k, v)
			}
			if tc.browser {
				for k, v := range browser {
					r.Header.Set(k, v)
				}
			}
			switch tc.cred {
			case "cookie":
				r.AddCookie(&http.Cookie{Name: "__Secure-valet_session", Value: e.cookie})
			case "token cookie":
				r.AddCookie(&http.Cookie{Name: session.TokenName, Value: e.token})
			case "bearer":
				r.Header.Set("Authorization", "Bearer "+e.token)
			case "admin":
				r.Header.Set("Authorization", "Bearer "+e.admin)
			}
			w := httptest.NewRecorder()
			e.api.ServeHTTP(w, r)
			if got := w.Code; got != tc.want {
				t.Fatalf("status %d, want %d: %s", got, tc.want, w.Body)
			}
			if got := w.Header().Get("Location"); got != tc.location {
				t.Errorf("Location = %q, want %q", got, tc.location)
			}
			if tc.want != 200 {
				if w.Header().Get("Remote-User") != "" {
					t.Error("a refusal carries Remote-User")
				}
				if tc.want != 302 {
					var body struct{ Error, Message string }
					if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error == "" || body.Message == "" {
						t.Errorf("body %q is not an error of the contract", w.Body)
					}
				}
				return
			}
			h := w.Header()
			if tc.cred != "admin" && (h.Get("Remote-User") != e.userID || h.Get("Remote-Email") != "ada@example.com" ||
				h.Get("Remote-Name") != "ada@example.com" || h.Values("Remote-Groups") == nil) {
				t.Errorf("Remote-* = %q %q %q %q", h.Get("Remote-User"), h.Get("Remote-Email"), h.Get("Remote-Name"), h.Values("Remote-Groups"))
			}
			if tc.cred == "admin" && h.Get("Remote-Groups") != "admin" {
				t.Errorf("Remote-Groups = %q, want admin", h.Get("Remote-Groups"))
			}
			if h.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q", h.Get("Cache-Control"))
			}
		})
	}
}

func TestRedirectAllowed(t *testing.T) {
	c := httpapi.Config{
		Cookie: session.Cookie{Domain: ".Example.com"},
		ForwardAuth: httpapi.ForwardAuthConfig{
			PublicURL:            "https://auth.valet.test:8443",
			AllowedRedirectHosts: []string{"Partner.example.org", "tools.test:9000"},
		},
	}
	tests := []struct {
		host string
		want bool
	}{
		{"auth.valet.test", true},
		{"example.com", true},
		{"app.example.com", true},
		{"APP.Example.COM.", true},
		{"a.b.example.com", true},
		{"badexample.com", false},
		{"example.com.evil.test", false},
		{"partner.example.org", true},
		{"x.partner.example.org", false},
		{"tools.test", true},
		{"valet.test", false},
		{"", false},
	}
	for _, tc := range tests {
		if got := c.RedirectAllowed(tc.host); got != tc.want {
			t.Errorf("RedirectAllowed(%q) = %v, want %v", tc.host, got, tc.want)
		}
	}
}

func TestParsePublicURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://auth.example.com":       "https://auth.example.com",
		"https://auth.example.com/":      "https://auth.example.com",
		"http://127.0.0.1:8080":          "http://127.0.0.1:8080",
		"https://example.com/valet/":     "https://example.com/valet",
		"auth.example.com":               "",
		"ftp://auth.example.com":         "",
		"https://u:p@auth.example.com":   "",
		"https://auth.example.com/?x=1":  "",
		"https://auth.example.com/#frag": "",
		"https:///x":                     "",
	} {
		got, err := httpapi.ParsePublicURL(in)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("ParsePublicURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
