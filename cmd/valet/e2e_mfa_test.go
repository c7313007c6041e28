package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

// totpAt returns the code of secret at t.
func totpAt(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// earlyInStep waits until the current 30-second TOTP step has at least 20
// seconds to go, and returns the step's start: a test then has the codes
// of the step before, this one and the next, all accepted, before the
// window moves.
func earlyInStep() time.Time {
	for {
		now := time.Now()
		start := now.Truncate(30 * time.Second)
		if now.Sub(start) < 10*time.Second {
			return start
		}
		time.Sleep(start.Add(30 * time.Second).Sub(now))
	}
}

// mfaUser signs up email on node, signs in by cookie, enrols TOTP
// confirmed with the code of confirmAt, and returns the cookie, the
// secret, the factor id and the recovery codes. confirmAt is asked for
// the time of the code when it is sent.
func mfaUser(t testing.TB, node *server, email string, confirmAt func() time.Time) (cookie, secret, factor string, codes []string) {
	t.Helper()
	r := do(t, node.URL, req{Method: "POST", Path: "/v1/signup", Body: map[string]string{"email": email, "password": withdrawPW}})
	expect(t, "signup", r, 201)
	d := loginDevice(t, node, email, "session")
	r = do(t, node.URL, req{Method: "POST", Path: "/v1/mfa/totp", Cookie: d.cookie, Body: map[string]string{"name": "Phone"}})
	expect(t, "begin TOTP", r, 200)
	b := r.json(t)
	secret, factor = b["secret"].(string), b["id"].(string)
	if u := b["otpauth_url"].(string); !strings.HasPrefix(u, "otpauth://totp/") || !strings.Contains(u, "secret="+secret) {
		t.Fatalf("otpauth_url %q", u)
	}
	if q := b["qr_png"].(string); !strings.HasPrefix(q, "data:image/png;base64,") {
		t.Fatalf("qr %q", q)
	}
	// Until confirmed, the factor is not asked for.
	r = do(t, node.URL, req{Method: "POST", Path: "/v1/login", Body: map[string]string{"email": email, "password": withdrawPW}})
	expect(t, "login before confirmation", r, 200)
	r = do(t, node.URL, req{Method: "POST", Path: "/v1/mfa/totp/confirm", Cookie: d.cookie,
		Body: map[string]string{"id": factor, "code": totpAt(t, secret, confirmAt())}})
	expect(t, "confirm TOTP", r, 200)
	for _, c := range r.json(t)["recovery_codes"].([]any) {
		codes = append(codes, c.(string))
	}
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes", len(codes))
	}
	return d.cookie, secret, factor, codes
}

// passwordStep logs in with the password and returns the mfa_token the
// server asks a second factor for.
func passwordStep(t *testing.T, node *server, email, mode string) string {
	t.Helper()
	r := do(t, node.URL, req{Method: "POST", Path: "/v1/login", Body: map[string]string{"email": email, "password": withdrawPW, "mode": mode}})
	expect(t, mode+" password step", r, 401, "mfa_required")
	b := r.json(t)
	methods := b["methods"].([]any)
	if len(methods) != 2 || methods[0] != "totp" || methods[1] != "recovery_code" {
		t.Fatalf("methods %v", methods)
	}
	if _, ok := b["access_token"]; ok || r.Header.Get("Set-Cookie") != "" {
		t.Fatalf("the password step handed out a credential: %s", r.Body)
	}
	return b["mfa_token"].(string)
}

