package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/mail"
)

// ticketStores is a user store that keeps tickets too: RedeemTicket changes
// the users it holds.
type ticketStores struct {
	mail.TicketStore
	users valet.UserStore
}

// ticketsOf returns st's Users as a mail.TicketStore, if it is one.
func ticketsOf(st valet.Stores) (ticketStores, bool) {
	ts, ok := st.Users.(mail.TicketStore)
	return ticketStores{TicketStore: ts, users: st.Users}, ok
}

// newTicket returns a ticket of u for purpose, sent to email, made at
// created and valid for an hour, with random hashes.
func newTicket(u valet.User, purpose valet.TicketPurpose, email string, created time.Time) valet.Ticket {
	return valet.Ticket{
		ID: valet.HashSecret(valet.NewID()), CodeHash: valet.HashSecret(valet.NewID()),
		UserID: u.ID, Purpose: purpose, Email: email,
		CreatedAt: created, ExpiresAt: created.Add(time.Hour),
	}
}

func diffTicket(got, want valet.Ticket) string {
	var d diff
	d.str("ID", got.ID, want.ID)
	d.str("CodeHash", got.CodeHash, want.CodeHash)
	d.str("UserID", got.UserID, want.UserID)
	d.str("Purpose", string(got.Purpose), string(want.Purpose))
	d.str("Email", got.Email, want.Email)
	d.int("Attempts", got.Attempts, want.Attempts)
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	d.time("ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	return d.String()
}

// wantTicket fails tb unless ticket want.ID is found at at as want.
func wantTicket(tb testing.TB, ts ticketStores, want valet.Ticket, at time.Time) {
	tb.Helper()
	got, found, err := ts.Ticket(testContext(tb), want.ID, at)
	noErr(tb, "Ticket", err)
	if !found {
		tb.Fatalf("Ticket(%.8s…) not found", want.ID)
	}
	if d := diffTicket(got, want); d != "" {
		tb.Errorf("Ticket(%.8s…): %s", want.ID, d)
	}
}

// wantNoTicket fails tb unless ticket id is not found at at.
func wantNoTicket(tb testing.TB, ts ticketStores, id string, at time.Time) {
	tb.Helper()
	_, found, err := ts.Ticket(testContext(tb), id, at)
	noErr(tb, "Ticket", err)
	if found {
		tb.Errorf("Ticket(%.8s…) is found, want none", id)
	}
}

func ticketIDs(ts []valet.Ticket) []string {
	ids := make([]string, len(ts))
	for i, t := range ts {
		ids[i] = t.ID
	}
	return ids
}

// testTickets checks mail.TicketStore on a Users member that implements
// it: a ticket stored with its mail in one step, found by id and by
// address until it expires, replaced by the next of its kind, tried at
// most max times, used once with its change to the user and its mail, and
// refused (changing nothing) when its user does not qualify.
func testTickets(t *testing.T, newStores func(testing.TB) valet.Stores) {
	run := member(t, newStores, ticketsOf)

	// setup stores a user and returns it.
	setup := func(t *testing.T, ts ticketStores, email string) valet.User {
		t.Helper()
		u := newUser(t, email, now().Add(-time.Hour))
		noErr(t, "CreateUser", ts.users.CreateUser(testContext(t), u))
		return u
	}

	run("CreateAndFind", func(t *testing.T, ts ticketStores) {
		ctx := testContext(t)
		u := setup(t, ts, "ada@example.test")
		n := now()
		verify := newTicket(u, valet.TicketVerify, u.Email, n.Add(-2*time.Second))
		change := newTicket(u, valet.TicketEmailChange, "new@example.test", n.Add(-time.Second))
		change.CodeHash = ""
		msg := newMail(t, n)
		noErr(t, "CreateTicket", ts.CreateTicket(ctx, verify, msg))
		noErr(t, "CreateTicket without mail", ts.CreateTicket(ctx, change))
		wantTicket(t, ts, verify, n)
		wantTicket(t, ts, change, n)
		wantMail(t, ts, pending(msg))

		got, err := ts.TicketsByEmail(ctx, u.Email, []valet.TicketPurpose{valet.TicketVerify, valet.TicketEmailChange}, n)
		noErr(t, "TicketsByEmail", err)
		if len(got) != 1 || diffTicket(got[0], verify) != "" {
			t.Errorf("TicketsByEmail(%s) = %v, want the verify ticket", u.Email, ticketIDs(got))
		}
		got, err = ts.TicketsByEmail(ctx, u.Email, []valet.TicketPurpose{valet.TicketRecovery}, n)
		noErr(t, "TicketsByEmail", err)
		if len(got) != 0 {
			t.Errorf("TicketsByEmail of another purpose = %v, want none", ticketIDs(got))
		}
		got, err = ts.TicketsByEmail(ctx, "new@example.test", []valet.TicketPurpose{valet.TicketEmailChange}, n)
		noErr(t, "TicketsByEmail", err)
		if len(got) != 1 || got[0].ID != change.ID {
			t.Errorf("TicketsByEmail(new) = %v, want the change ticket", ticketIDs(got))
		}
		wantNoTicket(t, ts, valet.HashSecret(valet.NewID()), n)
		wantNoTicket(t, ts, "", n)
	})

	run("Replace", func(t *testing.T, ts ticketStores) {
		ctx := testContext(t)
		u := setup(t, ts, "ada@example.test")
		other := setup(t, ts, "bob@example.test")
		n := now()
		first := newTicket(u, valet.TicketRecovery, u.Email, n.Add(-3*time.Second))
		otherUser := newTicket(other, valet.TicketRecovery, u.Email, n.Add(-3*time.Second))
		otherPurpose := newTicket(u, valet.TicketVerify, u.Email, n.Add(-3*time.Second))
		otherEmail := newTicket(u, valet.TicketRecovery, "old@example.test", n.Add(-3*time.Second))
		for _, tk := range []valet.Ticket{first, otherUser, otherPurpose, otherEmail} {
			noErr(t, "CreateTicket", ts.CreateTicket(ctx, tk))
		}
		second := newTicket(u, valet.TicketRecovery, u.Email, n.Add(-time.Second))
		noErr(t, "CreateTicket of the same user, purpose and email", ts.CreateTicket(ctx, second))
		wantNoTicket(t, ts, first.ID, n)
		for _, tk := range []valet.Ticket{second, otherUser, otherPurpose, otherEmail} {
			wantTicket(t, ts, tk, n)
		}
		got, err := ts.TicketsByEmail(ctx, u.Email, []valet.TicketPurpose{valet.TicketRecovery}, n)
		noErr(t, "TicketsByEmail", err)
		if ids := ticketIDs(got); len(ids) != 2 || ids[0] != second.ID || ids[1] != otherUser.ID {
			t.Errorf("TicketsByEmail = %v, want the newer, then the other user's", ids)
		}
	})

	run("Conflict", func(t *testing.T, ts ticketStores) {
		ctx := testContext(t)
		u := setup(t, ts, "ada@example.test")
		n := now()
		msg := newMail(t, n)
		noErr(t, "EnqueueMail", ts.EnqueueMail(ctx, msg))
		tk := newTicket(u, valet.TicketVerify, u.Email, n)
		wantErr(t, "CreateTicket with a taken message id", ts.CreateTicket(ctx, tk, newMailWithID(t, msg.ID, n)), valet.ErrConflict)
		wantNoTicket(t, ts, tk.ID, n)
		noErr(t, "CreateTicket", ts.CreateTicket(ctx, tk))
		again := newTicket(u, valet.TicketRecovery, u.Email, n)
		again.ID = tk.ID
		extra := newMail(t, n)
		wantErr(t, "CreateTicket with a taken id", ts.CreateTicket(ctx, again, extra), valet.ErrConflict)
		wantTicket(t, ts, tk, n)
		_, err := ts.MailByID(ctx, extra.ID)
		wantErr(t, "MailByID of the refused ticket's mail", err, valet.ErrNotFound)
	})

	run("UpdateUserWithMail", func(t *testing.T, ts ticketStores) {
		ctx := testContext(t)
		u := setup(t, ts, "ada@example.test")
		other := setup(t, ts, "bob@example.test")
		n := now()
		changed := u
		changed.PasswordHash, changed.UpdatedAt = newUser(t, "", n).PasswordHash, n
		notice := newMail(t, n)
		noErr(t, "UpdateUserWithMail", ts.UpdateUserWithMail(ctx, changed, notice))
		got, err := ts.users.UserByID(ctx, u.ID)
		noErr(t, "UserByID", err)
		if d := diffUser(got, changed); d != "" {
			t.Errorf("after UpdateUserWithMail: %s", d)
		}
		wantMail(t, ts, pending(notice))

		// With an error, neither the user nor a mail changes.
		taken := changed
		taken.PasswordHash, taken.UpdatedAt = newUser(t, "", n).PasswordHash, n.Add(time.Second)
		wantErr(t, "UpdateUserWithMail with a taken message id", ts.UpdateUserWithMail(ctx, taken, newMailWithID(t, notice.ID, n)), valet.ErrConflict)
		stolen := changed
		stolen.Email = other.Email
		extra := newMail(t, n)
		wantErr(t, "UpdateUserWithMail to another user's email", ts.UpdateUserWithMail(ctx, stolen, extra), valet.ErrConflict)
		gone := newUser(t, "gone@example.test", n)
		lost := newMail(t, n)
		wantErr(t, "UpdateUserWithMail of an unknown user", ts.UpdateUserWithMail(ctx, gone, lost), valet.ErrNotFound)
		got, err = ts.users.UserByID(ctx, u.ID)
		noErr(t, "UserByID", err)
		if d := diffUser(got, changed); d != "" {
			t.Errorf("after refused updates: %s", d)
		}
		for _, m := range []mail.OutboxMessage{extra, lost} {
			_, err := ts.MailByID(ctx, m.ID)
			wantErr(t, "MailByID of a refused update's mail", err, valet.ErrNotFound)
		}
	})

	run("CreateUserWithTicket", func(t *testing.T, ts ticketStores) {
		ctx := testContext(t)
		n := now()
		u := newUser(t, "ada@example.test", n)
		tk := newTicket(u, valet.TicketVerify, u.Email, n)
		msg := newMail(t, n)
		noErr(t, "CreateUserWithTicket", ts.CreateUserWithTicket(ctx, u, tk, msg))
		got, err := ts.users.UserByID(ctx, u.ID)
		noErr(t, "UserByID", err)
		if d := diffUser(got, u); d != "" {
			t.Errorf("after CreateUserWithTicket: %s", d)
		}
		wantTicket(t, ts, tk, n)
		wantMail(t, ts, pending(msg))

		// With an error, neither a user nor a ticket nor a mail is stored.
		for _, c := range []struct {
			name string
			edit func(u *valet.User, tk *valet.Ticket, m *mail.OutboxMessage)
		}{
			{"a taken email", func(nu *valet.User, _ *valet.Ticket, _ *mail.OutboxMessage) { nu.Email = u.Email }},
			{"a taken user id", func(nu *valet.User, _ *valet.Ticket, _ *mail.OutboxMessage) { nu.ID = u.ID }},
			{"a taken ticket id", func(_ *valet.User, ntk *valet.Ticket, _ *mail.OutboxMessage) { ntk.ID = tk.ID }},
			{"a taken message id", func(_ *valet.User, _ *valet.Ticket, m *mail.OutboxMessage) { m.ID = msg.ID }},
		} {
			nu := newUser(t, "bob@example.test", n)
			ntk := newTicket(nu, valet.TicketVerify, nu.Email, n)
			m := newMail(t, n)
			c.edit(&nu, &ntk, &m)
			ntk.UserID = nu.ID
			wantErr(t, "CreateUserWithTicket with "+c.name, ts.CreateUserWithTicket(ctx, nu, ntk, m), valet.ErrConflict)
			if nu.ID != u.ID {
				_, err := ts.users.UserByID(ctx, nu.ID)
				wantErr(t, "UserByID of the user refused with "+c.name, err, valet.ErrNotFound)
			}
			if nu.Email != u.Email {
				_, err := ts.users.UserByEmail(ctx, nu.Email)
				wantErr(t, "UserByEmail of the user refused with "+c.name, err, valet.ErrNotFound)
			}
			if ntk.ID != tk.ID {
				wantNoTicket(t, ts, ntk.ID, n)
			}
			if m.ID != msg.ID {
				_, err := ts.MailByID(ctx, m.ID)
				wantErr(t, "MailByID of the mail refused with "+c.name, err, valet.ErrNotFound)
			}
		}
		// What was stored first is untouched.
		got, err = ts.users.UserByID(ctx, u.ID)
		noErr(t, "UserByID", err)
		if d := diffUser(got, u); d != "" {
			t.Errorf("after refused creations: %s", d)
		}
		wantTicket(t, ts, tk, n)
		wantMail(t, ts, pending(msg))
	})

	run("Expiry", func(t *testing.T, ts ticketStores) {
		ctx := testContext(t)
		u := setup(t, ts, "ada@example.test")
		n := now()
		live := newTicket(u, valet.TicketVerify, u.Email, n)
		dying := newTicket(u, valet.TicketRecovery, u.Email, n)
		dying.ExpiresAt = n.Add(time.Minute)
		noErr(t, "CreateTicket", ts.CreateTicket(ctx, live))
		noErr(t, "CreateTicket", ts.CreateTicket(ctx, dying))
		end := dying.ExpiresAt
		wantTicket(t, ts, dying, end.Add(-time.Microsecond))
		wantNoTicket(t, ts, dying.ID, end)
		got, err := ts.TicketsByEmail(ctx, u.Email, []valet.TicketPurpose{valet.TicketVerify, valet.TicketRecovery}, end)
		noErr(t, "TicketsByEmail", err)
		if ids := ticketIDs(got); len(ids) != 1 || ids[0] != live.ID {
			t.Errorf("TicketsByEmail at the expiry = %v, want only the live one", ids)
		}
		if _, ok, err := ts.CountTicketAttempt(ctx, dying.ID, mail.MaxTicketAttempts, end); err != nil || ok {
			t.Errorf("CountTicketAttempt of an expired ticket = %t, %v; want false", ok, err)
		}
		ok, err := ts.RedeemTicket(ctx, dying.ID, valet.Redemption{UserID: u.ID, At: end}, end)
		noErr(t, "RedeemTicket", err)
		if ok {
			t.Error("RedeemTicket used an expired ticket")
		}
		stored, err := ts.users.UserByID(ctx, u.ID)
		noErr(t, "UserByID", err)
		if d := diffUser(stored, u); d != "" {
			t.Errorf("the user changed: %s", d)
		}
		swept, err := ts.SweepTickets(ctx, end)
		noErr(t, "SweepTickets", err)
		if swept != 1 {
			t.Errorf("SweepTickets = %d, want 1", swept)
		}
		wantNoTicket(t, ts, dying.ID, end.Add(-time.Second))
		wantTicket(t, ts, live, end)
	})

	run("Attempts", func(t *testing.T, ts ticketStores) {
		ctx := testContext(t)
		u := setup(t, ts, "ada@example.test")
		n := now()
		tk := newTicket(u, valet.TicketRecovery, u.Email, n)
		noErr(t, "CreateTicket", ts.CreateTicket(ctx, tk))
		for want := 1; want <= 3; want++ {
			got, ok, err := ts.CountTicketAttempt(ctx, tk.ID, 3, n)
			noErr(t, "CountTicketAttempt", err)
			if !ok || got != want {
				t.Fatalf("CountTicketAttempt %d = %d, %t; want %d, true", want, got, ok, want)
			}
		}
		if got, ok, err := ts.CountTicketAttempt(ctx, tk.ID, 3, n); err != nil || ok {
			t.Errorf("CountTicketAttempt past max = %d, %t, %v; want not ok", got, ok, err)
		}
		tk.Attempts = 3
		wantTicket(t, ts, tk, n)
		if _, ok, err := ts.CountTicketAttempt(ctx, valet.HashSecret(valet.NewID()), 3, n); err != nil || ok {
			t.Errorf("CountTicketAttempt of an unknown ticket = %t, %v", ok, err)
		}

		// Tries at once from many callers are counted one by one: no more
		// than max of them may compare a code.
		racy := newTicket(u, valet.TicketVerify, u.Email, n)
		noErr(t, "CreateTicket", ts.CreateTicket(ctx, racy))
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			allowed []int
		)
		for range 20 {
			wg.Go(func() {
				got, ok, err := ts.CountTicketAttempt(ctx, racy.ID, mail.MaxTicketAttempts, n)
				if err != nil {
					t.Errorf("CountTicketAttempt: %v", err)
					return
				}
				if ok {
					mu.Lock()
					allowed = append(allowed, got)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(allowed) != mail.MaxTicketAttempts {
			t.Errorf("%d of 20 tries at once were allowed, want %d: %v", len(allowed), mail.MaxTicketAttempts, allowed)
		}
	})

	run("Redeem", func(t *testing.T, ts ticketStores) {
		ctx := testContext(t)
		u := setup(t, ts, "ada@example.test")
		n := now()
		change := newTicket(u, valet.TicketEmailChange, "new@example.test", n)
		otherChange := newTicket(u, valet.TicketEmailChange, "other@example.test", n)
		recovery := newTicket(u, valet.TicketRecovery, u.Email, n)
		report := newTicket(u, valet.TicketReport, u.Email, n)
		for _, tk := range []valet.Ticket{change, otherChange, recovery, report} {
			noErr(t, "CreateTicket", ts.CreateTicket(ctx, tk))
		}
		notice := newMail(t, n)
		at := n.Add(time.Second)
		hash := newUser(t, "", n).PasswordHash
		r := valet.Redemption{UserID: u.ID, IfEmail: u.Email, SetEmail: change.Email, PasswordHash: hash,
			Drop: []valet.TicketPurpose{valet.TicketEmailChange, valet.TicketRecovery}, At: at}
		ok, err := ts.RedeemTicket(ctx, change.ID, r, n, notice)
		noErr(t, "RedeemTicket", err)
		if !ok {
			t.Fatal("RedeemTicket = false, want true")
		}
		want := u
		want.Email, want.PasswordHash, want.EmailVerified, want.EmailVerifiedAt, want.UpdatedAt = change.Email, hash, true, at, at
		got, err := ts.users.UserByID(ctx, u.ID)
		noErr(t, "UserByID", err)
		if d := diffUser(got, want); d != "" {
			t.Errorf("after RedeemTicket: %s", d)
		}
		got, err = ts.users.UserByEmail(ctx, change.Email)
		noErr(t, "UserByEmail of the new email", err)
		if got.ID != u.ID {
			t.Errorf("UserByEmail(new) = %q, want %q", got.ID, u.ID)
		}
		_, err = ts.users.UserByEmail(ctx, u.Email)
		wantErr(t, "UserByEmail of the old email", err, valet.ErrNotFound)
		wantMail(t, ts, pending(notice))
		for _, id := range []string{change.ID, otherChange.ID, recovery.ID} {
			wantNoTicket(t, ts, id, n)
		}
		wantTicket(t, ts, report, n)

		again := newMail(t, n)
		ok, err = ts.RedeemTicket(ctx, change.ID, r, n, again)
		noErr(t, "RedeemTicket again", err)
		if ok {
			t.Error("a ticket was used twice")
		}
		_, err = ts.MailByID(ctx, again.ID)
		wantErr(t, "MailByID of the second use's mail", err, valet.ErrNotFound)

		// A redemption that sets nothing but the verification keeps the
		// email and the password hash.
		ok, err = ts.RedeemTicket(ctx, report.ID, valet.Redemption{UserID: u.ID, At: at.Add(time.Second)}, n)
		noErr(t, "RedeemTicket", err)
		want.EmailVerifiedAt, want.UpdatedAt = at.Add(time.Second), at.Add(time.Second)
		got, err = ts.users.UserByID(ctx, u.ID)
		noErr(t, "UserByID", err)
		if d := diffUser(got, want); !ok || d != "" {
			t.Errorf("after a plain RedeemTicket (%t): %s", ok, d)
		}
	})

	run("RedeemRefused", func(t *testing.T, ts ticketStores) {
		ctx := testContext(t)
		u := setup(t, ts, "ada@example.test")
		bob := setup(t, ts, "bob@example.test")
		n := now()
		tk := newTicket(u, valet.TicketVerify, u.Email, n)
		noErr(t, "CreateTicket", ts.CreateTicket(ctx, tk))
		tests := []struct {
			name string
			r    valet.Redemption
			err  error
		}{
			{"another user's ticket", valet.Redemption{UserID: bob.ID}, nil},
			{"the email changed", valet.Redemption{UserID: u.ID, IfEmail: "before@example.test"}, nil},
			{"a taken email", valet.Redemption{UserID: u.ID, SetEmail: bob.Email}, valet.ErrConflict},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				msg := newMail(t, n)
				tc.r.At = n
				ok, err := ts.RedeemTicket(ctx, tk.ID, tc.r, n, msg)
				if tc.err != nil {
					wantErr(t, "RedeemTicket", err, tc.err)
				} else {
					noErr(t, "RedeemTicket", err)
				}
				if ok {
					t.Fatal("RedeemTicket = true, want false")
				}
				wantTicket(t, ts, tk, n)
				_, err = ts.MailByID(ctx, msg.ID)
				wantErr(t, "MailByID of a refused redemption's mail", err, valet.ErrNotFound)
				for _, want := range []valet.User{u, bob} {
					got, err := ts.users.UserByID(ctx, want.ID)
					noErr(t, "UserByID", err)
					if d := diffUser(got, want); d != "" {
						t.Errorf("%s changed: %s", want.Email, d)
					}
				}
			})
		}
		noErr(t, "DeleteUser", ts.users.DeleteUser(ctx, u.ID))
		ok, err := ts.RedeemTicket(ctx, tk.ID, valet.Redemption{UserID: u.ID, At: n}, n)
		noErr(t, "RedeemTicket of a deleted user", err)
		if ok {
			t.Error("RedeemTicket used the ticket of a deleted user")
		}
	})

	run("RedeemOnce", func(t *testing.T, ts ticketStores) {
		ctx := testContext(t)
		u := setup(t, ts, "ada@example.test")
		n := now()
		tk := newTicket(u, valet.TicketRecovery, u.Email, n)
		noErr(t, "CreateTicket", ts.CreateTicket(ctx, tk))
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			used []string
		)
		for range 10 {
			wg.Go(func() {
				msg := newMail(t, n)
				ok, err := ts.RedeemTicket(ctx, tk.ID, valet.Redemption{UserID: u.ID, IfEmail: u.Email, At: n}, n, msg)
				if err != nil {
					t.Errorf("RedeemTicket: %v", err)
					return
				}
				if ok {
					mu.Lock()
					used = append(used, msg.ID)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(used) != 1 {
			t.Fatalf("%d of 10 uses at once succeeded, want 1", len(used))
		}
		if p, err := ts.PendingMail(ctx); err != nil || p != 1 {
			t.Errorf("PendingMail = %d, %v; want the one use's message", p, err)
		}
	})

	run("Delete", func(t *testing.T, ts ticketStores) {
		ctx := testContext(t)
		u := setup(t, ts, "ada@example.test")
		bob := setup(t, ts, "bob@example.test")
		n := now()
		verify := newTicket(u, valet.TicketVerify, u.Email, n)
		recovery := newTicket(u, valet.TicketRecovery, u.Email, n)
		change := newTicket(u, valet.TicketEmailChange, "new@example.test", n)
		bobs := newTicket(bob, valet.TicketVerify, bob.Email, n)
		for _, tk := range []valet.Ticket{verify, recovery, change, bobs} {
			noErr(t, "CreateTicket", ts.CreateTicket(ctx, tk))
		}
		got, err := ts.DeleteTickets(ctx, u.ID, valet.TicketRecovery, valet.TicketEmailChange)
		noErr(t, "DeleteTickets", err)
		if got != 2 {
			t.Errorf("DeleteTickets of two purposes = %d, want 2", got)
		}
		wantTicket(t, ts, verify, n)
		got, err = ts.DeleteTickets(ctx, u.ID)
		noErr(t, "DeleteTickets of every purpose", err)
		if got != 1 {
			t.Errorf("DeleteTickets of every purpose = %d, want 1", got)
		}
		for _, id := range []string{verify.ID, recovery.ID, change.ID} {
			wantNoTicket(t, ts, id, n)
		}
		wantTicket(t, ts, bobs, n)
	})
}
