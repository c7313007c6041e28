package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binPath is the valet binary built once for the end-to-end tests.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "valet-e2e-")
	if err != nil {
		panic(err)
	}
	binPath = filepath.Join(dir, "valet")
	build := exec.Command("go", "build", "-race", "-o", binPath, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		panic("building valet: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is a running valet process.
type server struct {
	tb     testing.TB
	cmd    *exec.Cmd
	URL    string
	mu     sync.Mutex
	stderr bytes.Buffer
	done   chan struct{}
}

var listenRE = regexp.MustCompile(`listening on (https?://\S+)`)

// startServer runs `valet serve` on a free port with args and waits until it listens.
func startServer(tb testing.TB, env []string, args ...string) *server {
	tb.Helper()
	s := &server{tb: tb, done: make(chan struct{})}
	s.cmd = exec.Command(binPath, append([]string{"serve", "--addr", "127.0.0.1:0", "--log-level", "warn",
		"--argon2-memory", "8192", "--argon2-iterations", "1"}, args...)...)
	s.cmd.Env = append(os.Environ(), env...)
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	s.cmd.Stderr = writerFunc(func(p []byte) (int, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.stderr.Write(p)
	})
	if err := s.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
				urlc <- m[1]
			}
		}
	}()
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	select {
	case s.URL = <-urlc:
	case <-s.done:
		tb.Fatalf("valet exited before listening: %s", s.logs())
	case <-time.After(60 * time.Second):
		tb.Fatalf("valet did not listen within 60s: %s", s.logs())
	}
	tb.Cleanup(s.stop)
	return s
}

func (s *server) logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

// stop sends SIGTERM and waits for a graceful exit.
func (s *server) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
		s.tb.Errorf("valet did not stop on SIGTERM within 15s")
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// response is a finished HTTP exchange.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) json(tb testing.TB) map[string]any {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		tb.Fatalf("body is not JSON: %q", r.Body)
	}
	return m
}

// errorCode returns the "error" of a contract error body.
func (r response) errorCode(tb testing.TB) string {
	tb.Helper()
	m := r.json(tb)
	code, _ := m["error"].(string)
	if msg, _ := m["message"].(string); code != "" && msg == "" {
		tb.Fatalf("error %q without a message", code)
	}
	return code
}

// cookie returns the value that Set-Cookie gave name, and the whole header.
// name also matches the name with the __Host- prefix, which a Secure
// session cookie carries (valet_session is sent as __Host-valet_session).
// A cookie that is set wins over one that is cleared: a login may clear the
// old name as it sets the new one.
func (r response) cookie(name string) (string, string) {
	var cleared string
	for _, h := range r.Header.Values("Set-Cookie") {
		for _, n := range []string{name, "__Host-" + name} {
			if !strings.HasPrefix(h, n+"=") {
				continue
			}
			v := strings.TrimPrefix(h, n+"=")
			if i := strings.IndexByte(v, ';'); i >= 0 {
				v = v[:i]
			}
			if v != "" {
				return v, h
			}
			if cleared == "" {
				cleared = h
			}
		}
	}
	return "", cleared
}

// req is one request to the API.
type req struct {
	Method, Path string
	Body         any    // marshalled as JSON unless a string or []byte
	Cookie       string // valet_session value
	Bearer       string
	Header       map[string]string
}

func do(tb testing.TB, base string, q req) response {
	tb.Helper()
	var body io.Reader
	switch b := q.Body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			tb.Fatal(err)
		}
		body = bytes.NewReader(j)
	}
	if q.Method == "" {
		q.Method = http.MethodGet
	}
	r, err := http.NewRequest(q.Method, base+q.Path, body)
	if err != nil {
		tb.Fatal(err)
	}
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	if q.Cookie != "" {
		r.Header.Set("Cookie", "valet_session="+q.Cookie)
	}
	if q.Bearer != "" {
		r.Header.Set("Authorization", "Bearer "+q.Bearer)
	}
	for k, v := range q.Header {
		r.Header.Set(k, v)
	}
	client := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	resp, err := client.Do(r)
	if err != nil {
		tb.Fatalf("%s %s: %v", q.Method, q.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// expect fails the test unless got has status want (and error code, if given).
func expect(tb testing.TB, what string, got response, want int, code ...string) {
	tb.Helper()
	if got.Status != want {
		tb.Fatalf("%s: status %d, want %d; body %s", what, got.Status, want, got.Body)
	}
	if len(code) > 0 {
		if c := got.errorCode(tb); c != code[0] {
			tb.Fatalf("%s: error %q, want %q; body %s", what, c, code[0], got.Body)
		}
	}
}

// skipInShort skips a slow end-to-end test under -short, which is meant to
// run before every commit; make test and CI run it.
func skipInShort(tb testing.TB) {
	tb.Helper()
	if testing.Short() {
		tb.Skip("slow end-to-end test: skipped under -short")
	}
}
