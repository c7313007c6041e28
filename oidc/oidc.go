// Package oidc is valet's OpenID Connect provider: discovery, the
// authorization code flow with PKCE, the token, userinfo and revocation
// endpoints, RP-initiated logout and back-channel logout.
//
// It depends on the rest of valet only through Config: the clients and
// codes are kept by a valet.ClientStore, the browser's caller comes from an
// Identify function and tokens are signed with valet's own keys through
// Sign. Wiring it into a server is
//
//	p := oidc.New(oidc.Config{Issuer: publicURL, Clients: stores.Clients, ...})
//	mux.Handle("/oauth2/", p.Handler())
//	mux.Handle("/.well-known/openid-configuration", p.Handler())
//
// and a call of p.SessionEnded whenever a device session ends.
//
// Tokens: the authorization code is good once for Config.CodeTTL; the
// access token and the ID token are JWTs, valid until their exp. A request
// with the offline_access scope also gets a rotating refresh token, kept
// (as hashes) in Config.Clients; its family ends when the device session
// it came from is ended (SessionEnded), or at Config.RefreshTTL.
package oidc

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/token"
)

// The scopes the provider knows.
const (
	ScopeOpenID        = "openid"
	ScopeEmail         = "email"
	ScopeProfile       = "profile"
	ScopeOfflineAccess = "offline_access"
	ScopeRoles         = "roles"
)

// knownScopes lists the scopes in the order discovery names them.
var knownScopes = []string{ScopeOpenID, ScopeEmail, ScopeProfile, ScopeOfflineAccess, ScopeRoles}

// BackchannelLogoutEvent is the event type of a back-channel logout token.
const BackchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// UserSource returns a user by id, or an error wrapping valet.ErrNotFound.
// *auth.Service is one.
type UserSource interface {
	User(ctx context.Context, id string) (valet.User, error)
}

// Config is what a Provider needs. Fields marked required make New panic
// when missing.
type Config struct {
	// Issuer is the public URL of valet, without a trailing slash. Required.
	Issuer string
	// Clients keeps the clients, codes, consents and grants. Required.
	Clients valet.ClientStore
	// Identify returns the browser's signed-in caller, by its cookie. A nil
	// identity or an error means not signed in. Required.
	Identify func(*http.Request) (*valet.Identity, error)
	// Users looks up the user of a code or an access token, so that the
	// claims are those of now. Required.
	Users UserSource
	// Sign signs claims with valet's current key (auth.Service.SignClaims).
	// Required.
	Sign func(*token.Claims) (string, error)
	// SignAs signs claims with valet's key of an algorithm
	// (auth.Service.SignClaimsAs): the ID and logout tokens of a client
	// whose IDTokenAlg is set. When nil, such a client is refused at the
	// token endpoint, since its ID tokens cannot be made.
	SignAs func(c *token.Claims, alg string) (string, error)
	// JWKS returns valet's public keys (auth.Service.JWKS). Required.
	JWKS func() []byte
	// Verify checks a token signed by Sign and sets the claims, as
	// token.Verifier.Verify does. The default is a verifier over the keys of
	// JWKS, parsed again when the document changes.
	Verify func(tok string, c *token.Claims) error
	// EndSession ends the valet session of the browser making r (RP-initiated
	// logout); the default does nothing.
	EndSession func(ctx context.Context, r *http.Request, w http.ResponseWriter) error
	// RevokeToken refuses the access token whose jti is id until until, on
	// every node, and TokenRevoked reports whether it is refused (an error
	// counts as refused: the check fails closed). They carry the
	// revocations of /oauth2/revoke and those of a replayed code. When
	// nil, both keep the refused tokens in this process's memory, which
	// suits one node.
	RevokeToken  func(ctx context.Context, id string, until time.Time) error
	TokenRevoked func(ctx context.Context, id string) error
	// EndSessionByID ends device session sid of userID: RP-initiated
	// logout without the browser, as an application's server sends it
	// (oauth2-proxy's --backend-logout-url), with an id_token_hint that
	// names the session. A session that is gone already is no error. When
	// nil, such a request ends nothing and says so.
	EndSessionByID func(ctx context.Context, userID, sid string) error
	// LoginURL is the sign-in page, which follows its return_to parameter
	// back to the authorize URL; the default is "/". The page must offer
	// sign-in even to a caller who is signed in already: prompt=login,
	// max_age and acr_values send such callers there.
	LoginURL string
	// ConsentURL is where ConsentHandler is served; the default is
	// "/oauth2/consent". Handler serves it too.
	ConsentURL string
	// Now is the clock; the default is time.Now.
	Now func() time.Time
	// Logger gets the failures of stores and of back-channel logout; the
	// default is slog.Default().
	Logger *slog.Logger
	// CodeTTL is the lifetime of an authorization code; the default is 60 s.
	CodeTTL time.Duration
	// AccessTTL is the lifetime of an access token when the client sets
	// none; the default is 15 min.
	AccessTTL time.Duration
	// IDTokenTTL is the lifetime of an ID token; the default is 15 min.
	IDTokenTTL time.Duration
	// GrantTTL is how long a client grant is kept when the session's end is
	// unknown; the default is 30 days.
	GrantTTL time.Duration
	// RefreshTTL is the absolute lifetime of a refresh-token family when
	// the client sets none; the default is 30 days. A family outlives the
	// expiry of the session it came from (offline_access), not its end: a
	// sign-out, or any other way the session is ended, ends it.
	RefreshTTL time.Duration
	// HTTPClient sends back-channel logout tokens; the default is a client
	// with a 5 s timeout that follows no redirects.
	HTTPClient *http.Client
	// LogoutRetries is how many times a failed back-channel logout is tried
	// again, with a growing pause (1 s, 2 s, 4 s...); the default is 3.
	LogoutRetries int
}

