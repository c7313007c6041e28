package httpapi

import (
	"net/http"
	"net/netip"
	"strings"

	"github.com/valetauth/valet"
)

// ContentSecurityPolicy is the policy of every JSON response: it loads
// nothing and may not be framed. Pages served beside the API set their own.
const ContentSecurityPolicy = "default-src 'none'; frame-ancestors 'none'"

// HSTS is the Strict-Transport-Security value sent on responses served over
// TLS: two years, subdomains included.
const HSTS = "max-age=63072000; includeSubDomains"

// securityHeaders are the headers every response carries, prepared once:
// setSecurityHeaders assigns these slices to the map, where Header.Set
// would canonicalize each key and allocate each value on every request.
// Each slice has its length as its capacity, so a handler that Adds to
// one gets a copy, and net/http copies every header before it writes; a
// handler that changes one calls Set, which replaces the slice. Nothing
// may write through an element of these slices.
var securityHeaders = prepared(map[string]string{
	"Content-Security-Policy":      ContentSecurityPolicy,
	"X-Content-Type-Options":       "nosniff",
	"X-Frame-Options":              "DENY",
	"Referrer-Policy":              "no-referrer",
	"Cross-Origin-Resource-Policy": "same-origin",
})

var hstsValue = []string{HSTS}[:1:1]

// preparedHeader is one header of a prepared set.
type preparedHeader struct {
	key   string
	value []string
}

// prepared returns the set h with canonical keys and values that cannot
// grow in place.
func prepared(h map[string]string) []preparedHeader {
	out := make([]preparedHeader, 0, len(h))
	for k, v := range h {
		out = append(out, preparedHeader{http.CanonicalHeaderKey(k), []string{v}[:1:1]})
	}
	return out
}

// setSecurityHeaders sets the headers every response carries. HSTS goes
// only on a response that travels over TLS: sent over plain HTTP it would
// be ignored, and behind a TLS-terminating proxy the proxy owns it.
func setSecurityHeaders(h http.Header, r *http.Request) {
	for _, p := range securityHeaders {
		h[p.key] = p.value
	}
	if r.TLS != nil {
		h["Strict-Transport-Security"] = hstsValue
	}
}

// SecurityHeaders returns next with the API's security headers on every
// response: ContentSecurityPolicy, X-Content-Type-Options: nosniff,
// X-Frame-Options: DENY, Referrer-Policy: no-referrer,
// Cross-Origin-Resource-Policy: same-origin, and HSTS over TLS. A handler
// under it may replace any of them (a page sets its own policy).
func SecurityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setSecurityHeaders(w.Header(), r)
		next.ServeHTTP(w, r)
	})
}

// ParseTrustedProxies reads CIDRs ("10.0.0.0/8") or single addresses
// ("192.0.2.1") into prefixes. It returns an error wrapping
// valet.ErrInvalidRequest that names the first entry it cannot read.
func ParseTrustedProxies(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, valet.Errorf(valet.ErrInvalidRequest, "Trusted proxy %q is neither an address nor a CIDR.", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// ForwardedClientIP returns a Config.ClientIP that believes X-Forwarded-For
// only as far as it was written by trusted proxies. The connection's peer is
// the client unless it is a trusted proxy; then X-Forwarded-For is walked
// from the right (the entry the nearest proxy appended) to the left,
// skipping trusted proxies, and the first address that is not one is the
// client. Entries to its left were written by the client and are never
// believed. With no trusted proxies it is PeerIP.
func ForwardedClientIP(trusted []netip.Prefix) func(r *http.Request) string {
	if len(trusted) == 0 {
		return PeerIP
	}
	isTrusted := func(a netip.Addr) bool {
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	return func(r *http.Request) string {
		peer, err := netip.ParseAddr(PeerIP(r))
		if err != nil {
			return PeerIP(r)
		}
		client := peer.Unmap()
		if !isTrusted(client) {
			return client.String()
		}
		hops := r.Header.Values("X-Forwarded-For")
		for i := len(hops) - 1; i >= 0; i-- {
			entries := strings.Split(hops[i], ",")
			for j := len(entries) - 1; j >= 0; j-- {
				a, ok := parseHop(entries[j])
				if !ok {
					// A trusted proxy passed on something that is not an
					// address: the last hop we can name is the answer.
					return client.String()
				}
				client = a
				if !isTrusted(a) {
					return a.String()
				}
			}
		}
		return client.String()
	}
}

// parseHop reads one X-Forwarded-For entry: an address, perhaps with a port
// or in brackets.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); err == nil {
		return a.Unmap(), true
	}
	return netip.Addr{}, false
}
