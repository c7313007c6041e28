package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/mail"
)

// changeStores is a ticket store with the factor store and the user store
// it shares a database with: ChangeFactorsWithMail changes the factors of
// the users and the outbox at once.
type changeStores struct {
	mail.TicketStore
	factors valet.FactorStore
	users   valet.UserStore
}

// changesOf returns st's Users as a mail.TicketStore with st's Factors, if
// it is one and there are factors.
func changesOf(st valet.Stores) (changeStores, bool) {
	ts, ok := st.Users.(mail.TicketStore)
	return changeStores{TicketStore: ts, factors: st.Factors, users: st.Users}, ok && st.Factors != nil
}

// changeFixture is what each case of testFactorChange starts from: a user
// with an authenticator app waiting for its first code, a confirmed one, a
// passkey and three recovery codes; another user with a passkey and two
// codes; and one message in the outbox.
type changeFixture struct {
	n                 time.Time
	user, other       valet.User
	waiting, app, key valet.Factor
	otherKey          valet.Factor
	codes, otherCodes []string
	sent              mail.OutboxMessage
}

func (fx *changeFixture) factors() []valet.Factor {
	return []valet.Factor{fx.waiting, fx.app, fx.key}
}

func newChangeFixture(t *testing.T, cs changeStores) *changeFixture {
	t.Helper()
	ctx := testContext(t)
	n := now()
	fx := &changeFixture{
		n:     n,
		user:  newUser(t, "ada@example.test", n.Add(-4*time.Hour)),
		other: newUser(t, "bob@example.test", n.Add(-4*time.Hour)),
	}
	noErr(t, "CreateUser", cs.users.CreateUser(ctx, fx.user))
	noErr(t, "CreateUser", cs.users.CreateUser(ctx, fx.other))
	fx.waiting = newFactor(t, fx.user.ID, valet.FactorTOTP, n.Add(-3*time.Hour))
	fx.app = newFactor(t, fx.user.ID, valet.FactorTOTP, n.Add(-2*time.Hour))
	fx.app.Confirmed, fx.app.LastStep, fx.app.LastUsedAt = true, 59_000_100, n.Add(-time.Minute)
	fx.key = newFactor(t, fx.user.ID, valet.FactorWebAuthn, n.Add(-time.Hour))
	fx.otherKey = newFactor(t, fx.other.ID, valet.FactorWebAuthn, n.Add(-time.Hour))
	for _, f := range []valet.Factor{fx.waiting, fx.app, fx.key, fx.otherKey} {
		noErr(t, "CreateFactor", cs.factors.CreateFactor(ctx, f))
	}
	fx.codes, fx.otherCodes = newHashes(3), newHashes(2)
	noErr(t, "SetRecoveryCodes", cs.factors.SetRecoveryCodes(ctx, fx.user.ID, fx.codes))
	noErr(t, "SetRecoveryCodes", cs.factors.SetRecoveryCodes(ctx, fx.other.ID, fx.otherCodes))
	fx.sent = newMail(t, n)
	noErr(t, "EnqueueMail", cs.EnqueueMail(ctx, fx.sent))
	return fx
}

// wantRecoveryCodes fails tb unless the recovery codes of userID are want,
// among those of all: it uses them up to find out.
func wantRecoveryCodes(tb testing.TB, fs valet.FactorStore, userID string, want, all []string) {
	tb.Helper()
	wantCodes(tb, fs, userID, len(want))
	want = slices.Clone(want)
	for _, h := range slices.Concat(want, all) {
		ok, err := fs.UseRecoveryCode(testContext(tb), userID, h)
		noErr(tb, "UseRecoveryCode", err)
		// A code of want is used up by its first try.
		if in := slices.Contains(want, h); ok != in {
			tb.Errorf("UseRecoveryCode(%.8s…) = %t, want %t", h, ok, in)
		}
		want = slices.DeleteFunc(want, func(w string) bool { return w == h })
	}
}

