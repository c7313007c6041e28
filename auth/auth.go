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
	"github.com/valetauth/valet/passkey"
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
	// Mail is called before a mail that a request asks for (verification,
	// recovery, email change) is sent to account.
	Mail(ctx context.Context, account, ip string) error
	// Code is called before a one-time code for account, or a link token
	// (account empty), is checked. It is kept apart from the password
	// checks: guessing codes spends none of an account's logins.
	Code(ctx context.Context, account, ip string) error
	// Factor is called before a second factor of account (a user id) is
	// checked, and before a passkey sign-in (account empty). It is kept
	// apart from the password checks too.
	Factor(ctx context.Context, account, ip string) error
	// FactorSucceeded is called after a second factor of account (a user
	// id) was right: the limit is on wrong ones.
	FactorSucceeded(ctx context.Context, account string) error
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
	// PasswordPolicy is the set of rules that every new password (signup,
	// CreateUser, ChangePassword) must follow, checked with the account's
	// email, the site name "valet" and, for a change, the current password.
	// The zero Policy is password's default.
	PasswordPolicy password.Policy
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
	// IDTokenAlgs are algorithms, besides Alg, that the service keeps a key
	// of for SignClaimsAs: the ID tokens of OpenID clients that want their
	// own (many applications only check RS256). Each key sits in
	// Stores.Keys beside the signing keys, is published by JWKS, and is
	// rotated with them; none signs an access token, and the API's
	// verifier accepts none. EdDSA, ES256 or RS256.
	IDTokenAlgs []string
	// Revoker spreads hybrid revocations. Default: an in-process revoke.Node,
	// which the Service then owns and Close stops. A Revoker given here is
	// the caller's to stop.
	Revoker Revoker
	// KeyReload is how often the signing keys are read again from the
	// store, so that a rotation made by the CLI or on another node reaches
	// this node. Default 1 second; negative turns reloading off.
	KeyReload time.Duration
	// TokenCache is how many verified access tokens are remembered (found
	// by their exact bytes, for at most a minute and never past their
	// exp), so that a token presented again skips the signature check;
	// each takes about 1 KB (17 MB at the default). Default 16384;
	// negative turns the cache off.
	TokenCache int
	// UserCache is how many users are kept in memory for session requests,
	// exact through the news of changed users that Revoker carries (see
	// UserWatcher); without such a Revoker there is no cache. Default
	// 100000; negative turns it off.
	UserCache int
	// SessionCache is how many session records are kept in memory for
	// cookie requests, each for at most 30 seconds, under the rules of
	// hybrid mode: used only while the revocation channel is healthy, and
	// every ended session refused through the revocation set first. It
	// needs a Revoker that is a UserWatcher. Default 100000; negative turns
	// it off.
	SessionCache int
	// Throttle limits logins, password checks, signups, refreshes, mail
	// and one-time codes. Default nil: no limits.
	Throttle Throttle
	// Mail is how the service sends mail: verification, recovery, email
	// change. Default: none is sent (see MailConfig).
	Mail MailConfig
	// RequireVerifiedEmail refuses the sign-in of an account whose email
	// is not verified, with valet.ErrEmailUnverified, once its password
	// has been checked. Default false.
	RequireVerifiedEmail bool
	// MFA says who must have a second factor. Default: no one.
	MFA MFAPolicy
	// ReauthWindow is how recent a sign-in must be for a sensitive change
	// (adding or removing a factor, the password, the email, ending all
	// sessions). Default 10 minutes.
	ReauthWindow time.Duration
	// Passkeys is the WebAuthn relying party. Default nil: no passkeys.
	Passkeys *passkey.RP
	// TOTPIssuer names the site in authenticator apps. Default "valet".
	TOTPIssuer string
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// SessionEnded, when not nil, is called once for every device session
	// that ends by a sign-out, a revocation, a withdrawal of the account
	// (disable, delete, password change, recovery, second-factor reset) or
	// a refresh token's reuse, after the session is deleted from the store.
	// It runs in the request that ended the session, so it must not wait on
	// the network: oidc.Provider.SessionEnded sends its back-channel logout
	// tokens in the background. Sessions that expire are not told. Default
	// nil.
	SessionEnded func(ctx context.Context, userID, sid string)
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
	// idKeys are the managers of Config.IDTokenAlgs, by algorithm.
	idKeys   map[string]*token.Manager
	verifier *token.Verifier
	revoker  Revoker
	hasher   *password.Hasher
	seal     cipher.AEAD
	// factorSeal seals TOTP secrets and pending sign-ins.
	factorSeal cipher.AEAD
	passkeys   *passkey.RP
	log        *slog.Logger
	tokens     *tokenCache // nil when Config.TokenCache is negative
	// mail is nil when Config.Mail.Sender is nil.
	mail *mailer
	// userCache is nil without a UserWatcher or when Config.UserCache is
	// negative; watcher is then nil too.
	userCache *userCache
	watcher   UserWatcher
	// sessionCache is nil without a UserWatcher or when
	// Config.SessionCache is negative.
	sessionCache *sessionCache

	// stop ends the goroutines New started; done closes when they have.
	stop    context.CancelFunc
	done    chan struct{}
	ownNode *revoke.Node
}

