package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/valetauth/valet"
)

// maxRefreshLen bounds a presented refresh token: ours are 43 characters.
const maxRefreshLen = 128

func familyTTL(f valet.RefreshFamily, now time.Time) time.Duration {
	end := f.ExpiresAt
	if f.IdleExpiresAt.Before(end) {
		end = f.IdleExpiresAt
	}
	return end.Sub(now)
}

// newRefreshFamily starts a family for userID bound to its device session
// sid and returns its first token.
func (s *Service) newRefreshFamily(ctx context.Context, userID, sid string) (string, valet.RefreshFamily, error) {
	now := s.cfg.Now().UTC()
	rt := valet.NewID()
	f := valet.RefreshFamily{
		ID: valet.NewID(), UserID: userID, SessionID: sid, Generation: 0,
		RotatedAt: now, CreatedAt: now,
		ExpiresAt:     now.Add(s.cfg.RefreshLifetime),
		IdleExpiresAt: now.Add(s.cfg.RefreshIdle),
	}
	if f.IdleExpiresAt.After(f.ExpiresAt) {
		f.IdleExpiresAt = f.ExpiresAt
	}
	if err := s.refresh.CreateRefreshFamily(ctx, f, valet.HashSecret(rt)); err != nil {
		return "", valet.RefreshFamily{}, fmt.Errorf("auth: create refresh family: %w", err)
	}
	return rt, f, nil
}

// Refresh rotates a refresh token and returns a new pair. A token presented
// again within the grace window returns the same successor, so concurrent
// tabs do not log each other out; presented after it, the token is taken as
// stolen: its whole family and its device session are ended and the error
// wraps valet.ErrRefreshReused. Unknown, expired or revoked tokens give
// valet.ErrInvalidGrant.
func (s *Service) Refresh(ctx context.Context, rt string, c Client) (*Grant, error) {
	if s.refresh == nil {
		return nil, valet.Errorf(valet.ErrInvalidRequest, "This server has no refresh-token store.")
	}
	if s.cfg.Throttle != nil {
		if err := s.cfg.Throttle.Refresh(ctx, c.IP); err != nil {
			return nil, s.throttled(ctx, err, "refresh", "", c)
		}
	}
	if rt == "" || len(rt) > maxRefreshLen {
		return nil, valet.ErrInvalidGrant
	}
	hash := valet.HashSecret(rt)
	now := s.cfg.Now()
	var (
		f    valet.RefreshFamily
		next string
	)
	// Two passes at most: when a concurrent refresh with the same token wins
	// the rotation, the second pass finds it within grace and returns the
	// successor that request made.
	for pass := 0; ; pass++ {
		var (
			gen   int
			found bool
			err   error
		)
		f, gen, found, err = s.refresh.RefreshByToken(ctx, hash)
		if err != nil {
			return nil, err
		}
		if !found || f.Expired(now) {
			return nil, valet.ErrInvalidGrant
		}
		if f.Revoked {
			return nil, fmt.Errorf("%w: this refresh token was revoked", valet.ErrInvalidGrant)
		}
		switch {
		case gen == f.Generation:
			var ok bool
			next, ok, err = s.advance(ctx, f, gen, now)
			if err == nil && !ok {
				if pass == 0 {
					continue
				}
				err = valet.ErrInvalidGrant
			}
		case gen == f.Generation-1 && now.Sub(f.RotatedAt) <= s.cfg.RefreshGrace:
			next, err = s.unseal(f)
		default:
			err = s.reused(ctx, f, c)
		}
		if err != nil {
			return nil, err
		}
		break
	}
	u, err := s.users.UserByID(ctx, f.UserID)
	if errors.Is(err, valet.ErrNotFound) || err == nil && u.Disabled {
		_ = s.refresh.RevokeRefreshFamily(ctx, f.ID)
		return nil, valet.ErrInvalidGrant
	}
	if err != nil {
		return nil, err
	}
	g := &Grant{User: u, Mode: valet.ModeToken, RefreshToken: next}
	if f.SessionID != "" {
		sess, err := s.sessions.Load(ctx, f.SessionID)
		if err != nil {
			if errors.Is(err, valet.ErrUnauthenticated) {
				_ = s.refresh.RevokeRefreshFamily(ctx, f.ID)
				return nil, valet.ErrInvalidGrant
			}
			return nil, err
		}
		// The record says the mode: a family of a token-mode login is bound
		// to its device session too, and its tokens must stay token-mode.
		g.Mode, g.Session = sess.Mode, &sess
		if g.Mode != valet.ModeHybrid {
			g.Mode = valet.ModeToken
		}
	}
	if err := s.issueAccess(g); err != nil {
		return nil, err
	}
	// The successor's family was just used: its idle expiry moved to now+idle.
	f.IdleExpiresAt = now.Add(s.cfg.RefreshIdle)
	g.RefreshTTL = familyTTL(f, now)
	s.audit(ctx, "token.refresh", u.ID, f.SessionID, c)
	return g, nil
}