// Provider is an OpenID Connect provider. It is safe for concurrent use.
// Its only goroutines are the deliveries of back-channel logout tokens,
// which Close waits for.
type Provider struct {
	cfg Config

	verifyMu   sync.Mutex
	verifyJWKS []byte
	verifier   *token.Verifier

	// revoked holds the jti of access tokens refused before their exp (the
	// tokens issued for a replayed code, and those given to /oauth2/revoke)
	// when Config.RevokeToken is nil.
	revokedMu sync.Mutex
	revoked   map[string]time.Time
	lastSweep time.Time

	handler func() http.Handler

	wg       sync.WaitGroup
	closing  chan struct{}
	closeOne sync.Once
}

// New returns a Provider for cfg, with the defaults filled in. It starts
// nothing. It panics when a required field is missing.
func New(cfg Config) *Provider {
	switch {
	case cfg.Issuer == "":
		panic("oidc: New: no Issuer")
	case cfg.Clients == nil:
		panic("oidc: New: no Clients")
	case cfg.Identify == nil:
		panic("oidc: New: no Identify")
	case cfg.Users == nil:
		panic("oidc: New: no Users")
	case cfg.Sign == nil:
		panic("oidc: New: no Sign")
	case cfg.JWKS == nil:
		panic("oidc: New: no JWKS")
	}
	cfg.Issuer = strings.TrimSuffix(cfg.Issuer, "/")
	if cfg.LoginURL == "" {
		cfg.LoginURL = "/"
	}
	if cfg.ConsentURL == "" {
		cfg.ConsentURL = "/oauth2/consent"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.CodeTTL <= 0 {
		cfg.CodeTTL = 60 * time.Second
	}
	if cfg.AccessTTL <= 0 {
		cfg.AccessTTL = 15 * time.Minute
	}
	if cfg.IDTokenTTL <= 0 {
		cfg.IDTokenTTL = 15 * time.Minute
	}
	if cfg.GrantTTL <= 0 {
		cfg.GrantTTL = 30 * 24 * time.Hour
	}
	if cfg.RefreshTTL <= 0 {
		cfg.RefreshTTL = 30 * 24 * time.Hour
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{
			Timeout: 5 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	if cfg.LogoutRetries <= 0 {
		cfg.LogoutRetries = 3
	}
	p := &Provider{
		cfg:     cfg,
		revoked: make(map[string]time.Time),
		closing: make(chan struct{}),
	}
	p.handler = sync.OnceValue(p.newHandler)
	return p
}

// Close stops the retries of back-channel logout deliveries and waits for
// the deliveries under way. It returns nil.
func (p *Provider) Close() error {
	p.closeOne.Do(func() { close(p.closing) })
	p.wg.Wait()
	return nil
}

// Handler returns the handler of the provider's routes:
//
//	GET  /.well-known/openid-configuration
//	GET  /.well-known/jwks.json
//	GET, POST /oauth2/authorize
//	POST /oauth2/token
//	GET, POST /oauth2/userinfo
//	POST /oauth2/revoke
//	GET, POST /oauth2/logout
//	GET, POST ConsentURL (ConsentHandler), when it is a path
//
// The endpoints that read no cookie (discovery, keys, token, userinfo,
// revocation) answer scripts of any origin (CORS). Every call returns the
// same handler.
func (p *Provider) Handler() http.Handler { return p.handler() }

func (p *Provider) newHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/.well-known/openid-configuration", cors(p.discovery))
	mux.Handle("/.well-known/jwks.json", cors(p.jwks))
	mux.HandleFunc("/oauth2/authorize", p.authorize)
	mux.Handle("/oauth2/token", cors(p.tokenEndpoint))
	mux.Handle("/oauth2/userinfo", cors(p.userinfo))
	mux.Handle("/oauth2/revoke", cors(p.revoke))
	mux.HandleFunc("/oauth2/logout", p.logout)
	if strings.HasPrefix(p.cfg.ConsentURL, "/") {
		mux.Handle(p.cfg.ConsentURL, p.ConsentHandler())
	}
	return mux
}

func (p *Provider) now() time.Time { return p.cfg.Now() }

// cors lets the scripts of any origin call h, as a single-page app (a
// public client) must call the token endpoint. It is safe because these
// endpoints read no cookie: a caller proves itself with what it sends.
// Anything but GET, HEAD and POST, preflight included, ends here.
func cors(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		hdr.Set("Access-Control-Allow-Origin", "*")
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodPost:
			h(w, r)
		case http.MethodOptions:
			hdr.Set("Access-Control-Allow-Methods", "GET, POST")
			hdr.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
			hdr.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
		default:
			hdr.Set("Allow", "GET, POST")
			writeError(w, oerr(errInvalidRequest, "This endpoint takes GET and POST."))
		}
	})
}

