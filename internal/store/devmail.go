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
