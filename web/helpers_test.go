package web

import (
	"bytes"
	"context"
	"encoding/xml"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/auth"
	"github.com/valetauth/valet/httpapi"
	"github.com/valetauth/valet/internal/testclock"
	"github.com/valetauth/valet/password"
	"github.com/valetauth/valet/store/memory"
)

const testPassword = "correct horse battery"

// clock is the shared settable test clock.
type clock = testclock.Clock

// env is the pages and the API of one service, over TLS as in production,
// so that Secure cookies travel.
type env struct {
	tb    testing.TB
	svc   *auth.Service
	clk   *clock
	srv   *httptest.Server
	users *flakyUsers
	pages *Handler
	// mem is the store under users, which keeps the outbox and tickets.
	mem *memory.Store
}

// envConfig is what an envOption may change before the env starts.
type envConfig struct {
	auth  *auth.Config
	api   *httpapi.Config
	pages *Config
}

type envOption func(*envConfig)

func withThrottle(t auth.Throttle) envOption {
	return func(c *envConfig) { c.auth.Throttle = t }
}

func withPageSize(n int) envOption {
	return func(c *envConfig) { c.pages.PageSize = n }
}

// withAPI changes the API's settings, which the pages share.
func withAPI(f func(*httpapi.Config)) envOption {
	return func(c *envConfig) { f(c.api) }
}

func newEnv(tb testing.TB, opts ...envOption) *env {
	tb.Helper()
	clk := testclock.New(time.Now().UTC().Truncate(time.Second))
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	mem := memory.New(memory.WithClock(clk.Now))
	stores := mem.Stores()
	users := &flakyUsers{UserStore: stores.Users}
	stores.Users = users
	cfg := auth.Config{
		Stores: stores,
		Hasher: password.NewHasher(password.Params{Memory: 8 * 1024, Iterations: 1, Parallelism: 1}, 0, 0),
		Now:    clk.Now,
		Logger: quietLogger(),
	}
	var wcfg Config
	acfg := httpapi.Config{Logger: quietLogger()}
	for _, o := range opts {
		o(&envConfig{auth: &cfg, api: &acfg, pages: &wcfg})
	}
	if cfg.Mail.Sender != nil && cfg.Mail.Outbox == nil {
		cfg.Mail.Outbox = mem
	}
	svc, err := auth.New(ctx, cfg)
	if err != nil {
		tb.Fatalf("auth.New: %v", err)
	}
	if w := svc.MailWorker(); w != nil {
		if err := w.Start(ctx); err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { _ = w.Close() })
	}
	api := httpapi.New(svc, acfg)
	pages := New(svc, api, wcfg)
	mux := http.NewServeMux()
	mux.Handle("/v1/", api)
	mux.Handle("/", pages)
	srv := httptest.NewTLSServer(mux)
	tb.Cleanup(srv.Close)
	return &env{tb: tb, svc: svc, clk: clk, srv: srv, users: users, pages: pages, mem: mem}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// flakyUsers is a user store that can be made to fail as a database that
// is down does.
type flakyUsers struct {
	valet.UserStore
	mu   sync.Mutex
	down bool
}

func (f *flakyUsers) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

func (f *flakyUsers) UserByEmail(ctx context.Context, email string) (valet.User, error) {
	f.mu.Lock()
	down := f.down
	f.mu.Unlock()
	if down {
		return valet.User{}, valet.ErrUnavailable
	}
	return f.UserStore.UserByEmail(ctx, email)
}

// fakeThrottle refuses every login, signup, mail, code and second factor
// when refuse is set.
type fakeThrottle struct {
	refuse error
}

func (t fakeThrottle) Login(context.Context, string, string) error          { return t.refuse }
func (t fakeThrottle) LoginFailed(context.Context, string, string) error    { return nil }
func (t fakeThrottle) LoginSucceeded(context.Context, string, string) error { return nil }
func (t fakeThrottle) FactorSucceeded(context.Context, string) error        { return nil }
func (t fakeThrottle) Signup(context.Context, string) error                 { return t.refuse }
func (t fakeThrottle) Refresh(context.Context, string) error                { return nil }
func (t fakeThrottle) Mail(context.Context, string, string) error           { return t.refuse }
func (t fakeThrottle) Code(context.Context, string, string) error           { return t.refuse }
func (t fakeThrottle) Factor(context.Context, string, string) error         { return t.refuse }

// waitError is a refusal that says how long to wait, as throttle's does.
type waitError struct{ wait time.Duration }

func (e waitError) Error() string             { return "too many attempts" }
func (e waitError) Unwrap() error             { return valet.ErrRateLimited }
func (e waitError) RetryAfter() time.Duration { return e.wait }

// browser is one browser: a cookie jar and a user agent.
type browser struct {
	e      *env
	client *http.Client
	ua     string
}

