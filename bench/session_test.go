package bench

// Side-by-side benchmarks of the session check of every request: valet's
// session package beside alexedwards/scs v2, each on a memory store and on
// Redis. The check takes the cookie's value and yields the user id it
// stands for. valet checks the value's HMAC, hashes the secret and looks up
// the session record by that hash; scs looks up the token as given and
// decodes the session's gob-encoded data.
//
// scs's Redis store (github.com/alexedwards/scs/redisstore) is not served by
// the module proxy this project builds with, so redigoStore below stands in
// for it: the same client (gomodule/redigo), a pool of connections, and the
// same command per lookup (GET of the prefixed token).
//
// Each benchmark reports cpu-ns/op beside ns/op (see loop in jws_test.go).
// For Redis that is the client's CPU only: the server is another process.
//
// Run, from this directory (the Redis cases need VALET_TEST_REDIS):
//
//	go test -run '^$' -bench 'Session' -benchmem -count 6 > /tmp/session.txt
//	benchstat -col /lib /tmp/session.txt

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/gomodule/redigo/redis"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/session"
	"github.com/valetauth/valet/store/memory"
	valetredis "github.com/valetauth/valet/store/redis"
)

// sessionLib is one library on one store, with a live session and the
// cookie value that names it.
type sessionLib struct {
	lib, store string
	cookie     string
	// check returns the user id that the cookie value stands for.
	check func(ctx context.Context, cookie string) (string, error)
	// handler answers a request that carries the cookie with the user id.
	handler http.Handler
}

const (
	benchUser  = "u-0123456789abcdef"
	cookieName = "session"
)

// redisURL returns VALET_TEST_REDIS, skipping without it unless
// VALET_REQUIRE_SERVICES=1.
func redisURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("VALET_TEST_REDIS")
	if u == "" {
		if os.Getenv("VALET_REQUIRE_SERVICES") == "1" {
			tb.Fatal("VALET_TEST_REDIS is not set")
		}
		tb.Skip("VALET_TEST_REDIS is not set")
	}
	return u
}

func randomHex(tb testing.TB, n int) string {
	tb.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// newValet returns valet's session manager over st with one session.
func newValet(tb testing.TB, storeName string, st valet.SessionStore) sessionLib {
	tb.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		tb.Fatal(err)
	}
	m := session.NewManager(st, session.NewCodec(key), session.Config{})
	_, cookie, err := m.Create(context.Background(), benchUser, valet.ModeSession, "Mozilla/5.0 bench", "127.0.0.1")
	if err != nil {
		tb.Fatal(err)
	}
	check := func(ctx context.Context, c string) (string, error) {
		s, err := m.LoadCookie(ctx, c)
		return s.UserID, err
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(cookieName)
		if err != nil {
			http.Error(w, "no cookie", http.StatusUnauthorized)
			return
		}
		uid, err := check(r.Context(), c.Value)
		if err != nil {
			http.Error(w, "no session", http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, uid)
	})
	return sessionLib{lib: "valet", store: storeName, cookie: cookie, check: check, handler: h}
}

// newSCS returns an scs session manager over st (nil: its memstore) with
// one session.
func newSCS(tb testing.TB, storeName string, st scs.Store) sessionLib {
	tb.Helper()
	sm := scs.New()
	sm.Cookie.Name = cookieName
	if st != nil {
		sm.Store = st
	}
	ctx, err := sm.Load(context.Background(), "")
	if err != nil {
		tb.Fatal(err)
	}
	sm.Put(ctx, "user_id", benchUser)
	tok, _, err := sm.Commit(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	check := func(ctx context.Context, c string) (string, error) {
		ctx, err := sm.Load(ctx, c)
		if err != nil {
			return "", err
		}
		uid := sm.GetString(ctx, "user_id")
		if uid == "" {
			return "", errors.New("no session")
		}
		return uid, nil
	}
	h := sm.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		uid := sm.GetString(r.Context(), "user_id")
		if uid == "" {
			http.Error(w, "no session", http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, uid)
	}))
	return sessionLib{lib: "scs", store: storeName, cookie: tok, check: check, handler: h}
}

// redigoStore is an scs.Store on Redis through a redigo pool, doing what
// scs's redisstore does: one GET per lookup, SET with PX per commit.
type redigoStore struct {
	pool   *redis.Pool
	prefix string
}

