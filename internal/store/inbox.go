package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/fault"
)

// AssigneeNone filters for cases nobody is assigned to.
const AssigneeNone = -1

// CaseFilter selects an office's cases for the inbox, the export and the
// API. The zero value of a field means "any".
type CaseFilter struct {
	OfficeID  int64 // required: every query names the office
	Service   string
	Status    domain.Status
	Assignee  int64     // a staff id, or AssigneeNone
	From, To  time.Time // received at or after From, before To
	Unread    bool
	Reference string // exact reference number
	Text      string // full text (websearch syntax, German configuration)
	Medical   bool   // search the answers marked confidential: medical too
	Oldest    bool   // oldest first instead of newest first
	After     Cursor // the last case of the page before
	Limit     int
	// Due, when not nil, keeps only the closed cases it selects (the
	// cases due for deletion); an empty, non-nil Due selects nothing.
	Due []DueCut
}

// Cursor is a position in a list of cases (keyset pagination): the
// received time and id of the last case shown.
type Cursor struct {
	At time.Time
	ID int64
}

// IsZero reports whether c points at the start of the list.
func (c Cursor) IsZero() bool { return c.ID == 0 }

// where returns the WHERE clause of f and its arguments. Only fixed
// fragments are joined; every value is a parameter.
func (f CaseFilter) where() (string, []any) {
	args := []any{f.OfficeID}
	var b strings.Builder
	b.WriteString("s.office_id = $1")
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Service != "" {
		b.WriteString(" AND s.service_slug = " + arg(f.Service))
	}
	if f.Status != "" {
		b.WriteString(" AND s.status = " + arg(f.Status))
	}
	switch {
	case f.Assignee == AssigneeNone:
		b.WriteString(" AND s.assignee_id IS NULL")
	case f.Assignee > 0:
		b.WriteString(" AND s.assignee_id = " + arg(f.Assignee))
	}
	if !f.From.IsZero() {
		b.WriteString(" AND s.submitted_at >= " + arg(f.From))
	}
	if !f.To.IsZero() {
		b.WriteString(" AND s.submitted_at < " + arg(f.To))
	}
	if f.Unread {
		b.WriteString(" AND s.unread")
	}
	if f.Reference != "" {
		b.WriteString(" AND s.reference = " + arg(f.Reference))
	}
	if f.Text != "" {
		column := "s.search" // see migration 00007
		if f.Medical {
			column = "s.search_all"
		}
		b.WriteString(" AND " + column + " @@ websearch_to_tsquery('german', " + arg(f.Text) + ")")
	}
	if f.Due != nil {
		cond, more := dueWhere(f.Due, len(args)+1)
		b.WriteString(cond)
		args = append(args, more...)
	}
	if !f.After.IsZero() {
		op := "<"
		if f.Oldest {
			op = ">"
		}
		b.WriteString(" AND (s.submitted_at, s.id) " + op + " (" + arg(f.After.At) + ", " + arg(f.After.ID) + ")")
	}
	return b.String(), args
}

func (f CaseFilter) order() string {
	if f.Oldest {
		return " ORDER BY s.submitted_at, s.id"
	}
	return " ORDER BY s.submitted_at DESC, s.id DESC"
}

// CaseRow is a case as the inbox lists it.
type CaseRow struct {
	ID           int64
	Reference    string
	ServiceSlug  string
	Status       domain.Status
	SubmittedAt  time.Time
	UpdatedAt    time.Time
	Applicant    string
	AssigneeID   int64
	AssigneeName string
	Unread       bool
	Version      int
}

// CaseQuery returns the statement ListCases runs for f and its
// arguments (for EXPLAIN in benchmarks and docs/).
func CaseQuery(f CaseFilter) (string, []any) {
	where, args := f.where()
	args = append(args, f.Limit)
	return `SELECT s.id, s.reference, s.service_slug, s.status, s.submitted_at, s.updated_at, s.applicant,
    coalesce(s.assignee_id, 0), coalesce(a.name, ''), s.unread, s.version
FROM submission s LEFT JOIN staff a ON a.id = s.assignee_id
WHERE ` + where + f.order() + ` LIMIT $` + strconv.Itoa(len(args)), args
}

// ListCases returns the cases of f.OfficeID that f selects, in f's order,
// at most f.Limit, starting after f.After.
func ListCases(ctx context.Context, q Querier, f CaseFilter) ([]CaseRow, error) {
	sql, args := CaseQuery(f)
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list cases: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[CaseRow])
	if err != nil {
		return nil, fmt.Errorf("store: list cases: %w", err)
	}
	return out, nil
}

// ListCasesWithin is ListCases bounded by timeout: a search whose plan
// goes wrong (a word the statistics call common but the filter makes rare)
// is cancelled by the server instead of holding a connection. Errors:
// Invalid (MsgSearchTooBroad) when it ran out of time.
func (db *DB) ListCasesWithin(ctx context.Context, f CaseFilter, timeout time.Duration) ([]CaseRow, error) {
	var out []CaseRow
	err := db.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config('statement_timeout', $1, true)", strconv.FormatInt(max(timeout.Milliseconds(), 1), 10)); err != nil {
			return fmt.Errorf("store: list cases: %w", err)
		}
		var err error
		out, err = ListCases(ctx, tx, f)
		return err
	})
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "57014" && ctx.Err() == nil { // query_canceled by the timeout, not by the caller
		return nil, fault.New(fault.Invalid, "store: list cases", MsgSearchTooBroad)
	}
	return out, err
}

