package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/valetauth/valet/internal/testenv"
)

// valetRun runs the binary with args and env (added to the test's own),
// and returns its output and exit code.
func valetRun(tb testing.TB, env []string, args ...string) (stdout, stderr string, code int) {
	tb.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = tb.TempDir()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.Stdin = strings.NewReader("")
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		tb.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

// TestHelp: -h and --help print help on stdout and exit 0 on every
// command and subcommand.
func TestHelp(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string // a line the help holds
	}{
		{[]string{"-h"}, "valet serve   [flags]"},
		{[]string{"--help"}, "valet serve   [flags]"},
		{[]string{"help"}, "valet serve   [flags]"},
		{[]string{"serve", "-h"}, "  --addr string  (VALET_ADDR, default 127.0.0.1:8080)"},
		{[]string{"serve", "--help"}, "  --access-ttl duration  (VALET_ACCESS_TTL, default 15m)"},
		{[]string{"serve", "--addr", "x", "-h"}, "Usage: valet serve [flags]"},
		{[]string{"user", "-h"}, "valet user create --email E"},
		{[]string{"user", "--help"}, "valet user create --email E"},
		{[]string{"user", "create", "-h"}, "  --email string  (VALET_EMAIL)"},
		{[]string{"user", "list", "-h"}, "  --q string  (VALET_Q)"},
		{[]string{"user", "role", "--help"}, "  --role list  (VALET_ROLE)"},
		{[]string{"user", "disable", "-h"}, "  --enable  (VALET_ENABLE, default false)"},
		{[]string{"user", "import", "-h"}, "dry-run"},
		{[]string{"user", "export", "-h"}, "config"},
		{[]string{"client", "-h"}, "valet client create --name N --redirect-uri URI"},
		{[]string{"client", "create", "-h"}, "  --skip-consent  (VALET_SKIP_CONSENT, default false)"},
		{[]string{"client", "delete", "--help"}, "  --id string  (VALET_ID)"},
		{[]string{"keys", "-h"}, "valet keys rotate"},
		{[]string{"keys", "rotate", "-h"}, "  --alg string  (VALET_ALG, default EdDSA)"},
		{[]string{"keys", "list", "--help"}, "Usage: valet keys list [flags]"},
		{[]string{"migrate", "-h"}, "  --db string  (VALET_DB)"},
		{[]string{"bench", "-h"}, "Usage: valet bench [flags]"},
		{[]string{"bench", "--help"}, "  --rounds int  (VALET_ROUNDS, default 3)"},
		{[]string{"version", "-h"}, "Usage: valet version"},
		{[]string{"version", "--help"}, "Usage: valet version"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := valetRun(t, nil, tc.args...)
			if code != 0 {
				t.Errorf("exit %d, want 0; stderr %s", code, stderr)
			}
			// user import and export parse their flags themselves, and so
			// print their help where the flag package does.
			if out := stdout + stderr; !strings.Contains(out, tc.want) {
				t.Errorf("help lacks %q:\n%s", tc.want, out)
			}
		})
	}
}

