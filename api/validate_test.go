package api_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/valetauth/valet/api/apitest"
)

func newValidator(tb testing.TB) *apitest.Validator {
	tb.Helper()
	v, err := apitest.NewValidator()
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

const (
	userJSON    = `{"id":"u1","email":"ada@example.com","email_verified":true,"roles":[],"created_at":"2026-01-02T15:04:05Z"}`
	sessionJSON = `{"id":"s1","expires_at":"2026-01-03T15:04:05Z"}`
)

func jsonHeader(kv ...string) http.Header {
	h := http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"no-store"}}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func TestCheck(t *testing.T) {
	v := newValidator(t)
	tests := []struct {
		name       string
		method     string
		target     string
		reqHeader  http.Header
		reqBody    string
		status     int
		respHeader http.Header
		respBody   string
		wantErr    string // "" for no mismatch
	}{
		{
			name: "session login", method: "POST", target: "/v1/login", reqHeader: jsonHeader(),
			reqBody: `{"email":"ada@example.com","password":"correct horse","mode":"session"}`,
			status:  200, respHeader: jsonHeader("Set-Cookie", "__Host-valet_session=a.b; Path=/; HttpOnly; Secure; SameSite=Lax"),
			respBody: `{"user":` + userJSON + `,"mode":"session","session":` + sessionJSON + `}`,
		},
		{
			name: "hybrid login", method: "POST", target: "/v1/login", reqHeader: jsonHeader(),
			reqBody: `{"email":"ada@example.com","password":"correct horse","mode":"hybrid"}`,
			status:  200, respHeader: jsonHeader(),
			respBody: `{"user":` + userJSON + `,"mode":"hybrid","access_token":"e.y.j","token_type":"Bearer","expires_in":900,` +
				`"refresh_token":"r","refresh_expires_in":2592000,"session":` + sessionJSON + `}`,
		},
		{
			name: "login with an unknown field that the server took", method: "POST", target: "/v1/login", reqHeader: jsonHeader(),
			reqBody: `{"email":"ada@example.com","password":"correct horse","remember":true}`,
			status:  200, respHeader: jsonHeader(),
			respBody: `{"user":` + userJSON + `,"mode":"session","session":` + sessionJSON + `}`,
			wantErr:  "did not refuse",
		},
		{
			name: "login with an unknown field, refused", method: "POST", target: "/v1/login", reqHeader: jsonHeader(),
			reqBody: `{"email":"ada@example.com","password":"correct horse","remember":true}`,
			status:  400, respHeader: jsonHeader(),
			respBody: `{"error":"invalid_request","message":"Unknown field \"remember\"."}`,
		},
		{
			name: "login grant with both a cookie session and tokens missing", method: "POST", target: "/v1/login", reqHeader: jsonHeader(),
			reqBody: `{"email":"ada@example.com","password":"correct horse"}`,
			status:  200, respHeader: jsonHeader(),
			respBody: `{"user":` + userJSON + `,"session":` + sessionJSON + `,"access_token":"e.y.j"}`,
			wantErr:  "response body doesn't match",
		},
		{
			name: "wrong password", method: "POST", target: "/v1/login", reqHeader: jsonHeader(),
			reqBody: `{"email":"ada@example.com","password":"nope"}`,
			status:  401, respHeader: jsonHeader(),
			respBody: `{"error":"invalid_credentials","message":"The email or password is not right."}`,
		},
		{
			name: "an error code of another status", method: "POST", target: "/v1/login", reqHeader: jsonHeader(),
			reqBody: `{"email":"ada@example.com","password":"nope"}`,
			status:  401, respHeader: jsonHeader(),
			respBody: `{"error":"forbidden","message":"No."}`,
			wantErr:  "response body doesn't match",
		},
		{
			name: "an error with a field more", method: "POST", target: "/v1/login", reqHeader: jsonHeader(),
			reqBody: `{"email":"ada@example.com","password":"nope"}`,
			status:  401, respHeader: jsonHeader(),
			respBody: `{"error":"invalid_credentials","message":"No.","detail":"user not found"}`,
			wantErr:  "response body doesn't match",
		},
		{
			name: "rate limited without Retry-After", method: "POST", target: "/v1/login", reqHeader: jsonHeader(),
			reqBody: `{"email":"ada@example.com","password":"nope"}`,
			status:  429, respHeader: jsonHeader(),
			respBody: `{"error":"rate_limited","message":"Too many attempts; try again later."}`,
			wantErr:  `"Retry-After" missing`,
		},
		{
			name: "rate limited", method: "POST", target: "/v1/login", reqHeader: jsonHeader(),
			reqBody: `{"email":"ada@example.com","password":"nope"}`,
			status:  429, respHeader: jsonHeader("Retry-After", "30"),
			respBody: `{"error":"rate_limited","message":"Too many attempts; try again later."}`,
		},
		{
			name: "an undocumented status", method: "POST", target: "/v1/login", reqHeader: jsonHeader(),
			reqBody: `{"email":"ada@example.com","password":"nope"}`,
			status:  418, respHeader: jsonHeader(),
			respBody: `{"error":"internal","message":"Teapot."}`,
			wantErr:  "status is not supported",
		},
		{
			name: "me", method: "GET", target: "/v1/me", reqHeader: http.Header{"Cookie": {"__Host-valet_session=a.b"}},
			status: 200, respHeader: jsonHeader(),
			respBody: `{"auth":{"amr":["pwd"],"expires_at":"2026-01-03T15:04:05Z","mode":"session","session_id":"s1"},"user":` + strings.TrimSuffix(userJSON, "}") + `,"mfa":[]}}`,
		},
		{
			name: "me without user", method: "GET", target: "/v1/me", reqHeader: http.Header{"Cookie": {"__Host-valet_session=a.b"}},
			status: 200, respHeader: jsonHeader(),
			respBody: `{"auth":{"amr":["pwd"],"expires_at":"2026-01-03T15:04:05Z","mode":"session","session_id":"s1"}}`,
			wantErr:  `property "user" is missing`,
		},
		{
			name: "me with a bad token", method: "GET", target: "/v1/me", reqHeader: http.Header{"Authorization": {"Bearer not-a-token"}},
			status: 401, respHeader: jsonHeader("WWW-Authenticate", `Bearer error="invalid_token", error_description="The access token is not valid."`),
			respBody: `{"error":"invalid_token","message":"The access token is not valid."}`,
		},
		{
			name: "a Bearer 401 without its challenge", method: "GET", target: "/v1/me", reqHeader: http.Header{"Authorization": {"Bearer not-a-token"}},
			status: 401, respHeader: jsonHeader(),
			respBody: `{"error":"invalid_token","message":"The access token is not valid."}`,
			wantErr:  "WWW-Authenticate",
		},
		{
			name: "end a session", method: "DELETE", target: "/v1/sessions/s1", reqHeader: http.Header{"Cookie": {"valet_session=a.b"}},
			status: 204, respHeader: http.Header{},
		},
		{
			name: "a 204 with a body", method: "DELETE", target: "/v1/sessions/s1", reqHeader: http.Header{"Cookie": {"valet_session=a.b"}},
			status: 204, respHeader: jsonHeader(), respBody: `{}`,
			wantErr: "documented without a body",
		},
		{
			name: "logout with no body", method: "POST", target: "/v1/logout",
			status: 204, respHeader: http.Header{"Set-Cookie": {"__Host-valet_session=; Path=/; Max-Age=0"}},
		},
		{
			name: "a JWKS that leaks a private member", method: "GET", target: "/.well-known/jwks.json",
			status: 200, respHeader: http.Header{"Content-Type": {"application/json"}},
			respBody: `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"abc","d":"secret","kid":"k1","alg":"EdDSA","use":"sig"}]}`,
			wantErr:  "response body doesn't match",
		},
		{
			name: "a JWKS with an HS256 key", method: "GET", target: "/.well-known/jwks.json",
			status: 200, respHeader: http.Header{"Content-Type": {"application/json"}},
			respBody: `{"keys":[{"kty":"oct","kid":"k1","alg":"HS256","use":"sig"}]}`,
			wantErr:  "response body doesn't match",
		},
		{
			name: "JWKS", method: "GET", target: "/.well-known/jwks.json",
			status: 200, respHeader: http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"public, max-age=300"}},
			respBody: `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"abc","kid":"k1","alg":"EdDSA","use":"sig"}]}`,
		},
		{
			name: "an inactive token that says more", method: "POST", target: "/v1/introspect", reqHeader: jsonHeader("Authorization", "Bearer svc"),
			reqBody: `{"token":"x"}`, status: 200, respHeader: jsonHeader(),
			respBody: `{"active":false,"sub":"u1"}`,
			wantErr:  "response body doesn't match",
		},
		{
			name: "forward auth", method: "GET", target: "/v1/authz/forward-auth",
			reqHeader: http.Header{"Cookie": {"__Host-valet_session=a.b"}, "X-Forwarded-Method": {"GET"}, "X-Forwarded-Proto": {"https"},
				"X-Forwarded-Host": {"app.example.com"}, "X-Forwarded-Uri": {"/"}},
			status: 200, respHeader: http.Header{"Remote-User": {"u1"}, "Remote-Email": {"ada@example.com"}, "Remote-Email-Verified": {"true"},
				"Remote-Groups": {""}, "Remote-Name": {"ada@example.com"}, "Remote-Amr": {"pwd"}, "Cache-Control": {"no-store"}},
		},
		{
			name: "forward auth without Remote-User", method: "GET", target: "/v1/authz",
			reqHeader: http.Header{"Cookie": {"__Host-valet_session=a.b"}},
			status:    200, respHeader: http.Header{"Remote-Email": {"ada@example.com"}, "Remote-Email-Verified": {"false"},
				"Remote-Groups": {""}, "Remote-Name": {"ada@example.com"}, "Remote-Amr": {"pwd"}},
			wantErr: `"Remote-User" missing`,
		},
		{
			name: "forward auth sends a browser to sign in", method: "GET", target: "/v1/authz/forward-auth",
			reqHeader: http.Header{"Accept": {"text/html"}},
			status:    302, respHeader: http.Header{"Location": {"https://auth.example.com/?rd=https%3A%2F%2Fapp.example.com%2F"}, "Content-Type": {"text/html; charset=utf-8"}},
			respBody: `<a href="https://auth.example.com/?rd=https%3A%2F%2Fapp.example.com%2F">Found</a>.`,
		},
		{
			name: "auth-request asks nginx to send a browser to sign in", method: "GET", target: "/v1/authz/auth-request",
			reqHeader: http.Header{"Accept": {"text/html"}, "X-Original-Method": {"GET"}, "X-Original-URL": {"https://app.example.com/"}},
			status:    401, respHeader: jsonHeader("Location", "https://auth.example.com/?rd=https%3A%2F%2Fapp.example.com%2F"),
			respBody: `{"error":"unauthenticated","message":"You are not signed in."}`,
		},
		{
			name: "forward auth refuses an untrusted peer", method: "GET", target: "/v1/authz/auth-request",
			reqHeader: http.Header{"X-Original-Method": {"GET"}, "X-Original-URL": {"https://app.example.com/"}},
			status:    403, respHeader: jsonHeader(),
			respBody: `{"error":"forbidden","message":"The headers that name the original request (X-Original-Method, X-Original-URL) are accepted only from a trusted proxy (--trusted-proxies)."}`,
		},
		{
			name: "an admin page too long, taken", method: "GET", target: "/v1/admin/users?limit=1000",
			reqHeader: http.Header{"Authorization": {"Bearer admin"}},
			status:    200, respHeader: jsonHeader(), respBody: `{"users":[],"total":0}`,
			wantErr: "did not refuse",
		},
		{
			name: "metrics", method: "GET", target: "/metrics",
			status: 200, respHeader: http.Header{"Content-Type": {"text/plain; version=0.0.4; charset=utf-8"}},
			respBody: "# TYPE go_goroutines gauge\ngo_goroutines 7\n",
		},
		{
			name: "an unknown endpoint", method: "GET", target: "/v1/nope",
			status: 404, respHeader: jsonHeader(), respBody: `{"error":"not_found","message":"No such endpoint."}`,
		},
		{
			name: "a known path with another method", method: "PUT", target: "/v1/me",
			status: 404, respHeader: jsonHeader(), respBody: `{"error":"not_found","message":"No such endpoint."}`,
		},
		{
			name: "an undocumented endpoint that answers", method: "GET", target: "/v1/nope",
			status: 200, respHeader: jsonHeader(), respBody: `{}`,
			wantErr: "want 404 or 405",
		},
		{
			name: "the router's 405 outside /v1/", method: "POST", target: "/healthz",
			status: 405, respHeader: http.Header{"Allow": {"GET, HEAD"}, "Content-Type": {"text/plain; charset=utf-8"}},
			respBody: "Method Not Allowed\n",
		},
		{
			name: "health", method: "GET", target: "/healthz",
			status: 200, respHeader: jsonHeader(), respBody: `{"status":"ok"}`,
		},
		{
			name: "not ready", method: "GET", target: "/readyz",
			status: 503, respHeader: jsonHeader("Retry-After", "1"), respBody: `{"error":"unavailable","message":"The store is not reachable."}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.reqBody))
			for k, vs := range tc.reqHeader {
				req.Header[k] = vs
			}
			resp := &http.Response{StatusCode: tc.status, Header: tc.respHeader, Request: req}
			if resp.Header == nil {
				resp.Header = http.Header{}
			}
			err := v.Check(req, []byte(tc.reqBody), resp, []byte(tc.respBody))
			if err != nil && testing.Verbose() {
				t.Log(err)
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Check: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Errorf("Check = nil, want a mismatch (%s)", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Errorf("Check: %v\nwant it to say %q", err, tc.wantErr)
			}
		})
	}
}

func TestCheckRequest(t *testing.T) {
	v := newValidator(t)
	tests := []struct {
		name, method, target, body string
		ok                         bool
	}{
		{"login", "POST", "/v1/login", `{"email":"a@example.com","password":"p"}`, true},
		{"login with an unknown field", "POST", "/v1/login", `{"email":"a@example.com","password":"p","extra":1}`, false},
		{"login in a mode that does not exist", "POST", "/v1/login", `{"email":"a@example.com","password":"p","mode":"jwt"}`, false},
		{"signup without a password", "POST", "/v1/signup", `{"email":"a@example.com"}`, false},
		{"admin patch of roles", "PATCH", "/v1/admin/users/u1", `{"roles":["admin"]}`, true},
		{"admin patch with a bad role", "PATCH", "/v1/admin/users/u1", `{"roles":["Admin!"]}`, false},
		{"a body where none belongs", "GET", "/v1/me", `{"x":1}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			err := v.CheckRequest(req, []byte(tc.body))
			if got := err == nil; got != tc.ok {
				t.Errorf("CheckRequest = %v, want ok=%v", err, tc.ok)
			}
		})
	}

	req := httptest.NewRequest("GET", "/account", nil)
	if err := v.CheckRequest(req, nil); !errors.Is(err, apitest.ErrNotInSpec) {
		t.Errorf("CheckRequest of a page = %v, want ErrNotInSpec", err)
	}
}

