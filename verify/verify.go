// Package verify checks valet's access tokens in a Go service that is not
// valet: an orders service, a reporting job, a gateway. The service trusts
// what valet signed without calling valet on each request.
//
// A Verifier fetches valet's public keys from /.well-known/jwks.json when it
// is made and keeps them. It fetches them again when they are older than
// the cache lifetime (5 minutes by default), so that a key that left valet's
// set stops verifying here too, and when a token names a key it does not
// know, which is how it learns of a rotation; those fetches happen at most
// once per 30 seconds, so tokens with made-up key ids cannot turn into a
// stream of requests to valet. A token is then checked as valet checks it:
// signature, algorithm fixed per key, exp, nbf, iss and aud.
//
// # Hybrid tokens and revocation
//
// A token-mode token cannot be revoked: it lives until its exp (15 minutes
// by default). A hybrid token names its server session in the sid claim and
// must be refused as soon as that session ends, so the Verifier needs a way
// to learn of revocations. It offers two; without either it refuses hybrid
// tokens, rather than accept tokens it cannot check.
//
// WithRevocations with SubscribeRedis joins valet's revocation channel, as
// every valet node does: the service keeps the set of revoked sessions in
// memory, learns of each revocation within milliseconds, and checks a token
// with no I/O at all. It needs valet to run with its sessions in Redis
// (valet serve --sessions redis://...), and the service to reach that
// Redis. While the channel is down for more than a couple of seconds, checks
// fall back to reading the session from Redis, so a missed message never
// lets a revoked token through.
//
// WithIntrospection asks valet (POST /v1/introspect, RFC 7662) about each
// session it sees, with a credential of role service, and keeps the answer
// for a short time (1 second by default). It needs nothing but HTTP access
// to valet, but a revocation takes up to that time to be seen, each session
// costs valet one request per interval, and when valet does not answer,
// hybrid tokens are refused (503) until it does.
//
// Choose the channel where the service can reach valet's Redis and must
// follow revocations at once under load; choose introspection for a service
// outside that network, or with little traffic.
package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/token"
)

const (
	// maxJWKS bounds the JWKS document read: a few keys take a few KiB.
	maxJWKS = 1 << 20
	// fetchTimeout bounds one fetch of the JWKS or one introspection.
	fetchTimeout = 5 * time.Second
)

// Revocations tells whether a hybrid token's session has been revoked.
// *revoke.Node implements it (see SubscribeRedis). Check returns an error
// wrapping valet.ErrRevoked for a revoked session and one wrapping
// valet.ErrUnavailable when it cannot tell.
type Revocations interface {
	Check(ctx context.Context, sid string) error
}

// Option configures a Verifier.
type Option func(*options)

type options struct {
	client        *http.Client
	jwksURL       string
	issuer        string
	audience      string
	leeway        time.Duration
	now           func() time.Time
	minRefetch    time.Duration
	cacheTTL      time.Duration
	revocations   Revocations
	credential    func(context.Context) (string, error)
	introspectTTL time.Duration
	logger        *slog.Logger
}

// WithHTTPClient sets the client that fetches keys and introspects tokens.
// The default is a client with a 5-second timeout.
func WithHTTPClient(c *http.Client) Option {
	return func(o *options) {
		if c != nil {
			o.client = c
		}
	}
}

// WithJWKSURL sets where the keys are fetched from. The default is the base
// URL given to New followed by /.well-known/jwks.json.
func WithJWKSURL(u string) Option { return func(o *options) { o.jwksURL = u } }

// WithIssuer sets the iss that tokens must have; the default is "valet",
// valet's default. An empty s turns the check off.
func WithIssuer(s string) Option { return func(o *options) { o.issuer = s } }

// WithAudience sets the audience that a token's aud must name; the default
// is "valet", valet's default. An empty s turns the check off.
func WithAudience(s string) Option { return func(o *options) { o.audience = s } }

// WithLeeway sets the clock skew allowed on exp, nbf and iat; the default is
// token.DefaultLeeway (30 s), as for token.WithLeeway. It panics if d is
// negative, as token.WithLeeway does.
func WithLeeway(d time.Duration) Option {
	if d < 0 {
		panic("verify: WithLeeway: negative leeway")
	}
	return func(o *options) { o.leeway = d }
}

