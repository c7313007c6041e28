package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/valetauth/valet"
)

// testSweep checks valet.Sweeper on every member that implements it. The
// records are all live by the real clock and some have expired at the time
// given to Sweep, an hour ahead, so that what a lookup finds afterwards
// shows what Sweep deleted. A sweeper deletes exactly the records of its
// member that have expired at that time and returns how many, or, when its
// backend expires records by itself, deletes none and returns 0.
func testSweep(t *testing.T, newStores func(testing.TB) valet.Stores) {
	sweepers := func(st valet.Stores) []valet.Sweeper {
		var out []valet.Sweeper
		for _, m := range members(st) {
			if sw, ok := m.(valet.Sweeper); ok && !slices.Contains(out, sw) {
				out = append(out, sw)
			}
		}
		return out
	}

	t.Run("ExpiredGoLiveStay", func(t *testing.T) {
		st := newStores(t)
		sws := sweepers(st)
		if len(sws) == 0 {
			t.Skip("no member implements valet.Sweeper")
		}
		ctx := testContext(t)
		n := now()
		at := n.Add(time.Hour)
		fx := newSweepFixture(t, st, n, at)

		// Each record kind is swept by the member that holds it.
		holds := func(sw valet.Sweeper, m any) bool { return m != nil && m == any(sw) }
		for _, sw := range sws {
			got, err := sw.Sweep(ctx, at)
			noErr(t, "Sweep", err)
			var kinds []*sweepKind
			want := 0
			for _, k := range fx.kinds {
				if holds(sw, k.member) {
					kinds = append(kinds, k)
					want += len(k.expired)
				}
			}
			switch got {
			case want:
				for _, k := range kinds {
					k.swept = true
				}
			case 0:
				// A backend that expires records by itself deletes none:
				// every record must still be there.
			default:
				t.Errorf("Sweep(now+1h) = %d, want %d (the records expired by then) or 0", got, want)
			}
			if again, err := sw.Sweep(ctx, at); err != nil || again != 0 {
				t.Errorf("a second Sweep(now+1h) = %d, %v; want 0, nil", again, err)
			}
		}
		for _, k := range fx.kinds {
			for name, present := range k.live {
				if !present(t) {
					t.Errorf("%s: Sweep deleted a record that is live at the sweep time: %s", k.name, name)
				}
			}
			for name, present := range k.expired {
				switch ok := present(t); {
				case k.swept && ok:
					t.Errorf("%s: Sweep counted its expired records but left %s", k.name, name)
				case !k.swept && !ok:
					t.Errorf("%s: Sweep returned 0 but deleted %s", k.name, name)
				}
			}
		}
	})
}

// sweepKind is one kind of record in a sweep fixture: the member that holds
// them, and for each record a check, by the real clock, that it is still
// stored.
type sweepKind struct {
	name    string
	member  any
	live    map[string]func(testing.TB) bool
	expired map[string]func(testing.TB) bool
	// swept is set once the member's Sweep has reported deleting them.
	swept bool
}

type sweepFixture struct {
	kinds []*sweepKind
}

