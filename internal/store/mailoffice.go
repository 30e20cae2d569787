package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gesundheitsamt/portal/internal/fault"
)

const setOfficeNotify = `UPDATE office SET notify = $2, updated_at = now() WHERE id = $1`

// SetOfficeNotify sets how office officeID hears of new submissions.
// Errors: Invalid (an unknown mode).
func SetOfficeNotify(ctx context.Context, q Querier, officeID int64, mode string) error {
	switch mode {
	case NotifyEach, NotifyDaily, NotifyOff:
	default:
		return fault.New(fault.Invalid, "store: set office notify", "")
	}
	if _, err := q.Exec(ctx, setOfficeNotify, officeID, mode); err != nil {
		return fmt.Errorf("store: set office notify: %w", err)
	}
	return nil
}

const listDigestOffices = `SELECT ` + officeColumns + ` FROM office WHERE notify = 'daily' AND email <> '' ORDER BY id`

// ListDigestOffices returns the offices that want a daily summary and
// have an address for it.
func ListDigestOffices(ctx context.Context, q Querier) ([]Office, error) {
	rows, err := q.Query(ctx, listDigestOffices)
	if err != nil {
		return nil, fmt.Errorf("store: list digest offices: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Office, error) { return scanOffice(r) })
	if err != nil {
		return nil, fmt.Errorf("store: list digest offices: %w", err)
	}
	return out, nil
}

// MailRefusal is a mail a receiving server refused for good.
type MailRefusal struct {
	ID           int64
	OfficeID     int64
	SubmissionID int64  // 0: no submission (a draft's resume link, the daily summary)
	Reference    string // the submission's, read only
	Template     string
	Recipient    string
	Answer       string // the server's answer
	At           time.Time
}

const insertMailRefusal = `
INSERT INTO mail_refusal (office_id, submission_id, template, recipient, answer)
VALUES ($1, nullif($2, 0), $3, $4, $5)`

// InsertMailRefusal records a refused mail.
func InsertMailRefusal(ctx context.Context, q Querier, r MailRefusal) error {
	if _, err := q.Exec(ctx, insertMailRefusal, r.OfficeID, r.SubmissionID, r.Template, r.Recipient, r.Answer); err != nil {
		return fmt.Errorf("store: record mail refusal: %w", err)
	}
	return nil
}

const listMailRefusals = `
SELECT r.id, r.office_id, coalesce(r.submission_id, 0), coalesce(s.reference, ''), r.template, r.recipient, r.answer, r.at
FROM mail_refusal r LEFT JOIN submission s ON s.id = r.submission_id AND s.office_id = r.office_id
WHERE r.office_id = $1 AND ($2::bigint = 0 OR r.id < $2::bigint)
ORDER BY r.id DESC
LIMIT $3`

// ListMailRefusals returns office officeID's refused mails, newest first;
// before > 0 pages back from that id.
func ListMailRefusals(ctx context.Context, q Querier, officeID, before int64, limit int) ([]MailRefusal, error) {
	rows, err := q.Query(ctx, listMailRefusals, officeID, before, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list mail refusals: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[MailRefusal])
	if err != nil {
		return nil, fmt.Errorf("store: list mail refusals: %w", err)
	}
	return out, nil
}

const deleteOldMailRefusals = `DELETE FROM mail_refusal WHERE at < $1`

// DeleteOldMailRefusals forgets refusals recorded before before.
func DeleteOldMailRefusals(ctx context.Context, q Querier, before time.Time) (int64, error) {
	tag, err := q.Exec(ctx, deleteOldMailRefusals, before)
	if err != nil {
		return 0, fmt.Errorf("store: delete old mail refusals: %w", err)
	}
	return tag.RowsAffected(), nil
}

// DayCounts is what happened at an office within a period: the daily
// summary's figures. Counts only, nobody's data.
type DayCounts struct {
	ByService map[string]int // new submissions by service slug
	New       int            // their sum
	Answers   int            // citizens' answers to a Rückfrage
	Refused   int            // mails refused for good, but the office's own: a refused summary must not cause the next
}

// Empty reports whether nothing happened.
func (d DayCounts) Empty() bool { return d.New == 0 && d.Answers == 0 && d.Refused == 0 }

const dayCounts = `
SELECT 'new', service_slug, count(*) FROM submission
 WHERE office_id = $1 AND submitted_at >= $2 AND submitted_at < $3 GROUP BY service_slug
UNION ALL
SELECT 'answers', '', count(*) FROM case_event
 WHERE office_id = $1 AND kind = 'answer' AND at >= $2 AND at < $3
UNION ALL
SELECT 'refused', '', count(*) FROM mail_refusal
 WHERE office_id = $1 AND at >= $2 AND at < $3
   AND template NOT IN ('office_new', 'digest')`

// CountDay returns what happened at office officeID from from until to.
func CountDay(ctx context.Context, q Querier, officeID int64, from, to time.Time) (DayCounts, error) {
	d := DayCounts{ByService: map[string]int{}}
	rows, err := q.Query(ctx, dayCounts, officeID, from, to)
	if err != nil {
		return d, fmt.Errorf("store: count day: %w", err)
	}
	var what, service string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&what, &service, &n}, func() error {
		switch what {
		case "new":
			d.ByService[service] = n
			d.New += n
		case "answers":
			d.Answers = n
		case "refused":
			d.Refused = n
		}
		return nil
	})
	if err != nil {
		return d, fmt.Errorf("store: count day: %w", err)
	}
	return d, nil
}
