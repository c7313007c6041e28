package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/valetauth/valet/internal/loadtest"
	"github.com/valetauth/valet/password"
)

const benchUsage = `Usage: valet bench [flags]

Drives authenticated GET /v1/me at a fixed concurrency for a fixed time
against a bare net/http floor and valet in session mode (memory, SQLite,
Postgres and Redis stores), token mode and hybrid mode, all started in this
process on 127.0.0.1; times hybrid revocation across three nodes; compares
login throughput with raw argon2id; and sends a burst of logins while
watching memory. Prints a Markdown table (and with --svg draws a chart).

With --processes it measures what a user can run instead: each target is a
valet serve process of its own (SQLite sessions, token, hybrid; Postgres and
Redis sessions with --postgres and --redis), beside a bare net/http floor
process and the same floor in valet serve's server (its response headers,
timeouts and heap floor), driven by wrk when it is installed (else by a lean
HTTP/1.1 client in this process), with each server's own CPU per request
read from /proc and the load generator's beside it; the floor runs again
before and after every target, and each ratio is to the floor's figures
just around the target. Then every target again at one rate, 0.6 of the
slowest one's, since a server's CPU per request falls as its rate rises.
--go-default-gc adds each valet target and the floor as served once more
under Go's default garbage collection (GOGC=100). --compare adds baseline
servers that are not valet to the same rounds: name=path, each program
started with --addr 127.0.0.1:0 --body FILE, answering GET /v1/me with the
bytes of FILE once the credential from its POST /login is checked, which
is asked for again before each drive (see bench/README.md for two:
alexedwards/scs and golang-jwt).

With --url it drives your deployment instead, logging in with --email and
the password read from standard input. Only loopback addresses are driven
unless --allow-remote is given.

`

func benchCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("valet bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), benchUsage)
		writeFlagHelp(fs.Output(), fs)
	}
	var (
		config      string
		cfg         loadtest.Config
		targets     listFlag
		urls        listFlag
		out, svg    string
		argon       [3]uint
		quiet       bool
		sessions    int
		revocations int
		burst       int
		processes   bool
		compare     listFlag
		goGC        bool
	)
	fs.StringVar(&config, "config", "", "read settings from this YAML `FILE`, whose keys are the flag names")
	fs.DurationVar(&cfg.Duration, "duration", 2*time.Second, "how long each target is driven in each round (at most 5m; with --processes and wrk in $PATH, whole seconds)")
	fs.IntVar(&cfg.Rounds, "rounds", 3, "rounds; targets are interleaved within each (at most 20)")
	fs.IntVar(&cfg.Concurrency, "concurrency", 32, "clients sending requests at once (at most 1024)")
	fs.Var(&targets, "targets", "in-process targets to run, comma-separated (default all: "+strings.Join(loadtest.Targets, ",")+")")
	fs.StringVar(&cfg.PostgresURL, "postgres", "", "Postgres URL for the postgres target and the hybrid cluster (default $VALET_TEST_POSTGRES)")
	fs.StringVar(&cfg.RedisURL, "redis", "", "Redis URL for the redis target and the hybrid cluster (default $VALET_TEST_REDIS)")
	fs.IntVar(&sessions, "live-sessions", 100_000, "sessions created to measure what the server holds for them; 0 skips")
	fs.IntVar(&revocations, "revocations", 50, "hybrid logouts timed across three nodes; 0 skips")
	fs.BoolVar(&cfg.SkipLogin, "skip-login", false, "do not measure login throughput")
	fs.IntVar(&burst, "burst", 1000, "clients logging in at once while memory is watched; 0 skips")
	fs.UintVar(&argon[0], "argon2-memory", password.DefaultMemory, "argon2id memory in KiB for the login measures")
	fs.UintVar(&argon[1], "argon2-iterations", password.DefaultIterations, "argon2id iterations for the login measures")
	fs.UintVar(&argon[2], "argon2-parallelism", password.DefaultParallelism, "argon2id lanes for the login measures")
	fs.Var(&urls, "url", "drive this deployment instead (repeat for the nodes of a cluster)")
	fs.StringVar(&cfg.Email, "email", "", "with --url: the account to log in with (password on standard input)")
	fs.BoolVar(&cfg.AllowRemote, "allow-remote", false, "with --url: allow hosts that are not loopback addresses")
	fs.StringVar(&out, "out", "", "also write the Markdown report to this file")
	fs.StringVar(&svg, "svg", "", "write an SVG bar chart of requests per second to this file")
	fs.BoolVar(&quiet, "quiet", false, "print no progress lines")
	fs.BoolVar(&processes, "processes", false, "run every target as a valet serve process of its own, driven by wrk (see above)")
	fs.Var(&compare, "compare", "with --processes: baseline servers to measure too, as name=path, repeated or comma-separated (see above)")
	fs.BoolVar(&goGC, "go-default-gc", false, "with --processes: measure each valet target and the floor as served also under Go's default garbage collection (GOGC=100), in the same rounds")
	if err := parseFlags(fs, args, &config); err != nil {
		return err
	}
	if argon[0] < 8*1024 || argon[1] < 1 || argon[2] < 1 || argon[2] > 255 {
		return usageError{"argon2 settings too weak: memory at least 8192 KiB, iterations and parallelism at least 1"}
	}
	baselines, err := parseCompare(compare)
	if err != nil {
		return err
	}
	if len(baselines) > 0 && !processes {
		return usageError{"--compare needs --processes"}
	}
	if goGC && !processes {
		return usageError{"--go-default-gc needs --processes"}
	}
	cfg.Argon2 = password.Params{Memory: uint32(argon[0]), Iterations: uint32(argon[1]), Parallelism: uint8(argon[2])}
	cfg.Targets, cfg.URLs = targets, urls
	// Zero in the library means "default": a zero flag means "skip".
	cfg.Sessions, cfg.Revocations, cfg.Burst = orSkip(sessions), orSkip(revocations), orSkip(burst)
	if cfg.PostgresURL == "" {
		cfg.PostgresURL = os.Getenv("VALET_TEST_POSTGRES")
	}
	if cfg.RedisURL == "" {
		cfg.RedisURL = os.Getenv("VALET_TEST_REDIS")
	}
	if len(urls) > 0 {
		if cfg.Email == "" {
			return usageError{"--url needs --email (and the password on standard input)"}
		}
		pw, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("reading the password: %v", err)
		}
		cfg.Password = strings.TrimRight(pw, "\r\n")
		if cfg.Password == "" {
			return usageError{"--url needs the account's password on standard input"}
		}
	}
	if !quiet {
		cfg.Progress = stderr
	}
	if processes {
		var md bytes.Buffer
		progress := io.Discard
		if !quiet {
			progress = stderr
		}
		conns := cfg.Concurrency
		if !isSet(fs, "concurrency") {
			conns = 16
		}
		_, wrkErr := exec.LookPath("wrk")
		haveWrk := wrkErr == nil
		if err := checkProcDrive(cfg.Duration, cfg.Rounds, haveWrk); err != nil {
			return err
		}
		pc := procConfig{dur: cfg.Duration, rounds: cfg.Rounds, conns: conns, pg: cfg.PostgresURL, redis: cfg.RedisURL,
			baselines: baselines, goDefaultGC: goGC, wrk: haveWrk}
		if err := procBench(ctx, &md, progress, pc); err != nil {
			return err
		}
		if _, err := stdout.Write(md.Bytes()); err != nil {
			return err
		}
		if out != "" {
			return os.WriteFile(out, md.Bytes(), 0o644)
		}
		return nil
	}
	rep, err := loadtest.Run(ctx, cfg)
	if err != nil {
		if ctx.Err() != nil {
			return errors.New("interrupted")
		}
		if errors.Is(err, loadtest.ErrConfig) {
			return usageError{strings.TrimPrefix(err.Error(), loadtest.ErrConfig.Error()+": ")}
		}
		return err
	}
	var md bytes.Buffer
	if err := rep.Markdown(&md); err != nil {
		return err
	}
	if _, err := stdout.Write(md.Bytes()); err != nil {
		return err
	}
	if out != "" {
		if err := os.WriteFile(out, md.Bytes(), 0o644); err != nil {
			return fmt.Errorf("cannot write the report: %v", err)
		}
	}
	if svg != "" {
		var b bytes.Buffer
		if err := rep.SVG(&b); err != nil {
			return err
		}
		if err := os.WriteFile(svg, b.Bytes(), 0o644); err != nil {
			return fmt.Errorf("cannot write the chart: %v", err)
		}
	}
	return nil
}

// checkProcDrive refuses a --processes drive that cannot be run as given:
// wrk takes its duration in whole seconds, and the limits are the in-process
// bench's. It runs before any server starts.
func checkProcDrive(dur time.Duration, rounds int, wrk bool) error {
	switch {
	case dur <= 0:
		return usageError{fmt.Sprintf("--duration %s: each target must be driven for some time", dur)}
	case dur > loadtest.MaxDuration:
		return usageError{fmt.Sprintf("--duration %s is over the limit of %s", dur, loadtest.MaxDuration)}
	case wrk && dur%time.Second != 0:
		return usageError{fmt.Sprintf("--duration %s: wrk, which drives the targets, takes whole seconds (1s, 2s, ...); without wrk in $PATH this process's own client drives, for any duration", dur)}
	case rounds < 1:
		return usageError{fmt.Sprintf("--rounds %d: at least one round", rounds)}
	case rounds > loadtest.MaxRounds:
		return usageError{fmt.Sprintf("%d rounds is over the limit of %d", rounds, loadtest.MaxRounds)}
	}
	return nil
}

// orSkip turns the command line's 0 ("skip") into the library's negative.
func orSkip(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}
