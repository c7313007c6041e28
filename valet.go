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
	ID    string
	Email string
	// EmailVerified reports that the user proved to own Email, by a link or
	// a code sent to it; EmailVerifiedAt is when (zero when never). A change
	// of Email makes it false again, unless the new address is the one
	// proved.
	EmailVerified   bool
	EmailVerifiedAt time.Time
	PasswordHash    string
	Roles           []string
	Disabled        bool
	CreatedAt       time.Time
	UpdatedAt       time.Time
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
	// AMR names the methods the user signed in with (AMRPassword, ...), and
	// AuthTime is when they last did: at login, or when they proved it
	// again for a sensitive change (Service.Reauthenticate).
	AMR      []string
	AuthTime time.Time
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

// TicketPurpose says what a Ticket proves and what using it does.
type TicketPurpose string

// The purposes of a ticket. Each is sent by mail to the address it proves.
const (
	// TicketVerify confirms that the account's email address is its user's.
	TicketVerify TicketPurpose = "verify"
	// TicketRecovery lets the owner of the account's address set a new
	// password.
	TicketRecovery TicketPurpose = "recovery"
	// TicketEmailChange confirms the new address of an email change, which
	// takes effect when the ticket is used.
	TicketEmailChange TicketPurpose = "email_change"
	// TicketReport is sent to the old address of an email change: using it
	// sets a new password, as recovery does, and puts the old address back,
	// cancelling the change (or undoing it when it has been made).
	TicketReport TicketPurpose = "report"
)

// Ticket is a one-time proof that its recipient reads the mail of Email: a
// long link token and, for typing on another device, a short code. Only
// their hashes are stored (HashSecret); the mail carries them in clear.
type Ticket struct {
	// ID is the HashSecret of the link token, which is how a link finds its
	// ticket.
	ID string
	// CodeHash is the HashSecret of the code; empty for a ticket that has
	// a link only.
	CodeHash string
	UserID   string
	Purpose  TicketPurpose
	// Email is the address the ticket was sent to, normalized.
	Email string
	// Attempts counts the codes tried against the ticket; at the limit
	// (five) it is dead.
	Attempts  int
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Expired reports whether the ticket has ended at now.
func (t *Ticket) Expired(now time.Time) bool { return !now.Before(t.ExpiresAt) }

// Redemption is what using a ticket changes in its user, in the same step
// as the ticket is used up.
type Redemption struct {
	// UserID must be the ticket's user.
	UserID string
	// IfEmail, when not empty, must be the user's email now: a ticket sent
	// to an address the account no longer has is worth nothing.
	IfEmail string
	// SetEmail, when not empty, becomes the user's email.
	SetEmail string
	// PasswordHash, when not empty, becomes the user's password hash.
	PasswordHash string
	// Drop names purposes of which the user's other tickets are deleted too.
	Drop []TicketPurpose
	// At is the time of the change: the user's UpdatedAt and, since every
	// ticket proves the address it was sent to, its EmailVerifiedAt, with
	// EmailVerified set.
	At time.Time
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
	// AMR names the methods the user signed in with, and AuthTime is when
	// they last proved who they are (see Session).
	AMR      []string
	AuthTime time.Time
	// MustEnrol says that the server's policy wants a second factor that
	// this sign-in did not use: the caller may do nothing but add one
	// (or sign out) until it has.
	MustEnrol bool
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
