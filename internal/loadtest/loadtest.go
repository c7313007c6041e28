// Package loadtest measures a valet deployment over HTTP: authenticated
// GET /v1/me at a fixed concurrency against a bare net/http floor and valet
// in each mode and store, hybrid revocation propagation across three nodes,
// login throughput beside the raw argon2id rate, and memory under a burst of
// logins. It starts its targets itself, in process on 127.0.0.1, or drives
// a deployment given by URL. `valet bench` is its command line.
//
// Every run is bounded in time and in requests, and by default it sends
// traffic to loopback addresses only.
package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/valetauth/valet/password"
)

// ErrConfig is wrapped by Run's error for a configuration it refuses: a
// value beyond the limits, an unknown target, a URL it may not drive.
var ErrConfig = errors.New("loadtest: bad configuration")

// Limits that keep a run bounded whatever the flags say.
const (
	MaxDuration    = 5 * time.Minute // per target per round
	MaxRounds      = 20
	MaxConcurrency = 1024
	MaxRequests    = 10_000_000 // per target per round
	MaxBurst       = 5000
	MaxSessions    = 1_000_000
	MaxRevocations = 1000
)

// The in-process targets, in the order they run and are reported.
var Targets = []string{
	"floor", "session/memory", "session/sqlite", "session/postgres", "session/redis", "token", "hybrid",
}

// Config is a run of the load tool. Zero fields take the defaults named.
type Config struct {
	// Duration is how long each target is driven in each round. Default 2s.
	Duration time.Duration
	// Rounds is how many times every target runs; targets are interleaved
	// within a round and start in a rotated order each round. Default 3.
	Rounds int
	// Concurrency is the number of clients that send requests at once.
	// Default 32.
	Concurrency int
	// Targets names the in-process targets to run (see Targets). Default
	// all of them; those that need an absent service are skipped with a note.
	Targets []string
	// PostgresURL and RedisURL reach the services the postgres and redis
	// targets need, and the three-node hybrid cluster uses the first present
	// of Redis and Postgres as its channel.
	PostgresURL string
	RedisURL    string
	// Sessions is how many live sessions are created to measure what the
	// server holds for them; reported per 100,000. Default 100,000;
	// negative skips the measure.
	Sessions int
	// Revocations is how many hybrid logouts are timed across three nodes.
	// Default 50; negative skips the measure.
	Revocations int
	// Login measures login throughput beside the raw argon2id rate. The
	// zero value measures it; set SkipLogin to skip.
	SkipLogin bool
	// Burst is how many clients log in at once while resident memory is
	// sampled. Default 1,000; negative skips it.
	Burst int
	// Argon2 are the parameters of the login measure. Zero fields take
	// password's defaults, which `valet serve` uses too.
	Argon2 password.Params
	// URLs, when set, switch to driving a deployment instead of in-process
	// targets: the first URL is driven in every mode its account can log in
	// with, and with two or more URLs (nodes of one deployment) hybrid
	// revocation propagation is timed across them.
	URLs []string
	// Email and Password are the account used with URLs.
	Email, Password string
	// AllowRemote permits URLs whose host is not a loopback address.
	// Default false: loopback only.
	AllowRemote bool
	// Progress receives a line per step. Default: discarded.
	Progress io.Writer
	// Logger receives the in-process servers' logs. Default: discarded.
	Logger *slog.Logger
}

