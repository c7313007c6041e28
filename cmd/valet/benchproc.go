package main

import (
	"bufio"
	"bytes"
	"context"
	"debug/buildinfo"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/valetauth/valet/httpapi"
	"github.com/valetauth/valet/internal/gcfloor"
	"github.com/valetauth/valet/internal/loadtest"
)

// The process bench: every target is a server process of its own, started
// as a user starts it, and the load comes from wrk (or, without it, from
// this process), so neither side's cost hides in the other's. The server's
// CPU per request is read from /proc.

// procTarget is a server under test.
type procTarget struct {
	name string
	// args are valet serve's flags; nil for the floor and the baselines.
	args []string
	mode string
	cmd  *exec.Cmd
	url  string
	// header is the credential: a Cookie or an Authorization header.
	header string
	// env is added to this process's environment for the target's.
	env []string
	// login, when set, renews header before each drive: a baseline's
	// tokens live as long as it chooses, which the bench does not set.
	login func() error
}

// procResult is one target's figures over the rounds.
type procResult struct {
	target    *procTarget
	rps       []float64
	cpuPerReq []float64 // µs of the server's CPU per request
	genCPU    []float64 // µs of the load generator's CPU per request
	// ownRPS, ownCPU and ownGen are each round again under this
	// process's own client, between two drives by wrk: the check of wrk's
	// figures; ownRatio and ownCPURatio are each round's wrk ÷ own client
	// by req/s and own client ÷ wrk by CPU per request.
	ownRPS, ownCPU, ownGen []float64
	ownRatio, ownCPURatio  []float64
	// pacedRPS and pacedCPU are the figures at the rate every target is
	// driven at in the end.
	pacedRPS, pacedCPU []float64
	// ratio, cpuRatio and pacedRatio are each round's ratios to the floor
	// driven just before and just after the target (see bracket): req/s
	// over the floor's, the floor's CPU per request over the target's,
	// and the latter again at the same load. None for the floor itself.
	ratio, cpuRatio, pacedRatio []float64
}

var wrkRPS = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
var wrkRequests = regexp.MustCompile(`(\d+) requests in`)

// baseline is a server named by --compare: a program that is not valet,
// measured beside it. It is started with --addr 127.0.0.1:0 and --body FILE
// (the bytes to answer GET /v1/me with), prints "listening on URL" on
// standard output as the floor does, and hands out its credential on POST
// /login: a session cookie, or {"access_token": "..."} for a Bearer header.
// It is logged in to again before each drive, so that a credential may
// live less than the run. bench/cmd/scs-server and bench/cmd/jwt-server
// are two.
type baseline struct {
	name string // the row's name, as given
	path string // the program, as exec.LookPath found it
}

// parseCompare checks --compare's name=path values before anything starts,
// so that a typo costs no minutes of benchmarking first.
func parseCompare(values []string) ([]baseline, error) {
	var out []baseline
	seen := map[string]bool{}
	for _, v := range values {
		name, path, ok := strings.Cut(v, "=")
		name, path = strings.TrimSpace(name), strings.TrimSpace(path)
		switch {
		case !ok:
			return nil, usageError{fmt.Sprintf("--compare: %q is not name=path", v)}
		case name == "":
			return nil, usageError{fmt.Sprintf("--compare: %q has no name before the =", v)}
		case path == "":
			return nil, usageError{fmt.Sprintf("--compare: %q has no path after the =", v)}
		case strings.ContainsFunc(name, func(r rune) bool { return r == '|' || r < ' ' || r == 0x7f }):
			// The name is a cell of a Markdown table.
			return nil, usageError{fmt.Sprintf("--compare: the name %q holds a | or a control character", name)}
		case seen[name]:
			return nil, usageError{fmt.Sprintf("--compare: the name %q is given twice", name)}
		}
		seen[name] = true
		// exec.LookPath is what running it would do: a path with a slash
		// must be an executable file, a bare name is looked up in $PATH.
		found, err := exec.LookPath(path)
		if err != nil {
			why := err.Error()
			switch {
			case errors.Is(err, exec.ErrNotFound):
				why = "is not found in $PATH"
			case errors.Is(err, fs.ErrNotExist):
				why = "does not exist"
			case errors.Is(err, syscall.EISDIR):
				why = "is a directory"
			case errors.Is(err, fs.ErrPermission):
				why = "is not an executable file"
			}
			return nil, usageError{fmt.Sprintf("--compare: %s: %s %s", name, path, why)}
		}
		out = append(out, baseline{name: name, path: found})
	}
	return out, nil
}

