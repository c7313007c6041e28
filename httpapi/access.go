package httpapi

import (
	"net/url"
	"slices"
	"strings"

	"github.com/valetauth/valet"
)

// AccessRule says who may reach part of an application behind forward auth
// (GET /v1/authz). A request matches when its host matches Host and its
// path starts with PathPrefix; the caller is let through when it has one of
// Roles, or is signed in at all when Roles is ["*"].
type AccessRule struct {
	// Host is an exact host name, "*" for any, or "*.example.com" for the
	// subdomains of example.com. The port is ignored.
	Host string
	// PathPrefix is the start of the paths the rule covers, e.g. "/admin".
	PathPrefix string
	// Roles are the roles allowed; "*" allows any signed-in user.
	Roles []string
}

// ParseAccessRule reads a rule written "HOST/PATH ROLE[,ROLE...]", for
// example "*.example.com/admin admin" or "app.example.com/ *". It returns
// an error wrapping valet.ErrInvalidRequest for any other form.
func ParseAccessRule(s string) (AccessRule, error) {
	target, roles, ok := strings.Cut(strings.TrimSpace(s), " ")
	bad := valet.Errorf(valet.ErrInvalidRequest, "Access rule %q: want HOST/PATH ROLE[,ROLE...], e.g. \"*.example.com/admin admin\".", s)
	if !ok {
		return AccessRule{}, bad
	}
	slash := strings.IndexByte(target, '/')
	if slash <= 0 {
		return AccessRule{}, bad
	}
	r := AccessRule{Host: strings.ToLower(target[:slash]), PathPrefix: target[slash:]}
	if strings.Count(r.Host, "*") > 1 || strings.Contains(r.Host, "*") && r.Host != "*" && !strings.HasPrefix(r.Host, "*.") {
		return AccessRule{}, bad
	}
	for _, role := range strings.Split(strings.TrimSpace(roles), ",") {
		if role = strings.TrimSpace(role); role != "" {
			r.Roles = append(r.Roles, role)
		}
	}
	if len(r.Roles) == 0 {
		return AccessRule{}, bad
	}
	return r, nil
}

func (r *AccessRule) matches(host, path string) bool {
	switch {
	case r.Host == "*":
	case strings.HasPrefix(r.Host, "*."):
		if !strings.HasSuffix(host, r.Host[1:]) {
			return false
		}
	case r.Host != host:
		return false
	}
	return strings.HasPrefix(path, r.PathPrefix)
}

// allows reports whether a caller with roles may go on.
func (r *AccessRule) allows(roles []string) bool {
	for _, want := range r.Roles {
		if want == "*" || slices.Contains(roles, want) {
			return true
		}
	}
	return false
}

// ruleFor returns the rule that decides a request for host and path: the
// matching rule with the longest path prefix, an exact host beating a
// wildcard. nil means none matches, and any signed-in caller may go on.
func ruleFor(rules []AccessRule, host, path string) *AccessRule {
	var best *AccessRule
	score := func(r *AccessRule) int {
		s := len(r.PathPrefix) * 4
		switch {
		case r.Host == "*":
		case strings.HasPrefix(r.Host, "*."):
			s++
		default:
			s += 2
		}
		return s
	}
	for i := range rules {
		r := &rules[i]
		if r.matches(host, path) && (best == nil || score(r) > score(best)) {
			best = r
		}
	}
	return best
}

// forwardedTarget returns the host (lower-case, without port) and path that
// the proxy asks about.
func forwardedTarget(orig string) (host, path string) {
	u, err := url.Parse(orig)
	if err != nil {
		return "", "/"
	}
	path = u.EscapedPath()
	if path == "" {
		path = "/"
	}
	return strings.ToLower(u.Hostname()), path
}
