package auth

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/testclock"
	"github.com/valetauth/valet/password"
	"github.com/valetauth/valet/store/memory"
)

// endedLog records the calls of Config.SessionEnded.
type endedLog struct {
	mu    sync.Mutex
	calls []string // userID + "/" + sid
}

func (l *endedLog) hook(_ context.Context, userID, sid string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, userID+"/"+sid)
}

func (l *endedLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	got := l.calls
	l.calls = nil
	slices.Sort(got)
	return got
}

// newTold is newDevices with a SessionEnded hook.
func newTold(tb testing.TB) (*Service, valet.User, *endedLog, func(time.Duration)) {
	tb.Helper()
	clk := testclock.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	st := memory.New(memory.WithClock(clk.Now))
	log := &endedLog{}
	s, err := New(context.Background(), Config{
		Stores: st.Stores(), Now: clk.Now, AccessTTL: 15 * time.Minute,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		Hasher:       password.NewHasher(password.Params{Memory: 8192, Iterations: 1, Parallelism: 1}, 0, 0),
		SessionEnded: log.hook,
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	u, err := s.CreateUser(context.Background(), "ada@example.com", devicePW, []string{"editor"})
	if err != nil {
		tb.Fatal(err)
	}
	return s, u, log, clk.Advance
}

// TestSessionEndedHook: every way a device session ends, those of
// TestWithdrawals and the single-session ones, calls Config.SessionEnded
// once for each session that ended, with its user and id, and for no
// other.
func TestSessionEndedHook(t *testing.T) {
	ctx := context.Background()
	type devices map[valet.Mode]*Grant
	modes := []valet.Mode{valet.ModeSession, valet.ModeToken, valet.ModeHybrid}
	tests := []struct {
		name string
		// do ends sessions and returns the modes whose session must be
		// told as ended.
		do func(t *testing.T, s *Service, u valet.User, d devices) []valet.Mode
	}{
		{
			name: "revoke others from the session device",
			do: func(t *testing.T, s *Service, u valet.User, d devices) []valet.Mode {
				if _, err := s.RevokeUserSessions(ctx, u.ID, d[valet.ModeSession].Session.ID, Client{}); err != nil {
					t.Fatal(err)
				}
				return []valet.Mode{valet.ModeToken, valet.ModeHybrid}
			},
		},
		{
			name: "admin ends all sessions",
			do: func(t *testing.T, s *Service, u valet.User, _ devices) []valet.Mode {
				if _, err := s.EndUserSessions(ctx, u.ID, Client{}); err != nil {
					t.Fatal(err)
				}
				return modes
			},
		},
		{
			name: "disable",
			do: func(t *testing.T, s *Service, u valet.User, _ devices) []valet.Mode {
				if _, _, err := s.UpdateUser(ctx, u.ID, UserPatch{Disabled: new(true)}, Client{}); err != nil {
					t.Fatal(err)
				}
				return modes
			},
		},
		{
			name: "delete",
			do: func(t *testing.T, s *Service, u valet.User, _ devices) []valet.Mode {
				if _, err := s.DeleteUser(ctx, u.ID, Client{}); err != nil {
					t.Fatal(err)
				}
				return modes
			},
		},
		{
			name: "role change keeps every device",
			do: func(t *testing.T, s *Service, u valet.User, _ devices) []valet.Mode {
				if _, _, err := s.UpdateUser(ctx, u.ID, UserPatch{Roles: &[]string{}}, Client{}); err != nil {
					t.Fatal(err)
				}
				return nil
			},
		},
		{
			name: "password change from the hybrid device",
			do: func(t *testing.T, s *Service, u valet.User, d devices) []valet.Mode {
				id, err := s.IdentifyBearer(ctx, d[valet.ModeHybrid].AccessToken)
				if err != nil {
					t.Fatal(err)
				}
				g, err := s.ChangePassword(ctx, id, devicePW, "a brand new passphrase", Client{})
				if err != nil {
					t.Fatal(err)
				}
				// The new session of the acting device has not ended.
				d["new"] = g
				return modes
			},
		},
		{
			name: "second factors reset",
			do: func(t *testing.T, s *Service, u valet.User, _ devices) []valet.Mode {
				if _, err := s.ResetFactors(ctx, u.ID, Client{}); err != nil {
					t.Fatal(err)
				}
				return modes
			},
		},
		{
			name: "logout of the session device",
			do: func(t *testing.T, s *Service, _ valet.User, d devices) []valet.Mode {
				id, err := s.IdentifyCookie(ctx, d[valet.ModeSession].Cookie)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.Logout(ctx, id, Client{}); err != nil {
					t.Fatal(err)
				}
				// A second sign-out of the same session tells nothing more.
				if err := s.Logout(ctx, id, Client{}); err != nil {
					t.Fatal(err)
				}
				return []valet.Mode{valet.ModeSession}
			},
		},
		{
			name: "revoke the token device",
			do: func(t *testing.T, s *Service, u valet.User, d devices) []valet.Mode {
				if _, err := s.RevokeSession(ctx, u.ID, d[valet.ModeToken].Session.ID, Client{}); err != nil {
					t.Fatal(err)
				}
				return []valet.Mode{valet.ModeToken}
			},
		},
		{
			name: "logout by refresh token",
			do: func(t *testing.T, s *Service, _ valet.User, d devices) []valet.Mode {
				if err := s.RevokeRefresh(ctx, d[valet.ModeHybrid].RefreshToken, Client{}); err != nil {
					t.Fatal(err)
				}
				return []valet.Mode{valet.ModeHybrid}
			},
		},
		{
			name: "refresh token reused",
			do: func(t *testing.T, s *Service, _ valet.User, d devices) []valet.Mode {
				old := d[valet.ModeHybrid].RefreshToken
				if _, err := s.Refresh(ctx, old, Client{}); err != nil {
					t.Fatal(err)
				}
				d["advance"] = nil
				return []valet.Mode{valet.ModeHybrid}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, u, log, advance := newTold(t)
			d := devices{}
			for _, m := range modes {
				d[m] = login(t, s, m, string(m))
			}
			ended := tc.do(t, s, u, d)
			if _, ok := d["advance"]; ok {
				// Past the grace window, the old token is theft.
				advance(time.Minute)
				if _, err := s.Refresh(ctx, d[valet.ModeHybrid].RefreshToken, Client{}); err == nil {
					t.Fatal("a reused refresh token was taken")
				}
			}
			var want []string
			for _, m := range ended {
				want = append(want, u.ID+"/"+d[m].Session.ID)
			}
			slices.Sort(want)
			if got := log.take(); !slices.Equal(got, want) {
				t.Fatalf("SessionEnded calls %q, want %q", got, want)
			}
		})
	}
}
