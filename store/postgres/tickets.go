package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/mail"
)

// The DB keeps the tickets that valet sends by mail, beside its outbox.
var _ mail.TicketStore = (*DB)(nil)

const ticketColumns = `id, code_hash, user_id, purpose, email, attempts, created_at, expires_at`

func scanTicket(row pgx.Row) (valet.Ticket, error) {
	var (
		t       valet.Ticket
		purpose string
	)
	if err := row.Scan(&t.ID, &t.CodeHash, &t.UserID, &purpose, &t.Email, &t.Attempts, &t.CreatedAt, &t.ExpiresAt); err != nil {
		return valet.Ticket{}, err
	}
	t.Purpose = valet.TicketPurpose(purpose)
	t.CreatedAt, t.ExpiresAt = t.CreatedAt.UTC(), t.ExpiresAt.UTC()
	return t, nil
}

// queueMail adds to b the statements that store msgs as EnqueueMail does.
func queueMail(b *pgx.Batch, msgs []mail.OutboxMessage) {
	for _, m := range msgs {
		body := m.Body
		if body == nil {
			body = []byte{}
		}
		b.Queue(`INSERT INTO mail_outbox
			(id, kind, recipient, body, state, attempts, created_at, next_attempt_at, updated_at, last_error)
			VALUES ($1, $2, $3, $4, 'pending', 0, $5, $6, $5, '')`,
			m.ID, string(m.Kind), m.To, body, m.CreatedAt, m.NextAttemptAt)
	}
}

// runBatch sends b in tx and reads every result.
func runBatch(ctx context.Context, tx pgx.Tx, b *pgx.Batch) error {
	br := tx.SendBatch(ctx, b)
	for range b.Len() {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return err
		}
	}
	return br.Close()
}

func purposeNames(ps []valet.TicketPurpose) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = string(p)
	}
	return out
}

// CreateTicket stores t in place of the user's tickets of the same purpose
// and email, and enqueues msgs, in one transaction sent in one round trip.
// It returns an error wrapping valet.ErrConflict when t.ID or a message id
// is taken and valet.ErrUnavailable when the database fails.
func (db *DB) CreateTicket(ctx context.Context, t valet.Ticket, msgs ...mail.OutboxMessage) error {
	var b pgx.Batch
	queueTicket(&b, t)
	queueMail(&b, msgs)
	return db.batchTx(ctx, "create ticket", &b)
}

// CreateUserWithTicket stores the new user u, then the ticket t as
// CreateTicket does, and enqueues msgs, in one transaction sent in one
// round trip. It returns an error wrapping valet.ErrConflict, and stores
// nothing, when u's id or email, t.ID or the id of a message is taken, and
// valet.ErrUnavailable when the database fails.
func (db *DB) CreateUserWithTicket(ctx context.Context, u valet.User, t valet.Ticket, msgs ...mail.OutboxMessage) error {
	var b pgx.Batch
	b.Queue(insertUser, userArgs(u)...)
	queueTicket(&b, t)
	queueMail(&b, msgs)
	return db.batchTx(ctx, "create user", &b)
}

// queueTicket queues on b the statements that store t in place of its
// user's tickets of the same purpose and email.
func queueTicket(b *pgx.Batch, t valet.Ticket) {
	b.Queue(`DELETE FROM tickets WHERE user_id = $1 AND purpose = $2 AND email = $3`, t.UserID, string(t.Purpose), t.Email)
	b.Queue(`INSERT INTO tickets (`+ticketColumns+`) VALUES ($1, $2, $3, $4, $5, 0, $6, $7)`,
		t.ID, t.CodeHash, t.UserID, string(t.Purpose), t.Email, t.CreatedAt, t.ExpiresAt)
}

