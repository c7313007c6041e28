package web

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/valetauth/valet/auth"
	"github.com/valetauth/valet/passkey"
)

// withMFA sets the server's second-factor policy.
func withMFA(p auth.MFAPolicy) envOption {
	return func(c *envConfig) { c.auth.MFA = p }
}

// withPasskeys makes the service a WebAuthn relying party. The pages are
// served from 127.0.0.1, which cannot be one, so no browser's answer
// could pass; what the pages do with answers that do not is the test.
func withPasskeys(tb testing.TB) envOption {
	tb.Helper()
	rp, err := passkey.New(passkey.Config{RPID: "localhost", Origins: []string{"https://localhost"}})
	if err != nil {
		tb.Fatal(err)
	}
	return func(c *envConfig) { c.auth.Passkeys = rp }
}

// hidden returns the value of the first hidden field name of p.
func hidden(tb testing.TB, p page, name string) string {
	tb.Helper()
	m := regexp.MustCompile(`name="` + regexp.QuoteMeta(name) + `" value="([^"]*)"`).FindStringSubmatch(p.Body)
	if m == nil {
		tb.Fatalf("no hidden field %s in:\n%s", name, p.Body)
	}
	return m[1]
}

var (
	secretRE = regexp.MustCompile(`id="totp-secret">([A-Z2-7 ]+)<`)
	codeRE   = regexp.MustCompile(`<li><code>([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})</code></li>`)
)