// describe names b's row: its name, its program, and, for a Go program,
// the modules it links (a baseline links the library it stands for), so
// that the table says what was measured.
func (b baseline) describe() string {
	what := filepath.Base(b.path)
	if info, err := buildinfo.ReadFile(b.path); err == nil {
		var mods []string
		for _, d := range info.Deps {
			if d.Path != "github.com/valetauth/valet" {
				mods = append(mods, strings.TrimPrefix(d.Path, "github.com/")+" "+d.Version)
			}
		}
		if len(mods) > 0 {
			what += ": " + strings.Join(mods, ", ")
		}
	}
	return b.name + " (" + what + ")"
}

// procConfig is what the process bench measures, and how.
type procConfig struct {
	dur           time.Duration // each target's drive in each round
	rounds, conns int
	pg, redis     string // the URLs of the stores, or ""
	baselines     []baseline
	// goDefaultGC adds a row beside each of valet's (and the floor as
	// served), the same process under Go's default garbage collection.
	goDefaultGC bool
	// wrk drives the targets with wrk, and this process's own client
	// checks its figures; without it the own client drives alone.
	wrk bool
}

// goDefaultGC is the name that a target under Go's default collection adds
// to its own.
const goDefaultGC = ", GOGC=100 (Go's default collection)"

// procBench runs the process bench and writes a Markdown table to w.
func procBench(ctx context.Context, w io.Writer, progress io.Writer, c procConfig) error {
	dur, rounds, conns, pg, redis, baselines := c.dur, c.rounds, c.conns, c.pg, c.redis, c.baselines
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "valet-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	common := []string{"--addr", "127.0.0.1:0", "--log-level", "error", "--throttle-refresh", "off", "--throttle-login-ip", "off"}
	token := &procTarget{name: "token", mode: "token", args: []string{"--data-dir", filepath.Join(dir, "token")}}
	targets := []*procTarget{
		{name: "session, SQLite (the default)", mode: "session", args: []string{"--data-dir", filepath.Join(dir, "session")}},
		token,
		{name: "hybrid", mode: "hybrid", args: []string{"--data-dir", filepath.Join(dir, "hybrid")}},
	}
	if pg != "" {
		targets = append(targets, &procTarget{name: "session, Postgres", mode: "session", args: []string{"--db", pg}})
	}
	if redis != "" {
		targets = append(targets, &procTarget{name: "session, SQLite + Redis sessions", mode: "session",
			args: []string{"--data-dir", filepath.Join(dir, "redis"), "--sessions", redis}})
	}
	if c.goDefaultGC {
		var both []*procTarget
		for _, t := range targets {
			twin := *t
			twin.name, twin.env = t.name+goDefaultGC, []string{"GOGC=100"}
			twin.args = slices.Clone(t.args)
			if i := slices.Index(twin.args, "--data-dir"); i >= 0 {
				twin.args[i+1] += "-gogc"
			}
			both = append(both, t, &twin)
		}
		targets = both
	}
	defer func() {
		for _, t := range targets {
			if t.cmd != nil && t.cmd.Process != nil {
				_ = t.cmd.Process.Kill()
				_ = t.cmd.Wait()
			}
		}
	}()
	const email, pw = "bench@example.com", "a benchmark passphrase"
	var body []byte
	// An access token that expired during the run would turn the token
	// and hybrid targets' answers into 401s: the default lifetime is 15
	// minutes, and five rounds of 3 s take longer. Every target's tokens
	// outlast the run; the check of a token does not depend on its
	// lifetime.
	procs := len(targets) + 3 + len(baselines) // the floor and the floors as served
	common = append(common, "--access-ttl", runBound(procs, rounds, dur).String())
	for _, t := range targets {
		fmt.Fprintf(progress, "starting %s\n", t.name)
		if err := startProc(ctx, t, self, append(append([]string{"serve"}, common...), t.args...)); err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
		if err := benchLogin(t, email, pw); err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
		if t.mode == "session" && body == nil {
			if body, err = fetch(t.url+"/v1/me", t.header); err != nil {
				return err
			}
		}
	}
	// The floor and the baselines answer the bytes valet's session target
	// did, so that every target writes the same response.
	bodyFile := filepath.Join(dir, "me.json")
	if err := os.WriteFile(bodyFile, body, 0o600); err != nil {
		return err
	}
	floor := &procTarget{name: "floor (bare net/http, same JSON)", mode: "—"}
	if err := startProc(ctx, floor, self, []string{"bench-floor", bodyFile}); err != nil {
		return err
	}
	defer func() { _ = floor.cmd.Process.Kill(); _ = floor.cmd.Wait() }()
	// The floor as valet serve serves: what net/http costs with valet's
	// response headers, server timeouts and heap floor, before any work of
	// valet's.
	// It is sent the token target's request, Authorization header and
	// all, which it does not read: the token row less this one is what
	// valet's own work costs.
	floors := []*procTarget{floor,
		{header: token.header, name: "floor as served (the same in valet serve's server: its headers, timeouts and heap floor; sent the token target's request)", mode: "—"}}
	if c.goDefaultGC {
		twin := *floors[1]
		twin.name, twin.env = floors[1].name+goDefaultGC, []string{"GOGC=100"}
		floors = append(floors, &twin)
	}
	for _, f := range floors[1:] {
		if err := startProc(ctx, f, self, []string{"bench-floor", "--as-served", bodyFile}); err != nil {
			return err
		}
		defer func() { _ = f.cmd.Process.Kill(); _ = f.cmd.Wait() }()
	}
	for _, b := range baselines {
		t := &procTarget{name: b.describe(), mode: "—"}
		// Appended before it starts, so that the deferred cleanup above
		// stops it whatever happens next.
		targets = append(targets, t)
		fmt.Fprintf(progress, "starting %s\n", t.name)
		if err := startProc(ctx, t, b.path, []string{"--addr", "127.0.0.1:0", "--body", bodyFile}); err != nil {
			return fmt.Errorf("--compare %s: %w", b.name, err)
		}
		t.login = func() error {
			if err := checkBaseline(t, body); err != nil {
				return fmt.Errorf("--compare %s: %w", b.name, err)
			}
			return nil
		}
		if err := t.login(); err != nil {
			return err
		}
	}
	all := append(floors, targets...)
	results := make([]*procResult, len(all))
	for i, t := range all {
		results[i] = &procResult{target: t}
	}
	drive := leanClient
	if c.wrk {
		drive = runWrk
	}
	for r := range rounds {
		floorChecked := false
		err := bracket(len(all), r, func(i int) (figures, error) {
			t := all[i]
			fmt.Fprintf(progress, "round %d: %s\n", r+1, t.name)
			f, err := measure(ctx, t, dur, conns, drive)
			if err != nil {
				return f, fmt.Errorf("%s: %w", t.name, err)
			}
			res := results[i]
			// The independent check: this process's own client on the
			// same target, right after (on the floor once a round), then
			// wrk again. The server's CPU per request should not depend on
			// who sends the requests, for generators that cost about the
			// same. wrk's figures are then the mean of its drives just
			// before and just after the own client's, as the floor's are
			// around a target: the machine drifts within seconds by as
			// much as the check allows, and drives centred on the same
			// moment are compared.
			if c.wrk && (i > 0 || !floorChecked) {
				floorChecked = true
				o, err := measure(ctx, t, dur, conns, leanClient)
				if err != nil {
					return f, err
				}
				again, err := measure(ctx, t, dur, conns, drive)
				if err != nil {
					return f, fmt.Errorf("%s: %w", t.name, err)
				}
				f = meanOf(f, again)
				res.ownRPS, res.ownCPU, res.ownGen = append(res.ownRPS, o.rps), append(res.ownCPU, o.cpu), append(res.ownGen, o.gen)
				res.ownRatio = append(res.ownRatio, f.rps/o.rps)
				if f.n > 0 && o.n > 0 {
					res.ownCPURatio = append(res.ownCPURatio, o.cpu/f.cpu)
				}
			}
			res.rps = append(res.rps, f.rps)
			if f.n > 0 {
				res.cpuPerReq = append(res.cpuPerReq, f.cpu)
				res.genCPU = append(res.genCPU, f.gen)
			}
			return f, nil
		}, func(i int, around figures, f figures) {
			res := results[i]
			res.ratio = append(res.ratio, f.rps/around.rps)
			if f.n > 0 && around.n > 0 {
				res.cpuRatio = append(res.cpuRatio, around.cpu/f.cpu)
			}
		})
		if err != nil {
			return err
		}
	}
	// The same load for every target: a server's CPU per request falls as
	// its rate rises (more requests a wake-up, a system call), so the
	// ratios by CPU above, each server at its own rate, count that against
	// the slower ones. At 0.6 of the slowest target's rate every target
	// keeps up, and the CPU a request costs is compared at equal load.
	slowest := math.Inf(1)
	for _, res := range results {
		slowest = min(slowest, medianOf(res.rps))
	}
	rate := 0.6 * slowest
	for r := range rounds {
		err := bracket(len(all), r, func(i int) (figures, error) {
			t := all[i]
			fmt.Fprintf(progress, "round %d at %.0f req/s: %s\n", r+1, rate, t.name)
			f, err := measure(ctx, t, dur, conns, pacedClient(rate))
			if err != nil {
				return f, fmt.Errorf("%s: %w", t.name, err)
			}
			res := results[i]
			res.pacedRPS = append(res.pacedRPS, f.rps)
			if f.n > 0 {
				res.pacedCPU = append(res.pacedCPU, f.cpu)
			}
			return f, nil
		}, func(i int, around figures, f figures) {
			if f.n > 0 && around.n > 0 {
				results[i].pacedRatio = append(results[i].pacedRatio, around.cpu/f.cpu)
			}
		})
		if err != nil {
			return err
		}
	}
	gen := "wrk -t1 -c" + strconv.Itoa(conns)
	if !c.wrk {
		gen = "this process's HTTP client, " + strconv.Itoa(conns) + " connections (wrk is not installed)"
	}
	servers := "each server a `valet serve` process of its own"
	if len(baselines) > 0 {
		servers = "each server a process of its own (`valet serve`, or the baseline named in parentheses, answering the same body)"
	}
	fmt.Fprintf(w, "%d round(s) of %v per target, targets interleaved, the floor driven again before and after each; load from %s, %s; server CPU from /proc. "+
		"A target's ratios are to the floor's mean figures just before and just after it, medians over the rounds; the last two columns give the lowest and highest of them.\n\n", rounds, dur, gen, servers)
	fmt.Fprintln(w, "| target | req/s (median) | × floor | server CPU µs/req | × floor by CPU | load generator's CPU µs/req | × floor, rounds | × floor by CPU, rounds |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- |")
	for i, res := range results {
		fmt.Fprintf(w, "| %s | %.0f | %.2f | %.1f | %.2f | %.1f | %s | %s |\n", res.target.name, medianOf(res.rps), ratioOf(i, res.ratio),
			medianOf(res.cpuPerReq), ratioOf(i, res.cpuRatio), medianOf(res.genCPU), rangeOf(i, res.ratio), rangeOf(i, res.cpuRatio))
	}
	if c.wrk {
		fmt.Fprintln(w, "\nThe check: every round again, driven by this process's own client between two drives by wrk (the floor once a round); medians, the ratios of each round's own client to the mean of wrk's two; the last two columns give the lowest and highest of them.")
		fmt.Fprintln(w, "")
		fmt.Fprintln(w, "| target | req/s, wrk | req/s, own client | wrk ÷ own client | server CPU µs/req, wrk | server CPU µs/req, own client | own client ÷ wrk, CPU | own client's CPU µs/req | wrk ÷ own client, rounds | own client ÷ wrk, CPU, rounds |")
		fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
		for _, res := range results {
			fmt.Fprintf(w, "| %s | %.0f | %.0f | %.2f | %.1f | %.1f | %.2f | %.1f | %s | %s |\n", res.target.name, medianOf(res.rps), medianOf(res.ownRPS),
				medianOf(res.ownRatio), medianOf(res.cpuPerReq), medianOf(res.ownCPU), medianOf(res.ownCPURatio), medianOf(res.ownGen),
				spanOf(res.ownRatio), spanOf(res.ownCPURatio))
		}
	}
	fmt.Fprintf(w, "\nAt the same load: every target driven at %.0f req/s (0.6 of the slowest one's rate above) by this process's client, %d connections.\n\n", rate, conns)
	fmt.Fprintln(w, "| target | req/s (median) | server CPU µs/req | × floor by CPU |")
	fmt.Fprintln(w, "| --- | --- | --- | --- |")
	for i, res := range results {
		fmt.Fprintf(w, "| %s | %.0f | %.1f | %.2f |\n", res.target.name, medianOf(res.pacedRPS), medianOf(res.pacedCPU), ratioOf(i, res.pacedRatio))
	}
	return nil
}

