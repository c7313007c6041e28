package valet

import (
	"context"
	"time"
)

// The store interfaces. Their contract, for every backend:
//   - "not found" is found=false with a nil error where a method returns
//     found, and ErrNotFound where it returns only an error;
//   - an error is for system failures only, and every failure to reach or use
//     the backend wraps ErrUnavailable, so callers answer 503 and retry;
//   - secrets (session secrets, refresh tokens) never reach a store: only
//     their hashes (HashSecret) do;
//   - every method honours ctx's deadline.

// UserStore keeps accounts. Emails are stored as given (callers normalize
// them) and are unique.
type UserStore interface {
	// CreateUser stores u. It returns ErrConflict when the email is taken.
	CreateUser(ctx context.Context, u User) error
	// UserByID returns the user with id, or ErrNotFound.
	UserByID(ctx context.Context, id string) (User, error)
	// UserByEmail returns the user with email, or ErrNotFound.
	UserByEmail(ctx context.Context, email string) (User, error)
	// UpdateUser replaces the stored user that has u.ID with u. It returns
	// ErrNotFound when there is none and ErrConflict when the email is taken.
	UpdateUser(ctx context.Context, u User) error
	// DeleteUser removes the user with id, or returns ErrNotFound.
	DeleteUser(ctx context.Context, id string) error
	// ListUsers returns one page of users ordered by creation time, oldest
	// first, whose email contains q.Search, and the number of all matches.
	ListUsers(ctx context.Context, q UserQuery) (users []User, total int, err error)
}

// OnConflict says what an import does with a user whose email is stored
// already.
type OnConflict string

// The two answers to an email that is taken.
const (
	// ConflictSkip keeps the stored user as it is.
	ConflictSkip OnConflict = "skip"
	// ConflictUpdate replaces the stored user's password hash and roles.
	ConflictUpdate OnConflict = "update"
)

// UserImporter is the extra ability of a UserStore to store many users in
// one step, for imports from other systems.
type UserImporter interface {
	// ImportUsers stores users, whose emails are distinct, in one
	// transaction: all of them or, with an error, none. A user whose email
	// is not stored is created as given. For one whose email is stored,
	// ConflictSkip leaves the stored user alone, and ConflictUpdate sets
	// its PasswordHash, Roles and UpdatedAt to the given user's, keeping
	// its ID, CreatedAt and Disabled. It returns how many users it
	// created, updated and skipped; the error wraps ErrUnavailable when
	// the backend fails.
	ImportUsers(ctx context.Context, users []User, onConflict OnConflict) (created, updated, skipped int, err error)
}

// UserQuery selects a page of users. Limit 0 means 50.
type UserQuery struct {
	Search string
	Offset int
	Limit  int
}

// SessionStore keeps sessions, keyed by their public id.
type SessionStore interface {
	// CreateSession stores s; s.ID is new.
	CreateSession(ctx context.Context, s Session) error
	// Session returns the session with id. found is false, with a nil error,
	// when there is none or it has expired.
	Session(ctx context.Context, id string) (s Session, found bool, err error)
	// TouchSession records that the session was seen at lastSeen and moves
	// its idle expiry to idleExpiresAt. A session that is gone is no error.
	TouchSession(ctx context.Context, id string, lastSeen, idleExpiresAt time.Time) error
	// DeleteSession removes the session with id and reports whether it existed.
	DeleteSession(ctx context.Context, id string) (bool, error)
	// SetSessionAuth records that the user of session id signed in again at
	// authTime with the methods amr, which replace the session's. A session
	// that is gone is no error.
	SetSessionAuth(ctx context.Context, id string, authTime time.Time, amr []string) error
}

// SessionLister is the extra ability to see and end a user's sessions.
type SessionLister interface {
	// UserSessions returns the user's live sessions, newest first.
	UserSessions(ctx context.Context, userID string) ([]Session, error)
	// DeleteUserSessions removes every session of the user except the one
	// with id except (if not empty), and returns the ids it removed.
	DeleteUserSessions(ctx context.Context, userID, except string) ([]string, error)
}

// RefreshStore keeps refresh-token families and the hashes of their tokens.
type RefreshStore interface {
	// CreateRefreshFamily stores f and the hash of its first token.
	CreateRefreshFamily(ctx context.Context, f RefreshFamily, tokenHash string) error
	// RefreshByToken returns the family that the token with tokenHash belongs
	// to and the generation it was issued at. found is false when the hash is
	// unknown. A revoked family is returned (Revoked true) until it expires.
	RefreshByToken(ctx context.Context, tokenHash string) (f RefreshFamily, gen int, found bool, err error)
	// AdvanceRefreshFamily moves family id from generation from to from+1 in
	// one step: it records newHash at from+1, sets Successor, RotatedAt=now
	// and IdleExpiresAt. It does nothing and returns false when the family is
	// not at generation from any more, is revoked, or is gone.
	AdvanceRefreshFamily(ctx context.Context, id string, from int, newHash string, successor []byte, now, idleExpiresAt time.Time) (bool, error)
	// RevokeRefreshFamily marks the family revoked. Unknown ids are no error.
	RevokeRefreshFamily(ctx context.Context, id string) error
	// RevokeRefreshFamilies marks revoked every family of userID, or only those
	// bound to sessionID when it is not empty.
	RevokeRefreshFamilies(ctx context.Context, userID, sessionID string) error
}

// KeyStore keeps token signing keys.
type KeyStore interface {
	// SigningKeys returns every stored key, oldest first.
	SigningKeys(ctx context.Context) ([]SigningKey, error)
	// AddSigningKey stores k, or returns ErrConflict if k.ID exists.
	AddSigningKey(ctx context.Context, k SigningKey) error
	// RetireSigningKey sets the retirement time of key id if it has none.
	RetireSigningKey(ctx context.Context, id string, at time.Time) error
	// DeleteSigningKey removes key id. Unknown ids are no error.
	DeleteSigningKey(ctx context.Context, id string) error
}

// SecretStore keeps the server's own secrets, such as its master key.
type SecretStore interface {
	// EnsureSecret stores value under name unless a value is there already,
	// and returns the value that is stored. Nodes that start at once agree.
	EnsureSecret(ctx context.Context, name string, value []byte) ([]byte, error)
}

// RevocationStore keeps the revocation set so that a node that starts, or
// reconnects, can load it.
type RevocationStore interface {
	// AddRevocation records r (an existing entry keeps the later Until).
	AddRevocation(ctx context.Context, r Revocation) error
	// Revocations returns the entries whose Until is after now.
	Revocations(ctx context.Context, now time.Time) ([]Revocation, error)
}

// Sweeper is a store that reclaims the space of expired records. Lookups
// never return expired records, so sweeping only frees space; a store whose
// backend expires records by itself (Redis) sweeps nothing and returns 0.
type Sweeper interface {
	// Sweep deletes the sessions, refresh families, revocations, pending
	// sign-in state, authorization codes and client grants that have
	// expired at now and returns how many records it deleted.
	Sweep(ctx context.Context, now time.Time) (int, error)
}

// Pinger is a store that can tell whether its backend is reachable.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Stores is the set of stores a server runs on. Sessions, Refresh and
// Revocations may come from a different backend (Redis) than the rest.
type Stores struct {
	Users       UserStore
	Sessions    SessionStore
	Refresh     RefreshStore
	Keys        KeyStore
	Secrets     SecretStore
	Revocations RevocationStore
	// Factors comes from the backend of Users.
	Factors FactorStore
	// Clients comes from the backend of Users.
	Clients ClientStore
}
