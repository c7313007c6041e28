package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestSpecTransport: the client of every end-to-end test reports an
// exchange that api/openapi.yaml does not allow, and lets pages through.
func TestSpecTransport(t *testing.T) {
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/me":
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"user":{}}`)
		case "/healthz":
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			_, _ = io.WriteString(w, `{"status":"ok"}`)
		default:
			w.Header().Set("Content-Type", "text/html")
			_, _ = io.WriteString(w, "<p>a page</p>")
		}
	}))
	t.Cleanup(fake.Close)
	tests := []struct {
		path     string
		mismatch bool
	}{
		{"/v1/me", true},
		{"/healthz", false},
		{"/account", false},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			var got []error
			c := &http.Client{Transport: specTransport(http.DefaultTransport, func(err error) { got = append(got, err) })}
			resp, err := c.Get(fake.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if (len(got) > 0) != tc.mismatch {
				t.Fatalf("reported %v, want a mismatch: %v", got, tc.mismatch)
			}
		})
	}
}

// TestStrictInput: bodies with members the document does not name, names
// in another case, members given twice, values of the wrong type, or a
// required member missing, are refused with 400 invalid_request and a
// sentence that names the member, on every endpoint, before anything else
// happens (a refused login is no failed login).
func TestStrictInput(t *testing.T) {
	s := startServer(t, nil, "--data-dir", t.TempDir(), "--throttle-login-account", "1/15m")
	signupUser(t, s.URL, "ada@example.com")
	cookie := sessionCookie(t, login(t, s.URL, "ada@example.com", "session", req{}))
	tests := []struct {
		name, path, body string
		cookie           bool
		message          string
	}{
		{"misspelt field", "/v1/login", `{"emial":"ada@example.com","password":"x"}`, false, `Unknown field "emial".`},
		{"field of another endpoint", "/v1/signup", `{"email":"bob@example.com","password":"correct horse battery","mode":"token"}`, false, `Unknown field "mode".`},
		{"upper case name", "/v1/login", `{"EMAIL":"ada@example.com","password":"x"}`, false, `Unknown field "EMAIL".`},
		{"title case name", "/v1/token/refresh", `{"Refresh_Token":"x"}`, false, `Unknown field "Refresh_Token".`},
		{"duplicate", "/v1/login", `{"email":"bob@example.com","email":"ada@example.com","password":"x"}`, false, `The field "email" appears more than once.`},
		{"escaped duplicate", "/v1/login", `{"email":"bob@example.com","em\u0061il":"ada@example.com","password":"x"}`, false, `The field "email" appears more than once.`},
		{"huge number", "/v1/token/refresh", `{"refresh_token":1e999999}`, false, "The refresh_token field must be a string."},
		{"array for a string", "/v1/login", `{"email":["ada@example.com"],"password":"x"}`, false, "The email field must be a string."},
		{"object for a string", "/v1/signup", `{"email":"bob@example.com","password":{"x":1}}`, false, "The password field must be a string."},
		{"login without a password", "/v1/login", `{"email":"ada@example.com"}`, false, "The password field is required."},
		{"login without an email", "/v1/login", `{"password":"x"}`, false, "The email field is required."},
		{"signup without a password", "/v1/signup", `{"email":"bob@example.com"}`, false, "The password field is required."},
		{"signup with an empty email", "/v1/signup", `{"email":"","password":"correct horse battery"}`, false, "The email field is required."},
		{"refresh without a token", "/v1/token/refresh", `{}`, false, "The refresh_token field is required."},
		{"password change without the new one", "/v1/password", `{"current_password":"correct horse battery"}`, true, "The new_password field is required."},
		{"password change with an unknown field", "/v1/password", `{"current_password":"x","new_password":"y","confirm":"y"}`, true, `Unknown field "confirm".`},
		{"not an object", "/v1/login", `["ada@example.com","x"]`, false, "The request body must be one JSON object."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := req{Method: "POST", Path: tc.path, Body: tc.body}
			if tc.cookie {
				q.Cookie = cookie
			}
			r := do(t, s.URL, q)
			expect(t, tc.name, r, 400, "invalid_request")
			if got := r.json(t)["message"]; got != tc.message {
				t.Fatalf("message = %q, want %q", got, tc.message)
			}
		})
	}
	// The throttle allows one failed login per account: none of the
	// refused bodies above counted as one.
	login(t, s.URL, "ada@example.com", "token", req{})
}

// TestMethodNotAllowed: a known path asked with another method answers 405
// in the error shape, with the methods it takes in Allow.
func TestMethodNotAllowed(t *testing.T) {
	s := startServer(t, nil, "--data-dir", t.TempDir())
	tests := []struct{ method, path, allow string }{
		{"PUT", "/v1/me", "GET, HEAD"},
		{"GET", "/v1/login", "POST"},
		{"POST", "/v1/sessions", "GET, HEAD, DELETE"},
		{"GET", "/v1/sessions/abc", "DELETE"},
		{"POST", "/healthz", "GET, HEAD"},
		{"DELETE", "/.well-known/jwks.json", "GET, HEAD"},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			r := do(t, s.URL, req{Method: tc.method, Path: tc.path, Bearer: "x"})
			expect(t, tc.method+" "+tc.path, r, 405, "method_not_allowed")
			if got := r.Header.Get("Allow"); got != tc.allow {
				t.Fatalf("Allow = %q, want %q", got, tc.allow)
			}
		})
	}
	expect(t, "an unknown path", do(t, s.URL, req{Method: "PUT", Path: "/v1/nope"}), 404, "not_found")
}

// TestCompression: pages and JSON of 1 KiB or more come gzip-compressed to
// a client that asks, with Vary: Accept-Encoding; answers that set a cookie
// or hold tokens never do.
func TestCompression(t *testing.T) {
	s := startServer(t, nil, "--data-dir", t.TempDir())
	signupUser(t, s.URL, "ada@example.com")
	// A client that asks for gzip itself gets the bytes as they came: the
	// spec transport cannot read them, so it is not used here.
	raw := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(method, path, body string) (*http.Response, []byte) {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		r, err := http.NewRequest(method, s.URL+path, rd)
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Accept-Encoding", "gzip")
		if body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		resp, err := raw.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	creds := `{"email":"ada@example.com","password":"` + attackPassword + `"`
	tests := []struct {
		name, method, path, body string
		status                   int
		wantGzip                 bool
		want                     string // in the body, once decoded
	}{
		{"the sign-in page", "GET", "/", "", 200, true, "<!doctype html>"},
		{"the OpenAPI document", "GET", "/openapi.json", "", 200, true, `"openapi"`},
		{"the stylesheet", "GET", "/assets/style.css", "", 200, true, "{"},
		{"a small image", "GET", "/assets/logo.svg", "", 200, false, "<svg"},
		{"a small answer", "GET", "/healthz", "", 200, false, `{"status":"ok"}`},
		{"a session login sets a cookie", "POST", "/v1/login", creds + `,"mode":"session"}`, 200, false, `"session"`},
		{"a token login holds tokens", "POST", "/v1/login", creds + `,"mode":"token"}`, 200, false, `"access_token"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := get(tc.method, tc.path, tc.body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			gotGzip := resp.Header.Get("Content-Encoding") == "gzip"
			if gotGzip != tc.wantGzip {
				t.Fatalf("gzip = %v, want %v (%d bytes)", gotGzip, tc.wantGzip, len(body))
			}
			if gotGzip {
				if !strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), "Accept-Encoding") {
					t.Errorf("compressed without Vary: Accept-Encoding: %v", resp.Header)
				}
				zr, err := gzip.NewReader(bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				if body, err = io.ReadAll(zr); err != nil && !errors.Is(err, io.EOF) {
					t.Fatal(err)
				}
			}
			if !strings.Contains(string(body), tc.want) {
				t.Fatalf("body %.80q does not contain %q", body, tc.want)
			}
		})
	}
}
