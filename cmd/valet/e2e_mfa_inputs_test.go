package main

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// inputCase is one row of an attack table: a request and the status and
// error code that it must get.
type inputCase struct {
	name   string
	q      req
	status int
	code   string
}

// runInputTable sends each row to srv and checks its status and error
// code. Every answer must be a contract error whose message names no
// internals, and the server must log no error or panic for any of them: a
// bad input is the client's mistake, never the server's.
func runInputTable(t *testing.T, srv *server, rows []inputCase) {
	t.Helper()
	for _, tc := range rows {
		r := do(t, srv.URL, tc.q)
		if r.Status != tc.status {
			t.Errorf("%s: status %d, want %d; body %s", tc.name, r.Status, tc.status, r.Body)
			continue
		}
		if got := r.errorCode(t); got != tc.code {
			t.Errorf("%s: error %q, want %q; body %s", tc.name, got, tc.code, r.Body)
		}
		msg, _ := r.json(t)["message"].(string)
		for _, leak := range []string{"auth:", "passkey:", "valet:", "sql", "panic", "goroutine"} {
			if strings.Contains(strings.ToLower(msg), leak) {
				t.Errorf("%s: the message shows internals (%q): %s", tc.name, leak, msg)
			}
		}
	}
	if l := srv.logs(); strings.Contains(l, `"level":"ERROR"`) || strings.Contains(l, "panic") {
		t.Errorf("the server logged an error or a panic for bad input:\n%s", l)
	}
}

// inputServer starts valet on SQLite for an attack table. The tables try
// more codes per account than the default factor throttle allows in 15
// minutes; the throttle has its own test (TestMFAThrottleAndReauth).
func inputServer(t *testing.T) *server {
	t.Helper()
	return startServer(t, nil, "--data-dir", t.TempDir(), "--throttle-factor-account", "200/15m")
}

// signedIn signs up email on srv and returns its session login.
func signedIn(t *testing.T, srv *server, email, mode string) *device {
	t.Helper()
	r := do(t, srv.URL, req{Method: "POST", Path: "/v1/signup", Body: map[string]string{"email": email, "password": withdrawPW}})
	expect(t, "signup "+email, r, 201)
	return loginDevice(t, srv, email, mode)
}

// stepBefore is the time of a code from the TOTP step before the server's
// clock, which it still accepts, so that a later code from the step after
// is always a new one.
func stepBefore() time.Time { return time.Now().Add(-30 * time.Second) }

// stepAfter is the time of a code from the TOTP step after the server's
// clock.
func stepAfter() time.Time { return time.Now().Add(30 * time.Second) }

// huge is a JSON object whose one member named field holds a string that
// takes the body over 64 KiB.
func huge(field string) map[string]string {
	return map[string]string{field: strings.Repeat("A", 70000)}
}

