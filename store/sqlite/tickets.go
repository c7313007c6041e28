package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/mail"
)

// The DB keeps the tickets that valet sends by mail, beside its outbox.
var _ mail.TicketStore = (*DB)(nil)

const ticketColumns = `id, code_hash, user_id, purpose, email, attempts, created_at, expires_at`

func scanTicket(sc scanner) (valet.Ticket, error) {
	var (
		t                valet.Ticket
		purpose          string
		created, expires int64
	)
	if err := sc.Scan(&t.ID, &t.CodeHash, &t.UserID, &purpose, &t.Email, &t.Attempts, &created, &expires); err != nil {
		return valet.Ticket{}, err
	}
	t.Purpose = valet.TicketPurpose(purpose)
	t.CreatedAt, t.ExpiresAt = time.UnixMicro(created).UTC(), time.UnixMicro(expires).UTC()
	return t, nil
}

// enqueueTx stores msgs as EnqueueMail does, in tx.
func enqueueTx(ctx context.Context, tx *sql.Tx, msgs []mail.OutboxMessage) error {
	for _, m := range msgs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO mail_outbox
			(id, kind, recipient, body, state, attempts, created_at, next_attempt_at, updated_at, last_error)
			VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?, '')`,
			m.ID, string(m.Kind), m.To, blob(m.Body), m.CreatedAt.UnixMicro(), m.NextAttemptAt.UnixMicro(), m.CreatedAt.UnixMicro()); err != nil {
			return err
		}
	}
	return nil
}

// CreateTicket stores t in place of the user's tickets of the same purpose
// and email, and enqueues msgs, in one write transaction. It returns an
// error wrapping valet.ErrConflict when t.ID or a message id is taken and
// valet.ErrUnavailable on other failures.
func (db *DB) CreateTicket(ctx context.Context, t valet.Ticket, msgs ...mail.OutboxMessage) error {
	return db.write(ctx, "create ticket", func(tx *sql.Tx) error {
		if err := createTicketTx(ctx, tx, t, msgs); err != nil {
			return db.fail(ctx, "create ticket", err)
		}
		return nil
	})
}

// CreateUserWithTicket stores the new user u, then the ticket t as
// CreateTicket does, and enqueues msgs, in one write transaction. It
// returns an error wrapping valet.ErrConflict, and stores nothing, when
// u's id or email, t.ID or the id of a message is taken, and
// valet.ErrUnavailable on other failures.
func (db *DB) CreateUserWithTicket(ctx context.Context, u valet.User, t valet.Ticket, msgs ...mail.OutboxMessage) error {
	return db.write(ctx, "create user", func(tx *sql.Tx) error {
		if err := db.insertUser(ctx, tx, u); err != nil {
			return err
		}
		if err := createTicketTx(ctx, tx, t, msgs); err != nil {
			return db.fail(ctx, "create user", err)
		}
		return nil
	})
}

// createTicketTx stores t in place of its user's tickets of the same
// purpose and email, and enqueues msgs, in tx.
func createTicketTx(ctx context.Context, tx *sql.Tx, t valet.Ticket, msgs []mail.OutboxMessage) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM tickets WHERE user_id = ? AND purpose = ? AND email = ?`,
		t.UserID, string(t.Purpose), t.Email); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO tickets (`+ticketColumns+`) VALUES (?, ?, ?, ?, ?, 0, ?, ?)`,
		t.ID, t.CodeHash, t.UserID, string(t.Purpose), t.Email, t.CreatedAt.UnixMicro(), t.ExpiresAt.UnixMicro()); err != nil {
		return err
	}
	return enqueueTx(ctx, tx, msgs)
}

// Ticket returns ticket id unless it is gone or has expired at now. It
// returns an error wrapping valet.ErrUnavailable on failure.
func (db *DB) Ticket(ctx context.Context, id string, now time.Time) (valet.Ticket, bool, error) {
	t, err := scanTicket(db.ro.QueryRowContext(ctx, `SELECT `+ticketColumns+` FROM tickets WHERE id = ? AND expires_at > ?`,
		id, now.UnixMicro()))
	if errors.Is(err, sql.ErrNoRows) {
		return valet.Ticket{}, false, nil
	}
	if err != nil {
		return valet.Ticket{}, false, db.fail(ctx, "ticket", err)
	}
	return t, true, nil
}

// TicketsByEmail returns the live tickets sent to email with one of
// purposes, newest first. It returns an error wrapping
// valet.ErrUnavailable on failure.
func (db *DB) TicketsByEmail(ctx context.Context, email string, purposes []valet.TicketPurpose, now time.Time) ([]valet.Ticket, error) {
	if len(purposes) == 0 {
		if err := ctx.Err(); err != nil {
			return nil, db.fail(ctx, "tickets by email", err)
		}
		return nil, nil
	}
	args := []any{email, now.UnixMicro()}
	for _, p := range purposes {
		args = append(args, string(p))
	}
	rows, err := db.ro.QueryContext(ctx, `SELECT `+ticketColumns+` FROM tickets
		WHERE email = ? AND expires_at > ? AND purpose IN (?`+strings.Repeat(", ?", len(purposes)-1)+`)
		ORDER BY created_at DESC, id`, args...)
	if err != nil {
		return nil, db.fail(ctx, "tickets by email", err)
	}
	defer rows.Close()
	var out []valet.Ticket
	for rows.Next() {
		t, err := scanTicket(rows)
		if err != nil {
			return nil, db.fail(ctx, "tickets by email", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, db.fail(ctx, "tickets by email", err)
	}
	return out, nil
}

// CountTicketAttempt counts a try of a code against ticket id, in one
// UPDATE ... RETURNING, when it is live at now and has had fewer than max.
// It returns an error wrapping valet.ErrUnavailable on failure.
func (db *DB) CountTicketAttempt(ctx context.Context, id string, max int, now time.Time) (int, bool, error) {
	var n int
	err := db.rw.QueryRowContext(ctx, `UPDATE tickets SET attempts = attempts + 1
		WHERE id = ? AND attempts < ? AND expires_at > ? RETURNING attempts`, id, max, now.UnixMicro()).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, db.fail(ctx, "count ticket attempt", err)
	}
	return n, true, nil
}

// RedeemTicket uses up ticket id and applies r to its user, with msgs, in
// one write transaction, as mail.TicketStore says. It returns an error
// wrapping valet.ErrConflict when r.SetEmail is taken and
// valet.ErrUnavailable on other failures.
func (db *DB) RedeemTicket(ctx context.Context, id string, r valet.Redemption, now time.Time, msgs ...mail.OutboxMessage) (bool, error) {
	ok := false
	err := db.write(ctx, "redeem ticket", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM tickets WHERE id = ? AND user_id = ? AND expires_at > ?`,
			id, r.UserID, now.UnixMicro())
		if err != nil {
			return db.fail(ctx, "redeem ticket", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return db.fail(ctx, "redeem ticket", err)
		} else if n == 0 {
			return nil
		}
		// One statement sets what r names; a CASE keeps what it leaves.
		res, err = tx.ExecContext(ctx, `UPDATE users SET
				email = CASE WHEN ?1 = '' THEN email ELSE ?1 END,
				password_hash = CASE WHEN ?2 = '' THEN password_hash ELSE ?2 END,
				email_verified = 1, email_verified_at = ?3, updated_at = ?3
			WHERE id = ?4 AND (?5 = '' OR email = ?5)`,
			r.SetEmail, r.PasswordHash, r.At.UnixMicro(), r.UserID, r.IfEmail)
		if err != nil {
			return db.fail(ctx, "redeem ticket", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return db.fail(ctx, "redeem ticket", err)
		} else if n == 0 {
			// Rolled back: the ticket stays, for what it is worth.
			return errNoRedeem
		}
		if err := deleteTicketsTx(ctx, tx, r.UserID, r.Drop); err != nil {
			return db.fail(ctx, "redeem ticket", err)
		}
		if err := enqueueTx(ctx, tx, msgs); err != nil {
			return db.fail(ctx, "redeem ticket", err)
		}
		ok = true
		return nil
	})
	if errors.Is(err, errNoRedeem) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return ok, nil
}

