package main

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	goredis "github.com/redis/go-redis/v9"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/auth"
	"github.com/valetauth/valet/httpapi"
	"github.com/valetauth/valet/internal/loadtest"
	"github.com/valetauth/valet/internal/testenv"
	"github.com/valetauth/valet/password"
	"github.com/valetauth/valet/session"
	"github.com/valetauth/valet/store/postgres"
	"github.com/valetauth/valet/store/redis"
	"github.com/valetauth/valet/web"
)

// The scale benchmarks ask whether GET /v1/me costs the same with one live
// session as with a million: each store is seeded with n sessions, each of
// a user of its own, so that the user cache helps no more than it would on
// a server with as many accounts, and requests carry the cookies of
// sampleCookies sessions spread evenly over the n, chosen at random per
// request.

// scaleSizes are the numbers of live sessions measured.
var scaleSizes = []int{1, 1000, 1_000_000}

// sampleCookies is how many seeded sessions the requests are spread over:
// enough that no single hot entry answers, few enough to keep the cookies
// out of the memory measured.
const sampleCookies = 1024

// seedChunk is how many users or sessions go to a store in one write.
const seedChunk = 10_000

// scaleArgon2 keeps the one real password hash of a scale stack cheap.
var scaleArgon2 = password.Params{Memory: 8192, Iterations: 1, Parallelism: 1}

// scaleStack is a valet server over one store with two handlers of valet
// serve: cached is the server as it runs (user and session caches on), and
// direct is the same server with both caches off, so that every request
// reads its session and its user from the store. With sampleCookies warm
// sessions the cached handler hardly reads the store at all, which is
// valet's real cost but says little about the store's.
type scaleStack struct {
	srv    *loadtest.Server
	cached http.Handler
	direct http.Handler
	// codec signs cookies as the server does, for the sessions seeded
	// behind its back.
	codec  *session.Codec
	seeder seeder
	// pwHash is a real password hash, which every seeded user carries so
	// that a user row has its real size.
	pwHash string
}

// seeder writes users and sessions to one kind of store as fast as it
// allows, and measures what the store holds.
type seeder interface {
	users(ctx context.Context, us []valet.User) error
	sessions(ctx context.Context, ss []valet.Session) error
	// footprint is the size of what the store holds for sessions, in bytes,
	// by the measure that suits the store; only differences mean anything.
	footprint(ctx context.Context) (int64, error)
}