// signFor signs the ID or logout token c for client: with the algorithm
// the client asked for, if any, else with valet's signing key.
func (p *Provider) signFor(client *valet.Client, c *token.Claims) (string, error) {
	if client.IDTokenAlg == "" {
		return p.cfg.Sign(c)
	}
	if p.cfg.SignAs == nil {
		return "", fmt.Errorf("oidc: client %s wants %s ID tokens, and the provider has no Config.SignAs", client.ID, client.IDTokenAlg)
	}
	return p.cfg.SignAs(c, client.IDTokenAlg)
}

// signingAlgs returns the algorithms of the keys of the JWKS, the signing
// key's first, or EdDSA when it cannot be read.
func (p *Provider) signingAlgs() []string {
	var doc struct {
		Keys []struct {
			Alg string `json:"alg"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(p.cfg.JWKS(), &doc); err != nil || len(doc.Keys) == 0 || doc.Keys[0].Alg == "" {
		return []string{token.EdDSA}
	}
	var algs []string
	for _, k := range doc.Keys {
		if k.Alg != "" && !slices.Contains(algs, k.Alg) {
			algs = append(algs, k.Alg)
		}
	}
	return algs
}

func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET")
		writeError(w, oerr(errInvalidRequest, "This address takes GET."))
		return
	}
	iss := p.cfg.Issuer
	grants := []string{"authorization_code", "refresh_token", "client_credentials"}
	doc := map[string]any{
		"issuer":                                     iss,
		"authorization_endpoint":                     iss + "/oauth2/authorize",
		"token_endpoint":                             iss + "/oauth2/token",
		"userinfo_endpoint":                          iss + "/oauth2/userinfo",
		"jwks_uri":                                   iss + "/.well-known/jwks.json",
		"revocation_endpoint":                        iss + "/oauth2/revoke",
		"end_session_endpoint":                       iss + "/oauth2/logout",
		"response_types_supported":                   []string{"code"},
		"response_modes_supported":                   []string{"query"},
		"grant_types_supported":                      grants,
		"subject_types_supported":                    []string{"public"},
		"id_token_signing_alg_values_supported":      p.signingAlgs(),
		"scopes_supported":                           knownScopes,
		"token_endpoint_auth_methods_supported":      []string{"client_secret_basic", "client_secret_post", "none"},
		"revocation_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post", "none"},
		"code_challenge_methods_supported":           []string{"S256"},
		"claims_supported": []string{
			"iss", "sub", "aud", "azp", "exp", "iat", "auth_time", "nonce", "amr", "sid",
			"email", "email_verified", "roles",
		},
		"prompt_values_supported":                          []string{"none", "login", "consent"},
		"authorization_response_iss_parameter_supported":   true,
		"request_parameter_supported":                      false,
		"request_uri_parameter_supported":                  false,
		"claims_parameter_supported":                       false,
		"backchannel_logout_supported":                     true,
		"backchannel_logout_session_supported":             true,
		"frontchannel_logout_supported":                    false,
		"require_request_uri_registration":                 false,
		"tls_client_certificate_bound_access_tokens":       false,
		"id_token_encryption_alg_values_supported":         []string{},
		"userinfo_signing_alg_values_supported":            []string{},
		"request_object_signing_alg_values_supported":      []string{},
		"token_endpoint_auth_signing_alg_values_supported": []string{},
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, doc)
}

func (p *Provider) jwks(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET")
		writeError(w, oerr(errInvalidRequest, "This address takes GET."))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(p.cfg.JWKS())
}

// verify checks a token signed with valet's keys and issued by this
// provider.
func (p *Provider) verify(tok string, c *token.Claims) error {
	var err error
	if p.cfg.Verify != nil {
		err = p.cfg.Verify(tok, c)
	} else {
		var v *token.Verifier
		v, err = p.defaultVerifier()
		if err == nil {
			err = v.Verify(tok, c)
		}
	}
	if err != nil {
		return err
	}
	if c.Issuer != p.cfg.Issuer {
		return token.ErrIssuer
	}
	return nil
}

func (p *Provider) defaultVerifier() (*token.Verifier, error) {
	doc := p.cfg.JWKS()
	p.verifyMu.Lock()
	defer p.verifyMu.Unlock()
	if p.verifier != nil && string(doc) == string(p.verifyJWKS) {
		return p.verifier, nil
	}
	set, err := token.ParseJWKS(doc)
	if err != nil {
		return nil, err
	}
	p.verifier = token.NewVerifier(set, token.WithIssuer(p.cfg.Issuer), token.WithClock(p.cfg.Now))
	p.verifyJWKS = doc
	return p.verifier, nil
}

// revokeToken refuses the access token jti until exp, on every node when
// Config.RevokeToken says how.
func (p *Provider) revokeToken(ctx context.Context, jti string, exp time.Time) error {
	if p.cfg.RevokeToken != nil {
		return p.cfg.RevokeToken(ctx, jti, exp)
	}
	p.revokedMu.Lock()
	defer p.revokedMu.Unlock()
	p.sweepLocked()
	p.revoked[jti] = exp
	return nil
}

// tokenRevoked reports whether the access token jti is refused.
func (p *Provider) tokenRevoked(ctx context.Context, jti string) bool {
	if p.cfg.TokenRevoked != nil {
		return p.cfg.TokenRevoked(ctx, jti) != nil
	}
	p.revokedMu.Lock()
	defer p.revokedMu.Unlock()
	_, ok := p.revoked[jti]
	return ok
}

// sweepLocked forgets the revocations that have expired, at most once
// every ten seconds, so that a busy provider does not walk the map on
// every request.
func (p *Provider) sweepLocked() {
	now := p.now()
	if now.Sub(p.lastSweep) < 10*time.Second && now.After(p.lastSweep) {
		return
	}
	p.lastSweep = now
	for k, exp := range p.revoked {
		if now.After(exp) {
			delete(p.revoked, k)
		}
	}
}

// clientByID returns the client id, or found false.
func (p *Provider) clientByID(ctx context.Context, id string) (valet.Client, bool, error) {
	if id == "" || len(id) > maxIDLen || id == ReservedClientID {
		return valet.Client{}, false, nil
	}
	c, err := p.cfg.Clients.ClientByID(ctx, id)
	if errors.Is(err, valet.ErrNotFound) {
		return valet.Client{}, false, nil
	}
	if err != nil {
		return valet.Client{}, false, err
	}
	return c, true, nil
}

// secretMatches compares the hash of secret with the client's in constant
// time.
func secretMatches(c *valet.Client, secret string) bool {
	if c.SecretHash == "" || secret == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(valet.HashSecret(secret)), []byte(c.SecretHash)) == 1
}

// Limits on request parameters. A request beyond them is refused with
// invalid_request before any store is asked.
const (
	maxIDLen    = 256
	maxParamLen = 2048
	maxBodySize = 64 << 10
)
