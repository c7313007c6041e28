package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/auth"
	"github.com/valetauth/valet/password"
)

// cheapArgon2 are the weakest parameters the server accepts. The /v1/me
// targets hash a password only while they are set up, so their cost is not
// part of any measure there.
var cheapArgon2 = password.Params{Memory: 8192, Iterations: 1, Parallelism: 1}

// maxCredentials bounds the logins a /v1/me target makes: clients share
// them round-robin.
const maxCredentials = 16

// meTarget is one target of the /v1/me measure.
type meTarget struct {
	name, mode, store string
	url               string
	creds             []credential
	credLen           int
	server            *Server
	userID            string
	closeFn           func()
	rounds            []round
	per100k           int64
	footprint         string
}

func (t *meTarget) close() {
	if t.closeFn != nil {
		t.closeFn()
		t.closeFn = nil
	}
}

// targetSpec maps a target's name to its mode and store.
func targetSpec(name string) (valet.Mode, Store) {
	switch name {
	case "token":
		return valet.ModeToken, StoreMemory
	case "hybrid":
		return valet.ModeHybrid, StoreMemory
	}
	st, _ := strings.CutPrefix(name, "session/")
	return valet.ModeSession, Store(st)
}

func runLocal(ctx context.Context, cfg *Config, rep *Report) error {
	var targets []*meTarget
	defer func() {
		for _, t := range targets {
			t.close()
		}
	}()
	for _, name := range cfg.Targets {
		if name == "floor" {
			continue
		}
		progress(cfg, "setting up %s", name)
		t, err := setupTarget(ctx, cfg, name)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, ErrServiceAbsent) {
				rep.note("%s skipped: %v.", name, err)
			} else {
				rep.note("%s skipped: it could not be set up: %v.", name, err)
			}
			continue
		}
		targets = append(targets, t)
	}
	if slices.Contains(cfg.Targets, "floor") {
		floor, err := setupFloor(ctx, targets)
		if err != nil {
			return err
		}
		targets = append([]*meTarget{floor}, targets...)
	}
	if err := runRounds(ctx, cfg, targets); err != nil {
		return err
	}
	if cfg.Sessions > 0 {
		for _, t := range targets {
			if t.server == nil {
				continue
			}
			progress(cfg, "measuring what %s holds for %d sessions", t.name, cfg.Sessions)
			if err := measureFootprint(ctx, cfg, t); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				rep.note("%s: the session footprint could not be measured: %v.", t.name, err)
			}
			// Nothing else runs against this target: free its memory for
			// the measures that follow.
			t.close()
		}
	}
	rep.Targets = results(targets)
	if cfg.Revocations > 0 {
		if err := measurePropagation(ctx, cfg, rep); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			rep.note("Hybrid propagation was not measured: %v.", err)
		}
	}
	if !cfg.SkipLogin || cfg.Burst > 0 {
		if err := measureLogin(ctx, cfg, rep); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			rep.note("Login was not measured: %v.", err)
		}
	}
	return nil
}

