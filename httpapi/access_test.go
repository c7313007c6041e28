package httpapi

import (
	"errors"
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
			if err != nil || got.Host != tc.want.Host || got.PathPrefix != tc.want.PathPrefix || len(got.Roles) != len(tc.want.Roles) {
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
		{"::not a url", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.orig, func(t *testing.T) {
			host, path := forwardedTarget(tc.orig)
			r := ruleFor(rules, host, path)
			got := r == nil || r.allows(tc.roles)
			if got != tc.want {
				t.Fatalf("allowed = %v (rule %+v), want %v", got, r, tc.want)
			}
		})
	}
}