// claims decodes the payload of a JWT, unverified (the server verified it).
func claims(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func amrOf(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// TestMFALogin: through the binary, on SQLite and on two nodes over
// Postgres and Redis (the password step on one node, the code on the
// other): a TOTP factor turns every login into a second step in every
// mode, a code works once, a recovery code once, and what the login
// records (amr, auth_time) reaches /v1/me, the tokens and forward auth.
func TestMFALogin(t *testing.T) {
	skipInShort(t)
	for name, nodes := range map[string]func(t *testing.T) (a, b *server){
		"sqlite": func(t *testing.T) (*server, *server) {
			s := startServer(t, nil, "--data-dir", t.TempDir())
			return s, s
		},
		"postgres+redis, two nodes": func(t *testing.T) (*server, *server) {
			store := []string{"--db", pgSchema(t), "--sessions", startPrivateRedis(t).URL()}
			return startServer(t, nil, store...), startServer(t, nil, store...)
		},
	} {
		t.Run(name, func(t *testing.T) {
			a, b := nodes(t)
			step := earlyInStep()
			cookie, secret, _, codes := mfaUser(t, a, "ada@example.com", func() time.Time { return step.Add(-30 * time.Second) })
			r := do(t, b.URL, req{Path: "/v1/me", Cookie: cookie})
			expect(t, "me after enrolling", r, 200)
			me := r.json(t)
			if got := me["user"].(map[string]any)["mfa"].([]any); len(got) != 1 || got[0] != "totp" {
				t.Errorf("me user.mfa %v", got)
			}
			if amr := amrOf(me["auth"].(map[string]any)["amr"]); !slices.Equal(amr, []string{"pwd", "otp", "mfa"}) {
				t.Errorf("the enrolling session's amr %v: it just proved the factor", amr)
			}

			// session mode with the current step, token mode with the next.
			tok := passwordStep(t, a, "ada@example.com", "session")
			r = do(t, b.URL, req{Method: "POST", Path: "/v1/login/mfa", Body: map[string]string{"mfa_token": tok, "method": "totp", "code": totpAt(t, secret, step)}})
			expect(t, "session login with a code", r, 200)
			sc, _ := r.cookie("valet_session")
			r = do(t, a.URL, req{Path: "/v1/me", Cookie: sc})
			expect(t, "me of the session login", r, 200)
			auth := r.json(t)["auth"].(map[string]any)
			if amr := amrOf(auth["amr"]); !slices.Equal(amr, []string{"pwd", "otp", "mfa"}) || auth["auth_time"] == nil {
				t.Errorf("session login auth %v", auth)
			}
			r = do(t, a.URL, req{Method: "POST", Path: "/v1/login/mfa", Body: map[string]string{"mfa_token": tok, "method": "totp", "code": totpAt(t, secret, step)}})
			expect(t, "the mfa_token again", r, 401, "invalid_grant")

			tok = passwordStep(t, b, "ada@example.com", "token")
			code := totpAt(t, secret, step.Add(30*time.Second))
			r = do(t, a.URL, req{Method: "POST", Path: "/v1/login/mfa", Body: map[string]string{"mfa_token": tok, "method": "totp", "code": code}})
			expect(t, "token login with the next step's code", r, 200)
			g := r.json(t)
			c := claims(t, g["access_token"].(string))
			if amr := amrOf(c["amr"]); !slices.Equal(amr, []string{"pwd", "otp", "mfa"}) {
				t.Errorf("token amr claim %v", c["amr"])
			}
			if at, ok := c["auth_time"].(float64); !ok || time.Since(time.Unix(int64(at), 0)) > time.Minute {
				t.Errorf("token auth_time claim %v", c["auth_time"])
			}
			// The refreshed token keeps what the login recorded.
			r = do(t, b.URL, req{Method: "POST", Path: "/v1/token/refresh", Body: map[string]string{"refresh_token": g["refresh_token"].(string)}})
			expect(t, "refresh", r, 200)
			if amr := amrOf(claims(t, r.json(t)["access_token"].(string))["amr"]); !slices.Equal(amr, []string{"pwd", "otp", "mfa"}) {
				t.Errorf("refreshed amr %v", amr)
			}

			// Replays: the same code, an older step's code.
			tok = passwordStep(t, a, "ada@example.com", "hybrid")
			for _, old := range []string{code, totpAt(t, secret, step), totpAt(t, secret, step.Add(-30*time.Second)), "000000"} {
				r = do(t, b.URL, req{Method: "POST", Path: "/v1/login/mfa", Body: map[string]string{"mfa_token": tok, "method": "totp", "code": old}})
				expect(t, "a used or wrong code", r, 400, "invalid_code")
			}
			// The attempt is still open: a recovery code finishes it, in
			// hybrid mode.
			r = do(t, a.URL, req{Method: "POST", Path: "/v1/login/mfa", Body: map[string]string{"mfa_token": tok, "method": "recovery_code", "code": codes[0]}})
			expect(t, "hybrid login with a recovery code", r, 200)
			h := r.json(t)
			if h["mode"] != "hybrid" || claims(t, h["access_token"].(string))["sid"] == nil {
				t.Errorf("hybrid grant %v", h)
			}
			tok = passwordStep(t, b, "ada@example.com", "hybrid")
			r = do(t, b.URL, req{Method: "POST", Path: "/v1/login/mfa", Body: map[string]string{"mfa_token": tok, "method": "recovery_code", "code": codes[0]}})
			expect(t, "a recovery code again", r, 400, "invalid_code")
			r = do(t, a.URL, req{Path: "/v1/mfa", Cookie: sc})
			expect(t, "list factors", r, 200)
			if left := r.json(t)["recovery_codes_left"]; left != float64(9) {
				t.Errorf("recovery codes left %v", left)
			}

			// Forward auth tells the app how the user signed in.
			r = do(t, a.URL, req{Path: "/v1/authz/forward-auth", Cookie: sc})
			expect(t, "forward auth", r, 200)
			if got := r.Header.Get("Remote-Amr"); got != "pwd,otp,mfa" {
				t.Errorf("Remote-Amr %q", got)
			}
			if got := r.Header.Get("Remote-Auth-Time"); got == "" {
				t.Error("no Remote-Auth-Time")
			}
		})
	}
}

// TestMFAAttackTable: malformed second steps get a clear error and spend
// nothing, and the server keeps serving.
func TestMFAAttackTable(t *testing.T) {
	skipInShort(t)
	srv := startServer(t, nil, "--data-dir", t.TempDir())
	step := earlyInStep()
	_, secret, _, _ := mfaUser(t, srv, "ada@example.com", func() time.Time { return step })
	tok := passwordStep(t, srv, "ada@example.com", "session")
	for _, tc := range []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"empty body", "", 400, "invalid_request"},
		{"not JSON", "mfa_token=x", 400, "invalid_request"},
		{"no token", map[string]string{"method": "totp", "code": "123456"}, 400, "invalid_request"},
		{"no method", map[string]string{"mfa_token": tok, "code": "123456"}, 400, "invalid_request"},
		{"unknown field", map[string]string{"mfa_token": tok, "method": "totp", "cod": "1"}, 400, "invalid_request"},
		{"case variant", map[string]string{"MFA_TOKEN": tok, "method": "totp"}, 400, "invalid_request"},
		{"code of the wrong type", map[string]any{"mfa_token": tok, "method": "totp", "code": 123456}, 400, "invalid_request"},
		{"token twice", `{"mfa_token":"a","mfa_token":"` + tok + `","method":"totp"}`, 400, "invalid_request"},
		{"unknown token", map[string]string{"mfa_token": flipFirstChar(tok), "method": "totp", "code": "123456"}, 401, "invalid_grant"},
		{"token with NUL", map[string]string{"mfa_token": tok + "\x00", "method": "totp", "code": "123456"}, 401, "invalid_grant"},
		{"huge token", map[string]string{"mfa_token": strings.Repeat("A", 60000), "method": "totp", "code": "1"}, 401, "invalid_grant"},
		{"over 64 KiB", map[string]string{"mfa_token": strings.Repeat("A", 70000), "method": "totp"}, 413, "payload_too_large"},
		{"method sms", map[string]string{"mfa_token": tok, "method": "sms", "code": "123456"}, 400, "invalid_request"},
		{"webauthn on a server without passkeys", map[string]any{"mfa_token": tok, "method": "webauthn", "credential": map[string]any{"id": "x"}}, 400, "invalid_request"},
		{"invalid UTF-8 code", `{"mfa_token":"` + tok + `","method":"totp","code":"\xff\xfe"}`, 400, ""},
		{"SQL in the code", map[string]string{"mfa_token": tok, "method": "recovery_code", "code": "' OR '1'='1"}, 400, "invalid_code"},
	} {
		r := do(t, srv.URL, req{Method: "POST", Path: "/v1/login/mfa", Body: tc.body})
		if r.Status != tc.status || tc.code != "" && r.errorCode(t) != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.name, r.Status, r.Body, tc.status, tc.code)
		}
	}
	// The attempt took only the wrong codes (one) and still finishes.
	r := do(t, srv.URL, req{Method: "POST", Path: "/v1/login/mfa", Body: map[string]string{"mfa_token": tok, "method": "totp", "code": totpAt(t, secret, step.Add(30*time.Second))}})
	expect(t, "after the attack table", r, 200)
}

