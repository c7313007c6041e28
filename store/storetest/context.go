package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/valetauth/valet"
)

// testDoneContext checks that every method, given a context that is already
// done, returns an error rather than panicking or answering as if nothing
// were wrong, and that the error is not one that means "not found" or
// "conflict", which callers would turn into a wrong answer.
func testDoneContext(t *testing.T, newStores func(testing.TB) valet.Stores) {
	tests := []struct {
		name string
		ctx  func() context.Context
	}{
		{"canceled", func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}},
		{"deadline passed", func() context.Context {
			ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
			t.Cleanup(cancel)
			return ctx
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := newStores(t)
			live := testContext(t)
			n := now()
			calls := seedAndCall(t, live, st, n)
			if len(calls) == 0 {
				t.Skip("the stores have no members")
			}
			done := tc.ctx()
			for _, c := range calls {
				err := callNoPanic(c.fn, done)
				switch {
				case err == nil:
					t.Errorf("%s with a done context returned no error", c.name)
				case errors.Is(err, valet.ErrNotFound), errors.Is(err, valet.ErrConflict):
					t.Errorf("%s with a done context = %v; want an error that is neither ErrNotFound nor ErrConflict", c.name, err)
				}
			}
			// The refused calls must have left the stores usable.
			for _, c := range calls {
				if c.check == nil {
					continue
				}
				if msg := c.check(live); msg != "" {
					t.Errorf("after the calls with a done context, %s", msg)
				}
			}
		})
	}
}

type doneCall struct {
	name string
	fn   func(ctx context.Context) error
	// check, if not nil, verifies with a live context that the seeded data
	// is still there.
	check func(ctx context.Context) string
}

func callNoPanic(fn func(context.Context) error, ctx context.Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return fn(ctx)
}

