package sqlwhere

import (
	"fmt"
	"slices"
	"testing"

	"github.com/valetauth/valet"
)

func TestClientRefresh(t *testing.T) {
	dollar := func(n int) string { return fmt.Sprintf("$%d", n) }
	tests := []struct {
		f     valet.ClientRefreshFilter
		where string
		args  []any
	}{
		{valet.ClientRefreshFilter{}, "", nil},
		{valet.ClientRefreshFilter{SessionID: "s"}, "session_id = $1", []any{"s"}},
		{valet.ClientRefreshFilter{UserID: "u", ClientID: "c"}, "user_id = $1 AND client_id = $2", []any{"u", "c"}},
		{valet.ClientRefreshFilter{ID: "i", ClientID: "c'; DROP TABLE x"}, "id = $1 AND client_id = $2", []any{"i", "c'; DROP TABLE x"}},
	}
	for _, tc := range tests {
		where, args := ClientRefresh(tc.f, dollar)
		if where != tc.where || !slices.Equal(args, tc.args) {
			t.Errorf("ClientRefresh(%+v) = %q %v, want %q %v", tc.f, where, args, tc.where, tc.args)
		}
	}
}
