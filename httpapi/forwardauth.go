package httpapi

import (
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/identify"
)

// ForwardAuthConfig configures forward auth (GET /v1/authz/forward-auth,
// its alias GET /v1/authz, and GET /v1/authz/auth-request) and the places a
// browser may be sent back to after signing in or out. Zero fields take the
// defaults named.
type ForwardAuthConfig struct {
	// TrustedProxies are the peers whose word on the original request is
	// believed: X-Forwarded-Method, -Proto, -Host and -Uri on forward-auth,
	// X-Original-URL and X-Original-Method on auth-request. A request from
	// any other peer that carries one of those headers is refused with 403.
	// Default none.
	TrustedProxies []netip.Prefix
	// PublicURL is valet's address as browsers reach it, e.g.
	// "https://auth.example.com": forward auth sends browsers to
	// Config.LoginURL under it, and return targets may name its host.
	// Default "": the login URL as it is (relative, which only works when
	// valet and the application share a host).
	PublicURL string
	// AllowedRedirectHosts are host names that return targets (rd,
	// return_to) may point to besides valet's own host and the hosts under
	// Config.Cookie.Domain. They are compared without the port and
	// case-insensitively, as cookies are. Default none.
	AllowedRedirectHosts []string
}

// ParsePublicURL checks a --public-url value: an absolute http or https
// URL with a host and no user info, query or fragment. It returns the URL
// without a trailing slash, or an error wrapping valet.ErrInvalidRequest.
func ParsePublicURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || !validHostPort(u.Host) ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", valet.Errorf(valet.ErrInvalidRequest, "Public URL %q: want an absolute http or https URL such as https://auth.example.com.", s)
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}

// RedirectAllowed reports whether a browser may be sent to host (a host
// name without port) after signing in or out: the host of
// ForwardAuth.PublicURL, Cookie.Domain or a host under it, or one of
// ForwardAuth.AllowedRedirectHosts. The pages add the host the request
// itself was sent to.
func (c Config) RedirectAllowed(host string) bool {
	h := normalizeHost(host)
	if h == "" {
		return false
	}
	if u, err := url.Parse(c.ForwardAuth.PublicURL); err == nil && u.Host != "" && normalizeHost(u.Hostname()) == h {
		return true
	}
	if d := normalizeHost(strings.TrimPrefix(c.Cookie.Domain, ".")); d != "" && (h == d || strings.HasSuffix(h, "."+d)) {
		return true
	}
	for _, a := range c.ForwardAuth.AllowedRedirectHosts {
		if hostWithoutPort(a) == h {
			return true
		}
	}
	return false
}

// hostWithoutPort returns h lower case, without a port or trailing dot.
func hostWithoutPort(h string) string {
	if u, err := url.Parse("//" + strings.TrimSpace(h)); err == nil && u.Host != "" {
		return normalizeHost(u.Hostname())
	}
	return normalizeHost(h)
}

