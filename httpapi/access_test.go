package httpapi

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/valetauth/valet"
)

func TestParseAccessRule(t *testing.T) {
	tests := []struct {
		in      string
		want    AccessRule
		wantErr bool
	}{
		{in: "*.example.com/admin admin", want: AccessRule{Host: "*.example.com", PathPrefix: "/admin", Roles: []string{"admin"}}},
		{in: "App.Example.com/ *", want: AccessRule{Host: "app.example.com", PathPrefix: "/", Roles: []string{"*"}}},
		{in: " */ops ops, admin ", want: AccessRule{Host: "*", PathPrefix: "/ops", Roles: []string{"ops", "admin"}}},
		{in: "example.com/admin", wantErr: true},
		{in: "/admin admin", wantErr: true},
		{in: "example.com admin", wantErr: true},
		{in: "a*b.com/ admin", wantErr: true},
		{in: "**/ admin", wantErr: true},
		{in: "example.com/ ,", wantErr: true},
		{in: "GET,POST shop.example.com/Orders/ clerk", want: AccessRule{Host: "shop.example.com", PathPrefix: "/orders", Methods: []string{"GET", "POST"}, Roles: []string{"clerk"}}},
		{in: "get shop.example.com/orders clerk", wantErr: true},
		{in: "GET, shop.example.com/orders clerk", wantErr: true},
		{in: "example.com/a%2Fb admin", wantErr: true},
		{in: "example.com/a b c d", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseAccessRule(tc.in)
			if tc.wantErr {
				if !errors.Is(err, valet.ErrInvalidRequest) {
					t.Fatalf("err = %v, want ErrInvalidRequest", err)
				}
				return
			}
			if err != nil || got.Host != tc.want.Host || got.PathPrefix != tc.want.PathPrefix || len(got.Roles) != len(tc.want.Roles) || !slices.Equal(got.Methods, tc.want.Methods) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
			for i := range got.Roles {
				if got.Roles[i] != tc.want.Roles[i] {
					t.Fatalf("roles = %v, want %v", got.Roles, tc.want.Roles)
				}
			}
		})
	}
}

func TestRuleFor(t *testing.T) {
	rules := []AccessRule{
		{Host: "*", PathPrefix: "/", Roles: []string{"*"}},
		{Host: "*", PathPrefix: "/admin", Roles: []string{"admin"}},
		{Host: "*.example.com", PathPrefix: "/admin", Roles: []string{"ops"}},
		{Host: "shop.example.com", PathPrefix: "/admin", Roles: []string{"clerk"}},
	}
	tests := []struct {
		orig  string
		roles []string
		want  bool
	}{
		{"https://other.org/", nil, true},
		{"https://other.org/admin/users", nil, false},
		{"https://other.org/admin/users", []string{"admin"}, true},
		{"https://app.example.com/admin", []string{"admin"}, false},
		{"https://app.example.com/admin", []string{"ops"}, true},
		{"https://shop.example.com:8443/admin/x", []string{"ops"}, false},
		{"https://SHOP.example.com/admin/x", []string{"clerk"}, true},
		{"https://example.com/admin", []string{"ops"}, false},
		{"https://example.com/administrator", []string{"admin"}, true},
		{"::not a url", nil, false},
		{"https://other.org/ADMIN/x", nil, false},
		{"https://other.org/%61dmin/x", nil, false},
		{"https://other.org/admin;jsessionid=1", nil, false},
		{"https://other.org//admin", nil, false},
		{"https://other.org/x/../admin", nil, false},
		{"https://other.org/./admin/", nil, false},
		{"https://shop.example.com./admin", []string{"ops"}, false},
		{"https://other.org/%2561dmin", nil, false},
		{"https://other.org/admin%2Fx", nil, false},
		{"https://other.org/%2e%2e/admin", nil, false},
		{"https://other.org/%2E/admin", nil, false},
		{"https://other.org/a%5Cadmin", nil, false},
		{"https://other.org/a%00", nil, false},
		{"https://other.org/a%ff", nil, false},
		{"https://other.org/a%zz", nil, false},
		{"https://other.org/hello%20world", nil, true},
		{"https://other.org/caf%C3%A9", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.orig, func(t *testing.T) {
			host, path, ok := forwardedTarget(tc.orig)
			r := ruleFor(rules, "GET", host, path)
			got := ok && (r == nil || r.allows(tc.roles))
			if got != tc.want {
				t.Fatalf("allowed = %v (rule %+v), want %v", got, r, tc.want)
			}
		})
	}
}

func TestRuleMethods(t *testing.T) {
	rules := []AccessRule{
		{Host: "*", PathPrefix: "/orders", Roles: []string{"*"}},
		{Host: "*", PathPrefix: "/orders", Methods: []string{"POST", "DELETE"}, Roles: []string{"clerk"}},
	}
	tests := []struct {
		method string
		roles  []string
		want   bool
	}{
		{"GET", nil, true},
		{"POST", nil, false},
		{"DELETE", nil, false},
		{"POST", []string{"clerk"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.method, func(t *testing.T) {
			r := ruleFor(rules, tc.method, "app.example.com", "/orders/7")
			if got := r == nil || r.allows(tc.roles); got != tc.want {
				t.Fatalf("allowed = %v (rule %+v), want %v", got, r, tc.want)
			}
		})
	}
}

func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{"/", "/admin", "/%61dmin", "//a/../b", "/a%2fb", "/%25", "/a;b/c", "/caf%C3%A9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		n, ok := normalizePath(p)
		if !ok {
			return
		}
		// A normal path is its own normal form, and says nothing twice.
		if again, ok := normalizePath(n); !ok || again != n {
			t.Fatalf("normalizePath(%q) = %q, and again %q, %v", p, n, again, ok)
		}
		if !strings.HasPrefix(n, "/") || strings.Contains(n, "//") || strings.Contains(n, "/../") || strings.HasSuffix(n, "/..") {
			t.Fatalf("normalizePath(%q) = %q is not normal", p, n)
		}
	})
}
