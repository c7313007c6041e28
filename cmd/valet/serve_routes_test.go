package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestRoutes holds routes to the paths that each handler serves, and to
// the security headers on every answer, sent once.
func TestRoutes(t *testing.T) {
	named := func(name string, headers bool) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if headers {
				// As the API does: it sets its own.
				w.Header().Set("X-Frame-Options", "DENY")
			}
			w.Header().Set("X-Served-By", name)
		})
	}
	h := routes(named("api", true), named("provider", false), named("pages", false))
	noProvider := routes(named("api", true), nil, named("pages", false))
	tests := []struct {
		path, want, withoutProvider string
	}{
		{"/v1/me", "api", "api"},
		{"/v1/admin/users/x/sessions", "api", "api"},
		{"/.well-known/jwks.json", "api", "api"},
		{"/.well-known/openid-configuration", "provider", "api"},
		{"/oauth2/authorize", "provider", "pages"},
		{"/healthz", "api", "api"},
		{"/readyz", "api", "api"},
		{"/metrics", "api", "api"},
		{"/openapi.json", "api", "api"},
		{"/", "pages", "pages"},
		{"/signin", "pages", "pages"},
		{"/v1", "pages", "pages"},
		{"/healthz/x", "pages", "pages"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			for _, c := range []struct {
				h    http.Handler
				want string
			}{{h, tc.want}, {noProvider, tc.withoutProvider}} {
				rec := httptest.NewRecorder()
				c.h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
				if got := rec.Header().Get("X-Served-By"); got != c.want {
					t.Errorf("served by %q, want %q", got, c.want)
				}
				if got := rec.Header().Values("X-Frame-Options"); len(got) != 1 || got[0] != "DENY" {
					t.Errorf("X-Frame-Options %q, want DENY once", got)
				}
			}
		})
	}
}
