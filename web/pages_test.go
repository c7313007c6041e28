package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/auth"
	"github.com/valetauth/valet/session"
)

const (
	uaChromeMac = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
	uaFirefox   = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0"
	uaIPhone    = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)

func TestSignUpSignInSignOut(t *testing.T) {
	e := newEnv(t)
	b := e.browser(uaChromeMac)

	mustSee(t, "sign-in page", b.get("/"), 200, `action="/signin"`, `href="/signup"`, `<details class="advanced">`,
		`name="mode" value="session" checked`, `autocomplete="current-password"`)
	mustSee(t, "sign-up page", b.get("/signup"), 200, `action="/signup"`, `autocomplete="new-password"`)

	b.signUp("  Ada@Example.com ")
	if b.cookie("__Host-valet_session") == "" {
		t.Fatal("sign-up set no session cookie")
	}
	acct := b.get("/account")
	mustSee(t, "account after sign-up", acct, 200, "Welcome. Your account is ready", "ada@example.com",
		"Chrome 126 on macOS", "This device", "__Host-valet_session")
	if again := b.get("/account"); strings.Contains(again.Body, "Welcome.") {
		t.Error("the flash message shows twice")
	}
	mustSee(t, "sign-in page when signed in", b.get("/"), 303)

	out := b.post("/signout", nil)
	if out.Status != 303 || out.Location() != "/" {
		t.Fatalf("sign out: %d %q", out.Status, out.Location())
	}
	if b.cookie("__Host-valet_session") != "" {
		t.Error("sign-out left the session cookie")
	}
	mustSee(t, "after sign out", b.get("/"), 200, "You have signed out.")
	if p := b.get("/account"); p.Status != 303 || p.Location() != "/?return_to=%2Faccount" {
		t.Fatalf("account when signed out: %d %q", p.Status, p.Location())
	}

	b.signIn("ada@example.com", "")
	mustSee(t, "account after sign-in", b.get("/account"), 200, "ada@example.com")
}

