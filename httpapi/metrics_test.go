package httpapi_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/auth"
	"github.com/valetauth/valet/httpapi"
	"github.com/valetauth/valet/internal/loadtest"
	"github.com/valetauth/valet/password"
	"github.com/valetauth/valet/session"
)

// series gathers reg and returns each sample of the families whose name
// starts with prefix, keyed as the text format writes it:
// `name{label="value",...}`. A histogram gives its _count and _sum.
func series(tb testing.TB, reg *prometheus.Registry, prefix string) map[string]float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), prefix) {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			key := mf.GetName()
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[key] = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				name, rest, _ := strings.Cut(key, "{")
				if rest != "" {
					rest = "{" + rest
				}
				out[name+"_count"+rest] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

// stub is a Service whose logins, signups and refreshes answer err; the
// embedded nil Service panics for anything else, which these tests never
// reach.
type stub struct {
	httpapi.Service
	err   error
	mode  valet.Mode // of a successful grant
	roles []string   // of the user it answers
}

func (s stub) Settings() auth.Settings { return auth.Settings{Mode: valet.ModeSession} }

func (s stub) grant() (*auth.Grant, error) {
	if s.err != nil {
		return nil, s.err
	}
	return &auth.Grant{User: valet.User{ID: "u1", Email: "ada@example.com", Roles: s.roles}, Mode: s.mode, AccessToken: "at", RefreshToken: "rt",
		AccessTTL: time.Minute, RefreshTTL: time.Hour}, nil
}

func (s stub) Login(ctx context.Context, email, pw string, mode valet.Mode, c auth.Client) (*auth.Grant, error) {
	return s.grant()
}

func (s stub) Refresh(ctx context.Context, rt string, c auth.Client) (*auth.Grant, error) {
	return s.grant()
}

func (s stub) Signup(ctx context.Context, email, pw string, c auth.Client) (valet.User, error) {
	return valet.User{ID: "u1", Email: email, Roles: s.roles}, s.err
}

// TestMetricsOutcomes: each outcome of a login, signup and refresh is
// counted once, under labels drawn from a bounded set.
func TestMetricsOutcomes(t *testing.T) {
	limited := &valet.Error{Kind: valet.ErrRateLimited, Message: "Too many attempts.", RetryAfter: time.Minute}
	tests := []struct {
		name, path, body string
		svc              stub
		want             map[string]float64
	}{
		{"login ok", "/v1/login", `{"email":"a@b.co","password":"pw","mode":"token"}`, stub{mode: valet.ModeToken},
			map[string]float64{`valet_logins_total{mode="token",result="ok"}`: 1}},
		{"login in the default mode", "/v1/login", `{"email":"a@b.co","password":"pw"}`, stub{err: valet.ErrInvalidCredentials},
			map[string]float64{`valet_logins_total{mode="session",result="invalid_credentials"}`: 1}},
		{"login with a mode that is not one", "/v1/login", `{"email":"a@b.co","password":"pw","mode":"` + strings.Repeat("x", 100) + `"}`, stub{err: valet.Errorf(valet.ErrInvalidRequest, "No such mode.")},
			map[string]float64{`valet_logins_total{mode="invalid",result="invalid_request"}`: 1}},
		{"login with a bad body", "/v1/login", `{"email":"a@b.co"}`, stub{},
			map[string]float64{`valet_logins_total{mode="session",result="invalid_request"}`: 1}},
		{"login throttled", "/v1/login", `{"email":"a@b.co","password":"pw","mode":"hybrid"}`, stub{err: limited},
			map[string]float64{`valet_logins_total{mode="hybrid",result="rate_limited"}`: 1, `valet_throttled_requests_total{action="login"}`: 1}},
		{"login, store down", "/v1/login", `{"email":"a@b.co","password":"pw"}`, stub{err: fmt.Errorf("%w: db", valet.ErrUnavailable)},
			map[string]float64{`valet_logins_total{mode="session",result="unavailable"}`: 1}},
		{"login fails inside", "/v1/login", `{"email":"a@b.co","password":"pw"}`, stub{err: fmt.Errorf("boom")},
			map[string]float64{`valet_logins_total{mode="session",result="internal"}`: 1}},
		{"signup ok", "/v1/signup", `{"email":"a@b.co","password":"pw"}`, stub{},
			map[string]float64{`valet_signups_total{result="ok"}`: 1}},
		{"signup taken", "/v1/signup", `{"email":"a@b.co","password":"pw"}`, stub{err: valet.ErrConflict},
			map[string]float64{`valet_signups_total{result="conflict"}`: 1}},
		{"signup throttled", "/v1/signup", `{"email":"a@b.co","password":"pw"}`, stub{err: limited},
			map[string]float64{`valet_signups_total{result="rate_limited"}`: 1, `valet_throttled_requests_total{action="signup"}`: 1}},
		{"refresh ok", "/v1/token/refresh", `{"refresh_token":"rt"}`, stub{mode: valet.ModeToken},
			map[string]float64{`valet_token_refreshes_total{result="ok"}`: 1}},
		{"refresh reused", "/v1/token/refresh", `{"refresh_token":"rt"}`, stub{err: valet.ErrRefreshReused},
			map[string]float64{`valet_token_refreshes_total{result="reused"}`: 1}},
		{"refresh unknown", "/v1/token/refresh", `{"refresh_token":"rt"}`, stub{err: valet.ErrInvalidGrant},
			map[string]float64{`valet_token_refreshes_total{result="invalid_grant"}`: 1}},
		{"refresh throttled", "/v1/token/refresh", `{"refresh_token":"rt"}`, stub{err: limited},
			map[string]float64{`valet_token_refreshes_total{result="rate_limited"}`: 1, `valet_throttled_requests_total{action="refresh"}`: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			api := httpapi.New(tc.svc, httpapi.Config{Registerer: reg, Logger: slog.New(slog.DiscardHandler)})
			r := httptest.NewRequest(http.MethodPost, tc.path, strings.NewReader(tc.body))
			r.Header.Set("Content-Type", "application/json")
			api.ServeHTTP(httptest.NewRecorder(), r)
			got := series(t, reg, "valet_")
			for k := range got {
				if strings.HasPrefix(k, "valet_http_") {
					delete(got, k)
				}
			}
			if !maps.Equal(got, tc.want) {
				t.Fatalf("series\n got %v\nwant %v", got, tc.want)
			}
		})
	}
}

// TestMetricsRoutes: requests are counted by the pattern that served them,
// never by their raw path, so that scanning for paths cannot grow the
// series without bound; pages served beside the API count the same way.
func TestMetricsRoutes(t *testing.T) {
	reg := prometheus.NewRegistry()
	api := httpapi.New(stub{}, httpapi.Config{Registerer: reg, Cookie: session.Cookie{Insecure: true}})
	pages := http.NewServeMux()
	pages.HandleFunc("GET /account/{id}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	mux := http.NewServeMux()
	mux.Handle("/v1/", api)
	mux.Handle("/healthz", api)
	mux.Handle("/", api.Instrument(pages))
	for _, q := range []struct{ method, path string }{
		{"GET", "/healthz"}, {"GET", "/healthz"}, {"HEAD", "/healthz"},
		{"POST", "/healthz"},
		{"GET", "/v1/me"},
		{"PUT", "/v1/me"},
		{"GET", "/v1/nope-1"}, {"GET", "/v1/nope-2"},
		{"GET", "/account/1"}, {"GET", "/account/2"},
	} {
		mux.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(q.method, q.path, nil))
	}
	// A path that the router sends to its clean form counts under the
	// pattern of that form.
	api.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/v1//me", nil))
	got := series(t, reg, "valet_http_")
	want := map[string]float64{
		`valet_http_request_duration_seconds_count{code="200",route="GET /healthz"}`:      3,
		`valet_http_request_duration_seconds_count{code="405",route="/"}`:                 2,
		`valet_http_request_duration_seconds_count{code="401",route="GET /v1/me"}`:        1,
		`valet_http_request_duration_seconds_count{code="404",route="/"}`:                 2,
		`valet_http_request_duration_seconds_count{code="418",route="GET /account/{id}"}`: 2,
		`valet_http_request_duration_seconds_count{code="307",route="GET /v1/me"}`:        1,
	}
	if !maps.Equal(got, want) {
		t.Fatalf("series\n got %v\nwant %v", sorted(got), sorted(want))
	}
}

func sorted(m map[string]float64) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(&b, "\n  %s %v", k, m[k])
	}
	return b.String()
}