// runBound is more than a process bench of n servers, rounds rounds and
// drives of dur can last, and no less than the default access token
// lifetime. In each round a target is driven at most three times at full
// rate (wrk, the own client, wrk again) and once at one rate, the floor
// once after each of these; a second a drive is left for starting and
// reading figures, and ten minutes for starting the servers.
func runBound(n, rounds int, dur time.Duration) time.Duration {
	const drives = 6 // per target and round, the floor's after it included
	return max(defaultAccessTTL, time.Duration(n*rounds*drives)*(dur+time.Second)+10*time.Minute)
}

// figures are what one drive of a target measured.
type figures struct {
	rps float64
	n   int64   // requests answered
	cpu float64 // µs of the server's CPU per request
	gen float64 // µs of the load generator's CPU per request
}

// driver sends requests to t for dur over conns connections and returns
// its req/s, its requests, and the CPU time the load generator used.
type driver func(ctx context.Context, t *procTarget, dur time.Duration, conns int) (rps float64, n int64, gen time.Duration, err error)

// measure drives t with drive and returns its figures, the server's CPU
// read from /proc before and after.
func measure(ctx context.Context, t *procTarget, dur time.Duration, conns int, drive driver) (figures, error) {
	if t.login != nil {
		// Before the CPU is read: the login is not the request measured.
		if err := t.login(); err != nil {
			return figures{}, err
		}
	}
	before, err := procCPU(t.cmd.Process.Pid)
	if err != nil {
		return figures{}, err
	}
	rps, n, gen, err := drive(ctx, t, dur, conns)
	if err != nil {
		return figures{}, err
	}
	after, err := procCPU(t.cmd.Process.Pid)
	if err != nil {
		return figures{}, err
	}
	f := figures{rps: rps, n: n}
	if n > 0 {
		f.cpu = float64((after - before).Microseconds()) / float64(n)
		f.gen = float64(gen.Microseconds()) / float64(n)
	}
	return f, nil
}

