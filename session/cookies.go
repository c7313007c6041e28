package session

import (
	"net/http"
	"net/netip"
	"net/textproto"
	"strings"
	"time"

	"github.com/valetauth/valet"
)

// The base names of the cookies a browser holds. The session cookie gets a
// prefix that browsers enforce (see Cookie.SessionName).
const (
	// BaseName is the session cookie's name without a prefix, and the name
	// it always has when the cookie is not Secure.
	BaseName = "valet_session"
	// TokenName holds the access token of a token or hybrid sign-in made in
	// a browser, out of reach of scripts.
	TokenName = "valet_token"
	// RefreshName holds that sign-in's refresh token.
	RefreshName = "valet_refresh"
)

// Cookie is the one cookie configuration of a deployment: the JSON API,
// the pages, forward auth and the middleware read and write the browser's
// cookies through the same value, so they agree on names and attributes.
// The zero value is a Secure, host-only cookie named
// "__Host-valet_session".
type Cookie struct {
	// Insecure drops the Secure attribute, for plain-HTTP hosts other than
	// localhost. Default false: cookies are Secure.
	Insecure bool
	// Domain shares the cookies with every host under it ("example.com"),
	// so that one sign-in serves every app there. Default "": host-only.
	Domain string
}

// ParseDomain reads a cookie domain as an operator writes it ("example.com"
// or ".example.com") into the form Cookie.Domain holds: lower case, no
// leading or trailing dot. It returns an error wrapping
// valet.ErrInvalidRequest for what browsers would refuse as a cookie
// domain or that is not one at all: an IP address, a single label such as
// "localhost", a port, characters a host name cannot hold.
func ParseDomain(s string) (string, error) {
	d := strings.TrimSuffix(strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), "."), ".")
	bad := valet.Errorf(valet.ErrInvalidRequest, "Cookie domain %q: want a domain such as example.com.", s)
	if _, err := netip.ParseAddr(d); err == nil || len(d) > 253 || !strings.Contains(d, ".") {
		return "", bad
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' ||
			strings.ContainsFunc(label, func(c rune) bool { return !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') }) {
			return "", bad
		}
	}
	return d, nil
}

// SessionName returns the session cookie's name: "__Host-valet_session"
// when the cookie is Secure and host-only (browsers then refuse it unless
// it is Secure, Path=/ and has no Domain, so a sibling subdomain cannot
// plant it), "__Secure-valet_session" when it is Secure with a Domain, and
// BaseName when it is not Secure.
func (c Cookie) SessionName() string {
	switch {
	case c.Insecure:
		return BaseName
	case c.Domain != "":
		return "__Secure-" + BaseName
	}
	return "__Host-" + BaseName
}

// New returns the cookie name=value that lives until expires, with the
// deployment's attributes: Path=/, HttpOnly, SameSite=Lax, Secure unless
// Insecure, and Domain when set. An empty value gives the cookie that
// clears name (Max-Age=0).
func (c Cookie) New(name, value string, expires time.Time) *http.Cookie {
	k := &http.Cookie{
		Name: name, Value: value, Path: "/", Domain: c.domainFor(name),
		HttpOnly: true, Secure: !c.Insecure, SameSite: http.SameSiteLaxMode,
	}
	if strings.HasPrefix(name, "__") {
		// Browsers ignore a prefixed cookie without Secure, even to clear it.
		k.Secure = true
	}
	if value == "" {
		k.MaxAge = -1
		return k
	}
	k.Expires = expires
	k.MaxAge = max(int(time.Until(expires).Seconds()), 1)
	return k
}

// domainFor returns the Domain attribute for name: none for a __Host-
// cookie, which browsers refuse with one.
func (c Cookie) domainFor(name string) string {
	if strings.HasPrefix(name, "__Host-") {
		return ""
	}
	return c.Domain
}

// Session returns the session cookie carrying value until expires; an
// empty value gives the cookie that clears it.
func (c Cookie) Session(value string, expires time.Time) *http.Cookie {
	return c.New(c.SessionName(), value, expires)
}

// SessionValue returns the session cookie that r carries: the one named
// SessionName or, failing that, one of the other names the session cookie
// has had (BaseName, and the prefixed forms), so that a browser is not
// signed out when the configuration changes. ok is false when r carries
// none, or only empty ones. The value is not checked here.
func (c Cookie) SessionValue(r *http.Request) (value string, ok bool) {
	for _, name := range c.sessionNames() {
		if v, ok := cookieValue(r.Header, name); ok && v != "" {
			return v, true
		}
	}
	return "", false
}

// The names the session cookie is read under, its own name first. A
// prefixed cookie never reaches a server that gave Secure up.
var (
	hostNames     = []string{"__Host-" + BaseName, "__Secure-" + BaseName, BaseName}
	domainNames   = []string{"__Secure-" + BaseName, "__Host-" + BaseName, BaseName}
	insecureNames = []string{BaseName}
)

// sessionNames returns the names for c; callers must not modify the slice.
func (c Cookie) sessionNames() []string {
	switch {
	case c.Insecure:
		return insecureNames
	case c.Domain != "":
		return domainNames
	}
	return hostNames
}

// Value returns the value of the cookie name that r carries, or "".
func Value(r *http.Request, name string) string {
	v, _ := cookieValue(r.Header, name)
	return v
}

// maxCookies is net/http's default bound on the cookies of a request: with
// more, r.Cookie finds none.
const maxCookies = 3000

// cookieValue returns the value of the first cookie named name in h, as
// r.Cookie(name).Value would, without the allocations of r.Cookie, which
// makes a Cookie and a slice of them for every request that carries one:
// the same headers, parts, trimming, quotes and refusals, and no cookie
// from a request with more than net/http's default limit of them (a
// GODEBUG=httpcookiemaxnum setting does not change that limit here). name
// must be a valid cookie name.
func cookieValue(h http.Header, name string) (string, bool) {
	lines := h["Cookie"]
	n := 0
	for _, line := range lines {
		n += strings.Count(line, ";") + 1
	}
	if n > maxCookies {
		return "", false
	}
	for _, line := range lines {
		line = textproto.TrimString(line)
		var part string
		for len(line) > 0 {
			part, line, _ = strings.Cut(line, ";")
			part = textproto.TrimString(part)
			k, v, _ := strings.Cut(part, "=")
			if textproto.TrimString(k) != name {
				continue
			}
			if len(v) > 1 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			if validCookieValue(v) {
				return v, true
			}
		}
	}
	return "", false
}

// validCookieValue reports whether every byte of v may be in a cookie
// value, by net/http's rule.
func validCookieValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; b < 0x20 || b >= 0x7f || b == '"' || b == ';' || b == '\\' {
			return false
		}
	}
	return true
}

// ClearAll sets on w the cookies that clear every credential cookie: the
// session cookie under its name, and every other session name, access-token
// and refresh cookie that r carries.
func (c Cookie) ClearAll(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, c.Session("", time.Time{}))
	c.ClearStale(w, r)
	for _, name := range []string{TokenName, RefreshName} {
		if _, ok := cookieValue(r.Header, name); ok {
			http.SetCookie(w, c.New(name, "", time.Time{}))
		}
	}
}

// ClearStale drops the session cookies r carries under names other than
// SessionName, so a browser moved to a new name does not present both.
func (c Cookie) ClearStale(w http.ResponseWriter, r *http.Request) {
	for _, name := range c.sessionNames()[1:] {
		if _, ok := cookieValue(r.Header, name); ok {
			http.SetCookie(w, c.New(name, "", time.Time{}))
		}
	}
}
