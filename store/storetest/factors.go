package storetest

import (
	"bytes"
	"encoding/base64"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/valetauth/valet"
)

// factorStores is a factor store with the user store whose users its
// factors belong to: deleting a user deletes its factors.
type factorStores struct {
	valet.FactorStore
	users valet.UserStore
}

// factorsOf returns st's Factors with its Users, if it has both.
func factorsOf(st valet.Stores) (factorStores, bool) {
	return factorStores{FactorStore: st.Factors, users: st.Users}, st.Factors != nil && st.Users != nil
}

// newFactor returns a factor of userID of kind, made at created, with a
// random secret and, for WebAuthn, a random credential id. A TOTP factor
// is unconfirmed, as one is until its first code.
func newFactor(tb testing.TB, userID string, kind valet.FactorKind, created time.Time) valet.Factor {
	tb.Helper()
	f := valet.Factor{
		ID: valet.NewID(), UserID: userID, Kind: kind, Name: "Phone",
		Secret: randomBytes(tb, 48), CreatedAt: created,
	}
	if kind == valet.FactorWebAuthn {
		f.Name = "Security key"
		f.CredentialID = base64.RawURLEncoding.EncodeToString(randomBytes(tb, 32))
		f.Confirmed = true
	}
	return f
}

func diffFactor(got, want valet.Factor) string {
	var d diff
	d.str("ID", got.ID, want.ID)
	d.str("UserID", got.UserID, want.UserID)
	d.str("Kind", string(got.Kind), string(want.Kind))
	d.str("Name", got.Name, want.Name)
	d.bytes("Secret", got.Secret, want.Secret)
	d.str("CredentialID", got.CredentialID, want.CredentialID)
	d.bool("Confirmed", got.Confirmed, want.Confirmed)
	d.int64("LastStep", got.LastStep, want.LastStep)
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	d.time("LastUsedAt", got.LastUsedAt, want.LastUsedAt)
	return d.String()
}

func factorIDs(fs []valet.Factor) []string {
	ids := make([]string, len(fs))
	for i, f := range fs {
		ids[i] = f.ID
	}
	return ids
}

// wantFactors fails tb unless the factors of userID are want, in order.
func wantFactors(tb testing.TB, fs valet.FactorStore, userID string, want []valet.Factor) {
	tb.Helper()
	got, err := fs.Factors(testContext(tb), userID)
	noErr(tb, "Factors", err)
	if !slices.Equal(factorIDs(got), factorIDs(want)) {
		tb.Fatalf("Factors(%.8s…) = %q, want %q", userID, factorIDs(got), factorIDs(want))
	}
	for i := range got {
		if d := diffFactor(got[i], want[i]); d != "" {
			tb.Errorf("Factors(%.8s…)[%d]: %s", userID, i, d)
		}
	}
}

// wantFactor fails tb unless factor want.ID of want.UserID is stored as
// want.
func wantFactor(tb testing.TB, fs valet.FactorStore, want valet.Factor) {
	tb.Helper()
	got, err := fs.Factors(testContext(tb), want.UserID)
	noErr(tb, "Factors", err)
	i := slices.IndexFunc(got, func(f valet.Factor) bool { return f.ID == want.ID })
	if i < 0 {
		tb.Fatalf("factor %.8s… is not among the factors of its user", want.ID)
	}
	if d := diffFactor(got[i], want); d != "" {
		tb.Errorf("factor %.8s…: %s", want.ID, d)
	}
}

// wantByCredential fails tb unless FactorByCredential(id) finds want, or,
// when want is nil, finds nothing.
func wantByCredential(tb testing.TB, fs valet.FactorStore, id string, want *valet.Factor) {
	tb.Helper()
	got, found, err := fs.FactorByCredential(testContext(tb), id)
	noErr(tb, "FactorByCredential", err)
	switch {
	case want == nil && found:
		tb.Errorf("FactorByCredential(%q) = %.8s…, want none", id, got.ID)
	case want != nil && !found:
		tb.Errorf("FactorByCredential(%q) found none, want %.8s…", id, want.ID)
	case want != nil:
		if d := diffFactor(got, *want); d != "" {
			tb.Errorf("FactorByCredential(%q): %s", id, d)
		}
	}
}

