package verify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/token"
)

// maxEntries bounds the sessions an introspector remembers; past it,
// answers that are no longer fresh are dropped.
const maxEntries = 100_000

// answer is what valet said of a session, and until when it holds.
type answer struct {
	active bool
	until  time.Time
}

// inflight is one introspection under way, which callers asking about the
// same session wait for instead of asking again.
type inflight struct {
	done   chan struct{}
	active bool
	err    error
}

// introspector asks valet whether hybrid sessions are still alive and
// remembers the answers for a short time.
type introspector struct {
	url        string
	client     *http.Client
	credential func(context.Context) (string, error)
	ttl        time.Duration
	now        func() time.Time

	mu      sync.Mutex
	answers map[string]answer
	pending map[string]*inflight
}

func newIntrospector(u string, c *http.Client, cred func(context.Context) (string, error), ttl time.Duration, now func() time.Time) *introspector {
	return &introspector{url: u, client: c, credential: cred, ttl: ttl, now: now,
		answers: map[string]answer{}, pending: map[string]*inflight{}}
}

// check returns nil when valet says the session of tok (whose claims c have
// been verified) is alive, an error wrapping valet.ErrTokenInvalid and
// valet.ErrRevoked when it is not, and one wrapping valet.ErrUnavailable when
// valet cannot be asked.
func (in *introspector) check(ctx context.Context, tok string, c token.Claims, leeway time.Duration) error {
	sid := c.SessionID
	in.mu.Lock()
	if a, ok := in.answers[sid]; ok && in.now().Before(a.until) {
		in.mu.Unlock()
		return verdict(a.active)
	}
	call, waiting := in.pending[sid]
	if !waiting {
		call = &inflight{done: make(chan struct{})}
		in.pending[sid] = call
	}
	in.mu.Unlock()

	if waiting {
		select {
		case <-call.done:
		case <-ctx.Done():
			return fmt.Errorf("%w: verify: introspection: %w", valet.ErrUnavailable, ctx.Err())
		}
	} else {
		call.active, call.err = in.ask(ctx, tok)
		in.mu.Lock()
		if call.err == nil {
			now := in.now()
			until := now.Add(in.ttl)
			if !call.active {
				// A revoked session stays revoked: no token naming it is
				// accepted before it expires.
				until = time.Unix(c.ExpiresAt, 0).Add(leeway)
			}
			in.remember(sid, answer{active: call.active, until: until}, now)
		}
		delete(in.pending, sid)
		in.mu.Unlock()
		close(call.done)
	}
	if call.err != nil {
		return call.err
	}
	return verdict(call.active)
}

func verdict(active bool) error {
	if active {
		return nil
	}
	return fmt.Errorf("%w: %w: verify: the session was revoked", valet.ErrTokenInvalid, valet.ErrRevoked)
}

// remember stores a, dropping stale answers when there are too many. in.mu
// must be held.
func (in *introspector) remember(sid string, a answer, now time.Time) {
	if len(in.answers) >= maxEntries {
		for k, old := range in.answers {
			if !now.Before(old.until) {
				delete(in.answers, k)
			}
		}
		if len(in.answers) >= maxEntries {
			clear(in.answers)
		}
	}
	in.answers[sid] = a
}

// ask posts tok to valet's introspection endpoint and returns its active.
func (in *introspector) ask(ctx context.Context, tok string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	cred, err := in.credential(ctx)
	if err != nil {
		return false, fmt.Errorf("%w: verify: introspection credential: %v", valet.ErrUnavailable, err)
	}
	body, err := json.Marshal(map[string]string{"token": tok})
	if err != nil {
		return false, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.url, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("%w: verify: introspection URL: %v", valet.ErrInvalidRequest, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+cred)
	resp, err := in.client.Do(req)
	if err != nil {
		return false, fmt.Errorf("%w: verify: introspection: %v", valet.ErrUnavailable, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return false, fmt.Errorf("%w: verify: introspection: %v", valet.ErrUnavailable, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		// The service's credential was refused, or valet failed: either way
		// this service cannot tell, which is not the caller's fault.
		return false, fmt.Errorf("%w: verify: introspection answered %d %s", valet.ErrUnavailable, resp.StatusCode, e.Error)
	}
	var out struct {
		Active *bool `json:"active"`
	}
	if err := json.Unmarshal(b, &out); err != nil || out.Active == nil {
		return false, fmt.Errorf("%w: verify: introspection answer has no active member", valet.ErrUnavailable)
	}
	return *out.Active, nil
}