// batchTx runs b in a transaction of its own and commits it: all of b's
// statements, or with an error none.
func (db *DB) batchTx(ctx context.Context, op string, b *pgx.Batch) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return fail(op, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := runBatch(ctx, tx, b); err != nil {
		return fail(op, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fail(op, err)
	}
	return nil
}

// Ticket returns ticket id unless it is gone or has expired at now. It
// returns an error wrapping valet.ErrUnavailable when the database fails.
func (db *DB) Ticket(ctx context.Context, id string, now time.Time) (valet.Ticket, bool, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	t, err := scanTicket(db.pool.QueryRow(ctx, `SELECT `+ticketColumns+` FROM tickets WHERE id = $1 AND expires_at > $2`, id, now))
	if errors.Is(err, pgx.ErrNoRows) {
		return valet.Ticket{}, false, nil
	}
	if err != nil {
		return valet.Ticket{}, false, fail("ticket", err)
	}
	return t, true, nil
}

// TicketsByEmail returns the live tickets sent to email with one of
// purposes, newest first. It returns an error wrapping
// valet.ErrUnavailable when the database fails.
func (db *DB) TicketsByEmail(ctx context.Context, email string, purposes []valet.TicketPurpose, now time.Time) ([]valet.Ticket, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	rows, err := db.pool.Query(ctx, `SELECT `+ticketColumns+` FROM tickets
		WHERE email = $1 AND expires_at > $2 AND purpose = ANY($3)
		ORDER BY created_at DESC, id`, email, now, purposeNames(purposes))
	if err != nil {
		return nil, fail("tickets by email", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (valet.Ticket, error) { return scanTicket(row) })
	if err != nil {
		return nil, fail("tickets by email", err)
	}
	return out, nil
}

// CountTicketAttempt counts a try of a code against ticket id, in one
// UPDATE whose row lock orders tries from every node, when it is live at
// now and has had fewer than max. It returns an error wrapping
// valet.ErrUnavailable when the database fails.
func (db *DB) CountTicketAttempt(ctx context.Context, id string, max int, now time.Time) (int, bool, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	var n int
	err := db.pool.QueryRow(ctx, `UPDATE tickets SET attempts = attempts + 1
		WHERE id = $1 AND attempts < $2 AND expires_at > $3 RETURNING attempts`, id, max, now).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fail("count ticket attempt", err)
	}
	return n, true, nil
}

// RedeemTicket uses up ticket id and applies r to its user, with msgs, in
// one transaction, as mail.TicketStore says: the DELETE of the ticket
// decides, under its row lock, which of the callers at once uses it. It
// returns an error wrapping valet.ErrConflict when r.SetEmail is taken and
// valet.ErrUnavailable when the database fails.
func (db *DB) RedeemTicket(ctx context.Context, id string, r valet.Redemption, now time.Time, msgs ...mail.OutboxMessage) (bool, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return false, fail("redeem ticket", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	tag, err := tx.Exec(ctx, `DELETE FROM tickets WHERE id = $1 AND user_id = $2 AND expires_at > $3`, id, r.UserID, now)
	if err != nil {
		return false, fail("redeem ticket", err)
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	tag, err = tx.Exec(ctx, `UPDATE users SET
			email = CASE WHEN $1 = '' THEN email ELSE $1 END,
			password_hash = CASE WHEN $2 = '' THEN password_hash ELSE $2 END,
			email_verified = true, email_verified_at = $3, updated_at = $3
		WHERE id = $4 AND ($5 = '' OR email = $5)`,
		r.SetEmail, r.PasswordHash, r.At, r.UserID, r.IfEmail)
	if err != nil {
		return false, fail("redeem ticket", err)
	}
	if tag.RowsAffected() == 0 {
		// Rolled back: the ticket stays, for what it is worth.
		return false, nil
	}
	var b pgx.Batch
	if len(r.Drop) > 0 {
		b.Queue(`DELETE FROM tickets WHERE user_id = $1 AND purpose = ANY($2)`, r.UserID, purposeNames(r.Drop))
	}
	queueMail(&b, msgs)
	if b.Len() > 0 {
		if err := runBatch(ctx, tx, &b); err != nil {
			return false, fail("redeem ticket", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fail("redeem ticket", err)
	}
	return true, nil
}

// DeleteTickets deletes the tickets of userID with one of purposes (any,
// when none is named). It returns an error wrapping valet.ErrUnavailable
// when the database fails.
func (db *DB) DeleteTickets(ctx context.Context, userID string, purposes ...valet.TicketPurpose) (int, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	q, args := `DELETE FROM tickets WHERE user_id = $1`, []any{userID}
	if len(purposes) > 0 {
		q += ` AND purpose = ANY($2)`
		args = append(args, purposeNames(purposes))
	}
	tag, err := db.pool.Exec(ctx, q, args...)
	if err != nil {
		return 0, fail("delete tickets", err)
	}
	return int(tag.RowsAffected()), nil
}

// SweepTickets deletes the tickets that have expired at now, in batches
// as Sweep does. It returns an error wrapping valet.ErrUnavailable when
// the database fails.
func (db *DB) SweepTickets(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for {
		n, err := db.sweepBatch(ctx, `DELETE FROM tickets WHERE id IN (
			SELECT id FROM tickets WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`, now)
		total += n
		if err != nil {
			return total, fail("sweep tickets", err)
		}
		if n < sweepBatch {
			return total, nil
		}
	}
}

// UpdateUserWithMail updates u as UpdateUser does and enqueues msgs, in one
// transaction. It returns an error wrapping valet.ErrNotFound when there is
// no user u.ID, valet.ErrConflict when the email or a message id is taken,
// and valet.ErrUnavailable when the database fails; with one, nothing
// changes.
func (db *DB) UpdateUserWithMail(ctx context.Context, u valet.User, msgs ...mail.OutboxMessage) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return fail("update user", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := updateUser(ctx, tx, u); err != nil {
		return err
	}
	var b pgx.Batch
	queueMail(&b, msgs)
	if b.Len() > 0 {
		if err := runBatch(ctx, tx, &b); err != nil {
			return fail("update user", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fail("update user", err)
	}
	return nil
}
