package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var updateDocs = flag.Bool("update", false, "rewrite docs/config.md from the flags of valet serve")

const configDocPath = "../../docs/config.md"

// configExample is the example file that docs/config.md shows, and that
// TestConfigDocExample loads from the document.
const configExample = `# valet.yaml: valet serve --config valet.yaml
addr: 127.0.0.1:9000
mode: hybrid
data-dir: /var/lib/valet
sessions: db

access-ttl: 10m
session-idle: 12h
cookie-secure: true

# Reverse proxies whose X-Forwarded-* headers are believed.
trusted-proxies: [10.0.0.0/8, 192.168.1.10]
trusted-origins:
  - https://app.example.com

# Forward auth: quote a rule that starts with *.
access-rule:
  - "*.example.com/admin admin"
  - "POST,DELETE app.example.com/orders clerk"

throttle-login-ip: [50/15m, 500/24h]
log-level: info
`

// configDoc is docs/config.md: how settings are given, the example file,
// and a table made from fs.
func configDoc(fs *flag.FlagSet) string {
	var b strings.Builder
	b.WriteString(`# Configuring valet serve

<!-- Generated from the flags of valet serve by "go generate ./cmd/valet"; do not edit. -->

Each setting of ` + "`valet serve`" + ` can be given in three places; where several
give it, the first of these wins:

1. a flag: ` + "`--addr 127.0.0.1:9000`" + `;
2. an environment variable: ` + "`VALET_ADDR=127.0.0.1:9000`" + `;
3. the YAML file that ` + "`--config valet.yaml`" + ` (or ` + "`VALET_CONFIG`" + `) names: ` + "`addr: 127.0.0.1:9000`" + `.

` + "`valet user`, `valet keys` and `valet migrate`" + ` read the same variables and the
same file: they take the settings they use (the database, the tokens) and
check and skip the others, so one file serves every command.

## The file

- The keys are the flag names, without ` + "`--`" + `.
- Durations are Go durations: ` + "`15m`, `1h30m`, `10s`" + `.
- Booleans are YAML booleans, unquoted: ` + "`true`, `false`" + `.
- A setting of type *list* takes a YAML list, or one comma-separated value
  (` + "`trusted-proxies: [10.0.0.0/8, 192.168.1.10]`" + `). Each item of ` + "`access-rule`" + ` is one
  rule; in a flag or a variable, rules are separated by ` + "`;`" + `.
- A setting of type *tiers* takes N/DURATION limits, as a list or
  comma-separated (` + "`throttle-signup: [20/1h, 100/24h]`" + `), or ` + "`off`" + `.
- Quote a value that starts with ` + "`*`" + `, which YAML reads as an alias:
  ` + "`\"*.example.com/admin admin\"`" + `.
- An unknown key, a value of the wrong type and a YAML mistake stop valet
  with the file, the line and the key:
  ` + "`valet.yaml:7: unknown setting \"adr\" (did you mean \"addr\"?)`" + `.
- Every value in the file is checked, even one that a flag or a variable
  overrides.

Before YAML, the file held ` + "`name = value`" + ` lines. valet refuses such a file
and says how to convert it: write each line as ` + "`name: value`" + `, quote values
that start with ` + "`*`" + `, and keep lists comma-separated or write them as ` + "`[a, b]`" + `.

## Example

` + "```yaml\n" + configExample + "```" + `

## Settings

| Setting | Environment | Type | Default | Meaning |
|---|---|---|---|---|
`)
	fs.VisitAll(func(f *flag.Flag) {
		_, usage := flag.UnquoteUsage(f)
		if f.Name == "config" {
			usage += "; a flag or a variable only, not a key of the file"
		}
		def := displayDefault(f)
		if def != "" {
			def = "`" + def + "`"
		}
		fmt.Fprintf(&b, "| `--%s` | `%s` | %s | %s | %s |\n", f.Name, envName(f.Name), docKind(kindOf(f.Value)), def,
			markdownCell.Replace(usage))
	})
	fmt.Fprintf(&b, `
## Memory

valet serve lets the Go heap grow to %d MiB before it collects garbage;
once what is live is half of that or more, it collects as Go does, when
the heap has doubled. Under load a heap of a few megabytes was collected
many times a second, which cost 10–31%% of a request's CPU in the runs
measured (see
[BENCHMARKS.md](BENCHMARKS.md#garbage-collection-the-heap-floor)). valet
serve starts in about 33 MiB of resident memory and holds about 100 MiB
under load (40 MiB with Go's default). The Go runtime's own variables hold
over this: `+"`GOMEMLIMIT`"+` (`+"`GOMEMLIMIT=80MiB`"+`) bounds the heap where
memory is short, and `+"`GOGC`"+`, when set (`+"`GOGC=100`"+` is Go's default),
turns the floor off.
`, heapFloor>>20)
	return b.String()
}