// WithClock sets the clock; the default is time.Now. It panics if now is
// nil, as token.WithClock does.
func WithClock(now func() time.Time) Option {
	if now == nil {
		panic("verify: WithClock: nil clock")
	}
	return func(o *options) { o.now = now }
}

// WithRefetchInterval sets the shortest time between two fetches of the
// keys; the default is 30 seconds. It bounds the fetches that tokens with
// unknown key ids cause, and the retries after a failed fetch.
func WithRefetchInterval(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.minRefetch = d
		}
	}
}

// WithCacheTTL sets how long fetched keys are used before they are fetched
// again; the default is 5 minutes. A key that leaves valet's set is refused
// here at the latest this long after. If the fetch fails the keys in hand
// stay in use, and the fetch is retried.
func WithCacheTTL(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.cacheTTL = d
		}
	}
}

// WithRevocations makes hybrid tokens checked against r, such as the node
// SubscribeRedis returns. It takes precedence over WithIntrospection.
func WithRevocations(r Revocations) Option { return func(o *options) { o.revocations = r } }

// WithIntrospection makes hybrid tokens checked with valet's introspection
// endpoint, POST /v1/introspect under the base URL, each session's answer
// being kept for ttl (default 1 second; a revoked session's answer is kept
// until the token expires). credential returns an access token of a valet
// user with role service (or admin): (*client.Client).AccessToken, on a
// client logged in as that user, fits and keeps it fresh.
func WithIntrospection(credential func(context.Context) (string, error), ttl time.Duration) Option {
	return func(o *options) {
		o.credential = credential
		if ttl > 0 {
			o.introspectTTL = ttl
		}
	}
}

// WithLogger sets where failures to fetch keys are reported; the default is
// slog.Default(). A nil logger keeps it.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// keys is a fetched key set and when it is due to be fetched again.
type keys struct {
	set    *token.KeySet
	expiry time.Time
}

// Verifier checks valet's access tokens. It is safe for concurrent use.
type Verifier struct {
	o       options
	base    string
	current atomic.Pointer[keys]
	tv      *token.Verifier
	intro   *introspector // nil without WithIntrospection

	// fetchMu serializes fetches of the keys; lastFetch, the time of the
	// latest attempt, is written under it.
	fetchMu   sync.Mutex
	lastFetch atomic.Int64
}

// keySource lets the token verifier look keys up in the current set.
type keySource struct{ v *Verifier }

func (k keySource) Key(kid string) (*token.Key, bool) { return k.v.current.Load().set.Key(kid) }

// New returns a Verifier of the tokens of the valet server at baseURL (such
// as "https://auth.example.com", or the prefix valet is mounted under), and
// fetches its keys once. ctx bounds that first fetch only. New returns an
// error wrapping valet.ErrInvalidRequest when baseURL is not an http or
// https URL or the server's JWKS is malformed, and one wrapping
// valet.ErrUnavailable when the keys cannot be fetched.
func New(ctx context.Context, baseURL string, opts ...Option) (*Verifier, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: verify: base URL %q: want http(s)://host[/prefix]", valet.ErrInvalidRequest, baseURL)
	}
	base := strings.TrimSuffix(u.String(), "/")
	o := options{
		client:        &http.Client{Timeout: fetchTimeout},
		jwksURL:       base + "/.well-known/jwks.json",
		issuer:        "valet",
		audience:      "valet",
		leeway:        token.DefaultLeeway,
		now:           time.Now,
		minRefetch:    30 * time.Second,
		cacheTTL:      5 * time.Minute,
		introspectTTL: time.Second,
		logger:        slog.Default(),
	}
	for _, opt := range opts {
		opt(&o)
	}
	v := &Verifier{o: o, base: base}
	topts := []token.Option{token.WithLeeway(o.leeway), token.WithClock(o.now)}
	if o.issuer != "" {
		topts = append(topts, token.WithIssuer(o.issuer))
	}
	if o.audience != "" {
		topts = append(topts, token.WithAudience(o.audience))
	}
	v.tv = token.NewVerifier(keySource{v}, topts...)
	if o.credential != nil {
		v.intro = newIntrospector(base+"/v1/introspect", o.client, o.credential, o.introspectTTL, o.now)
	}
	v.fetchMu.Lock()
	err = v.fetch(ctx)
	v.fetchMu.Unlock()
	if err != nil {
		return nil, err
	}
	return v, nil
}

