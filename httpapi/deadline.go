package httpapi

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Deadline bounds the store work of each request to d in all: every store
// call of a request shares one deadline, so an outage answers 503 within d
// however many calls the request makes, instead of d for each of them. The
// requests whose paths are in long have no deadline of their own, only the
// stores' bound on each call: bulk work such as an import, and the requests
// that hash a password (see PasswordPaths), whose hashing may take longer
// than any store call ever should. d <= 0 returns next.
func Deadline(next http.Handler, d time.Duration, long ...string) http.Handler {
	if d <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, p := range long {
			if r.URL.Path == p {
				next.ServeHTTP(w, r)
				return
			}
		}
		now := time.Now()
		ctx := &deadlineCtx{Context: r.Context(), began: now, deadline: now.Add(d)}
		defer ctx.end()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// deadlineCtx is a request's context with Deadline's deadline, whose timer
// is made only when something waits on it. Most requests reach no store
// (a cached session, a verified token): context.WithTimeout would make a
// timer, register it with the request's context and undo both for nothing,
// a good part of such a request's cost. Deadline reports the deadline at
// once, and Err compares it with the clock, so code that only reads them
// sees what WithTimeout would show; Done (a store call waiting, a child
// context) makes the context.WithDeadline that backs the rest.
type deadlineCtx struct {
	context.Context // the request's
	deadline        time.Time
	// began is when the request reached Deadline: the metrics take it as
	// the request's start rather than read the clock again.
	began time.Time

	once sync.Once
	// timed and cancel are the context.WithDeadline, once made; nil when
	// the request ended without one.
	timed  context.Context
	cancel context.CancelFunc
	// settled is set when once has run: timed is final.
	settled atomic.Bool
}

// start makes the timed context, unless the request has ended; it returns
// nil then.
func (c *deadlineCtx) start() context.Context {
	c.once.Do(func() {
		c.timed, c.cancel = context.WithDeadline(c.Context, c.deadline)
		c.settled.Store(true)
	})
	return c.timed
}

// end is the handler's return: the timed context, if made, is canceled,
// and none is made afterwards, so that a goroutine that outlives the
// request sees it canceled, as it would with WithTimeout.
func (c *deadlineCtx) end() {
	c.once.Do(func() { c.settled.Store(true) })
	if c.cancel != nil {
		c.cancel()
	}
}

func (c *deadlineCtx) Deadline() (time.Time, bool) {
	if d, ok := c.Context.Deadline(); ok && d.Before(c.deadline) {
		return d, true
	}
	return c.deadline, true
}

func (c *deadlineCtx) Done() <-chan struct{} {
	if t := c.start(); t != nil {
		return t.Done()
	}
	return closedChan
}

func (c *deadlineCtx) Err() error {
	if !c.settled.Load() {
		if err := c.Context.Err(); err != nil {
			return err
		}
		if time.Now().Before(c.deadline) {
			return nil
		}
	}
	if t := c.start(); t != nil {
		return t.Err()
	}
	return context.Canceled
}

// Value asks the timed context once there is one, so that context.Cause
// finds its cause.
func (c *deadlineCtx) Value(key any) any {
	if c.settled.Load() && c.timed != nil {
		return c.timed.Value(key)
	}
	return c.Context.Value(key)
}

// closedChan is the Done of a request that ended with no timed context.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// PasswordPaths are the paths of the requests that check or hash a
// password, in the API and on the pages, and so may spend more than a
// store's bound in hashing alone.
var PasswordPaths = []string{
	ImportPath, "/v1/login", "/v1/signup", "/v1/password", "/v1/admin/users",
	"/v1/recovery", "/v1/recovery/complete", "/v1/email",
	"/signin", "/signup", "/account/password", "/account/email", "/recovery", "/recovery/reset",
}

// requestStart returns when r reached Deadline, or now if it did not.
func requestStart(r *http.Request) time.Time {
	if c, ok := r.Context().(*deadlineCtx); ok {
		return c.began
	}
	return time.Now()
}
