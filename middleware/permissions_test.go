package middleware_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/middleware"
)

func TestPermissionsAllows(t *testing.T) {
	p := middleware.Permissions{
		"admin":   {"*"},
		"clerk":   {"orders:read", "orders:write"},
		"auditor": {"reports:*"},
		"odd":     {"orders*"},
	}
	tests := []struct {
		name  string
		roles []string
		perm  string
		want  bool
	}{
		{"exact", []string{"clerk"}, "orders:write", true},
		{"not granted", []string{"clerk"}, "orders:delete", false},
		{"star grants all", []string{"admin"}, "anything:at-all", true},
		{"prefix pattern", []string{"auditor"}, "reports:monthly", true},
		{"prefix pattern is not the bare prefix", []string{"auditor"}, "reports", false},
		{"prefix pattern stops at its colon", []string{"auditor"}, "reportsx:y", false},
		{"star not after a colon is literal", []string{"odd"}, "orders:read", false},
		{"any role of several", []string{"viewer", "clerk"}, "orders:read", true},
		{"unknown role", []string{"viewer"}, "orders:read", false},
		{"no roles", nil, "orders:read", false},
		{"empty permission", []string{"admin"}, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := p.Allows(tc.roles, tc.perm); got != tc.want {
				t.Fatalf("Allows(%v, %q) = %v, want %v", tc.roles, tc.perm, got, tc.want)
			}
		})
	}
	var none middleware.Permissions
	if none.Allows([]string{"admin"}, "x") {
		t.Fatal("nil Permissions granted a permission")
	}
}

func TestPermissionsOf(t *testing.T) {
	p := middleware.Permissions{"clerk": {"orders:write", "orders:read"}, "auditor": {"orders:read", "reports:*"}}
	tests := []struct {
		name  string
		roles []string
		want  []string
	}{
		{"one role", []string{"clerk"}, []string{"orders:read", "orders:write"}},
		{"union without repeats", []string{"clerk", "auditor"}, []string{"orders:read", "orders:write", "reports:*"}},
		{"nothing", []string{"viewer"}, []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := p.Of(tc.roles)
			if got == nil || !slices.Equal(got, tc.want) {
				t.Fatalf("Of(%v) = %#v, want %#v", tc.roles, got, tc.want)
			}
		})
	}
}

func TestParsePermissions(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    middleware.Permissions
		wantErr bool
	}{
		{"ok", `{"admin":["*"],"clerk":["orders:read","orders:*"]}`,
			middleware.Permissions{"admin": {"*"}, "clerk": {"orders:read", "orders:*"}}, false},
		{"not an object", `["admin"]`, nil, true},
		{"not JSON", `admin = *`, nil, true},
		{"empty permission", `{"clerk":[""]}`, nil, true},
		{"space in a role", `{"cl erk":["a"]}`, nil, true},
		{"star in the middle", `{"clerk":["orders:*:read"]}`, nil, true},
		{"star without a colon", `{"clerk":["orders*"]}`, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := middleware.ParsePermissions(strings.NewReader(tc.in))
			if tc.wantErr {
				if !errors.Is(err, valet.ErrInvalidRequest) {
					t.Fatalf("ParsePermissions = %v, %v; want an error wrapping ErrInvalidRequest", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for role, perms := range tc.want {
				if !slices.Equal(got[role], perms) {
					t.Errorf("%s: %v, want %v", role, got[role], perms)
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("got %d roles, want %d", len(got), len(tc.want))
			}
		})
	}
}