// Verify checks tok and returns its claims. For a hybrid token (one with a
// sid) it also checks that the session has not been revoked. The error
// wraps valet.ErrTokenExpired for an expired token; valet.ErrTokenInvalid
// for any other refused token, with valet.ErrRevoked for a revoked session
// and token.ErrUnknownKey for a key that valet does not publish (any more);
// and valet.ErrUnavailable when a revocation cannot be checked now.
func (v *Verifier) Verify(ctx context.Context, tok string) (token.Claims, error) {
	now := v.o.now()
	if cur := v.current.Load(); !now.Before(cur.expiry) && v.dueForFetch(now) && v.fetchMu.TryLock() {
		// One caller refreshes keys that are due; the others go on with the
		// keys in hand rather than wait.
		if err := v.fetch(ctx); err != nil {
			v.o.logger.WarnContext(ctx, "verify: refreshing valet's keys failed; using the keys in hand", "err", err)
		}
		v.fetchMu.Unlock()
	}
	var c token.Claims
	before := v.current.Load()
	err := v.tv.Verify(tok, &c)
	if errors.Is(err, token.ErrUnknownKey) {
		// Perhaps valet has rotated its keys: fetch them, unless that was
		// done too recently, and try once more with what came back.
		v.fetchMu.Lock()
		if v.dueForFetch(v.o.now()) {
			if ferr := v.fetch(ctx); ferr != nil {
				v.o.logger.WarnContext(ctx, "verify: fetching valet's keys for an unknown kid failed", "err", ferr)
			}
		}
		v.fetchMu.Unlock()
		if v.current.Load() != before {
			err = v.tv.Verify(tok, &c)
		}
	}
	if err != nil {
		return token.Claims{}, err
	}
	if c.SessionID != "" {
		if err := v.checkSession(ctx, tok, c); err != nil {
			return token.Claims{}, err
		}
	}
	return c, nil
}

// checkSession checks that the session of a hybrid token is not revoked.
func (v *Verifier) checkSession(ctx context.Context, tok string, c token.Claims) error {
	switch {
	case v.o.revocations != nil:
		err := v.o.revocations.Check(ctx, c.SessionID)
		if errors.Is(err, valet.ErrRevoked) {
			return fmt.Errorf("%w: %w", valet.ErrTokenInvalid, err)
		}
		return err
	case v.intro != nil:
		return v.intro.check(ctx, tok, c, v.o.leeway)
	}
	return fmt.Errorf("%w: verify: hybrid tokens need WithRevocations or WithIntrospection", valet.ErrTokenInvalid)
}

// IdentifyBearer returns the caller that tok stands for, as Verify checks
// it, so that a Verifier can stand behind middleware.New. The user has the
// id, email and roles of the token's claims. Errors are those of Verify.
func (v *Verifier) IdentifyBearer(ctx context.Context, tok string) (*valet.Identity, error) {
	c, err := v.Verify(ctx, tok)
	if err != nil {
		return nil, err
	}
	return c.Identity(), nil
}

// Refresh fetches the keys now, whatever the cache says. It returns the
// errors New does; the keys in hand stay in use when it fails.
func (v *Verifier) Refresh(ctx context.Context) error {
	v.fetchMu.Lock()
	defer v.fetchMu.Unlock()
	return v.fetch(ctx)
}

// dueForFetch reports whether the last fetch was long enough ago for another.
func (v *Verifier) dueForFetch(now time.Time) bool {
	return now.UnixNano()-v.lastFetch.Load() >= int64(v.o.minRefetch)
}

// fetch reads the JWKS and swaps it in. v.fetchMu must be held.
func (v *Verifier) fetch(ctx context.Context) error {
	now := v.o.now()
	v.lastFetch.Store(now.UnixNano())
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.o.jwksURL, nil)
	if err != nil {
		return fmt.Errorf("%w: verify: JWKS URL: %v", valet.ErrInvalidRequest, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.o.client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: verify: fetch JWKS: %v", valet.ErrUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: verify: fetch JWKS: status %d", valet.ErrUnavailable, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKS+1))
	if err != nil {
		return fmt.Errorf("%w: verify: read JWKS: %v", valet.ErrUnavailable, err)
	}
	if len(body) > maxJWKS {
		return fmt.Errorf("%w: verify: JWKS larger than %d bytes", valet.ErrInvalidRequest, maxJWKS)
	}
	set, err := token.ParseJWKS(body)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	v.current.Store(&keys{set: set, expiry: now.Add(v.o.cacheTTL)})
	return nil
}
