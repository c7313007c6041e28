package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valetauth/valet/internal/loadtest"
	"github.com/valetauth/valet/internal/testenv"
)

// TestBench runs `valet bench` for a moment against the floor, session mode
// on the memory store and token mode, and checks the shape of what it
// writes. Speed is never asserted.
func TestBench(t *testing.T) {
	dir := t.TempDir()
	md, svg := filepath.Join(dir, "bench.md"), filepath.Join(dir, "bench.svg")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"bench",
		"--duration", "200ms", "--rounds", "1", "--concurrency", "4",
		"--targets", "floor,session/memory,token",
		"--live-sessions", "200", "--revocations", "2", "--burst", "8",
		"--argon2-memory", "8192", "--argon2-iterations", "1",
		"--out", md, "--svg", svg,
	}, strings.NewReader(""), &stdout, &stderr)
	if err != nil {
		t.Fatalf("valet bench: %v\n%s", err, stderr.String())
	}
	written, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(written), stdout.String(); got != want {
		t.Errorf("--out differs from standard output:\n%s\nvs\n%s", got, want)
	}

	rows := tableAfter(t, stdout.String(), "## GET /v1/me")
	if got, want := rows[0], loadtest.MeColumns; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("header %q, want %q", got, want)
	}
	wantTargets := []string{"floor", "session/memory", "token"}
	body := rows[2:]
	if len(body) != len(wantTargets) {
		t.Fatalf("%d rows, want %d:\n%s", len(body), len(wantTargets), stdout.String())
	}
	for i, r := range body {
		if len(r) != len(loadtest.MeColumns) {
			t.Errorf("row %d has %d cells, want %d: %q", i, len(r), len(loadtest.MeColumns), r)
			continue
		}
		if r[0] != wantTargets[i] {
			t.Errorf("row %d is %q, want %q", i, r[0], wantTargets[i])
		}
		if r[3] == "0" || r[3] == "" {
			t.Errorf("%s: req/s %q", r[0], r[3])
		}
		if got := r[len(r)-1]; got != "0" {
			t.Errorf("%s: %s errors", r[0], got)
		}
	}
	if got := body[0][4]; got != "1.00" {
		t.Errorf("floor ratio %q, want 1.00", got)
	}
	for section, want := range map[string]int{
		"## Hybrid revocation propagation": 1, "## Login": 2, "## 8 clients logging in at once": 1,
	} {
		if got := len(tableAfter(t, stdout.String(), section)) - 2; got != want {
			t.Errorf("section %q has %d rows, want %d", section, got, want)
		}
	}
	chart, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(chart, []byte("<svg ")) || !bytes.Contains(chart, []byte("session/memory")) {
		t.Errorf("chart is not an SVG naming the targets: %.200s", chart)
	}
}

func TestBenchFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown target", []string{"--targets", "session/mongo"}, "unknown target"},
		{"remote without permission", []string{"--url", "https://auth.example.com", "--email", "a@example.com"}, "not a loopback address"},
		{"url without email", []string{"--url", "http://127.0.0.1:1"}, "--email"},
		{"weak argon2", []string{"--argon2-memory", "1024"}, "argon2 settings too weak"},
		{"too long", []string{"--duration", "1h"}, "over the limit"},
		{"Go's default GC in process", []string{"--go-default-gc"}, "--go-default-gc needs --processes"},
		{"Go's default GC with a value", []string{"--processes", "--go-default-gc=maybe"}, `--go-default-gc: "maybe" is not true or false`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := run(context.Background(), append([]string{"bench"}, tc.args...), strings.NewReader("pw\n"), &out, &errb)
			if err == nil || !isUsage(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("valet bench %v: %v, want a usage error about %q", tc.args, err, tc.want)
			}
		})
	}
}