func (c *Config) defaults() error {
	if err := c.fill(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}

func (c *Config) fill() error {
	if c.Duration <= 0 {
		c.Duration = 2 * time.Second
	}
	if c.Rounds <= 0 {
		c.Rounds = 3
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 32
	}
	if len(c.Targets) == 0 {
		c.Targets = Targets
	}
	if c.Sessions == 0 {
		c.Sessions = 100_000
	}
	if c.Revocations == 0 {
		c.Revocations = 50
	}
	if c.Burst == 0 {
		c.Burst = 1000
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	switch {
	case c.Duration > MaxDuration:
		return fmt.Errorf("duration %s is over the limit of %s", c.Duration, MaxDuration)
	case c.Rounds > MaxRounds:
		return fmt.Errorf("%d rounds is over the limit of %d", c.Rounds, MaxRounds)
	case c.Concurrency > MaxConcurrency:
		return fmt.Errorf("concurrency %d is over the limit of %d", c.Concurrency, MaxConcurrency)
	case c.Burst > MaxBurst:
		return fmt.Errorf("a burst of %d is over the limit of %d", c.Burst, MaxBurst)
	case c.Sessions > MaxSessions:
		return fmt.Errorf("%d sessions is over the limit of %d", c.Sessions, MaxSessions)
	case c.Revocations > MaxRevocations:
		return fmt.Errorf("%d revocations is over the limit of %d", c.Revocations, MaxRevocations)
	}
	for _, t := range c.Targets {
		if !slices.Contains(Targets, t) {
			return fmt.Errorf("unknown target %q (want some of %s)", t, strings.Join(Targets, ", "))
		}
	}
	for _, u := range c.URLs {
		if err := checkURL(u, c.AllowRemote); err != nil {
			return err
		}
	}
	if len(c.URLs) > 0 && (c.Email == "" || c.Password == "") {
		return errors.New("driving a URL needs an account's email and password")
	}
	return nil
}

// checkURL refuses a URL that is not http(s), and one whose host is not a
// loopback address unless remote is allowed.
func checkURL(raw string, remote bool) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", raw)
	}
	if remote {
		return nil
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%s is not a loopback address; pass --allow-remote to load a deployment you run elsewhere", host)
}

// Report is the outcome of a run.
type Report struct {
	// Started is when the run began (UTC).
	Started time.Time
	// Duration, Rounds and Concurrency are the run's, defaults filled in.
	Duration    time.Duration
	Rounds      int
	Concurrency int
	// Machine describes where the run took place.
	Machine string
	// Remote is the driven URL in URL mode; empty for in-process targets.
	Remote string
	// Targets are the /v1/me results, floor first.
	Targets []TargetResult
	// Propagation is nil when it was not measured.
	Propagation *PropagationResult
	// Login is nil when it was not measured.
	Login *LoginResult
	// Burst is nil when it was not measured.
	Burst *BurstResult
	// Notes say what was skipped and why, and what went wrong.
	Notes []string
}

// TargetResult is what GET /v1/me did against one target.
type TargetResult struct {
	Name  string
	Mode  string // session, token or hybrid; empty for the floor
	Store string // the session store; empty where none is consulted
	// RPS is the median over rounds of requests answered per second;
	// RoundRPS holds each round's.
	RPS      float64
	RoundRPS []float64
	// Ratio is RPS over the floor's RPS; 0 when there is no floor.
	Ratio float64
	// CPUPerRequest is the CPU time this process spent per request, the
	// clients' and (in process) the server's, but not that of a Postgres
	// or Redis server; 0 where it cannot be read. Unlike RPS it hardly
	// changes when other work shares the machine.
	CPUPerRequest time.Duration
	// CPURatio is the floor's CPUPerRequest over this one's: the ratio of
	// requests per second the two would reach on CPUs of their own.
	CPURatio float64
	// P50 and P99 are over every request of every round.
	P50, P99 time.Duration
	Requests int64
	// Errors counts answers other than 200 and failed requests.
	Errors int64
	// BytesPerRequest is what the client wrote per request: request line,
	// headers, credential.
	BytesPerRequest float64
	// CredentialBytes is the length of the cookie or bearer token.
	CredentialBytes int
	// Per100k is what the server holds for 100,000 live logins in this
	// mode and store, in bytes; -1 when not measured.
	Per100k int64
	// Footprint says what Per100k measures.
	Footprint string
}

// PropagationResult is how long a hybrid logout on one node took to be
// refused on the others.
type PropagationResult struct {
	// Nodes is how many nodes took part: one logged out, the others polled.
	Nodes int
	// Transport names the channel revocations travelled on.
	Transport string
	// Samples counts (logout, other node) pairs; P50, P99 and Max are over
	// those that refused the token within Timeout.
	Samples  int
	P50, P99 time.Duration
	Max      time.Duration
	// Missed counts nodes that still accepted the token after Timeout.
	Missed  int
	Timeout time.Duration
}

// LoginResult compares login throughput with the raw argon2id rate.
type LoginResult struct {
	// Params are the argon2id parameters, defaults filled in.
	Params password.Params
	// Slots is how many hashes the server runs at once (and the raw
	// measure runs at once).
	Slots int
	// Clients is how many clients sent logins at once.
	Clients int
	// LoginRPS is the median over rounds of successful logins per second.
	LoginRPS float64
	// RawRPS is the median over rounds of argon2id hashes per second.
	RawRPS float64
	Ratio  float64
	// LoginCPU and RawCPU are the CPU time per successful login and per
	// raw hash; CPURatio is RawCPU over LoginCPU, the ratio of throughputs
	// on CPUs that nothing else uses. Zero where CPU time cannot be read.
	LoginCPU, RawCPU time.Duration
	CPURatio         float64
	Errors           int64
}

// BurstResult is what a burst of simultaneous logins did.
type BurstResult struct {
	// Clients is how many logins were sent at once; OK, Busy and Other
	// count the answers: 200, 503 (no hashing slot within the wait), and
	// anything else or no answer.
	Clients int
	OK      int
	Busy    int
	Other   int
	// Took is from the first login sent to the last answer.
	Took time.Duration
	// RSSBefore and PeakRSS are the resident memory of this process (servers
	// and clients both) before and at the peak of the burst, in bytes; 0
	// when it cannot be read.
	RSSBefore, PeakRSS int64
}

// Run carries out cfg and returns the report. It returns an error for a
// configuration outside the limits, and when ctx ends; a target that cannot
// be set up is skipped with a note.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	rep := &Report{
		Started: time.Now().UTC(), Duration: cfg.Duration, Rounds: cfg.Rounds,
		Concurrency: cfg.Concurrency, Machine: machine(),
	}
	var err error
	if len(cfg.URLs) > 0 {
		err = runRemote(ctx, &cfg, rep)
	} else {
		err = runLocal(ctx, &cfg, rep)
	}
	if err != nil {
		return nil, err
	}
	return rep, nil
}

func (r *Report) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// machine describes the CPU and runtime.
func machine() string {
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	s := fmt.Sprintf("%d CPUs", runtime.NumCPU())
	if model != "" {
		s += " (" + model + ")"
	}
	return fmt.Sprintf("%s, %s/%s, %s, GOMAXPROCS %d", s, runtime.GOOS, runtime.GOARCH, runtime.Version(), runtime.GOMAXPROCS(0))
}

// progress writes one line to cfg.Progress.
func progress(cfg *Config, format string, args ...any) {
	fmt.Fprintf(cfg.Progress, format+"\n", args...)
}
