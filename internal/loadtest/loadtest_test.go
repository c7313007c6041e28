package loadtest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/valetauth/valet"
)

// tiny is a run small enough for a test: speed is never asserted, only
// that every measure ran and reported.
func tiny() Config {
	return Config{
		Duration: 200 * time.Millisecond, Rounds: 1, Concurrency: 4,
		Sessions: 500, Revocations: 3, Burst: 10,
		Argon2: cheapArgon2,
	}
}

func TestPercentile(t *testing.T) {
	ms := func(n ...int) []time.Duration {
		out := make([]time.Duration, len(n))
		for i, v := range n {
			out[i] = time.Duration(v) * time.Millisecond
		}
		return out
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", ms(7), 99, 7 * time.Millisecond},
		{"median of ten", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 50, 5 * time.Millisecond},
		{"p99 of ten is the largest", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
		{"p100", ms(1, 2, 3), 100, 3 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentile(tc.sorted, tc.p); got != tc.want {
				t.Errorf("percentile(%v, %v) = %v, want %v", tc.sorted, tc.p, got, tc.want)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		xs   []float64
		want float64
	}{
		{"none", nil, 0},
		{"odd", []float64{3, 1, 2}, 2},
		{"even", []float64{4, 1, 3, 2}, 2.5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := median(tc.xs); got != tc.want {
				t.Errorf("median(%v) = %v, want %v", tc.xs, got, tc.want)
			}
		})
	}
}

func TestConfigLimits(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		ok     bool
	}{
		{"defaults", func(*Config) {}, true},
		{"duration over the limit", func(c *Config) { c.Duration = MaxDuration + time.Second }, false},
		{"too many rounds", func(c *Config) { c.Rounds = MaxRounds + 1 }, false},
		{"too many clients", func(c *Config) { c.Concurrency = MaxConcurrency + 1 }, false},
		{"burst too large", func(c *Config) { c.Burst = MaxBurst + 1 }, false},
		{"unknown target", func(c *Config) { c.Targets = []string{"session/mongo"} }, false},
		{"loopback URL", func(c *Config) { c.URLs, c.Email, c.Password = []string{"http://127.0.0.1:8080"}, "a@b.co", "pw" }, true},
		{"localhost URL", func(c *Config) { c.URLs, c.Email, c.Password = []string{"http://localhost:8080"}, "a@b.co", "pw" }, true},
		{"IPv6 loopback URL", func(c *Config) { c.URLs, c.Email, c.Password = []string{"http://[::1]:8080"}, "a@b.co", "pw" }, true},
		{"remote URL refused", func(c *Config) { c.URLs, c.Email, c.Password = []string{"https://auth.example.com"}, "a@b.co", "pw" }, false},
		{"remote URL allowed", func(c *Config) {
			c.URLs, c.Email, c.Password, c.AllowRemote = []string{"https://auth.example.com"}, "a@b.co", "pw", true
		}, true},
		{"URL without account", func(c *Config) { c.URLs = []string{"http://127.0.0.1:8080"} }, false},
		{"not http", func(c *Config) { c.URLs, c.Email, c.Password = []string{"ftp://127.0.0.1"}, "a@b.co", "pw" }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			tc.change(&c)
			err := c.defaults()
			if tc.ok && err != nil {
				t.Fatalf("defaults() = %v, want nil", err)
			}
			if !tc.ok && !errors.Is(err, ErrConfig) {
				t.Fatalf("defaults() = %v, want an error wrapping ErrConfig", err)
			}
		})
	}
}