// bracket drives round r of n targets, of which target 0 is the floor:
// every other target in an order rotated by r, the floor before the first, after
// the last and between every two. do drives target i; ratio is given each
// other target's figures with the mean of the floor's just before and just
// after it. A machine whose speed drifts during a run (a VM's neighbours,
// a CPU's clock) then moves both sides of a ratio alike, where a ratio to
// the floor's median, driven a minute away, took the drift for a
// difference between servers.
func bracket(n, r int, do func(i int) (figures, error), ratio func(i int, around, f figures)) error {
	before, err := do(0)
	if err != nil {
		return err
	}
	for j := range n - 1 {
		i := 1 + (j+r)%(n-1)
		f, err := do(i)
		if err != nil {
			return err
		}
		after, err := do(0)
		if err != nil {
			return err
		}
		ratio(i, meanOf(before, after), f)
		before = after
	}
	return nil
}

// meanOf is the mean of two drives' figures; its requests are the fewer
// of the two's, so that either having none (no CPU figure) shows.
func meanOf(a, b figures) figures {
	return figures{rps: (a.rps + b.rps) / 2, n: min(a.n, b.n), cpu: (a.cpu + b.cpu) / 2, gen: (a.gen + b.gen) / 2}
}

// ratioOf is the median of target i's ratios to the floor, target 0, which
// is 1 to itself.
func ratioOf(i int, xs []float64) float64 {
	if i == 0 {
		return 1
	}
	return medianOf(xs)
}

