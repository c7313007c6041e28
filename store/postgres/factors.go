package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/mail"
)

const factorColumns = `id, user_id, kind, name, secret, credential_id, confirmed, last_step, created_at, last_used_at`

func scanFactor(row pgx.Row) (valet.Factor, error) {
	var (
		f          valet.Factor
		kind       string
		credential *string
		lastUsed   *time.Time
	)
	if err := row.Scan(&f.ID, &f.UserID, &kind, &f.Name, &f.Secret, &credential, &f.Confirmed, &f.LastStep, &f.CreatedAt, &lastUsed); err != nil {
		return valet.Factor{}, err
	}
	f.Kind = valet.FactorKind(kind)
	if credential != nil {
		f.CredentialID = *credential
	}
	if len(f.Secret) == 0 {
		f.Secret = nil
	}
	f.CreatedAt, f.LastUsedAt = f.CreatedAt.UTC(), fromNull(lastUsed)
	return f, nil
}

// credentialOf is how a credential id is stored: NULL for none, so that
// the factors without one are not held unique among themselves.
func credentialOf(id string) *string {
	if id == "" {
		return nil
	}
	return &id
}

// bytea keeps nil bytes from becoming SQL NULL in a NOT NULL column.
func bytea(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// CreateFactor stores f. It returns an error wrapping valet.ErrNotFound
// when f.UserID names no user, valet.ErrConflict when f.ID or a non-empty
// f.CredentialID is taken, and valet.ErrUnavailable when the database
// fails.
func (db *DB) CreateFactor(ctx context.Context, f valet.Factor) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	return createFactor(ctx, db.pool, f)
}

// createFactor is CreateFactor on ex: the pool, or a transaction.
func createFactor(ctx context.Context, ex execer, f valet.Factor) error {
	// The foreign key checks the user in the same statement, so that the
	// user cannot go in between.
	_, err := ex.Exec(ctx, `INSERT INTO factors (`+factorColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		f.ID, f.UserID, string(f.Kind), f.Name, bytea(f.Secret), credentialOf(f.CredentialID),
		f.Confirmed, f.LastStep, f.CreatedAt, nullTime(f.LastUsedAt))
	if err != nil {
		if noUser(err) {
			return fmt.Errorf("postgres: create factor: user: %w", valet.ErrNotFound)
		}
		return fail("create factor", err)
	}
	return nil
}

// noUser reports whether err is a foreign key violation: a row that names
// a user that is not there.
func noUser(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == foreignKeyViolation
}

