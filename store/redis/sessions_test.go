package redis

import (
	"slices"
	"testing"
	"time"

	"github.com/valetauth/valet"
)

// TestSessionWithoutAuthFields reads a session hash written before sessions
// recorded how their users signed in: it has no methods and no time, and
// takes them when a sign-in is recorded.
func TestSessionWithoutAuthFields(t *testing.T) {
	ctx := testContext(t)
	s := openTest(t, Config{})
	n := time.Now().Truncate(time.Microsecond).UTC()
	sess := newSession(valet.NewID(), n)
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if err := s.client.HDel(ctx, s.sessionKey(sess.ID), fAMR, fAuthTime).Err(); err != nil {
		t.Fatal(err)
	}
	got, found, err := s.Session(ctx, sess.ID)
	if err != nil || !found {
		t.Fatalf("Session = %t, %v; want true, nil", found, err)
	}
	if got.AMR != nil || !got.AuthTime.IsZero() || got.UserAgent != sess.UserAgent {
		t.Errorf("Session = %+v, want %+v", got, sess)
	}
	if err := s.SetSessionAuth(ctx, sess.ID, n, []string{valet.AMRPassword, valet.AMROTP, valet.AMRMulti}); err != nil {
		t.Fatal(err)
	}
	got, _, err = s.Session(ctx, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"pwd", "otp", "mfa"}; !slices.Equal(got.AMR, want) || !got.AuthTime.Equal(n) {
		t.Errorf("after SetSessionAuth: AMR %q, AuthTime %v; want %q, %v", got.AMR, got.AuthTime, want, n)
	}
}