// wantCodes fails tb unless userID has want recovery codes.
func wantCodes(tb testing.TB, fs valet.FactorStore, userID string, want int) {
	tb.Helper()
	got, err := fs.RecoveryCodes(testContext(tb), userID)
	noErr(tb, "RecoveryCodes", err)
	if got != want {
		tb.Errorf("RecoveryCodes(%.8s…) = %d, want %d", userID, got, want)
	}
}

// newHashes returns n hashes of fresh recovery codes.
func newHashes(n int) []string {
	hs := make([]string, n)
	for i := range hs {
		hs[i] = valet.HashSecret(valet.NewID())
	}
	return hs
}

// racers is how many callers at once try to use one thing.
const racers = 8

// race calls fn from racers goroutines at once and returns how many of
// them it answered true, failing tb on an error.
func race(tb testing.TB, call string, fn func() (bool, error)) int {
	tb.Helper()
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		oks   [racers]bool
		errs  [racers]error
	)
	for i := range racers {
		wg.Go(func() {
			<-start
			oks[i], errs[i] = fn()
		})
	}
	close(start)
	wg.Wait()
	won := 0
	for i := range racers {
		noErr(tb, call, errs[i])
		if oks[i] {
			won++
		}
	}
	return won
}

// testFactors checks valet.FactorStore on a Factors member with the Users
// member it belongs to: factors stored for users that exist, listed oldest
// first and found by credential; a TOTP step and a recovery code used
// once, also by callers at once; a user's factors and codes deleted with
// it; and pending values taken once, until they expire.
func testFactors(t *testing.T, newStores func(testing.TB) valet.Stores) {
	run := member(t, newStores, factorsOf)

	// setup stores a user with email and returns its id.
	setup := func(t *testing.T, fs factorStores, email string) string {
		t.Helper()
		u := newUser(t, email, now().Add(-time.Hour))
		noErr(t, "CreateUser", fs.users.CreateUser(testContext(t), u))
		return u.ID
	}

	run("CreateAndList", func(t *testing.T, fs factorStores) {
		ctx := testContext(t)
		user, other := setup(t, fs, "ada@example.test"), setup(t, fs, "bob@example.test")
		n := now()
		totp := newFactor(t, user, valet.FactorTOTP, n.Add(-3*time.Minute))
		used := newFactor(t, user, valet.FactorTOTP, n.Add(-2*time.Minute))
		used.Name = "Ünïcode phone 日本"
		used.Confirmed, used.LastStep, used.LastUsedAt = true, 59_000_000_123, n.Add(-30*time.Second)
		key := newFactor(t, user, valet.FactorWebAuthn, n.Add(-time.Minute))
		key.LastUsedAt = n
		otherKey := newFactor(t, other, valet.FactorWebAuthn, n)
		// Stored out of order: the list is by creation time.
		for _, f := range []valet.Factor{key, totp, otherKey, used} {
			noErr(t, "CreateFactor", fs.CreateFactor(ctx, f))
		}

		tests := []struct {
			name string
			user string
			want []valet.Factor
		}{
			{"oldest first", user, []valet.Factor{totp, used, key}},
			{"other user", other, []valet.Factor{otherKey}},
			{"user without factors", setup(t, fs, "carol@example.test"), nil},
			{"unknown user", valet.NewID(), nil},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) { wantFactors(t, fs, tc.user, tc.want) })
		}
	})

	run("CreateCopies", func(t *testing.T, fs factorStores) {
		ctx := testContext(t)
		user := setup(t, fs, "ada@example.test")
		f := newFactor(t, user, valet.FactorTOTP, now())
		want := f
		want.Secret = bytes.Clone(f.Secret)
		noErr(t, "CreateFactor", fs.CreateFactor(ctx, f))
		// The store keeps its own copy of the secret, and hands out
		// copies of it.
		f.Secret[0] ^= 0xff
		got, err := fs.Factors(ctx, user)
		noErr(t, "Factors", err)
		if len(got) == 1 && len(got[0].Secret) > 0 {
			got[0].Secret[0] ^= 0xff
		}
		wantFactors(t, fs, user, []valet.Factor{want})
	})

	run("CreateConflict", func(t *testing.T, fs factorStores) {
		ctx := testContext(t)
		user, other := setup(t, fs, "ada@example.test"), setup(t, fs, "bob@example.test")
		n := now()
		key := newFactor(t, user, valet.FactorWebAuthn, n)
		noErr(t, "CreateFactor", fs.CreateFactor(ctx, key))

		sameID := newFactor(t, user, valet.FactorWebAuthn, n)
		sameID.ID = key.ID
		sameIDOther := newFactor(t, other, valet.FactorTOTP, n)
		sameIDOther.ID = key.ID
		sameCredential := newFactor(t, user, valet.FactorWebAuthn, n)
		sameCredential.CredentialID = key.CredentialID
		sameCredentialOther := newFactor(t, other, valet.FactorWebAuthn, n)
		sameCredentialOther.CredentialID = key.CredentialID
		tests := []struct {
			name string
			f    valet.Factor
		}{
			{"same id", sameID},
			{"same id, other user", sameIDOther},
			{"same credential id", sameCredential},
			{"same credential id, other user", sameCredentialOther},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				wantErr(t, "CreateFactor", fs.CreateFactor(ctx, tc.f), valet.ErrConflict)
				wantFactors(t, fs, user, []valet.Factor{key})
				wantFactors(t, fs, other, nil)
				wantByCredential(t, fs, key.CredentialID, &key)
			})
		}

		// Credential ids are unique only when there is one: TOTP factors
		// have none.
		a, b := newFactor(t, user, valet.FactorTOTP, n.Add(time.Second)), newFactor(t, user, valet.FactorTOTP, n.Add(2*time.Second))
		noErr(t, "CreateFactor of a TOTP factor", fs.CreateFactor(ctx, a))
		noErr(t, "CreateFactor of another TOTP factor", fs.CreateFactor(ctx, b))
		wantFactors(t, fs, user, []valet.Factor{key, a, b})
	})

	run("CreateUnknownUser", func(t *testing.T, fs factorStores) {
		ctx := testContext(t)
		gone := setup(t, fs, "ada@example.test")
		noErr(t, "DeleteUser", fs.users.DeleteUser(ctx, gone))
		tests := []struct {
			name string
			user string
		}{
			{"never was", valet.NewID()},
			{"deleted", gone},
			{"empty id", ""},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				f := newFactor(t, tc.user, valet.FactorWebAuthn, now())
				wantErr(t, "CreateFactor", fs.CreateFactor(ctx, f), valet.ErrNotFound)
				wantFactors(t, fs, tc.user, nil)
				wantByCredential(t, fs, f.CredentialID, nil)
			})
		}
	})

	run("FactorByCredential", func(t *testing.T, fs factorStores) {
		ctx := testContext(t)
		user, other := setup(t, fs, "ada@example.test"), setup(t, fs, "bob@example.test")
		n := now()
		key := newFactor(t, user, valet.FactorWebAuthn, n)
		otherKey := newFactor(t, other, valet.FactorWebAuthn, n)
		totp := newFactor(t, user, valet.FactorTOTP, n)
		for _, f := range []valet.Factor{key, otherKey, totp} {
			noErr(t, "CreateFactor", fs.CreateFactor(ctx, f))
		}
		tests := []struct {
			name string
			id   string
			want *valet.Factor
		}{
			{"found", key.CredentialID, &key},
			{"other user's", otherKey.CredentialID, &otherKey},
			{"unknown", base64.RawURLEncoding.EncodeToString(randomBytes(t, 32)), nil},
			{"prefix", key.CredentialID[:len(key.CredentialID)-1], nil},
			// A TOTP factor has none, and is not found by none.
			{"empty", "", nil},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) { wantByCredential(t, fs, tc.id, tc.want) })
		}
	})

	run("Update", func(t *testing.T, fs factorStores) {
		ctx := testContext(t)
		user, other := setup(t, fs, "ada@example.test"), setup(t, fs, "bob@example.test")
		n := now()
		totp := newFactor(t, user, valet.FactorTOTP, n.Add(-time.Hour))
		totp.LastStep = 7
		key := newFactor(t, user, valet.FactorWebAuthn, n.Add(-time.Minute))
		for _, f := range []valet.Factor{totp, key} {
			noErr(t, "CreateFactor", fs.CreateFactor(ctx, f))
		}

		// changed returns f with the four fields that UpdateFactor replaces
		// set, and with, a factor to update it with in which the other
		// fields differ too: they must stay as stored.
		changed := func(f valet.Factor, name string, secret []byte, confirmed bool, lastUsed time.Time) (want, with valet.Factor) {
			want = f
			want.Name, want.Secret, want.Confirmed, want.LastUsedAt = name, secret, confirmed, lastUsed
			with = want
			with.Kind, with.CredentialID = "other", "other-credential"
			with.LastStep, with.CreatedAt = want.LastStep+1000, n.Add(time.Hour)
			return want, with
		}
		type step struct {
			name       string
			want, with valet.Factor
		}
		var steps []step
		confirmed, with := changed(totp, "Work phone", randomBytes(t, 48), true, n)
		steps = append(steps, step{"confirm", confirmed, with})
		unused, with := changed(confirmed, "", randomBytes(t, 16), false, time.Time{})
		steps = append(steps, step{"back to unused", unused, with})
		counted, with := changed(key, "YubiKey 5", randomBytes(t, 64), true, n)
		steps = append(steps, step{"new sign counter", counted, with})
		for _, step := range steps {
			t.Run(step.name, func(t *testing.T) {
				ok, err := fs.UpdateFactor(ctx, step.with)
				noErr(t, "UpdateFactor", err)
				if !ok {
					t.Fatalf("UpdateFactor = false, want true")
				}
				wantFactor(t, fs, step.want)
				if step.want.CredentialID != "" {
					wantByCredential(t, fs, step.want.CredentialID, &step.want)
				}
			})
		}

		wrongUser := counted
		wrongUser.UserID, wrongUser.Name = other, "stolen"
		unknown := newFactor(t, user, valet.FactorTOTP, n)
		for _, tc := range []struct {
			name string
			f    valet.Factor
		}{
			{"other user's id", wrongUser},
			{"unknown id", unknown},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ok, err := fs.UpdateFactor(ctx, tc.f)
				noErr(t, "UpdateFactor", err)
				if ok {
					t.Errorf("UpdateFactor = true, want false")
				}
				wantFactors(t, fs, user, []valet.Factor{unused, counted})
				wantFactors(t, fs, other, nil)
			})
		}
	})

	run("UseFactorStep", func(t *testing.T, fs factorStores) {
		ctx := testContext(t)
		user, other := setup(t, fs, "ada@example.test"), setup(t, fs, "bob@example.test")
		n := now()
		f := newFactor(t, user, valet.FactorTOTP, n.Add(-time.Hour))
		noErr(t, "CreateFactor", fs.CreateFactor(ctx, f))

		want := f
		steps := []struct {
			name string
			step int64
			ok   bool
		}{
			{"first code confirms", 59_000_100, true},
			{"same step is a replay", 59_000_100, false},
			{"earlier step is a replay", 59_000_099, false},
			{"next step", 59_000_101, true},
			{"a later step", 59_000_200, true},
			{"a step between is a replay", 59_000_150, false},
		}
		for i, step := range steps {
			t.Run(step.name, func(t *testing.T) {
				at := n.Add(time.Duration(i) * time.Second)
				ok, err := fs.UseFactorStep(ctx, user, f.ID, step.step, at)
				noErr(t, "UseFactorStep", err)
				if ok != step.ok {
					t.Errorf("UseFactorStep(%d) = %t, want %t", step.step, ok, step.ok)
				}
				if step.ok {
					want.LastStep, want.LastUsedAt, want.Confirmed = step.step, at, true
				}
				wantFactor(t, fs, want)
			})
		}

		for _, tc := range []struct {
			name     string
			user, id string
		}{
			{"other user", other, f.ID},
			{"unknown id", user, valet.NewID()},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ok, err := fs.UseFactorStep(ctx, tc.user, tc.id, want.LastStep+1, n)
				noErr(t, "UseFactorStep", err)
				if ok {
					t.Errorf("UseFactorStep = true, want false")
				}
				wantFactor(t, fs, want)
			})
		}
	})

	run("UseFactorStepAtOnce", func(t *testing.T, fs factorStores) {
		ctx := testContext(t)
		user := setup(t, fs, "ada@example.test")
		n := now()
		f := newFactor(t, user, valet.FactorTOTP, n.Add(-time.Hour))
		f.LastStep = 59_000_000
		noErr(t, "CreateFactor", fs.CreateFactor(ctx, f))
		won := race(t, "UseFactorStep", func() (bool, error) {
			return fs.UseFactorStep(ctx, user, f.ID, 59_000_001, n)
		})
		if won != 1 {
			t.Errorf("%d of %d callers at once used one step, want 1", won, racers)
		}
		f.LastStep, f.LastUsedAt, f.Confirmed = 59_000_001, n, true
		wantFactor(t, fs, f)
	})

	run("Delete", func(t *testing.T, fs factorStores) {
		ctx := testContext(t)
		user, other := setup(t, fs, "ada@example.test"), setup(t, fs, "bob@example.test")
		n := now()
		key := newFactor(t, user, valet.FactorWebAuthn, n.Add(-time.Minute))
		totp := newFactor(t, user, valet.FactorTOTP, n)
		for _, f := range []valet.Factor{key, totp} {
			noErr(t, "CreateFactor", fs.CreateFactor(ctx, f))
		}
		steps := []struct {
			name     string
			user, id string
			want     bool
		}{
			{"other user's id", other, key.ID, false},
			{"existing", user, key.ID, true},
			{"again", user, key.ID, false},
			{"unknown", user, valet.NewID(), false},
		}
		for _, step := range steps {
			t.Run(step.name, func(t *testing.T) {
				got, err := fs.DeleteFactor(ctx, step.user, step.id)
				noErr(t, "DeleteFactor", err)
				if got != step.want {
					t.Errorf("DeleteFactor = %t, want %t", got, step.want)
				}
			})
		}
		wantFactors(t, fs, user, []valet.Factor{totp})
		wantByCredential(t, fs, key.CredentialID, nil)
		// Its credential id is free again.
		again := newFactor(t, other, valet.FactorWebAuthn, n)
		again.CredentialID = key.CredentialID
		noErr(t, "CreateFactor with the credential id of a deleted factor", fs.CreateFactor(ctx, again))
		wantByCredential(t, fs, key.CredentialID, &again)
	})

	run("RecoveryCodes", func(t *testing.T, fs factorStores) {
		ctx := testContext(t)
		user, other := setup(t, fs, "ada@example.test"), setup(t, fs, "bob@example.test")
		codes, otherCodes := newHashes(10), newHashes(4)
		noErr(t, "SetRecoveryCodes", fs.SetRecoveryCodes(ctx, user, codes))
		noErr(t, "SetRecoveryCodes", fs.SetRecoveryCodes(ctx, other, otherCodes))
		wantCodes(t, fs, user, 10)
		wantCodes(t, fs, other, 4)
		wantCodes(t, fs, valet.NewID(), 0)

		replaced := newHashes(3)
		steps := []struct {
			name       string
			set        []string // when not nil, set these first
			user, hash string
			ok         bool
			left       int // the user's codes afterwards
		}{
			{name: "use one", user: user, hash: codes[0], ok: true, left: 9},
			{name: "use it again", user: user, hash: codes[0], ok: false, left: 9},
			{name: "use another", user: user, hash: codes[9], ok: true, left: 8},
			{name: "unknown", user: user, hash: valet.HashSecret(valet.NewID()), ok: false, left: 8},
			{name: "other user's code", user: user, hash: otherCodes[0], ok: false, left: 8},
			{name: "empty", user: user, hash: "", ok: false, left: 8},
			{name: "new codes replace the old", set: replaced, user: user, hash: codes[1], ok: false, left: 3},
			{name: "use a new one", user: user, hash: replaced[2], ok: true, left: 2},
			{name: "none", set: []string{}, user: user, hash: replaced[0], ok: false, left: 0},
		}
		for _, step := range steps {
			t.Run(step.name, func(t *testing.T) {
				if step.set != nil {
					noErr(t, "SetRecoveryCodes", fs.SetRecoveryCodes(ctx, step.user, step.set))
				}
				ok, err := fs.UseRecoveryCode(ctx, step.user, step.hash)
				noErr(t, "UseRecoveryCode", err)
				if ok != step.ok {
					t.Errorf("UseRecoveryCode = %t, want %t", ok, step.ok)
				}
				wantCodes(t, fs, step.user, step.left)
				wantCodes(t, fs, other, 4)
			})
		}
		// The other user's codes are its own to use.
		ok, err := fs.UseRecoveryCode(ctx, other, otherCodes[0])
		noErr(t, "UseRecoveryCode", err)
		if !ok {
			t.Errorf("UseRecoveryCode of the other user's code = false, want true")
		}
		wantCodes(t, fs, other, 3)
	})

	run("RecoveryCodeAtOnce", func(t *testing.T, fs factorStores) {
		ctx := testContext(t)
		user := setup(t, fs, "ada@example.test")
		codes := newHashes(10)
		noErr(t, "SetRecoveryCodes", fs.SetRecoveryCodes(ctx, user, codes))
		won := race(t, "UseRecoveryCode", func() (bool, error) { return fs.UseRecoveryCode(ctx, user, codes[3]) })
		if won != 1 {
			t.Errorf("%d of %d callers at once used one recovery code, want 1", won, racers)
		}
		wantCodes(t, fs, user, 9)
	})

	// userFixture stores two users, each with a factor of each kind and
	// recovery codes.
	type userFixture struct {
		user, other               string
		userFactors, otherFactors []valet.Factor
	}
	fixture := func(t *testing.T, fs factorStores) userFixture {
		t.Helper()
		ctx := testContext(t)
		n := now()
		fx := userFixture{user: setup(t, fs, "ada@example.test"), other: setup(t, fs, "bob@example.test")}
		for i, u := range []string{fx.user, fx.other} {
			totp := newFactor(t, u, valet.FactorTOTP, n.Add(time.Duration(i)*time.Minute))
			key := newFactor(t, u, valet.FactorWebAuthn, n.Add(time.Duration(i)*time.Minute+time.Second))
			for _, f := range []valet.Factor{totp, key} {
				noErr(t, "CreateFactor", fs.CreateFactor(ctx, f))
			}
			noErr(t, "SetRecoveryCodes", fs.SetRecoveryCodes(ctx, u, newHashes(10)))
			if u == fx.user {
				fx.userFactors = []valet.Factor{totp, key}
			} else {
				fx.otherFactors = []valet.Factor{totp, key}
			}
		}
		return fx
	}
	// gone checks that fx's user has no factors and codes left, and that
	// the other user has all its own.
	gone := func(t *testing.T, fs factorStores, fx userFixture) {
		t.Helper()
		wantFactors(t, fs, fx.user, nil)
		wantCodes(t, fs, fx.user, 0)
		wantByCredential(t, fs, fx.userFactors[1].CredentialID, nil)
		wantFactors(t, fs, fx.other, fx.otherFactors)
		wantCodes(t, fs, fx.other, 10)
		wantByCredential(t, fs, fx.otherFactors[1].CredentialID, &fx.otherFactors[1])
	}

	run("DeleteFactors", func(t *testing.T, fs factorStores) {
		ctx := testContext(t)
		fx := fixture(t, fs)
		for _, step := range []struct {
			name string
			user string
			want int
		}{
			{"user", fx.user, 2},
			{"again", fx.user, 0},
			{"unknown user", valet.NewID(), 0},
		} {
			t.Run(step.name, func(t *testing.T) {
				got, err := fs.DeleteFactors(ctx, step.user)
				noErr(t, "DeleteFactors", err)
				if got != step.want {
					t.Errorf("DeleteFactors = %d, want %d", got, step.want)
				}
				gone(t, fs, fx)
			})
		}
		// The user stays, and may start again.
		f := newFactor(t, fx.user, valet.FactorTOTP, now())
		noErr(t, "CreateFactor after DeleteFactors", fs.CreateFactor(ctx, f))
		wantFactors(t, fs, fx.user, []valet.Factor{f})
	})

	run("DeleteUser", func(t *testing.T, fs factorStores) {
		ctx := testContext(t)
		fx := fixture(t, fs)
		noErr(t, "DeleteUser", fs.users.DeleteUser(ctx, fx.user))
		gone(t, fs, fx)
		// What was the user's is free for others to take.
		f := newFactor(t, fx.other, valet.FactorWebAuthn, now())
		f.CredentialID = fx.userFactors[1].CredentialID
		noErr(t, "CreateFactor with the credential id of a deleted user's factor", fs.CreateFactor(ctx, f))
		wantByCredential(t, fs, f.CredentialID, &f)
	})

	run("Pending", func(t *testing.T, fs factorStores) {
		ctx := testContext(t)
		n := now()
		tests := []struct {
			name string
			// puts are stored in order under one key, each valid until its
			// expiry.
			puts  []pendingPut
			at    time.Time // the time of the take
			want  []byte
			found bool
		}{
			{"live", []pendingPut{{[]byte("state"), n.Add(time.Minute)}}, n, []byte("state"), true},
			{"empty value", []pendingPut{{nil, n.Add(time.Minute)}}, n, nil, true},
			{"large value", []pendingPut{{bytes.Repeat([]byte{0, 0xff}, 2048), n.Add(time.Minute)}}, n, bytes.Repeat([]byte{0, 0xff}, 2048), true},
			{"expired", []pendingPut{{[]byte("state"), n.Add(time.Minute)}}, n.Add(2 * time.Minute), nil, false},
			{"expires at the take", []pendingPut{{[]byte("state"), n.Add(time.Minute)}}, n.Add(time.Minute), nil, false},
			{"replaced, expiry too", []pendingPut{{[]byte("old"), n.Add(time.Minute)}, {[]byte("new"), n.Add(2 * time.Minute)}}, n.Add(90 * time.Second), []byte("new"), true},
			{"replaced by an expired value", []pendingPut{{[]byte("old"), n.Add(time.Hour)}, {[]byte("new"), n.Add(-time.Second)}}, n, nil, false},
			{"an expired value replaced", []pendingPut{{[]byte("old"), n.Add(-time.Hour)}, {[]byte("new"), n.Add(time.Hour)}}, n, []byte("new"), true},
		}
		// Another key's value is not touched by any of them.
		bystander := valet.HashSecret(valet.NewID())
		noErr(t, "PutPending", fs.PutPending(ctx, bystander, []byte("bystander"), n.Add(time.Hour)))
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				key := valet.HashSecret(valet.NewID())
				for _, p := range tc.puts {
					value := bytes.Clone(p.value)
					noErr(t, "PutPending", fs.PutPending(ctx, key, value, p.expires))
					// The store keeps its own copy.
					for i := range value {
						value[i] = 'x'
					}
				}
				got, found, err := fs.TakePending(ctx, key, tc.at)
				noErr(t, "TakePending", err)
				if found != tc.found || !bytes.Equal(got, tc.want) {
					t.Fatalf("TakePending = %q, %t; want %q, %t", got, found, tc.want, tc.found)
				}
				// Taken once, it is gone, even to a take at an earlier time.
				if tc.found {
					if got, found, err := fs.TakePending(ctx, key, n); err != nil || found {
						t.Errorf("TakePending again = %q, %t, %v; want found false", got, found, err)
					}
				}
			})
		}
		if got, found, err := fs.TakePending(ctx, valet.HashSecret(valet.NewID()), n); err != nil || found {
			t.Errorf("TakePending of an unknown key = %q, %t, %v; want found false", got, found, err)
		}
		got, found, err := fs.TakePending(ctx, bystander, n)
		noErr(t, "TakePending", err)
		if !found || string(got) != "bystander" {
			t.Errorf("TakePending of another key = %q, %t; want %q, true", got, found, "bystander")
		}
	})

	run("PendingAtOnce", func(t *testing.T, fs factorStores) {
		ctx := testContext(t)
		n := now()
		key, value := valet.HashSecret(valet.NewID()), randomBytes(t, 64)
		noErr(t, "PutPending", fs.PutPending(ctx, key, value, n.Add(time.Minute)))
		var (
			mu  sync.Mutex
			bad [][]byte
		)
		won := race(t, "TakePending", func() (bool, error) {
			got, found, err := fs.TakePending(ctx, key, n)
			if found && !bytes.Equal(got, value) {
				mu.Lock()
				bad = append(bad, got)
				mu.Unlock()
			}
			return found, err
		})
		if won != 1 {
			t.Errorf("%d of %d callers at once took one pending value, want 1", won, racers)
		}
		for _, got := range bad {
			t.Errorf("TakePending = %x, want %x", got, value)
		}
	})
}

// pendingPut is one PutPending of a test.
type pendingPut struct {
	value   []byte
	expires time.Time
}
