package valet

import "errors"

// Sentinel errors. Functions wrap them with %w; check them with errors.Is.
// The HTTP layer maps each to one error code of the API.
var (
	// ErrNotFound: the thing asked for does not exist (or is not the caller's).
	ErrNotFound = errors.New("valet: not found")
	// ErrConflict: the thing exists already, such as an email that is taken.
	ErrConflict = errors.New("valet: conflict")
	// ErrInvalidRequest: the input is malformed or breaks a rule.
	ErrInvalidRequest = errors.New("valet: invalid request")
	// ErrWeakPassword: the password breaks the password rules.
	ErrWeakPassword = errors.New("valet: password does not meet the rules")
	// ErrInvalidEmail: the email address is not valid.
	ErrInvalidEmail = errors.New("valet: invalid email address")
	// ErrInvalidCredentials: the email or password is wrong. It never says which.
	ErrInvalidCredentials = errors.New("valet: invalid email or password")
	// ErrUnauthenticated: no credential, or one that is not (or no longer) valid.
	ErrUnauthenticated = errors.New("valet: not authenticated")
	// ErrForbidden: the caller is known but not allowed.
	ErrForbidden = errors.New("valet: forbidden")
	// ErrUserDisabled: the account is disabled.
	ErrUserDisabled = errors.New("valet: user disabled")
	// ErrTokenInvalid: a token is malformed, badly signed or fails a claim check.
	ErrTokenInvalid = errors.New("valet: invalid token")
	// ErrTokenExpired: a token's exp has passed.
	ErrTokenExpired = errors.New("valet: token expired")
	// ErrRevoked: the session or token family was revoked.
	ErrRevoked = errors.New("valet: revoked")
	// ErrInvalidGrant: a refresh token is unknown, expired or revoked.
	ErrInvalidGrant = errors.New("valet: invalid grant")
	// ErrRefreshReused: a refresh token was presented after its grace window;
	// its family has been revoked. It wraps ErrInvalidGrant's meaning.
	ErrRefreshReused = errors.New("valet: refresh token reused")
	// ErrRateLimited: too many attempts; try again later.
	ErrRateLimited = errors.New("valet: rate limited")
	// ErrUnavailable: a store or a bounded resource cannot serve now; the
	// request may be retried. Backends wrap every failure to reach or use
	// their database with it.
	ErrUnavailable = errors.New("valet: unavailable")
)