func (e *env) browser(ua string) *browser {
	e.tb.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.tb.Fatal(err)
	}
	// A copy: the server's client is shared, and each browser has its own jar.
	c := *e.srv.Client()
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &browser{e: e, client: &c, ua: ua}
}

// page is a finished response.
type page struct {
	Status int
	Header http.Header
	Body   string
}

// Location returns the path (and query) a redirect points to.
func (p page) Location() string { return p.Header.Get("Location") }

func (b *browser) do(method, path string, form url.Values, header map[string]string) page {
	b.e.tb.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.e.srv.URL+path, body)
	if err != nil {
		b.e.tb.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("User-Agent", b.ua)
	req.Header.Set("Accept", "text/html")
	if method == http.MethodPost {
		// What a browser sends with a form of this site.
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		req.Header.Set("Origin", b.e.srv.URL)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.e.tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		b.e.tb.Fatal(err)
	}
	return page{Status: resp.StatusCode, Header: resp.Header, Body: string(raw)}
}

func (b *browser) get(path string) page { b.e.tb.Helper(); return b.do(http.MethodGet, path, nil, nil) }

func (b *browser) post(path string, form url.Values) page {
	b.e.tb.Helper()
	if form == nil {
		form = url.Values{}
	}
	return b.do(http.MethodPost, path, form, nil)
}

// cookie returns the value the jar holds for name, or "".
func (b *browser) cookie(name string) string {
	u, _ := url.Parse(b.e.srv.URL)
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// signUp creates an account through the page and checks that it lands on
// the account page signed in.
func (b *browser) signUp(email string) {
	b.e.tb.Helper()
	p := b.post("/signup", url.Values{"email": {email}, "password": {testPassword}})
	if p.Status != http.StatusSeeOther || p.Location() != "/account" {
		b.e.tb.Fatalf("sign up %s: status %d, Location %q; body %s", email, p.Status, p.Location(), p.Body)
	}
}

// signIn signs in through the page with mode ("" for the default).
func (b *browser) signIn(email, mode string) {
	b.e.tb.Helper()
	form := url.Values{"email": {email}, "password": {testPassword}}
	if mode != "" {
		form.Set("mode", mode)
	}
	p := b.post("/signin", form)
	if p.Status != http.StatusSeeOther || p.Location() != "/account" {
		b.e.tb.Fatalf("sign in %s: status %d, Location %q; body %s", email, p.Status, p.Location(), p.Body)
	}
}

// mustSee fails unless p has status want and its body contains each of
// texts, as written or once HTML character references are decoded.
func mustSee(tb testing.TB, what string, p page, want int, texts ...string) {
	tb.Helper()
	if p.Status != want {
		tb.Fatalf("%s: status %d, want %d; body:\n%s", what, p.Status, want, p.Body)
	}
	decoded := html.UnescapeString(p.Body)
	for _, s := range texts {
		if !strings.Contains(p.Body, s) && !strings.Contains(decoded, s) {
			tb.Fatalf("%s: body lacks %q:\n%s", what, s, p.Body)
		}
	}
}

// inlineProblems parses an HTML page and lists everything in it that a
// strict Content-Security-Policy would block or that runs inline: a script
// without src, a style element or attribute, an event-handler attribute, a
// javascript: URL. elements counts the elements seen, so that a caller can
// tell an empty parse from a clean page.
func inlineProblems(body string) (problems []string, elements int, err error) {
	d := xml.NewDecoder(bytes.NewReader([]byte(body)))
	d.Strict = false
	d.AutoClose = xml.HTMLAutoClose
	d.Entity = xml.HTMLEntity
	inScript := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return problems, elements, nil
		}
		if err != nil {
			return problems, elements, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			elements++
			name := strings.ToLower(t.Name.Local)
			hasSrc := false
			for _, a := range t.Attr {
				an := strings.ToLower(a.Name.Local)
				v := strings.ToLower(strings.TrimSpace(a.Value))
				switch {
				case an == "style":
					problems = append(problems, "style attribute on <"+name+">")
				case strings.HasPrefix(an, "on"):
					problems = append(problems, an+" attribute on <"+name+">")
				case (an == "href" || an == "src" || an == "action" || an == "formaction") && strings.HasPrefix(v, "javascript:"):
					problems = append(problems, "javascript: URL on <"+name+">")
				case an == "src" && v != "":
					hasSrc = true
				}
			}
			switch name {
			case "style":
				problems = append(problems, "<style> element")
			case "script":
				inScript = true
				if !hasSrc {
					problems = append(problems, "<script> without src")
				}
			}
		case xml.EndElement:
			if strings.ToLower(t.Name.Local) == "script" {
				inScript = false
			}
		case xml.CharData:
			if inScript && strings.TrimSpace(string(t)) != "" {
				problems = append(problems, "inline script text")
			}
		}
	}
}
