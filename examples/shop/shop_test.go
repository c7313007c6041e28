package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/client"
	"github.com/valetauth/valet/password"
)

const (
	pw         = "correct horse battery"
	adminEmail = "boss@shop.example"
)

// shop is the example running on a real listener.
type shop struct {
	app *app
	srv *httptest.Server
}

// startShop opens the shop in dir and serves it; stop undoes both, as a
// process exit would.
func startShop(tb testing.TB, dir string) *shop {
	tb.Helper()
	a, err := newApp(config{
		DataDir:    dir,
		AdminEmail: adminEmail,
		Hasher:     password.NewHasher(password.Params{Memory: 8 * 1024, Iterations: 1, Parallelism: 1}, 0, 0),
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		tb.Fatalf("newApp: %v", err)
	}
	s := &shop{app: a, srv: httptest.NewServer(a.Handler())}
	tb.Cleanup(s.stop)
	return s
}

func (s *shop) stop() {
	s.srv.Close()
	s.app.Close()
}

// browser is a person with a cookie jar who follows redirects.
type browser struct {
	tb testing.TB
	hc *http.Client
}

func newBrowser(tb testing.TB) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		tb.Fatal(err)
	}
	return &browser{tb: tb, hc: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

// visit is a response as the browser ended up with it.
type visit struct {
	status int
	url    string
	body   string
}

func (b *browser) do(method, u string, form url.Values, header map[string]string) visit {
	b.tb.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		b.tb.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		b.tb.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		b.tb.Fatal(err)
	}
	return visit{status: resp.StatusCode, url: resp.Request.URL.String(), body: string(got)}
}

func (b *browser) get(u string) visit { b.tb.Helper(); return b.do("GET", u, nil, nil) }
func (b *browser) post(u string, form url.Values) visit {
	b.tb.Helper()
	return b.do("POST", u, form, nil)
}

// expectPage fails the test unless p has status want and contains every one
// of texts.
func expectPage(tb testing.TB, what string, p visit, want int, texts ...string) {
	tb.Helper()
	if p.status != want {
		tb.Fatalf("%s: status %d, want %d; at %s: %s", what, p.status, want, p.url, p.body)
	}
	for _, t := range texts {
		if !strings.Contains(p.body, t) {
			tb.Fatalf("%s: page at %s lacks %q:\n%s", what, p.url, t, p.body)
		}
	}
}

// apiCall calls the mobile API with a Bearer token and decodes the answer.
func apiCall(tb testing.TB, method, u, bearer string, in any) (int, map[string]any) {
	tb.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			tb.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if resp.StatusCode != http.StatusNoContent {
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			tb.Fatalf("%s %s: body is not JSON: %v", method, u, err)
		}
	}
	return resp.StatusCode, out
}

