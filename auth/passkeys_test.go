package auth

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/passkey"
	"github.com/valetauth/valet/passkey/passkeytest"
	"github.com/valetauth/valet/throttle"
)

// passkeyOrigin is the origin that newPasskeyService's relying party takes.
const passkeyOrigin = "https://auth.example.com"

var passkeyClient = Client{IP: "192.0.2.1", UserAgent: "passkey test"}

// steps returns e as an mfaEnv, for its password and identify steps, which
// need only the service.
func (e *passkeyEnv) steps() *mfaEnv { return &mfaEnv{s: e.s} }

// signedIn signs email in with devicePW, in session mode, and returns the
// identity of its session.
func (e *passkeyEnv) signedIn(tb testing.TB, email string) *valet.Identity {
	tb.Helper()
	g, err := e.s.Login(context.Background(), email, devicePW, valet.ModeSession, passkeyClient)
	if err != nil {
		tb.Fatalf("password sign-in of %s: %v", email, err)
	}
	return e.steps().identify(tb, g)
}

// enrol registers key k, named name, for the caller id and returns its
// factor and the recovery codes that came with it.
func (e *passkeyEnv) enrol(tb testing.TB, id *valet.Identity, k *passkeytest.Key, name string) (valet.Factor, []string) {
	tb.Helper()
	ctx := context.Background()
	opts, err := e.s.BeginPasskeyRegistration(ctx, id, name)
	if err != nil {
		tb.Fatalf("begin registration of %q: %v", name, err)
	}
	f, codes, err := e.s.FinishPasskeyRegistration(ctx, id, k.Create(tb, opts), passkeyClient)
	if err != nil {
		tb.Fatalf("finish registration of %q: %v", name, err)
	}
	return f, codes
}

// alone signs in with key k alone, in mode, its answer edited.
func (e *passkeyEnv) alone(tb testing.TB, k *passkeytest.Key, mode valet.Mode, edits ...passkeytest.Edit) (*Grant, error) {
	tb.Helper()
	opts, err := e.s.BeginPasskeyLogin(context.Background(), "", passkeyClient)
	if err != nil {
		tb.Fatalf("begin passkey sign-in: %v", err)
	}
	return e.s.FinishPasskeyLogin(context.Background(), k.Get(tb, opts, edits...), mode, passkeyClient)
}

// second answers the challenge of login need's second factor with key k.
func (e *passkeyEnv) second(tb testing.TB, need *MFARequiredError, k *passkeytest.Key) []byte {
	tb.Helper()
	opts, err := e.s.BeginPasskeyLogin(context.Background(), need.Token, passkeyClient)
	if err != nil {
		tb.Fatalf("begin second factor: %v", err)
	}
	return k.Get(tb, opts)
}

// sessions returns how many device sessions userID has.
func (e *passkeyEnv) sessions(tb testing.TB, userID string) int {
	tb.Helper()
	ss, err := e.s.UserSessions(context.Background(), userID)
	if err != nil {
		tb.Fatal(err)
	}
	return len(ss)
}

// signCount returns the signature counter stored with passkey factorID of
// userID.
func (e *passkeyEnv) signCount(tb testing.TB, userID, factorID string) uint32 {
	tb.Helper()
	all, err := e.s.cfg.Stores.Factors.Factors(context.Background(), userID)
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range all {
		if f.ID == factorID {
			c, err := passkey.Decode(f.Secret)
			if err != nil {
				tb.Fatal(err)
			}
			return c.SignCount
		}
	}
	tb.Fatalf("no factor %s of %s", factorID, userID)
	return 0
}

// passkeyAccount is ada's account on a service that takes passkeys, with
// two passkeys: Laptop, synced and verifying its user, and Blue key, a
// security key that counts its signatures and verifies no one.
type passkeyAccount struct {
	*passkeyEnv
	u              valet.User
	id             *valet.Identity // the session that registered them
	laptop, blue   *passkeytest.Key
	fLaptop, fBlue valet.Factor
}

