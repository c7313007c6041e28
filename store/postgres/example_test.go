package postgres_test

import (
	"context"
	"log"
	"time"

	"github.com/valetauth/valet/store/postgres"
)

// Open connects, migrates the schema named in the URL's search_path, and
// hands out every store a server needs.
func ExampleOpen() {
	ctx := context.Background()
	db, err := postgres.Open(ctx, "postgres://valet@db.internal:5432/valet?search_path=valet",
		postgres.Config{MaxConns: 20, Timeout: 2 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	stores := db.Stores()
	_ = stores
}

// Deployments that migrate as a separate step open with SkipMigrate and run
// Migrate from that step alone.
func ExampleDB_Migrate() {
	ctx := context.Background()
	db, err := postgres.Open(ctx, "postgres://valet@db.internal:5432/valet", postgres.Config{SkipMigrate: true})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
}
