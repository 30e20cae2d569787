package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gesundheitsamt/portal/internal/fault"
)

// BookingFilter selects bookings of one office for its lists.
type BookingFilter struct {
	OfficeID   int64
	CalendarID int64     // 0: every calendar of the office
	From, To   time.Time // the bookings whose slot starts in [From, To)
	// States are the Booking* states to list. A held or unconfirmed
	// booking is listed only while it holds its place.
	States []string
	Limit  int
}

const listBookings = `
SELECT` + bookingColumns + `
WHERE b.office_id = $1 AND ($2::bigint = 0 OR b.calendar_id = $2)
    AND b.starts_at >= $3 AND b.starts_at < $4
    AND b.state = ANY ($5) AND (b.state NOT IN ('held', 'unconfirmed') OR b.expires_at > now())
ORDER BY b.starts_at, b.id
LIMIT $6`

// ListBookings returns at most f.Limit bookings of f's office that f
// selects, by start, then id.
func ListBookings(ctx context.Context, q Querier, f BookingFilter) ([]Booking, error) {
	rows, err := q.Query(ctx, listBookings, f.OfficeID, f.CalendarID, f.From, f.To, f.States, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("store: list bookings: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Booking, error) { return scanBooking(r) })
	if err != nil {
		return nil, fmt.Errorf("store: list bookings: %w", err)
	}
	return out, nil
}

// lockBookings is listBookings with the rows locked, in the lists'
// order: a change of many bookings locks them in one statement and one
// order, before anything else it locks.
const lockBookings = listBookings + ` FOR UPDATE OF b`

// LockBookings returns, as ListBookings does, the bookings f selects and
// locks their rows until tx ends.
func LockBookings(ctx context.Context, tx pgx.Tx, f BookingFilter) ([]Booking, error) {
	rows, err := tx.Query(ctx, lockBookings, f.OfficeID, f.CalendarID, f.From, f.To, f.States, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("store: lock bookings: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Booking, error) { return scanBooking(r) })
	if err != nil {
		return nil, fmt.Errorf("store: lock bookings: %w", err)
	}
	return out, nil
}

const cancelBookingByOffice = `
UPDATE booking SET state = 'cancelled', expires_at = NULL, cancelled_at = now(), cancelled_by = 'office', cancel_reason = $3,
    attendance = '', attendance_at = NULL, sequence = sequence + 1, updated_at = now()
WHERE office_id = $1 AND id = $2 AND (state = 'booked' OR state = 'unconfirmed' AND expires_at > now())`

// CancelBookingByOffice cancels the office's unconfirmed or booked
// booking for the office, with its reason (may be empty), which frees
// its place at once. Errors: Conflict (held, cancelled or lapsed).
func CancelBookingByOffice(ctx context.Context, q Querier, officeID, id int64, reason string) error {
	const op = "store: cancel booking by office"
	tag, err := q.Exec(ctx, cancelBookingByOffice, officeID, id, reason)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if tag.RowsAffected() == 0 {
		return fault.Wrap(fault.Conflict, op, errors.New("booking not in a state for it"))
	}
	return nil
}

const setAttendance = `
UPDATE booking SET attendance = $3, attendance_at = now(), updated_at = now()
WHERE office_id = $1 AND id = $2 AND state = 'booked'`

// SetAttendance records whether the citizen of the office's booked
// booking came (AttendanceCame or AttendanceNoShow), replacing what was
// recorded before. Whether its day has come is the caller's to check.
// Errors: Conflict (not booked).
func SetAttendance(ctx context.Context, q Querier, officeID, id int64, attendance string) error {
	const op = "store: set attendance"
	tag, err := q.Exec(ctx, setAttendance, officeID, id, attendance)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if tag.RowsAffected() == 0 {
		return fault.Wrap(fault.Conflict, op, errors.New("booking not booked"))
	}
	return nil
}

const listOfficeCalendars = `SELECT ` + calendarColumns + ` FROM calendar WHERE office_id = $1 ORDER BY kind, name, id`

// ListOfficeCalendars returns every calendar of the office, on-site ones
// first, then by name.
func ListOfficeCalendars(ctx context.Context, q Querier, officeID int64) ([]Calendar, error) {
	rows, err := q.Query(ctx, listOfficeCalendars, officeID)
	if err != nil {
		return nil, fmt.Errorf("store: list calendars of office %d: %w", officeID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Calendar, error) { return scanCalendar(r) })
	if err != nil {
		return nil, fmt.Errorf("store: list calendars of office %d: %w", officeID, err)
	}
	return out, nil
}

const markWalkIn = `UPDATE booking SET walk_in = true, updated_at = now() WHERE office_id = $1 AND id = $2 AND state = 'held'`

// MarkWalkIn makes the office's held booking a walk-in (staff book it for
// someone at the counter, who may have no address). Errors: Conflict
// (not held).
func MarkWalkIn(ctx context.Context, q Querier, officeID, id int64) error {
	return changeBooking(ctx, q, markWalkIn, "store: mark walk-in", officeID, id)
}
