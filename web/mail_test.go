package web

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/valetauth/valet/auth"
	"github.com/valetauth/valet/mail"
)

// mailbox is a mail.Sender that hands each message to the test.
type mailbox chan mail.Message

func (b mailbox) Send(_ context.Context, m mail.Message) error {
	b <- m
	return nil
}

func (b mailbox) next(tb testing.TB) mail.Message {
	tb.Helper()
	select {
	case m := <-b:
		return m
	case <-time.After(10 * time.Second):
		tb.Fatal("no mail arrived within 10s")
		return mail.Message{}
	}
}

// withMail makes the service send its mail to box.
func withMail(box mailbox, tweak func(*auth.Config)) envOption {
	return func(c *envConfig) {
		c.auth.Mail = auth.MailConfig{Sender: box, PublicURL: "https://valet.test",
			Worker: mail.Config{Logger: quietLogger()}}
		if tweak != nil {
			tweak(c.auth)
		}
	}
}

var (
	mailLinkRE = regexp.MustCompile(`https://valet\.test(/\S+)`)
	mailCodeRE = regexp.MustCompile(`enter this code: (\d{8})`)
)

// linkAndCode returns the path and query of m's link, and its code.
func linkAndCode(tb testing.TB, m mail.Message) (string, string) {
	tb.Helper()
	l := mailLinkRE.FindStringSubmatch(m.Text)
	if l == nil {
		tb.Fatalf("no link in:\n%s", m.Text)
	}
	code := ""
	if c := mailCodeRE.FindStringSubmatch(m.Text); c != nil {
		code = c[1]
	}
	return l[1], code
}

// hiddenToken returns the token of the hidden field of a page's form.
func hiddenToken(tb testing.TB, p page) string {
	tb.Helper()
	m := regexp.MustCompile(`name="token" value="([^"]+)"`).FindStringSubmatch(p.Body)
	if m == nil {
		tb.Fatalf("no token field in:\n%s", p.Body)
	}
	return m[1]
}

func noInline(tb testing.TB, what string, p page) {
	tb.Helper()
	problems, n, err := inlineProblems(p.Body)
	if err != nil || n == 0 || len(problems) > 0 {
		tb.Errorf("%s: %v (%d elements, err %v)", what, problems, n, err)
	}
}

func TestRecoveryPages(t *testing.T) {
	box := make(mailbox, 10)
	e := newEnv(t, withMail(box, nil))
	ctx := context.Background()
	if _, err := e.svc.CreateUser(ctx, "ada@example.com", testPassword, nil); err != nil {
		t.Fatal(err)
	}
	other := e.browser(uaFirefox)
	other.signIn("ada@example.com", "")

	b := e.browser(uaChromeMac)
	p := b.get("/")
	mustSee(t, "sign-in page", p, 200, `href="/recovery"`, "Forgot password?")
	p = b.get("/recovery")
	mustSee(t, "recovery page", p, 200, "Forgot your password?", `action="/recovery"`)
	noInline(t, "recovery page", p)
	mustSee(t, "malformed address", b.post("/recovery", url.Values{"email": {"ada@"}}), 400, "Enter an email address")

	p = b.post("/recovery", url.Values{"email": {"nobody@example.com"}})
	mustSee(t, "unknown address", p, 200, "Check your mail", "nobody@example.com")
	p = b.post("/recovery", url.Values{"email": {"ada@example.com"}})
	mustSee(t, "known address", p, 200, "Check your mail", "ada@example.com", `autocomplete="one-time-code"`, "leaves a second factor in place")
	noInline(t, "check your mail", p)
	m := box.next(t)
	if m.To != "ada@example.com" {
		t.Fatalf("mail to %q", m.To)
	}
	if !strings.Contains(m.Text, "leaves a second factor in place") {
		t.Errorf("the recovery mail does not say that a second factor stays:\n%s", m.Text)
	}
	link, code := linkAndCode(t, m)
	if !strings.HasPrefix(link, "/recovery?token=") {
		t.Fatalf("link %q", link)
	}

	// Opening the link uses nothing up.
	p = b.get(link)
	mustSee(t, "reset form", p, 200, "Choose a new password", `action="/recovery/reset"`, "leaves a second factor in place")
	noInline(t, "reset form", p)
	tok := hiddenToken(t, b.get(link))
	const next = "a wholly new passphrase"
	mustSee(t, "mismatch", b.post("/recovery/reset", url.Values{"token": {tok}, "new_password": {next}, "confirm_password": {next + "x"}}),
		400, "The two new passwords are not the same.", `name="token"`)
	mustSee(t, "weak password", b.post("/recovery/reset", url.Values{"token": {tok}, "new_password": {"password"}, "confirm_password": {"password"}}),
		400, `id="reset-password-error"`)
	p = b.post("/recovery/reset", url.Values{"token": {tok}, "new_password": {next}, "confirm_password": {next}})
	if p.Status != http.StatusSeeOther || p.Location() != "/account" {
		t.Fatalf("reset: %d → %q\n%s", p.Status, p.Location(), p.Body)
	}
	mustSee(t, "signed in after the reset", b.get("/account"), 200, "Your new password is set")
	if p := other.get("/account"); p.Status != http.StatusSeeOther {
		t.Errorf("the other browser's session survived the reset: %d", p.Status)
	}
	if n := box.next(t); n.Kind != mail.KindNotice || n.To != "ada@example.com" {
		t.Errorf("after the reset: mail %q to %q", n.Kind, n.To)
	}

	// Used: the page offers to start again.
	p = b.post("/recovery/reset", url.Values{"token": {tok}, "new_password": {next + "!"}, "confirm_password": {next + "!"}})
	mustSee(t, "used link", p, 400, "wrong, used or expired", `action="/recovery"`)
	p = b.post("/recovery/reset", url.Values{"email": {"ada@example.com"}, "code": {code}, "new_password": {next + "!"}, "confirm_password": {next + "!"}})
	mustSee(t, "used code", p, 400, "wrong, used or expired")

	// By code, from another device.
	b2 := e.browser(uaFirefox)
	b2.post("/recovery", url.Values{"email": {"ada@example.com"}})
	_, code = linkAndCode(t, box.next(t))
	p = b2.post("/recovery/reset", url.Values{"email": {"ada@example.com"}, "code": {code}, "new_password": {testPassword}, "confirm_password": {testPassword}})
	if p.Status != http.StatusSeeOther || p.Location() != "/account" {
		t.Fatalf("reset by code: %d → %q\n%s", p.Status, p.Location(), p.Body)
	}
}

