package redissub_test

import (
	"context"
	"log"
	"os"

	goredis "github.com/redis/go-redis/v9"

	"github.com/valetauth/valet/verify"
	"github.com/valetauth/valet/verify/redissub"
)

// Hybrid tokens are checked against valet's revocation channel in Redis,
// when valet runs with --sessions redis://...: no request per token, and a
// revocation is seen within milliseconds.
func ExampleSubscribe() {
	ctx := context.Background()
	rdb := goredis.NewClient(&goredis.Options{Addr: os.Getenv("REDIS_ADDR")})
	revoked, err := redissub.Subscribe(ctx, rdb, redissub.Config{})
	if err != nil {
		log.Fatal(err)
	}
	v, err := verify.New(ctx, "https://auth.example.com", verify.WithRevocations(revoked))
	if err != nil {
		log.Fatal(err)
	}
	_ = v
}