// Factors returns the factors of userID, oldest first. It returns an error
// wrapping valet.ErrUnavailable when the database fails.
func (db *DB) Factors(ctx context.Context, userID string) ([]valet.Factor, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	rows, err := db.pool.Query(ctx, `SELECT `+factorColumns+` FROM factors WHERE user_id = $1 ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, fail("factors", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (valet.Factor, error) { return scanFactor(row) })
	if err != nil {
		return nil, fail("factors", err)
	}
	return out, nil
}

// FactorByCredential returns the factor with credentialID; found is false
// when there is none, as for an empty credentialID. It returns an error
// wrapping valet.ErrUnavailable when the database fails.
func (db *DB) FactorByCredential(ctx context.Context, credentialID string) (valet.Factor, bool, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	f, err := scanFactor(db.pool.QueryRow(ctx, `SELECT `+factorColumns+` FROM factors WHERE credential_id = $1`, credentialID))
	if errors.Is(err, pgx.ErrNoRows) {
		return valet.Factor{}, false, nil
	}
	if err != nil {
		return valet.Factor{}, false, fail("factor by credential", err)
	}
	return f, true, nil
}

// UpdateFactor replaces Name, Secret, Confirmed and LastUsedAt of factor
// f.ID of f.UserID, and reports whether there was one. It returns an error
// wrapping valet.ErrUnavailable when the database fails.
func (db *DB) UpdateFactor(ctx context.Context, f valet.Factor) (bool, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	tag, err := db.pool.Exec(ctx, `UPDATE factors SET name = $3, secret = $4, confirmed = $5, last_used_at = $6
		WHERE user_id = $1 AND id = $2`,
		f.UserID, f.ID, f.Name, bytea(f.Secret), f.Confirmed, nullTime(f.LastUsedAt))
	if err != nil {
		return false, fail("update factor", err)
	}
	return tag.RowsAffected() > 0, nil
}

// UseFactorStep sets LastStep to step, LastUsedAt to at and Confirmed of
// factor id of userID in one conditional UPDATE, when its LastStep is
// earlier than step, and reports whether it did. Of updates at once, the
// row lock lets the first through and makes the others check the condition
// again, against the step it recorded. It returns an error wrapping
// valet.ErrUnavailable when the database fails.
func (db *DB) UseFactorStep(ctx context.Context, userID, id string, step int64, at time.Time) (bool, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	return useFactorStep(ctx, db.pool, userID, id, step, at)
}

// useFactorStep is UseFactorStep on ex: the pool, or a transaction.
func useFactorStep(ctx context.Context, ex execer, userID, id string, step int64, at time.Time) (bool, error) {
	tag, err := ex.Exec(ctx, `UPDATE factors SET last_step = $3, last_used_at = $4, confirmed = true
		WHERE user_id = $1 AND id = $2 AND last_step < $3`,
		userID, id, step, nullTime(at))
	if err != nil {
		return false, fail("use factor step", err)
	}
	return tag.RowsAffected() > 0, nil
}

// DeleteFactor removes factor id of userID and reports whether it existed.
// It returns an error wrapping valet.ErrUnavailable when the database
// fails.
func (db *DB) DeleteFactor(ctx context.Context, userID, id string) (bool, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	return deleteFactor(ctx, db.pool, userID, id)
}

// deleteFactor is DeleteFactor on ex: the pool, or a transaction.
func deleteFactor(ctx context.Context, ex execer, userID, id string) (bool, error) {
	tag, err := ex.Exec(ctx, `DELETE FROM factors WHERE user_id = $1 AND id = $2`, userID, id)
	if err != nil {
		return false, fail("delete factor", err)
	}
	return tag.RowsAffected() > 0, nil
}

// DeleteFactors removes every factor and recovery code of userID in one
// statement and returns how many factors it removed. It returns an error
// wrapping valet.ErrUnavailable when the database fails, having removed
// none.
func (db *DB) DeleteFactors(ctx context.Context, userID string) (int, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	return deleteFactors(ctx, db.pool, userID)
}

// deleteFactors is DeleteFactors on ex: the pool, or a transaction.
func deleteFactors(ctx context.Context, ex execer, userID string) (int, error) {
	tag, err := ex.Exec(ctx, `WITH codes AS (DELETE FROM recovery_codes WHERE user_id = $1)
		DELETE FROM factors WHERE user_id = $1`, userID)
	if err != nil {
		return 0, fail("delete factors", err)
	}
	return int(tag.RowsAffected()), nil
}

// SetRecoveryCodes replaces the recovery codes of userID by hashes (a hash
// given twice is one code) in one transaction. It returns an error
// wrapping valet.ErrNotFound, and changes nothing, when userID names no
// user, and valet.ErrUnavailable when the database fails.
func (db *DB) SetRecoveryCodes(ctx context.Context, userID string, hashes []string) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return fail("set recovery codes", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := setRecoveryCodes(ctx, tx, userID, hashes); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fail("set recovery codes", err)
	}
	return nil
}

// setRecoveryCodes is SetRecoveryCodes in tx, which the caller commits.
func setRecoveryCodes(ctx context.Context, tx pgx.Tx, userID string, hashes []string) error {
	// FOR SHARE holds the user until the commit: a DeleteUser at the same
	// time waits, and then takes the new codes with it.
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM users WHERE id = $1 FOR SHARE`, userID).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres: set recovery codes: user: %w", valet.ErrNotFound)
	}
	if err != nil {
		return fail("set recovery codes", err)
	}
	var b pgx.Batch
	b.Queue(`DELETE FROM recovery_codes WHERE user_id = $1`, userID)
	b.Queue(`INSERT INTO recovery_codes (user_id, hash) SELECT $1, h FROM unnest($2::text[]) AS h
		ON CONFLICT DO NOTHING`, userID, nonNil(hashes))
	if err := runBatch(ctx, tx, &b); err != nil {
		return fail("set recovery codes", err)
	}
	return nil
}

// UseRecoveryCode deletes the recovery code of userID with hash, in one
// DELETE, and reports whether there was one. It returns an error wrapping
// valet.ErrUnavailable when the database fails.
func (db *DB) UseRecoveryCode(ctx context.Context, userID, hash string) (bool, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	return useRecoveryCode(ctx, db.pool, userID, hash)
}

