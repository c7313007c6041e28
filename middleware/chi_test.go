package middleware_test

import (
	"net/http"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/middleware"
)

// TestChi mounts the middleware on a chi router, the way chi users write
// it: Use for Authenticate, With and Group for the requirements.
func TestChi(t *testing.T) {
	svc, _ := newService(t)
	mw := middleware.New(svc, middleware.Config{Permissions: testPermissions})
	r := chi.NewRouter()
	r.Use(mw.Authenticate)
	r.Get("/public", whoami)
	r.With(mw.Require).Get("/private", whoami)
	r.Group(func(r chi.Router) {
		r.Use(mw.RequireRole("admin"))
		r.Get("/admin", whoami)
	})
	r.With(mw.RequirePermission("orders:write")).Post("/orders", whoami)

	clerk := login(t, svc, "clerk@example.com", valet.ModeToken, "clerk").AccessToken
	admin := login(t, svc, "admin@example.com", valet.ModeSession, "admin").Cookie
	plain := login(t, svc, "plain@example.com", valet.ModeToken).AccessToken
	tests := []struct {
		name     string
		c        call
		want     int
		wantBody string
	}{
		{"anonymous public", call{path: "/public"}, 200, "anonymous"},
		{"anonymous private", call{path: "/private"}, 401, ""},
		{"anonymous private, browser", call{path: "/private", browser: true}, 303, ""},
		{"clerk private", call{path: "/private", bearer: clerk}, 200, "clerk@example.com"},
		{"clerk admin", call{path: "/admin", bearer: clerk}, 403, ""},
		{"admin admin by cookie", call{path: "/admin", cookie: admin}, 200, "admin@example.com"},
		{"clerk orders", call{method: http.MethodPost, path: "/orders", bearer: clerk}, 200, "clerk@example.com"},
		{"plain orders", call{method: http.MethodPost, path: "/orders", bearer: plain}, 403, ""},
		{"tampered token", call{path: "/private", bearer: tamper(clerk)}, 401, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := serve(t, r, tc.c)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d; body %q", w.Code, tc.want, w.Body)
			}
			if tc.wantBody != "" && w.Body.String() != tc.wantBody {
				t.Fatalf("body %q, want %q", w.Body, tc.wantBody)
			}
		})
	}
}
