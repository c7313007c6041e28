package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/token"
)

// IdentifyCookie returns the identity behind a session cookie value. A value
// with a wrong HMAC is refused before any store lookup. Errors wrap
// valet.ErrUnauthenticated, or valet.ErrUnavailable when a store fails.
func (s *Service) IdentifyCookie(ctx context.Context, value string) (*valet.Identity, error) {
	sess, err := s.cookieSession(ctx, value)
	if err != nil {
		return nil, err
	}
	return s.sessionIdentity(ctx, sess)
}

func (s *Service) sessionIdentity(ctx context.Context, sess valet.Session) (*valet.Identity, error) {
	u, err := s.sessionUser(ctx, sess.UserID)
	if errors.Is(err, valet.ErrNotFound) {
		return nil, valet.Errorf(valet.ErrUnauthenticated, "The account is gone.")
	}
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, valet.Errorf(valet.ErrUnauthenticated, "This account is disabled.")
	}
	id := &valet.Identity{User: u, Mode: sess.Mode, SessionID: sess.ID, ExpiresAt: sess.Expiry(), AMR: sess.AMR, AuthTime: sess.AuthTime}
	id.MustEnrol = s.mustEnrol(u, sess.AMR)
	return id, nil
}

// IdentifyBearer returns the identity behind an access token: signature and
// claims, and for a hybrid token (one with a sid) the in-memory revocation
// check. No store is consulted, unless the revocation channel has been down
// too long. Errors wrap valet.ErrTokenInvalid, ErrTokenExpired or ErrRevoked.
func (s *Service) IdentifyBearer(ctx context.Context, tok string) (*valet.Identity, error) {
	var c token.Claims
	if err := s.verify(tok, &c); err != nil {
		return nil, err
	}
	if c.SessionID != "" {
		if s.revoker == nil {
			return nil, fmt.Errorf("%w: hybrid tokens are not accepted here", valet.ErrTokenInvalid)
		}
		if err := s.revoker.Check(ctx, c.SessionID); err != nil {
			if errors.Is(err, valet.ErrRevoked) {
				return nil, fmt.Errorf("%w: %w", valet.ErrTokenInvalid, err)
			}
			return nil, err
		}
	}
	id := c.Identity()
	// c's slices may be the token cache's; the caller may change its own.
	id.User.Roles, id.AMR = slices.Clone(id.User.Roles), slices.Clone(id.AMR)
	id.MustEnrol = s.mustEnrol(id.User, id.AMR)
	return id, nil
}

// Logout ends what id stands for: its session (session and hybrid modes; a
// hybrid session's tokens are refused on every node at once). A token-mode
// identity holds nothing on the server; revoke its refresh token instead.
func (s *Service) Logout(ctx context.Context, id *valet.Identity, c Client) error {
	if id.SessionID == "" {
		return nil
	}
	if err := s.endSession(ctx, id.User.ID, id.SessionID, id.Mode); err != nil {
		return err
	}
	s.audit(ctx, "logout", id.User.ID, id.SessionID, c)
	return nil
}

// endSession deletes session sid of mode (empty when not known), revokes
// the refresh families bound to it, and puts it in the revocation set so
// its hybrid tokens die at once.
func (s *Service) endSession(ctx context.Context, userID, sid string, mode valet.Mode) error {
	existed, err := s.sessions.Destroy(ctx, sid)
	if err != nil {
		return err
	}
	if err := s.afterSessionsEnded(ctx, userID, []string{sid}, func(string) valet.Mode { return mode }); err != nil {
		return err
	}
	// Only the caller that deleted the session tells of its end: a second
	// sign-out of the same session, or a race with another, tells nothing.
	if existed {
		s.tellEnded(ctx, userID, []string{sid})
	}
	return nil
}

// tellEnded calls Config.SessionEnded for each of sids, which this
// service has just deleted. It is one of the two places a device session
// ends (endSession and RevokeUserSessions), which every way of ending one
// goes through.
func (s *Service) tellEnded(ctx context.Context, userID string, sids []string) {
	if s.cfg.SessionEnded == nil {
		return
	}
	for _, sid := range sids {
		s.cfg.SessionEnded(ctx, userID, sid)
	}
}

// afterSessionsEnded revokes the refresh families of the sessions sids,
// which have been deleted, and puts each in the revocation set unless
// modeOf says it was a token-mode one: no token names those by sid.
func (s *Service) afterSessionsEnded(ctx context.Context, userID string, sids []string, modeOf func(sid string) valet.Mode) error {
	// A revocation must outlive every token that could name the session.
	until := s.cfg.Now().Add(s.cfg.AccessTTL + s.cfg.Leeway).UTC()
	for _, sid := range sids {
		if s.refresh != nil {
			if err := s.refresh.RevokeRefreshFamilies(ctx, userID, sid); err != nil {
				return err
			}
		}
		if s.revoker != nil && modeOf(sid) != valet.ModeToken {
			if err := s.revoker.Revoke(ctx, valet.Revocation{SessionID: sid, Until: until}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Introspect verifies an access token as IdentifyBearer does and returns its
// claims (RFC 7662 introspection).
func (s *Service) Introspect(ctx context.Context, tok string) (token.Claims, error) {
	var c token.Claims
	if err := s.verify(tok, &c); err != nil {
		return token.Claims{}, err
	}
	if c.SessionID != "" {
		if s.revoker == nil {
			return token.Claims{}, valet.ErrTokenInvalid
		}
		if err := s.revoker.Check(ctx, c.SessionID); err != nil {
			return token.Claims{}, err
		}
	}
	return ownSlices(c), nil
}
