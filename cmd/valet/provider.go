package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/auth"
	"github.com/valetauth/valet/identify"
	"github.com/valetauth/valet/oidc"
	"github.com/valetauth/valet/session"
)

// providerHook lets the engine tell the OpenID Connect provider of ended
// sessions although the provider is built after the engine (it needs the
// engine's keys and users): the engine gets hook.sessionEnded, serve sets
// the provider once it has one.
// oidcTokenPrefix marks, in the revocation set, the id of an OpenID
// client's access token rather than a session's.
const oidcTokenPrefix = "oidc-at:"

type providerHook struct {
	p   atomic.Pointer[oidc.Provider]
	log *slog.Logger
	// revoked queues the sessions that other processes ended, for run.
	revoked chan string
}

func newProviderHook(log *slog.Logger) *providerHook {
	return &providerHook{log: log, revoked: make(chan string, 4096)}
}

// sessionRevoked is the revocation node's WatchSessions callback: a
// session ended somewhere, maybe by a process that does not tell clients
// (valet user disable, valet user mfa reset). It queues the session for
// run and never blocks the node.
func (h *providerHook) sessionRevoked(sid string) {
	if strings.HasPrefix(sid, oidcTokenPrefix) {
		return
	}
	select {
	case h.revoked <- sid:
	default:
		h.log.Warn("oidc: back-channel logout queue full; a session's applications are not told", "sid_hash", valet.HashSecret(sid)[:12])
	}
}

// run tells the applications of each queued session, until ctx ends. Of
// the nodes that hear of a session, the one that takes its client grants
// from the database tells them; for a session this node ended itself,
// sessionEnded took them already and there is nothing left.
func (h *providerHook) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case sid := <-h.revoked:
			h.sessionEnded(ctx, "", sid)
		}
	}
}

// sessionEnded is auth.Config.SessionEnded. The provider looks up the
// session's clients in the database and sends the logout tokens in the
// background; a failure is logged, never the request's.
func (h *providerHook) sessionEnded(ctx context.Context, userID, sid string) {
	p := h.p.Load()
	if p == nil {
		return
	}
	if err := p.SessionEnded(context.WithoutCancel(ctx), userID, sid); err != nil {
		h.log.Warn("oidc: back-channel logout not sent", "err", err)
	}
}

// newProvider returns valet's OpenID Connect provider at publicURL: its
// browser is the one of the pages (the session and token cookies of
// cookie), its users, keys and clients those of svc and clients.
func newProvider(svc *auth.Service, cookie session.Cookie, clientIP func(*http.Request) string, publicURL string, clients valet.ClientStore, log *slog.Logger) *oidc.Provider {
	id := identify.New(svc, cookie, identify.FromCookies)
	// The access tokens that /oauth2/revoke and a replayed code revoke go
	// in the revocation set, as ended sessions do, so that every node
	// refuses them at once.
	var (
		revokeToken  func(context.Context, string, time.Time) error
		tokenRevoked func(context.Context, string) error
	)
	if rv := svc.Revoker(); rv != nil {
		revokeToken = func(ctx context.Context, jti string, until time.Time) error {
			return rv.Revoke(ctx, valet.Revocation{SessionID: oidcTokenPrefix + jti, Until: until})
		}
		tokenRevoked = func(ctx context.Context, jti string) error { return rv.Check(ctx, oidcTokenPrefix+jti) }
	}
	return oidc.New(oidc.Config{
		Issuer:  publicURL,
		Clients: clients,
		Identify: func(r *http.Request) (*valet.Identity, error) {
			res := id.Identify(r)
			return res.Identity, res.Err
		},
		Users:  svc,
		Sign:   svc.SignClaims,
		SignAs: svc.SignClaimsAs,
		JWKS:   svc.JWKS,
		EndSession: func(ctx context.Context, r *http.Request, w http.ResponseWriter) error {
			if err := endBrowserLogin(ctx, svc, cookie, r, auth.Client{UserAgent: r.UserAgent(), IP: clientIP(r)}); err != nil {
				return err
			}
			cookie.ClearAll(w, r)
			return nil
		},
		RevokeToken:  revokeToken,
		TokenRevoked: tokenRevoked,
		EndSessionByID: func(ctx context.Context, userID, sid string) error {
			_, err := svc.RevokeSession(ctx, userID, sid, auth.Client{UserAgent: "oidc-logout"})
			if errors.Is(err, valet.ErrNotFound) {
				return nil
			}
			return err
		},
		LoginURL:   "/",
		ConsentURL: "/oauth2/consent",
		Logger:     log,
	})
}

// endBrowserLogin ends on the server whatever sign-in r's cookies stand
// for, as the sign-out of the pages does: the session, the refresh family,
// and a hybrid token's session. Cookies that are no longer good are
// skipped; only a store failure is an error.
func endBrowserLogin(ctx context.Context, svc *auth.Service, cookie session.Cookie, r *http.Request, c auth.Client) error {
	if v, ok := cookie.SessionValue(r); ok {
		id, err := svc.IdentifyCookie(ctx, v)
		if err == nil {
			err = svc.Logout(ctx, id, c)
		}
		if identify.SystemFailure(err) {
			return err
		}
	}
	if rt := session.Value(r, session.RefreshName); rt != "" {
		if err := svc.RevokeRefresh(ctx, rt, c); identify.SystemFailure(err) {
			return err
		}
	}
	if tok := session.Value(r, session.TokenName); tok != "" {
		id, err := svc.IdentifyBearer(ctx, tok)
		if err == nil {
			err = svc.Logout(ctx, id, c)
		}
		if identify.SystemFailure(err) {
			return err
		}
	}
	return nil
}
