package web

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// TestFormActionForApps: a sign-in on the way to an app lets its forms lead
// to the app's redirect_uri origin, and nothing a parameter holds can add
// anything else to the policy.
func TestFormActionForApps(t *testing.T) {
	h := &Handler{}
	for _, tc := range []struct {
		target string
		want   string // the form-action directive
	}{
		{"/account", "form-action 'self'"},
		{"/oauth2/authorize?client_id=c&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb", "form-action 'self' https://app.example.com"},
		{"/oauth2/authorize?redirect_uri=http%3A%2F%2Flocalhost%3A4180%2Foauth2%2Fcallback", "form-action 'self' http://localhost:4180"},
		{"https://auth.example.com/oauth2/authorize?redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb", "form-action 'self' https://auth.example.com https://app.example.com"},
		{"/elsewhere?redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb", "form-action 'self'"},
		{"/oauth2/authorize?redirect_uri=javascript%3Aalert(1)", "form-action 'self'"},
		{"/oauth2/authorize?redirect_uri=https%3A%2F%2Fa.example.com%3B%20script-src%20*", "form-action 'self'"},
		{"/oauth2/authorize?redirect_uri=https%3A%2F%2Fa.example.com%20https%3A%2F%2Fevil.example", "form-action 'self'"},
		{"/oauth2/authorize?redirect_uri=https%3A%2F%2F%27none%27", "form-action 'self'"},
		{"/oauth2/authorize?redirect_uri=", "form-action 'self'"},
		{"/oauth2/authorize?redirect_uri=%zz", "form-action 'self'"},
	} {
		rec := httptest.NewRecorder()
		rec.Header().Set("Content-Security-Policy", ContentSecurityPolicy)
		h.allowFormRedirect(rec, tc.target)
		csp := rec.Header().Get("Content-Security-Policy")
		i := strings.Index(csp, "form-action")
		got := csp[i : i+strings.Index(csp[i:], ";")]
		if got != tc.want {
			t.Errorf("%s: %q, want %q", tc.target, got, tc.want)
		}
	}
}

func TestAsksSignInAgain(t *testing.T) {
	for target, want := range map[string]bool{
		"/oauth2/authorize?client_id=c&login_after=1700000000": true,
		"/oauth2/authorize?client_id=c":                        false,
		"/account?login_after=1":                               false,
		"%zz":                                                  false,
		"":                                                     false,
	} {
		if got := asksSignInAgain(target); got != want {
			t.Errorf("asksSignInAgain(%q) = %v", target, got)
		}
	}
}