func TestSignInErrors(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.svc.CreateUser(ctx, "ada@example.com", testPassword, nil); err != nil {
		t.Fatal(err)
	}
	off, err := e.svc.CreateUser(ctx, "off@example.com", testPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	disabled := true
	if _, _, err := e.svc.UpdateUser(ctx, off.ID, auth.UserPatch{Disabled: &disabled}, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	b := e.browser(uaFirefox)
	tests := []struct {
		name   string
		path   string
		form   url.Values
		status int
		texts  []string
	}{
		{"wrong password", "/signin", url.Values{"email": {"ada@example.com"}, "password": {"not the password"}}, 401,
			[]string{`role="alert" id="signin-error">Wrong email or password.`, `value="ada@example.com"`}},
		{"unknown email", "/signin", url.Values{"email": {"nobody@example.com"}, "password": {"not the password"}}, 401,
			[]string{"Wrong email or password."}},
		{"bad mode", "/signin", url.Values{"email": {"ada@example.com"}, "password": {testPassword}, "mode": {"magic"}}, 400,
			[]string{"Mode must be session, token or hybrid."}},
		{"disabled", "/signin", url.Values{"email": {"off@example.com"}, "password": {testPassword}}, 403,
			[]string{"This account is disabled."}},
		{"taken email", "/signup", url.Values{"email": {"ADA@example.com"}, "password": {"another fine passphrase"}}, 409,
			[]string{`id="signup-email-error">An account with this email already exists.`, `aria-invalid="true" autofocus`}},
		{"short password", "/signup", url.Values{"email": {"new@example.com"}, "password": {"x7q!"}}, 400,
			[]string{`id="signup-password-error">Use at least 8 characters.`}},
		{"common password", "/signup", url.Values{"email": {"new@example.com"}, "password": {"password123"}}, 400,
			[]string{"This password is too common; choose another."}},
		{"bad email", "/signup", url.Values{"email": {"not an email"}, "password": {testPassword}}, 400,
			[]string{`id="signup-email-error">Enter an email address like name@example.com.`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := b.post(tc.path, tc.form)
			mustSee(t, tc.name, p, tc.status, tc.texts...)
			if pw := tc.form.Get("password"); strings.Contains(p.Body, pw) {
				t.Errorf("the page shows the password back")
			}
			if b.cookie("__Host-valet_session") != "" {
				t.Errorf("a failed form set a session cookie")
			}
		})
	}

	// Whether the email exists or not, the page says the same thing.
	known := b.post("/signin", url.Values{"email": {"ada@example.com"}, "password": {"not the password"}})
	unknown := b.post("/signin", url.Values{"email": {"zed@example.com"}, "password": {"not the password"}})
	if a, z := strings.ReplaceAll(known.Body, "ada@example.com", "X"), strings.ReplaceAll(unknown.Body, "zed@example.com", "X"); a != z {
		t.Error("the pages for a wrong password and an unknown email differ")
	}
}

func TestThrottledAndUnavailable(t *testing.T) {
	e := newEnv(t, withThrottle(fakeThrottle{refuse: waitError{wait: 90 * time.Second}}))
	b := e.browser(uaFirefox)
	p := b.post("/signin", url.Values{"email": {"ada@example.com"}, "password": {testPassword}})
	mustSee(t, "throttled sign-in", p, 429, "Too many attempts. Try again in 2 minutes.")
	if got := p.Header.Get("Retry-After"); got != "90" {
		t.Errorf("Retry-After = %q, want 90", got)
	}
	mustSee(t, "throttled sign-up", b.post("/signup", url.Values{"email": {"ada@example.com"}, "password": {testPassword}}),
		429, `id="signup-error">Too many attempts.`)

	e = newEnv(t)
	if _, err := e.svc.CreateUser(context.Background(), "ada@example.com", testPassword, nil); err != nil {
		t.Fatal(err)
	}
	e.users.setDown(true)
	b = e.browser(uaFirefox)
	p = b.post("/signin", url.Values{"email": {"ada@example.com"}, "password": {testPassword}})
	mustSee(t, "store down", p, 503, "The service is busy or cannot reach its store.")
	if got := p.Header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After = %q, want 1", got)
	}
	e.users.setDown(false)
	b.signIn("ada@example.com", "")
}

func TestReturnTo(t *testing.T) {
	e := newEnv(t)
	if _, err := e.svc.CreateUser(context.Background(), "ada@example.com", testPassword, nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, returnTo, hidden, want string
	}{
		{"local path", "/account?tab=sessions", "/account?tab=sessions", "/account?tab=sessions"},
		{"none", "", "", "/account"},
		{"other site", "https://evil.example/phish", "", "/account"},
		{"scheme relative", "//evil.example/phish", "", "/account"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := e.browser(uaFirefox)
			page := b.get("/?return_to=" + url.QueryEscape(tc.returnTo))
			mustSee(t, "sign-in page", page, 200, `name="return_to" value="`+tc.hidden+`"`)
			p := b.post("/signin", url.Values{"email": {"ada@example.com"}, "password": {testPassword}, "return_to": {tc.returnTo}})
			if p.Status != http.StatusSeeOther || p.Location() != tc.want {
				t.Fatalf("sign in: %d to %q, want 303 to %q", p.Status, p.Location(), tc.want)
			}
			// Signed in already, the sign-in page sends the browser on.
			if p := b.get("/?return_to=" + url.QueryEscape(tc.returnTo)); p.Location() != tc.want {
				t.Fatalf("sign-in page when signed in: to %q, want %q", p.Location(), tc.want)
			}
		})
	}
}

