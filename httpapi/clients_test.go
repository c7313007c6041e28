package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/api/apitest"
	"github.com/valetauth/valet/auth"
	"github.com/valetauth/valet/password"
	"github.com/valetauth/valet/store/memory"
)

// TestAdminClients: only an administrator lists, creates and deletes
// OpenID Connect clients; a bad client is refused and stores nothing; the
// secret is in the answer of the creation only, and kept as its hash.
func TestAdminClients(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	svc, err := auth.New(ctx, auth.Config{
		Stores: st.Stores(), KeyReload: -1, Logger: slog.New(slog.DiscardHandler),
		Hasher: password.NewHasher(password.Params{Memory: 8192, Iterations: 1, Parallelism: 1}, 0, 0),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	srv := httptest.NewServer(New(svc, Config{Logger: slog.New(slog.DiscardHandler), Clients: st}))
	t.Cleanup(srv.Close)
	const pw = "admin passphrase for tests"
	login := func(email string, roles []string, mode valet.Mode) *auth.Grant {
		if _, err := svc.CreateUser(ctx, email, pw, roles); err != nil && mode == valet.ModeToken {
			t.Fatal(err)
		}
		g, err := svc.Login(ctx, email, pw, mode, auth.Client{})
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	admin := login("root@example.com", []string{"admin"}, valet.ModeToken).AccessToken
	adminCookie := login("root@example.com", nil, valet.ModeSession).Cookie
	plain := login("plain@example.com", []string{"service"}, valet.ModeToken).AccessToken
	v, err := apitest.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: v.Transport(nil, func(err error) { t.Error(err) })}
	do := func(method, path, body string, header ...string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
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
		raw, _ := io.ReadAll(resp.Body)
		var out map[string]any
		if len(raw) > 0 {
			if err := json.Unmarshal(raw, &out); err != nil {
				t.Fatalf("%s %s: the answer is not JSON: %q", method, path, raw)
			}
		}
		return resp.StatusCode, out
	}
	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	good := `{"name":"Grafana","redirect_uris":["https://grafana.example.com/login/generic_oauth"]}`

	attacks := []struct {
		name   string
		method string
		path   string
		body   string
		header []string
		status int
		code   string
	}{
		{"list, no credential", "GET", "/v1/admin/clients", "", nil, 401, "unauthenticated"},
		{"list, not admin", "GET", "/v1/admin/clients", "", bearer(plain), 403, "forbidden"},
		{"create, no credential", "POST", "/v1/admin/clients", good, nil, 401, "unauthenticated"},
		{"create, not admin", "POST", "/v1/admin/clients", good, bearer(plain), 403, "forbidden"},
		{"create, forged token", "POST", "/v1/admin/clients", good, bearer(admin[:len(admin)-4] + "AAAA"), 401, ""},
		{"create by cookie from another origin", "POST", "/v1/admin/clients", good,
			[]string{"Cookie", "valet_session=" + adminCookie, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}, 403, ""},
		{"delete, not admin", "DELETE", "/v1/admin/clients/whatever", "", bearer(plain), 403, "forbidden"},
		{"no name", "POST", "/v1/admin/clients", `{"redirect_uris":["https://a.example/cb"]}`, bearer(admin), 400, "invalid_request"},
		{"no redirect URI", "POST", "/v1/admin/clients", `{"name":"x","redirect_uris":[]}`, bearer(admin), 400, "invalid_request"},
		{"relative redirect URI", "POST", "/v1/admin/clients", `{"name":"x","redirect_uris":["/cb"]}`, bearer(admin), 400, "invalid_request"},
		{"http redirect URI off localhost", "POST", "/v1/admin/clients", `{"name":"x","redirect_uris":["http://a.example/cb"]}`, bearer(admin), 400, "invalid_request"},
		{"redirect URI with a fragment", "POST", "/v1/admin/clients", `{"name":"x","redirect_uris":["https://a.example/cb#x"]}`, bearer(admin), 400, "invalid_request"},
		{"javascript redirect URI", "POST", "/v1/admin/clients", `{"name":"x","redirect_uris":["javascript://a.example/%0aalert(1)"]}`, bearer(admin), 400, "invalid_request"},
		{"redirect URI with user info", "POST", "/v1/admin/clients", `{"name":"x","redirect_uris":["https://good.example@evil.example/cb"]}`, bearer(admin), 400, "invalid_request"},
		{"bad back-channel URI", "POST", "/v1/admin/clients", `{"name":"x","redirect_uris":["https://a.example/cb"],"backchannel_logout_uri":"http://10.0.0.1/bc"}`, bearer(admin), 400, "invalid_request"},
		{"unknown scope", "POST", "/v1/admin/clients", `{"name":"x","redirect_uris":["https://a.example/cb"],"scopes":["admin"]}`, bearer(admin), 400, "invalid_request"},
		{"a client id of one's choice", "POST", "/v1/admin/clients", `{"name":"x","redirect_uris":["https://a.example/cb"],"client_id":"valet"}`, bearer(admin), 400, "invalid_request"},
		{"a secret hash of one's choice", "POST", "/v1/admin/clients", `{"name":"x","redirect_uris":["https://a.example/cb"],"SecretHash":"00"}`, bearer(admin), 400, "invalid_request"},
		{"delete unknown", "DELETE", "/v1/admin/clients/nope", "", bearer(admin), 404, "not_found"},
	}
	for _, tc := range attacks {
		t.Run(tc.name, func(t *testing.T) {
			if strings.Contains(tc.name, "forged") || strings.Contains(tc.name, "another origin") {
				// Not in the document's shapes for every detail; the status
				// is what matters.
				client.Transport = v.Transport(nil, func(error) {})
				defer func() { client.Transport = v.Transport(nil, func(err error) { t.Error(err) }) }()
			}
			status, out := do(tc.method, tc.path, tc.body, tc.header...)
			if status != tc.status || tc.code != "" && out["error"] != tc.code {
				t.Fatalf("%s %s answers %d %v, want %d %s", tc.method, tc.path, status, out, tc.status, tc.code)
			}
		})
	}
	if cs, _ := st.Clients(ctx); len(cs) != 0 {
		t.Fatalf("refused requests stored %d clients", len(cs))
	}

	status, out := do("POST", "/v1/admin/clients", `{"name":"Grafana","redirect_uris":["https://grafana.example.com/login/generic_oauth"],"scopes":["email","roles"],"backchannel_logout_uri":"https://grafana.example.com/bc"}`, bearer(admin)...)
	if status != http.StatusCreated {
		t.Fatalf("create answers %d %v", status, out)
	}
	id, _ := out["client_id"].(string)
	secret, _ := out["client_secret"].(string)
	if len(id) < 40 || len(secret) < 40 {
		t.Fatalf("create answers client_id %q, client_secret %q: want random values", id, secret)
	}
	c, err := st.ClientByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if c.SecretHash != valet.HashSecret(secret) || strings.Contains(c.SecretHash, secret) {
		t.Fatal("the secret is not kept as its hash")
	}
	if got := strings.Join(c.Scopes, " "); got != "openid email roles" {
		t.Fatalf("scopes %q, want openid email roles", got)
	}
	status, out = do("POST", "/v1/admin/clients", `{"name":"SPA","public":true,"redirect_uris":["http://127.0.0.1:8080/cb"]}`, "Cookie", "valet_session="+adminCookie)
	if status != http.StatusCreated || out["client_secret"] != nil {
		t.Fatalf("public create answers %d %v, want 201 without a secret", status, out)
	}
	status, out = do("GET", "/v1/admin/clients", "", bearer(admin)...)
	list, _ := out["clients"].([]any)
	if status != 200 || len(list) != 2 {
		t.Fatalf("list answers %d %v", status, out)
	}
	if raw, _ := json.Marshal(out); strings.Contains(string(raw), secret) || strings.Contains(string(raw), c.SecretHash) {
		t.Fatal("the list shows the secret or its hash")
	}
	if status, _ := do("DELETE", "/v1/admin/clients/"+id, "", bearer(admin)...); status != http.StatusNoContent {
		t.Fatalf("delete answers %d", status)
	}
	if _, err := st.ClientByID(ctx, id); err == nil {
		t.Fatal("the deleted client is still stored")
	}
}
