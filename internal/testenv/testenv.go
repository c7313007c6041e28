// Package testenv is the one place tests learn where the services they need
// run: Postgres, Redis and Chromium, from VALET_TEST_POSTGRES,
// VALET_TEST_REDIS and VALET_TEST_CHROMIUM, and where axe-core's script is,
// from VALET_TEST_AXE.
package testenv

import (
	"os"
	"testing"
)

// The variables that name the services.
const (
	Postgres = "VALET_TEST_POSTGRES"
	Redis    = "VALET_TEST_REDIS"
	Chromium = "VALET_TEST_CHROMIUM"
	// Axe names axe-core's axe.min.js, for the accessibility checks of
	// the browser tests.
	Axe = "VALET_TEST_AXE"
)

// Required reports whether VALET_REQUIRE_SERVICES=1, which CI sets: a
// missing service is then a failure, not a skip.
func Required() bool { return os.Getenv("VALET_REQUIRE_SERVICES") == "1" }

// URL returns the value of the variable env (Postgres, Redis, Chromium).
// Without it the test is skipped with a message naming the variable, or
// fails when Required.
func URL(tb testing.TB, env string) string {
	tb.Helper()
	v := os.Getenv(env)
	if v == "" {
		if Required() {
			tb.Fatalf("%s is not set and VALET_REQUIRE_SERVICES=1", env)
		}
		tb.Skipf("service not configured: %s is not set", env)
	}
	return v
}
