// Package throttletest is the conformance suite that every throttle.Store
// passes: the in-memory one and Redis's alike.
package throttletest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/throttle"
)

// Store checks the contract every throttle.Store keeps. advance moves the store's
// clock, or is nil for a store whose clock the test cannot move.
func Store(t *testing.T, s throttle.Store, advance func(time.Duration)) {
	ctx := context.Background()
	l := throttle.Limit{Burst: 3, Period: time.Minute}

	t.Run("peek of an unknown key", func(t *testing.T) {
		got, err := s.AllowN(ctx, "fresh", l, 0)
		if err != nil || !got.Allowed || got.Remaining != 3 {
			t.Fatalf("peek = %+v, %v; want allowed with 3 remaining", got, err)
		}
	})

	t.Run("burst then refuse", func(t *testing.T) {
		for i := range 3 {
			got, err := s.AllowN(ctx, "burst", l, 1)
			if err != nil || !got.Allowed {
				t.Fatalf("attempt %d = %+v, %v; want allowed", i+1, got, err)
			}
			if want := 2 - i; got.Remaining != want {
				t.Fatalf("attempt %d: remaining %d, want %d", i+1, got.Remaining, want)
			}
		}
		got, err := s.AllowN(ctx, "burst", l, 1)
		if err != nil || got.Allowed {
			t.Fatalf("fourth attempt = %+v, %v; want refused", got, err)
		}
		if got.RetryAfter <= 0 || got.RetryAfter > 20*time.Second {
			t.Fatalf("retry after %v, want in (0, 20s]: one interval", got.RetryAfter)
		}
		peek, err := s.AllowN(ctx, "burst", l, 0)
		if err != nil || peek.Allowed || peek.RetryAfter <= 0 || peek.RetryAfter > 20*time.Second {
			t.Fatalf("peek after the burst = %+v, %v; want refused within one interval", peek, err)
		}
	})

	t.Run("peek takes nothing", func(t *testing.T) {
		for range 10 {
			if _, err := s.AllowN(ctx, "peek", l, 0); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.AllowN(ctx, "peek", l, 1)
		if err != nil || !got.Allowed || got.Remaining != 2 {
			t.Fatalf("first real attempt after peeks = %+v, %v; want 2 remaining", got, err)
		}
	})

	t.Run("refusal takes nothing", func(t *testing.T) {
		if got, err := s.AllowN(ctx, "big", l, 4); err != nil || got.Allowed {
			t.Fatalf("4 of a burst of 3 = %+v, %v; want refused", got, err)
		}
		if got, err := s.AllowN(ctx, "big", l, 3); err != nil || !got.Allowed {
			t.Fatalf("3 of 3 after a refusal = %+v, %v; want allowed", got, err)
		}
	})

	t.Run("reset", func(t *testing.T) {
		for range 3 {
			if _, err := s.AllowN(ctx, "reset", l, 1); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Reset(ctx, "reset"); err != nil {
			t.Fatal(err)
		}
		if got, err := s.AllowN(ctx, "reset", l, 3); err != nil || !got.Allowed {
			t.Fatalf("after reset = %+v, %v; want a full bucket", got, err)
		}
		if err := s.Reset(ctx, "never-seen"); err != nil {
			t.Fatalf("reset of an unknown key: %v", err)
		}
	})

	t.Run("keys are independent", func(t *testing.T) {
		for range 3 {
			if _, err := s.AllowN(ctx, "a", l, 1); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := s.AllowN(ctx, "b", l, 1); err != nil || !got.Allowed {
			t.Fatalf("other key = %+v, %v; want allowed", got, err)
		}
	})

	t.Run("done context", func(t *testing.T) {
		dead, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := s.AllowN(dead, "ctx", l, 1); !errors.Is(err, valet.ErrUnavailable) {
			t.Fatalf("AllowN with a done context = %v, want ErrUnavailable", err)
		}
		if err := s.Reset(dead, "ctx"); !errors.Is(err, valet.ErrUnavailable) {
			t.Fatalf("Reset with a done context = %v, want ErrUnavailable", err)
		}
	})

	if advance == nil {
		return
	}
	t.Run("refill", func(t *testing.T) {
		for range 3 {
			if _, err := s.AllowN(ctx, "refill", l, 1); err != nil {
				t.Fatal(err)
			}
		}
		advance(19 * time.Second)
		if got, _ := s.AllowN(ctx, "refill", l, 1); got.Allowed {
			t.Fatal("allowed before one interval (20s) passed")
		}
		advance(time.Second)
		if got, _ := s.AllowN(ctx, "refill", l, 1); !got.Allowed {
			t.Fatal("refused after one interval")
		}
		advance(time.Minute)
		if got, _ := s.AllowN(ctx, "refill", l, 3); !got.Allowed {
			t.Fatal("not full a period after the last attempt")
		}
	})
}
