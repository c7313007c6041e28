package revoke_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valetauth/valet/internal/testenv"
	"github.com/valetauth/valet/revoke"
	"github.com/valetauth/valet/revoke/pgnotify"
	"github.com/valetauth/valet/revoke/redispubsub"

	"github.com/jackc/pgx/v5/pgxpool"
	goredis "github.com/redis/go-redis/v9"

	"github.com/valetauth/valet"
)

// uniqueName returns prefix followed by random hex, so that tests running
// at once against the same server never share a channel or a client name.
func uniqueName(prefix string) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return prefix + hex.EncodeToString(b[:])
}

// backend is a server that a transport runs on, for the shared suite.
type backend struct {
	// newTransport returns a transport on connections of its own, tagged
	// with tag so that cut can find them. It dials via (host:port) when via
	// is not empty.
	newTransport func(tb testing.TB, tag, via string, opts ...revoke.Option) revoke.Transport
	// addr is the server's host:port.
	addr string
	// cut kills, from the server's side, every connection tagged tag.
	cut func(tb testing.TB, tag string)
	// publishRaw sends payload on the channel as it is.
	publishRaw func(tb testing.TB, payload string)
}

func redisBackend(tb testing.TB, url string) backend {
	tb.Helper()
	opts, err := goredis.ParseURL(url)
	if err != nil {
		tb.Fatalf("parse VALET_TEST_REDIS: %v", err)
	}
	channel := uniqueName("valet:test:revocations:")
	admin := newRedisClient(tb, opts, "")
	return backend{
		newTransport: func(tb testing.TB, tag, via string, o ...revoke.Option) revoke.Transport {
			co := *opts
			if via != "" {
				co.Addr = via
			}
			return redispubsub.New(newRedisClient(tb, &co, tag), channel, append([]revoke.Option{quiet}, o...)...)
		},
		addr: opts.Addr,
		cut: func(tb testing.TB, tag string) {
			tb.Helper()
			ctx := context.Background()
			list, err := admin.ClientList(ctx).Result()
			if err != nil {
				tb.Fatalf("CLIENT LIST: %v", err)
			}
			killed := 0
			for _, line := range strings.Split(list, "\n") {
				fields := map[string]string{}
				for _, f := range strings.Fields(line) {
					k, v, _ := strings.Cut(f, "=")
					fields[k] = v
				}
				if fields["name"] != tag {
					continue
				}
				id, err := strconv.ParseInt(fields["id"], 10, 64)
				if err != nil {
					tb.Fatalf("CLIENT LIST line without id: %q", line)
				}
				if err := admin.ClientKillByFilter(ctx, "ID", strconv.FormatInt(id, 10)).Err(); err != nil {
					tb.Fatalf("CLIENT KILL ID %d: %v", id, err)
				}
				killed++
			}
			if killed == 0 {
				tb.Fatalf("no Redis connection named %s to kill", tag)
			}
		},
		publishRaw: func(tb testing.TB, payload string) {
			tb.Helper()
			if err := admin.Publish(context.Background(), channel, payload).Err(); err != nil {
				tb.Fatalf("PUBLISH: %v", err)
			}
		},
	}
}

// newRedisClient returns a client named name (when not empty), closed when
// the test ends.
func newRedisClient(tb testing.TB, base *goredis.Options, name string) *goredis.Client {
	tb.Helper()
	o := *base
	o.ClientName = name
	c := goredis.NewClient(&o)
	tb.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		tb.Fatalf("redis ping: %v", err)
	}
	return c
}

