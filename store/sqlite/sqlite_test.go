package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	sqlitedriver "modernc.org/sqlite"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/testclock"
	"github.com/valetauth/valet/store/memory"
	"github.com/valetauth/valet/store/sqlite"
	"github.com/valetauth/valet/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(tb testing.TB) valet.Stores {
		return open(tb, filepath.Join(tb.TempDir(), "valet.db")).Stores()
	})
}

func TestConformanceInMemory(t *testing.T) {
	storetest.Run(t, func(tb testing.TB) valet.Stores { return open(tb, ":memory:").Stores() })
}

func open(tb testing.TB, path string, opts ...sqlite.Option) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(context.Background(), path, opts...)
	if err != nil {
		tb.Fatalf("Open(%q): %v", path, err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return db
}

// clock is the shared settable test clock.
type clock = testclock.Clock

func newClock() *clock { return testclock.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)) }

func user(email string, created time.Time) valet.User {
	return valet.User{
		ID:           valet.NewID(),
		Email:        email,
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=2$" + valet.NewID(),
		Roles:        []string{"admin", "user"},
		CreatedAt:    created,
		UpdatedAt:    created,
	}
}

func session(created time.Time, absolute, idle time.Duration) valet.Session {
	return valet.Session{
		ID:            valet.HashSecret(valet.NewID()),
		UserID:        "user-1",
		Mode:          valet.ModeHybrid,
		CreatedAt:     created,
		LastSeenAt:    created,
		ExpiresAt:     created.Add(absolute),
		IdleExpiresAt: created.Add(idle),
		UserAgent:     "test agent",
		IP:            "192.0.2.1",
	}
}

func family(created time.Time, absolute, idle time.Duration) valet.RefreshFamily {
	return valet.RefreshFamily{
		ID:            valet.NewID(),
		UserID:        "user-1",
		RotatedAt:     created,
		CreatedAt:     created,
		ExpiresAt:     created.Add(absolute),
		IdleExpiresAt: created.Add(idle),
	}
}

func TestReopenKeepsData(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "valet.db")
	now := time.Now().Truncate(time.Microsecond)
	u := user("keep@example.test", now)
	s := session(now, time.Hour, time.Hour)
	f := family(now, time.Hour, time.Hour)
	fHash := valet.HashSecret(valet.NewID())
	k := valet.SigningKey{ID: "k1", Alg: "EdDSA", Private: []byte("sealed private"), Public: []byte("public"), CreatedAt: now}
	secret := []byte(valet.NewID())

	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	steps := []error{
		db.CreateUser(ctx, u),
		db.CreateSession(ctx, s),
		db.CreateRefreshFamily(ctx, f, fHash),
		db.AddSigningKey(ctx, k),
		db.AddRevocation(ctx, valet.Revocation{SessionID: s.ID, Until: now.Add(time.Hour)}),
	}
	if _, err := db.EnsureSecret(ctx, "master", secret); err != nil {
		steps = append(steps, err)
	}
	if err := errors.Join(steps...); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	db = open(t, path)
	if got, err := db.UserByEmail(ctx, u.Email); err != nil || got.ID != u.ID || !got.CreatedAt.Equal(u.CreatedAt) {
		t.Errorf("UserByEmail after reopening = %+v, %v", got, err)
	}
	if got, found, err := db.Session(ctx, s.ID); err != nil || !found || got.UserID != s.UserID {
		t.Errorf("Session after reopening = %+v, %t, %v", got, found, err)
	}
	if got, _, found, err := db.RefreshByToken(ctx, fHash); err != nil || !found || got.ID != f.ID {
		t.Errorf("RefreshByToken after reopening = %+v, %t, %v", got, found, err)
	}
	if got, err := db.SigningKeys(ctx); err != nil || len(got) != 1 || got[0].ID != k.ID {
		t.Errorf("SigningKeys after reopening = %+v, %v", got, err)
	}
	if got, err := db.Revocations(ctx, now); err != nil || len(got) != 1 || got[0].SessionID != s.ID {
		t.Errorf("Revocations after reopening = %+v, %v", got, err)
	}
	if got, err := db.EnsureSecret(ctx, "master", []byte("another value")); err != nil || string(got) != string(secret) {
		t.Errorf("EnsureSecret after reopening returned a different value (error %v)", err)
	}
}

