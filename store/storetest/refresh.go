package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/valetauth/valet"
)

// newFamily returns a fresh refresh-token family of userID, bound to
// sessionID when it is not empty, and the hash of its first token.
func newFamily(tb testing.TB, userID, sessionID string, created time.Time) (valet.RefreshFamily, string) {
	tb.Helper()
	f := valet.RefreshFamily{
		ID:            valet.NewID(),
		UserID:        userID,
		SessionID:     sessionID,
		RotatedAt:     created,
		Successor:     randomBytes(tb, 64),
		CreatedAt:     created,
		ExpiresAt:     created.Add(30 * 24 * time.Hour),
		IdleExpiresAt: created.Add(7 * 24 * time.Hour),
	}
	return f, valet.HashSecret(valet.NewID())
}

// wantToken fails the test unless the token with hash belongs to want at
// generation gen.
func wantToken(tb testing.TB, rs valet.RefreshStore, hash string, want valet.RefreshFamily, gen int) {
	tb.Helper()
	got, gotGen, found, err := rs.RefreshByToken(testContext(tb), hash)
	noErr(tb, "RefreshByToken", err)
	if !found {
		tb.Fatalf("RefreshByToken(%q) found = false, want true", hash)
	}
	if gotGen != gen {
		tb.Errorf("RefreshByToken(%q) generation = %d, want %d", hash, gotGen, gen)
	}
	if d := diffFamily(got, want); d != "" {
		tb.Errorf("RefreshByToken(%q): %s", hash, d)
	}
}

// wantNoToken fails the test unless the hash is unknown.
func wantNoToken(tb testing.TB, rs valet.RefreshStore, hash string) {
	tb.Helper()
	got, gen, found, err := rs.RefreshByToken(testContext(tb), hash)
	noErr(tb, "RefreshByToken", err)
	if found {
		tb.Errorf("RefreshByToken(%q) = %+v at generation %d, found true; want found false", hash, got, gen)
	}
}

