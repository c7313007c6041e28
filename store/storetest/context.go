package storetest

import (
	"bytes"
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
			doneCall{name: "SetSessionAuth", fn: func(ctx context.Context) error {
				return ss.SetSessionAuth(ctx, s.ID, n, []string{valet.AMRPassword, valet.AMROTP, valet.AMRMulti})
			}},
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
	if fs, us := st.Factors, st.Users; fs != nil && us != nil {
		calls = append(calls, factorCalls(t, live, fs, us, n)...)
	}
	if cs, us := st.Clients, st.Users; cs != nil && us != nil {
		calls = append(calls, clientCalls(t, live, cs, us, n)...)
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

// factorCalls stores a user with a factor, recovery codes and a pending
// value, with the live context, and returns a call of every method of fs.
func factorCalls(t *testing.T, live context.Context, fs valet.FactorStore, us valet.UserStore, n time.Time) []doneCall {
	t.Helper()
	u := newUser(t, "factors@example.test", n)
	noErr(t, "CreateUser", us.CreateUser(live, u))
	f := newFactor(t, u.ID, valet.FactorWebAuthn, n)
	noErr(t, "CreateFactor", fs.CreateFactor(live, f))
	code := valet.HashSecret(valet.NewID())
	noErr(t, "SetRecoveryCodes", fs.SetRecoveryCodes(live, u.ID, []string{code}))
	key, value := valet.HashSecret(valet.NewID()), randomBytes(t, 32)
	noErr(t, "PutPending", fs.PutPending(live, key, value, n.Add(time.Hour)))
	return []doneCall{
		{name: "CreateFactor", fn: func(ctx context.Context) error {
			return fs.CreateFactor(ctx, newFactor(t, u.ID, valet.FactorTOTP, n))
		}},
		{name: "Factors", fn: func(ctx context.Context) error { _, err := fs.Factors(ctx, u.ID); return err },
			check: func(ctx context.Context) string {
				got, err := fs.Factors(ctx, u.ID)
				if err != nil || len(got) != 1 {
					return fmt.Sprintf("Factors: %d factors, error %v; want 1, nil", len(got), err)
				}
				if d := diffFactor(got[0], f); d != "" {
					return fmt.Sprintf("Factors: %s", d)
				}
				return ""
			}},
		{name: "FactorByCredential", fn: func(ctx context.Context) error {
			_, _, err := fs.FactorByCredential(ctx, f.CredentialID)
			return err
		}},
		{name: "UpdateFactor", fn: func(ctx context.Context) error {
			g := f
			g.Name = "changed"
			_, err := fs.UpdateFactor(ctx, g)
			return err
		}},
		{name: "UseFactorStep", fn: func(ctx context.Context) error {
			_, err := fs.UseFactorStep(ctx, u.ID, f.ID, f.LastStep+1, n)
			return err
		}},
		{name: "DeleteFactor", fn: func(ctx context.Context) error { _, err := fs.DeleteFactor(ctx, u.ID, f.ID); return err }},
		{name: "DeleteFactors", fn: func(ctx context.Context) error { _, err := fs.DeleteFactors(ctx, u.ID); return err }},
		{name: "SetRecoveryCodes", fn: func(ctx context.Context) error { return fs.SetRecoveryCodes(ctx, u.ID, nil) }},
		{name: "UseRecoveryCode", fn: func(ctx context.Context) error { _, err := fs.UseRecoveryCode(ctx, u.ID, code); return err },
			check: func(ctx context.Context) string {
				if got, err := fs.RecoveryCodes(ctx, u.ID); err != nil || got != 1 {
					return fmt.Sprintf("RecoveryCodes = %d, %v; want 1, nil", got, err)
				}
				return ""
			}},
		{name: "RecoveryCodes", fn: func(ctx context.Context) error { _, err := fs.RecoveryCodes(ctx, u.ID); return err }},
		{name: "PutPending", fn: func(ctx context.Context) error {
			return fs.PutPending(ctx, key, []byte("replaced"), n.Add(time.Hour))
		}},
		{name: "TakePending", fn: func(ctx context.Context) error { _, _, err := fs.TakePending(ctx, key, n); return err },
			check: func(ctx context.Context) string {
				got, found, err := fs.TakePending(ctx, key, n)
				if err != nil || !found || !bytes.Equal(got, value) {
					return fmt.Sprintf("TakePending = %x, %t, %v; want %x, true, nil", got, found, err, value)
				}
				return ""
			}},
	}
}

// clientCalls stores a user and a client with a code, a consent and a
// grant, with the live context, and returns a call of every method of cs.
func clientCalls(t *testing.T, live context.Context, cs valet.ClientStore, us valet.UserStore, n time.Time) []doneCall {
	t.Helper()
	u := newUser(t, "clients@example.test", n)
	noErr(t, "CreateUser", us.CreateUser(live, u))
	c := newClient(t, n)
	noErr(t, "CreateClient", cs.CreateClient(live, c))
	code := newAuthCode(c.ID, u.ID, n)
	noErr(t, "CreateAuthCode", cs.CreateAuthCode(live, code))
	consent := valet.Consent{UserID: u.ID, ClientID: c.ID, Scopes: []string{"openid", "email"}, CreatedAt: n}
	noErr(t, "SetConsent", cs.SetConsent(live, consent))
	grant := valet.ClientGrant{SessionID: valet.HashSecret(valet.NewID()), ClientID: c.ID, UserID: u.ID, ExpiresAt: n.Add(time.Hour)}
	noErr(t, "AddClientGrant", cs.AddClientGrant(live, grant))
	refresh, refreshHash := newClientRefresh(c.ID, u.ID, grant.SessionID, n)
	noErr(t, "CreateClientRefresh", cs.CreateClientRefresh(live, refresh, refreshHash))
	return []doneCall{
		{name: "CreateClient", fn: func(ctx context.Context) error { return cs.CreateClient(ctx, newClient(t, n)) }},
		{name: "ClientByID", fn: func(ctx context.Context) error { _, err := cs.ClientByID(ctx, c.ID); return err },
			check: func(ctx context.Context) string {
				got, err := cs.ClientByID(ctx, c.ID)
				if err != nil {
					return fmt.Sprintf("ClientByID: %v", err)
				}
				if d := diffClient(got, c); d != "" {
					return fmt.Sprintf("ClientByID: %s", d)
				}
				return ""
			}},
		{name: "ClientByID of an unknown id", fn: func(ctx context.Context) error { _, err := cs.ClientByID(ctx, valet.NewID()); return err }},
		{name: "Clients", fn: func(ctx context.Context) error { _, err := cs.Clients(ctx); return err },
			check: func(ctx context.Context) string {
				if got, err := cs.Clients(ctx); err != nil || len(got) != 1 {
					return fmt.Sprintf("Clients: %d clients, error %v; want 1, nil", len(got), err)
				}
				return ""
			}},
		{name: "DeleteClient", fn: func(ctx context.Context) error { return cs.DeleteClient(ctx, c.ID) }},
		{name: "CreateAuthCode", fn: func(ctx context.Context) error { return cs.CreateAuthCode(ctx, newAuthCode(c.ID, u.ID, n)) }},
		{name: "TakeAuthCode", fn: func(ctx context.Context) error { _, _, _, err := cs.TakeAuthCode(ctx, code.Hash, n); return err },
			check: func(ctx context.Context) string {
				got, found, used, err := cs.TakeAuthCode(ctx, code.Hash, n)
				if err != nil || !found || used {
					return fmt.Sprintf("TakeAuthCode = found %t, used %t, error %v; want true, false, nil", found, used, err)
				}
				if d := diffCode(got, code); d != "" {
					return fmt.Sprintf("TakeAuthCode: %s", d)
				}
				return ""
			}},
		{name: "SetConsent", fn: func(ctx context.Context) error {
			return cs.SetConsent(ctx, valet.Consent{UserID: u.ID, ClientID: c.ID, CreatedAt: n.Add(time.Minute)})
		}},
		{name: "Consent", fn: func(ctx context.Context) error { _, _, err := cs.Consent(ctx, u.ID, c.ID); return err },
			check: func(ctx context.Context) string {
				got, found, err := cs.Consent(ctx, u.ID, c.ID)
				if err != nil || !found {
					return fmt.Sprintf("Consent = found %t, error %v; want true, nil", found, err)
				}
				if d := diffConsent(got, consent); d != "" {
					return fmt.Sprintf("Consent: %s", d)
				}
				return ""
			}},
		{name: "Consents", fn: func(ctx context.Context) error { _, err := cs.Consents(ctx, u.ID); return err }},
		{name: "DeleteConsent", fn: func(ctx context.Context) error { _, err := cs.DeleteConsent(ctx, u.ID, c.ID); return err }},
		{name: "AddClientGrant", fn: func(ctx context.Context) error {
			g := grant
			g.ExpiresAt = n.Add(2 * time.Hour)
			return cs.AddClientGrant(ctx, g)
		}},
		{name: "ClientGrants", fn: func(ctx context.Context) error { _, err := cs.ClientGrants(ctx, grant.SessionID); return err },
			check: func(ctx context.Context) string {
				got, err := cs.ClientGrants(ctx, grant.SessionID)
				if err != nil || len(got) != 1 {
					return fmt.Sprintf("ClientGrants: %d grants, error %v; want 1, nil", len(got), err)
				}
				if d := diffGrant(got[0], grant); d != "" {
					return fmt.Sprintf("ClientGrants: %s", d)
				}
				return ""
			}},
		{name: "TakeClientGrants", fn: func(ctx context.Context) error { _, err := cs.TakeClientGrants(ctx, grant.SessionID); return err },
			check: func(ctx context.Context) string {
				got, err := cs.TakeClientGrants(ctx, grant.SessionID)
				if err != nil || len(got) != 1 {
					return fmt.Sprintf("TakeClientGrants: %d grants, error %v; want 1, nil", len(got), err)
				}
				return ""
			}},
		{name: "CreateClientRefresh", fn: func(ctx context.Context) error {
			f, h := newClientRefresh(c.ID, u.ID, grant.SessionID, n)
			return cs.CreateClientRefresh(ctx, f, h)
		}},
		{name: "RotateClientRefresh", fn: func(ctx context.Context) error {
			_, _, _, err := cs.RotateClientRefresh(ctx, c.ID, refreshHash, valet.HashSecret(valet.NewID()), n)
			return err
		}, check: func(ctx context.Context) string {
			got, found, reused, err := cs.RotateClientRefresh(ctx, c.ID, refreshHash, valet.HashSecret(valet.NewID()), n)
			if err != nil || !found || reused {
				return fmt.Sprintf("RotateClientRefresh = found %t, reused %t, error %v; want true, false, nil", found, reused, err)
			}
			if d := diffClientRefresh(got, refresh); d != "" {
				return fmt.Sprintf("RotateClientRefresh: %s", d)
			}
			return ""
		}},
		{name: "RevokeClientRefreshToken", fn: func(ctx context.Context) error {
			return cs.RevokeClientRefreshToken(ctx, c.ID, refreshHash)
		}},
		{name: "RevokeClientRefreshes", fn: func(ctx context.Context) error {
			_, err := cs.RevokeClientRefreshes(ctx, valet.ClientRefreshFilter{UserID: u.ID})
			return err
		}},
	}
}