func TestVerifyPages(t *testing.T) {
	box := make(mailbox, 10)
	e := newEnv(t, withMail(box, nil))
	b := e.browser(uaFirefox)
	b.signUp("ada@example.com")
	p := b.get("/account")
	mustSee(t, "account after sign-up", p, 200, "We sent a link and a code to your address", "Not verified", `action="/account/verification"`, `action="/account/email"`)
	noInline(t, "account page", p)
	link, code := linkAndCode(t, box.next(t))
	if !strings.HasPrefix(link, "/verify?token=") {
		t.Fatalf("link %q", link)
	}
	p = b.get(link)
	mustSee(t, "verify link", p, 200, "Confirm my email address")
	noInline(t, "verify link", p)
	p = b.post("/verify", url.Values{"token": {hiddenToken(t, p)}})
	if p.Status != http.StatusSeeOther || p.Location() != "/account" {
		t.Fatalf("verify: %d → %q", p.Status, p.Location())
	}
	mustSee(t, "account once verified", b.get("/account"), 200, "Your email address is verified.", `id="email-state">Verified`)
	mustSee(t, "the code after the link", b.post("/verify", url.Values{"email": {"ada@example.com"}, "code": {code}}),
		400, "wrong, used or expired")

	// A second account verifies by code, signed out, after a wrong one.
	c := e.browser(uaChromeMac)
	c.signUp("bob@example.com")
	_, code = linkAndCode(t, box.next(t))
	c.post("/signout", nil)
	p = c.get("/verify?email=bob@example.com")
	mustSee(t, "code form", p, 200, `action="/verify"`, `value="bob@example.com"`, `action="/verify/resend"`)
	noInline(t, "code form", p)
	mustSee(t, "wrong code", c.post("/verify", url.Values{"email": {"bob@example.com"}, "code": {"not a code"}}), 400, "wrong, used or expired")
	p = c.post("/verify", url.Values{"email": {"bob@example.com"}, "code": {code}})
	if p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location(), "/?email=") {
		t.Fatalf("verify by code: %d → %q", p.Status, p.Location())
	}

	// Email change from the account page.
	p = b.post("/account/email", url.Values{"new_email": {"new@example.com"}, "current_password": {"wrong"}})
	mustSee(t, "wrong password", p, 401, `id="email-current-password-error"`)
	p = b.post("/account/email", url.Values{"new_email": {"bob@example.com"}, "current_password": {testPassword}})
	mustSee(t, "taken address", p, 409, "Another account has this email address.")
	p = b.post("/account/email", url.Values{"new_email": {"new@example.com"}, "current_password": {testPassword}})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("email change: %d\n%s", p.Status, p.Body)
	}
	mustSee(t, "after the change request", b.get("/account"), 200, "on their way to your new address")
	notice, verify := box.next(t), box.next(t)
	if notice.To != "ada@example.com" || verify.To != "new@example.com" {
		t.Fatalf("mails to %q and %q", notice.To, verify.To)
	}
	link, _ = linkAndCode(t, verify)
	p = b.post("/verify", url.Values{"token": {hiddenToken(t, b.get(link))}})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("verify the new address: %d", p.Status)
	}
	mustSee(t, "account with the new address", b.get("/account"), 200, `id="email-address">new@example.com`)
}

func TestSignInNeedsVerifiedEmail(t *testing.T) {
	box := make(mailbox, 10)
	e := newEnv(t, withMail(box, func(c *auth.Config) { c.RequireVerifiedEmail = true }))
	b := e.browser(uaFirefox)
	p := b.post("/signup", url.Values{"email": {"ada@example.com"}, "password": {testPassword}})
	if p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location(), "/verify?email=") {
		t.Fatalf("sign-up on a server that wants verified addresses: %d → %q", p.Status, p.Location())
	}
	box.next(t)
	p = b.post("/signin", url.Values{"email": {"ada@example.com"}, "password": {testPassword}})
	mustSee(t, "unverified sign-in", p, 403, "Verify your email address first", `action="/verify/resend"`)
	noInline(t, "unverified sign-in", p)
	p = b.post("/verify/resend", url.Values{"email": {"ada@example.com"}})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("resend: %d", p.Status)
	}
	mustSee(t, "after the resend", b.get(p.Location()), 200, "a new link and code are on their way")
	link, _ := linkAndCode(t, box.next(t))
	b.post("/verify", url.Values{"token": {hiddenToken(t, b.get(link))}})
	b.signIn("ada@example.com", "")
}

func TestNoMailPages(t *testing.T) {
	e := newEnv(t)
	b := e.browser(uaFirefox)
	if p := b.get("/"); strings.Contains(p.Body, "Forgot password?") {
		t.Error("a server that sends no mail offers recovery")
	}
	mustSee(t, "recovery without mail", b.get("/recovery"), 200, "sends no mail")
}