// rangeOf is the lowest and highest of target i's ratios to the floor,
// as "0.78–0.84"; "—" for the floor itself.
func rangeOf(i int, xs []float64) string {
	if i == 0 {
		return "—"
	}
	return spanOf(xs)
}

// spanOf is the lowest and highest of xs, as "0.78–0.84"; "—" when there
// are none. A median of three rounds hides how far they were apart, and a
// target judged at 0.8 may lie on either side of it within the rounds.
func spanOf(xs []float64) string {
	if len(xs) == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f–%.2f", slices.Min(xs), slices.Max(xs))
}

func medianOf(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

var procListen = regexp.MustCompile(`listening on (https?://\S+)`)

// startProc runs program with args and waits for its "listening on" line.
func startProc(ctx context.Context, t *procTarget, program string, args []string) error {
	t.cmd = exec.CommandContext(ctx, program, args...)
	if len(t.env) > 0 {
		t.cmd.Env = append(os.Environ(), t.env...)
	}
	t.cmd.Stderr = io.Discard
	out, err := t.cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := t.cmd.Start(); err != nil {
		return err
	}
	urls := make(chan string, 1)
	exited := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := procListen.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case urls <- m[1]:
				default:
				}
			}
		}
		// Standard output closed: the program has exited (or closed it),
		// and a program that failed need not be waited for.
		close(exited)
	}()
	select {
	case t.url = <-urls:
		return nil
	case <-exited:
		select {
		case t.url = <-urls:
			return nil
		default:
			return errors.New("exited without printing a \"listening on\" line")
		}
	case <-time.After(30 * time.Second):
		return errors.New("did not start listening within 30 s")
	}
}