func TestSessionsPerDevice(t *testing.T) {
	e := newEnv(t)
	laptop := e.browser(uaChromeMac)
	laptop.signUp("ada@example.com")
	phone := e.browser(uaIPhone)
	phone.signIn("ada@example.com", "")
	tablet := e.browser(uaFirefox)
	tablet.signIn("ada@example.com", "")

	acct := laptop.get("/account")
	mustSee(t, "account", acct, 200, "Chrome 126 on macOS", "Safari 17 on iOS", "Firefox 127 on Linux",
		"Sign out everywhere else", "IP 127.0.0.1")
	if n := strings.Count(acct.Body, `<li class="session`); n != 3 {
		t.Fatalf("%d sessions listed, want 3", n)
	}
	if n := strings.Count(acct.Body, "This device"); n != 1 {
		t.Fatalf(`"This device" %d times, want once`, n)
	}
	sessions, err := e.svc.UserSessions(context.Background(), mustUser(t, e, "ada@example.com").ID)
	if err != nil {
		t.Fatal(err)
	}
	var phoneSID string
	for _, s := range sessions {
		if strings.Contains(s.UserAgent, "iPhone") {
			phoneSID = s.ID
		}
	}

	// Revoke the phone from the laptop: the phone's next click signs it out.
	p := laptop.post("/account/sessions/"+phoneSID+"/revoke", nil)
	if p.Status != 303 || p.Location() != "/account" {
		t.Fatalf("revoke: %d %q", p.Status, p.Location())
	}
	mustSee(t, "after revoke", laptop.get("/account"), 200, "That session is signed out.")
	bounced := phone.get("/account")
	if bounced.Status != 303 || bounced.Location() != "/?return_to=%2Faccount" {
		t.Fatalf("revoked phone: %d %q", bounced.Status, bounced.Location())
	}
	mustSee(t, "phone after revoke", phone.get(bounced.Location()), 200, "Your sign-in has ended.")
	if phone.cookie("__Host-valet_session") != "" {
		t.Error("the revoked session's cookie was not cleared")
	}
	// Revoking it again, or someone else's session, is no error and no leak.
	mustSee(t, "revoke gone", laptop.post("/account/sessions/"+phoneSID+"/revoke", nil), 303)
	mustSee(t, "flash", laptop.get("/account"), 200, "That session had already ended.")

	// Sign out everywhere else keeps this device only.
	mustSee(t, "revoke others", laptop.post("/account/sessions/revoke-others", nil), 303)
	acct = laptop.get("/account")
	mustSee(t, "after revoke others", acct, 200, "Every other session is signed out.")
	if n := strings.Count(acct.Body, `<li class="session`); n != 1 {
		t.Fatalf("%d sessions after revoke-others, want 1", n)
	}
	if strings.Contains(acct.Body, "Sign out everywhere else") {
		t.Error("the button shows with no other session")
	}
	if p := tablet.get("/account"); p.Status != 303 {
		t.Fatalf("tablet after revoke-others: %d", p.Status)
	}

	// Another user cannot revoke this session: it is not theirs.
	other := e.browser(uaFirefox)
	other.signUp("bob@example.com")
	laptopSID := sessionsOf(t, e, "ada@example.com")[0].ID
	mustSee(t, "revoke another's", other.post("/account/sessions/"+laptopSID+"/revoke", nil), 303)
	mustSee(t, "laptop unaffected", laptop.get("/account"), 200)

	// Revoking this device's own session signs it out.
	p = laptop.post("/account/sessions/"+laptopSID+"/revoke", nil)
	if p.Status != 303 || p.Location() != "/" {
		t.Fatalf("revoke own: %d %q", p.Status, p.Location())
	}
	if laptop.get("/account").Status != 303 {
		t.Fatal("still signed in after revoking this device")
	}
}

func TestChangePassword(t *testing.T) {
	e := newEnv(t)
	b := e.browser(uaChromeMac)
	b.signUp("ada@example.com")
	other := e.browser(uaIPhone)
	other.signIn("ada@example.com", "")
	const next = "a brand new passphrase"
	tests := []struct {
		name          string
		current, a, b string
		status        int
		text          string
	}{
		{"mismatch", testPassword, next, next + "!", 400, `id="confirm-password-error">The two new passwords are not the same.`},
		{"wrong current", "not my password", next, next, 401, `id="current-password-error">Your current password is not right.`},
		{"weak", testPassword, "password", "password", 400, `id="new-password-error">`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := b.post("/account/password", url.Values{"current_password": {tc.current}, "new_password": {tc.a}, "confirm_password": {tc.b}})
			mustSee(t, tc.name, p, tc.status, tc.text, "Where you are signed in")
		})
	}
	p := b.post("/account/password", url.Values{"current_password": {testPassword}, "new_password": {next}, "confirm_password": {next}})
	if p.Status != 303 || p.Location() != "/account" {
		t.Fatalf("change: %d %q", p.Status, p.Location())
	}
	mustSee(t, "after change", b.get("/account"), 200, "Your password is changed")
	if other.get("/account").Status != 303 {
		t.Error("the other session survived a password change")
	}
	fresh := e.browser(uaFirefox)
	mustSee(t, "old password", fresh.post("/signin", url.Values{"email": {"ada@example.com"}, "password": {testPassword}}), 401)
	mustSee(t, "new password", fresh.post("/signin", url.Values{"email": {"ada@example.com"}, "password": {next}}), 303)
}