func testRefresh(t *testing.T, newStores func(testing.TB) valet.Stores) {
	run := member(t, newStores, func(st valet.Stores) (valet.RefreshStore, bool) { return st.Refresh, st.Refresh != nil })

	run("CreateAndFind", func(t *testing.T, rs valet.RefreshStore) {
		ctx := testContext(t)
		n := now()
		user := valet.NewID()
		token, tokenHash := newFamily(t, user, "", n)
		token.Successor = nil
		hybrid, hybridHash := newFamily(t, user, valet.HashSecret(valet.NewID()), n.Add(-time.Minute))
		revoked, revokedHash := newFamily(t, valet.NewID(), "", n)
		revoked.Revoked = true

		tests := []struct {
			name string
			f    valet.RefreshFamily
			hash string
		}{
			{"token mode", token, tokenHash},
			{"hybrid mode", hybrid, hybridHash},
			{"created revoked", revoked, revokedHash},
		}
		for _, tc := range tests {
			noErr(t, "CreateRefreshFamily "+tc.name, rs.CreateRefreshFamily(ctx, tc.f, tc.hash))
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				wantToken(t, rs, tc.hash, tc.f, 0)
			})
		}
	})

	run("NotFound", func(t *testing.T, rs valet.RefreshStore) {
		ctx := testContext(t)
		f, hash := newFamily(t, valet.NewID(), "", now())
		noErr(t, "CreateRefreshFamily", rs.CreateRefreshFamily(ctx, f, hash))
		tests := []struct {
			name string
			hash string
		}{
			{"unknown hash", valet.HashSecret(valet.NewID())},
			{"empty hash", ""},
			{"family id", f.ID},
			{"prefix of a hash", hash[:len(hash)-1]},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) { wantNoToken(t, rs, tc.hash) })
		}
	})

	run("Advance", func(t *testing.T, rs valet.RefreshStore) {
		ctx := testContext(t)
		n := now().Add(-time.Hour)
		f, h0 := newFamily(t, valet.NewID(), valet.HashSecret(valet.NewID()), n)
		other, otherHash := newFamily(t, f.UserID, "", n)
		noErr(t, "CreateRefreshFamily", rs.CreateRefreshFamily(ctx, f, h0))
		noErr(t, "CreateRefreshFamily", rs.CreateRefreshFamily(ctx, other, otherHash))

		hashes := []string{h0}
		want := f
		for gen := range 3 {
			t.Run(fmt.Sprintf("from %d", gen), func(t *testing.T) {
				next := valet.HashSecret(valet.NewID())
				successor := randomBytes(t, 80)
				at := n.Add(time.Duration(gen+1) * time.Minute)
				idle := at.Add(7 * 24 * time.Hour)
				ok, err := rs.AdvanceRefreshFamily(ctx, f.ID, gen, next, successor, at, idle)
				noErr(t, "AdvanceRefreshFamily", err)
				if !ok {
					t.Fatalf("AdvanceRefreshFamily from the current generation %d = false, want true", gen)
				}
				hashes = append(hashes, next)
				want.Generation = gen + 1
				want.Successor = successor
				want.RotatedAt = at
				want.IdleExpiresAt = idle

				// Every hash the family issued is still known, with the
				// generation it was issued at, so that reuse is detected.
				for g, h := range hashes {
					wantToken(t, rs, h, want, g)
				}

				stale := valet.HashSecret(valet.NewID())
				ok, err = rs.AdvanceRefreshFamily(ctx, f.ID, gen, stale, randomBytes(t, 80), at.Add(time.Second), idle.Add(time.Second))
				noErr(t, "AdvanceRefreshFamily", err)
				if ok {
					t.Fatalf("a second AdvanceRefreshFamily from generation %d = true, want false", gen)
				}
				wantNoToken(t, rs, stale)
				wantToken(t, rs, next, want, gen+1)
			})
		}
		wantToken(t, rs, otherHash, other, 0)
	})

	run("AdvanceRefused", func(t *testing.T, rs valet.RefreshStore) {
		ctx := testContext(t)
		n := now()
		current, currentHash := newFamily(t, valet.NewID(), "", n)
		noErr(t, "CreateRefreshFamily", rs.CreateRefreshFamily(ctx, current, currentHash))
		revoked, revokedHash := newFamily(t, valet.NewID(), "", n)
		noErr(t, "CreateRefreshFamily", rs.CreateRefreshFamily(ctx, revoked, revokedHash))
		noErr(t, "RevokeRefreshFamily", rs.RevokeRefreshFamily(ctx, revoked.ID))
		revoked.Revoked = true

		tests := []struct {
			name string
			f    valet.RefreshFamily
			hash string
			from int
		}{
			{"generation ahead", current, currentHash, 1},
			{"generation far ahead", current, currentHash, 41},
			{"generation behind", current, currentHash, -1},
			{"revoked", revoked, revokedHash, 0},
			{"unknown family", valet.RefreshFamily{ID: valet.NewID()}, "", 0},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				next := valet.HashSecret(valet.NewID())
				ok, err := rs.AdvanceRefreshFamily(ctx, tc.f.ID, tc.from, next, randomBytes(t, 80), n, n.Add(time.Hour))
				noErr(t, "AdvanceRefreshFamily", err)
				if ok {
					t.Errorf("AdvanceRefreshFamily = true, want false")
				}
				wantNoToken(t, rs, next)
				if tc.hash != "" {
					wantToken(t, rs, tc.hash, tc.f, 0)
				}
			})
		}
	})

	run("AdvanceConcurrent", func(t *testing.T, rs valet.RefreshStore) {
		ctx := testContext(t)
		n := now()
		f, h0 := newFamily(t, valet.NewID(), "", n)
		noErr(t, "CreateRefreshFamily", rs.CreateRefreshFamily(ctx, f, h0))

		const racers = 16
		type attempt struct {
			hash      string
			successor []byte
			won       bool
			err       error
		}
		attempts := make([]attempt, racers)
		for i := range attempts {
			attempts[i] = attempt{hash: valet.HashSecret(valet.NewID()), successor: randomBytes(t, 80)}
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range attempts {
			wg.Go(func() {
				a := &attempts[i]
				<-start
				a.won, a.err = rs.AdvanceRefreshFamily(ctx, f.ID, 0, a.hash, a.successor, n.Add(time.Second), n.Add(time.Hour))
			})
		}
		close(start)
		wg.Wait()

		var winners []*attempt
		for i := range attempts {
			a := &attempts[i]
			if a.err != nil {
				t.Errorf("AdvanceRefreshFamily: %v", a.err)
			}
			if a.won {
				winners = append(winners, a)
			}
		}
		if len(winners) != 1 {
			t.Fatalf("%d of %d concurrent AdvanceRefreshFamily calls from the same generation won, want exactly 1", len(winners), racers)
		}
		winner := winners[0]
		want := f
		want.Generation = 1
		want.Successor = winner.successor
		want.RotatedAt = n.Add(time.Second)
		want.IdleExpiresAt = n.Add(time.Hour)
		wantToken(t, rs, h0, want, 0)
		wantToken(t, rs, winner.hash, want, 1)
		for _, a := range attempts {
			if !a.won {
				wantNoToken(t, rs, a.hash)
			}
		}
	})

	run("Revoke", func(t *testing.T, rs valet.RefreshStore) {
		ctx := testContext(t)
		n := now()
		f, h0 := newFamily(t, valet.NewID(), "", n)
		other, otherHash := newFamily(t, f.UserID, "", n)
		noErr(t, "CreateRefreshFamily", rs.CreateRefreshFamily(ctx, f, h0))
		noErr(t, "CreateRefreshFamily", rs.CreateRefreshFamily(ctx, other, otherHash))
		h1 := valet.HashSecret(valet.NewID())
		successor := randomBytes(t, 80)
		ok, err := rs.AdvanceRefreshFamily(ctx, f.ID, 0, h1, successor, n, n.Add(time.Hour))
		if err != nil || !ok {
			t.Fatalf("AdvanceRefreshFamily = %t, %v; want true, nil", ok, err)
		}

		noErr(t, "RevokeRefreshFamily", rs.RevokeRefreshFamily(ctx, f.ID))
		want := f
		want.Generation = 1
		want.Successor = successor
		want.RotatedAt = n
		want.IdleExpiresAt = n.Add(time.Hour)
		want.Revoked = true
		// A revoked family is still found, by every hash it issued.
		wantToken(t, rs, h0, want, 0)
		wantToken(t, rs, h1, want, 1)
		wantToken(t, rs, otherHash, other, 0)

		ok, err = rs.AdvanceRefreshFamily(ctx, f.ID, 1, valet.HashSecret(valet.NewID()), successor, n, n.Add(time.Hour))
		if err != nil || ok {
			t.Errorf("AdvanceRefreshFamily of a revoked family = %t, %v; want false, nil", ok, err)
		}
		noErr(t, "RevokeRefreshFamily again", rs.RevokeRefreshFamily(ctx, f.ID))
		wantToken(t, rs, h1, want, 1)
		noErr(t, "RevokeRefreshFamily of an unknown id", rs.RevokeRefreshFamily(ctx, valet.NewID()))
		wantToken(t, rs, otherHash, other, 0)
	})

	tests := []struct {
		name string
		// revoke returns the user and session to revoke by; wantRevoked
		// reports which of the fixture's families that must revoke.
		revoke      func(alice, bob, s1, s2 string) (user, session string)
		wantRevoked []bool // alice-s1, alice-s2, alice-token, bob-s1, bob-token
	}{
		{
			name:        "all of a user",
			revoke:      func(alice, bob, s1, s2 string) (string, string) { return alice, "" },
			wantRevoked: []bool{true, true, true, false, false},
		},
		{
			name:        "one session of a user",
			revoke:      func(alice, bob, s1, s2 string) (string, string) { return alice, s1 },
			wantRevoked: []bool{true, false, false, false, false},
		},
		{
			name:        "unknown user",
			revoke:      func(alice, bob, s1, s2 string) (string, string) { return valet.NewID(), "" },
			wantRevoked: []bool{false, false, false, false, false},
		},
		{
			name:        "unknown session",
			revoke:      func(alice, bob, s1, s2 string) (string, string) { return alice, valet.NewID() },
			wantRevoked: []bool{false, false, false, false, false},
		},
	}
	for _, tc := range tests {
		run("RevokeFamilies/"+tc.name, func(t *testing.T, rs valet.RefreshStore) {
			ctx := testContext(t)
			n := now()
			alice, bob := valet.NewID(), valet.NewID()
			// Both users share a session id to show that the user bounds the
			// revocation even when a session id is given.
			s1, s2 := valet.HashSecret(valet.NewID()), valet.HashSecret(valet.NewID())
			type fam struct {
				f    valet.RefreshFamily
				hash string
			}
			var fams []fam
			for _, owner := range []struct{ user, session string }{
				{alice, s1}, {alice, s2}, {alice, ""}, {bob, s1}, {bob, ""},
			} {
				f, h := newFamily(t, owner.user, owner.session, n)
				noErr(t, "CreateRefreshFamily", rs.CreateRefreshFamily(ctx, f, h))
				fams = append(fams, fam{f, h})
			}

			user, session := tc.revoke(alice, bob, s1, s2)
			noErr(t, "RevokeRefreshFamilies", rs.RevokeRefreshFamilies(ctx, user, session))
			for i, fm := range fams {
				want := fm.f
				want.Revoked = tc.wantRevoked[i]
				wantToken(t, rs, fm.hash, want, 0)
			}
		})
	}

	run("Aliasing", func(t *testing.T, rs valet.RefreshStore) {
		ctx := testContext(t)
		n := now()
		f, h0 := newFamily(t, valet.NewID(), "", n)
		want := f
		want.Successor = append([]byte(nil), f.Successor...)
		noErr(t, "CreateRefreshFamily", rs.CreateRefreshFamily(ctx, f, h0))
		f.Successor[0] ^= 0xff

		got, _, _, err := rs.RefreshByToken(ctx, h0)
		noErr(t, "RefreshByToken", err)
		if len(got.Successor) > 0 {
			got.Successor[0] ^= 0xff
		}
		wantToken(t, rs, h0, want, 0)

		successor := randomBytes(t, 80)
		h1 := valet.HashSecret(valet.NewID())
		ok, err := rs.AdvanceRefreshFamily(ctx, f.ID, 0, h1, successor, n, n.Add(time.Hour))
		if err != nil || !ok {
			t.Fatalf("AdvanceRefreshFamily = %t, %v; want true, nil", ok, err)
		}
		want.Generation = 1
		want.Successor = append([]byte(nil), successor...)
		want.RotatedAt = n
		want.IdleExpiresAt = n.Add(time.Hour)
		successor[0] ^= 0xff
		wantToken(t, rs, h1, want, 1)
	})
}
