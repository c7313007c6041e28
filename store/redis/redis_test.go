package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/testclock"
	"github.com/valetauth/valet/store/storetest"
)

// redisURL returns the test server's URL from VALET_TEST_REDIS, skipping
// the test without it, or failing it when VALET_REQUIRE_SERVICES=1.
func redisURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("VALET_TEST_REDIS")
	if u == "" {
		if os.Getenv("VALET_REQUIRE_SERVICES") == "1" {
			tb.Fatal("VALET_TEST_REDIS is not set and VALET_REQUIRE_SERVICES=1")
		}
		tb.Skip("VALET_TEST_REDIS is not set")
	}
	return u
}

// openTest opens a Store under a random prefix whose keys are deleted, and
// the store closed, when the test ends.
func openTest(tb testing.TB, cfg Config) *Store {
	tb.Helper()
	u := redisURL(tb)
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatal(err)
	}
	cfg.Prefix = "valet_t_" + hex.EncodeToString(b[:]) + ":"
	s, err := Open(testContext(tb), u, cfg)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		keys := allKeys(tb, ctx, s)
		if len(keys) > 0 {
			if err := s.client.Del(ctx, keys...).Err(); err != nil {
				tb.Errorf("delete test keys: %v", err)
			}
		}
	})
	return s
}

// allKeys returns every key under the store's prefix.
func allKeys(tb testing.TB, ctx context.Context, s *Store) []string {
	tb.Helper()
	var keys []string
	iter := s.client.Scan(ctx, 0, s.prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		tb.Fatalf("scan: %v", err)
	}
	return keys
}

func testContext(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

func newSession(user string, n time.Time) valet.Session {
	return valet.Session{
		ID: valet.HashSecret(valet.NewID()), UserID: user, Mode: valet.ModeSession,
		CreatedAt: n, LastSeenAt: n, ExpiresAt: n.Add(24 * time.Hour), IdleExpiresAt: n.Add(time.Hour),
		UserAgent: "Mozilla/5.0", IP: "127.0.0.1",
	}
}

func newFamily(user, session string, n time.Time) valet.RefreshFamily {
	return valet.RefreshFamily{
		ID: valet.NewID(), UserID: user, SessionID: session, RotatedAt: n, CreatedAt: n,
		ExpiresAt: n.Add(48 * time.Hour), IdleExpiresAt: n.Add(time.Hour),
	}
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(tb testing.TB) valet.Stores {
		return openTest(tb, Config{}).Stores()
	})
}

func TestOptions(t *testing.T) {
	password := valet.NewID()
	tests := []struct {
		name        string
		url         string
		cfg         Config
		wantErr     error
		wantTLS     bool
		wantDB      int
		wantPass    string
		wantTimeout time.Duration
		wantPool    int
	}{
		{name: "defaults", url: "redis://127.0.0.1:6379", wantTimeout: 2 * time.Second},
		{name: "db and password from the url", url: "redis://:" + password + "@127.0.0.1:6379/3",
			wantDB: 3, wantPass: password, wantTimeout: 2 * time.Second},
		{name: "tls", url: "rediss://cache.example.test:6380/0", wantTLS: true, wantTimeout: 2 * time.Second},
		{name: "timeout and pool size", url: "redis://127.0.0.1:6379", cfg: Config{Timeout: time.Second, PoolSize: 7},
			wantTimeout: time.Second, wantPool: 7},
		{name: "not a redis url", url: "http://127.0.0.1:6379", wantErr: valet.ErrInvalidRequest},
		{name: "malformed", url: "redis://:" + password + "@%zz", wantErr: valet.ErrInvalidRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opt, err := options(tc.url, tc.cfg)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("options error = %v, want %v", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), password) {
					t.Errorf("options error %q quotes the password", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("options: %v", err)
			}
			if got := opt.TLSConfig != nil; got != tc.wantTLS {
				t.Errorf("TLS = %t, want %t", got, tc.wantTLS)
			}
			if opt.DB != tc.wantDB {
				t.Errorf("DB = %d, want %d", opt.DB, tc.wantDB)
			}
			if opt.Password != tc.wantPass {
				t.Errorf("Password = %q, want %q", opt.Password, tc.wantPass)
			}
			for name, got := range map[string]time.Duration{
				"DialTimeout": opt.DialTimeout, "ReadTimeout": opt.ReadTimeout, "WriteTimeout": opt.WriteTimeout,
			} {
				if got != tc.wantTimeout {
					t.Errorf("%s = %v, want %v", name, got, tc.wantTimeout)
				}
			}
			if !opt.ContextTimeoutEnabled {
				t.Error("ContextTimeoutEnabled = false, want true")
			}
			// Zero leaves go-redis's own default of 10 per CPU.
			if opt.PoolSize != tc.wantPool {
				t.Errorf("PoolSize = %d, want %d", opt.PoolSize, tc.wantPool)
			}
		})
	}
}

