package valet_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoDriversInEmbeddedPackages keeps the database drivers at the edges:
// a program that embeds valet on SQLite must not link Postgres or Redis.
func TestNoDriversInEmbeddedPackages(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not on PATH")
	}
	drivers := []string{"github.com/jackc/pgx", "github.com/redis/go-redis", "github.com/go-redis/redis_rate"}
	for _, pkg := range []string{".", "./auth", "./middleware", "./verify", "./identify", "./session", "./token", "./revoke", "./throttle", "./httpapi", "./web", "./examples/shop"} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, d := range drivers {
				if strings.HasPrefix(dep, d) {
					t.Errorf("%s depends on %s", pkg, dep)
				}
			}
		}
	}
}