// benchLogin signs up (or not, when the account exists) and logs in in
// t's mode, keeping the credential.
func benchLogin(t *procTarget, email, pw string) error {
	account, _ := json.Marshal(map[string]string{"email": email, "password": pw})
	if resp, err := http.Post(t.url+"/v1/signup", "application/json", bytes.NewReader(account)); err == nil {
		resp.Body.Close()
	}
	creds, _ := json.Marshal(map[string]string{"email": email, "password": pw, "mode": t.mode})
	resp, err := http.Post(t.url+"/v1/login", "application/json", bytes.NewReader(creds))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var g struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&g); err != nil || resp.StatusCode != 200 {
		return fmt.Errorf("login: %d %v", resp.StatusCode, err)
	}
	if t.mode != "session" {
		t.header = "Authorization: Bearer " + g.AccessToken
		return nil
	}
	for _, c := range resp.Cookies() {
		if strings.HasSuffix(c.Name, "valet_session") && c.Value != "" {
			t.header = "Cookie: " + c.Name + "=" + c.Value
		}
	}
	if t.header == "" {
		return errors.New("login set no session cookie")
	}
	return nil
}

// checkBaseline logs in to a baseline with POST /login, keeps the
// credential it answers (an access_token in JSON for a Bearer header, else
// its cookies), and checks that GET /v1/me answers 200 with body with it
// and refuses without it: a baseline that answered an error, or that did
// not check the credential, would be measured doing less than valet does.
func checkBaseline(t *procTarget, body []byte) error {
	resp, err := http.Post(t.url+"/login", "application/json", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST /login: %d %s", resp.StatusCode, b)
	}
	var g struct {
		AccessToken string `json:"access_token"`
	}
	var cookies []string
	for _, c := range resp.Cookies() {
		if c.Value != "" {
			cookies = append(cookies, c.Name+"="+c.Value)
		}
	}
	switch {
	case json.Unmarshal(b, &g) == nil && g.AccessToken != "":
		t.header = "Authorization: Bearer " + g.AccessToken
	case len(cookies) > 0:
		t.header = "Cookie: " + strings.Join(cookies, "; ")
	default:
		return errors.New("POST /login answered neither a cookie nor an access_token")
	}
	got, err := fetch(t.url+"/v1/me", t.header)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, body) {
		return fmt.Errorf("GET /v1/me answered %q, not the body it was given (%q)", got, body)
	}
	if _, err := fetch(t.url+"/v1/me", ""); err == nil {
		return errors.New("GET /v1/me answered 200 without the credential")
	}
	return nil
}

