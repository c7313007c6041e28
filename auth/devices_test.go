package auth

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/testclock"
	"github.com/valetauth/valet/password"
	"github.com/valetauth/valet/store/memory"
)

const devicePW = "correct horse battery"

// newDevices returns a service on the memory store with a clock the test
// moves, and a user with devicePW.
func newDevices(tb testing.TB) (*Service, valet.User, func(time.Duration)) {
	tb.Helper()
	clk := testclock.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	clock, advance := clk.Now, clk.Advance
	st := memory.New(memory.WithClock(clock))
	s, err := New(context.Background(), Config{
		Stores: st.Stores(), Now: clock, AccessTTL: 15 * time.Minute,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Hasher: password.NewHasher(password.Params{Memory: 8192, Iterations: 1, Parallelism: 1}, 0, 0),
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	u, err := s.CreateUser(context.Background(), "ada@example.com", devicePW, []string{"editor"})
	if err != nil {
		tb.Fatal(err)
	}
	return s, u, advance
}

func login(tb testing.TB, s *Service, mode valet.Mode, ua string) *Grant {
	tb.Helper()
	g, err := s.Login(context.Background(), "ada@example.com", devicePW, mode, Client{UserAgent: ua})
	if err != nil {
		tb.Fatalf("login in %s mode: %v", mode, err)
	}
	return g
}

// alive reports whether g's device still works: its cookie (session mode)
// or its access token (token and hybrid), and whether it can refresh.
func alive(tb testing.TB, s *Service, g *Grant) (works, refreshes bool) {
	tb.Helper()
	ctx := context.Background()
	var err error
	if g.Mode == valet.ModeSession {
		_, err = s.IdentifyCookie(ctx, g.Cookie)
	} else {
		_, err = s.IdentifyBearer(ctx, g.AccessToken)
	}
	works = err == nil
	if g.RefreshToken != "" {
		ng, err := s.Refresh(ctx, g.RefreshToken, Client{})
		refreshes = err == nil
		if err == nil {
			g.RefreshToken, g.AccessToken = ng.RefreshToken, ng.AccessToken
		}
	}
	return works, refreshes
}

// TestEveryLoginIsADeviceSession: a token-mode login is listed with its
// mode, names its own session, and ending it revokes its refresh family
// while its access token lives until exp, as the Withdrawal says.
func TestEveryLoginIsADeviceSession(t *testing.T) {
	ctx := context.Background()
	s, u, advance := newDevices(t)
	byMode := map[valet.Mode]*Grant{}
	for _, m := range []valet.Mode{valet.ModeSession, valet.ModeToken, valet.ModeHybrid} {
		byMode[m] = login(t, s, m, string(m)+" device")
	}
	list, err := s.UserSessions(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	modes := map[valet.Mode]string{}
	for _, sess := range list {
		modes[sess.Mode] = sess.ID
	}
	for m, g := range byMode {
		if g.Session == nil || modes[m] != g.Session.ID {
			t.Fatalf("%s login: listed sessions %v, grant session %+v", m, modes, g.Session)
		}
	}
	tok := byMode[valet.ModeToken]
	id, err := s.IdentifyBearer(ctx, tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if id.Mode != valet.ModeToken || id.SessionID != tok.Session.ID {
		t.Fatalf("token-mode identity = mode %s session %q, want token %q", id.Mode, id.SessionID, tok.Session.ID)
	}
	// A refresh keeps the mode and the device.
	advance(2 * time.Minute)
	ng, err := s.Refresh(ctx, tok.RefreshToken, Client{})
	if err != nil {
		t.Fatal(err)
	}
	if ng.Mode != valet.ModeToken || ng.Session == nil || ng.Session.ID != tok.Session.ID {
		t.Fatalf("refresh of a token login: mode %s session %+v", ng.Mode, ng.Session)
	}
	if id, err := s.IdentifyBearer(ctx, ng.AccessToken); err != nil || id.Mode != valet.ModeToken || id.SessionID != tok.Session.ID {
		t.Fatalf("refreshed token-mode identity = %+v, %v", id, err)
	}
	tok.AccessToken, tok.RefreshToken = ng.AccessToken, ng.RefreshToken

	advance(time.Minute)
	wd, err := s.RevokeSession(ctx, u.ID, tok.Session.ID, Client{})
	if err != nil {
		t.Fatal(err)
	}
	// Refreshed 1 min ago, touched then: its newest token ends 14 min on.
	if wd.Sessions != 1 || wd.TokensUntil.IsZero() || wd.TokensUntil.After(s.cfg.Now().Add(15*time.Minute)) || wd.TokensUntil.Before(s.cfg.Now().Add(13*time.Minute)) {
		t.Fatalf("ending a token session: %+v at %v", wd, s.cfg.Now())
	}
	if works, refreshes := alive(t, s, tok); !works || refreshes {
		t.Fatalf("ended token device: access works %v (want true, until exp), refresh %v (want false)", works, refreshes)
	}
	// The other devices were not touched.
	for _, m := range []valet.Mode{valet.ModeSession, valet.ModeHybrid} {
		if works, _ := alive(t, s, byMode[m]); !works {
			t.Fatalf("ending the token device ended the %s one", m)
		}
	}
	advance(15 * time.Minute)
	if works, _ := alive(t, s, tok); works {
		t.Fatal("the ended token device's access token works past its exp")
	}
	// Ending a session or hybrid device leaves no token behind.
	if _, refreshes := alive(t, s, byMode[valet.ModeHybrid]); !refreshes {
		t.Fatal("the hybrid device cannot refresh")
	}
	wd, err = s.RevokeSession(ctx, u.ID, byMode[valet.ModeHybrid].Session.ID, Client{})
	if err != nil || !wd.TokensUntil.IsZero() {
		t.Fatalf("ending the hybrid device: %+v, %v", wd, err)
	}
	if works, refreshes := alive(t, s, byMode[valet.ModeHybrid]); works || refreshes {
		t.Fatalf("ended hybrid device: works %v, refreshes %v", works, refreshes)
	}
}

// TestWithdrawals ends access in each of the ways an account can lose it
// and checks what every device can still do right after.
func TestWithdrawals(t *testing.T) {
	ctx := context.Background()
	type devices map[valet.Mode]*Grant
	type want struct{ works, refreshes bool }
	gone := want{}
	tokenLeft := want{works: true}
	tests := []struct {
		name string
		do   func(t *testing.T, s *Service, u valet.User, d devices) Withdrawal
		// after is what each mode's device can do right after.
		after map[valet.Mode]want
		// tokens says whether the Withdrawal must name a TokensUntil;
		// untold, that the way returns none.
		tokens, untold bool
	}{
		{
			name: "revoke others from the session device",
			do: func(t *testing.T, s *Service, u valet.User, d devices) Withdrawal {
				wd, err := s.RevokeUserSessions(ctx, u.ID, d[valet.ModeSession].Session.ID, Client{})
				if err != nil {
					t.Fatal(err)
				}
				return wd
			},
			after:  map[valet.Mode]want{valet.ModeSession: {true, false}, valet.ModeToken: tokenLeft, valet.ModeHybrid: gone},
			tokens: true,
		},
		{
			name: "admin ends all sessions",
			do: func(t *testing.T, s *Service, u valet.User, _ devices) Withdrawal {
				wd, err := s.EndUserSessions(ctx, u.ID, Client{})
				if err != nil {
					t.Fatal(err)
				}
				return wd
			},
			after:  map[valet.Mode]want{valet.ModeSession: gone, valet.ModeToken: tokenLeft, valet.ModeHybrid: gone},
			tokens: true,
		},
		{
			name: "disable",
			do: func(t *testing.T, s *Service, u valet.User, _ devices) Withdrawal {
				_, wd, err := s.UpdateUser(ctx, u.ID, UserPatch{Disabled: new(true)}, Client{})
				if err != nil {
					t.Fatal(err)
				}
				return wd
			},
			after:  map[valet.Mode]want{valet.ModeSession: gone, valet.ModeToken: tokenLeft, valet.ModeHybrid: gone},
			tokens: true,
		},
		{
			name: "delete",
			do: func(t *testing.T, s *Service, u valet.User, _ devices) Withdrawal {
				wd, err := s.DeleteUser(ctx, u.ID, Client{})
				if err != nil {
					t.Fatal(err)
				}
				return wd
			},
			after:  map[valet.Mode]want{valet.ModeSession: gone, valet.ModeToken: tokenLeft, valet.ModeHybrid: gone},
			tokens: true,
		},
		{
			name: "role change keeps every device",
			do: func(t *testing.T, s *Service, u valet.User, d devices) Withdrawal {
				_, wd, err := s.UpdateUser(ctx, u.ID, UserPatch{Roles: &[]string{}}, Client{})
				if err != nil {
					t.Fatal(err)
				}
				// A session request has the new roles at once.
				id, err := s.IdentifyCookie(ctx, d[valet.ModeSession].Cookie)
				if err != nil || id.User.HasRole("editor") {
					t.Fatalf("session identity after the role change: %+v, %v", id, err)
				}
				// A token refreshed after it has them too.
				g, err := s.Refresh(ctx, d[valet.ModeHybrid].RefreshToken, Client{})
				if err != nil {
					t.Fatal(err)
				}
				if id, err := s.IdentifyBearer(ctx, g.AccessToken); err != nil || id.User.HasRole("editor") {
					t.Fatalf("refreshed hybrid identity after the role change: %+v, %v", id, err)
				}
				d[valet.ModeHybrid].AccessToken, d[valet.ModeHybrid].RefreshToken = g.AccessToken, g.RefreshToken
				return wd
			},
			after:  map[valet.Mode]want{valet.ModeSession: {true, false}, valet.ModeToken: {true, true}, valet.ModeHybrid: {true, true}},
			tokens: true,
		},
		{
			name: "password change from the hybrid device",
			do: func(t *testing.T, s *Service, u valet.User, d devices) Withdrawal {
				id, err := s.IdentifyBearer(ctx, d[valet.ModeHybrid].AccessToken)
				if err != nil {
					t.Fatal(err)
				}
				g, err := s.ChangePassword(ctx, id, devicePW, "a brand new passphrase", Client{})
				if err != nil {
					t.Fatal(err)
				}
				if g.Mode != valet.ModeHybrid || g.Session.ID == d[valet.ModeHybrid].Session.ID {
					t.Fatalf("password change gave a %s grant for session %s, want a new hybrid one", g.Mode, g.Session.ID)
				}
				if works, refreshes := alive(t, s, g); !works || !refreshes {
					t.Fatalf("the new grant of a password change: works %v, refreshes %v", works, refreshes)
				}
				return Withdrawal{}
			},
			// The acting device's old credentials die: it has new ones.
			after:  map[valet.Mode]want{valet.ModeSession: gone, valet.ModeToken: tokenLeft, valet.ModeHybrid: gone},
			untold: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, u, _ := newDevices(t)
			d := devices{}
			for _, m := range []valet.Mode{valet.ModeSession, valet.ModeToken, valet.ModeHybrid} {
				d[m] = login(t, s, m, string(m))
			}
			wd := tc.do(t, s, u, d)
			if got := !wd.TokensUntil.IsZero(); got != tc.tokens && !tc.untold {
				t.Fatalf("Withdrawal %+v: TokensUntil set %v, want %v", wd, got, tc.tokens)
			}
			for m, w := range tc.after {
				works, refreshes := alive(t, s, d[m])
				if m == valet.ModeSession {
					refreshes = false
				}
				if works != w.works || refreshes != w.refreshes {
					t.Errorf("%s device after: works %v refreshes %v, want %v %v", m, works, refreshes, w.works, w.refreshes)
				}
			}
		})
	}
}

// TestPasswordChangeRotatesSession: the caller's session gets a new id in
// every mode; the old cookie or token is refused, the new one works.
func TestPasswordChangeRotatesSession(t *testing.T) {
	ctx := context.Background()
	for i, m := range []valet.Mode{valet.ModeSession, valet.ModeToken, valet.ModeHybrid} {
		t.Run(string(m), func(t *testing.T) {
			s, _, _ := newDevices(t)
			old := login(t, s, m, "laptop")
			var (
				id  *valet.Identity
				err error
			)
			if m == valet.ModeSession {
				id, err = s.IdentifyCookie(ctx, old.Cookie)
			} else {
				id, err = s.IdentifyBearer(ctx, old.AccessToken)
			}
			if err != nil {
				t.Fatal(err)
			}
			next := []string{"first new passphrase", "second new passphrase", "third new passphrase"}[i]
			g, err := s.ChangePassword(ctx, id, devicePW, next, Client{UserAgent: "laptop"})
			if err != nil {
				t.Fatal(err)
			}
			if g.Mode != m || g.Session == nil || g.Session.ID == old.Session.ID || g.Session.UserAgent != "laptop" {
				t.Fatalf("new grant: mode %s session %+v, old session %s", g.Mode, g.Session, old.Session.ID)
			}
			if m == valet.ModeSession {
				if _, err := s.IdentifyCookie(ctx, old.Cookie); !errors.Is(err, valet.ErrUnauthenticated) {
					t.Fatalf("old cookie after a password change: %v", err)
				}
				if _, err := s.IdentifyCookie(ctx, g.Cookie); err != nil {
					t.Fatalf("new cookie: %v", err)
				}
				return
			}
			if _, err := s.Refresh(ctx, old.RefreshToken, Client{}); err == nil {
				t.Fatal("the old refresh token works after a password change")
			}
			if _, err := s.Refresh(ctx, g.RefreshToken, Client{}); err != nil {
				t.Fatalf("the new refresh token: %v", err)
			}
			if m == valet.ModeHybrid {
				if _, err := s.IdentifyBearer(ctx, old.AccessToken); err == nil {
					t.Fatal("the old hybrid token works after a password change")
				}
			}
		})
	}
}