func (s *redigoStore) Find(token string) ([]byte, bool, error) {
	conn := s.pool.Get()
	defer conn.Close()
	b, err := redis.Bytes(conn.Do("GET", s.prefix+token))
	if errors.Is(err, redis.ErrNil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return b, true, nil
}

func (s *redigoStore) Commit(token string, b []byte, expiry time.Time) error {
	conn := s.pool.Get()
	defer conn.Close()
	_, err := conn.Do("SET", s.prefix+token, b, "PX", time.Until(expiry).Milliseconds())
	return err
}

func (s *redigoStore) Delete(token string) error {
	conn := s.pool.Get()
	defer conn.Close()
	_, err := conn.Do("DEL", s.prefix+token)
	return err
}

// sessionLibs returns every library on every store; the Redis ones only
// when Redis is configured (run is called with a skip for them otherwise).
func sessionLibs(tb testing.TB, withRedis bool) []sessionLib {
	tb.Helper()
	libs := []sessionLib{
		newValet(tb, "memory", memory.New()),
		newSCS(tb, "memory", nil),
	}
	if !withRedis {
		return libs
	}
	url := redisURL(tb)
	ctx := context.Background()
	prefix := "valet_bench_" + randomHex(tb, 8) + ":"
	rs, err := valetredis.Open(ctx, url, valetredis.Config{Prefix: prefix})
	if err != nil {
		tb.Fatal(err)
	}
	pool := &redis.Pool{
		MaxIdle: 16, IdleTimeout: time.Minute,
		Dial: func() (redis.Conn, error) { return redis.DialURL(url) },
	}
	scsPrefix := prefix + "scs:"
	tb.Cleanup(func() {
		// Both libraries' keys share the prefix; drop them all.
		conn := pool.Get()
		keys, _ := redis.Strings(conn.Do("KEYS", prefix+"*"))
		for _, k := range keys {
			_, _ = conn.Do("DEL", k)
		}
		conn.Close()
		_ = pool.Close()
		_ = rs.Close()
	})
	return append(libs,
		newValet(tb, "redis", rs),
		newSCS(tb, "redis", &redigoStore{pool: pool, prefix: scsPrefix}),
	)
}

// TestSessionLibsAgree proves that every library's check and handler find
// the session's user, and that a tampered cookie finds nothing, so that no
// benchmark measures a quick refusal.
func TestSessionLibsAgree(t *testing.T) {
	withRedis := os.Getenv("VALET_TEST_REDIS") != "" || os.Getenv("VALET_REQUIRE_SERVICES") == "1"
	for _, l := range sessionLibs(t, withRedis) {
		t.Run("store="+l.store+"/lib="+l.lib, func(t *testing.T) {
			uid, err := l.check(context.Background(), l.cookie)
			if err != nil || uid != benchUser {
				t.Fatalf("check = %q, %v; want %q", uid, err, benchUser)
			}
			bad := l.cookie[:len(l.cookie)-1] + string("AB"[len(l.cookie)%2])
			if bad == l.cookie {
				bad = l.cookie[:len(l.cookie)-1] + "C"
			}
			if uid, err := l.check(context.Background(), bad); err == nil && uid != "" {
				t.Errorf("a tampered cookie found user %q", uid)
			}
			rec := httptest.NewRecorder()
			l.handler.ServeHTTP(rec, sessionRequest(l))
			if rec.Code != http.StatusOK || rec.Body.String() != benchUser {
				t.Errorf("handler answered %d %q, want 200 %q", rec.Code, rec.Body, benchUser)
			}
		})
	}
}

func sessionRequest(l sessionLib) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(&http.Cookie{Name: cookieName, Value: l.cookie})
	return r
}

// BenchmarkSessionCheck measures the check alone: cookie value in, user id
// out.
func BenchmarkSessionCheck(b *testing.B) {
	benchSessions(b, func(b *testing.B, l sessionLib) {
		ctx := context.Background()
		loop(b, func() error {
			_, err := l.check(ctx, l.cookie)
			return err
		})
	})
}

// BenchmarkSessionRequest measures an HTTP request through each library's
// handler: read the cookie, check it, answer with the user id.
func BenchmarkSessionRequest(b *testing.B) {
	benchSessions(b, func(b *testing.B, l sessionLib) {
		req := sessionRequest(l)
		loop(b, func() error {
			rec := httptest.NewRecorder()
			l.handler.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				return fmt.Errorf("status %d", rec.Code)
			}
			return nil
		})
	})
}

func benchSessions(b *testing.B, fn func(*testing.B, sessionLib)) {
	for _, store := range []string{"memory", "redis"} {
		b.Run("store="+store, func(b *testing.B) {
			libs := sessionLibs(b, store == "redis")
			for _, l := range libs {
				if l.store != store {
					continue
				}
				b.Run("lib="+l.lib, func(b *testing.B) { fn(b, l) })
			}
		})
	}
}