func TestTokenMode(t *testing.T) {
	e := newEnv(t)
	if _, err := e.svc.CreateUser(context.Background(), "ada@example.com", testPassword, []string{"support"}); err != nil {
		t.Fatal(err)
	}
	b := e.browser(uaChromeMac)
	b.signIn("ada@example.com", "token")
	tok, rt := b.cookie(session.TokenName), b.cookie(session.RefreshName)
	if tok == "" || rt == "" || b.cookie("__Host-valet_session") != "" {
		t.Fatalf("token sign-in cookies: token %v, refresh %v, session %q", tok != "", rt != "", b.cookie("__Host-valet_session"))
	}
	acct := b.get("/account")
	mustSee(t, "account", acct, 200, `<span class="k">"alg"</span>: <span class="v">"EdDSA"</span>`,
		`<span class="k">"email"</span>: <span class="v">"ada@example.com"</span>`,
		`<span class="k">"roles"</span>: <span class="v">["support"]</span>`,
		"Nothing for this request.", `<div><dt>Mode</dt><dd>token</dd></div>`,
		"Signing one out ends its refresh token at once, but an access token it already holds keeps working for up to 15 minutes more.",
		`<span class="badge badge-ok">This device</span>`)
	for what, secret := range map[string]string{"access token": tok, "refresh token": rt, "signature": tok[strings.LastIndexByte(tok, '.')+1:]} {
		if strings.Contains(acct.Body, secret) {
			t.Errorf("the page shows the %s", what)
		}
	}
	if strings.Contains(acct.Body, `"sid"`) {
		t.Error("a token-mode token has a sid claim")
	}

	// Past the access token's life, the page renews it with the refresh token.
	e.clk.Advance(16 * time.Minute)
	renewed := b.get("/account")
	mustSee(t, "account after expiry", renewed, 200, "ada@example.com")
	if b.cookie(session.TokenName) == tok || b.cookie(session.RefreshName) == rt {
		t.Fatal("the tokens were not renewed")
	}

	// Signing out revokes the refresh family: its token is dead.
	current := b.cookie(session.RefreshName)
	mustSee(t, "sign out", b.post("/signout", nil), 303)
	if b.cookie(session.TokenName) != "" || b.cookie(session.RefreshName) != "" {
		t.Error("sign-out left token cookies")
	}
	if _, err := e.svc.Refresh(context.Background(), current, auth.Client{}); err == nil {
		t.Error("a refresh token from before sign-out still works")
	}
}

func TestHybridMode(t *testing.T) {
	e := newEnv(t)
	if _, err := e.svc.CreateUser(context.Background(), "ada@example.com", testPassword, nil); err != nil {
		t.Fatal(err)
	}
	hybrid := e.browser(uaFirefox)
	hybrid.signIn("ada@example.com", "hybrid")
	acct := hybrid.get("/account")
	sid := sessionsOf(t, e, "ada@example.com")[0].ID
	mustSee(t, "hybrid account", acct, 200, `<span class="k">"sid"</span>: <span class="v">"`+sid+`"</span>`,
		`id="server-record"`, "<code>"+sid+"</code>", "This device", "revocation set")

	// Revoked from another browser, the hybrid token dies at once.
	laptop := e.browser(uaChromeMac)
	laptop.signIn("ada@example.com", "")
	mustSee(t, "revoke hybrid", laptop.post("/account/sessions/"+sid+"/revoke", nil), 303)
	p := hybrid.get("/account")
	if p.Status != 303 || !strings.HasPrefix(p.Location(), "/?return_to=") {
		t.Fatalf("revoked hybrid: %d %q", p.Status, p.Location())
	}
	if hybrid.cookie(session.TokenName) != "" {
		t.Error("the revoked token's cookie was not cleared")
	}
}

