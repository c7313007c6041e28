package auth

import (
	"context"
	"errors"

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

// RevokeSession ends session sid of userID. A session that is not the
// user's answers valet.ErrNotFound, as one that does not exist does.
func (s *Service) RevokeSession(ctx context.Context, userID, sid string, c Client) error {
	if !plausibleID(sid) {
		return valet.Errorf(valet.ErrNotFound, "No such session.")
	}
	sess, found, err := s.cfg.Stores.Sessions.Session(ctx, sid)
	if err != nil {
		return err
	}
	if !found || sess.UserID != userID {
		return valet.Errorf(valet.ErrNotFound, "No such session.")
	}
	if err := s.endSession(ctx, userID, sid); err != nil {
		return err
	}
	s.audit(ctx, "session.revoke", userID, sid, c)
	return nil
}

// RevokeUserSessions ends every session of userID except keep (when not
// empty) and returns how many it ended.
func (s *Service) RevokeUserSessions(ctx context.Context, userID, keep string, c Client) (int, error) {
	l, err := s.lister()
	if err != nil {
		return 0, err
	}
	ids, err := l.DeleteUserSessions(ctx, userID, keep)
	if err != nil {
		return 0, err
	}
	if err := s.afterSessionsEnded(ctx, userID, ids); err != nil {
		return 0, err
	}
	s.audit(ctx, "session.revoke_all", userID, keep, c, "count", len(ids))
	return len(ids), nil
}

// ChangePassword checks the current password of id's user, sets the new one
// (which must follow Config.PasswordPolicy and differ from the current one)
// and ends every other session of the user. Every refresh family of the user
// is revoked too: a stolen refresh token must not outlive a password change.
func (s *Service) ChangePassword(ctx context.Context, id *valet.Identity, current, next string, c Client) error {
	u, err := s.users.UserByID(ctx, id.User.ID)
	if errors.Is(err, valet.ErrNotFound) {
		return valet.ErrUnauthenticated
	}
	if err != nil {
		return err
	}
	// The current password is a password check like a login's: a stolen
	// session must not become a way to guess it without limit.
	if s.cfg.Throttle != nil {
		if err := s.cfg.Throttle.Login(ctx, u.Email, c.IP); err != nil {
			return s.throttled(ctx, err, "password.change", u.ID, c)
		}
	}
	ok, _, err := s.verifyStored(ctx, current, u.PasswordHash)
	if err != nil {
		return err
	}
	if !ok {
		if s.cfg.Throttle != nil {
			if terr := s.cfg.Throttle.LoginFailed(ctx, u.Email, c.IP); terr != nil {
				s.log.WarnContext(ctx, "counting a failed password check failed", "user_id", u.ID, "err", terr)
			}
		}
		s.audit(ctx, "password.change.failure", u.ID, id.SessionID, c)
		return valet.Errorf(valet.ErrInvalidCredentials, "The current password is wrong.")
	}
	if s.cfg.Throttle != nil {
		if terr := s.cfg.Throttle.LoginSucceeded(ctx, u.Email, c.IP); terr != nil {
			s.log.WarnContext(ctx, "resetting the failed logins of an account failed", "user_id", u.ID, "err", terr)
		}
	}
	// The current password is the one just checked, so the rule that the
	// new one differ compares with what the user typed.
	if err := s.checkNewPassword(next, u.Email, current); err != nil {
		return err
	}
	h, err := s.hasher.Hash(ctx, next)
	if err != nil {
		return err
	}
	u.PasswordHash, u.UpdatedAt = h, s.cfg.Now().UTC()
	if err := s.users.UpdateUser(ctx, u); err != nil {
		return err
	}
	if _, err := s.RevokeUserSessions(ctx, u.ID, id.SessionID, c); err != nil {
		return err
	}
	if s.refresh != nil {
		if err := s.refresh.RevokeRefreshFamilies(ctx, u.ID, ""); err != nil {
			return err
		}
	}
	s.audit(ctx, "password.change", u.ID, id.SessionID, c)
	return nil
}