// TestMFAThrottleAndReauth: wrong second factors have their own limit,
// which leaves the password's alone; a sensitive change needs a recent
// sign-in, proved again with a code; an administrator's reset (API and
// CLI) removes the factors and ends every session; each factor change is
// mailed.
func TestMFAThrottleAndReauth(t *testing.T) {
	skipInShort(t)
	smtp, mailFlags := plainMail(t)
	in := &inbox{srv: smtp}
	dir := t.TempDir()
	store := []string{"--data-dir", dir}
	srv := startServer(t, nil, append(append(store, mailFlags...), "--reauth-window", "3s",
		"--throttle-factor-account", "4/1h", "--throttle-signup", "off")...)
	step := earlyInStep()
	cookie, secret, factor, _ := mfaUser(t, srv, "ada@example.com", func() time.Time { return step })
	in.next(t) // verification of the signup
	if m := in.next(t); !strings.Contains(m.Text, "second factor was added") || !strings.Contains(m.Text, "Phone") {
		t.Errorf("mail after enrolling: %q", m.Text)
	}

	// Reauth: past the window, removing the factor needs proof again; the
	// password does not do for an account with a factor.
	time.Sleep(3500 * time.Millisecond)
	r := do(t, srv.URL, req{Method: "DELETE", Path: "/v1/mfa/" + factor, Cookie: cookie})
	expect(t, "remove after the window", r, 403, "reauth_required")
	r = do(t, srv.URL, req{Method: "DELETE", Path: "/v1/sessions", Cookie: cookie})
	expect(t, "end other sessions after the window", r, 403, "reauth_required")
	r = do(t, srv.URL, req{Method: "POST", Path: "/v1/reauth", Cookie: cookie, Body: map[string]string{"method": "password", "password": withdrawPW}})
	expect(t, "reauth by password with a factor", r, 400, "invalid_request")
	r = do(t, srv.URL, req{Method: "POST", Path: "/v1/reauth", Cookie: cookie, Body: map[string]string{"method": "totp", "code": totpAt(t, secret, step.Add(30*time.Second))}})
	expect(t, "reauth with a code", r, 204)
	r = do(t, srv.URL, req{Method: "DELETE", Path: "/v1/sessions", Cookie: cookie})
	expect(t, "end other sessions after reauth", r, 204)

	// Throttle: the right codes (the enrolment's confirmation, the
	// reauth) gave their tries back, so four wrong codes use the limit;
	// the fifth attempt is refused while the password step still answers.
	for i := range 4 {
		tok := passwordStep(t, srv, "ada@example.com", "session")
		r := do(t, srv.URL, req{Method: "POST", Path: "/v1/login/mfa", Body: map[string]string{"mfa_token": tok, "method": "totp", "code": "000000"}})
		expect(t, fmt.Sprintf("wrong code %d", i), r, 400, "invalid_code")
	}
	tok := passwordStep(t, srv, "ada@example.com", "session")
	r = do(t, srv.URL, req{Method: "POST", Path: "/v1/login/mfa", Body: map[string]string{"mfa_token": tok, "method": "totp", "code": "000000"}})
	expect(t, "a second factor past the limit", r, 429, "rate_limited")
	if r.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	passwordStep(t, srv, "ada@example.com", "session")

	// Admin reset through the API.
	valetCLI(t, store, withdrawPW+"\n", "user", "create", "--email", "root@example.com", "--role", "admin")
	admin := loginDevice(t, srv, "root@example.com", "session")
	r = do(t, srv.URL, req{Path: "/v1/admin/users?q=ada", Cookie: admin.cookie})
	expect(t, "find ada", r, 200)
	adaID := r.json(t)["users"].([]any)[0].(map[string]any)["id"].(string)
	r = do(t, srv.URL, req{Method: "DELETE", Path: "/v1/admin/users/" + adaID + "/mfa", Cookie: cookie})
	expect(t, "reset by a non-admin", r, 403, "forbidden")
	r = do(t, srv.URL, req{Method: "DELETE", Path: "/v1/admin/users/" + adaID + "/mfa", Cookie: admin.cookie})
	expect(t, "admin reset", r, 204)
	r = do(t, srv.URL, req{Path: "/v1/me", Cookie: cookie})
	expect(t, "ada's session after the reset", r, 401)
	d := loginDevice(t, srv, "ada@example.com", "session")
	if d.me(t, srv) != 200 {
		t.Fatal("password login after the reset")
	}
	found := false
	for range 6 {
		if m := in.next(t); strings.Contains(m.Text, "administrator removed the second factors") {
			found = true
			break
		}
	}
	if !found {
		t.Error("no mail told of the reset")
	}

	// The CLI does the same to a running server's user (another one: ada
	// has used up her second factors for the hour).
	bobCookie, _, _, _ := mfaUser(t, srv, "bob@example.com", time.Now)
	passwordStep(t, srv, "bob@example.com", "token")
	out := valetCLI(t, store, "", "user", "mfa", "reset", "--email", "bob@example.com")
	if !strings.Contains(out, "removed the second factors") || !strings.Contains(out, "ended 2 device sessions") {
		t.Errorf("CLI output %q", out)
	}
	eventually(t, "the CLI's reset reaches the server", 3*time.Second, func() bool {
		return do(t, srv.URL, req{Path: "/v1/me", Cookie: bobCookie}).Status == http.StatusUnauthorized
	})
	r = do(t, srv.URL, req{Method: "POST", Path: "/v1/login", Body: map[string]string{"email": "bob@example.com", "password": withdrawPW}})
	expect(t, "login after the CLI reset", r, 200)
}

