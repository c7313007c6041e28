package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/mail"
	"github.com/valetauth/valet/store/internal/text"
)

// The DB is the mail outbox too.
var _ mail.Outbox = (*DB)(nil)

const outboxColumns = `id, kind, recipient, body, state, attempts, created_at, next_attempt_at, updated_at, last_error`

// mailSweepBatch is the most rows one statement of SweepMail deletes.
const mailSweepBatch = 1000

// EnqueueMail stores m as pending, due at m.NextAttemptAt. It returns an
// error wrapping valet.ErrConflict when m.ID is stored already and
// valet.ErrUnavailable when the database fails.
func (db *DB) EnqueueMail(ctx context.Context, m mail.OutboxMessage) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	body := m.Body
	if body == nil {
		body = []byte{}
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO mail_outbox
		(id, kind, recipient, body, state, attempts, created_at, next_attempt_at, updated_at, last_error)
		VALUES ($1, $2, $3, $4, 'pending', 0, $5, $6, $5, '')`,
		m.ID, string(m.Kind), m.To, body, m.CreatedAt, m.NextAttemptAt)
	if err != nil {
		return fail("enqueue mail", err)
	}
	return nil
}

// ClaimMail claims up to limit due pending messages that no live lease
// holds, holding each until now+lease and counting an attempt, in one
// statement: FOR UPDATE SKIP LOCKED passes over the rows that another
// claim is taking at the same moment, and the lease keeps the rows from
// later claims, so that of many nodes each message goes to one. They are
// returned earliest due first. It returns an error wrapping
// valet.ErrUnavailable when the database fails.
func (db *DB) ClaimMail(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]mail.OutboxMessage, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	if limit <= 0 {
		if err := ctx.Err(); err != nil {
			return nil, fail("claim mail", err)
		}
		return nil, nil
	}
	rows, err := db.pool.Query(ctx, `WITH due AS (
			SELECT id FROM mail_outbox
			WHERE state = 'pending' AND next_attempt_at <= $1 AND (claimed_until IS NULL OR claimed_until <= $1)
			ORDER BY next_attempt_at, created_at, id
			LIMIT $3
			FOR UPDATE SKIP LOCKED)
		UPDATE mail_outbox m SET claimed_until = $2, attempts = m.attempts + 1
		FROM due WHERE m.id = due.id
		RETURNING m.id, m.kind, m.recipient, m.body, m.state, m.attempts, m.created_at, m.next_attempt_at, m.updated_at, m.last_error`,
		now, now.Add(lease), limit)
	if err != nil {
		return nil, fail("claim mail", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (mail.OutboxMessage, error) { return scanMail(row) })
	if err != nil {
		return nil, fail("claim mail", err)
	}
	// RETURNING keeps no order.
	slices.SortFunc(out, func(a, b mail.OutboxMessage) int {
		return cmp.Or(a.NextAttemptAt.Compare(b.NextAttemptAt), a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// MailSent marks message id sent at at and drops its body and claim. It
// returns an error wrapping valet.ErrNotFound for an unknown id and
// valet.ErrUnavailable when the database fails.
func (db *DB) MailSent(ctx context.Context, id string, at time.Time) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	tag, err := db.pool.Exec(ctx, `UPDATE mail_outbox SET state = 'sent', body = '', claimed_until = NULL, updated_at = $2
		WHERE id = $1`, id, at)
	if err != nil {
		return fail("mail sent", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: mail sent: %w", valet.ErrNotFound)
	}
	return nil
}

// MailFailed records a failed try of pending message id (see
// mail.Outbox). A message that is not pending is left alone. It returns an
// error wrapping valet.ErrNotFound for an unknown id and
// valet.ErrUnavailable when the database fails.
func (db *DB) MailFailed(ctx context.Context, id string, f mail.Failure) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	// One statement: the CTE changes a pending row, and the outer SELECT
	// tells an unchanged row that exists from an unknown id.
	var changed, exists bool
	err := db.pool.QueryRow(ctx, `WITH changed AS (
			UPDATE mail_outbox SET
				state = CASE WHEN $2 THEN 'dead' ELSE state END,
				body = CASE WHEN $2 THEN ''::bytea ELSE body END,
				next_attempt_at = CASE WHEN $2 THEN next_attempt_at ELSE $3 END,
				claimed_until = NULL, updated_at = $4, last_error = $5
			WHERE id = $1 AND state = 'pending'
			RETURNING id)
		SELECT EXISTS (SELECT 1 FROM changed), EXISTS (SELECT 1 FROM mail_outbox WHERE id = $1)`,
		id, f.Dead, f.Next, f.At, text.Clean(f.Error, mail.MaxLastError)).Scan(&changed, &exists)
	if err != nil {
		return fail("mail failed", err)
	}
	if !changed && !exists {
		return fmt.Errorf("postgres: mail failed: %w", valet.ErrNotFound)
	}
	return nil
}

// MailByID returns message id. It returns an error wrapping
// valet.ErrNotFound when there is none and valet.ErrUnavailable when the
// database fails.
func (db *DB) MailByID(ctx context.Context, id string) (mail.OutboxMessage, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	m, err := scanMail(db.pool.QueryRow(ctx, `SELECT `+outboxColumns+` FROM mail_outbox WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return mail.OutboxMessage{}, fmt.Errorf("postgres: mail by id: %w", valet.ErrNotFound)
	}
	if err != nil {
		return mail.OutboxMessage{}, fail("mail by id", err)
	}
	return m, nil
}

// PendingMail returns how many messages are pending. It returns an error
// wrapping valet.ErrUnavailable when the database fails.
func (db *DB) PendingMail(ctx context.Context) (int, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	var n int
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM mail_outbox WHERE state = 'pending'`).Scan(&n); err != nil {
		return 0, fail("pending mail", err)
	}
	return n, nil
}

// SweepMail deletes the sent and dead messages last updated before before
// and returns how many, in batches of at most 1000 rows, each its own
// statement bounded by Config.Timeout. It returns an error wrapping
// valet.ErrUnavailable when the database fails, with the number the batches
// before the failure deleted.
func (db *DB) SweepMail(ctx context.Context, before time.Time) (int, error) {
	total := 0
	for {
		n, err := db.sweepMailBatch(ctx, before)
		total += n
		if err != nil {
			return total, fail("sweep mail", err)
		}
		if n < mailSweepBatch {
			return total, nil
		}
	}
}

func (db *DB) sweepMailBatch(ctx context.Context, before time.Time) (int, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	tag, err := db.pool.Exec(ctx, `DELETE FROM mail_outbox WHERE id IN (
		SELECT id FROM mail_outbox WHERE state <> 'pending' AND updated_at < $1
		LIMIT $2 FOR UPDATE SKIP LOCKED)`, before, mailSweepBatch)
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}

// scanMail reads one row of outboxColumns.
func scanMail(row pgx.Row) (mail.OutboxMessage, error) {
	var (
		m           mail.OutboxMessage
		kind, state string
	)
	if err := row.Scan(&m.ID, &kind, &m.To, &m.Body, &state, &m.Attempts, &m.CreatedAt, &m.NextAttemptAt, &m.UpdatedAt, &m.LastError); err != nil {
		return mail.OutboxMessage{}, err
	}
	m.Kind, m.State = mail.Kind(kind), mail.State(state)
	if len(m.Body) == 0 {
		m.Body = nil
	}
	m.CreatedAt, m.NextAttemptAt, m.UpdatedAt = m.CreatedAt.UTC(), m.NextAttemptAt.UTC(), m.UpdatedAt.UTC()
	return m, nil
}
