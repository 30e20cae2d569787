package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// DevMail is a mail kept by the development mailbox.
type DevMail struct {
	ID        int64
	At        time.Time
	Sender    string
	Recipient string
	Message   []byte
}

const insertDevMail = `INSERT INTO dev_mail (sender, recipient, message) VALUES ($1, $2, $3)`

// InsertDevMail keeps a mail in the development mailbox.
func InsertDevMail(ctx context.Context, q Querier, from, to string, msg []byte) error {
	if _, err := q.Exec(ctx, insertDevMail, from, to, msg); err != nil {
		return fmt.Errorf("store: keep dev mail: %w", err)
	}
	return nil
}

const listDevMail = `SELECT id, at, sender, recipient, message FROM dev_mail ORDER BY id DESC LIMIT $1`

// ListDevMail returns the newest mails of the development mailbox.
func ListDevMail(ctx context.Context, q Querier, limit int) ([]DevMail, error) {
	rows, err := q.Query(ctx, listDevMail, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list dev mail: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[DevMail])
	if err != nil {
		return nil, fmt.Errorf("store: list dev mail: %w", err)
	}
	return out, nil
}

const mailSent = `SELECT EXISTS (SELECT 1 FROM mail_sent WHERE key = $1)`

// MailSent reports whether the mail of job key was accepted by the SMTP
// server before.
func MailSent(ctx context.Context, q Querier, key string) (bool, error) {
	var sent bool
	if err := q.QueryRow(ctx, mailSent, key).Scan(&sent); err != nil {
		return false, fmt.Errorf("store: mail sent: %w", err)
	}
	return sent, nil
}

const recordMailSent = `INSERT INTO mail_sent (key) VALUES ($1) ON CONFLICT DO NOTHING`

// RecordMailSent notes that the mail of job key was accepted.
func RecordMailSent(ctx context.Context, q Querier, key string) error {
	if _, err := q.Exec(ctx, recordMailSent, key); err != nil {
		return fmt.Errorf("store: record mail sent: %w", err)
	}
	return nil
}

const deleteOldMailSent = `DELETE FROM mail_sent WHERE sent_at < $1`

// DeleteOldMailSent forgets accepted mails older than before: by then no
// job of theirs can run again.
func DeleteOldMailSent(ctx context.Context, q Querier, before time.Time) (int64, error) {
	tag, err := q.Exec(ctx, deleteOldMailSent, before)
	if err != nil {
		return 0, fmt.Errorf("store: delete old mail sent: %w", err)
	}
	return tag.RowsAffected(), nil
}
