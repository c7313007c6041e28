package throttle_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/throttle"
)

// A guard with the default policy refuses the sixth failed login for an
// account and says how long to wait; a success starts the count again.
func Example() {
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	g := throttle.New(throttle.NewMemory(throttle.MemoryConfig{Now: func() time.Time { return now }}), throttle.DefaultPolicy())

	for range 5 {
		_ = g.Login(ctx, "ada@example.com", "192.0.2.1")
		_ = g.LoginFailed(ctx, "ada@example.com", "192.0.2.1")
	}
	err := g.Login(ctx, "ada@example.com", "192.0.2.1")
	var refused *throttle.Error
	if errors.As(err, &refused) {
		fmt.Println(errors.Is(err, valet.ErrRateLimited), refused.Scope, refused.RetryAfter())
	}
	// Output: true account 3m0s
}

func ExampleParseLimits() {
	limits, err := throttle.ParseLimits("5/15m,20/24h")
	fmt.Println(limits, err)
	// Output: [5/15m0s 20/24h0m0s] <nil>
}