// TestTimeout checks that Config.Timeout bounds a call to a server that
// accepts a connection and never answers.
func TestTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	start := time.Now()
	s, err := Open(testContext(t), "redis://"+ln.Addr().String(), Config{Timeout: 100 * time.Millisecond})
	if err == nil {
		_ = s.Close()
		t.Fatal("Open of a silent server succeeded")
	}
	if !errors.Is(err, valet.ErrUnavailable) {
		t.Errorf("Open error = %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Open of a silent server returned after %v", d)
	}
}

func TestOpenUnreachable(t *testing.T) {
	s, err := Open(testContext(t), "redis://127.0.0.1:1/0", Config{Timeout: time.Second})
	if err == nil {
		_ = s.Close()
		t.Fatal("Open succeeded")
	}
	if !errors.Is(err, valet.ErrUnavailable) {
		t.Errorf("Open error = %v, want ErrUnavailable", err)
	}
}

func TestErrorsAfterClose(t *testing.T) {
	ctx := testContext(t)
	s := openTest(t, Config{})
	// A second client on the same prefix, closed at once: every call fails.
	closed, err := Open(ctx, redisURL(t), Config{Prefix: s.prefix})
	if err != nil {
		t.Fatal(err)
	}
	if err := closed.Close(); err != nil {
		t.Fatal(err)
	}
	n := time.Now()
	calls := []struct {
		name string
		fn   func() error
	}{
		{"Ping", func() error { return closed.Ping(ctx) }},
		{"Session", func() error { _, _, err := closed.Session(ctx, "x"); return err }},
		{"CreateSession", func() error { return closed.CreateSession(ctx, newSession("u", n)) }},
		{"UserSessions", func() error { _, err := closed.UserSessions(ctx, "u"); return err }},
		{"RefreshByToken", func() error { _, _, _, err := closed.RefreshByToken(ctx, "h"); return err }},
		{"AdvanceRefreshFamily", func() error {
			_, err := closed.AdvanceRefreshFamily(ctx, "x", 0, "h", nil, n, n)
			return err
		}},
		{"Revocations", func() error { _, err := closed.Revocations(ctx, n); return err }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			if err := c.fn(); !errors.Is(err, valet.ErrUnavailable) {
				t.Errorf("%s on a closed client: error = %v, want ErrUnavailable", c.name, err)
			}
		})
	}
}