func TestRunLocal(t *testing.T) {
	cfg := tiny()
	cfg.Targets = []string{"floor", "session/memory", "token", "hybrid"}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rep.Targets {
		names = append(names, r.Name)
		if r.Requests == 0 || r.RPS <= 0 {
			t.Errorf("%s: %d requests at %.0f req/s, want some", r.Name, r.Requests, r.RPS)
		}
		if r.Errors != 0 {
			t.Errorf("%s: %d errors, want none", r.Name, r.Errors)
		}
		if r.CPUPerRequest <= 0 || (r.Name != "floor" && r.CPURatio <= 0) {
			t.Errorf("%s: CPU %v per request, %.2f of the floor's; want both", r.Name, r.CPUPerRequest, r.CPURatio)
		}
		if r.P50 <= 0 || r.P99 < r.P50 {
			t.Errorf("%s: p50 %v, p99 %v", r.Name, r.P50, r.P99)
		}
		if r.Name != "floor" && (r.Per100k <= 0 || r.Footprint == "") {
			t.Errorf("%s: holds %d bytes per 100k (%q), want a measure", r.Name, r.Per100k, r.Footprint)
		}
	}
	if got, want := strings.Join(names, ","), strings.Join(cfg.Targets, ","); got != want {
		t.Errorf("targets %s, want %s", got, want)
	}
	// A cookie is shorter than a token; a hybrid token names its session
	// by sid as a token-mode one does by did, so the two are as long.
	cookie, tok, hyb := rep.Targets[1], rep.Targets[2], rep.Targets[3]
	if !(cookie.CredentialBytes < tok.CredentialBytes && tok.CredentialBytes == hyb.CredentialBytes) {
		t.Errorf("credential bytes: cookie %d, token %d, hybrid %d", cookie.CredentialBytes, tok.CredentialBytes, hyb.CredentialBytes)
	}
	if !(rep.Targets[0].BytesPerRequest < cookie.BytesPerRequest && cookie.BytesPerRequest < tok.BytesPerRequest) {
		t.Errorf("client bytes per request: floor %.0f, cookie %.0f, token %.0f",
			rep.Targets[0].BytesPerRequest, cookie.BytesPerRequest, tok.BytesPerRequest)
	}
	if p := rep.Propagation; p == nil || p.Samples != 2*cfg.Revocations || p.Missed != 0 || p.P99 <= 0 {
		t.Errorf("propagation = %+v, want %d samples none missed", p, 2*cfg.Revocations)
	}
	if l := rep.Login; l == nil || l.LoginRPS <= 0 || l.RawRPS <= 0 || l.Ratio <= 0 || l.CPURatio <= 0 {
		t.Errorf("login = %+v, want rates", l)
	}
	if b := rep.Burst; b == nil || b.OK+b.Busy+b.Other != cfg.Burst || b.OK == 0 || b.Other != 0 {
		t.Errorf("burst = %+v, want %d answers, some 200, none other than 200 or 503", b, cfg.Burst)
	}
}

func TestRunSkipsAbsentServices(t *testing.T) {
	cfg := tiny()
	cfg.Targets = []string{"session/postgres", "session/redis", "session/memory"}
	cfg.Revocations, cfg.SkipLogin, cfg.Burst, cfg.Sessions = -1, true, -1, -1
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(rep.Targets); got != 1 {
		t.Fatalf("%d targets ran, want only session/memory", got)
	}
	notes := strings.Join(rep.Notes, "\n")
	for _, want := range []string{"session/postgres skipped", "session/redis skipped"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes %q do not say %q", notes, want)
		}
	}
}