// TestMetricsConcurrent: requests on both cores that see route and status
// pairs for the first time at once lose no count (run with -race).
func TestMetricsConcurrent(t *testing.T) {
	reg := prometheus.NewRegistry()
	api := httpapi.New(stub{}, httpapi.Config{Registerer: reg, Cookie: session.Cookie{Insecure: true}})
	paths := []string{"/healthz", "/v1/me", "/v1/nope"}
	const workers, each = 8, 30
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range each {
				api.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", paths[i%len(paths)], nil))
			}
		})
	}
	wg.Wait()
	got := series(t, reg, "valet_http_")
	want := map[string]float64{
		`valet_http_request_duration_seconds_count{code="200",route="GET /healthz"}`: workers * each / 3,
		`valet_http_request_duration_seconds_count{code="401",route="GET /v1/me"}`:   workers * each / 3,
		`valet_http_request_duration_seconds_count{code="404",route="/"}`:            workers * each / 3,
	}
	if !maps.Equal(got, want) {
		t.Fatalf("series\n got %v\nwant %v", sorted(got), sorted(want))
	}
}

// TestMetricsShareARegistry: two APIs on one registry share its series
// rather than panic.
func TestMetricsShareARegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := httpapi.New(stub{}, httpapi.Config{Registerer: reg})
	b := httpapi.New(stub{}, httpapi.Config{Registerer: reg})
	for _, h := range []http.Handler{a, b} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/healthz", nil))
	}
	if got, want := series(t, reg, "valet_http_")[`valet_http_request_duration_seconds_count{code="200",route="GET /healthz"}`], 2.0; got != want {
		t.Fatalf("count = %v, want %v", got, want)
	}
}