// markdownCell escapes what Markdown would read as markup in a table cell.
var markdownCell = strings.NewReplacer("|", `\|`, "*", `\*`, "<", "&lt;", ">", "&gt;")

func docKind(k settingKind) string {
	switch k {
	case kindBool:
		return "true/false"
	case kindInt, kindUint:
		return "number"
	case kindLimits:
		return "tiers"
	}
	return k.String()
}

// TestConfigDoc fails when docs/config.md is not what the flags of valet
// serve make; go generate ./cmd/valet (or this test with -update) writes it.
func TestConfigDoc(t *testing.T) {
	fs, _ := newServeFlagSet()
	want := configDoc(fs)
	if *updateDocs {
		if err := os.WriteFile(configDocPath, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(configDocPath)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("docs/config.md is out of date with the flags of valet serve: run go generate ./cmd/valet\n%s", firstDiff(string(got), want))
	}
}

// firstDiff shows the first line where got and want differ.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d:\n got: %s\nwant: %s", i+1, gl, wl)
		}
	}
	return ""
}

var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// docExample returns the YAML example of docs/config.md, written to a file.
func docExample(tb testing.TB) string {
	tb.Helper()
	doc, err := os.ReadFile(configDocPath)
	if err != nil {
		tb.Fatal(err)
	}
	m := yamlBlock.FindSubmatch(doc)
	if m == nil {
		tb.Fatal("docs/config.md has no yaml example")
	}
	path := filepath.Join(tb.TempDir(), "valet.yaml")
	if err := os.WriteFile(path, m[1], 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// TestConfigDocExample loads the example of docs/config.md, as the document
// shows it, and checks every setting it makes; then runs the real binary on
// it (with --addr and --data-dir given on the command line, which beat the
// file).
func TestConfigDocExample(t *testing.T) {
	path := docExample(t)
	fs, c := newServeFlagSet()
	if err := parseFlags(fs, []string{"--config", path}, &c.sf.config); err != nil {
		t.Fatalf("the documented example: %v", err)
	}
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"addr", c.addr, "127.0.0.1:9000"},
		{"mode", c.vf.mode, "hybrid"},
		{"data-dir", c.sf.dataDir, "/var/lib/valet"},
		{"sessions", c.sf.sessions, "db"},
		{"access-ttl", c.vf.accessTTL, 10 * time.Minute},
		{"session-idle", c.vf.sessionIdle, 12 * time.Hour},
		{"cookie-secure", c.cookieSecure, true},
		{"trusted-proxies", strings.Join(c.trustedProxies, " "), "10.0.0.0/8 192.168.1.10"},
		{"trusted-origins", strings.Join(c.trustedOrigins, " "), "https://app.example.com"},
		{"access-rule", len(c.accessRules), 2},
		{"access-rule 2 methods", strings.Join(c.accessRules[1].Methods, ","), "POST,DELETE"},
		{"throttle-login-ip", c.tf.loginIP.String(), "50/15m0s,500/24h0m0s"},
		{"log-level", c.logLevel, "info"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}

	s := startServer(t, nil, "--config", path, "--data-dir", t.TempDir())
	expect(t, "healthz", do(t, s.URL, req{Path: "/healthz"}), 200)
	// The file's mode is the default of a login that names none.
	expect(t, "signup", do(t, s.URL, req{Method: "POST", Path: "/v1/signup", Body: map[string]string{
		"email": "doc@example.com", "password": "correct horse battery"}}), 201)
	r := do(t, s.URL, req{Method: "POST", Path: "/v1/login", Body: map[string]string{
		"email": "doc@example.com", "password": "correct horse battery"}})
	expect(t, "login", r, 200)
	if m := r.json(t); m["access_token"] == nil || m["session"] == nil {
		t.Fatalf("a login without a mode is not hybrid under the example's mode: hybrid: %s", r.Body)
	}
}

// TestConfigDocTable checks that the table of docs/config.md has a row for
// every flag of valet serve, each with its variable.
func TestConfigDocTable(t *testing.T) {
	doc, err := os.ReadFile(configDocPath)
	if err != nil {
		t.Fatal(err)
	}
	fs, _ := newServeFlagSet()
	var missing []string
	fs.VisitAll(func(f *flag.Flag) {
		if !bytes.Contains(doc, []byte(fmt.Sprintf("| `--%s` | `%s` |", f.Name, envName(f.Name)))) {
			missing = append(missing, f.Name)
		}
	})
	if len(missing) > 0 {
		t.Errorf("docs/config.md lacks rows for %s", strings.Join(missing, ", "))
	}
	if got := yamlBlock.FindAllIndex(doc, -1); len(got) != 1 {
		t.Errorf("docs/config.md has %d yaml examples, want the one that TestConfigDocExample loads", len(got))
	}
}
