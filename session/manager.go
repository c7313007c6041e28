package session

import (
	"context"
	"fmt"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/credmemo"
)

// ErrNoSession is returned (wrapping valet.ErrUnauthenticated) when the
// session named by a valid cookie is gone or has expired.
var ErrNoSession = valet.Errorf(valet.ErrUnauthenticated, "Session ended.")

// Config holds the session lifetimes. Zero fields take their defaults.
type Config struct {
	// Lifetime is the absolute lifetime of a session. Default 7 days.
	Lifetime time.Duration
	// IdleTimeout ends a session that has not been seen for this long.
	// Default 24 hours.
	IdleTimeout time.Duration
	// TokenLifetime and TokenIdleTimeout are the lifetimes of the device
	// session of a token-mode login, which no request reads: it follows
	// its refresh family, so they should be the family's lifetimes.
	// Default Lifetime and IdleTimeout.
	TokenLifetime    time.Duration
	TokenIdleTimeout time.Duration
	// TouchInterval bounds how often "last seen" is written for one session,
	// so a busy client does not cause a store write per request. Default 1 minute.
	TouchInterval time.Duration
	// CookieMemo is how many cookie values a Manager remembers having
	// checked, with the session id each names, so that a client presenting
	// its cookie again costs a hash and a comparison instead of an HMAC
	// check and a SHA-256 (see package credmemo: a value is found only by
	// its exact bytes). Each takes about 310 bytes (5 MB at the default).
	// Default 16,384; negative turns it off.
	CookieMemo int
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (c *Config) defaults() {
	if c.Lifetime <= 0 {
		c.Lifetime = 7 * 24 * time.Hour
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 24 * time.Hour
	}
	if c.TokenLifetime <= 0 {
		c.TokenLifetime = c.Lifetime
	}
	if c.TokenIdleTimeout <= 0 {
		c.TokenIdleTimeout = c.IdleTimeout
	}
	if c.TouchInterval <= 0 {
		c.TouchInterval = time.Minute
	}
	if c.CookieMemo == 0 {
		c.CookieMemo = 16384
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Manager creates, loads and ends sessions. It is safe for concurrent use.
type Manager struct {
	store valet.SessionStore
	codec *Codec
	cfg   Config
	// ids maps cookie values that passed the codec to the ids they name:
	// the codec's key never changes, so neither does the answer. Nil when
	// CookieMemo is negative.
	ids *credmemo.Memo[string]
}

// NewManager returns a Manager over store that signs cookies with codec.
func NewManager(store valet.SessionStore, codec *Codec, cfg Config) *Manager {
	if store == nil || codec == nil {
		panic("session: NewManager needs a store and a codec")
	}
	cfg.defaults()
	m := &Manager{store: store, codec: codec, cfg: cfg}
	if cfg.CookieMemo > 0 {
		m.ids = credmemo.New[string](cfg.CookieMemo)
	}
	return m
}

// Config returns the manager's settings with defaults filled in.
func (m *Manager) Config() Config { return m.cfg }

// Codec returns the cookie codec.
func (m *Manager) Codec() *Codec { return m.codec }

// Store returns the session store.
func (m *Manager) Store() valet.SessionStore { return m.store }

// lifetimes returns the absolute and idle lifetimes of a session in mode.
func (m *Manager) lifetimes(mode valet.Mode) (lifetime, idle time.Duration) {
	if mode == valet.ModeToken {
		return m.cfg.TokenLifetime, m.cfg.TokenIdleTimeout
	}
	return m.cfg.Lifetime, m.cfg.IdleTimeout
}

// Create starts a session for userID and returns it with the cookie value
// that names it. Every call makes a new secret: a login never reuses an id
// the client already had (session fixation).
func (m *Manager) Create(ctx context.Context, userID string, mode valet.Mode, userAgent, ip string) (valet.Session, string, error) {
	return m.CreateSignedIn(ctx, userID, mode, userAgent, ip, nil, time.Time{})
}

// CreateSignedIn is Create for a sign-in made with the methods amr at
// authTime, which the session records (zero authTime: now).
func (m *Manager) CreateSignedIn(ctx context.Context, userID string, mode valet.Mode, userAgent, ip string, amr []string, authTime time.Time) (valet.Session, string, error) {
	secret := valet.NewID()
	now := m.cfg.Now().UTC()
	lifetime, idle := m.lifetimes(mode)
	s := valet.Session{
		ID:            valet.HashSecret(secret),
		UserID:        userID,
		Mode:          mode,
		CreatedAt:     now,
		LastSeenAt:    now,
		ExpiresAt:     now.Add(lifetime),
		IdleExpiresAt: now.Add(idle),
		UserAgent:     truncate(userAgent, 512),
		IP:            truncate(ip, 64),
		AMR:           amr,
		AuthTime:      authTime.UTC(),
	}
	if authTime.IsZero() {
		s.AuthTime = now
	}
	if s.IdleExpiresAt.After(s.ExpiresAt) {
		s.IdleExpiresAt = s.ExpiresAt
	}
	if err := m.store.CreateSession(ctx, s); err != nil {
		return valet.Session{}, "", fmt.Errorf("session: create: %w", err)
	}
	return s, m.codec.Encode(secret), nil
}

// LoadCookie returns the session named by a cookie value. A value whose
// HMAC does not match is refused with ErrBadCookie before any store lookup.
func (m *Manager) LoadCookie(ctx context.Context, value string) (valet.Session, error) {
	id, err := m.SessionID(value)
	if err != nil {
		return valet.Session{}, err
	}
	return m.Load(ctx, id)
}

// Load returns the live session with public id, sliding its idle expiry
// forward when the last write is older than TouchInterval. A session that is
// gone or expired gives ErrNoSession; a store failure is returned as is.
func (m *Manager) Load(ctx context.Context, id string) (valet.Session, error) {
	s, found, err := m.store.Session(ctx, id)
	if err != nil {
		return valet.Session{}, fmt.Errorf("session: load: %w", err)
	}
	if !found || s.Expired(m.cfg.Now()) {
		return valet.Session{}, ErrNoSession
	}
	return m.Touch(ctx, s)
}

// Touch records that live session s was seen now, when the last record is
// older than TouchInterval, sliding its idle expiry forward, and returns s
// as it stands.
func (m *Manager) Touch(ctx context.Context, s valet.Session) (valet.Session, error) {
	now := m.cfg.Now()
	if now.Sub(s.LastSeenAt) >= m.cfg.TouchInterval {
		_, timeout := m.lifetimes(s.Mode)
		idle := now.Add(timeout)
		if idle.After(s.ExpiresAt) {
			idle = s.ExpiresAt
		}
		if err := m.store.TouchSession(ctx, s.ID, now.UTC(), idle.UTC()); err != nil {
			return valet.Session{}, fmt.Errorf("session: touch: %w", err)
		}
		s.LastSeenAt, s.IdleExpiresAt = now.UTC(), idle.UTC()
	}
	return s, nil
}

// SessionID returns the public id of the session that a cookie value
// names, refusing with ErrBadCookie a value whose HMAC does not match. It
// reads no store.
func (m *Manager) SessionID(value string) (string, error) {
	// Entries never run out: a zero time is as good as any.
	var never time.Time
	if m.ids != nil {
		if id, ok := m.ids.Get(value, never); ok {
			return id, nil
		}
	}
	secret, err := m.codec.Decode(value)
	if err != nil {
		return "", err
	}
	id := valet.HashSecret(secret)
	if m.ids != nil {
		m.ids.Put(value, id, never, never)
	}
	return id, nil
}

// Destroy ends the session with id and reports whether it existed.
func (m *Manager) Destroy(ctx context.Context, id string) (bool, error) {
	ok, err := m.store.DeleteSession(ctx, id)
	if err != nil {
		return false, fmt.Errorf("session: destroy: %w", err)
	}
	return ok, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