// TestBenchProcessDrive: a --processes drive that cannot be run as given is
// a usage error before any server starts. wrk takes whole seconds, so with
// wrk in $PATH (here a stand-in that is never run) a fraction is refused.
func TestBenchProcessDrive(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "wrk"), []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no time", []string{"--duration", "0s"}, "--duration 0s: each target must be driven for some time"},
		{"negative time", []string{"--duration", "-1s"}, `--duration: "-1s" is negative`},
		{"too long", []string{"--duration", "6m"}, "--duration 6m0s is over the limit of 5m0s"},
		{"a fraction for wrk", []string{"--duration", "500ms"}, "--duration 500ms: wrk, which drives the targets, takes whole seconds"},
		{"seconds and a fraction for wrk", []string{"--duration", "1.5s"}, "--duration 1.5s: wrk"},
		{"a nanosecond over", []string{"--duration", "1000000001ns"}, "takes whole seconds"},
		{"no rounds", []string{"--rounds", "0"}, "--rounds 0: at least one round"},
		{"negative rounds", []string{"--rounds", "-3"}, "--rounds -3: at least one round"},
		{"too many rounds", []string{"--rounds", "21"}, "21 rounds is over the limit of 20"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			args := append([]string{"bench", "--processes", "--quiet"}, tc.args...)
			err := run(context.Background(), args, strings.NewReader(""), &out, &errb)
			if err == nil || !isUsage(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("valet %v: %v, want a usage error about %q", args, err, tc.want)
			}
			if out.Len() != 0 || errb.Len() != 0 {
				t.Errorf("output before the refusal:\n%s%s", out.String(), errb.String())
			}
		})
	}
}

// TestBenchCompareFlags: every --compare value that cannot name a baseline
// is a usage error naming the flag, found before any server starts.
func TestBenchCompareFlags(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "baseline")
	plain := filepath.Join(dir, "plain")
	for f, mode := range map[string]os.FileMode{exe: 0o755, plain: 0o644} {
		if err := os.WriteFile(f, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no =", []string{"--compare", "scs"}, `"scs" is not name=path`},
		{"path only", []string{"--compare", exe}, "is not name=path"},
		{"empty name", []string{"--compare", "=" + exe}, "has no name"},
		{"blank name", []string{"--compare", "  =" + exe}, "has no name"},
		{"empty path", []string{"--compare", "scs="}, "has no path"},
		{"blank path", []string{"--compare", "scs= "}, "has no path"},
		{"missing file", []string{"--compare", "scs=" + filepath.Join(dir, "nope")}, "does not exist"},
		{"missing directory", []string{"--compare", "scs=" + filepath.Join(dir, "nope", "scs-server")}, "does not exist"},
		{"not executable", []string{"--compare", "scs=" + plain}, "is not an executable file"},
		{"a directory", []string{"--compare", "scs=" + dir}, "is a directory"},
		{"not in PATH", []string{"--compare", "scs=valet-no-such-baseline"}, "is not found in $PATH"},
		{"duplicate in a list", []string{"--compare", "a=" + exe + ",a=" + exe}, `the name "a" is given twice`},
		{"duplicate across flags", []string{"--compare", "a=" + exe, "--compare", "a=" + plain}, `the name "a" is given twice`},
		{"pipe in the name", []string{"--compare", "a|b=" + exe}, "holds a | or a control character"},
		{"control character in the name", []string{"--compare", "a\x1b[2Jb=" + exe}, "holds a | or a control character"},
		{"bad after good", []string{"--compare", "ok=" + exe + ",bad"}, `"bad" is not name=path`},
		{"without --processes", []string{"--compare", "scs=" + exe}, "--compare needs --processes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.name != "without --processes" {
				args = append([]string{"--processes"}, args...)
			}
			var out, errb bytes.Buffer
			err := run(context.Background(), append([]string{"bench"}, args...), strings.NewReader(""), &out, &errb)
			if err == nil || !isUsage(err) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--compare") {
				t.Fatalf("valet bench %q: %v, want a usage error about --compare and %q", args, err, tc.want)
			}
			if out.Len() > 0 || errb.Len() > 0 {
				t.Errorf("something ran before the error: %q %q", out.String(), errb.String())
			}
		})
	}
}

