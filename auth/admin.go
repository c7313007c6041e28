package auth

import (
	"context"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/valetauth/valet"
)

// UserPatch is a change to a user by an administrator; nil fields are kept.
type UserPatch struct {
	Roles    *[]string
	Disabled *bool
}

// ListUsers returns a page of users and the number of all matches.
func (s *Service) ListUsers(ctx context.Context, q valet.UserQuery) ([]valet.User, int, error) {
	// Postgres fails on NUL and invalid UTF-8 rather than matching nothing.
	if strings.ContainsRune(q.Search, 0) || !utf8.ValidString(q.Search) {
		return nil, 0, valet.Errorf(valet.ErrInvalidRequest, "The search must be text.")
	}
	return s.users.ListUsers(ctx, q)
}

// userByID returns user id, refusing as not found an id this server cannot
// have made.
func (s *Service) userByID(ctx context.Context, id string) (valet.User, error) {
	if !plausibleID(id) {
		return valet.User{}, valet.Errorf(valet.ErrNotFound, "No such user.")
	}
	return s.users.UserByID(ctx, id)
}

// UpdateUser applies p to user id. Disabling a user ends all of its device
// sessions and refresh families at once. A change of roles reaches session
// requests at once; access tokens carry the roles they were issued with
// until they expire, which the Withdrawal's TokensUntil says.
func (s *Service) UpdateUser(ctx context.Context, id string, p UserPatch, c Client) (valet.User, Withdrawal, error) {
	u, err := s.userByID(ctx, id)
	if err != nil {
		return valet.User{}, Withdrawal{}, err
	}
	rolesChanged := false
	if p.Roles != nil {
		if err := validRoles(*p.Roles); err != nil {
			return valet.User{}, Withdrawal{}, err
		}
		roles := dedupe(*p.Roles)
		if roles == nil {
			roles = []string{}
		}
		rolesChanged = !slices.Equal(roles, u.Roles)
		u.Roles = roles
	}
	disabling := p.Disabled != nil && *p.Disabled && !u.Disabled
	if p.Disabled != nil {
		u.Disabled = *p.Disabled
	}
	u.UpdatedAt = s.cfg.Now().UTC()
	if err := s.users.UpdateUser(ctx, u); err != nil {
		return valet.User{}, Withdrawal{}, err
	}
	if err := s.userChanged(ctx, u.ID); err != nil {
		return valet.User{}, Withdrawal{}, err
	}
	var w Withdrawal
	if disabling {
		if w, err = s.endEverythingTold(ctx, u.ID, c); err != nil {
			return valet.User{}, Withdrawal{}, err
		}
		s.audit(ctx, "user.disable", u.ID, "", c)
	}
	if rolesChanged {
		s.audit(ctx, "user.roles", u.ID, "", c, "roles", u.Roles)
		if !disabling {
			if w, err = s.rolesOutlive(ctx, u.ID); err != nil {
				return valet.User{}, Withdrawal{}, err
			}
		}
	}
	return u, w, nil
}

// rolesOutlive says until when access tokens of userID's live token and
// hybrid sessions may carry roles given before now.
func (s *Service) rolesOutlive(ctx context.Context, userID string) (Withdrawal, error) {
	l, err := s.lister()
	if err != nil {
		return Withdrawal{}, err
	}
	ss, err := l.UserSessions(ctx, userID)
	if err != nil {
		return Withdrawal{}, err
	}
	var w Withdrawal
	now := s.cfg.Now()
	for _, sess := range ss {
		if sess.Mode == valet.ModeSession {
			continue
		}
		if until := s.tokensUntil(sess, now); until.After(w.TokensUntil) {
			w.TokensUntil = until
		}
	}
	return w, nil
}

// DeleteUser ends all device sessions of user id and deletes it.
func (s *Service) DeleteUser(ctx context.Context, id string, c Client) (Withdrawal, error) {
	if _, err := s.userByID(ctx, id); err != nil {
		return Withdrawal{}, err
	}
	w, err := s.endEverythingTold(ctx, id, c)
	if err != nil {
		return Withdrawal{}, err
	}
	if err := s.users.DeleteUser(ctx, id); err != nil {
		return Withdrawal{}, err
	}
	if s.mail != nil {
		// A ticket of a deleted user is worth nothing already; this
		// frees its space.
		if _, err := s.mail.outbox.DeleteTickets(ctx, id); err != nil {
			s.log.WarnContext(ctx, "deleting the tickets of a deleted user failed; they expire", "user_id", id, "err", err)
		}
	}
	if err := s.userChanged(ctx, id); err != nil {
		return Withdrawal{}, err
	}
	s.audit(ctx, "user.delete", id, "", c)
	return w, nil
}

// EndUserSessions ends every device session and refresh family of user id.
func (s *Service) EndUserSessions(ctx context.Context, id string, c Client) (Withdrawal, error) {
	if _, err := s.userByID(ctx, id); err != nil {
		return Withdrawal{}, err
	}
	return s.endEverythingTold(ctx, id, c)
}

func (s *Service) endEverything(ctx context.Context, userID string, c Client) error {
	_, err := s.endEverythingTold(ctx, userID, c)
	return err
}

// endEverythingTold ends every device session of userID and revokes every
// refresh family, those of no session too.
func (s *Service) endEverythingTold(ctx context.Context, userID string, c Client) (Withdrawal, error) {
	w, err := s.RevokeUserSessions(ctx, userID, "", c)
	if err != nil {
		return Withdrawal{}, err
	}
	if s.refresh != nil {
		if err := s.refresh.RevokeRefreshFamilies(ctx, userID, ""); err != nil {
			return Withdrawal{}, err
		}
	}
	return w, nil
}
