package middleware

import (
	"encoding/json"
	"io"
	"slices"
	"strings"

	"github.com/valetauth/valet"
)

// Permissions maps a role to the permissions it grants, such as
//
//	middleware.Permissions{
//		"admin": {"*"},
//		"clerk": {"orders:read", "orders:write"},
//		"auditor": {"orders:read", "reports:*"},
//	}
//
// A granted "*" is every permission; a granted "orders:*" is every
// permission that starts with "orders:". Roles live on users and travel in
// the token's roles claim; permissions are the application's own reading of
// them, so that changing what a role may do is a change of configuration,
// not of every user. A nil Permissions grants nothing.
type Permissions map[string][]string

// Allows reports whether any of roles grants perm. It is false for an empty
// perm.
func (p Permissions) Allows(roles []string, perm string) bool {
	if perm == "" {
		return false
	}
	for _, r := range roles {
		for _, g := range p[r] {
			if grants(g, perm) {
				return true
			}
		}
	}
	return false
}

// Of returns the permissions that roles grant, each once, sorted, as
// written in p (patterns such as "orders:*" are not expanded). It returns an
// empty slice, not nil, when roles grant nothing.
func (p Permissions) Of(roles []string) []string {
	out := []string{}
	for _, r := range roles {
		for _, g := range p[r] {
			if !slices.Contains(out, g) {
				out = append(out, g)
			}
		}
	}
	slices.Sort(out)
	return out
}

// grants reports whether the granted pattern g covers perm.
func grants(g, perm string) bool {
	if g == "*" || g == perm {
		return true
	}
	prefix, ok := strings.CutSuffix(g, "*")
	return ok && strings.HasSuffix(prefix, ":") && strings.HasPrefix(perm, prefix)
}

// ParsePermissions reads Permissions from a JSON object of role to list of
// permissions, as a configuration file would hold them:
//
//	{"admin": ["*"], "clerk": ["orders:read", "orders:write"]}
//
// It returns an error wrapping valet.ErrInvalidRequest when the JSON is
// malformed or a role or permission is empty or holds a space, or when a
// "*" is anywhere but alone or after a final ':'.
func ParsePermissions(r io.Reader) (Permissions, error) {
	var p Permissions
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, valet.Errorf(valet.ErrInvalidRequest, "Permissions: %v.", err)
	}
	for role, perms := range p {
		if role == "" || strings.ContainsAny(role, " \t\r\n") {
			return nil, valet.Errorf(valet.ErrInvalidRequest, "Permissions: role %q is empty or holds a space.", role)
		}
		for _, g := range perms {
			if g == "" || strings.ContainsAny(g, " \t\r\n") {
				return nil, valet.Errorf(valet.ErrInvalidRequest, "Permissions: role %q: permission %q is empty or holds a space.", role, g)
			}
			if i := strings.IndexByte(g, '*'); i >= 0 && g != "*" && (i != len(g)-1 || !strings.HasSuffix(g, ":*")) {
				return nil, valet.Errorf(valet.ErrInvalidRequest, "Permissions: role %q: %q: '*' must stand alone or end a prefix such as \"orders:*\".", role, g)
			}
		}
	}
	return p, nil
}