// useRecoveryCode is UseRecoveryCode on ex: the pool, or a transaction.
func useRecoveryCode(ctx context.Context, ex execer, userID, hash string) (bool, error) {
	tag, err := ex.Exec(ctx, `DELETE FROM recovery_codes WHERE user_id = $1 AND hash = $2`, userID, hash)
	if err != nil {
		return false, fail("use recovery code", err)
	}
	return tag.RowsAffected() > 0, nil
}

// RecoveryCodes returns how many unused recovery codes userID has. It
// returns an error wrapping valet.ErrUnavailable when the database fails.
func (db *DB) RecoveryCodes(ctx context.Context, userID string) (int, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	var n int
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM recovery_codes WHERE user_id = $1`, userID).Scan(&n); err != nil {
		return 0, fail("recovery codes", err)
	}
	return n, nil
}

// ChangeFactorsWithMail makes c and enqueues msgs in one transaction, as
// mail.TicketStore says, with the statements of the FactorStore methods
// that c names: of callers at once that use one TOTP step or recovery
// code, the row lock lets one through and makes the others find it used.
// ok is false, and nothing changes, when a condition of c does not hold;
// n is how many factors c.DeleteAll removed. It returns an error wrapping
// valet.ErrNotFound when c.Create or c.SetRecoveryCodes is set and
// c.UserID names no user, valet.ErrConflict when the id or credential id
// of c.Create or a message id is taken, valet.ErrInvalidRequest when
// c.Create is another user's, and valet.ErrUnavailable when the database
// fails; with one, nothing changes.
func (db *DB) ChangeFactorsWithMail(ctx context.Context, c valet.FactorChange, msgs ...mail.OutboxMessage) (int, bool, error) {
	if c.Create != nil && c.Create.UserID != c.UserID {
		return 0, false, fmt.Errorf("%w: postgres: change factors: the factor to create is another user's", valet.ErrInvalidRequest)
	}
	ctx, cancel := db.bound(ctx)
	defer cancel()
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return 0, false, fail("change factors", err)
	}
	// Returning before the commit, with an error or a condition that does
	// not hold, rolls back what the parts before made.
	defer tx.Rollback(context.WithoutCancel(ctx))
	if c.Create != nil {
		if err := createFactor(ctx, tx, *c.Create); err != nil {
			return 0, false, err
		}
	}
	if st := c.Step; st != nil {
		if ok, err := useFactorStep(ctx, tx, c.UserID, st.ID, st.Step, st.At); err != nil || !ok {
			return 0, false, err
		}
	}
	if c.Delete != "" {
		if ok, err := deleteFactor(ctx, tx, c.UserID, c.Delete); err != nil || !ok {
			return 0, false, err
		}
	}
	n := 0
	if c.DeleteAll {
		if n, err = deleteFactors(ctx, tx, c.UserID); err != nil {
			return 0, false, err
		}
	}
	if c.UseRecoveryCode != "" {
		if ok, err := useRecoveryCode(ctx, tx, c.UserID, c.UseRecoveryCode); err != nil || !ok {
			return 0, false, err
		}
	}
	if c.SetRecoveryCodes {
		if err := setRecoveryCodes(ctx, tx, c.UserID, c.RecoveryCodes); err != nil {
			return 0, false, err
		}
	}
	var b pgx.Batch
	queueMail(&b, msgs)
	if b.Len() > 0 {
		if err := runBatch(ctx, tx, &b); err != nil {
			return 0, false, fail("change factors", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, false, fail("change factors", err)
	}
	return n, true, nil
}

// PutPending stores value under key until expires, replacing what key
// held. It returns an error wrapping valet.ErrUnavailable when the
// database fails.
func (db *DB) PutPending(ctx context.Context, key string, value []byte, expires time.Time) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	_, err := db.pool.Exec(ctx, `INSERT INTO pending (key, value, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at`,
		key, bytea(value), expires)
	if err != nil {
		return fail("put pending", err)
	}
	return nil
}

// TakePending deletes the value under key and returns it, in one DELETE,
// so that one caller finds it; found is false when there is none or it has
// expired at now. It returns an error wrapping valet.ErrUnavailable when
// the database fails.
func (db *DB) TakePending(ctx context.Context, key string, now time.Time) ([]byte, bool, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	var value []byte
	err := db.pool.QueryRow(ctx, `DELETE FROM pending WHERE key = $1 AND expires_at > $2 RETURNING value`, key, now).Scan(&value)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fail("take pending", err)
	}
	if len(value) == 0 {
		value = nil
	}
	return value, true, nil
}