// newScaleStack starts a server in mode over store, or skips when store is
// Redis or Postgres and its variable is unset.
func newScaleStack(tb testing.TB, store loadtest.Store, mode valet.Mode) *scaleStack {
	tb.Helper()
	ctx := context.Background()
	cfg := loadtest.ServerConfig{Store: store, Mode: mode, Argon2: scaleArgon2}
	switch store {
	case loadtest.StorePostgres:
		cfg.PostgresURL = testenv.URL(tb, testenv.Postgres)
	case loadtest.StoreRedis:
		cfg.RedisURL = testenv.URL(tb, testenv.Redis)
	}
	srv, err := loadtest.NewServer(ctx, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(srv.Close)
	st := &scaleStack{srv: srv, cached: serveHandlerOf(srv.Service)}

	// The same stores, signing keys and master secret, without the caches.
	direct, err := auth.New(ctx, auth.Config{
		Stores: srv.Stores(), Hasher: password.NewHasher(scaleArgon2, 0, 0), Mode: mode,
		Revoker: srv.Node, Logger: slog.New(slog.DiscardHandler),
		UserCache: -1, SessionCache: -1, KeyReload: -1,
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = direct.Close() })
	st.direct = serveHandlerOf(direct)

	// The cookie key is derived from the stored master secret exactly as
	// auth.New derives it; TestScaleSeed fails if the two ever part.
	master, err := srv.Stores().Secrets.EnsureSecret(ctx, "master", make([]byte, 32))
	if err != nil {
		tb.Fatal(err)
	}
	key, err := hkdf.Key(sha256.New, master, nil, "valet cookie hmac v1", 32)
	if err != nil {
		tb.Fatal(err)
	}
	st.codec = session.NewCodec(key)

	hash, err := password.NewHasher(scaleArgon2, 0, 0).Hash(ctx, "a scale passphrase")
	if err != nil {
		tb.Fatal(err)
	}
	st.pwHash = hash

	switch store {
	case loadtest.StoreMemory:
		st.seeder = &memorySeeder{stores: srv.Stores()}
	case loadtest.StoreRedis:
		var rs *redisSeeder
		if rs, err = newRedisSeeder(ctx, srv.Stores()); err == nil {
			// Before srv.Close, whose own sweep of the prefix gives up
			// after 30 seconds, well short of two million keys.
			tb.Cleanup(rs.dropKeys)
			st.seeder = rs
		}
	case loadtest.StorePostgres:
		st.seeder = &postgresSeeder{db: srv.Stores().Sessions.(*postgres.DB)}
	default:
		err = fmt.Errorf("no seeder for store %q", store)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

// serveHandlerOf returns the handler valet serve answers with over svc, as
// newServeStack builds it.
func serveHandlerOf(svc *auth.Service) http.Handler {
	reg := prometheus.NewRegistry()
	api := httpapi.New(svc, httpapi.Config{Cookie: session.Cookie{Insecure: true}, Registerer: reg,
		Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})})
	return serveHandler(api, nil, web.New(svc, api, web.Config{}), 3*time.Second)
}

// seeded is what seed leaves for the requests: the cookies of a sample of
// the sessions, with the email of each one's user, and the bytes that each
// session takes in the store.
type seeded struct {
	cookies    []string
	emails     []string
	perSession float64
}

// seed stores n users and one live session of each, as a password login
// leaves it, and keeps the cookies of up to sampleCookies of them, spread
// evenly over the n. The store's footprint is read after the users and
// after the sessions, so that perSession counts the sessions alone.
func (st *scaleStack) seed(tb testing.TB, n int) seeded {
	tb.Helper()
	ctx := context.Background()
	k := min(n, sampleCookies)
	out := seeded{cookies: make([]string, 0, k), emails: make([]string, 0, k)}
	// Sample j is session j*n/k.
	nextSample := func(j int) int { return j * n / k }
	// The run's tag keeps this stack's emails apart from any other seeding
	// of the same server; emails are stored normalized, in lower case.
	run := strings.ToLower(valet.NewID()[:8])
	email := func(i int) string { return fmt.Sprintf("scale-%s-%d@example.com", run, i) }
	ids := make([]string, n)
	now := time.Now().UTC()
	for lo := 0; lo < n; lo += seedChunk {
		hi := min(lo+seedChunk, n)
		us := make([]valet.User, 0, hi-lo)
		for i := lo; i < hi; i++ {
			ids[i] = valet.NewID()
			us = append(us, valet.User{
				ID: ids[i], Email: email(i),
				PasswordHash: st.pwHash, Roles: []string{}, CreatedAt: now, UpdatedAt: now,
			})
		}
		if err := st.seeder.users(ctx, us); err != nil {
			tb.Fatalf("seeding users: %v", err)
		}
	}
	before, err := st.seeder.footprint(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	sample := 0
	for lo := 0; lo < n; lo += seedChunk {
		hi := min(lo+seedChunk, n)
		ss := make([]valet.Session, 0, hi-lo)
		// Each chunk is stamped when it is made, as a login would be; the
		// benchmark's warm-up touches the older ones before measuring.
		now := time.Now().UTC()
		for i := lo; i < hi; i++ {
			secret := valet.NewID()
			ss = append(ss, valet.Session{
				ID: valet.HashSecret(secret), UserID: ids[i], Mode: valet.ModeSession,
				CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(7 * 24 * time.Hour), IdleExpiresAt: now.Add(24 * time.Hour),
				UserAgent: "Mozilla/5.0 (X11; Linux x86_64) valet-bench", IP: "127.0.0.1",
				AMR: []string{valet.AMRPassword}, AuthTime: now,
			})
			if sample < k && i == nextSample(sample) {
				out.cookies = append(out.cookies, st.codec.Encode(secret))
				out.emails = append(out.emails, email(i))
				sample++
			}
		}
		if err := st.seeder.sessions(ctx, ss); err != nil {
			tb.Fatalf("seeding sessions: %v", err)
		}
	}
	after, err := st.seeder.footprint(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	// ids was live at the first measure; were it freed before the second,
	// the memory store's sessions would look smaller by its size.
	runtime.KeepAlive(ids)
	out.perSession = float64(after-before) / float64(n)
	return out
}

// cookieRequests returns a GET /v1/me for each cookie.
func cookieRequests(cookies []string) []*http.Request {
	reqs := make([]*http.Request, len(cookies))
	for i, c := range cookies {
		reqs[i] = httptest.NewRequest(http.MethodGet, "/v1/me", nil)
		reqs[i].AddCookie(&http.Cookie{Name: "valet_session", Value: c})
	}
	return reqs
}

// benchMe measures h answering reqs, one chosen at random per request. Each
// request is sent once first, untimed: that fills the caches, and it
// touches every sampled session, so that no measured request is the one
// write a minute that a session's first request after seeding makes.
func benchMe(b *testing.B, h http.Handler, reqs []*http.Request) {
	w := &discardWriter{h: http.Header{}}
	serve := func(r *http.Request) {
		clear(w.h)
		w.code = 0
		h.ServeHTTP(w, r)
		if w.code != http.StatusOK {
			b.Fatalf("GET /v1/me: %d", w.code)
		}
	}
	for _, r := range reqs {
		serve(r)
	}
	// Which cookie comes next is no secret; a fixed seed repeats the order.
	rng := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	for b.Loop() {
		serve(reqs[rng.IntN(len(reqs))])
	}
}

// skipLarge skips seeding a million under -short.
func skipLarge(b *testing.B, n int) {
	b.Helper()
	if n > 1000 && testing.Short() {
		b.Skipf("seeds %d entries; not under -short", n)
	}
}

// BenchmarkMeSessions measures GET /v1/me with a session cookie through
// valet serve's whole handler, on each session store holding 1 to 1,000,000
// live sessions, with the caches on (cache=on, as valet serve runs) and off
// (cache=off: every request reads the store). B/session is what each
// session takes in the store: Go heap for memory, used_memory for Redis,
// pg_total_relation_size of the sessions table for Postgres.
func BenchmarkMeSessions(b *testing.B) {
	for _, store := range []loadtest.Store{loadtest.StoreMemory, loadtest.StoreRedis, loadtest.StorePostgres} {
		b.Run("store="+string(store), func(b *testing.B) {
			for _, n := range scaleSizes {
				b.Run("sessions="+strconv.Itoa(n), func(b *testing.B) {
					skipLarge(b, n)
					// A stack of its own per size, so that sizes do not add up.
					st := newScaleStack(b, store, valet.ModeSession)
					s := st.seed(b, n)
					reqs := cookieRequests(s.cookies)
					for _, c := range []struct {
						name string
						h    http.Handler
					}{{"cache=on", st.cached}, {"cache=off", st.direct}} {
						b.Run(c.name, func(b *testing.B) {
							benchMe(b, c.h, reqs)
							if n >= 1000 {
								b.ReportMetric(s.perSession, "B/session")
							}
						})
					}
				})
			}
		})
	}
}

// BenchmarkMeRevocations measures GET /v1/me with a hybrid access token
// while the node's revocation set holds 0 to 1,000,000 live entries, which
// every hybrid request is checked against. B/revocation is the Go heap each
// entry takes.
func BenchmarkMeRevocations(b *testing.B) {
	for _, n := range []int{0, 1000, 1_000_000} {
		b.Run("revocations="+strconv.Itoa(n), func(b *testing.B) {
			skipLarge(b, n)
			ctx := context.Background()
			st := newScaleStack(b, loadtest.StoreMemory, valet.ModeHybrid)
			const pw = "a benchmark passphrase"
			u, err := st.srv.Service.CreateUser(ctx, "hybrid@example.com", pw, nil)
			if err != nil {
				b.Fatal(err)
			}
			g, err := st.srv.Service.Login(ctx, u.Email, pw, valet.ModeHybrid, auth.Client{UserAgent: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			set := st.srv.Node.Set()
			before := heapInuse()
			// Revoked sessions stay in the set for as long as their
			// tokens could live: the access token lifetime.
			until := time.Now().Add(15 * time.Minute)
			for range n {
				set.Add(valet.Revocation{SessionID: valet.HashSecret(valet.NewID()), Until: until})
			}
			perEntry := float64(heapInuse()-before) / float64(max(n, 1))
			if got := set.Len(); got < n {
				b.Fatalf("revocation set holds %d entries, want %d", got, n)
			}
			req := httptest.NewRequest(http.MethodGet, "/v1/me", nil)
			req.Header.Set("Authorization", "Bearer "+g.AccessToken)
			benchMe(b, st.cached, []*http.Request{req})
			if n >= 1000 {
				b.ReportMetric(perEntry, "B/revocation")
			}
		})
	}
}

// heapInuse returns the bytes of the Go heap in use after a collection.
func heapInuse() int64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse)
}

// TestScaleSeed checks that what the scale benchmarks seed is what the
// server accepts, on every store that is configured: a sample of seeded
// cookies is answered 200 with its own user, through both handlers, and a
// tampered cookie or one of a session never stored is refused, so the
// benchmarks never measure a refusal.
func TestScaleSeed(t *testing.T) {
	for _, store := range []loadtest.Store{loadtest.StoreMemory, loadtest.StoreRedis, loadtest.StorePostgres} {
		t.Run("store="+string(store), func(t *testing.T) {
			st := newScaleStack(t, store, valet.ModeSession)
			const n = 1000
			s := st.seed(t, n)
			if got := len(s.cookies); got != n {
				t.Fatalf("seed kept %d cookies, want %d", got, n)
			}
			get := func(h http.Handler, cookie string) (int, string) {
				req := httptest.NewRequest(http.MethodGet, "/v1/me", nil)
				req.AddCookie(&http.Cookie{Name: "valet_session", Value: cookie})
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				return rec.Code, rec.Body.String()
			}
			for _, h := range []struct {
				name string
				h    http.Handler
			}{{"cached", st.cached}, {"direct", st.direct}} {
				for i := 0; i < n; i += 37 {
					code, body := get(h.h, s.cookies[i])
					if code != http.StatusOK {
						t.Fatalf("%s: GET /v1/me with seeded cookie %d: %d %s", h.name, i, code, body)
					}
					if want := `"email":"` + s.emails[i] + `"`; !strings.Contains(body, want) {
						t.Errorf("%s: GET /v1/me with seeded cookie %d = %s, want the user with %s", h.name, i, body, want)
					}
				}
				// One byte of the HMAC changed.
				c := []byte(s.cookies[0])
				c[len(c)-2] ^= 1
				if code, body := get(h.h, string(c)); code != http.StatusUnauthorized {
					t.Errorf("%s: GET /v1/me with a tampered cookie: %d %s, want 401", h.name, code, body)
				}
				// A well-signed cookie whose session was never stored: the
				// server must be reading the store, not trusting the HMAC.
				if code, body := get(h.h, st.codec.Encode(valet.NewID())); code != http.StatusUnauthorized {
					t.Errorf("%s: GET /v1/me with the cookie of no session: %d %s, want 401", h.name, code, body)
				}
			}
			if rs, ok := st.seeder.(*redisSeeder); ok {
				checkRedisLayout(t, rs, st.srv.Stores())
			}
		})
	}
}

// memorySeeder writes through the memory store's own methods, which are as
// fast as it gets.
type memorySeeder struct {
	stores valet.Stores
}

func (m *memorySeeder) users(ctx context.Context, us []valet.User) error {
	return importUsers(ctx, m.stores.Users, us)
}

func (m *memorySeeder) sessions(ctx context.Context, ss []valet.Session) error {
	for _, s := range ss {
		if err := m.stores.Sessions.CreateSession(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// footprint is the process's Go heap, sessions and all.
func (m *memorySeeder) footprint(context.Context) (int64, error) { return heapInuse(), nil }

// importUsers stores us through the store's bulk import.
func importUsers(ctx context.Context, users valet.UserStore, us []valet.User) error {
	imp, ok := users.(valet.UserImporter)
	if !ok {
		return fmt.Errorf("user store %T cannot import", users)
	}
	created, _, _, err := imp.ImportUsers(ctx, us, valet.ConflictSkip)
	if err == nil && created != len(us) {
		err = fmt.Errorf("imported %d users of %d", created, len(us))
	}
	return err
}

// redisSeeder writes sessions to Redis in pipelines, with the keys and
// fields that store/redis's CreateSession writes (see its createSession
// script): the session hash, expiring with the session, and the user's
// index of session ids. Users stay in the SQLite store beside it, as with
// valet serve --sessions redis://.
type redisSeeder struct {
	stores valet.Stores
	store  *redis.Store
	// prefix is the server's key prefix, which the store does not expose.
	prefix string
}

// newRedisSeeder finds the server's key prefix by storing a probe session
// through the store and looking up the key it made.
func newRedisSeeder(ctx context.Context, stores valet.Stores) (*redisSeeder, error) {
	rs, ok := stores.Sessions.(*redis.Store)
	if !ok {
		return nil, fmt.Errorf("session store is %T, not Redis", stores.Sessions)
	}
	now := time.Now().UTC()
	probe := valet.Session{ID: valet.HashSecret(valet.NewID()), UserID: valet.NewID(), Mode: valet.ModeSession,
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := rs.CreateSession(ctx, probe); err != nil {
		return nil, err
	}
	defer rs.DeleteSession(ctx, probe.ID)
	c := rs.Client()
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, "*s:"+probe.ID, 1000).Result()
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			if p, ok := strings.CutSuffix(k, "s:"+probe.ID); ok {
				return &redisSeeder{stores: stores, store: rs, prefix: p}, nil
			}
		}
		if cursor = next; cursor == 0 {
			return nil, errors.New("the probe session's key is not in Redis")
		}
	}
}

// dropKeys deletes every key under the server's prefix: millions, so
// with more time than the server's own cleanup takes.
func (r *redisSeeder) dropKeys() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	loadtest.DropRedisKeys(ctx, r.store.Client(), r.prefix)
}

func (r *redisSeeder) users(ctx context.Context, us []valet.User) error {
	return importUsers(ctx, r.stores.Users, us)
}

// sessions writes ss as CreateSession would, in pipelines of a thousand.
// The script's EXISTS check is left out: every id is new.
func (r *redisSeeder) sessions(ctx context.Context, ss []valet.Session) error {
	c := r.store.Client()
	for lo := 0; lo < len(ss); lo += 1000 {
		pipe := c.Pipeline()
		for _, s := range ss[lo:min(lo+1000, len(ss))] {
			key, index := r.prefix+"s:"+s.ID, r.prefix+"u:"+s.UserID+":s"
			pipe.HSet(ctx, key,
				"u", s.UserID,
				"m", string(s.Mode),
				"c", redisTime(s.CreatedAt),
				"l", redisTime(s.LastSeenAt),
				"e", redisTime(s.ExpiresAt),
				"i", redisTime(s.IdleExpiresAt),
				"ua", s.UserAgent,
				"ip", s.IP,
				"am", strings.Join(s.AMR, ","),
				"at", redisTime(s.AuthTime))
			pipe.Do(ctx, "PEXPIREAT", key, redisExpireAt(s.Expiry()))
			pipe.ZAdd(ctx, index, goredis.Z{Score: float64(s.CreatedAt.UnixMilli()), Member: s.ID})
			// extend(): NX on the new index, GT so an index only lives longer.
			pipe.Do(ctx, "PEXPIREAT", index, redisExpireAt(s.ExpiresAt), "NX")
			pipe.Do(ctx, "PEXPIREAT", index, redisExpireAt(s.ExpiresAt), "GT")
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

// footprint is Redis's used_memory, everything in the server included.
func (r *redisSeeder) footprint(ctx context.Context) (int64, error) {
	info, err := r.store.Client().Info(ctx, "memory").Result()
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, errors.New("redis INFO has no used_memory")
}

// redisTime is store/redis's encoding of a time: unix nanoseconds, empty
// for zero.
func redisTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.UnixNano(), 10)
}

// redisExpireAt is store/redis's key expiry of t: unix milliseconds,
// rounded up.
func redisExpireAt(t time.Time) int64 {
	return (t.UnixNano() + int64(time.Millisecond) - 1) / int64(time.Millisecond)
}

// checkRedisLayout checks the seeder's writes against the store's: a
// session seeded by pipeline reads back whole through the store and is in
// its user's list, and its hash has the fields, and its keys the expiries,
// that CreateSession gives a session written through the store.
func checkRedisLayout(t *testing.T, r *redisSeeder, stores valet.Stores) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	mk := func() valet.Session {
		return valet.Session{ID: valet.HashSecret(valet.NewID()), UserID: valet.NewID(), Mode: valet.ModeSession,
			CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(7 * 24 * time.Hour), IdleExpiresAt: now.Add(24 * time.Hour),
			UserAgent: "ua", IP: "127.0.0.1", AMR: []string{valet.AMRPassword}, AuthTime: now}
	}
	ref, seededS := mk(), mk()
	if err := r.store.CreateSession(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if err := r.sessions(ctx, []valet.Session{seededS}); err != nil {
		t.Fatal(err)
	}
	got, found, err := r.store.Session(ctx, seededS.ID)
	if err != nil || !found {
		t.Fatalf("Session(seeded) = found %v, %v", found, err)
	}
	// Redis gives times back in the local zone.
	for _, t := range []*time.Time{&got.CreatedAt, &got.LastSeenAt, &got.ExpiresAt, &got.IdleExpiresAt, &got.AuthTime} {
		*t = t.UTC()
	}
	if fmt.Sprint(got) != fmt.Sprint(seededS) {
		t.Errorf("Session(seeded) =\n%v\nwant\n%v", got, seededS)
	}
	list, err := r.store.UserSessions(ctx, seededS.UserID)
	if err != nil || len(list) != 1 || list[0].ID != seededS.ID {
		t.Errorf("UserSessions(seeded user) = %v, %v; want the seeded session", list, err)
	}
	c := r.store.Client()
	for _, s := range []valet.Session{ref, seededS} {
		defer r.store.DeleteSession(ctx, s.ID)
	}
	fields := func(s valet.Session) string {
		m, err := c.HGetAll(ctx, r.prefix+"s:"+s.ID).Result()
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for k := range m {
			names = append(names, k)
		}
		slices.Sort(names)
		return fmt.Sprint(names)
	}
	if g, w := fields(seededS), fields(ref); g != w {
		t.Errorf("seeded session hash has fields %s, the store writes %s", g, w)
	}
	for _, key := range []func(valet.Session) string{
		func(s valet.Session) string { return r.prefix + "s:" + s.ID },
		func(s valet.Session) string { return r.prefix + "u:" + s.UserID + ":s" },
	} {
		g, err := c.PExpireTime(ctx, key(seededS)).Result()
		if err != nil {
			t.Fatal(err)
		}
		w, err := c.PExpireTime(ctx, key(ref)).Result()
		if err != nil {
			t.Fatal(err)
		}
		if g != w {
			t.Errorf("seeded key %s expires at %v, the store's at %v", key(seededS), g, w)
		}
	}
}

// postgresSeeder copies users and sessions into the server's schema with
// COPY, in the columns that store/postgres writes; the store's own inserts
// go a row at a time.
type postgresSeeder struct {
	db *postgres.DB
}

func (p *postgresSeeder) users(ctx context.Context, us []valet.User) error {
	rows := make([][]any, len(us))
	for i, u := range us {
		rows[i] = []any{u.ID, u.Email, u.PasswordHash, nonNilStrings(u.Roles), u.Disabled, u.CreatedAt, u.UpdatedAt,
			u.EmailVerified, nullTime(u.EmailVerifiedAt)}
	}
	_, err := p.db.Pool().CopyFrom(ctx, pgx.Identifier{"users"},
		[]string{"id", "email", "password_hash", "roles", "disabled", "created_at", "updated_at", "email_verified", "email_verified_at"},
		pgx.CopyFromRows(rows))
	return err
}

func (p *postgresSeeder) sessions(ctx context.Context, ss []valet.Session) error {
	rows := make([][]any, len(ss))
	for i, s := range ss {
		rows[i] = []any{s.ID, s.UserID, string(s.Mode), s.CreatedAt, s.LastSeenAt, s.ExpiresAt,
			nullTime(s.IdleExpiresAt), s.UserAgent, s.IP, nonNilStrings(s.AMR), nullTime(s.AuthTime)}
	}
	_, err := p.db.Pool().CopyFrom(ctx, pgx.Identifier{"sessions"},
		[]string{"id", "user_id", "mode", "created_at", "last_seen_at", "expires_at", "idle_expires_at", "user_agent", "ip", "amr", "auth_time"},
		pgx.CopyFromRows(rows))
	return err
}

// footprint is the size of the sessions table with its indexes and TOAST,
// after ANALYZE has given the planner the statistics that autovacuum would.
func (p *postgresSeeder) footprint(ctx context.Context) (int64, error) {
	if _, err := p.db.Pool().Exec(ctx, "ANALYZE users, sessions"); err != nil {
		return 0, err
	}
	var n int64
	err := p.db.Pool().QueryRow(ctx, "SELECT pg_total_relation_size('sessions')").Scan(&n)
	return n, err
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func nonNilStrings(a []string) []string {
	if a == nil {
		return []string{}
	}
	return a
}
