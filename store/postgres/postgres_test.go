package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/testclock"
	"github.com/valetauth/valet/store/storetest"
)

// baseURL returns the test database's URL from VALET_TEST_POSTGRES, skipping
// the test without it, or failing it when VALET_REQUIRE_SERVICES=1.
func baseURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("VALET_TEST_POSTGRES")
	if u == "" {
		if os.Getenv("VALET_REQUIRE_SERVICES") == "1" {
			tb.Fatal("VALET_TEST_POSTGRES is not set and VALET_REQUIRE_SERVICES=1")
		}
		tb.Skip("VALET_TEST_POSTGRES is not set")
	}
	return u
}

// newSchema creates an empty schema that is dropped when the test ends, and
// returns a URL whose connections work in it, and its name.
func newSchema(tb testing.TB) (string, string) {
	tb.Helper()
	base := baseURL(tb)
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatal(err)
	}
	schema := "valet_t_" + hex.EncodeToString(b[:])
	admin := func(sql string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	ident := pgx.Identifier{schema}.Sanitize()
	if err := admin("CREATE SCHEMA " + ident); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		if err := admin("DROP SCHEMA " + ident + " CASCADE"); err != nil {
			tb.Errorf("drop schema: %v", err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("VALET_TEST_POSTGRES: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), schema
}

// openTest opens a migrated DB in a fresh schema, closed when the test ends.
func openTest(tb testing.TB, cfg Config) *DB {
	tb.Helper()
	u, _ := newSchema(tb)
	db, err := Open(testContext(tb), u, cfg)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(db.Close)
	return db
}

func testContext(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(tb testing.TB) valet.Stores {
		return openTest(tb, Config{}).Stores()
	})
}

func TestMigrateConcurrently(t *testing.T) {
	u, schema := newSchema(t)
	ctx := testContext(t)

	// Five nodes start at once against one empty schema.
	const nodes = 5
	dbs := make([]*DB, nodes)
	for i := range dbs {
		db, err := Open(ctx, u, Config{SkipMigrate: true})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(db.Close)
		dbs[i] = db
	}
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, nodes)
	)
	for i, db := range dbs {
		wg.Go(func() {
			<-start
			errs[i] = db.Migrate(ctx)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("node %d: Migrate: %v", i, err)
		}
	}

	applied := func() map[int]time.Time {
		t.Helper()
		rows, err := dbs[0].Pool().Query(ctx, `SELECT version, applied_at FROM schema_migrations`)
		if err != nil {
			t.Fatalf("read schema_migrations: %v", err)
		}
		defer rows.Close()
		got := map[int]time.Time{}
		for rows.Next() {
			var (
				v  int
				at time.Time
			)
			if err := rows.Scan(&v, &at); err != nil {
				t.Fatal(err)
			}
			got[v] = at
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return got
	}
	first := applied()
	ms := migrations()
	if got, want := len(first), len(ms); got != want {
		t.Fatalf("schema_migrations has %d rows, want %d", got, want)
	}
	for _, m := range ms {
		if _, ok := first[m.version]; !ok {
			t.Errorf("migration %s is not recorded", m.name)
		}
	}
	var tables int
	err := dbs[0].Pool().QueryRow(ctx, `SELECT count(*) FROM information_schema.tables
		WHERE table_schema = $1 AND table_name = ANY($2)`, schema,
		[]string{"users", "sessions", "refresh_families", "refresh_tokens", "signing_keys", "secrets", "revocations"}).Scan(&tables)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tables, 7; got != want {
		t.Errorf("%d of the schema's tables exist in %s, want %d", got, schema, want)
	}

	// Migrating again changes nothing.
	if err := dbs[1].Migrate(ctx); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	again := applied()
	for v, at := range first {
		if !again[v].Equal(at) {
			t.Errorf("migration %d re-applied at %v, first at %v", v, again[v], at)
		}
	}
	if len(again) != len(first) {
		t.Errorf("schema_migrations has %d rows after a second Migrate, want %d", len(again), len(first))
	}
}

func TestOpenFails(t *testing.T) {
	password := valet.NewID()
	tests := []struct {
		name string
		url  string
		want error
	}{
		{"malformed url", "postgres://postgres:" + password + "@%zz", valet.ErrInvalidRequest},
		{"bad port", "postgres://postgres:" + password + "@127.0.0.1:notaport/test", valet.ErrInvalidRequest},
		{"nothing listening", "postgres://postgres:" + password + "@127.0.0.1:1/test?connect_timeout=2", valet.ErrUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, err := Open(testContext(t), tc.url, Config{})
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("Open error = %v, want %v", err, tc.want)
			}
			if strings.Contains(err.Error(), password) {
				t.Errorf("Open error %q quotes the password", err)
			}
		})
	}
}

