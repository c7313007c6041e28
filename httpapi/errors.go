package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/valetauth/valet"
)

// Error is an API error: one of the codes of the contract, a sentence for a
// person, and for rate_limited the seconds to wait.
type Error struct {
	Code       string
	Message    string
	RetryAfter int
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// statuses maps every error code of the contract to its one HTTP status.
var statuses = map[string]int{
	"invalid_request":     http.StatusBadRequest,
	"invalid_credentials": http.StatusUnauthorized,
	"unauthenticated":     http.StatusUnauthorized,
	"invalid_token":       http.StatusUnauthorized,
	"token_expired":       http.StatusUnauthorized,
	"invalid_grant":       http.StatusUnauthorized,
	"csrf_failed":         http.StatusForbidden,
	"forbidden":           http.StatusForbidden,
	"not_found":           http.StatusNotFound,
	"conflict":            http.StatusConflict,
	"payload_too_large":   http.StatusRequestEntityTooLarge,
	"rate_limited":        http.StatusTooManyRequests,
	"unavailable":         http.StatusServiceUnavailable,
	"internal":            http.StatusInternalServerError,
}

// codes maps the library's sentinels to codes, in order of precedence, with
// the fixed message used where the error's own text must not be shown.
var codes = []struct {
	err     error
	code    string
	message string // empty: use the error's last clause
}{
	{valet.ErrRefreshReused, "invalid_grant", ""},
	{valet.ErrInvalidGrant, "invalid_grant", "The refresh token is not valid."},
	{valet.ErrTokenExpired, "token_expired", "The access token has expired."},
	{valet.ErrRevoked, "invalid_token", "The access token was revoked."},
	{valet.ErrTokenInvalid, "invalid_token", "The access token is not valid."},
	{valet.ErrInvalidCredentials, "invalid_credentials", ""},
	{valet.ErrUnauthenticated, "unauthenticated", "You are not signed in."},
	{valet.ErrUserDisabled, "forbidden", ""},
	{valet.ErrForbidden, "forbidden", ""},
	{valet.ErrWeakPassword, "invalid_request", ""},
	{valet.ErrInvalidEmail, "invalid_request", ""},
	{valet.ErrInvalidRequest, "invalid_request", ""},
	{valet.ErrNotFound, "not_found", ""},
	{valet.ErrConflict, "conflict", ""},
	{valet.ErrRateLimited, "rate_limited", "Too many attempts; try again later."},
	{valet.ErrUnavailable, "unavailable", "The service is busy or cannot reach its store; try again shortly."},
	{context.DeadlineExceeded, "unavailable", "The service is busy or cannot reach its store; try again shortly."},
}

// toError turns any error into an API error. Errors it does not know become
// internal, and only the log sees their text.
func toError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	for _, c := range codes {
		if errors.Is(err, c.err) {
			msg := c.message
			if msg == "" {
				msg = sentence(err.Error())
			}
			return &Error{Code: c.code, Message: msg}, true
		}
	}
	return &Error{Code: "internal", Message: "Something went wrong on our side."}, false
}

// Message returns the sentence for a person that err carries: the last
// clause of a wrapped error, capitalized and ending with a period. Use it
// only on errors whose sentinel says the detail is meant to be shown.
func Message(err error) string { return sentence(err.Error()) }

// sentence returns the last clause of a wrapped error as a sentence: the
// detail that the code that raised it wrote for a person.
func sentence(s string) string {
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	s = strings.TrimPrefix(s, "valet: ")
	if s == "" {
		return s
	}
	r := []rune(s)
	r[0] = unicode.ToUpper(r[0])
	s = string(r)
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// writeError writes err in the contract's shape. bearer says whether the
// request presented a bearer token (RFC 6750 wants a challenge on its 401s).
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	e, known := toError(err)
	status := statuses[e.Code]
	if !known {
		log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	} else if status == http.StatusServiceUnavailable {
		log.WarnContext(r.Context(), "store unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	h := w.Header()
	if status == http.StatusUnauthorized && hasBearer(r) {
		h.Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="`+strings.ReplaceAll(e.Message, `"`, "'")+`"`)
	}
	if e.Code == "rate_limited" {
		ra := e.RetryAfter
		var wait interface{ RetryAfter() time.Duration }
		if ra <= 0 && errors.As(err, &wait) {
			ra = int((wait.RetryAfter() + time.Second - 1) / time.Second)
		}
		if ra <= 0 {
			ra = 1
		}
		h.Set("Retry-After", strconv.Itoa(ra))
	}
	if e.Code == "unavailable" {
		h.Set("Retry-After", "1")
	}
	writeJSON(w, status, map[string]string{"error": e.Code, "message": e.Message})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func hasBearer(r *http.Request) bool {
	_, ok := bearerToken(r)
	return ok
}

// bearerToken returns the token of an "Authorization: Bearer" header.
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return "", false
	}
	return strings.TrimSpace(h[7:]), true
}
