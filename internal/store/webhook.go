package store

import (
	"context"
	"fmt"
)

// Webhook is an office's subscription to case events.
type Webhook struct {
	ID       int64
	OfficeID int64
	URL      string
	Secret   []byte // sealed
	Events   []string
}

const insertWebhook = `INSERT INTO webhook (office_id, url, secret, events) VALUES ($1, $2, $3, $4) RETURNING id`

// InsertWebhook stores a webhook and returns its id.
func InsertWebhook(ctx context.Context, q Querier, w Webhook) (int64, error) {
	var id int64
	if err := q.QueryRow(ctx, insertWebhook, w.OfficeID, w.URL, w.Secret, w.Events).Scan(&id); err != nil {
		return 0, fmt.Errorf("store: insert webhook: %w", err)
	}
	return id, nil
}

const listWebhooks = `
SELECT id, office_id, url, secret, events FROM webhook
WHERE office_id = $1 AND $2 = ANY (events) AND disabled_at IS NULL ORDER BY id`

// ListWebhooks returns the live webhooks of office officeID subscribed to
// event.
func ListWebhooks(ctx context.Context, q Querier, officeID int64, event string) ([]Webhook, error) {
	rows, err := q.Query(ctx, listWebhooks, officeID, event)
	if err != nil {
		return nil, fmt.Errorf("store: list webhooks: %w", err)
	}
	defer rows.Close()
	var out []Webhook
	for rows.Next() {
		var w Webhook
		if err := rows.Scan(&w.ID, &w.OfficeID, &w.URL, &w.Secret, &w.Events); err != nil {
			return nil, fmt.Errorf("store: list webhooks: %w", err)
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

const getWebhook = `SELECT id, office_id, url, secret, events FROM webhook WHERE id = $1 AND disabled_at IS NULL`

// GetWebhook returns live webhook id. Errors: NotFound (also disabled).
func GetWebhook(ctx context.Context, q Querier, id int64) (Webhook, error) {
	var w Webhook
	if err := q.QueryRow(ctx, getWebhook, id).Scan(&w.ID, &w.OfficeID, &w.URL, &w.Secret, &w.Events); err != nil {
		return Webhook{}, notFound("store: get webhook", err)
	}
	return w, nil
}

const recordDelivery = `UPDATE webhook SET last_attempt_at = now(), last_status = nullif($2, 0), last_error = nullif($3, '') WHERE id = $1`

// RecordDelivery keeps the outcome of the latest delivery attempt of
// webhook id: the HTTP status (0: none) and an error text.
func RecordDelivery(ctx context.Context, q Querier, id int64, status int, errText string) error {
	if _, err := q.Exec(ctx, recordDelivery, id, status, errText); err != nil {
		return fmt.Errorf("store: record delivery: %w", err)
	}
	return nil
}