// TestExpiry checks the keys' times to live: a session's ends with the
// session and moves when it is touched; indexes outlive what they index;
// a family and its tokens end at the family's absolute expiry.
func TestExpiry(t *testing.T) {
	ctx := testContext(t)
	s := openTest(t, Config{})
	n := time.Now()
	user := valet.NewID()
	sess := newSession(user, n)
	sess.ExpiresAt = n.Add(3 * time.Hour)
	sess.IdleExpiresAt = n.Add(time.Hour + 300*time.Microsecond)
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	f := newFamily(user, sess.ID, n)
	first, next := valet.HashSecret(valet.NewID()), valet.HashSecret(valet.NewID())
	if err := s.CreateRefreshFamily(ctx, f, first); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.AdvanceRefreshFamily(ctx, f.ID, 0, next, []byte("sealed"), n, n.Add(time.Hour)); err != nil || !ok {
		t.Fatalf("AdvanceRefreshFamily = %t, %v", ok, err)
	}

	check := func(t *testing.T, key string, want time.Time) {
		t.Helper()
		got, err := s.client.PExpireTime(ctx, key).Result()
		if err != nil {
			t.Fatalf("PEXPIRETIME %s: %v", key, err)
		}
		if w := expireAt(want); got.Milliseconds() != w {
			t.Errorf("%s expires at %d ms, want %d ms", key, got.Milliseconds(), w)
		}
	}
	check(t, s.sessionKey(sess.ID), sess.IdleExpiresAt)
	check(t, s.userSessionsKey(user), sess.ExpiresAt)
	check(t, s.familyKey(f.ID), f.ExpiresAt)
	check(t, s.tokenKey(first), f.ExpiresAt)
	check(t, s.tokenKey(next), f.ExpiresAt)
	check(t, s.userFamiliesKey(user), f.ExpiresAt)
	check(t, s.sessionFamiliesKey(sess.ID), f.ExpiresAt)

	tests := []struct {
		name string
		idle time.Time
		want time.Time
	}{
		{"idle expiry moves later", n.Add(2 * time.Hour), n.Add(2 * time.Hour)},
		{"the absolute expiry caps it", n.Add(5 * time.Hour), sess.ExpiresAt},
		{"idle expiry moves earlier", n.Add(30 * time.Minute), n.Add(30 * time.Minute)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.TouchSession(ctx, sess.ID, n, tc.idle); err != nil {
				t.Fatal(err)
			}
			check(t, s.sessionKey(sess.ID), tc.want)
		})
	}

	t.Run("a later session extends the index", func(t *testing.T) {
		later := newSession(user, n)
		later.ExpiresAt = n.Add(10 * time.Hour)
		if err := s.CreateSession(ctx, later); err != nil {
			t.Fatal(err)
		}
		check(t, s.userSessionsKey(user), later.ExpiresAt)
		earlier := newSession(user, n)
		earlier.ExpiresAt = n.Add(time.Hour)
		if err := s.CreateSession(ctx, earlier); err != nil {
			t.Fatal(err)
		}
		check(t, s.userSessionsKey(user), later.ExpiresAt)
	})

	t.Run("recording a sign-in keeps the expiry", func(t *testing.T) {
		if err := s.SetSessionAuth(ctx, sess.ID, n, []string{valet.AMRPassword, valet.AMROTP, valet.AMRMulti}); err != nil {
			t.Fatal(err)
		}
		check(t, s.sessionKey(sess.ID), n.Add(30*time.Minute))
	})

	t.Run("recording a sign-in of a gone session does not bring it back", func(t *testing.T) {
		gone := valet.HashSecret(valet.NewID())
		if err := s.SetSessionAuth(ctx, gone, n, []string{valet.AMRPassword}); err != nil {
			t.Fatal(err)
		}
		if got, err := s.client.Exists(ctx, s.sessionKey(gone)).Result(); err != nil || got != 0 {
			t.Errorf("EXISTS after recording a sign-in of a gone session = %d, %v; want 0", got, err)
		}
	})

	t.Run("touching a gone session does not bring it back", func(t *testing.T) {
		gone := valet.HashSecret(valet.NewID())
		if err := s.TouchSession(ctx, gone, n, n.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if got, err := s.client.Exists(ctx, s.sessionKey(gone)).Result(); err != nil || got != 0 {
			t.Errorf("EXISTS after touching a gone session = %d, %v; want 0", got, err)
		}
	})
}