func TestTransport(t *testing.T) {
	v := newValidator(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h := w.Header()
		switch r.URL.Path {
		case "/v1/signup":
			if !strings.Contains(string(body), `"email"`) {
				http.Error(w, "the body did not arrive", http.StatusInternalServerError)
				return
			}
			h.Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"user":`+userJSON+`}`)
		case "/v1/me":
			h.Set("Content-Type", "application/json")
			io.WriteString(w, `{"auth":{"amr":["pwd"],"mode":"session","expires_at":"2026-01-03T15:04:05Z"}}`)
		default:
			h.Set("Content-Type", "text/html")
			io.WriteString(w, "<p>a page</p>")
		}
	}))
	t.Cleanup(srv.Close)

	var mu sync.Mutex
	var reports []error
	client := &http.Client{Transport: v.Transport(srv.Client().Transport, func(err error) {
		mu.Lock()
		defer mu.Unlock()
		reports = append(reports, err)
	})}
	get := func(method, path, body string) string {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	if got := get("POST", "/v1/signup", `{"email":"ada@example.com","password":"correct horse battery"}`); !strings.Contains(got, `"user"`) {
		t.Errorf("signup body = %q, want the server's answer", got)
	}
	if got := get("GET", "/", ""); got != "<p>a page</p>" {
		t.Errorf("page body = %q", got)
	}
	if len(reports) != 0 {
		t.Fatalf("good exchanges reported: %v", reports)
	}
	if got := get("GET", "/v1/me", ""); !strings.Contains(got, `"auth"`) {
		t.Errorf("me body = %q, want the server's answer", got)
	}
	if len(reports) != 1 || !strings.Contains(reports[0].Error(), `"user"`) {
		t.Errorf("reports = %v, want one about the missing user", reports)
	}
}
