package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"
	"github.com/valetauth/valet/internal/testenv"
)

func randomName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// pgSchema creates a fresh schema in the test Postgres and returns a URL
// whose connections use it; the schema is dropped when the test ends.
func pgSchema(tb testing.TB) string {
	tb.Helper()
	base := testenv.URL(tb, testenv.Postgres)
	schema := randomName("valet_e2e_")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("connect to Postgres: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, base); err == nil {
			_, _ = c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
			c.Close(ctx)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// privateRedis is a redis-server of the test's own, so the test may stop it
// without disturbing other tests. It keeps an append-only file, so a
// restart keeps its data as a production Redis with persistence would.
type privateRedis struct {
	tb   testing.TB
	port int
	dir  string
	cmd  *exec.Cmd
}

func startPrivateRedis(tb testing.TB) *privateRedis {
	tb.Helper()
	testenv.URL(tb, testenv.Redis) // the same switch as the shared Redis
	if _, err := exec.LookPath("redis-server"); err != nil {
		tb.Fatalf("redis-server is not installed: %v", err)
	}
	r := &privateRedis{tb: tb, port: freePort(tb), dir: tb.TempDir()}
	r.start()
	tb.Cleanup(r.kill)
	return r
}

func (r *privateRedis) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

func (r *privateRedis) start() {
	r.tb.Helper()
	r.cmd = exec.Command("redis-server", "--bind", "127.0.0.1", "--port", strconv.Itoa(r.port),
		"--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir", r.dir,
		"--logfile", filepath.Join(r.dir, "redis.log"))
	if err := r.cmd.Start(); err != nil {
		r.tb.Fatal(err)
	}
	// The port was free a moment ago; make sure it is our process that
	// answers on it now, not another that took the port in between.
	want := fmt.Sprintf("process_id:%d", r.cmd.Process.Pid)
	c := goredis.NewClient(&goredis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.port), MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		info, err := c.Info(ctx, "server").Result()
		cancel()
		if err == nil {
			if !strings.Contains(info, want) {
				r.tb.Fatalf("port %d is held by another redis-server", r.port)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.tb.Fatal("private redis-server did not start")
}

// kill stops the server at once (the append-only file keeps its data).
func (r *privateRedis) kill() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Signal(syscall.SIGKILL)
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

// wipe kills the server and deletes its data, so that the next start is a
// Redis that lost everything: a restart without persistence, or a new
// replica promoted empty.
func (r *privateRedis) wipe() {
	r.tb.Helper()
	r.kill()
	entries, err := os.ReadDir(r.dir)
	if err != nil {
		r.tb.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "redis.log" {
			if err := os.RemoveAll(filepath.Join(r.dir, e.Name())); err != nil {
				r.tb.Fatal(err)
			}
		}
	}
}

func (r *privateRedis) pause()  { _ = r.cmd.Process.Signal(syscall.SIGSTOP) }
func (r *privateRedis) resume() { _ = r.cmd.Process.Signal(syscall.SIGCONT) }

func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
