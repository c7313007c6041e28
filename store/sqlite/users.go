package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/valetauth/valet"
)

const userColumns = `id, email, password_hash, roles, disabled, created_at, updated_at, email_verified, email_verified_at`

type scanner interface{ Scan(dest ...any) error }

func scanUser(sc scanner) (valet.User, error) {
	var (
		u                valet.User
		roles            string
		created, updated sql.NullInt64
		verifiedAt       sql.NullInt64
		disabled         int
		verified         int
	)
	if err := sc.Scan(&u.ID, &u.Email, &u.PasswordHash, &roles, &disabled, &created, &updated, &verified, &verifiedAt); err != nil {
		return valet.User{}, err
	}
	if err := json.Unmarshal([]byte(roles), &u.Roles); err != nil {
		return valet.User{}, fmt.Errorf("roles of user %s: %v", u.ID, err)
	}
	if len(u.Roles) == 0 {
		u.Roles = nil
	}
	u.Disabled, u.EmailVerified = disabled != 0, verified != 0
	u.CreatedAt, u.UpdatedAt, u.EmailVerifiedAt = timeOf(created), timeOf(updated), timeOf(verifiedAt)
	return u, nil
}

func rolesJSON(roles []string) (string, error) {
	if roles == nil {
		roles = []string{}
	}
	b, err := json.Marshal(roles)
	return string(b), err
}

// CreateUser stores u. It returns an error wrapping valet.ErrConflict when
// u.Email or u.ID is taken and valet.ErrUnavailable on other failures.
func (db *DB) CreateUser(ctx context.Context, u valet.User) error {
	return db.insertUser(ctx, db.rw, u)
}

// insertUser stores the new user u through ex, the database or a
// transaction, with CreateUser's errors.
func (db *DB) insertUser(ctx context.Context, ex execer, u valet.User) error {
	roles, err := rolesJSON(u.Roles)
	if err != nil {
		return fmt.Errorf("%w: sqlite: roles: %v", valet.ErrInvalidRequest, err)
	}
	_, err = ex.ExecContext(ctx, `INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.Email, u.PasswordHash, roles, boolInt(u.Disabled), micros(u.CreatedAt), micros(u.UpdatedAt),
		boolInt(u.EmailVerified), micros(u.EmailVerifiedAt))
	if err != nil {
		return db.fail(ctx, "create user", err)
	}
	return nil
}

// UserByID returns the user with id. It returns an error wrapping
// valet.ErrNotFound when there is none and valet.ErrUnavailable on failure.
func (db *DB) UserByID(ctx context.Context, id string) (valet.User, error) {
	if err := ctx.Err(); err != nil {
		return valet.User{}, db.fail(ctx, "user", err)
	}
	// As in Session: a cancelable context costs the driver a goroutine per
	// lookup, and a WAL read of a primary key is over in microseconds.
	u, err := scanUser(db.userByID.QueryRowContext(context.WithoutCancel(ctx), id))
	if errors.Is(err, sql.ErrNoRows) {
		return valet.User{}, fmt.Errorf("sqlite: user: %w", valet.ErrNotFound)
	}
	if err != nil {
		return valet.User{}, db.fail(ctx, "user", err)
	}
	return u, nil
}

// userByIDQuery is the user lookup of every session-mode request.
const userByIDQuery = `SELECT ` + userColumns + ` FROM users WHERE id = ?`

// UserByEmail returns the user with email. It returns an error wrapping
// valet.ErrNotFound when there is none and valet.ErrUnavailable on failure.
func (db *DB) UserByEmail(ctx context.Context, email string) (valet.User, error) {
	return db.userBy(ctx, "email", email)
}

func (db *DB) userBy(ctx context.Context, column, value string) (valet.User, error) {
	u, err := scanUser(db.ro.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE `+column+` = ?`, value))
	if errors.Is(err, sql.ErrNoRows) {
		return valet.User{}, fmt.Errorf("sqlite: user: %w", valet.ErrNotFound)
	}
	if err != nil {
		return valet.User{}, db.fail(ctx, "user", err)
	}
	return u, nil
}

// UpdateUser replaces the user that has u.ID with u. It returns an error
// wrapping valet.ErrNotFound when there is none, valet.ErrConflict when
// another user has u.Email, and valet.ErrUnavailable on other failures.
func (db *DB) UpdateUser(ctx context.Context, u valet.User) error {
	return db.updateUser(ctx, db.rw, u)
}

// execer runs a statement: the writing connection, or a transaction on it.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func (db *DB) updateUser(ctx context.Context, ex execer, u valet.User) error {
	roles, err := rolesJSON(u.Roles)
	if err != nil {
		return fmt.Errorf("%w: sqlite: roles: %v", valet.ErrInvalidRequest, err)
	}
	res, err := ex.ExecContext(ctx, `UPDATE users
		SET email = ?, password_hash = ?, roles = ?, disabled = ?, created_at = ?, updated_at = ?,
			email_verified = ?, email_verified_at = ?
		WHERE id = ?`,
		u.Email, u.PasswordHash, roles, boolInt(u.Disabled), micros(u.CreatedAt), micros(u.UpdatedAt),
		boolInt(u.EmailVerified), micros(u.EmailVerifiedAt), u.ID)
	if err != nil {
		return db.fail(ctx, "update user", err)
	}
	return db.oneRow(ctx, "update user", res)
}

