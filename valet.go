// Package valet is the domain of the valet authentication server: users,
// sessions, refresh-token families, signing keys, the ways a caller stays
// logged in, and the store interfaces that the backends in store/ implement.
//
// Importing this package never pulls in a database driver. The engine that
// ties the parts together lives in package auth, its JSON API in httpapi and
// its pages in web; cmd/valet builds the server from them.
package valet

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"slices"
	"time"
)

// Mode is how a logged-in caller stays logged in.
type Mode string

// The three modes of a login.
const (
	// ModeSession keeps a session record on the server and an opaque signed
	// id in a cookie.
	ModeSession Mode = "session"
	// ModeToken hands out a short-lived JWT and a rotating refresh token and
	// keeps nothing per request.
	ModeToken Mode = "token"
	// ModeHybrid hands out a JWT bound to a server session by its sid claim,
	// revocable at once through the in-memory revocation set.
	ModeHybrid Mode = "hybrid"
)

// ParseMode returns the Mode named s, or an error wrapping ErrInvalidRequest.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeSession, ModeToken, ModeHybrid:
		return m, nil
	}
	return "", Errorf(ErrInvalidRequest, "Mode must be session, token or hybrid.")
}

// User is an account. PasswordHash is a PHC string and never leaves the server.
type User struct {
	ID           string
	Email        string
	PasswordHash string
	Roles        []string
	Disabled     bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// HasRole reports whether u has the role r.
func (u *User) HasRole(r string) bool { return slices.Contains(u.Roles, r) }

// Session is a page of the server's diary. ID is public (it appears in
// session lists and in a hybrid token's sid claim): it is the SessionID of a
// secret that only the client holds, so the store never sees the secret.
type Session struct {
	ID         string
	UserID     string
	Mode       Mode
	CreatedAt  time.Time
	LastSeenAt time.Time
	// ExpiresAt is the absolute end of the session.
	ExpiresAt time.Time
	// IdleExpiresAt is when the session ends unless it is seen again.
	IdleExpiresAt time.Time
	UserAgent     string
	IP            string
}

// Expiry returns the earlier of the absolute and the idle expiry.
func (s *Session) Expiry() time.Time {
	if s.IdleExpiresAt.IsZero() || s.ExpiresAt.Before(s.IdleExpiresAt) {
		return s.ExpiresAt
	}
	return s.IdleExpiresAt
}

// Expired reports whether the session has ended at now.
func (s *Session) Expired(now time.Time) bool { return !now.Before(s.Expiry()) }

// RefreshFamily is a chain of refresh tokens, each issued when the one before
// it was used. Only hashes of its tokens are stored; Successor holds the
// current token sealed with the server's key, so that a token presented again
// within the grace window gets the same successor.
type RefreshFamily struct {
	ID     string
	UserID string
	// SessionID binds the family to a hybrid session; empty in token mode.
	SessionID string
	// Generation counts rotations; the first token has generation 0.
	Generation int
	// RotatedAt is when the current generation was issued.
	RotatedAt time.Time
	// Successor is the sealed current token, kept for the grace window.
	Successor []byte
	CreatedAt time.Time
	// ExpiresAt is the absolute end of the family.
	ExpiresAt time.Time
	// IdleExpiresAt is when the family ends unless it is used again.
	IdleExpiresAt time.Time
	Revoked       bool
}

// Expired reports whether the family has ended at now.
func (f *RefreshFamily) Expired(now time.Time) bool {
	return !now.Before(f.ExpiresAt) || !now.Before(f.IdleExpiresAt)
}

// SigningKey is a token signing key as stored. Private is sealed with the
// server's master key; Public is the key's public half (empty for HS256).
type SigningKey struct {
	ID        string
	Alg       string
	Private   []byte
	Public    []byte
	CreatedAt time.Time
	// RetiredAt is when a newer key replaced this one for signing; zero while
	// it signs. A retired key keeps verifying until every token it signed
	// has expired.
	RetiredAt time.Time
}

// Revocation says that tokens naming session SessionID are refused until
// Until, when every token that could name it has expired anyway.
type Revocation struct {
	SessionID string
	Until     time.Time
}

// NewID returns 32 random bytes from crypto/rand, base64url without padding.
// It panics only if the system's randomness source fails.
func NewID() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("valet: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// HashSecret returns the SHA-256 of secret, base64url without padding. It is
// how session secrets and refresh tokens are keyed at rest, and the public id
// of a session is the hash of its secret.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Identity is the caller of a request once authenticated.
type Identity struct {
	User User
	Mode Mode
	// SessionID is set in session and hybrid modes.
	SessionID string
	// ExpiresAt is when the credential presented ends.
	ExpiresAt time.Time
	// TokenID is the jti of a presented access token.
	TokenID string
}

type identityKey struct{}

// WithIdentity returns a copy of ctx carrying id.
func WithIdentity(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// IdentityFrom returns the identity in ctx, or nil for an anonymous caller.
func IdentityFrom(ctx context.Context) *Identity {
	id, _ := ctx.Value(identityKey{}).(*Identity)
	return id
}

// UserFrom returns the authenticated user in ctx and whether there is one.
func UserFrom(ctx context.Context) (User, bool) {
	if id := IdentityFrom(ctx); id != nil {
		return id.User, true
	}
	return User{}, false
}
