package middleware_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/middleware"
)

// BenchmarkRequire measures a request through Authenticate and Require with
// a Bearer token, against the same handler called bare (the baseline) and
// the identification alone.
func BenchmarkRequire(b *testing.B) {
	svc, _ := newService(b)
	tok := login(b, svc, "a@example.com", valet.ModeToken).AccessToken
	mw := middleware.New(svc, middleware.Config{})
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	w := httptest.NewRecorder()
	b.Run("baseline/bare-handler", func(b *testing.B) {
		for b.Loop() {
			ok.ServeHTTP(w, req)
		}
	})
	b.Run("baseline/auth.IdentifyBearer", func(b *testing.B) {
		for b.Loop() {
			if _, err := svc.IdentifyBearer(req.Context(), tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	h := mw.Authenticate(mw.Require(ok))
	b.Run("Authenticate+Require", func(b *testing.B) {
		for b.Loop() {
			h.ServeHTTP(w, req)
		}
	})
}
