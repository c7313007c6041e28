package auth

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/testclock"
	"github.com/valetauth/valet/password"
	"github.com/valetauth/valet/revoke"
	"github.com/valetauth/valet/store/memory"
)

// countingUsers counts the reads of users by id.
type countingUsers struct {
	valet.UserStore
	reads atomic.Int64
}

func (c *countingUsers) UserByID(ctx context.Context, id string) (valet.User, error) {
	c.reads.Add(1)
	return c.UserStore.UserByID(ctx, id)
}

// startNode starts a revocation node on stores and transport and a service
// on it, and waits until the node's channel is healthy.
func startNode(t *testing.T, stores valet.Stores, transport revoke.Transport, clock func() time.Time) (*Service, *revoke.Node) {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	n := revoke.NewNode(revoke.Config{Store: stores.Revocations, Sessions: stores.Sessions, Transport: transport, Logger: quiet, Now: clock})
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	s, err := New(context.Background(), Config{Stores: stores, Revoker: n, Logger: quiet, Now: clock,
		Hasher: password.NewHasher(password.Params{Memory: 8192, Iterations: 1, Parallelism: 1}, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	for !n.Healthy() {
		time.Sleep(time.Millisecond)
	}
	return s, n
}

// twoNodes returns two services on one memory store whose revocation nodes
// share a channel, as two valet nodes on one database do.
func twoNodes(t *testing.T) (a, b *Service, users *countingUsers) {
	t.Helper()
	stores := memory.New().Stores()
	users = &countingUsers{UserStore: stores.Users}
	stores.Users = users
	transport := revoke.NewLocal()
	a, _ = startNode(t, stores, transport, nil)
	b, _ = startNode(t, stores, transport, nil)
	return a, b, users
}

// TestUserCache: a session request reads its user from the store once;
// a role change, a disable or a delete made on one node reaches the
// session requests of the other at once.
func TestUserCache(t *testing.T) {
	ctx := context.Background()
	a, b, users := twoNodes(t)
	u, err := a.CreateUser(ctx, "ada@example.com", devicePW, []string{"editor"})
	if err != nil {
		t.Fatal(err)
	}
	g, err := b.Login(ctx, "ada@example.com", devicePW, valet.ModeSession, Client{})
	if err != nil {
		t.Fatal(err)
	}
	roles := func() []string {
		t.Helper()
		id, err := b.IdentifyCookie(ctx, g.Cookie)
		if err != nil {
			t.Fatal(err)
		}
		return id.User.Roles
	}
	roles()
	before := users.reads.Load()
	for range 10 {
		if r := roles(); len(r) != 1 || r[0] != "editor" {
			t.Fatalf("roles %v", r)
		}
	}
	if n := users.reads.Load() - before; n != 0 {
		t.Fatalf("10 session requests read the user %d times, want 0 once it is cached", n)
	}
	if _, _, err := a.UpdateUser(ctx, u.ID, UserPatch{Roles: &[]string{"viewer"}}, Client{}); err != nil {
		t.Fatal(err)
	}
	if r := roles(); len(r) != 1 || r[0] != "viewer" {
		t.Fatalf("node b after node a changed the roles: %v, want [viewer] at once", r)
	}
	if _, _, err := a.UpdateUser(ctx, u.ID, UserPatch{Disabled: new(true)}, Client{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.IdentifyCookie(ctx, g.Cookie); err == nil {
		t.Fatal("node b accepts the session of a user disabled on node a")
	}
}

// TestUserCacheNotHealthy: while the channel is down, no user is served
// from memory, and what was cached before is forgotten.
func TestUserCacheNotHealthy(t *testing.T) {
	ctx := context.Background()
	stores := memory.New().Stores()
	users := &countingUsers{UserStore: stores.Users}
	stores.Users = users
	s, n := startNode(t, stores, revoke.NewLocal(), nil)
	u, err := s.CreateUser(ctx, "ada@example.com", devicePW, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.sessionUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.userCache.get(u.ID); !ok {
		t.Fatal("the user was not cached while the channel was healthy")
	}
	_ = n.Close() // the channel is lost
	if _, ok := s.userCache.get(u.ID); ok {
		t.Fatal("the cache kept a user when the channel was lost")
	}
	before := users.reads.Load()
	for range 3 {
		if _, err := s.sessionUser(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
	}
	if got := users.reads.Load() - before; got != 3 {
		t.Fatalf("3 requests without a channel read the store %d times, want 3", got)
	}
}

// TestUserCacheRace: news that arrives while a user is read from the store
// keeps the read value out of the cache.
func TestUserCacheRace(t *testing.T) {
	c := newUserCache(10)
	epoch := c.epoch.Load()
	c.forget("u1") // news during the read
	c.put(valet.User{ID: "u1", Roles: []string{"old"}}, epoch)
	if _, ok := c.get("u1"); ok {
		t.Fatal("a read that raced with news was cached")
	}
	c.put(valet.User{ID: "u1", PasswordHash: "$argon2id$secret"}, c.epoch.Load())
	if u, ok := c.get("u1"); !ok || u.PasswordHash != "" {
		t.Fatalf("cached %+v, %v: want the user without its hash", u, ok)
	}
	for i := range 20 {
		c.put(valet.User{ID: string(rune('a' + i))}, c.epoch.Load())
	}
	if len(c.users) > 10 {
		t.Fatalf("the cache holds %d users, more than its 10", len(c.users))
	}
}

// TestSessionCache: cookie requests read their session once; a logout on
// another node is refused at once, through the revocation set; a record is
// read again after the cache's 30 seconds; a lost channel sends every
// request to the store.
func TestSessionCache(t *testing.T) {
	ctx := context.Background()
	stores := memory.New().Stores()
	sessions := &countingSessions{SessionStore: stores.Sessions}
	stores.Sessions = sessions
	transport := revoke.NewLocal()
	clk := testclock.New(time.Now())
	a, _ := startNode(t, stores, transport, clk.Now)
	b, bNode := startNode(t, stores, transport, clk.Now)
	if _, err := a.CreateUser(ctx, "ada@example.com", devicePW, nil); err != nil {
		t.Fatal(err)
	}
	g, err := a.Login(ctx, "ada@example.com", devicePW, valet.ModeSession, Client{})
	if err != nil {
		t.Fatal(err)
	}
	other, err := a.Login(ctx, "ada@example.com", devicePW, valet.ModeSession, Client{})
	if err != nil {
		t.Fatal(err)
	}
	reads := func(n int, s *Service, cookie string) int64 {
		t.Helper()
		before := sessions.lookups.Load()
		for range n {
			if _, err := s.IdentifyCookie(ctx, cookie); err != nil {
				t.Fatal(err)
			}
		}
		return sessions.lookups.Load() - before
	}
	if got := reads(10, b, g.Cookie); got != 1 {
		t.Fatalf("10 cookie requests read the session %d times, want 1", got)
	}
	clk.Advance(31 * time.Second)
	if got := reads(3, b, g.Cookie); got != 1 {
		t.Fatalf("after 30 s, 3 requests read the session %d times, want 1", got)
	}
	// A logout through node a: node b refuses the cached session at once.
	id, err := a.IdentifyCookie(ctx, other.Cookie)
	if err != nil {
		t.Fatal(err)
	}
	reads(1, b, other.Cookie)
	if err := a.Logout(ctx, id, Client{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.IdentifyCookie(ctx, other.Cookie); !errors.Is(err, valet.ErrUnauthenticated) {
		t.Fatalf("node b after a logout on node a: %v, want unauthenticated", err)
	}
	// Without a channel, every request reads the store.
	_ = bNode.Close()
	if got := reads(3, b, g.Cookie); got != 3 {
		t.Fatalf("3 requests without a channel read the session %d times, want 3", got)
	}
}
