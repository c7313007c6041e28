package httpapi

import (
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/valetauth/valet"
)

// AccessRule says who may reach part of an application behind forward auth
// (GET /v1/authz/forward-auth, GET /v1/authz/auth-request). A request matches when its host matches Host, its method
// is one of Methods (any when empty), and its normalized path is PathPrefix
// or lies under it by whole segments ("/admin" covers "/admin" and
// "/admin/x", not "/administrator"); the caller is let through when it has
// one of Roles, or is signed in at all when Roles is ["*"].
type AccessRule struct {
	// Host is an exact host name, "*" for any, or "*.example.com" for the
	// subdomains of example.com. The port is ignored.
	Host string
	// PathPrefix is the start of the paths the rule covers, e.g. "/admin",
	// normalized as request paths are (lower case, no trailing slash).
	PathPrefix string
	// Methods are the HTTP methods the rule covers; empty covers all.
	Methods []string
	// Roles are the roles allowed; "*" allows any signed-in user.
	Roles []string
}

// ParseAccessRule reads a rule written "[METHOD,...] HOST/PATH ROLE[,ROLE...]",
// for example "*.example.com/admin admin", "app.example.com/ *" or
// "POST,DELETE app.example.com/orders clerk". It returns an error wrapping
// valet.ErrInvalidRequest for any other form, and for a path that is not
// already in normal form.
func ParseAccessRule(s string) (AccessRule, error) {
	bad := valet.Errorf(valet.ErrInvalidRequest, "Access rule %q: want [METHOD,...] HOST/PATH ROLE[,ROLE...], e.g. \"*.example.com/admin admin\".", s)
	fields := strings.Fields(strings.ReplaceAll(s, ", ", ","))
	var r AccessRule
	if len(fields) == 3 {
		for _, m := range strings.Split(fields[0], ",") {
			if m == "" || strings.ContainsFunc(m, func(c rune) bool { return c < 'A' || c > 'Z' }) {
				return AccessRule{}, bad
			}
			r.Methods = append(r.Methods, m)
		}
		fields = fields[1:]
	}
	if len(fields) != 2 {
		return AccessRule{}, bad
	}
	target, roles := fields[0], fields[1]
	slash := strings.IndexByte(target, '/')
	if slash <= 0 {
		return AccessRule{}, bad
	}
	r.Host = normalizeHost(target[:slash])
	if strings.ContainsFunc(r.Host, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '*')
	}) || strings.Count(r.Host, "*") > 1 || strings.Contains(r.Host, "*") && r.Host != "*" && !strings.HasPrefix(r.Host, "*.") {
		return AccessRule{}, bad
	}
	prefix, ok := normalizePath(target[slash:])
	if !ok {
		return AccessRule{}, bad
	}
	r.PathPrefix = prefix
	for _, role := range strings.Split(roles, ",") {
		if role = strings.TrimSpace(role); role != "" {
			r.Roles = append(r.Roles, role)
		}
	}
	if len(r.Roles) == 0 {
		return AccessRule{}, bad
	}
	return r, nil
}

func (r *AccessRule) matches(method, host, path string) bool {
	switch {
	case r.Host == "*":
	case strings.HasPrefix(r.Host, "*."):
		if !strings.HasSuffix(host, r.Host[1:]) {
			return false
		}
	case r.Host != host:
		return false
	}
	if len(r.Methods) > 0 && !slices.Contains(r.Methods, method) {
		return false
	}
	return r.PathPrefix == "/" || path == r.PathPrefix || strings.HasPrefix(path, r.PathPrefix+"/")
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

// ruleFor returns the rule that decides a request for method, host and
// normalized path: the matching rule with the longest path prefix, an
// exact host beating a wildcard, a rule naming methods beating one that
// does not. nil means none matches, and any signed-in caller may go on.
func ruleFor(rules []AccessRule, method, host, path string) *AccessRule {
	var best *AccessRule
	score := func(r *AccessRule) int {
		s := len(r.PathPrefix) * 8
		switch {
		case r.Host == "*":
		case strings.HasPrefix(r.Host, "*."):
			s += 2
		default:
			s += 4
		}
		if len(r.Methods) > 0 {
			s++
		}
		return s
	}
	for i := range rules {
		r := &rules[i]
		if r.matches(method, host, path) && (best == nil || score(r) > score(best)) {
			best = r
		}
	}
	return best
}

// forwardedTarget returns the host (lower case, without port or trailing
// dot) and the normalized path that the proxy asks about. ok is false when
// the URL cannot be read or its path cannot be normalized unambiguously;
// the caller then denies, since the application behind the proxy might
// read the path otherwise than valet would. A "#" is such a case: no
// request target has a fragment, and a server that takes it for part of
// the path would see more than valet.
func forwardedTarget(orig string) (host, path string, ok bool) {
	u, err := url.Parse(orig)
	if err != nil || u.Host == "" && orig != "" || strings.Contains(orig, "#") {
		return "", "", false
	}
	escaped := u.RawPath
	if escaped == "" {
		escaped = u.EscapedPath()
	}
	path, ok = normalizePath(escaped)
	return normalizeHost(u.Hostname()), path, ok
}

func normalizeHost(h string) string { return strings.TrimSuffix(strings.ToLower(h), ".") }

// normalizePath percent-decodes p once, removes dot segments, duplicate
// slashes and ";" parameters, and lower-cases it (so a rule only ever
// denies more). It refuses
// (ok false) what an application could read otherwise: an encoded "/" or
// dot, a backslash, NUL or another control byte, invalid UTF-8, a "%" left
// after one decoding (double encoding), and a path that does not start
// with "/".
func normalizePath(p string) (string, bool) {
	if p == "" {
		return "/", true
	}
	if p[0] != '/' {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '%' {
			if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
				return "", false
			}
			c = unhex(p[i+1])<<4 | unhex(p[i+2])
			i += 2
			if c == '/' || c == '.' || c == '%' {
				return "", false
			}
		}
		if c == '\\' || c < 0x20 || c == 0x7f {
			return "", false
		}
		b.WriteByte(c)
	}
	d := b.String()
	if !utf8.ValidString(d) {
		return "", false
	}
	var segs []string
	for _, seg := range strings.Split(d, "/") {
		// "/admin;x" is "/admin" to some servers: a rule covers both.
		seg, _, _ = strings.Cut(seg, ";")
		switch seg {
		case "", ".":
		case "..":
			if len(segs) > 0 {
				segs = segs[:len(segs)-1]
			}
		default:
			segs = append(segs, seg)
		}
	}
	return strings.ToLower("/" + strings.Join(segs, "/")), true
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}
