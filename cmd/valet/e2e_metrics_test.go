package main

import (
	"bufio"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var metricsRE = regexp.MustCompile(`metrics on (http://\S+/metrics)`)

// scrape reads the Prometheus text at url and returns each sample by its
// series as the text writes it (`name{label="value",...}`).
func scrape(tb testing.TB, url string) map[string]float64 {
	tb.Helper()
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		tb.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			tb.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// TestMetrics drives the real binary through a signup, logins that pass,
// fail and are throttled, a refresh and its reuse, a hybrid logout that
// revokes a session, and a page, then reads the series back from the
// metrics listener (--metrics-addr) with the values that must follow.
func TestMetrics(t *testing.T) {
	s := startServer(t, nil, "--data-dir", t.TempDir(), "--metrics-addr", "127.0.0.1:0",
		"--throttle-login-account", "2/15m", "--refresh-grace", "1ns")
	m := metricsRE.FindStringSubmatch(s.stdout())
	if m == nil {
		t.Fatalf("the server did not say where its metrics are:\n%s", s.stdout())
	}
	metricsURL := m[1]
	expect(t, "no metrics on the main address", do(t, s.URL, req{Path: "/metrics"}), 404, "not_found")

	signupUser(t, s.URL, "ada@example.com")
	login(t, s.URL, "ada@example.com", "session", req{})
	hybrid := login(t, s.URL, "ada@example.com", "hybrid", req{}).json(t)
	expect(t, "hybrid logout", do(t, s.URL, req{Method: "POST", Path: "/v1/logout", Bearer: hybrid["access_token"].(string)}), 204)
	tok := login(t, s.URL, "ada@example.com", "token", req{}).json(t)
	rt := map[string]string{"refresh_token": tok["refresh_token"].(string)}
	expect(t, "refresh", do(t, s.URL, req{Method: "POST", Path: "/v1/token/refresh", Body: rt}), 200)
	expect(t, "refresh reused", do(t, s.URL, req{Method: "POST", Path: "/v1/token/refresh", Body: rt}), 401, "invalid_grant")
	wrong := map[string]string{"email": "ada@example.com", "password": "a wrong password"}
	for i := range 2 {
		expect(t, "failure "+strconv.Itoa(i+1), do(t, s.URL, req{Method: "POST", Path: "/v1/login", Body: wrong}), 401, "invalid_credentials")
	}
	expect(t, "throttled", do(t, s.URL, req{Method: "POST", Path: "/v1/login", Body: wrong}), 429, "rate_limited")
	expect(t, "the sign-in page", do(t, s.URL, req{Path: "/"}), 200)

	// On SQLite a node hears its own revocations by reading the file
	// every 250 ms: wait for the received count before reading the rest.
	got := scrape(t, metricsURL)
	for deadline := time.Now().Add(3 * time.Second); got["valet_revocations_received_total"] < 1 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		got = scrape(t, metricsURL)
	}
	want := map[string]float64{
		`valet_signups_total{result="ok"}`:                                                     1,
		`valet_logins_total{mode="session",result="ok"}`:                                       1,
		`valet_logins_total{mode="hybrid",result="ok"}`:                                        1,
		`valet_logins_total{mode="token",result="ok"}`:                                         1,
		`valet_logins_total{mode="session",result="invalid_credentials"}`:                      2,
		`valet_logins_total{mode="session",result="rate_limited"}`:                             1,
		`valet_throttled_requests_total{action="login"}`:                                       1,
		`valet_token_refreshes_total{result="ok"}`:                                             1,
		`valet_token_refreshes_total{result="reused"}`:                                         1,
		`valet_revocations_published_total`:                                                    1,
		`valet_revocation_publish_failures_total`:                                              0,
		`valet_revocations_received_total`:                                                     1,
		`valet_revocation_set_entries`:                                                         1,
		`valet_revocation_channel_up`:                                                          1,
		`valet_revocation_channel_healthy`:                                                     1,
		`valet_password_hashes_waiting`:                                                        0,
		`valet_password_hashes_refused_total`:                                                  0,
		`valet_http_request_duration_seconds_count{code="201",route="POST /v1/signup"}`:        1,
		`valet_http_request_duration_seconds_count{code="200",route="POST /v1/login"}`:         3,
		`valet_http_request_duration_seconds_count{code="401",route="POST /v1/login"}`:         2,
		`valet_http_request_duration_seconds_count{code="429",route="POST /v1/login"}`:         1,
		`valet_http_request_duration_seconds_count{code="204",route="POST /v1/logout"}`:        1,
		`valet_http_request_duration_seconds_count{code="200",route="POST /v1/token/refresh"}`: 1,
		`valet_http_request_duration_seconds_count{code="401",route="POST /v1/token/refresh"}`: 1,
		`valet_http_request_duration_seconds_count{code="404",route="/"}`:                      1,
		`valet_http_request_duration_seconds_count{code="200",route="GET /{$}"}`:               1,
		`valet_store_call_duration_seconds_count{op="AddRevocation",store="revocations"}`:      1,
		`valet_store_errors_total{op="AddRevocation",store="revocations"}`:                     0,
		`valet_store_call_duration_seconds_count{op="CreateUserWithTicket",store="mail"}`:      1,
		`valet_store_call_duration_seconds_count{op="CreateUser",store="users"}`:               0,
	}
	var wrongs []string
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if g, ok := got[k]; !ok || g != want[k] {
			wrongs = append(wrongs, k+" = "+strconv.FormatFloat(g, 'g', -1, 64)+" (present "+strconv.FormatBool(ok)+"), want "+strconv.FormatFloat(want[k], 'g', -1, 64))
		}
	}
	// Only the patterns of routes are labels: no raw path leaks into a series.
	for k := range got {
		if strings.Contains(k, `route="/v1/login"`) || strings.Contains(k, "ada@example.com") {
			wrongs = append(wrongs, "unexpected series "+k)
		}
	}
	if _, ok := got["valet_revocation_channel_lag_seconds"]; !ok {
		wrongs = append(wrongs, "valet_revocation_channel_lag_seconds is missing while the channel is up")
	}
	// The dashboard in docs/ plots only series that the server has.
	dash, err := os.ReadFile(filepath.Join("..", "..", "docs", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range slices.Compact(slices.Sorted(slices.Values(seriesNameRE.FindAllString(string(dash), -1)))) {
		if !slices.ContainsFunc(slices.Collect(maps.Keys(got)), func(k string) bool { return k == name || strings.HasPrefix(k, name+"{") }) {
			wrongs = append(wrongs, "docs/grafana-dashboard.json plots "+name+", which the server does not have")
		}
	}
	if len(wrongs) > 0 {
		t.Fatalf("metrics:\n  %s", strings.Join(wrongs, "\n  "))
	}
}

var seriesNameRE = regexp.MustCompile(`valet_[a-z_]+`)

// TestServeHeapFloor: valet serve lets the heap grow to its floor before
// it collects garbage (the GC percent it reports is raised over Go's 100
// while little is live, and the goal of the next collection is the
// floor), and GOGC in the environment, when set, is left to say how to
// collect.
func TestServeHeapFloor(t *testing.T) {
	for _, tc := range []struct {
		name      string
		env       []string
		ok        func(float64) bool
		want      string
		goalFloor bool
	}{
		{"default", nil, func(p float64) bool { return p > 100 }, "over 100", true},
		{"GOGC=100", []string{"GOGC=100"}, func(p float64) bool { return p == 100 }, "100", false},
		{"GOGC=250", []string{"GOGC=250"}, func(p float64) bool { return p == 250 }, "250", false},
		// Off is reported as the largest uint64.
		{"GOGC=off", []string{"GOGC=off"}, func(p float64) bool { return p >= 1<<63 }, "off (2^64-1)", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, tc.env, "--data-dir", t.TempDir())
			m := scrape(t, s.URL+"/metrics")
			p, ok := m["go_gc_gogc_percent"]
			if !ok || !tc.ok(p) {
				t.Errorf("go_gc_gogc_percent is %v (reported: %v), want %s", p, ok, tc.want)
			}
			// The goal of the next collection: the floor, with what the
			// runtime's rounding adds; far under it with GOGC's goal on a
			// heap of a few megabytes.
			goal := m["go_memstats_next_gc_bytes"]
			if atFloor := goal >= heapFloor && goal < heapFloor*1.05; atFloor != tc.goalFloor {
				t.Errorf("the heap goal is %.0f bytes; at the floor (%d): %v, want %v", goal, heapFloor, atFloor, tc.goalFloor)
			}
			expect(t, "healthz", do(t, s.URL, req{Method: "GET", Path: "/healthz"}), 200)
		})
	}
}
