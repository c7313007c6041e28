package main

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// startPasskeyServer starts valet with its public URL at localhost, which
// a browser takes as a WebAuthn relying party (an IP address it does not),
// and returns the server and that URL. The port is chosen first, since the
// public URL names it.
func startPasskeyServer(tb testing.TB, args ...string) (*server, string) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	if err := ln.Close(); err != nil {
		tb.Fatal(err)
	}
	base := "http://localhost:" + port
	s := startServer(tb, nil, append([]string{"--addr", "127.0.0.1:" + port, "--public-url", base}, args...)...)
	return s, base
}

// addAuthenticator gives the person's tab a virtual platform authenticator
// that keeps discoverable credentials, verifies its user, and answers at
// once, as a laptop's fingerprint reader would; synced, its credentials
// say they are backed up, as those of a phone's password manager do. It
// returns its id.
func (p *person) addAuthenticator(synced bool) webauthn.AuthenticatorID {
	p.tb.Helper()
	return p.addVirtual(webauthn.AuthenticatorTransportInternal, synced)
}

// addSecurityKey gives the person's tab a virtual USB security key with a
// PIN that keeps discoverable credentials, bound to the key. It returns
// its id.
func (p *person) addSecurityKey() webauthn.AuthenticatorID {
	p.tb.Helper()
	return p.addVirtual(webauthn.AuthenticatorTransportUsb, false)
}

func (p *person) addVirtual(transport webauthn.AuthenticatorTransport, synced bool) webauthn.AuthenticatorID {
	p.tb.Helper()
	return runIn(p, "add a virtual authenticator", func(ctx context.Context, tg *chromedp.Target) (webauthn.AuthenticatorID, error) {
		if _, err := cdp.Call(ctx, tg, webauthn.Enable, webauthn.EnableParams{}); err != nil {
			return "", err
		}
		res, err := cdp.Call(ctx, tg, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
			Options: &webauthn.VirtualAuthenticatorOptions{
				Protocol:                    webauthn.AuthenticatorProtocolCtap2,
				Ctap2version:                webauthn.Ctap2versionCtap21,
				Transport:                   transport,
				HasResidentKey:              true,
				HasUserVerification:         true,
				IsUserVerified:              true,
				AutomaticPresenceSimulation: true,
				DefaultBackupEligibility:    synced,
				DefaultBackupState:          synced,
			},
		})
		return res.AuthenticatorID, err
	})
}

// removeAuthenticator takes the virtual authenticator id away, as a
// security key is unplugged.
func (p *person) removeAuthenticator(id webauthn.AuthenticatorID) {
	p.tb.Helper()
	p.do("remove a virtual authenticator", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, webauthn.RemoveVirtualAuthenticator, webauthn.RemoveVirtualAuthenticatorParams{AuthenticatorID: id})
		return err
	}))
}

// presence sets whether the authenticator finds its user present at once.
func (p *person) presence(id webauthn.AuthenticatorID, on bool) {
	p.tb.Helper()
	p.do("set presence", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, webauthn.SetAutomaticPresenceSimulation, webauthn.SetAutomaticPresenceSimulationParams{AuthenticatorID: id, Enabled: on})
		return err
	}))
}

// credentials returns how many credentials the authenticator holds.
func (p *person) credentials(id webauthn.AuthenticatorID) int {
	p.tb.Helper()
	return runIn(p, "list the authenticator's credentials", func(ctx context.Context, tg *chromedp.Target) (int, error) {
		res, err := cdp.Call(ctx, tg, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: id})
		return len(res.Credentials), err
	})
}

// withoutAutofill makes the pages the person opens next see a browser
// without conditional mediation, until restore is called: Chromium's
// virtual authenticator answers a conditional request at once, which
// would sign in before the button could be tried.
func (p *person) withoutAutofill() (restore func()) {
	p.tb.Helper()
	const src = `if (window.PublicKeyCredential) { PublicKeyCredential.isConditionalMediationAvailable = () => Promise.resolve(false); }`
	id := runIn(p, "turn the autofill off", func(ctx context.Context, tg *chromedp.Target) (cdppage.ScriptIdentifier, error) {
		res, err := cdp.Call(ctx, tg, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: src})
		return res.Identifier, err
	})
	return func() {
		p.tb.Helper()
		p.do("turn the autofill back on", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, cdppage.RemoveScriptToEvaluateOnNewDocument, cdppage.RemoveScriptToEvaluateOnNewDocumentParams{Identifier: id})
			return err
		}))
	}
}