func newPasskeyAccount(tb testing.TB) *passkeyAccount {
	tb.Helper()
	a := &passkeyAccount{passkeyEnv: newPasskeyService(tb, throttle.Policy{})}
	a.id = a.signedIn(tb, "ada@example.com")
	a.u = a.id.User
	a.laptop = passkeytest.New(tb, passkeyOrigin, passkeytest.UV|passkeytest.BE|passkeytest.BS, false)
	a.blue = passkeytest.New(tb, passkeyOrigin, 0, true)
	a.fLaptop, _ = a.enrol(tb, a.id, a.laptop, "Laptop")
	a.fBlue, _ = a.enrol(tb, a.id, a.blue, "Blue key")
	return a
}

// TestPasskeyRegistration: each passkey is listed by its name, as a
// webauthn factor, synced and backed up as its flags say; the first brings
// ten recovery codes and the second none; a credential registered already
// and a name too long are refused.
func TestPasskeyRegistration(t *testing.T) {
	ctx := context.Background()
	e := newPasskeyService(t, throttle.Policy{})
	id := e.signedIn(t, "ada@example.com")
	laptop := passkeytest.New(t, passkeyOrigin, passkeytest.UV|passkeytest.BE|passkeytest.BS, false)
	blue := passkeytest.New(t, passkeyOrigin, passkeytest.UV, true)

	f1, codes := e.enrol(t, id, laptop, "Laptop")
	if len(codes) != 10 {
		t.Errorf("first passkey: %d recovery codes, want 10", len(codes))
	}
	f2, codes2 := e.enrol(t, id, blue, "Blue key")
	if len(codes2) != 0 {
		t.Errorf("second passkey: %d recovery codes, want none", len(codes2))
	}
	for _, c := range []struct {
		f          valet.Factor
		k          *passkeytest.Key
		name, user string
	}{{f1, laptop, "Laptop", id.User.ID}, {f2, blue, "Blue key", id.User.ID}} {
		if c.f.Name != c.name || c.f.Kind != valet.FactorWebAuthn || c.f.CredentialID != c.k.ID() || c.f.UserID != c.user || !c.f.Confirmed {
			t.Errorf("factor %+v, want a confirmed webauthn factor %q of %s with credential %s", c.f, c.name, c.user, c.k.ID())
		}
	}

	list, left, err := e.s.Factors(ctx, id.User.ID)
	if err != nil {
		t.Fatal(err)
	}
	if left != 10 {
		t.Errorf("%d recovery codes left, want 10", left)
	}
	got := map[string]FactorInfo{}
	for _, fi := range list {
		got[fi.Name] = fi
	}
	for _, want := range []FactorInfo{
		{ID: f1.ID, Kind: valet.FactorWebAuthn, Name: "Laptop", Synced: true, BackedUp: true},
		{ID: f2.ID, Kind: valet.FactorWebAuthn, Name: "Blue key"},
	} {
		fi := got[want.Name]
		if fi.ID != want.ID || fi.Kind != want.Kind || fi.Synced != want.Synced || fi.BackedUp != want.BackedUp {
			t.Errorf("Factors lists %q as %+v, want %+v", want.Name, fi, want)
		}
		if !fi.CreatedAt.Equal(e.clock.Now()) {
			t.Errorf("%q created at %v, want %v", want.Name, fi.CreatedAt, e.clock.Now())
		}
	}
	if len(list) != 2 {
		t.Errorf("Factors lists %d factors, want 2: %+v", len(list), list)
	}

	t.Run("the same credential again", func(t *testing.T) {
		opts, err := e.s.BeginPasskeyRegistration(ctx, id, "Laptop again")
		if err != nil {
			t.Fatal(err)
		}
		_, codes, err := e.s.FinishPasskeyRegistration(ctx, id, laptop.Create(t, opts), passkeyClient)
		wantKind(t, err, valet.ErrConflict)
		if codes != nil {
			t.Errorf("a refused registration gave %d recovery codes", len(codes))
		}
		if list, _, _ := e.s.Factors(ctx, id.User.ID); len(list) != 2 {
			t.Errorf("%d factors after the refusal, want 2", len(list))
		}
	})
	t.Run("the same credential for another user", func(t *testing.T) {
		if _, err := e.s.CreateUser(ctx, "bob@example.com", devicePW, nil); err != nil {
			t.Fatal(err)
		}
		bob := e.signedIn(t, "bob@example.com")
		opts, err := e.s.BeginPasskeyRegistration(ctx, bob, "")
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = e.s.FinishPasskeyRegistration(ctx, bob, blue.Clone().Create(t, opts), passkeyClient)
		wantKind(t, err, valet.ErrConflict)
		if list, _, _ := e.s.Factors(ctx, bob.User.ID); len(list) != 0 {
			t.Errorf("bob has %d factors after the refusal, want none", len(list))
		}
	})
	t.Run("names", func(t *testing.T) {
		for _, name := range []string{strings.Repeat("n", 65), "Lap\ntop"} {
			_, err := e.s.BeginPasskeyRegistration(ctx, id, name)
			wantKind(t, err, valet.ErrInvalidRequest)
		}
		if _, err := e.s.BeginPasskeyRegistration(ctx, id, strings.Repeat("n", 64)); err != nil {
			t.Errorf("a name of 64 characters: %v", err)
		}
		// A passkey without a name is named for its kind.
		f, _ := e.enrol(t, id, passkeytest.New(t, passkeyOrigin, 0, false), "  ")
		if f.Name != "Passkey" {
			t.Errorf("unnamed passkey is named %q, want Passkey", f.Name)
		}
	})
}

