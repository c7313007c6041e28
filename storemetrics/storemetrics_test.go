package storemetrics_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/mail"
	"github.com/valetauth/valet/store/memory"
	"github.com/valetauth/valet/store/sqlite"
	"github.com/valetauth/valet/store/storetest"
	"github.com/valetauth/valet/storemetrics"
)

func wrap(tb testing.TB, s valet.Stores) valet.Stores {
	tb.Helper()
	w, err := storemetrics.Wrap(s, prometheus.NewRegistry())
	if err != nil {
		tb.Fatal(err)
	}
	return w
}

// The wrapped stores pass the conformance suite that the stores they wrap
// pass, optional abilities included.
func TestConformanceMemory(t *testing.T) {
	storetest.Run(t, func(tb testing.TB) valet.Stores { return wrap(tb, memory.New().Stores()) })
}

func TestConformanceSQLite(t *testing.T) {
	storetest.Run(t, func(tb testing.TB) valet.Stores {
		db, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "valet.db"))
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { _ = db.Close() })
		return wrap(tb, db.Stores())
	})
}

// bare has the store interfaces and nothing more.
type bare struct {
	valet.SessionStore
	valet.UserStore
}

// TestSessionLister: the wrapper of Sessions lists sessions exactly when
// what it wraps does, and the wrapper of Users keeps the outbox exactly
// when what it wraps does.
func TestSessionLister(t *testing.T) {
	tests := []struct {
		name string
		in   valet.Stores
		want bool
	}{
		{"memory", memory.New().Stores(), true},
		{"bare", valet.Stores{Sessions: bare{}, Users: bare{}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := wrap(t, tc.in)
			if _, got := w.Sessions.(valet.SessionLister); got != tc.want {
				t.Fatalf("SessionLister = %v, want %v", got, tc.want)
			}
			// The memory store keeps the outbox too; bare does not.
			if _, got := w.Users.(mail.TicketStore); got != tc.want {
				t.Fatalf("Users is a mail.TicketStore = %v, want %v", got, tc.want)
			}
		})
	}
	if w := wrap(t, valet.Stores{}); w != (valet.Stores{}) {
		t.Fatalf("nil members wrapped: %+v", w)
	}
}

// failing answers every user lookup with err.
type failing struct {
	valet.UserStore
	err error
}

func (f failing) UserByEmail(ctx context.Context, email string) (valet.User, error) {
	return valet.User{}, f.err
}

// gather returns the value of each series on reg whose name and labels,
// as name{label=value,...}, contain sub: a histogram's count, a counter's
// value.
func gather(tb testing.TB, reg *prometheus.Registry, sub string) map[string]float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			key := mf.GetName() + "{" + strings.Join(labels, ",") + "}"
			if !strings.Contains(key, sub) {
				continue
			}
			if h := m.GetHistogram(); h != nil {
				got[key] = float64(h.GetSampleCount())
			} else {
				got[key] = m.GetCounter().GetValue()
			}
		}
	}
	return got
}

// TestSeries: every call is counted under its store and method, and only
// failures count as errors.
func TestSeries(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantErrors float64
	}{
		{"found", nil, 0},
		{"not found is an answer", valet.ErrNotFound, 0},
		{"conflict is an answer", fmt.Errorf("store: %w", valet.ErrConflict), 0},
		{"unavailable is a failure", fmt.Errorf("store: %w", valet.ErrUnavailable), 1},
		{"anything else is a failure", errors.New("boom"), 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			w, err := storemetrics.Wrap(valet.Stores{Users: failing{err: tc.err}}, reg)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = w.Users.UserByEmail(context.Background(), "ada@example.com")
			_, _ = w.Users.UserByEmail(context.Background(), "ada@example.com")
			got := gather(t, reg, "op=UserByEmail")
			want := map[string]float64{
				"valet_store_call_duration_seconds{op=UserByEmail,store=users}": 2,
				"valet_store_errors_total{op=UserByEmail,store=users}":          2 * tc.wantErrors,
			}
			if !maps.Equal(got, want) {
				t.Fatalf("series %v, want %v", got, want)
			}
		})
	}
}

