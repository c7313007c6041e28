package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp/hotp"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/testclock"
	"github.com/valetauth/valet/mail"
	"github.com/valetauth/valet/password"
	"github.com/valetauth/valet/store/memory"
	"github.com/valetauth/valet/throttle"
)

type mfaEnv struct {
	s       *Service
	u       valet.User
	clock   *testclock.Clock
	secret  string
	factor  string
	codes   []string
	session *Grant
}

// newMFA returns a service with a user that has enrolled an authenticator
// app (TOTP), and the session it enrolled it from.
func newMFA(tb testing.TB, tweak func(*Config)) *mfaEnv {
	tb.Helper()
	ctx := context.Background()
	clk := testclock.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	st := memory.New(memory.WithClock(clk.Now))
	cfg := Config{
		Stores: st.Stores(), Now: clk.Now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Hasher: password.NewHasher(password.Params{Memory: 8192, Iterations: 1, Parallelism: 1}, 0, 0),
	}
	if tweak != nil {
		tweak(&cfg)
	}
	s, err := New(ctx, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	u, err := s.CreateUser(ctx, "ada@example.com", devicePW, []string{"editor"})
	if err != nil {
		tb.Fatal(err)
	}
	e := &mfaEnv{s: s, u: u, clock: clk}
	e.session = login(tb, s, valet.ModeSession, "enrolling")
	id := e.identify(tb, e.session)
	en, err := s.BeginTOTP(ctx, id, "Phone", Client{})
	if err != nil {
		tb.Fatal(err)
	}
	e.secret, e.factor = en.Secret, en.FactorID
	if e.codes, err = s.ConfirmTOTP(ctx, id, en.FactorID, e.code(tb, 0), Client{}); err != nil {
		tb.Fatal(err)
	}
	// The next code of the test is of a later step.
	clk.Advance(totpPeriod * time.Second)
	return e
}

// code returns the TOTP code of the step d steps from now's.
func (e *mfaEnv) code(tb testing.TB, d int64) string {
	tb.Helper()
	c, err := hotp.GenerateCodeCustom(e.secret, uint64(totpStep(e.clock.Now())+d), totpOpts)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func (e *mfaEnv) identify(tb testing.TB, g *Grant) *valet.Identity {
	tb.Helper()
	var id *valet.Identity
	var err error
	if g.Mode == valet.ModeSession {
		id, err = e.s.IdentifyCookie(context.Background(), g.Cookie)
	} else {
		id, err = e.s.IdentifyBearer(context.Background(), g.AccessToken)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

// password runs the password step and returns the mfa_token it asks for.
func (e *mfaEnv) password(tb testing.TB, mode valet.Mode) *MFARequiredError {
	tb.Helper()
	_, err := e.s.Login(context.Background(), "ada@example.com", devicePW, mode, Client{IP: "192.0.2.1"})
	var need *MFARequiredError
	if !errors.As(err, &need) || !errors.Is(err, valet.ErrMFARequired) {
		tb.Fatalf("password step: %v, want MFARequiredError", err)
	}
	return need
}

func TestTOTPLoginInEveryMode(t *testing.T) {
	ctx := context.Background()
	e := newMFA(t, nil)
	if len(e.codes) != 10 {
		t.Fatalf("%d recovery codes, want 10", len(e.codes))
	}
	for _, mode := range []valet.Mode{valet.ModeSession, valet.ModeToken, valet.ModeHybrid} {
		t.Run(string(mode), func(t *testing.T) {
			need := e.password(t, mode)
			if !slices.Equal(need.Methods, []string{MethodTOTP, MethodRecoveryCode}) {
				t.Errorf("methods %v", need.Methods)
			}
			e.clock.Advance(totpPeriod * time.Second)
			g, err := e.s.LoginMFA(ctx, need.Token, MethodTOTP, e.code(t, 0), nil, Client{})
			if err != nil {
				t.Fatal(err)
			}
			if g.Mode != mode {
				t.Errorf("mode %s", g.Mode)
			}
			want := []string{valet.AMRPassword, valet.AMROTP, valet.AMRMulti}
			if !slices.Equal(g.Session.AMR, want) {
				t.Errorf("session amr %v, want %v", g.Session.AMR, want)
			}
			id := e.identify(t, g)
			if !slices.Equal(id.AMR, want) || !id.AuthTime.Equal(e.clock.Now().Truncate(time.Second)) && !id.AuthTime.Equal(e.clock.Now()) {
				t.Errorf("identity amr %v auth_time %v (now %v)", id.AMR, id.AuthTime, e.clock.Now())
			}
			// The token is used up.
			if _, err := e.s.LoginMFA(ctx, need.Token, MethodTOTP, e.code(t, 0), nil, Client{}); !errors.Is(err, valet.ErrInvalidGrant) {
				t.Errorf("mfa_token used twice: %v", err)
			}
		})
	}
}

func TestTOTPReplayAndSkew(t *testing.T) {
	ctx := context.Background()
	e := newMFA(t, nil)
	need := e.password(t, valet.ModeSession)
	code := e.code(t, 0)
	if _, err := e.s.LoginMFA(ctx, need.Token, MethodTOTP, code, nil, Client{}); err != nil {
		t.Fatal(err)
	}
	// The same code, in the same step, on a new attempt: a replay.
	need = e.password(t, valet.ModeSession)
	if _, err := e.s.LoginMFA(ctx, need.Token, MethodTOTP, code, nil, Client{}); !errors.Is(err, valet.ErrInvalidCode) {
		t.Fatalf("replayed code: %v", err)
	}
	// A wrong code leaves the attempt open: the next step's code (skew)
	// finishes it.
	if _, err := e.s.LoginMFA(ctx, need.Token, MethodTOTP, e.code(t, 1), nil, Client{}); err != nil {
		t.Fatalf("code of the next step: %v", err)
	}
	// Now the current step is older than the one used: refused, and
	// two steps back is refused anyway.
	need = e.password(t, valet.ModeSession)
	for _, d := range []int64{0, -1, -2, 2} {
		if _, err := e.s.LoginMFA(ctx, need.Token, MethodTOTP, e.code(t, d), nil, Client{}); !errors.Is(err, valet.ErrInvalidCode) {
			t.Errorf("code of step %+d: %v", d, err)
		}
	}
	// Five wrong tries in all end the attempt.
	if _, err := e.s.LoginMFA(ctx, need.Token, MethodTOTP, "000000", nil, Client{}); !errors.Is(err, valet.ErrInvalidCode) {
		t.Fatal(err)
	}
	e.clock.Advance(2 * totpPeriod * time.Second)
	if _, err := e.s.LoginMFA(ctx, need.Token, MethodTOTP, e.code(t, 0), nil, Client{}); !errors.Is(err, valet.ErrInvalidGrant) {
		t.Errorf("sixth try on a spent attempt: %v", err)
	}
}

func TestRecoveryCodeOnce(t *testing.T) {
	ctx := context.Background()
	e := newMFA(t, nil)
	need := e.password(t, valet.ModeToken)
	if _, err := e.s.LoginMFA(ctx, need.Token, MethodRecoveryCode, "  "+e.codes[3]+" ", nil, Client{}); err != nil {
		t.Fatal(err)
	}
	_, left, err := e.s.Factors(ctx, e.u.ID)
	if err != nil || left != 9 {
		t.Fatalf("left %d, %v", left, err)
	}
	need = e.password(t, valet.ModeToken)
	if _, err := e.s.LoginMFA(ctx, need.Token, MethodRecoveryCode, e.codes[3], nil, Client{}); !errors.Is(err, valet.ErrInvalidCode) {
		t.Fatalf("used code again: %v", err)
	}
	// Many at once: one wins.
	var wins int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 4 {
		n := e.password(t, valet.ModeToken)
		wg.Go(func() {
			if _, err := e.s.LoginMFA(ctx, n.Token, MethodRecoveryCode, e.codes[5], nil, Client{}); err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d logins with one recovery code", wins)
	}
}

func TestMFAInputAttacks(t *testing.T) {
	ctx := context.Background()
	e := newMFA(t, nil)
	need := e.password(t, valet.ModeSession)
	for _, tc := range []struct {
		name, token, method, code string
		want                      error
	}{
		{"empty token", "", MethodTOTP, "123456", valet.ErrInvalidGrant},
		{"unknown token", valet.NewID(), MethodTOTP, "123456", valet.ErrInvalidGrant},
		{"token with NUL", need.Token[:10] + "\x00", MethodTOTP, "123456", valet.ErrInvalidGrant},
		{"huge token", string(make([]byte, 1<<12)), MethodTOTP, "123456", valet.ErrInvalidGrant},
		{"unknown method", need.Token, "sms", "123456", valet.ErrInvalidRequest},
		{"empty method", need.Token, "", "123456", valet.ErrInvalidRequest},
		{"letters", need.Token, MethodTOTP, "abcdef", valet.ErrInvalidCode},
		{"SQL", need.Token, MethodRecoveryCode, "' OR 1=1 --", valet.ErrInvalidCode},
		{"long code", need.Token, MethodRecoveryCode, string(make([]byte, 1<<16)), valet.ErrInvalidCode},
		{"webauthn without passkeys", need.Token, MethodWebAuthn, "", valet.ErrInvalidRequest},
	} {
		if _, err := e.s.LoginMFA(ctx, tc.token, tc.method, tc.code, nil, Client{}); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// Refusals that were not wrong codes spent no try: the attempt still
	// takes its code.
	if _, err := e.s.LoginMFA(ctx, need.Token, MethodTOTP, e.code(t, 0), nil, Client{}); err != nil {
		t.Fatalf("after the attack table: %v", err)
	}
}

func TestFactorThrottleIsItsOwn(t *testing.T) {
	ctx := context.Background()
	g := throttle.New(throttle.NewMemory(throttle.MemoryConfig{}), throttle.Policy{
		LoginAccount: []throttle.Limit{{Burst: 50, Period: time.Hour}},
		// The confirmation of the factor was right: it gives its try back.
		FactorAccount: []throttle.Limit{{Burst: 4, Period: time.Hour}},
	})
	e := newMFA(t, func(c *Config) { c.Throttle = g })
	for i := range 4 {
		need := e.password(t, valet.ModeSession)
		if _, err := e.s.LoginMFA(ctx, need.Token, MethodTOTP, "000000", nil, Client{}); !errors.Is(err, valet.ErrInvalidCode) {
			t.Fatalf("try %d: %v", i, err)
		}
	}
	need := e.password(t, valet.ModeSession)
	if _, err := e.s.LoginMFA(ctx, need.Token, MethodTOTP, e.code(t, 0), nil, Client{}); !errors.Is(err, valet.ErrRateLimited) {
		t.Fatalf("fifth factor: %v, want rate limited", err)
	}
	// The password's own limit is untouched: the password step still
	// answers (the second factor is what is locked).
	e.password(t, valet.ModeSession)

	// Right factors spend nothing: a person who signs in more often than
	// the limit never meets it.
	g = throttle.New(throttle.NewMemory(throttle.MemoryConfig{}), throttle.Policy{
		LoginAccount:  []throttle.Limit{{Burst: 50, Period: time.Hour}},
		FactorAccount: []throttle.Limit{{Burst: 2, Period: time.Hour}},
	})
	e = newMFA(t, func(c *Config) { c.Throttle = g })
	for i := range 6 {
		e.clock.Advance(30 * time.Second) // a new step: a code works once
		need := e.password(t, valet.ModeSession)
		if _, err := e.s.LoginMFA(ctx, need.Token, MethodTOTP, e.code(t, 0), nil, Client{}); err != nil {
			t.Fatalf("right factor %d of a limit of 2: %v", i+1, err)
		}
	}
}

func TestReauthWindow(t *testing.T) {
	ctx := context.Background()
	e := newMFA(t, func(c *Config) { c.ReauthWindow = 10 * time.Minute })
	need := e.password(t, valet.ModeHybrid)
	g, err := e.s.LoginMFA(ctx, need.Token, MethodTOTP, e.code(t, 0), nil, Client{})
	if err != nil {
		t.Fatal(err)
	}
	id := e.identify(t, g)
	if err := e.s.RequireRecent(ctx, id); err != nil {
		t.Fatalf("just signed in: %v", err)
	}
	e.clock.Advance(11 * time.Minute)
	id = e.identify(t, g)
	for name, err := range map[string]error{
		"require": e.s.RequireRecent(ctx, id),
		"delete":  e.s.DeleteFactor(ctx, id, e.factor, Client{}),
		"codes":   func() error { _, err := e.s.NewRecoveryCodes(ctx, id, Client{}); return err }(),
		"totp":    func() error { _, err := e.s.BeginTOTP(ctx, id, "", Client{}); return err }(),
		"password": func() error {
			_, err := e.s.ChangePassword(ctx, id, devicePW, "a much newer passphrase", Client{})
			return err
		}(),
	} {
		if !errors.Is(err, valet.ErrReauthRequired) {
			t.Errorf("%s after the window: %v", name, err)
		}
	}
	// The account has a second factor: the password alone does not do.
	if m, _ := e.s.ReauthMethods(ctx, e.u.ID); !slices.Equal(m, []string{MethodTOTP}) {
		t.Errorf("reauth methods %v", m)
	}
	if err := e.s.Reauthenticate(ctx, id, MethodPassword, devicePW, nil, Client{}); !errors.Is(err, valet.ErrInvalidRequest) {
		t.Errorf("reauth by password with a factor: %v", err)
	}
	if err := e.s.Reauthenticate(ctx, id, MethodTOTP, "000000", nil, Client{}); !errors.Is(err, valet.ErrInvalidCode) {
		t.Errorf("wrong code: %v", err)
	}
	e.clock.Advance(totpPeriod * time.Second)
	if err := e.s.Reauthenticate(ctx, id, MethodTOTP, e.code(t, 0), nil, Client{}); err != nil {
		t.Fatal(err)
	}
	if err := e.s.RequireRecent(ctx, id); err != nil {
		t.Fatalf("after reauth: %v", err)
	}
	if err := e.s.DeleteFactor(ctx, id, e.factor, Client{}); err != nil {
		t.Fatalf("delete after reauth: %v", err)
	}
	// With the last factor gone go the recovery codes, and the password
	// signs in alone.
	if fs, left, _ := e.s.Factors(ctx, e.u.ID); len(fs) != 0 || left != 0 {
		t.Errorf("after delete: %d factors, %d codes", len(fs), left)
	}
	if _, err := e.s.Login(ctx, "ada@example.com", devicePW, valet.ModeSession, Client{}); err != nil {
		t.Errorf("login without factors: %v", err)
	}
}

func TestAdminResetFactors(t *testing.T) {
	ctx := context.Background()
	e := newMFA(t, nil)
	w, err := e.s.ResetFactors(ctx, e.u.ID, Client{})
	if err != nil {
		t.Fatal(err)
	}
	if w.Sessions < 1 {
		t.Errorf("ended %d sessions", w.Sessions)
	}
	if _, err := e.s.IdentifyCookie(ctx, e.session.Cookie); err == nil {
		t.Error("the enrolling session survived the reset")
	}
	if _, err := e.s.Login(ctx, "ada@example.com", devicePW, valet.ModeSession, Client{}); err != nil {
		t.Errorf("login after reset: %v", err)
	}
	if _, err := e.s.ResetFactors(ctx, "nobody", Client{}); !errors.Is(err, valet.ErrNotFound) {
		t.Errorf("reset of no one: %v", err)
	}
}

func TestMFAPolicy(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		in   string
		want MFAPolicy
		bad  bool
	}{
		{"", MFAPolicy{}, false}, {"optional", MFAPolicy{}, false}, {"required", MFAPolicy{Required: true}, false},
		{"required-for-role=admin", MFAPolicy{Role: "admin"}, false},
		{"required-for-role=", MFAPolicy{}, true}, {"required-for-role=Ad min", MFAPolicy{}, true},
		{"REQUIRED", MFAPolicy{}, true}, {"always", MFAPolicy{}, true}, {"required\x00", MFAPolicy{}, true},
	} {
		got, err := ParseMFAPolicy(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("ParseMFAPolicy(%q) = %+v, %v", tc.in, got, err)
		}
		if err == nil && got.String() != map[string]string{"": "optional"}[tc.in]+tc.in && tc.in != "" {
			t.Errorf("String of %q = %q", tc.in, got.String())
		}
	}
	// A required factor: a user without one is told to enrol; once the
	// factor is confirmed the same session is free.
	clk := testclock.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	st := memory.New(memory.WithClock(clk.Now))
	s, err := New(ctx, Config{
		Stores: st.Stores(), Now: clk.Now, MFA: MFAPolicy{Role: "admin"},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Hasher: password.NewHasher(password.Params{Memory: 8192, Iterations: 1, Parallelism: 1}, 0, 0),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.CreateUser(ctx, "root@example.com", devicePW, []string{"admin"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, "ada@example.com", devicePW, nil); err != nil {
		t.Fatal(err)
	}
	plain, _ := s.Login(ctx, "ada@example.com", devicePW, valet.ModeSession, Client{})
	if id, _ := s.IdentifyCookie(ctx, plain.Cookie); id.MustEnrol {
		t.Error("a user without the role must enrol")
	}
	g, err := s.Login(ctx, "root@example.com", devicePW, valet.ModeToken, Client{})
	if err != nil {
		t.Fatal(err)
	}
	id, _ := s.IdentifyBearer(ctx, g.AccessToken)
	if !id.MustEnrol {
		t.Fatal("an admin without a factor need not enrol")
	}
	en, err := s.BeginTOTP(ctx, id, "", Client{})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := hotp.GenerateCodeCustom(en.Secret, uint64(totpStep(clk.Now())), totpOpts)
	if _, err := s.ConfirmTOTP(ctx, id, en.FactorID, c, Client{}); err != nil {
		t.Fatal(err)
	}
	// The token's claims are as they were until it is refreshed; the
	// refreshed one says the factor was used.
	ng, err := s.Refresh(ctx, g.RefreshToken, Client{})
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := s.IdentifyBearer(ctx, ng.AccessToken); id.MustEnrol || !valet.MultiFactor(id.AMR) {
		t.Errorf("after enrolling: must enrol %v, amr %v", id.MustEnrol, id.AMR)
	}
}

// refusingOutbox is a store whose ChangeFactorsWithMail, while refuse is
// set, fails as a database that went away does.
type refusingOutbox struct {
	*memory.Store
	refuse atomic.Bool
}

func (o *refusingOutbox) ChangeFactorsWithMail(ctx context.Context, c valet.FactorChange, msgs ...mail.OutboxMessage) (int, bool, error) {
	if o.refuse.Load() {
		return 0, false, fmt.Errorf("test: change factors: %w", valet.ErrUnavailable)
	}
	return o.Store.ChangeFactorsWithMail(ctx, c, msgs...)
}

// A change of a second factor is stored with the notice that tells of it
// or not at all: when the notice cannot be stored, the change fails and
// the factors stay as they were.
func TestFactorChangeWithoutItsMail(t *testing.T) {
	var st *memory.Store
	out := &refusingOutbox{}
	e := newMailService(t, func(cfg *Config) {
		st = cfg.Stores.Users.(*memory.Store)
		out.Store = st
		cfg.Mail.Outbox = out
	})
	ctx := context.Background()
	u, err := e.s.CreateUser(ctx, "ada@example.com", devicePW, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := login(t, e.s, valet.ModeSession, "enrolling")
	id, err := e.s.IdentifyCookie(ctx, g.Cookie)
	if err != nil {
		t.Fatal(err)
	}
	en, err := e.s.BeginTOTP(ctx, id, "Phone", Client{})
	if err != nil {
		t.Fatal(err)
	}
	code, err := hotp.GenerateCodeCustom(en.Secret, uint64(totpStep(e.s.cfg.Now())), totpOpts)
	if err != nil {
		t.Fatal(err)
	}
	// wantFactor fails the test unless the user's one factor is the app,
	// confirmed or not, and it has codes recovery codes; and no mail is
	// waiting.
	wantFactor := func(t *testing.T, confirmed bool, codes int) {
		t.Helper()
		fs, err := st.Factors(ctx, u.ID)
		if err != nil || len(fs) != 1 || fs[0].ID != en.FactorID || fs[0].Confirmed != confirmed {
			t.Fatalf("factors %+v (%v), want the app, confirmed %t", fs, err, confirmed)
		}
		if n, err := st.RecoveryCodes(ctx, u.ID); err != nil || n != codes {
			t.Errorf("%d recovery codes (%v), want %d", n, err, codes)
		}
		if n, err := st.PendingMail(ctx); err != nil || n != 0 {
			t.Errorf("%d messages pending (%v), want none", n, err)
		}
	}
	// wantNotice fails the test unless the next mail is a notice that
	// says want. It returns once the outbox has recorded the notice sent,
	// which the worker does after the inbox has it: until then it is
	// still pending, and wantFactor would count it.
	wantNotice := func(t *testing.T, want string) {
		t.Helper()
		m := e.in.next(t)
		if m.Kind != mail.KindNotice || !strings.Contains(m.Text, want) {
			t.Errorf("mail of kind %q: %q, want a notice that says %q", m.Kind, m.Text, want)
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			n, err := st.PendingMail(ctx)
			if err == nil && n == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the notice delivered, %d messages still pending after 10s (%v)", n, err)
			}
		}
	}

	out.refuse.Store(true)
	_, err = e.s.ConfirmTOTP(ctx, id, en.FactorID, code, Client{})
	wantKind(t, err, valet.ErrUnavailable)
	wantFactor(t, false, 0)
	// The step of the code was not recorded either: the code still works.
	out.refuse.Store(false)
	codes, err := e.s.ConfirmTOTP(ctx, id, en.FactorID, code, Client{})
	if err != nil {
		t.Fatalf("ConfirmTOTP with the code of the refused try: %v", err)
	}
	wantNotice(t, "A second factor was added")
	id, err = e.s.IdentifyCookie(ctx, g.Cookie)
	if err != nil {
		t.Fatal(err)
	}

	out.refuse.Store(true)
	_, err = e.s.NewRecoveryCodes(ctx, id, Client{})
	wantKind(t, err, valet.ErrUnavailable)
	wantFactor(t, true, len(codes))

	err = e.s.DeleteFactor(ctx, id, en.FactorID, Client{})
	wantKind(t, err, valet.ErrUnavailable)
	wantFactor(t, true, len(codes))

	_, err = e.s.ResetFactors(ctx, u.ID, Client{})
	wantKind(t, err, valet.ErrUnavailable)
	wantFactor(t, true, len(codes))

	need := func() string {
		_, err := e.s.Login(ctx, "ada@example.com", devicePW, valet.ModeSession, Client{})
		var mfa *MFARequiredError
		if !errors.As(err, &mfa) {
			t.Fatalf("password step: %v, want MFARequiredError", err)
		}
		return mfa.Token
	}
	_, err = e.s.LoginMFA(ctx, need(), MethodRecoveryCode, codes[0], nil, Client{})
	wantKind(t, err, valet.ErrUnavailable)
	wantFactor(t, true, len(codes))
	e.in.none(t)

	// The old recovery codes still work, and the changes go through once
	// the outbox takes their mail.
	out.refuse.Store(false)
	if _, err := e.s.LoginMFA(ctx, need(), MethodRecoveryCode, codes[0], nil, Client{}); err != nil {
		t.Fatalf("sign-in with a recovery code of before the refused changes: %v", err)
	}
	wantNotice(t, fmt.Sprintf("A recovery code was just used to sign in to your account. %d are left.", len(codes)-1))
	if _, err := e.s.NewRecoveryCodes(ctx, id, Client{}); err != nil {
		t.Fatal(err)
	}
	wantNotice(t, "New recovery codes were made")
	if err := e.s.DeleteFactor(ctx, id, en.FactorID, Client{}); err != nil {
		t.Fatal(err)
	}
	wantNotice(t, "A second factor was removed")
	if fs, err := st.Factors(ctx, u.ID); err != nil || len(fs) != 0 {
		t.Errorf("after DeleteFactor: factors %+v (%v), want none", fs, err)
	}
	if n, err := st.RecoveryCodes(ctx, u.ID); err != nil || n != 0 {
		t.Errorf("after removing the last factor: %d recovery codes (%v), want none", n, err)
	}
}
