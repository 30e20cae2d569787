package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gesundheitsamt/portal/internal/fault"
)

// WaitlistEntry is a citizen on a calendar's waiting list.
type WaitlistEntry struct {
	ID         int64
	OfficeID   int64
	CalendarID int64
	Service    string
	Contact    BookingContact
	State      string // WaitlistWaiting or WaitlistOffered
	BookingID  int64  // the offer's booking; 0 while waiting
	Created    time.Time
	// Ahead is how many entries of the list came before this one (its
	// place in the line is Ahead+1), and Calendar the calendar's name and
	// kind; set by FindWaitlistEntry.
	Ahead                      int
	CalendarName, CalendarKind string
}

// The states of a waiting list entry.
const (
	WaitlistWaiting = "waiting"
	WaitlistOffered = "offered"
)

// ErrWaitlistFull says a calendar's waiting list has its most entries.
var ErrWaitlistFull = fmt.Errorf("store: waiting list full")

const waitlistColumns = `w.id, w.office_id, w.calendar_id, w.service_slug, w.name, w.email, w.phone, w.lang, w.state, coalesce(w.booking_id, 0), w.created_at`

func scanWaitlist(row pgx.Row) (WaitlistEntry, error) {
	var e WaitlistEntry
	err := row.Scan(&e.ID, &e.OfficeID, &e.CalendarID, &e.Service, &e.Contact.Name, &e.Contact.Email, &e.Contact.Phone, &e.Contact.Lang,
		&e.State, &e.BookingID, &e.Created)
	return e, err
}

const (
	// lockWaitlist takes the calendar's list for the transaction: joins
	// count the list one after another, and one sweep serves it at a
	// time, in any number of portal processes.
	lockWaitlist  = `SELECT pg_advisory_xact_lock(hashtextextended('booking-waitlist:' || $1::bigint || ':' || $2::bigint, 0))`
	countWaitlist = `SELECT count(*) FROM booking_waitlist WHERE office_id = $1 AND calendar_id = $2`
	joinWaitlist  = `
INSERT INTO booking_waitlist (office_id, calendar_id, service_slug, name, email, phone, lang, token_hash)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (office_id, calendar_id, lower(email)) DO NOTHING
RETURNING id`
)

// LockWaitlist takes the office's calendar's waiting list until tx ends.
func LockWaitlist(ctx context.Context, tx pgx.Tx, officeID, calendarID int64) error {
	if _, err := tx.Exec(ctx, lockWaitlist, officeID, calendarID); err != nil {
		return fmt.Errorf("store: lock waiting list: %w", err)
	}
	return nil
}

// JoinWaitlist puts the citizen of c at the end of the office's
// calendar's waiting list, for service, when the list has fewer than max
// entries, and returns the entry's id. tokenHash is the SHA-256 of the
// token of the entry's page. Errors: Conflict (the address is on the list
// already; ErrWaitlistFull).
func JoinWaitlist(ctx context.Context, tx pgx.Tx, officeID, calendarID int64, service string, c BookingContact, tokenHash []byte, max int) (int64, error) {
	const op = "store: join waiting list"
	if err := LockWaitlist(ctx, tx, officeID, calendarID); err != nil {
		return 0, err
	}
	var n int
	if err := tx.QueryRow(ctx, countWaitlist, officeID, calendarID).Scan(&n); err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	if n >= max {
		return 0, fault.Wrap(fault.Conflict, op, ErrWaitlistFull)
	}
	var id int64
	err := tx.QueryRow(ctx, joinWaitlist, officeID, calendarID, service, c.Name, c.Email, c.Phone, c.Lang, tokenHash).Scan(&id)
	if isNoRows(err) {
		return 0, fault.New(fault.Conflict, op, "")
	}
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	return id, nil
}

