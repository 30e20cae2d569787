package mail

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/gesundheitsamt/portal/internal/audit"
	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/store"
)

// recordRefusal records a permanent refusal for the office admin's list
// and the audit log, and a refused mail to the citizen in the case's
// timeline too.
func (w *Worker) recordRefusal(ctx context.Context, a Args, m Message, sendErr error) error {
	answer, recipient := oneLine(sendErr.Error()), m.To.Email
	if a.Template == TemplateResume {
		// The form promised to keep a draft's address for this one mail.
		recipient = ""
	}
	return w.DB.InTx(ctx, func(tx pgx.Tx) error {
		r := store.MailRefusal{OfficeID: a.OfficeID, SubmissionID: a.SubmissionID, Template: a.Template, Recipient: recipient, Answer: answer}
		if err := store.InsertMailRefusal(ctx, tx, r); err != nil {
			return err
		}
		object := domain.Object("office")
		switch {
		case a.Template == TemplateResume:
			object = "draft"
		case a.SubmissionID != 0:
			object = domain.CaseObject(a.SubmissionID)
		}
		if a.SubmissionID != 0 && toCitizen(a.Template) {
			ev := store.Event{Kind: store.EventMailFailed, Message: m.To.Email + ": " + answer, Internal: true}
			if _, err := store.InsertEvent(ctx, tx, a.OfficeID, a.SubmissionID, ev); err != nil {
				return err
			}
		}
		return audit.Append(ctx, tx, audit.Entry{OfficeID: a.OfficeID, Actor: domain.System, Action: domain.MailRefused(a.Template), Object: object})
	})
}

// toCitizen reports whether the mails of template go to the citizen of a
// submission (not to the office, not to a draft's author).
func toCitizen(template string) bool {
	_, ok := bodies[template]
	return ok
}

// ListRefusals returns office officeID's refused mails for by (an admin of
// the office), newest first, at most limit, older than before (0: from the
// newest), and records the read in the audit log: the list carries
// addresses.
func ListRefusals(ctx context.Context, db *store.DB, officeID int64, by domain.Actor, before int64, limit int) ([]store.MailRefusal, error) {
	refusals, err := store.ListMailRefusals(ctx, db, officeID, before, limit)
	if err != nil {
		return nil, err
	}
	if err := audit.AppendNow(ctx, db, audit.Entry{OfficeID: officeID, Actor: by, Action: domain.MailRefusalsRead}); err != nil {
		return nil, err
	}
	return refusals, nil
}
