package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/valetauth/valet"
)

// newUser returns a user with a fresh id and a password hash of the PHC form
// whose salt and digest are random.
func newUser(tb testing.TB, email string, created time.Time) valet.User {
	tb.Helper()
	return valet.User{
		ID:           valet.NewID(),
		Email:        email,
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=2$" + valet.NewID()[:22] + "$" + valet.NewID(),
		Roles:        []string{"user"},
		CreatedAt:    created,
		UpdatedAt:    created,
	}
}

func testUsers(t *testing.T, newStores func(testing.TB) valet.Stores) {
	run := member(t, newStores, func(st valet.Stores) (valet.UserStore, bool) { return st.Users, st.Users != nil })

	run("CreateAndFind", func(t *testing.T, us valet.UserStore) {
		ctx := testContext(t)
		base := now()
		plain := newUser(t, "plain@example.test", base)
		noRoles := newUser(t, "noroles@example.test", base.Add(time.Second))
		noRoles.Roles = nil
		admin := newUser(t, "admin@example.test", base.Add(2*time.Second))
		admin.Roles = []string{"admin", "service", "user"}
		disabled := newUser(t, "disabled@example.test", base.Add(3*time.Second))
		disabled.Disabled = true
		disabled.UpdatedAt = base.Add(time.Hour)
		unicode := newUser(t, "zoë+tag@exämple.test", base.Add(4*time.Second))
		unicode.Roles = []string{"rôle with space"}
		verified := newUser(t, "verified@example.test", base.Add(5*time.Second))
		verified.EmailVerified, verified.EmailVerifiedAt = true, base.Add(6*time.Second)

		tests := []struct {
			name string
			u    valet.User
		}{
			{"plain", plain},
			{"no roles", noRoles},
			{"several roles", admin},
			{"disabled", disabled},
			{"unicode", unicode},
			{"verified", verified},
		}
		for _, tc := range tests {
			noErr(t, "CreateUser "+tc.name, us.CreateUser(ctx, tc.u))
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, err := us.UserByID(ctx, tc.u.ID)
				noErr(t, "UserByID", err)
				if d := diffUser(got, tc.u); d != "" {
					t.Errorf("UserByID: %s", d)
				}
				got, err = us.UserByEmail(ctx, tc.u.Email)
				noErr(t, "UserByEmail", err)
				if d := diffUser(got, tc.u); d != "" {
					t.Errorf("UserByEmail: %s", d)
				}
			})
		}
	})

	run("CreateConflict", func(t *testing.T, us valet.UserStore) {
		ctx := testContext(t)
		first := newUser(t, "taken@example.test", now())
		noErr(t, "CreateUser", us.CreateUser(ctx, first))
		second := newUser(t, first.Email, now())
		wantErr(t, "CreateUser with a taken email", us.CreateUser(ctx, second), valet.ErrConflict)

		got, err := us.UserByEmail(ctx, first.Email)
		noErr(t, "UserByEmail", err)
		if d := diffUser(got, first); d != "" {
			t.Errorf("UserByEmail after the conflict: %s", d)
		}
		_, err = us.UserByID(ctx, second.ID)
		wantErr(t, "UserByID of the refused user", err, valet.ErrNotFound)
	})

	run("NotFound", func(t *testing.T, us valet.UserStore) {
		ctx := testContext(t)
		known := newUser(t, "known@example.test", now())
		noErr(t, "CreateUser", us.CreateUser(ctx, known))
		tests := []struct {
			name string
			call func() error
		}{
			{"UserByID unknown", func() error { _, err := us.UserByID(ctx, valet.NewID()); return err }},
			{"UserByID empty", func() error { _, err := us.UserByID(ctx, ""); return err }},
			{"UserByEmail unknown", func() error { _, err := us.UserByEmail(ctx, "nobody@example.test"); return err }},
			{"UserByEmail prefix", func() error { _, err := us.UserByEmail(ctx, "known@"); return err }},
			{"UpdateUser unknown", func() error { return us.UpdateUser(ctx, newUser(t, "other@example.test", now())) }},
			{"DeleteUser unknown", func() error { return us.DeleteUser(ctx, valet.NewID()) }},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				wantErr(t, tc.name, tc.call(), valet.ErrNotFound)
			})
		}
	})

	run("Update", func(t *testing.T, us valet.UserStore) {
		ctx := testContext(t)
		created := now().Add(-time.Hour)
		u := newUser(t, "before@example.test", created)
		other := newUser(t, "other@example.test", created)
		noErr(t, "CreateUser", us.CreateUser(ctx, u))
		noErr(t, "CreateUser", us.CreateUser(ctx, other))

		steps := []struct {
			name   string
			change func(u *valet.User)
		}{
			{"roles", func(u *valet.User) { u.Roles = []string{"admin", "user"} }},
			{"no roles", func(u *valet.User) { u.Roles = nil }},
			{"disabled", func(u *valet.User) { u.Disabled = true }},
			{"enabled", func(u *valet.User) { u.Disabled = false }},
			{"password hash", func(u *valet.User) { u.PasswordHash = newUser(t, "", created).PasswordHash }},
			{"verified", func(u *valet.User) { u.EmailVerified, u.EmailVerifiedAt = true, created.Add(time.Second) }},
			{"same email", func(u *valet.User) {}},
			{"email", func(u *valet.User) { u.Email = "after@example.test" }},
			{"unverified", func(u *valet.User) { u.EmailVerified, u.EmailVerifiedAt = false, time.Time{} }},
		}
		for i, step := range steps {
			t.Run(step.name, func(t *testing.T) {
				oldEmail := u.Email
				step.change(&u)
				u.UpdatedAt = created.Add(time.Duration(i+1) * time.Minute)
				noErr(t, "UpdateUser", us.UpdateUser(ctx, u))

				got, err := us.UserByID(ctx, u.ID)
				noErr(t, "UserByID", err)
				if d := diffUser(got, u); d != "" {
					t.Errorf("UserByID after UpdateUser: %s", d)
				}
				got, err = us.UserByEmail(ctx, u.Email)
				noErr(t, "UserByEmail", err)
				if d := diffUser(got, u); d != "" {
					t.Errorf("UserByEmail after UpdateUser: %s", d)
				}
				if oldEmail != u.Email {
					_, err := us.UserByEmail(ctx, oldEmail)
					wantErr(t, "UserByEmail of the old email", err, valet.ErrNotFound)
				}
			})
		}

		got, err := us.UserByID(ctx, other.ID)
		noErr(t, "UserByID", err)
		if d := diffUser(got, other); d != "" {
			t.Errorf("the other user changed: %s", d)
		}
	})

	run("UpdateConflict", func(t *testing.T, us valet.UserStore) {
		ctx := testContext(t)
		alice := newUser(t, "alice@example.test", now())
		bob := newUser(t, "bob@example.test", now())
		noErr(t, "CreateUser", us.CreateUser(ctx, alice))
		noErr(t, "CreateUser", us.CreateUser(ctx, bob))

		taken := bob
		taken.Email = alice.Email
		taken.Roles = []string{"admin"}
		wantErr(t, "UpdateUser to a taken email", us.UpdateUser(ctx, taken), valet.ErrConflict)

		for _, want := range []valet.User{alice, bob} {
			got, err := us.UserByID(ctx, want.ID)
			noErr(t, "UserByID", err)
			if d := diffUser(got, want); d != "" {
				t.Errorf("after the refused update, %s: %s", want.Email, d)
			}
			got, err = us.UserByEmail(ctx, want.Email)
			noErr(t, "UserByEmail", err)
			if got.ID != want.ID {
				t.Errorf("UserByEmail(%q).ID = %q, want %q", want.Email, got.ID, want.ID)
			}
		}
	})

	run("Delete", func(t *testing.T, us valet.UserStore) {
		ctx := testContext(t)
		alice := newUser(t, "alice@example.test", now())
		bob := newUser(t, "bob@example.test", now())
		noErr(t, "CreateUser", us.CreateUser(ctx, alice))
		noErr(t, "CreateUser", us.CreateUser(ctx, bob))

		noErr(t, "DeleteUser", us.DeleteUser(ctx, alice.ID))
		_, err := us.UserByID(ctx, alice.ID)
		wantErr(t, "UserByID after DeleteUser", err, valet.ErrNotFound)
		_, err = us.UserByEmail(ctx, alice.Email)
		wantErr(t, "UserByEmail after DeleteUser", err, valet.ErrNotFound)
		wantErr(t, "DeleteUser again", us.DeleteUser(ctx, alice.ID), valet.ErrNotFound)
		wantErr(t, "UpdateUser after DeleteUser", us.UpdateUser(ctx, alice), valet.ErrNotFound)

		got, err := us.UserByID(ctx, bob.ID)
		noErr(t, "UserByID of the other user", err)
		if d := diffUser(got, bob); d != "" {
			t.Errorf("the other user changed: %s", d)
		}

		// The email of a deleted account is free again.
		again := newUser(t, alice.Email, now())
		noErr(t, "CreateUser with the deleted user's email", us.CreateUser(ctx, again))
		got, err = us.UserByEmail(ctx, alice.Email)
		noErr(t, "UserByEmail", err)
		if d := diffUser(got, again); d != "" {
			t.Errorf("UserByEmail: %s", d)
		}
	})

	run("List", func(t *testing.T, us valet.UserStore) {
		ctx := testContext(t)
		// Users are created out of the order of their CreatedAt, so that a
		// store that lists in insertion order fails.
		emails := []string{
			"ann@example.test",    // 0
			"bob@example.org",     // 1
			"a_b@example.test",    // 2
			"axb@example.test",    // 3
			"pct%x@example.test",  // 4
			"carl@example.org",    // 5
			"dora@example.test",   // 6
			"ANNE@example.test",   // 7
			"e.ve@sub.example.io", // 8
		}
		insertOrder := []int{4, 0, 8, 2, 6, 1, 7, 3, 5}
		base := now().Add(-time.Hour)
		users := make([]valet.User, len(emails))
		for i, e := range emails {
			users[i] = newUser(t, e, base.Add(time.Duration(i)*time.Second))
		}
		for _, i := range insertOrder {
			noErr(t, "CreateUser", us.CreateUser(ctx, users[i]))
		}
		pick := func(idx ...int) []string {
			ids := make([]string, len(idx))
			for i, x := range idx {
				ids[i] = users[x].ID
			}
			return ids
		}

		tests := []struct {
			name      string
			q         valet.UserQuery
			want      []string
			wantTotal int
		}{
			{"all", valet.UserQuery{}, pick(0, 1, 2, 3, 4, 5, 6, 7, 8), 9},
			{"first page", valet.UserQuery{Limit: 4}, pick(0, 1, 2, 3), 9},
			{"middle page", valet.UserQuery{Offset: 4, Limit: 4}, pick(4, 5, 6, 7), 9},
			{"last page", valet.UserQuery{Offset: 8, Limit: 4}, pick(8), 9},
			{"offset past the end", valet.UserQuery{Offset: 9, Limit: 4}, nil, 9},
			{"offset without limit", valet.UserQuery{Offset: 6}, pick(6, 7, 8), 9},
			{"search domain", valet.UserQuery{Search: "example.org"}, pick(1, 5), 2},
			{"search paged", valet.UserQuery{Search: "example.test", Offset: 1, Limit: 2}, pick(2, 3), 6},
			{"search underscore is literal", valet.UserQuery{Search: "_"}, pick(2), 1},
			{"search a_b is literal", valet.UserQuery{Search: "a_b"}, pick(2), 1},
			{"search percent is literal", valet.UserQuery{Search: "%"}, pick(4), 1},
			{"search dot", valet.UserQuery{Search: "e.ve"}, pick(8), 1},
			{"search infix", valet.UserQuery{Search: "b@"}, pick(1, 2, 3), 3},
			{"search whole email", valet.UserQuery{Search: "dora@example.test"}, pick(6), 1},
			{"search no match", valet.UserQuery{Search: "nobody"}, nil, 0},
			{"search no match with offset", valet.UserQuery{Search: "nobody", Offset: 3}, nil, 0},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, total, err := us.ListUsers(ctx, tc.q)
				noErr(t, "ListUsers", err)
				gotIDs := make([]string, len(got))
				for i, u := range got {
					gotIDs[i] = u.ID
				}
				if !slices.Equal(gotIDs, tc.want) {
					t.Errorf("ListUsers(%+v) = %s, want %s", tc.q, emailsOf(users, gotIDs), emailsOf(users, tc.want))
				}
				if total != tc.wantTotal {
					t.Errorf("ListUsers(%+v) total = %d, want %d", tc.q, total, tc.wantTotal)
				}
				for _, g := range got {
					for _, w := range users {
						if g.ID == w.ID {
							if d := diffUser(g, w); d != "" {
								t.Errorf("ListUsers returned %s: %s", w.Email, d)
							}
						}
					}
				}
			})
		}
	})

	run("ListDefaultLimit", func(t *testing.T, us valet.UserStore) {
		ctx := testContext(t)
		base := now().Add(-time.Hour)
		const n = 55
		for i := range n {
			u := newUser(t, fmt.Sprintf("user%02d@example.test", i), base.Add(time.Duration(i)*time.Millisecond))
			noErr(t, "CreateUser", us.CreateUser(ctx, u))
		}
		tests := []struct {
			name      string
			q         valet.UserQuery
			wantFirst string
			wantLen   int
		}{
			{"limit 0 means 50", valet.UserQuery{}, "user00@example.test", 50},
			{"offset with limit 0", valet.UserQuery{Offset: 50}, "user50@example.test", 5},
			{"limit above 50", valet.UserQuery{Limit: 60}, "user00@example.test", 55},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, total, err := us.ListUsers(ctx, tc.q)
				noErr(t, "ListUsers", err)
				if len(got) != tc.wantLen || total != n {
					t.Fatalf("ListUsers(%+v) returned %d users, total %d; want %d, total %d", tc.q, len(got), total, tc.wantLen, n)
				}
				if got[0].Email != tc.wantFirst {
					t.Errorf("ListUsers(%+v)[0].Email = %q, want %q", tc.q, got[0].Email, tc.wantFirst)
				}
			})
		}
	})

	run("Aliasing", func(t *testing.T, us valet.UserStore) {
		ctx := testContext(t)
		u := newUser(t, "alias@example.test", now())
		u.Roles = []string{"admin", "user"}
		want := u
		want.Roles = slices.Clone(u.Roles)
		noErr(t, "CreateUser", us.CreateUser(ctx, u))
		// A caller that reuses its slices must not change what is stored.
		u.Roles[0] = "changed-after-create"

		got, err := us.UserByID(ctx, u.ID)
		noErr(t, "UserByID", err)
		if d := diffUser(got, want); d != "" {
			t.Fatalf("UserByID after changing the created value: %s", d)
		}
		got.Roles[0] = "changed-after-read"
		list, _, err := us.ListUsers(ctx, valet.UserQuery{})
		noErr(t, "ListUsers", err)
		if len(list) != 1 {
			t.Fatalf("ListUsers returned %d users, want 1", len(list))
		}
		list[0].Roles[1] = "changed-after-list"

		upd := want
		upd.Roles = []string{"user"}
		noErr(t, "UpdateUser", us.UpdateUser(ctx, upd))
		upd.Roles[0] = "changed-after-update"
		want.Roles = []string{"user"}

		got, err = us.UserByEmail(ctx, u.Email)
		noErr(t, "UserByEmail", err)
		if d := diffUser(got, want); d != "" {
			t.Errorf("the stored user changed through a returned or passed slice: %s", d)
		}
	})

	testImport(t, newStores)
}