// TestPasskeyAlone: a passkey alone signs its user in, in every mode; the
// amr holds the key's kind (hwk for one bound to its device, swk for one
// that may be synced), and with user verification also user and mfa.
func TestPasskeyAlone(t *testing.T) {
	a := newPasskeyAccount(t)
	// A third key: synced, and verifying no one.
	shared := passkeytest.New(t, passkeyOrigin, passkeytest.BE, false)
	a.enrol(t, a.id, shared, "Shared tablet")
	verifying := passkeytest.New(t, passkeyOrigin, passkeytest.UV, true)
	a.enrol(t, a.id, verifying, "Work key")
	for _, tc := range []struct {
		name string
		k    *passkeytest.Key
		amr  []string
	}{
		{"synced with user verification", a.laptop, []string{valet.AMRSoftwareKey, valet.AMRUser, valet.AMRMulti}},
		{"synced without", shared, []string{valet.AMRSoftwareKey}},
		{"security key with user verification", verifying, []string{valet.AMRHardwareKey, valet.AMRUser, valet.AMRMulti}},
		{"security key without", a.blue, []string{valet.AMRHardwareKey}},
	} {
		for _, mode := range []valet.Mode{valet.ModeSession, valet.ModeToken, valet.ModeHybrid} {
			t.Run(tc.name+"/"+string(mode), func(t *testing.T) {
				g, err := a.alone(t, tc.k, mode)
				if err != nil {
					t.Fatal(err)
				}
				if g.Mode != mode || g.User.ID != a.u.ID {
					t.Errorf("grant of %s in %s mode, want %s in %s", g.User.ID, g.Mode, a.u.ID, mode)
				}
				if got := g.Session.AMR; !slices.Equal(got, tc.amr) {
					t.Errorf("session amr %v, want %v", got, tc.amr)
				}
				if mode == valet.ModeSession && (g.Cookie == "" || g.AccessToken != "") ||
					mode != valet.ModeSession && (g.Cookie != "" || g.AccessToken == "" || g.RefreshToken == "") {
					t.Errorf("%s mode: cookie %t, access token %t, refresh token %t", mode, g.Cookie != "", g.AccessToken != "", g.RefreshToken != "")
				}
				id := a.steps().identify(t, g)
				if id.User.ID != a.u.ID || !slices.Equal(id.AMR, tc.amr) {
					t.Errorf("identity of %s with amr %v, want %s with %v", id.User.ID, id.AMR, a.u.ID, tc.amr)
				}
			})
		}
	}
}

