package token

import (
	"sync"
	"testing"
	"time"

	"github.com/valetauth/valet/internal/testclock"
)

// testAlgs is every algorithm, the default first.
var testAlgs = []string{EdDSA, ES256, RS256, HS256}

// testKeys holds one generated key per algorithm, made once per test binary
// because RSA key generation is slow.
var testKeys = sync.OnceValue(func() map[string]*Key {
	m := make(map[string]*Key, len(testAlgs))
	for _, alg := range testAlgs {
		k, err := GenerateKey(alg)
		if err != nil {
			panic(err)
		}
		m[alg] = k
	}
	return m
})

// testKey returns the shared generated key for alg.
func testKey(tb testing.TB, alg string) *Key {
	tb.Helper()
	k, ok := testKeys()[alg]
	if !ok {
		tb.Fatalf("no test key for %s", alg)
	}
	return k
}

// newTestKey returns a fresh key for alg.
func newTestKey(tb testing.TB, alg string) *Key {
	tb.Helper()
	k, err := GenerateKey(alg)
	if err != nil {
		tb.Fatalf("GenerateKey(%s): %v", alg, err)
	}
	return k
}

// testClock is the shared settable test clock.
type testClock = testclock.Clock

func newTestClock() *testClock {
	return testclock.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
}

// validClaims returns claims that a verifier on clock accepts.
func validClaims(clock *testClock) Claims {
	now := clock.Now().Unix()
	return Claims{
		Issuer:    "https://valet.test",
		Subject:   "user-1",
		Audience:  Audience{"valet"},
		ExpiresAt: now + 900,
		IssuedAt:  now,
		NotBefore: now,
		ID:        "jti-1",
		SessionID: "sid-1",
		Roles:     []string{"admin", "user"},
		Email:     "a@example.com",
	}
}

// mustSign signs c with the signing key of s or fails the test.
func mustSign(tb testing.TB, s *KeySet, c *Claims) string {
	tb.Helper()
	tok, err := s.Sign(c)
	if err != nil {
		tb.Fatalf("Sign: %v", err)
	}
	return tok
}

// rawToken returns the compact JWS of the given header and payload JSON,
// signed by k, without any of Sign's checks: for building hostile tokens.
func rawToken(tb testing.TB, k *Key, header, payload string) string {
	tb.Helper()
	input := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload))
	sig, err := k.sign([]byte(input))
	if err != nil {
		tb.Fatalf("sign: %v", err)
	}
	return input + "." + b64.EncodeToString(sig)
}
