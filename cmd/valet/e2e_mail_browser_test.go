package main

import (
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/valetauth/valet/internal/testenv"
)

// axeScript returns axe-core's script from VALET_TEST_AXE (default: where
// scripts/services.sh unpacks it), skipping the test without it unless
// VALET_REQUIRE_SERVICES=1.
func axeScript(tb testing.TB) string {
	tb.Helper()
	p := os.Getenv(testenv.Axe)
	if p == "" {
		p = "/usr/local/share/valet-test/axe-core-4.11.0/axe.min.js"
	}
	b, err := readOnce(p)
	if err != nil {
		if testenv.Required() {
			tb.Fatalf("no axe-core at %s (%s) and VALET_REQUIRE_SERVICES=1: %v", p, testenv.Axe, err)
		}
		tb.Skipf("service not configured: no axe-core at %s (set %s; scripts/services.sh installs it): %v", p, testenv.Axe, err)
	}
	return b
}

var (
	axeMu    sync.Mutex
	axeCache = map[string]string{}
)

func readOnce(p string) (string, error) {
	axeMu.Lock()
	defer axeMu.Unlock()
	if s, ok := axeCache[p]; ok {
		return s, nil
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return "", err
	}
	axeCache[p] = string(b)
	return string(b), nil
}

// accessible runs axe-core's WCAG 2.1 A and AA rules on the page the person
// sees and fails the test for each violation, naming its elements.
func (p *person) accessible(page string) {
	p.tb.Helper()
	script := axeScript(p.tb)
	if !eval[bool](p, `typeof axe !== "undefined"`) {
		runIn(p, "load axe-core", chromedp.Evaluate[bool](script+";true"))
	}
	// label-content-name-mismatch is one of axe's experimental rules,
	// off unless named: a button's accessible name must hold its text.
	const run = `axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
			rules: {"label-content-name-mismatch": {enabled: true}}})
		.then(r => r.violations.map(v => v.id + ": " + v.help + " at " + v.nodes.map(n => n.target.join(" ")).join(", ")))`
	for _, v := range runIn(p, "run axe-core on "+page, chromedp.Evaluate[[]string](run, chromedp.EvalAwaitPromise)) {
		p.screenshot("axe-" + page)
		p.tb.Errorf("%s: %s: accessibility violation %s", p.name, page, v)
	}
}

