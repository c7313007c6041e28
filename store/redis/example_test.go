package redis_test

import (
	"context"
	"log"

	"github.com/valetauth/valet/store/postgres"
	"github.com/valetauth/valet/store/redis"
)

// Sessions, refresh families and revocations can live in Redis while users,
// keys and secrets stay in PostgreSQL.
func ExampleOpen() {
	ctx := context.Background()
	db, err := postgres.Open(ctx, "postgres://valet@db.internal:5432/valet", postgres.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	rs, err := redis.Open(ctx, "rediss://cache.internal:6380/0", redis.Config{Prefix: "valet:"})
	if err != nil {
		log.Fatal(err)
	}
	defer rs.Close()

	stores := db.Stores()
	fast := rs.Stores()
	stores.Sessions, stores.Refresh, stores.Revocations = fast.Sessions, fast.Refresh, fast.Revocations
	_ = stores
}