// TestPasskeyAloneRefusals: the signature counter stored goes up with each
// sign-in and a clone that answers with one not past it is refused; a
// challenge is answered once; an answer signed for another relying party,
// or sent from another origin, is refused. No refusal starts a session.
func TestPasskeyAloneRefusals(t *testing.T) {
	ctx := context.Background()
	a := newPasskeyAccount(t)
	clone := a.blue.Clone()
	for want := uint32(1); want <= 3; want++ {
		if _, err := a.alone(t, a.blue, valet.ModeSession); err != nil {
			t.Fatalf("sign-in %d: %v", want, err)
		}
		if got := a.signCount(t, a.u.ID, a.fBlue.ID); got != want {
			t.Errorf("after sign-in %d: stored counter %d, want %d", want, got, want)
		}
	}
	list, _, err := a.s.Factors(ctx, a.u.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, fi := range list {
		if fi.ID == a.fBlue.ID && !fi.LastUsedAt.Equal(a.clock.Now()) {
			t.Errorf("Blue key last used at %v, want %v", fi.LastUsedAt, a.clock.Now())
		}
		if fi.ID == a.fLaptop.ID && !fi.LastUsedAt.IsZero() {
			t.Errorf("Laptop last used at %v, never used", fi.LastUsedAt)
		}
	}
	before := a.sessions(t, a.u.ID)

	t.Run("clone", func(t *testing.T) {
		clone.SetCount(2) // it answers 3, as the key did last
		g, err := a.alone(t, clone, valet.ModeSession)
		if g != nil {
			t.Fatal("a clone signed in")
		}
		wantKind(t, err, valet.ErrInvalidCode)
		if got := a.signCount(t, a.u.ID, a.fBlue.ID); got != 3 {
			t.Errorf("stored counter %d after the clone, want 3", got)
		}
		var warned bool
		for _, ev := range auditEvents(t, a.log.String()) {
			warned = warned || ev["event"] == "passkey.cloned"
		}
		if !warned {
			t.Error("no passkey.cloned event")
		}
	})
	t.Run("answer replayed", func(t *testing.T) {
		opts, err := a.s.BeginPasskeyLogin(ctx, "", passkeyClient)
		if err != nil {
			t.Fatal(err)
		}
		answer := a.laptop.Get(t, opts)
		if _, err := a.s.FinishPasskeyLogin(ctx, answer, valet.ModeToken, passkeyClient); err != nil {
			t.Fatal(err)
		}
		before++
		g, err := a.s.FinishPasskeyLogin(ctx, answer, valet.ModeToken, passkeyClient)
		if g != nil {
			t.Fatal("an answer signed in twice")
		}
		wantKind(t, err, valet.ErrInvalidCode)
	})
	for _, tc := range []struct {
		name string
		edit passkeytest.Edit
	}{
		{"signed for the parent domain", passkeytest.RPID("example.com")},
		{"signed for another site", passkeytest.RPID("evil.example")},
		{"from a sibling origin", passkeytest.Origin("https://evil.example.com")},
		{"from the parent origin", passkeytest.Origin("https://example.com")},
		{"over http", passkeytest.Origin("http://auth.example.com")},
		{"with its signature spoilt", passkeytest.TamperSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := a.alone(t, a.laptop, valet.ModeSession, tc.edit)
			if g != nil {
				t.Fatal("signed in")
			}
			wantKind(t, err, valet.ErrInvalidCode)
		})
	}
	t.Run("unknown credential", func(t *testing.T) {
		k := passkeytest.New(t, passkeyOrigin, passkeytest.UV, true)
		k.SetHandle([]byte(a.u.ID))
		_, err := a.alone(t, k, valet.ModeSession)
		wantKind(t, err, valet.ErrInvalidCode)
	})
	if got := a.sessions(t, a.u.ID); got != before {
		t.Errorf("%d sessions after the refusals, want %d", got, before)
	}
	// The key itself still signs in.
	if _, err := a.alone(t, a.laptop, valet.ModeSession); err != nil {
		t.Errorf("honest sign-in after the refusals: %v", err)
	}
}