func TestAdmin(t *testing.T) {
	e := newEnv(t, withPageSize(3))
	ctx := context.Background()
	if _, err := e.svc.CreateUser(ctx, "root@example.com", testPassword, []string{"admin"}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ann", "bea", "cal", "dan", "eve"} {
		// The list is ordered by creation time: make each one later.
		e.clk.Advance(time.Second)
		if _, err := e.svc.CreateUser(ctx, name+"@example.com", testPassword, nil); err != nil {
			t.Fatal(err)
		}
	}
	admin := e.browser(uaChromeMac)
	admin.signIn("root@example.com", "")
	eve := e.browser(uaIPhone)
	eve.signIn("eve@example.com", "")

	mustSee(t, "non-admin", eve.get("/admin"), 403, "This page is for administrators.")
	if p := e.browser(uaFirefox).get("/admin"); p.Status != 303 || p.Location() != "/?return_to=%2Fadmin" {
		t.Fatalf("anonymous admin: %d %q", p.Status, p.Location())
	}

	first := admin.get("/admin")
	mustSee(t, "page 1", first, 200, "6 users", "root@example.com", "ann@example.com", "bea@example.com",
		"Showing 1–3 of 6", `href="/admin?page=2"`)
	if strings.Contains(first.Body, "cal@example.com") {
		t.Error("page 1 shows a user of page 2")
	}
	mustSee(t, "page 2", admin.get("/admin?page=2"), 200, "cal@example.com", "eve@example.com", "Showing 4–6 of 6", `href="/admin"`)
	mustSee(t, "past the end", admin.get("/admin?page=9"), 200, "Showing 4–6 of 6")
	search := admin.get("/admin?q=EVE")
	mustSee(t, "search", search, 200, "1 user", "eve@example.com")
	if strings.Contains(search.Body, "ann@example.com") {
		t.Error("search shows a user that does not match")
	}

	eveID := mustUser(t, e, "eve@example.com").ID
	rootID := mustUser(t, e, "root@example.com").ID
	post := func(path string, form url.Values) page {
		t.Helper()
		form.Set("q", "eve")
		return admin.post(path, form)
	}

	p := post("/admin/users/"+eveID, url.Values{"op": {"roles"}, "roles": {"Support, billing  support"}})
	if p.Status != 303 || p.Location() != "/admin?q=eve" {
		t.Fatalf("roles: %d %q", p.Status, p.Location())
	}
	if got := mustUser(t, e, "eve@example.com").Roles; strings.Join(got, ",") != "support,billing" {
		t.Fatalf("roles = %v", got)
	}
	mustSee(t, "roles saved", admin.get("/admin?q=eve"), 200, "Roles saved.", `value="support, billing"`)
	mustSee(t, "bad role", post("/admin/users/"+eveID, url.Values{"op": {"roles"}, "roles": {"root!"}}), 400, "A role is 1 to 64 characters")

	mustSee(t, "disable", post("/admin/users/"+eveID, url.Values{"op": {"disable"}}), 303)
	if !mustUser(t, e, "eve@example.com").Disabled {
		t.Fatal("eve is not disabled")
	}
	if p := eve.get("/account"); p.Status != 303 {
		t.Fatalf("disabled user's page: %d", p.Status)
	}
	mustSee(t, "disabled sign-in", eve.post("/signin", url.Values{"email": {"eve@example.com"}, "password": {testPassword}}), 403)
	mustSee(t, "enable", post("/admin/users/"+eveID, url.Values{"op": {"enable"}}), 303)
	eve.signIn("eve@example.com", "")

	mustSee(t, "end sessions", post("/admin/users/"+eveID+"/sessions/revoke", url.Values{}), 303)
	if p := eve.get("/account"); p.Status != 303 {
		t.Fatalf("page after admin ended sessions: %d", p.Status)
	}

	mustSee(t, "self disable", post("/admin/users/"+rootID, url.Values{"op": {"disable"}}), 400, "You cannot disable your own account.")
	mustSee(t, "self demote", post("/admin/users/"+rootID, url.Values{"op": {"roles"}, "roles": {"support"}}), 400, "You cannot take away your own admin role")
	mustSee(t, "unknown op", post("/admin/users/"+eveID, url.Values{"op": {"delete"}}), 400)
	mustSee(t, "unknown user", post("/admin/users/nobody", url.Values{"op": {"enable"}}), 404, "There is no such user any more.")
	if mustUser(t, e, "root@example.com").Disabled {
		t.Fatal("the admin disabled itself")
	}
}

func TestCrossSiteFormsRefused(t *testing.T) {
	e := newEnv(t)
	b := e.browser(uaChromeMac)
	b.signUp("ada@example.com")
	for _, h := range []map[string]string{
		{"Sec-Fetch-Site": "cross-site"},
		{"Sec-Fetch-Site": "", "Origin": "https://evil.example"},
	} {
		p := b.do(http.MethodPost, "/account/sessions/revoke-others", url.Values{}, h)
		mustSee(t, "cross-site post", p, 403, "sent from another site")
		p = b.do(http.MethodPost, "/signout", url.Values{}, h)
		mustSee(t, "cross-site sign out", p, 403)
	}
	mustSee(t, "still signed in", b.get("/account"), 200)
}