// TestBrowserRecovery is the walk of a person who forgot their password,
// in Chromium, with the mail read from a real SMTP server: "Forgot
// password?" on the sign-in page, the address, the mail's link, the new
// password twice, and signed in, while the session on their other device
// has ended. Every page on the way passes axe-core. Then the verification
// of a new account by its link, and the email section of /account.
func TestBrowserRecovery(t *testing.T) {
	t.Parallel()
	c := startChrome(t)
	srv, flags := plainMail(t)
	s := startServer(t, nil, append([]string{"--data-dir", t.TempDir()}, flags...)...)
	in := &inbox{srv: srv}
	signupUser(t, s.URL, "ada@example.com")
	in.next(t)

	laptop := c.person("laptop", s.URL)
	laptop.signIn("ada@example.com", browserPassword, "")
	laptop.do("land on the account page", chromedp.WaitVisible(chromedp.CSS(`#who-email`)))

	phone := c.person("phone", s.URL)
	phone.do("open the sign-in page", chromedp.Navigate(s.URL+"/"), chromedp.WaitVisible(chromedp.CSS(`#forgot-link`)))
	phone.accessible("sign-in")
	phone.do("forgot password", chromedp.Click(chromedp.CSS(`#forgot-link`)), chromedp.WaitVisible(chromedp.CSS(`#recovery-email`)))
	phone.accessible("recovery")
	phone.noInline()
	phone.screenshot("recovery")
	phone.do("ask for a link",
		chromedp.SendKeys(chromedp.CSS(`#recovery-email`), "ada@example.com"),
		chromedp.Click(chromedp.CSS(`#recovery-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#code-form`)),
	)
	phone.see("h1", "Check your mail")
	phone.accessible("check-your-mail")
	phone.screenshot("check-your-mail")

	m := in.next(t)
	wantMailTo(t, m, "ada@example.com", "Set a new password")
	path, tok, _ := secretsOf(t, m)
	phone.do("open the link", chromedp.Navigate(s.URL+path+"?token="+tok), chromedp.WaitVisible(chromedp.CSS(`#reset-password`)))
	phone.see("h1", "Choose a new password")
	phone.accessible("reset")
	phone.noInline()
	phone.screenshot("reset")
	const next = "a brand new passphrase"
	phone.do("mistype the second password",
		chromedp.SendKeys(chromedp.CSS(`#reset-password`), next),
		chromedp.SendKeys(chromedp.CSS(`#reset-confirm`), next+"x"),
		chromedp.Click(chromedp.CSS(`#reset-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#reset-confirm-error`)),
	)
	phone.accessible("reset-error")
	phone.do("set the new password",
		chromedp.SendKeys(chromedp.CSS(`#reset-password`), next),
		chromedp.SendKeys(chromedp.CSS(`#reset-confirm`), next),
		chromedp.Click(chromedp.CSS(`#reset-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#who-email`)),
	)
	phone.see(".flash", "Your new password is set")
	phone.see("#email-state", "Verified")
	if got := phone.path(); got != "/account" {
		t.Errorf("after the reset the phone is at %q, want /account", got)
	}
	phone.accessible("account")
	phone.screenshot("signed-in")

	wantMailTo(t, in.next(t), "ada@example.com", "A change to your valet account")
	laptop.do("the laptop's next click", chromedp.Navigate(s.URL+"/account"), chromedp.WaitVisible(chromedp.CSS(`#signin-form`)))
	laptop.see(".flash", "Your sign-in has ended.")

	// The link again: used up, and the page offers to start again.
	phone.do("the link again", chromedp.Navigate(s.URL+path+"?token="+tok), chromedp.WaitVisible(chromedp.CSS(`#reset-password`)),
		chromedp.SendKeys(chromedp.CSS(`#reset-password`), next+"!"),
		chromedp.SendKeys(chromedp.CSS(`#reset-confirm`), next+"!"),
		chromedp.Click(chromedp.CSS(`#reset-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#recovery-form`)),
	)
	phone.see("#request-error", "wrong, used or expired")
	phone.accessible("used-link")

	// A new account verifies its address by the link of its mail.
	bob := c.person("bob", s.URL)
	bob.signUp("bob@example.com")
	bob.see("#email-state", "Not verified")
	bob.accessible("account-unverified")
	bob.screenshot("account-unverified")
	_, tok, _ = secretsOf(t, in.next(t))
	bob.do("open the verification link", chromedp.Navigate(s.URL+"/verify?token="+tok), chromedp.WaitVisible(chromedp.CSS(`#verify-link-form`)))
	bob.accessible("verify-link")
	bob.do("confirm", chromedp.Click(chromedp.CSS(`#verify-link-form button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(`#who-email`)))
	bob.see(".flash", "Your email address is verified.")
	bob.see("#email-state", "Verified")
	bob.do("the code form", chromedp.Navigate(s.URL+"/verify"), chromedp.WaitVisible(chromedp.CSS(`#verify-code`)),
		chromedp.SendKeys(chromedp.CSS(`#verify-code`), "12345678"),
		chromedp.Click(chromedp.CSS(`#verify-code-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#verify-error`)),
	)
	if !strings.Contains(bob.text("#verify-error"), "wrong, used or expired") {
		t.Errorf("the wrong code's page says %q", bob.text("#verify-error"))
	}
	bob.accessible("verify-code-error")
	bob.signOut()
	bob.do("the code form signed out", chromedp.Navigate(s.URL+"/verify"), chromedp.WaitVisible(chromedp.CSS(`#resend-form`)))
	bob.accessible("verify-signed-out")
}

// TestBrowserSignInForPeople: sign-up on its own page, the mode choice
// under a closed disclosure with the server's default checked, the focus
// in the password field after a wrong password, a Caps Lock hint, and
// /admin and the sign-up page clean for axe-core (its "Sign out
// everywhere" buttons name what they show).
func TestBrowserSignInForPeople(t *testing.T) {
	t.Parallel()
	c := startChrome(t)
	dir := t.TempDir()
	createUser(t, dir, "admin@example.com", "admin")
	createUser(t, dir, "ada@example.com")
	s := startServer(t, nil, "--data-dir", dir, "--mode", "hybrid")
	p := c.person("person", s.URL)
	p.do("open the sign-in page", chromedp.Navigate(s.URL+"/"), chromedp.WaitVisible(chromedp.CSS(`#signin-form`)))
	if eval[bool](p, `document.querySelector("details.advanced").open`) {
		t.Error("the mode choice is open on a fresh sign-in page")
	}
	if !eval[bool](p, `document.querySelector("input[name=mode][value=hybrid]").checked`) {
		t.Error("the server's default mode is not the one checked")
	}
	if eval[bool](p, `!!document.querySelector("#signup-form")`) {
		t.Error("the sign-in page holds the sign-up form")
	}

	// Caps Lock: what a keyboard says with each key.
	p.do("type with Caps Lock", chromedp.Click(chromedp.CSS(`#signin-password`)))
	eval[bool](p, `document.querySelector("#signin-password").dispatchEvent(new KeyboardEvent("keyup", {key: "A", modifierCapsLock: true})), true`)
	p.see("#signin-password-caps", "Caps Lock is on.")
	p.accessible("sign-in-caps-lock")
	eval[bool](p, `document.querySelector("#signin-password").dispatchEvent(new KeyboardEvent("keyup", {key: "a"})), true`)
	if !eval[bool](p, `document.querySelector("#signin-password-caps").hidden`) {
		t.Error("the Caps Lock hint stays after Caps Lock is off")
	}

	p.signIn("ada@example.com", "not the password", "")
	p.do("wait for the error", chromedp.WaitVisible(chromedp.CSS(`#signin-error`)))
	// The browser moves the focus once the page has loaded, which may
	// come a moment after the error is visible.
	id := eval[string](p, `document.activeElement.id`)
	for deadline := time.Now().Add(3 * time.Second); id != "signin-password" && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		id = eval[string](p, `document.activeElement.id`)
	}
	if id != "signin-password" {
		t.Errorf("after a wrong password the focus is on %q, want the password field; %s", id,
			eval[string](p, `[document.activeElement.outerHTML.slice(0, 120), "hasFocus=" + document.hasFocus(), document.visibilityState, document.readyState, "autofocus on password=" + document.querySelector("#signin-password").hasAttribute("autofocus"), location.pathname].join(" | ")`))
	}
	p.accessible("wrong-password")

	p.do("go to sign-up", chromedp.Click(chromedp.CSS(`#signup-link`)), chromedp.WaitVisible(chromedp.CSS(`#signup-form`)))
	if got := p.path(); got != "/signup" {
		t.Errorf("the sign-up link leads to %q", got)
	}
	p.accessible("sign-up")
	p.noInline()
	p.screenshot("sign-up")

	// The new pages keep the bar of the others: AA contrast in both
	// schemes, and no sideways scrolling at 360 px.
	for _, page := range []string{"/signup", "/recovery", "/verify"} {
		for _, scheme := range []string{"light", "dark"} {
			p.do("prefer "+scheme, prefer(scheme), chromedp.Navigate(s.URL+page), chromedp.WaitVisible(chromedp.CSS(`main h1`)))
			p.contrast(page + ", " + scheme)
		}
	}
	p.do("narrow", chromedp.EmulateViewport(360, 740, chromedp.EmulateMobile))
	for _, page := range []string{"/", "/signup", "/recovery", "/verify"} {
		p.do("open "+page, chromedp.Navigate(s.URL+page), chromedp.WaitVisible(chromedp.CSS(`main h1`)))
		p.wide(page)
	}

	admin := c.person("admin", s.URL)
	admin.signIn("admin@example.com", browserPassword, "session")
	admin.do("land on the account page", chromedp.WaitVisible(chromedp.CSS(`#who-email`)))
	admin.do("open /admin", chromedp.Navigate(s.URL+"/admin"), chromedp.WaitVisible(chromedp.CSS(`main table, main .users, main h1`)))
	admin.accessible("admin")
}