// TestFlagMistakes: a mistyped or bad flag gives one line, with a
// suggestion when one is near, and exit 2; never the whole flag list.
func TestFlagMistakes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--adr", "x"}, `valet: unknown flag --adr (did you mean --addr?); valet serve -h lists the flags`},
		{[]string{"serve", "-adr", "x"}, `valet: unknown flag --adr (did you mean --addr?); valet serve -h lists the flags`},
		{[]string{"serve", "--sesions", "memory"}, `valet: unknown flag --sesions (did you mean --sessions?); valet serve -h lists the flags`},
		{[]string{"serve", "--acess-ttl=1m"}, `valet: unknown flag --acess-ttl (did you mean --access-ttl?); valet serve -h lists the flags`},
		{[]string{"serve", "--colour", "blue"}, `valet: unknown flag --colour; valet serve -h lists the flags`},
		{[]string{"user", "create", "--emial", "a@example.com"}, `valet: unknown flag --emial (did you mean --email?); valet user create -h lists the flags`},
		{[]string{"migrate", "--data-dri", "x"}, `valet: unknown flag --data-dri (did you mean --data-dir?); valet migrate -h lists the flags`},
		{[]string{"keys", "list", "--dbb", "x"}, `valet: unknown flag --dbb (did you mean --db?); valet keys list -h lists the flags`},
		{[]string{"bench", "--duraton", "1s"}, `valet: unknown flag --duraton (did you mean --duration?); valet bench -h lists the flags`},
		{[]string{"serve", "--addr"}, `valet: --addr needs a value; valet serve -h lists the flags`},
		{[]string{"serve", "---addr", "x"}, `valet: bad flag syntax: ---addr; valet serve -h lists the flags`},
		{[]string{"serve", "stray"}, `valet: unexpected argument "stray"; valet serve -h lists the flags`},
		{[]string{"serve", "--access-ttl", "5"}, `valet: --access-ttl: "5" is not a duration; write it like 15m, 1h30m or 10s`},
		{[]string{"serve", "--access-ttl", "-5m"}, `valet: --access-ttl: "-5m" is negative; a duration here is 0 or more`},
		{[]string{"serve", "--cookie-secure=maybe"}, `valet: --cookie-secure: "maybe" is not true or false`},
		{[]string{"serve", "--pg-max-conns", "ten"}, `valet: --pg-max-conns: "ten" is not a whole number`},
		{[]string{"serve", "--pg-max-conns", "99999999999999999999"}, `valet: --pg-max-conns: "99999999999999999999" is too large`},
		{[]string{"serve", "--argon2-memory", "-1"}, `valet: --argon2-memory: "-1" is negative; want 0 or more`},
		{[]string{"serve", "--trusted-proxies", "10.0.0.0/8,nope"}, `valet: --trusted-proxies: Trusted proxy "nope" is neither an address nor a CIDR.`},
		{[]string{"serve", "--trusted-origins", "app.example.com"}, `valet: --trusted-origins: trusted origin "app.example.com": want scheme://host[:port], e.g. https://app.example.com`},
		{[]string{"serve", "--access-rule", "admin"}, `valet: --access-rule: Access rule "admin": want [METHOD,...] HOST/PATH ROLE[,ROLE...], e.g. "*.example.com/admin admin".`},
		{[]string{"serve", "--throttle-signup", "5"}, `valet: --throttle-signup: Limit "5": want N/DURATION, e.g. 5/15m.`},
		{[]string{"serv"}, `valet: unknown command "serv" (did you mean "serve"?); valet -h lists the commands`},
		{[]string{"migrat"}, `valet: unknown command "migrat" (did you mean "migrate"?); valet -h lists the commands`},
		{[]string{"frobnicate"}, `valet: unknown command "frobnicate"; valet -h lists the commands`},
		{[]string{"keys"}, `valet: valet keys: want rotate or list; valet keys -h tells more`},
		{[]string{"version", "extra"}, `valet: valet version takes no arguments, not "extra"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			_, stderr, code := valetRun(t, nil, tc.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if got := strings.TrimSuffix(stderr, "\n"); got != tc.want {
				t.Errorf("stderr:\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestCLIEnvErrors: a bad environment value names its variable; a flag
// on the command line means the variable is not read at all.
func TestCLIEnvErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string // "" for success
	}{
		{"duration", []string{"VALET_ACCESS_TTL=soon"}, []string{"serve"}, `valet: environment variable VALET_ACCESS_TTL: "soon" is not a duration; write it like 15m, 1h30m or 10s`},
		{"empty duration", []string{"VALET_ACCESS_TTL="}, []string{"serve"}, `valet: environment variable VALET_ACCESS_TTL: "" is not a duration; write it like 15m, 1h30m or 10s`},
		{"bool", []string{"VALET_COOKIE_SECURE=sometimes"}, []string{"serve"}, `valet: environment variable VALET_COOKIE_SECURE: "sometimes" is not true or false`},
		{"number", []string{"VALET_PG_MAX_CONNS=many"}, []string{"migrate"}, `valet: environment variable VALET_PG_MAX_CONNS: "many" is not a whole number`},
		{"proxy list", []string{"VALET_TRUSTED_PROXIES=10.0.0.0/8,10.0.0.0/33"}, []string{"serve"}, `valet: environment variable VALET_TRUSTED_PROXIES: Trusted proxy "10.0.0.0/33" is neither an address nor a CIDR.`},
		{"rule list", []string{"VALET_ACCESS_RULE=a.example.com/x admin;bad"}, []string{"serve"}, `valet: environment variable VALET_ACCESS_RULE: Access rule "bad": want [METHOD,...] HOST/PATH ROLE[,ROLE...], e.g. "*.example.com/admin admin".`},
		{"tiers", []string{"VALET_THROTTLE_LOGIN_IP=5/never"}, []string{"serve"}, `valet: environment variable VALET_THROTTLE_LOGIN_IP: Limit "5/never": "never" is not a duration.`},
		{"user command", []string{"VALET_ARGON2_ITERATIONS=two"}, []string{"user", "list"}, `valet: environment variable VALET_ARGON2_ITERATIONS: "two" is not a whole number`},
		{"config file missing", []string{"VALET_CONFIG=/nonexistent/valet.yaml"}, []string{"migrate"}, `valet: cannot read the config file /nonexistent/valet.yaml: no such file or directory`},
		{"flag beats a bad variable", []string{"VALET_PG_MAX_CONNS=many"}, []string{"migrate", "--pg-max-conns", "5"}, ""},
		{"a command skips variables it has no flag for", []string{"VALET_COOKIE_SECURE=sometimes"}, []string{"migrate"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append(tc.args, "--data-dir", t.TempDir())
			stdout, stderr, code := valetRun(t, tc.env, args...)
			if tc.want == "" {
				if code != 0 {
					t.Fatalf("exit %d: %s", code, stderr)
				}
				if !strings.Contains(stdout, "database is up to date") {
					t.Errorf("stdout %q", stdout)
				}
				return
			}
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if got := strings.TrimSuffix(stderr, "\n"); got != tc.want {
				t.Errorf("stderr:\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestVersion: valet version prints the module version ("(devel)" from a
// checkout without version control information) and the Go version.
func TestVersion(t *testing.T) {
	t.Parallel()
	want := regexp.MustCompile(`^valet (\(devel\)|v\S+)( \(commit [0-9a-f]+(, modified)?\))? ` +
		regexp.QuoteMeta(runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH) + "\n$")
	for _, args := range [][]string{{"version"}, {"--version"}} {
		stdout, stderr, code := valetRun(t, nil, args...)
		if code != 0 || stderr != "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
		if !want.MatchString(stdout) {
			t.Errorf("%v: %q does not match %s", args, stdout, want)
		}
	}
}

// TestCLIUnreachable: a Postgres or Redis that cannot be reached is one
// line that says why, and nothing else reaches stderr (go-redis logs each
// failed dial on its own unless told not to).
func TestCLIUnreachable(t *testing.T) {
	t.Parallel()
	type unreachable struct {
		name string
		args []string
		want string // a regular expression for the whole of stderr
	}
	cases := []unreachable{
		{"postgres host does not resolve", []string{"--db", "postgres://valet@nohost.invalid/valet"},
			`valet: cannot open the Postgres database at nohost\.invalid:5432: (the host name nohost\.invalid does not resolve|cannot look up the host name nohost\.invalid: .*)`},
		{"postgres refuses", []string{"--db", "postgres://valet@127.0.0.1:1/valet"},
			`valet: cannot open the Postgres database at 127\.0\.0\.1:1: connection refused \(nothing listens there\)`},
		{"redis refuses", []string{"--sessions", "redis://127.0.0.1:1/0"},
			`valet: cannot reach Redis at 127\.0\.0\.1:1: connection refused \(nothing listens there\)`},
		{"redis host does not resolve", []string{"--sessions", "redis://nohost.invalid:6379/0"},
			`valet: cannot reach Redis at nohost\.invalid:6379: (the host name nohost\.invalid does not resolve|cannot look up the host name nohost\.invalid: .*)`},
		{"postgres URL unreadable", []string{"--db", "postgres://valet:secret@[::1/valet"},
			`valet: --db: cannot read the Postgres URL: .*`},
	}
	if pg := os.Getenv(testenv.Postgres); pg != "" {
		u, err := url.Parse(pg)
		if err != nil {
			t.Fatal(err)
		}
		u.Path = "/valet_no_such_database"
		cases = append(cases, unreachable{"postgres database missing", []string{"--db", u.String()},
			`valet: cannot open the Postgres database at [^ ]+: the server says: database "valet_no_such_database" does not exist`})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir()}, tc.args...)
			_, stderr, code := valetRun(t, nil, args...)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			if !regexp.MustCompile(`^` + tc.want + "\n$").MatchString(stderr) {
				t.Errorf("stderr:\n%s\nwant one line matching %s", stderr, tc.want)
			}
			if strings.Contains(stderr, "secret") {
				t.Errorf("stderr shows the password: %s", stderr)
			}
		})
	}
}

// startWithOutput runs valet serve with args, waits until it answers
// /healthz (by then its start-up lines are written), stops it with SIGTERM
// and returns what it wrote.
func startWithOutput(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(binPath, append([]string{"serve", "--addr", "127.0.0.1:0", "--argon2-memory", "8192", "--argon2-iterations", "1"}, args...)...)
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var out strings.Builder
	deadline := time.After(60 * time.Second)
	for base := ""; base == ""; {
		select {
		case l, ok := <-lines:
			if !ok {
				_ = cmd.Wait()
				t.Fatalf("valet exited: %s", errOut.String())
			}
			out.WriteString(l + "\n")
			if m := listenRE.FindStringSubmatch(l); m != nil {
				base = m[1]
			}
		case <-deadline:
			_ = cmd.Process.Kill()
			t.Fatal("valet did not listen within 60s")
		}
		if base != "" {
			expect(t, "healthz", do(t, base, req{Path: "/healthz"}), 200)
		}
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	for l := range lines {
		out.WriteString(l + "\n")
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("valet serve: %v\n%s", err, errOut.String())
	}
	return out.String(), errOut.String()
}

// TestCLIFirstStart: the first start says where the data lives and how to
// create the first administrator; once there is one, it says neither.
// Every line on stderr is valet's JSON log, with durations as text.
func TestCLIFirstStart(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	stdout, stderr := startWithOutput(t, "--data-dir", dir)
	for _, want := range []string{
		"valet: created the database " + filepath.Join(dir, "valet.db") + "; it holds the users, sessions and signing keys\n",
		"valet: no users yet; create the first administrator with: valet user create --email you@example.com --role admin --data-dir " + dir + " (it reads the password from standard input)\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("first start: stdout lacks %q:\n%s", want, stdout)
		}
	}
	checkLogLines(t, stderr)

	// The command it suggests works as written.
	cmd := exec.Command(binPath, "user", "create", "--email", "you@example.com", "--role", "admin", "--data-dir", dir, "--argon2-memory", "8192", "--argon2-iterations", "1")
	cmd.Stdin = strings.NewReader("a long admin passphrase\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("valet user create: %v\n%s", err, out)
	}
	stdout, stderr = startWithOutput(t, "--data-dir", dir)
	for _, unwanted := range []string{"created the database", "no users yet"} {
		if strings.Contains(stdout, unwanted) {
			t.Errorf("second start says %q:\n%s", unwanted, stdout)
		}
	}
	checkLogLines(t, stderr)
}

// checkLogLines fails unless every line of stderr is a JSON log record
// whose durations are written as text ("2s"), not as nanoseconds.
func checkLogLines(t *testing.T, stderr string) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("a line on stderr that is not valet's log: %s", line)
			continue
		}
		if v, ok := rec["max_stale"]; ok {
			if s, ok := v.(string); !ok || s != "2s" {
				t.Errorf("max_stale logged as %v, want \"2s\": %s", v, line)
			}
		}
	}
}

// TestCLILogDurations: the log writes durations as text, in groups too.
func TestCLILogDurations(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		log  func(*slog.Logger)
		want string
	}{
		{"duration", func(l *slog.Logger) { l.Info("m", "ttl", 15*time.Minute) }, `"ttl":"15m0s"`},
		{"short duration", func(l *slog.Logger) { l.Info("m", "took", 1500*time.Microsecond) }, `"took":"1.5ms"`},
		{"in a group", func(l *slog.Logger) { l.Info("m", slog.Group("g", "wait", time.Second)) }, `"g":{"wait":"1s"}`},
		{"With", func(l *slog.Logger) { l.With("stale", 2*time.Second).Info("m") }, `"stale":"2s"`},
		{"numbers untouched", func(l *slog.Logger) { l.Info("m", "n", 42) }, `"n":42`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			l, err := newLogger(&b, "info")
			if err != nil {
				t.Fatal(err)
			}
			tc.log(l)
			if got := b.String(); !strings.Contains(got, tc.want) {
				t.Errorf("got %s, want it to hold %s", got, tc.want)
			}
		})
	}
}

// TestCLIOutageLogs: while Redis is down, stderr holds valet's own log
// records only: no line from go-redis's logger.
func TestCLIOutageLogs(t *testing.T) {
	skipInShort(t)
	redis := startPrivateRedis(t)
	s := startServer(t, nil, "--data-dir", t.TempDir(), "--sessions", redis.URL(), "--store-timeout", "300ms", "--log-level", "debug")
	expect(t, "signup", do(t, s.URL, req{Method: "POST", Path: "/v1/signup", Body: map[string]string{
		"email": "quiet@example.com", "password": "correct horse battery"}}), 201)
	redis.kill()
	for range 5 {
		expect(t, "login while Redis is down", do(t, s.URL, req{Method: "POST", Path: "/v1/login", Body: map[string]string{
			"email": "quiet@example.com", "password": "correct horse battery"}}), 503, "unavailable")
	}
	time.Sleep(time.Second)
	s.stop()
	logs := s.logs()
	if strings.Contains(logs, "redis: ") && strings.Contains(logs, "pool.go") {
		t.Errorf("go-redis wrote to stderr:\n%s", logs)
	}
	checkLogLines(t, logs)
}
