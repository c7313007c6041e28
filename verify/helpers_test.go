package verify_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/auth"
	"github.com/valetauth/valet/httpapi"
	"github.com/valetauth/valet/internal/testclock"
	"github.com/valetauth/valet/password"
	"github.com/valetauth/valet/store/memory"
)

const pw = "correct horse battery"

// clock is the shared settable test clock.
type clock = testclock.Clock

func newClock(t time.Time) *clock { return testclock.New(t) }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// valetServer is valet (auth + httpapi) on a real listener, counting the
// requests for its keys and its introspection endpoint.
type valetServer struct {
	URL         string
	svc         *auth.Service
	jwksHits    atomic.Int32
	introHits   atomic.Int32
	unavailable atomic.Bool
}

// startValet runs valet on cfg, which gets a memory store and cheap
// password hashing where it has none.
func startValet(tb testing.TB, cfg auth.Config) *valetServer {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	if cfg.Stores.Users == nil {
		opts := []memory.Option{}
		if cfg.Now != nil {
			opts = append(opts, memory.WithClock(cfg.Now))
		}
		cfg.Stores = memory.New(opts...).Stores()
	}
	cfg.Hasher = password.NewHasher(password.Params{Memory: 8 * 1024, Iterations: 1, Parallelism: 1}, 0, 0)
	cfg.Logger = quiet()
	svc, err := auth.New(ctx, cfg)
	if err != nil {
		tb.Fatalf("auth.New: %v", err)
	}
	s := &valetServer{svc: svc}
	api := httpapi.New(svc, httpapi.Config{Logger: quiet()})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.unavailable.Load() {
			http.Error(w, "down for maintenance", http.StatusBadGateway)
			return
		}
		switch {
		case strings.HasSuffix(r.URL.Path, "/jwks.json"):
			s.jwksHits.Add(1)
		case r.URL.Path == "/v1/introspect":
			s.introHits.Add(1)
		}
		api.ServeHTTP(w, r)
	}))
	tb.Cleanup(ts.Close)
	s.URL = ts.URL
	return s
}

// login creates a user with roles and logs it in with mode.
func (s *valetServer) login(tb testing.TB, email string, mode valet.Mode, roles ...string) *auth.Grant {
	tb.Helper()
	ctx := context.Background()
	if _, err := s.svc.CreateUser(ctx, email, pw, roles); err != nil {
		tb.Fatalf("CreateUser %s: %v", email, err)
	}
	g, err := s.svc.Login(ctx, email, pw, mode, auth.Client{})
	if err != nil {
		tb.Fatalf("Login %s: %v", email, err)
	}
	return g
}

// logout ends the session of a hybrid token, as POST /v1/logout does.
func (s *valetServer) logout(tb testing.TB, accessToken string) {
	tb.Helper()
	ctx := context.Background()
	id, err := s.svc.IdentifyBearer(ctx, accessToken)
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.svc.Logout(ctx, id, auth.Client{}); err != nil {
		tb.Fatal(err)
	}
}

// within calls check every 10ms until it returns true, and returns how long
// that took; it fails the test if that is not within limit.
func within(tb testing.TB, limit time.Duration, what string, check func() bool) time.Duration {
	tb.Helper()
	start := time.Now()
	for {
		if check() {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			tb.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
