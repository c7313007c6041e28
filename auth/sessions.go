package auth

import (
	"context"
	"errors"
	"time"

	"github.com/valetauth/valet"
)

func (s *Service) lister() (valet.SessionLister, error) {
	l, ok := s.cfg.Stores.Sessions.(valet.SessionLister)
	if !ok {
		return nil, valet.Errorf(valet.ErrInvalidRequest, "This session store cannot list sessions.")
	}
	return l, nil
}

// UserSessions returns the live sessions of userID, newest first.
func (s *Service) UserSessions(ctx context.Context, userID string) ([]valet.Session, error) {
	l, err := s.lister()
	if err != nil {
		return nil, err
	}
	return l.UserSessions(ctx, userID)
}

// Withdrawal says what a change that withdraws access did and what of the
// old access is left. Access tokens are checked by their signature alone in
// token mode, and carry the roles they were issued with in every mode, so an
// access token already handed out keeps working (token mode), or keeps its
// roles, until its exp; it can never be renewed. TokensUntil is the latest
// such exp.
type Withdrawal struct {
	// Sessions is how many device sessions ended.
	Sessions int
	// TokensUntil, when not zero, is when the last access token that still
	// works (or still carries the old roles) expires, at the latest.
	TokensUntil time.Time
}

// tokensUntil returns the latest exp of an access token that session sess
// may have been given: one is issued at login and at each refresh, which
// touches the record at most TouchInterval late.
func (s *Service) tokensUntil(sess valet.Session, now time.Time) time.Time {
	issued := sess.LastSeenAt.Add(s.sessions.Config().TouchInterval)
	if sess.LastSeenAt.IsZero() || issued.After(now) {
		issued = now
	}
	return issued.Add(s.cfg.AccessTTL).UTC()
}

// RevokeSession ends session sid of userID, whatever its mode, with the
// refresh family bound to it. A session that is not the user's answers
// valet.ErrNotFound, as one that does not exist does.
func (s *Service) RevokeSession(ctx context.Context, userID, sid string, c Client) (Withdrawal, error) {
	if !plausibleID(sid) {
		return Withdrawal{}, valet.Errorf(valet.ErrNotFound, "No such session.")
	}
	sess, found, err := s.cfg.Stores.Sessions.Session(ctx, sid)
	if err != nil {
		return Withdrawal{}, err
	}
	if !found || sess.UserID != userID {
		return Withdrawal{}, valet.Errorf(valet.ErrNotFound, "No such session.")
	}
	if err := s.endSession(ctx, userID, sid, sess.Mode); err != nil {
		return Withdrawal{}, err
	}
	s.audit(ctx, "session.revoke", userID, sid, c, "mode", string(sess.Mode))
	w := Withdrawal{Sessions: 1}
	if sess.Mode == valet.ModeToken {
		w.TokensUntil = s.tokensUntil(sess, s.cfg.Now())
	}
	return w, nil
}

// RevokeUserSessions ends every device session of userID, in every mode,
// except keep (when not empty), with their refresh families.
func (s *Service) RevokeUserSessions(ctx context.Context, userID, keep string, c Client) (Withdrawal, error) {
	l, err := s.lister()
	if err != nil {
		return Withdrawal{}, err
	}
	// The list is read first for the modes: what a token-mode session
	// leaves behind is told, not hidden.
	before, err := l.UserSessions(ctx, userID)
	if err != nil {
		return Withdrawal{}, err
	}
	ids, err := l.DeleteUserSessions(ctx, userID, keep)
	if err != nil {
		return Withdrawal{}, err
	}
	known := make(map[string]valet.Session, len(before))
	for _, sess := range before {
		known[sess.ID] = sess
	}
	// A session made between the list and the delete has no known mode,
	// and is revoked as if it were hybrid.
	if err := s.afterSessionsEnded(ctx, userID, ids, func(sid string) valet.Mode { return known[sid].Mode }); err != nil {
		return Withdrawal{}, err
	}
	s.tellEnded(ctx, userID, ids)
	now := s.cfg.Now()
	w := Withdrawal{Sessions: len(ids)}
	for _, id := range ids {
		sess, ok := known[id]
		if ok && sess.Mode != valet.ModeToken {
			continue
		}
		// A session made between the list and the delete may be a token
		// login that has just been given a token.
		until := now.Add(s.cfg.AccessTTL).UTC()
		if ok {
			until = s.tokensUntil(sess, now)
		}
		if until.After(w.TokensUntil) {
			w.TokensUntil = until
		}
	}
	s.audit(ctx, "session.revoke_all", userID, keep, c, "count", len(ids))
	return w, nil
}

