package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/mail"
	"github.com/valetauth/valet/password"
	"github.com/valetauth/valet/store/memory"
)

// inbox is a mail.Sender that keeps what it is given.
type inbox struct {
	mu   sync.Mutex
	msgs []mail.Message
	more chan struct{}
}

func newInbox() *inbox { return &inbox{more: make(chan struct{}, 100)} }

func (b *inbox) Send(_ context.Context, m mail.Message) error {
	b.mu.Lock()
	b.msgs = append(b.msgs, m)
	b.mu.Unlock()
	b.more <- struct{}{}
	return nil
}

// next returns the next message that arrives, failing tb after 10 s.
func (b *inbox) next(tb testing.TB) mail.Message {
	tb.Helper()
	select {
	case <-b.more:
	case <-time.After(10 * time.Second):
		tb.Fatal("no mail arrived within 10s")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	m := b.msgs[0]
	b.msgs = b.msgs[1:]
	return m
}

// none fails tb when a message arrives within a moment.
func (b *inbox) none(tb testing.TB) {
	tb.Helper()
	select {
	case <-b.more:
		b.mu.Lock()
		defer b.mu.Unlock()
		tb.Fatalf("unexpected mail to %s: %s", b.msgs[0].To, b.msgs[0].Subject)
	case <-time.After(300 * time.Millisecond):
	}
}

var (
	linkRE = regexp.MustCompile(`https?://\S+\?token=\S+`)
	codeRE = regexp.MustCompile(`enter this code: (\d{8})`)
)

// secrets returns the link's path and token and the code of m.
func secrets(tb testing.TB, m mail.Message) (path, tok, code string) {
	tb.Helper()
	link := linkRE.FindString(m.Text)
	if link == "" {
		tb.Fatalf("no link in the mail:\n%s", m.Text)
	}
	u, err := url.Parse(link)
	if err != nil {
		tb.Fatal(err)
	}
	if c := codeRE.FindStringSubmatch(m.Text); c != nil {
		code = c[1]
	}
	return u.Path, u.Query().Get("token"), code
}

type mailEnv struct {
	s       *Service
	st      *memory.Store
	in      *inbox
	advance func(time.Duration)
	log     *lockedBuffer
}

// newMailService returns a service that sends its mail to an inbox, on the
// memory store, with a clock the test moves.
func newMailService(tb testing.TB, tweak func(*Config)) *mailEnv {
	tb.Helper()
	var (
		mu  sync.Mutex
		now = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	e := &mailEnv{in: newInbox(), log: &lockedBuffer{}}
	e.advance = func(d time.Duration) {
		mu.Lock()
		now = now.Add(d)
		mu.Unlock()
	}
	e.st = memory.New(memory.WithClock(clock))
	cfg := Config{
		Stores: e.st.Stores(), Now: clock, AccessTTL: 15 * time.Minute,
		Logger: slog.New(slog.NewJSONHandler(e.log, nil)),
		Hasher: password.NewHasher(password.Params{Memory: 8192, Iterations: 1, Parallelism: 1}, 0, 0),
		Mail: MailConfig{
			Sender: e.in, PublicURL: "https://auth.example.com",
			Worker: mail.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
		},
	}
	if tweak != nil {
		tweak(&cfg)
	}
	s, err := New(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	e.s = s
	if err := s.MailWorker().Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = s.MailWorker().Close()
		_ = s.Close()
	})
	return e
}

func wantKind(tb testing.TB, err, kind error) {
	tb.Helper()
	if !errors.Is(err, kind) {
		tb.Fatalf("error = %v, want %v", err, kind)
	}
}

func TestSignupVerification(t *testing.T) {
	e := newMailService(t, nil)
	ctx, c := context.Background(), Client{IP: "192.0.2.1"}
	u, err := e.s.Signup(ctx, "Ada@Example.com", devicePW, c)
	if err != nil {
		t.Fatal(err)
	}
	if u.EmailVerified {
		t.Fatal("a new account is verified")
	}
	m := e.in.next(t)
	if m.To != "ada@example.com" || m.Kind != mail.KindVerify {
		t.Fatalf("mail to %q of kind %q, want the verification of ada@example.com", m.To, m.Kind)
	}
	path, tok, code := secrets(t, m)
	if path != "/verify" || len(tok) != 43 || len(code) != 8 {
		t.Fatalf("link %s?token=%s and code %q, want /verify, a 43-character token and 8 digits", path, tok, code)
	}
	// Only hashes are stored.
	tk, found, err := e.st.Ticket(ctx, valet.HashSecret(tok), e.s.cfg.Now())
	if err != nil || !found || tk.CodeHash != valet.HashSecret(code) || strings.Contains(tk.ID+tk.CodeHash, tok) {
		t.Fatalf("stored ticket %+v (found %t, %v): want the hashes of the token and the code", tk, found, err)
	}

	got, err := e.s.CompleteVerification(ctx, tok, "", "", c)
	if err != nil {
		t.Fatal(err)
	}
	if !got.EmailVerified || got.EmailVerifiedAt.IsZero() {
		t.Errorf("after verification: verified %t at %v", got.EmailVerified, got.EmailVerifiedAt)
	}
	_, err = e.s.CompleteVerification(ctx, tok, "", "", c)
	wantKind(t, err, valet.ErrInvalidCode)
	_, err = e.s.CompleteVerification(ctx, "", "ada@example.com", code, c)
	wantKind(t, err, valet.ErrInvalidCode)
	wantKind(t, e.s.RequestVerification(ctx, &valet.Identity{User: u}, c), valet.ErrInvalidRequest)

	// A token login carries the claim, and identifies as verified.
	g, err := e.s.Login(ctx, "ada@example.com", devicePW, valet.ModeToken, c)
	if err != nil {
		t.Fatal(err)
	}
	id, err := e.s.IdentifyBearer(ctx, g.AccessToken)
	if err != nil || !id.User.EmailVerified {
		t.Errorf("identity of a token login: %+v, %v; want email verified", id, err)
	}
}

// failingSignup is a store whose CreateUserWithTicket fails as a database
// that went away does.
type failingSignup struct{ *memory.Store }

func (failingSignup) CreateUserWithTicket(context.Context, valet.User, valet.Ticket, ...mail.OutboxMessage) error {
	return fmt.Errorf("test: create user: %w", valet.ErrUnavailable)
}

// A new account is stored with its verification mail or not at all: when
// the mail cannot be stored, signing up fails and leaves no account behind
// that would wait for a mail that never comes.
func TestSignupWithoutItsMail(t *testing.T) {
	var st *memory.Store
	e := newMailService(t, func(cfg *Config) {
		st = cfg.Stores.Users.(*memory.Store)
		cfg.Mail.Outbox = failingSignup{st}
	})
	ctx, c := context.Background(), Client{IP: "192.0.2.1"}
	if _, err := e.s.CreateUser(ctx, "bob@example.com", devicePW, nil); err != nil {
		t.Fatalf("CreateUser, which sends no mail: %v", err)
	}
	_, err := e.s.Signup(ctx, "ada@example.com", devicePW, c)
	wantKind(t, err, valet.ErrUnavailable)
	if _, err := st.UserByEmail(ctx, "ada@example.com"); !errors.Is(err, valet.ErrNotFound) {
		t.Fatalf("after a failed signup, UserByEmail: %v, want no account", err)
	}
	if n, err := st.PendingMail(ctx); err != nil || n != 0 {
		t.Fatalf("after a failed signup: %d messages pending (%v), want none", n, err)
	}
}

func TestVerificationCodes(t *testing.T) {
	e := newMailService(t, nil)
	ctx, c := context.Background(), Client{IP: "192.0.2.1"}
	u, err := e.s.Signup(ctx, "ada@example.com", devicePW, c)
	if err != nil {
		t.Fatal(err)
	}
	_, firstTok, _ := secrets(t, e.in.next(t))
	id := &valet.Identity{User: u}
	if err := e.s.RequestVerification(ctx, id, c); err != nil {
		t.Fatal(err)
	}
	_, _, code := secrets(t, e.in.next(t))
	_, err = e.s.CompleteVerification(ctx, firstTok, "", "", c)
	wantKind(t, err, valet.ErrInvalidCode) // replaced by the new request

	wrong := "00000000"
	if wrong == code {
		wrong = "11111111"
	}
	for range mail.MaxTicketAttempts - 1 {
		_, err := e.s.CompleteVerification(ctx, "", "ada@example.com", wrong, c)
		wantKind(t, err, valet.ErrInvalidCode)
	}
	// The fifth try may still be the right one; spaces and dashes are
	// forgiven.
	if _, err := e.s.CompleteVerification(ctx, "", " ADA@example.com", code[:4]+"-"+code[4:], c); err != nil {
		t.Fatalf("the right code on the fifth try: %v", err)
	}

	// Five wrong codes kill a ticket, its link and its right code with it.
	if _, err := e.s.CreateUser(ctx, "bob@example.com", devicePW, nil); err != nil {
		t.Fatal(err)
	}
	bob, _ := e.s.UserByEmail(ctx, "bob@example.com")
	if err := e.s.RequestVerification(ctx, &valet.Identity{User: bob}, c); err != nil {
		t.Fatal(err)
	}
	_, tok, code := secrets(t, e.in.next(t))
	wrong = "00000000"
	if wrong == code {
		wrong = "11111111"
	}
	for range mail.MaxTicketAttempts {
		_, err := e.s.CompleteVerification(ctx, "", "bob@example.com", wrong, c)
		wantKind(t, err, valet.ErrInvalidCode)
	}
	_, err = e.s.CompleteVerification(ctx, "", "bob@example.com", code, c)
	wantKind(t, err, valet.ErrInvalidCode)
	_, err = e.s.CompleteVerification(ctx, tok, "", "", c)
	wantKind(t, err, valet.ErrInvalidCode)
	if got, _ := e.s.User(ctx, bob.ID); got.EmailVerified {
		t.Error("a dead ticket verified the address")
	}
	if !strings.Contains(e.log.String(), `"event":"code.dead"`) {
		t.Error("no audit event for the dead ticket")
	}
}

func TestCodeInputAttacks(t *testing.T) {
	e := newMailService(t, nil)
	ctx, c := context.Background(), Client{IP: "192.0.2.1"}
	if _, err := e.s.Signup(ctx, "ada@example.com", devicePW, c); err != nil {
		t.Fatal(err)
	}
	_, tok, code := secrets(t, e.in.next(t))
	if err := e.s.RequestRecovery(ctx, "ada@example.com", c); err != nil {
		t.Fatal(err)
	}
	_, recTok, recCode := secrets(t, e.in.next(t))
	tests := []struct {
		name             string
		tok, email, code string
		kind             error
	}{
		{"tampered token", flipLastChar(tok), "", "", valet.ErrInvalidCode},
		{"truncated token", tok[:20], "", "", valet.ErrInvalidCode},
		{"token of another purpose", recTok, "", "", valet.ErrInvalidCode},
		{"code of another purpose", "", "ada@example.com", recCode, valet.ErrInvalidCode},
		{"code for another address", "", "bob@example.com", code, valet.ErrInvalidCode},
		{"token with NUL", tok + "\x00", "", "", valet.ErrInvalidCode},
		{"overlong token", strings.Repeat("A", 10000), "", "", valet.ErrInvalidCode},
		{"token and code", tok, "ada@example.com", code, valet.ErrInvalidRequest},
		{"nothing", "", "", "", valet.ErrInvalidRequest},
		{"email without code", "", "ada@example.com", "", valet.ErrInvalidRequest},
		{"malformed email", "", "ada@", code, valet.ErrInvalidEmail},
		{"short code", "", "ada@example.com", code[:7], valet.ErrInvalidCode},
		{"letters", "", "ada@example.com", "abcdefgh", valet.ErrInvalidCode},
		{"unicode digits", "", "ada@example.com", "١٢٣٤٥٦٧٨", valet.ErrInvalidCode},
		{"overlong code", "", "ada@example.com", strings.Repeat("1", 100), valet.ErrInvalidCode},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.s.CompleteVerification(ctx, tc.tok, tc.email, tc.code, c)
			wantKind(t, err, tc.kind)
		})
	}
	// None of that used or killed the real ticket.
	if _, err := e.s.CompleteVerification(ctx, tok, "", "", c); err != nil {
		t.Errorf("the real token after the attacks: %v", err)
	}
}

