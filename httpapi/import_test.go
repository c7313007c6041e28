package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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

// importServer is the API over a memory store with an administrator and a
// user signed in by token, its exchanges checked against the document.
type importServer struct {
	url          string
	client       *http.Client
	users        valet.UserStore
	admin, plain string // access tokens
	cookie       string // the administrator's session cookie
}

func newImportServer(t *testing.T) *importServer {
	t.Helper()
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
	a := New(svc, Config{Logger: slog.New(slog.DiscardHandler)})
	// Until routes registers the endpoint itself.
	probe := httptest.NewRequest(http.MethodPost, "/v1/admin/users/import", nil)
	if _, pattern := a.mux.Handler(probe); pattern != "POST /v1/admin/users/import" {
		a.adminImportRoutes(a.mux)
	}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)

	const pw = "admin passphrase for tests"
	token := func(email string, roles []string) string {
		if _, err := svc.CreateUser(ctx, email, pw, roles); err != nil {
			t.Fatal(err)
		}
		g, err := svc.Login(ctx, email, pw, valet.ModeToken, auth.Client{})
		if err != nil {
			t.Fatal(err)
		}
		return g.AccessToken
	}
	s := &importServer{url: srv.URL, users: st}
	s.admin = token("root@example.com", []string{"admin"})
	s.plain = token("plain@example.com", []string{"service"})
	g, err := svc.Login(ctx, "root@example.com", pw, valet.ModeSession, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	s.cookie = g.Cookie
	v, err := apitest.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	s.client = &http.Client{Transport: v.Transport(nil, func(err error) { t.Error(err) })}
	return s
}

// post sends body to the import endpoint with query and headers (name,
// value, ...), and returns the status and the decoded answer.
func (s *importServer) post(t *testing.T, query string, body io.Reader, header ...string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.url+"/v1/admin/users/import"+query, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("the answer is not JSON: %v", err)
	}
	return resp.StatusCode, out
}

const importBody = `{"email":"ada@example.com","password_hash":"$2y$10$oYXLMMCam55P2Vw9eHiCUuVfRVZRnTZRog2QUvZ8hLIEkrcRBZ6Jm","roles":["admin"]}
{"email":"bob@example.com","created_at":"2020-01-02T03:04:05Z"}
{"email":"eve@example.com","password_hash":"$2b$15$oYXLMMCam55P2Vw9eHiCUuVfRVZRnTZRog2QUvZ8hLIEkrcRBZ6Jm"}
`

// TestAdminImportAccess: the endpoint is for administrators only, takes
// JSON Lines only, and refuses bad parameters and bodies over its bound;
// nothing it refuses stores anything.
func TestAdminImportAccess(t *testing.T) {
	s := newImportServer(t)
	ndjson := "application/x-ndjson"
	huge := func() io.Reader {
		return io.MultiReader(strings.NewReader(importBody), strings.NewReader(strings.Repeat("\n", MaxImportBodyBytes)))
	}
	tests := []struct {
		name     string
		query    string
		body     func() io.Reader
		header   []string
		status   int
		wantCode string
	}{
		{"anonymous", "", nil, []string{"Content-Type", ndjson}, 401, "unauthenticated"},
		{"bad token", "", nil, []string{"Content-Type", ndjson, "Authorization", "Bearer nope"}, 401, "invalid_token"},
		{"not an administrator", "", nil, []string{"Content-Type", ndjson, "Authorization", "Bearer " + s.plain}, 403, "forbidden"},
		{"cookie from another origin", "", nil, []string{"Content-Type", ndjson, "Cookie", "__Host-valet_session=" + s.cookie, "Sec-Fetch-Site", "cross-site"}, 403, "csrf_failed"},
		{"JSON", "", nil, []string{"Content-Type", "application/json", "Authorization", "Bearer " + s.admin}, 400, "invalid_request"},
		{"no content type", "", nil, []string{"Authorization", "Bearer " + s.admin}, 400, "invalid_request"},
		{"bad dry_run", "?dry_run=perhaps", nil, []string{"Content-Type", ndjson, "Authorization", "Bearer " + s.admin}, 400, "invalid_request"},
		{"bad on_conflict", "?on_conflict=replace", nil, []string{"Content-Type", ndjson, "Authorization", "Bearer " + s.admin}, 400, "invalid_request"},
		{"over 16 MiB", "", huge, []string{"Content-Type", ndjson, "Authorization", "Bearer " + s.admin}, 413, "payload_too_large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := io.Reader(strings.NewReader(importBody))
			if tc.body != nil {
				body = tc.body()
			}
			status, out := s.post(t, tc.query, body, tc.header...)
			if status != tc.status || out["error"] != tc.wantCode {
				t.Fatalf("got %d %v, want %d %s", status, out, tc.status, tc.wantCode)
			}
			if _, err := s.users.UserByEmail(context.Background(), "ada@example.com"); err == nil {
				t.Fatal("a refused request stored a user")
			}
		})
	}

	// A body without a length over the bound is refused too, with nothing
	// stored: it is read whole before the import starts.
	req, _ := http.NewRequest(http.MethodPost, s.url+"/v1/admin/users/import", huge())
	req.Header.Set("Content-Type", ndjson)
	req.Header.Set("Authorization", "Bearer "+s.admin)
	req.ContentLength = -1
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Fatalf("chunked body over 16 MiB: status %d, want 413", resp.StatusCode)
	}
	if _, err := s.users.UserByEmail(context.Background(), "ada@example.com"); err == nil {
		t.Fatal("a body over the bound stored a user")
	}
}