// waitPath waits until the tab's address is want, failing after 15 s.
func (p *person) waitPath(what, want string) {
	p.tb.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := p.path()
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			p.screenshot("not-at-" + what)
			p.tb.Fatalf("%s: %s: at %q, want %q", p.name, what, got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// factorsListed counts the second factors the account page lists.
func (p *person) factorsListed() int {
	p.tb.Helper()
	p.do("open the account page", chromedp.Navigate(p.base+"/account"), chromedp.WaitVisible(chromedp.CSS(`#mfa-h`)))
	return eval[int](p, `document.querySelectorAll("li.factor").length`)
}

// signOutMFA signs out and waits for the sign-in page by polling the
// new document, which a wait begun on the old one may not see.
func (p *person) signOutMFA() {
	p.tb.Helper()
	p.do("sign out", chromedp.Click(chromedp.CSS(`.signout button`)))
	p.waitFor("the sign-in page", `location.pathname === "/" && document.readyState === "complete" && !!document.querySelector("#signin-form")`)
}

// waitFor waits until the JavaScript expression cond is true in the tab,
// failing after 15 s.
func (p *person) waitFor(what, cond string) {
	p.tb.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			p.screenshot("not-" + what)
			p.tb.Fatalf("%s: %s did not come within 15s (last error %v)", p.name, what, err)
		}
	}
}

