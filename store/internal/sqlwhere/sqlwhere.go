// Package sqlwhere builds the WHERE clauses of the SQL stores from filters
// whose empty fields match anything.
package sqlwhere

import (
	"strings"

	"github.com/valetauth/valet"
)

// ClientRefresh returns the condition, joined with AND, and its arguments
// that select the refresh families f selects, with placeholder(n) naming
// the n-th argument (1-based): "?" for SQLite, "$n" for Postgres. It
// returns "" for a filter that selects none; the caller must then run
// nothing.
func ClientRefresh(f valet.ClientRefreshFilter, placeholder func(n int) string) (string, []any) {
	var (
		where []string
		args  []any
	)
	for _, c := range []struct{ column, value string }{
		{"id", f.ID}, {"session_id", f.SessionID}, {"user_id", f.UserID}, {"client_id", f.ClientID},
	} {
		if c.value != "" {
			args = append(args, c.value)
			where = append(where, c.column+" = "+placeholder(len(args)))
		}
	}
	return strings.Join(where, " AND "), args
}