// MsgSearchTooBroad says a search took too long.
const MsgSearchTooBroad = "staff.inbox.search.too_broad"

// ExportRow is a case with its record, for exports.
type ExportRow struct {
	CaseRow
	FormID   string
	FormHash string
	Data     []byte
}

// EachCase calls fn for every case f selects (f.Limit and f.After are
// ignored), in f's order, reading rows as fn consumes them so an export
// of a million cases needs no more memory than one row.
func EachCase(ctx context.Context, q Querier, f CaseFilter, fn func(ExportRow) error) error {
	f.After, f.Limit = Cursor{}, 0
	where, args := f.where()
	sql := `SELECT s.id, s.reference, s.service_slug, s.status, s.submitted_at, s.updated_at, s.applicant,
    coalesce(s.assignee_id, 0), coalesce(a.name, ''), s.unread, s.version, s.form_id, s.form_hash, s.data
FROM submission s LEFT JOIN staff a ON a.id = s.assignee_id
WHERE ` + where + f.order()
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("store: export cases: %w", err)
	}
	defer rows.Close()
	var r ExportRow
	for rows.Next() {
		if err := rows.Scan(&r.ID, &r.Reference, &r.ServiceSlug, &r.Status, &r.SubmittedAt, &r.UpdatedAt, &r.Applicant,
			&r.AssigneeID, &r.AssigneeName, &r.Unread, &r.Version, &r.FormID, &r.FormHash, &r.Data); err != nil {
			return fmt.Errorf("store: export cases: %w", err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: export cases: %w", err)
	}
	return nil
}

const countByStatus = `
SELECT status, sum(n)::bigint, count(*) FROM case_count WHERE office_id = $1 GROUP BY status`

const foldCounts = `
WITH d AS (DELETE FROM case_count WHERE office_id = $1 RETURNING status, n)
INSERT INTO case_count (office_id, status, n)
SELECT $1, status, sum(n) FROM d GROUP BY status HAVING sum(n) <> 0`

// foldAbove is how many delta rows an office's counts may have before a
// reader folds them into one row per status.
const foldAbove = 256

// CountByStatus returns how many cases office officeID has per status.
// It reads the deltas the triggers of migration 00007 append and, when
// they have piled up, folds them (concurrent folds never count a delta
// twice: a delta is deleted by exactly one of them).
func CountByStatus(ctx context.Context, q Querier, officeID int64) (map[domain.Status]int64, error) {
	rows, err := q.Query(ctx, countByStatus, officeID)
	if err != nil {
		return nil, fmt.Errorf("store: count cases: %w", err)
	}
	out := make(map[domain.Status]int64)
	var total int64
	for rows.Next() {
		var status domain.Status
		var n, deltas int64
		if err := rows.Scan(&status, &n, &deltas); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: count cases: %w", err)
		}
		if n != 0 {
			out[status] = n
		}
		total += deltas
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: count cases: %w", err)
	}
	if total > foldAbove {
		if _, err := q.Exec(ctx, foldCounts, officeID); err != nil {
			return nil, fmt.Errorf("store: fold counts: %w", err)
		}
	}
	return out, nil
}

const setAssignee = `
UPDATE submission SET assignee_id = nullif($4, 0), version = version + 1, updated_at = now()
WHERE id = $1 AND office_id = $2 AND version = $3
RETURNING version`

// SetAssignee assigns submission id of office officeID to staff member
// staffID (0: nobody) if it still has version. It reports false when the
// version (or the office) did not match. The caller checks that staffID
// belongs to the office.
func SetAssignee(ctx context.Context, q Querier, officeID, id int64, version int, staffID int64) (int, bool, error) {
	var v int
	err := q.QueryRow(ctx, setAssignee, id, officeID, version, staffID).Scan(&v)
	if isNoRows(err) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("store: set assignee: %w", err)
	}
	return v, true, nil
}

const markRead = `UPDATE submission SET unread = false WHERE id = $1 AND office_id = $2 AND unread`

// MarkRead clears the unread marker of submission id of office officeID.
// It is no change of the case: the version stays.
func MarkRead(ctx context.Context, q Querier, officeID, id int64) error {
	if _, err := q.Exec(ctx, markRead, id, officeID); err != nil {
		return fmt.Errorf("store: mark read: %w", err)
	}
	return nil
}

// Colleague is a staff member as pickers and lists name them.
type Colleague struct {
	ID   int64
	Name string
	Role domain.Role
}

const listColleagues = `
SELECT id, name, role FROM staff WHERE office_id = $1 AND NOT disabled ORDER BY name, id`

// ListColleagues returns the active staff of office officeID.
func ListColleagues(ctx context.Context, q Querier, officeID int64) ([]Colleague, error) {
	rows, err := q.Query(ctx, listColleagues, officeID)
	if err != nil {
		return nil, fmt.Errorf("store: list colleagues: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Colleague])
	if err != nil {
		return nil, fmt.Errorf("store: list colleagues: %w", err)
	}
	return out, nil
}