// TestBrowserMFAPasskeys is the life of a passkey in Chromium with a
// virtual authenticator: added on /account, signing in alone from the
// button and from the email field's autofill, asked for after the
// password as a second factor, and removed; and a registration made from
// an origin that is not valet's public URL, refused with nothing stored.
func TestBrowserMFAPasskeys(t *testing.T) {
	t.Parallel()
	c := startChromeResolving(t)
	_, base := startPasskeyServer(t, "--data-dir", t.TempDir())
	ada := c.person("ada", base)
	auth := ada.addAuthenticator(true)

	ada.signUp("ada@example.com")
	ada.see("#no-factors", "You have no second factor")
	ada.see("#add-passkey-h", "Add a passkey")
	ada.accessible("account-no-factors")
	ada.do("add a passkey",
		chromedp.SendKeys(chromedp.CSS(`#passkey-name`), "Laptop"),
		chromedp.Click(chromedp.CSS(`#add-passkey`)),
		chromedp.WaitVisible(chromedp.CSS(`#recovery-codes`)),
	)
	ada.see("h1", "Your passkey is added")
	if n := eval[int](ada, `document.querySelectorAll("#recovery-codes li").length`); n != 10 {
		t.Errorf("%d recovery codes shown with the first factor, want 10", n)
	}
	ada.accessible("codes")
	ada.noInline()
	ada.screenshot("passkey-codes")
	if n := ada.credentials(auth); n != 1 {
		t.Fatalf("the authenticator holds %d credentials, want 1", n)
	}
	ada.do("continue", chromedp.Click(chromedp.CSS(`#codes-done`)), chromedp.WaitVisible(chromedp.CSS(`#factors`)))
	ada.see(`li.factor[data-kind="webauthn"]`, "Laptop")
	ada.see(`li.factor[data-kind="webauthn"]`, "synced passkey")
	ada.see("#codes-left", "10")
	ada.accessible("account-with-passkey")
	ada.screenshot("account-passkey")
	// The page that signing out lands on would sign in again through the
	// autofill at once: that comes after the button.
	restore := ada.withoutAutofill()
	ada.signOutMFA()

	// The button: a passkey alone, in the mode chosen under Advanced.
	ada.do("open the sign-in page", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`#passkey-button`)))
	if got := eval[string](ada, `document.querySelector("#signin-email").getAttribute("autocomplete")`); got != "username webauthn" {
		t.Errorf("the email field's autocomplete is %q", got)
	}
	ada.accessible("sign-in-with-passkey")
	ada.screenshot("signin-passkey")
	ada.do("sign in with a passkey",
		chromedp.Click(chromedp.CSS(`details.advanced summary`)),
		chromedp.Click(chromedp.CSS(`input[name=mode][value=hybrid]`)),
		chromedp.Click(chromedp.CSS(`#passkey-button`)),
		chromedp.WaitVisible(chromedp.CSS(`#signed-in-with`)),
	)
	ada.waitPath("after the passkey", "/account")
	ada.see("#signed-in-with", "passkey")
	ada.see(".page-head", "hybrid")

	// The autofill: the page signing out lands on starts a conditional
	// request as it loads, and the virtual authenticator, which simulates
	// the person's presence, answers it with the passkey it holds, as a
	// person picking it from the email field's menu does. The sign-in
	// must come from that request: the button is not pressed.
	restore()
	// A mark on this document tells its successors apart from it.
	eval[bool](ada, `window.beforeSignOut = true`)
	ada.do("sign out", chromedp.Click(chromedp.CSS(`.signout button`)))
	ada.waitFor("a new page", `window.beforeSignOut === undefined`)
	state := ""
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if ada.path() == "/account" {
			state = "answered"
			break
		}
		state = eval[string](ada, `(document.querySelector("#passkey-form") || {getAttribute: () => "no form"}).getAttribute("data-autofill") || ""`)
		if state == "waiting" {
			// What a person does: focus the field the menu belongs to.
			// The request may be answered between the read and the
			// focus, and the page gone: focus what is there, if anything.
			eval[bool](ada, `(document.querySelector("#signin-email") || {focus() {}}).focus(), true`)
		}
		if state == "unavailable" || state == "failed" {
			break
		}
	}
	if state != "answered" {
		t.Fatalf("the sign-in page's conditional request did not sign in: data-autofill=%q, error %q", state,
			eval[string](ada, `(document.querySelector("#passkey-form") || {getAttribute: () => ""}).getAttribute("data-autofill-error") || ""`))
	}
	ada.waitFor("the account page", `document.readyState === "complete" && !!document.querySelector("#signed-in-with")`)
	ada.see("#signed-in-with", "passkey")

	// The button while the autofill waits: the page ends the waiting
	// request and asks anew. With no presence simulated, the virtual
	// authenticator leaves the conditional request waiting.
	ada.presence(auth, false)
	ada.signOutMFA()
	ada.do("the autofill waits", chromedp.WaitVisible(chromedp.CSS(`#passkey-form[data-autofill="waiting"]`)))
	ada.presence(auth, true)
	ada.do("sign in with the button", chromedp.Click(chromedp.CSS(`#passkey-button`)), chromedp.WaitVisible(chromedp.CSS(`#signed-in-with`)))
	ada.waitPath("after the button", "/account")

	restore = ada.withoutAutofill()
	defer restore()
	ada.signOutMFA()

	// The password, then the passkey as the second factor.
	ada.signIn("ada@example.com", browserPassword, "")
	ada.do("the second step", chromedp.WaitVisible(chromedp.CSS(`#mfa-passkey`)))
	ada.see("h1", "Your second factor")
	ada.accessible("second-step-passkey")
	ada.noInline()
	ada.screenshot("second-step-passkey")
	ada.do("use the passkey", chromedp.Click(chromedp.CSS(`#mfa-passkey`)), chromedp.WaitVisible(chromedp.CSS(`#signed-in-with`)))
	ada.waitPath("after the second factor", "/account")
	ada.see("#signed-in-with", "password and synced passkey unlocked with a PIN or biometric")

	// A second passkey, on a security key of its own: both are listed by
	// name, and removing one leaves the other. The laptop's authenticator
	// holds an excluded credential, so it is left without presence while
	// the key answers.
	key := ada.addSecurityKey()
	ada.presence(auth, false)
	ada.do("add a second passkey",
		chromedp.SendKeys(chromedp.CSS(`#passkey-name`), "Blue key"),
		chromedp.Click(chromedp.CSS(`#add-passkey`)),
	)
	// The page the addition lands on, not the one it was asked from.
	ada.waitFor("the key's passkey listed", `!!document.querySelector('li.factor[data-name="Blue key"]') && !!document.querySelector(".flash")`)
	ada.presence(auth, true)
	ada.see(".flash", "Your passkey is added")
	if n := ada.credentials(key); n != 1 {
		t.Fatalf("the security key holds %d credentials, want 1", n)
	}
	names := eval[[]string](ada, `[...document.querySelectorAll('li.factor[data-kind="webauthn"]')].map(li => li.textContent.replace(/\s+/g, " ").trim())`)
	if len(names) != 2 || !strings.Contains(names[0], "Laptop") || !strings.Contains(names[1], "Blue key") ||
		strings.Contains(names[1], "synced") {
		t.Fatalf("the passkeys listed: %q, want Laptop (synced) and Blue key (not synced)", names)
	}
	ada.do("remove the security key's passkey",
		chromedp.Click(chromedp.CSS(`li.factor[data-name="Blue key"] button`)),
	)
	ada.waitFor("the key's passkey gone", `!document.querySelector('li.factor[data-name="Blue key"]') && !!document.querySelector(".flash")`)
	ada.see(".flash", "The second factor is removed.")
	names = eval[[]string](ada, `[...document.querySelectorAll('li.factor[data-kind="webauthn"]')].map(li => li.textContent)`)
	if len(names) != 1 || !strings.Contains(names[0], "Laptop") {
		t.Fatalf("after removing one passkey the list is %q, want Laptop alone", names)
	}
	ada.removeAuthenticator(key)

	// Removed, it signs in no more.
	ada.do("remove the passkey",
		chromedp.Click(chromedp.CSS(`li.factor[data-kind="webauthn"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`#no-factors`)),
	)
	ada.see(".flash", "The second factor is removed.")
	ada.signOutMFA()
	ada.do("try the removed passkey", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`#passkey-button`)),
		chromedp.Click(chromedp.CSS(`#passkey-button`)), chromedp.WaitVisible(chromedp.CSS(`#signin-error`)))
	ada.see("#signin-error", "not accepted")
	if got := eval[string](ada, `document.querySelector("#passkey-form").getAttribute("data-autofill")`); got != "off" {
		t.Errorf("after a refused passkey the autofill is %q, want off", got)
	}
	ada.accessible("passkey-refused")

	// From an address that is not the public URL: the browser refuses at
	// 127.0.0.1 (not a relying party), and at another host name, where the
	// page is made to ask for that host, valet refuses the answer.
	port := base[strings.LastIndexByte(base, ':')+1:]
	ip := c.person("ip", "http://127.0.0.1:"+port)
	ipAuth := ip.addAuthenticator(false)
	ip.signIn("ada@example.com", browserPassword, "")
	ip.do("land on the account page", chromedp.WaitVisible(chromedp.CSS(`#add-passkey`)))
	ip.do("add a passkey at 127.0.0.1", chromedp.Click(chromedp.CSS(`#add-passkey`)), chromedp.WaitVisible(chromedp.CSS(`#passkey-add-error`)))
	ip.see("#passkey-add-error", "refused")
	if n := ip.credentials(ipAuth); n != 0 {
		t.Errorf("the authenticator at 127.0.0.1 made %d credentials", n)
	}
	if n := ip.factorsListed(); n != 0 {
		t.Fatalf("%d factors stored after the refusal at 127.0.0.1", n)
	}

	other := c.person("other", "http://other.localhost:"+port)
	otherAuth := other.addAuthenticator(false)
	other.signIn("ada@example.com", browserPassword, "")
	other.do("land on the account page", chromedp.WaitVisible(chromedp.CSS(`#add-passkey`)))
	eval[bool](other, `(() => {
		const create = navigator.credentials.create.bind(navigator.credentials);
		navigator.credentials.create = o => { o.publicKey.rp.id = location.hostname; return create(o); };
		return true;
	})()`)
	other.do("add a passkey for another host",
		chromedp.SendKeys(chromedp.CSS(`#passkey-name`), "Forged"),
		chromedp.Click(chromedp.CSS(`#add-passkey`)),
		chromedp.WaitVisible(chromedp.CSS(`#passkey-add-error`)),
	)
	other.see("#passkey-add-error", "That passkey was not accepted.")
	if n := other.credentials(otherAuth); n != 1 {
		t.Errorf("the browser at other.localhost made %d credentials, want 1 (for valet to refuse)", n)
	}
	other.accessible("passkey-add-refused")
	if n := other.factorsListed(); n != 0 {
		t.Fatalf("%d factors stored after the refusal at other.localhost", n)
	}
	ada.signIn("ada@example.com", browserPassword, "")
	ada.do("land on the account page", chromedp.WaitVisible(chromedp.CSS(`#who-email`)))
	if n := ada.factorsListed(); n != 0 {
		t.Fatalf("%d factors listed at the public URL after the refusals", n)
	}
}

