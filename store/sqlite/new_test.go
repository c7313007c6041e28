package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/store/storetest"
)

// openShared opens a pool on a new file with DSN, closed when the test ends.
func openShared(tb testing.TB, dsn string) *sql.DB {
	tb.Helper()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

func TestNewConformance(t *testing.T) {
	storetest.Run(t, func(tb testing.TB) valet.Stores {
		pool := openShared(tb, DSN(filepath.Join(tb.TempDir(), "app.db")))
		db, err := New(context.Background(), pool)
		if err != nil {
			tb.Fatalf("New: %v", err)
		}
		tb.Cleanup(func() { _ = db.Close() })
		return db.Stores()
	})
}

// The application's own tables share the file, and the pool outlives the
// store.
func TestNewSharesThePool(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "app.db")
	pool := openShared(t, DSN(path))
	if _, err := pool.ExecContext(ctx, `CREATE TABLE carts (user_id TEXT PRIMARY KEY, items INTEGER)`); err != nil {
		t.Fatal(err)
	}
	db, err := New(ctx, pool)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	u := valet.User{ID: "u1", Email: "a@example.com", PasswordHash: "h", Roles: []string{}, CreatedAt: now, UpdatedAt: now}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.ExecContext(ctx, `INSERT INTO carts VALUES ('u1', 2)`); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := pool.PingContext(ctx); err != nil {
		t.Fatalf("the caller's pool was closed with the store: %v", err)
	}

	// A store opened again on the same file sees the user; the table the
	// application made is still there.
	again, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = again.Close() })
	got, err := again.UserByID(ctx, "u1")
	if err != nil || got.Email != u.Email {
		t.Fatalf("UserByID = %+v, %v; want %s", got, err, u.Email)
	}
	var items int
	if err := pool.QueryRowContext(ctx, `SELECT items FROM carts WHERE user_id = 'u1'`).Scan(&items); err != nil || items != 2 {
		t.Fatalf("carts row = %d, %v; want 2", items, err)
	}
}

func TestNewRefuses(t *testing.T) {
	noFK := openShared(t, filepath.Join(t.TempDir(), "plain.db"))
	tests := []struct {
		name string
		db   *sql.DB
	}{
		{"nil pool", nil},
		{"foreign keys off", noFK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, err := New(context.Background(), tc.db)
			if !errors.Is(err, valet.ErrInvalidRequest) {
				if db != nil {
					_ = db.Close()
				}
				t.Fatalf("New = %v, want an error wrapping ErrInvalidRequest", err)
			}
		})
	}
}
