package postgres

import (
	"strings"
	"testing"
	"time"
)

func TestSweepBatches(t *testing.T) {
	ctx := testContext(t)
	db := openTest(t, Config{})
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	before, after := at.Add(-time.Minute), at.Add(time.Hour)

	// More expired rows of each kind than one batch deletes, and a few live
	// ones, written directly: the store's own writes would take long.
	const (
		expiredSessions    = 2*sweepBatch + 5
		expiredFamilies    = sweepBatch + 5
		expiredRevocations = sweepBatch
		expiredPending     = sweepBatch + 3
		expiredCodes       = sweepBatch + 7
		expiredGrants      = sweepBatch + 1
	)
	for _, q := range []struct {
		sql  string
		args []any
	}{
		// Sessions end by their absolute expiry, their idle expiry, or
		// exactly at the sweep time; the live ones have no idle expiry or
		// a later one.
		{`INSERT INTO sessions (id, user_id, mode, created_at, last_seen_at, expires_at, idle_expires_at)
			SELECT 'gone-' || i, 'u', 'session', $1::timestamptz, $1::timestamptz,
				CASE i % 3 WHEN 0 THEN $1::timestamptz WHEN 1 THEN $3::timestamptz ELSE $2::timestamptz END,
				CASE i % 3 WHEN 0 THEN NULL WHEN 1 THEN $1::timestamptz ELSE NULL END
			FROM generate_series(1, $4::int) AS i`, []any{before, at, after, expiredSessions}},
		{`INSERT INTO sessions (id, user_id, mode, created_at, last_seen_at, expires_at, idle_expires_at)
			VALUES ('live-1', 'u', 'session', $1::timestamptz, $1::timestamptz, $2::timestamptz, NULL), ('live-2', 'u', 'session', $1::timestamptz, $1::timestamptz, $2::timestamptz, $2::timestamptz)`,
			[]any{before, after}},
		{`INSERT INTO refresh_families (id, user_id, generation, rotated_at, created_at, expires_at, idle_expires_at)
			SELECT 'gone-' || i, 'u', 1, $1::timestamptz, $1::timestamptz, CASE i % 2 WHEN 0 THEN $1::timestamptz ELSE $2::timestamptz END, $1::timestamptz
			FROM generate_series(1, $3::int) AS i`, []any{before, after, expiredFamilies}},
		{`INSERT INTO refresh_families (id, user_id, generation, rotated_at, created_at, expires_at, idle_expires_at)
			VALUES ('live', 'u', 1, $1::timestamptz, $1::timestamptz, $2::timestamptz, $2::timestamptz)`, []any{before, after}},
		{`INSERT INTO refresh_tokens (hash, family_id, generation)
			SELECT f.id || '-' || g, f.id, g FROM refresh_families f, generate_series(0, 1) AS g`, nil},
		{`INSERT INTO revocations (session_id, until)
			SELECT 'gone-' || i, CASE i % 2 WHEN 0 THEN $1::timestamptz ELSE $2::timestamptz END FROM generate_series(1, $3::int) AS i`,
			[]any{before, at, expiredRevocations}},
		{`INSERT INTO revocations (session_id, until) VALUES ('live', $1::timestamptz)`, []any{after}},
		{`INSERT INTO pending (key, value, expires_at)
			SELECT 'gone-' || i, '\x00'::bytea, CASE i % 2 WHEN 0 THEN $1::timestamptz ELSE $2::timestamptz END FROM generate_series(1, $3::int) AS i`,
			[]any{before, at, expiredPending}},
		{`INSERT INTO pending (key, value, expires_at) VALUES ('live', '\x00'::bytea, $1::timestamptz)`, []any{after}},
		// Codes and grants name a user and a client; half the expired
		// codes were taken, which keeps none of them.
		{`INSERT INTO users (id, email, password_hash, created_at, updated_at) VALUES ('u', 'u@example.test', 'x', $1::timestamptz, $1::timestamptz)`, []any{before}},
		{`INSERT INTO oauth_clients (id, created_at) VALUES ('c', $1::timestamptz)`, []any{before}},
		{`INSERT INTO oauth_codes (hash, client_id, user_id, created_at, expires_at, used_at)
			SELECT 'gone-' || i, 'c', 'u', $1::timestamptz, CASE i % 2 WHEN 0 THEN $1::timestamptz ELSE $2::timestamptz END,
				CASE i % 4 WHEN 0 THEN $1::timestamptz WHEN 1 THEN $1::timestamptz ELSE NULL END
			FROM generate_series(1, $3::int) AS i`, []any{before, at, expiredCodes}},
		{`INSERT INTO oauth_codes (hash, client_id, user_id, created_at, expires_at, used_at)
			VALUES ('live-1', 'c', 'u', $1::timestamptz, $2::timestamptz, NULL), ('live-2', 'c', 'u', $1::timestamptz, $2::timestamptz, $1::timestamptz)`,
			[]any{before, after}},
		{`INSERT INTO oauth_client_grants (session_id, client_id, user_id, expires_at)
			SELECT 'gone-' || i, 'c', 'u', CASE i % 2 WHEN 0 THEN $1::timestamptz ELSE $2::timestamptz END FROM generate_series(1, $3::int) AS i`,
			[]any{before, at, expiredGrants}},
		{`INSERT INTO oauth_client_grants (session_id, client_id, user_id, expires_at) VALUES ('live', 'c', 'u', $1::timestamptz)`, []any{after}},
	} {
		if _, err := db.pool.Exec(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", strings.Fields(q.sql)[2], err)
		}
	}

	want := expiredSessions + expiredFamilies + expiredRevocations + expiredPending + expiredCodes + expiredGrants
	if got, err := db.Sweep(ctx, at); err != nil || got != want {
		t.Fatalf("Sweep = %d, %v; want %d, nil", got, err, want)
	}
	if got, err := db.Sweep(ctx, at); err != nil || got != 0 {
		t.Errorf("a second Sweep = %d, %v; want 0, nil", got, err)
	}
	for _, tc := range []struct {
		table string
		want  []string
	}{
		{"sessions", []string{"live-1", "live-2"}},
		{"refresh_families", []string{"live"}},
		{"refresh_tokens", []string{"live-0", "live-1"}},
		{"revocations", []string{"live"}},
		{"pending", []string{"live"}},
		{"oauth_codes", []string{"live-1", "live-2"}},
		{"oauth_client_grants", []string{"live"}},
	} {
		key := map[string]string{
			"refresh_tokens": "hash", "revocations": "session_id", "pending": "key",
			"oauth_codes": "hash", "oauth_client_grants": "session_id",
		}[tc.table]
		if key == "" {
			key = "id"
		}
		rows, err := db.pool.Query(ctx, `SELECT `+key+` FROM `+tc.table+` ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			got = append(got, s)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%s after Sweep = %q, want %q", tc.table, got, tc.want)
		}
	}
}

// TestSweepUsesIndexes pins each batch's condition to the expression its
// index is on: with a condition the index does not match, every batch would
// read the whole table.
func TestSweepUsesIndexes(t *testing.T) {
	ctx := testContext(t)
	db := openTest(t, Config{})
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(ctx, `RESET enable_seqscan`)
	for _, s := range sweeps {
		rows, err := conn.Query(ctx, `EXPLAIN `+s.sql, time.Now(), sweepBatch)
		if err != nil {
			t.Fatalf("EXPLAIN %s: %v", s.table, err)
		}
		var plan strings.Builder
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan.WriteString(line + "\n")
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(plan.String(), "Index") || strings.Contains(plan.String(), "Seq Scan") {
			t.Errorf("the %s batch reads no index:\n%s", s.table, plan.String())
		}
	}
}