// TestBrowserMFATOTP: an authenticator app added through the pages, with
// the secret read from the page and its code computed; the recovery codes
// shown once; the sign-in with password and code, a wrong code first; a
// recovery code instead. An administrator, whom the server's policy holds
// until they add a second factor, does, then resets the user's factors.
func TestBrowserMFATOTP(t *testing.T) {
	t.Parallel()
	c := startChrome(t)
	dir := t.TempDir()
	createUser(t, dir, "root@example.com", "admin")
	s := startServer(t, nil, "--data-dir", dir, "--mfa", "required-for-role=admin")
	ada := c.person("ada", s.URL)
	ada.signUp("ada@example.com")

	secret, codes := ada.addApp("/account", "Phone")
	ada.do("continue", chromedp.Click(chromedp.CSS(`#codes-done`)), chromedp.WaitVisible(chromedp.CSS(`#factors`)))
	ada.see(`li.factor[data-kind="totp"]`, "Phone")
	ada.see("#signed-in-with", "one-time code")
	ada.signOutMFA()

	ada.signIn("ada@example.com", browserPassword, "")
	ada.do("the second step", chromedp.WaitVisible(chromedp.CSS(`#mfa-code`)))
	if got := eval[string](ada, `document.activeElement.id`); got != "mfa-code" {
		t.Errorf("the focus is on %q, want the code field", got)
	}
	if got := eval[string](ada, `document.querySelector("#mfa-code").inputMode`); got != "numeric" {
		t.Errorf("the code field's inputmode is %q", got)
	}
	ada.accessible("second-step")
	ada.noInline()
	ada.screenshot("second-step")
	ada.do("a wrong code",
		chromedp.SendKeys(chromedp.CSS(`#mfa-code`), "000000"),
		chromedp.Click(chromedp.CSS(`#mfa-totp-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#mfa-code-error`)),
	)
	ada.see("#mfa-code-error", "This code is not right.")
	ada.accessible("second-step-wrong-code")
	// The code of the next step: the one of this step confirmed the app.
	ada.do("the right code",
		chromedp.SendKeys(chromedp.CSS(`#mfa-code`), totpAt(t, secret, time.Now().Add(30*time.Second))),
		chromedp.Click(chromedp.CSS(`#mfa-totp-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#signed-in-with`)),
	)
	ada.see("#signed-in-with", "password and one-time code")
	// The new parts keep the bar of the other pages: AA contrast in both
	// schemes, and no sideways scrolling at 360 px.
	for _, scheme := range []string{"light", "dark"} {
		ada.do("prefer "+scheme, prefer(scheme), chromedp.Navigate(s.URL+"/account"), chromedp.WaitVisible(chromedp.CSS(`#factors`)))
		ada.contrast("/account with a factor, " + scheme)
	}
	ada.do("narrow", chromedp.EmulateViewport(360, 740, chromedp.EmulateMobile), chromedp.Navigate(s.URL+"/account"), chromedp.WaitVisible(chromedp.CSS(`#factors`)))
	ada.wide("/account with a factor")
	ada.do("wide again", chromedp.EmulateViewport(1280, 800))
	ada.signOutMFA()

	ada.signIn("ada@example.com", browserPassword, "")
	for _, scheme := range []string{"dark", "light"} {
		ada.do("prefer "+scheme, prefer(scheme), chromedp.WaitVisible(chromedp.CSS(`#mfa-code`)))
		ada.contrast("second step, " + scheme)
	}
	ada.do("a recovery code",
		chromedp.WaitVisible(chromedp.CSS(`#mfa-recovery summary`)),
		chromedp.Click(chromedp.CSS(`#mfa-recovery summary`)),
		chromedp.SendKeys(chromedp.CSS(`#mfa-recovery-code`), codes[0]),
		chromedp.Click(chromedp.CSS(`#mfa-recovery-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#codes-left`)),
	)
	ada.see("#codes-left", "9")

	// The administrator must add a factor before anything else.
	root := c.person("root", s.URL)
	root.signIn("root@example.com", browserPassword, "")
	root.do("held on the account page", chromedp.WaitVisible(chromedp.CSS(`#must-enrol`)))
	root.see("#must-enrol", "This server requires a second factor: add one to continue.")
	root.accessible("must-enrol")
	root.screenshot("must-enrol")
	root.do("try the admin page", chromedp.Navigate(s.URL+"/admin"), chromedp.WaitVisible(chromedp.CSS(`#must-enrol`)))
	if got := root.path(); got != "/account?rd=%2Fadmin" {
		t.Errorf("the admin page sent the administrator to %q", got)
	}
	root.addApp("/account?rd=%2Fadmin", "")
	root.do("continue to the admin page", chromedp.Click(chromedp.CSS(`#codes-done`)), chromedp.WaitVisible(chromedp.CSS(`#q`)))
	root.waitPath("after enrolling", "/admin")
	root.accessible("admin-with-factors")
	root.do("reset ada's factors",
		chromedp.Click(chromedp.CSS(`button[aria-label="Reset second factors: ada@example.com"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.flash`)),
	)
	root.see(".flash", "second factors and recovery codes are removed")
	ada.do("ada's next click", chromedp.Navigate(s.URL+"/account"), chromedp.WaitVisible(chromedp.CSS(`#signin-form`)))
	ada.signIn("ada@example.com", browserPassword, "")
	ada.do("password alone", chromedp.WaitVisible(chromedp.CSS(`#no-factors`)))
}