// TestPasskeyAloneUnderPolicy: where the policy asks two factors of
// everyone, a passkey that verified no one does not sign in alone, and no
// session is made; one that verified its user does, and the identity is
// not held to enrol. The first passkey does not sign in alone, and serves
// as the second factor after the password.
func TestPasskeyAloneUnderPolicy(t *testing.T) {
	ctx := context.Background()
	e := newPasskeyService(t, throttle.Policy{})
	e.s.cfg.MFA = MFAPolicy{Required: true}
	enrolling := login(t, e.s, valet.ModeSession, "enrolling")
	id := e.steps().identify(t, enrolling)
	if !id.MustEnrol {
		t.Fatal("a password sign-in without a factor is not held to enrol")
	}
	uv := passkeytest.New(t, passkeyOrigin, passkeytest.UV|passkeytest.BE|passkeytest.BS, false)
	plain := passkeytest.New(t, passkeyOrigin, 0, true)
	e.enrol(t, id, uv, "Phone")
	e.enrol(t, id, plain, "Blue key")
	// The session that enrolled has proved the factor.
	if e.steps().identify(t, enrolling).MustEnrol {
		t.Error("the session that enrolled is still held to enrol")
	}
	before := e.sessions(t, id.User.ID)

	for _, mode := range []valet.Mode{valet.ModeSession, valet.ModeToken, valet.ModeHybrid} {
		t.Run("without user verification/"+string(mode), func(t *testing.T) {
			g, err := e.alone(t, plain, mode)
			if g != nil {
				t.Fatal("one factor signed in")
			}
			wantKind(t, err, valet.ErrForbidden)
			if got := e.sessions(t, id.User.ID); got != before {
				t.Errorf("%d sessions, want %d", got, before)
			}
		})
	}
	var refused int
	for _, ev := range auditEvents(t, e.log.String()) {
		if ev["event"] == "login.failure" && ev["reason"] == "single_factor" {
			refused++
		}
	}
	if refused != 3 {
		t.Errorf("%d login.failure events with reason single_factor, want 3", refused)
	}
	for _, mode := range []valet.Mode{valet.ModeSession, valet.ModeToken, valet.ModeHybrid} {
		t.Run("with user verification/"+string(mode), func(t *testing.T) {
			g, err := e.alone(t, uv, mode)
			if err != nil {
				t.Fatal(err)
			}
			got := e.steps().identify(t, g)
			if got.MustEnrol {
				t.Error("held to enrol")
			}
			if want := []string{valet.AMRSoftwareKey, valet.AMRUser, valet.AMRMulti}; !slices.Equal(got.AMR, want) {
				t.Errorf("amr %v, want %v", got.AMR, want)
			}
		})
	}
	t.Run("without user verification, after the password", func(t *testing.T) {
		need := e.steps().password(t, valet.ModeSession)
		g, err := e.s.LoginMFA(ctx, need.Token, MethodWebAuthn, "", e.second(t, need, plain), passkeyClient)
		if err != nil {
			t.Fatal(err)
		}
		got := e.steps().identify(t, g)
		if want := []string{valet.AMRPassword, valet.AMRHardwareKey, valet.AMRMulti}; got.MustEnrol || !slices.Equal(got.AMR, want) {
			t.Errorf("amr %v, held to enrol %t; want %v, not held", got.AMR, got.MustEnrol, want)
		}
	})
}

