package revoke_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/revoke"
	"github.com/valetauth/valet/store/memory"
)

func ExampleSet() {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	s := revoke.NewSet(func() time.Time { return now })
	s.Add(valet.Revocation{SessionID: "sid-1", Until: now.Add(15 * time.Minute)})
	fmt.Println(s.Revoked("sid-1"), s.Revoked("sid-2"))

	// Once every token that could name the session has expired, the entry
	// has no more work to do.
	now = now.Add(15 * time.Minute)
	s.Sweep()
	fmt.Println(s.Revoked("sid-1"), s.Len())
	// Output:
	// true false
	// false 0
}

func ExampleNode() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := memory.New()
	n := revoke.NewNode(revoke.Config{
		Store:    store,
		Sessions: store,
		// Several nodes would share a Redis or Postgres transport.
		Transport: revoke.NewLocal(),
	})
	if err := n.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}

	// On logout: every token naming the session is refused until it would
	// have expired anyway.
	err := n.Revoke(ctx, valet.Revocation{SessionID: "sid-1", Until: time.Now().Add(15 * time.Minute)})
	fmt.Println(err)

	// On each request carrying a hybrid token, after its signature and
	// claims have been checked:
	err = n.Check(ctx, "sid-1")
	fmt.Println(errors.Is(err, valet.ErrRevoked))
	// Output:
	// <nil>
	// true
}
