package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/mail"
)

const factorColumns = `id, user_id, kind, name, secret, credential_id, confirmed, last_step, created_at, last_used_at`

func scanFactor(sc scanner) (valet.Factor, error) {
	var (
		f                 valet.Factor
		kind              string
		credential        sql.NullString
		confirmed         int
		created, lastUsed sql.NullInt64
	)
	if err := sc.Scan(&f.ID, &f.UserID, &kind, &f.Name, &f.Secret, &credential, &confirmed, &f.LastStep, &created, &lastUsed); err != nil {
		return valet.Factor{}, err
	}
	f.Kind, f.CredentialID, f.Confirmed = valet.FactorKind(kind), credential.String, confirmed != 0
	f.Secret = bytesOf(f.Secret)
	f.CreatedAt, f.LastUsedAt = timeOf(created), timeOf(lastUsed)
	return f, nil
}

// credentialOf is how a credential id is stored: NULL for none, so that
// the factors without one are not held unique among themselves.
func credentialOf(id string) sql.NullString {
	return sql.NullString{String: id, Valid: id != ""}
}

// CreateFactor stores f. It returns an error wrapping valet.ErrNotFound
// when f.UserID names no user, valet.ErrConflict when f.ID or a non-empty
// f.CredentialID is taken, and valet.ErrUnavailable on other failures.
func (db *DB) CreateFactor(ctx context.Context, f valet.Factor) error {
	return db.createFactor(ctx, db.rw, f)
}

// createFactor is CreateFactor on ex: the writing connection or a
// transaction on it.
func (db *DB) createFactor(ctx context.Context, ex execer, f valet.Factor) error {
	// One statement checks the user and stores the factor, so that the
	// user cannot go in between.
	res, err := ex.ExecContext(ctx, `INSERT INTO factors (`+factorColumns+`)
		SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10 WHERE EXISTS (SELECT 1 FROM users WHERE id = ?2)`,
		f.ID, f.UserID, string(f.Kind), f.Name, blob(f.Secret), credentialOf(f.CredentialID),
		boolInt(f.Confirmed), f.LastStep, micros(f.CreatedAt), micros(f.LastUsedAt))
	if err != nil {
		return db.fail(ctx, "create factor", err)
	}
	return db.oneRow(ctx, "create factor: user", res)
}