// advance rotates f from generation gen and returns the new token, or
// ok=false when another request rotated it first.
func (s *Service) advance(ctx context.Context, f valet.RefreshFamily, gen int, now time.Time) (string, bool, error) {
	next := valet.NewID()
	sealed, err := s.sealToken(next, f.ID)
	if err != nil {
		return "", false, err
	}
	idle := now.Add(s.cfg.RefreshIdle).UTC()
	if idle.After(f.ExpiresAt) {
		idle = f.ExpiresAt
	}
	ok, err := s.refresh.AdvanceRefreshFamily(ctx, f.ID, gen, valet.HashSecret(next), sealed, now.UTC(), idle)
	if err != nil || !ok {
		return "", false, err
	}
	return next, true, nil
}

func (s *Service) unseal(f valet.RefreshFamily) (string, error) {
	ns := s.seal.NonceSize()
	if len(f.Successor) < ns {
		return "", valet.ErrInvalidGrant
	}
	pt, err := s.seal.Open(nil, f.Successor[:ns], f.Successor[ns:], []byte(f.ID))
	if err != nil {
		return "", valet.ErrInvalidGrant
	}
	return string(pt), nil
}

func (s *Service) sealToken(tok, familyID string) ([]byte, error) {
	nonce := make([]byte, s.seal.NonceSize(), s.seal.NonceSize()+len(tok)+s.seal.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return s.seal.Seal(nonce, nonce, []byte(tok), []byte(familyID)), nil
}

// reused handles a refresh token presented after its grace window: theft.
func (s *Service) reused(ctx context.Context, f valet.RefreshFamily, c Client) error {
	if err := s.refresh.RevokeRefreshFamily(ctx, f.ID); err != nil {
		return err
	}
	if f.SessionID != "" {
		if err := s.endFamilySession(ctx, f); err != nil {
			return err
		}
	}
	s.audit(ctx, "token.reuse", f.UserID, f.SessionID, c, "family_id", f.ID[:12])
	return fmt.Errorf("%w: %w: this refresh token was already used; its family is revoked", valet.ErrInvalidGrant, valet.ErrRefreshReused)
}

// RevokeRefresh revokes the family of a refresh token (logout by refresh
// token) and ends the device session it is bound to. An unknown token is
// no error.
func (s *Service) RevokeRefresh(ctx context.Context, rt string, c Client) error {
	if s.refresh == nil || rt == "" || len(rt) > maxRefreshLen {
		return nil
	}
	f, _, found, err := s.refresh.RefreshByToken(ctx, valet.HashSecret(rt))
	if err != nil {
		return err
	}
	if !found {
		return nil
	}
	if err := s.refresh.RevokeRefreshFamily(ctx, f.ID); err != nil {
		return err
	}
	if f.SessionID != "" {
		if err := s.endFamilySession(ctx, f); err != nil {
			return err
		}
	}
	s.audit(ctx, "logout", f.UserID, f.SessionID, c, "by", "refresh_token")
	return nil
}

// endFamilySession ends the device session that family f is bound to.
func (s *Service) endFamilySession(ctx context.Context, f valet.RefreshFamily) error {
	// Its mode says whether a token may name it by sid; when the session is
	// gone already, it is revoked as if it were hybrid.
	var mode valet.Mode
	sess, found, err := s.cfg.Stores.Sessions.Session(ctx, f.SessionID)
	if err != nil {
		return err
	}
	if found {
		mode = sess.Mode
	}
	return s.endSession(ctx, f.UserID, f.SessionID, mode)
}
