package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/valetauth/valet/internal/testenv"
)

// The browser tests drive Debian's headless Chromium through the pages of
// the real binary. They skip when Chromium is absent, unless
// VALET_REQUIRE_SERVICES=1. Each saves screenshots of what it saw to
// $VALET_TEST_SCREENSHOTS (default: valet-screenshots in the temp dir), so a
// failure can be looked at. VALET_UPDATE_DOCS=1 also rewrites the
// screenshots in docs/.

const browserPassword = "correct horse battery"

// chromiumPath returns the Chromium to run, skipping the test without one.
func chromiumPath(tb testing.TB) string {
	tb.Helper()
	skipInShort(tb)
	p := os.Getenv(testenv.Chromium)
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if _, err := exec.LookPath(p); err != nil {
		if testenv.Required() {
			tb.Fatalf("no Chromium at %s (VALET_TEST_CHROMIUM) and VALET_REQUIRE_SERVICES=1: %v", p, err)
		}
		tb.Skipf("service not configured: no Chromium at %s (set VALET_TEST_CHROMIUM): %v", p, err)
	}
	return p
}

// chrome is one headless Chromium with a fresh profile.
type chrome struct {
	tb  testing.TB
	ctx context.Context
	dir string
}

// startChrome starts Chromium with chromedp's defaults (headless, no first
// run, no background networking, no sync, ...), what a container needs,
// and extra.
func startChrome(tb testing.TB, extra ...chromedp.ExecAllocatorOption) *chrome {
	tb.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(tb)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(tb.TempDir()),
		chromedp.WindowSize(1280, 800),
	)
	opts = append(opts, extra...)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	tb.Cleanup(func() { cancel(); cancelAlloc() })
	// The first run starts the browser; the people of a test get their own
	// browser contexts (separate cookies) inside it.
	if err := chromedp.Do(ctx); err != nil {
		tb.Fatalf("starting Chromium: %v", err)
	}
	return &chrome{tb: tb, ctx: ctx, dir: screenshotDir(tb)}
}

func screenshotDir(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv("VALET_TEST_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "valet-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// person is one browser context: its own cookies, its own tab.
type person struct {
	tb      testing.TB
	name    string
	ctx     context.Context
	base    string
	shots   string
	mu      sync.Mutex
	console []string
}

// person opens a new browser context, so that it shares no cookie with
// the others.
func (c *chrome) person(name, base string) *person {
	c.tb.Helper()
	ctx, cancel := chromedp.NewContext(c.ctx, chromedp.WithNewBrowserContext())
	c.tb.Cleanup(cancel)
	p := &person{tb: c.tb, name: name, ctx: ctx, base: base, shots: c.dir}
	// The first run opens the tab and binds it to the context it gets, so
	// it must not get one with a timeout.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		c.tb.Fatalf("%s: opening a tab: %v", name, err)
	}
	// Collect what a strict policy refuses and what scripts throw. Pages
	// answered with 4xx are logged as failed loads too; those are expected.
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || strings.Contains(m.Text, "Content Security Policy") || strings.Contains(m.Text, "Refused to") {
				p.mu.Lock()
				p.console = append(p.console, string(m.Type)+": "+m.Text)
				p.mu.Unlock()
			}
		}
	}()
	c.tb.Cleanup(p.checkConsole)
	return p
}

// do runs steps in the person's tab, failing the test (with a screenshot)
// when they do not finish within 30 seconds.
func (p *person) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.tb.Helper()
	runIn(p, what, chromedp.Steps(steps...))
}

// runIn runs one action that returns a value, as do does.
func runIn[T any](p *person, what string, a chromedp.Action[T]) T {
	p.tb.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		p.screenshot("failed-" + what)
		lctx, lcancel := context.WithTimeout(p.ctx, 5*time.Second)
		defer lcancel()
		url, _ := chromedp.Run(lctx, chromedp.Location())
		p.tb.Fatalf("%s: %s: %v (at %s)", p.name, what, err, url)
	}
	return v
}

