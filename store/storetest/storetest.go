// Package storetest is the conformance suite that every store backend runs,
// in the manner of testing/fstest.TestFS: one set of tests for the contract
// written in the root package's store interfaces.
//
// A backend's test calls Run with a function that returns fresh, empty
// stores:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(tb testing.TB) valet.Stores {
//			return memory.New().Stores()
//		})
//	}
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/valetauth/valet"
)

// Run runs the conformance suite. newStores is called once per subtest and
// returns fresh, empty stores (isolated from other subtests); members left nil
// are skipped. It checks every method of every interface in store.go that the
// member implements, including SessionLister when Sessions implements it, and
// Sweeper and Pinger on each member that implements them.
//
// CreateSession must accept any bytes as UserAgent and IP and store them as
// valid UTF-8 (each run of invalid bytes as one U+FFFD) without NUL bytes,
// cut after the last whole character that fits in 512 bytes (UserAgent) or
// 64 bytes (IP). CreateSession and SetSessionAuth must keep, of AMR, the
// methods of 1 to 16 bytes of a-z, 0-9, _ and -, in order, and at most 8 of
// them, and drop the others; an AMR that is nil or empty reads back empty
// (nil or not). Sweep(ctx, at) must delete exactly the member's records
// that have expired at at and return how many, or, on a backend that
// expires records by itself, delete none and return 0.
//
// Factors are checked when both Factors and Users are set: the suite
// creates the users whose factors it stores. Clients are checked likewise
// when both Clients and Users are set; AddClientGrant and SetConsent, like
// CreateAuthCode, must return ErrNotFound for a user or client that is not
// there, and ClientGrants must leave out the grants that have expired by
// the store's clock.
//
// Times are built from the real clock (time.Now), because stores decide
// expiry with it unless they offer a clock of their own, and are compared
// with time.Time.Equal after truncation to microseconds. Run reports
// failures through t and returns nothing.
func Run(t *testing.T, newStores func(tb testing.TB) valet.Stores) {
	t.Helper()
	t.Run("Users", func(t *testing.T) { testUsers(t, newStores) })
	t.Run("Sessions", func(t *testing.T) { testSessions(t, newStores) })
	t.Run("SessionLister", func(t *testing.T) { testSessionLister(t, newStores) })
	t.Run("Refresh", func(t *testing.T) { testRefresh(t, newStores) })
	t.Run("Keys", func(t *testing.T) { testKeys(t, newStores) })
	t.Run("Secrets", func(t *testing.T) { testSecrets(t, newStores) })
	t.Run("Revocations", func(t *testing.T) { testRevocations(t, newStores) })
	t.Run("Sweep", func(t *testing.T) { testSweep(t, newStores) })
	t.Run("Ping", func(t *testing.T) { testPing(t, newStores) })
	t.Run("DoneContext", func(t *testing.T) { testDoneContext(t, newStores) })
	t.Run("Outbox", func(t *testing.T) { testOutbox(t, newStores) })
	t.Run("Tickets", func(t *testing.T) { testTickets(t, newStores) })
	t.Run("Factors", func(t *testing.T) { testFactors(t, newStores) })
	t.Run("FactorChange", func(t *testing.T) { testFactorChange(t, newStores) })
	t.Run("Clients", func(t *testing.T) { testClients(t, newStores) })
	t.Run("ClientRefresh", func(t *testing.T) { testClientRefresh(t, newStores) })
}

// member returns a subtest runner for one member of the stores: each subtest
// gets fresh stores and is skipped when pick finds no such member.
func member[T any](t *testing.T, newStores func(testing.TB) valet.Stores, pick func(valet.Stores) (T, bool)) func(name string, fn func(t *testing.T, s T)) {
	return func(name string, fn func(t *testing.T, s T)) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			s, ok := pick(newStores(t))
			if !ok {
				t.Skip("the stores have no such member")
			}
			fn(t, s)
		})
	}
}

// testContext returns a context for one test that ends with it, bounded so
// that a store that hangs fails the test instead of the whole run.
func testContext(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

// now returns the current time truncated to the microsecond, the finest
// resolution every backend keeps.
func now() time.Time { return time.Now().Truncate(time.Microsecond) }

func sameTime(a, b time.Time) bool {
	return a.Truncate(time.Microsecond).Equal(b.Truncate(time.Microsecond))
}

// randomBytes returns n bytes from crypto/rand, so that no test value is
// committed to the repository.
func randomBytes(tb testing.TB, n int) []byte {
	tb.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatalf("crypto/rand: %v", err)
	}
	return b
}

// diff collects the fields in which a stored value differs from the one
// expected.
type diff []string

func (d *diff) str(field, got, want string) {
	if got != want {
		*d = append(*d, fmt.Sprintf("%s = %q, want %q", field, got, want))
	}
}

func (d *diff) int(field string, got, want int) {
	if got != want {
		*d = append(*d, fmt.Sprintf("%s = %d, want %d", field, got, want))
	}
}

func (d *diff) int64(field string, got, want int64) {
	if got != want {
		*d = append(*d, fmt.Sprintf("%s = %d, want %d", field, got, want))
	}
}