// Factors returns the factors of userID, oldest first. It returns an error
// wrapping valet.ErrUnavailable on failure.
func (db *DB) Factors(ctx context.Context, userID string) ([]valet.Factor, error) {
	rows, err := db.ro.QueryContext(ctx, `SELECT `+factorColumns+` FROM factors WHERE user_id = ? ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, db.fail(ctx, "factors", err)
	}
	defer rows.Close()
	var out []valet.Factor
	for rows.Next() {
		f, err := scanFactor(rows)
		if err != nil {
			return nil, db.fail(ctx, "factors", err)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, db.fail(ctx, "factors", err)
	}
	return out, nil
}

// FactorByCredential returns the factor with credentialID; found is false
// when there is none, as for an empty credentialID. It returns an error
// wrapping valet.ErrUnavailable on failure.
func (db *DB) FactorByCredential(ctx context.Context, credentialID string) (valet.Factor, bool, error) {
	f, err := scanFactor(db.ro.QueryRowContext(ctx, `SELECT `+factorColumns+` FROM factors WHERE credential_id = ?`, credentialID))
	if errors.Is(err, sql.ErrNoRows) {
		return valet.Factor{}, false, nil
	}
	if err != nil {
		return valet.Factor{}, false, db.fail(ctx, "factor by credential", err)
	}
	return f, true, nil
}

// UpdateFactor replaces Name, Secret, Confirmed and LastUsedAt of factor
// f.ID of f.UserID, and reports whether there was one. It returns an error
// wrapping valet.ErrUnavailable on failure.
func (db *DB) UpdateFactor(ctx context.Context, f valet.Factor) (bool, error) {
	res, err := db.rw.ExecContext(ctx, `UPDATE factors SET name = ?, secret = ?, confirmed = ?, last_used_at = ?
		WHERE user_id = ? AND id = ?`,
		f.Name, blob(f.Secret), boolInt(f.Confirmed), micros(f.LastUsedAt), f.UserID, f.ID)
	if err != nil {
		return false, db.fail(ctx, "update factor", err)
	}
	return db.affected(ctx, "update factor", res)
}

// UseFactorStep sets LastStep to step, LastUsedAt to at and Confirmed of
// factor id of userID in one conditional update, when its LastStep is
// earlier than step, and reports whether it did. It returns an error
// wrapping valet.ErrUnavailable on failure.
func (db *DB) UseFactorStep(ctx context.Context, userID, id string, step int64, at time.Time) (bool, error) {
	return db.useFactorStep(ctx, db.rw, userID, id, step, at)
}

// useFactorStep is UseFactorStep on ex: the writing connection or a
// transaction on it.
func (db *DB) useFactorStep(ctx context.Context, ex execer, userID, id string, step int64, at time.Time) (bool, error) {
	res, err := ex.ExecContext(ctx, `UPDATE factors SET last_step = ?3, last_used_at = ?4, confirmed = 1
		WHERE user_id = ?1 AND id = ?2 AND last_step < ?3`,
		userID, id, step, micros(at))
	if err != nil {
		return false, db.fail(ctx, "use factor step", err)
	}
	return db.affected(ctx, "use factor step", res)
}

// DeleteFactor removes factor id of userID and reports whether it existed.
// It returns an error wrapping valet.ErrUnavailable on failure.
func (db *DB) DeleteFactor(ctx context.Context, userID, id string) (bool, error) {
	return db.deleteFactor(ctx, db.rw, userID, id)
}

// deleteFactor is DeleteFactor on ex: the writing connection or a
// transaction on it.
func (db *DB) deleteFactor(ctx context.Context, ex execer, userID, id string) (bool, error) {
	res, err := ex.ExecContext(ctx, `DELETE FROM factors WHERE user_id = ? AND id = ?`, userID, id)
	if err != nil {
		return false, db.fail(ctx, "delete factor", err)
	}
	return db.affected(ctx, "delete factor", res)
}

// DeleteFactors removes every factor and recovery code of userID in one
// write transaction and returns how many factors it removed. It returns an
// error wrapping valet.ErrUnavailable on failure, having removed none.
func (db *DB) DeleteFactors(ctx context.Context, userID string) (int, error) {
	var n int
	err := db.write(ctx, "delete factors", func(tx *sql.Tx) (err error) {
		n, err = db.deleteFactors(ctx, tx, userID)
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// deleteFactors is DeleteFactors in tx, which the caller commits.
func (db *DB) deleteFactors(ctx context.Context, tx *sql.Tx, userID string) (int, error) {
	res, err := tx.ExecContext(ctx, `DELETE FROM factors WHERE user_id = ?`, userID)
	if err != nil {
		return 0, db.fail(ctx, "delete factors", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, db.fail(ctx, "delete factors", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = ?`, userID); err != nil {
		return 0, db.fail(ctx, "delete factors", err)
	}
	return int(n), nil
}

// SetRecoveryCodes replaces the recovery codes of userID by hashes (a hash
// given twice is one code) in one write transaction. It returns an error
// wrapping valet.ErrNotFound, and changes nothing, when userID names no
// user, and valet.ErrUnavailable on failure.
func (db *DB) SetRecoveryCodes(ctx context.Context, userID string, hashes []string) error {
	return db.write(ctx, "set recovery codes", func(tx *sql.Tx) error {
		return db.setRecoveryCodes(ctx, tx, userID, hashes)
	})
}

// setRecoveryCodes is SetRecoveryCodes in tx, which the caller commits.
func (db *DB) setRecoveryCodes(ctx context.Context, tx *sql.Tx, userID string, hashes []string) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE id = ?`, userID).Scan(&n); err != nil {
		return db.fail(ctx, "set recovery codes", err)
	}
	if n == 0 {
		return fmt.Errorf("sqlite: set recovery codes: user: %w", valet.ErrNotFound)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = ?`, userID); err != nil {
		return db.fail(ctx, "set recovery codes", err)
	}
	if len(hashes) == 0 {
		return nil
	}
	insert, err := tx.PrepareContext(ctx, `INSERT INTO recovery_codes (user_id, hash) VALUES (?, ?) ON CONFLICT DO NOTHING`)
	if err != nil {
		return db.fail(ctx, "set recovery codes", err)
	}
	defer insert.Close()
	for _, h := range hashes {
		if _, err := insert.ExecContext(ctx, userID, h); err != nil {
			return db.fail(ctx, "set recovery codes", err)
		}
	}
	return nil
}

// UseRecoveryCode deletes the recovery code of userID with hash, in one
// statement, and reports whether there was one. It returns an error
// wrapping valet.ErrUnavailable on failure.
func (db *DB) UseRecoveryCode(ctx context.Context, userID, hash string) (bool, error) {
	return db.useRecoveryCode(ctx, db.rw, userID, hash)
}

