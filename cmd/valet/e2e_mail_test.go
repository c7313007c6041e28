package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/valetauth/valet/mail/smtptest"
)

// The mail tests run the binary against a real SMTP server in the test's
// process (mail/smtptest, on emersion/go-smtp): what valet sends is what
// that server receives.

// noMailThrottle turns off the limits on mail and codes, for tests that
// ask for more than a person would.
var noMailThrottle = []string{"--throttle-mail-account", "off", "--throttle-mail-ip", "off",
	"--throttle-code-account", "off", "--throttle-code-ip", "off"}

const mailFrom = "Valet <no-reply@example.com>"

// plainMail starts a plain SMTP server and returns it with the flags that
// send through it.
func plainMail(tb testing.TB) (*smtptest.Server, []string) {
	tb.Helper()
	srv := smtptest.NewServer(tb, smtptest.Options{})
	return srv, []string{"--smtp-url", "smtp://" + srv.Addr + "?insecure", "--mail-from", mailFrom}
}

// inbox reads an SMTP server's messages in order.
type inbox struct {
	srv  *smtptest.Server
	seen int
}

// next returns the next message the server takes, failing tb after 30 s.
func (in *inbox) next(tb testing.TB) smtptest.Received {
	tb.Helper()
	msgs := in.srv.Wait(tb, in.seen+1, 30*time.Second)
	m := msgs[in.seen]
	in.seen++
	return m
}

// quiet fails tb when another message arrives within d.
func (in *inbox) quiet(tb testing.TB, d time.Duration) {
	tb.Helper()
	time.Sleep(d)
	if msgs := in.srv.Messages(); len(msgs) > in.seen {
		tb.Fatalf("%d more messages arrived, the first to %v: %q", len(msgs)-in.seen, msgs[in.seen].To, msgs[in.seen].Header.Get("Subject"))
	}
}

var (
	tokenRE  = regexp.MustCompile(`(/verify|/recovery)\?token=([A-Za-z0-9_-]+)`)
	mailCode = regexp.MustCompile(`enter this code: (\d{8})`)
)

// secretsOf returns the link's path, its token and the code of m.
func secretsOf(tb testing.TB, m smtptest.Received) (path, tok, code string) {
	tb.Helper()
	l := tokenRE.FindStringSubmatch(m.Text)
	if l == nil {
		tb.Fatalf("no link in the mail to %v:\n%s", m.To, m.Text)
	}
	if c := mailCode.FindStringSubmatch(m.Text); c != nil {
		code = c[1]
	}
	return l[1], l[2], code
}

// wantMailTo fails tb unless m went to addr with a subject containing subject.
func wantMailTo(tb testing.TB, m smtptest.Received, addr, subject string) {
	tb.Helper()
	if len(m.To) != 1 || m.To[0] != addr || !strings.Contains(m.Header.Get("Subject"), subject) {
		tb.Fatalf("mail to %v with subject %q, want one to %s about %q", m.To, m.Header.Get("Subject"), addr, subject)
	}
}

func me(tb testing.TB, base string, q req) map[string]any {
	tb.Helper()
	q.Path = "/v1/me"
	r := do(tb, base, q)
	expect(tb, "me", r, 200)
	return r.json(tb)["user"].(map[string]any)
}