// TestBenchParseCompare: good --compare values keep their order, lose the
// spaces around them, and name their row with the program.
func TestBenchParseCompare(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "scs-server")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := parseCompare([]string{"scs=" + exe, " other = " + exe})
	if err != nil {
		t.Fatal(err)
	}
	want := []baseline{{"scs", exe}, {"other", exe}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("parseCompare = %+v, want %+v", got, want)
	}
	// Not a Go program: no modules to list.
	if got, want := got[0].describe(), "scs (scs-server)"; got != want {
		t.Errorf("describe = %q, want %q", got, want)
	}
	if got, err := parseCompare(nil); err != nil || len(got) != 0 {
		t.Errorf("parseCompare(nil) = %v, %v; want nothing", got, err)
	}
}

// tableAfter returns the cells of the first Markdown table after heading.
func tableAfter(tb testing.TB, md, heading string) [][]string {
	tb.Helper()
	_, rest, ok := strings.Cut(md, heading+"\n")
	if !ok {
		tb.Fatalf("no %q in:\n%s", heading, md)
	}
	var rows [][]string
	for line := range strings.SplitSeq(rest, "\n") {
		if !strings.HasPrefix(line, "|") {
			if len(rows) > 0 {
				break
			}
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		rows = append(rows, cells)
	}
	if len(rows) < 2 {
		tb.Fatalf("no table after %q", heading)
	}
	return rows
}

// TestBenchProcesses runs valet bench --processes for one short round: every
// target is a server process of its own, and each row of each table has
// its figures. A baseline from --compare (here a stdlib stand-in;
// bench/servers_test.go runs the real ones) is one more row. It runs with
// wrk, whose figures this process's own client checks, and without it
// (wrk not in $PATH), where the own client drives alone.
func TestBenchProcesses(t *testing.T) {
	t.Parallel()
	skipInShort(t)
	baseline := fakeBaseline(t, "good")
	sqlite := []string{"floor (bare net/http, same JSON)", "floor as served (the same in valet serve's server: its headers, timeouts and heap floor; sent the token target's request)",
		"session, SQLite (the default)", "token", "hybrid"}
	all := slices.Clone(sqlite)
	if os.Getenv(testenv.Postgres) != "" {
		all = append(all, "session, Postgres")
	}
	if os.Getenv(testenv.Redis) != "" {
		all = append(all, "session, SQLite + Redis sessions")
	}
	for _, tc := range []struct {
		name string
		env  []string
		wrk  bool
		want []string
	}{
		{"wrk", nil, true, append(all, "stand-in (good)")},
		// The own client alone, on SQLite only (the stores' rows are the
		// subtest above's), and every valet row again under Go's default
		// garbage collection.
		{"own client", []string{"PATH=" + t.TempDir(), testenv.Postgres + "=", testenv.Redis + "="}, false, []string{
			sqlite[0], sqlite[1], sqlite[1] + goDefaultGC,
			sqlite[2], sqlite[2] + goDefaultGC, sqlite[3], sqlite[3] + goDefaultGC, sqlite[4], sqlite[4] + goDefaultGC,
			"stand-in (good)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.wrk {
				if _, err := exec.LookPath("wrk"); err != nil {
					if testenv.Required() {
						t.Fatalf("no wrk in $PATH and VALET_REQUIRE_SERVICES=1 (scripts/services.sh installs it)")
					}
					t.Skip("no wrk in $PATH")
				}
			}
			// wrk takes whole seconds; the own client, a fraction.
			args := []string{"bench", "--processes", "--duration", "1s", "--rounds", "1", "--quiet", "--compare", "stand-in=" + baseline}
			if !tc.wrk {
				args = []string{"bench", "--processes", "--duration", "300ms", "--rounds", "1", "--quiet", "--compare", "stand-in=" + baseline, "--go-default-gc"}
			}
			out, stderr, code := valetRun(t, tc.env, args...)
			if code != 0 {
				t.Fatalf("valet bench --processes: exit %d\n%s\n%s", code, out, stderr)
			}
			heading, _, _ := strings.Cut(out, "\n")
			gen := map[bool]string{true: "load from wrk -t1 -c16", false: "load from this process's HTTP client, 16 connections (wrk is not installed)"}[tc.wrk]
			if !strings.Contains(heading, gen) {
				t.Errorf("the heading %q does not say %q", heading, gen)
			}
			main := tableAfter(t, out, heading)
			checkRows(t, main, tc.want, 5)
			// One round: each ratio's range is that round's ratio alone.
			checkSpans(t, main, map[int]int{2: 6, 4: 7}, true)
			const check = "The check: every round again, driven by this process's own client between two drives by wrk (the floor once a round); medians, the ratios of each round's own client to the mean of wrk's two; the last two columns give the lowest and highest of them."
			if tc.wrk {
				rows := tableAfter(t, out, check)
				checkRows(t, rows, tc.want, 7)
				checkSpans(t, rows, map[int]int{3: 8, 6: 9}, false)
			} else if strings.Contains(out, check) {
				t.Errorf("a check of wrk's figures without wrk:\n%s", out)
			}
			// The last table has every target at one rate, with positive
			// figures (whether each kept up depends on the machine's
			// load, which a test must not assert).
			_, paced, ok := strings.Cut(out, "\nAt the same load: every target driven at ")
			if !ok {
				t.Fatalf("no table at the same load in:\n%s", out)
			}
			rateText, _, _ := strings.Cut(paced, " ")
			if rate, err := strconv.ParseFloat(rateText, 64); err != nil || rate <= 0 {
				t.Errorf("the rate of the same-load table is %q", rateText)
			}
			line, _, _ := strings.Cut(paced, "\n")
			checkRows(t, tableAfter(t, out, "At the same load: every target driven at "+line), tc.want, 3)
		})
	}
}

