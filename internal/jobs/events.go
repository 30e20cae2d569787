package jobs

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/gesundheitsamt/portal/internal/store"
)

// Listener is told of case events inside their transaction: the
// submission's and the inbox's events in one (webhook.Notifier,
// mail.Notifier).
type Listener interface {
	Submitted(ctx context.Context, tx pgx.Tx, sub store.Submission) error
	StatusChanged(ctx context.Context, tx pgx.Tx, sub store.Submission) error
	Answered(ctx context.Context, tx pgx.Tx, sub store.Submission) error
}

// Events tells every listener, in order; the first error stops (and rolls
// back the change).
type Events []Listener

// Submitted tells each listener of a new submission.
func (e Events) Submitted(ctx context.Context, tx pgx.Tx, sub store.Submission) error {
	for _, l := range e {
		if err := l.Submitted(ctx, tx, sub); err != nil {
			return err
		}
	}
	return nil
}

// StatusChanged tells each listener of a status change by the office.
func (e Events) StatusChanged(ctx context.Context, tx pgx.Tx, sub store.Submission) error {
	for _, l := range e {
		if err := l.StatusChanged(ctx, tx, sub); err != nil {
			return err
		}
	}
	return nil
}

// Answered tells each listener of the citizen's answer to a Rückfrage.
func (e Events) Answered(ctx context.Context, tx pgx.Tx, sub store.Submission) error {
	for _, l := range e {
		if err := l.Answered(ctx, tx, sub); err != nil {
			return err
		}
	}
	return nil
}
