package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/valetauth/valet"
)

// A DB on the application's own pool migrates into it and leaves it open.
func TestNewFromPool(t *testing.T) {
	u, _ := newSchema(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	db, err := NewFromPool(ctx, pool, Config{})
	if err != nil {
		t.Fatalf("NewFromPool: %v", err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	if err := db.CreateUser(ctx, valet.User{ID: "u1", Email: "a@example.com", PasswordHash: "h", Roles: []string{}, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("users through the caller's pool after Close = %d, %v; want 1", n, err)
	}
}

func TestNewFromPoolNil(t *testing.T) {
	if _, err := NewFromPool(context.Background(), nil, Config{}); !errors.Is(err, valet.ErrInvalidRequest) {
		t.Fatalf("NewFromPool(nil) = %v, want ErrInvalidRequest", err)
	}
}