// TestBenchBracket: every round drives the floor before the first target,
// after the last and between every two, in an order rotated each round,
// and each target's ratio is to the mean of the floor's figures just
// before and just after it; an error stops the round.
func TestBenchBracket(t *testing.T) {
	for r, want := range [][]int{{0, 1, 0, 2, 0, 3, 0}, {0, 2, 0, 3, 0, 1, 0}, {0, 3, 0, 1, 0, 2, 0}, {0, 1, 0, 2, 0, 3, 0}} {
		var order []int
		floor := 0.0 // the floor's req/s rises by 100 each drive, its CPU falls
		err := bracket(4, r, func(i int) (figures, error) {
			order = append(order, i)
			if i == 0 {
				floor += 100
				return figures{rps: floor, n: 10, cpu: 1000 / floor}, nil
			}
			return figures{rps: 50 * float64(i), n: 10, cpu: float64(i)}, nil
		}, func(i int, around, f figures) {
			// Target i ran between the floor's drives k and k+1, at
			// 100k and 100(k+1) req/s.
			k := float64(slices.Index(order, i)+1) / 2
			if want := (100*k + 100*(k+1)) / 2; around.rps != want || f.rps != 50*float64(i) {
				t.Errorf("round %d, target %d: floor around %v req/s, target %v; want %v and %v", r, i, around.rps, f.rps, want, 50*float64(i))
			}
			if want := (1000/(100*k) + 1000/(100*(k+1))) / 2; math.Abs(around.cpu-want) > 1e-9 || around.n != 10 {
				t.Errorf("round %d, target %d: floor around %v µs/req over %d requests, want %v over 10", r, i, around.cpu, around.n, want)
			}
		})
		if err != nil || !slices.Equal(order, want) {
			t.Errorf("round %d: order %v, %v; want %v", r, order, err, want)
		}
	}
	broken := errors.New("the server went away")
	var drives int
	err := bracket(4, 0, func(i int) (figures, error) {
		if drives++; i == 2 {
			return figures{}, broken
		}
		return figures{rps: 1, n: 1, cpu: 1}, nil
	}, func(int, figures, figures) {})
	if !errors.Is(err, broken) || drives != 4 {
		t.Errorf("a failing target: %v after %d drives, want %v after 4", err, drives, broken)
	}
}

