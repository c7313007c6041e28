package auth

import (
	"context"
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

// UpdateUser applies p to user id. Disabling a user ends all of its sessions
// and refresh families at once.
func (s *Service) UpdateUser(ctx context.Context, id string, p UserPatch, c Client) (valet.User, error) {
	u, err := s.userByID(ctx, id)
	if err != nil {
		return valet.User{}, err
	}
	if p.Roles != nil {
		if err := validRoles(*p.Roles); err != nil {
			return valet.User{}, err
		}
		u.Roles = dedupe(*p.Roles)
		if u.Roles == nil {
			u.Roles = []string{}
		}
	}
	disabling := p.Disabled != nil && *p.Disabled && !u.Disabled
	if p.Disabled != nil {
		u.Disabled = *p.Disabled
	}
	u.UpdatedAt = s.cfg.Now().UTC()
	if err := s.users.UpdateUser(ctx, u); err != nil {
		return valet.User{}, err
	}
	if disabling {
		if err := s.endEverything(ctx, u.ID, c); err != nil {
			return valet.User{}, err
		}
		s.audit(ctx, "user.disable", u.ID, "", c)
	}
	if p.Roles != nil {
		s.audit(ctx, "user.roles", u.ID, "", c, "roles", u.Roles)
	}
	return u, nil
}

// DeleteUser ends all sessions of user id and deletes it.
func (s *Service) DeleteUser(ctx context.Context, id string, c Client) error {
	if _, err := s.userByID(ctx, id); err != nil {
		return err
	}
	if err := s.endEverything(ctx, id, c); err != nil {
		return err
	}
	if err := s.users.DeleteUser(ctx, id); err != nil {
		return err
	}
	s.audit(ctx, "user.delete", id, "", c)
	return nil
}

// EndUserSessions ends every session and refresh family of user id.
func (s *Service) EndUserSessions(ctx context.Context, id string, c Client) error {
	if _, err := s.userByID(ctx, id); err != nil {
		return err
	}
	return s.endEverything(ctx, id, c)
}

func (s *Service) endEverything(ctx context.Context, userID string, c Client) error {
	if _, err := s.RevokeUserSessions(ctx, userID, "", c); err != nil {
		return err
	}
	if s.refresh != nil {
		return s.refresh.RevokeRefreshFamilies(ctx, userID, "")
	}
	return nil
}