// migrationRows returns the recorded migrations, version to applied_at.
func migrationRows(tb testing.TB, db *sqlite.DB) map[int]int64 {
	tb.Helper()
	rows, err := db.SQL().QueryContext(tb.Context(), `SELECT version, applied_at FROM schema_migrations`)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	out := make(map[int]int64)
	for rows.Next() {
		var v int
		var at int64
		if err := rows.Scan(&v, &at); err != nil {
			tb.Fatal(err)
		}
		out[v] = at
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

func TestMigrationsRunOnce(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "valet.db")
	entries, err := os.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}

	clk := newClock()
	first := open(t, path, sqlite.WithClock(clk.Now))
	applied := migrationRows(t, first)
	if len(applied) != len(entries) {
		t.Fatalf("schema_migrations has %d rows, want one per migration file (%d)", len(applied), len(entries))
	}
	for v, at := range applied {
		if at != clk.Now().UnixMicro() {
			t.Errorf("migration %d applied at %d, want %d", v, at, clk.Now().UnixMicro())
		}
	}

	// Migrating again, from the same handle, from a second handle, and from
	// several handles that open the file at once, changes nothing.
	clk.Set(clk.Now().Add(time.Hour))
	if err := first.Migrate(ctx); err != nil {
		t.Fatalf("Migrate again: %v", err)
	}
	second := open(t, path, sqlite.WithClock(clk.Now))
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			db, err := sqlite.Open(ctx, path, sqlite.WithClock(clk.Now))
			if err != nil {
				errs[i] = err
				return
			}
			errs[i] = db.Close()
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent Open: %v", err)
	}
	if err := second.Migrate(ctx); err != nil {
		t.Fatalf("Migrate from a second handle: %v", err)
	}
	if got := migrationRows(t, second); fmt.Sprint(got) != fmt.Sprint(applied) {
		t.Errorf("schema_migrations after migrating again = %v, want %v", got, applied)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "valet.db")
	db := open(t, path)
	if _, err := db.SQL().ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)`); err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx); !errors.Is(err, valet.ErrUnavailable) {
		t.Errorf("Migrate on a newer schema: error %v, want one wrapping ErrUnavailable", err)
	}
	if db2, err := sqlite.Open(ctx, path); err == nil {
		db2.Close()
		t.Error("Open on a newer schema succeeded, want an error")
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		path string
		want error
	}{
		{"empty path", "", valet.ErrInvalidRequest},
		{"query in path", filepath.Join(dir, "valet.db?mode=ro"), valet.ErrInvalidRequest},
		{"directory", dir, valet.ErrUnavailable},
		{"missing parent", filepath.Join(dir, "no", "such", "valet.db"), valet.ErrUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, err := sqlite.Open(t.Context(), tc.path)
			if err == nil {
				db.Close()
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("Open(%q) error = %v, want one wrapping %v", tc.path, err, tc.want)
			}
		})
	}
}

func TestErrorsHideDriver(t *testing.T) {
	ctx := t.Context()
	db := open(t, filepath.Join(t.TempDir(), "valet.db"))
	u := user("dup@example.test", time.Now())
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"unique violation", db.CreateUser(ctx, u), valet.ErrConflict},
		{"canceled", db.CreateUser(canceled, user("other@example.test", time.Now())), valet.ErrUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !errors.Is(tc.err, tc.want) {
				t.Errorf("error = %v, want one wrapping %v", tc.err, tc.want)
			}
			var se *sqlitedriver.Error
			if errors.As(tc.err, &se) {
				t.Errorf("error %v exposes the driver's error type", tc.err)
			}
		})
	}
}

func TestStorageFormat(t *testing.T) {
	ctx := t.Context()
	db := open(t, filepath.Join(t.TempDir(), "valet.db"))
	created := time.Date(2031, 5, 6, 7, 8, 9, 123456000, time.FixedZone("X", 3600))
	u := user("format@example.test", created)
	u.UpdatedAt = time.Time{}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	var (
		roles     string
		createdAt int64
		updatedAt *int64
	)
	err := db.SQL().QueryRowContext(ctx, `SELECT roles, created_at, updated_at FROM users WHERE id = ?`, u.ID).Scan(&roles, &createdAt, &updatedAt)
	if err != nil {
		t.Fatal(err)
	}
	if want := `["admin","user"]`; roles != want {
		t.Errorf("roles stored as %s, want %s", roles, want)
	}
	if want := created.UnixMicro(); createdAt != want {
		t.Errorf("created_at stored as %d, want %d", createdAt, want)
	}
	if updatedAt != nil {
		t.Errorf("zero updated_at stored as %d, want NULL", *updatedAt)
	}
	got, err := db.UserByID(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.CreatedAt.Equal(created) || got.CreatedAt.Location() != time.UTC || !got.UpdatedAt.IsZero() {
		t.Errorf("read back CreatedAt %v, UpdatedAt %v; want %v in UTC and the zero time", got.CreatedAt, got.UpdatedAt, created)
	}
}

func TestPragmas(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "valet.db"))
	tests := []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"busy_timeout", "5000"},
	}
	for _, tc := range tests {
		t.Run(tc.pragma, func(t *testing.T) {
			var got string
			if err := db.SQL().QueryRowContext(t.Context(), "PRAGMA "+tc.pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("PRAGMA %s = %s, want %s", tc.pragma, got, tc.want)
			}
		})
	}
}

func TestExpiryFollowsClock(t *testing.T) {
	ctx := t.Context()
	clk := newClock()
	t0 := clk.Now()
	db := open(t, filepath.Join(t.TempDir(), "valet.db"), sqlite.WithClock(clk.Now))
	sess := session(t0, time.Hour, 10*time.Minute)
	noIdle := session(t0, time.Hour, 0)
	noIdle.IdleExpiresAt = time.Time{}
	fam := family(t0, time.Hour, 10*time.Minute)
	famHash := valet.HashSecret(valet.NewID())
	if err := errors.Join(db.CreateSession(ctx, sess), db.CreateSession(ctx, noIdle), db.CreateRefreshFamily(ctx, fam, famHash)); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name                             string
		at                               time.Duration
		wantSession, wantNoIdle, wantFam bool
	}{
		{"just created", 0, true, true, true},
		{"before idle expiry", 10*time.Minute - time.Microsecond, true, true, true},
		{"at idle expiry", 10 * time.Minute, false, true, false},
		{"before absolute expiry", time.Hour - time.Microsecond, false, true, false},
		{"at absolute expiry", time.Hour, false, false, false},
		{"back before idle expiry", 5 * time.Minute, true, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk.Set(t0.Add(tc.at))
			if _, got, err := db.Session(ctx, sess.ID); err != nil || got != tc.wantSession {
				t.Errorf("Session = %t, %v; want %t, nil", got, err, tc.wantSession)
			}
			if _, got, err := db.Session(ctx, noIdle.ID); err != nil || got != tc.wantNoIdle {
				t.Errorf("Session without idle expiry = %t, %v; want %t, nil", got, err, tc.wantNoIdle)
			}
			if _, _, got, err := db.RefreshByToken(ctx, famHash); err != nil || got != tc.wantFam {
				t.Errorf("RefreshByToken = %t, %v; want %t, nil", got, err, tc.wantFam)
			}
			sessions, err := db.UserSessions(ctx, "user-1")
			if err != nil {
				t.Fatal(err)
			}
			if want := boolCount(tc.wantSession, tc.wantNoIdle); len(sessions) != want {
				t.Errorf("UserSessions returned %d sessions, want %d", len(sessions), want)
			}
		})
	}
}

func boolCount(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

func TestSweep(t *testing.T) {
	ctx := t.Context()
	clk := newClock()
	t0 := clk.Now()
	db := open(t, filepath.Join(t.TempDir(), "valet.db"), sqlite.WithClock(clk.Now))

	live := session(t0, time.Hour, 30*time.Minute)
	idle := session(t0, time.Hour, 10*time.Minute)
	absolute := session(t0, 15*time.Minute, 30*time.Minute)
	liveFam, oldFam := family(t0, time.Hour, 30*time.Minute), family(t0, time.Hour, 10*time.Minute)
	liveHash, oldHash, oldNext := valet.HashSecret(valet.NewID()), valet.HashSecret(valet.NewID()), valet.HashSecret(valet.NewID())
	err := errors.Join(
		db.CreateSession(ctx, live), db.CreateSession(ctx, idle), db.CreateSession(ctx, absolute),
		db.CreateRefreshFamily(ctx, liveFam, liveHash), db.CreateRefreshFamily(ctx, oldFam, oldHash),
		db.AddRevocation(ctx, valet.Revocation{SessionID: "sid-0", Until: t0.Add(5 * time.Minute)}),
		db.AddRevocation(ctx, valet.Revocation{SessionID: "sid-1", Until: t0.Add(20 * time.Minute)}),
		db.AddRevocation(ctx, valet.Revocation{SessionID: "sid-2", Until: t0.Add(40 * time.Minute)}),
	)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := db.AdvanceRefreshFamily(ctx, oldFam.ID, 0, oldNext, nil, t0, t0.Add(10*time.Minute)); !ok || err != nil {
		t.Fatalf("AdvanceRefreshFamily = %t, %v", ok, err)
	}

	// At t0+20m: two sessions, one family and two revocations have ended.
	at := t0.Add(20 * time.Minute)
	if got, err := db.Sweep(ctx, at); err != nil || got != 5 {
		t.Errorf("Sweep = %d, %v; want 5, nil", got, err)
	}
	if got, err := db.Sweep(ctx, at); err != nil || got != 0 {
		t.Errorf("a second Sweep = %d, %v; want 0, nil", got, err)
	}
	// The token hashes of a swept family go with it.
	var tokens int
	if err := db.SQL().QueryRowContext(ctx, `SELECT count(*) FROM refresh_tokens`).Scan(&tokens); err != nil {
		t.Fatal(err)
	}
	if tokens != 1 {
		t.Errorf("%d refresh token hashes left after Sweep, want 1", tokens)
	}

	// Turning the clock back shows what Sweep removed.
	clk.Set(t0)
	for _, tc := range []struct {
		name string
		id   string
		want bool
	}{
		{"live session", live.ID, true},
		{"idle-expired session", idle.ID, false},
		{"expired session", absolute.ID, false},
	} {
		if _, found, _ := db.Session(ctx, tc.id); found != tc.want {
			t.Errorf("%s: found = %t, want %t", tc.name, found, tc.want)
		}
	}
	if _, _, found, _ := db.RefreshByToken(ctx, liveHash); !found {
		t.Error("the live family was swept")
	}
	revs, err := db.Revocations(ctx, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(revs) != 1 || revs[0].SessionID != "sid-2" {
		t.Errorf("Revocations after Sweep = %+v, want only sid-2", revs)
	}
}

// TestAdvanceAcrossProcesses races two handles on one file, as two server
// processes sharing it would: the write lock of the file, not a lock in Go,
// must make exactly one advance win.
func TestAdvanceAcrossProcesses(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "valet.db")
	a, b := open(t, path), open(t, path)
	now := time.Now()
	for round := range 20 {
		f := family(now, time.Hour, time.Hour)
		if err := a.CreateRefreshFamily(ctx, f, valet.HashSecret(valet.NewID())); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var won [4]bool
		var errs [4]error
		start := make(chan struct{})
		for i := range won {
			db := a
			if i%2 == 1 {
				db = b
			}
			wg.Go(func() {
				<-start
				won[i], errs[i] = db.AdvanceRefreshFamily(ctx, f.ID, 0, valet.HashSecret(valet.NewID()), nil, now, now.Add(time.Hour))
			})
		}
		close(start)
		wg.Wait()
		if err := errors.Join(errs[:]...); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if n := boolCount(won[:]...); n != 1 {
			t.Fatalf("round %d: %d advances won, want 1", round, n)
		}
	}
}

func TestWithClockNilPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("WithClock(nil) did not panic")
		}
	}()
	sqlite.WithClock(nil)
}

// BenchmarkSession measures the session lookup of every authenticated
// request. The baseline is the same lookup in the memory store.
func BenchmarkSession(b *testing.B) {
	const sessions = 10000
	ctx := context.Background()
	db := open(b, filepath.Join(b.TempDir(), "valet.db"))
	mem := memory.New()
	now := time.Now()
	ids := make([]string, sessions)
	for i := range ids {
		s := session(now, 24*time.Hour, time.Hour)
		s.UserID = fmt.Sprint("user-", i%100)
		ids[i] = s.ID
		if err := errors.Join(db.CreateSession(ctx, s), mem.CreateSession(ctx, s)); err != nil {
			b.Fatal(err)
		}
	}
	missing := valet.HashSecret(valet.NewID())
	// A request's context can be canceled, which makes the driver watch it.
	reqCtx, cancel := context.WithCancel(ctx)
	b.Cleanup(cancel)

	lookup := func(store valet.SessionStore, ctx context.Context) func(b *testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, found, err := store.Session(ctx, ids[i%sessions]); !found || err != nil {
					b.Fatalf("Session: found %t, error %v", found, err)
				}
				i++
			}
		}
	}
	b.Run("baseline-memory", lookup(mem, ctx))
	b.Run("hit", lookup(db, ctx))
	b.Run("hit-cancelable-ctx", lookup(db, reqCtx))
	b.Run("miss", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, found, err := db.Session(ctx, missing); found || err != nil {
				b.Fatalf("Session: found %t, error %v", found, err)
			}
		}
	})
	b.Run("hit-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, found, err := db.Session(ctx, ids[i%sessions]); !found || err != nil {
					b.Errorf("Session: found %t, error %v", found, err)
					return
				}
				i++
			}
		})
	})
}
