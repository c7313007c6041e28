// Package auth is valet's engine: signup, login in the three modes, refresh
// with rotation and reuse detection, identification of a caller from a
// cookie or a bearer token, sessions per device, password change and the
// administration of users. The JSON API (httpapi), the pages (web) and the
// middleware are thin layers over a Service.
package auth

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/password"
	"github.com/valetauth/valet/revoke"
	"github.com/valetauth/valet/session"
	"github.com/valetauth/valet/token"
)

// Revoker keeps the set of revoked hybrid sessions and spreads it to every
// node. *revoke.Node implements it.
type Revoker interface {
	// Revoke records that tokens naming r.SessionID are refused until r.Until.
	Revoke(ctx context.Context, r valet.Revocation) error
	// Check returns an error wrapping valet.ErrRevoked for a revoked sid, or
	// valet.ErrUnavailable when it cannot tell.
	Check(ctx context.Context, sid string) error
}

// Throttle limits how often a client may try to log in, sign up or
// refresh. Each method returns nil to go on, an error wrapping
// valet.ErrRateLimited to refuse (it may have a RetryAfter() time.Duration
// method that says how long to wait), or one wrapping valet.ErrUnavailable
// when its counters cannot be reached. account is the normalized email (the
// trimmed, lower-cased input when it is not a valid email), the same whether
// or not the account exists. *throttle.Guard implements it.
type Throttle interface {
	// Login is called before a password is checked.
	Login(ctx context.Context, account, ip string) error
	// LoginFailed is called after a password did not match.
	LoginFailed(ctx context.Context, account, ip string) error
	// LoginSucceeded is called after a password matched.
	LoginSucceeded(ctx context.Context, account, ip string) error
	// Signup is called before an account is created by signup.
	Signup(ctx context.Context, ip string) error
	// Refresh is called before a refresh token is rotated.
	Refresh(ctx context.Context, ip string) error
}

// Config configures a Service. Zero fields take the defaults named.
type Config struct {
	// Stores: Users, Sessions, Keys and Secrets are required; Refresh is
	// required for token and hybrid logins; Revocations for hybrid.
	Stores valet.Stores
	// Hasher hashes passwords. Default: password.NewHasher with its defaults.
	Hasher *password.Hasher
	// Mode is used for a login that names none. Default ModeSession.
	Mode valet.Mode
	// Session holds the session lifetimes (7 days absolute, 24 h idle).
	Session session.Config
	// AccessTTL is the lifetime of an access token. Default 15 minutes.
	AccessTTL time.Duration
	// RefreshGrace is how long a used refresh token still returns the same
	// successor (concurrent tabs). Default 10 seconds.
	RefreshGrace time.Duration
	// RefreshLifetime is the absolute lifetime of a refresh family. Default 30 days.
	RefreshLifetime time.Duration
	// RefreshIdle ends a refresh family not used for this long. Default 7 days.
	RefreshIdle time.Duration
	// Issuer is the tokens' iss. Default "valet".
	Issuer string
	// Audience is the tokens' aud. Default "valet".
	Audience string
	// Leeway is the clock skew allowed on nbf/iat/exp. Default 30 seconds.
	Leeway time.Duration
	// Alg is the algorithm of new signing keys. Default EdDSA.
	Alg string
	// Revoker spreads hybrid revocations. Default: an in-process revoke.Node.
	Revoker Revoker
	// TokenCache is how many verified access tokens are remembered (by
	// their hash, for at most a minute and never past their exp), so that
	// a token presented again skips the signature check. Default 16384;
	// negative turns the cache off.
	TokenCache int
	// Throttle limits logins, password checks, signups and refreshes.
	// Default nil: no limits.
	Throttle Throttle
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives audit events and errors. Default slog.Default().
	Logger *slog.Logger
}

// Service is the engine. It is safe for concurrent use.
type Service struct {
	cfg      Config
	users    valet.UserStore
	sessions *session.Manager
	refresh  valet.RefreshStore
	keys     *token.Manager
	verifier *token.Verifier
	revoker  Revoker
	hasher   *password.Hasher
	seal     cipher.AEAD
	log      *slog.Logger
	tokens   *tokenCache // nil when Config.TokenCache is negative
}

