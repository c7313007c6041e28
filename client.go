package valet

import (
	"context"
	"time"
)

// Client is an application that signs its users in through valet, as an
// OpenID Connect relying party.
type Client struct {
	// ID is the client_id: public, random.
	ID   string
	Name string
	// SecretHash is the HashSecret of the client secret; empty for a
	// public client (a single-page or mobile app), which must use PKCE.
	SecretHash string
	// RedirectURIs are compared exactly, byte for byte, with the
	// redirect_uri of a request.
	RedirectURIs []string
	// PostLogoutRedirectURIs are the addresses RP-initiated logout may
	// return to, compared exactly.
	PostLogoutRedirectURIs []string
	// BackchannelLogoutURI, when not empty, is sent a logout token when a
	// device session that this client got tokens from ends.
	BackchannelLogoutURI string
	// Scopes are the scopes the client may ask for (openid, email,
	// profile, offline_access, roles).
	Scopes []string
	// SkipConsent is for first-party apps: no consent page.
	SkipConsent bool
	// IDTokenAlg is the algorithm of its ID tokens: EdDSA (default) or
	// RS256.
	IDTokenAlg string
	// AccessTTL and RefreshTTL override the server's token lifetimes for
	// this client when not zero.
	AccessTTL  time.Duration
	RefreshTTL time.Duration
	CreatedAt  time.Time
}

// Public reports whether c has no secret.
func (c *Client) Public() bool { return c.SecretHash == "" }

// AuthCode is an authorization code as stored: keyed by the HashSecret of
// the code the client holds, good once, for a minute.
type AuthCode struct {
	Hash        string
	ClientID    string
	UserID      string
	SessionID   string
	RedirectURI string
	Scopes      []string
	Nonce       string
	// CodeChallenge is the PKCE S256 challenge; empty when the
	// (confidential) client sent none.
	CodeChallenge string
	AMR           []string
	AuthTime      time.Time
	CreatedAt     time.Time
	ExpiresAt     time.Time
}

// Consent is a user's agreement that a client may have scopes.
type Consent struct {
	UserID    string
	ClientID  string
	Scopes    []string
	CreatedAt time.Time
}

// ClientGrant records that a client got tokens from a device session, so
// that the client is told (back-channel logout) when the session ends.
type ClientGrant struct {
	SessionID string
	ClientID  string
	UserID    string
	// ExpiresAt is when the session ends at the latest; the record is
	// swept after.
	ExpiresAt time.Time
}

// ClientRefresh is a family of refresh tokens that a client holds for a
// user (the offline_access scope): each use of its current token replaces
// it by a new one (rotation), and a use of any earlier one revokes the
// family (reuse detection, RFC 9700 section 4.14.2). Only hashes of its
// tokens are stored. Refresh tokens of clients are never those of valet's
// own API, so that one cannot be redeemed as the other.
type ClientRefresh struct {
	ID       string
	ClientID string
	UserID   string
	// SessionID is the device session the family came from: it ends when
	// that session is ended (not when it merely expires).
	SessionID string
	Scopes    []string
	AMR       []string
	AuthTime  time.Time
	CreatedAt time.Time
	// ExpiresAt is the absolute end of the family.
	ExpiresAt time.Time
}

// ClientRefreshFilter selects refresh families: those that match every
// field that is not empty. A filter with every field empty selects none.
type ClientRefreshFilter struct {
	ID        string
	SessionID string
	UserID    string
	ClientID  string
}

// Empty reports whether f selects nothing.
func (f ClientRefreshFilter) Empty() bool { return f == ClientRefreshFilter{} }

// Match reports whether f selects r.
func (f ClientRefreshFilter) Match(r *ClientRefresh) bool {
	return !f.Empty() &&
		(f.ID == "" || f.ID == r.ID) &&
		(f.SessionID == "" || f.SessionID == r.SessionID) &&
		(f.UserID == "" || f.UserID == r.UserID) &&
		(f.ClientID == "" || f.ClientID == r.ClientID)
}