// screenshot saves the viewport as a PNG and returns its path.
func (p *person) screenshot(what string) string {
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.tb.Logf("screenshot %s: %v", what, err)
		return ""
	}
	name := strings.NewReplacer("/", "-", " ", "-").Replace(p.tb.Name() + "-" + p.name + "-" + what)
	path := filepath.Join(p.shots, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.tb.Logf("screenshot %s: %v", what, err)
		return ""
	}
	p.tb.Logf("screenshot: %s", path)
	return path
}

// checkConsole fails the test for any CSP violation, script error or
// console error the pages caused.
func (p *person) checkConsole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range p.console {
		p.tb.Errorf("%s: browser reported: %s", p.name, m)
	}
}

// text returns the text of the first element matching sel, once visible.
func (p *person) text(sel string) string {
	p.tb.Helper()
	return runIn(p, "read "+sel, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
}

// see fails unless the element sel shows want.
func (p *person) see(sel, want string) {
	p.tb.Helper()
	if got := p.text(sel); !strings.Contains(got, want) {
		p.screenshot("missing-" + want)
		p.tb.Fatalf("%s: %s shows %q, want it to contain %q", p.name, sel, got, want)
	}
}

// path returns the path (and query) of the tab's address.
func (p *person) path() string {
	p.tb.Helper()
	return strings.TrimPrefix(runIn(p, "read location", chromedp.Location()), p.base)
}

// eval returns the value of a JavaScript expression in the page.
func eval[T any](p *person, expr string) T {
	p.tb.Helper()
	return runIn(p, "evaluate "+expr, chromedp.Evaluate[T](expr))
}

// value returns the value of the input sel.
func (p *person) value(sel string) string {
	p.tb.Helper()
	return runIn(p, "read "+sel, chromedp.Value(chromedp.CSS(sel)))
}

// noInline checks in the live DOM that nothing is inline: the browser's own
// parse of the page, not ours.
func (p *person) noInline() {
	p.tb.Helper()
	if n := eval[int](p, `document.querySelectorAll('script:not([src]), style, [style]').length`); n != 0 {
		p.tb.Errorf("%s: %d inline scripts or styles on %s", p.name, n, p.path())
	}
}

// wide fails when the page is wider than the viewport.
func (p *person) wide(page string) {
	p.tb.Helper()
	if over := eval[int](p, `document.documentElement.scrollWidth - window.innerWidth`); over > 0 {
		p.screenshot("too-wide")
		p.tb.Errorf("%s is %d px wider than the screen", page, over)
	}
}

func (p *person) signUp(email string) {
	p.tb.Helper()
	p.do("sign up",
		chromedp.Navigate(p.base+"/signup"),
		chromedp.WaitVisible(chromedp.CSS(`#signup-email`)),
		chromedp.SendKeys(chromedp.CSS(`#signup-email`), email),
		chromedp.SendKeys(chromedp.CSS(`#signup-password`), browserPassword),
		chromedp.Click(chromedp.CSS(`#signup-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#who-email`)),
	)
}

func (p *person) signIn(email, password, mode string) {
	p.tb.Helper()
	actions := []chromedp.Action[chromedp.Void]{
		chromedp.Navigate(p.base + "/"),
		chromedp.WaitVisible(chromedp.CSS(`#signin-email`)),
		chromedp.SendKeys(chromedp.CSS(`#signin-email`), email),
		chromedp.SendKeys(chromedp.CSS(`#signin-password`), password),
	}
	if mode != "" {
		// The choice is under the advanced disclosure.
		actions = append(actions, chromedp.Click(chromedp.CSS(`details.advanced summary`)),
			chromedp.Click(chromedp.CSS(`input[name=mode][value=`+mode+`]`)))
	}
	actions = append(actions, chromedp.Click(chromedp.CSS(`#signin-form button[type=submit]`)))
	p.do("sign in", actions...)
}

func (p *person) signOut() {
	p.tb.Helper()
	p.do("sign out", chromedp.Click(chromedp.CSS(`.signout button`)), chromedp.WaitVisible(chromedp.CSS(`#signin-form`)))
	p.see(".flash", "You have signed out.")
}

// TestBrowserSessions is the story of one person on two devices: sign up,
// sign out, a wrong password, sign in, a second device, revoking it from
// the first, the second bounced to sign in on its next click, sign out.
func TestBrowserSessions(t *testing.T) {
	t.Parallel()
	c := startChrome(t)
	s := startServer(t, nil, "--data-dir", t.TempDir())
	laptop := c.person("laptop", s.URL)
	phone := c.person("phone", s.URL)

	laptop.signUp("ada@example.com")
	laptop.see("#who-email", "ada@example.com")
	laptop.see(".flash", "Welcome.")
	laptop.see(".session.is-current", "This device")
	laptop.noInline()
	laptop.screenshot("account")
	laptop.signOut()

	laptop.signIn("ada@example.com", "not the password", "")
	laptop.do("wait for the error", chromedp.WaitVisible(chromedp.CSS(`#signin-error`)))
	laptop.see("#signin-error", "Wrong email or password.")
	if v := laptop.value(`#signin-email`); v != "ada@example.com" {
		t.Errorf("the email field holds %q after a failed sign-in", v)
	}
	if v := laptop.value(`#signin-password`); v != "" {
		t.Error("the password field was filled back in")
	}
	laptop.noInline()
	laptop.screenshot("wrong-password")

	laptop.signIn("ada@example.com", browserPassword, "")
	laptop.do("land on the account page", chromedp.WaitVisible(chromedp.CSS(`#who-email`)))
	if got := laptop.path(); got != "/account" {
		t.Fatalf("after sign-in the laptop is at %q, want /account", got)
	}

	phone.signIn("ada@example.com", browserPassword, "")
	phone.do("land on the account page", chromedp.WaitVisible(chromedp.CSS(`#who-email`)))

	laptop.do("reload", chromedp.Navigate(s.URL+"/account"), chromedp.WaitVisible(chromedp.CSS(`#who-email`)))
	if n := eval[int](laptop, `document.querySelectorAll('li.session').length`); n != 2 {
		t.Fatalf("the laptop lists %d sessions, want 2", n)
	}
	laptop.see("li.session:not(.is-current)", "Headless Chrome")
	laptop.screenshot("two-sessions")
	laptop.do("revoke the phone",
		chromedp.Click(chromedp.CSS(`li.session:not(.is-current) button`)),
		chromedp.WaitVisible(chromedp.CSS(`.flash`)),
	)
	laptop.see(".flash", "That session is signed out.")
	if n := eval[int](laptop, `document.querySelectorAll('li.session').length`); n != 1 {
		t.Fatalf("after revoking, the laptop lists %d sessions, want 1", n)
	}

	phone.do("next click", chromedp.Click(chromedp.CSS(`nav a[href="/account"]`)), chromedp.WaitVisible(chromedp.CSS(`#signin-form`)))
	phone.see(".flash", "Your sign-in has ended.")
	if got := phone.path(); got != "/?return_to=%2Faccount" {
		t.Errorf("the phone was sent to %q", got)
	}
	phone.screenshot("bounced")

	laptop.signOut()
	laptop.do("account after sign out", chromedp.Navigate(s.URL+"/account"), chromedp.WaitVisible(chromedp.CSS(`#signin-form`)))
}

// TestBrowserAdminDisables: an administrator disables a user, and that
// user's open page is signed out on its next click.
func TestBrowserAdminDisables(t *testing.T) {
	t.Parallel()
	c := startChrome(t)
	dir := t.TempDir()
	createUser(t, dir, "root@example.com", "admin")
	s := startServer(t, nil, "--data-dir", dir)
	admin := c.person("admin", s.URL)
	bob := c.person("bob", s.URL)

	bob.signUp("bob@example.com")
	admin.signIn("root@example.com", browserPassword, "")
	admin.do("open admin", chromedp.WaitVisible(chromedp.CSS(`#who-email`)), chromedp.Click(chromedp.CSS(`nav a[href="/admin"]`)), chromedp.WaitVisible(chromedp.CSS(`#q`)))
	admin.noInline()
	admin.do("search",
		chromedp.SendKeys(chromedp.CSS(`#q`), "bob"),
		chromedp.Click(chromedp.CSS(`form.search button`)),
		chromedp.WaitVisible(chromedp.CSS(`button[aria-label="Disable bob@example.com"]`)),
	)
	admin.screenshot("users")
	admin.do("disable bob",
		chromedp.Click(chromedp.CSS(`button[aria-label="Disable bob@example.com"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.flash`)),
	)
	admin.see(".flash", "The user is disabled")
	admin.see(`tr[data-email="bob@example.com"]`, "Disabled")
	if got := admin.path(); got != "/admin?q=bob" {
		t.Errorf("after disabling, the admin is at %q, want the same search", got)
	}

	bob.do("next click", chromedp.Click(chromedp.CSS(`nav a[href="/account"]`)), chromedp.WaitVisible(chromedp.CSS(`#signin-form`)))
	bob.see(".flash", "Your sign-in has ended.")
	bob.signIn("bob@example.com", browserPassword, "")
	bob.do("wait for the error", chromedp.WaitVisible(chromedp.CSS(`#signin-error`)))
	bob.see("#signin-error", "This account is disabled.")
	bob.screenshot("disabled")
}

// TestBrowserTokenMode: the account page of a token sign-in shows the JWT's
// decoded header and claims beside the fact that the server keeps nothing.
func TestBrowserTokenMode(t *testing.T) {
	t.Parallel()
	c := startChrome(t)
	s := startServer(t, nil, "--data-dir", t.TempDir())
	ada := c.person("ada", s.URL)
	ada.signUp("ada@example.com")
	ada.signOut()
	ada.signIn("ada@example.com", browserPassword, "token")
	ada.do("land on the account page", chromedp.WaitVisible(chromedp.CSS(`#jwt-claims`)))
	ada.see("#jwt-header", `"alg": "EdDSA"`)
	ada.see("#jwt-claims", `"email": "ada@example.com"`)
	ada.see(".holds", "Nothing for this request.")
	if readable := eval[string](ada, `document.cookie`); readable != "" {
		t.Errorf("scripts can read cookies: %q", readable)
	}
	ada.noInline()
	ada.screenshot("token-account")
	ada.signOut()
}

// TestBrowserNarrowAndKeyboard: at 360 px wide no page scrolls sideways,
// and the keyboard reaches the skip link first.
func TestBrowserNarrowAndKeyboard(t *testing.T) {
	t.Parallel()
	c := startChrome(t)
	dir := t.TempDir()
	createUser(t, dir, "root@example.com", "admin")
	s := startServer(t, nil, "--data-dir", dir)
	p := c.person("phone", s.URL)
	p.do("narrow", chromedp.EmulateViewport(360, 740, chromedp.EmulateMobile))
	p.do("open", chromedp.Navigate(s.URL+"/"), chromedp.WaitVisible(chromedp.CSS(`#signin-email`)))
	p.wide("/")
	p.do("tab", chromedp.KeyEvent("\t"))
	if focused := eval[string](p, `document.activeElement.className`); focused != "skip" {
		t.Errorf("the first Tab focuses %q, want the skip link", focused)
	}
	p.signIn("root@example.com", browserPassword, "")
	p.do("account", chromedp.WaitVisible(chromedp.CSS(`#who-email`)))
	p.wide("/account")
	p.screenshot("account-360")
	p.do("admin", chromedp.Navigate(s.URL+"/admin"), chromedp.WaitVisible(chromedp.CSS(`#q`)))
	p.wide("/admin")
	p.screenshot("admin-360")
}

// lowContrast lists the visible text of the page whose colour is too close
// to its background for WCAG AA: 4.5:1, or 3:1 for large text.
const lowContrast = `(() => {
  const parse = c => {
    const m = c.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
    return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
  };
  const lum = c => {
    const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  };
  const background = el => {
    for (; el; el = el.parentElement) {
      const c = parse(getComputedStyle(el).backgroundColor);
      if (c && c.a > 0) return c;
    }
    return {r: 255, g: 255, b: 255, a: 1};
  };
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    const rect = el.getBoundingClientRect();
    if (rect.width <= 1 || rect.height <= 1) continue;
    if (![...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
    const cs = getComputedStyle(el);
    const a = lum(parse(cs.color)), b = lum(background(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(cs.fontSize), bold = parseInt(cs.fontWeight, 10) >= 700;
    const need = size >= 24 || (size >= 18.66 && bold) ? 3 : 4.5;
    if (ratio < need) out.push(el.tagName.toLowerCase() + '.' + el.className + ' "' + el.textContent.trim().slice(0, 30) + '" ' + ratio.toFixed(2));
  }
  return out;
})()`

// TestBrowserColorSchemes: the pages follow prefers-color-scheme, and in
// both schemes every visible text meets WCAG AA contrast.
func TestBrowserColorSchemes(t *testing.T) {
	t.Parallel()
	c := startChrome(t)
	dir := t.TempDir()
	createUser(t, dir, "root@example.com", "admin")
	s := startServer(t, nil, "--data-dir", dir)
	p := c.person("reader", s.URL)
	p.signIn("root@example.com", "not the password", "")
	p.do("wait for the error", chromedp.WaitVisible(chromedp.CSS(`#signin-error`)))
	backgrounds := map[string]string{}
	for _, scheme := range []string{"light", "dark"} {
		p.do("prefer "+scheme, prefer(scheme))
		backgrounds[scheme] = eval[string](p, `getComputedStyle(document.body).backgroundColor`)
		p.contrast("sign-in with an error, " + scheme)
		p.screenshot("signin-" + scheme)
	}
	if backgrounds["light"] == backgrounds["dark"] {
		t.Errorf("the page looks the same in both schemes: background %s", backgrounds["light"])
	}
	p.signIn("root@example.com", browserPassword, "")
	p.do("account", chromedp.WaitVisible(chromedp.CSS(`#who-email`)))
	for _, page := range []string{"/account", "/admin"} {
		for _, scheme := range []string{"light", "dark"} {
			p.do("prefer "+scheme, prefer(scheme), chromedp.Navigate(s.URL+page), chromedp.WaitVisible(chromedp.CSS(`main h1`)))
			p.contrast(page + ", " + scheme)
			p.screenshot(strings.TrimPrefix(page, "/") + "-" + scheme)
		}
	}
}

// prefer emulates a reader who prefers scheme ("light" or "dark") and
// reduced motion, so that colours are measured after, not during, a
// transition.
func prefer(scheme string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{
				{Name: "prefers-color-scheme", Value: scheme},
				{Name: "prefers-reduced-motion", Value: "reduce"},
			},
		})
		return err
	})
}