// errNoRedeem rolls back a redemption whose user does not qualify.
var errNoRedeem = errors.New("sqlite: the ticket's user does not qualify")

func deleteTicketsTx(ctx context.Context, tx *sql.Tx, userID string, purposes []valet.TicketPurpose) error {
	if len(purposes) == 0 {
		return nil
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM tickets WHERE user_id = ? AND purpose IN (?`+strings.Repeat(", ?", len(purposes)-1)+`)`,
		purposeArgs(userID, purposes)...)
	return err
}

func purposeArgs(userID string, purposes []valet.TicketPurpose) []any {
	args := []any{userID}
	for _, p := range purposes {
		args = append(args, string(p))
	}
	return args
}

// DeleteTickets deletes the tickets of userID with one of purposes (any,
// when none is named). It returns an error wrapping valet.ErrUnavailable
// on failure.
func (db *DB) DeleteTickets(ctx context.Context, userID string, purposes ...valet.TicketPurpose) (int, error) {
	q, args := `DELETE FROM tickets WHERE user_id = ?`, []any{userID}
	if len(purposes) > 0 {
		q += ` AND purpose IN (?` + strings.Repeat(", ?", len(purposes)-1) + `)`
		args = purposeArgs(userID, purposes)
	}
	res, err := db.rw.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, db.fail(ctx, "delete tickets", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, db.fail(ctx, "delete tickets", err)
	}
	return int(n), nil
}

// SweepTickets deletes the tickets that have expired at now. It returns an
// error wrapping valet.ErrUnavailable on failure.
func (db *DB) SweepTickets(ctx context.Context, now time.Time) (int, error) {
	res, err := db.rw.ExecContext(ctx, `DELETE FROM tickets WHERE expires_at <= ?`, now.UnixMicro())
	if err != nil {
		return 0, db.fail(ctx, "sweep tickets", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, db.fail(ctx, "sweep tickets", err)
	}
	return int(n), nil
}

// UpdateUserWithMail updates u as UpdateUser does and enqueues msgs, in one
// transaction. It returns an error wrapping valet.ErrNotFound when there is
// no user u.ID, valet.ErrConflict when the email or a message id is taken,
// and valet.ErrUnavailable on other failures; with one, nothing changes.
func (db *DB) UpdateUserWithMail(ctx context.Context, u valet.User, msgs ...mail.OutboxMessage) error {
	return db.write(ctx, "update user", func(tx *sql.Tx) error {
		if err := db.updateUser(ctx, tx, u); err != nil {
			return err
		}
		if err := enqueueTx(ctx, tx, msgs); err != nil {
			return db.fail(ctx, "update user", err)
		}
		return nil
	})
}
