package storetest

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valetauth/valet"
)

// clientStores is a client store with the user store whose users its codes,
// consents and grants belong to: deleting a user deletes them.
type clientStores struct {
	valet.ClientStore
	users valet.UserStore
}

// clientsOf returns st's Clients with its Users, if it has both.
func clientsOf(st valet.Stores) (clientStores, bool) {
	return clientStores{ClientStore: st.Clients, users: st.Users}, st.Clients != nil && st.Users != nil
}

// newClient returns a confidential client made at created with every
// field set.
func newClient(tb testing.TB, created time.Time) valet.Client {
	tb.Helper()
	id := valet.NewID()
	return valet.Client{
		ID:                     id,
		Name:                   "Billing",
		SecretHash:             valet.HashSecret(valet.NewID()),
		RedirectURIs:           []string{"https://billing.example.test/callback", "https://billing.example.test/cb?x=1&y=2"},
		PostLogoutRedirectURIs: []string{"https://billing.example.test/"},
		BackchannelLogoutURI:   "https://billing.example.test/backchannel",
		Scopes:                 []string{"openid", "email", "profile", "offline_access", "roles"},
		SkipConsent:            true,
		IDTokenAlg:             "RS256",
		AccessTTL:              5 * time.Minute,
		RefreshTTL:             30 * 24 * time.Hour,
		CreatedAt:              created,
	}
}

// newAuthCode returns a code of userID for clientID made at created, good
// for a minute, keyed by the hash of a fresh code, with every field set.
func newAuthCode(clientID, userID string, created time.Time) valet.AuthCode {
	return valet.AuthCode{
		Hash:          valet.HashSecret(valet.NewID()),
		ClientID:      clientID,
		UserID:        userID,
		SessionID:     valet.HashSecret(valet.NewID()),
		RedirectURI:   "https://billing.example.test/callback",
		Scopes:        []string{"openid", "email"},
		Nonce:         valet.NewID(),
		CodeChallenge: valet.NewID() + valet.NewID()[:11],
		AMR:           []string{valet.AMRPassword, valet.AMROTP, valet.AMRMulti},
		AuthTime:      created.Add(-time.Minute),
		CreatedAt:     created,
		ExpiresAt:     created.Add(time.Minute),
	}
}

func (d *diff) duration(field string, got, want time.Duration) {
	if got != want {
		*d = append(*d, fmt.Sprintf("%s = %v, want %v", field, got, want))
	}
}

// The diffs hold nil and empty lists equal (slices.Equal): a store may
// read back either.

func diffClient(got, want valet.Client) string {
	var d diff
	d.str("ID", got.ID, want.ID)
	d.str("Name", got.Name, want.Name)
	d.str("SecretHash", got.SecretHash, want.SecretHash)
	d.strings("RedirectURIs", got.RedirectURIs, want.RedirectURIs)
	d.strings("PostLogoutRedirectURIs", got.PostLogoutRedirectURIs, want.PostLogoutRedirectURIs)
	d.str("BackchannelLogoutURI", got.BackchannelLogoutURI, want.BackchannelLogoutURI)
	d.strings("Scopes", got.Scopes, want.Scopes)
	d.bool("SkipConsent", got.SkipConsent, want.SkipConsent)
	d.str("IDTokenAlg", got.IDTokenAlg, want.IDTokenAlg)
	d.duration("AccessTTL", got.AccessTTL, want.AccessTTL)
	d.duration("RefreshTTL", got.RefreshTTL, want.RefreshTTL)
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	return d.String()
}