func TestRecovery(t *testing.T) {
	e := newMailService(t, nil)
	ctx, c := context.Background(), Client{IP: "192.0.2.1"}
	u, err := e.s.CreateUser(ctx, "ada@example.com", devicePW, nil)
	if err != nil {
		t.Fatal(err)
	}
	var grants []*Grant
	for _, mode := range []valet.Mode{valet.ModeSession, valet.ModeToken, valet.ModeHybrid} {
		grants = append(grants, login(t, e.s, mode, "ua"))
	}

	// An unknown address and a disabled account get the same answer, and
	// no mail.
	if err := e.s.RequestRecovery(ctx, "nobody@example.com", c); err != nil {
		t.Fatal(err)
	}
	wantKind(t, e.s.RequestRecovery(ctx, "not an email", c), valet.ErrInvalidEmail)
	e.in.none(t)

	if err := e.s.RequestRecovery(ctx, "ada@example.com", c); err != nil {
		t.Fatal(err)
	}
	m := e.in.next(t)
	path, tok, code := secrets(t, m)
	if m.Kind != mail.KindRecovery || path != "/recovery" || code == "" {
		t.Fatalf("recovery mail of kind %q with link %s and code %q", m.Kind, path, code)
	}
	// A weak password is refused and leaves the ticket.
	_, _, err = e.s.CompleteRecovery(ctx, tok, "", "", "password", c)
	wantKind(t, err, valet.ErrWeakPassword)

	const next = "a brand new passphrase"
	got, _, err := e.s.CompleteRecovery(ctx, "", "ada@example.com", code, next, c)
	if err != nil {
		t.Fatal(err)
	}
	if !got.EmailVerified {
		t.Error("recovery did not mark the address verified")
	}
	for _, g := range grants {
		if works, refreshes := alive(t, e.s, g); (works && g.Mode != valet.ModeToken) || refreshes {
			t.Errorf("a %s device survived the recovery: works %t, refreshes %t", g.Mode, works, refreshes)
		}
	}
	if _, err := e.s.Login(ctx, "ada@example.com", devicePW, "", c); !errors.Is(err, valet.ErrInvalidCredentials) {
		t.Errorf("the old password: %v", err)
	}
	if _, err := e.s.Login(ctx, "ada@example.com", next, "", c); err != nil {
		t.Errorf("the new password: %v", err)
	}
	if n := e.in.next(t); n.Kind != mail.KindNotice || n.To != u.Email || !strings.Contains(n.Text, "set anew") {
		t.Errorf("after recovery: mail of kind %q to %q:\n%s", n.Kind, n.To, n.Text)
	}
	_, _, err = e.s.CompleteRecovery(ctx, tok, "", "", "another new passphrase", c)
	wantKind(t, err, valet.ErrInvalidCode)

	// Expiry: 15 minutes by default.
	if err := e.s.RequestRecovery(ctx, "ada@example.com", c); err != nil {
		t.Fatal(err)
	}
	_, tok, _ = secrets(t, e.in.next(t))
	e.advance(15*time.Minute + time.Second)
	_, _, err = e.s.CompleteRecovery(ctx, tok, "", "", "another new passphrase", c)
	wantKind(t, err, valet.ErrInvalidCode)

	// A disabled account gets no mail.
	disabled := true
	if _, _, err := e.s.UpdateUser(ctx, u.ID, UserPatch{Disabled: &disabled}, c); err != nil {
		t.Fatal(err)
	}
	if err := e.s.RequestRecovery(ctx, "ada@example.com", c); err != nil {
		t.Fatal(err)
	}
	e.in.none(t)
}

