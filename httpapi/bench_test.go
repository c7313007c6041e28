package httpapi_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/auth"
	"github.com/valetauth/valet/httpapi"
	"github.com/valetauth/valet/internal/loadtest"
	"github.com/valetauth/valet/internal/testclock"
	"github.com/valetauth/valet/password"
	"github.com/valetauth/valet/store/memory"
)

// meCase is one way of serving GET /v1/me.
type meCase struct {
	name  string
	mode  valet.Mode
	store loadtest.Store
}

var meCases = []meCase{
	{"session/memory", valet.ModeSession, loadtest.StoreMemory},
	{"session/sqlite", valet.ModeSession, loadtest.StoreSQLite},
	{"session/postgres", valet.ModeSession, loadtest.StorePostgres},
	{"session/redis", valet.ModeSession, loadtest.StoreRedis},
	{"token", valet.ModeToken, loadtest.StoreMemory},
	{"hybrid", valet.ModeHybrid, loadtest.StoreMemory},
}

// newMeServer starts a server for c with one logged-in user and returns it
// with the request that user's client sends to GET /v1/me. It skips when c
// needs Postgres or Redis and VALET_TEST_POSTGRES or VALET_TEST_REDIS is
// unset, unless VALET_REQUIRE_SERVICES=1.
func newMeServer(tb testing.TB, c meCase) (*loadtest.Server, *http.Request, string) {
	tb.Helper()
	ctx := context.Background()
	srv, err := loadtest.NewServer(ctx, loadtest.ServerConfig{
		Store: c.store, Mode: c.mode,
		PostgresURL: os.Getenv("VALET_TEST_POSTGRES"), RedisURL: os.Getenv("VALET_TEST_REDIS"),
		Argon2: password.Params{Memory: 8192, Iterations: 1, Parallelism: 1},
	})
	if errors.Is(err, loadtest.ErrServiceAbsent) {
		if os.Getenv("VALET_REQUIRE_SERVICES") == "1" {
			tb.Fatal(err)
		}
		tb.Skip(err)
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(srv.Close)
	pw := "bench-" + valet.NewID()[:16]
	u, err := srv.Service.CreateUser(ctx, "bench@example.com", pw, []string{"bench"})
	if err != nil {
		tb.Fatal(err)
	}
	g, err := srv.Service.Login(ctx, u.Email, pw, c.mode, auth.Client{UserAgent: "bench"})
	if err != nil {
		tb.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/v1/me", nil)
	if g.Cookie != "" {
		req.AddCookie(&http.Cookie{Name: "valet_session", Value: g.Cookie})
	} else {
		req.Header.Set("Authorization", "Bearer "+g.AccessToken)
	}
	return srv, req, g.AccessToken
}

// loop runs op as the benchmark and reports, beside ns/op, the CPU time
// per op of the whole process (garbage collection included): on a machine
// that other work shares, ns/op swings with their load and cpu-ns/op much
// less. For Postgres and Redis it leaves out the database server's CPU.
func loop(b *testing.B, op func()) {
	b.ReportAllocs()
	n, start := 0, cpuTime()
	for b.Loop() {
		op()
		n++
	}
	if cpu := cpuTime() - start; cpu > 0 {
		b.ReportMetric(float64(cpu)/float64(n), "cpu-ns/op")
	}
}

// BenchmarkMe runs the whole GET /v1/me handler (identify, then answer) in
// every mode, and in session mode with every store.
func BenchmarkMe(b *testing.B) {
	for _, c := range meCases {
		b.Run(c.name, func(b *testing.B) {
			srv, req, _ := newMeServer(b, c)
			loop(b, func() {
				rec := httptest.NewRecorder()
				srv.Handler.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("GET /v1/me: %d %s", rec.Code, rec.Body)
				}
			})
		})
	}
}

// BenchmarkIdentifyBearer compares the check of a plain access token with
// that of a hybrid one, which adds the in-memory revocation check.
func BenchmarkIdentifyBearer(b *testing.B) {
	for _, c := range meCases[4:] {
		b.Run(c.name, func(b *testing.B) {
			srv, _, tok := newMeServer(b, c)
			ctx := context.Background()
			loop(b, func() {
				if _, err := srv.Service.IdentifyBearer(ctx, tok); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// TestMeCases proves that each case of BenchmarkMe answers /v1/me for its
// mode, so that the benchmark measures a working path.
func TestMeCases(t *testing.T) {
	for _, c := range meCases {
		t.Run(c.name, func(t *testing.T) {
			srv, req, _ := newMeServer(t, c)
			rec := httptest.NewRecorder()
			srv.Handler.ServeHTTP(rec, req)
			if got, want := rec.Code, http.StatusOK; got != want {
				t.Fatalf("GET /v1/me: status %d, want %d; body %s", got, want, rec.Body)
			}
			body := rec.Body.String()
			// The answer keeps the key order it had when it was built from
			// maps (sorted), so clients that compare bytes see no change.
			for _, want := range []string{`{"auth":{"amr":["pwd"],"auth_time":"`, `","expires_at":"`, `","mode":"` + string(c.mode) + `"`, `},"user":{"id":"`, `"roles":["bench"]`, `"mfa":[]}`} {
				if !strings.Contains(body, want) {
					t.Errorf("GET /v1/me body %s does not contain %s", body, want)
				}
			}
			// Every login is a device session, a token-mode one too.
			if !strings.Contains(body, `"session_id":"`) {
				t.Errorf("GET /v1/me in %s mode has no session_id; body %s", c.mode, body)
			}
		})
	}
}

// BenchmarkMeReplay is GET /v1/me with a token presented again and again:
// a valid one, an expired one and one with a forged signature. An attacker
// who replays a refused token must not cost the server more than a client
// with a good one.
func BenchmarkMeReplay(b *testing.B) {
	ctx := context.Background()
	clock := testclock.New(time.Now().Truncate(time.Second))
	st := memory.New(memory.WithClock(clock.Now))
	svc, err := auth.New(ctx, auth.Config{
		Stores: st.Stores(), Mode: valet.ModeToken, Now: clock.Now, Logger: slog.New(slog.DiscardHandler),
		Hasher: password.NewHasher(password.Params{Memory: 8192, Iterations: 1, Parallelism: 1}, 0, 0),
	})
	if err != nil {
		b.Fatal(err)
	}
	pw := "bench-" + valet.NewID()[:16]
	u, err := svc.CreateUser(ctx, "bench@example.com", pw, nil)
	if err != nil {
		b.Fatal(err)
	}
	g, err := svc.Login(ctx, u.Email, pw, valet.ModeToken, auth.Client{})
	if err != nil {
		b.Fatal(err)
	}
	api := httpapi.New(svc, httpapi.Config{Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry()})
	// One character changed in the middle of the signature, where every
	// base64url character is canonical: the token still parses.
	i := len(g.AccessToken) - 10
	forged := g.AccessToken[:i] + map[bool]string{true: "B", false: "A"}[g.AccessToken[i] == 'A'] + g.AccessToken[i+1:]
	for _, c := range []struct {
		name    string
		tok     string
		advance time.Duration
		want    int
	}{
		{"valid", g.AccessToken, 0, http.StatusOK},
		{"expired", g.AccessToken, time.Hour, http.StatusUnauthorized},
		{"forged", forged, 0, http.StatusUnauthorized},
	} {
		b.Run(c.name, func(b *testing.B) {
			clock.Advance(c.advance)
			defer clock.Advance(-c.advance)
			req := httptest.NewRequest(http.MethodGet, "/v1/me", nil)
			req.Header.Set("Authorization", "Bearer "+c.tok)
			loop(b, func() {
				rec := httptest.NewRecorder()
				api.ServeHTTP(rec, req)
				if rec.Code != c.want {
					b.Fatalf("GET /v1/me: %d, want %d: %s", rec.Code, c.want, rec.Body)
				}
			})
		})
	}
}