func diffCode(got, want valet.AuthCode) string {
	var d diff
	d.str("Hash", got.Hash, want.Hash)
	d.str("ClientID", got.ClientID, want.ClientID)
	d.str("UserID", got.UserID, want.UserID)
	d.str("SessionID", got.SessionID, want.SessionID)
	d.str("RedirectURI", got.RedirectURI, want.RedirectURI)
	d.strings("Scopes", got.Scopes, want.Scopes)
	d.str("Nonce", got.Nonce, want.Nonce)
	d.str("CodeChallenge", got.CodeChallenge, want.CodeChallenge)
	d.strings("AMR", got.AMR, want.AMR)
	d.time("AuthTime", got.AuthTime, want.AuthTime)
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	d.time("ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	return d.String()
}

func diffConsent(got, want valet.Consent) string {
	var d diff
	d.str("UserID", got.UserID, want.UserID)
	d.str("ClientID", got.ClientID, want.ClientID)
	d.strings("Scopes", got.Scopes, want.Scopes)
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	return d.String()
}

func diffGrant(got, want valet.ClientGrant) string {
	var d diff
	d.str("SessionID", got.SessionID, want.SessionID)
	d.str("ClientID", got.ClientID, want.ClientID)
	d.str("UserID", got.UserID, want.UserID)
	d.time("ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	return d.String()
}

// wantTakeGrants fails tb unless TakeClientGrants(sid) returns want.
func wantTakeGrants(tb testing.TB, cs valet.ClientStore, sid string, want []valet.ClientGrant) {
	tb.Helper()
	got, err := cs.TakeClientGrants(testContext(tb), sid)
	noErr(tb, "TakeClientGrants", err)
	want = slices.Clone(want)
	slices.SortFunc(want, func(a, b valet.ClientGrant) int { return cmp.Compare(a.ClientID, b.ClientID) })
	if len(got) != len(want) {
		tb.Fatalf("TakeClientGrants = %d grants, want %d", len(got), len(want))
	}
	for i := range want {
		if d := diffGrant(got[i], want[i]); d != "" {
			tb.Errorf("TakeClientGrants[%d]: %s", i, d)
		}
	}
}

// wantClient fails tb unless ClientByID(want.ID) is want.
func wantClient(tb testing.TB, cs valet.ClientStore, want valet.Client) {
	tb.Helper()
	got, err := cs.ClientByID(testContext(tb), want.ID)
	noErr(tb, "ClientByID", err)
	if d := diffClient(got, want); d != "" {
		tb.Errorf("ClientByID(%.8s…): %s", want.ID, d)
	}
}

// wantClients fails tb unless Clients is want, in order.
func wantClients(tb testing.TB, cs valet.ClientStore, want []valet.Client) {
	tb.Helper()
	got, err := cs.Clients(testContext(tb))
	noErr(tb, "Clients", err)
	ids := func(cs []valet.Client) []string {
		out := make([]string, len(cs))
		for i, c := range cs {
			out[i] = c.ID
		}
		return out
	}
	if !slices.Equal(ids(got), ids(want)) {
		tb.Fatalf("Clients = %q, want %q", ids(got), ids(want))
	}
	for i := range got {
		if d := diffClient(got[i], want[i]); d != "" {
			tb.Errorf("Clients[%d]: %s", i, d)
		}
	}
}

// wantTake fails tb unless TakeAuthCode(hash, at) answers want (nil for
// not found) and used.
func wantTake(tb testing.TB, cs valet.ClientStore, hash string, at time.Time, want *valet.AuthCode, used bool) {
	tb.Helper()
	got, found, gotUsed, err := cs.TakeAuthCode(testContext(tb), hash, at)
	noErr(tb, "TakeAuthCode", err)
	if found != (want != nil) || gotUsed != used {
		tb.Fatalf("TakeAuthCode(%.8s…) = found %t, used %t; want %t, %t", hash, found, gotUsed, want != nil, used)
	}
	if want != nil {
		if d := diffCode(got, *want); d != "" {
			tb.Errorf("TakeAuthCode(%.8s…): %s", hash, d)
		}
	}
}

// wantConsent fails tb unless the consent of userID for clientID is want,
// or, when want is nil, there is none.
func wantConsent(tb testing.TB, cs valet.ClientStore, userID, clientID string, want *valet.Consent) {
	tb.Helper()
	got, found, err := cs.Consent(testContext(tb), userID, clientID)
	noErr(tb, "Consent", err)
	switch {
	case want == nil && found:
		tb.Errorf("Consent(%.8s…, %.8s…) = %q, want none", userID, clientID, got.Scopes)
	case want != nil && !found:
		tb.Errorf("Consent(%.8s…, %.8s…) found none, want %q", userID, clientID, want.Scopes)
	case want != nil:
		if d := diffConsent(got, *want); d != "" {
			tb.Errorf("Consent(%.8s…, %.8s…): %s", userID, clientID, d)
		}
	}
}

// wantConsents fails tb unless the consents of userID are want, in order.
func wantConsents(tb testing.TB, cs valet.ClientStore, userID string, want []valet.Consent) {
	tb.Helper()
	got, err := cs.Consents(testContext(tb), userID)
	noErr(tb, "Consents", err)
	ids := func(cs []valet.Consent) []string {
		out := make([]string, len(cs))
		for i, c := range cs {
			out[i] = c.ClientID
		}
		return out
	}
	if !slices.Equal(ids(got), ids(want)) {
		tb.Fatalf("Consents(%.8s…) = clients %q, want %q", userID, ids(got), ids(want))
	}
	for i := range got {
		if d := diffConsent(got[i], want[i]); d != "" {
			tb.Errorf("Consents(%.8s…)[%d]: %s", userID, i, d)
		}
	}
}

// wantGrants fails tb unless the grants of session sid are want, in any
// order.
func wantGrants(tb testing.TB, cs valet.ClientStore, sid string, want []valet.ClientGrant) {
	tb.Helper()
	got, err := cs.ClientGrants(testContext(tb), sid)
	noErr(tb, "ClientGrants", err)
	byClient := func(a, b valet.ClientGrant) int { return cmp.Compare(a.ClientID, b.ClientID) }
	got, want = slices.SortedFunc(slices.Values(got), byClient), slices.SortedFunc(slices.Values(want), byClient)
	ids := func(gs []valet.ClientGrant) []string {
		out := make([]string, len(gs))
		for i, g := range gs {
			out[i] = g.ClientID
		}
		return out
	}
	if !slices.Equal(ids(got), ids(want)) {
		tb.Fatalf("ClientGrants(%.8s…) = clients %q, want %q", sid, ids(got), ids(want))
	}
	for i := range got {
		if d := diffGrant(got[i], want[i]); d != "" {
			tb.Errorf("ClientGrants(%.8s…)[%.8s…]: %s", sid, got[i].ClientID, d)
		}
	}
}

// testClients checks valet.ClientStore on a Clients member with the Users
// member it belongs to: clients stored and read back whole, listed oldest
// first and deleted; authorization codes stored for users and clients that
// exist and taken once, also by callers at once, with a replay told apart
// until the code expires; consents replaced, listed newest first and
// deleted; grants that keep their later expiry; and every code, consent and
// grant of a user or client deleted with it.
func testClients(t *testing.T, newStores func(testing.TB) valet.Stores) {
	run := member(t, newStores, clientsOf)

	// setupUser stores a user with email and returns its id.
	setupUser := func(t *testing.T, cs clientStores, email string) string {
		t.Helper()
		u := newUser(t, email, now().Add(-time.Hour))
		noErr(t, "CreateUser", cs.users.CreateUser(testContext(t), u))
		return u.ID
	}
	// setupClient stores a client made at created and returns it.
	setupClient := func(t *testing.T, cs clientStores, created time.Time) valet.Client {
		t.Helper()
		c := newClient(t, created)
		noErr(t, "CreateClient", cs.CreateClient(testContext(t), c))
		return c
	}

	run("CreateAndGet", func(t *testing.T, cs clientStores) {
		ctx := testContext(t)
		n := now()
		full := newClient(t, n)
		full.Name = "Ünïcode app 日本"
		public := newClient(t, n.Add(time.Second))
		public.Name, public.SecretHash = "SPA", ""
		public.RedirectURIs, public.PostLogoutRedirectURIs = []string{"http://127.0.0.1:8080/cb"}, nil
		public.BackchannelLogoutURI, public.Scopes = "", []string{"openid"}
		public.SkipConsent, public.IDTokenAlg = false, "EdDSA"
		public.AccessTTL, public.RefreshTTL = 0, 0
		empty := valet.Client{
			ID: valet.NewID(), RedirectURIs: []string{}, PostLogoutRedirectURIs: []string{}, Scopes: []string{},
			CreatedAt: n.Add(2 * time.Second),
		}
		odd := newClient(t, n.Add(3*time.Second))
		odd.AccessTTL, odd.RefreshTTL = 1500*time.Millisecond, 36*time.Hour+time.Microsecond
		tests := []struct {
			name string
			c    valet.Client
		}{
			{"every field", full},
			{"public, defaults", public},
			{"empty lists and strings", empty},
			{"durations below a second", odd},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				noErr(t, "CreateClient", cs.CreateClient(ctx, tc.c))
				wantClient(t, cs, tc.c)
			})
		}
		wantClients(t, cs, []valet.Client{full, public, empty, odd})

		for _, tc := range []struct{ name, id string }{
			{"unknown", valet.NewID()},
			{"prefix", full.ID[:len(full.ID)-1]},
			{"empty", ""},
		} {
			t.Run("not found: "+tc.name, func(t *testing.T) {
				_, err := cs.ClientByID(ctx, tc.id)
				wantErr(t, "ClientByID", err, valet.ErrNotFound)
			})
		}
	})

	run("ListOldestFirst", func(t *testing.T, cs clientStores) {
		ctx := testContext(t)
		wantClients(t, cs, nil)
		n := now()
		a, b, c := newClient(t, n.Add(-2*time.Hour)), newClient(t, n.Add(-time.Hour)), newClient(t, n)
		// Stored out of order: the list is by creation time.
		for _, cl := range []valet.Client{c, a, b} {
			noErr(t, "CreateClient", cs.CreateClient(ctx, cl))
		}
		wantClients(t, cs, []valet.Client{a, b, c})
	})

	run("CreateCopies", func(t *testing.T, cs clientStores) {
		ctx := testContext(t)
		c := newClient(t, now())
		want := c
		want.RedirectURIs, want.Scopes = slices.Clone(c.RedirectURIs), slices.Clone(c.Scopes)
		want.PostLogoutRedirectURIs = slices.Clone(c.PostLogoutRedirectURIs)
		noErr(t, "CreateClient", cs.CreateClient(ctx, c))
		// The store keeps its own copies of the lists, and hands out
		// copies of them.
		c.RedirectURIs[0], c.Scopes[0], c.PostLogoutRedirectURIs[0] = "https://evil.example.test/", "admin", "x"
		got, err := cs.ClientByID(ctx, c.ID)
		noErr(t, "ClientByID", err)
		if len(got.RedirectURIs) > 0 && len(got.Scopes) > 0 {
			got.RedirectURIs[0], got.Scopes[0] = "https://evil.example.test/", "admin"
		}
		wantClient(t, cs, want)
		wantClients(t, cs, []valet.Client{want})
	})

	run("CreateConflict", func(t *testing.T, cs clientStores) {
		ctx := testContext(t)
		n := now()
		c := setupClient(t, cs, n)
		other := newClient(t, n.Add(time.Minute))
		other.ID, other.Name, other.RedirectURIs = c.ID, "Impostor", []string{"https://evil.example.test/"}
		wantErr(t, "CreateClient with a taken id", cs.CreateClient(ctx, other), valet.ErrConflict)
		wantClient(t, cs, c)
		wantClients(t, cs, []valet.Client{c})
	})

	run("Delete", func(t *testing.T, cs clientStores) {
		ctx := testContext(t)
		n := now()
		a, b := setupClient(t, cs, n), setupClient(t, cs, n.Add(time.Second))
		steps := []struct {
			name string
			id   string
			want error
			left []valet.Client
		}{
			{"unknown", valet.NewID(), valet.ErrNotFound, []valet.Client{a, b}},
			{"existing", a.ID, nil, []valet.Client{b}},
			{"again", a.ID, valet.ErrNotFound, []valet.Client{b}},
			{"empty", "", valet.ErrNotFound, []valet.Client{b}},
		}
		for _, step := range steps {
			t.Run(step.name, func(t *testing.T) {
				err := cs.DeleteClient(ctx, step.id)
				if step.want == nil {
					noErr(t, "DeleteClient", err)
				} else {
					wantErr(t, "DeleteClient", err, step.want)
				}
				wantClients(t, cs, step.left)
			})
		}
		_, err := cs.ClientByID(ctx, a.ID)
		wantErr(t, "ClientByID of a deleted client", err, valet.ErrNotFound)
		// Its id is free again.
		again := newClient(t, n.Add(2*time.Second))
		again.ID = a.ID
		noErr(t, "CreateClient with the id of a deleted client", cs.CreateClient(ctx, again))
		wantClients(t, cs, []valet.Client{b, again})
	})

	run("AuthCode", func(t *testing.T, cs clientStores) {
		ctx := testContext(t)
		user := setupUser(t, cs, "ada@example.test")
		n := now()
		c := setupClient(t, cs, n.Add(-time.Hour))
		full := newAuthCode(c.ID, user, n)
		bare := valet.AuthCode{
			Hash: valet.HashSecret(valet.NewID()), ClientID: c.ID, UserID: user,
			RedirectURI: c.RedirectURIs[1], CreatedAt: n, ExpiresAt: n.Add(time.Minute),
		}
		empty := newAuthCode(c.ID, user, n)
		empty.Scopes, empty.AMR, empty.CodeChallenge, empty.Nonce = []string{}, []string{}, "", ""
		tests := []struct {
			name string
			code valet.AuthCode
		}{
			{"every field", full},
			{"no session, nonce, challenge, scopes, methods or time", bare},
			{"empty lists", empty},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				noErr(t, "CreateAuthCode", cs.CreateAuthCode(ctx, tc.code))
				wantTake(t, cs, tc.code.Hash, n, &tc.code, false)
			})
		}
	})

	run("AuthCodeCopies", func(t *testing.T, cs clientStores) {
		ctx := testContext(t)
		user := setupUser(t, cs, "ada@example.test")
		n := now()
		code := newAuthCode(setupClient(t, cs, n).ID, user, n)
		want := code
		want.Scopes, want.AMR = slices.Clone(code.Scopes), slices.Clone(code.AMR)
		noErr(t, "CreateAuthCode", cs.CreateAuthCode(ctx, code))
		code.Scopes[0], code.AMR[0] = "admin", "hwk"
		wantTake(t, cs, code.Hash, n, &want, false)
	})

	run("TakeAuthCode", func(t *testing.T, cs clientStores) {
		ctx := testContext(t)
		user := setupUser(t, cs, "ada@example.test")
		n := now()
		c := setupClient(t, cs, n.Add(-time.Hour))
		code, bystander, unused := newAuthCode(c.ID, user, n), newAuthCode(c.ID, user, n), newAuthCode(c.ID, user, n)
		for _, cd := range []valet.AuthCode{code, bystander, unused} {
			noErr(t, "CreateAuthCode", cs.CreateAuthCode(ctx, cd))
		}
		steps := []struct {
			name string
			hash string
			at   time.Time
			want *valet.AuthCode
			used bool
		}{
			{"unknown", valet.HashSecret(valet.NewID()), n, nil, false},
			{"prefix", code.Hash[:len(code.Hash)-1], n, nil, false},
			{"empty", "", n, nil, false},
			{"first take", code.Hash, n, &code, false},
			{"again is a replay", code.Hash, n, nil, true},
			{"again before it expires is a replay", code.Hash, code.ExpiresAt.Add(-time.Microsecond), nil, true},
			{"again when it expires", code.Hash, code.ExpiresAt, nil, false},
			{"again after it expired", code.Hash, code.ExpiresAt.Add(time.Hour), nil, false},
			{"untaken, when it expires", unused.Hash, unused.ExpiresAt, nil, false},
			{"untaken, after it expired", unused.Hash, unused.ExpiresAt.Add(time.Second), nil, false},
			{"another code is its own", bystander.Hash, bystander.ExpiresAt.Add(-time.Microsecond), &bystander, false},
			{"and is then taken", bystander.Hash, n, nil, true},
		}
		for _, step := range steps {
			t.Run(step.name, func(t *testing.T) { wantTake(t, cs, step.hash, step.at, step.want, step.used) })
		}
	})

	run("TakeAuthCodeAtOnce", func(t *testing.T, cs clientStores) {
		ctx := testContext(t)
		user := setupUser(t, cs, "ada@example.test")
		n := now()
		code := newAuthCode(setupClient(t, cs, n).ID, user, n)
		noErr(t, "CreateAuthCode", cs.CreateAuthCode(ctx, code))
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			errs    [racers]error
			found   [racers]bool
			mu      sync.Mutex
			replays int
			wrong   []string
		)
		for i := range racers {
			wg.Go(func() {
				<-start
				got, ok, used, err := cs.TakeAuthCode(ctx, code.Hash, n)
				found[i], errs[i] = ok, err
				mu.Lock()
				defer mu.Unlock()
				switch {
				case ok && used:
					wrong = append(wrong, "found and used both true")
				case ok:
					if d := diffCode(got, code); d != "" {
						wrong = append(wrong, d)
					}
				case used:
					replays++
				}
			})
		}
		close(start)
		wg.Wait()
		won := 0
		for i := range racers {
			noErr(t, "TakeAuthCode", errs[i])
			if found[i] {
				won++
			}
		}
		if won != 1 {
			t.Errorf("%d of %d callers at once took one code, want 1", won, racers)
		}
		// Every other caller came after the one that took it: a replay.
		if replays != racers-won {
			t.Errorf("%d of the %d callers that did not take the code were told it was used, want all", replays, racers-won)
		}
		for _, w := range wrong {
			t.Errorf("TakeAuthCode: %s", w)
		}
		wantTake(t, cs, code.Hash, n, nil, true)
	})

	run("CreateAuthCodeConflict", func(t *testing.T, cs clientStores) {
		ctx := testContext(t)
		user, other := setupUser(t, cs, "ada@example.test"), setupUser(t, cs, "bob@example.test")
		n := now()
		c, d := setupClient(t, cs, n), setupClient(t, cs, n.Add(time.Second))
		code := newAuthCode(c.ID, user, n)
		noErr(t, "CreateAuthCode", cs.CreateAuthCode(ctx, code))
		same := newAuthCode(d.ID, other, n.Add(time.Second))
		same.Hash = code.Hash
		wantErr(t, "CreateAuthCode with a stored hash", cs.CreateAuthCode(ctx, same), valet.ErrConflict)
		wantTake(t, cs, code.Hash, n, &code, false)
		// A taken code keeps its hash until it expires.
		wantErr(t, "CreateAuthCode with the hash of a taken code", cs.CreateAuthCode(ctx, same), valet.ErrConflict)
		wantTake(t, cs, code.Hash, n, nil, true)
	})

	run("CreateAuthCodeUnknown", func(t *testing.T, cs clientStores) {
		ctx := testContext(t)
		user, gone := setupUser(t, cs, "ada@example.test"), setupUser(t, cs, "bob@example.test")
		noErr(t, "DeleteUser", cs.users.DeleteUser(ctx, gone))
		n := now()
		c, deleted := setupClient(t, cs, n), setupClient(t, cs, n)
		noErr(t, "DeleteClient", cs.DeleteClient(ctx, deleted.ID))
		tests := []struct {
			name         string
			user, client string
		}{
			{"user never was", valet.NewID(), c.ID},
			{"user deleted", gone, c.ID},
			{"no user", "", c.ID},
			{"client never was", user, valet.NewID()},
			{"client deleted", user, deleted.ID},
			{"no client", user, ""},
			{"neither", valet.NewID(), valet.NewID()},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				code := newAuthCode(tc.client, tc.user, n)
				wantErr(t, "CreateAuthCode", cs.CreateAuthCode(ctx, code), valet.ErrNotFound)
				wantTake(t, cs, code.Hash, n, nil, false)
			})
		}
	})

	run("Consents", func(t *testing.T, cs clientStores) {
		ctx := testContext(t)
		user, other := setupUser(t, cs, "ada@example.test"), setupUser(t, cs, "bob@example.test")
		n := now()
		a, b, c := setupClient(t, cs, n), setupClient(t, cs, n), setupClient(t, cs, n)
		ua := valet.Consent{UserID: user, ClientID: a.ID, Scopes: []string{"openid", "email"}, CreatedAt: n.Add(-3 * time.Minute)}
		ub := valet.Consent{UserID: user, ClientID: b.ID, Scopes: []string{"openid"}, CreatedAt: n.Add(-time.Minute)}
		uc := valet.Consent{UserID: user, ClientID: c.ID, CreatedAt: n.Add(-2 * time.Minute)}
		oa := valet.Consent{UserID: other, ClientID: a.ID, Scopes: []string{"openid", "profile"}, CreatedAt: n}
		for _, co := range []valet.Consent{ua, ub, uc, oa} {
			noErr(t, "SetConsent", cs.SetConsent(ctx, co))
		}

		t.Run("read back", func(t *testing.T) {
			wantConsent(t, cs, user, a.ID, &ua)
			wantConsent(t, cs, user, c.ID, &uc)
			wantConsent(t, cs, other, a.ID, &oa)
			wantConsent(t, cs, other, b.ID, nil)
			wantConsent(t, cs, user, valet.NewID(), nil)
			wantConsent(t, cs, valet.NewID(), a.ID, nil)
		})
		t.Run("newest first", func(t *testing.T) {
			wantConsents(t, cs, user, []valet.Consent{ub, uc, ua})
			wantConsents(t, cs, other, []valet.Consent{oa})
			wantConsents(t, cs, valet.NewID(), nil)
		})

		replaced := valet.Consent{UserID: user, ClientID: a.ID, Scopes: []string{"openid", "email", "profile"}, CreatedAt: n}
		t.Run("replace", func(t *testing.T) {
			noErr(t, "SetConsent", cs.SetConsent(ctx, replaced))
			wantConsent(t, cs, user, a.ID, &replaced)
			wantConsents(t, cs, user, []valet.Consent{replaced, ub, uc})
			wantConsents(t, cs, other, []valet.Consent{oa})
		})
		fewer := valet.Consent{UserID: user, ClientID: b.ID, Scopes: []string{}, CreatedAt: n.Add(-30 * time.Second)}
		t.Run("replace with no scopes", func(t *testing.T) {
			noErr(t, "SetConsent", cs.SetConsent(ctx, fewer))
			wantConsent(t, cs, user, b.ID, &fewer)
			wantConsents(t, cs, user, []valet.Consent{replaced, fewer, uc})
		})

		steps := []struct {
			name         string
			user, client string
			want         bool
			left         []valet.Consent // the user's afterwards
		}{
			{"other user's", other, b.ID, false, []valet.Consent{replaced, fewer, uc}},
			{"existing", user, b.ID, true, []valet.Consent{replaced, uc}},
			{"again", user, b.ID, false, []valet.Consent{replaced, uc}},
			{"unknown client", user, valet.NewID(), false, []valet.Consent{replaced, uc}},
			{"unknown user", valet.NewID(), a.ID, false, []valet.Consent{replaced, uc}},
		}
		for _, step := range steps {
			t.Run("delete "+step.name, func(t *testing.T) {
				got, err := cs.DeleteConsent(ctx, step.user, step.client)
				noErr(t, "DeleteConsent", err)
				if got != step.want {
					t.Errorf("DeleteConsent = %t, want %t", got, step.want)
				}
				wantConsents(t, cs, user, step.left)
				wantConsents(t, cs, other, []valet.Consent{oa})
			})
		}
		wantConsent(t, cs, user, b.ID, nil)
	})

	run("ConsentUnknown", func(t *testing.T, cs clientStores) {
		ctx := testContext(t)
		user, gone := setupUser(t, cs, "ada@example.test"), setupUser(t, cs, "bob@example.test")
		noErr(t, "DeleteUser", cs.users.DeleteUser(ctx, gone))
		n := now()
		c, deleted := setupClient(t, cs, n), setupClient(t, cs, n)
		noErr(t, "DeleteClient", cs.DeleteClient(ctx, deleted.ID))
		for _, tc := range []struct {
			name         string
			user, client string
		}{
			{"user never was", valet.NewID(), c.ID},
			{"user deleted", gone, c.ID},
			{"client never was", user, valet.NewID()},
			{"client deleted", user, deleted.ID},
		} {
			t.Run(tc.name, func(t *testing.T) {
				co := valet.Consent{UserID: tc.user, ClientID: tc.client, Scopes: []string{"openid"}, CreatedAt: n}
				wantErr(t, "SetConsent", cs.SetConsent(ctx, co), valet.ErrNotFound)
				wantConsent(t, cs, tc.user, tc.client, nil)
				wantConsents(t, cs, tc.user, nil)
			})
		}
	})

	run("ClientGrants", func(t *testing.T, cs clientStores) {
		ctx := testContext(t)
		user := setupUser(t, cs, "ada@example.test")
		n := now()
		a, b := setupClient(t, cs, n), setupClient(t, cs, n)
		sid, other, late := valet.HashSecret(valet.NewID()), valet.HashSecret(valet.NewID()), valet.HashSecret(valet.NewID())
		sa := valet.ClientGrant{SessionID: sid, ClientID: a.ID, UserID: user, ExpiresAt: n.Add(time.Hour)}
		sb := valet.ClientGrant{SessionID: sid, ClientID: b.ID, UserID: user, ExpiresAt: n.Add(2 * time.Hour)}
		oa := valet.ClientGrant{SessionID: other, ClientID: a.ID, UserID: user, ExpiresAt: n.Add(time.Hour)}
		for _, g := range []valet.ClientGrant{sa, sb, oa} {
			noErr(t, "AddClientGrant", cs.AddClientGrant(ctx, g))
		}
		wantGrants(t, cs, sid, []valet.ClientGrant{sa, sb})
		wantGrants(t, cs, other, []valet.ClientGrant{oa})
		wantGrants(t, cs, valet.HashSecret(valet.NewID()), nil)

		later := sa
		later.ExpiresAt = n.Add(3 * time.Hour)
		steps := []struct {
			name string
			add  valet.ClientGrant
			sid  string
			want []valet.ClientGrant
		}{
			{"again, earlier: the later expiry stays", valet.ClientGrant{SessionID: sid, ClientID: a.ID, UserID: user, ExpiresAt: n.Add(30 * time.Minute)},
				sid, []valet.ClientGrant{sa, sb}},
			{"again, same", sa, sid, []valet.ClientGrant{sa, sb}},
			{"again, later: the later expiry wins", later, sid, []valet.ClientGrant{later, sb}},
			{"expired is not listed", valet.ClientGrant{SessionID: late, ClientID: a.ID, UserID: user, ExpiresAt: n.Add(-time.Second)},
				late, nil},
			{"an expired grant added again, live", valet.ClientGrant{SessionID: late, ClientID: a.ID, UserID: user, ExpiresAt: n.Add(time.Hour)},
				late, []valet.ClientGrant{{SessionID: late, ClientID: a.ID, UserID: user, ExpiresAt: n.Add(time.Hour)}}},
		}
		for _, step := range steps {
			t.Run(step.name, func(t *testing.T) {
				noErr(t, "AddClientGrant", cs.AddClientGrant(ctx, step.add))
				wantGrants(t, cs, step.sid, step.want)
				wantGrants(t, cs, other, []valet.ClientGrant{oa})
			})
		}

		t.Run("take", func(t *testing.T) {
			wantTakeGrants(t, cs, sid, []valet.ClientGrant{later, sb})
			wantGrants(t, cs, sid, nil)
			wantGrants(t, cs, other, []valet.ClientGrant{oa})
			wantTakeGrants(t, cs, sid, nil)
			wantTakeGrants(t, cs, valet.HashSecret(valet.NewID()), nil)
			wantGrants(t, cs, other, []valet.ClientGrant{oa})
			// An expired grant is taken away but not given.
			noErr(t, "AddClientGrant", cs.AddClientGrant(ctx, valet.ClientGrant{SessionID: sid, ClientID: a.ID, UserID: user, ExpiresAt: n.Add(-time.Second)}))
			wantTakeGrants(t, cs, sid, nil)
		})
		t.Run("takers at once", func(t *testing.T) {
			racing := valet.HashSecret(valet.NewID())
			for _, c := range []string{a.ID, b.ID} {
				noErr(t, "AddClientGrant", cs.AddClientGrant(ctx, valet.ClientGrant{SessionID: racing, ClientID: c, UserID: user, ExpiresAt: n.Add(time.Hour)}))
			}
			var taken atomic.Int32
			race(t, "TakeClientGrants", func() (bool, error) {
				gs, err := cs.TakeClientGrants(testContext(t), racing)
				taken.Add(int32(len(gs)))
				return len(gs) > 0, err
			})
			if taken.Load() != 2 {
				t.Errorf("%d callers at once took %d grants in all, want each of 2 taken once", racers, taken.Load())
			}
		})
		t.Run("added after a delete", func(t *testing.T) {
			// The grants are gone, not hidden: an earlier expiry than
			// theirs is taken as given.
			g := valet.ClientGrant{SessionID: sid, ClientID: a.ID, UserID: user, ExpiresAt: n.Add(time.Minute)}
			noErr(t, "AddClientGrant", cs.AddClientGrant(ctx, g))
			wantGrants(t, cs, sid, []valet.ClientGrant{g})
		})
	})

	run("ClientGrantUnknown", func(t *testing.T, cs clientStores) {
		ctx := testContext(t)
		user, gone := setupUser(t, cs, "ada@example.test"), setupUser(t, cs, "bob@example.test")
		noErr(t, "DeleteUser", cs.users.DeleteUser(ctx, gone))
		n := now()
		c, deleted := setupClient(t, cs, n), setupClient(t, cs, n)
		noErr(t, "DeleteClient", cs.DeleteClient(ctx, deleted.ID))
		for _, tc := range []struct {
			name         string
			user, client string
		}{
			{"user never was", valet.NewID(), c.ID},
			{"user deleted", gone, c.ID},
			{"client never was", user, valet.NewID()},
			{"client deleted", user, deleted.ID},
		} {
			t.Run(tc.name, func(t *testing.T) {
				g := valet.ClientGrant{SessionID: valet.HashSecret(valet.NewID()), ClientID: tc.client, UserID: tc.user, ExpiresAt: n.Add(time.Hour)}
				wantErr(t, "AddClientGrant", cs.AddClientGrant(ctx, g), valet.ErrNotFound)
				wantGrants(t, cs, g.SessionID, nil)
			})
		}
	})

	// fixture stores two users and two clients, and for each user and
	// client a code, a code already taken, a consent and a grant in the
	// user's session.
	type owned struct {
		code, taken valet.AuthCode
		consent     valet.Consent
		grant       valet.ClientGrant
	}
	type fixture struct {
		users   [2]valet.User
		clients [2]valet.Client
		n       time.Time
		of      map[[2]int]owned // by index of user and of client
	}
	newFixture := func(t *testing.T, cs clientStores) *fixture {
		t.Helper()
		ctx := testContext(t)
		n := now()
		fx := &fixture{n: n, of: map[[2]int]owned{}}
		for i, email := range []string{"ada@example.test", "bob@example.test"} {
			fx.users[i] = newUser(t, email, n.Add(-time.Hour))
			noErr(t, "CreateUser", cs.users.CreateUser(ctx, fx.users[i]))
			fx.clients[i] = setupClient(t, cs, n.Add(time.Duration(i)*time.Second))
		}
		for ui, u := range fx.users {
			sid := valet.HashSecret(valet.NewID())
			for ci, c := range fx.clients {
				o := owned{
					code:    newAuthCode(c.ID, u.ID, n),
					taken:   newAuthCode(c.ID, u.ID, n),
					consent: valet.Consent{UserID: u.ID, ClientID: c.ID, Scopes: []string{"openid"}, CreatedAt: n.Add(time.Duration(ci) * time.Second)},
					grant:   valet.ClientGrant{SessionID: sid, ClientID: c.ID, UserID: u.ID, ExpiresAt: n.Add(time.Hour)},
				}
				noErr(t, "CreateAuthCode", cs.CreateAuthCode(ctx, o.code))
				noErr(t, "CreateAuthCode", cs.CreateAuthCode(ctx, o.taken))
				wantTake(t, cs, o.taken.Hash, n, &o.taken, false)
				noErr(t, "SetConsent", cs.SetConsent(ctx, o.consent))
				noErr(t, "AddClientGrant", cs.AddClientGrant(ctx, o.grant))
				fx.of[[2]int{ui, ci}] = o
			}
		}
		return fx
	}
	// check checks that what fx stored for the users and clients that gone
	// does not name is all there, and that the rest is gone, unseen.
	check := func(t *testing.T, cs clientStores, fx *fixture, gone func(ui, ci int) bool) {
		t.Helper()
		for ui, u := range fx.users {
			var consents []valet.Consent
			var grants []valet.ClientGrant
			sid := fx.of[[2]int{ui, 0}].grant.SessionID
			for ci := len(fx.clients) - 1; ci >= 0; ci-- {
				o := fx.of[[2]int{ui, ci}]
				if gone(ui, ci) {
					wantTake(t, cs, o.taken.Hash, fx.n, nil, false)
					wantConsent(t, cs, u.ID, o.consent.ClientID, nil)
					continue
				}
				wantTake(t, cs, o.taken.Hash, fx.n, nil, true)
				wantConsent(t, cs, u.ID, o.consent.ClientID, &o.consent)
				consents = append(consents, o.consent)
				grants = append(grants, o.grant)
			}
			wantConsents(t, cs, u.ID, consents)
			wantGrants(t, cs, sid, grants)
		}
		// Last, as it takes them: the untaken codes.
		for ui := range fx.users {
			for ci := range fx.clients {
				o := fx.of[[2]int{ui, ci}]
				if gone(ui, ci) {
					wantTake(t, cs, o.code.Hash, fx.n, nil, false)
				} else {
					wantTake(t, cs, o.code.Hash, fx.n, &o.code, false)
				}
			}
		}
	}

	run("DeleteUser", func(t *testing.T, cs clientStores) {
		ctx := testContext(t)
		fx := newFixture(t, cs)
		gone := fx.users[0]
		noErr(t, "DeleteUser", cs.users.DeleteUser(ctx, gone.ID))
		check(t, cs, fx, func(ui, _ int) bool { return ui == 0 })
		wantClients(t, cs, fx.clients[:])

		// A user made again with the id finds nothing of the old one's,
		// and the old codes' hashes are free.
		noErr(t, "CreateUser again", cs.users.CreateUser(ctx, gone))
		wantConsents(t, cs, gone.ID, nil)
		wantGrants(t, cs, fx.of[[2]int{0, 0}].grant.SessionID, nil)
		again := fx.of[[2]int{0, 0}].taken
		noErr(t, "CreateAuthCode with the hash of a deleted user's code", cs.CreateAuthCode(ctx, again))
		wantTake(t, cs, again.Hash, fx.n, &again, false)
	})

	run("DeleteClientCascades", func(t *testing.T, cs clientStores) {
		ctx := testContext(t)
		fx := newFixture(t, cs)
		gone := fx.clients[0]
		noErr(t, "DeleteClient", cs.DeleteClient(ctx, gone.ID))
		check(t, cs, fx, func(_, ci int) bool { return ci == 0 })
		wantClients(t, cs, fx.clients[1:])
		for _, u := range fx.users {
			if _, err := cs.users.UserByID(ctx, u.ID); err != nil {
				t.Errorf("UserByID after DeleteClient: %v", err)
			}
		}

		// A client made again with the id finds nothing of the old one's.
		noErr(t, "CreateClient again", cs.CreateClient(ctx, gone))
		for ui, u := range fx.users {
			wantConsent(t, cs, u.ID, gone.ID, nil)
			wantGrants(t, cs, fx.of[[2]int{ui, 0}].grant.SessionID, []valet.ClientGrant{fx.of[[2]int{ui, 1}].grant})
		}
		again := fx.of[[2]int{1, 0}].taken
		noErr(t, "CreateAuthCode with the hash of a deleted client's code", cs.CreateAuthCode(ctx, again))
		wantTake(t, cs, again.Hash, fx.n, &again, false)
	})
}
