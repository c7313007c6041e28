package main

// Forward auth behind the real proxies: nginx (auth_request, through
// GET /v1/authz/auth-request) and Caddy (forward_auth, through GET
// /v1/authz/forward-auth), each run with the configuration that
// docs/forward-auth.md shows, read from docs/proxies/. The proxies are
// skipped when their binaries are missing, unless VALET_REQUIRE_SERVICES=1.
//
// Two host names share 127.0.0.1: app.example.localhost (the application:
// an upstream in the test that echoes what reaches it) and
// auth.example.localhost (valet's pages, at --public-url), with
// --cookie-domain example.localhost. Go clients name the host in the Host
// header; Chromium maps *.localhost to 127.0.0.1.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/valetauth/valet/internal/testenv"
)

const (
	appHost  = "app.example.localhost"
	authHost = "auth.example.localhost"
	// proxyDocs is where the configurations and their documentation live,
	// seen from this package.
	proxyDocs = "../../docs"
)

// proxyKinds are the proxies the tests run, with the binary each needs.
var proxyKinds = []struct{ name, bin string }{
	{"nginx", "/usr/sbin/nginx"},
	{"caddy", "/usr/bin/caddy"},
}

// proxyBinary returns the path of the proxy's binary, skipping the test
// without one.
func proxyBinary(tb testing.TB, name, path string) string {
	tb.Helper()
	if p, err := exec.LookPath(path); err == nil {
		return p
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if testenv.Required() {
		tb.Fatalf("no %s binary (looked for %s and %s on PATH) and VALET_REQUIRE_SERVICES=1; scripts/services.sh installs it", name, path, name)
	}
	tb.Skipf("service not configured: no %s binary at %s (scripts/services.sh installs it)", name, path)
	return ""
}

// echoed is what the upstream application saw of one request.
type echoed struct {
	Method       string `json:"method"`
	URI          string `json:"uri"`
	Host         string `json:"host"`
	RemoteUser   string `json:"remote_user"`
	RemoteEmail  string `json:"remote_email"`
	RemoteGroups string `json:"remote_groups"`
	RemoteName   string `json:"remote_name"`
	// How the user signed in, as valet says.
	RemoteEmailVerified string `json:"remote_email_verified"`
	RemoteAMR           string `json:"remote_amr"`
	RemoteAuthTime      string `json:"remote_auth_time"`
}

// upstream is the application behind the proxy: it answers every request
// with a page holding what it received, and counts them.
type upstream struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []echoed
}

func startUpstream(tb testing.TB) *upstream {
	tb.Helper()
	u := &upstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e := echoed{Method: r.Method, URI: r.RequestURI, Host: r.Host,
			RemoteUser: r.Header.Get("Remote-User"), RemoteEmail: r.Header.Get("Remote-Email"),
			RemoteGroups: r.Header.Get("Remote-Groups"), RemoteName: r.Header.Get("Remote-Name"),
			RemoteEmailVerified: r.Header.Get("Remote-Email-Verified"), RemoteAMR: r.Header.Get("Remote-Amr"),
			RemoteAuthTime: r.Header.Get("Remote-Auth-Time")}
		u.mu.Lock()
		u.got = append(u.got, e)
		u.mu.Unlock()
		j, _ := json.Marshal(e)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><title>app</title><pre id=\"echo\">%s</pre>", html.EscapeString(string(j)))
	}))
	tb.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) hits() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.got)
}

// proxyConfig is what the templates in docs/proxies/ are filled with.
type proxyConfig struct {
	Listen, AppHost, AuthHost, AppSite, AuthSite, Valet, App string
}

// renderProxyConfig fills in docs/proxies/name.
func renderProxyConfig(tb testing.TB, name string, c proxyConfig) string {
	tb.Helper()
	src, err := os.ReadFile(filepath.Join(proxyDocs, "proxies", name))
	if err != nil {
		tb.Fatal(err)
	}
	t, err := template.New(name).Option("missingkey=error").Parse(string(src))
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, c); err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	return b.String()
}

// stack is valet, an application and a proxy in front of both.
type stack struct {
	kind     string
	valet    *server
	app      *upstream
	dir      string // valet's data directory
	addr     string // the proxy's 127.0.0.1:port
	appURL   string // http://app.example.localhost:port
	authURL  string // http://auth.example.localhost:port, valet's --public-url
	proxyLog *lockedBuffer
}

// The access rules every stack runs with.
var stackRules = []string{
	"--access-rule", appHost + "/admin admin",
	"--access-rule", "POST,DELETE " + appHost + "/orders clerk",
}

