package apitest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/api/apitest"
	"github.com/valetauth/valet/internal/loadtest"
	"github.com/valetauth/valet/password"
)

// TestServerFollowsTheDocument drives the real JSON API (over the memory
// store) through every operation it serves, with good requests and with
// the bad ones a client makes, and has the validator check each exchange.
func TestServerFollowsTheDocument(t *testing.T) {
	ctx := context.Background()
	srv, err := loadtest.NewServer(ctx, loadtest.ServerConfig{
		Mode:   valet.ModeSession,
		Argon2: password.Params{Memory: 8192, Iterations: 1, Parallelism: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	const adminPW = "admin-password-for-tests"
	if _, err := srv.Service.CreateUser(ctx, "root@example.com", adminPW, []string{"admin"}); err != nil {
		t.Fatal(err)
	}

	v, err := apitest.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	checked := 0
	client := &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		Transport: v.Transport(nil, func(err error) {
			t.Error(err)
		}),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}

	// call sends one request and returns the status and the decoded body.
	call := func(method, path, body string, header ...string) (int, map[string]any) {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, err := http.NewRequest(method, srv.URL+path, rd)
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		checked++
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	want := func(got, want int, what string) {
		t.Helper()
		if got != want {
			t.Errorf("%s: status %d, want %d", what, got, want)
		}
	}
	str := func(m map[string]any, k string) string {
		s, _ := m[k].(string)
		return s
	}

	st, _ := call("GET", "/healthz", "")
	want(st, 200, "healthz")
	st, _ = call("GET", "/readyz", "")
	want(st, 200, "readyz")
	st, _ = call("GET", "/.well-known/jwks.json", "")
	want(st, 200, "jwks")

	const pw = "a long enough password"
	st, _ = call("POST", "/v1/signup", `{"email":"ada@example.com","password":"`+pw+`"}`)
	want(st, 201, "signup")
	st, _ = call("POST", "/v1/signup", `{"email":"ada@example.com","password":"`+pw+`"}`)
	want(st, 409, "signup again")
	st, _ = call("POST", "/v1/signup", `{"email":"bob@example.com","password":"short"}`)
	want(st, 400, "signup with a weak password")
	st, _ = call("POST", "/v1/signup", `{"email":`)
	want(st, 400, "signup with broken JSON")
	st, _ = call("POST", "/v1/login", `{"email":"ada@example.com","password":"wrong password"}`)
	want(st, 401, "login with a wrong password")
	st, _ = call("POST", "/v1/login", `{"email":"ada@example.com","password":"`+pw+`"}`, "Sec-Fetch-Site", "cross-site")
	want(st, 403, "cross-site login")

	// A session login, and what the cookie reaches.
	st, _ = call("POST", "/v1/login", `{"email":"ada@example.com","password":"`+pw+`","mode":"session"}`)
	want(st, 200, "session login")
	st, _ = call("GET", "/v1/me", "")
	want(st, 200, "me by cookie")
	st, sessions := call("GET", "/v1/sessions", "")
	want(st, 200, "sessions")
	st, _ = call("GET", "/v1/authz/forward-auth", "")
	want(st, 200, "forward auth by cookie")
	st, _ = call("GET", "/v1/authz/auth-request", "")
	want(st, 200, "auth-request by cookie")
	st, _ = call("GET", "/v1/authz", "", "X-Forwarded-Method", "GET", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "app.example.com", "X-Forwarded-Uri", "/x")
	want(st, 403, "forward auth refuses proxy headers from a peer it does not trust")
	st, _ = call("GET", "/v1/authz/auth-request", "", "X-Original-Method", "GET", "X-Original-URL", "https://app.example.com/x")
	want(st, 403, "auth-request refuses proxy headers from a peer it does not trust")
	st, _ = call("DELETE", "/v1/sessions/no-such-session", "")
	want(st, 404, "end a session that is not there")
	st, _ = call("DELETE", "/v1/sessions", "")
	want(st, 204, "end the other sessions")
	st, _ = call("POST", "/v1/password", `{"current_password":"wrong password","new_password":"another long password"}`)
	want(st, 401, "change the password with a wrong current one")
	st, _ = call("POST", "/v1/password", `{"current_password":"`+pw+`","new_password":"another long password"}`)
	want(st, 204, "change the password")
	st, _ = call("GET", "/v1/admin/users", "")
	want(st, 403, "admin without the role")
	st, _ = call("POST", "/v1/introspect", `{"token":"x"}`)
	want(st, 403, "introspect without the role")
	st, _ = call("GET", "/v1/nope", "")
	want(st, 404, "an unknown endpoint")
	st, _ = call("POST", "/v1/logout", "")
	want(st, 204, "logout")
	if list, _ := sessions["sessions"].([]any); len(list) == 0 {
		t.Error("the session login is not listed")
	}

	// Not signed in.
	st, _ = call("GET", "/v1/me", "")
	want(st, 401, "me after logout")
	st, _ = call("GET", "/v1/me", "", "Authorization", "Bearer not-a-token")
	want(st, 401, "me with a bad token")
	st, _ = call("GET", "/v1/authz/forward-auth", "", "Accept", "text/html")
	want(st, 302, "forward auth sends a browser to sign in")
	st, _ = call("GET", "/v1/authz/auth-request", "", "Accept", "text/html")
	want(st, 401, "auth-request has nginx send a browser to sign in")
	st, _ = call("GET", "/v1/authz", "")
	want(st, 401, "forward auth for a script")
	st, _ = call("POST", "/v1/token/refresh", `{"refresh_token":"not-a-refresh-token"}`)
	want(st, 401, "refresh with a bad token")

	// Token logins.
	st, grant := call("POST", "/v1/login", `{"email":"ada@example.com","password":"another long password","mode":"token"}`)
	want(st, 200, "token login")
	st, _ = call("GET", "/v1/me", "", "Authorization", "Bearer "+str(grant, "access_token"))
	want(st, 200, "me by token")
	st, grant = call("POST", "/v1/token/refresh", `{"refresh_token":"`+str(grant, "refresh_token")+`"}`)
	want(st, 200, "refresh")
	st, hybrid := call("POST", "/v1/login", `{"email":"ada@example.com","password":"another long password","mode":"hybrid"}`)
	want(st, 200, "hybrid login")
	st, _ = call("GET", "/v1/sessions", "", "Authorization", "Bearer "+str(hybrid, "access_token"))
	want(st, 200, "sessions by token")
	st, _ = call("POST", "/v1/logout", `{"refresh_token":"`+str(grant, "refresh_token")+`"}`)
	want(st, 204, "logout by refresh token")

	// The administrator.
	st, root := call("POST", "/v1/login", `{"email":"root@example.com","password":"`+adminPW+`","mode":"token"}`)
	want(st, 200, "admin login")
	bearer := "Bearer " + str(root, "access_token")
	st, _ = call("POST", "/v1/introspect", `{"token":"`+str(hybrid, "access_token")+`"}`, "Authorization", bearer)
	want(st, 200, "introspect an active token")
	st, _ = call("POST", "/v1/introspect", `{"token":"not-a-token"}`, "Authorization", bearer)
	want(st, 200, "introspect a bad token")
	st, _ = call("GET", "/v1/admin/users?limit=10", "", "Authorization", bearer)
	want(st, 200, "list users")
	st, created := call("POST", "/v1/admin/users", `{"email":"cy@example.com","password":"`+pw+`","roles":["service"]}`, "Authorization", bearer)
	want(st, 201, "create a user")
	user, _ := created["user"].(map[string]any)
	id := str(user, "id")
	st, _ = call("PATCH", "/v1/admin/users/"+id, `{"disabled":true}`, "Authorization", bearer)
	want(st, 200, "disable a user")
	st, _ = call("PATCH", "/v1/admin/users/"+id, `{"roles":["BAD ROLE"]}`, "Authorization", bearer)
	want(st, 400, "give a user a bad role")
	st, _ = call("DELETE", "/v1/admin/users/"+id+"/sessions", "", "Authorization", bearer)
	want(st, 204, "end a user's sessions")
	st, _ = call("DELETE", "/v1/admin/users/"+id, "", "Authorization", bearer)
	want(st, 204, "delete a user")
	st, _ = call("DELETE", "/v1/admin/users/"+id, "", "Authorization", bearer)
	want(st, 404, "delete a user that is gone")

	if checked < 40 {
		t.Errorf("only %d exchanges were checked", checked)
	}
}