// TestMFARequiredPolicy: with --mfa required-for-role=admin, an admin
// without a factor signs in but may do nothing but add one, and a user
// without the role is not held; with --mfa required, every user is.
func TestMFARequiredPolicy(t *testing.T) {
	t.Parallel()
	skipInShort(t)
	dir := t.TempDir()
	store := []string{"--data-dir", dir}
	valetCLI(t, store, withdrawPW+"\n", "user", "create", "--email", "root@example.com", "--role", "admin")
	valetCLI(t, store, withdrawPW+"\n", "user", "create", "--email", "ada@example.com")
	srv := startServer(t, nil, append(store, "--mfa", "required-for-role=admin")...)
	plain := loginDevice(t, srv, "ada@example.com", "token")
	r := do(t, srv.URL, req{Path: "/v1/me", Bearer: plain.access})
	expect(t, "me of a user without the role", r, 200)
	if r.json(t)["auth"].(map[string]any)["mfa_enrollment_required"] == true {
		t.Errorf("a user without the role is held to enrol: %s", r.Body)
	}
	r = do(t, srv.URL, req{Path: "/v1/sessions", Bearer: plain.access})
	expect(t, "sessions of a user without the role", r, 200)
	d := loginDevice(t, srv, "root@example.com", "token")
	r = do(t, srv.URL, req{Path: "/v1/me", Bearer: d.access})
	expect(t, "me", r, 200)
	if r.json(t)["auth"].(map[string]any)["mfa_enrollment_required"] != true {
		t.Errorf("me %s", r.Body)
	}
	r = do(t, srv.URL, req{Path: "/v1/admin/users", Bearer: d.access})
	expect(t, "admin API before enrolling", r, 403, "forbidden")
	r = do(t, srv.URL, req{Method: "POST", Path: "/v1/mfa/totp", Bearer: d.access})
	expect(t, "enrol", r, 200)
	b := r.json(t)
	r = do(t, srv.URL, req{Method: "POST", Path: "/v1/mfa/totp/confirm", Bearer: d.access,
		Body: map[string]string{"id": b["id"].(string), "code": totpAt(t, b["secret"].(string), time.Now())}})
	expect(t, "confirm", r, 200)
	// The access token says what it said at login until it is renewed.
	if !d.canRefresh(t) {
		t.Fatal("refresh after enrolling")
	}
	r = do(t, srv.URL, req{Path: "/v1/admin/users", Bearer: d.access})
	expect(t, "admin API after enrolling", r, 200)

	// --mfa required holds every user, in every mode, until a factor is
	// confirmed: the API answers 403 but for what enrolling needs, and
	// forward auth refuses an API caller.
	srv.stop()
	srv = startServer(t, nil, append(store, "--mfa", "required")...)
	for _, mode := range []string{"session", "token", "hybrid"} {
		d := loginDevice(t, srv, "ada@example.com", mode)
		cred := req{Cookie: d.cookie, Bearer: d.access}
		get := func(path string) response {
			c := cred
			c.Path = path
			return do(t, srv.URL, c)
		}
		r := get("/v1/me")
		expect(t, mode+": me", r, 200)
		if r.json(t)["auth"].(map[string]any)["mfa_enrollment_required"] != true {
			t.Errorf("%s: --mfa required, a user without a factor: me %s", mode, r.Body)
		}
		expect(t, mode+": forward auth before enrolling", get("/v1/authz"), 403)
		expect(t, mode+": factor list", get("/v1/mfa"), 200)
		expect(t, mode+": session list", get("/v1/sessions"), 200)
		c := cred
		c.Method, c.Path, c.Body = "POST", "/v1/password", map[string]string{"current_password": withdrawPW, "new_password": "another long passphrase"}
		expect(t, mode+": password change before enrolling", do(t, srv.URL, c), 403, "forbidden")
	}

	for _, bad := range []string{"sometimes", "required-for-role=", "required-for-role=A B"} {
		out, err := runValet(t, append([]string{"serve", "--addr", "127.0.0.1:0", "--mfa", bad}, store...)...)
		if err == nil || !strings.Contains(out, "--mfa") {
			t.Errorf("--mfa %q: %v %s", bad, err, out)
		}
	}
}
