package store

import (
	"context"
	"fmt"
	"time"
)

// Feedback is a message from the accessibility statement's feedback form.
type Feedback struct {
	ID        int64
	CreatedAt time.Time
	Lang      string
	Page      string // the page the person reports about, as they gave it
	Message   string
	Name      string
	Email     string
}

const insertFeedback = `
INSERT INTO accessibility_feedback (lang, page, message, name, email)
VALUES ($1, $2, $3, $4, $5)
RETURNING id, created_at`

// InsertFeedback stores f and returns it with id and time set.
func InsertFeedback(ctx context.Context, q Querier, f Feedback) (Feedback, error) {
	if err := q.QueryRow(ctx, insertFeedback, f.Lang, f.Page, f.Message, f.Name, f.Email).Scan(&f.ID, &f.CreatedAt); err != nil {
		return Feedback{}, fmt.Errorf("store: insert feedback: %w", err)
	}
	return f, nil
}

const deleteFeedbackBefore = `DELETE FROM accessibility_feedback WHERE created_at < $1`

// DeleteFeedbackBefore deletes feedback received before t and returns how
// many messages it deleted.
func DeleteFeedbackBefore(ctx context.Context, q Querier, t time.Time) (int64, error) {
	tag, err := q.Exec(ctx, deleteFeedbackBefore, t)
	if err != nil {
		return 0, fmt.Errorf("store: delete old feedback: %w", err)
	}
	return tag.RowsAffected(), nil
}
