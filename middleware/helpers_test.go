package middleware_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/auth"
	"github.com/valetauth/valet/internal/testclock"
	"github.com/valetauth/valet/password"
	"github.com/valetauth/valet/store/memory"
)

const testPassword = "correct horse battery"

// clock is the shared settable test clock.
type clock = testclock.Clock

// newService returns an engine on a memory store whose clock the test moves,
// with password hashing cheap enough for tests.
func newService(tb testing.TB) (*auth.Service, *clock) {
	tb.Helper()
	clk := testclock.New(time.Now().UTC().Truncate(time.Second))
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	svc, err := auth.New(ctx, auth.Config{
		Stores: memory.New(memory.WithClock(clk.Now)).Stores(),
		Hasher: password.NewHasher(password.Params{Memory: 8 * 1024, Iterations: 1, Parallelism: 1}, 0, 0),
		Now:    clk.Now,
		Logger: quietLogger(),
	})
	if err != nil {
		tb.Fatalf("auth.New: %v", err)
	}
	return svc, clk
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// login creates a user with roles and logs it in with mode.
func login(tb testing.TB, svc *auth.Service, email string, mode valet.Mode, roles ...string) *auth.Grant {
	tb.Helper()
	ctx := context.Background()
	if _, err := svc.CreateUser(ctx, email, testPassword, roles); err != nil {
		tb.Fatalf("CreateUser %s: %v", email, err)
	}
	g, err := svc.Login(ctx, email, testPassword, mode, auth.Client{})
	if err != nil {
		tb.Fatalf("Login %s: %v", email, err)
	}
	return g
}

// call is one request to a handler under test.
type call struct {
	method, path   string
	cookie, bearer string
	// browser makes the request look like a page navigation.
	browser bool
}

// serve runs c against h and returns the recorded response.
func serve(tb testing.TB, h http.Handler, c call) *httptest.ResponseRecorder {
	tb.Helper()
	if c.method == "" {
		c.method = http.MethodGet
	}
	r := httptest.NewRequest(c.method, c.path, nil)
	if c.cookie != "" {
		r.AddCookie(&http.Cookie{Name: "valet_session", Value: c.cookie})
	}
	if c.bearer != "" {
		r.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	if c.browser {
		r.Header.Set("Accept", "text/html,application/xhtml+xml")
	} else {
		r.Header.Set("Accept", "application/json")
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// errorCode returns the "error" member of a JSON error body, failing the
// test when the body is not one.
func errorCode(tb testing.TB, w *httptest.ResponseRecorder) string {
	tb.Helper()
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		tb.Fatalf("Content-Type = %q, want JSON; body %q", ct, w.Body)
	}
	var body struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		tb.Fatalf("body is not JSON: %q", w.Body)
	}
	if body.Error == "" || body.Message == "" {
		tb.Fatalf("error body lacks error or message: %q", w.Body)
	}
	return body.Error
}