// testFactorChange checks ChangeFactorsWithMail of mail.TicketStore on a
// Users member that implements it, with the Factors member: each part of
// a valet.FactorChange alone and with others, made in field order with its
// mail; a condition that fails, or an error, changing nothing and
// enqueueing no mail; and a recovery code or a TOTP step used by one of
// the callers at once, whose mail alone is enqueued.
func testFactorChange(t *testing.T, newStores func(testing.TB) valet.Stores) {
	run := member(t, newStores, changesOf)

	// A case makes change, with msgs (by default one new message), and
	// wants ok, n and an error wrapping err. After it the user has the
	// factors and recovery codes that want returns, or, when the change
	// is refused, those it had.
	type changeCase struct {
		name   string
		change func(fx *changeFixture) valet.FactorChange
		msgs   func(fx *changeFixture, fresh mail.OutboxMessage) []mail.OutboxMessage
		ok     bool
		n      int
		err    error
		want   func(fx *changeFixture, c valet.FactorChange) ([]valet.Factor, []string)
	}
	newCodes := newHashes(4)
	// unchanged is what the user has after a refused change.
	unchanged := func(fx *changeFixture, _ valet.FactorChange) ([]valet.Factor, []string) {
		return fx.factors(), fx.codes
	}
	created := func(fx *changeFixture) *valet.Factor {
		f := newFactor(t, fx.user.ID, valet.FactorWebAuthn, fx.n)
		return &f
	}
	stepped := func(fx *changeFixture, c valet.FactorChange) valet.Factor {
		f := fx.waiting
		f.Confirmed, f.LastStep, f.LastUsedAt = true, c.Step.Step, c.Step.At
		return f
	}
	tests := []changeCase{
		// Each part alone, and with the recovery codes that go with it.
		{
			name: "Create",
			change: func(fx *changeFixture) valet.FactorChange {
				return valet.FactorChange{UserID: fx.user.ID, Create: created(fx)}
			},
			ok: true,
			want: func(fx *changeFixture, c valet.FactorChange) ([]valet.Factor, []string) {
				return append(fx.factors(), *c.Create), fx.codes
			},
		},
		{
			name: "Create with recovery codes",
			change: func(fx *changeFixture) valet.FactorChange {
				return valet.FactorChange{UserID: fx.user.ID, Create: created(fx), SetRecoveryCodes: true, RecoveryCodes: newCodes}
			},
			ok: true,
			want: func(fx *changeFixture, c valet.FactorChange) ([]valet.Factor, []string) {
				return append(fx.factors(), *c.Create), newCodes
			},
		},
		{
			name: "Step",
			change: func(fx *changeFixture) valet.FactorChange {
				return valet.FactorChange{UserID: fx.user.ID, Step: &valet.FactorStep{ID: fx.waiting.ID, Step: 59_000_200, At: fx.n}}
			},
			ok: true,
			want: func(fx *changeFixture, c valet.FactorChange) ([]valet.Factor, []string) {
				return []valet.Factor{stepped(fx, c), fx.app, fx.key}, fx.codes
			},
		},
		{
			name: "Step with recovery codes",
			change: func(fx *changeFixture) valet.FactorChange {
				return valet.FactorChange{UserID: fx.user.ID, Step: &valet.FactorStep{ID: fx.waiting.ID, Step: 59_000_200, At: fx.n},
					SetRecoveryCodes: true, RecoveryCodes: newCodes}
			},
			ok: true,
			want: func(fx *changeFixture, c valet.FactorChange) ([]valet.Factor, []string) {
				return []valet.Factor{stepped(fx, c), fx.app, fx.key}, newCodes
			},
		},
		{
			name: "Step of a used factor",
			change: func(fx *changeFixture) valet.FactorChange {
				return valet.FactorChange{UserID: fx.user.ID, Step: &valet.FactorStep{ID: fx.app.ID, Step: fx.app.LastStep + 1, At: fx.n}}
			},
			ok: true,
			want: func(fx *changeFixture, c valet.FactorChange) ([]valet.Factor, []string) {
				app := fx.app
				app.LastStep, app.LastUsedAt = c.Step.Step, c.Step.At
				return []valet.Factor{fx.waiting, app, fx.key}, fx.codes
			},
		},
		{
			name: "Delete",
			change: func(fx *changeFixture) valet.FactorChange {
				return valet.FactorChange{UserID: fx.user.ID, Delete: fx.key.ID}
			},
			ok: true,
			want: func(fx *changeFixture, c valet.FactorChange) ([]valet.Factor, []string) {
				return []valet.Factor{fx.waiting, fx.app}, fx.codes
			},
		},
		{
			name: "Delete with no recovery codes left",
			change: func(fx *changeFixture) valet.FactorChange {
				return valet.FactorChange{UserID: fx.user.ID, Delete: fx.app.ID, SetRecoveryCodes: true}
			},
			ok: true,
			want: func(fx *changeFixture, c valet.FactorChange) ([]valet.Factor, []string) {
				return []valet.Factor{fx.waiting, fx.key}, nil
			},
		},
		{
			name: "DeleteAll",
			change: func(fx *changeFixture) valet.FactorChange {
				return valet.FactorChange{UserID: fx.user.ID, DeleteAll: true}
			},
			ok: true,
			n:  3,
			want: func(fx *changeFixture, c valet.FactorChange) ([]valet.Factor, []string) {
				return nil, nil
			},
		},
		{
			// SetRecoveryCodes comes after DeleteAll: the new codes stay.
			name: "DeleteAll then new recovery codes",
			change: func(fx *changeFixture) valet.FactorChange {
				return valet.FactorChange{UserID: fx.user.ID, DeleteAll: true, SetRecoveryCodes: true, RecoveryCodes: newCodes}
			},
			ok: true,
			n:  3,
			want: func(fx *changeFixture, c valet.FactorChange) ([]valet.Factor, []string) {
				return nil, newCodes
			},
		},
		{
			name: "UseRecoveryCode",
			change: func(fx *changeFixture) valet.FactorChange {
				return valet.FactorChange{UserID: fx.user.ID, UseRecoveryCode: fx.codes[1]}
			},
			ok: true,
			want: func(fx *changeFixture, c valet.FactorChange) ([]valet.Factor, []string) {
				return fx.factors(), []string{fx.codes[0], fx.codes[2]}
			},
		},
		{
			name: "SetRecoveryCodes",
			change: func(fx *changeFixture) valet.FactorChange {
				return valet.FactorChange{UserID: fx.user.ID, SetRecoveryCodes: true, RecoveryCodes: newCodes}
			},
			ok: true,
			want: func(fx *changeFixture, c valet.FactorChange) ([]valet.Factor, []string) {
				return fx.factors(), newCodes
			},
		},
		{
			name: "SetRecoveryCodes to none",
			change: func(fx *changeFixture) valet.FactorChange {
				return valet.FactorChange{UserID: fx.user.ID, SetRecoveryCodes: true, RecoveryCodes: []string{}}
			},
			ok: true,
			want: func(fx *changeFixture, c valet.FactorChange) ([]valet.Factor, []string) {
				return fx.factors(), nil
			},
		},
		{
			name: "without mail",
			change: func(fx *changeFixture) valet.FactorChange {
				return valet.FactorChange{UserID: fx.user.ID, Delete: fx.key.ID}
			},
			msgs: func(*changeFixture, mail.OutboxMessage) []mail.OutboxMessage { return nil },
			ok:   true,
			want: func(fx *changeFixture, c valet.FactorChange) ([]valet.Factor, []string) {
				return []valet.Factor{fx.waiting, fx.app}, fx.codes
			},
		},
		{
			name:   "mail alone",
			change: func(fx *changeFixture) valet.FactorChange { return valet.FactorChange{UserID: fx.user.ID} },
			ok:     true,
			want:   unchanged,
		},

		// Conditions that do not hold: nothing changes, no mail.
		{
			name: "Step replayed",
			change: func(fx *changeFixture) valet.FactorChange {
				return valet.FactorChange{UserID: fx.user.ID, Step: &valet.FactorStep{ID: fx.app.ID, Step: fx.app.LastStep, At: fx.n},
					SetRecoveryCodes: true, RecoveryCodes: newCodes}
			},
			want: unchanged,
		},
		{
			name: "Step earlier than the last",
			change: func(fx *changeFixture) valet.FactorChange {
				return valet.FactorChange{UserID: fx.user.ID, Step: &valet.FactorStep{ID: fx.app.ID, Step: fx.app.LastStep - 1, At: fx.n}}
			},
			want: unchanged,
		},
		{
			name: "Step of an unknown factor",
			change: func(fx *changeFixture) valet.FactorChange {
				return valet.FactorChange{UserID: fx.user.ID, Step: &valet.FactorStep{ID: valet.NewID(), Step: 59_000_200, At: fx.n},
					SetRecoveryCodes: true, RecoveryCodes: newCodes}
			},
			want: unchanged,
		},
		{
			name: "Step of another user's factor",
			change: func(fx *changeFixture) valet.FactorChange {
				return valet.FactorChange{UserID: fx.user.ID, Step: &valet.FactorStep{ID: fx.otherKey.ID, Step: 59_000_200, At: fx.n}}
			},
			want: unchanged,
		},
		{
			// The factor made first is undone with the rest.
			name: "Create then Step replayed",
			change: func(fx *changeFixture) valet.FactorChange {
				return valet.FactorChange{UserID: fx.user.ID, Create: created(fx),
					Step: &valet.FactorStep{ID: fx.app.ID, Step: fx.app.LastStep, At: fx.n}}
			},
			want: unchanged,
		},
		{
			name: "Delete of an unknown factor",
			change: func(fx *changeFixture) valet.FactorChange {
				return valet.FactorChange{UserID: fx.user.ID, Delete: valet.NewID(), SetRecoveryCodes: true}
			},
			want: unchanged,
		},
		{
			name: "Delete of another user's factor",
			change: func(fx *changeFixture) valet.FactorChange {
				return valet.FactorChange{UserID: fx.user.ID, Delete: fx.otherKey.ID, SetRecoveryCodes: true}
			},
			want: unchanged,
		},
		{
			name: "Step then Delete of an unknown factor",
			change: func(fx *changeFixture) valet.FactorChange {
				return valet.FactorChange{UserID: fx.user.ID, Step: &valet.FactorStep{ID: fx.waiting.ID, Step: 59_000_200, At: fx.n},
					Delete: valet.NewID()}
			},
			want: unchanged,
		},
		{
			name: "UseRecoveryCode unknown",
			change: func(fx *changeFixture) valet.FactorChange {
				return valet.FactorChange{UserID: fx.user.ID, UseRecoveryCode: valet.HashSecret(valet.NewID())}
			},
			want: unchanged,
		},
		{
			name: "UseRecoveryCode of another user",
			change: func(fx *changeFixture) valet.FactorChange {
				return valet.FactorChange{UserID: fx.user.ID, UseRecoveryCode: fx.otherCodes[0]}
			},
			want: unchanged,
		},
		{
			// UseRecoveryCode comes after DeleteAll, which took the code:
			// the factors deleted are back.
			name: "DeleteAll then UseRecoveryCode",
			change: func(fx *changeFixture) valet.FactorChange {
				return valet.FactorChange{UserID: fx.user.ID, DeleteAll: true, UseRecoveryCode: fx.codes[0]}
			},
			want: unchanged,
		},

		// Errors: nothing changes, no mail.
		{
			name: "Create for an unknown user",
			change: func(fx *changeFixture) valet.FactorChange {
				f := newFactor(t, valet.NewID(), valet.FactorWebAuthn, fx.n)
				return valet.FactorChange{UserID: f.UserID, Create: &f}
			},
			err:  valet.ErrNotFound,
			want: unchanged,
		},
		{
			name: "SetRecoveryCodes for an unknown user",
			change: func(fx *changeFixture) valet.FactorChange {
				return valet.FactorChange{UserID: valet.NewID(), SetRecoveryCodes: true, RecoveryCodes: newCodes}
			},
			err:  valet.ErrNotFound,
			want: unchanged,
		},
		{
			name: "Create with a taken credential id",
			change: func(fx *changeFixture) valet.FactorChange {
				f := created(fx)
				f.CredentialID = fx.key.CredentialID
				return valet.FactorChange{UserID: fx.user.ID, Create: f, SetRecoveryCodes: true, RecoveryCodes: newCodes}
			},
			err:  valet.ErrConflict,
			want: unchanged,
		},
		{
			name: "Create with another user's credential id",
			change: func(fx *changeFixture) valet.FactorChange {
				f := created(fx)
				f.CredentialID = fx.otherKey.CredentialID
				return valet.FactorChange{UserID: fx.user.ID, Create: f, SetRecoveryCodes: true, RecoveryCodes: newCodes}
			},
			err:  valet.ErrConflict,
			want: unchanged,
		},
		{
			name: "Create with a taken id",
			change: func(fx *changeFixture) valet.FactorChange {
				f := created(fx)
				f.ID = fx.otherKey.ID
				return valet.FactorChange{UserID: fx.user.ID, Create: f}
			},
			err:  valet.ErrConflict,
			want: unchanged,
		},
		{
			name: "Create of another user's factor",
			change: func(fx *changeFixture) valet.FactorChange {
				f := newFactor(t, fx.other.ID, valet.FactorWebAuthn, fx.n)
				return valet.FactorChange{UserID: fx.user.ID, Create: &f}
			},
			err:  valet.ErrInvalidRequest,
			want: unchanged,
		},
		{
			name: "Step with a taken message id",
			change: func(fx *changeFixture) valet.FactorChange {
				return valet.FactorChange{UserID: fx.user.ID, Step: &valet.FactorStep{ID: fx.waiting.ID, Step: 59_000_200, At: fx.n},
					SetRecoveryCodes: true, RecoveryCodes: newCodes}
			},
			msgs: func(fx *changeFixture, _ mail.OutboxMessage) []mail.OutboxMessage {
				return []mail.OutboxMessage{newMailWithID(t, fx.sent.ID, fx.n)}
			},
			err:  valet.ErrConflict,
			want: unchanged,
		},
		{
			name: "DeleteAll with a message id given twice",
			change: func(fx *changeFixture) valet.FactorChange {
				return valet.FactorChange{UserID: fx.user.ID, DeleteAll: true}
			},
			msgs: func(fx *changeFixture, fresh mail.OutboxMessage) []mail.OutboxMessage {
				return []mail.OutboxMessage{fresh, newMailWithID(t, fresh.ID, fx.n)}
			},
			err:  valet.ErrConflict,
			want: unchanged,
		},
	}
	for _, tc := range tests {
		run(tc.name, func(t *testing.T, cs changeStores) {
			ctx := testContext(t)
			fx := newChangeFixture(t, cs)
			c := tc.change(fx)
			fresh := newMail(t, fx.n)
			msgs := []mail.OutboxMessage{fresh}
			if tc.msgs != nil {
				msgs = tc.msgs(fx, fresh)
			}
			n, ok, err := cs.ChangeFactorsWithMail(ctx, c, msgs...)
			if tc.err != nil {
				wantErr(t, "ChangeFactorsWithMail", err, tc.err)
			} else {
				noErr(t, "ChangeFactorsWithMail", err)
			}
			if ok != tc.ok || n != tc.n {
				t.Errorf("ChangeFactorsWithMail = %d, %t; want %d, %t", n, ok, tc.n, tc.ok)
			}
			done := err == nil && ok

			// The mail is there once if the change is made, else not at
			// all, and the message before it is as it was.
			wantMail(t, cs, pending(fx.sent))
			if done {
				for _, m := range msgs {
					wantMail(t, cs, pending(m))
				}
				wantPending(t, cs, 1+len(msgs))
			} else {
				for _, m := range msgs {
					if m.ID == fx.sent.ID {
						continue
					}
					_, err := cs.MailByID(ctx, m.ID)
					wantErr(t, "MailByID of a refused change's mail", err, valet.ErrNotFound)
				}
				wantPending(t, cs, 1)
			}

			factors, codes := tc.want(fx, c)
			if !done {
				factors, codes = unchanged(fx, c)
			}
			wantFactors(t, cs.factors, fx.user.ID, factors)
			wantFactors(t, cs.factors, fx.other.ID, []valet.Factor{fx.otherKey})
			if c.UserID != fx.user.ID && c.UserID != fx.other.ID {
				wantFactors(t, cs.factors, c.UserID, nil)
			}
			if f := c.Create; f != nil {
				// A credential id is found for the factor made, or for
				// the one that held it before, or not at all.
				var want *valet.Factor
				for _, old := range slices.Concat(factors, []valet.Factor{fx.otherKey}) {
					if old.CredentialID == f.CredentialID {
						want = &old
					}
				}
				wantByCredential(t, cs.factors, f.CredentialID, want)
			}
			wantRecoveryCodes(t, cs.factors, fx.user.ID, codes, slices.Concat(fx.codes, newCodes))
			wantRecoveryCodes(t, cs.factors, fx.other.ID, fx.otherCodes, nil)
		})
	}

	// Of callers at once that use one recovery code, or one TOTP step, one
	// makes its change, and its mail alone is enqueued.
	run("RaceRecoveryCode", func(t *testing.T, cs changeStores) {
		ctx := testContext(t)
		fx := newChangeFixture(t, cs)
		msgs := racerMail(t, fx.n)
		won := race(t, "ChangeFactorsWithMail", func() (bool, error) {
			_, ok, err := cs.ChangeFactorsWithMail(ctx, valet.FactorChange{UserID: fx.user.ID, UseRecoveryCode: fx.codes[0]}, <-msgs)
			return ok, err
		})
		if won != 1 {
			t.Errorf("%d callers used one recovery code, want 1", won)
		}
		wantPending(t, cs, 2)
		wantRecoveryCodes(t, cs.factors, fx.user.ID, fx.codes[1:], fx.codes)
	})
	run("RaceStep", func(t *testing.T, cs changeStores) {
		ctx := testContext(t)
		fx := newChangeFixture(t, cs)
		step := &valet.FactorStep{ID: fx.waiting.ID, Step: 59_000_200, At: fx.n}
		msgs := racerMail(t, fx.n)
		won := race(t, "ChangeFactorsWithMail", func() (bool, error) {
			c := valet.FactorChange{UserID: fx.user.ID, Step: step, SetRecoveryCodes: true, RecoveryCodes: newHashes(2)}
			_, ok, err := cs.ChangeFactorsWithMail(ctx, c, <-msgs)
			return ok, err
		})
		if won != 1 {
			t.Errorf("%d callers used one TOTP step, want 1", won)
		}
		wantPending(t, cs, 2)
		waiting := fx.waiting
		waiting.Confirmed, waiting.LastStep, waiting.LastUsedAt = true, step.Step, step.At
		wantFactors(t, cs.factors, fx.user.ID, []valet.Factor{waiting, fx.app, fx.key})
		wantCodes(t, cs.factors, fx.user.ID, 2)
	})
}

// racerMail returns a message for each of the racers, due at due, made
// before they start: tb is not to fail from their goroutines.
func racerMail(tb testing.TB, due time.Time) <-chan mail.OutboxMessage {
	tb.Helper()
	ch := make(chan mail.OutboxMessage, racers)
	for range racers {
		ch <- newMail(tb, due)
	}
	return ch
}
