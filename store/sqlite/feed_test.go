package sqlite_test

import (
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/revoke"
	"github.com/valetauth/valet/store/sqlite"
)

var _ revoke.Feed = (*sqlite.DB)(nil)

// TestRevocationFeed: revocations are numbered in the order they are
// recorded, a later Until is recorded again, and a sweep drops what ended.
func TestRevocationFeed(t *testing.T) {
	ctx := t.Context()
	db := open(t, filepath.Join(t.TempDir(), "valet.db"))
	if c, err := db.RevocationCursor(ctx); err != nil || c != 0 {
		t.Fatalf("cursor of an empty file = %d, %v", c, err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	a, b := valet.NewID(), valet.NewID()
	for _, r := range []valet.Revocation{
		{SessionID: a, Until: now.Add(time.Minute)},
		{SessionID: b, Until: now.Add(time.Second)},
		{SessionID: a, Until: now.Add(30 * time.Second)}, // earlier: kept as it was, not logged
		{SessionID: a, Until: now.Add(2 * time.Minute)},  // later: logged again
	} {
		if err := db.AddRevocation(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	got, cursor, err := db.RevocationsAfter(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []valet.Revocation{{SessionID: a, Until: now.Add(time.Minute)}, {SessionID: b, Until: now.Add(time.Second)}, {SessionID: a, Until: now.Add(2 * time.Minute)}}
	if len(got) != len(want) {
		t.Fatalf("RevocationsAfter(0) = %v, want %v", got, want)
	}
	for i := range want {
		if got[i].SessionID != want[i].SessionID || !got[i].Until.Equal(want[i].Until) {
			t.Fatalf("entry %d = %v, want %v", i, got[i], want[i])
		}
	}
	if c, _ := db.RevocationCursor(ctx); c != cursor {
		t.Fatalf("cursor %d, last entry %d", c, cursor)
	}
	if more, c, err := db.RevocationsAfter(ctx, cursor, 10); err != nil || len(more) != 0 || c != cursor {
		t.Fatalf("after the last: %v, %d, %v", more, c, err)
	}
	if two, c, _ := db.RevocationsAfter(ctx, 0, 2); len(two) != 2 || c >= cursor {
		t.Fatalf("a limit of 2 gave %d entries to cursor %d", len(two), c)
	}
	if _, err := db.Sweep(ctx, now.Add(90*time.Second)); err != nil {
		t.Fatal(err)
	}
	left, _, err := db.RevocationsAfter(ctx, 0, 10)
	if err != nil || len(left) != 1 || left[0].SessionID != a {
		t.Fatalf("after the sweep: %v, %v", left, err)
	}
}

// TestPollAcrossProcesses runs two nodes on two handles of one file, as a
// server and the CLI do: a revocation that one records reaches the other by
// polling, and a node that polls a closed handle falls back and says so.
func TestPollAcrossProcesses(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "valet.db")
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	start := func(db *sqlite.DB) *revoke.Node {
		n := revoke.NewNode(revoke.Config{
			Store: db, Sessions: db, Transport: revoke.NewPoll(db, 20*time.Millisecond, revoke.WithLogger(quiet)),
			Logger: quiet, MaxStale: 50 * time.Millisecond,
		})
		if err := n.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = n.Close() })
		return n
	}
	serverDB, cliDB := open(t, path), open(t, path)
	server, cli := start(serverDB), start(cliDB)
	waitFor(t, "both nodes healthy", func() bool { return server.Healthy() && cli.Healthy() })

	sid := valet.NewID()
	if err := cli.Revoke(ctx, valet.Revocation{SessionID: sid, Until: time.Now().Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if !cli.Set().Revoked(sid) {
		t.Fatal("the revoking node does not hold its own revocation")
	}
	waitFor(t, "the server hears the CLI's revocation", func() bool { return server.Set().Revoked(sid) })

	// The server's handle fails: its channel is down, so after MaxStale its
	// checks ask the session store, which fails too: 503, never a pass.
	if err := serverDB.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the server notices", func() bool { return !server.Healthy() })
	time.Sleep(60 * time.Millisecond)
	if err := server.Check(ctx, valet.NewID()); err == nil {
		t.Fatal("a node whose feed fails passes an unknown sid after MaxStale")
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