func (d *diff) bool(field string, got, want bool) {
	if got != want {
		*d = append(*d, fmt.Sprintf("%s = %t, want %t", field, got, want))
	}
}

func (d *diff) time(field string, got, want time.Time) {
	if !sameTime(got, want) {
		*d = append(*d, fmt.Sprintf("%s = %v, want %v", field, got, want))
	}
}

func (d *diff) bytes(field string, got, want []byte) {
	if !bytes.Equal(got, want) {
		*d = append(*d, fmt.Sprintf("%s = %x, want %x", field, got, want))
	}
}

func (d *diff) strings(field string, got, want []string) {
	if !slices.Equal(got, want) {
		*d = append(*d, fmt.Sprintf("%s = %q, want %q", field, got, want))
	}
}

func (d diff) String() string { return strings.Join(d, "; ") }

func diffUser(got, want valet.User) string {
	var d diff
	d.str("ID", got.ID, want.ID)
	d.str("Email", got.Email, want.Email)
	d.bool("EmailVerified", got.EmailVerified, want.EmailVerified)
	d.time("EmailVerifiedAt", got.EmailVerifiedAt, want.EmailVerifiedAt)
	d.str("PasswordHash", got.PasswordHash, want.PasswordHash)
	d.strings("Roles", got.Roles, want.Roles)
	d.bool("Disabled", got.Disabled, want.Disabled)
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	d.time("UpdatedAt", got.UpdatedAt, want.UpdatedAt)
	return d.String()
}

func diffSession(got, want valet.Session) string {
	var d diff
	d.str("ID", got.ID, want.ID)
	d.str("UserID", got.UserID, want.UserID)
	d.str("Mode", string(got.Mode), string(want.Mode))
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	d.time("LastSeenAt", got.LastSeenAt, want.LastSeenAt)
	d.time("ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	d.time("IdleExpiresAt", got.IdleExpiresAt, want.IdleExpiresAt)
	d.str("UserAgent", got.UserAgent, want.UserAgent)
	d.str("IP", got.IP, want.IP)
	// slices.Equal holds nil and empty equal: a store may read back either.
	d.strings("AMR", got.AMR, want.AMR)
	d.time("AuthTime", got.AuthTime, want.AuthTime)
	return d.String()
}

func diffFamily(got, want valet.RefreshFamily) string {
	var d diff
	d.str("ID", got.ID, want.ID)
	d.str("UserID", got.UserID, want.UserID)
	d.str("SessionID", got.SessionID, want.SessionID)
	d.int("Generation", got.Generation, want.Generation)
	d.time("RotatedAt", got.RotatedAt, want.RotatedAt)
	d.bytes("Successor", got.Successor, want.Successor)
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	d.time("ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	d.time("IdleExpiresAt", got.IdleExpiresAt, want.IdleExpiresAt)
	d.bool("Revoked", got.Revoked, want.Revoked)
	return d.String()
}

func diffKey(got, want valet.SigningKey) string {
	var d diff
	d.str("ID", got.ID, want.ID)
	d.str("Alg", got.Alg, want.Alg)
	d.bytes("Private", got.Private, want.Private)
	d.bytes("Public", got.Public, want.Public)
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	d.time("RetiredAt", got.RetiredAt, want.RetiredAt)
	return d.String()
}

// wantErr fails the test unless err is target.
func wantErr(tb testing.TB, call string, err, target error) {
	tb.Helper()
	if !errors.Is(err, target) {
		tb.Fatalf("%s: error = %v, want %v", call, err, target)
	}
}

// noErr fails the test at once if err is not nil.
func noErr(tb testing.TB, call string, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatalf("%s: %v", call, err)
	}
}

func testPing(t *testing.T, newStores func(testing.TB) valet.Stores) {
	ctx := testContext(t)
	pinged := 0
	for name, m := range members(newStores(t)) {
		p, ok := m.(valet.Pinger)
		if !ok {
			continue
		}
		pinged++
		if err := p.Ping(ctx); err != nil {
			t.Errorf("%s.Ping: %v", name, err)
		}
	}
	if pinged == 0 {
		t.Skip("no member implements valet.Pinger")
	}
}

// members returns the non-nil members of st by field name, in field order.
func members(st valet.Stores) iter.Seq2[string, any] {
	return func(yield func(string, any) bool) {
		all := []struct {
			name string
			m    any
			nil  bool
		}{
			{"Users", st.Users, st.Users == nil},
			{"Sessions", st.Sessions, st.Sessions == nil},
			{"Refresh", st.Refresh, st.Refresh == nil},
			{"Keys", st.Keys, st.Keys == nil},
			{"Secrets", st.Secrets, st.Secrets == nil},
			{"Revocations", st.Revocations, st.Revocations == nil},
			{"Factors", st.Factors, st.Factors == nil},
			{"Clients", st.Clients, st.Clients == nil},
		}
		for _, e := range all {
			if e.nil {
				continue
			}
			if !yield(e.name, e.m) {
				return
			}
		}
	}
}
