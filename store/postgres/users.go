package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/valetauth/valet"
)

const userColumns = `id, email, password_hash, roles, disabled, created_at, updated_at, email_verified, email_verified_at`

// CreateUser stores u. It returns an error wrapping valet.ErrConflict when
// u's email or id is taken, and valet.ErrUnavailable when the database
// fails.
func (db *DB) CreateUser(ctx context.Context, u valet.User) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	if _, err := db.pool.Exec(ctx, insertUser, userArgs(u)...); err != nil {
		return fail("create user", err)
	}
	return nil
}

const insertUser = `INSERT INTO users (` + userColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`

// userArgs are the arguments of insertUser for u.
func userArgs(u valet.User) []any {
	return []any{u.ID, u.Email, u.PasswordHash, roles(u.Roles), u.Disabled, u.CreatedAt, u.UpdatedAt, u.EmailVerified, nullTime(u.EmailVerifiedAt)}
}

// UserByID returns the user with id. It returns an error wrapping
// valet.ErrNotFound when there is none and valet.ErrUnavailable when the
// database fails.
func (db *DB) UserByID(ctx context.Context, id string) (valet.User, error) {
	return db.user(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id)
}

// UserByEmail returns the user with email. It returns an error wrapping
// valet.ErrNotFound when there is none and valet.ErrUnavailable when the
// database fails.
func (db *DB) UserByEmail(ctx context.Context, email string) (valet.User, error) {
	return db.user(ctx, `SELECT `+userColumns+` FROM users WHERE email = $1`, email)
}

func (db *DB) user(ctx context.Context, query string, arg string) (valet.User, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	u, err := scanUser(db.pool.QueryRow(ctx, query, arg))
	if errors.Is(err, pgx.ErrNoRows) {
		return valet.User{}, fmt.Errorf("postgres: user: %w", valet.ErrNotFound)
	}
	if err != nil {
		return valet.User{}, fail("user", err)
	}
	return u, nil
}

// UpdateUser replaces every field of the stored user that has u.ID with u's.
// It returns an error wrapping valet.ErrNotFound when there is no such user,
// valet.ErrConflict when the new email is taken, and valet.ErrUnavailable
// when the database fails.
func (db *DB) UpdateUser(ctx context.Context, u valet.User) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	return updateUser(ctx, db.pool, u)
}

// execer runs a statement: the pool, or a transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func updateUser(ctx context.Context, ex execer, u valet.User) error {
	tag, err := ex.Exec(ctx, `UPDATE users SET email = $2, password_hash = $3,
		roles = $4, disabled = $5, created_at = $6, updated_at = $7,
		email_verified = $8, email_verified_at = $9 WHERE id = $1`,
		u.ID, u.Email, u.PasswordHash, roles(u.Roles), u.Disabled, u.CreatedAt, u.UpdatedAt, u.EmailVerified, nullTime(u.EmailVerifiedAt))
	if err != nil {
		return fail("update user", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: update user: %w", valet.ErrNotFound)
	}
	return nil
}

// DeleteUser removes the user with id. It returns an error wrapping
// valet.ErrNotFound when there is none and valet.ErrUnavailable when the
// database fails. Its second factors, recovery codes, authorization codes,
// consents and client grants go with it; its sessions and refresh families
// are left to the caller, which may keep them in another backend.
func (db *DB) DeleteUser(ctx context.Context, id string) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	tag, err := db.pool.Exec(ctx, `DELETE FROM users WHERE id = $1`, id)
	if err != nil {
		return fail("delete user", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: delete user: %w", valet.ErrNotFound)
	}
	return nil
}

// ListUsers returns one page of the users whose email contains q.Search
// (case-sensitively, as emails are stored normalized), oldest first, and the
// number of all matches. A Limit of 0 or less means 50 and a negative Offset
// means 0. It returns an error wrapping valet.ErrUnavailable when the
// database fails.
func (db *DB) ListUsers(ctx context.Context, q valet.UserQuery) ([]valet.User, int, error) {
	limit, offset := q.Limit, q.Offset
	if limit <= 0 {
		limit = 50
	}
	offset = max(offset, 0)
	ctx, cancel := db.bound(ctx)
	defer cancel()

	// strpos rather than LIKE, so that % and _ in the search are plain text.
	var b pgx.Batch
	b.Queue(`SELECT count(*) FROM users WHERE strpos(email, $1) > 0`, q.Search)
	b.Queue(`SELECT `+userColumns+` FROM users WHERE strpos(email, $1) > 0
		ORDER BY created_at, id LIMIT $2 OFFSET $3`, q.Search, limit, offset)
	br := db.pool.SendBatch(ctx, &b)
	defer br.Close()

	var total int
	if err := br.QueryRow().Scan(&total); err != nil {
		return nil, 0, fail("list users", err)
	}
	rows, err := br.Query()
	if err != nil {
		return nil, 0, fail("list users", err)
	}
	defer rows.Close()
	var users []valet.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, 0, fail("list users", err)
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fail("list users", err)
	}
	return users, total, nil
}

func scanUser(row pgx.Row) (valet.User, error) {
	var (
		u          valet.User
		verifiedAt *time.Time
	)
	err := row.Scan(&u.ID, &u.Email, &u.PasswordHash, &u.Roles, &u.Disabled, &u.CreatedAt, &u.UpdatedAt, &u.EmailVerified, &verifiedAt)
	if len(u.Roles) == 0 {
		u.Roles = nil
	}
	u.CreatedAt, u.UpdatedAt, u.EmailVerifiedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC(), fromNull(verifiedAt)
	return u, err
}

// roles keeps a nil slice from becoming SQL NULL in a NOT NULL column.
func roles(r []string) []string {
	if r == nil {
		return []string{}
	}
	return r
}

var _ valet.UserImporter = (*DB)(nil)

// ImportUsers stores users in one transaction, sent to the server in one
// round trip, as valet.UserImporter says: a user whose email is free is
// created, one whose email is taken is skipped or, with
// valet.ConflictUpdate, gets the given password hash, roles and UpdatedAt.
// The call is bounded by Config.Timeout. A failure rolls the whole call
// back and returns an error wrapping valet.ErrUnavailable (valet.ErrConflict
// when the id of a user to create is taken).
func (db *DB) ImportUsers(ctx context.Context, users []valet.User, onConflict valet.OnConflict) (created, updated, skipped int, err error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return 0, 0, 0, fail("import users", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	update := onConflict == valet.ConflictUpdate
	var b pgx.Batch
	for _, u := range users {
		// ON CONFLICT (email): only a taken email is a skip; a taken id
		// fails the call, as it does CreateUser.
		b.Queue(`INSERT INTO users (`+userColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (email) DO NOTHING`,
			u.ID, u.Email, u.PasswordHash, roles(u.Roles), u.Disabled, u.CreatedAt, u.UpdatedAt, u.EmailVerified, nullTime(u.EmailVerifiedAt))
		if update {
			// id <> $5: the row that the insert just made is not an update.
			b.Queue(`UPDATE users SET password_hash = $2, roles = $3, updated_at = $4
				WHERE email = $1 AND id <> $5`,
				u.Email, u.PasswordHash, roles(u.Roles), u.UpdatedAt, u.ID)
		}
	}
	br := tx.SendBatch(ctx, &b)
	for range users {
		tag, err := br.Exec()
		if err != nil {
			br.Close()
			return 0, 0, 0, fail("import users", err)
		}
		inserted, changed := tag.RowsAffected() == 1, false
		if update {
			tag, err := br.Exec()
			if err != nil {
				br.Close()
				return 0, 0, 0, fail("import users", err)
			}
			changed = tag.RowsAffected() == 1
		}
		switch {
		case inserted:
			created++
		case changed:
			updated++
		default:
			// Taken and kept, or deleted by another transaction since.
			skipped++
		}
	}
	if err := br.Close(); err != nil {
		return 0, 0, 0, fail("import users", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, 0, 0, fail("import users", err)
	}
	return created, updated, skipped, nil
}