// TestMFAEnrolInputs: bad requests to add a TOTP factor, to confirm it and
// to remove a factor get a clear error; they change nothing, and the same
// requests done right still work afterwards.
func TestMFAEnrolInputs(t *testing.T) {
	skipInShort(t)
	srv := inputServer(t)
	ada, adaSecret, adaFactor, _ := mfaUser(t, srv, "ada@example.com", stepBefore)
	bob := signedIn(t, srv, "bob@example.com", "session")
	bobToken := loginDevice(t, srv, "bob@example.com", "token")
	r := do(t, srv.URL, req{Method: "POST", Path: "/v1/mfa/totp", Cookie: bob.cookie})
	expect(t, "bob begins TOTP", r, 200)
	bobPending, bobSecret := r.json(t)["id"].(string), r.json(t)["secret"].(string)

	begin := func(body any) req { return req{Method: "POST", Path: "/v1/mfa/totp", Cookie: ada, Body: body} }
	runInputTable(t, srv, []inputCase{
		{"name of 65 characters", begin(map[string]string{"name": strings.Repeat("n", 65)}), 400, "invalid_request"},
		{"name of 60000 characters", begin(map[string]string{"name": strings.Repeat("n", 60000)}), 400, "invalid_request"},
		{"name with a newline", begin(map[string]string{"name": "Phone\nAdmin"}), 400, "invalid_request"},
		{"name with NUL", begin(map[string]string{"name": "Phone\x00"}), 400, "invalid_request"},
		{"name with DEL", begin(map[string]string{"name": "Phone\x7f"}), 400, "invalid_request"},
		{"name of invalid UTF-8", begin(`{"name":"Phone` + "\xff\xfe" + `"}`), 400, "invalid_request"},
		{"name a number", begin(map[string]any{"name": 7}), 400, "invalid_request"},
		{"name an object", begin(map[string]any{"name": map[string]string{"x": "y"}}), 400, "invalid_request"},
		{"unknown field", begin(map[string]string{"name": "Phone", "secret": "JBSWY3DPEHPK3PXP"}), 400, "invalid_request"},
		{"case variant", begin(map[string]string{"NAME": "Phone"}), 400, "invalid_request"},
		{"name twice", begin(`{"name":"a","name":"b"}`), 400, "invalid_request"},
		{"not JSON", begin("name=Phone"), 400, "invalid_request"},
		{"a JSON array", begin(`["Phone"]`), 400, "invalid_request"},
		{"trailing data", begin(`{"name":"Phone"}{}`), 400, "invalid_request"},
		{"cut short", begin(`{"name":"Ph`), 400, "invalid_request"},
		{"over 64 KiB", begin(huge("name")), 413, "payload_too_large"},
		{"form content type", req{Method: "POST", Path: "/v1/mfa/totp", Cookie: ada, Body: `{"name":"Phone"}`,
			Header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, 400, "invalid_request"},
		{"cross-origin", req{Method: "POST", Path: "/v1/mfa/totp", Cookie: ada, Body: `{}`,
			Header: map[string]string{"Origin": "https://evil.example"}}, 403, "csrf_failed"},
		{"no credential", req{Method: "POST", Path: "/v1/mfa/totp", Body: `{}`}, 401, "unauthenticated"},
		{"unknown cookie", req{Method: "POST", Path: "/v1/mfa/totp", Cookie: flipFirstChar(ada), Body: `{}`}, 401, "unauthenticated"},
		{"access token as the cookie", req{Method: "POST", Path: "/v1/mfa/totp", Cookie: bobToken.access, Body: `{}`}, 401, "unauthenticated"},
		{"cookie as the bearer token", req{Method: "POST", Path: "/v1/mfa/totp", Bearer: ada, Body: `{}`}, 401, "invalid_token"},
		{"garbage bearer token", req{Method: "POST", Path: "/v1/mfa/totp", Bearer: "x.y.z", Body: `{}`}, 401, "invalid_token"},
	})
	r = do(t, srv.URL, begin(map[string]string{"name": "Laptop"}))
	expect(t, "begin TOTP after the table", r, 200)
	pending, secret := r.json(t)["id"].(string), r.json(t)["secret"].(string)

	confirm := func(body any) req { return req{Method: "POST", Path: "/v1/mfa/totp/confirm", Cookie: ada, Body: body} }
	code := func() string { return totpAt(t, secret, time.Now()) }
	runInputTable(t, srv, []inputCase{
		{"empty body", confirm(""), 400, "invalid_request"},
		{"empty object", confirm(`{}`), 400, "invalid_request"},
		{"no id", confirm(map[string]string{"code": code()}), 400, "invalid_request"},
		{"no code", confirm(map[string]string{"id": pending}), 400, "invalid_request"},
		{"empty code", confirm(map[string]string{"id": pending, "code": ""}), 400, "invalid_request"},
		{"code a number", confirm(map[string]any{"id": pending, "code": 123456}), 400, "invalid_request"},
		{"id a list", confirm(map[string]any{"id": []string{pending}, "code": "123456"}), 400, "invalid_request"},
		{"unknown field", confirm(map[string]string{"id": pending, "code": "123456", "secret": secret}), 400, "invalid_request"},
		{"not JSON", confirm("id=" + pending), 400, "invalid_request"},
		{"over 64 KiB", confirm(huge("code")), 413, "payload_too_large"},
		{"code of 5 digits", confirm(map[string]string{"id": pending, "code": code()[:5]}), 400, "invalid_code"},
		{"code of 7 digits", confirm(map[string]string{"id": pending, "code": code() + "0"}), 400, "invalid_code"},
		{"code of letters", confirm(map[string]string{"id": pending, "code": "abcdef"}), 400, "invalid_code"},
		{"code of 60000 digits", confirm(map[string]string{"id": pending, "code": strings.Repeat("1", 60000)}), 400, "invalid_code"},
		{"code with SQL", confirm(map[string]string{"id": pending, "code": "' OR '1'='1"}), 400, "invalid_code"},
		{"unknown id", confirm(map[string]string{"id": flipFirstChar(pending), "code": code()}), 404, "not_found"},
		{"id with a slash", confirm(map[string]string{"id": "../" + pending, "code": code()}), 404, "not_found"},
		{"id with NUL", confirm(map[string]string{"id": pending + "\x00", "code": code()}), 404, "not_found"},
		{"id of 10000 characters", confirm(map[string]string{"id": strings.Repeat("a", 10000), "code": code()}), 404, "not_found"},
		{"another user's factor", confirm(map[string]string{"id": bobPending, "code": totpAt(t, bobSecret, time.Now())}), 404, "not_found"},
		{"the factor already confirmed", confirm(map[string]string{"id": adaFactor, "code": totpAt(t, adaSecret, time.Now())}), 404, "not_found"},
		{"another user confirming it", req{Method: "POST", Path: "/v1/mfa/totp/confirm", Cookie: bob.cookie,
			Body: map[string]string{"id": pending, "code": code()}}, 404, "not_found"},
		{"no credential", req{Method: "POST", Path: "/v1/mfa/totp/confirm",
			Body: map[string]string{"id": pending, "code": code()}}, 401, "unauthenticated"},
		{"garbage bearer token", req{Method: "POST", Path: "/v1/mfa/totp/confirm", Bearer: "x.y.z",
			Body: map[string]string{"id": pending, "code": code()}}, 401, "invalid_token"},
	})
	// The wrong codes did not spend the enrolment; the right one confirms
	// it once, and sent again it finds nothing waiting.
	good := confirm(map[string]string{"id": pending, "code": code()})
	r = do(t, srv.URL, good)
	expect(t, "confirm after the table", r, 200)
	if n := len(r.json(t)["recovery_codes"].([]any)); n != 10 {
		t.Errorf("%d recovery codes", n)
	}
	expect(t, "the same confirmation again", do(t, srv.URL, good), 404, "not_found")
	// Bob's enrolment was only looked at.
	r = do(t, srv.URL, req{Method: "POST", Path: "/v1/mfa/totp/confirm", Cookie: bob.cookie,
		Body: map[string]string{"id": bobPending, "code": totpAt(t, bobSecret, time.Now())}})
	expect(t, "bob confirms his own", r, 200)
	r = do(t, srv.URL, req{Path: "/v1/mfa", Cookie: bob.cookie})
	expect(t, "bob's factors", r, 200)
	bobFactor := r.json(t)["factors"].([]any)[0].(map[string]any)["id"].(string)

	del := func(path string) req { return req{Method: "DELETE", Path: path, Cookie: ada} }
	runInputTable(t, srv, []inputCase{
		{"unknown id", del("/v1/mfa/" + flipFirstChar(pending)), 404, "not_found"},
		{"another user's factor", del("/v1/mfa/" + bobFactor), 404, "not_found"},
		{"id of 10000 characters", del("/v1/mfa/" + strings.Repeat("a", 10000)), 404, "not_found"},
		{"escaped NUL", del("/v1/mfa/%00"), 404, "not_found"},
		{"escaped slash", del("/v1/mfa/x%2F" + pending), 404, "not_found"},
		{"escaped dot-dot", del("/v1/mfa/%2E%2E"), 404, "not_found"},
		{"quote in the id", del("/v1/mfa/" + pending + "%27%20OR%20%271%27=%271"), 404, "not_found"},
		{"an endpoint's name", del("/v1/mfa/totp"), 404, "not_found"},
		{"a segment too many", del("/v1/mfa/" + pending + "/x"), 404, "not_found"},
		{"no id", del("/v1/mfa/"), 404, "not_found"},
		{"no credential", req{Method: "DELETE", Path: "/v1/mfa/" + pending}, 401, "unauthenticated"},
		{"garbage bearer token", req{Method: "DELETE", Path: "/v1/mfa/" + pending, Bearer: "x.y.z"}, 401, "invalid_token"},
		{"another user's credential", req{Method: "DELETE", Path: "/v1/mfa/" + pending, Bearer: bobToken.access}, 404, "not_found"},
	})
	expect(t, "remove after the table", do(t, srv.URL, del("/v1/mfa/"+pending)), 204)
	expect(t, "remove it again", do(t, srv.URL, del("/v1/mfa/"+pending)), 404, "not_found")
	r = do(t, srv.URL, req{Path: "/v1/mfa", Cookie: bob.cookie})
	expect(t, "bob's factors after the table", r, 200)
	if n := len(r.json(t)["factors"].([]any)); n != 1 {
		t.Errorf("bob has %d factors, want 1", n)
	}
}

// TestMFAReauthInputs: bad proofs of who is signed in get a clear error
// and prove nothing; good ones still do.
func TestMFAReauthInputs(t *testing.T) {
	skipInShort(t)
	srv := inputServer(t)
	var confirmedAt time.Time
	ada, secret, _, _ := mfaUser(t, srv, "ada@example.com", func() time.Time {
		confirmedAt = stepBefore()
		return confirmedAt
	})
	carol := signedIn(t, srv, "carol@example.com", "session")
	carolToken := loginDevice(t, srv, "carol@example.com", "token")

	reauth := func(cookie string, body any) req {
		return req{Method: "POST", Path: "/v1/reauth", Cookie: cookie, Body: body}
	}
	runInputTable(t, srv, []inputCase{
		{"empty body", reauth(ada, ""), 400, "invalid_request"},
		{"empty object", reauth(ada, `{}`), 400, "invalid_request"},
		{"not JSON", reauth(ada, "method=totp&code=123456"), 400, "invalid_request"},
		{"cut short", reauth(ada, `{"method":"totp","code":"12`), 400, "invalid_request"},
		{"no method", reauth(ada, map[string]string{"code": "123456"}), 400, "invalid_request"},
		{"unknown method", reauth(ada, map[string]string{"method": "sms", "code": "123456"}), 400, "invalid_request"},
		{"method in capitals", reauth(ada, map[string]string{"method": "TOTP", "code": "123456"}), 400, "invalid_request"},
		{"method a number", reauth(ada, map[string]any{"method": 1, "code": "123456"}), 400, "invalid_request"},
		{"unknown field", reauth(ada, map[string]string{"method": "totp", "code": "123456", "otp": "1"}), 400, "invalid_request"},
		{"method twice", reauth(ada, `{"method":"password","method":"totp","code":"123456"}`), 400, "invalid_request"},
		{"over 64 KiB", reauth(ada, huge("code")), 413, "payload_too_large"},
		{"the password, for an account with a factor", reauth(ada, map[string]string{"method": "password", "password": withdrawPW}), 400, "invalid_request"},
		{"a recovery code", reauth(ada, map[string]string{"method": "recovery_code", "code": "abcd-efgh-ijkl"}), 400, "invalid_request"},
		{"a passkey, on a server without passkeys", reauth(ada, map[string]any{"method": "webauthn", "credential": map[string]any{"id": "x"}}), 400, "invalid_request"},
		{"totp without a code", reauth(ada, map[string]string{"method": "totp"}), 400, "invalid_code"},
		{"wrong code", reauth(ada, map[string]string{"method": "totp", "code": "000000"}), 400, "invalid_code"},
		{"code of letters", reauth(ada, map[string]string{"method": "totp", "code": "abcdef"}), 400, "invalid_code"},
		{"code of 7 digits", reauth(ada, map[string]string{"method": "totp", "code": totpAt(t, secret, time.Now()) + "1"}), 400, "invalid_code"},
		{"code of another step", reauth(ada, map[string]string{"method": "totp", "code": totpAt(t, secret, time.Now().Add(-5*time.Minute))}), 400, "invalid_code"},
		{"the code that confirmed the factor", reauth(ada, map[string]string{"method": "totp", "code": totpAt(t, secret, confirmedAt)}), 400, "invalid_code"},
		{"code a number", reauth(ada, map[string]any{"method": "totp", "code": 123456}), 400, "invalid_request"},
		{"wrong password", reauth(carol.cookie, map[string]string{"method": "password", "password": "not the password"}), 401, "invalid_credentials"},
		{"empty password", reauth(carol.cookie, map[string]string{"method": "password", "password": ""}), 401, "invalid_credentials"},
		{"no password", reauth(carol.cookie, map[string]string{"method": "password"}), 401, "invalid_credentials"},
		{"totp, for an account without a factor", reauth(carol.cookie, map[string]string{"method": "totp", "code": "123456"}), 400, "invalid_request"},
		{"the password as the code", reauth(carol.cookie, map[string]string{"method": "password", "code": withdrawPW}), 401, "invalid_credentials"},
		{"no credential", reauth("", map[string]string{"method": "password", "password": withdrawPW}), 401, "unauthenticated"},
		{"unknown cookie", reauth(flipFirstChar(ada), map[string]string{"method": "totp", "code": "123456"}), 401, "unauthenticated"},
		{"access token as the cookie", reauth(carolToken.access, map[string]string{"method": "password", "password": withdrawPW}), 401, "unauthenticated"},
		{"garbage bearer token", req{Method: "POST", Path: "/v1/reauth", Bearer: "x.y.z",
			Body: map[string]string{"method": "password", "password": withdrawPW}}, 401, "invalid_token"},
	})
	expect(t, "reauth with a code after the table", do(t, srv.URL,
		reauth(ada, map[string]string{"method": "totp", "code": totpAt(t, secret, stepAfter())})), 204)
	expect(t, "reauth with the password after the table", do(t, srv.URL,
		reauth(carol.cookie, map[string]string{"method": "password", "password": withdrawPW})), 204)
	expect(t, "reauth of a token login", do(t, srv.URL, req{Method: "POST", Path: "/v1/reauth", Bearer: carolToken.access,
		Body: map[string]string{"method": "password", "password": withdrawPW}}), 204)
}

// TestMFAAdminResetInputs: resetting a user's factors is for an
// administrator, of a user that exists; anything else is refused and
// resets nothing.
func TestMFAAdminResetInputs(t *testing.T) {
	t.Parallel()
	skipInShort(t)
	dir := t.TempDir()
	srv := startServer(t, nil, "--data-dir", dir)
	ada, _, adaFactor, _ := mfaUser(t, srv, "ada@example.com", stepBefore)
	bob := signedIn(t, srv, "bob@example.com", "token")
	valetCLI(t, []string{"--data-dir", dir}, withdrawPW+"\n", "user", "create", "--email", "root@example.com", "--role", "admin")
	admin := loginDevice(t, srv, "root@example.com", "token")
	r := do(t, srv.URL, req{Path: "/v1/admin/users?q=ada", Bearer: admin.access})
	expect(t, "find ada", r, 200)
	adaID := r.json(t)["users"].([]any)[0].(map[string]any)["id"].(string)

	reset := func(id, bearer string) req {
		return req{Method: "DELETE", Path: "/v1/admin/users/" + id + "/mfa", Bearer: bearer}
	}
	runInputTable(t, srv, []inputCase{
		{"a user resetting their own", req{Method: "DELETE", Path: "/v1/admin/users/" + adaID + "/mfa", Cookie: ada}, 403, "forbidden"},
		{"another user resetting", reset(adaID, bob.access), 403, "forbidden"},
		{"no credential", reset(adaID, ""), 401, "unauthenticated"},
		{"garbage bearer token", reset(adaID, "x.y.z"), 401, "invalid_token"},
		{"unknown cookie", req{Method: "DELETE", Path: "/v1/admin/users/" + adaID + "/mfa", Cookie: flipFirstChar(ada)}, 401, "unauthenticated"},
		{"access token as the cookie", req{Method: "DELETE", Path: "/v1/admin/users/" + adaID + "/mfa", Cookie: admin.access}, 401, "unauthenticated"},
		{"unknown user", reset(flipFirstChar(adaID), admin.access), 404, "not_found"},
		{"a factor's id", reset(adaFactor, admin.access), 404, "not_found"},
		{"an email for the id", reset("ada@example.com", admin.access), 404, "not_found"},
		{"id of 10000 characters", reset(strings.Repeat("a", 10000), admin.access), 404, "not_found"},
		{"escaped NUL", reset("%00", admin.access), 404, "not_found"},
		{"escaped slash", reset("x%2F"+adaID, admin.access), 404, "not_found"},
		{"quote in the id", reset(adaID+"%27%20OR%20%271%27=%271", admin.access), 404, "not_found"},
	})
	r = do(t, srv.URL, req{Path: "/v1/me", Cookie: ada})
	expect(t, "ada after the table", r, 200)
	if got := r.json(t)["user"].(map[string]any)["mfa"].([]any); len(got) != 1 {
		t.Errorf("ada's factors after the table: %v", got)
	}
	expect(t, "reset after the table", do(t, srv.URL, reset(adaID, admin.access)), 204)
	expect(t, "ada's session after the reset", do(t, srv.URL, req{Path: "/v1/me", Cookie: ada}), 401, "unauthenticated")
}

// fakeCredential is the JSON of a browser's answer to challenge, for
// ceremony type typ ("webauthn.get" or "webauthn.create"), well formed but
// signed by no authenticator.
func fakeCredential(challenge, typ, origin string) map[string]any {
	cd, _ := json.Marshal(map[string]string{"type": typ, "challenge": challenge, "origin": origin})
	junk := base64.RawURLEncoding.EncodeToString([]byte("not an authenticator's bytes"))
	return map[string]any{
		"id": junk, "rawId": junk, "type": "public-key",
		"response": map[string]string{
			"clientDataJSON":    base64.RawURLEncoding.EncodeToString(cd),
			"authenticatorData": junk, "signature": junk, "attestationObject": junk,
		},
	}
}

// challengeOf returns the challenge of the options a begin step answered.
func challengeOf(t *testing.T, r response) string {
	t.Helper()
	pk, _ := r.json(t)["publicKey"].(map[string]any)
	c, _ := pk["challenge"].(string)
	if c == "" {
		t.Fatalf("options without a challenge: %s", r.Body)
	}
	return c
}

// TestPasskeyInputs: the WebAuthn ceremonies refuse bad input with a clear
// error, on a server that takes passkeys and on one that does not, and a
// good begin step still answers afterwards.
func TestPasskeyInputs(t *testing.T) {
	t.Parallel()
	skipInShort(t)
	t.Run("off", func(t *testing.T) {
		// At an IP address, valet takes no passkeys.
		srv := inputServer(t)
		ada, secret, _, _ := mfaUser(t, srv, "ada@example.com", stepBefore)
		tok := passwordStep(t, srv, "ada@example.com", "token")
		cred := fakeCredential(strings.Repeat("A", 43), "webauthn.get", srv.URL)
		runInputTable(t, srv, []inputCase{
			{"register begin", req{Method: "POST", Path: "/v1/webauthn/register/begin", Cookie: ada}, 400, "invalid_request"},
			{"register begin with a name", req{Method: "POST", Path: "/v1/webauthn/register/begin", Cookie: ada, Body: map[string]string{"name": "Key"}}, 400, "invalid_request"},
			{"register finish", req{Method: "POST", Path: "/v1/webauthn/register/finish", Cookie: ada, Body: map[string]any{"credential": cred}}, 400, "invalid_request"},
			{"register finish without a credential", req{Method: "POST", Path: "/v1/webauthn/register/finish", Cookie: ada, Body: `{}`}, 400, "invalid_request"},
			{"register begin, not signed in", req{Method: "POST", Path: "/v1/webauthn/register/begin"}, 401, "unauthenticated"},
			{"login begin", req{Method: "POST", Path: "/v1/webauthn/login/begin"}, 400, "invalid_request"},
			{"login begin with an mfa_token", req{Method: "POST", Path: "/v1/webauthn/login/begin", Body: map[string]string{"mfa_token": tok}}, 400, "invalid_request"},
			{"login begin to reauth", req{Method: "POST", Path: "/v1/webauthn/login/begin", Cookie: ada, Body: map[string]string{"purpose": "reauth"}}, 400, "invalid_request"},
			{"login begin, unknown purpose", req{Method: "POST", Path: "/v1/webauthn/login/begin", Body: map[string]string{"purpose": "register"}}, 400, "invalid_request"},
			{"login finish", req{Method: "POST", Path: "/v1/webauthn/login/finish", Body: map[string]any{"credential": cred}}, 400, "invalid_request"},
			{"login finish, not JSON", req{Method: "POST", Path: "/v1/webauthn/login/finish", Body: "credential=x"}, 400, "invalid_request"},
			{"second step by passkey", req{Method: "POST", Path: "/v1/login/mfa", Body: map[string]any{"mfa_token": tok, "method": "webauthn", "credential": cred}}, 400, "invalid_request"},
		})
		// The login that the table looked at still finishes with a code.
		r := do(t, srv.URL, req{Method: "POST", Path: "/v1/login/mfa", Body: map[string]string{"mfa_token": tok, "method": "totp", "code": totpAt(t, secret, stepAfter())}})
		expect(t, "second step after the table", r, 200)
	})

	t.Run("on", func(t *testing.T) {
		srv, origin := startPasskeyServer(t, "--data-dir", t.TempDir(), "--throttle-factor-account", "200/15m")
		ada, secret, _, _ := mfaUser(t, srv, "ada@example.com", stepBefore)
		bob := signedIn(t, srv, "bob@example.com", "session")
		tok := passwordStep(t, srv, "ada@example.com", "token")

		begin := func(body any) req { return req{Method: "POST", Path: "/v1/webauthn/login/begin", Body: body} }
		r := do(t, srv.URL, begin(nil))
		expect(t, "login begin", r, 200)
		loginChallenge := challengeOf(t, r)
		r = do(t, srv.URL, req{Method: "POST", Path: "/v1/webauthn/register/begin", Cookie: ada})
		expect(t, "register begin", r, 200)
		registerChallenge := challengeOf(t, r)
		r = do(t, srv.URL, req{Method: "POST", Path: "/v1/webauthn/register/begin", Cookie: bob.cookie})
		expect(t, "bob's register begin", r, 200)
		bobChallenge := challengeOf(t, r)
		r = do(t, srv.URL, begin(nil))
		expect(t, "another login begin", r, 200)
		spareChallenge := challengeOf(t, r)

		finish := func(credential any) req {
			return req{Method: "POST", Path: "/v1/webauthn/login/finish", Body: map[string]any{"credential": credential}}
		}
		register := func(credential any) req {
			return req{Method: "POST", Path: "/v1/webauthn/register/finish", Cookie: ada, Body: map[string]any{"credential": credential}}
		}
		never := strings.Repeat("A", 43) // 32 bytes in base64url, never handed out
		deep := strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40)
		runInputTable(t, srv, []inputCase{
			{"begin, garbage mfa_token", begin(map[string]string{"mfa_token": "garbage"}), 401, "invalid_grant"},
			{"begin, unknown mfa_token", begin(map[string]string{"mfa_token": flipFirstChar(tok)}), 401, "invalid_grant"},
			{"begin, mfa_token of 60000 characters", begin(map[string]string{"mfa_token": strings.Repeat("A", 60000)}), 401, "invalid_grant"},
			{"begin, mfa_token a number", begin(map[string]any{"mfa_token": 1}), 400, "invalid_request"},
			{"begin, mfa_token of an account without a passkey", begin(map[string]string{"mfa_token": tok}), 400, "invalid_request"},
			{"begin, unknown purpose", begin(map[string]string{"purpose": "register"}), 400, "invalid_request"},
			{"begin, purpose in capitals", begin(map[string]string{"purpose": "LOGIN"}), 400, "invalid_request"},
			{"begin, unknown field", begin(map[string]string{"mode": "token"}), 400, "invalid_request"},
			{"begin, not JSON", begin("purpose=reauth"), 400, "invalid_request"},
			{"begin, over 64 KiB", begin(huge("mfa_token")), 413, "payload_too_large"},
			{"begin to reauth, not signed in", begin(map[string]string{"purpose": "reauth"}), 401, "unauthenticated"},
			{"begin to reauth, garbage bearer token", req{Method: "POST", Path: "/v1/webauthn/login/begin", Bearer: "x.y.z",
				Body: map[string]string{"purpose": "reauth"}}, 401, "invalid_token"},
			{"begin to reauth, an account without a passkey", req{Method: "POST", Path: "/v1/webauthn/login/begin", Cookie: ada,
				Body: map[string]string{"purpose": "reauth"}}, 400, "invalid_request"},

			{"finish, no credential", req{Method: "POST", Path: "/v1/webauthn/login/finish", Body: `{}`}, 400, "invalid_request"},
			{"finish, empty body", req{Method: "POST", Path: "/v1/webauthn/login/finish", Body: ""}, 400, "invalid_request"},
			{"finish, credential a string", finish("credential"), 400, "invalid_code"},
			{"finish, credential a number", finish(7), 400, "invalid_code"},
			{"finish, credential a list", finish([]int{1}), 400, "invalid_code"},
			{"finish, credential an empty object", finish(map[string]any{}), 400, "invalid_code"},
			{"finish, clientDataJSON not base64url", finish(map[string]any{"response": map[string]string{"clientDataJSON": "!!"}}), 400, "invalid_code"},
			{"finish, clientDataJSON not JSON", finish(map[string]any{"response": map[string]string{"clientDataJSON": base64.RawURLEncoding.EncodeToString([]byte("nope"))}}), 400, "invalid_code"},
			{"finish, challenge too short", finish(fakeCredential("AAAA", "webauthn.get", origin)), 400, "invalid_code"},
			{"finish, challenge padded", finish(fakeCredential(loginChallenge+"=", "webauthn.get", origin)), 400, "invalid_code"},
			{"finish, credential nested 40 deep", req{Method: "POST", Path: "/v1/webauthn/login/finish", Body: `{"credential":` + deep + `}`}, 400, "invalid_request"},
			{"finish, over 64 KiB", finish(strings.Repeat("A", 70000)), 413, "payload_too_large"},
			{"finish without begin", finish(fakeCredential(never, "webauthn.get", origin)), 400, "invalid_code"},
			{"finish, unknown mode", req{Method: "POST", Path: "/v1/webauthn/login/finish",
				Body: map[string]any{"credential": fakeCredential(spareChallenge, "webauthn.get", origin), "mode": "admin"}}, 400, "invalid_request"},
			{"finish, mode a number", req{Method: "POST", Path: "/v1/webauthn/login/finish",
				Body: map[string]any{"credential": fakeCredential(spareChallenge, "webauthn.get", origin), "mode": 1}}, 400, "invalid_request"},
			{"finish, the answer to a registration", finish(fakeCredential(registerChallenge, "webauthn.create", origin)), 400, "invalid_code"},
			{"finish, signed by no authenticator", finish(fakeCredential(loginChallenge, "webauthn.get", origin)), 400, "invalid_code"},
			{"finish, the same challenge again", finish(fakeCredential(loginChallenge, "webauthn.get", origin)), 400, "invalid_code"},
			{"finish, another origin", finish(fakeCredential(spareChallenge, "webauthn.get", "https://evil.example")), 400, "invalid_code"},

			{"register begin, name of 65 characters", req{Method: "POST", Path: "/v1/webauthn/register/begin", Cookie: ada,
				Body: map[string]string{"name": strings.Repeat("n", 65)}}, 400, "invalid_request"},
			{"register begin, name with a newline", req{Method: "POST", Path: "/v1/webauthn/register/begin", Cookie: ada,
				Body: map[string]string{"name": "Key\nAdmin"}}, 400, "invalid_request"},
			{"register begin, unknown field", req{Method: "POST", Path: "/v1/webauthn/register/begin", Cookie: ada,
				Body: map[string]string{"name": "Key", "rp": "evil.example"}}, 400, "invalid_request"},
			{"register begin, not signed in", req{Method: "POST", Path: "/v1/webauthn/register/begin"}, 401, "unauthenticated"},
			{"register begin, over 64 KiB", req{Method: "POST", Path: "/v1/webauthn/register/begin", Cookie: ada, Body: huge("name")}, 413, "payload_too_large"},
			{"register begin, garbage bearer token", req{Method: "POST", Path: "/v1/webauthn/register/begin", Bearer: "x.y.z"}, 401, "invalid_token"},
			{"register finish, no credential", req{Method: "POST", Path: "/v1/webauthn/register/finish", Cookie: ada, Body: `{}`}, 400, "invalid_request"},
			{"register finish, credential a string", register("credential"), 400, "invalid_code"},
			{"register finish, over 64 KiB", register(strings.Repeat("A", 70000)), 413, "payload_too_large"},
			{"register finish without begin", register(fakeCredential(never, "webauthn.create", origin)), 400, "invalid_code"},
			{"register finish, another user's challenge", register(fakeCredential(bobChallenge, "webauthn.create", origin)), 400, "invalid_code"},
			{"register finish, attested by no authenticator", register(fakeCredential(registerChallenge, "webauthn.create", origin)), 400, "invalid_code"},
			{"register finish, not signed in", req{Method: "POST", Path: "/v1/webauthn/register/finish",
				Body: map[string]any{"credential": fakeCredential(never, "webauthn.create", origin)}}, 401, "unauthenticated"},
		})
		// The login that the table looked at still finishes with a code,
		// and new ceremonies still begin.
		r = do(t, srv.URL, req{Method: "POST", Path: "/v1/login/mfa", Body: map[string]string{"mfa_token": tok, "method": "totp", "code": totpAt(t, secret, stepAfter())}})
		expect(t, "second step after the table", r, 200)
		challengeOf(t, do(t, srv.URL, begin(nil)))
		r = do(t, srv.URL, req{Method: "POST", Path: "/v1/webauthn/register/begin", Cookie: ada, Body: map[string]string{"name": "Key"}})
		expect(t, "register begin after the table", r, 200)
		challengeOf(t, r)
	})
}

