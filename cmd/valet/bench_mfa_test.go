package main

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkLoginSecondFactor measures what a second factor adds to a
// login, through a valet serve process of its own (SQLite, the default
// argon2id parameters) driven from this one: a password-only login, and a
// password step answered mfa_required followed by POST /v1/login/mfa with
// a TOTP code, taken in turns so that both see the same machine. Each
// second-factor login is of an account of its own, since a code works
// once. Run it with a fixed count:
//
//	go test ./cmd/valet -run '^$' -bench LoginSecondFactor -benchtime 40x
func BenchmarkLoginSecondFactor(b *testing.B) {
	srv := startServer(b, nil, "--data-dir", b.TempDir(), "--argon2-memory", "19456", "--argon2-iterations", "2",
		"--throttle-signup", "off", "--throttle-login-ip", "off", "--throttle-factor-ip", "off")
	type account struct{ email, secret string }
	var accounts []account
	for i := range b.N {
		email := fmt.Sprintf("mfa%d@example.com", i)
		// Confirmed with the step before now's, so that the login's code,
		// of a later step, is not a replay.
		_, secret, _, _ := mfaUser(b, srv, email, func() time.Time { return time.Now().Add(-30 * time.Second) })
		accounts = append(accounts, account{email, secret})
	}
	r := do(b, srv.URL, req{Method: "POST", Path: "/v1/signup", Body: map[string]string{"email": "plain@example.com", "password": withdrawPW}})
	expect(b, "signup", r, 201)
	var plain, second time.Duration
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		r := do(b, srv.URL, req{Method: "POST", Path: "/v1/login", Body: map[string]string{"email": "plain@example.com", "password": withdrawPW}})
		plain += time.Since(t0)
		expect(b, "password login", r, 200)

		a := accounts[i]
		code := totpAt(b, a.secret, time.Now())
		t0 = time.Now()
		r = do(b, srv.URL, req{Method: "POST", Path: "/v1/login", Body: map[string]string{"email": a.email, "password": withdrawPW}})
		if r.Status != 401 {
			b.Fatalf("password step: %d %s", r.Status, r.Body)
		}
		tok := r.json(b)["mfa_token"].(string)
		r = do(b, srv.URL, req{Method: "POST", Path: "/v1/login/mfa", Body: map[string]string{"mfa_token": tok, "method": "totp", "code": code}})
		second += time.Since(t0)
		expect(b, "second factor", r, 200)
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(plain.Microseconds())/n/1000, "ms/password-login")
	b.ReportMetric(float64(second.Microseconds())/n/1000, "ms/totp-login")
	b.ReportMetric(float64(second)/float64(plain), "totp/password")
	b.ReportMetric(0, "ns/op")
}