const findWaitlist = `
SELECT ` + waitlistColumns + `,
    (SELECT count(*) FROM booking_waitlist a WHERE a.office_id = w.office_id AND a.calendar_id = w.calendar_id AND a.id < w.id),
    c.name, c.kind
FROM booking_waitlist w JOIN calendar c ON c.office_id = w.office_id AND c.id = w.calendar_id
WHERE w.token_hash = $1`

// FindWaitlistEntry returns the entry of the token hash, with how many
// entries are ahead of it. Errors: NotFound (unknown, or ended).
func FindWaitlistEntry(ctx context.Context, q Querier, hash []byte) (WaitlistEntry, error) {
	var e WaitlistEntry
	err := q.QueryRow(ctx, findWaitlist, hash).Scan(&e.ID, &e.OfficeID, &e.CalendarID, &e.Service, &e.Contact.Name, &e.Contact.Email,
		&e.Contact.Phone, &e.Contact.Lang, &e.State, &e.BookingID, &e.Created, &e.Ahead, &e.CalendarName, &e.CalendarKind)
	if isNoRows(err) {
		return WaitlistEntry{}, fault.Wrap(fault.NotFound, "store: find waiting list entry", err)
	}
	if err != nil {
		return WaitlistEntry{}, fmt.Errorf("store: find waiting list entry: %w", err)
	}
	return e, nil
}

const leaveWaitlist = `DELETE FROM booking_waitlist WHERE token_hash = $1 RETURNING ` + waitlistColumnsBare

// waitlistColumnsBare are waitlistColumns for a statement on the table
// itself (RETURNING cannot name an alias).
const waitlistColumnsBare = `id, office_id, calendar_id, service_slug, name, email, phone, lang, state, coalesce(booking_id, 0), created_at`

// LeaveWaitlist deletes the entry of the token hash and returns it as it
// was. Errors: NotFound.
func LeaveWaitlist(ctx context.Context, q Querier, hash []byte) (WaitlistEntry, error) {
	e, err := scanWaitlist(q.QueryRow(ctx, leaveWaitlist, hash))
	if isNoRows(err) {
		return WaitlistEntry{}, fault.Wrap(fault.NotFound, "store: leave waiting list", err)
	}
	if err != nil {
		return WaitlistEntry{}, fmt.Errorf("store: leave waiting list: %w", err)
	}
	return e, nil
}

const listWaitlist = `SELECT ` + waitlistColumns + ` FROM booking_waitlist w WHERE w.office_id = $1 AND w.calendar_id = $2 ORDER BY w.id LIMIT $3`