// TestServeMFAFlagInputs: a bad value of a flag about second factors stops
// valet at start, with an error that names the flag.
func TestServeMFAFlagInputs(t *testing.T) {
	t.Parallel()
	skipInShort(t)
	store := []string{"--data-dir", t.TempDir()}
	for _, tc := range []struct{ flag, value string }{
		{"--reauth-window", "0"},
		{"--reauth-window", "-1s"},
		{"--reauth-window", "1ms"},
		{"--reauth-window", "999ms"},
		{"--reauth-window", "abc"},
		{"--reauth-window", ""},
		{"--reauth-window", "10"},
	} {
		out, err := runValet(t, append([]string{"serve", "--addr", "127.0.0.1:0", tc.flag, tc.value}, store...)...)
		if err == nil || !strings.Contains(out, tc.flag) {
			t.Errorf("%s %q: %v %s", tc.flag, tc.value, err, out)
		}
	}
	for _, flag := range []string{"--throttle-factor-account", "--throttle-factor-ip"} {
		for _, value := range []string{"abc", "5", "-1/1m", "0/1m", "5/0s", "5/-1s", "5/abc", "10/5ms", "5/1m,abc", "5/1m,", "1.5/1m"} {
			out, err := runValet(t, append([]string{"serve", "--addr", "127.0.0.1:0", flag, value}, store...)...)
			if err == nil || !strings.Contains(out, flag) {
				t.Errorf("%s %q: %v %s", flag, value, err, out)
			}
		}
	}
}