// The headers each endpoint reads, and only from a trusted proxy.
var (
	forwardedHeaders = []string{"X-Forwarded-Method", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Uri"}
	originalHeaders  = []string{"X-Original-Method", "X-Original-URL"}
)

// proxyRequest is the request a proxy asks about.
type proxyRequest struct {
	// method is upper case; "" when the proxy named no request.
	method string
	// url is absolute; "" when the proxy named no request.
	url string
}

// forwardAuth is forward auth for Traefik ForwardAuth and Caddy
// forward_auth (GET /v1/authz/forward-auth, and GET /v1/authz): the
// original request comes in X-Forwarded-Method, -Proto, -Host and -Uri, and
// a browser that must sign in is redirected here, with 302.
func (a *API) forwardAuth(w http.ResponseWriter, r *http.Request) {
	a.decide(w, r, a.forwardedRequest, false)
}

// authRequest is forward auth for nginx auth_request (GET
// /v1/authz/auth-request): the original request comes in X-Original-URL
// and X-Original-Method, and since auth_request turns any answer but 2xx,
// 401 and 403 into a 500, a browser that must sign in gets 401 with the
// login URL in Location for the proxy to redirect to.
func (a *API) authRequest(w http.ResponseWriter, r *http.Request) {
	a.decide(w, r, a.originalRequest, true)
}

// decide is the answer both endpoints share. A request that names the
// original request without being entitled to (an untrusted peer, a missing
// or malformed header) is refused before its caller is even looked up:
// 403, never a guess about what the proxy meant.
func (a *API) decide(w http.ResponseWriter, r *http.Request, read func(*http.Request) (proxyRequest, error), locationOn401 bool) {
	orig, err := read(r)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	id, err := a.Identify(r)
	if err != nil {
		if identify.SystemFailure(err) || !wantsHTML(r) || hasBearer(r) {
			writeError(w, r, a.log, err)
			return
		}
		login := a.loginURL(orig.url)
		if locationOn401 {
			w.Header().Set("Location", login)
			writeError(w, r, a.log, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, login, http.StatusFound)
		return
	}
	if id.MustEnrol {
		// The policy wants a second factor first: a browser is sent to add
		// one, and comes back.
		if wantsHTML(r) && !hasBearer(r) {
			w.Header().Set("Cache-Control", "no-store")
			http.Redirect(w, r, a.accountURL(orig.url), http.StatusFound)
			return
		}
		writeError(w, r, a.log, errMustEnrol())
		return
	}
	if len(a.cfg.AccessRules) > 0 {
		host, path, ok := forwardedTarget(orig.url)
		if !ok || orig.url == "" {
			writeError(w, r, a.log, valet.Errorf(valet.ErrForbidden, "This address cannot be checked against the access rules."))
			return
		}
		if rule := ruleFor(a.cfg.AccessRules, orig.method, host, path); rule != nil && !rule.allows(id.User.Roles) {
			writeError(w, r, a.log, valet.Errorf(valet.ErrForbidden, "An access rule does not let you in here."))
			return
		}
	}
	h := w.Header()
	h.Set("Remote-User", id.User.ID)
	h.Set("Remote-Email", id.User.Email)
	h.Set("Remote-Email-Verified", strconv.FormatBool(id.User.EmailVerified))
	h.Set("Remote-Groups", strings.Join(id.User.Roles, ","))
	// valet keeps no display name: the email address is the name.
	h.Set("Remote-Name", id.User.Email)
	// How the user signed in (RFC 8176 values) and when, so that an app
	// can ask for more for what matters to it.
	h.Set("Remote-Amr", strings.Join(id.AMR, ","))
	if !id.AuthTime.IsZero() {
		h.Set("Remote-Auth-Time", strconv.FormatInt(id.AuthTime.Unix(), 10))
	}
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// accountURL returns the absolute address of the account page, where a
// second factor is added, with orig in rd.
func (a *API) accountURL(orig string) string {
	base := "/account"
	if a.cfg.ForwardAuth.PublicURL != "" {
		base = strings.TrimSuffix(a.cfg.ForwardAuth.PublicURL, "/") + base
	}
	if orig == "" {
		return base
	}
	return base + "?rd=" + url.QueryEscape(orig)
}

// loginURL returns the absolute address of the sign-in page, with orig in
// rd when the proxy named an original URL.
func (a *API) loginURL(orig string) string {
	login := a.cfg.LoginURL
	if !strings.Contains(login, "://") && a.cfg.ForwardAuth.PublicURL != "" {
		login = strings.TrimSuffix(a.cfg.ForwardAuth.PublicURL, "/") + "/" + strings.TrimPrefix(login, "/")
	}
	if orig == "" {
		return login
	}
	sep := "?"
	if strings.Contains(login, "?") {
		sep = "&"
	}
	return login + sep + "rd=" + url.QueryEscape(orig)
}

// forwardedRequest reads X-Forwarded-Method, -Proto, -Host and -Uri. A
// request with none of them names no original request; one with any of
// them must come from a trusted proxy and carry all four, each once.
// X-Forwarded-Proto is never assumed: a proxy that does not say whether it
// was asked over https is refused, as is every other gap, since the access
// rules and the return address would be a guess.
func (a *API) forwardedRequest(r *http.Request) (proxyRequest, error) {
	if !anyHeader(r, forwardedHeaders) {
		return proxyRequest{}, nil
	}
	if err := a.checkProxy(r, forwardedHeaders); err != nil {
		return proxyRequest{}, err
	}
	var v [4]string
	for i, name := range forwardedHeaders {
		s, err := oneHeader(r, name)
		if err != nil {
			return proxyRequest{}, err
		}
		v[i] = s
	}
	method, proto, host, uri := strings.ToUpper(v[0]), strings.ToLower(v[1]), v[2], v[3]
	if !validMethod(method) {
		return proxyRequest{}, valet.Errorf(valet.ErrForbidden, "X-Forwarded-Method is not an HTTP method.")
	}
	if proto != "http" && proto != "https" {
		return proxyRequest{}, valet.Errorf(valet.ErrForbidden, "X-Forwarded-Proto must be http or https.")
	}
	if !validHostPort(host) {
		return proxyRequest{}, valet.Errorf(valet.ErrForbidden, "X-Forwarded-Host is not a host name.")
	}
	if !strings.HasPrefix(uri, "/") {
		return proxyRequest{}, valet.Errorf(valet.ErrForbidden, "X-Forwarded-Uri must start with a slash.")
	}
	return proxyRequest{method: method, url: proto + "://" + host + uri}, nil
}

// originalRequest reads X-Original-URL and X-Original-Method, on the same
// terms as forwardedRequest: both or neither, from a trusted proxy only.
func (a *API) originalRequest(r *http.Request) (proxyRequest, error) {
	if !anyHeader(r, originalHeaders) {
		return proxyRequest{}, nil
	}
	if err := a.checkProxy(r, originalHeaders); err != nil {
		return proxyRequest{}, err
	}
	method, err := oneHeader(r, "X-Original-Method")
	if err != nil {
		return proxyRequest{}, err
	}
	orig, err := oneHeader(r, "X-Original-URL")
	if err != nil {
		return proxyRequest{}, err
	}
	if method = strings.ToUpper(method); !validMethod(method) {
		return proxyRequest{}, valet.Errorf(valet.ErrForbidden, "X-Original-Method is not an HTTP method.")
	}
	u, err := url.Parse(orig)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || !validHostPort(u.Host) || u.User != nil || u.Opaque != "" || u.Path == "" {
		return proxyRequest{}, valet.Errorf(valet.ErrForbidden, "X-Original-URL must be an absolute http or https URL.")
	}
	return proxyRequest{method: method, url: orig}, nil
}

// checkProxy refuses a request that carries any of names but does not come
// from a trusted proxy: anyone could have written them.
func (a *API) checkProxy(r *http.Request, names []string) error {
	peer, err := netip.ParseAddr(PeerIP(r))
	if err == nil {
		peer = peer.Unmap()
		for _, p := range a.cfg.ForwardAuth.TrustedProxies {
			if p.Contains(peer) {
				return nil
			}
		}
	}
	a.log.WarnContext(r.Context(), "forward auth: proxy headers from a peer that is not a trusted proxy", "peer", PeerIP(r))
	return valet.Errorf(valet.ErrForbidden, "The headers that name the original request (%s) are accepted only from a trusted proxy (--trusted-proxies).", strings.Join(names, ", "))
}

func anyHeader(r *http.Request, names []string) bool {
	for _, n := range names {
		if _, ok := r.Header[n]; ok {
			return true
		}
	}
	return false
}

// oneHeader returns the single value of header name. Absent, empty,
// repeated or comma-separated (a chain of proxies appending) is refused:
// which of several values is the truth would be a guess.
func oneHeader(r *http.Request, name string) (string, error) {
	vs := r.Header.Values(name)
	switch {
	case len(vs) == 0 || strings.TrimSpace(vs[0]) == "":
		return "", valet.Errorf(valet.ErrForbidden, "The proxy did not send %s.", name)
	case len(vs) > 1 || strings.Contains(vs[0], ","):
		return "", valet.Errorf(valet.ErrForbidden, "The proxy sent more than one %s.", name)
	}
	return strings.TrimSpace(vs[0]), nil
}

// validMethod reports whether m is an upper-case method name.
func validMethod(m string) bool {
	return m != "" && len(m) <= 16 && !strings.ContainsFunc(m, func(c rune) bool { return c < 'A' || c > 'Z' })
}

// validHostPort reports whether h is a host name or IP address with an
// optional port, and nothing else: no user info, path, space or the like.
func validHostPort(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	host, port := h, ""
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.HasSuffix(h, "]") {
		host, port = h[:i], h[i+1:]
		if port == "" || len(port) > 5 || strings.ContainsFunc(port, func(c rune) bool { return c < '0' || c > '9' }) {
			return false
		}
	}
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		a, err := netip.ParseAddr(host[1 : len(host)-1])
		return err == nil && a.Is6()
	}
	return host != "" && !strings.ContainsFunc(host, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_')
	})
}
