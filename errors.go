package valet

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Sentinel errors. Functions wrap them (with Errorf, or fmt.Errorf and %w);
// check them with errors.Is. Describe maps each to one error code of the API.
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
	// ErrInvalidCode: a one-time code or link token is wrong, used or expired.
	ErrInvalidCode = errors.New("valet: invalid code")
	// ErrInvalidCredentials: the email or password is wrong. It never says which.
	ErrInvalidCredentials = errors.New("valet: invalid email or password")
	// ErrUnauthenticated: no credential, or one that is not (or no longer) valid.
	ErrUnauthenticated = errors.New("valet: not authenticated")
	// ErrMFARequired: the password was right, and a second factor must follow.
	ErrMFARequired = errors.New("valet: second factor required")
	// ErrForbidden: the caller is known but not allowed.
	ErrForbidden = errors.New("valet: forbidden")
	// ErrCrossOrigin: an unsafe request authenticated by cookie came from
	// another origin.
	ErrCrossOrigin = errors.New("valet: cross-origin request refused")
	// ErrEmailUnverified: the account's address must be verified first.
	ErrEmailUnverified = errors.New("valet: email not verified")
	// ErrReauthRequired: the change needs a recent sign-in.
	ErrReauthRequired = errors.New("valet: recent sign-in required")
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
	// ErrMethodNotAllowed: the path exists, the method does not.
	ErrMethodNotAllowed = errors.New("valet: method not allowed")
	// ErrTooLarge: the request body is over its bound.
	ErrTooLarge = errors.New("valet: payload too large")
	// ErrRateLimited: too many attempts; try again later.
	ErrRateLimited = errors.New("valet: rate limited")
	// ErrUnavailable: a store or a bounded resource cannot serve now; the
	// request may be retried. Backends wrap every failure to reach or use
	// their database with it.
	ErrUnavailable = errors.New("valet: unavailable")
)

// Error is an error that carries the sentence a person is shown. Kind is
// one of the sentinels above; Message is written for the person who made
// the request ("Use at least 8 characters."); Err is the cause, for the log
// only. errors.Is matches both Kind and Err.
type Error struct {
	Kind    error
	Message string
	Err     error
	// RetryAfter is how long to wait, for ErrRateLimited and ErrUnavailable.
	RetryAfter time.Duration
}

// Errorf returns an *Error of kind whose Message is the formatted sentence.
func Errorf(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// Error returns the kind, the message and the cause, for logs.
func (e *Error) Error() string {
	s := "valet"
	if e.Kind != nil {
		s = e.Kind.Error()
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns Kind and Err, so that errors.Is sees both.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// Description is what the API, the pages and the CLI say about an error.
type Description struct {
	// Code is the API's error code, such as "invalid_credentials".
	Code string
	// Status is the HTTP status that goes with Code.
	Status int
	// Message is a sentence for a person.
	Message string
	// RetryAfter is how long the client should wait; zero when not said.
	RetryAfter time.Duration
	// Known is false for an error that no sentinel matched: it is shown as
	// "internal", and its text belongs in the server log only.
	Known bool
}

// kinds is the one table from sentinel to code, status and default message,
// in order of precedence. public says whether a message carried by an
// *Error of that kind may be shown; otherwise the default is.
var kinds = []struct {
	err     error
	code    string
	status  int
	message string
	public  bool
}{
	{ErrRefreshReused, "invalid_grant", 401, "This refresh token was already used; its family is revoked.", true},
	{ErrInvalidGrant, "invalid_grant", 401, "The refresh token is not valid.", false},
	{ErrTokenExpired, "token_expired", 401, "The access token has expired.", false},
	{ErrRevoked, "invalid_token", 401, "The access token was revoked.", false},
	{ErrTokenInvalid, "invalid_token", 401, "The access token is not valid.", false},
	{ErrInvalidCredentials, "invalid_credentials", 401, "Invalid email or password.", true},
	{ErrMFARequired, "mfa_required", 401, "A second factor is needed to finish signing in.", true},
	{ErrUnauthenticated, "unauthenticated", 401, "You are not signed in.", false},
	{ErrCrossOrigin, "csrf_failed", 403, "Cross-origin request refused.", false},
	{ErrEmailUnverified, "email_unverified", 403, "Verify your email address first.", true},
	{ErrReauthRequired, "reauth_required", 403, "Sign in again to make this change.", true},
	{ErrUserDisabled, "forbidden", 403, "This account is disabled.", true},
	{ErrForbidden, "forbidden", 403, "You are not allowed to do this.", true},
	{ErrInvalidCode, "invalid_code", 400, "The code is wrong, used or expired.", true},
	{ErrWeakPassword, "invalid_request", 400, "The password does not meet the rules.", true},
	{ErrInvalidEmail, "invalid_request", 400, "The email address is not valid.", true},
	{ErrInvalidRequest, "invalid_request", 400, "The request is not valid.", true},
	{ErrNotFound, "not_found", 404, "Not found.", true},
	{ErrMethodNotAllowed, "method_not_allowed", 405, "This method is not allowed here.", true},
	{ErrConflict, "conflict", 409, "That already exists.", true},
	{ErrTooLarge, "payload_too_large", 413, "The request body is too large.", true},
	{ErrRateLimited, "rate_limited", 429, "Too many attempts; try again later.", true},
	{ErrUnavailable, "unavailable", 503, "The service is busy or cannot reach its store; try again shortly.", false},
	{context.DeadlineExceeded, "unavailable", 503, "The service is busy or cannot reach its store; try again shortly.", false},
}

// Codes returns every error code with its HTTP status, for documentation
// and tests.
func Codes() map[string]int {
	m := map[string]int{"internal": 500}
	for _, k := range kinds {
		m[k.code] = k.status
	}
	return m
}

// Describe returns the code, status and sentence for err. The sentence is
// the Message of the outermost *Error in err's chain when its kind allows
// showing it, else the kind's fixed sentence. An error no sentinel matches
// is Known=false, code "internal".
func Describe(err error) Description {
	for _, k := range kinds {
		if !errors.Is(err, k.err) {
			continue
		}
		d := Description{Code: k.code, Status: k.status, Message: k.message, Known: true}
		// errors.AsType, not errors.As: the target of As escapes, an
		// allocation on every refused request.
		if e, ok := errors.AsType[*Error](err); ok {
			if k.public && e.Message != "" {
				d.Message = e.Message
			}
			d.RetryAfter = e.RetryAfter
		}
		if d.RetryAfter <= 0 {
			if wait, ok := errors.AsType[retryAfterError](err); ok {
				d.RetryAfter = wait.RetryAfter()
			}
		}
		return d
	}
	return Description{Code: "internal", Status: 500, Message: "Something went wrong on our side."}
}

// retryAfterError is an error that says when to try again.
type retryAfterError interface {
	error
	RetryAfter() time.Duration
}

// Message returns the sentence a person is shown for err: Describe's.
func Message(err error) string { return Describe(err).Message }
