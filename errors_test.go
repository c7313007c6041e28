package valet_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/valetauth/valet"
)

func TestEveryCodeHasAStatus(t *testing.T) {
	for code, status := range valet.Codes() {
		if status < 400 || status > 599 {
			t.Errorf("code %q maps to %d", code, status)
		}
	}
}

type waiter struct{}

func (waiter) Error() string             { return "slow down" }
func (waiter) Unwrap() error             { return valet.ErrRateLimited }
func (waiter) RetryAfter() time.Duration { return 7 * time.Second }

func TestDescribe(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		code       string
		status     int
		message    string
		retryAfter time.Duration
	}{
		{"a carried sentence is shown", valet.Errorf(valet.ErrWeakPassword, "Use at least %d characters.", 8), "invalid_request", 400, "Use at least 8 characters.", 0},
		{"wrapped further, still shown", fmt.Errorf("signup: %w", valet.Errorf(valet.ErrConflict, "An account with this email already exists.")), "conflict", 409, "An account with this email already exists.", 0},
		{"a private kind keeps its fixed sentence", valet.Errorf(valet.ErrUnavailable, "postgres at 10.0.0.3 refused"), "unavailable", 503, "The service is busy or cannot reach its store; try again shortly.", 0},
		{"the text of a plain error is never shown", fmt.Errorf("%w: secret detail", valet.ErrInvalidCredentials), "invalid_credentials", 401, "Invalid email or password.", 0},
		{"an unauthenticated caller is told only that", valet.Errorf(valet.ErrUnauthenticated, "The account is gone."), "unauthenticated", 401, "You are not signed in.", 0},
		{"a bare sentinel", valet.ErrNotFound, "not_found", 404, "Not found.", 0},
		{"refresh reuse wins over invalid grant", fmt.Errorf("%w: %w", valet.ErrInvalidGrant, valet.ErrRefreshReused), "invalid_grant", 401, "This refresh token was already used; its family is revoked.", 0},
		{"deadline is unavailable", context.DeadlineExceeded, "unavailable", 503, "The service is busy or cannot reach its store; try again shortly.", 0},
		{"retry-after from the error", waiter{}, "rate_limited", 429, "Too many attempts; try again later.", 7 * time.Second},
		{"retry-after carried", &valet.Error{Kind: valet.ErrRateLimited, Message: "Wait a minute.", RetryAfter: time.Minute}, "rate_limited", 429, "Wait a minute.", time.Minute},
		{"unknown is internal", errors.New("disk on fire"), "internal", 500, "Something went wrong on our side.", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := valet.Describe(tc.err)
			if d.Code != tc.code || d.Status != tc.status || d.Message != tc.message || d.RetryAfter != tc.retryAfter {
				t.Errorf("Describe = %+v, want %s %d %q %v", d, tc.code, tc.status, tc.message, tc.retryAfter)
			}
			if d.Known != (tc.code != "internal") {
				t.Errorf("Known = %v", d.Known)
			}
		})
	}
}

func TestErrorMatchesKindAndCause(t *testing.T) {
	cause := errors.New("connection refused")
	err := &valet.Error{Kind: valet.ErrUnavailable, Message: "x", Err: cause}
	if !errors.Is(err, valet.ErrUnavailable) || !errors.Is(err, cause) {
		t.Fatalf("errors.Is does not see both the kind and the cause of %v", err)
	}
	if got := err.Error(); got != "valet: unavailable: x: connection refused" {
		t.Errorf("Error() = %q", got)
	}
}
