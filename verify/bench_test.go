package verify_test

import (
	"context"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/auth"
	"github.com/valetauth/valet/verify"
)

// BenchmarkVerify measures a check in another service against valet's own
// check of the same token (the baseline: auth.Service.IdentifyBearer).
func BenchmarkVerify(b *testing.B) {
	s := startValet(b, auth.Config{})
	ctx := context.Background()
	tok := s.login(b, "a@example.com", valet.ModeToken).AccessToken
	hybrid := s.login(b, "h@example.com", valet.ModeHybrid).AccessToken
	v, err := verify.New(ctx, s.URL, verify.WithIntrospection(serviceClient(b, s).AccessToken, time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("baseline/auth.IdentifyBearer/token", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.svc.IdentifyBearer(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("verify.IdentifyBearer/token", func(b *testing.B) {
		for b.Loop() {
			if _, err := v.IdentifyBearer(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("verify.IdentifyBearer/hybrid-introspection-cached", func(b *testing.B) {
		for b.Loop() {
			if _, err := v.IdentifyBearer(ctx, hybrid); err != nil {
				b.Fatal(err)
			}
		}
	})
}
