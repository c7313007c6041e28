package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/mail"
	"github.com/valetauth/valet/store/internal/text"
)

// The DB is the mail outbox too.
var _ mail.Outbox = (*DB)(nil)

const outboxColumns = `id, kind, recipient, body, state, attempts, created_at, next_attempt_at, updated_at, last_error`

// EnqueueMail stores m as pending, due at m.NextAttemptAt. It returns an
// error wrapping valet.ErrConflict when m.ID is stored already and
// valet.ErrUnavailable on failure.
func (db *DB) EnqueueMail(ctx context.Context, m mail.OutboxMessage) error {
	_, err := db.rw.ExecContext(ctx, `INSERT INTO mail_outbox
		(id, kind, recipient, body, state, attempts, created_at, next_attempt_at, updated_at, last_error)
		VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?, '')`,
		m.ID, string(m.Kind), m.To, blob(m.Body), m.CreatedAt.UnixMicro(), m.NextAttemptAt.UnixMicro(), m.CreatedAt.UnixMicro())
	if err != nil {
		return db.fail(ctx, "enqueue mail", err)
	}
	return nil
}

// ClaimMail claims up to limit due pending messages that no live lease
// holds, holding each until now+lease and counting an attempt, in one
// UPDATE ... RETURNING in a transaction of the one writing connection, so
// that claimers in this process and in others (which wait for the file's
// write lock) each get other messages. They are returned earliest due
// first. It returns an error wrapping valet.ErrUnavailable on failure.
func (db *DB) ClaimMail(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]mail.OutboxMessage, error) {
	if limit <= 0 {
		if err := ctx.Err(); err != nil {
			return nil, db.fail(ctx, "claim mail", err)
		}
		return nil, nil
	}
	var out []mail.OutboxMessage
	err := db.write(ctx, "claim mail", func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE mail_outbox SET claimed_until = ?, attempts = attempts + 1
			WHERE id IN (SELECT id FROM mail_outbox
				WHERE state = 'pending' AND next_attempt_at <= ? AND (claimed_until IS NULL OR claimed_until <= ?)
				ORDER BY next_attempt_at, created_at, id LIMIT ?)
			RETURNING `+outboxColumns,
			now.Add(lease).UnixMicro(), now.UnixMicro(), now.UnixMicro(), limit)
		if err != nil {
			return db.fail(ctx, "claim mail", err)
		}
		defer rows.Close()
		for rows.Next() {
			m, err := scanMail(rows)
			if err != nil {
				return db.fail(ctx, "claim mail", err)
			}
			out = append(out, m)
		}
		if err := rows.Err(); err != nil {
			return db.fail(ctx, "claim mail", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// RETURNING keeps no order.
	slices.SortFunc(out, func(a, b mail.OutboxMessage) int {
		return cmp.Or(a.NextAttemptAt.Compare(b.NextAttemptAt), a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// MailSent marks message id sent at at and drops its body and claim. It
// returns an error wrapping valet.ErrNotFound for an unknown id and
// valet.ErrUnavailable on failure.
func (db *DB) MailSent(ctx context.Context, id string, at time.Time) error {
	res, err := db.rw.ExecContext(ctx, `UPDATE mail_outbox SET state = 'sent', body = x'', claimed_until = NULL, updated_at = ?
		WHERE id = ?`, at.UnixMicro(), id)
	if err != nil {
		return db.fail(ctx, "mail sent", err)
	}
	return db.oneRow(ctx, "mail sent", res)
}

// MailFailed records a failed try of pending message id (see
// mail.Outbox). A message that is not pending is left alone. It returns an
// error wrapping valet.ErrNotFound for an unknown id and
// valet.ErrUnavailable on failure.
func (db *DB) MailFailed(ctx context.Context, id string, f mail.Failure) error {
	msg := text.Clean(f.Error, mail.MaxLastError)
	return db.write(ctx, "mail failed", func(tx *sql.Tx) error {
		var res sql.Result
		var err error
		if f.Dead {
			res, err = tx.ExecContext(ctx, `UPDATE mail_outbox SET state = 'dead', body = x'', claimed_until = NULL,
				updated_at = ?, last_error = ? WHERE id = ? AND state = 'pending'`, f.At.UnixMicro(), msg, id)
		} else {
			res, err = tx.ExecContext(ctx, `UPDATE mail_outbox SET next_attempt_at = ?, claimed_until = NULL,
				updated_at = ?, last_error = ? WHERE id = ? AND state = 'pending'`, f.Next.UnixMicro(), f.At.UnixMicro(), msg, id)
		}
		if err != nil {
			return db.fail(ctx, "mail failed", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return db.fail(ctx, "mail failed", err)
		} else if n > 0 {
			return nil
		}
		// Nothing changed: the message is unknown, or no longer pending.
		var one int
		err = tx.QueryRowContext(ctx, `SELECT 1 FROM mail_outbox WHERE id = ?`, id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: mail failed: %w", valet.ErrNotFound)
		}
		if err != nil {
			return db.fail(ctx, "mail failed", err)
		}
		return nil
	})
}

// MailByID returns message id. It returns an error wrapping
// valet.ErrNotFound when there is none and valet.ErrUnavailable on failure.
func (db *DB) MailByID(ctx context.Context, id string) (mail.OutboxMessage, error) {
	m, err := scanMail(db.ro.QueryRowContext(ctx, `SELECT `+outboxColumns+` FROM mail_outbox WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return mail.OutboxMessage{}, fmt.Errorf("sqlite: mail by id: %w", valet.ErrNotFound)
	}
	if err != nil {
		return mail.OutboxMessage{}, db.fail(ctx, "mail by id", err)
	}
	return m, nil
}

// PendingMail returns how many messages are pending. It returns an error
// wrapping valet.ErrUnavailable on failure.
func (db *DB) PendingMail(ctx context.Context) (int, error) {
	var n int
	if err := db.ro.QueryRowContext(ctx, `SELECT count(*) FROM mail_outbox WHERE state = 'pending'`).Scan(&n); err != nil {
		return 0, db.fail(ctx, "pending mail", err)
	}
	return n, nil
}

// SweepMail deletes the sent and dead messages last updated before before
// and returns how many. It returns an error wrapping valet.ErrUnavailable
// on failure.
func (db *DB) SweepMail(ctx context.Context, before time.Time) (int, error) {
	res, err := db.rw.ExecContext(ctx, `DELETE FROM mail_outbox WHERE state <> 'pending' AND updated_at < ?`, before.UnixMicro())
	if err != nil {
		return 0, db.fail(ctx, "sweep mail", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, db.fail(ctx, "sweep mail", err)
	}
	return int(n), nil
}

// scanMail reads one row of outboxColumns.
func scanMail(row interface{ Scan(...any) error }) (mail.OutboxMessage, error) {
	var (
		m                      mail.OutboxMessage
		kind, state            string
		created, next, updated int64
	)
	if err := row.Scan(&m.ID, &kind, &m.To, &m.Body, &state, &m.Attempts, &created, &next, &updated, &m.LastError); err != nil {
		return mail.OutboxMessage{}, err
	}
	m.Kind, m.State = mail.Kind(kind), mail.State(state)
	m.Body = bytesOf(m.Body)
	m.CreatedAt, m.NextAttemptAt, m.UpdatedAt = time.UnixMicro(created).UTC(), time.UnixMicro(next).UTC(), time.UnixMicro(updated).UTC()
	return m, nil
}
