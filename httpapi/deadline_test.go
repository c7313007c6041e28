package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

type ctxKey struct{}

// requestCtx returns the context that Deadline(d) gives its handler for a
// request whose own context is a cancelCtx with a value, as net/http's is,
// and what cancels it. during, when set, runs inside the handler, with what
// cancels the request's context.
func requestCtx(tb testing.TB, d time.Duration, during func(ctx context.Context, cancelRequest func())) (context.Context, context.CancelFunc) {
	tb.Helper()
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
	tb.Cleanup(cancel)
	var got context.Context
	h := Deadline(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Context()
		if during != nil {
			during(got, cancel)
		}
	}), d)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/v1/me", nil).WithContext(parent))
	return got, cancel
}

func TestDeadlineReportsItsDeadline(t *testing.T) {
	before := time.Now()
	requestCtx(t, time.Minute, func(ctx context.Context, _ func()) {
		after := time.Now()
		dl, ok := ctx.Deadline()
		if !ok || dl.Before(before.Add(time.Minute)) || dl.After(after.Add(time.Minute)) {
			t.Fatalf("Deadline() = %v, %v; want between %v and %v", dl, ok, before.Add(time.Minute), after.Add(time.Minute))
		}
		if err := ctx.Err(); err != nil {
			t.Fatalf("Err() = %v before the deadline", err)
		}
		if got := ctx.Value(ctxKey{}); got != "v" {
			t.Fatalf("Value = %v, want the request's value", got)
		}
	})
}

// A deadline of a nanosecond has passed by the time anything looks, so
// these cases need no clock.
func TestDeadlinePassed(t *testing.T) {
	for _, tc := range []struct {
		name  string
		first func(ctx context.Context) error
	}{
		{"Err first", func(ctx context.Context) error { return ctx.Err() }},
		{"Done first", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }},
		{"a child's Done first", func(ctx context.Context) error {
			child, cancel := context.WithCancel(ctx)
			defer cancel()
			<-child.Done()
			return child.Err()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requestCtx(t, time.Nanosecond, func(ctx context.Context, _ func()) {
				if err := tc.first(ctx); !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("err = %v, want DeadlineExceeded", err)
				}
				<-ctx.Done()
				if err := ctx.Err(); !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("Err() = %v, want DeadlineExceeded", err)
				}
				if got := context.Cause(ctx); !errors.Is(got, context.DeadlineExceeded) {
					t.Fatalf("Cause = %v, want DeadlineExceeded", got)
				}
				if got := ctx.Value(ctxKey{}); got != "v" {
					t.Fatalf("Value = %v, want the request's value", got)
				}
			})
		})
	}
}

// waits are the ways a handler may or may not have waited on its context
// before the request's context ends.
var waits = []struct {
	name string
	wait func(ctx context.Context)
}{
	{"not waited on", func(context.Context) {}},
	{"waited on", func(ctx context.Context) { _ = ctx.Done() }},
}

func TestDeadlineFollowsTheRequest(t *testing.T) {
	for _, w := range waits {
		t.Run(w.name, func(t *testing.T) {
			requestCtx(t, time.Minute, func(ctx context.Context, cancelRequest func()) {
				w.wait(ctx)
				cancelRequest()
				if err := ctx.Err(); !errors.Is(err, context.Canceled) {
					t.Fatalf("Err() = %v after the request was canceled, want Canceled", err)
				}
				<-ctx.Done()
			})
		})
	}
}

func TestDeadlineEndsWithTheHandler(t *testing.T) {
	for _, w := range waits {
		t.Run(w.name, func(t *testing.T) {
			ctx, _ := requestCtx(t, time.Minute, func(ctx context.Context, _ func()) { w.wait(ctx) })
			<-ctx.Done()
			if err := ctx.Err(); !errors.Is(err, context.Canceled) {
				t.Fatalf("Err() = %v after the handler returned, want Canceled", err)
			}
			if got := ctx.Value(ctxKey{}); got != "v" {
				t.Fatalf("Value = %v, want the request's value", got)
			}
		})
	}
}

// TestDeadlineConcurrent is for the race detector: goroutines of one
// request look at its context at once.
func TestDeadlineConcurrent(t *testing.T) {
	requestCtx(t, time.Minute, func(ctx context.Context, _ func()) {
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				_ = ctx.Value(ctxKey{})
				_ = ctx.Err()
				_ = ctx.Done()
				_ = context.Cause(ctx)
			})
		}
		wg.Wait()
	})
}

func TestDeadlineLongPaths(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/v1/login", nil)
	h := Deadline(http.HandlerFunc(func(w http.ResponseWriter, got *http.Request) {
		if got != r {
			t.Error("a long path's request was given a deadline")
		}
	}), time.Second, PasswordPaths...)
	h.ServeHTTP(httptest.NewRecorder(), r)
}

// BenchmarkDeadline is what the store deadline costs a request that
// reaches no store, under a context like net/http's.
func BenchmarkDeadline(b *testing.B) {
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := httptest.NewRequest(http.MethodGet, "/v1/me", nil).WithContext(parent)
	h := Deadline(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), 3*time.Second, PasswordPaths...)
	w := &headerWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}

// TestRequestStart: behind Deadline a request's start is the moment it
// reached Deadline, read once; without Deadline it is the clock's now.
func TestRequestStart(t *testing.T) {
	var got []time.Time
	h := Deadline(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, requestStart(r), requestStart(r))
	}), time.Second)
	before := time.Now()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/v1/me", nil))
	after := time.Now()
	if len(got) != 2 || !got[0].Equal(got[1]) || got[0].Before(before) || got[0].After(after) {
		t.Fatalf("behind Deadline: starts %v, want one moment between %v and %v", got, before, after)
	}
	bare := requestStart(httptest.NewRequest("GET", "/v1/me", nil))
	if bare.Before(after) {
		t.Fatalf("without Deadline: %v, before %v", bare, after)
	}
}
