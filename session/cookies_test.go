package session_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/valetauth/valet/session"
)

func TestCookieNames(t *testing.T) {
	tests := []struct {
		name     string
		cfg      session.Cookie
		cookies  map[string]string
		wantName string
		want     string
		wantOK   bool
	}{
		{"secure default", session.Cookie{}, map[string]string{"__Host-valet_session": "new"}, "__Host-valet_session", "new", true},
		{"secure default reads the old name", session.Cookie{}, map[string]string{"valet_session": "old"}, "__Host-valet_session", "old", true},
		{"the prefixed name wins", session.Cookie{}, map[string]string{"valet_session": "old", "__Host-valet_session": "new"}, "__Host-valet_session", "new", true},
		{"insecure keeps the old name", session.Cookie{Insecure: true}, map[string]string{"valet_session": "old"}, "valet_session", "old", true},
		{"insecure ignores a prefixed cookie", session.Cookie{Insecure: true}, map[string]string{"__Host-valet_session": "new"}, "valet_session", "", false},
		{"domain gets __Secure-", session.Cookie{Domain: "example.com"}, map[string]string{"__Secure-valet_session": "d"}, "__Secure-valet_session", "d", true},
		{"domain still reads a host cookie", session.Cookie{Domain: "example.com"}, map[string]string{"__Host-valet_session": "h"}, "__Secure-valet_session", "h", true},
		{"an empty cookie is none", session.Cookie{}, map[string]string{"__Host-valet_session": ""}, "__Host-valet_session", "", false},
		{"none", session.Cookie{}, nil, "__Host-valet_session", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.cfg.SessionName(); got != tc.wantName {
				t.Fatalf("SessionName = %q, want %q", got, tc.wantName)
			}
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			for k, v := range tc.cookies {
				r.AddCookie(&http.Cookie{Name: k, Value: v})
			}
			got, ok := tc.cfg.SessionValue(r)
			if got != tc.want || ok != tc.wantOK {
				t.Fatalf("SessionValue = %q, %v; want %q, %v", got, ok, tc.want, tc.wantOK)
			}
			c := tc.cfg.Session("v", time.Now().Add(time.Hour))
			wantDomain := tc.cfg.Domain
			if strings.HasPrefix(tc.wantName, "__Host-") {
				wantDomain = ""
			}
			if c.Name != tc.wantName || c.Path != "/" || c.Domain != wantDomain || c.Secure == tc.cfg.Insecure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
				t.Fatalf("Session = %+v: want name %q, Path=/, Domain %q, Secure unless insecure, HttpOnly, Lax", c, tc.wantName, wantDomain)
			}
			if c.MaxAge <= 0 {
				t.Fatalf("MaxAge = %d for a live cookie", c.MaxAge)
			}
		})
	}
}

func TestCookieClearAll(t *testing.T) {
	c := session.Cookie{}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	for _, n := range []string{"valet_session", session.TokenName, session.RefreshName, "unrelated"} {
		r.AddCookie(&http.Cookie{Name: n, Value: "x"})
	}
	w := httptest.NewRecorder()
	c.ClearAll(w, r)
	cleared := map[string]bool{}
	for _, k := range w.Result().Cookies() {
		if k.MaxAge >= 0 && k.Value != "" {
			t.Errorf("cookie %s is set, not cleared: %+v", k.Name, k)
		}
		cleared[k.Name] = true
	}
	for _, n := range []string{"__Host-valet_session", "valet_session", session.TokenName, session.RefreshName} {
		if !cleared[n] {
			t.Errorf("%s was not cleared (got %v)", n, cleared)
		}
	}
	if cleared["unrelated"] {
		t.Error("a cookie that is not valet's was cleared")
	}
}

func TestParseDomain(t *testing.T) {
	for in, want := range map[string]string{
		"example.com":        "example.com",
		".Example.COM":       "example.com",
		"example.com.":       "example.com",
		" apps.example.org ": "apps.example.org",
		"example.localhost":  "example.localhost",
		"localhost":          "",
		"127.0.0.1":          "",
		"::1":                "",
		"example.com:443":    "",
		"exa mple.com":       "",
		"-x.example.com":     "",
		"a..example.com":     "",
		"":                   "",
		"*.example.com":      "",
	} {
		got, err := session.ParseDomain(in)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("ParseDomain(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// TestDomainCookies: with a domain, every credential cookie is shared with
// the hosts under it, and cleared there too; a __Host- cookie never names one.
func TestDomainCookies(t *testing.T) {
	c := session.Cookie{Domain: "example.com"}
	for _, k := range []*http.Cookie{
		c.Session("v", time.Now().Add(time.Hour)),
		c.New(session.TokenName, "t", time.Now().Add(time.Hour)),
		c.New(session.RefreshName, "", time.Time{}),
	} {
		if k.Domain != "example.com" || !k.Secure || !k.HttpOnly {
			t.Errorf("%s: Domain %q Secure %v HttpOnly %v", k.Name, k.Domain, k.Secure, k.HttpOnly)
		}
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(&http.Cookie{Name: "__Host-valet_session", Value: "old"})
	r.AddCookie(&http.Cookie{Name: session.TokenName, Value: "t"})
	w := httptest.NewRecorder()
	c.ClearAll(w, r)
	got := map[string]string{}
	for _, k := range w.Result().Cookies() {
		got[k.Name] = k.Domain
	}
	want := map[string]string{"__Secure-valet_session": "example.com", "__Host-valet_session": "", session.TokenName: "example.com"}
	for name, d := range want {
		if gd, ok := got[name]; !ok || gd != d {
			t.Errorf("ClearAll: %s cleared with Domain %q (set: %v), want %q", name, gd, ok, d)
		}
	}
}