// startStack runs valet (with extra flags), the upstream, and the proxy
// kind ("nginx" or "caddy") configured from docs/proxies/.
func startStack(tb testing.TB, kind, bin string, extra ...string) *stack {
	tb.Helper()
	port := freePort(tb)
	st := &stack{kind: kind, app: startUpstream(tb), dir: tb.TempDir(), addr: fmt.Sprintf("127.0.0.1:%d", port),
		appURL: fmt.Sprintf("http://%s:%d", appHost, port), authURL: fmt.Sprintf("http://%s:%d", authHost, port)}
	args := append([]string{"--data-dir", st.dir, "--trusted-proxies", "127.0.0.1", "--public-url", st.authURL,
		"--cookie-domain", "example.localhost"}, stackRules...)
	st.valet = startServer(tb, nil, append(args, extra...)...)
	c := proxyConfig{
		Listen: st.addr, AppHost: appHost, AuthHost: authHost, AppSite: st.appURL, AuthSite: st.authURL,
		Valet: strings.TrimPrefix(st.valet.URL, "http://"), App: strings.TrimPrefix(st.app.srv.URL, "http://"),
	}
	dir := tb.TempDir()
	// nginx's workers give up root; they must be able to reach their
	// temporary files.
	if err := os.Chmod(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	var cmd *exec.Cmd
	switch kind {
	case "nginx":
		write(tb, filepath.Join(dir, "valet.conf"), renderProxyConfig(tb, "nginx.conf.tmpl", c))
		write(tb, filepath.Join(dir, "nginx.conf"), fmt.Sprintf(`daemon off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log stderr warn;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[1]s/valet.conf;
}
`, dir))
		cmd = exec.Command(bin, "-e", "stderr", "-p", dir, "-c", filepath.Join(dir, "nginx.conf"))
	case "caddy":
		write(tb, filepath.Join(dir, "Caddyfile"), "{\n\tadmin off\n}\n\n"+renderProxyConfig(tb, "Caddyfile.tmpl", c))
		cmd = exec.Command(bin, "run", "--config", filepath.Join(dir, "Caddyfile"), "--adapter", "caddyfile")
		cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	default:
		tb.Fatalf("unknown proxy %q", kind)
	}
	st.proxyLog = &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = st.proxyLog, st.proxyLog
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	tb.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if tb.Failed() {
			tb.Logf("%s log:\n%s", kind, st.proxyLog)
		}
	})
	// Ready when valet's sign-in page answers through the proxy.
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-done:
			tb.Fatalf("%s exited: %s", kind, st.proxyLog)
		default:
		}
		if r, err := st.tryRaw("GET", "/", authHost, nil); err == nil && r.Status == 200 {
			return st
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s does not answer on %s: %s", kind, st.addr, st.proxyLog)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func write(tb testing.TB, path, content string) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// lockedBuffer collects a process's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// raw sends one request to the proxy exactly as written: the request
// target is not cleaned or re-encoded, and the headers are sent in order,
// repeated ones too.
func (st *stack) raw(tb testing.TB, method, target, host string, header [][2]string) response {
	tb.Helper()
	r, err := st.tryRaw(method, target, host, header)
	if err != nil {
		tb.Fatalf("%s %s (Host %s) through %s: %v", method, target, host, st.kind, err)
	}
	return r
}

func (st *stack) tryRaw(method, target, host string, header [][2]string) (response, error) {
	return rawHTTP(&net.Dialer{Timeout: 5 * time.Second}, st.addr, method, target, host, header, "")
}

// rawHTTP writes one HTTP/1.1 request to addr with d and reads the answer.
// A body is sent as a form.
func rawHTTP(d *net.Dialer, addr, method, target, host string, header [][2]string, body string) (response, error) {
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		return response{}, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, target, host)
	for _, h := range header {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	if body != "" {
		b.WriteString("Content-Type: application/x-www-form-urlencoded\r\n")
	}
	if method == "POST" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return response{}, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: got}, nil
}

// echo returns what the upstream said it saw, failing when the answer is
// not the upstream's.
func echo(tb testing.TB, r response) echoed {
	tb.Helper()
	body := string(r.Body)
	i, j := strings.Index(body, `<pre id="echo">`), strings.LastIndex(body, "</pre>")
	if r.Status != 200 || i < 0 || j < i {
		tb.Fatalf("not the application's answer: %d %s", r.Status, r.Body)
	}
	var e echoed
	if err := json.Unmarshal([]byte(html.UnescapeString(body[i+len(`<pre id="echo">`):j])), &e); err != nil {
		tb.Fatalf("echo: %v: %s", err, r.Body)
	}
	return e
}

// TestForwardAuthDocsHoldTheConfigs: docs/forward-auth.md shows the very
// configurations the proxy tests run.
func TestForwardAuthDocsHoldTheConfigs(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(proxyDocs, "forward-auth.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"nginx.conf.tmpl", "Caddyfile.tmpl"} {
		src, err := os.ReadFile(filepath.Join(proxyDocs, "proxies", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(doc, src) {
			t.Errorf("docs/forward-auth.md does not hold docs/proxies/%s as it is", name)
		}
	}
}