// ChangePassword checks the current password of id's user and sets the new
// one, which must follow Config.PasswordPolicy and differ from the current
// one. Every device session and refresh family of the user ends, the
// caller's own too, and the caller's device gets a new one in the same mode
// (a new id: a stolen cookie or token of the old one is worth nothing),
// which the returned Grant holds. The address is told by mail when the
// service sends mail.
func (s *Service) ChangePassword(ctx context.Context, id *valet.Identity, current, next string, c Client) (*Grant, error) {
	u, err := s.users.UserByID(ctx, id.User.ID)
	if errors.Is(err, valet.ErrNotFound) {
		return nil, valet.ErrUnauthenticated
	}
	if err != nil {
		return nil, err
	}
	// The current password is a password check like a login's: a stolen
	// session must not become a way to guess it without limit.
	if err := s.checkCurrentPassword(ctx, u, id.SessionID, current, "password.change", c); err != nil {
		return nil, err
	}
	if err := s.requireRecentBeyondPassword(ctx, id); err != nil {
		return nil, err
	}
	// The current password is the one just checked, so the rule that the
	// new one differ compares with what the user typed.
	if err := s.checkNewPassword(next, u.Email, current); err != nil {
		return nil, err
	}
	h, err := s.hasher.Hash(ctx, next)
	if err != nil {
		return nil, err
	}
	u.PasswordHash, u.UpdatedAt = h, s.cfg.Now().UTC()
	if err := s.updateUserNotified(ctx, u, "The password of your account was just changed, and every other device signed in to it was signed out."); err != nil {
		return nil, err
	}
	if err := s.endEverything(ctx, u.ID, c); err != nil {
		return nil, err
	}
	mode := id.Mode
	if mode == "" {
		mode = s.cfg.Mode
	}
	g, err := s.grantSignedIn(ctx, u, mode, c, id.AMR)
	if err != nil {
		return nil, err
	}
	s.audit(ctx, "password.change", u.ID, g.Session.ID, c, "ended_session_id", id.SessionID)
	return g, nil
}

// checkCurrentPassword checks pw, typed by the signed-in user u of session
// sid to confirm an action, as a login checks a password: throttled, its
// failures counted against the account and the address, and audited as
// "<action>.failure". A wrong password is valet.ErrInvalidCredentials.
func (s *Service) checkCurrentPassword(ctx context.Context, u valet.User, sid, pw, action string, c Client) error {
	if s.cfg.Throttle != nil {
		if err := s.cfg.Throttle.Login(ctx, u.Email, c.IP); err != nil {
			return s.throttled(ctx, err, action, u.ID, c)
		}
	}
	ok, _, err := s.verifyStored(ctx, pw, u.PasswordHash)
	if err != nil {
		return err
	}
	if !ok {
		if s.cfg.Throttle != nil {
			if terr := s.cfg.Throttle.LoginFailed(ctx, u.Email, c.IP); terr != nil {
				s.log.WarnContext(ctx, "counting a failed password check failed", "user_id", u.ID, "err", terr)
			}
		}
		s.audit(ctx, action+".failure", u.ID, sid, c)
		return valet.Errorf(valet.ErrInvalidCredentials, "The current password is wrong.")
	}
	if s.cfg.Throttle != nil {
		if terr := s.cfg.Throttle.LoginSucceeded(ctx, u.Email, c.IP); terr != nil {
			s.log.WarnContext(ctx, "resetting the failed logins of an account failed", "user_id", u.ID, "err", terr)
		}
	}
	return nil
}
