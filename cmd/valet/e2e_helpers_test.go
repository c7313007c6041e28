package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/valetauth/valet/api/apitest"
)

// parallelTests lets twice as many parallel tests run at once as there
// are CPUs, unless -parallel says otherwise: a parallel test here spends
// about half its time waiting on the servers, browsers and proxies it
// starts, so one per CPU leaves them half idle.
func parallelTests() {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		_ = flag.Set("test.parallel", strconv.Itoa(2*runtime.GOMAXPROCS(0)))
	}
}

// binPath is the valet binary built once for the end-to-end tests.
var binPath string

func TestMain(m *testing.M) {
	flag.Parse()
	parallelTests()
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
	// Tests that use http.DefaultClient are held to the document too; a
	// mismatch fails the run, since the client does not know the test.
	http.DefaultClient.Transport = specTransport(http.DefaultTransport, func(err error) {
		orphanMu.Lock()
		defer orphanMu.Unlock()
		orphanMismatches = append(orphanMismatches, err.Error())
	})
	code := m.Run()
	os.RemoveAll(dir)
	if len(orphanMismatches) > 0 {
		fmt.Fprintf(os.Stderr, "exchanges of http.DefaultClient that do not match api/openapi.yaml:\n  %s\n",
			strings.Join(orphanMismatches, "\n  "))
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

var (
	orphanMu         sync.Mutex
	orphanMismatches []string
)

// validator checks exchanges against api/openapi.yaml; it is loaded once.
var validator = sync.OnceValues(apitest.NewValidator)

// specTransport returns next with every exchange checked against the
// document, each mismatch given to report. Requests outside the API (pages,
// assets) are not checked, nor the 431 that net/http answers before valet
// sees a request (the document says so in words). The bodies it checks are
// those the client sees: a client that asks for gzip itself gets compressed
// bytes, which it cannot read as JSON, so such a client must not use it.
func specTransport(next http.RoundTripper, report func(error)) http.RoundTripper {
	v, err := validator()
	if err != nil {
		panic("loading api/openapi.yaml: " + err.Error())
	}
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		var beforeValet bool
		sent := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			resp, err := next.RoundTrip(r)
			beforeValet = err == nil && resp.StatusCode == http.StatusRequestHeaderFieldsTooLarge
			return resp, err
		})
		return v.Transport(sent, func(err error) {
			if !beforeValet {
				report(err)
			}
		}).RoundTrip(r)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// specClient is the client of do: it follows no redirect, and fails tb for
// every exchange that api/openapi.yaml does not allow.
func specClient(tb testing.TB) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: specTransport(http.DefaultTransport, func(err error) {
			tb.Errorf("the server does not follow api/openapi.yaml: %v", err)
		}),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// server is a running valet process.
type server struct {
	tb     testing.TB
	cmd    *exec.Cmd
	URL    string
	mu     sync.Mutex
	stderr bytes.Buffer
	out    bytes.Buffer // what it printed on stdout
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
			s.mu.Lock()
			s.out.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
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

// stdout returns what the server has printed on standard output so far.
func (s *server) stdout() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
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
	resp, err := specClient(tb).Do(r)
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