// TestAdminImport: a dry run reports and stores nothing; an import stores
// the good lines and lists the bad ones; on_conflict=update replaces.
func TestAdminImport(t *testing.T) {
	s := newImportServer(t)
	ctx := context.Background()
	steps := []struct {
		name, query, ctype string
		want               map[string]float64
		wantStored         bool
	}{
		{"dry run", "?dry_run=true", "application/x-ndjson", map[string]float64{"lines": 3, "created": 2, "failed": 1}, false},
		{"import", "", "application/jsonl", map[string]float64{"lines": 3, "created": 2, "failed": 1}, true},
		{"again", "?on_conflict=skip", "application/x-ndjson; charset=utf-8", map[string]float64{"lines": 3, "skipped": 2, "failed": 1}, true},
		{"dry run of an update", "?dry_run=1&on_conflict=update", "application/x-ndjson", map[string]float64{"lines": 3, "updated": 2, "failed": 1}, true},
		{"update", "?on_conflict=update", "application/x-ndjson", map[string]float64{"lines": 3, "updated": 2, "failed": 1}, true},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			status, out := s.post(t, st.query, strings.NewReader(importBody),
				"Content-Type", st.ctype, "Authorization", "Bearer "+s.admin)
			if status != 200 {
				t.Fatalf("status %d: %v", status, out)
			}
			for _, k := range []string{"lines", "created", "updated", "skipped", "failed"} {
				if got, want := out[k], st.want[k]; got != want {
					t.Errorf("%s = %v, want %v", k, got, want)
				}
			}
			fails, _ := out["failures"].([]any)
			if len(fails) != 1 {
				t.Fatalf("failures = %v, want one", out["failures"])
			}
			f := fails[0].(map[string]any)
			if f["line"] != 3.0 || !strings.Contains(f["reason"].(string), "bcrypt cost is 15") {
				t.Errorf("failure = %v, want line 3 and the bcrypt cost", f)
			}
			_, err := s.users.UserByEmail(ctx, "ada@example.com")
			if stored := err == nil; stored != st.wantStored {
				t.Errorf("ada@example.com stored = %v, want %v", stored, st.wantStored)
			}
		})
	}
	u, err := s.users.UserByEmail(ctx, "bob@example.com")
	if err != nil || !strings.HasPrefix(u.PasswordHash, "!") || u.CreatedAt.Year() != 2020 {
		t.Errorf("bob = %+v, %v; want the unusable password and the given created_at", u, err)
	}
	var many bytes.Buffer
	for i := range 3000 {
		fmt.Fprintf(&many, `{"email":"u%d@example.com"}`+"\n", i)
	}
	status, out := s.post(t, "", &many, "Content-Type", "application/x-ndjson", "Authorization", "Bearer "+s.admin)
	if status != 200 || out["created"] != 3000.0 {
		t.Errorf("3000 users: %d %v", status, out["created"])
	}
}
