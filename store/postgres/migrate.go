package postgres

import (
	"context"
	"embed"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migration is one embedded schema change, applied at most once.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations ordered by version. Files are
// named NNNN_description.sql; a malformed name or a repeated version is a
// programmer error and panics.
func migrations() []migration {
	files, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		panic("postgres: " + err.Error())
	}
	var ms []migration
	for _, f := range files {
		name := path.Base(f)
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			panic("postgres: migration " + name + " is not named NNNN_description.sql")
		}
		body, err := migrationFS.ReadFile(f)
		if err != nil {
			panic("postgres: " + err.Error())
		}
		ms = append(ms, migration{version: v, name: name, sql: string(body)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			panic("postgres: two migrations have version " + strconv.Itoa(ms[i].version))
		}
	}
	return ms
}

// Migrate brings the schema up to date by applying, in order and each in its
// own transaction, the embedded migrations that the schema_migrations table
// does not list yet. It holds a PostgreSQL advisory lock while it works, so
// that nodes starting at once apply each migration once; calling it again is
// harmless. It is bounded by ctx only, since it may wait for another node. It
// returns an error wrapping valet.ErrUnavailable when a step fails, after
// which the migrations applied before that step stay applied.
func (db *DB) Migrate(ctx context.Context) error {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return unavailable("migrate", err)
	}
	defer conn.Release()

	// The lock is keyed by the target schema, so that separate schemas of one
	// database (one per tenant, or per test) migrate independently.
	const lockKey = `hashtext('valet.migrate:' || coalesce(current_schema(), ''))`
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(`+lockKey+`)`); err != nil {
		return unavailable("migrate: lock", err)
	}
	defer func() {
		// The lock belongs to the connection, so if it cannot be released
		// (ctx was cancelled, say) closing the connection releases it.
		uctx := context.WithoutCancel(ctx)
		if _, uerr := conn.Exec(uctx, `SELECT pg_advisory_unlock(`+lockKey+`)`); uerr != nil {
			_ = conn.Conn().Close(uctx)
		}
	}()

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return unavailable("migrate: create schema_migrations", err)
	}
	rows, err := conn.Query(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return unavailable("migrate: read schema_migrations", err)
	}
	applied := map[int]bool{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return unavailable("migrate: read schema_migrations", err)
		}
		applied[v] = true
	}
	if err := rows.Err(); err != nil {
		return unavailable("migrate: read schema_migrations", err)
	}

	for _, m := range migrations() {
		if applied[m.version] {
			continue
		}
		tx, err := conn.Begin(ctx)
		if err != nil {
			return unavailable("migrate "+m.name, err)
		}
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			_ = tx.Rollback(ctx)
			return unavailable("migrate "+m.name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
			_ = tx.Rollback(ctx)
			return unavailable("migrate "+m.name, err)
		}
		if err := tx.Commit(ctx); err != nil {
			return unavailable("migrate "+m.name, err)
		}
	}
	return nil
}
