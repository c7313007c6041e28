package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/valetauth/valet/httpapi"
)

// TestMethodNotAllowed: a known path asked with another method answers 405
// in the error shape with Allow; an unknown path answers 404 in the same
// shape, wherever it is.
func TestMethodNotAllowed(t *testing.T) {
	api := httpapi.New(stub{}, httpapi.Config{})
	tests := []struct {
		method, path string
		status       int
		code, allow  string
	}{
		{"PUT", "/v1/me", 405, "method_not_allowed", "GET, HEAD"},
		{"POST", "/v1/me", 405, "method_not_allowed", "GET, HEAD"},
		{"GET", "/v1/login", 405, "method_not_allowed", "POST"},
		{"OPTIONS", "/v1/login", 405, "method_not_allowed", "POST"},
		{"POST", "/v1/sessions", 405, "method_not_allowed", "GET, HEAD, DELETE"},
		{"GET", "/v1/sessions/abc", 405, "method_not_allowed", "DELETE"},
		{"GET", "/v1/admin/users/abc", 405, "method_not_allowed", "PATCH, DELETE"},
		{"GET", "/v1/admin/users/import", 405, "method_not_allowed", "POST, PATCH, DELETE"},
		{"POST", "/healthz", 405, "method_not_allowed", "GET, HEAD"},
		{"DELETE", "/.well-known/jwks.json", 405, "method_not_allowed", "GET, HEAD"},
		{"POST", "/openapi.json", 405, "method_not_allowed", "GET, HEAD"},
		{"GET", "/v1/nope", 404, "not_found", ""},
		{"PUT", "/v1/nope", 404, "not_found", ""},
		{"GET", "/v1/me/extra", 404, "not_found", ""},
		{"GET", "/.well-known/nope", 404, "not_found", ""},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			r := httptest.NewRequest(tc.method, tc.path, nil)
			// Same origin, so that the unsafe methods get past the CSRF check.
			r.Header.Set("Sec-Fetch-Site", "same-origin")
			api.ServeHTTP(rec, r)
			if got, want := rec.Code, tc.status; got != want {
				t.Fatalf("status = %d, want %d; body %s", got, want, rec.Body)
			}
			if got, want := rec.Header().Get("Allow"), tc.allow; got != want {
				t.Errorf("Allow = %q, want %q", got, want)
			}
			if got, want := rec.Header().Get("Content-Type"), "application/json"; got != want {
				t.Errorf("Content-Type = %q, want %q", got, want)
			}
			var body struct{ Error, Message string }
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if got, want := body.Error, tc.code; got != want || body.Message == "" {
				t.Errorf("error = %q (message %q), want %q", got, body.Message, want)
			}
		})
	}
}

// TestGrantsAreNotCompressed: the answers that carry tokens stay plain for
// a client that accepts gzip, whatever their size, while an answer as big
// that carries none is compressed (see Compress).
func TestGrantsAreNotCompressed(t *testing.T) {
	var roles []string
	for i := range 100 {
		roles = append(roles, fmt.Sprintf("role-%d", i))
	}
	api := httpapi.New(stub{mode: "token", roles: roles}, httpapi.Config{})
	tests := []struct {
		path, body string
		status     int
		wantGzip   bool
	}{
		{"/v1/login", `{"email":"ada@example.com","password":"pw"}`, 200, false},
		{"/v1/token/refresh", `{"refresh_token":"rt"}`, 200, false},
		{"/v1/signup", `{"email":"ada@example.com","password":"pw"}`, 201, true},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			r := httptest.NewRequest("POST", tc.path, strings.NewReader(tc.body))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("Accept-Encoding", "gzip")
			rec := httptest.NewRecorder()
			api.ServeHTTP(rec, r)
			if got, want := rec.Code, tc.status; got != want {
				t.Fatalf("status = %d, want %d", got, want)
			}
			if rec.Body.Len() < 1024 && !tc.wantGzip {
				t.Fatalf("the answer has %d bytes: too few to prove anything", rec.Body.Len())
			}
			if got := rec.Header().Get("Content-Encoding") == "gzip"; got != tc.wantGzip {
				t.Fatalf("gzip = %v, want %v", got, tc.wantGzip)
			}
		})
	}
}