// addApp adds an authenticator app named name on the account page at
// path, and returns its secret, read from the page, and the recovery codes
// shown.
func (p *person) addApp(path, name string) (string, []string) {
	p.tb.Helper()
	p.do("open the account page", chromedp.Navigate(p.base+path), chromedp.WaitVisible(chromedp.CSS(`#add-totp`)))
	if name != "" {
		p.do("name the app", chromedp.SendKeys(chromedp.CSS(`#totp-name`), name))
	}
	p.do("add an authenticator app", chromedp.Click(chromedp.CSS(`#add-totp`)), chromedp.WaitVisible(chromedp.CSS(`#totp-qr`)))
	p.accessible("authenticator-app")
	p.noInline()
	p.screenshot("authenticator-app")
	if !eval[bool](p, `document.querySelector("#totp-qr").naturalWidth > 0`) {
		p.tb.Error("the QR code does not show")
	}
	secret := strings.ReplaceAll(p.text("#totp-secret"), " ", "")
	start := earlyInStep()
	p.do("confirm with the app's code",
		chromedp.SendKeys(chromedp.CSS(`#totp-code`), totpAt(p.tb, secret, start)),
		chromedp.Click(chromedp.CSS(`#totp-confirm-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#recovery-codes`)),
	)
	codes := eval[[]string](p, `[...document.querySelectorAll("#recovery-codes code")].map(c => c.textContent)`)
	if len(codes) != 10 {
		p.tb.Fatalf("%d recovery codes shown, want 10", len(codes))
	}
	return secret, codes
}