// totpCode returns the code of secret (as the page shows it) at the
// env's time.
func (e *env) totpCode(tb testing.TB, secret string) string {
	tb.Helper()
	c, err := totp.GenerateCode(strings.ReplaceAll(secret, " ", ""), e.clk.Now())
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// enrolTOTP adds an authenticator app to the signed-in account of b
// through the pages, and returns its secret and the recovery codes.
func (b *browser) enrolTOTP(tb testing.TB) (secret string, codes []string) {
	tb.Helper()
	p := b.post("/account/mfa/totp", url.Values{"name": {"Phone"}})
	mustSee(tb, "authenticator app page", p, 200, "Add an authenticator app", `src="data:image/png;base64,`, `href="otpauth://totp/`)
	m := secretRE.FindStringSubmatch(p.Body)
	if m == nil {
		tb.Fatalf("no secret on the page:\n%s", p.Body)
	}
	secret = m[1]
	form := url.Values{"factor_id": {hidden(tb, p, "factor_id")}, "otpauth": {html.UnescapeString(hidden(tb, p, "otpauth"))}, "code": {b.e.totpCode(tb, secret)}}
	p = b.post("/account/mfa/totp/confirm", form)
	mustSee(tb, "recovery codes page", p, 200, "Save these recovery codes now.", `id="recovery-codes"`)
	for _, c := range codeRE.FindAllStringSubmatch(p.Body, -1) {
		codes = append(codes, c[1])
	}
	if len(codes) != 10 {
		tb.Fatalf("%d recovery codes on the page:\n%s", len(codes), p.Body)
	}
	// A code works once per 30-second step: the next one is the next step's.
	b.e.clk.Advance(30 * time.Second)
	return secret, codes
}

// passwordStep posts the password of email and returns the step page.
func (b *browser) passwordStep(tb testing.TB, form url.Values) page {
	tb.Helper()
	p := b.post("/signin", form)
	mustSee(tb, "second-factor step", p, 200, "Your second factor", `action="/signin/mfa"`)
	if b.cookie("__Host-valet_session") != "" || b.cookie("valet_token") != "" {
		tb.Fatal("the password step handed out a credential")
	}
	return p
}

func TestSecondFactorSignIn(t *testing.T) {
	e := newEnv(t)
	b := e.browser(uaChromeMac)
	b.signUp("ada@example.com")
	mustSee(t, "account without factors", b.get("/account"), 200, "Second factors and passkeys", "You have no second factor",
		`id="signed-in-with">This browser signed in with <strong>password</strong>`)

	// A wrong first code shows the page again with its QR code.
	p := b.post("/account/mfa/totp", nil)
	form := url.Values{"factor_id": {hidden(t, p, "factor_id")}, "otpauth": {html.UnescapeString(hidden(t, p, "otpauth"))}, "code": {"000000"}}
	p = b.post("/account/mfa/totp/confirm", form)
	mustSee(t, "wrong first code", p, 400, `id="totp-code-error"`, "This code is not right", `src="data:image/png;base64,`, `id="totp-secret"`)
	noInline(t, "authenticator app page", p)

	secret, codes := b.enrolTOTP(t)
	acct := b.get("/account")
	mustSee(t, "account with a factor", acct, 200, `data-kind="totp" data-name="Phone"`, "Authenticator app", `id="codes-left">10<`,
		"password and one-time code (authenticator app or recovery code)", `aria-label="Remove Phone (Authenticator app)"`)
	b.post("/signout", nil)

	// The password leads to the second step, which keeps the return target.
	step := b.passwordStep(t, url.Values{"email": {"ada@example.com"}, "password": {testPassword}, "return_to": {"/account?tab=mfa"}})
	noInline(t, "step page", step)
	mustSee(t, "step page", step, 200, `inputmode="numeric"`, `autocomplete="one-time-code"`, "Use a recovery code",
		`name="return_to" value="/account?tab=mfa"`)
	if strings.Contains(step.Body, "Use your passkey") {
		t.Error("the step offers a passkey to an account without one")
	}
	tok := hidden(t, step, "mfa_token")
	mfa := func(method, code string) page {
		t.Helper()
		return b.post("/signin/mfa", url.Values{"mfa_token": {tok}, "method": {method}, "code": {code},
			"return_to": {"/account?tab=mfa"}, "methods": {"totp,recovery_code"}})
	}
	p = mfa("totp", "123456")
	mustSee(t, "wrong code", p, 400, `id="mfa-code-error">This code is not right.`, `name="mfa_token" value="`+tok+`"`)
	if b.cookie("__Host-valet_session") != "" {
		t.Fatal("a wrong code signed in")
	}
	p = mfa("totp", e.totpCode(t, secret))
	if p.Status != http.StatusSeeOther || p.Location() != "/account?tab=mfa" {
		t.Fatalf("right code: %d → %q\n%s", p.Status, p.Location(), p.Body)
	}
	mustSee(t, "signed in with two factors", b.get("/account"), 200, "password and one-time code")

	// The attempt is spent: back to sign in, with a message.
	b.post("/signout", nil)
	p = mfa("totp", e.totpCode(t, secret))
	if p.Status != http.StatusSeeOther || p.Location() != "/?return_to=%2Faccount%3Ftab%3Dmfa" {
		t.Fatalf("spent token: %d → %q", p.Status, p.Location())
	}
	mustSee(t, "after a spent token", b.get(p.Location()), 200, "That sign-in was finished, took too long")

	// A recovery code, once; and a mode chosen on the sign-in page holds.
	e.clk.Advance(30 * time.Second)
	step = b.passwordStep(t, url.Values{"email": {"ada@example.com"}, "password": {testPassword}, "mode": {"token"}})
	tok = hidden(t, step, "mfa_token")
	mustSee(t, "mode kept", step, 200, `name="mode" value="token"`)
	p = mfa("recovery_code", "aaaa-bbbb-cccc")
	mustSee(t, "wrong recovery code", p, 400, `id="mfa-recovery-code-error">This recovery code is not right`, `id="mfa-recovery" open`)
	p = mfa("recovery_code", strings.ToUpper(codes[0]))
	if p.Status != http.StatusSeeOther {
		t.Fatalf("recovery code: %d\n%s", p.Status, p.Body)
	}
	if b.cookie("valet_token") == "" {
		t.Fatal("the token mode chosen before the second step was not used")
	}
	mustSee(t, "after a recovery code", b.get("/account"), 200, `id="codes-left">9<`, "token")
	b.post("/signout", nil)
	step = b.passwordStep(t, url.Values{"email": {"ada@example.com"}, "password": {testPassword}})
	tok = hidden(t, step, "mfa_token")
	mustSee(t, "used recovery code", mfa("recovery_code", codes[0]), 400, "This recovery code is not right, or was used already.")

	// Five wrong codes end the attempt.
	for range 4 {
		mfa("totp", "000000")
	}
	if p := mfa("totp", e.totpCode(t, secret)); p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location(), "/") || b.cookie("__Host-valet_session") != "" {
		t.Fatalf("after five wrong codes: %d → %q", p.Status, p.Location())
	}
}

