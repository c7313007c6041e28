package valet

import (
	"context"
	"slices"
	"time"
)

// FactorKind says what a second factor is.
type FactorKind string

// The kinds of second factor.
const (
	// FactorTOTP is an authenticator app that shows a time-based one-time
	// password (RFC 6238).
	FactorTOTP FactorKind = "totp"
	// FactorWebAuthn is a passkey or security key (WebAuthn). A passkey
	// that the authenticator keeps for the site (a discoverable credential)
	// can sign in on its own, without a password.
	FactorWebAuthn FactorKind = "webauthn"
)

// Factor is a second factor of a user. Its secret never leaves the server
// in clear: a TOTP secret is sealed with the server's key before it is
// stored, and a WebAuthn credential holds only a public key.
type Factor struct {
	ID     string
	UserID string
	Kind   FactorKind
	// Name is what the user calls it ("Phone", "YubiKey").
	Name string
	// Secret is, for TOTP, the shared secret sealed with the server's key;
	// for WebAuthn, the credential as the server keeps it (public key, sign
	// counter, flags, transports), encoded by the engine.
	Secret []byte
	// CredentialID is the WebAuthn credential id, base64url without
	// padding, unique among all factors; empty for TOTP.
	CredentialID string
	// Confirmed is false for a TOTP factor until a first code from it has
	// been entered; an unconfirmed factor is never asked for at sign-in.
	Confirmed bool
	// LastStep is, for TOTP, the newest time step whose code was accepted:
	// a code of that step or an earlier one is a replay.
	LastStep   int64
	CreatedAt  time.Time
	LastUsedAt time.Time
}

// Authentication methods, as the amr claim of a token names them (RFC 8176).
const (
	AMRPassword = "pwd"
	AMROTP      = "otp"
	// AMRHardwareKey is a WebAuthn credential bound to its device;
	// AMRSoftwareKey one that may be synced to other devices (a backed-up
	// passkey).
	AMRHardwareKey = "hwk"
	AMRSoftwareKey = "swk"
	// AMRUser says that the authenticator verified its user (a PIN or a
	// biometric), not only their presence.
	AMRUser = "user"
	// AMRMulti is present when more than one factor was used.
	AMRMulti = "mfa"
)

// MultiFactor reports whether amr says that more than one factor was used.
func MultiFactor(amr []string) bool { return slices.Contains(amr, AMRMulti) }

// FactorStore keeps second factors and recovery codes, in the database of
// the users: deleting a user deletes its factors and codes. The contract
// is the store contract above, and: recovery codes are stored as hashes
// (HashSecret) only; of callers at once, on one node or many, one uses a
// recovery code or a TOTP step.
type FactorStore interface {
	// CreateFactor stores f. It returns ErrConflict when f.ID or a non-empty
	// f.CredentialID is stored already, and ErrNotFound when f.UserID names
	// no user.
	CreateFactor(ctx context.Context, f Factor) error
	// Factors returns the factors of userID, oldest first.
	Factors(ctx context.Context, userID string) ([]Factor, error)
	// FactorByCredential returns the factor with credentialID. found is
	// false, with a nil error, when there is none.
	FactorByCredential(ctx context.Context, credentialID string) (f Factor, found bool, err error)
	// UpdateFactor replaces Name, Secret, Confirmed and LastUsedAt of the
	// factor with f.UserID and f.ID, and reports whether there was one.
	UpdateFactor(ctx context.Context, f Factor) (bool, error)
	// UseFactorStep records, in one step, that a code of TOTP step step was
	// accepted for factor id of userID at at: it sets LastStep and
	// LastUsedAt, and Confirmed. It does nothing and returns false when the
	// factor is gone or its LastStep is step or later (a replay).
	UseFactorStep(ctx context.Context, userID, id string, step int64, at time.Time) (bool, error)
	// DeleteFactor removes factor id of userID and reports whether it
	// existed.
	DeleteFactor(ctx context.Context, userID, id string) (bool, error)
	// DeleteFactors removes every factor and recovery code of userID and
	// returns how many factors it removed.
	DeleteFactors(ctx context.Context, userID string) (int, error)
	// SetRecoveryCodes replaces the recovery codes of userID by hashes.
	SetRecoveryCodes(ctx context.Context, userID string, hashes []string) error
	// UseRecoveryCode deletes the recovery code of userID with hash and
	// reports whether there was one.
	UseRecoveryCode(ctx context.Context, userID, hash string) (bool, error)
	// RecoveryCodes returns how many unused recovery codes userID has.
	RecoveryCodes(ctx context.Context, userID string) (int, error)
	// PutPending stores value under key until expires, replacing what key
	// held. It keeps the state of a sign-in under way between two requests,
	// which may reach different nodes: a password checked and a second
	// factor awaited, or a WebAuthn challenge sent. key is the HashSecret
	// of a secret the client holds; value is sealed by the engine.
	PutPending(ctx context.Context, key string, value []byte, expires time.Time) error
	// TakePending deletes and returns the value under key. found is false,
	// with a nil error, when there is none or it has expired at now; of
	// callers at once, one finds it.
	TakePending(ctx context.Context, key string, now time.Time) (value []byte, found bool, err error)
}

// FactorChange is a change of one user's second factors that must be made
// with the mail that tells of it, in one transaction: see
// mail.TicketStore.ChangeFactorsWithMail. Each part that is set is made as
// the FactorStore method it names makes it, in the order of the fields.
// Delete, Step and UseRecoveryCode are conditions too: when the factor or
// code they name is not there (or the step is a replay), nothing at all
// changes.
type FactorChange struct {
	UserID string
	// Create is stored as CreateFactor stores it. It must be UserID's:
	// another user's is refused with ErrInvalidRequest.
	Create *Factor
	// Step records an accepted TOTP code as UseFactorStep does, which
	// confirms the factor.
	Step *FactorStep
	// Delete is the id of a factor to remove, as DeleteFactor does.
	Delete string
	// DeleteAll removes every factor and recovery code, as DeleteFactors
	// does.
	DeleteAll bool
	// UseRecoveryCode is the hash of a recovery code to use up, as
	// UseRecoveryCode does.
	UseRecoveryCode string
	// SetRecoveryCodes replaces the recovery codes by RecoveryCodes (none,
	// when it is empty), as SetRecoveryCodes does.
	SetRecoveryCodes bool
	RecoveryCodes    []string
}

// FactorStep is a TOTP step accepted for factor ID at At.
type FactorStep struct {
	ID   string
	Step int64
	At   time.Time
}