// TestBrowserMFAReauth: with a reauth window of a few seconds, adding a
// passkey asks for the password first (an account without a factor), and
// removing it then asks for the passkey; each time the person confirms,
// lands back on /account, and makes the change.
func TestBrowserMFAReauth(t *testing.T) {
	t.Parallel()
	c := startChrome(t)
	_, base := startPasskeyServer(t, "--data-dir", t.TempDir(), "--reauth-window", "5s")
	ada := c.person("ada", base)
	ada.addAuthenticator(false)
	ada.signUp("ada@example.com")
	time.Sleep(5500 * time.Millisecond)

	ada.do("add a passkey, late", chromedp.Click(chromedp.CSS(`#add-passkey`)), chromedp.WaitVisible(chromedp.CSS(`#reauth-password`)))
	ada.see("#reauth-h", "Confirm it is you")
	ada.accessible("reauth-password")
	ada.screenshot("reauth-password")
	ada.do("confirm with the password",
		chromedp.SendKeys(chromedp.CSS(`#reauth-password`), browserPassword),
		chromedp.Click(chromedp.CSS(`#reauth-password-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`.flash`)),
	)
	ada.see(".flash", "Make the change again now.")
	ada.do("add the passkey", chromedp.Click(chromedp.CSS(`#add-passkey`)), chromedp.WaitVisible(chromedp.CSS(`#recovery-codes`)))
	time.Sleep(5500 * time.Millisecond)

	ada.do("remove it, late",
		chromedp.Navigate(base+"/account"),
		chromedp.WaitVisible(chromedp.CSS(`li.factor button`)),
		chromedp.Click(chromedp.CSS(`li.factor button`)),
		chromedp.WaitVisible(chromedp.CSS(`#reauth-passkey`)),
	)
	if eval[bool](ada, `!!document.querySelector("#reauth-password")`) {
		t.Error("an account with a passkey is asked for its password")
	}
	ada.accessible("reauth-passkey")
	ada.screenshot("reauth-passkey")
	ada.do("confirm with the passkey", chromedp.Click(chromedp.CSS(`#reauth-passkey`)), chromedp.WaitVisible(chromedp.CSS(`.flash`)))
	ada.see(".flash", "Make the change again now.")
	ada.do("remove it", chromedp.Click(chromedp.CSS(`li.factor button`)), chromedp.WaitVisible(chromedp.CSS(`#no-factors`)))
	ada.see(".flash", "The second factor is removed.")
}