// New checks cfg, loads (or on first start creates) the server's master
// secret and signing keys, and returns a Service. The Service reloads its
// keys in the background (Config.KeyReload) until Close.
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
	aead, err := sealer(master, "valet seal v1")
	if err != nil {
		return nil, err
	}
	factorSeal, err := sealer(master, "valet factor v1")
	if err != nil {
		return nil, err
	}
	idKeys, keyStore, err := newIDKeys(&cfg, aead)
	if err != nil {
		return nil, err
	}
	keys := token.NewManager(keyStore, aead, token.ManagerConfig{
		Alg: cfg.Alg, TokenTTL: cfg.AccessTTL, Leeway: cfg.Leeway, Now: cfg.Now,
	})
	if err := keys.Load(ctx); err != nil {
		return nil, fmt.Errorf("auth: load signing keys: %w", err)
	}
	if err := loadIDKeys(ctx, idKeys); err != nil {
		return nil, err
	}
	s := &Service{
		cfg:      cfg,
		users:    cfg.Stores.Users,
		sessions: session.NewManager(cfg.Stores.Sessions, session.NewCodec(cookieKey), cfg.Session),
		refresh:  cfg.Stores.Refresh,
		keys:     keys,
		idKeys:   idKeys,
		verifier: token.NewVerifier(keys,
			token.WithLeeway(cfg.Leeway), token.WithIssuer(cfg.Issuer),
			token.WithAudience(cfg.Audience), token.WithClock(cfg.Now)),
		revoker: cfg.Revoker,
		hasher:  cfg.Hasher,
		seal:    aead,
		log:     cfg.Logger,

		factorSeal: factorSeal,
		passkeys:   cfg.Passkeys,
	}
	if cfg.TokenCache > 0 {
		s.tokens = newTokenCache(cfg.TokenCache)
	}
	if cfg.Mail.Sender != nil {
		if s.mail, err = newMailer(cfg, master); err != nil {
			return nil, err
		}
	}
	if s.revoker == nil && cfg.Stores.Revocations != nil {
		n := revoke.NewNode(revoke.Config{
			Store: cfg.Stores.Revocations, Transport: revoke.NewLocal(),
			Sessions: cfg.Stores.Sessions, Now: cfg.Now, Logger: cfg.Logger,
		})
		if err := n.Start(ctx); err != nil {
			return nil, fmt.Errorf("auth: start revocation set: %w", err)
		}
		s.revoker, s.ownNode = n, n
	}
	if w, ok := s.revoker.(UserWatcher); ok && (cfg.UserCache > 0 || cfg.SessionCache > 0) {
		s.watcher = w
		if cfg.UserCache > 0 {
			s.userCache = newUserCache(cfg.UserCache)
		}
		if cfg.SessionCache > 0 {
			s.sessionCache = newSessionCache(cfg.SessionCache)
		}
		w.WatchUsers(func(id string) {
			if s.userCache != nil {
				s.userCache.forget(id)
			}
			if id == "" && s.sessionCache != nil {
				s.sessionCache.forget("")
			}
		})
	}
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stop, s.done = stop, make(chan struct{})
	go s.reloadKeys(bg)
	return s, nil
}

// reloadKeys reads the signing keys again every KeyReload until ctx ends.
func (s *Service) reloadKeys(ctx context.Context) {
	defer close(s.done)
	if s.cfg.KeyReload < 0 {
		return
	}
	t := time.NewTicker(s.cfg.KeyReload)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		lctx, cancel := context.WithTimeout(ctx, max(s.cfg.KeyReload, 2*time.Second))
		err := s.keys.Load(lctx)
		if err == nil {
			err = s.idKeysDo(func(m *token.Manager) error { return m.Load(lctx) })
		}
		cancel()
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			// Once per outage, not once a second.
			s.log.Warn("reloading signing keys failed; the current keys stay in use", "err", err)
			failing = true
		case err == nil && failing:
			s.log.Info("reloading signing keys works again")
			failing = false
		}
	}
}

