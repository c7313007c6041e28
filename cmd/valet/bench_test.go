package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/valetauth/valet/internal/loadtest"
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
// target is a server process of its own, and each row has its figures. A
// baseline from --compare (here a stdlib stand-in; bench/servers_test.go
// runs the real ones) is one more row.
func TestBenchProcesses(t *testing.T) {
	skipInShort(t)
	baseline := fakeBaseline(t, "good")
	out, stderr, code := valetRun(t, nil, "bench", "--processes", "--duration", "1s", "--rounds", "1", "--quiet",
		"--compare", "stand-in="+baseline)
	if code != 0 {
		t.Fatalf("valet bench --processes: exit %d\n%s\n%s", code, out, stderr)
	}
	for _, target := range []string{"floor (bare net/http, same JSON)", "session, SQLite (the default)", "token", "hybrid", "stand-in (good)"} {
		var row string
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "| "+target+" |") && row == "" {
				row = line // the first table's
			}
		}
		cells := strings.Split(row, "|")
		if len(cells) < 6 {
			t.Fatalf("no row for %s in:\n%s", target, out)
		}
		for _, c := range cells[2:6] {
			if v, err := strconv.ParseFloat(strings.TrimSpace(c), 64); err != nil || v <= 0 {
				t.Fatalf("row %q has a cell %q that is no positive figure", row, c)
			}
		}
	}
	// The second table has every target at one rate, with positive
	// figures (whether each kept up depends on the machine's load, which a
	// test must not assert).
	first, paced, ok := strings.Cut(out, "At the same load: every target driven at ")
	if !ok {
		t.Fatalf("no table at the same load in:\n%s", out)
	}
	rateText, _, _ := strings.Cut(paced, " ")
	rate, err := strconv.ParseFloat(rateText, 64)
	if err != nil || rate <= 0 {
		t.Fatalf("the rate of the same-load table is %q", rateText)
	}
	rows := 0
	for _, line := range strings.Split(paced, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) != 6 || strings.Contains(line, "---") || strings.Contains(line, "| target |") {
			continue
		}
		rows++
		for _, c := range cells[2:5] {
			if v, err := strconv.ParseFloat(strings.TrimSpace(c), 64); err != nil || v <= 0 {
				t.Fatalf("row %q has a cell %q that is no positive figure", line, c)
			}
		}
	}
	if want := strings.Count(first, "\n| ") - 2; rows != want {
		t.Errorf("%d rows at the same load, want one a target (%d):\n%s", rows, want, paced)
	}
}

// TestBenchCompareRefuses: a baseline that answers an error, answers
// another body, or answers without checking the credential fails the bench
// with its name, and is never measured.
func TestBenchCompareRefuses(t *testing.T) {
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
// GET /v1/me only with it, as a baseline must.
const fakeBaselineSrc = `package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
)

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
			http.SetCookie(w, &http.Cookie{Name: "s", Value: "secret"})
		}
	})
	mux.HandleFunc("GET /v1/me", func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("s")
		ok := err == nil && c.Value == "secret"
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