func TestFlashNamesOnlyKnownMessages(t *testing.T) {
	e := newEnv(t)
	b := e.browser(uaChromeMac)
	u, _ := url.Parse(e.srv.URL)
	b.client.Jar.SetCookies(u, []*http.Cookie{{Name: FlashCookie, Value: "<b>pwned</b>", Path: "/"}})
	p := b.get("/")
	mustSee(t, "sign-in page", p, 200)
	if strings.Contains(p.Body, "pwned") || strings.Contains(p.Body, `class="flash`) {
		t.Error("an unknown flash key was shown")
	}
	b.client.Jar.SetCookies(u, []*http.Cookie{{Name: FlashCookie, Value: "signed-out", Path: "/"}})
	mustSee(t, "known key", b.get("/"), 200, "You have signed out.")
}

func TestFormBodyLimit(t *testing.T) {
	e := newEnv(t)
	b := e.browser(uaChromeMac)
	p := b.post("/signin", url.Values{"email": {strings.Repeat("a", maxFormBytes)}})
	mustSee(t, "huge form", p, http.StatusRequestEntityTooLarge, "Too much data")
}

func TestAgo(t *testing.T) {
	now := time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		t    time.Time
		want string
	}{
		{"zero", time.Time{}, "never"},
		{"seconds", now.Add(-20 * time.Second), "just now"},
		{"one minute", now.Add(-time.Minute), "1 minute ago"},
		{"minutes", now.Add(-59 * time.Minute), "59 minutes ago"},
		{"hours", now.Add(-3 * time.Hour), "3 hours ago"},
		{"yesterday", now.Add(-30 * time.Hour), "yesterday"},
		{"days", now.Add(-5 * 24 * time.Hour), "5 days ago"},
		{"long ago", now.Add(-60 * 24 * time.Hour), "on 11 Mar 2026"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ago(now, tc.t); got != tc.want {
				t.Errorf("ago = %q, want %q", got, tc.want)
			}
		})
	}
}

func mustUser(tb testing.TB, e *env, email string) valet.User {
	tb.Helper()
	u, err := e.svc.UserByEmail(context.Background(), email)
	if err != nil {
		tb.Fatalf("user %s: %v", email, err)
	}
	return u
}

func sessionsOf(tb testing.TB, e *env, email string) []valet.Session {
	tb.Helper()
	ss, err := e.svc.UserSessions(context.Background(), mustUser(tb, e, email).ID)
	if err != nil {
		tb.Fatal(err)
	}
	return ss
}

// TestRevokeTokenSessionSaysWhatRemains: ending a token-mode device from the
// account page says that its access token works on, and until when.
func TestRevokeTokenSessionSaysWhatRemains(t *testing.T) {
	e := newEnv(t)
	u, err := e.svc.CreateUser(context.Background(), "ada@example.com", testPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	laptop, phone := e.browser(uaFirefox), e.browser(uaChromeMac)
	laptop.signIn("ada@example.com", "session")
	phone.signIn("ada@example.com", "token")
	list, err := e.svc.UserSessions(context.Background(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	var tokenSID, sessionSID string
	for _, s := range list {
		if s.Mode == valet.ModeToken {
			tokenSID = s.ID
		} else {
			sessionSID = s.ID
		}
	}
	if tokenSID == "" || sessionSID == "" {
		t.Fatalf("sessions listed: %+v", list)
	}
	until := e.clk.Now().Add(15 * time.Minute).UTC().Format("2 Jan 15:04 UTC")
	mustSee(t, "revoke the phone", laptop.post("/account/sessions/"+tokenSID+"/revoke", nil), 303)
	mustSee(t, "account", laptop.get("/account"), 200,
		"That session is signed out.", "an access token it already holds keeps working until "+until+" at the latest")
	// Ending a session-mode device says nothing of tokens.
	other := e.browser(uaFirefox)
	other.signIn("ada@example.com", "session")
	list, _ = e.svc.UserSessions(context.Background(), u.ID)
	for _, s := range list {
		if s.ID != sessionSID {
			mustSee(t, "revoke the other browser", laptop.post("/account/sessions/"+s.ID+"/revoke", nil), 303)
		}
	}
	if acct := laptop.get("/account"); strings.Contains(acct.Body, "keeps working until") {
		t.Error("ending a session-mode device speaks of a token that lives on")
	}
}
