package storetest

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/valetauth/valet"
)

// newKey returns a signing key whose sealed private half and public half are
// random bytes of the sizes the algorithm would give.
func newKey(tb testing.TB, alg string, created time.Time) valet.SigningKey {
	tb.Helper()
	k := valet.SigningKey{ID: valet.NewID()[:16], Alg: alg, CreatedAt: created}
	switch alg {
	case "HS256":
		k.Private = randomBytes(tb, 60)
	case "ES256":
		k.Private = randomBytes(tb, 60)
		k.Public = randomBytes(tb, 65)
	default:
		k.Private = randomBytes(tb, 60)
		k.Public = randomBytes(tb, 32)
	}
	return k
}

func wantKeys(tb testing.TB, ks valet.KeyStore, want []valet.SigningKey) {
	tb.Helper()
	got, err := ks.SigningKeys(testContext(tb))
	noErr(tb, "SigningKeys", err)
	ids := func(keys []valet.SigningKey) []string {
		out := make([]string, len(keys))
		for i, k := range keys {
			out[i] = k.ID
		}
		return out
	}
	if !slices.Equal(ids(got), ids(want)) {
		tb.Fatalf("SigningKeys = %q, want %q", ids(got), ids(want))
	}
	for i := range got {
		if d := diffKey(got[i], want[i]); d != "" {
			tb.Errorf("SigningKeys[%d]: %s", i, d)
		}
	}
}

func testKeys(t *testing.T, newStores func(testing.TB) valet.Stores) {
	run := member(t, newStores, func(st valet.Stores) (valet.KeyStore, bool) { return st.Keys, st.Keys != nil })

	run("AddAndList", func(t *testing.T, ks valet.KeyStore) {
		ctx := testContext(t)
		wantKeys(t, ks, nil)
		n := now()
		oldest := newKey(t, "EdDSA", n.Add(-48*time.Hour))
		oldest.RetiredAt = n.Add(-24 * time.Hour)
		middle := newKey(t, "HS256", n.Add(-24*time.Hour))
		newest := newKey(t, "ES256", n)
		// Added out of order, so that a store that lists in insertion order
		// fails.
		for _, k := range []valet.SigningKey{newest, oldest, middle} {
			noErr(t, "AddSigningKey", ks.AddSigningKey(ctx, k))
		}
		wantKeys(t, ks, []valet.SigningKey{oldest, middle, newest})
	})

	run("AddConflict", func(t *testing.T, ks valet.KeyStore) {
		ctx := testContext(t)
		k := newKey(t, "EdDSA", now())
		noErr(t, "AddSigningKey", ks.AddSigningKey(ctx, k))
		dup := newKey(t, "HS256", now().Add(time.Hour))
		dup.ID = k.ID
		wantErr(t, "AddSigningKey with a taken id", ks.AddSigningKey(ctx, dup), valet.ErrConflict)
		wantKeys(t, ks, []valet.SigningKey{k})
	})

	run("Retire", func(t *testing.T, ks valet.KeyStore) {
		ctx := testContext(t)
		n := now()
		k := newKey(t, "EdDSA", n.Add(-time.Hour))
		other := newKey(t, "EdDSA", n)
		noErr(t, "AddSigningKey", ks.AddSigningKey(ctx, k))
		noErr(t, "AddSigningKey", ks.AddSigningKey(ctx, other))

		steps := []struct {
			name string
			at   time.Time
			want time.Time
		}{
			{"first", n, n},
			{"later call keeps the first time", n.Add(time.Hour), n},
			{"earlier call keeps the first time", n.Add(-time.Hour), n},
		}
		for _, step := range steps {
			t.Run(step.name, func(t *testing.T) {
				noErr(t, "RetireSigningKey", ks.RetireSigningKey(ctx, k.ID, step.at))
				want := k
				want.RetiredAt = step.want
				wantKeys(t, ks, []valet.SigningKey{want, other})
			})
		}
		wantErr(t, "RetireSigningKey of an unknown id", ks.RetireSigningKey(ctx, valet.NewID(), n), valet.ErrNotFound)
	})

	run("Delete", func(t *testing.T, ks valet.KeyStore) {
		ctx := testContext(t)
		n := now()
		a := newKey(t, "EdDSA", n.Add(-2*time.Hour))
		b := newKey(t, "ES256", n.Add(-time.Hour))
		c := newKey(t, "HS256", n)
		for _, k := range []valet.SigningKey{a, b, c} {
			noErr(t, "AddSigningKey", ks.AddSigningKey(ctx, k))
		}
		steps := []struct {
			name string
			id   string
			want []valet.SigningKey
		}{
			{"middle", b.ID, []valet.SigningKey{a, c}},
			{"again", b.ID, []valet.SigningKey{a, c}},
			{"unknown", valet.NewID(), []valet.SigningKey{a, c}},
			{"oldest", a.ID, []valet.SigningKey{c}},
			{"last", c.ID, nil},
		}
		for _, step := range steps {
			t.Run(step.name, func(t *testing.T) {
				noErr(t, "DeleteSigningKey", ks.DeleteSigningKey(ctx, step.id))
				wantKeys(t, ks, step.want)
			})
		}
		// A deleted id may be used again.
		noErr(t, "AddSigningKey with a deleted id", ks.AddSigningKey(ctx, b))
		wantKeys(t, ks, []valet.SigningKey{b})
	})

	run("Aliasing", func(t *testing.T, ks valet.KeyStore) {
		ctx := testContext(t)
		k := newKey(t, "ES256", now())
		want := k
		want.Private = bytes.Clone(k.Private)
		want.Public = bytes.Clone(k.Public)
		noErr(t, "AddSigningKey", ks.AddSigningKey(ctx, k))
		k.Private[0] ^= 0xff
		k.Public[0] ^= 0xff
		got, err := ks.SigningKeys(ctx)
		noErr(t, "SigningKeys", err)
		for _, g := range got {
			g.Private[0] ^= 0xff
			g.Public[0] ^= 0xff
		}
		wantKeys(t, ks, []valet.SigningKey{want})
	})
}

