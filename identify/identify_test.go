package identify_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/identify"
	"github.com/valetauth/valet/session"
)

// fake accepts the tokens and cookie values that name a user ("tok-ada",
// "cookie-ada"), refuses the rest, and fails for "down".
type fake struct{ calls []string }

func (f *fake) IdentifyBearer(_ context.Context, tok string) (*valet.Identity, error) {
	f.calls = append(f.calls, "bearer:"+tok)
	return f.answer(tok, "tok-", valet.ErrTokenInvalid)
}

func (f *fake) IdentifyCookie(_ context.Context, v string) (*valet.Identity, error) {
	f.calls = append(f.calls, "cookie:"+v)
	return f.answer(v, "cookie-", valet.ErrUnauthenticated)
}

func (f *fake) answer(v, prefix string, refuse error) (*valet.Identity, error) {
	if v == "down" {
		return nil, fmt.Errorf("%w: store down", valet.ErrUnavailable)
	}
	if len(v) > len(prefix) && v[:len(prefix)] == prefix {
		return &valet.Identity{User: valet.User{ID: v[len(prefix):]}}, nil
	}
	return nil, refuse
}

// bearerOnly is a checker that cannot read session cookies, as a verifier.
type bearerOnly struct{ f *fake }

func (b bearerOnly) IdentifyBearer(ctx context.Context, tok string) (*valet.Identity, error) {
	return b.f.IdentifyBearer(ctx, tok)
}

func TestIdentifyOrder(t *testing.T) {
	host, legacy := "__Host-valet_session", "valet_session"
	tests := []struct {
		name       string
		auth       string
		cookies    map[string]string
		from       identify.Sources
		noCookies  bool // the checker cannot check session cookies
		wantSource identify.Source
		wantUser   string
		wantErr    error
	}{
		{name: "nothing", wantSource: identify.None},
		{name: "bearer", auth: "Bearer tok-ada", wantSource: identify.Header, wantUser: "ada"},
		{name: "bearer scheme is case-insensitive", auth: "bEaReR tok-ada", wantSource: identify.Header, wantUser: "ada"},
		{name: "an empty bearer is refused, not ignored", auth: "Bearer ", cookies: map[string]string{host: "cookie-ada"}, wantSource: identify.Header, wantErr: valet.ErrTokenInvalid},
		{name: "bare Bearer is refused too", auth: "Bearer", wantSource: identify.Header, wantErr: valet.ErrTokenInvalid},
		{name: "another scheme is not a bearer", auth: "Basic YTpi", cookies: map[string]string{host: "cookie-ada"}, wantSource: identify.SessionCookie, wantUser: "ada"},
		{name: "BearerX is not a bearer", auth: "Bearerx tok-ada", wantSource: identify.None},
		{name: "bearer beats cookie", auth: "Bearer tok-bob", cookies: map[string]string{host: "cookie-ada"}, wantSource: identify.Header, wantUser: "bob"},
		{name: "a bad bearer does not fall back to a good cookie", auth: "Bearer junk", cookies: map[string]string{host: "cookie-ada"}, wantSource: identify.Header, wantErr: valet.ErrTokenInvalid},
		{name: "session cookie", cookies: map[string]string{host: "cookie-ada"}, wantSource: identify.SessionCookie, wantUser: "ada"},
		{name: "session cookie by its old name", cookies: map[string]string{legacy: "cookie-ada"}, wantSource: identify.SessionCookie, wantUser: "ada"},
		{name: "session cookie beats token cookie", cookies: map[string]string{host: "cookie-ada", session.TokenName: "tok-bob"}, wantSource: identify.SessionCookie, wantUser: "ada"},
		{name: "a bad session cookie does not fall back", cookies: map[string]string{host: "junk", session.TokenName: "tok-bob"}, wantSource: identify.SessionCookie, wantErr: valet.ErrUnauthenticated},
		{name: "token cookie", cookies: map[string]string{session.TokenName: "tok-ada"}, wantSource: identify.TokenCookie, wantUser: "ada"},
		{name: "a refresh cookie alone identifies no one", cookies: map[string]string{session.RefreshName: "rt"}, wantSource: identify.None},
		{name: "store down is a system failure", cookies: map[string]string{host: "down"}, wantSource: identify.SessionCookie, wantErr: valet.ErrUnavailable},
		{name: "bearer only ignores cookies", from: identify.FromBearer, cookies: map[string]string{host: "cookie-ada", session.TokenName: "tok-ada"}, wantSource: identify.None},
		{name: "cookies only ignores the header", from: identify.FromCookies, auth: "Bearer tok-bob", cookies: map[string]string{host: "cookie-ada"}, wantSource: identify.SessionCookie, wantUser: "ada"},
		{name: "a verifier reads the token cookie", noCookies: true, cookies: map[string]string{host: "cookie-ada", session.TokenName: "tok-bob"}, wantSource: identify.TokenCookie, wantUser: "bob"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fake{}
			var b identify.Bearer = f
			if tc.noCookies {
				b = bearerOnly{f}
			}
			id := identify.New(b, session.Cookie{}, tc.from)
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			for k, v := range tc.cookies {
				r.AddCookie(&http.Cookie{Name: k, Value: v})
			}
			res := id.Identify(r)
			if res.Source != tc.wantSource {
				t.Fatalf("Source = %v, want %v (calls %v)", res.Source, tc.wantSource, f.calls)
			}
			gotUser := ""
			if res.Identity != nil {
				gotUser = res.Identity.User.ID
			}
			if gotUser != tc.wantUser {
				t.Errorf("user = %q, want %q", gotUser, tc.wantUser)
			}
			if tc.wantErr == nil && res.Err != nil || tc.wantErr != nil && !errors.Is(res.Err, tc.wantErr) {
				t.Errorf("Err = %v, want %v", res.Err, tc.wantErr)
			}
			if len(f.calls) > 1 {
				t.Errorf("%d credentials were checked (%v); the first present decides", len(f.calls), f.calls)
			}
			if got := identify.SystemFailure(res.Err); got != errors.Is(tc.wantErr, valet.ErrUnavailable) {
				t.Errorf("SystemFailure = %v", got)
			}
		})
	}
}
