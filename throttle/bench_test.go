package throttle

import (
	"context"
	"strconv"
	"testing"
)

// BenchmarkGuardLogin is the throttle's cost on a login: Login, then
// LoginSucceeded, over many accounts. "off" is the baseline: a guard with no
// limits, which still hashes the account and builds the keys.
func BenchmarkGuardLogin(b *testing.B) {
	for _, tc := range []struct {
		name string
		p    Policy
	}{
		{"off", Policy{}},
		{"default", DefaultPolicy()},
	} {
		b.Run(tc.name, func(b *testing.B) {
			g := New(NewMemory(MemoryConfig{}), tc.p)
			ctx := context.Background()
			accounts := make([]string, 1024)
			for i := range accounts {
				accounts[i] = "user" + strconv.Itoa(i) + "@example.com"
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				a := accounts[i%len(accounts)]
				i++
				if err := g.Login(ctx, a, "192.0.2.1"); err != nil {
					b.Fatal(err)
				}
				if err := g.LoginSucceeded(ctx, a, "192.0.2.1"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