func postgresBackend(tb testing.TB, url string) backend {
	tb.Helper()
	channel := uniqueName("valet_test_revocations_")
	admin := newPool(tb, url, "", "")
	return backend{
		newTransport: func(tb testing.TB, tag, via string, o ...revoke.Option) revoke.Transport {
			return pgnotify.New(newPool(tb, url, tag, via), channel, append([]revoke.Option{quiet}, o...)...)
		},
		addr: postgresAddr(tb, url),
		cut: func(tb testing.TB, tag string) {
			tb.Helper()
			var n int
			err := admin.QueryRow(context.Background(),
				`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, tag).Scan(&n)
			if err != nil {
				tb.Fatalf("terminate backends: %v", err)
			}
			if n == 0 {
				tb.Fatalf("no Postgres connection named %s to terminate", tag)
			}
		},
		publishRaw: func(tb testing.TB, payload string) {
			tb.Helper()
			if _, err := admin.Exec(context.Background(), "SELECT pg_notify($1, $2)", channel, payload); err != nil {
				tb.Fatalf("pg_notify: %v", err)
			}
		},
	}
}

// newPool returns a pool whose connections carry application_name name
// (when not empty) and dial via (when not empty), closed when the test ends.
func newPool(tb testing.TB, url, name, via string) *pgxpool.Pool {
	tb.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		tb.Fatalf("parse VALET_TEST_POSTGRES: %v", err)
	}
	if name != "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = name
	}
	if via != "" {
		host, port, err := net.SplitHostPort(via)
		if err != nil {
			tb.Fatal(err)
		}
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			tb.Fatal(err)
		}
		cfg.ConnConfig.Host, cfg.ConnConfig.Port = host, uint16(p)
		cfg.ConnConfig.Fallbacks = nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		tb.Fatalf("postgres pool: %v", err)
	}
	tb.Cleanup(pool.Close)
	if err := pool.Ping(ctx); err != nil {
		tb.Fatalf("postgres ping: %v", err)
	}
	return pool
}

// postgresAddr returns the host:port that url points at.
func postgresAddr(tb testing.TB, url string) string {
	tb.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		tb.Fatalf("parse VALET_TEST_POSTGRES: %v", err)
	}
	return net.JoinHostPort(cfg.ConnConfig.Host, strconv.Itoa(int(cfg.ConnConfig.Port)))
}

// quiet keeps the transports' expected warnings out of the test output.
var quiet = revoke.WithLogger(slog.New(slog.DiscardHandler))

func TestRedisTransport(t *testing.T) {
	url := testenv.URL(t, testenv.Redis)
	runTransportSuite(t, func(tb testing.TB) backend { return redisBackend(tb, url) })
}

func TestPostgresTransport(t *testing.T) {
	url := testenv.URL(t, testenv.Postgres)
	runTransportSuite(t, func(tb testing.TB) backend { return postgresBackend(tb, url) })
}

// runTransportSuite checks a networked transport end to end through Nodes.
func runTransportSuite(t *testing.T, newBackend func(testing.TB) backend) {
	t.Run("propagation", func(t *testing.T) {
		testPropagation(t, newBackend(t))
	})
	t.Run("reconnect reloads", func(t *testing.T) {
		testReconnect(t, newBackend(t))
	})
	t.Run("silent loss is noticed", func(t *testing.T) {
		testSilentLoss(t, newBackend(t))
	})
	t.Run("malformed messages are dropped", func(t *testing.T) {
		testMalformed(t, newBackend(t))
	})
}

// testPropagation runs three nodes on separate connections, revokes 50
// sessions on one and measures how soon the other two hear of each.
func testPropagation(t *testing.T, b backend) {
	clk := newClock()
	store := newMemRevocations()
	sessions := newMemSessions()
	obs := make([]*observed, 3)
	nodes := make([]*revoke.Node, 3)
	for i := range nodes {
		obs[i] = observe(b.newTransport(t, uniqueName("valet-revoke-test-"), ""))
		nodes[i] = startNode(t, revoke.Config{Store: store, Transport: obs[i], Sessions: sessions, Now: clk.Now})
	}
	for _, n := range nodes {
		waitFor(t, "node is healthy", n.Healthy)
	}

	const rounds = 50
	var lat []time.Duration
	ctx := context.Background()
	for range rounds {
		sid := valet.NewID()
		start := time.Now()
		if err := nodes[0].Revoke(ctx, valet.Revocation{SessionID: sid, Until: clk.Now().Add(15 * time.Minute)}); err != nil {
			t.Fatalf("Revoke: %v", err)
		}
		for i := 1; i < len(nodes); i++ {
			lat = append(lat, obs[i].await(t, sid, 5*time.Second).Sub(start))
			if !nodes[i].Set().Revoked(sid) {
				t.Fatalf("node %d heard of %s but its set lacks it", i, sid)
			}
			if err := nodes[i].Check(ctx, sid); !errors.Is(err, valet.ErrRevoked) {
				t.Fatalf("node %d: Check = %v, want revoke.ErrRevoked", i, err)
			}
		}
	}
	slices.Sort(lat)
	p50, p99 := percentile(lat, 0.50), percentile(lat, 0.99)
	t.Logf("propagation over %d revocations to 2 nodes: p50 %v, p99 %v, max %v", rounds, p50, p99, lat[len(lat)-1])
	// The contract is under 1s at p99; the 100ms loopback target is only
	// logged, since this may run under -race beside other packages' tests.
	if p99 > time.Second {
		t.Errorf("propagation p99 = %v, want under 1s", p99)
	}
}

// percentile returns the q-quantile of sorted durations.
func percentile(sorted []time.Duration, q float64) time.Duration {
	i := int(float64(len(sorted))*q+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// testReconnect cuts a node's connection from the server's side and checks
// that it reports the loss, comes back, and loads what it missed.
func testReconnect(t *testing.T, b backend) {
	clk := newClock()
	store := newMemRevocations()
	sessions := newMemSessions()
	tag := uniqueName("valet-revoke-test-")
	obs := observe(b.newTransport(t, tag, "", revoke.WithHealthInterval(200*time.Millisecond)))
	n := startNode(t, revoke.Config{Store: store, Transport: obs, Sessions: sessions, Now: clk.Now})
	waitFor(t, "node is healthy", n.Healthy)

	// Recorded by another node, whose message this one does not hear.
	missed := valet.Revocation{SessionID: valet.NewID(), Until: clk.Now().Add(time.Hour)}
	if err := store.AddRevocation(context.Background(), missed); err != nil {
		t.Fatal(err)
	}
	if n.Set().Revoked(missed.SessionID) {
		t.Fatal("revocation known before any reload")
	}

	b.cut(t, tag)
	waitFor(t, "the loss is reported", func() bool { _, downs := obs.counts(); return downs >= 1 })
	waitFor(t, "the channel is back", func() bool { ups, _ := obs.counts(); return ups >= 2 })
	waitFor(t, "node is healthy again", n.Healthy)
	if !n.Set().Revoked(missed.SessionID) {
		t.Error("revocation recorded while disconnected not loaded on reconnect")
	}

	// The new subscription carries messages again.
	other := observe(b.newTransport(t, uniqueName("valet-revoke-test-"), ""))
	peer := startNode(t, revoke.Config{Store: store, Transport: other, Sessions: sessions, Now: clk.Now})
	waitFor(t, "peer is healthy", peer.Healthy)
	r := valet.Revocation{SessionID: valet.NewID(), Until: clk.Now().Add(time.Hour)}
	if err := peer.Revoke(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	obs.await(t, r.SessionID, 5*time.Second)
}

// testMalformed sends junk on the channel and checks that it is logged and
// dropped while the next good message still arrives.
func testMalformed(t *testing.T, b backend) {
	clk := newClock()
	logs := &logBuffer{}
	obs := observe(b.newTransport(t, uniqueName("valet-revoke-test-"), "", revoke.WithLogger(logs.logger())))
	n := startNode(t, revoke.Config{Store: newMemRevocations(), Transport: obs, Sessions: newMemSessions(), Now: clk.Now})
	waitFor(t, "node is healthy", n.Healthy)

	for _, junk := range []string{"junk", `{"sid":"","until":1}`, `{"sid":"x"}`} {
		b.publishRaw(t, junk)
	}
	good := valet.NewID()
	b.publishRaw(t, fmt.Sprintf(`{"sid":%q,"until":%d}`, good, clk.Now().Add(time.Hour).UnixMilli()))
	obs.await(t, good, 5*time.Second)
	if got, want := n.Set().Len(), 1; got != want {
		t.Errorf("Len() = %d, want %d", got, want)
	}
	if got, want := strings.Count(logs.String(), "malformed revocation message"), 3; got != want {
		t.Errorf("logged %d malformed messages, want %d; log:\n%s", got, want, logs)
	}
}

// TestRedisRestart runs nodes on a Redis server of the test's own, stops
// it, and checks the fail-safe while it is down and the reload when it is
// back. It needs the redis-server binary.
func TestRedisRestart(t *testing.T) {
	testenv.URL(t, testenv.Redis)
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not in PATH")
	}
	srv := startRedisServer(t, bin, "")
	opts := &goredis.Options{Addr: srv.addr, MaxRetries: -1, DialTimeout: 500 * time.Millisecond}
	channel := uniqueName("valet:test:revocations:")

	clk := newClock()
	store := newMemRevocations()
	sessions := newMemSessions()
	newNode := func() (*revoke.Node, *observed) {
		c := goredis.NewClient(opts)
		t.Cleanup(func() { _ = c.Close() })
		obs := observe(redispubsub.New(c, channel, quiet, revoke.WithHealthInterval(200*time.Millisecond)))
		return startNode(t, revoke.Config{Store: store, Transport: obs, Sessions: sessions, MaxStale: 2 * time.Second, Now: clk.Now}), obs
	}
	a, obsA := newNode()
	b, _ := newNode()
	waitFor(t, "nodes are healthy", func() bool { return a.Healthy() && b.Healthy() })

	ctx := context.Background()
	alive, gone := valet.NewID(), valet.NewID()
	for _, id := range []string{alive, gone} {
		if err := sessions.add(id); err != nil {
			t.Fatal(err)
		}
	}

	srv.stop(t)
	waitFor(t, "both nodes see the loss", func() bool { return !a.Healthy() && !b.Healthy() })

	// Revoked on b while the channel is down: the store has it, the
	// message is lost.
	if err := b.Revoke(ctx, valet.Revocation{SessionID: gone, Until: clk.Now().Add(time.Hour)}); err != nil {
		t.Fatalf("Revoke while Redis is down = %v, want nil (the store has it)", err)
	}
	if _, err := sessions.DeleteSession(ctx, gone); err != nil {
		t.Fatal(err)
	}
	if a.Set().Revoked(gone) {
		t.Fatal("node a heard of the revocation although Redis is down")
	}
	t.Run("down within MaxStale", func(t *testing.T) {
		runChecks(t, a, sessions, []checkCase{{name: "missed message still trusted", sid: gone}})
	})
	clk.Advance(2*time.Second + time.Millisecond)
	t.Run("down past MaxStale", func(t *testing.T) {
		runChecks(t, a, sessions, []checkCase{
			{name: "deleted session refused", sid: gone, wantErr: valet.ErrRevoked, wantLookups: 1},
			{name: "live session accepted", sid: alive, wantLookups: 1},
		})
	})

	ups, _ := obsA.counts()
	startRedisServer(t, bin, srv.port)
	waitFor(t, "node a resubscribes", func() bool { u, _ := obsA.counts(); return u > ups })
	waitFor(t, "nodes are healthy again", func() bool { return a.Healthy() && b.Healthy() })
	t.Run("back up", func(t *testing.T) {
		runChecks(t, a, sessions, []checkCase{
			{name: "loaded revocation refused without I/O", sid: gone, wantErr: valet.ErrRevoked},
			{name: "live session accepted without I/O", sid: alive},
		})
	})
}

// redisServer is a redis-server process started by a test.
type redisServer struct {
	cmd  *exec.Cmd
	port string
	addr string
	once sync.Once
}

// startRedisServer starts redis-server on port (a free one when empty),
// without persistence, and stops it when the test ends.
func startRedisServer(tb testing.TB, bin, port string) *redisServer {
	tb.Helper()
	if port == "" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		port = strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
		_ = l.Close()
	}
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start redis-server: %v", err)
	}
	s := &redisServer{cmd: cmd, port: port, addr: net.JoinHostPort("127.0.0.1", port)}
	tb.Cleanup(func() { s.stop(tb) })

	c := goredis.NewClient(&goredis.Options{Addr: s.addr, MaxRetries: -1})
	defer c.Close()
	waitFor(tb, "redis-server answers", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		return c.Ping(ctx).Err() == nil
	})
	return s
}

// stop kills the server, as a crash would, and waits for it to exit.
func (s *redisServer) stop(tb testing.TB) {
	s.once.Do(func() {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	})
}

// testSilentLoss black-holes a node's connection, as a dead peer or a
// dropped network path does, and checks that the health ping notices and the
// node reconnects and reloads.
func testSilentLoss(t *testing.T, b backend) {
	clk := newClock()
	store := newMemRevocations()
	px := newProxy(t, b.addr)
	health := 100 * time.Millisecond
	obs := observe(b.newTransport(t, uniqueName("valet-revoke-test-"), px.addr(), revoke.WithHealthInterval(health)))
	n := startNode(t, revoke.Config{Store: store, Transport: obs, Sessions: newMemSessions(), Now: clk.Now})
	waitFor(t, "node is healthy", n.Healthy)

	missed := valet.Revocation{SessionID: valet.NewID(), Until: clk.Now().Add(time.Hour)}
	if err := store.AddRevocation(context.Background(), missed); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	px.freeze()
	waitFor(t, "the loss is reported", func() bool { _, downs := obs.counts(); return downs >= 1 })
	t.Logf("silent loss noticed after %v (health interval %v)", time.Since(start).Round(time.Millisecond), health)
	// Connections made after the freeze pass, so the node comes back.
	waitFor(t, "node is healthy again", n.Healthy)
	if !n.Set().Revoked(missed.SessionID) {
		t.Error("revocation recorded meanwhile not loaded on reconnect")
	}
}

// proxy forwards TCP connections to a target and can black-hole the ones it
// holds: their bytes are dropped but they stay open.
type proxy struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	pipes  []*pipe
	conns  []net.Conn
}

type pipe struct {
	frozen atomic.Bool
}

func newProxy(tb testing.TB, target string) *proxy {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &proxy{l: l, target: target}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.serve(c)
		}
	}()
	tb.Cleanup(func() {
		_ = l.Close()
		<-done
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.conns {
			_ = c.Close()
		}
	})
	return p
}

func (p *proxy) addr() string { return p.l.Addr().String() }

func (p *proxy) serve(c net.Conn) {
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = c.Close()
		return
	}
	pp := &pipe{}
	p.mu.Lock()
	p.pipes = append(p.pipes, pp)
	p.conns = append(p.conns, c, s)
	p.mu.Unlock()
	forward := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 && !pp.frozen.Load() {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				_ = dst.Close()
				return
			}
		}
	}
	go forward(s, c)
	go forward(c, s)
}

// freeze black-holes every connection the proxy holds now.
func (p *proxy) freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pp := range p.pipes {
		pp.frozen.Store(true)
	}
}
