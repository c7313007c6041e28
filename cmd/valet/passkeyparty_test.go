package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/auth"
	"github.com/valetauth/valet/httpapi"
	"github.com/valetauth/valet/passkey"
	"github.com/valetauth/valet/password"
	"github.com/valetauth/valet/session"
	"github.com/valetauth/valet/store/memory"
	"github.com/valetauth/valet/throttle"
	"github.com/valetauth/valet/web"
)

// rpIDOf returns the relying party id that rp puts in the options of a
// registration, as a browser reads it.
func rpIDOf(tb testing.TB, rp *passkey.RP) string {
	tb.Helper()
	opts, _, _, err := rp.BeginRegistration(passkey.User{ID: "u1", Name: "ada@example.com", DisplayName: "ada@example.com"}, true)
	if err != nil {
		tb.Fatal(err)
	}
	var o struct {
		PublicKey struct {
			RP struct {
				ID string `json:"id"`
			} `json:"rp"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(opts, &o); err != nil {
		tb.Fatal(err)
	}
	return o.PublicKey.RP.ID
}

func TestPasskeyParty(t *testing.T) {
	for _, tc := range []struct {
		name, publicURL, cookieDomain string
		// off is a word of the refusal; wantID and wantOrigin are empty then.
		off                string
		wantID, wantOrigin string
	}{
		{name: "https host", publicURL: "https://auth.example.com", wantID: "auth.example.com", wantOrigin: "https://auth.example.com"},
		{name: "path dropped", publicURL: "https://auth.example.com/valet", wantID: "auth.example.com", wantOrigin: "https://auth.example.com"},
		{name: "port kept", publicURL: "https://auth.example.com:8443", wantID: "auth.example.com", wantOrigin: "https://auth.example.com:8443"},
		{name: "cookie domain", publicURL: "https://auth.example.com", cookieDomain: "example.com", wantID: "example.com", wantOrigin: "https://auth.example.com"},
		{name: "cookie domain is the host", publicURL: "https://example.com", cookieDomain: "example.com", wantID: "example.com", wantOrigin: "https://example.com"},
		{name: "cookie domain with dots", publicURL: "https://auth.example.com", cookieDomain: ".Example.COM.", wantID: "example.com", wantOrigin: "https://auth.example.com"},
		{name: "cookie domain elsewhere", publicURL: "https://auth.example.com", cookieDomain: "example.org", off: "not under"},
		{name: "cookie domain a suffix of the name only", publicURL: "https://auth.badexample.com", cookieDomain: "example.com", off: "not under"},
		{name: "cookie domain under the host", publicURL: "https://example.com", cookieDomain: "auth.example.com", off: "not under"},
		{name: "IPv4", publicURL: "https://192.0.2.1", off: "IP address"},
		{name: "IPv4 with port", publicURL: "http://127.0.0.1:8080", off: "IP address"},
		{name: "IPv6", publicURL: "https://[2001:db8::1]:8443", off: "IP address"},
		{name: "IPv6 with zone", publicURL: "http://[fe80::1%25eth0]:8080", off: "IP address"},
		{name: "IP with a cookie domain", publicURL: "https://192.0.2.1", cookieDomain: "example.com", off: "IP address"},
		{name: "localhost over http", publicURL: "http://localhost:8080", wantID: "localhost", wantOrigin: "http://localhost:8080"},
		{name: "localhost without port", publicURL: "http://localhost", wantID: "localhost", wantOrigin: "http://localhost"},
		{name: "http elsewhere", publicURL: "http://auth.example.com", off: "https"},
		{name: "upper case", publicURL: "HTTPS://Auth.Example.COM", wantID: "auth.example.com", wantOrigin: "https://auth.example.com"},
		{name: "trailing dot", publicURL: "https://auth.example.com.:8443/", wantID: "auth.example.com", wantOrigin: "https://auth.example.com:8443"},
		{name: "trailing dot and cookie domain", publicURL: "https://Auth.Example.com.", cookieDomain: "example.com", wantID: "example.com", wantOrigin: "https://auth.example.com"},
		{name: "no host", publicURL: "/just/a/path", off: "no host"},
		{name: "empty", publicURL: "", off: "no host"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rp, err := passkeyParty(tc.publicURL, tc.cookieDomain)
			if tc.off != "" {
				if err == nil || rp != nil {
					t.Fatalf("passkeyParty(%q, %q) = %v, %v; want passkeys off", tc.publicURL, tc.cookieDomain, rp, err)
				}
				if msg := valet.Message(err) + " " + err.Error(); !strings.Contains(msg, tc.off) {
					t.Errorf("refusal %q does not say %q", msg, tc.off)
				}
				return
			}
			if err != nil {
				t.Fatalf("passkeyParty(%q, %q): %v", tc.publicURL, tc.cookieDomain, err)
			}
			cfg, err := passkeyConfig(tc.publicURL, tc.cookieDomain)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := cfg.RPID, tc.wantID; got != want {
				t.Errorf("relying party id %q, want %q", got, want)
			}
			if got, want := cfg.Origins, []string{tc.wantOrigin}; !slices.Equal(got, want) {
				t.Errorf("origins %q, want %q", got, want)
			}
			if got, want := rpIDOf(t, rp), tc.wantID; got != want {
				t.Errorf("the options say rp.id %q, want %q", got, want)
			}
		})
	}
}

// countingFactors counts the pending states put into a factor store.
type countingFactors struct {
	valet.FactorStore
	puts atomic.Int64
}

func (c *countingFactors) PutPending(ctx context.Context, key string, value []byte, expires time.Time) error {
	c.puts.Add(1)
	return c.FactorStore.PutPending(ctx, key, value, expires)
}

// TestPasskeyBeginFlood: POST /v1/webauthn/login/begin from one address,
// through the handler valet serve answers with, is refused with
// rate_limited past --throttle-factor-ip, and stores nothing then.
func TestPasskeyBeginFlood(t *testing.T) {
	ctx := context.Background()
	const limit = 5
	st := memory.New()
	stores := st.Stores()
	counted := &countingFactors{FactorStore: stores.Factors}
	stores.Factors = counted
	rp, err := passkeyParty("https://auth.example.com", "")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := auth.New(ctx, auth.Config{
		Stores: stores, Passkeys: rp,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Hasher: password.NewHasher(password.Params{Memory: 8192, Iterations: 1, Parallelism: 1}, 0, 0),
		Throttle: throttle.New(throttle.NewMemory(throttle.MemoryConfig{}),
			throttle.Policy{FactorIP: []throttle.Limit{{Burst: limit, Period: 15 * time.Minute}}}),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	api := httpapi.New(svc, httpapi.Config{Cookie: session.Cookie{Insecure: true},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	h := serveHandler(api, nil, web.New(svc, api, web.Config{}), 3*time.Second)

	begin := func(addr string) *httptest.ResponseRecorder {
		t.Helper()
		r := httptest.NewRequest(http.MethodPost, "/v1/webauthn/login/begin", strings.NewReader(`{}`))
		r.Header.Set("Content-Type", "application/json")
		r.RemoteAddr = addr
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	var ok, limited int
	for i := range 50 {
		w := begin("192.0.2.1:" + strings.Repeat("1", 1+i%4))
		switch w.Code {
		case http.StatusOK:
			ok++
		case http.StatusTooManyRequests:
			limited++
			var body struct{ Error string }
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error != "rate_limited" {
				t.Fatalf("429 with body %s", w.Body)
			}
			if w.Header().Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		default:
			t.Fatalf("begin: %d %s", w.Code, w.Body)
		}
	}
	if ok != limit || limited != 50-limit {
		t.Fatalf("%d challenges, %d refused; want %d and %d", ok, limited, limit, 50-limit)
	}
	if got := counted.puts.Load(); got != limit {
		t.Fatalf("%d challenges stored, want %d", got, limit)
	}
	// Another address has its own count.
	if w := begin("198.51.100.7:4000"); w.Code != http.StatusOK {
		t.Fatalf("another address: %d %s", w.Code, w.Body)
	}
}