// TestRegisterRevocations: a hybrid logout publishes a revocation, the
// node hears it back on its channel, and the set holds it.
func TestRegisterRevocations(t *testing.T) {
	ctx := context.Background()
	srv, err := loadtest.NewServer(ctx, loadtest.ServerConfig{Mode: valet.ModeHybrid, Argon2: password.Params{Memory: 8192, Iterations: 1, Parallelism: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	reg := prometheus.NewRegistry()
	if err := httpapi.RegisterRevocations(reg, srv.Node); err != nil {
		t.Fatal(err)
	}
	if err := httpapi.RegisterRevocations(reg, srv.Node); err == nil {
		t.Fatal("registering twice: no error")
	}
	const pw = "a long enough password"
	u, err := srv.Service.CreateUser(ctx, "ada@example.com", pw, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := series(t, reg, "valet_revocation")
	g, err := srv.Service.Login(ctx, u.Email, pw, valet.ModeHybrid, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	id, err := srv.Service.IdentifyBearer(ctx, g.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Service.Logout(ctx, id, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	after := series(t, reg, "valet_revocation")
	if _, ok := after["valet_revocation_channel_lag_seconds"]; !ok {
		t.Error("no lag while the channel is up")
	}
	delete(before, "valet_revocation_channel_lag_seconds")
	delete(after, "valet_revocation_channel_lag_seconds")
	want := map[string]float64{
		"valet_revocations_published_total":       1,
		"valet_revocation_publish_failures_total": 0,
		"valet_revocations_received_total":        1,
		"valet_revocation_set_entries":            1,
		"valet_revocation_channel_up":             1,
		"valet_revocation_channel_healthy":        1,
	}
	for k, v := range before {
		if strings.HasSuffix(k, "_total") || k == "valet_revocation_set_entries" {
			want[k] += v
		}
	}
	if !maps.Equal(after, want) {
		t.Fatalf("series\n got %v\nwant %v", sorted(after), sorted(want))
	}
}

type hashStats struct{}

func (hashStats) Waiting() int    { return 3 }
func (hashStats) Refused() uint64 { return 7 }

func TestRegisterHasher(t *testing.T) {
	reg := prometheus.NewRegistry()
	if err := httpapi.RegisterHasher(reg, hashStats{}); err != nil {
		t.Fatal(err)
	}
	got := series(t, reg, "valet_password_")
	want := map[string]float64{"valet_password_hashes_waiting": 3, "valet_password_hashes_refused_total": 7}
	if !maps.Equal(got, want) {
		t.Fatalf("series %v, want %v", got, want)
	}
}

// BenchmarkMeMetrics is BenchmarkMe with metrics on, for a client that
// does not ask for gzip and for one that does (the answer is too small to
// be compressed, but it is held back to find that out): the cost of each on
// the hottest request.
func BenchmarkMeMetrics(b *testing.B) {
	for _, c := range []meCase{meCases[0], meCases[4]} {
		for _, gzip := range []bool{false, true} {
			name := c.name + "/plain"
			if gzip {
				name = c.name + "/gzip"
			}
			b.Run(name, func(b *testing.B) {
				srv, req, _ := newMeServer(b, c)
				api := httpapi.New(srv.Service, httpapi.Config{Cookie: session.Cookie{Insecure: true}, Registerer: prometheus.NewRegistry()})
				if gzip {
					req.Header.Set("Accept-Encoding", "gzip")
				}
				loop(b, func() {
					rec := httptest.NewRecorder()
					api.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Fatalf("GET /v1/me: %d %s", rec.Code, rec.Body)
					}
				})
			})
		}
	}
}
