package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gesundheitsamt/portal/internal/domain"
)

// Retention of case data (migration 00013): deletion holds, the offices'
// own retention periods, the cases due for deletion, their deletion and
// the tombstones left behind.

const setHold = `
UPDATE submission SET hold_at = $3, hold_by = nullif($4, 0), hold_reason = $5
WHERE id = $1 AND office_id = $2 AND hold_at IS NULL`

// SetHold puts a deletion hold with reason on submission id of office
// officeID, set by staff member staffID at at. It reports false when the
// case is held already (or not the office's).
func SetHold(ctx context.Context, q Querier, officeID, id, staffID int64, reason string, at time.Time) (bool, error) {
	tag, err := q.Exec(ctx, setHold, id, officeID, at, staffID, reason)
	if err != nil {
		return false, fmt.Errorf("store: set hold: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

const clearHold = `
UPDATE submission SET hold_at = NULL, hold_by = NULL, hold_reason = ''
WHERE id = $1 AND office_id = $2 AND hold_at IS NOT NULL`

// ClearHold lifts the deletion hold of submission id of office officeID.
// It reports false when there was none.
func ClearHold(ctx context.Context, q Querier, officeID, id int64) (bool, error) {
	tag, err := q.Exec(ctx, clearHold, id, officeID)
	if err != nil {
		return false, fmt.Errorf("store: clear hold: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

const listRetentionOverrides = `SELECT office_id, service_slug, months FROM office_retention`

// ListRetentionOverrides returns every office's own retention periods in
// months, by office and service (for the deletion job, which serves all
// offices).
func ListRetentionOverrides(ctx context.Context, q Querier) (map[OfficeService]int, error) {
	rows, err := q.Query(ctx, listRetentionOverrides)
	if err != nil {
		return nil, fmt.Errorf("store: list retention periods: %w", err)
	}
	out := make(map[OfficeService]int)
	var k OfficeService
	var months int
	_, err = pgx.ForEachRow(rows, []any{&k.OfficeID, &k.ServiceSlug, &months}, func() error {
		out[k] = months
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: list retention periods: %w", err)
	}
	return out, nil
}

const listOfficeRetention = `SELECT service_slug, months FROM office_retention WHERE office_id = $1`

// ListOfficeRetention returns office officeID's own retention periods in
// months, by service.
func ListOfficeRetention(ctx context.Context, q Querier, officeID int64) (map[string]int, error) {
	rows, err := q.Query(ctx, listOfficeRetention, officeID)
	if err != nil {
		return nil, fmt.Errorf("store: list office retention: %w", err)
	}
	out := make(map[string]int)
	var slug string
	var months int
	_, err = pgx.ForEachRow(rows, []any{&slug, &months}, func() error {
		out[slug] = months
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: list office retention: %w", err)
	}
	return out, nil
}

const setOfficeRetention = `
INSERT INTO office_retention (office_id, service_slug, months) VALUES ($1, $2, $3)
ON CONFLICT (office_id, service_slug) DO UPDATE SET months = EXCLUDED.months, updated_at = now()`

// SetOfficeRetention sets office officeID's retention period of service
// slug to months (1 to 360; the caller checks).
func SetOfficeRetention(ctx context.Context, q Querier, officeID int64, slug string, months int) error {
	if _, err := q.Exec(ctx, setOfficeRetention, officeID, slug, months); err != nil {
		return fmt.Errorf("store: set office retention: %w", err)
	}
	return nil
}

const clearOfficeRetention = `DELETE FROM office_retention WHERE office_id = $1 AND service_slug = $2`

// ClearOfficeRetention returns office officeID's retention period of
// service slug to the form's default.
func ClearOfficeRetention(ctx context.Context, q Querier, officeID int64, slug string) error {
	if _, err := q.Exec(ctx, clearOfficeRetention, officeID, slug); err != nil {
		return fmt.Errorf("store: clear office retention: %w", err)
	}
	return nil
}

// listClosedPairs walks the index submission_retention_due from pair to
// pair (a loose index scan: one probe per office and service, however
// many cases each has).
const listClosedPairs = `
WITH RECURSIVE pair AS (
    (SELECT office_id, service_slug FROM submission
     WHERE closed_at IS NOT NULL AND hold_at IS NULL
     ORDER BY office_id, service_slug LIMIT 1)
    UNION ALL
    SELECT n.office_id, n.service_slug FROM pair p CROSS JOIN LATERAL (
        SELECT s.office_id, s.service_slug FROM submission s
        WHERE s.closed_at IS NOT NULL AND s.hold_at IS NULL
          AND (s.office_id, s.service_slug) > (p.office_id, p.service_slug)
        ORDER BY s.office_id, s.service_slug LIMIT 1) n
)
SELECT office_id, service_slug FROM pair`

// ListClosedPairs returns each office and service that has closed cases
// without a deletion hold: where the deletion job looks.
func ListClosedPairs(ctx context.Context, q Querier) ([]OfficeService, error) {
	rows, err := q.Query(ctx, listClosedPairs)
	if err != nil {
		return nil, fmt.Errorf("store: list closed cases: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[OfficeService])
	if err != nil {
		return nil, fmt.Errorf("store: list closed cases: %w", err)
	}
	return out, nil
}

// Tombstone is what is left of a deleted case: no name, no answer, no
// file.
type Tombstone struct {
	ID          int64 // the submission's id
	OfficeID    int64
	ServiceSlug string
	FormID      string
	FormVersion int
	Reference   string
	SubmittedAt time.Time
	ClosedAt    time.Time
	DeletedAt   time.Time
}

const tombstoneColumns = `id, office_id, service_slug, form_id, form_version, reference, submitted_at, closed_at, deleted_at`

// deleteDueCases deletes, in one statement, the oldest due cases of one
// office and service (closed at or before $3, not held), at most $4, with
// everything that names them:
//   - the case's attachments, events and refused mails (ON DELETE CASCADE);
//   - its draft (emptied at submit, kept minutes for a repeated submit);
//   - its finished and waiting jobs: mail jobs carry submission_id,
//     webhook calls the submission in their body. A job running right now
//     is left to finish; it finds the case gone and sends nothing, and
//     River removes its row within a day.
//
// The cases come from the index submission_retention_due in the order of
// their closing, so a batch reads its 500 rows however many are due; the
// rest by primary key (= ANY of an array, never a join the planner might
// turn into a scan of all submissions). FOR UPDATE SKIP LOCKED takes the
// cases one deletion at a time: a case a
// colleague is putting on hold this moment is skipped (and then held), and
// a second deletion running at once takes the next cases. It writes a
// tombstone per case and returns them.
const deleteDueCases = `
WITH due AS (
    SELECT id FROM submission
    WHERE office_id = $1 AND service_slug = $2 AND closed_at IS NOT NULL AND closed_at <= $3 AND hold_at IS NULL
    ORDER BY closed_at LIMIT $4
    FOR UPDATE SKIP LOCKED
), drafts AS (
    DELETE FROM draft WHERE submission_id = ANY (ARRAY(SELECT id FROM due))
), jobs AS (
    DELETE FROM river_job WHERE state <> 'running'
      AND (args->>'submission_id' IN (SELECT id::text FROM due)
           OR args->'body'->'submission'->>'id' IN (SELECT id::text FROM due))
), gone AS (
    DELETE FROM submission s WHERE s.id = ANY (ARRAY(SELECT id FROM due)) AND s.office_id = $1
    RETURNING s.id, s.office_id, s.service_slug, s.form_id, s.form_version, s.reference, s.access_token_hash,
              s.submitted_at, s.closed_at
)
INSERT INTO case_tombstone (id, office_id, service_slug, form_id, form_version, reference, access_token_hash,
                            submitted_at, closed_at, deleted_at)
SELECT id, office_id, service_slug, form_id, form_version, reference, access_token_hash, submitted_at, closed_at, $5
FROM gone
RETURNING ` + tombstoneColumns

// DeleteDueCases deletes at most limit cases of office officeID and
// service slug that closed at or before closedBy and have no deletion
// hold, as described at deleteDueCases, and returns their tombstones
// (deleted at deletedAt). Run it in a transaction with the audit entries
// of the deletion.
func DeleteDueCases(ctx context.Context, q Querier, officeID int64, slug string, closedBy, deletedAt time.Time, limit int) ([]Tombstone, error) {
	rows, err := q.Query(ctx, deleteDueCases, officeID, slug, closedBy, limit, deletedAt)
	if err != nil {
		return nil, fmt.Errorf("store: delete due cases: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Tombstone])
	if err != nil {
		return nil, fmt.Errorf("store: delete due cases: %w", err)
	}
	return out, nil
}

var getTombstone = `SELECT ` + tombstoneColumns + ` FROM case_tombstone WHERE id = $1 AND office_id = $2`

// GetTombstone returns the tombstone of deleted submission id of office
// officeID. Errors: NotFound (no such deleted case in this office).
func GetTombstone(ctx context.Context, q Querier, officeID, id int64) (Tombstone, error) {
	rows, err := q.Query(ctx, getTombstone, id, officeID)
	if err != nil {
		return Tombstone{}, fmt.Errorf("store: get tombstone: %w", err)
	}
	t, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[Tombstone])
	if err != nil {
		return Tombstone{}, notFound("store: get tombstone", err)
	}
	return t, nil
}

var getTombstoneByToken = `SELECT ` + tombstoneColumns + ` FROM case_tombstone WHERE access_token_hash = $1`

// GetTombstoneByToken returns the tombstone of the deleted submission
// whose access token hashes to tokenHash: the citizen's view, which needs
// no office. Errors: NotFound.
func GetTombstoneByToken(ctx context.Context, q Querier, tokenHash []byte) (Tombstone, error) {
	rows, err := q.Query(ctx, getTombstoneByToken, tokenHash)
	if err != nil {
		return Tombstone{}, fmt.Errorf("store: get tombstone: %w", err)
	}
	t, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[Tombstone])
	if err != nil {
		return Tombstone{}, notFound("store: get tombstone", err)
	}
	return t, nil
}

const countDeletedSince = `SELECT count(*) FROM case_tombstone WHERE office_id = $1 AND deleted_at >= $2`

// CountDeletedSince returns how many cases of office officeID were deleted
// at or after since.
func CountDeletedSince(ctx context.Context, q Querier, officeID int64, since time.Time) (int64, error) {
	var n int64
	if err := q.QueryRow(ctx, countDeletedSince, officeID, since).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count deleted cases: %w", err)
	}
	return n, nil
}

// DueCut selects the closed cases of a service that are due for deletion
// by some moment: those closed at or before ClosedBy. Months is the
// service's retention period.
type DueCut struct {
	Service  string
	ClosedBy time.Time
	Months   int
}

// DueRow is a case due for deletion as the admin's list shows it.
type DueRow struct {
	ID          int64
	Reference   string
	ServiceSlug string
	Status      domain.Status
	SubmittedAt time.Time
	ClosedAt    time.Time
	HoldAt      *time.Time
	Due         time.Time // closing plus period in the database's time zone: the list's order and cursor
}

// listDueCases: per service, the unheld cases through the index of the
// deletion job and the held ones through their own; in order of when
// they are due.
const listDueCases = `
SELECT c.* FROM unnest($2::text[], $3::timestamptz[], $4::int[]) AS d(slug, cut, months)
CROSS JOIN LATERAL (
    SELECT s.id, s.reference, s.service_slug, s.status, s.submitted_at, s.closed_at, s.hold_at,
           s.closed_at + make_interval(months => d.months) AS due
    FROM submission s
    WHERE s.office_id = $1 AND s.service_slug = d.slug AND s.closed_at IS NOT NULL AND s.closed_at <= d.cut
      AND s.hold_at IS NULL
    UNION ALL
    SELECT s.id, s.reference, s.service_slug, s.status, s.submitted_at, s.closed_at, s.hold_at,
           s.closed_at + make_interval(months => d.months)
    FROM submission s
    WHERE s.office_id = $1 AND s.service_slug = d.slug AND s.closed_at IS NOT NULL AND s.closed_at <= d.cut
      AND s.hold_at IS NOT NULL
) c
WHERE $5::bigint = 0 OR (c.due, c.id) > ($6::timestamptz, $5::bigint)
ORDER BY c.due, c.id
LIMIT $7`

// ListDueCases returns the cases of office officeID that cuts select,
// held ones too, in the order they are due, at most limit, after the case
// of cursor after (its Due and ID).
func ListDueCases(ctx context.Context, q Querier, officeID int64, cuts []DueCut, after Cursor, limit int) ([]DueRow, error) {
	slugs, closedBy, months := dueArrays(cuts)
	rows, err := q.Query(ctx, listDueCases, officeID, slugs, closedBy, months, after.ID, after.At, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list due cases: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[DueRow])
	if err != nil {
		return nil, fmt.Errorf("store: list due cases: %w", err)
	}
	return out, nil
}

func dueArrays(cuts []DueCut) ([]string, []time.Time, []int32) {
	slugs := make([]string, len(cuts))
	closedBy := make([]time.Time, len(cuts))
	months := make([]int32, len(cuts))
	for i, c := range cuts {
		slugs[i], closedBy[i], months[i] = c.Service, c.ClosedBy, int32(c.Months)
	}
	return slugs, closedBy, months
}

// dueWhere is the condition CaseFilter.Due adds, with its arguments at
// positions from on.
func dueWhere(cuts []DueCut, from int) (string, []any) {
	if len(cuts) == 0 {
		return " AND false", nil
	}
	slugs, closedBy, _ := dueArrays(cuts)
	a, b := "$"+strconv.Itoa(from), "$"+strconv.Itoa(from+1)
	return " AND s.closed_at IS NOT NULL AND EXISTS (SELECT 1 FROM unnest(" + a + "::text[], " + b +
		"::timestamptz[]) AS d(slug, cut) WHERE d.slug = s.service_slug AND s.closed_at <= d.cut)", []any{slugs, closedBy}
}