// checkRows checks that rows, a table as tableAfter returns it, has one
// row for each of targets, in that order, and that the n cells after each
// name are positive figures.
func checkRows(tb testing.TB, rows [][]string, targets []string, n int) {
	tb.Helper()
	rows = rows[2:] // the header and the line under it
	var names []string
	for _, r := range rows {
		names = append(names, r[0])
		if len(r) < n+1 {
			tb.Errorf("row %q has %d cells, want %d", r, len(r), n+1)
			continue
		}
		for _, c := range r[1 : n+1] {
			if v, err := strconv.ParseFloat(c, 64); err != nil || v <= 0 {
				tb.Errorf("row %q has a cell %q that is no positive figure", r, c)
			}
		}
	}
	if !slices.Equal(names, targets) {
		tb.Errorf("rows %q, want %q", names, targets)
	}
}

// checkSpans checks, in each row of a table of one round, that the cell
// in column spans[m] is the range "lo–hi" of the median in column m, lo
// and hi that median; the floor's row (the first) has "—" for its ratios
// to itself when floorDash.
func checkSpans(tb testing.TB, rows [][]string, spans map[int]int, floorDash bool) {
	tb.Helper()
	for j, r := range rows[2:] {
		for m, c := range spans {
			if len(r) <= c {
				tb.Errorf("row %q has no column %d", r, c)
				continue
			}
			if j == 0 && floorDash {
				if r[c] != "—" {
					tb.Errorf("the floor's range of its ratio to itself is %q, want —", r[c])
				}
				continue
			}
			lo, hi, ok := strings.Cut(r[c], "–")
			if !ok || lo != r[m] || hi != r[m] {
				tb.Errorf("row %q: range %q, want %s–%s after one round", r[0], r[c], r[m], r[m])
			}
		}
	}
}

// TestBenchSpan: a ratio's range over the rounds is its lowest and highest
// value, whatever their order; none for the floor or where no round gave
// one.
func TestBenchSpan(t *testing.T) {
	for _, tc := range []struct {
		i    int
		xs   []float64
		want string
	}{
		{1, []float64{0.84, 0.71, 0.8}, "0.71–0.84"},
		{1, []float64{0.8}, "0.80–0.80"},
		{2, []float64{1.106, 0.954}, "0.95–1.11"},
		{1, nil, "—"},
		{0, []float64{1, 1}, "—"},
	} {
		if got := rangeOf(tc.i, tc.xs); got != tc.want {
			t.Errorf("rangeOf(%d, %v) = %q, want %q", tc.i, tc.xs, got, tc.want)
		}
	}
	if got := spanOf(nil); got != "—" {
		t.Errorf("spanOf(nil) = %q, want —", got)
	}
}

// TestBenchCompareRefuses: a baseline that answers an error, answers
// another body, or answers without checking the credential fails the bench
// with its name, and is never measured.
func TestBenchCompareRefuses(t *testing.T) {
	t.Parallel()
	skipInShort(t)
	for _, tc := range []struct{ mode, want string }{
		{"error", "/v1/me: 500 broken"},
		{"refuse", "/v1/me: 401 who are you"},
		{"other-body", "not the body it was given"},
		{"unchecked", "answered 200 without the credential"},
		{"no-login", "POST /login: 404"},
		{"no-credential", "neither a cookie nor an access_token"},
		{"exit", `exited without printing a "listening on" line`},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			// valet's own targets on SQLite only: what is tested is the
			// baseline, and these runs, one after another, would share one
			// Redis database and Postgres schema.
			out, stderr, code := valetRun(t, []string{"VALET_TEST_POSTGRES=", "VALET_TEST_REDIS="}, "bench", "--processes",
				"--duration", "1s", "--rounds", "1", "--quiet", "--compare", "bad="+fakeBaseline(t, tc.mode))
			if code == 0 {
				t.Fatalf("valet bench measured a baseline in mode %s:\n%s", tc.mode, out)
			}
			if !strings.Contains(stderr, "--compare bad: ") || !strings.Contains(stderr, tc.want) {
				t.Errorf("error %q, want one naming the baseline and %q", stderr, tc.want)
			}
			if out != "" {
				t.Errorf("a table was written:\n%s", out)
			}
		})
	}
}