func testSecrets(t *testing.T, newStores func(testing.TB) valet.Stores) {
	run := member(t, newStores, func(st valet.Stores) (valet.SecretStore, bool) { return st.Secrets, st.Secrets != nil })

	run("FirstWins", func(t *testing.T, ss valet.SecretStore) {
		ctx := testContext(t)
		first, second, other := randomBytes(t, 32), randomBytes(t, 32), randomBytes(t, 48)
		steps := []struct {
			name  string
			key   string
			value []byte
			want  []byte
		}{
			{"first value is stored", "master", first, first},
			{"a later value is ignored", "master", second, first},
			{"an empty value is ignored", "master", nil, first},
			{"names are independent", "cookie", other, other},
			{"the first name keeps its value", "master", other, first},
		}
		for _, step := range steps {
			t.Run(step.name, func(t *testing.T) {
				got, err := ss.EnsureSecret(ctx, step.key, step.value)
				noErr(t, "EnsureSecret", err)
				if !bytes.Equal(got, step.want) {
					t.Errorf("EnsureSecret(%q) returned a different value than the one stored first", step.key)
				}
			})
		}
	})

	run("Concurrent", func(t *testing.T, ss valet.SecretStore) {
		ctx := testContext(t)
		const callers = 16
		values := make([][]byte, callers)
		for i := range values {
			values[i] = randomBytes(t, 32)
		}
		got := make([][]byte, callers)
		errs := make([]error, callers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range callers {
			wg.Go(func() {
				<-start
				got[i], errs[i] = ss.EnsureSecret(ctx, "master", values[i])
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("EnsureSecret (caller %d): %v", i, err)
			}
		}
		if !slices.ContainsFunc(values, func(v []byte) bool { return bytes.Equal(v, got[0]) }) {
			t.Fatalf("EnsureSecret returned a value that no caller offered")
		}
		for i := range got {
			if !bytes.Equal(got[i], got[0]) {
				t.Errorf("concurrent callers of EnsureSecret disagree: caller %d differs from caller 0", i)
			}
		}
		again, err := ss.EnsureSecret(ctx, "master", randomBytes(t, 32))
		noErr(t, "EnsureSecret", err)
		if !bytes.Equal(again, got[0]) {
			t.Errorf("EnsureSecret after the race returned a different value")
		}
	})

	run("Aliasing", func(t *testing.T, ss valet.SecretStore) {
		ctx := testContext(t)
		value := randomBytes(t, 32)
		want := bytes.Clone(value)
		got, err := ss.EnsureSecret(ctx, "master", value)
		noErr(t, "EnsureSecret", err)
		value[0] ^= 0xff
		got[1] ^= 0xff
		again, err := ss.EnsureSecret(ctx, "master", nil)
		noErr(t, "EnsureSecret", err)
		if !bytes.Equal(again, want) {
			t.Errorf("the stored secret changed through a passed or returned slice")
		}
	})
}

func testRevocations(t *testing.T, newStores func(testing.TB) valet.Stores) {
	run := member(t, newStores, func(st valet.Stores) (valet.RevocationStore, bool) {
		return st.Revocations, st.Revocations != nil
	})
	wantRevocations := func(tb testing.TB, rs valet.RevocationStore, at time.Time, want []valet.Revocation) {
		tb.Helper()
		got, err := rs.Revocations(testContext(tb), at)
		noErr(tb, "Revocations", err)
		got = slices.Clone(got)
		want = slices.Clone(want)
		bySession := func(a, b valet.Revocation) int { return cmp.Compare(a.SessionID, b.SessionID) }
		slices.SortFunc(got, bySession)
		slices.SortFunc(want, bySession)
		str := func(rs []valet.Revocation) string {
			var b bytes.Buffer
			for _, r := range rs {
				fmt.Fprintf(&b, "{%s until %s} ", r.SessionID, r.Until.Format(time.RFC3339Nano))
			}
			return b.String()
		}
		if len(got) != len(want) {
			tb.Fatalf("Revocations(%v) = %s; want %s", at, str(got), str(want))
		}
		for i := range got {
			if got[i].SessionID != want[i].SessionID || !sameTime(got[i].Until, want[i].Until) {
				tb.Fatalf("Revocations(%v) = %s; want %s", at, str(got), str(want))
			}
		}
	}

	run("AddAndList", func(t *testing.T, rs valet.RevocationStore) {
		ctx := testContext(t)
		n := now()
		wantRevocations(t, rs, n, nil)
		// Entries whose Until has passed by the real clock are never asked
		// for with an earlier now: a store may drop them as they expire.
		hour := valet.Revocation{SessionID: valet.HashSecret(valet.NewID()), Until: n.Add(time.Hour)}
		twoHours := valet.Revocation{SessionID: valet.HashSecret(valet.NewID()), Until: n.Add(2 * time.Hour)}
		past := valet.Revocation{SessionID: valet.HashSecret(valet.NewID()), Until: n.Add(-time.Minute)}
		atNow := valet.Revocation{SessionID: valet.HashSecret(valet.NewID()), Until: n}
		for _, r := range []valet.Revocation{hour, past, twoHours, atNow} {
			noErr(t, "AddRevocation", rs.AddRevocation(ctx, r))
		}
		tests := []struct {
			name string
			at   time.Time
			want []valet.Revocation
		}{
			{"now", n, []valet.Revocation{hour, twoHours}},
			{"after the first until", n.Add(90 * time.Minute), []valet.Revocation{twoHours}},
			{"at the last until", n.Add(2 * time.Hour), nil},
			{"after every until", n.Add(3 * time.Hour), nil},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) { wantRevocations(t, rs, tc.at, tc.want) })
		}
	})

	tests := []struct {
		name        string
		first, then time.Duration
		want        time.Duration
	}{
		{"later until replaces", time.Hour, 2 * time.Hour, 2 * time.Hour},
		{"earlier until is ignored", 2 * time.Hour, time.Hour, 2 * time.Hour},
		{"same until", time.Hour, time.Hour, time.Hour},
		{"past until is ignored", time.Hour, -time.Hour, time.Hour},
	}
	for _, tc := range tests {
		run("ReAdd/"+tc.name, func(t *testing.T, rs valet.RevocationStore) {
			ctx := testContext(t)
			n := now()
			sid := valet.HashSecret(valet.NewID())
			other := valet.Revocation{SessionID: valet.HashSecret(valet.NewID()), Until: n.Add(30 * time.Minute)}
			noErr(t, "AddRevocation", rs.AddRevocation(ctx, other))
			noErr(t, "AddRevocation", rs.AddRevocation(ctx, valet.Revocation{SessionID: sid, Until: n.Add(tc.first)}))
			noErr(t, "AddRevocation", rs.AddRevocation(ctx, valet.Revocation{SessionID: sid, Until: n.Add(tc.then)}))
			wantRevocations(t, rs, n, []valet.Revocation{other, {SessionID: sid, Until: n.Add(tc.want)}})
		})
	}
}