func TestOpenMigrates(t *testing.T) {
	u, _ := newSchema(t)
	ctx := testContext(t)
	skip, err := Open(ctx, u, Config{SkipMigrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(skip.Close)
	if _, err := skip.UserByID(ctx, "x"); !errors.Is(err, valet.ErrUnavailable) {
		t.Errorf("UserByID before any migration: error = %v, want ErrUnavailable", err)
	}
	db, err := Open(ctx, u, Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if _, err := skip.UserByID(ctx, "x"); !errors.Is(err, valet.ErrNotFound) {
		t.Errorf("UserByID after Open migrated: error = %v, want ErrNotFound", err)
	}
}

// TestErrorsAreSentinels checks that failures carry the root package's
// sentinels and no pgx type.
func TestErrorsAreSentinels(t *testing.T) {
	ctx := testContext(t)
	db := openTest(t, Config{})
	n := time.Now()
	u := valet.User{ID: valet.NewID(), Email: "a@example.test", PasswordHash: "x", CreatedAt: n, UpdatedAt: n}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	dup := u
	dup.ID = valet.NewID()
	err := db.CreateUser(ctx, dup)
	if !errors.Is(err, valet.ErrConflict) {
		t.Errorf("CreateUser with a taken email: error = %v, want ErrConflict", err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		t.Errorf("CreateUser error %v leaks a *pgconn.PgError", err)
	}

	db.Close()
	calls := []struct {
		name string
		fn   func() error
	}{
		{"Ping", func() error { return db.Ping(ctx) }},
		{"UserByID", func() error { _, err := db.UserByID(ctx, u.ID); return err }},
		{"Session", func() error { _, _, err := db.Session(ctx, "x"); return err }},
		{"AdvanceRefreshFamily", func() error {
			_, err := db.AdvanceRefreshFamily(ctx, "x", 0, "h", nil, n, n)
			return err
		}},
		{"EnsureSecret", func() error { _, err := db.EnsureSecret(ctx, "k", []byte("v")); return err }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			err := c.fn()
			if !errors.Is(err, valet.ErrUnavailable) {
				t.Errorf("%s on a closed pool: error = %v, want ErrUnavailable", c.name, err)
			}
		})
	}
}

// TestTimeout checks that Config.Timeout bounds a call that the database
// holds up, here behind a lock that another transaction keeps.
func TestTimeout(t *testing.T) {
	ctx := testContext(t)
	db := openTest(t, Config{Timeout: 200 * time.Millisecond})
	tx, err := db.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	if _, err := tx.Exec(ctx, `LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, _, err = db.Session(ctx, "x")
	if !errors.Is(err, valet.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Session behind a lock: error = %v, want ErrUnavailable and DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Session behind a lock returned after %v", d)
	}
}

func TestClock(t *testing.T) {
	ctx := testContext(t)
	n := time.Now().Truncate(time.Microsecond)
	c := testclock.New(n)
	db := openTest(t, Config{Now: c.Now})
	user := valet.NewID()
	s := valet.Session{
		ID: valet.HashSecret(valet.NewID()), UserID: user, Mode: valet.ModeSession,
		CreatedAt: n, LastSeenAt: n, ExpiresAt: n.Add(24 * time.Hour), IdleExpiresAt: n.Add(time.Hour),
	}
	if err := db.CreateSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	f := valet.RefreshFamily{
		ID: valet.NewID(), UserID: user, RotatedAt: n, CreatedAt: n,
		ExpiresAt: n.Add(48 * time.Hour), IdleExpiresAt: n.Add(time.Hour),
	}
	hash := valet.HashSecret(valet.NewID())
	if err := db.CreateRefreshFamily(ctx, f, hash); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name        string
		at          time.Time
		wantSession bool
		wantFamily  bool
	}{
		{"fresh", n, true, true},
		{"past the idle expiry", n.Add(2 * time.Hour), false, true},
		{"past the session's absolute expiry", n.Add(25 * time.Hour), false, true},
		{"past the family's absolute expiry", n.Add(48 * time.Hour), false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c.Set(tc.at)
			_, found, err := db.Session(ctx, s.ID)
			if err != nil {
				t.Fatal(err)
			}
			if found != tc.wantSession {
				t.Errorf("Session found = %t, want %t", found, tc.wantSession)
			}
			list, err := db.UserSessions(ctx, user)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(list) == 1; got != tc.wantSession {
				t.Errorf("UserSessions lists %d sessions, want the session listed: %t", len(list), tc.wantSession)
			}
			// A family's idle expiry is for the caller to judge: the store
			// keeps returning it until its absolute expiry.
			_, _, found, err = db.RefreshByToken(ctx, hash)
			if err != nil {
				t.Fatal(err)
			}
			if found != tc.wantFamily {
				t.Errorf("RefreshByToken found = %t, want %t", found, tc.wantFamily)
			}
		})
	}
}

// TestNoSecretsAtRest reads every row of every table after sessions and
// refresh families went through the stores.
func TestNoSecretsAtRest(t *testing.T) {
	ctx := testContext(t)
	u, schema := newSchema(t)
	db, err := Open(ctx, u, Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	storetest.AtRest(t, db.Stores(), "the database", func(tb testing.TB) string {
		return dumpSchema(tb, db, schema)
	})
}

// dumpSchema returns every row of every table in schema, each cast to text.
func dumpSchema(tb testing.TB, db *DB, schema string) string {
	tb.Helper()
	ctx := testContext(tb)
	rows, err := db.Pool().Query(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = $1 AND table_type = 'BASE TABLE'`, schema)
	if err != nil {
		tb.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		tb.Fatal(err)
	}
	if len(tables) == 0 {
		tb.Fatalf("no tables in schema %s", schema)
	}
	var b strings.Builder
	for _, table := range tables {
		var text string
		err := db.Pool().QueryRow(ctx, `SELECT coalesce(string_agg(t::text, E'\n'), '') FROM `+
			pgx.Identifier{schema, table}.Sanitize()+` t`).Scan(&text)
		if err != nil {
			tb.Fatalf("dump %s: %v", table, err)
		}
		b.WriteString(text)
		b.WriteByte('\n')
	}
	return b.String()
}

func BenchmarkSession(b *testing.B) {
	ctx := testContext(b)
	db := openTest(b, Config{})
	n := time.Now()
	s := valet.Session{
		ID: valet.HashSecret(valet.NewID()), UserID: valet.NewID(), Mode: valet.ModeSession,
		CreatedAt: n, LastSeenAt: n, ExpiresAt: n.Add(time.Hour), IdleExpiresAt: n.Add(time.Hour),
		UserAgent: "Mozilla/5.0", IP: "127.0.0.1",
	}
	if err := db.CreateSession(ctx, s); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, found, err := db.Session(ctx, s.ID); err != nil || !found {
			b.Fatalf("Session = found %t, error %v", found, err)
		}
	}
}