// fakeBaselineSrc is a baseline server on the standard library alone, which
// misbehaves as its --mode says: "good" logs in with a cookie and answers
// GET /v1/me only with it, as a baseline must. Its cookies are good for
// 3 s, shorter than a run: the bench must log in again before each drive,
// as it must for jwt-server, whose tokens live 15 minutes.
const fakeBaselineSrc = `package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// lifetime is how long a cookie is good for.
const lifetime = 3 * time.Second

func main() {
	mode := flag.String("mode", "good", "")
	addr := flag.String("addr", "", "")
	body := flag.String("body", "", "")
	flag.Parse()
	if *mode == "exit" {
		os.Exit(3)
	}
	b, err := os.ReadFile(*body)
	if err != nil {
		panic(err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		panic(err)
	}
	fmt.Printf("fake: listening on http://%s\n", ln.Addr())
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		switch *mode {
		case "no-login":
			http.NotFound(w, r)
		case "no-credential":
		default:
			http.SetCookie(w, &http.Cookie{Name: "s", Value: "t" + strconv.FormatInt(time.Now().UnixNano(), 10)})
		}
	})
	mux.HandleFunc("GET /v1/me", func(w http.ResponseWriter, r *http.Request) {
		ok := false
		if c, err := r.Cookie("s"); err == nil && strings.HasPrefix(c.Value, "t") {
			issued, err := strconv.ParseInt(c.Value[1:], 10, 64)
			ok = err == nil && time.Since(time.Unix(0, issued)) < lifetime
		}
		switch {
		case *mode == "error":
			http.Error(w, "broken", 500)
		case *mode == "refuse", !ok && *mode != "unchecked":
			http.Error(w, "who are you", 401)
		case *mode == "other-body":
			w.Write([]byte("{}"))
		default:
			w.Header().Set("Content-Type", "application/json")
			w.Write(b)
		}
	})
	http.Serve(ln, mux)
}
`

// fakeBaseline builds fakeBaselineSrc in a directory of the test and returns
// a program named after mode that runs it in that mode with the flags it is
// given.
func fakeBaseline(tb testing.TB, mode string) string {
	tb.Helper()
	dir := tb.TempDir()
	for name, text := range map[string]string{
		"main.go": fakeBaselineSrc,
		"go.mod":  "module fakebaseline\n\ngo 1.26\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	build := exec.Command("go", "build", "-o", "fake", ".")
	build.Dir = dir
	if out, err := build.CombinedOutput(); err != nil {
		tb.Fatalf("building the fake baseline: %v\n%s", err, out)
	}
	wrapper := filepath.Join(dir, mode)
	script := "#!/bin/sh\nexec " + filepath.Join(dir, "fake") + " --mode " + mode + " \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		tb.Fatal(err)
	}
	return wrapper
}