// TestMailSeries: the outbox's and the tickets' calls are counted under
// store "mail", and reach the store.
func TestMailSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	w, err := storemetrics.Wrap(memory.New().Stores(), reg)
	if err != nil {
		t.Fatal(err)
	}
	ts := w.Users.(mail.TicketStore)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	u := valet.User{ID: "u1", Email: "ada@example.com", Roles: []string{}, CreatedAt: now, UpdatedAt: now}
	tk := valet.Ticket{ID: valet.HashSecret(valet.NewID()), UserID: u.ID, Purpose: valet.TicketVerify, Email: u.Email,
		CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	msg := mail.OutboxMessage{ID: valet.NewID(), Kind: mail.KindVerify, To: u.Email, Body: []byte{0}, CreatedAt: now, NextAttemptAt: now}
	if err := ts.CreateUserWithTicket(ctx, u, tk, msg); err != nil {
		t.Fatal(err)
	}
	if err := ts.CreateUserWithTicket(ctx, u, tk, msg); !errors.Is(err, valet.ErrConflict) {
		t.Fatalf("CreateUserWithTicket again: %v, want a conflict", err)
	}
	if _, found, err := ts.Ticket(ctx, tk.ID, now); err != nil || !found {
		t.Fatalf("Ticket: found %v, %v", found, err)
	}
	if n, err := ts.PendingMail(ctx); err != nil || n != 1 {
		t.Fatalf("PendingMail = %d, %v; want 1", n, err)
	}
	got := gather(t, reg, "store=mail")
	for key, want := range map[string]float64{
		"valet_store_call_duration_seconds{op=CreateUserWithTicket,store=mail}": 2,
		"valet_store_errors_total{op=CreateUserWithTicket,store=mail}":          0,
		"valet_store_call_duration_seconds{op=Ticket,store=mail}":               1,
		"valet_store_call_duration_seconds{op=PendingMail,store=mail}":          1,
		"valet_store_call_duration_seconds{op=ClaimMail,store=mail}":            0,
	} {
		if got[key] != want {
			t.Errorf("%s = %v, want %v", key, got[key], want)
		}
	}
}

// TestWrapTwice: a second Wrap on one registry is refused, not a panic.
func TestWrapTwice(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := storemetrics.Wrap(memory.New().Stores(), reg); err != nil {
		t.Fatal(err)
	}
	if _, err := storemetrics.Wrap(memory.New().Stores(), reg); err == nil {
		t.Fatal("second Wrap on one registry: no error")
	}
}

func BenchmarkSession(b *testing.B) {
	m := memory.New()
	w := wrap(b, m.Stores())
	ctx := context.Background()
	for _, s := range []struct {
		name string
		st   valet.SessionStore
	}{{"bare", m}, {"wrapped", w.Sessions}} {
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _, _ = s.st.Session(ctx, "no-such-session")
			}
		})
	}
}

// TestNewSeries: the calls added with second factors and with clients are
// timed under their store and method too.
func TestNewSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	w, err := storemetrics.Wrap(memory.New().Stores(), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_ = w.Sessions.SetSessionAuth(ctx, "no-such-session", time.Now(), []string{valet.AMRPassword})
	_, _ = w.Factors.Factors(ctx, "no-such-user")
	_, _, _ = w.Factors.TakePending(ctx, "no-such-key", time.Now())
	_, _ = w.Clients.ClientByID(ctx, "no-such-client")
	_, _, _, _ = w.Clients.TakeAuthCode(ctx, "no-such-code", time.Now())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, mf := range mfs {
		if mf.GetName() != "valet_store_call_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			if m.GetHistogram().GetSampleCount() > 0 {
				got[strings.Join(labels, ",")] = true
			}
		}
	}
	for _, want := range []string{"op=SetSessionAuth,store=sessions", "op=Factors,store=factors", "op=TakePending,store=factors",
		"op=ClientByID,store=clients", "op=TakeAuthCode,store=clients"} {
		if !got[want] {
			t.Errorf("no calls timed with %s; timed: %v", want, slices.Sorted(maps.Keys(got)))
		}
	}
}