// TestPasskeySecondFactor: after the password, a passkey's answer to the
// challenge of that login signs in, in every mode, with pwd, the key's
// kind and mfa in the amr; an answer to the challenge of another login, or
// of a sign-in by passkey alone, and a passkey of another user are
// refused.
func TestPasskeySecondFactor(t *testing.T) {
	ctx := context.Background()
	a := newPasskeyAccount(t)
	for _, tc := range []struct {
		name string
		k    *passkeytest.Key
		amr  []string
	}{
		{"synced with user verification", a.laptop, []string{valet.AMRPassword, valet.AMRSoftwareKey, valet.AMRUser, valet.AMRMulti}},
		{"security key without", a.blue, []string{valet.AMRPassword, valet.AMRHardwareKey, valet.AMRMulti}},
	} {
		for _, mode := range []valet.Mode{valet.ModeSession, valet.ModeToken, valet.ModeHybrid} {
			t.Run(tc.name+"/"+string(mode), func(t *testing.T) {
				need := a.steps().password(t, mode)
				if want := []string{MethodWebAuthn, MethodRecoveryCode}; !slices.Equal(need.Methods, want) {
					t.Errorf("methods %v, want %v", need.Methods, want)
				}
				opts, err := a.s.BeginPasskeyLogin(ctx, need.Token, passkeyClient)
				if err != nil {
					t.Fatal(err)
				}
				var o struct {
					PublicKey struct {
						AllowCredentials []struct{ ID string } `json:"allowCredentials"`
					} `json:"publicKey"`
				}
				if err := json.Unmarshal(opts, &o); err != nil {
					t.Fatal(err)
				}
				var allowed []string
				for _, c := range o.PublicKey.AllowCredentials {
					allowed = append(allowed, c.ID)
				}
				want := []string{a.laptop.ID(), a.blue.ID()}
				slices.Sort(allowed)
				slices.Sort(want)
				if !slices.Equal(allowed, want) {
					t.Errorf("allowCredentials %v, want %v", allowed, want)
				}
				answer := tc.k.Get(t, opts)
				g, err := a.s.LoginMFA(ctx, need.Token, MethodWebAuthn, "", answer, passkeyClient)
				if err != nil {
					t.Fatal(err)
				}
				if g.Mode != mode || g.User.ID != a.u.ID || !slices.Equal(g.Session.AMR, tc.amr) {
					t.Errorf("grant of %s in %s mode with amr %v, want %s, %s, %v", g.User.ID, g.Mode, g.Session.AMR, a.u.ID, mode, tc.amr)
				}
				if id := a.steps().identify(t, g); !slices.Equal(id.AMR, tc.amr) {
					t.Errorf("identity amr %v, want %v", id.AMR, tc.amr)
				}
				// The mfa_token is used up.
				_, err = a.s.LoginMFA(ctx, need.Token, MethodWebAuthn, "", answer, passkeyClient)
				wantKind(t, err, valet.ErrInvalidGrant)
				_, err = a.s.BeginPasskeyLogin(ctx, need.Token, passkeyClient)
				wantKind(t, err, valet.ErrInvalidGrant)
			})
		}
	}

	t.Run("challenge of another login", func(t *testing.T) {
		one, other := a.steps().password(t, valet.ModeSession), a.steps().password(t, valet.ModeSession)
		answer := a.second(t, one, a.laptop)
		_, err := a.s.LoginMFA(ctx, other.Token, MethodWebAuthn, "", answer, passkeyClient)
		wantKind(t, err, valet.ErrInvalidCode)
		// The challenge is spent, on either login.
		_, err = a.s.LoginMFA(ctx, one.Token, MethodWebAuthn, "", answer, passkeyClient)
		wantKind(t, err, valet.ErrInvalidCode)
		// Both logins stay open for a right answer.
		for _, need := range []*MFARequiredError{one, other} {
			if _, err := a.s.LoginMFA(ctx, need.Token, MethodWebAuthn, "", a.second(t, need, a.laptop), passkeyClient); err != nil {
				t.Errorf("right answer after the wrong one: %v", err)
			}
		}
	})
	t.Run("challenge of a passkey alone", func(t *testing.T) {
		need := a.steps().password(t, valet.ModeSession)
		opts, err := a.s.BeginPasskeyLogin(ctx, "", passkeyClient)
		if err != nil {
			t.Fatal(err)
		}
		_, err = a.s.LoginMFA(ctx, need.Token, MethodWebAuthn, "", a.laptop.Get(t, opts), passkeyClient)
		wantKind(t, err, valet.ErrInvalidCode)
	})
	t.Run("passkey of another user", func(t *testing.T) {
		if _, err := a.s.CreateUser(ctx, "bob@example.com", devicePW, nil); err != nil {
			t.Fatal(err)
		}
		bob := a.signedIn(t, "bob@example.com")
		bobKey := passkeytest.New(t, passkeyOrigin, passkeytest.UV, true)
		a.enrol(t, bob, bobKey, "Bob's key")
		before := a.sessions(t, a.u.ID)
		need := a.steps().password(t, valet.ModeSession)
		g, err := a.s.LoginMFA(ctx, need.Token, MethodWebAuthn, "", a.second(t, need, bobKey), passkeyClient)
		if g != nil {
			t.Fatalf("bob's passkey signed %s in", g.User.ID)
		}
		wantKind(t, err, valet.ErrInvalidCode)
		// Nor with ada's handle in its answer.
		bobKey.SetHandle([]byte(a.u.ID))
		_, err = a.s.LoginMFA(ctx, need.Token, MethodWebAuthn, "", a.second(t, need, bobKey), passkeyClient)
		wantKind(t, err, valet.ErrInvalidCode)
		if got := a.sessions(t, a.u.ID); got != before {
			t.Errorf("%d sessions of ada, want %d", got, before)
		}
	})
}