func TestRunRemote(t *testing.T) {
	ctx := context.Background()
	cl, err := NewCluster(ctx, ServerConfig{Argon2: cheapArgon2}, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	pw := "remote-" + randomHex(10)
	if _, err := cl.Nodes[0].Service.CreateUser(ctx, "remote@example.com", pw, nil); err != nil {
		t.Fatal(err)
	}
	cfg := tiny()
	cfg.URLs = []string{cl.Nodes[0].URL, cl.Nodes[1].URL + "/"}
	cfg.Email, cfg.Password = "remote@example.com", pw
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rep.Targets {
		names = append(names, r.Name)
		if r.Requests == 0 || r.Errors != 0 || r.Ratio != 0 {
			t.Errorf("%s: %d requests, %d errors, ratio %v; want requests, no errors, no floor", r.Name, r.Requests, r.Errors, r.Ratio)
		}
	}
	if got, want := strings.Join(names, ","), "session,token,hybrid"; got != want {
		t.Errorf("targets %s, want %s", got, want)
	}
	if p := rep.Propagation; p == nil || p.Nodes != 2 || p.Samples != cfg.Revocations {
		t.Errorf("propagation = %+v, want %d samples over 2 nodes", p, cfg.Revocations)
	}
	if rep.Login != nil || rep.Burst != nil {
		t.Error("login and burst were measured against a deployment")
	}
	// The run logged out of the sessions it started.
	users, _, err := cl.Nodes[0].Service.ListUsers(ctx, valet.UserQuery{})
	if err != nil || len(users) != 1 {
		t.Fatalf("ListUsers: %v, %d users", err, len(users))
	}
	left, err := cl.Nodes[0].Service.UserSessions(ctx, users[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("%d sessions left on the deployment, want 0", len(left))
	}
}

func TestReportOutput(t *testing.T) {
	rep := &Report{
		Started: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), Duration: time.Second, Rounds: 2, Concurrency: 8,
		Machine: "test machine",
		Targets: []TargetResult{
			{Name: "floor", RPS: 1000, Ratio: 1, P50: time.Millisecond, P99: 3 * time.Millisecond, Per100k: -1},
			{Name: "session/memory", Mode: "session", Store: "memory", RPS: 900, Ratio: 0.9, Per100k: 20 << 20, Footprint: "Go heap, sessions"},
		},
		Propagation: &PropagationResult{Nodes: 3, Transport: "Redis pub/sub", Samples: 10, P50: time.Millisecond, P99: 2 * time.Millisecond},
		Notes:       []string{"session/redis skipped: no Redis."},
	}
	var md bytes.Buffer
	if err := rep.Markdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| " + strings.Join(MeColumns, " | ") + " |",
		"| floor | — | — | 1000 | 1.00 | — | — | 1.00 ms | 3.00 ms |",
		"| session/memory | session | memory | 900 | 0.90 |",
		"20.0 MiB (Go heap, sessions)",
		"## Hybrid revocation propagation",
		"- session/redis skipped: no Redis.",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md.String())
		}
	}
	var svg bytes.Buffer
	if err := rep.SVG(&svg); err != nil {
		t.Fatal(err)
	}
	s := svg.String()
	if !strings.HasPrefix(s, "<svg ") || !strings.HasSuffix(s, "</svg>\n") || strings.Count(s, "<rect ") != 1+len(rep.Targets) {
		t.Errorf("SVG is not one background and a bar per target:\n%s", s)
	}
}

func TestServerBackends(t *testing.T) {
	pg, rd := os.Getenv("VALET_TEST_POSTGRES"), os.Getenv("VALET_TEST_REDIS")
	tests := []struct {
		store Store
		need  string
	}{
		{StoreMemory, "-"}, {StoreSQLite, "-"}, {StorePostgres, pg}, {StoreRedis, rd},
	}
	for _, tc := range tests {
		t.Run(string(tc.store), func(t *testing.T) {
			if tc.need == "" {
				if os.Getenv("VALET_REQUIRE_SERVICES") == "1" {
					t.Fatalf("%s is required but not configured", tc.store)
				}
				t.Skipf("%s not configured", tc.store)
			}
			ctx := context.Background()
			cl, err := NewCluster(ctx, ServerConfig{Store: tc.store, PostgresURL: pg, RedisURL: rd, Argon2: cheapArgon2}, 2)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(cl.Close)
			u, err := cl.Nodes[0].Service.CreateUser(ctx, "b@example.com", "backend-"+randomHex(8), nil)
			if err != nil {
				t.Fatal(err)
			}
			before, err := cl.backend.footprint(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := cl.Nodes[1].AddSessions(ctx, u.ID, valet.ModeHybrid, 200); err != nil {
				t.Fatal(err)
			}
			ss, err := cl.Nodes[0].Service.UserSessions(ctx, u.ID)
			if err != nil || len(ss) != 200 {
				t.Fatalf("UserSessions: %v, %d sessions, want 200", err, len(ss))
			}
			after, err := cl.backend.footprint(ctx)
			if err != nil {
				t.Fatal(err)
			}
			// Redis's used_memory is the whole server's, which other tests
			// change at the same time; the other measures are this run's own.
			if tc.store != StoreRedis && after <= before {
				t.Errorf("footprint %d after 200 logins, %d before; want growth", after, before)
			}
		})
	}
}