// oneRow returns nil when res affected a row and an error wrapping
// valet.ErrNotFound when it affected none.
func (db *DB) oneRow(ctx context.Context, op string, res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return db.fail(ctx, op, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlite: %s: %w", op, valet.ErrNotFound)
	}
	return nil
}

// DeleteUser removes the user with id. It returns an error wrapping
// valet.ErrNotFound when there is none and valet.ErrUnavailable on failure.
// Its second factors, recovery codes, authorization codes, consents and
// client grants go with it; its sessions and refresh families stay until
// the caller ends them, so that it learns which sessions it ended.
func (db *DB) DeleteUser(ctx context.Context, id string) error {
	res, err := db.rw.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, id)
	if err != nil {
		return db.fail(ctx, "delete user", err)
	}
	return db.oneRow(ctx, "delete user", res)
}

// ListUsers returns the page of users that q selects, oldest first, and the
// number of all users whose email contains q.Search (case-sensitively, with
// no wildcards). A Limit of 0 or less means 50 and a negative Offset means 0.
// It returns an error wrapping valet.ErrUnavailable on failure.
func (db *DB) ListUsers(ctx context.Context, q valet.UserQuery) ([]valet.User, int, error) {
	limit, offset := q.Limit, max(q.Offset, 0)
	if limit <= 0 {
		limit = 50
	}
	// One read transaction, so that the count and the page agree.
	tx, err := db.ro.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, db.fail(ctx, "list users", err)
	}
	defer tx.Rollback()

	// instr, not LIKE: a search for "_" or "%" means those characters.
	const match = `(?1 = '' OR instr(email, ?1) > 0)`
	var total int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE `+match, q.Search).Scan(&total); err != nil {
		return nil, 0, db.fail(ctx, "list users", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+userColumns+` FROM users WHERE `+match+`
		ORDER BY created_at, id LIMIT ?2 OFFSET ?3`, q.Search, limit, offset)
	if err != nil {
		return nil, 0, db.fail(ctx, "list users", err)
	}
	defer rows.Close()
	var users []valet.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, 0, db.fail(ctx, "list users", err)
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, db.fail(ctx, "list users", err)
	}
	return users, total, nil
}

var _ valet.UserImporter = (*DB)(nil)

// ImportUsers stores users in one write transaction, as valet.UserImporter
// says: a user whose email is free is created, one whose email is taken is
// skipped or, with valet.ConflictUpdate, gets the given password hash,
// roles and UpdatedAt. A failure rolls the whole call back and returns an
// error wrapping valet.ErrUnavailable (valet.ErrConflict when the id of a
// user to create is taken).
func (db *DB) ImportUsers(ctx context.Context, users []valet.User, onConflict valet.OnConflict) (created, updated, skipped int, err error) {
	err = db.write(ctx, "import users", func(tx *sql.Tx) error {
		// ON CONFLICT (email): only a taken email is a skip; a taken id
		// fails the call, as it does CreateUser.
		insert, err := tx.PrepareContext(ctx, `INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (email) DO NOTHING`)
		if err != nil {
			return db.fail(ctx, "import users", err)
		}
		defer insert.Close()
		var update *sql.Stmt
		if onConflict == valet.ConflictUpdate {
			// id <> ?: the row that the insert just made is not an update.
			update, err = tx.PrepareContext(ctx, `UPDATE users SET password_hash = ?, roles = ?, updated_at = ?
				WHERE email = ? AND id <> ?`)
			if err != nil {
				return db.fail(ctx, "import users", err)
			}
			defer update.Close()
		}
		for _, u := range users {
			roles, err := rolesJSON(u.Roles)
			if err != nil {
				return fmt.Errorf("%w: sqlite: roles: %v", valet.ErrInvalidRequest, err)
			}
			res, err := insert.ExecContext(ctx, u.ID, u.Email, u.PasswordHash, roles, boolInt(u.Disabled), micros(u.CreatedAt), micros(u.UpdatedAt),
				boolInt(u.EmailVerified), micros(u.EmailVerifiedAt))
			if err != nil {
				return db.fail(ctx, "import users", err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return db.fail(ctx, "import users", err)
			}
			switch {
			case n == 1:
				created++
			case update == nil:
				skipped++
			default:
				if _, err := update.ExecContext(ctx, u.PasswordHash, roles, micros(u.UpdatedAt), u.Email, u.ID); err != nil {
					return db.fail(ctx, "import users", err)
				}
				updated++
			}
		}
		return nil
	})
	if err != nil {
		return 0, 0, 0, err
	}
	return created, updated, skipped, nil
}
