package main

import (
	"bytes"
	"context"
	"os"
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
// target is a server process of its own, and each row has its figures.
func TestBenchProcesses(t *testing.T) {
	skipInShort(t)
	out, stderr, code := valetRun(t, nil, "bench", "--processes", "--duration", "1s", "--rounds", "1", "--quiet")
	if code != 0 {
		t.Fatalf("valet bench --processes: exit %d\n%s\n%s", code, out, stderr)
	}
	for _, target := range []string{"floor (bare net/http, same JSON)", "session, SQLite (the default)", "token", "hybrid"} {
		var row string
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "| "+target+" |") {
				row = line
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
}