// TestPasskeyRemoved: removing one passkey, after proving again with the
// other that the caller is who signed in, leaves the other usable, alone
// and as a second factor; the removed one signs in neither way. With the
// last go the recovery codes.
func TestPasskeyRemoved(t *testing.T) {
	ctx := context.Background()
	a := newPasskeyAccount(t)
	a.clock.Advance(11 * time.Minute)
	wantKind(t, a.s.DeleteFactor(ctx, a.id, a.fLaptop.ID, passkeyClient), valet.ErrReauthRequired)
	opts, err := a.s.BeginPasskeyReauth(ctx, a.id)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.s.Reauthenticate(ctx, a.id, MethodWebAuthn, "", a.blue.Get(t, opts), passkeyClient); err != nil {
		t.Fatalf("reauth with the passkey: %v", err)
	}
	if err := a.s.DeleteFactor(ctx, a.id, a.fLaptop.ID, passkeyClient); err != nil {
		t.Fatal(err)
	}
	list, left, err := a.s.Factors(ctx, a.u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != a.fBlue.ID || left != 10 {
		t.Errorf("after the removal: factors %+v and %d recovery codes, want Blue key and 10", list, left)
	}

	_, err = a.alone(t, a.laptop, valet.ModeSession)
	wantKind(t, err, valet.ErrInvalidCode)
	need := a.steps().password(t, valet.ModeSession)
	_, err = a.s.LoginMFA(ctx, need.Token, MethodWebAuthn, "", a.second(t, need, a.laptop), passkeyClient)
	wantKind(t, err, valet.ErrInvalidCode)

	if _, err := a.alone(t, a.blue, valet.ModeSession); err != nil {
		t.Errorf("the other passkey alone: %v", err)
	}
	if _, err := a.s.LoginMFA(ctx, need.Token, MethodWebAuthn, "", a.second(t, need, a.blue), passkeyClient); err != nil {
		t.Errorf("the other passkey as second factor: %v", err)
	}

	if err := a.s.DeleteFactor(ctx, a.id, a.fBlue.ID, passkeyClient); err != nil {
		t.Fatal(err)
	}
	if list, left, err := a.s.Factors(ctx, a.u.ID); err != nil || len(list) != 0 || left != 0 {
		t.Errorf("after the last: factors %+v, %d recovery codes (%v); want none", list, left, err)
	}
	_, err = a.alone(t, a.blue, valet.ModeSession)
	wantKind(t, err, valet.ErrInvalidCode)
	// The password alone signs in again.
	if g := login(t, a.s, valet.ModeSession, "after"); !slices.Equal(g.Session.AMR, []string{valet.AMRPassword}) {
		t.Errorf("amr %v, want the password alone", g.Session.AMR)
	}
}

// TestPasskeyDisabledUser: a disabled user's passkey signs in neither
// alone nor as the second factor of a login begun before the user was
// disabled, and no session is made.
func TestPasskeyDisabledUser(t *testing.T) {
	ctx := context.Background()
	a := newPasskeyAccount(t)
	need := a.steps().password(t, valet.ModeSession)
	opts, err := a.s.BeginPasskeyLogin(ctx, need.Token, passkeyClient)
	if err != nil {
		t.Fatal(err)
	}
	disabled := true
	if _, _, err := a.s.UpdateUser(ctx, a.u.ID, UserPatch{Disabled: &disabled}, Client{}); err != nil {
		t.Fatal(err)
	}
	if got := a.sessions(t, a.u.ID); got != 0 {
		t.Fatalf("%d sessions after disabling, want 0", got)
	}
	for _, mode := range []valet.Mode{valet.ModeSession, valet.ModeToken} {
		g, err := a.alone(t, a.laptop, mode)
		if g != nil {
			t.Fatalf("%s mode: a disabled user signed in", mode)
		}
		wantKind(t, err, valet.ErrUserDisabled)
	}
	g, err := a.s.LoginMFA(ctx, need.Token, MethodWebAuthn, "", a.blue.Get(t, opts), passkeyClient)
	if g != nil {
		t.Fatal("a disabled user signed in with a second factor")
	}
	wantKind(t, err, valet.ErrUserDisabled)
	if got := a.sessions(t, a.u.ID); got != 0 {
		t.Errorf("%d sessions, want 0", got)
	}
	if errors.Is(err, valet.ErrInvalidCode) {
		t.Error("the refusal blames the passkey")
	}
}