// TestMailSignupVerify: signup sends a mail over STARTTLS with a verified
// certificate (the test's authority through SSL_CERT_FILE); its link, then
// for another account its code, verify the address, which /v1/me, the
// token's claims and forward auth then say. Neither the token nor the code
// is in the database file in clear.
func TestMailSignupVerify(t *testing.T) {
	t.Parallel()
	srv := smtptest.NewServer(t, smtptest.Options{StartTLS: true, Username: "valet", Password: mailPassword})
	dir := t.TempDir()
	s := startServer(t, []string{caFile(t, srv)}, "--data-dir", dir, "--trusted-proxies", "127.0.0.1",
		"--smtp-url", "smtp://valet:"+mailPassword+"@"+srv.Addr, "--mail-from", mailFrom)
	if out := s.stdout(); !strings.Contains(out, "mail goes through smtp://valet:***@"+srv.Addr) || strings.Contains(out+s.logs(), mailPassword) {
		t.Errorf("start-up output does not name the SMTP server, or shows its password:\n%s", out)
	}
	in := &inbox{srv: srv}
	signupUser(t, s.URL, "ada@example.com")
	m := in.next(t)
	wantMailTo(t, m, "ada@example.com", "Confirm your email address")
	if !m.TLS || m.User != "valet" || m.From != "no-reply@example.com" {
		t.Errorf("received over TLS %t as %q from %q", m.TLS, m.User, m.From)
	}
	path, tok, code := secretsOf(t, m)
	if path != "/verify" || !strings.Contains(m.Text, s.URL+"/verify?token=") || !strings.Contains(m.HTML, "Confirm my email address") {
		t.Fatalf("the link is not %s/verify?token=…:\n%s", s.URL, m.Text)
	}
	for _, f := range []string{"valet.db", "valet.db-wal"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			continue
		}
		if bytes.Contains(b, []byte(tok)) || bytes.Contains(b, []byte(code)) {
			t.Errorf("%s holds the token or the code in clear", f)
		}
	}

	lr := login(t, s.URL, "ada@example.com", "session", req{})
	cookie := sessionCookie(t, lr)
	if me(t, s.URL, req{Cookie: cookie})["email_verified"] != false {
		t.Fatal("a new account is verified")
	}
	// The link opens a page that asks to confirm; the API uses the token.
	if r := do(t, s.URL, req{Path: path + "?token=" + tok}); r.Status != 200 || !bytes.Contains(r.Body, []byte(`value="`+tok+`"`)) {
		t.Fatalf("GET %s?token=…: %d", path, r.Status)
	}
	expect(t, "verify by link", do(t, s.URL, req{Method: "POST", Path: "/v1/verification/complete", Body: map[string]string{"token": tok}}), 204)
	if me(t, s.URL, req{Cookie: cookie})["email_verified"] != true {
		t.Fatal("/v1/me does not say verified after the link")
	}
	expect(t, "verify again", do(t, s.URL, req{Method: "POST", Path: "/v1/verification/complete", Body: map[string]string{"token": tok}}), 400, "invalid_code")
	expect(t, "ask when verified", do(t, s.URL, req{Method: "POST", Path: "/v1/verification", Cookie: cookie}), 400, "invalid_request")

	tr := login(t, s.URL, "ada@example.com", "token", req{})
	access := tr.json(t)["access_token"].(string)
	if me(t, s.URL, req{Bearer: access})["email_verified"] != true {
		t.Error("a token login after verification does not carry email_verified")
	}
	fa := do(t, s.URL, req{Path: "/v1/authz/forward-auth", Bearer: access, Header: map[string]string{
		"X-Forwarded-Method": "GET", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example.com", "X-Forwarded-Uri": "/"}})
	if fa.Status != 200 || fa.Header.Get("Remote-Email-Verified") != "true" {
		t.Errorf("forward auth: %d, Remote-Email-Verified %q", fa.Status, fa.Header.Get("Remote-Email-Verified"))
	}

	// By code, after asking for a new mail while signed in.
	signupUser(t, s.URL, "bob@example.com")
	_, _, first := secretsOf(t, in.next(t))
	bob := sessionCookie(t, login(t, s.URL, "bob@example.com", "session", req{}))
	expect(t, "ask for a new mail", do(t, s.URL, req{Method: "POST", Path: "/v1/verification", Cookie: bob}), 202)
	m = in.next(t)
	wantMailTo(t, m, "bob@example.com", "Confirm your email address")
	_, _, code = secretsOf(t, m)
	if first != code {
		expect(t, "the replaced code", do(t, s.URL, req{Method: "POST", Path: "/v1/verification/complete",
			Body: map[string]string{"email": "bob@example.com", "code": first}}), 400, "invalid_code")
	}
	expect(t, "verify by code", do(t, s.URL, req{Method: "POST", Path: "/v1/verification/complete",
		Body: map[string]string{"email": "Bob@Example.com", "code": code[:4] + " " + code[4:]}}), 204)
	if me(t, s.URL, req{Cookie: bob})["email_verified"] != true {
		t.Error("/v1/me does not say verified after the code")
	}
}

// TestMailRecoveryEndsEverything: recovery by mail in every mode: the
// answer is the same for an unknown address, the code sets the new
// password, and every device session of the user, in every mode, is dead
// on the server (a token-mode access token lives until its exp by design,
// its refresh token does not); a notice follows.
func TestMailRecoveryEndsEverything(t *testing.T) {
	t.Parallel()
	srv, flags := plainMail(t)
	s := startServer(t, nil, append([]string{"--data-dir", t.TempDir()}, flags...)...)
	in := &inbox{srv: srv}
	signupUser(t, s.URL, "ada@example.com")
	in.next(t)
	devices := []*device{loginDevice(t, s, "ada@example.com", "session"), loginDevice(t, s, "ada@example.com", "token"),
		loginDevice(t, s, "ada@example.com", "hybrid")}

	known := do(t, s.URL, req{Method: "POST", Path: "/v1/recovery", Body: map[string]string{"email": "ada@example.com"}})
	unknown := do(t, s.URL, req{Method: "POST", Path: "/v1/recovery", Body: map[string]string{"email": "ghost@example.com"}})
	expect(t, "recovery of a known address", known, 202)
	expect(t, "recovery of an unknown address", unknown, 202)
	if !bytes.Equal(known.Body, unknown.Body) {
		t.Errorf("the answers differ: %q, %q", known.Body, unknown.Body)
	}
	m := in.next(t)
	wantMailTo(t, m, "ada@example.com", "Set a new password")
	path, _, code := secretsOf(t, m)
	if path != "/recovery" || !strings.Contains(m.Text, "15 minutes") {
		t.Errorf("recovery mail with link %s:\n%s", path, m.Text)
	}
	in.quiet(t, 300*time.Millisecond) // nothing went to the unknown address

	expect(t, "weak new password", do(t, s.URL, req{Method: "POST", Path: "/v1/recovery/complete",
		Body: map[string]string{"email": "ada@example.com", "code": code, "new_password": "password"}}), 400, "invalid_request")
	const next = "a new and long passphrase"
	r := do(t, s.URL, req{Method: "POST", Path: "/v1/recovery/complete", Cookie: devices[0].cookie,
		Body: map[string]string{"email": "ada@example.com", "code": code, "new_password": next}})
	expect(t, "recovery by code", r, 204)
	if _, set := r.cookie("valet_session"); !strings.Contains(set, "Max-Age=0") {
		t.Errorf("the answer does not clear the cookie: %q", set)
	}
	for _, d := range devices {
		if d.mode != "token" {
			if got := d.me(t, s); got != 401 {
				t.Errorf("the %s device still works after the recovery: %d", d.mode, got)
			}
		}
		if d.refresh != "" && d.canRefresh(t) {
			t.Errorf("the %s device still refreshes after the recovery", d.mode)
		}
	}
	expect(t, "old password", do(t, s.URL, req{Method: "POST", Path: "/v1/login",
		Body: map[string]string{"email": "ada@example.com", "password": attackPassword}}), 401, "invalid_credentials")
	newLogin := do(t, s.URL, req{Method: "POST", Path: "/v1/login", Body: map[string]string{"email": "ada@example.com", "password": next}})
	expect(t, "new password", newLogin, 200)
	fresh := &device{mode: "session", node: s, cookie: sessionCookie(t, newLogin)}
	for _, d := range devices {
		if fresh.listed(t, d.sid) {
			t.Errorf("the %s device session is still listed", d.mode)
		}
	}
	if me(t, s.URL, req{Cookie: sessionCookie(t, newLogin)})["email_verified"] != true {
		t.Error("recovery did not mark the address verified")
	}
	n := in.next(t)
	wantMailTo(t, n, "ada@example.com", "A change to your valet account")
	if !strings.Contains(n.Text, "set anew") {
		t.Errorf("notice:\n%s", n.Text)
	}
	expect(t, "the code again", do(t, s.URL, req{Method: "POST", Path: "/v1/recovery/complete",
		Body: map[string]string{"email": "ada@example.com", "code": code, "new_password": next + "!"}}), 400, "invalid_code")
}

// TestMailRecoveryAcrossNodes: on Postgres with two nodes, a recovery
// completed on one node ends the hybrid and session devices signed in
// through the other at once, and each message is sent once, by one node.
func TestMailRecoveryAcrossNodes(t *testing.T) {
	skipInShort(t)
	t.Parallel()
	srv, flags := plainMail(t)
	db := pgSchema(t)
	args := append([]string{"--db", db, "--mode", "hybrid"}, flags...)
	a := startServer(t, nil, args...)
	b := startServer(t, nil, args...)
	in := &inbox{srv: srv}

	const n = 12
	for i := range n {
		node := a
		if i%2 == 1 {
			node = b
		}
		signupUser(t, node.URL, fmt.Sprintf("user%d@example.com", i))
	}
	got := map[string]int{}
	for range n {
		got[in.next(t).To[0]]++
	}
	in.quiet(t, 2*time.Second)
	for i := range n {
		if c := got[fmt.Sprintf("user%d@example.com", i)]; c != 1 {
			t.Errorf("user%d got %d verification mails, want 1", i, c)
		}
	}

	devices := []*device{loginDevice(t, b, "user0@example.com", "session"), loginDevice(t, b, "user0@example.com", "hybrid")}
	expect(t, "recovery", do(t, a.URL, req{Method: "POST", Path: "/v1/recovery", Body: map[string]string{"email": "user0@example.com"}}), 202)
	_, tok, _ := secretsOf(t, in.next(t))
	expect(t, "reset on the other node", do(t, a.URL, req{Method: "POST", Path: "/v1/recovery/complete",
		Body: map[string]string{"token": tok, "new_password": "a passphrase from node a"}}), 204)
	deadline := time.Now().Add(2 * time.Second)
	for _, d := range devices {
		for d.me(t, b) != 401 {
			if time.Now().After(deadline) {
				t.Fatalf("the %s device still works on the other node 2 s after the recovery", d.mode)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	in.next(t) // the notice
	in.quiet(t, time.Second)
}

// TestMailOutage: the SMTP server is down when recovery is asked for; the
// request is answered at once, the mail waits in the outbox, and arrives,
// once, after the server comes back.
func TestMailOutage(t *testing.T) {
	skipInShort(t)
	t.Parallel()
	srv, flags := plainMail(t)
	srv.Stop()
	s := startServer(t, nil, append([]string{"--data-dir", t.TempDir(), "--log-level", "info"}, flags...)...)
	signupUser(t, s.URL, "ada@example.com") // its verification mail waits too
	start := time.Now()
	expect(t, "recovery while the mail server is down",
		do(t, s.URL, req{Method: "POST", Path: "/v1/recovery", Body: map[string]string{"email": "ada@example.com"}}), 202)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the request waited %v for the mail server", d)
	}
	time.Sleep(2 * time.Second)
	if logs := s.logs(); !strings.Contains(logs, "sending a message failed; it will be retried") || !strings.Contains(logs, "connection refused") {
		t.Errorf("the failure is not logged with its cause:\n%s", logs)
	}
	srv.Start()
	in := &inbox{srv: srv}
	first, second := in.next(t), in.next(t)
	subjects := first.Header.Get("Subject") + " | " + second.Header.Get("Subject")
	if !strings.Contains(subjects, "Confirm your email address") || !strings.Contains(subjects, "Set a new password") {
		t.Errorf("after the outage: %s", subjects)
	}
	if d := time.Since(start); d > 25*time.Second {
		t.Errorf("the mail took %v after the server came back", d)
	}
	in.quiet(t, 3*time.Second)
	if logs := s.logs(); !strings.Contains(logs, "a message that had failed is sent") {
		t.Errorf("the recovery of the messages is not logged:\n%s", logs)
	}
}

// TestMailEmailChange: an email change needs the current password, tells
// the old address at once with a link of its own, and takes effect once
// the new address is verified; the old address's link then takes the
// account back.
func TestMailEmailChange(t *testing.T) {
	t.Parallel()
	srv, flags := plainMail(t)
	s := startServer(t, nil, append([]string{"--data-dir", t.TempDir()}, flags...)...)
	in := &inbox{srv: srv}
	signupUser(t, s.URL, "ada@example.com")
	in.next(t)
	signupUser(t, s.URL, "bob@example.com")
	in.next(t)
	cookie := sessionCookie(t, login(t, s.URL, "ada@example.com", "session", req{}))
	change := func(to, pw string) response {
		return do(t, s.URL, req{Method: "POST", Path: "/v1/email", Cookie: cookie,
			Body: map[string]string{"new_email": to, "current_password": pw}})
	}
	expect(t, "wrong password", change("new@example.com", "not the password"), 401, "invalid_credentials")
	expect(t, "taken address", change("bob@example.com", attackPassword), 409, "conflict")
	expect(t, "same address", change("ada@example.com", attackPassword), 400, "invalid_request")
	expect(t, "malformed address", change("new@", attackPassword), 400, "invalid_request")
	expect(t, "signed out", do(t, s.URL, req{Method: "POST", Path: "/v1/email",
		Body: map[string]string{"new_email": "new@example.com", "current_password": attackPassword}}), 401, "unauthenticated")
	expect(t, "change", change("new@example.com", attackPassword), 202)
	notice, verify := in.next(t), in.next(t)
	wantMailTo(t, notice, "ada@example.com", "A change to your valet account")
	wantMailTo(t, verify, "new@example.com", "Confirm your email address")
	if !strings.Contains(notice.Text, "new@example.com") || !strings.Contains(notice.Text, "If it was not you, open this link") {
		t.Errorf("the notice to the old address:\n%s", notice.Text)
	}
	if me(t, s.URL, req{Cookie: cookie})["email"] != "ada@example.com" {
		t.Fatal("the email changed before the new address was verified")
	}
	_, _, code := secretsOf(t, verify)
	expect(t, "verify the new address", do(t, s.URL, req{Method: "POST", Path: "/v1/verification/complete",
		Body: map[string]string{"email": "new@example.com", "code": code}}), 204)
	u := me(t, s.URL, req{Cookie: cookie})
	if u["email"] != "new@example.com" || u["email_verified"] != true {
		t.Fatalf("after the change: %v", u)
	}

	path, report, _ := secretsOf(t, notice)
	if path != "/recovery" {
		t.Fatalf("the old address's link is %s", path)
	}
	expect(t, "report", do(t, s.URL, req{Method: "POST", Path: "/v1/recovery/complete",
		Body: map[string]string{"token": report, "new_password": "this was not me at all"}}), 204)
	expect(t, "the intruder's session", do(t, s.URL, req{Path: "/v1/me", Cookie: cookie}), 401)
	back := do(t, s.URL, req{Method: "POST", Path: "/v1/login", Body: map[string]string{"email": "ada@example.com", "password": "this was not me at all"}})
	expect(t, "sign in with the old address", back, 200)
	if u := me(t, s.URL, req{Cookie: sessionCookie(t, back)}); u["email"] != "ada@example.com" || u["email_verified"] != true {
		t.Errorf("after the report: %v", u)
	}
	wantMailTo(t, in.next(t), "ada@example.com", "A change to your valet account")
}

// TestMailPasswordChangeNotice: a password changed by its owner is told to
// the address by mail.
func TestMailPasswordChangeNotice(t *testing.T) {
	t.Parallel()
	srv, flags := plainMail(t)
	s := startServer(t, nil, append([]string{"--data-dir", t.TempDir()}, flags...)...)
	in := &inbox{srv: srv}
	signupUser(t, s.URL, "ada@example.com")
	in.next(t)
	cookie := sessionCookie(t, login(t, s.URL, "ada@example.com", "session", req{}))
	expect(t, "change password", do(t, s.URL, req{Method: "POST", Path: "/v1/password", Cookie: cookie,
		Body: map[string]string{"current_password": attackPassword, "new_password": "another long passphrase"}}), 204)
	m := in.next(t)
	wantMailTo(t, m, "ada@example.com", "A change to your valet account")
	if !strings.Contains(m.Text, "password of your account was just changed") {
		t.Errorf("notice:\n%s", m.Text)
	}
}

// TestMailRequireVerified: with --require-verified-email an unverified
// account is refused sign-in with 403 email_unverified, and signs in once
// verified.
func TestMailRequireVerified(t *testing.T) {
	t.Parallel()
	srv, flags := plainMail(t)
	s := startServer(t, nil, append([]string{"--data-dir", t.TempDir(), "--require-verified-email"}, flags...)...)
	in := &inbox{srv: srv}
	signupUser(t, s.URL, "ada@example.com")
	_, tok, _ := secretsOf(t, in.next(t))
	for _, mode := range []string{"session", "token", "hybrid"} {
		expect(t, mode+" sign-in unverified", do(t, s.URL, req{Method: "POST", Path: "/v1/login",
			Body: map[string]string{"email": "ada@example.com", "password": attackPassword, "mode": mode}}), 403, "email_unverified")
	}
	expect(t, "wrong password unverified", do(t, s.URL, req{Method: "POST", Path: "/v1/login",
		Body: map[string]string{"email": "ada@example.com", "password": "wrong password"}}), 401, "invalid_credentials")
	expect(t, "verify", do(t, s.URL, req{Method: "POST", Path: "/v1/verification/complete", Body: map[string]string{"token": tok}}), 204)
	login(t, s.URL, "ada@example.com", "", req{})
}

// TestAttackCodes is the attack table of the one-time links and codes:
// guessing (the fifth wrong code kills the ticket, its link too), reuse,
// expiry, tampered, foreign and malformed tokens and codes, each answered
// 400 invalid_code (malformed bodies 400 invalid_request), and the limit
// on codes per account.
func TestAttackCodes(t *testing.T) {
	t.Parallel()
	srv, flags := plainMail(t)
	s := startServer(t, nil, append(append([]string{"--data-dir", t.TempDir(), "--recovery-ttl", "3s"}, flags...), noMailThrottle...)...)
	in := &inbox{srv: srv}
	signupUser(t, s.URL, "ada@example.com")
	_, verifyTok, verifyCode := secretsOf(t, in.next(t))
	recovery := func() (tok, code string) {
		t.Helper()
		expect(t, "recovery", do(t, s.URL, req{Method: "POST", Path: "/v1/recovery", Body: map[string]string{"email": "ada@example.com"}}), 202)
		for {
			// The notices of the recoveries before may come first.
			if m := in.next(t); strings.Contains(m.Header.Get("Subject"), "Set a new password") {
				_, tok, code = secretsOf(t, m)
				return tok, code
			}
		}
	}
	complete := func(body map[string]string) response {
		if _, ok := body["new_password"]; !ok {
			body["new_password"] = "a fine new passphrase"
		}
		return do(t, s.URL, req{Method: "POST", Path: "/v1/recovery/complete", Body: body})
	}
	verify := func(body any) response {
		return do(t, s.URL, req{Method: "POST", Path: "/v1/verification/complete", Body: body})
	}
	wrong := func(code string) string {
		if code == "00000000" {
			return "11111111"
		}
		return "00000000"
	}

	t.Run("guessing", func(t *testing.T) {
		tok, code := recovery()
		for i := range 5 {
			expect(t, fmt.Sprintf("wrong code %d", i+1), complete(map[string]string{"email": "ada@example.com", "code": wrong(code)}), 400, "invalid_code")
		}
		expect(t, "right code after five wrong", complete(map[string]string{"email": "ada@example.com", "code": code}), 400, "invalid_code")
		expect(t, "link after five wrong codes", complete(map[string]string{"token": tok}), 400, "invalid_code")
	})
	t.Run("reuse", func(t *testing.T) {
		tok, _ := recovery()
		expect(t, "first use", complete(map[string]string{"token": tok}), 204)
		expect(t, "second use", complete(map[string]string{"token": tok}), 400, "invalid_code")
	})
	t.Run("replaced", func(t *testing.T) {
		old, _ := recovery()
		tok, _ := recovery()
		expect(t, "the older link", complete(map[string]string{"token": old}), 400, "invalid_code")
		expect(t, "the newer link", complete(map[string]string{"token": tok}), 204)
	})
	t.Run("expiry", func(t *testing.T) {
		tok, code := recovery()
		time.Sleep(3500 * time.Millisecond)
		expect(t, "expired link", complete(map[string]string{"token": tok}), 400, "invalid_code")
		expect(t, "expired code", complete(map[string]string{"email": "ada@example.com", "code": code}), 400, "invalid_code")
	})
	tok, code := recovery()
	tests := []struct {
		name   string
		call   func() response
		status int
		code   string
	}{
		{"tampered token", func() response { return complete(map[string]string{"token": flipLastChar(tok)}) }, 400, "invalid_code"},
		{"truncated token", func() response { return complete(map[string]string{"token": tok[:30]}) }, 400, "invalid_code"},
		{"token with a NUL", func() response { return complete(map[string]string{"token": tok + "\x00"}) }, 400, "invalid_code"},
		{"token of another server", func() response { return complete(map[string]string{"token": strings.Repeat("A", 43)}) }, 400, "invalid_code"},
		{"huge token", func() response { return complete(map[string]string{"token": strings.Repeat("A", 60000)}) }, 400, "invalid_code"},
		{"verification token for recovery", func() response { return complete(map[string]string{"token": verifyTok}) }, 400, "invalid_code"},
		{"verification code for recovery", func() response {
			return complete(map[string]string{"email": "ada@example.com", "code": verifyCode})
		}, 400, "invalid_code"},
		{"recovery token for verification", func() response { return verify(map[string]string{"token": tok}) }, 400, "invalid_code"},
		{"recovery code for verification", func() response {
			return verify(map[string]string{"email": "ada@example.com", "code": code})
		}, 400, "invalid_code"},
		{"code for another address", func() response {
			return complete(map[string]string{"email": "bob@example.com", "code": code})
		}, 400, "invalid_code"},
		{"letters", func() response { return complete(map[string]string{"email": "ada@example.com", "code": "abcdefgh"}) }, 400, "invalid_code"},
		{"seven digits", func() response { return complete(map[string]string{"email": "ada@example.com", "code": code[:7]}) }, 400, "invalid_code"},
		{"code with a line break", func() response {
			return complete(map[string]string{"email": "ada@example.com", "code": code[:4] + "\r\n" + code[4:]})
		}, 400, "invalid_code"},
		{"malformed email", func() response { return complete(map[string]string{"email": "ada@", "code": code}) }, 400, "invalid_request"},
		{"email with CRLF", func() response {
			return complete(map[string]string{"email": "ada@example.com\r\nBcc: eve@example.com", "code": code})
		}, 400, "invalid_request"},
		{"token and code", func() response {
			return complete(map[string]string{"token": tok, "email": "ada@example.com", "code": code})
		}, 400, "invalid_request"},
		{"neither", func() response { return complete(map[string]string{}) }, 400, "invalid_request"},
		{"code as a number", func() response { return verify(map[string]any{"email": "ada@example.com", "code": 12345678}) }, 400, "invalid_request"},
		{"unknown field", func() response { return verify(map[string]any{"tokn": tok}) }, 400, "invalid_request"},
		{"no new password", func() response {
			return do(t, s.URL, req{Method: "POST", Path: "/v1/recovery/complete", Body: map[string]string{"token": tok}})
		}, 400, "invalid_request"},
		{"recovery of a malformed address", func() response {
			return do(t, s.URL, req{Method: "POST", Path: "/v1/recovery", Body: map[string]string{"email": "ada@example.com\x00"}})
		}, 400, "invalid_request"},
		{"verification request signed out", func() response {
			return do(t, s.URL, req{Method: "POST", Path: "/v1/verification"})
		}, 401, "unauthenticated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			expect(t, tc.name, tc.call(), tc.status, tc.code)
		})
	}
	// None of that used up or killed the real link.
	expect(t, "the real link after the attacks", complete(map[string]string{"token": tok}), 204)
}

// TestAttackCodeThrottle: with the default limits, codes tried for one
// account are refused with 429 after ten, whichever tickets they aim at,
// and so are requests for mail after three.
func TestAttackCodeThrottle(t *testing.T) {
	t.Parallel()
	srv, flags := plainMail(t)
	s := startServer(t, nil, append([]string{"--data-dir", t.TempDir()}, flags...)...)
	in := &inbox{srv: srv}
	signupUser(t, s.URL, "ada@example.com")
	in.next(t)
	for i := range 10 {
		r := do(t, s.URL, req{Method: "POST", Path: "/v1/verification/complete",
			Body: map[string]string{"email": "ada@example.com", "code": fmt.Sprintf("%08d", i)}})
		if r.Status != 400 && r.Status != 204 {
			t.Fatalf("code %d: %d %s", i, r.Status, r.Body)
		}
	}
	r := do(t, s.URL, req{Method: "POST", Path: "/v1/verification/complete",
		Body: map[string]string{"email": "ada@example.com", "code": "99999999"}})
	expect(t, "eleventh code", r, 429, "rate_limited")
	if r.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	for i := range 3 {
		expect(t, fmt.Sprintf("recovery %d", i+1), do(t, s.URL, req{Method: "POST", Path: "/v1/recovery",
			Body: map[string]string{"email": "ghost@example.com"}}), 202)
	}
	expect(t, "fourth recovery of one address", do(t, s.URL, req{Method: "POST", Path: "/v1/recovery",
		Body: map[string]string{"email": "ghost@example.com"}}), 429, "rate_limited")
}

// TestAttackRecoveryEnumeration: POST /v1/recovery answers an address with
// an account and one without in the same time (medians, as the login
// enumeration test takes them), with the same status, body and headers.
func TestAttackRecoveryEnumeration(t *testing.T) {
	skipInShort(t)
	srv, flags := plainMail(t)
	s := startServer(t, nil, append(append(append([]string{"--data-dir", t.TempDir()}, flags...), noThrottle...), noMailThrottle...)...)
	in := &inbox{srv: srv}
	for i := range 15 {
		signupUser(t, s.URL, fmt.Sprintf("user%d@example.com", i))
		in.next(t)
	}
	try := func(email string) (response, time.Duration) {
		t.Helper()
		start := time.Now()
		r := do(t, s.URL, req{Method: "POST", Path: "/v1/recovery", Body: map[string]string{"email": email}})
		return r, time.Since(start)
	}
	for range 3 {
		try("user0@example.com")
		try("warm@example.net")
	}
	var rounds []string
	for round := range 3 {
		var known, unknown []time.Duration
		for i := range 15 {
			var rk, ru response
			var dk, du time.Duration
			if i%2 == 0 {
				rk, dk = try(fmt.Sprintf("user%d@example.com", i))
				ru, du = try(fmt.Sprintf("ghost%d-%d@example.com", round, i))
			} else {
				ru, du = try(fmt.Sprintf("ghost%d-%d@example.com", round, i))
				rk, dk = try(fmt.Sprintf("user%d@example.com", i))
			}
			known, unknown = append(known, dk), append(unknown, du)
			expect(t, "known", rk, 202)
			expect(t, "unknown", ru, 202)
			if !bytes.Equal(rk.Body, ru.Body) {
				t.Fatalf("bodies differ: %q, %q", rk.Body, ru.Body)
			}
			for _, h := range []string{"Content-Type", "Content-Length", "Cache-Control", "Set-Cookie", "Retry-After"} {
				if rk.Header.Get(h) != ru.Header.Get(h) {
					t.Fatalf("header %s differs: %q vs %q", h, rk.Header.Get(h), ru.Header.Get(h))
				}
			}
		}
		mk, mu := median(known), median(unknown)
		// A floor of a millisecond: below it, scheduling noise is all
		// there is to see.
		diff := float64(mk-mu) / float64(max(mk, mu, time.Millisecond))
		rounds = append(rounds, fmt.Sprintf("existing %v, unknown %v (%.1f%% apart)", mk, mu, 100*max(diff, -diff)))
		t.Logf("round %d: median recovery request: %s", round+1, rounds[round])
		if diff <= 0.25 && diff >= -0.25 {
			return
		}
	}
	t.Fatalf("median recovery times for an existing and an unknown address are more than 25%% apart in every round: %v", rounds)
}

// TestMailStartup: a malformed --smtp-url stops valet serve with a message
// naming the flag, and without one the start-up output says that mail is
// written to the log, where a recovery mail then appears.
func TestMailStartup(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ args []string }{
		{[]string{"--smtp-url", "http://mail.example.com"}},
		{[]string{"--smtp-url", "smtp://ada@mail.example.com:587", "--mail-from", mailFrom}},
		{[]string{"--smtp-url", "smtp://mail.example.com:587"}},
	} {
		_, stderr, code := cli(t, "", append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir()}, tc.args...)...)
		if code != 2 || !strings.Contains(stderr, "--smtp-url") {
			t.Errorf("serve %q: exit %d, stderr %q; want 2 naming --smtp-url", tc.args, code, stderr)
		}
	}
	s := startServer(t, nil, "--data-dir", t.TempDir())
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.stdout(), "WARNING: no --smtp-url: mail is NOT sent") {
		if time.Now().After(deadline) {
			t.Fatalf("no warning at start:\n%s", s.stdout())
		}
		time.Sleep(20 * time.Millisecond)
	}
	signupUser(t, s.URL, "ada@example.com")
	expect(t, "recovery", do(t, s.URL, req{Method: "POST", Path: "/v1/recovery", Body: map[string]string{"email": "ada@example.com"}}), 202)
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(s.logs(), `/recovery?token=`) {
		if time.Now().After(deadline) {
			t.Fatalf("the recovery mail is not in the log:\n%s", s.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// flipLastChar changes the last character of a token.
func flipLastChar(v string) string {
	last := byte('A')
	if v[len(v)-1] == 'A' {
		last = 'B'
	}
	return v[:len(v)-1] + string(last)
}

// flipFirstChar changes the first character of an id, a token or a
// cookie: "A" + v[1:] would be v itself for one in 64.
func flipFirstChar(v string) string {
	first := byte('A')
	if v[0] == 'A' {
		first = 'B'
	}
	return string(first) + v[1:]
}