// TestPruning checks that index entries of records that Redis expired are
// removed when the index is read.
func TestPruning(t *testing.T) {
	ctx := testContext(t)
	s := openTest(t, Config{})
	n := time.Now()
	user := valet.NewID()
	kept, expired := newSession(user, n), newSession(user, n.Add(-time.Second))
	for _, sess := range []valet.Session{kept, expired} {
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
	}
	keptFamily, expiredFamily := newFamily(user, "", n), newFamily(user, "", n)
	for _, f := range []valet.RefreshFamily{keptFamily, expiredFamily} {
		if err := s.CreateRefreshFamily(ctx, f, valet.HashSecret(valet.NewID())); err != nil {
			t.Fatal(err)
		}
	}
	// Deleting the records is what Redis does when their time is up.
	if err := s.client.Del(ctx, s.sessionKey(expired.ID), s.familyKey(expiredFamily.ID)).Err(); err != nil {
		t.Fatal(err)
	}

	list, err := s.UserSessions(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != kept.ID {
		t.Errorf("UserSessions = %d sessions, want only the kept one", len(list))
	}
	if got, err := s.client.ZRange(ctx, s.userSessionsKey(user), 0, -1).Result(); err != nil || len(got) != 1 || got[0] != kept.ID {
		t.Errorf("session index after listing = %v, %v; want only the kept session", got, err)
	}

	if err := s.RevokeRefreshFamilies(ctx, user, ""); err != nil {
		t.Fatal(err)
	}
	if got, err := s.client.SMembers(ctx, s.userFamiliesKey(user)).Result(); err != nil || len(got) != 1 || got[0] != keptFamily.ID {
		t.Errorf("family index after revoking = %v, %v; want only the kept family", got, err)
	}
	if got, err := s.client.HGet(ctx, s.familyKey(keptFamily.ID), fRevoked).Result(); err != nil || got != "1" {
		t.Errorf("kept family revoked = %q, %v; want \"1\"", got, err)
	}
}

func TestRevocationsTrim(t *testing.T) {
	ctx := testContext(t)
	n := time.Now()
	c := testclock.New(n)
	s := openTest(t, Config{Now: c.Now})
	entries := []valet.Revocation{
		{SessionID: "ended", Until: n.Add(-time.Minute)},
		{SessionID: "ends now", Until: n.Add(time.Second)},
		{SessionID: "later", Until: n.Add(time.Hour)},
	}
	for _, r := range entries {
		if err := s.AddRevocation(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.client.ZCard(ctx, s.revokedKey()).Result(); err != nil || got != 2 {
		t.Errorf("revoked set holds %d entries, %v; want 2, as adding trims the ended one", got, err)
	}
	got, err := s.Revocations(ctx, n.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].SessionID != "later" || !got[0].Until.Equal(n.Add(time.Hour).Truncate(time.Microsecond)) {
		t.Errorf("Revocations = %+v, want only \"later\" until %v", got, n.Add(time.Hour))
	}
	if got, err := s.client.ZCard(ctx, s.revokedKey()).Result(); err != nil || got != 1 {
		t.Errorf("revoked set holds %d entries after Revocations, %v; want 1", got, err)
	}
}

func TestClock(t *testing.T) {
	ctx := testContext(t)
	n := time.Now()
	c := testclock.New(n)
	s := openTest(t, Config{Now: c.Now})
	user := valet.NewID()
	sess := newSession(user, n)
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	f := newFamily(user, "", n)
	hash := valet.HashSecret(valet.NewID())
	if err := s.CreateRefreshFamily(ctx, f, hash); err != nil {
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
			_, found, err := s.Session(ctx, sess.ID)
			if err != nil {
				t.Fatal(err)
			}
			if found != tc.wantSession {
				t.Errorf("Session found = %t, want %t", found, tc.wantSession)
			}
			list, err := s.UserSessions(ctx, user)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(list) == 1; got != tc.wantSession {
				t.Errorf("UserSessions lists %d sessions, want the session listed: %t", len(list), tc.wantSession)
			}
			_, _, found, err = s.RefreshByToken(ctx, hash)
			if err != nil {
				t.Fatal(err)
			}
			if found != tc.wantFamily {
				t.Errorf("RefreshByToken found = %t, want %t", found, tc.wantFamily)
			}
		})
	}
}

// TestNoSecretsAtRest reads every key and value under the prefix after
// sessions and refresh families went through the stores.
func TestNoSecretsAtRest(t *testing.T) {
	s := openTest(t, Config{})
	storetest.AtRest(t, s.Stores(), "Redis", func(tb testing.TB) string {
		return dumpKeys(tb, testContext(tb), s)
	})
}

// dumpKeys returns every key under the store's prefix with its value.
func dumpKeys(tb testing.TB, ctx context.Context, s *Store) string {
	tb.Helper()
	keys := allKeys(tb, ctx, s)
	if len(keys) == 0 {
		tb.Fatal("no keys under the prefix")
	}
	var b strings.Builder
	for _, key := range keys {
		typ, err := s.client.Type(ctx, key).Result()
		if err != nil {
			tb.Fatal(err)
		}
		var val any
		switch typ {
		case "string":
			val, err = s.client.Get(ctx, key).Result()
		case "hash":
			val, err = s.client.HGetAll(ctx, key).Result()
		case "set":
			val, err = s.client.SMembers(ctx, key).Result()
		case "zset":
			val, err = s.client.ZRangeWithScores(ctx, key, 0, -1).Result()
		default:
			tb.Fatalf("key %s has type %s, which the dump does not read", key, typ)
		}
		if err != nil && !errors.Is(err, goredis.Nil) {
			tb.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %v\n", key, val)
	}
	return b.String()
}

func BenchmarkSession(b *testing.B) {
	ctx := testContext(b)
	s := openTest(b, Config{})
	sess := newSession(valet.NewID(), time.Now())
	if err := s.CreateSession(ctx, sess); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, found, err := s.Session(ctx, sess.ID); err != nil || !found {
			b.Fatalf("Session = found %t, error %v", found, err)
		}
	}
}