// newSweepFixture stores, in each member of st that keeps them, sessions,
// refresh families, revocations, pending sign-in state, authorization
// codes and client grants created at n, some live and some expired at at,
// each expiry also met exactly at at.
func newSweepFixture(t *testing.T, st valet.Stores, n, at time.Time) *sweepFixture {
	t.Helper()
	ctx := testContext(t)
	fx := &sweepFixture{}
	if ss := st.Sessions; ss != nil {
		k := &sweepKind{name: "sessions", member: ss, live: map[string]func(testing.TB) bool{}, expired: map[string]func(testing.TB) bool{}}
		user := valet.NewID()
		add := func(to map[string]func(testing.TB) bool, name string, expires, idle time.Time) {
			s := newSession(user, n)
			s.ExpiresAt, s.IdleExpiresAt = expires, idle
			noErr(t, "CreateSession "+name, ss.CreateSession(ctx, s))
			to[name] = func(tb testing.TB) bool {
				_, found, err := ss.Session(testContext(tb), s.ID)
				noErr(tb, "Session", err)
				return found
			}
		}
		add(k.live, "live session", n.Add(24*time.Hour), n.Add(2*time.Hour))
		add(k.live, "live session without idle expiry", n.Add(2*time.Hour), time.Time{})
		add(k.expired, "session past its absolute expiry", n.Add(30*time.Minute), n.Add(50*time.Minute))
		add(k.expired, "session past its idle expiry", n.Add(24*time.Hour), n.Add(30*time.Minute))
		add(k.expired, "session that ends at the sweep time", at, time.Time{})
		fx.kinds = append(fx.kinds, k)
	}
	if rs := st.Refresh; rs != nil {
		k := &sweepKind{name: "refresh families", member: rs, live: map[string]func(testing.TB) bool{}, expired: map[string]func(testing.TB) bool{}}
		user := valet.NewID()
		add := func(to map[string]func(testing.TB) bool, name string, expires, idle time.Time, advance bool) {
			f, h := newFamily(t, user, "", n)
			f.ExpiresAt, f.IdleExpiresAt = expires, idle
			noErr(t, "CreateRefreshFamily "+name, rs.CreateRefreshFamily(ctx, f, h))
			hashes := []string{h}
			if advance {
				next := valet.HashSecret(valet.NewID())
				ok, err := rs.AdvanceRefreshFamily(ctx, f.ID, 0, next, randomBytes(t, 64), n, idle)
				noErr(t, "AdvanceRefreshFamily "+name, err)
				if !ok {
					t.Fatalf("AdvanceRefreshFamily %s = false, want true", name)
				}
				hashes = append(hashes, next)
			}
			// A family is stored while any of its token hashes finds it:
			// sweeping one must take every hash with it.
			to[name] = func(tb testing.TB) bool {
				stored := false
				for _, h := range hashes {
					_, _, found, err := rs.RefreshByToken(testContext(tb), h)
					noErr(tb, "RefreshByToken", err)
					stored = stored || found
				}
				return stored
			}
		}
		add(k.live, "live family", n.Add(24*time.Hour), n.Add(2*time.Hour), true)
		add(k.expired, "family past its absolute expiry", n.Add(30*time.Minute), n.Add(30*time.Minute), true)
		add(k.expired, "family past its idle expiry", n.Add(24*time.Hour), n.Add(30*time.Minute), false)
		add(k.expired, "family that ends at the sweep time", at, at, false)
		fx.kinds = append(fx.kinds, k)
	}
	if vs := st.Revocations; vs != nil {
		k := &sweepKind{name: "revocations", member: vs, live: map[string]func(testing.TB) bool{}, expired: map[string]func(testing.TB) bool{}}
		add := func(to map[string]func(testing.TB) bool, name string, until time.Time) {
			r := valet.Revocation{SessionID: valet.HashSecret(valet.NewID()), Until: until}
			noErr(t, "AddRevocation "+name, vs.AddRevocation(ctx, r))
			to[name] = func(tb testing.TB) bool {
				revs, err := vs.Revocations(testContext(tb), n)
				noErr(tb, "Revocations", err)
				return slices.ContainsFunc(revs, func(got valet.Revocation) bool { return got.SessionID == r.SessionID })
			}
		}
		add(k.live, "live revocation", n.Add(2*time.Hour))
		add(k.expired, "revocation that ended before the sweep time", n.Add(30*time.Minute))
		add(k.expired, "revocation that ends at the sweep time", at)
		fx.kinds = append(fx.kinds, k)
	}
	if fs := st.Factors; fs != nil {
		k := &sweepKind{name: "pending sign-ins", member: fs, live: map[string]func(testing.TB) bool{}, expired: map[string]func(testing.TB) bool{}}
		add := func(to map[string]func(testing.TB) bool, name string, expires time.Time) {
			key := valet.HashSecret(valet.NewID())
			noErr(t, "PutPending "+name, fs.PutPending(ctx, key, randomBytes(t, 32), expires))
			// Each record is looked at once, so taking it to see it is
			// no harm.
			to[name] = func(tb testing.TB) bool {
				_, found, err := fs.TakePending(testContext(tb), key, n)
				noErr(tb, "TakePending", err)
				return found
			}
		}
		add(k.live, "live pending sign-in", n.Add(2*time.Hour))
		add(k.expired, "pending sign-in that expired before the sweep time", n.Add(30*time.Minute))
		add(k.expired, "pending sign-in that expires at the sweep time", at)
		fx.kinds = append(fx.kinds, k)
	}
	if cs, us := st.Clients, st.Users; cs != nil && us != nil {
		u := newUser(t, "sweep@example.test", n)
		noErr(t, "CreateUser", us.CreateUser(ctx, u))
		c := newClient(t, n)
		noErr(t, "CreateClient", cs.CreateClient(ctx, c))

		codes := &sweepKind{name: "authorization codes", member: cs, live: map[string]func(testing.TB) bool{}, expired: map[string]func(testing.TB) bool{}}
		addCode := func(to map[string]func(testing.TB) bool, name string, expires time.Time, taken bool) {
			code := newAuthCode(c.ID, u.ID, n)
			code.ExpiresAt = expires
			noErr(t, "CreateAuthCode "+name, cs.CreateAuthCode(ctx, code))
			if taken {
				_, found, _, err := cs.TakeAuthCode(ctx, code.Hash, n)
				noErr(t, "TakeAuthCode "+name, err)
				if !found {
					t.Fatalf("TakeAuthCode %s found none", name)
				}
			}
			// A stored code is found if untaken and reported used if
			// taken; taking it to see it is no harm, as it is looked at
			// once.
			to[name] = func(tb testing.TB) bool {
				_, found, used, err := cs.TakeAuthCode(testContext(tb), code.Hash, n)
				noErr(tb, "TakeAuthCode", err)
				return found || used
			}
		}
		addCode(codes.live, "live code", n.Add(2*time.Hour), false)
		addCode(codes.live, "live code that was taken", n.Add(2*time.Hour), true)
		addCode(codes.expired, "code that expired before the sweep time", n.Add(30*time.Minute), false)
		addCode(codes.expired, "taken code that expired before the sweep time", n.Add(30*time.Minute), true)
		addCode(codes.expired, "code that expires at the sweep time", at, false)
		fx.kinds = append(fx.kinds, codes)

		grants := &sweepKind{name: "client grants", member: cs, live: map[string]func(testing.TB) bool{}, expired: map[string]func(testing.TB) bool{}}
		addGrant := func(to map[string]func(testing.TB) bool, name string, expires time.Time) {
			g := valet.ClientGrant{SessionID: valet.HashSecret(valet.NewID()), ClientID: c.ID, UserID: u.ID, ExpiresAt: expires}
			noErr(t, "AddClientGrant "+name, cs.AddClientGrant(ctx, g))
			to[name] = func(tb testing.TB) bool {
				gs, err := cs.ClientGrants(testContext(tb), g.SessionID)
				noErr(tb, "ClientGrants", err)
				return len(gs) > 0
			}
		}
		addGrant(grants.live, "live grant", n.Add(2*time.Hour))
		addGrant(grants.expired, "grant that expired before the sweep time", n.Add(30*time.Minute))
		addGrant(grants.expired, "grant that expires at the sweep time", at)
		fx.kinds = append(fx.kinds, grants)
	}
	return fx
}
