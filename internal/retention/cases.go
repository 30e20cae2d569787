package retention

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gesundheitsamt/portal/forms"
	"github.com/gesundheitsamt/portal/internal/audit"
	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/store"
)

// Cases of the offices are deleted when their retention period is over:
// the period of their service (the office's own, or the form definition's
// default), counted from the closing of the case (abgeschlossen or
// abgelehnt). An open case is never deleted, nor a case with a deletion
// hold. What is left is a tombstone (reference number, office, service,
// form, dates) and an audit entry per case.

// DueWithin is how far ahead the admin's list of cases due for deletion
// looks.
const DueWithin = 30 * 24 * time.Hour

// BatchSize is how many cases one transaction of the deletion deletes: a
// million due cases make two thousand short transactions, not one that
// holds its locks and its WAL for an hour.
const BatchSize = 500

// MsgPeriod says an office's retention period is out of bounds or no
// number.
const MsgPeriod = "staff.retention.error.period"

// Cases decides which cases are due and deletes them. It is safe for
// concurrent use; several processes deleting at once take distinct cases.
type Cases struct {
	db    *store.DB
	forms *forms.Set
	loc   *time.Location
	log   *slog.Logger
	batch int
}

// NewCases returns the deletion of cases on db. set supplies the default
// periods (each service's form), loc is the offices' time zone (a period
// of months ends on the same day of the month there).
func NewCases(db *store.DB, set *forms.Set, loc *time.Location, log *slog.Logger) *Cases {
	return &Cases{db: db, forms: set, loc: loc, log: log, batch: BatchSize}
}

// SetBatchSize changes how many cases a transaction deletes (tests of the
// batching use small ones). Call it before the Cases are used.
func (c *Cases) SetBatchSize(n int) { c.batch = max(1, n) }

// AddMonths returns t plus n months (n may be negative) in loc, at the
// same time of day. A day the target month lacks becomes its last day (31
// March plus one month is 30 April), as in PostgreSQL; so a case is never
// due before its period is over: ClosedBy(DueAt(t)) is never before t.
func AddMonths(t time.Time, n int, loc *time.Location) time.Time {
	t = t.In(loc)
	y, m, d := t.Date()
	first := time.Date(y, m+time.Month(n), 1, 0, 0, 0, 0, loc)
	last := first.AddDate(0, 1, -1).Day()
	return time.Date(first.Year(), first.Month(), min(d, last), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), loc)
}

// DueAt returns when a case closed at closed with a period of months is
// deleted.
func (c *Cases) DueAt(closed time.Time, months int) time.Time {
	return AddMonths(closed, months, c.loc)
}

// closedBy returns the latest closing of a case due at at.
func (c *Cases) closedBy(at time.Time, months int) time.Time { return AddMonths(at, -months, c.loc) }

// Period is a service's retention period at an office.
type Period struct {
	Service  string // the service's slug
	Default  int    // the form definition's period in months; 0 when its form is not loaded
	Override int    // the office's own period in months, 0 for none
}

// Months returns the period that applies: the office's own, else the
// default; 0 when none is known (the cases are then kept).
func (p Period) Months() int {
	if p.Override > 0 {
		return p.Override
	}
	return p.Default
}

// defaults returns the default period of every service of the catalogue,
// in catalogue order.
func (c *Cases) defaults(ctx context.Context, q store.Querier) ([]Period, error) {
	services, err := store.ListServices(ctx, q)
	if err != nil {
		return nil, err
	}
	out := make([]Period, 0, len(services))
	for _, s := range services {
		p := Period{Service: s.Slug}
		if f, ok := c.forms.Form(s.FormRef); ok && f.Retention != nil {
			p.Default = f.Retention.TotalMonths()
		}
		out = append(out, p)
	}
	return out, nil
}

// Periods returns office officeID's retention period of every service of
// the catalogue, in catalogue order.
func (c *Cases) Periods(ctx context.Context, officeID int64) ([]Period, error) {
	out, err := c.defaults(ctx, c.db)
	if err != nil {
		return nil, err
	}
	own, err := store.ListOfficeRetention(ctx, c.db, officeID)
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Override = own[out[i].Service]
	}
	return out, nil
}

// Period returns office officeID's retention period of service slug.
// Errors: NotFound (no such service).
func (c *Cases) Period(ctx context.Context, officeID int64, slug string) (Period, error) {
	all, err := c.Periods(ctx, officeID)
	if err != nil {
		return Period{}, err
	}
	for _, p := range all {
		if p.Service == slug {
			return p, nil
		}
	}
	return Period{}, fault.New(fault.NotFound, "retention: period", "")
}

// SetPeriod sets office officeID's own retention period of service slug
// to months, or back to the form's default when months is 0, recorded in
// the audit log as done by actor. Errors: Invalid (MsgPeriod: out of
// bounds), NotFound (no such service).
func (c *Cases) SetPeriod(ctx context.Context, officeID int64, actor domain.Actor, slug string, months int) error {
	const op = "retention: set period"
	if months != 0 && (months < forms.MinRetentionMonths || months > forms.MaxRetentionMonths) {
		return fault.New(fault.Invalid, op, MsgPeriod)
	}
	if _, err := c.Period(ctx, officeID, slug); err != nil {
		return err
	}
	return c.db.InTx(ctx, func(tx pgx.Tx) error {
		if months == 0 {
			if err := store.ClearOfficeRetention(ctx, tx, officeID, slug); err != nil {
				return err
			}
		} else {
			if err := store.SetOfficeRetention(ctx, tx, officeID, slug, months); err != nil {
				return err
			}
		}
		return audit.Append(ctx, tx, audit.Entry{OfficeID: officeID, Actor: actor, Action: domain.RetentionPeriod(months), Object: domain.ServiceObject(slug)})
	})
}

