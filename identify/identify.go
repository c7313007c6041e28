// Package identify is the one step that finds the caller of an HTTP
// request. The JSON API, the pages, forward auth and the middleware all
// call it, with the one cookie configuration of the deployment, so that a
// credential one of them accepts is accepted by all of them, in the same
// order.
//
// The order is fixed: an Authorization header with the Bearer scheme, then
// the session cookie (under any of its names, see session.Cookie), then the
// access-token cookie of a token or hybrid sign-in made in a browser. The
// first credential present decides: a request whose Bearer token is bad is
// refused even if it also carries a good cookie, since a client that sends
// a header means it.
package identify

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/session"
)

// Bearer finds the caller behind an access token. *auth.Service and
// *verify.Verifier implement it. IdentifyBearer returns an error wrapping
// valet.ErrTokenInvalid, ErrTokenExpired or ErrRevoked for a token it
// refuses, and one wrapping valet.ErrUnavailable when it cannot tell.
type Bearer interface {
	IdentifyBearer(ctx context.Context, token string) (*valet.Identity, error)
}

// Cookies finds the caller behind a session cookie's value, as
// *auth.Service does. IdentifyCookie returns an error wrapping
// valet.ErrUnauthenticated for a cookie it refuses.
type Cookies interface {
	IdentifyCookie(ctx context.Context, value string) (*valet.Identity, error)
}

// Source is the credential that identified a request, or was refused.
type Source uint8

// The sources, in the order they are tried.
const (
	// None: the request presented no credential that was read.
	None Source = iota
	// Header: "Authorization: Bearer <token>".
	Header
	// SessionCookie: the session cookie.
	SessionCookie
	// TokenCookie: the access-token cookie (session.TokenName).
	TokenCookie
)

// String returns the source's name, for logs.
func (s Source) String() string {
	switch s {
	case Header:
		return "bearer"
	case SessionCookie:
		return "session cookie"
	case TokenCookie:
		return "token cookie"
	}
	return "none"
}

// Sources is a set of the sources Identify reads.
type Sources uint8

// The sets of sources.
const (
	// FromBearer reads the Authorization header.
	FromBearer Sources = 1 << iota
	// FromCookies reads the session cookie and the access-token cookie.
	FromCookies
	// All reads every source.
	All = FromBearer | FromCookies
)

// Identifier identifies requests. The zero value identifies no one; build
// it with New. It is immutable and safe for concurrent use.
type Identifier struct {
	bearer  Bearer
	cookies Cookies // nil when session cookies are not read
	from    Sources
	cookie  session.Cookie
}

// New returns an Identifier that checks tokens with b, reads from, and
// names cookies as cookie says. Session cookies are read when from has
// FromCookies and b is also a Cookies; the access-token cookie is read
// whenever from has FromCookies. A zero from means All.
func New(b Bearer, cookie session.Cookie, from Sources) *Identifier {
	if b == nil {
		panic("identify: New: nil Bearer")
	}
	if from == 0 {
		from = All
	}
	id := &Identifier{bearer: b, from: from, cookie: cookie}
	if c, ok := b.(Cookies); ok && from&FromCookies != 0 {
		id.cookies = c
	}
	return id
}

// Result is what Identify found.
type Result struct {
	// Identity is the caller; nil when none was identified.
	Identity *valet.Identity
	// Source is the credential that was presented and checked; None when
	// the request presented none.
	Source Source
	// Token is the access token presented, for Header and TokenCookie.
	Token string
	// Err says why Identity is nil when Source is not None: it wraps
	// valet.ErrUnauthenticated, ErrTokenInvalid, ErrTokenExpired, or
	// ErrUnavailable when a store could not answer.
	Err error
}

// Identify returns the caller of r, trying the sources in order; see the
// package doc.
func (i *Identifier) Identify(r *http.Request) Result {
	ctx := r.Context()
	if i.from&FromBearer != 0 {
		if tok, ok := BearerToken(r); ok {
			res := Result{Source: Header, Token: tok}
			if tok == "" {
				res.Err = valet.Errorf(valet.ErrTokenInvalid, "The Authorization header has no token.")
				return res
			}
			res.Identity, res.Err = i.bearer.IdentifyBearer(ctx, tok)
			return res
		}
	}
	if i.from&FromCookies == 0 {
		return Result{}
	}
	if i.cookies != nil {
		if v, ok := i.cookie.SessionValue(r); ok {
			res := Result{Source: SessionCookie}
			res.Identity, res.Err = i.cookies.IdentifyCookie(ctx, v)
			return res
		}
	}
	if tok := session.Value(r, session.TokenName); tok != "" {
		res := Result{Source: TokenCookie, Token: tok}
		res.Identity, res.Err = i.bearer.IdentifyBearer(ctx, tok)
		return res
	}
	return Result{}
}

// BearerToken returns the token of an Authorization header whose scheme is
// Bearer (case-insensitive), and whether there is one. present is true for
// "Bearer" with no token, which is then refused rather than ignored.
func BearerToken(r *http.Request) (token string, present bool) {
	h := r.Header.Get("Authorization")
	if len(h) < 6 || !strings.EqualFold(h[:6], "bearer") || (len(h) > 6 && h[6] != ' ') {
		return "", false
	}
	return strings.TrimSpace(h[6:]), true
}

// SystemFailure reports whether err says nothing about the credential: a
// store or the revocation set could not answer. Such a caller is not
// signed out; the request may be retried.
func SystemFailure(err error) bool {
	if err == nil {
		return false
	}
	return valet.Describe(err).Code == "unavailable" || errors.Is(err, context.Canceled)
}
