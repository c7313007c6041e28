package storetest

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/valetauth/valet"
)

// newClientRefresh returns a refresh family of clientID for userID from
// session sid, made at created, with every field set, and the hash of its
// first token.
func newClientRefresh(clientID, userID, sid string, created time.Time) (valet.ClientRefresh, string) {
	return valet.ClientRefresh{
		ID: valet.NewID(), ClientID: clientID, UserID: userID, SessionID: sid,
		Scopes: []string{"openid", "email", "offline_access"}, AMR: []string{"pwd", "otp", "mfa"},
		AuthTime: created.Add(-time.Minute), CreatedAt: created, ExpiresAt: created.Add(30 * 24 * time.Hour),
	}, valet.HashSecret(valet.NewID())
}

func diffClientRefresh(got, want valet.ClientRefresh) string {
	var d diff
	d.str("ID", got.ID, want.ID)
	d.str("ClientID", got.ClientID, want.ClientID)
	d.str("UserID", got.UserID, want.UserID)
	d.str("SessionID", got.SessionID, want.SessionID)
	d.strings("Scopes", got.Scopes, want.Scopes)
	d.strings("AMR", got.AMR, want.AMR)
	d.time("AuthTime", got.AuthTime, want.AuthTime)
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	d.time("ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	return d.String()
}

// rotate calls RotateClientRefresh and fails tb unless it answers found
// and reused as wanted, and, when found, want.
func rotate(tb testing.TB, cs valet.ClientStore, clientID, hash string, at time.Time, want *valet.ClientRefresh, reused bool) string {
	tb.Helper()
	next := valet.HashSecret(valet.NewID())
	got, found, gotReused, err := cs.RotateClientRefresh(testContext(tb), clientID, hash, next, at)
	noErr(tb, "RotateClientRefresh", err)
	if found != (want != nil) || gotReused != reused {
		tb.Fatalf("RotateClientRefresh = found %t, reused %t; want %t, %t", found, gotReused, want != nil, reused)
	}
	if want != nil {
		if d := diffClientRefresh(got, *want); d != "" {
			tb.Errorf("RotateClientRefresh: %s", d)
		}
	}
	return next
}

// testClientRefresh checks the refresh families of valet.ClientStore:
// stored only for a user and a client that exist; rotated once per token,
// by one of callers at once; an earlier token revoking its family; another
// client's token, an expired family and an unknown hash refused without
// harm to others; revoked by token, by id, by session and by user and
// client; and gone with their user or client.
func testClientRefresh(t *testing.T, newStores func(testing.TB) valet.Stores) {
	run := member(t, newStores, clientsOf)

	// setup stores a user and two clients and returns their ids.
	setup := func(t *testing.T, cs clientStores) (userID string, c1, c2 string) {
		t.Helper()
		ctx := testContext(t)
		u := newUser(t, "refresh@example.test", now().Add(-time.Hour))
		noErr(t, "CreateUser", cs.users.CreateUser(ctx, u))
		a, b := newClient(t, now()), newClient(t, now().Add(time.Second))
		noErr(t, "CreateClient", cs.CreateClient(ctx, a))
		noErr(t, "CreateClient", cs.CreateClient(ctx, b))
		return u.ID, a.ID, b.ID
	}
	create := func(t *testing.T, cs clientStores, clientID, userID, sid string) (valet.ClientRefresh, string) {
		t.Helper()
		f, h := newClientRefresh(clientID, userID, sid, now())
		noErr(t, "CreateClientRefresh", cs.CreateClientRefresh(testContext(t), f, h))
		return f, h
	}

	run("RotateOnceThenReuse", func(t *testing.T, cs clientStores) {
		userID, c1, _ := setup(t, cs)
		f, first := create(t, cs, c1, userID, "sid-1")
		at := now()
		second := rotate(t, cs, c1, first, at, &f, false)
		third := rotate(t, cs, c1, second, at, &f, false)
		// The first token again: reuse, and the family is gone.
		rotate(t, cs, c1, first, at, nil, true)
		rotate(t, cs, c1, third, at, nil, false)
	})

	run("Refusals", func(t *testing.T, cs clientStores) {
		ctx := testContext(t)
		userID, c1, c2 := setup(t, cs)
		f, h := create(t, cs, c1, userID, "sid-1")
		rotate(t, cs, c2, h, now(), nil, false) // another client's
		rotate(t, cs, c1, valet.HashSecret(valet.NewID()), now(), nil, false)
		rotate(t, cs, c1, "", now(), nil, false)
		// Still there, for its own client.
		next := rotate(t, cs, c1, h, now(), &f, false)

		expired, eh := newClientRefresh(c1, userID, "sid-2", now())
		expired.ExpiresAt = now().Add(time.Minute)
		noErr(t, "CreateClientRefresh", cs.CreateClientRefresh(ctx, expired, eh))
		rotate(t, cs, c1, eh, expired.ExpiresAt, nil, false)
		rotate(t, cs, c1, next, now(), &f, false)

		for _, tc := range []struct {
			name           string
			userID, client string
		}{
			{"unknown user", valet.NewID(), c1},
			{"unknown client", userID, valet.NewID()},
		} {
			g, gh := newClientRefresh(tc.client, tc.userID, "sid-3", now())
			wantErr(t, "CreateClientRefresh for an "+tc.name, cs.CreateClientRefresh(ctx, g, gh), valet.ErrNotFound)
		}
		dup, _ := newClientRefresh(c1, userID, "sid-4", now())
		wantErr(t, "CreateClientRefresh with a stored hash", cs.CreateClientRefresh(ctx, dup, h), valet.ErrConflict)
	})

	run("RacingRotations", func(t *testing.T, cs clientStores) {
		userID, c1, _ := setup(t, cs)
		_, h := create(t, cs, c1, userID, "sid-1")
		var reused atomic.Int32
		won := race(t, "RotateClientRefresh", func() (bool, error) {
			_, found, r, err := cs.RotateClientRefresh(testContext(t), c1, h, valet.HashSecret(valet.NewID()), now())
			if r {
				reused.Add(1)
			}
			return found, err
		})
		// The winner's new token is current: the token the others gave is
		// an earlier one, and the first of them to see so revokes the
		// family; the rest find it gone.
		if won != 1 || reused.Load() < 1 {
			t.Errorf("of %d callers with one token, %d rotated it and %d saw it reused; want 1 and at least 1", racers, won, reused.Load())
		}
	})

	run("RevokeByToken", func(t *testing.T, cs clientStores) {
		ctx := testContext(t)
		userID, c1, c2 := setup(t, cs)
		f, first := create(t, cs, c1, userID, "sid-1")
		second := rotate(t, cs, c1, first, now(), &f, false)
		noErr(t, "RevokeClientRefreshToken of another client", cs.RevokeClientRefreshToken(ctx, c2, first))
		noErr(t, "RevokeClientRefreshToken of an unknown token", cs.RevokeClientRefreshToken(ctx, c1, valet.HashSecret(valet.NewID())))
		second = rotate(t, cs, c1, second, now(), &f, false)
		// An earlier token revokes the family as the current one does.
		noErr(t, "RevokeClientRefreshToken", cs.RevokeClientRefreshToken(ctx, c1, first))
		rotate(t, cs, c1, second, now(), nil, false)
	})

	run("RevokeSelected", func(t *testing.T, cs clientStores) {
		ctx := testContext(t)
		userID, c1, c2 := setup(t, cs)
		other := newUser(t, "other@example.test", now())
		noErr(t, "CreateUser", cs.users.CreateUser(ctx, other))
		type fam struct {
			f valet.ClientRefresh
			h string
		}
		mk := func(client, user, sid string) *fam {
			f, h := create(t, cs, client, user, sid)
			return &fam{f, h}
		}
		a1 := mk(c1, userID, "sid-a")
		a2 := mk(c2, userID, "sid-a")
		b1 := mk(c1, userID, "sid-b")
		o1 := mk(c1, other.ID, "sid-o")
		live := func(fs ...*fam) {
			t.Helper()
			for _, f := range fs {
				f.h = rotate(t, cs, f.f.ClientID, f.h, now(), &f.f, false)
			}
		}
		dead := func(fs ...*fam) {
			t.Helper()
			for _, f := range fs {
				rotate(t, cs, f.f.ClientID, f.h, now(), nil, false)
			}
		}
		steps := []struct {
			filter valet.ClientRefreshFilter
			n      int
			gone   []*fam
			left   []*fam
		}{
			{valet.ClientRefreshFilter{}, 0, nil, []*fam{a1, a2, b1, o1}},
			{valet.ClientRefreshFilter{SessionID: "sid-unknown"}, 0, nil, []*fam{a1, a2, b1, o1}},
			{valet.ClientRefreshFilter{SessionID: "sid-a"}, 2, []*fam{a1, a2}, []*fam{b1, o1}},
			{valet.ClientRefreshFilter{UserID: userID, ClientID: c2}, 0, nil, []*fam{b1, o1}},
			{valet.ClientRefreshFilter{UserID: userID, ClientID: c1}, 1, []*fam{b1}, []*fam{o1}},
			{valet.ClientRefreshFilter{ID: o1.f.ID, UserID: userID}, 0, nil, []*fam{o1}},
			{valet.ClientRefreshFilter{ID: o1.f.ID}, 1, []*fam{o1}, nil},
		}
		for i, s := range steps {
			n, err := cs.RevokeClientRefreshes(ctx, s.filter)
			noErr(t, "RevokeClientRefreshes", err)
			if n != s.n {
				t.Errorf("step %d: RevokeClientRefreshes(%+v) = %d, want %d", i, s.filter, n, s.n)
			}
			dead(s.gone...)
			live(s.left...)
		}
	})

	run("GoneWithUserAndClient", func(t *testing.T, cs clientStores) {
		ctx := testContext(t)
		userID, c1, c2 := setup(t, cs)
		_, byClient := create(t, cs, c2, userID, "sid-1")
		noErr(t, "DeleteClient", cs.DeleteClient(ctx, c2))
		rotate(t, cs, c2, byClient, now(), nil, false)
		_, byUser := create(t, cs, c1, userID, "sid-1")
		noErr(t, "DeleteUser", cs.users.DeleteUser(ctx, userID))
		rotate(t, cs, c1, byUser, now(), nil, false)
	})
}
