package httpapi

import (
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/valetauth/valet"
)

func TestForwardedClientIP(t *testing.T) {
	trusted, err := ParseTrustedProxies([]string{"10.0.0.0/8", "192.0.2.1", "2001:db8::/32"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		peer   string
		xff    []string
		noList bool
		want   string
	}{
		{name: "no trusted proxies: the peer, header ignored", peer: "203.0.113.5:4000", xff: []string{"198.51.100.1"}, noList: true, want: "203.0.113.5"},
		{name: "untrusted peer: header ignored", peer: "203.0.113.5:4000", xff: []string{"198.51.100.1"}, want: "203.0.113.5"},
		{name: "one trusted proxy", peer: "10.1.2.3:4000", xff: []string{"198.51.100.1"}, want: "198.51.100.1"},
		{name: "client-written entries on the left are not believed", peer: "10.1.2.3:4000", xff: []string{"1.1.1.1, 2.2.2.2, 198.51.100.1"}, want: "198.51.100.1"},
		{name: "a chain of trusted proxies is skipped", peer: "10.1.2.3:4000", xff: []string{"6.6.6.6, 198.51.100.1, 10.9.9.9, 192.0.2.1"}, want: "198.51.100.1"},
		{name: "several header lines read as one list", peer: "10.1.2.3:4000", xff: []string{"6.6.6.6", "198.51.100.1, 10.9.9.9"}, want: "198.51.100.1"},
		{name: "no header: the proxy itself", peer: "10.1.2.3:4000", want: "10.1.2.3"},
		{name: "all trusted: the farthest", peer: "10.1.2.3:4000", xff: []string{"10.0.0.7, 10.0.0.8"}, want: "10.0.0.7"},
		{name: "garbage from a trusted hop stops the walk", peer: "10.1.2.3:4000", xff: []string{"198.51.100.1, evil\r\nX: y"}, want: "10.1.2.3"},
		{name: "garbage left of the client is never read", peer: "10.1.2.3:4000", xff: []string{"<script>, 198.51.100.1"}, want: "198.51.100.1"},
		{name: "entry with a port", peer: "10.1.2.3:4000", xff: []string{"198.51.100.1:5555"}, want: "198.51.100.1"},
		{name: "IPv6 proxy and client", peer: "[2001:db8::1]:4000", xff: []string{"[2a00:1450::1]"}, want: "2a00:1450::1"},
		{name: "IPv4-mapped peer", peer: "[::ffff:10.1.2.3]:4000", xff: []string{"198.51.100.1"}, want: "198.51.100.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tc.peer
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			list := trusted
			if tc.noList {
				list = nil
			}
			if got := ForwardedClientIP(list)(r); got != tc.want {
				t.Fatalf("client = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseTrustedProxies(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"10.0.0.0/8", "10.0.0.0/8", false},
		{"10.1.2.3/8", "10.0.0.0/8", false},
		{"192.0.2.1", "192.0.2.1/32", false},
		{"::1", "::1/128", false},
		{"::ffff:192.0.2.1", "192.0.2.1/32", false},
		{"proxy.internal", "", true},
		{"10.0.0.0/33", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseTrustedProxies([]string{tc.in})
			if (err != nil) != tc.wantErr {
				t.Fatalf("error = %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				if !errors.Is(err, valet.ErrInvalidRequest) {
					t.Fatalf("error %v does not wrap ErrInvalidRequest", err)
				}
				return
			}
			if len(got) != 1 || got[0].String() != tc.want {
				t.Fatalf("got %v, want [%s]", got, tc.want)
			}
		})
	}
}

func TestSecurityHeaders(t *testing.T) {
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/page" {
			w.Header().Set("Content-Security-Policy", "default-src 'self'")
		}
		w.WriteHeader(http.StatusOK)
	})
	h := SecurityHeaders(page)
	tests := []struct {
		name, path string
		tls        bool
		wantCSP    string
		wantHSTS   string
	}{
		{"plain HTTP", "/", false, ContentSecurityPolicy, ""},
		{"TLS", "/", true, ContentSecurityPolicy, HSTS},
		{"a page sets its own policy", "/page", true, "default-src 'self'", HSTS},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, tc.path, nil)
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			got := w.Result().Header
			if v := got.Get("Content-Security-Policy"); v != tc.wantCSP {
				t.Errorf("CSP = %q, want %q", v, tc.wantCSP)
			}
			if n := len(got.Values("Content-Security-Policy")); n != 1 {
				t.Errorf("%d CSP headers, want 1", n)
			}
			if v := got.Get("Strict-Transport-Security"); v != tc.wantHSTS {
				t.Errorf("HSTS = %q, want %q", v, tc.wantHSTS)
			}
			for k, want := range map[string]string{
				"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
			} {
				if v := got.Get(k); v != want {
					t.Errorf("%s = %q, want %q", k, v, want)
				}
			}
		})
	}
}