func TestReauthBeforeChanges(t *testing.T) {
	e := newEnv(t)
	b := e.browser(uaChromeMac)
	b.signUp("ada@example.com")
	other := e.browser(uaIPhone)
	other.signIn("ada@example.com", "")
	mustSee(t, "no prompt when recent", b.get("/account?reauth=1"), 200)
	if strings.Contains(b.get("/account?reauth=1").Body, `id="reauth-h"`) {
		t.Fatal("a recent sign-in is asked to confirm")
	}
	e.clk.Advance(11 * time.Minute)

	// An account without a factor confirms with its password.
	p := b.post("/account/mfa/totp", nil)
	mustSee(t, "old sign-in", p, 403, `id="reauth-h"`, "Confirm it is you", `id="reauth-password"`, "for the next 10 minutes")
	noInline(t, "reauth prompt", p)
	mustSee(t, "sign out others, old sign-in", b.post("/account/sessions/revoke-others", nil), 403, `id="reauth-h"`)
	mustSee(t, "prompt asked for by a script", b.get("/account?reauth=1"), 200, `id="reauth-password"`)
	p = b.post("/account/reauth", url.Values{"method": {"password"}, "password": {"not my password"}})
	mustSee(t, "wrong password", p, 401, `id="reauth-password-error">Your password is not right.`)
	p = b.post("/account/reauth", url.Values{"method": {"totp"}, "code": {"123456"}})
	mustSee(t, "a method the account lacks", p, 400, "Confirm with one of: password.")
	p = b.post("/account/reauth", url.Values{"method": {"password"}, "password": {testPassword}})
	if p.Status != http.StatusSeeOther || p.Location() != "/account" {
		t.Fatalf("reauth: %d → %q\n%s", p.Status, p.Location(), p.Body)
	}
	mustSee(t, "after reauth", b.get("/account"), 200, "Make the change again now.")
	secret, _ := b.enrolTOTP(t)
	mustSee(t, "sign out others", b.post("/account/sessions/revoke-others", nil), 303)
	if other.get("/account").Status != http.StatusSeeOther {
		t.Error("the other device is still signed in")
	}

	// With a factor, the password is no longer proof enough.
	e.clk.Advance(11 * time.Minute)
	acct := b.get("/account")
	id := regexp.MustCompile(`action="/account/mfa/([^/"]+)/delete"`).FindStringSubmatch(acct.Body)
	if id == nil {
		t.Fatalf("no remove button:\n%s", acct.Body)
	}
	p = b.post("/account/mfa/"+id[1]+"/delete", nil)
	mustSee(t, "remove, old sign-in", p, 403, `id="reauth-code"`)
	if strings.Contains(p.Body, `id="reauth-password"`) {
		t.Error("an account with a factor is offered its password")
	}
	mustSee(t, "password change, old sign-in", b.post("/account/password", url.Values{"current_password": {testPassword},
		"new_password": {"a brand new passphrase"}, "confirm_password": {"a brand new passphrase"}}), 403, `id="reauth-code"`)
	mustSee(t, "new codes, old sign-in", b.post("/account/recovery-codes", nil), 403, `id="reauth-code"`)
	mustSee(t, "wrong code", b.post("/account/reauth", url.Values{"method": {"totp"}, "code": {"000000"}}), 400, `id="reauth-code-error"`)
	mustSee(t, "password refused", b.post("/account/reauth", url.Values{"method": {"password"}, "password": {testPassword}}), 400, "Confirm with one of: totp.")
	mustSee(t, "right code", b.post("/account/reauth", url.Values{"method": {"totp"}, "code": {e.totpCode(t, secret)}}), 303)
	mustSee(t, "new codes", b.post("/account/recovery-codes", nil), 200, "Your new recovery codes", `id="recovery-codes"`)
	p = b.post("/account/mfa/"+id[1]+"/delete", nil)
	if p.Status != http.StatusSeeOther || p.Location() != "/account" {
		t.Fatalf("remove: %d → %q", p.Status, p.Location())
	}
	mustSee(t, "removed", b.get("/account"), 200, "The second factor is removed.", "You have no second factor")
	mustSee(t, "removed again", b.post("/account/mfa/"+id[1]+"/delete", nil), 303)
	mustSee(t, "gone", b.get("/account"), 200, "That second factor had already been removed.")
}