func fetch(url, header string) ([]byte, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if header != "" {
		k, v, _ := strings.Cut(header, ": ")
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != 200 {
		err = fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return b, err
}

// benchFloorCmd is the floor: a bare net/http server that answers every
// request with the bytes of FILE as JSON. valet bench starts it. With
// --as-served it answers as valet serve does, short of valet's own work:
// the same response headers, and in the server valet serve runs, with its
// listener, timeouts and floor for garbage collection.
func benchFloorCmd(args []string, stdout io.Writer) error {
	asServed := len(args) > 0 && args[0] == "--as-served"
	if asServed {
		args = args[1:]
	}
	if len(args) != 1 {
		return usageError{"valet bench-floor [--as-served] FILE"}
	}
	body, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	listen := func(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }
	if asServed {
		listen = serverListen
	}
	ln, err := listen("127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "valet: listening on http://%s\n", ln.Addr())
	if !asServed {
		return http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(body)
		}))
	}
	if os.Getenv("GOGC") == "" {
		defer gcfloor.Start(heapFloor)()
	}
	jsonType, noStore := []string{"application/json"}, []string{"no-store"}
	return httpServer(httpapi.SecurityHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Content-Type"], h["Cache-Control"] = jsonType, noStore
		_, _ = w.Write(body)
	}))).Serve(ln)
}

// runWrk drives t with wrk, a process of its own.
func runWrk(ctx context.Context, t *procTarget, dur time.Duration, conns int) (float64, int64, time.Duration, error) {
	args := []string{"-t1", "-c" + strconv.Itoa(conns), "-d" + strconv.Itoa(int(dur.Seconds())) + "s"}
	if t.header != "" {
		args = append(args, "-H", t.header)
	}
	cmd := exec.CommandContext(ctx, "wrk", append(args, t.url+"/v1/me")...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, 0, 0, fmt.Errorf("wrk: %v: %s", err, out)
	}
	if strings.Contains(string(out), "Non-2xx") {
		return 0, 0, 0, fmt.Errorf("wrk saw errors: %s", out)
	}
	m, n := wrkRPS.FindSubmatch(out), wrkRequests.FindSubmatch(out)
	if m == nil || n == nil {
		return 0, 0, 0, fmt.Errorf("cannot read wrk's output: %s", out)
	}
	rps, _ := strconv.ParseFloat(string(m[1]), 64)
	reqs, _ := strconv.ParseInt(string(n[1]), 10, 64)
	return rps, reqs, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
}

// leanClient drives t from this process with conns keep-alive connections.
func leanClient(ctx context.Context, t *procTarget, dur time.Duration, conns int) (float64, int64, time.Duration, error) {
	return pacedClient(0)(ctx, t, dur, conns)
}

// pacedClient returns a client like leanClient that sends at most rate
// requests a second in all (none when rate is 0): connection w sends its
// k-th request no sooner than (k*conns+w)/rate seconds after the start.
func pacedClient(rate float64) driver {
	return func(ctx context.Context, t *procTarget, dur time.Duration, conns int) (float64, int64, time.Duration, error) {
		cpu0 := loadtest.CPUTime()
		rps, n, err := driveClient(ctx, t, dur, conns, rate)
		return rps, n, loadtest.CPUTime() - cpu0, err
	}
}

// procCPU returns the user and system CPU time of process pid so far.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("the server's CPU time cannot be read (Linux only): %v", err)
	}
	// The command name may hold spaces: the fields start after its ")".
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	if len(f) < 13 {
		return 0, errors.New("cannot read /proc stat")
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	// Clock ticks are 100 per second on Linux.
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}

// isSet reports whether flag name was given on fs's command line.
func isSet(fs interface{ Visit(func(*flag.Flag)) }, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