// TestBenchFloorAsServed: the floor as served answers what valet serve's
// GET /v1/me answers, headers and body, so that the difference between
// the two rows of valet bench --processes is valet's own work; and it runs
// in the server valet serve runs in, with its limits (a header sent too
// slowly is cut off).
func TestBenchFloorAsServed(t *testing.T) {
	skipInShort(t)
	s := startServer(t, nil, "--data-dir", t.TempDir())
	tok := signupLogin(t, s.URL, "floor@example.com", "token")["access_token"].(string)
	// As wrk asks, without gzip (which would add Vary to valet's answer).
	plain := map[string]string{"Accept-Encoding": "identity"}
	me := do(t, s.URL, req{Method: "GET", Path: "/v1/me", Bearer: tok, Header: plain})
	expect(t, "GET /v1/me", me, 200)
	body := filepath.Join(t.TempDir(), "me.json")
	if err := os.WriteFile(body, me.Body, 0o600); err != nil {
		t.Fatal(err)
	}
	floor := exec.Command(binPath, "bench-floor", "--as-served", body)
	out, err := floor.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := floor.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = floor.Process.Kill(); _ = floor.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	m := listenRE.FindStringSubmatch(line)
	if err != nil || m == nil {
		t.Fatalf("bench-floor printed %q (%v)", line, err)
	}
	got := do(t, m[1], req{Method: "GET", Path: "/v1/me", Bearer: tok, Header: plain})
	expect(t, "the floor as served", got, 200)
	if !bytes.Equal(got.Body, me.Body) {
		t.Errorf("body %q, want valet's %q", got.Body, me.Body)
	}
	for _, h := range []http.Header{got.Header, me.Header} {
		h.Del("Date")
	}
	if !reflect.DeepEqual(got.Header, me.Header) {
		t.Errorf("headers %v, want valet serve's %v", got.Header, me.Header)
	}
	// ReadHeaderTimeout: a request line left unfinished is cut off.
	c, err := net.Dial("tcp", strings.TrimPrefix(m[1], "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET /v1/me HTTP/1.1\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	start := time.Now()
	n, err := c.Read(make([]byte, 1))
	if n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("an unfinished request got %d bytes, %v; want the connection closed", n, err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("closed after %v, want about 5 s", d)
	}

	if _, stderr, code := valetRun(t, nil, "bench-floor", "--as-served"); code != 2 || !strings.Contains(stderr, "valet bench-floor [--as-served] FILE") {
		t.Errorf("bench-floor without a file: exit %d, %q", code, stderr)
	}
}

// TestBenchParseAnswer: the lean client of valet bench counts an answer
// only when it is a whole 200 on a connection kept open, waits while only
// a part of it has come, and says what was wrong with any other.
func TestBenchParseAnswer(t *testing.T) {
	const ok = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
	for _, tc := range []struct{ name, in, err string }{
		{"200", ok, ""},
		{"200, lower-case header", "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}", ""},
		{"200, empty body", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", ""},
		{"200, empty reason", "HTTP/1.1 200 \r\nContent-Length: 2\r\n\r\n{}", ""},
		{"200, a body with a blank line", "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n{\r\n\r\n}", ""},
		{"401", "HTTP/1.1 401 Unauthorized\r\nContent-Length: 5\r\n\r\nnope.", "GET /v1/me: 401"},
		{"503", "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", "GET /v1/me: 503"},
		{"HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}", "not an HTTP/1.1 answer"},
		{"no status", "hello\r\n\r\n", "not an HTTP/1.1 answer"},
		{"short status line", "HTTP/1.1 2\r\n\r\n", "not an HTTP/1.1 answer"},
		{"no reason, no space", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", "not an HTTP/1.1 answer"},
		{"status not a number", "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n", "not an HTTP/1.1 answer"},
		{"status of four digits", "HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n", "not an HTTP/1.1 answer"},
		{"garbage, no line end", "SSH-2.0-OpenSSH_9.2p1 Debian", "not an HTTP/1.1 answer"},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", "without Content-Length"},
		{"Connection: close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}", "closes the connection"},
		{"negative length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "Content-Length"},
		{"length not a number", "HTTP/1.1 200 OK\r\nContent-Length: 2x\r\n\r\n{}", "Content-Length"},
		{"length too large", "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n{}", "Content-Length"},
		{"header without a colon", "HTTP/1.1 200 OK\r\nContent-Length 2\r\n\r\n{}", "without a colon"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := []byte(tc.in)
			// Every part short of the whole is waited on, or already
			// refused for what it shows.
			for i := range len(b) {
				n, err := parseAnswer(b[:i])
				if n != 0 {
					t.Fatalf("the first %d of %d bytes were taken as a whole answer", i, len(b))
				}
				if err != nil && (tc.err == "" || !strings.Contains(err.Error(), tc.err)) {
					t.Fatalf("the first %d bytes: %v", i, err)
				}
			}
			n, err := parseAnswer(b)
			if tc.err == "" {
				if err != nil || n != len(b) {
					t.Fatalf("parseAnswer: %d, %v; want %d", n, err, len(b))
				}
				// Bytes after it (the next answer) are not its.
				if n, err := parseAnswer(append(b, ok...)); err != nil || n != len(b) {
					t.Errorf("with another answer after it: %d, %v; want %d", n, err, len(b))
				}
				return
			}
			if n != 0 || err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseAnswer: %d, %v; want an error with %q", n, err, tc.err)
			}
		})
	}
}

// TestBenchClient drives servers of the standard library with the lean
// client, unpaced (on Linux, from one thread in epoll) and paced (a
// goroutine a connection): every answer it counts is one the server
// gave, and an answer other than a whole 200 fails the run with what it
// was.
func TestBenchClient(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		err     string
	}{
		{"200", func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer t" || r.URL.Path != "/v1/me" {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			_, _ = w.Write([]byte(`{"user":{}}`))
		}, ""},
		{"401", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "who are you", http.StatusUnauthorized) }, "GET /v1/me: 401"},
		{"close", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "close")
			_, _ = w.Write([]byte("{}"))
		}, "closes the connection"},
		{"chunked", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte("{"))
			w.(http.Flusher).Flush()
			_, _ = w.Write([]byte("}"))
		}, "without Content-Length"},
	} {
		for _, rate := range []float64{0, 2000} {
			t.Run(fmt.Sprintf("%s, rate %v", tc.name, rate), func(t *testing.T) {
				var served atomic.Int64
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					served.Add(1)
					tc.handler(w, r)
				}))
				defer srv.Close()
				target := &procTarget{url: srv.URL, header: "Authorization: Bearer t"}
				rps, n, err := driveClient(context.Background(), target, 300*time.Millisecond, 4, rate)
				if tc.err != "" {
					if err == nil || !strings.Contains(err.Error(), tc.err) {
						t.Fatalf("driveClient: %v, want an error with %q", err, tc.err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				srv.Close() // every handler has returned
				// The server served every request counted, and at most one
				// more a connection, left unanswered when the run ended.
				if s := served.Load(); n <= 0 || n > s || s > n+4 {
					t.Errorf("the client counted %d answers, the server served %d", n, s)
				}
				if rps <= 0 || rate > 0 && rps > rate*1.5 {
					t.Errorf("%.0f req/s at rate %v", rps, rate)
				}
			})
		}
	}
}

