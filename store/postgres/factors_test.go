package postgres

import (
	"slices"
	"testing"
	"time"

	"github.com/valetauth/valet"
)

// TestUpgradeKeepsSessions migrates a schema whose sessions were stored
// before they recorded how their users signed in: they read back with no
// methods and no time, and take them when a sign-in is recorded.
func TestUpgradeKeepsSessions(t *testing.T) {
	u, _ := newSchema(t)
	ctx := testContext(t)
	db, err := Open(ctx, u, Config{SkipMigrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if _, err := db.pool.Exec(ctx, `CREATE TABLE schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		t.Fatal(err)
	}
	for _, m := range migrations() {
		if m.version >= 5 {
			break
		}
		if _, err := db.pool.Exec(ctx, m.sql); err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
		if _, err := db.pool.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
			t.Fatal(err)
		}
	}
	n := time.Now().Truncate(time.Microsecond).UTC()
	old := valet.Session{
		ID: valet.HashSecret(valet.NewID()), UserID: valet.NewID(), Mode: valet.ModeSession,
		CreatedAt: n, LastSeenAt: n, ExpiresAt: n.Add(time.Hour), UserAgent: "old agent", IP: "192.0.2.1",
	}
	if _, err := db.pool.Exec(ctx, `INSERT INTO sessions (id, user_id, mode, created_at, last_seen_at, expires_at, user_agent, ip)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		old.ID, old.UserID, string(old.Mode), n, n, old.ExpiresAt, old.UserAgent, old.IP); err != nil {
		t.Fatal(err)
	}

	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
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
