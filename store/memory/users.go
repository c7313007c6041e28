package memory

import (
	"context"
	"fmt"
	"slices"

	"github.com/valetauth/valet"
)

var _ valet.UserImporter = (*Store)(nil)

// ImportUsers stores users under one lock, as valet.UserImporter says: a
// user whose email is free is created, one whose email is taken is skipped
// or, with valet.ConflictUpdate, gets the given password hash, roles and
// UpdatedAt. It returns an error wrapping valet.ErrConflict, and stores
// none of them, when the id of a user to create is taken, and one wrapping
// valet.ErrInvalidRequest when two users have the same email.
func (s *Store) ImportUsers(ctx context.Context, users []valet.User, onConflict valet.OnConflict) (created, updated, skipped int, err error) {
	if err := ctxErr(ctx); err != nil {
		return 0, 0, 0, err
	}
	s.umu.Lock()
	defer s.umu.Unlock()
	// Check everything first, so that a refusal stores nothing.
	seen := make(map[string]bool, len(users))
	for _, u := range users {
		if seen[u.Email] {
			return 0, 0, 0, fmt.Errorf("%w: memory: import: an email appears twice", valet.ErrInvalidRequest)
		}
		seen[u.Email] = true
		if _, taken := s.byEmail[u.Email]; taken {
			continue
		}
		if _, ok := s.users[u.ID]; ok {
			return 0, 0, 0, fmt.Errorf("memory: import: user id is taken: %w", valet.ErrConflict)
		}
	}
	for _, u := range users {
		id, taken := s.byEmail[u.Email]
		switch {
		case !taken:
			s.users[u.ID] = cloneUser(u)
			s.byEmail[u.Email] = u.ID
			created++
		case onConflict == valet.ConflictUpdate:
			old := s.users[id]
			old.PasswordHash, old.Roles, old.UpdatedAt = u.PasswordHash, slices.Clone(u.Roles), u.UpdatedAt
			s.users[id] = old
			updated++
		default:
			skipped++
		}
	}
	return created, updated, skipped, nil
}