// seedAndCall stores one value of each kind in the members of st, with the
// live context, and returns a call of every method of every member.
func seedAndCall(t *testing.T, live context.Context, st valet.Stores, n time.Time) []doneCall {
	t.Helper()
	var calls []doneCall
	if us := st.Users; us != nil {
		u := newUser(t, "done@example.test", n)
		noErr(t, "CreateUser", us.CreateUser(live, u))
		calls = append(calls,
			doneCall{name: "CreateUser", fn: func(ctx context.Context) error {
				return us.CreateUser(ctx, newUser(t, "new@example.test", n))
			}},
			doneCall{name: "UserByID", fn: func(ctx context.Context) error { _, err := us.UserByID(ctx, u.ID); return err },
				check: func(ctx context.Context) string {
					got, err := us.UserByID(ctx, u.ID)
					if err != nil {
						return fmt.Sprintf("UserByID: %v", err)
					}
					if d := diffUser(got, u); d != "" {
						return fmt.Sprintf("UserByID: %s", d)
					}
					return ""
				}},
			doneCall{name: "UserByEmail", fn: func(ctx context.Context) error { _, err := us.UserByEmail(ctx, u.Email); return err }},
			doneCall{name: "UpdateUser", fn: func(ctx context.Context) error { return us.UpdateUser(ctx, u) }},
			doneCall{name: "DeleteUser", fn: func(ctx context.Context) error { return us.DeleteUser(ctx, u.ID) }},
			doneCall{name: "ListUsers", fn: func(ctx context.Context) error { _, _, err := us.ListUsers(ctx, valet.UserQuery{}); return err }},
		)
	}
	if ss := st.Sessions; ss != nil {
		s := newSession(valet.NewID(), n)
		noErr(t, "CreateSession", ss.CreateSession(live, s))
		calls = append(calls,
			doneCall{name: "CreateSession", fn: func(ctx context.Context) error { return ss.CreateSession(ctx, newSession(s.UserID, n)) }},
			doneCall{name: "Session", fn: func(ctx context.Context) error { _, _, err := ss.Session(ctx, s.ID); return err },
				check: func(ctx context.Context) string {
					got, found, err := ss.Session(ctx, s.ID)
					if err != nil || !found {
						return fmt.Sprintf("Session: found %t, error %v; want true, nil", found, err)
					}
					if d := diffSession(got, s); d != "" {
						return fmt.Sprintf("Session: %s", d)
					}
					return ""
				}},
			doneCall{name: "Session of an unknown id", fn: func(ctx context.Context) error {
				_, _, err := ss.Session(ctx, valet.HashSecret(valet.NewID()))
				return err
			}},
			doneCall{name: "TouchSession", fn: func(ctx context.Context) error { return ss.TouchSession(ctx, s.ID, n, n.Add(time.Hour)) }},
			doneCall{name: "DeleteSession", fn: func(ctx context.Context) error { _, err := ss.DeleteSession(ctx, s.ID); return err }},
		)
		if sl, ok := ss.(valet.SessionLister); ok {
			calls = append(calls,
				doneCall{name: "UserSessions", fn: func(ctx context.Context) error { _, err := sl.UserSessions(ctx, s.UserID); return err }},
				doneCall{name: "DeleteUserSessions", fn: func(ctx context.Context) error { _, err := sl.DeleteUserSessions(ctx, s.UserID, ""); return err }},
			)
		}
	}
	if rs := st.Refresh; rs != nil {
		f, h := newFamily(t, valet.NewID(), "", n)
		noErr(t, "CreateRefreshFamily", rs.CreateRefreshFamily(live, f, h))
		calls = append(calls,
			doneCall{name: "CreateRefreshFamily", fn: func(ctx context.Context) error {
				g, gh := newFamily(t, f.UserID, "", n)
				return rs.CreateRefreshFamily(ctx, g, gh)
			}},
			doneCall{name: "RefreshByToken", fn: func(ctx context.Context) error { _, _, _, err := rs.RefreshByToken(ctx, h); return err },
				check: func(ctx context.Context) string {
					got, gen, found, err := rs.RefreshByToken(ctx, h)
					if err != nil || !found || gen != 0 {
						return fmt.Sprintf("RefreshByToken: generation %d, found %t, error %v; want 0, true, nil", gen, found, err)
					}
					if d := diffFamily(got, f); d != "" {
						return fmt.Sprintf("RefreshByToken: %s", d)
					}
					return ""
				}},
			doneCall{name: "AdvanceRefreshFamily", fn: func(ctx context.Context) error {
				_, err := rs.AdvanceRefreshFamily(ctx, f.ID, 0, valet.HashSecret(valet.NewID()), []byte("successor"), n, n.Add(time.Hour))
				return err
			}},
			doneCall{name: "RevokeRefreshFamily", fn: func(ctx context.Context) error { return rs.RevokeRefreshFamily(ctx, f.ID) }},
			doneCall{name: "RevokeRefreshFamilies", fn: func(ctx context.Context) error { return rs.RevokeRefreshFamilies(ctx, f.UserID, "") }},
		)
	}
	if ks := st.Keys; ks != nil {
		k := newKey(t, "EdDSA", n)
		noErr(t, "AddSigningKey", ks.AddSigningKey(live, k))
		calls = append(calls,
			doneCall{name: "SigningKeys", fn: func(ctx context.Context) error { _, err := ks.SigningKeys(ctx); return err },
				check: func(ctx context.Context) string {
					got, err := ks.SigningKeys(ctx)
					if err != nil || len(got) != 1 {
						return fmt.Sprintf("SigningKeys: %d keys, error %v; want 1, nil", len(got), err)
					}
					if d := diffKey(got[0], k); d != "" {
						return fmt.Sprintf("SigningKeys: %s", d)
					}
					return ""
				}},
			doneCall{name: "AddSigningKey", fn: func(ctx context.Context) error { return ks.AddSigningKey(ctx, newKey(t, "EdDSA", n)) }},
			doneCall{name: "RetireSigningKey", fn: func(ctx context.Context) error { return ks.RetireSigningKey(ctx, k.ID, n) }},
			doneCall{name: "DeleteSigningKey", fn: func(ctx context.Context) error { return ks.DeleteSigningKey(ctx, k.ID) }},
		)
	}
	if ss := st.Secrets; ss != nil {
		v := randomBytes(t, 32)
		if _, err := ss.EnsureSecret(live, "master", v); err != nil {
			t.Fatalf("EnsureSecret: %v", err)
		}
		calls = append(calls,
			doneCall{name: "EnsureSecret of a stored name", fn: func(ctx context.Context) error {
				_, err := ss.EnsureSecret(ctx, "master", nil)
				return err
			}},
			doneCall{name: "EnsureSecret of a new name", fn: func(ctx context.Context) error {
				_, err := ss.EnsureSecret(ctx, "other", randomBytes(t, 32))
				return err
			}},
		)
	}
	if rs := st.Revocations; rs != nil {
		r := valet.Revocation{SessionID: valet.HashSecret(valet.NewID()), Until: n.Add(time.Hour)}
		noErr(t, "AddRevocation", rs.AddRevocation(live, r))
		calls = append(calls,
			doneCall{name: "AddRevocation", fn: func(ctx context.Context) error {
				return rs.AddRevocation(ctx, valet.Revocation{SessionID: valet.NewID(), Until: n.Add(time.Hour)})
			}},
			doneCall{name: "Revocations", fn: func(ctx context.Context) error { _, err := rs.Revocations(ctx, n); return err }},
		)
	}
	for name, m := range members(st) {
		if p, ok := m.(valet.Pinger); ok {
			calls = append(calls, doneCall{name: name + ".Ping", fn: p.Ping})
		}
		if sw, ok := m.(valet.Sweeper); ok {
			calls = append(calls, doneCall{name: name + ".Sweep", fn: func(ctx context.Context) error {
				_, err := sw.Sweep(ctx, n.Add(48*time.Hour))
				return err
			}})
		}
	}
	return calls
}
