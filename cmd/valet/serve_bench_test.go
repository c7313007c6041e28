package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/auth"
	"github.com/valetauth/valet/httpapi"
	"github.com/valetauth/valet/internal/loadtest"
	"github.com/valetauth/valet/password"
	"github.com/valetauth/valet/session"
	"github.com/valetauth/valet/web"
)

// newServeStack returns the handler that valet serve answers with (metrics
// on, the pages beside the API, the store deadline) over a server in mode,
// and the request of a signed-in client to GET /v1/me.
func newServeStack(tb testing.TB, store loadtest.Store, mode valet.Mode) (http.Handler, *http.Request) {
	tb.Helper()
	ctx := context.Background()
	srv, err := loadtest.NewServer(ctx, loadtest.ServerConfig{Store: store, Mode: mode,
		Argon2: password.Params{Memory: 8192, Iterations: 1, Parallelism: 1}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(srv.Close)
	reg := prometheus.NewRegistry()
	api := httpapi.New(srv.Service, httpapi.Config{Cookie: session.Cookie{Insecure: true}, Registerer: reg,
		Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})})
	h := serveHandler(api, nil, web.New(srv.Service, api, web.Config{}), 3*time.Second)
	const pw = "a benchmark passphrase"
	u, err := srv.Service.CreateUser(ctx, "bench@example.com", pw, nil)
	if err != nil {
		tb.Fatal(err)
	}
	g, err := srv.Service.Login(ctx, u.Email, pw, mode, auth.Client{UserAgent: "bench"})
	if err != nil {
		tb.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/v1/me", nil)
	if g.Cookie != "" {
		req.AddCookie(&http.Cookie{Name: "valet_session", Value: g.Cookie})
	} else {
		req.Header.Set("Authorization", "Bearer "+g.AccessToken)
	}
	return h, req
}

// discardWriter is a ResponseWriter whose header map is kept from one
// request to the next, as net/http's is not, so that what a benchmark
// counts is what the handler allocates.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }

// BenchmarkServeMe runs GET /v1/me through the whole handler of valet
// serve, in each mode as valet bench --processes starts it (SQLite for
// session mode): what a request costs valet above net/http itself.
func BenchmarkServeMe(b *testing.B) {
	for _, c := range []struct {
		name  string
		store loadtest.Store
		mode  valet.Mode
	}{
		{"session/sqlite", loadtest.StoreSQLite, valet.ModeSession},
		{"token", loadtest.StoreMemory, valet.ModeToken},
		{"hybrid", loadtest.StoreMemory, valet.ModeHybrid},
	} {
		b.Run(c.name, func(b *testing.B) {
			h, req := newServeStack(b, c.store, c.mode)
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				w.code = 0
				h.ServeHTTP(w, req)
				if w.code != http.StatusOK {
					b.Fatalf("GET /v1/me: %d", w.code)
				}
			}
		})
	}
}