// TestBenchClientRuntime: the unpaced client's thread keeps its P while it
// waits in epoll, which the runtime does not hear of. With a single P, the
// rest of the process (here the server) still runs beside it, whenever the
// runtime preempts the client's goroutine (after some 10 ms); a collection
// then does not finish within the drive. With two, collections that stop
// the world finish during it.
func TestBenchClientRuntime(t *testing.T) {
	for _, procs := range []int{1, 2} {
		t.Run(fmt.Sprintf("GOMAXPROCS=%d", procs), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = w.Write([]byte(`{"user":{}}`))
			}))
			defer srv.Close()
			stop, stopped := make(chan struct{}), make(chan struct{})
			var collections atomic.Int64
			go func() {
				defer close(stopped)
				for {
					select {
					case <-stop:
						return
					default:
						runtime.GC()
						collections.Add(1)
					}
				}
			}()
			target := &procTarget{url: srv.URL}
			_, n, err := driveClient(context.Background(), target, 300*time.Millisecond, 4, 0)
			// Only the collections finished before the drive ended count.
			gcs := collections.Load()
			close(stop)
			<-stopped
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d answers, %d collections", n, gcs)
			// The server's goroutines ran on the P or Ps the client shares.
			if n == 0 {
				t.Errorf("no answers in the drive")
			}
			if procs > 1 && gcs == 0 {
				t.Errorf("no collection finished in the drive")
			}
		})
	}
}

// TestBenchRunBound: the access tokens of the process bench outlast its
// longest run. A run of 15 servers, five rounds of 3 s, lasted over 15
// minutes and failed when the token target's token expired.
func TestBenchRunBound(t *testing.T) {
	for _, tc := range []struct {
		n, rounds int
		dur       time.Duration
		atLeast   time.Duration
	}{
		{15, 5, 3 * time.Second, 15 * 5 * 6 * 3 * time.Second},
		{15, 3, 3 * time.Second, 15 * time.Minute},
		{2, 1, 300 * time.Millisecond, 15 * time.Minute},
		{17, loadtest.MaxRounds, loadtest.MaxDuration, 17 * loadtest.MaxRounds * 6 * loadtest.MaxDuration},
	} {
		if got := runBound(tc.n, tc.rounds, tc.dur); got < tc.atLeast || got < 15*time.Minute {
			t.Errorf("runBound(%d, %d, %v) = %v, want at least %v and the default 15m", tc.n, tc.rounds, tc.dur, got, tc.atLeast)
		}
	}
}