func TestMustEnrol(t *testing.T) {
	e := newEnv(t, withMFA(auth.MFAPolicy{Role: "admin"}))
	if _, err := e.svc.CreateUser(context.Background(), "root@example.com", testPassword, []string{"admin"}); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"session", "token"} {
		t.Run(mode, func(t *testing.T) {
			b := e.browser(uaChromeMac)
			b.signIn("root@example.com", mode)
			acct := b.get("/account")
			mustSee(t, "account", acct, 200, `id="must-enrol"`, "This server requires a second factor: add one to continue.", `id="totp-add-form"`)
			for _, hiddenPart := range []string{"Where you are signed in", `id="password-form"`, `id="who-email"`} {
				if strings.Contains(acct.Body, hiddenPart) {
					t.Errorf("the account page shows %q before a factor is added", hiddenPart)
				}
			}
			for path, want := range map[string]string{
				"/admin":                "/account?rd=%2Fadmin",
				"/admin?q=x":            "/account?rd=%2Fadmin%3Fq%3Dx",
				"/":                     "/account",
				"/?return_to=%2Fadmin":  "/account?rd=%2Fadmin",
				"/verify":               "/account?rd=%2Fverify",
				"/no/such/page":         "/account?rd=%2Fno%2Fsuch%2Fpage",
				"/account?rd=%2Fadmin":  "",
				"/signout":              "",
				"/assets/style.css?v=0": "",
			} {
				p := b.get(path)
				if want == "" {
					if p.Status != http.StatusOK {
						t.Errorf("%s: %d, want 200", path, p.Status)
					}
					continue
				}
				if p.Status != http.StatusSeeOther || p.Location() != want {
					t.Errorf("%s: %d → %q, want → %q", path, p.Status, p.Location(), want)
				}
			}
			for _, path := range []string{"/account/sessions/revoke-others", "/account/password", "/admin/users/x/mfa/reset"} {
				if p := b.post(path, nil); p.Status != http.StatusSeeOther || p.Location() != "/account" {
					t.Errorf("POST %s: %d → %q, want → /account", path, p.Status, p.Location())
				}
			}

			// Adding a factor leads on to the page asked for.
			p := b.post("/account/mfa/totp", url.Values{"return_to": {"/admin"}})
			mustSee(t, "authenticator app", p, 200, `name="return_to" value="/admin"`)
			m := secretRE.FindStringSubmatch(p.Body)
			p = b.post("/account/mfa/totp/confirm", url.Values{"factor_id": {hidden(t, p, "factor_id")}, "otpauth": {html.UnescapeString(hidden(t, p, "otpauth"))},
				"code": {e.totpCode(t, m[1])}, "return_to": {"/admin"}})
			mustSee(t, "codes", p, 200, `id="codes-done"`, `href="/admin"`)
			e.clk.Advance(30 * time.Second)
			mustSee(t, "admin after enrolling", b.get("/admin"), 200, "root@example.com")
			mustSee(t, "account after enrolling", b.get("/account"), 200, "Where you are signed in", "password and one-time code")
			if strings.Contains(b.get("/account").Body, `id="must-enrol"`) {
				t.Error("the banner stays after a factor was added")
			}
			// For the next subtest, an account without a factor again.
			if _, err := e.svc.ResetFactors(context.Background(), mustUser(t, e, "root@example.com").ID, auth.Client{}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestAdminResetsFactors(t *testing.T) {
	e := newEnv(t)
	if _, err := e.svc.CreateUser(context.Background(), "root@example.com", testPassword, []string{"admin"}); err != nil {
		t.Fatal(err)
	}
	ada := e.browser(uaIPhone)
	ada.signUp("ada@example.com")
	ada.enrolTOTP(t)
	admin := e.browser(uaChromeMac)
	admin.signIn("root@example.com", "")
	adaID := mustUser(t, e, "ada@example.com").ID
	list := admin.get("/admin?q=ada")
	mustSee(t, "admin list", list, 200, `<td data-label="Second factors">authenticator app</td>`, `aria-label="Reset second factors: ada@example.com"`,
		`action="/admin/users/`+adaID+`/mfa/reset"`)
	if strings.Count(list.Body, "Reset second factors:") != 1 {
		t.Error("a reset button shows for a user without factors")
	}

	// Not an admin: refused.
	mustSee(t, "reset by a user", ada.post("/admin/users/"+adaID+"/mfa/reset", nil), 403, "This page is for administrators.")
	mustSee(t, "reset of no one", admin.post("/admin/users/nobody/mfa/reset", url.Values{"q": {"ada"}}), 404, "There is no such user any more.")
	mustSee(t, "cross-site reset", admin.do(http.MethodPost, "/admin/users/"+adaID+"/mfa/reset", url.Values{},
		map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}), 403, "This form was sent from another site")
	if kinds, _ := e.svc.FactorKinds(context.Background(), adaID); len(kinds) != 1 {
		t.Fatalf("factors after refused resets: %v", kinds)
	}

	p := admin.post("/admin/users/"+adaID+"/mfa/reset", url.Values{"q": {"ada"}})
	if p.Status != http.StatusSeeOther || p.Location() != "/admin?q=ada" {
		t.Fatalf("reset: %d → %q", p.Status, p.Location())
	}
	mustSee(t, "after reset", admin.get("/admin?q=ada"), 200, "second factors and recovery codes are removed", `<span class="muted">none</span>`)
	if ada.get("/account").Status != http.StatusSeeOther {
		t.Error("the user's session survived the reset")
	}
	ada.signIn("ada@example.com", "")
}

func TestRecoveryKeepsTheSecondFactor(t *testing.T) {
	box := make(mailbox, 20)
	e := newEnv(t, withMail(box, nil))
	b := e.browser(uaChromeMac)
	b.signUp("ada@example.com")
	box.next(t) // verification
	secret, _ := b.enrolTOTP(t)
	box.next(t) // the factor was added
	b.post("/signout", nil)

	b.post("/recovery", url.Values{"email": {"ada@example.com"}})
	link, _ := linkAndCode(t, box.next(t))
	tok := hiddenToken(t, b.get(link))
	const next = "a wholly new passphrase"
	p := b.post("/recovery/reset", url.Values{"token": {tok}, "new_password": {next}, "confirm_password": {next}})
	mustSee(t, "reset", p, 200, "Your password is set. Your second factor is still needed to sign in; a recovery code works if you lost it.",
		`action="/signin/mfa"`)
	if b.cookie("__Host-valet_session") != "" {
		t.Fatal("a reset signed in without the second factor")
	}
	p = b.post("/signin/mfa", url.Values{"mfa_token": {hidden(t, p, "mfa_token")}, "method": {"totp"}, "code": {e.totpCode(t, secret)}})
	if p.Status != http.StatusSeeOther || p.Location() != "/account" {
		t.Fatalf("second factor after a reset: %d → %q\n%s", p.Status, p.Location(), p.Body)
	}
}

func TestPasskeyParts(t *testing.T) {
	plain := newEnv(t)
	b := plain.browser(uaChromeMac)
	p := b.get("/")
	if strings.Contains(p.Body, "Sign in with a passkey") || strings.Contains(p.Body, "username webauthn") {
		t.Error("a server without passkeys offers them on the sign-in page")
	}
	b.signUp("ada@example.com")
	if strings.Contains(b.get("/account").Body, "Add a passkey") {
		t.Error("a server without passkeys offers to add one")
	}

	e := newEnv(t, withPasskeys(t))
	b = e.browser(uaChromeMac)
	p = b.get("/?return_to=%2Faccount%3Fx%3D1")
	mustSee(t, "sign-in page", p, 200, `autocomplete="username webauthn"`, `id="passkey-form" data-webauthn="signin"`,
		"Sign in with a passkey", `action="/signin/passkey"`)
	noInline(t, "sign-in page with passkeys", p)
	mustSee(t, "no script", b.post("/signin/passkey", url.Values{"mode": {"token"}}), 400, "needs JavaScript", `value="token" checked`)
	mustSee(t, "garbage", b.post("/signin/passkey", url.Values{"credential": {`{"id":"x"}`}}), 400, "That passkey was not accepted.")
	b.signUp("ada@example.com")
	acct := b.get("/account")
	mustSee(t, "account", acct, 200, "Add a passkey", `data-webauthn="register"`, `action="/account/passkeys"`)
	noInline(t, "account with passkeys", acct)
	mustSee(t, "add without script", b.post("/account/passkeys", url.Values{}), 400, "Adding a passkey needs JavaScript in this browser.")
	mustSee(t, "add garbage", b.post("/account/passkeys", url.Values{"credential": {"{}"}}), 400, "That passkey was not accepted.")
	if fs, _, _ := e.svc.Factors(context.Background(), mustUser(t, e, "ada@example.com").ID); len(fs) != 0 {
		t.Fatalf("a refused passkey was stored: %v", fs)
	}

	// The step offers a passkey when the account has one (here: when the
	// form says so); a refused answer keeps the attempt.
	b.enrolTOTP(t)
	b.post("/signout", nil)
	step := b.passwordStep(t, url.Values{"email": {"ada@example.com"}, "password": {testPassword}})
	tok := hidden(t, step, "mfa_token")
	form := url.Values{"mfa_token": {tok}, "method": {"webauthn"}, "credential": {"{}"}, "methods": {"totp,webauthn,recovery_code"}}
	mustSee(t, "passkey refused", b.post("/signin/mfa", form), 400, `id="mfa-passkey-error">That passkey was not accepted.`,
		`data-webauthn="second"`, `name="mfa_token" value="`+tok+`"`)
}

// TestMFAFormAttacks posts what no page sends to every new form: the
// server answers each with a page that says what is wrong, never a 500,
// and keeps serving.
func TestMFAFormAttacks(t *testing.T) {
	e := newEnv(t, withPasskeys(t))
	b := e.browser(uaChromeMac)
	b.signUp("ada@example.com")
	b.enrolTOTP(t)
	factors, _, err := e.svc.Factors(context.Background(), mustUser(t, e, "ada@example.com").ID)
	if err != nil || len(factors) != 1 {
		t.Fatal(factors, err)
	}
	anon := e.browser(uaFirefox)
	step := anon.passwordStep(t, url.Values{"email": {"ada@example.com"}, "password": {testPassword}})
	tok := hidden(t, step, "mfa_token")

	huge := strings.Repeat("9", 60<<10)
	nasty := map[string]string{
		"empty":         "",
		"huge":          huge,
		"NUL":           "12\x0034",
		"invalid UTF-8": "\xff\xfe\xfd",
		"JSON array":    `[1,2,3]`,
		"JSON string":   `"abc"`,
		"wrong types":   `{"id":1,"rawId":true,"type":[],"response":"x"}`,
		"script":        `<script>alert(1)</script>`,
	}
	posts := []struct {
		name   string
		who    *browser
		path   string
		fields []string
		base   url.Values
	}{
		{"second step", anon, "/signin/mfa", []string{"mfa_token", "method", "code", "credential"},
			url.Values{"mfa_token": {tok}, "method": {"totp"}, "code": {"000000"}}},
		{"passkey sign-in", anon, "/signin/passkey", []string{"credential", "mode"}, url.Values{"credential": {"{}"}}},
		{"add authenticator app", b, "/account/mfa/totp", []string{"name"}, url.Values{}},
		{"confirm authenticator app", b, "/account/mfa/totp/confirm", []string{"factor_id", "otpauth", "code"},
			url.Values{"factor_id": {factors[0].ID}, "code": {"000000"}}},
		{"add passkey", b, "/account/passkeys", []string{"credential", "name"}, url.Values{"credential": {"{}"}}},
		{"reauth", b, "/account/reauth", []string{"method", "password", "code", "credential"}, url.Values{"method": {"totp"}}},
	}
	for _, post := range posts {
		for _, fieldName := range post.fields {
			for what, v := range nasty {
				t.Run(post.name+"/"+fieldName+"/"+what, func(t *testing.T) {
					form := url.Values{}
					for k, vs := range post.base {
						form[k] = vs
					}
					form.Set(fieldName, v)
					p := post.who.post(post.path, form)
					if p.Status >= 500 || p.Status < 200 {
						t.Fatalf("status %d:\n%s", p.Status, p.Body)
					}
					if p.Status == http.StatusOK && post.path != "/account/mfa/totp" {
						t.Fatalf("status 200 for %q", v)
					}
					if p.Status != http.StatusSeeOther && p.Status != http.StatusOK &&
						!strings.Contains(p.Body, `role="alert"`) && !strings.Contains(p.Body, `class="field-error"`) {
						t.Fatalf("status %d without a message:\n%s", p.Status, p.Body)
					}
					if strings.Contains(p.Body, "<script>alert") {
						t.Fatal("the page shows the input unescaped")
					}
				})
			}
			// Two values of one field, as a tampered form sends.
			t.Run(post.name+"/"+fieldName+"/twice", func(t *testing.T) {
				form := url.Values{}
				for k, vs := range post.base {
					form[k] = vs
				}
				form[fieldName] = []string{"a", "b"}
				if p := post.who.post(post.path, form); p.Status >= 500 {
					t.Fatalf("status %d", p.Status)
				}
			})
		}
	}
	// A body over the limit is refused as a whole.
	p := anon.post("/signin/mfa", url.Values{"mfa_token": {tok}, "code": {strings.Repeat("1", maxFormBytes)}})
	mustSee(t, "too large", p, http.StatusRequestEntityTooLarge, "The form sent more data than this server accepts.")
	// And the server still serves.
	mustSee(t, "still serving", b.get("/account"), 200, "Authenticator app")
	mustSee(t, "still signing in", e.browser(uaIPhone).post("/signin", url.Values{"email": {"ada@example.com"}, "password": {testPassword}}),
		200, "Your second factor")
}

func TestAMRText(t *testing.T) {
	tests := []struct {
		amr  []string
		want string
	}{
		{nil, ""},
		{[]string{"pwd"}, "password"},
		{[]string{"pwd", "otp", "mfa"}, "password and one-time code (authenticator app or recovery code)"},
		{[]string{"swk", "user", "mfa"}, "synced passkey unlocked with a PIN or biometric"},
		{[]string{"pwd", "hwk", "mfa"}, "password and device-bound passkey or security key"},
		{[]string{"pwd", "otp", "hwk", "user", "mfa"}, "password, one-time code (authenticator app or recovery code) and device-bound passkey or security key unlocked with a PIN or biometric"},
		{[]string{"face"}, ""},
	}
	for _, tc := range tests {
		if got := amrText(tc.amr); got != tc.want {
			t.Errorf("amrText(%v) = %q, want %q", tc.amr, got, tc.want)
		}
	}
}
