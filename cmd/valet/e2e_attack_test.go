package main

// The attack suite: one test per attack, each against the real binary.
// docs/SECURITY.md maps these tests to the requirements they cover.

import (
	"testing"
)

const attackPassword = "correct horse battery"

// noThrottle turns the throttle off, for tests that send many bad logins
// on purpose and are about something else.
var noThrottle = []string{"--throttle-login-account", "off", "--throttle-login-ip", "off", "--throttle-signup", "off", "--throttle-refresh", "off"}

// signupUser creates an account and returns its id.
func signupUser(tb testing.TB, base, email string) string {
	tb.Helper()
	r := do(tb, base, req{Method: "POST", Path: "/v1/signup", Body: map[string]string{"email": email, "password": attackPassword}})
	expect(tb, "signup "+email, r, 201)
	return r.json(tb)["user"].(map[string]any)["id"].(string)
}

// login logs email in with mode ("" for the server's default) and the
// extra request fields in q (a cookie the browser holds, headers).
func login(tb testing.TB, base, email, mode string, q req) response {
	tb.Helper()
	q.Method, q.Path = "POST", "/v1/login"
	q.Body = map[string]string{"email": email, "password": attackPassword, "mode": mode}
	r := do(tb, base, q)
	expect(tb, "login "+email, r, 200)
	return r
}

// sessionCookie returns the session cookie that r set, failing without one.
func sessionCookie(tb testing.TB, r response) string {
	tb.Helper()
	v, _ := r.cookie("valet_session")
	if v == "" {
		tb.Fatalf("no session cookie in %v", r.Header.Values("Set-Cookie"))
	}
	return v
}