// Close stops the Service's background work (the key reloader, and the
// revocation node it made when Config.Revoker was nil) and waits for it.
// Requests under way may still complete; new ones should not be sent.
func (s *Service) Close() error {
	s.stop()
	<-s.done
	if s.ownNode != nil {
		return s.ownNode.Close()
	}
	return nil
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
	if c.UserCache == 0 {
		c.UserCache = 100000
	}
	if c.SessionCache == 0 {
		c.SessionCache = 100000
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.ReauthWindow <= 0 {
		c.ReauthWindow = 10 * time.Minute
	}
	if c.TOTPIssuer == "" {
		c.TOTPIssuer = "valet"
	}
	if c.KeyReload == 0 {
		c.KeyReload = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Session.Now == nil {
		c.Session.Now = c.Now
	}
	c.Mail.setDefaults()
	// A token-mode login's device session lives as long as its family.
	if c.Session.TokenLifetime <= 0 {
		c.Session.TokenLifetime = c.RefreshLifetime
	}
	if c.Session.TokenIdleTimeout <= 0 {
		c.Session.TokenIdleTimeout = c.RefreshIdle
	}
}

// Settings are the service's settings that the layers above it show:
// never its stores, so that no layer can bypass the engine.
type Settings struct {
	// Mode is the mode of a login that names none.
	Mode valet.Mode
	// AccessTTL is the lifetime of an access token.
	AccessTTL time.Duration
	// Now is the service's clock.
	Now func() time.Time
	// Mail reports whether the service sends mail, and so offers
	// verification, recovery and email change.
	Mail bool
	// VerifyTTL and RecoveryTTL are how long the links and codes of
	// verification (and email change) and of recovery stay valid.
	VerifyTTL, RecoveryTTL time.Duration
	// RequireVerifiedEmail is Config's.
	RequireVerifiedEmail bool
	// Passkeys reports whether the service takes passkeys (Config.Passkeys).
	Passkeys bool
}

// Settings returns the service's settings with defaults filled in.
func (s *Service) Settings() Settings {
	return Settings{
		Mode: s.cfg.Mode, AccessTTL: s.cfg.AccessTTL, Now: s.cfg.Now, Mail: s.mail != nil,
		VerifyTTL: s.cfg.Mail.VerifyTTL, RecoveryTTL: s.cfg.Mail.RecoveryTTL,
		RequireVerifiedEmail: s.cfg.RequireVerifiedEmail,
		Passkeys:             s.passkeys != nil,
	}
}

// User returns user id. The error wraps valet.ErrNotFound when there is none.
func (s *Service) User(ctx context.Context, id string) (valet.User, error) {
	return s.userByID(ctx, id)
}

// UserByEmail returns the user with email (normalized first). The error
// wraps valet.ErrNotFound when there is none, or ErrInvalidEmail.
func (s *Service) UserByEmail(ctx context.Context, email string) (valet.User, error) {
	e, err := NormalizeEmail(email)
	if err != nil {
		return valet.User{}, err
	}
	return s.users.UserByEmail(ctx, e)
}

// Session returns session sid of user userID. found is false when it has
// ended or is another user's.
func (s *Service) Session(ctx context.Context, userID, sid string) (sess valet.Session, found bool, err error) {
	sess, found, err = s.sessions.Store().Session(ctx, sid)
	if err != nil || !found || sess.UserID != userID || sess.Expired(s.cfg.Now()) {
		return valet.Session{}, false, err
	}
	return sess, true, nil
}

// Revoker returns what spreads the service's revocations to every node
// (Config.Revoker, or the node the service made), or nil when the stores
// keep no revocations.
func (s *Service) Revoker() Revoker { return s.revoker }

// JWKS returns the public keys that verify access tokens, and those of
// Config.IDTokenAlgs, as a JWK set.
func (s *Service) JWKS() []byte {
	if len(s.idKeys) == 0 {
		return s.keys.KeySet().JWKS()
	}
	return s.jwks()
}

// RotateKeys makes a new signing key (the previous one verifies until its
// tokens expire), prunes keys whose tokens have all expired, and returns
// the new key.
func (s *Service) RotateKeys(ctx context.Context) (*token.Key, error) {
	k, err := s.keys.Rotate(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s.keys.Prune(ctx); err != nil {
		return nil, err
	}
	err = s.idKeysDo(func(m *token.Manager) error {
		if _, err := m.Rotate(ctx); err != nil {
			return err
		}
		_, err := m.Prune(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "audit", "event", "keys_rotated", "kid", k.ID())
	return k, nil
}

// PruneKeys deletes the retired keys whose tokens have all expired and
// returns how many it deleted.
func (s *Service) PruneKeys(ctx context.Context) (int, error) {
	n, err := s.keys.Prune(ctx)
	if err != nil {
		return n, err
	}
	err = s.idKeysDo(func(m *token.Manager) error {
		more, err := m.Prune(ctx)
		n += more
		return err
	})
	return n, err
}

// SignClaims signs c with the current signing key, as it stands: the
// caller vouches for every claim. It is for tools and tests that need a
// token of a given shape; logins mint their own.
func (s *Service) SignClaims(c *token.Claims) (string, error) { return s.keys.KeySet().Sign(c) }

// ListKeys returns the stored signing keys, newest first.
func (s *Service) ListKeys(ctx context.Context) ([]token.KeyInfo, error) {
	if len(s.idKeys) == 0 {
		return s.keys.List(ctx)
	}
	return s.listAllKeys(ctx)
}

// HashParams returns the argon2id parameters of new password hashes.
func (s *Service) HashParams() password.Params { return s.hasher.Params() }

// newShortID returns 16 random bytes, base64url: for user ids and jti.
func newShortID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("auth: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// sealer returns AES-256-GCM under the key that HKDF-SHA256 derives from
// master for info: each use of the master secret has a key of its own.
func sealer(master []byte, info string) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, master, nil, info, 32)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	seal, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return seal, nil
}