// setupTarget starts the server of target name and logs in its clients.
func setupTarget(ctx context.Context, cfg *Config, name string) (*meTarget, error) {
	mode, st := targetSpec(name)
	srv, err := NewServer(ctx, ServerConfig{
		Store: st, Mode: mode, PostgresURL: cfg.PostgresURL, RedisURL: cfg.RedisURL,
		Argon2: cheapArgon2, Logger: cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	t := &meTarget{name: name, mode: string(mode), url: srv.URL, server: srv, closeFn: srv.Close}
	if mode == valet.ModeSession {
		t.store = string(st)
	} else if mode == valet.ModeHybrid {
		t.store = "memory (revocation set)"
	}
	pw := "bench-" + randomHex(12)
	u, err := srv.Service.CreateUser(ctx, "bench@example.com", pw, []string{"bench"})
	if err != nil {
		t.close()
		return nil, err
	}
	t.userID = u.ID
	for range min(cfg.Concurrency, maxCredentials) {
		g, err := srv.Service.Login(ctx, u.Email, pw, mode, auth.Client{UserAgent: "valet-bench", IP: "127.0.0.1"})
		if err != nil {
			t.close()
			return nil, err
		}
		if g.Cookie != "" {
			t.creds = append(t.creds, credential{"Cookie", "valet_session=" + g.Cookie})
			t.credLen = len(g.Cookie)
		} else {
			t.creds = append(t.creds, credential{"Authorization", "Bearer " + g.AccessToken})
			t.credLen = len(g.AccessToken)
		}
	}
	// One request proves the credential before anything is timed.
	if status, _, err := get(ctx, http.DefaultClient, t.url+"/v1/me", t.creds[0]); err != nil || status != http.StatusOK {
		t.close()
		return nil, fmt.Errorf("GET /v1/me answered %d (%v)", status, err)
	}
	return t, nil
}

// setupFloor starts a bare net/http handler that answers what valet's
// /v1/me answers, byte for byte, with the same headers, and does nothing else.
func setupFloor(ctx context.Context, targets []*meTarget) (*meTarget, error) {
	body := []byte(`{"auth":{"expires_at":"2026-01-02T03:04:05Z","mode":"session","session_id":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},"user":{"id":"aaaaaaaaaaaaaaaaaaaaaa","email":"bench@example.com","roles":["bench"],"created_at":"2026-01-02T03:04:05Z"}}` + "\n")
	if len(targets) > 0 {
		_, b, err := get(ctx, http.DefaultClient, targets[0].url+"/v1/me", targets[0].creds[0])
		if err == nil {
			body = b
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/me", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		_, _ = w.Write(body)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return &meTarget{
		name: "floor", url: "http://" + ln.Addr().String(),
		closeFn: func() { _ = srv.Close() }, per100k: -1,
	}, nil
}

// get sends GET url with c and returns the status and body.
func get(ctx context.Context, client *http.Client, url string, c credential) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	if c.header != "" {
		req.Header.Set(c.header, c.value)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// runRounds drives every target for cfg.Duration per round, interleaved,
// starting one target later each round so no target always runs first.
func runRounds(ctx context.Context, cfg *Config, targets []*meTarget) error {
	for r := range cfg.Rounds {
		for i := range targets {
			t := targets[(i+r)%len(targets)]
			// Garbage from the previous target is collected now, not
			// during this one's run.
			runtime.GC()
			res := driveGet(ctx, t.url+"/v1/me", t.creds, cfg.Concurrency, cfg.Duration, MaxRequests)
			if err := ctx.Err(); err != nil {
				return err
			}
			t.rounds = append(t.rounds, res)
			progress(cfg, "round %d/%d  %-18s %9.0f req/s  %d errors", r+1, cfg.Rounds, t.name,
				float64(res.requests)/res.elapsed.Seconds(), res.errors)
		}
	}
	return nil
}

// results turns the targets' rounds into the report's rows.
func results(targets []*meTarget) []TargetResult {
	var out []TargetResult
	floor, floorCPU := 0.0, time.Duration(0)
	for _, t := range targets {
		r := TargetResult{
			Name: t.name, Mode: t.mode, Store: t.store, CredentialBytes: t.credLen,
			Per100k: t.per100k, Footprint: t.footprint,
		}
		var lat []time.Duration
		var sent int64
		var cpu time.Duration
		for _, rd := range t.rounds {
			cpu += rd.cpu
			if rd.elapsed > 0 {
				r.RoundRPS = append(r.RoundRPS, float64(rd.requests-rd.errors)/rd.elapsed.Seconds())
			}
			r.Requests += rd.requests
			r.Errors += rd.errors
			sent += rd.sent
			lat = append(lat, rd.lat...)
		}
		slices.Sort(lat)
		r.RPS = median(r.RoundRPS)
		r.P50, r.P99 = percentile(lat, 50), percentile(lat, 99)
		if r.Requests > 0 {
			r.BytesPerRequest = float64(sent) / float64(r.Requests)
			r.CPUPerRequest = cpu / time.Duration(r.Requests)
		}
		if t.name == "floor" {
			floor, floorCPU = r.RPS, r.CPUPerRequest
		}
		out = append(out, r)
	}
	for i := range out {
		if floor > 0 {
			out[i].Ratio = out[i].RPS / floor
		}
		if floorCPU > 0 && out[i].CPUPerRequest > 0 {
			out[i].CPURatio = float64(floorCPU) / float64(out[i].CPUPerRequest)
		}
	}
	return out
}

// measureFootprint creates cfg.Sessions logins in t's stores and records
// what they took, scaled to 100,000.
func measureFootprint(ctx context.Context, cfg *Config, t *meTarget) error {
	b := t.server.backend
	before, err := b.footprint(ctx)
	if err != nil {
		return err
	}
	if err := t.server.AddSessions(ctx, t.userID, valet.Mode(t.mode), cfg.Sessions); err != nil {
		return err
	}
	after, err := b.footprint(ctx)
	if err != nil {
		return err
	}
	t.per100k = (after - before) * 100_000 / int64(cfg.Sessions)
	what := map[string]string{
		"session": "sessions", "token": "refresh families", "hybrid": "sessions + refresh families",
	}[t.mode]
	t.footprint = map[Store]string{
		StoreMemory:   "Go heap",
		StoreSQLite:   "SQLite file",
		StorePostgres: "Postgres tables + indexes",
		StoreRedis:    "Redis used_memory",
	}[b.kind] + ", " + what
	return nil
}

// measurePropagation times hybrid logouts across a three-node cluster: from
// the moment the logout is sent to one node until each other node refuses
// the token.
func measurePropagation(ctx context.Context, cfg *Config, rep *Report) error {
	st, transport := StoreMemory, "in-process channel"
	switch {
	case cfg.RedisURL != "":
		st, transport = StoreRedis, "Redis pub/sub"
	case cfg.PostgresURL != "":
		st, transport = StorePostgres, "Postgres LISTEN/NOTIFY"
	default:
		rep.note("Hybrid propagation ran over the in-process channel: set --redis or --postgres for a real one.")
	}
	progress(cfg, "timing %d hybrid logouts across 3 nodes over %s", cfg.Revocations, transport)
	cl, err := NewCluster(ctx, ServerConfig{
		Store: st, Mode: valet.ModeHybrid, PostgresURL: cfg.PostgresURL, RedisURL: cfg.RedisURL,
		Argon2: cheapArgon2, Logger: cfg.Logger,
	}, 3)
	if err != nil {
		return err
	}
	defer cl.Close()
	urls := make([]string, len(cl.Nodes))
	for i, n := range cl.Nodes {
		urls[i] = n.URL
	}
	svc := cl.Nodes[0].Service
	pw := "bench-" + randomHex(12)
	if _, err := svc.CreateUser(ctx, "bench@example.com", pw, nil); err != nil {
		return err
	}
	login := func(ctx context.Context) (string, error) {
		g, err := svc.Login(ctx, "bench@example.com", pw, valet.ModeHybrid, auth.Client{UserAgent: "valet-bench"})
		if err != nil {
			return "", err
		}
		return g.AccessToken, nil
	}
	res, err := propagation(ctx, urls, cfg.Revocations, login)
	if err != nil {
		return err
	}
	res.Transport = transport
	rep.Propagation = res
	return nil
}

// propagationTimeout bounds the wait for one node to refuse a token.
const propagationTimeout = 2 * time.Second

// propagation logs in n times with login, logs out on urls[0] and times
// until every other URL refuses the token.
func propagation(ctx context.Context, urls []string, n int, login func(context.Context) (string, error)) (*PropagationResult, error) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	defer client.CloseIdleConnections()
	res := &PropagationResult{Nodes: len(urls), Timeout: propagationTimeout}
	var lat []time.Duration
	for range n {
		tok, err := login(ctx)
		if err != nil {
			return nil, fmt.Errorf("login: %w", err)
		}
		c := credential{"Authorization", "Bearer " + tok}
		for _, u := range urls[1:] {
			if status, _, err := get(ctx, client, u+"/v1/me", c); err != nil || status != http.StatusOK {
				return nil, fmt.Errorf("a fresh token got %d (%v) from %s", status, err, u)
			}
		}
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			t0    time.Time
			mu    sync.Mutex
		)
		for _, u := range urls[1:] {
			wg.Go(func() {
				<-start
				for {
					status, _, err := get(ctx, client, u+"/v1/me", c)
					d := time.Since(t0)
					if err == nil && status == http.StatusUnauthorized {
						mu.Lock()
						lat = append(lat, d)
						mu.Unlock()
						return
					}
					if d > propagationTimeout || ctx.Err() != nil {
						mu.Lock()
						res.Missed++
						mu.Unlock()
						return
					}
				}
			})
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, urls[0]+"/v1/logout", nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set(c.header, c.value)
		t0 = time.Now()
		close(start)
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		wg.Wait()
		if err != nil {
			return nil, fmt.Errorf("logout: %w", err)
		}
	}
	slices.Sort(lat)
	res.Samples = len(lat) + res.Missed
	res.P50, res.P99 = percentile(lat, 50), percentile(lat, 99)
	if len(lat) > 0 {
		res.Max = lat[len(lat)-1]
	}
	return res, nil
}

// measureLogin compares POST /v1/login throughput with argon2id run bare
// with the same parameters and the same number of hashes at once, round by
// round, then sends a burst of simultaneous logins while sampling memory.
func measureLogin(ctx context.Context, cfg *Config, rep *Report) error {
	progress(cfg, "setting up the login target")
	srv, err := NewServer(ctx, ServerConfig{Store: StoreMemory, Argon2: cfg.Argon2, Logger: cfg.Logger})
	if err != nil {
		return err
	}
	defer srv.Close()
	params := srv.Service.HashParams()
	slots := runtime.NumCPU() // the Hasher's default bound on hashes at once
	clients := min(cfg.Concurrency, 4*slots)
	pw := "bench-" + randomHex(12)
	hash, err := password.NewHasher(params, 0, 0).Hash(ctx, pw)
	if err != nil {
		return err
	}
	nUsers := max(clients, cfg.Burst)
	bodies := make([][]byte, nUsers)
	now := time.Now().UTC()
	for i := range nUsers {
		email := "bench" + strconv.Itoa(i) + "@example.com"
		u := valet.User{ID: randomHex(16), Email: email, PasswordHash: hash, Roles: []string{}, CreatedAt: now, UpdatedAt: now}
		if err := srv.Stores().Users.CreateUser(ctx, u); err != nil {
			return err
		}
		bodies[i], _ = json.Marshal(map[string]string{"email": email, "password": pw, "mode": "session"})
	}
	url := srv.URL + "/v1/login"
	if !cfg.SkipLogin {
		lr := &LoginResult{Params: params, Slots: slots, Clients: clients}
		var (
			loginRPS, rawRPS []float64
			rawN, loginN     float64
			rawCPU, loginCPU time.Duration
		)
		for r := range cfg.Rounds {
			runtime.GC()
			cpu0 := CPUTime()
			raw, n := rawArgon2(ctx, params, slots, cfg.Duration)
			rawCPU += CPUTime() - cpu0
			rawN += float64(n)
			runtime.GC()
			var sent atomic.Int64
			client, closeIdle := newClient(clients, &sent)
			res := drive(ctx, clients, cfg.Duration, MaxRequests, &sent, func(i int) func() (int, error) {
				return func() (int, error) { return post(ctx, client, url, bodies[i]) }
			})
			closeIdle()
			if err := ctx.Err(); err != nil {
				return err
			}
			ok := float64(res.requests-res.errors) / res.elapsed.Seconds()
			loginRPS, rawRPS = append(loginRPS, ok), append(rawRPS, raw)
			loginCPU += res.cpu
			loginN += float64(res.requests - res.errors)
			lr.Errors += res.errors
			progress(cfg, "round %d/%d  login %6.1f/s  raw argon2id %6.1f/s  %d errors", r+1, cfg.Rounds, ok, raw, res.errors)
		}
		lr.LoginRPS, lr.RawRPS = median(loginRPS), median(rawRPS)
		if lr.RawRPS > 0 {
			lr.Ratio = lr.LoginRPS / lr.RawRPS
		}
		if rawN > 0 && loginN > 0 && rawCPU > 0 && loginCPU > 0 {
			lr.RawCPU = time.Duration(float64(rawCPU) / rawN)
			lr.LoginCPU = time.Duration(float64(loginCPU) / loginN)
			lr.CPURatio = float64(lr.RawCPU) / float64(lr.LoginCPU)
		}
		rep.Login = lr
	}
	if cfg.Burst > 0 {
		progress(cfg, "sending %d logins at once", cfg.Burst)
		rep.Burst = burst(ctx, url, bodies[:cfg.Burst])
	}
	return nil
}

// post sends body to url as JSON and returns the status.
func post(ctx context.Context, client *http.Client, url string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// rawArgon2 returns how many argon2id hashes per second slots goroutines
// compute for d, and how many they computed.
func rawArgon2(ctx context.Context, p password.Params, slots int, d time.Duration) (float64, int64) {
	var (
		n     atomic.Int64
		wg    sync.WaitGroup
		start = time.Now()
		end   = start.Add(d)
		pw    = []byte("correct horse battery staple")
		salt  = make([]byte, p.SaltLen)
	)
	for range slots {
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(end) {
				argon2.IDKey(pw, salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLen)
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds(), n.Load()
}

// burst sends one login per body at the same moment, each on its own
// connection, and samples this process's resident memory meanwhile.
func burst(ctx context.Context, url string, bodies [][]byte) *BurstResult {
	res := &BurstResult{Clients: len(bodies)}
	tr := &http.Transport{MaxIdleConnsPerHost: len(bodies)}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	// What earlier measures left on the heap goes back to the system, so
	// that the peak shows what the burst itself takes.
	debug.FreeOSMemory()
	res.RSSBefore = rss()
	stop := make(chan struct{})
	var peak atomic.Int64
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			if v := rss(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	var (
		wg    sync.WaitGroup
		gate  = make(chan struct{})
		ok    atomic.Int64
		busy  atomic.Int64
		other atomic.Int64
	)
	for _, b := range bodies {
		wg.Go(func() {
			<-gate
			status, err := post(ctx, client, url, b)
			switch {
			case err == nil && status == http.StatusOK:
				ok.Add(1)
			case err == nil && status == http.StatusServiceUnavailable:
				busy.Add(1)
			default:
				other.Add(1)
			}
		})
	}
	start := time.Now()
	close(gate)
	wg.Wait()
	res.Took = time.Since(start)
	close(stop)
	<-sampled
	res.OK, res.Busy, res.Other = int(ok.Load()), int(busy.Load()), int(other.Load())
	res.PeakRSS = peak.Load()
	return res
}

// rss returns this process's resident memory in bytes, or 0 where
// /proc/self/statm cannot be read.
func rss() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}