// ClientStore keeps OpenID Connect clients, authorization codes, consents
// and the grants of clients to sessions, in the database of the users:
// deleting a user deletes its codes, consents and grants; deleting a client
// deletes its codes, consents and grants. The store contract above holds.
type ClientStore interface {
	// CreateClient stores c, or returns ErrConflict when c.ID is taken.
	CreateClient(ctx context.Context, c Client) error
	// ClientByID returns client id, or ErrNotFound.
	ClientByID(ctx context.Context, id string) (Client, error)
	// Clients returns every client, oldest first.
	Clients(ctx context.Context) ([]Client, error)
	// DeleteClient removes client id, or returns ErrNotFound.
	DeleteClient(ctx context.Context, id string) error

	// CreateAuthCode stores code, or returns ErrConflict when its hash is
	// stored already, or ErrNotFound when its client or user does not
	// exist.
	CreateAuthCode(ctx context.Context, code AuthCode) error
	// TakeAuthCode deletes and returns the code with hash. found is false
	// when there is none or it has expired at now. used is true, with
	// found false, when the code existed and was taken before (a replay):
	// a taken code is remembered until its expiry for this answer. Of
	// callers at once, one takes it.
	TakeAuthCode(ctx context.Context, hash string, now time.Time) (code AuthCode, found, used bool, err error)

	// SetConsent stores c, replacing the consent of its user and client.
	// It returns ErrNotFound when the user or the client does not exist.
	SetConsent(ctx context.Context, c Consent) error
	// Consent returns the consent of userID for clientID; found is false
	// when there is none.
	Consent(ctx context.Context, userID, clientID string) (c Consent, found bool, err error)
	// Consents returns the consents of userID, newest first.
	Consents(ctx context.Context, userID string) ([]Consent, error)
	// DeleteConsent removes the consent of userID for clientID and
	// reports whether there was one.
	DeleteConsent(ctx context.Context, userID, clientID string) (bool, error)

	// AddClientGrant records g (again: the later ExpiresAt wins). It
	// returns ErrNotFound when the user or the client does not exist.
	AddClientGrant(ctx context.Context, g ClientGrant) error
	// ClientGrants returns the grants of session sid that have not
	// expired.
	ClientGrants(ctx context.Context, sid string) ([]ClientGrant, error)
	// TakeClientGrants deletes the grants of session sid and returns
	// those that had not expired. Of callers at once, each grant goes to
	// one: the node that takes it is the one that tells its client.
	TakeClientGrants(ctx context.Context, sid string) ([]ClientGrant, error)

	// CreateClientRefresh stores f with the hash of its first token. It
	// returns ErrNotFound when the user or the client does not exist.
	CreateClientRefresh(ctx context.Context, f ClientRefresh, tokenHash string) error
	// RotateClientRefresh replaces, in one step, the current token of the
	// family of clientID whose current token has tokenHash by newHash, and
	// returns the family. found is false when no family of clientID that
	// is live at now has tokenHash as its current token. reused is true,
	// with found false, when tokenHash is an earlier token of a family of
	// clientID: the family is then revoked. Of callers at once with one
	// hash, one rotates it; the others see reused, or find nothing once
	// one of them has revoked the family.
	RotateClientRefresh(ctx context.Context, clientID, tokenHash, newHash string, now time.Time) (f ClientRefresh, found, reused bool, err error)
	// RevokeClientRefreshToken revokes the family of clientID that holds
	// tokenHash, current or earlier. Unknown tokens are no error.
	RevokeClientRefreshToken(ctx context.Context, clientID, tokenHash string) error
	// RevokeClientRefreshes revokes the families that f selects and
	// returns how many there were.
	RevokeClientRefreshes(ctx context.Context, f ClientRefreshFilter) (int, error)
}
