package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/valetauth/valet"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in order of version. Each file
// is named NNNN_what.sql, where NNNN is its version.
func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		prefix, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(prefix)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive version and _", e.Name())
		}
		body, err := fs.ReadFile(migrationFiles, path.Join("migrations", e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(body)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s have the same version", ms[i-1].name, ms[i].name)
		}
	}
	return ms, nil
}

// Migrate brings the schema up to date: it runs, in order of version, each
// embedded migration that schema_migrations does not record, each in a
// transaction of its own together with its record. It is idempotent and
// safe to run from several processes at once. It returns an error wrapping
// valet.ErrUnavailable on failure, also when the file was migrated by a
// newer build whose migrations this one does not know.
func (db *DB) Migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return fmt.Errorf("%w: sqlite: %v", valet.ErrUnavailable, err)
	}
	const create = `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at INTEGER NOT NULL
	) STRICT`
	if _, err := db.rw.ExecContext(ctx, create); err != nil {
		return db.fail(ctx, "migrate", err)
	}

	var latest sql.NullInt64
	if err := db.rw.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&latest); err != nil {
		return db.fail(ctx, "migrate", err)
	}
	if known := ms[len(ms)-1].version; latest.Int64 > int64(known) {
		return fmt.Errorf("%w: sqlite: the schema is at version %d, newer than this build's %d", valet.ErrUnavailable, latest.Int64, known)
	}

	for _, m := range ms {
		err := db.write(ctx, "migrate", func(tx *sql.Tx) error {
			// Another process may have applied it since we looked; the
			// transaction holds the write lock, so this check is final.
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&n); err != nil {
				return db.fail(ctx, "migrate", err)
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return db.fail(ctx, "migrate "+m.name, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, m.version, db.now().UnixMicro()); err != nil {
				return db.fail(ctx, "migrate "+m.name, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
