package auth

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/hotp"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/testclock"
	"github.com/valetauth/valet/mail"
	"github.com/valetauth/valet/passkey"
	"github.com/valetauth/valet/password"
	"github.com/valetauth/valet/store/memory"
	"github.com/valetauth/valet/throttle"
)

// addPasskeyFactor stores a confirmed passkey for userID straight in the
// factor store, as a registration on a server with passkeys would have,
// and sets the user's recovery codes to codes.
func addPasskeyFactor(tb testing.TB, fs valet.FactorStore, userID string, codes []string) {
	tb.Helper()
	ctx := context.Background()
	f := valet.Factor{
		ID: newShortID(), UserID: userID, Kind: valet.FactorWebAuthn, Name: "YubiKey",
		Secret: []byte("credential"), CredentialID: "Y3JlZGVudGlhbA", Confirmed: true,
		CreatedAt: time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	if err := fs.CreateFactor(ctx, f); err != nil {
		tb.Fatal(err)
	}
	hashes := make([]string, len(codes))
	for i, c := range codes {
		hashes[i] = valet.HashSecret(normalRecoveryCode(c))
	}
	if err := fs.SetRecoveryCodes(ctx, userID, hashes); err != nil {
		tb.Fatal(err)
	}
}

// TestUnusableFactorFailsClosed: an account whose only second factor is a
// passkey, on a server that takes none, never signs in with its password
// alone, in any mode, nor confirms a change with it; a recovery code left
// is the one way in.
func TestUnusableFactorFailsClosed(t *testing.T) {
	e := newMailService(t, nil)
	ctx, c := context.Background(), Client{IP: "192.0.2.1"}
	u, err := e.s.CreateUser(ctx, "ada@example.com", devicePW, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A session of before the passkey, or of when the server took them.
	old := login(t, e.s, valet.ModeSession, "old device")
	addPasskeyFactor(t, e.st, u.ID, nil)
	sessions := func() int {
		t.Helper()
		ss, err := e.s.UserSessions(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return len(ss)
	}
	before := sessions()

	for _, mode := range []valet.Mode{valet.ModeSession, valet.ModeToken, valet.ModeHybrid} {
		t.Run("password/"+string(mode), func(t *testing.T) {
			g, err := e.s.Login(ctx, "ada@example.com", devicePW, mode, c)
			if g != nil {
				t.Fatalf("the password alone signed in, in %s mode", g.Mode)
			}
			var need *MFARequiredError
			if errors.As(err, &need) {
				t.Fatalf("mfa_required with methods %v, want a refusal", need.Methods)
			}
			d := valet.Describe(err)
			if got, want := d.Code, "forbidden"; got != want || d.Status != 403 {
				t.Fatalf("code %q status %d (%v), want %q 403", got, d.Status, err, want)
			}
			if !strings.Contains(d.Message, "valet user mfa reset") {
				t.Errorf("message %q does not say how to reset the factor", d.Message)
			}
			// A wrong password says only that, to who does not know it.
			_, err = e.s.Login(ctx, "ada@example.com", "not the password", mode, c)
			wantKind(t, err, valet.ErrInvalidCredentials)
		})
	}
	t.Run("passkey alone", func(t *testing.T) {
		_, err := e.s.BeginPasskeyLogin(ctx, "", Client{IP: "192.0.2.1"})
		wantKind(t, err, valet.ErrInvalidRequest)
		g, err := e.s.FinishPasskeyLogin(ctx, []byte(`{"id":"Y3JlZGVudGlhbA"}`), valet.ModeToken, c)
		if g != nil {
			t.Fatal("a passkey signed in on a server without passkeys")
		}
		wantKind(t, err, valet.ErrInvalidRequest)
	})
	t.Run("recovery code", func(t *testing.T) {
		// No mfa_token was handed out, and a made-up one leads nowhere.
		_, err := e.s.LoginMFA(ctx, valet.NewID(), MethodRecoveryCode, "aaaaa-bbbbb", nil, c)
		wantKind(t, err, valet.ErrInvalidGrant)
	})
	if got := sessions(); got != before {
		t.Fatalf("%d sessions after the refused sign-ins, want %d", got, before)
	}
	var refused int
	for _, ev := range auditEvents(t, e.log.String()) {
		if ev["event"] == "login.success" && ev["user_id"] == u.ID && ev["session_id"] != old.Session.ID {
			t.Errorf("audit says a sign-in succeeded: %v", ev)
		}
		if ev["event"] == "login.failure" && ev["reason"] == "factor_unusable" {
			refused++
		}
	}
	if refused != 3 {
		t.Errorf("%d login.failure events with reason factor_unusable, want 3", refused)
	}

	t.Run("reauth", func(t *testing.T) {
		e.advance(11 * time.Minute)
		id, err := e.s.IdentifyCookie(ctx, old.Cookie)
		if err != nil {
			t.Fatal(err)
		}
		m, err := e.s.ReauthMethods(ctx, u.ID)
		if err != nil || len(m) != 0 {
			t.Fatalf("reauth methods %v (%v), want none", m, err)
		}
		for _, method := range []string{MethodPassword, MethodTOTP, MethodWebAuthn, MethodRecoveryCode} {
			err := e.s.Reauthenticate(ctx, id, method, devicePW, nil, c)
			if got := valet.Describe(err).Code; got != "forbidden" {
				t.Errorf("reauth by %s: %v (code %q), want forbidden", method, err, got)
			}
		}
		if err := e.s.RequireRecent(ctx, id); !errors.Is(err, valet.ErrReauthRequired) {
			t.Errorf("after the refused reauths: %v, want reauth required", err)
		}
		// The current password is not enough for these either: the
		// account has a factor, unusable or not.
		_, err = e.s.ChangePassword(ctx, id, devicePW, "a much newer passphrase", c)
		wantKind(t, err, valet.ErrReauthRequired)
		wantKind(t, e.s.RequestEmailChange(ctx, id, "new@example.com", devicePW, c), valet.ErrReauthRequired)
		e.in.none(t)
	})

	t.Run("one recovery code left", func(t *testing.T) {
		codes, _ := newRecoveryCodeSet()
		if err := e.st.SetRecoveryCodes(ctx, u.ID, []string{valet.HashSecret(normalRecoveryCode(codes[0]))}); err != nil {
			t.Fatal(err)
		}
		_, err := e.s.Login(ctx, "ada@example.com", devicePW, valet.ModeToken, c)
		var need *MFARequiredError
		if !errors.As(err, &need) {
			t.Fatalf("password step: %v, want mfa_required", err)
		}
		if got, want := need.Methods, []string{MethodRecoveryCode}; !slices.Equal(got, want) {
			t.Fatalf("methods %v, want %v", got, want)
		}
		_, err = e.s.LoginMFA(ctx, need.Token, MethodWebAuthn, "", []byte(`{}`), c)
		wantKind(t, err, valet.ErrInvalidRequest)
		g, err := e.s.LoginMFA(ctx, need.Token, MethodRecoveryCode, codes[0], nil, c)
		if err != nil {
			t.Fatalf("sign-in with the recovery code: %v", err)
		}
		if !valet.MultiFactor(g.Session.AMR) {
			t.Errorf("amr %v, want a second factor in it", g.Session.AMR)
		}
		if m := e.in.next(t); m.To != "ada@example.com" || !strings.Contains(m.Text, "0 are left") {
			t.Errorf("after the code: mail to %s:\n%s", m.To, m.Text)
		}
		// That was the last one: the password step refuses again.
		_, err = e.s.Login(ctx, "ada@example.com", devicePW, valet.ModeToken, c)
		wantKind(t, err, valet.ErrForbidden)
	})
}

// countingPending is a factor store that records the expiry of every
// pending state put into it.
type countingPending struct {
	valet.FactorStore
	mu      sync.Mutex
	expires []time.Time
}

func (c *countingPending) PutPending(ctx context.Context, key string, value []byte, expires time.Time) error {
	c.mu.Lock()
	c.expires = append(c.expires, expires)
	c.mu.Unlock()
	return c.FactorStore.PutPending(ctx, key, value, expires)
}

func (c *countingPending) puts() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.expires)
}

type passkeyEnv struct {
	s       *Service
	clock   *testclock.Clock
	pending *countingPending
	log     *lockedBuffer
}

// newPasskeyService returns a service that takes passkeys for
// https://auth.example.com, under policy, on the memory store, with a
// user ada@example.com without second factors.
func newPasskeyService(tb testing.TB, policy throttle.Policy) *passkeyEnv {
	tb.Helper()
	clk := testclock.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	st := memory.New(memory.WithClock(clk.Now))
	stores := st.Stores()
	pending := &countingPending{FactorStore: stores.Factors}
	stores.Factors = pending
	rp, err := passkey.New(passkey.Config{RPID: "auth.example.com", Origins: []string{"https://auth.example.com"}, Now: clk.Now})
	if err != nil {
		tb.Fatal(err)
	}
	log := &lockedBuffer{}
	s, err := New(context.Background(), Config{
		Stores: stores, Now: clk.Now, Passkeys: rp,
		Logger:   slog.New(slog.NewJSONHandler(log, nil)),
		Hasher:   password.NewHasher(password.Params{Memory: 8192, Iterations: 1, Parallelism: 1}, 0, 0),
		Throttle: throttle.New(throttle.NewMemory(throttle.MemoryConfig{Now: clk.Now}), policy),
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	if _, err := s.CreateUser(context.Background(), "ada@example.com", devicePW, nil); err != nil {
		tb.Fatal(err)
	}
	return &passkeyEnv{s: s, clock: clk, pending: pending, log: log}
}

// TestPasskeySignInThrottleIsItsOwn: failed passkey sign-ins from an
// address are refused past the address's limit of second factors, which
// leaves its password sign-ins alone, and failed passwords leave its
// passkey sign-ins alone.
func TestPasskeySignInThrottleIsItsOwn(t *testing.T) {
	ctx := context.Background()
	policy := throttle.Policy{
		LoginAccount: []throttle.Limit{{Burst: 3, Period: time.Hour}},
		LoginIP:      []throttle.Limit{{Burst: 3, Period: time.Hour}},
		FactorIP:     []throttle.Limit{{Burst: 3, Period: time.Hour}},
	}
	c := Client{IP: "192.0.2.1", UserAgent: "test"}
	// finish tries a passkey answer that is not one.
	finish := func(s *Service, c Client) error {
		g, err := s.FinishPasskeyLogin(ctx, []byte(`{"id":"bm90IGEgcGFzc2tleQ","type":"public-key"}`), valet.ModeSession, c)
		if g != nil {
			t.Fatal("a made-up passkey answer signed in")
		}
		return err
	}

	t.Run("passkeys spend their own limit", func(t *testing.T) {
		e := newPasskeyService(t, policy)
		for range 3 {
			wantKind(t, finish(e.s, c), valet.ErrInvalidCode)
		}
		err := finish(e.s, c)
		wantKind(t, err, valet.ErrRateLimited)
		if d := valet.Describe(err); d.Code != "rate_limited" || d.RetryAfter <= 0 {
			t.Errorf("refusal %+v, want rate_limited with a wait", d)
		}
		// Another address is not refused.
		wantKind(t, finish(e.s, Client{IP: "198.51.100.7"}), valet.ErrInvalidCode)
		// The password of the same address still signs in.
		if _, err := e.s.Login(ctx, "ada@example.com", devicePW, valet.ModeSession, c); err != nil {
			t.Fatalf("password sign-in after the passkey limit: %v", err)
		}
		var throttled bool
		for _, ev := range auditEvents(t, e.log.String()) {
			if ev["event"] == "throttle" && ev["action"] == "login.passkey" && ev["ip"] == c.IP {
				throttled = true
			}
		}
		if !throttled {
			t.Error("no throttle event for the passkey sign-ins")
		}
		// The limit passes.
		e.clock.Advance(time.Hour)
		wantKind(t, finish(e.s, c), valet.ErrInvalidCode)
	})

	t.Run("passwords spend theirs", func(t *testing.T) {
		e := newPasskeyService(t, policy)
		for i := range 3 {
			_, err := e.s.Login(ctx, "ada@example.com", "not the password", valet.ModeSession, c)
			if !errors.Is(err, valet.ErrInvalidCredentials) {
				t.Fatalf("wrong password %d: %v", i+1, err)
			}
		}
		_, err := e.s.Login(ctx, "ada@example.com", devicePW, valet.ModeSession, c)
		wantKind(t, err, valet.ErrRateLimited)
		// Passkey sign-ins of the address are still checked, not refused.
		wantKind(t, finish(e.s, c), valet.ErrInvalidCode)
		if _, err := e.s.BeginPasskeyLogin(ctx, "", c); err != nil {
			t.Fatalf("passkey challenge after the password limit: %v", err)
		}
	})
}

// TestPasskeyChallengeFlood: challenges for a passkey sign-in without an
// mfa_token, asked for from one address, are stored up to the address's
// limit of second factors, each until PasskeyTTL; past it they are
// refused and nothing is stored.
func TestPasskeyChallengeFlood(t *testing.T) {
	const limit = 10
	e := newPasskeyService(t, throttle.Policy{FactorIP: []throttle.Limit{{Burst: limit, Period: 15 * time.Minute}}})
	c := Client{IP: "192.0.2.1", UserAgent: "flood"}
	ctx := context.Background()
	var ok, limited int
	for range 200 {
		opts, err := e.s.BeginPasskeyLogin(ctx, "", c)
		switch {
		case err == nil:
			ok++
			var o struct {
				PublicKey struct {
					Challenge string `json:"challenge"`
				} `json:"publicKey"`
			}
			if err := json.Unmarshal(opts, &o); err != nil || o.PublicKey.Challenge == "" {
				t.Fatalf("options %s: %v", opts, err)
			}
		case errors.Is(err, valet.ErrRateLimited):
			limited++
			if got := valet.Describe(err).Code; got != "rate_limited" {
				t.Fatalf("refusal code %q", got)
			}
		default:
			t.Fatalf("challenge: %v", err)
		}
	}
	if ok != limit || limited != 200-limit {
		t.Fatalf("%d challenges given, %d refused; want %d and %d", ok, limited, limit, 200-limit)
	}
	puts := e.pending.puts()
	if len(puts) != limit {
		t.Fatalf("%d challenges stored, want %d", len(puts), limit)
	}
	for _, exp := range puts {
		if got, want := exp.Sub(e.clock.Now()), PasskeyTTL; got != want {
			t.Errorf("a challenge is kept for %v, want %v", got, want)
		}
	}
	// The count is the one passkey sign-ins spend: the address's are
	// refused too, and another address is not.
	_, err := e.s.FinishPasskeyLogin(ctx, []byte(`{}`), valet.ModeSession, c)
	wantKind(t, err, valet.ErrRateLimited)
	if _, err := e.s.BeginPasskeyLogin(context.Background(), "", Client{IP: "198.51.100.7"}); err != nil {
		t.Fatalf("challenge for another address: %v", err)
	}
	if got := len(e.pending.puts()); got != limit+1 {
		t.Fatalf("%d stored, want %d", got, limit+1)
	}
}

// TestResetFactorsAudited: an administrator's reset of a user's factors
// is an audit event that names the user and what went.
func TestResetFactorsAudited(t *testing.T) {
	log := &lockedBuffer{}
	e := newMFA(t, func(c *Config) { c.Logger = slog.New(slog.NewJSONHandler(log, nil)) })
	c := Client{IP: "192.0.2.9", UserAgent: "valet-cli"}
	w, err := e.s.ResetFactors(context.Background(), e.u.ID, c)
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	for _, ev := range auditEvents(t, log.String()) {
		if ev["event"] == "mfa.reset" {
			got = append(got, ev)
		}
	}
	if len(got) != 1 {
		t.Fatalf("%d mfa.reset events, want 1:\n%s", len(got), log.String())
	}
	ev := got[0]
	for k, want := range map[string]any{
		"user_id": e.u.ID, "ip": c.IP, "user_agent": c.UserAgent,
		"factors": float64(1), "sessions": float64(w.Sessions),
	} {
		if ev[k] != want {
			t.Errorf("mfa.reset %s = %v, want %v", k, ev[k], want)
		}
	}
	for _, code := range e.codes {
		if strings.Contains(log.String(), code) {
			t.Fatal("the log holds a recovery code")
		}
	}
}

// TestDeleteFactorMailsNotice: removing a confirmed factor mails its user
// a notice that names it; removing one never confirmed mails nothing.
func TestDeleteFactorMailsNotice(t *testing.T) {
	e := newMailService(t, nil)
	ctx, c := context.Background(), Client{IP: "192.0.2.1"}
	u, err := e.s.CreateUser(ctx, "ada@example.com", devicePW, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := login(t, e.s, valet.ModeSession, "enrolling")
	id, err := e.s.IdentifyCookie(ctx, g.Cookie)
	if err != nil {
		t.Fatal(err)
	}
	en, err := e.s.BeginTOTP(ctx, id, "Work phone", c)
	if err != nil {
		t.Fatal(err)
	}
	code, err := hotp.GenerateCodeCustom(en.Secret, uint64(totpStep(e.s.cfg.Now())), totpOpts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.ConfirmTOTP(ctx, id, en.FactorID, code, c); err != nil {
		t.Fatal(err)
	}
	if m := e.in.next(t); !strings.Contains(m.Text, "was added") {
		t.Fatalf("after the enrolment: %q", m.Text)
	}
	if id, err = e.s.IdentifyCookie(ctx, g.Cookie); err != nil {
		t.Fatal(err)
	}
	if err := e.s.DeleteFactor(ctx, id, en.FactorID, c); err != nil {
		t.Fatal(err)
	}
	m := e.in.next(t)
	if got, want := m.To, u.Email; got != want {
		t.Errorf("notice to %q, want %q", got, want)
	}
	if m.Kind != mail.KindNotice {
		t.Errorf("mail of kind %q, want a notice", m.Kind)
	}
	for _, want := range []string{"removed", `"Work phone"`, "authenticator app"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("notice does not say %q:\n%s", want, m.Text)
		}
	}

	// An enrolment never confirmed never counted: its removal is no news.
	en, err = e.s.BeginTOTP(ctx, id, "Old phone", c)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.s.DeleteFactor(ctx, id, en.FactorID, c); err != nil {
		t.Fatal(err)
	}
	e.in.none(t)
}

// TestEmailChangeNeedsRecentSignInWithFactor: the current password is
// proof enough to change the email of an account without a second factor,
// but not of one with a factor once its sign-in is older than the reauth
// window.
func TestEmailChangeNeedsRecentSignInWithFactor(t *testing.T) {
	e := newMailService(t, nil)
	ctx, c := context.Background(), Client{IP: "192.0.2.1"}
	if _, err := e.s.CreateUser(ctx, "ada@example.com", devicePW, nil); err != nil {
		t.Fatal(err)
	}
	g := login(t, e.s, valet.ModeSession, "enrolling")
	identify := func() *valet.Identity {
		t.Helper()
		id, err := e.s.IdentifyCookie(ctx, g.Cookie)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	// Without a factor, an old sign-in and the password do.
	e.advance(11 * time.Minute)
	if err := e.s.RequestEmailChange(ctx, identify(), "first@example.com", devicePW, c); err != nil {
		t.Fatalf("without a factor: %v", err)
	}
	e.in.next(t)
	e.in.next(t)

	if err := e.s.Reauthenticate(ctx, identify(), MethodPassword, devicePW, nil, c); err != nil {
		t.Fatal(err)
	}
	en, err := e.s.BeginTOTP(ctx, identify(), "Phone", c)
	if err != nil {
		t.Fatal(err)
	}
	code := func() string {
		t.Helper()
		s, err := hotp.GenerateCodeCustom(en.Secret, uint64(totpStep(e.s.cfg.Now())), totpOpts)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if _, err := e.s.ConfirmTOTP(ctx, identify(), en.FactorID, code(), c); err != nil {
		t.Fatal(err)
	}
	e.in.next(t)

	e.advance(11 * time.Minute)
	err = e.s.RequestEmailChange(ctx, identify(), "new@example.com", devicePW, c)
	wantKind(t, err, valet.ErrReauthRequired)
	if got := valet.Describe(err).Code; got != "reauth_required" {
		t.Errorf("code %q, want reauth_required", got)
	}
	e.in.none(t)

	// Proving it again with the factor opens the window.
	if err := e.s.Reauthenticate(ctx, identify(), MethodTOTP, code(), nil, c); err != nil {
		t.Fatal(err)
	}
	if err := e.s.RequestEmailChange(ctx, identify(), "new@example.com", devicePW, c); err != nil {
		t.Fatalf("after reauth: %v", err)
	}
	if m := e.in.next(t); m.To != "ada@example.com" || !strings.Contains(m.Text, "new@example.com") {
		t.Errorf("after reauth: mail to %s:\n%s", m.To, m.Text)
	}
}
