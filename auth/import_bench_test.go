package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/testenv"
	"github.com/valetauth/valet/password"
	"github.com/valetauth/valet/store/postgres"
	"github.com/valetauth/valet/store/sqlite"
)

// benchStores opens fresh stores of one backend, closed when tb ends.
type benchStores func(tb testing.TB) valet.Stores

func sqliteStores(tb testing.TB) valet.Stores {
	tb.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "valet.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db.Stores()
}

func postgresStores(tb testing.TB) valet.Stores {
	tb.Helper()
	base := testenv.URL(tb, testenv.Postgres)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "valet_bench_" + hex.EncodeToString(b[:])
	admin := func(sql string) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, sql); err != nil {
			tb.Fatal(err)
		}
	}
	admin("CREATE SCHEMA " + schema)
	tb.Cleanup(func() { admin("DROP SCHEMA " + schema + " CASCADE") })
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	db, err := postgres.Open(context.Background(), u.String(), postgres.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(db.Close)
	return db.Stores()
}

func benchService(tb testing.TB, stores valet.Stores, p password.Params) *Service {
	tb.Helper()
	s, err := New(context.Background(), Config{
		Stores: stores, Hasher: password.NewHasher(p, 0, 0), KeyReload: -1,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// importFile is n lines of the import format, each with a bcrypt hash and
// a role, as a migration from another system has them.
func importFile(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, `{"email":"user%06d@example.com","password_hash":"%s","email_verified":true,"roles":["customer"],"created_at":"2021-03-04T05:06:07Z"}`+"\n", i, bcryptHash)
	}
	return b.Bytes()
}

// BenchmarkImport100k imports 100,000 users into an empty store and
// reports users/s. On Postgres it needs VALET_TEST_POSTGRES.
//
//	go test -run '^$' -bench Import100k -benchtime 1x ./auth
func BenchmarkImport100k(b *testing.B) {
	const n = 100_000
	file := importFile(n)
	for _, be := range []struct {
		name   string
		stores benchStores
	}{{"sqlite", sqliteStores}, {"postgres", postgresStores}} {
		b.Run(be.name, func(b *testing.B) {
			var elapsed time.Duration
			for range b.N {
				b.StopTimer()
				s := benchService(b, be.stores(b), testParams)
				b.StartTimer()
				start := time.Now()
				rep, err := s.ImportUsers(context.Background(), bytes.NewReader(file), ImportOptions{})
				elapsed += time.Since(start)
				if err != nil || rep.Created != n {
					b.Fatalf("ImportUsers = %+v, %v", rep, err)
				}
			}
			b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "users/s")
		})
	}
}

// BenchmarkLoginUpgrade compares, in one run and at the default argon2id
// parameters on SQLite, the sign-in of an account imported with a bcrypt
// hash of cost 10 (its first, which verifies bcrypt, hashes argon2id and
// stores it) with that of a native argon2id account. It reports each one's
// time and the ratio imported/native.
//
//	go test -run '^$' -bench LoginUpgrade ./auth
func BenchmarkLoginUpgrade(b *testing.B) {
	ctx := context.Background()
	s := benchService(b, sqliteStores(b), password.Params{})
	const pw = "bcrypt cost 10" // bcryptHash's password, also the native one's
	if _, err := s.CreateUser(ctx, "native@example.com", "a native passphrase", nil); err != nil {
		b.Fatal(err)
	}
	rep, err := s.ImportUsers(ctx, bytes.NewReader(importFile(b.N)), ImportOptions{})
	if err != nil || rep.Created != b.N {
		b.Fatalf("ImportUsers = %+v, %v", rep, err)
	}
	var native, imported time.Duration
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		if _, err := s.Login(ctx, "native@example.com", "a native passphrase", valet.ModeSession, Client{}); err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		if _, err := s.Login(ctx, fmt.Sprintf("user%06d@example.com", i), pw, valet.ModeSession, Client{}); err != nil {
			b.Fatal(err)
		}
		native, imported = native+mid.Sub(start), imported+time.Since(mid)
	}
	b.ReportMetric(float64(native.Nanoseconds())/float64(b.N), "ns/native")
	b.ReportMetric(float64(imported.Nanoseconds())/float64(b.N), "ns/imported-first")
	b.ReportMetric(float64(imported)/float64(native), "imported/native")
}