// useRecoveryCode is UseRecoveryCode on ex: the writing connection or a
// transaction on it.
func (db *DB) useRecoveryCode(ctx context.Context, ex execer, userID, hash string) (bool, error) {
	res, err := ex.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = ? AND hash = ?`, userID, hash)
	if err != nil {
		return false, db.fail(ctx, "use recovery code", err)
	}
	return db.affected(ctx, "use recovery code", res)
}

// RecoveryCodes returns how many unused recovery codes userID has. It
// returns an error wrapping valet.ErrUnavailable on failure.
func (db *DB) RecoveryCodes(ctx context.Context, userID string) (int, error) {
	var n int
	if err := db.ro.QueryRowContext(ctx, `SELECT count(*) FROM recovery_codes WHERE user_id = ?`, userID).Scan(&n); err != nil {
		return 0, db.fail(ctx, "recovery codes", err)
	}
	return n, nil
}

// ChangeFactorsWithMail makes c and enqueues msgs in one write
// transaction, as mail.TicketStore says, with the statements of the
// FactorStore methods that c names. ok is false, and nothing changes, when
// a condition of c does not hold; n is how many factors c.DeleteAll
// removed. It returns an error wrapping valet.ErrNotFound when c.Create or
// c.SetRecoveryCodes is set and c.UserID names no user, valet.ErrConflict
// when the id or credential id of c.Create or a message id is taken,
// valet.ErrInvalidRequest when c.Create is another user's, and
// valet.ErrUnavailable on other failures; with one, nothing changes.
func (db *DB) ChangeFactorsWithMail(ctx context.Context, c valet.FactorChange, msgs ...mail.OutboxMessage) (int, bool, error) {
	if c.Create != nil && c.Create.UserID != c.UserID {
		return 0, false, fmt.Errorf("%w: sqlite: change factors: the factor to create is another user's", valet.ErrInvalidRequest)
	}
	// held turns a result of a condition into errNoChange, which rolls the
	// transaction back.
	held := func(ok bool, err error) error {
		if err == nil && !ok {
			return errNoChange
		}
		return err
	}
	var n int
	err := db.write(ctx, "change factors", func(tx *sql.Tx) error {
		if c.Create != nil {
			if err := db.createFactor(ctx, tx, *c.Create); err != nil {
				return err
			}
		}
		if st := c.Step; st != nil {
			if err := held(db.useFactorStep(ctx, tx, c.UserID, st.ID, st.Step, st.At)); err != nil {
				return err
			}
		}
		if c.Delete != "" {
			if err := held(db.deleteFactor(ctx, tx, c.UserID, c.Delete)); err != nil {
				return err
			}
		}
		if c.DeleteAll {
			var err error
			if n, err = db.deleteFactors(ctx, tx, c.UserID); err != nil {
				return err
			}
		}
		if c.UseRecoveryCode != "" {
			if err := held(db.useRecoveryCode(ctx, tx, c.UserID, c.UseRecoveryCode)); err != nil {
				return err
			}
		}
		if c.SetRecoveryCodes {
			if err := db.setRecoveryCodes(ctx, tx, c.UserID, c.RecoveryCodes); err != nil {
				return err
			}
		}
		if err := enqueueTx(ctx, tx, msgs); err != nil {
			return db.fail(ctx, "change factors", err)
		}
		return nil
	})
	if errors.Is(err, errNoChange) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return n, true, nil
}

// errNoChange rolls back a change of factors whose condition does not
// hold.
var errNoChange = errors.New("sqlite: a condition of the change does not hold")

// PutPending stores value under key until expires, replacing what key
// held. It returns an error wrapping valet.ErrUnavailable on failure.
func (db *DB) PutPending(ctx context.Context, key string, value []byte, expires time.Time) error {
	_, err := db.rw.ExecContext(ctx, `INSERT INTO pending (key, value, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
		key, blob(value), expires.UnixMicro())
	if err != nil {
		return db.fail(ctx, "put pending", err)
	}
	return nil
}

// TakePending deletes the value under key and returns it, in one statement,
// so that one caller finds it; found is false when there is none or it has
// expired at now. It returns an error wrapping valet.ErrUnavailable on
// failure.
func (db *DB) TakePending(ctx context.Context, key string, now time.Time) ([]byte, bool, error) {
	var value []byte
	err := db.rw.QueryRowContext(ctx, `DELETE FROM pending WHERE key = ? AND expires_at > ? RETURNING value`,
		key, now.UnixMicro()).Scan(&value)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, db.fail(ctx, "take pending", err)
	}
	return bytesOf(value), true, nil
}

// affected reports whether res affected a row.
func (db *DB) affected(ctx context.Context, op string, res sql.Result) (bool, error) {
	n, err := res.RowsAffected()
	if err != nil {
		return false, db.fail(ctx, op, err)
	}
	return n > 0, nil
}