func TestShop(t *testing.T) {
	dir := t.TempDir()
	s := startShop(t, dir)

	// An anonymous visitor sees the products; the cart sends them to sign in.
	ann := newBrowser(t)
	expectPage(t, "home", ann.get(s.srv.URL+"/"), 200, "Green tea", "Gooseneck kettle", "Sign in")
	p := ann.get(s.srv.URL + "/cart")
	expectPage(t, "cart, anonymous", p, 200, "Sign in")
	if !strings.Contains(p.url, "/login?return_to=%2Fcart") {
		t.Fatalf("anonymous cart went to %s, want the sign-in page with return_to", p.url)
	}

	// Sign up, then fill the cart from two pages.
	expectPage(t, "weak password", ann.post(s.srv.URL+"/signup", url.Values{"email": {"ann@example.com"}, "password": {"short"}}),
		400, "Use at least 8 characters.")
	expectPage(t, "sign up", ann.post(s.srv.URL+"/signup", url.Values{"email": {"ann@example.com"}, "password": {pw}, "return_to": {"/products/mug"}}),
		200, "ann@example.com", "Stoneware mug", "Cart (0)")
	expectPage(t, "add tea", ann.post(s.srv.URL+"/cart/items", url.Values{"product": {"tea"}}), 200, "Your cart", "Green tea", "€8.50")
	expectPage(t, "add two mugs", ann.post(s.srv.URL+"/cart/items", url.Values{"product": {"mug"}, "quantity": {"2"}}),
		200, "Stoneware mug", "€44.50")
	// The cart survives changes of page.
	expectPage(t, "another page", ann.get(s.srv.URL+"/products/kettle"), 200, "Gooseneck kettle", "Cart (3)")
	expectPage(t, "home again", ann.get(s.srv.URL+"/"), 200, "Cart (3)")
	expectPage(t, "bad product", ann.post(s.srv.URL+"/cart/items", url.Values{"product": {"caviar"}}), 400)

	// A form posted from another site is refused.
	cross := ann.do("POST", s.srv.URL+"/cart/items", url.Values{"product": {"tea"}}, map[string]string{"Sec-Fetch-Site": "cross-site"})
	expectPage(t, "cross-site post", cross, 403)

	// The shop restarts on the same data: the session and the cart are there.
	s.stop()
	s = startShop(t, dir)
	expectPage(t, "cart after restart", ann.get(s.srv.URL+"/cart"), 200, "ann@example.com", "Green tea", "Stoneware mug", "€44.50")

	// The mobile app logs in with a token and sees the same cart.
	mobile, err := client.New(s.srv.URL + "/auth")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mobile.Login(context.Background(), "ann@example.com", pw, valet.ModeToken); err != nil {
		t.Fatal(err)
	}
	tok, err := mobile.AccessToken(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	status, c := apiCall(t, "GET", s.srv.URL+"/api/cart", tok, nil)
	if status != 200 || c["count"] != 3.0 || c["total_cents"] != 4450.0 {
		t.Fatalf("API cart = %d %v, want 3 items for 4450 cents", status, c)
	}
	status, c = apiCall(t, "POST", s.srv.URL+"/api/cart/items", tok, map[string]any{"product_id": "filter", "quantity": 2})
	if status != 201 || c["count"] != 5.0 {
		t.Fatalf("API add = %d %v, want 5 items", status, c)
	}
	if status, _ := apiCall(t, "POST", s.srv.URL+"/api/cart/items", tok, map[string]any{"product_id": "caviar"}); status != 404 {
		t.Fatalf("API add of an unknown product = %d, want 404", status)
	}
	expectPage(t, "browser sees the API's change", ann.get(s.srv.URL+"/cart"), 200, "Paper filters", "Cart (5)")
	if status, _ := apiCall(t, "DELETE", s.srv.URL+"/api/cart/items/filter", tok, nil); status != 204 {
		t.Fatalf("API remove = %d, want 204", status)
	}
	status, body := apiCall(t, "GET", s.srv.URL+"/api/cart", "", nil)
	if status != 401 || body["error"] != "unauthenticated" {
		t.Fatalf("API cart without a token = %d %v, want 401 unauthenticated", status, body)
	}
	if status, _ := apiCall(t, "GET", s.srv.URL+"/api/cart", "forged.token.here", nil); status != 401 {
		t.Fatalf("API cart with a forged token = %d, want 401", status)
	}
	// The API does not take the browser's cookie.
	cookieOnly := ann.do("GET", s.srv.URL+"/api/cart", nil, map[string]string{"Accept": "application/json"})
	if cookieOnly.status != 401 {
		t.Fatalf("API cart with the session cookie = %d, want 401", cookieOnly.status)
	}

	// The admin page is the admin's alone.
	expectPage(t, "admin page, plain user", ann.get(s.srv.URL+"/admin"), 403)
	boss := newBrowser(t)
	expectPage(t, "admin signs up", boss.post(s.srv.URL+"/signup", url.Values{"email": {adminEmail}, "password": {pw}}), 200, "Admin")
	expectPage(t, "admin page", boss.get(s.srv.URL+"/admin"), 200, "2 accounts", "ann@example.com", "admin")

	// Signing out ends the session: the cookie no longer opens the cart.
	expectPage(t, "sign out", ann.post(s.srv.URL+"/logout", url.Values{}), 200, "Sign in")
	if p := ann.get(s.srv.URL + "/cart"); !strings.Contains(p.url, "/login") {
		t.Fatalf("cart after sign-out went to %s, want the sign-in page", p.url)
	}
	expectPage(t, "wrong password", ann.post(s.srv.URL+"/login", url.Values{"email": {"ann@example.com"}, "password": {"not the password"}}),
		401, "Wrong email or password.")
	expectPage(t, "sign in again", ann.post(s.srv.URL+"/login", url.Values{"email": {"ann@example.com"}, "password": {pw}, "return_to": {"/cart"}}),
		200, "Green tea", "Cart (3)")
}

func TestSafeReturn(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "/"},
		{"/cart", "/cart"},
		{"/products/tea?x=1", "/products/tea?x=1"},
		{"//evil.example/", "/"},
		{"/\\evil.example", "/"},
		{"https://evil.example/", "/"},
		{"cart", "/"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := safeReturn(tc.in); got != tc.want {
				t.Fatalf("safeReturn(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// The example builds and runs with one command, and stops on SIGTERM.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the example")
	}
	bin := filepath.Join(t.TempDir(), "shop")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		// The race build of the dependencies is in the cache already.
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-data-dir", t.TempDir())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		re := regexp.MustCompile(`listening on (http://\S+)`)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				urlc <- m[1]
			}
		}
	}()
	var base string
	select {
	case base = <-urlc:
	case err := <-done:
		t.Fatalf("shop exited before listening: %v\n%s", err, stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("shop did not listen within 60s\n%s", stderr.String())
	}
	resp, err := http.Get(base + "/api/products")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /api/products = %d", resp.StatusCode)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("shop exited with %v\n%s", err, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("shop did not stop on SIGTERM")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatal(err)
	}
}