// DeletedSince returns how many cases of office officeID were deleted at
// or after since.
func (c *Cases) DeletedSince(ctx context.Context, officeID int64, since time.Time) (int64, error) {
	return store.CountDeletedSince(ctx, c.db, officeID, since)
}

// DueCase is a case due for deletion, with the day it goes.
type DueCase struct {
	store.DueRow
	DueAt time.Time
}

// DueCuts returns what selects office officeID's cases due for deletion by
// at (of service slug only, unless it is empty): for the list and the
// export before deletion.
func (c *Cases) DueCuts(ctx context.Context, officeID int64, at time.Time, slug string) ([]store.DueCut, error) {
	periods, err := c.Periods(ctx, officeID)
	if err != nil {
		return nil, err
	}
	cuts := []store.DueCut{}
	for _, p := range periods {
		if m := p.Months(); m > 0 && (slug == "" || slug == p.Service) {
			cuts = append(cuts, store.DueCut{Service: p.Service, ClosedBy: c.closedBy(at, m), Months: m})
		}
	}
	return cuts, nil
}

// Due returns office officeID's cases that are due for deletion within
// DueWithin of now (of service slug only, unless it is empty), held ones
// included, in the order they are due: at most limit, after the case of
// cursor after; for by, a staff member of the office, whose read is
// recorded in the audit log (the list names applicants).
func (c *Cases) Due(ctx context.Context, officeID int64, by domain.Actor, now time.Time, slug string, after store.Cursor, limit int) ([]DueCase, error) {
	cuts, err := c.DueCuts(ctx, officeID, now.Add(DueWithin), slug)
	if err != nil {
		return nil, err
	}
	rows, err := store.ListDueCases(ctx, c.db, officeID, cuts, after, limit)
	if err != nil {
		return nil, err
	}
	months := make(map[string]int, len(cuts))
	for _, cut := range cuts {
		months[cut.Service] = cut.Months
	}
	out := make([]DueCase, len(rows))
	for i, r := range rows {
		out[i] = DueCase{DueRow: r, DueAt: c.DueAt(r.ClosedAt, months[r.ServiceSlug])}
	}
	if err := audit.AppendNow(ctx, c.db, audit.Entry{OfficeID: officeID, Actor: by, Action: domain.RetentionDueRead}); err != nil {
		return nil, err
	}
	return out, nil
}

// Deleted is what a deletion run did.
type Deleted struct {
	Cases int  // deleted
	More  bool // it stopped at its deadline with cases left
}

// DeleteDue deletes every case whose retention period is over at now, in
// transactions of at most BatchSize cases, each with an audit entry per
// case (actor "system", action "case.deleted", the case's id, nothing
// else). It starts no transaction after stop (zero: no limit) and then
// reports More. Cases of a service whose period is unknown (its form is no
// longer loaded and the office set none) are kept, and the log says so.
func (c *Cases) DeleteDue(ctx context.Context, now, stop time.Time) (Deleted, error) {
	var res Deleted
	pairs, err := store.ListClosedPairs(ctx, c.db)
	if err != nil || len(pairs) == 0 {
		return res, err
	}
	defaults, err := c.defaults(ctx, c.db)
	if err != nil {
		return res, err
	}
	byService := make(map[string]int, len(defaults))
	for _, p := range defaults {
		byService[p.Service] = p.Default
	}
	own, err := store.ListRetentionOverrides(ctx, c.db)
	if err != nil {
		return res, err
	}
	for _, pair := range pairs {
		months := own[pair]
		if months == 0 {
			months = byService[pair.ServiceSlug]
		}
		if months == 0 {
			c.log.Warn("retention: no retention period known for a service; its closed cases are kept",
				"service", pair.ServiceSlug, "office_id", pair.OfficeID)
			continue
		}
		closedBy := c.closedBy(now, months)
		for {
			if !stop.IsZero() && time.Now().After(stop) {
				res.More = true
				return res, nil
			}
			n, err := c.deleteBatch(ctx, pair, closedBy, now)
			res.Cases += n
			if err != nil {
				return res, err
			}
			if n < c.batch {
				break
			}
		}
	}
	if res.Cases > 0 {
		c.log.Info("retention: deleted cases past their retention period", "count", res.Cases)
	}
	return res, nil
}

// deleteBatch deletes up to one batch of the pair's cases closed by
// closedBy, with their audit entries, in one transaction.
func (c *Cases) deleteBatch(ctx context.Context, pair store.OfficeService, closedBy, now time.Time) (int, error) {
	var n int
	err := c.db.InTx(ctx, func(tx pgx.Tx) error {
		gone, err := store.DeleteDueCases(ctx, tx, pair.OfficeID, pair.ServiceSlug, closedBy, now, c.batch)
		if err != nil {
			return err
		}
		entries := make([]audit.Entry, len(gone))
		for i, t := range gone {
			entries[i] = audit.Entry{OfficeID: t.OfficeID, Actor: domain.System, Action: domain.CaseDeleted, Object: domain.CaseObject(t.ID)}
		}
		n = len(gone)
		return audit.AppendAll(ctx, tx, entries)
	})
	if err != nil {
		return 0, fmt.Errorf("retention: delete cases of office %d, %s: %w", pair.OfficeID, pair.ServiceSlug, err)
	}
	return n, nil
}