// ListWaitlist returns the first n entries of the office's calendar's
// waiting list, in order.
func ListWaitlist(ctx context.Context, q Querier, officeID, calendarID int64, n int) ([]WaitlistEntry, error) {
	rows, err := q.Query(ctx, listWaitlist, officeID, calendarID, n)
	if err != nil {
		return nil, fmt.Errorf("store: list waiting list: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (WaitlistEntry, error) { return scanWaitlist(r) })
	if err != nil {
		return nil, fmt.Errorf("store: list waiting list: %w", err)
	}
	return out, nil
}

const (
	// endLapsedOffers ends the entries whose offer no longer holds its
	// place: lapsed unconfirmed, confirmed (Confirm ends those itself,
	// this is the safety net), or cancelled.
	endLapsedOffers = `
DELETE FROM booking_waitlist w USING booking b
WHERE w.office_id = $1 AND w.calendar_id = $2 AND w.state = 'offered'
    AND b.office_id = w.office_id AND b.id = w.booking_id
    AND NOT (b.state = 'unconfirmed' AND b.expires_at > now())`
	offerWaitlist = `
UPDATE booking_waitlist SET state = 'offered', booking_id = $3, offered_at = now()
WHERE office_id = $1 AND id = $2 AND state = 'waiting'`
	endWaitlistEntry = `DELETE FROM booking_waitlist WHERE office_id = $1 AND id = $2`
	endOffer         = `DELETE FROM booking_waitlist WHERE office_id = $1 AND booking_id = $2`
	deleteStale      = `DELETE FROM booking_waitlist WHERE office_id = $1 AND calendar_id = $2 AND state = 'waiting' AND created_at < $3`
	hasWaitlist      = `SELECT EXISTS (SELECT 1 FROM booking_waitlist WHERE office_id = $1 AND calendar_id = $2)`
	listQueues       = `SELECT DISTINCT office_id, calendar_id FROM booking_waitlist ORDER BY office_id, calendar_id`
)

// EndLapsedOffers deletes the office's calendar's entries whose offer no
// longer holds its place, and returns how many.
func EndLapsedOffers(ctx context.Context, q Querier, officeID, calendarID int64) (int64, error) {
	tag, err := q.Exec(ctx, endLapsedOffers, officeID, calendarID)
	if err != nil {
		return 0, fmt.Errorf("store: end lapsed offers: %w", err)
	}
	return tag.RowsAffected(), nil
}

// OfferToWaitlist marks the office's waiting entry id offered, with the
// booking that holds its place.
func OfferToWaitlist(ctx context.Context, q Querier, officeID, id, bookingID int64) error {
	return changeWaitlist(ctx, q, offerWaitlist, "store: offer to waiting list", officeID, id, bookingID)
}

// EndWaitlistEntry deletes the office's entry id.
func EndWaitlistEntry(ctx context.Context, q Querier, officeID, id int64) error {
	if _, err := q.Exec(ctx, endWaitlistEntry, officeID, id); err != nil {
		return fmt.Errorf("store: end waiting list entry: %w", err)
	}
	return nil
}

// EndOffer deletes the entry whose offer is the office's booking, if
// there is one (the booking was confirmed).
func EndOffer(ctx context.Context, q Querier, officeID, bookingID int64) error {
	if _, err := q.Exec(ctx, endOffer, officeID, bookingID); err != nil {
		return fmt.Errorf("store: end offer: %w", err)
	}
	return nil
}

// DeleteStaleWaitlist deletes the office's calendar's entries still
// waiting that joined before cut, and returns how many.
func DeleteStaleWaitlist(ctx context.Context, q Querier, officeID, calendarID int64, cut time.Time) (int64, error) {
	tag, err := q.Exec(ctx, deleteStale, officeID, calendarID, cut)
	if err != nil {
		return 0, fmt.Errorf("store: delete stale waiting list entries: %w", err)
	}
	return tag.RowsAffected(), nil
}

// HasWaitlist reports whether the office's calendar's waiting list has
// entries.
func HasWaitlist(ctx context.Context, q Querier, officeID, calendarID int64) (bool, error) {
	var ok bool
	if err := q.QueryRow(ctx, hasWaitlist, officeID, calendarID).Scan(&ok); err != nil {
		return false, fmt.Errorf("store: has waiting list: %w", err)
	}
	return ok, nil
}

// WaitlistQueue names one calendar's waiting list.
type WaitlistQueue struct{ OfficeID, CalendarID int64 }

// ListWaitlistQueues returns the calendars, in every office, whose
// waiting list has entries.
func ListWaitlistQueues(ctx context.Context, q Querier) ([]WaitlistQueue, error) {
	rows, err := q.Query(ctx, listQueues)
	if err != nil {
		return nil, fmt.Errorf("store: list waiting lists: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (WaitlistQueue, error) {
		var w WaitlistQueue
		return w, r.Scan(&w.OfficeID, &w.CalendarID)
	})
	if err != nil {
		return nil, fmt.Errorf("store: list waiting lists: %w", err)
	}
	return out, nil
}

func changeWaitlist(ctx context.Context, q Querier, sql, op string, args ...any) error {
	tag, err := q.Exec(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if tag.RowsAffected() == 0 {
		return fault.New(fault.Conflict, op, "")
	}
	return nil
}