func TestEmailChange(t *testing.T) {
	e := newMailService(t, nil)
	ctx, c := context.Background(), Client{IP: "192.0.2.1"}
	u, err := e.s.CreateUser(ctx, "ada@example.com", devicePW, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.CreateUser(ctx, "bob@example.com", devicePW, nil); err != nil {
		t.Fatal(err)
	}
	id := &valet.Identity{User: u}
	wantKind(t, e.s.RequestEmailChange(ctx, id, "new@example.com", "wrong password", c), valet.ErrInvalidCredentials)
	wantKind(t, e.s.RequestEmailChange(ctx, id, "bob@example.com", devicePW, c), valet.ErrConflict)
	wantKind(t, e.s.RequestEmailChange(ctx, id, "ada@example.com", devicePW, c), valet.ErrInvalidRequest)
	wantKind(t, e.s.RequestEmailChange(ctx, id, "new@", devicePW, c), valet.ErrInvalidEmail)
	e.in.none(t)

	if err := e.s.RequestEmailChange(ctx, id, "New@Example.com", devicePW, c); err != nil {
		t.Fatal(err)
	}
	notice, verify := e.in.next(t), e.in.next(t)
	if notice.To != "ada@example.com" || notice.Kind != mail.KindNotice || !strings.Contains(notice.Text, "new@example.com") {
		t.Fatalf("the old address got %q of kind %q:\n%s", notice.Subject, notice.Kind, notice.Text)
	}
	if verify.To != "new@example.com" || verify.Kind != mail.KindVerify {
		t.Fatalf("the new address got %q of kind %q", verify.Subject, verify.Kind)
	}
	reportPath, report, reportCode := secrets(t, notice)
	if reportPath != "/recovery" || reportCode != "" {
		t.Errorf("the report link is %s with code %q, want /recovery and no code", reportPath, reportCode)
	}
	if got, _ := e.s.User(ctx, u.ID); got.Email != "ada@example.com" {
		t.Fatal("the email changed before the new address was verified")
	}
	_, _, code := secrets(t, verify)
	got, err := e.s.CompleteVerification(ctx, "", "new@example.com", code, c)
	if err != nil {
		t.Fatal(err)
	}
	if got.Email != "new@example.com" || !got.EmailVerified {
		t.Fatalf("after the change: %q verified %t", got.Email, got.EmailVerified)
	}
	// The old address is told that the change has happened.
	if n := e.in.next(t); n.To != "ada@example.com" || !strings.Contains(n.Text, "is now new@example.com, no longer ada@example.com") {
		t.Errorf("after the change: mail to %q:\n%s", n.To, n.Text)
	}

	// The owner of the old address did not ask: the report link takes the
	// account back.
	g, err := e.s.Login(ctx, "new@example.com", devicePW, valet.ModeSession, Client{UserAgent: "intruder"})
	if err != nil {
		t.Fatal(err)
	}
	const next = "my account again, thanks"
	got, _, err = e.s.CompleteRecovery(ctx, report, "", "", next, c)
	if err != nil {
		t.Fatal(err)
	}
	if got.Email != "ada@example.com" || !got.EmailVerified {
		t.Errorf("after the report: %q verified %t", got.Email, got.EmailVerified)
	}
	if works, _ := alive(t, e.s, g); works {
		t.Error("the intruder's session survived the report")
	}
	if _, err := e.s.Login(ctx, "ada@example.com", next, "", c); err != nil {
		t.Errorf("sign-in with the password the report set: %v", err)
	}
	if n := e.in.next(t); n.To != "ada@example.com" || !strings.Contains(n.Text, "keeps this email address") {
		t.Errorf("after the report: mail to %q:\n%s", n.To, n.Text)
	}
}

func TestRequireVerifiedEmail(t *testing.T) {
	e := newMailService(t, func(c *Config) { c.RequireVerifiedEmail = true })
	ctx, c := context.Background(), Client{IP: "192.0.2.1"}
	if _, err := e.s.Signup(ctx, "ada@example.com", devicePW, c); err != nil {
		t.Fatal(err)
	}
	first := e.in.next(t)
	_, err := e.s.Login(ctx, "ada@example.com", devicePW, "", c)
	wantKind(t, err, valet.ErrEmailUnverified)
	// A wrong password still says only that.
	_, err = e.s.Login(ctx, "ada@example.com", "wrong password", "", c)
	wantKind(t, err, valet.ErrInvalidCredentials)

	// The page's resend: a new link for an unverified account, nothing for
	// any other address, the same answer for both.
	if err := e.s.ResendVerification(ctx, "nobody@example.com", c); err != nil {
		t.Fatal(err)
	}
	e.in.none(t)
	if err := e.s.ResendVerification(ctx, "ada@example.com", c); err != nil {
		t.Fatal(err)
	}
	_, tok, _ := secrets(t, e.in.next(t))
	_, oldTok, _ := secrets(t, first)
	_, err = e.s.CompleteVerification(ctx, oldTok, "", "", c)
	wantKind(t, err, valet.ErrInvalidCode)
	if _, err := e.s.CompleteVerification(ctx, tok, "", "", c); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Login(ctx, "ada@example.com", devicePW, "", c); err != nil {
		t.Errorf("sign-in once verified: %v", err)
	}
	if err := e.s.ResendVerification(ctx, "ada@example.com", c); err != nil {
		t.Fatal(err)
	}
	e.in.none(t)
}

func TestNoMail(t *testing.T) {
	s, u, _ := newDevices(t)
	ctx := context.Background()
	if s.MailWorker() != nil || s.Settings().Mail {
		t.Fatal("a service without a Sender has a mail worker")
	}
	for name, err := range map[string]error{
		"verification": s.RequestVerification(ctx, &valet.Identity{User: u}, Client{}),
		"recovery":     s.RequestRecovery(ctx, u.Email, Client{}),
		"email change": s.RequestEmailChange(ctx, &valet.Identity{User: u}, "new@example.com", devicePW, Client{}),
	} {
		if !errors.Is(err, valet.ErrInvalidRequest) {
			t.Errorf("%s without mail: %v, want invalid request", name, err)
		}
	}
	if _, err := s.Signup(ctx, "bob@example.com", devicePW, Client{}); err != nil {
		t.Errorf("signup without mail: %v", err)
	}
}