// New checks cfg, loads (or on first start creates) the server's master
// secret and signing keys, and returns a Service.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Stores.Users == nil || cfg.Stores.Sessions == nil || cfg.Stores.Keys == nil || cfg.Stores.Secrets == nil {
		return nil, errors.New("auth: Stores.Users, Sessions, Keys and Secrets are required")
	}
	setDefaults(&cfg)
	master := make([]byte, 32)
	if _, err := rand.Read(master); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	master, err := cfg.Stores.Secrets.EnsureSecret(ctx, "master", master)
	if err != nil {
		return nil, fmt.Errorf("auth: load master secret: %w", err)
	}
	if len(master) < 32 {
		return nil, errors.New("auth: stored master secret is shorter than 32 bytes")
	}
	cookieKey, err := hkdf.Key(sha256.New, master, nil, "valet cookie hmac v1", 32)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	sealKey, err := hkdf.Key(sha256.New, master, nil, "valet seal v1", 32)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	block, err := aes.NewCipher(sealKey)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	keys := token.NewManager(cfg.Stores.Keys, aead, token.ManagerConfig{
		Alg: cfg.Alg, TokenTTL: cfg.AccessTTL, Leeway: cfg.Leeway, Now: cfg.Now,
	})
	if err := keys.Load(ctx); err != nil {
		return nil, fmt.Errorf("auth: load signing keys: %w", err)
	}
	s := &Service{
		cfg:      cfg,
		users:    cfg.Stores.Users,
		sessions: session.NewManager(cfg.Stores.Sessions, session.NewCodec(cookieKey), cfg.Session),
		refresh:  cfg.Stores.Refresh,
		keys:     keys,
		verifier: token.NewVerifier(keys,
			token.WithLeeway(cfg.Leeway), token.WithIssuer(cfg.Issuer),
			token.WithAudience(cfg.Audience), token.WithClock(cfg.Now)),
		revoker: cfg.Revoker,
		hasher:  cfg.Hasher,
		seal:    aead,
		log:     cfg.Logger,
	}
	if cfg.TokenCache > 0 {
		s.tokens = newTokenCache(cfg.TokenCache)
	}
	if s.revoker == nil && cfg.Stores.Revocations != nil {
		n := revoke.NewNode(revoke.Config{
			Store: cfg.Stores.Revocations, Transport: revoke.NewLocal(),
			Sessions: cfg.Stores.Sessions, Now: cfg.Now, Logger: cfg.Logger,
		})
		if err := n.Start(ctx); err != nil {
			return nil, fmt.Errorf("auth: start revocation set: %w", err)
		}
		s.revoker = n
	}
	return s, nil
}

func setDefaults(c *Config) {
	if c.Hasher == nil {
		c.Hasher = password.NewHasher(password.Params{}, 0, 0)
	}
	if c.Mode == "" {
		c.Mode = valet.ModeSession
	}
	if c.AccessTTL <= 0 {
		c.AccessTTL = 15 * time.Minute
	}
	if c.RefreshGrace <= 0 {
		c.RefreshGrace = 10 * time.Second
	}
	if c.RefreshLifetime <= 0 {
		c.RefreshLifetime = 30 * 24 * time.Hour
	}
	if c.RefreshIdle <= 0 {
		c.RefreshIdle = 7 * 24 * time.Hour
	}
	if c.Issuer == "" {
		c.Issuer = "valet"
	}
	if c.Audience == "" {
		c.Audience = "valet"
	}
	if c.Leeway <= 0 {
		c.Leeway = 30 * time.Second
	}
	if c.Alg == "" {
		c.Alg = token.EdDSA
	}
	if c.TokenCache == 0 {
		c.TokenCache = 16384
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Session.Now == nil {
		c.Session.Now = c.Now
	}
}

// Config returns the service's settings with defaults filled in.
func (s *Service) Config() Config { return s.cfg }

// Sessions returns the session manager (its cookie codec and lifetimes).
func (s *Service) Sessions() *session.Manager { return s.sessions }

// Keys returns the signing-key manager (JWKS, rotation).
func (s *Service) Keys() *token.Manager { return s.keys }

// Verifier returns the access-token verifier.
func (s *Service) Verifier() *token.Verifier { return s.verifier }

// Hasher returns the password hasher.
func (s *Service) Hasher() *password.Hasher { return s.hasher }

// Users returns the user store.
func (s *Service) Users() valet.UserStore { return s.users }

// newShortID returns 16 random bytes, base64url: for user ids and jti.
func newShortID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("auth: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}