// contrast fails for each text of the page with too little contrast.
func (p *person) contrast(page string) {
	p.tb.Helper()
	for _, bad := range eval[[]string](p, lowContrast) {
		p.tb.Errorf("%s: low contrast: %s", page, bad)
	}
}

// TestBrowserDocsScreenshots takes the screenshots shown in README.md. It
// writes docs/ only with VALET_UPDATE_DOCS=1.
func TestBrowserDocsScreenshots(t *testing.T) {
	t.Parallel()
	c := startChrome(t)
	s := startServer(t, nil, "--data-dir", t.TempDir())
	ada := c.person("ada", s.URL)
	ada.do("sign-in page", chromedp.Navigate(s.URL+"/"), chromedp.WaitVisible(chromedp.CSS(`#signin-email`)))
	signin := ada.screenshot("signin")
	ada.signUp("ada@example.com")
	// Two more devices, so the list shows what it is for.
	for _, ua := range []string{
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
	} {
		r := do(t, s.URL, req{Method: "POST", Path: "/v1/login", Header: map[string]string{"User-Agent": ua},
			Body: map[string]string{"email": "ada@example.com", "password": browserPassword}})
		expect(t, "login from another device", r, 200)
	}
	ada.do("account", chromedp.Navigate(s.URL+"/account"), chromedp.WaitVisible(chromedp.CSS(`#who-email`)))
	account := ada.screenshot("account")
	if os.Getenv("VALET_UPDATE_DOCS") != "1" {
		return
	}
	for src, dst := range map[string]string{signin: "../../docs/signin.png", account: "../../docs/account.png"} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", dst)
	}
}

// createUser runs `valet user create` against the SQLite database in dir.
func createUser(tb testing.TB, dir, email string, roles ...string) {
	tb.Helper()
	args := []string{"user", "create", "--email", email, "--data-dir", dir, "--argon2-memory", "8192", "--argon2-iterations", "1"}
	for _, r := range roles {
		args = append(args, "--role", r)
	}
	cmd := exec.Command(binPath, args...)
	cmd.Stdin = strings.NewReader(browserPassword + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("valet %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}