// testImport checks valet.UserImporter, for the stores whose UserStore has
// it.
func testImport(t *testing.T, newStores func(testing.TB) valet.Stores) {
	run := member(t, newStores, func(st valet.Stores) (valet.UserImporter, bool) {
		imp, ok := st.Users.(valet.UserImporter)
		return imp, ok
	})

	run("ImportConflicts", func(t *testing.T, imp valet.UserImporter) {
		us := imp.(valet.UserStore)
		created := now().Add(-time.Hour)
		later := now()
		tests := []struct {
			name       string
			onConflict valet.OnConflict
			// wantStored is the stored user after the import: the given
			// one, or the old one, or the old one with the new hash and roles.
			wantStored func(old, given valet.User) valet.User
			wantCounts [3]int
		}{
			{"skip", valet.ConflictSkip, func(old, _ valet.User) valet.User { return old }, [3]int{2, 0, 1}},
			{"update", valet.ConflictUpdate, func(old, given valet.User) valet.User {
				old.PasswordHash, old.Roles, old.UpdatedAt = given.PasswordHash, given.Roles, given.UpdatedAt
				return old
			}, [3]int{2, 1, 0}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				ctx := testContext(t)
				prefix := tc.name + "-"
				old := newUser(t, prefix+"taken@example.test", created)
				old.Disabled = true
				old.Roles = []string{"admin"}
				noErr(t, "CreateUser", us.CreateUser(ctx, old))

				fresh := newUser(t, prefix+"fresh@example.test", created.Add(time.Second))
				fresh.EmailVerified, fresh.EmailVerifiedAt = true, created
				bare := newUser(t, prefix+"bare@example.test", created.Add(2*time.Second))
				bare.Roles, bare.PasswordHash = nil, "!"
				again := newUser(t, old.Email, later)
				again.Roles = []string{"user", "service"}
				again.UpdatedAt = later

				c, u, sk, err := imp.ImportUsers(ctx, []valet.User{fresh, again, bare}, tc.onConflict)
				noErr(t, "ImportUsers", err)
				if got := [3]int{c, u, sk}; got != tc.wantCounts {
					t.Errorf("ImportUsers = created, updated, skipped %v, want %v", got, tc.wantCounts)
				}
				for _, want := range []valet.User{fresh, bare, tc.wantStored(old, again)} {
					got, err := us.UserByEmail(ctx, want.Email)
					noErr(t, "UserByEmail "+want.Email, err)
					if d := diffUser(got, want); d != "" {
						t.Errorf("%s after the import: %s", want.Email, d)
					}
				}
				_, err = us.UserByID(ctx, again.ID)
				wantErr(t, "UserByID of the id given for a taken email", err, valet.ErrNotFound)
			})
		}
	})

	run("ImportAllOrNone", func(t *testing.T, imp valet.UserImporter) {
		us := imp.(valet.UserStore)
		ctx := testContext(t)
		owner := newUser(t, "owner@example.test", now())
		noErr(t, "CreateUser", us.CreateUser(ctx, owner))
		ok := newUser(t, "first@example.test", now())
		clash := newUser(t, "second@example.test", now())
		clash.ID = owner.ID
		_, _, _, err := imp.ImportUsers(ctx, []valet.User{ok, clash}, valet.ConflictSkip)
		wantErr(t, "ImportUsers with a taken id", err, valet.ErrConflict)
		_, err = us.UserByEmail(ctx, ok.Email)
		wantErr(t, "UserByEmail of a user of the refused import", err, valet.ErrNotFound)
		got, err := us.UserByID(ctx, owner.ID)
		noErr(t, "UserByID", err)
		if d := diffUser(got, owner); d != "" {
			t.Errorf("the owner of the id changed: %s", d)
		}
	})

	run("ImportMany", func(t *testing.T, imp valet.UserImporter) {
		us := imp.(valet.UserStore)
		ctx := testContext(t)
		base := now().Add(-time.Hour)
		const n = 250
		batch := make([]valet.User, n)
		for i := range batch {
			batch[i] = newUser(t, fmt.Sprintf("many%03d@example.test", i), base.Add(time.Duration(i)*time.Millisecond))
		}
		c, u, sk, err := imp.ImportUsers(ctx, batch, valet.ConflictUpdate)
		noErr(t, "ImportUsers", err)
		if got, want := [3]int{c, u, sk}, [3]int{n, 0, 0}; got != want {
			t.Errorf("ImportUsers = %v, want %v", got, want)
		}
		c, u, sk, err = imp.ImportUsers(ctx, batch, valet.ConflictSkip)
		noErr(t, "ImportUsers again", err)
		if got, want := [3]int{c, u, sk}, [3]int{0, 0, n}; got != want {
			t.Errorf("ImportUsers again = %v, want %v", got, want)
		}
		c, u, sk, err = imp.ImportUsers(ctx, nil, valet.ConflictSkip)
		noErr(t, "ImportUsers of none", err)
		if got := [3]int{c, u, sk}; got != [3]int{} {
			t.Errorf("ImportUsers of none = %v, want zeros", got)
		}
		list, total, err := us.ListUsers(ctx, valet.UserQuery{Limit: n})
		noErr(t, "ListUsers", err)
		if total != n || len(list) != n {
			t.Fatalf("ListUsers = %d users, total %d; want %d", len(list), total, n)
		}
		for i, got := range list {
			if d := diffUser(got, batch[i]); d != "" {
				t.Fatalf("user %d: %s", i, d)
			}
		}
	})

	run("ImportDoneContext", func(t *testing.T, imp valet.UserImporter) {
		ctx, cancel := context.WithCancel(testContext(t))
		cancel()
		_, _, _, err := imp.ImportUsers(ctx, []valet.User{newUser(t, "late@example.test", now())}, valet.ConflictSkip)
		wantErr(t, "ImportUsers with a done context", err, valet.ErrUnavailable)
		_, err = imp.(valet.UserStore).UserByEmail(testContext(t), "late@example.test")
		wantErr(t, "UserByEmail after the refused import", err, valet.ErrNotFound)
	})
}

func emailsOf(users []valet.User, ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		email := "?" + id
		for _, u := range users {
			if u.ID == id {
				email = u.Email
			}
		}
		out = append(out, email)
	}
	return out
}
