package sqlite

import (
	"database/sql"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/valetauth/valet"
)

// TestUpgradeKeepsSessions migrates a file whose sessions were stored before
// they recorded how their users signed in: they read back with no methods
// and no time, and take them when a sign-in is recorded.
func TestUpgradeKeepsSessions(t *testing.T) {
	ctx := t.Context()
	pool := openShared(t, DSN(filepath.Join(t.TempDir(), "old.db")))
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.ExecContext(ctx, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT`); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.version >= 5 {
			break
		}
		if _, err := pool.ExecContext(ctx, m.sql); err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
		if _, err := pool.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)`, m.version); err != nil {
			t.Fatal(err)
		}
	}
	n := time.Now().Truncate(time.Microsecond).UTC()
	old := valet.Session{
		ID: valet.HashSecret(valet.NewID()), UserID: valet.NewID(), Mode: valet.ModeSession,
		CreatedAt: n, LastSeenAt: n, ExpiresAt: n.Add(time.Hour), UserAgent: "old agent", IP: "192.0.2.1",
	}
	if _, err := pool.ExecContext(ctx, `INSERT INTO sessions (id, user_id, mode, created_at, last_seen_at, expires_at, user_agent, ip)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		old.ID, old.UserID, string(old.Mode), n.UnixMicro(), n.UnixMicro(), old.ExpiresAt.UnixMicro(), old.UserAgent, old.IP); err != nil {
		t.Fatal(err)
	}

	db, err := New(ctx, pool)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	got, found, err := db.Session(ctx, old.ID)
	if err != nil || !found {
		t.Fatalf("Session after the upgrade = %t, %v; want true, nil", found, err)
	}
	if got.AMR != nil || !got.AuthTime.IsZero() || got.UserAgent != old.UserAgent || !got.ExpiresAt.Equal(old.ExpiresAt) {
		t.Errorf("Session after the upgrade = %+v, want %+v", got, old)
	}
	if err := db.SetSessionAuth(ctx, old.ID, n, []string{valet.AMRPassword, valet.AMROTP, valet.AMRMulti}); err != nil {
		t.Fatal(err)
	}
	got, _, err = db.Session(ctx, old.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"pwd", "otp", "mfa"}; !slices.Equal(got.AMR, want) || !got.AuthTime.Equal(n) {
		t.Errorf("after SetSessionAuth: AMR %q, AuthTime %v; want %q, %v", got.AMR, got.AuthTime, want, n)
	}
}

// TestFactorStorageFormat pins how the new columns hold their values: the
// methods joined by commas, times in unix microseconds with NULL for the
// zero time, and no credential id as NULL.
func TestFactorStorageFormat(t *testing.T) {
	ctx := t.Context()
	pool := openShared(t, DSN(filepath.Join(t.TempDir(), "format.db")))
	db, err := New(ctx, pool)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	n := time.Date(2031, 5, 6, 7, 8, 9, 123456000, time.UTC)

	multi := valet.Session{ID: "multi", UserID: "u", Mode: valet.ModeSession, CreatedAt: n, LastSeenAt: n,
		ExpiresAt: n.Add(time.Hour), AMR: []string{"pwd", "otp", "mfa"}, AuthTime: n}
	none := multi
	none.ID, none.AMR, none.AuthTime = "none", nil, time.Time{}
	for _, s := range []valet.Session{multi, none} {
		if err := db.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		id       string
		amr      string
		authTime sql.NullInt64
	}{
		{"multi", "pwd,otp,mfa", sql.NullInt64{Int64: n.UnixMicro(), Valid: true}},
		{"none", "", sql.NullInt64{}},
	} {
		var (
			amr      string
			authTime sql.NullInt64
		)
		if err := pool.QueryRowContext(ctx, `SELECT amr, auth_time FROM sessions WHERE id = ?`, tc.id).Scan(&amr, &authTime); err != nil {
			t.Fatal(err)
		}
		if amr != tc.amr || authTime != tc.authTime {
			t.Errorf("session %s stored amr %q, auth_time %v; want %q, %v", tc.id, amr, authTime, tc.amr, tc.authTime)
		}
	}

	u := valet.User{ID: valet.NewID(), Email: "format@example.test", PasswordHash: "x", CreatedAt: n, UpdatedAt: n}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	totp := valet.Factor{ID: "totp", UserID: u.ID, Kind: valet.FactorTOTP, Secret: []byte("sealed"), CreatedAt: n}
	key := valet.Factor{ID: "key", UserID: u.ID, Kind: valet.FactorWebAuthn, Secret: []byte("credential"), CredentialID: "cred", CreatedAt: n, LastUsedAt: n}
	for _, f := range []valet.Factor{totp, key} {
		if err := db.CreateFactor(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		id         string
		credential sql.NullString
		lastUsed   sql.NullInt64
	}{
		{"totp", sql.NullString{}, sql.NullInt64{}},
		{"key", sql.NullString{String: "cred", Valid: true}, sql.NullInt64{Int64: n.UnixMicro(), Valid: true}},
	} {
		var (
			credential sql.NullString
			lastUsed   sql.NullInt64
		)
		if err := pool.QueryRowContext(ctx, `SELECT credential_id, last_used_at FROM factors WHERE id = ?`, tc.id).Scan(&credential, &lastUsed); err != nil {
			t.Fatal(err)
		}
		if credential != tc.credential || lastUsed != tc.lastUsed {
			t.Errorf("factor %s stored credential_id %v, last_used_at %v; want %v, %v", tc.id, credential, lastUsed, tc.credential, tc.lastUsed)
		}
	}
}
