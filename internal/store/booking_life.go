package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gesundheitsamt/portal/internal/fault"
)

// Booking is one booking with the calendar it is in.
type Booking struct {
	ID       int64
	OfficeID int64
	Calendar Calendar
	Service  string // slug
	Start    time.Time
	Seat     int
	State    string    // one of the Booking* states
	Expires  time.Time // held and unconfirmed: when the place is freed; zero otherwise
	// Holds says the booking holds its place now: booked, or held or
	// unconfirmed and not lapsed, by the database's clock (which lapses
	// them).
	Holds bool
	// The citizen, from the contact step on (a hold has none).
	Name, Email, Phone string
	Lang               string
	Sequence           int // moves and cancellation so far (the calendar file's SEQUENCE)
	Resends            int // confirmation mails sent again
	Created            time.Time
	Confirmed          time.Time // zero: not confirmed
	Cancelled          time.Time // zero: not cancelled
	// MailTokenHash is the hash of the token of the booking's current
	// mail links; nil before the contact step. A mail written for a
	// replaced token (the confirmation sent again) is not sent.
	MailTokenHash []byte
	// WalkIn says staff booked it for someone at the counter (who may
	// have given no address).
	WalkIn bool
	// CancelledBy is who cancelled it (CancelledByCitizen or
	// CancelledByOffice); empty while it is not cancelled.
	CancelledBy string
	// CancelReason is the office's reason for its cancellation (may be
	// empty). It is for the office only: no mail, webhook call or audit
	// entry carries it.
	CancelReason string
	// Attendance is whether the citizen of a booked appointment came, as
	// the office recorded it (AttendanceCame, AttendanceNoShow); empty
	// while nothing is recorded. AttendanceAt is when it was recorded.
	Attendance   string
	AttendanceAt time.Time
}

// What the office records of a booked appointment on its day.
const (
	AttendanceCame   = "came"
	AttendanceNoShow = "no_show"
)

// Who cancels a booking.
const (
	CancelledByCitizen = "citizen" // through the link of the booking's mails
	CancelledByOffice  = "office"  // an API token or the office's staff
)

// End is when the booking's slot ends.
func (b Booking) End() time.Time { return b.Start.Add(b.Calendar.Slot) }

// BookingContact is what the citizen gives for a held place.
type BookingContact struct {
	Name, Email, Phone, Lang string
}

const bookingColumns = `
    b.id, b.office_id, b.service_slug, b.starts_at, b.seat, b.state, b.expires_at,
    (b.state = 'booked' OR b.state IN ('held', 'unconfirmed') AND b.expires_at > now()),
    b.name, b.email, b.phone, b.lang, b.sequence, b.resends, b.created_at, b.confirmed_at, b.cancelled_at, b.mail_token_hash,
    coalesce(b.cancelled_by, ''), b.cancel_reason, b.walk_in, b.attendance, b.attendance_at,
    c.id, c.office_id, c.slug, c.name, c.kind, c.place, c.slot_minutes, c.buffer_minutes, c.notice_minutes, c.horizon_days
FROM booking b JOIN calendar c ON c.office_id = b.office_id AND c.id = b.calendar_id`

func scanBooking(row pgx.Row) (Booking, error) {
	var (
		b                             Booking
		expires, confirmed, cancelled *time.Time
		attended                      *time.Time
		slot, buffer, notice, horizon int
	)
	err := row.Scan(&b.ID, &b.OfficeID, &b.Service, &b.Start, &b.Seat, &b.State, &expires, &b.Holds,
		&b.Name, &b.Email, &b.Phone, &b.Lang, &b.Sequence, &b.Resends, &b.Created, &confirmed, &cancelled, &b.MailTokenHash,
		&b.CancelledBy, &b.CancelReason, &b.WalkIn, &b.Attendance, &attended,
		&b.Calendar.ID, &b.Calendar.OfficeID, &b.Calendar.Slug, &b.Calendar.Name, &b.Calendar.Kind, &b.Calendar.Place,
		&slot, &buffer, &notice, &horizon)
	if err != nil {
		return Booking{}, err
	}
	b.Calendar.Slot, b.Calendar.Buffer = time.Duration(slot)*time.Minute, time.Duration(buffer)*time.Minute
	b.Calendar.Notice, b.Calendar.Horizon = time.Duration(notice)*time.Minute, time.Duration(horizon)*24*time.Hour
	for _, t := range []struct {
		dst *time.Time
		src *time.Time
	}{{&b.Expires, expires}, {&b.Confirmed, confirmed}, {&b.Cancelled, cancelled}, {&b.AttendanceAt, attended}} {
		if t.src != nil {
			*t.dst = *t.src
		}
	}
	return b, nil
}

const (
	getBooking            = `SELECT` + bookingColumns + ` WHERE b.office_id = $1 AND b.id = $2`
	lockBooking           = getBooking + ` FOR UPDATE OF b`
	getBookingByToken     = `SELECT` + bookingColumns + ` WHERE b.token_hash = $1`
	getBookingByMailToken = `SELECT` + bookingColumns + ` WHERE b.mail_token_hash = $1`
	lockBookingByToken    = getBookingByToken + ` FOR UPDATE OF b`
	lockBookingByMail     = getBookingByMailToken + ` FOR UPDATE OF b`
)

// GetBooking returns the office's booking id. Errors: NotFound.
func GetBooking(ctx context.Context, q Querier, officeID, id int64) (Booking, error) {
	b, err := scanBooking(q.QueryRow(ctx, getBooking, officeID, id))
	if err != nil {
		return Booking{}, notFound("store: get booking", err)
	}
	return b, nil
}

// LockBooking returns the office's booking id and locks its row until tx
// ends: the checks of a change and the change see the same booking.
// Errors: NotFound.
func LockBooking(ctx context.Context, tx pgx.Tx, officeID, id int64) (Booking, error) {
	b, err := scanBooking(tx.QueryRow(ctx, lockBooking, officeID, id))
	if err != nil {
		return Booking{}, notFound("store: lock booking", err)
	}
	return b, nil
}

// LockHold returns the booking whose citizen's token (from choosing the
// slot) hashes to hash and locks its row until tx ends. Errors: NotFound.
func LockHold(ctx context.Context, tx pgx.Tx, hash []byte) (Booking, error) {
	b, err := scanBooking(tx.QueryRow(ctx, lockBookingByToken, hash))
	if err != nil {
		return Booking{}, notFound("store: lock booking", err)
	}
	return b, nil
}

// LockBookingByMail returns the booking whose current mail token hashes
// to hash and locks its row until tx ends. The token is checked on the
// locked row: a token replaced while this waited for the lock (the
// confirmation sent again) finds nothing. Errors: NotFound.
func LockBookingByMail(ctx context.Context, tx pgx.Tx, hash []byte) (Booking, error) {
	b, err := scanBooking(tx.QueryRow(ctx, lockBookingByMail, hash))
	if err != nil {
		return Booking{}, notFound("store: lock booking", err)
	}
	return b, nil
}

// FindBooking returns the booking whose hold token (the browser's, from
// choosing the slot) has the SHA-256 hash; the token is the caller's whole
// authority, whichever office it is of. Errors: NotFound.
func FindBooking(ctx context.Context, q Querier, hash []byte) (Booking, error) {
	b, err := scanBooking(q.QueryRow(ctx, getBookingByToken, hash))
	if err != nil {
		return Booking{}, notFound("store: find booking", err)
	}
	return b, nil
}

// FindBookingByMail returns the booking whose mail token (of the links in
// its mails) has the SHA-256 hash. Errors: NotFound.
func FindBookingByMail(ctx context.Context, q Querier, hash []byte) (Booking, error) {
	b, err := scanBooking(q.QueryRow(ctx, getBookingByMailToken, hash))
	if err != nil {
		return Booking{}, notFound("store: find booking", err)
	}
	return b, nil
}

const (
	lockAddress = `SELECT pg_advisory_xact_lock(hashtextextended('booking-address:' || $1::bigint || ':' || $2::text || ':' || lower($3::text), 0))`
	countActive = `
SELECT count(*) FROM booking
WHERE office_id = $1 AND service_slug = $2 AND lower(email) = lower($3) AND id <> $4
    AND state IN ('unconfirmed', 'booked')
    AND (state = 'booked' AND starts_at > now() OR state = 'unconfirmed' AND expires_at > now())`
)

// CountActiveAtAddress locks the office's bookings of service by address
// email (of any case) until tx ends, and returns how many of them, other
// than booking except, hold a place now: a booked one still to come, or
// an unconfirmed one not lapsed. Two citizens giving the same address at
// once are counted one after the other, so a limit per address holds for
// any number of portal processes.
func CountActiveAtAddress(ctx context.Context, tx pgx.Tx, officeID int64, service, email string, except int64) (int, error) {
	if _, err := tx.Exec(ctx, lockAddress, officeID, service, email); err != nil {
		return 0, fmt.Errorf("store: lock address: %w", err)
	}
	var n int
	if err := tx.QueryRow(ctx, countActive, officeID, service, email, except).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count bookings of address: %w", err)
	}
	return n, nil
}

const setContact = `
UPDATE booking SET state = 'unconfirmed', name = $3, email = $4, phone = $5, lang = $6,
    mail_token_hash = $7, expires_at = now() + $8::interval, updated_at = now()
WHERE office_id = $1 AND id = $2 AND state = 'held' AND expires_at > now()
RETURNING expires_at`

// SetBookingContact gives the office's held booking its citizen and the
// hash of its mail token, and keeps its place for ttl while the
// confirmation mail travels; it returns the new expiry. Errors: Conflict
// when the booking is no longer held (lapsed, or its details came).
func SetBookingContact(ctx context.Context, q Querier, officeID, id int64, c BookingContact, mailHash []byte, ttl time.Duration) (time.Time, error) {
	var until time.Time
	err := q.QueryRow(ctx, setContact, officeID, id, c.Name, c.Email, c.Phone, c.Lang, mailHash, ttl).Scan(&until)
	if isNoRows(err) {
		return time.Time{}, fault.Wrap(fault.Conflict, "store: set booking contact", err)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("store: set booking contact: %w", err)
	}
	return until, nil
}

const resendMail = `
UPDATE booking SET mail_token_hash = $3, resends = resends + 1, updated_at = now()
WHERE office_id = $1 AND id = $2 AND state = 'unconfirmed' AND expires_at > now() AND resends < $4
RETURNING resends`

// RenewMailToken replaces the mail token of the office's unconfirmed
// booking, for a confirmation mail sent again, at most max times.
// Errors: Conflict (not unconfirmed, lapsed, or sent again max times).
func RenewMailToken(ctx context.Context, q Querier, officeID, id int64, mailHash []byte, max int) (int, error) {
	var n int
	err := q.QueryRow(ctx, resendMail, officeID, id, mailHash, max).Scan(&n)
	if isNoRows(err) {
		return 0, fault.Wrap(fault.Conflict, "store: renew mail token", err)
	}
	if err != nil {
		return 0, fmt.Errorf("store: renew mail token: %w", err)
	}
	return n, nil
}

// The changes of a booking's state that SetBookingState makes.
const (
	confirmBooking = `
UPDATE booking SET state = 'booked', expires_at = NULL, confirmed_at = now(), updated_at = now()
WHERE office_id = $1 AND id = $2 AND state = 'unconfirmed' AND expires_at > now()`
	cancelBooking = `
UPDATE booking SET state = 'cancelled', expires_at = NULL, cancelled_at = now(), cancelled_by = 'citizen',
    attendance = '', attendance_at = NULL, sequence = sequence + 1, updated_at = now()
WHERE office_id = $1 AND id = $2 AND state IN ('held', 'unconfirmed', 'booked')`
	releaseHold = `
UPDATE booking SET state = 'expired', expires_at = NULL, updated_at = now()
WHERE office_id = $1 AND id = $2 AND state = 'held'`
)

// ConfirmBooking makes the office's unconfirmed booking booked. Errors:
// Conflict (not unconfirmed, or lapsed).
func ConfirmBooking(ctx context.Context, q Querier, officeID, id int64) error {
	return changeBooking(ctx, q, confirmBooking, "store: confirm booking", officeID, id)
}

// CancelBooking cancels the office's booking at its citizen's request,
// which frees its place at once. Errors: Conflict (cancelled or lapsed
// already).
func CancelBooking(ctx context.Context, q Querier, officeID, id int64) error {
	return changeBooking(ctx, q, cancelBooking, "store: cancel booking", officeID, id)
}

// ReleaseHold gives up the office's hold (the citizen chose another
// slot). Errors: Conflict (not held).
func ReleaseHold(ctx context.Context, q Querier, officeID, id int64) error {
	return changeBooking(ctx, q, releaseHold, "store: release hold", officeID, id)
}

func changeBooking(ctx context.Context, q Querier, sql, op string, officeID, id int64) error {
	tag, err := q.Exec(ctx, sql, officeID, id)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if tag.RowsAffected() == 0 {
		return fault.Wrap(fault.Conflict, op, errors.New("booking not in a state for it"))
	}
	return nil
}

const moveBooking = `
UPDATE booking SET calendar_id = $3, starts_at = $4, sequence = sequence + 1, updated_at = now(),
    attendance = '', attendance_at = NULL,
    seat = (SELECT s FROM generate_series(0, $5 - 1) AS s
            WHERE s NOT IN (SELECT seat FROM booking
                            WHERE office_id = $1 AND calendar_id = $3 AND starts_at = $4 AND state IN ('held', 'unconfirmed', 'booked'))
            ORDER BY s LIMIT 1)
WHERE office_id = $1 AND id = $2 AND state = 'booked'
RETURNING seat`

// MoveBooking moves the office's booked booking to a place of the slot of
// calendarID at start, which has capacity places (the caller checked the
// slot against the calendar's rules). The booking keeps its old place
// until the new one is its own, in one statement: a move that finds no
// place leaves the booking where it was. Each try runs in a savepoint of
// tx, so a seat taken by a hold at the same moment costs a try, not the
// transaction. Errors: Conflict (ErrSlotFull; or not booked).
func MoveBooking(ctx context.Context, tx pgx.Tx, officeID, id, calendarID int64, start time.Time, capacity int) error {
	const op = "store: move booking"
	if _, err := tx.Exec(ctx, expireSlot, officeID, calendarID, start); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	for range capacity + 1 {
		moved, err := moveOnce(ctx, tx, officeID, id, calendarID, start, capacity)
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if moved {
			return nil
		}
	}
	return fault.Wrap(fault.Conflict, op, ErrSlotFull)
}

// moveOnce is one try of MoveBooking in a savepoint: false when a hold
// took the seat it chose at the same moment.
func moveOnce(ctx context.Context, tx pgx.Tx, officeID, id, calendarID int64, start time.Time, capacity int) (bool, error) {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer sp.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	var seat int
	err = sp.QueryRow(ctx, moveBooking, officeID, id, calendarID, start, capacity).Scan(&seat)
	var pe *pgconn.PgError
	switch {
	case isNoRows(err):
		return false, fault.Wrap(fault.Conflict, "", errors.New("booking not booked"))
	case errors.As(err, &pe) && pe.Code == "23502": // seat NULL: no free place
		return false, fault.Wrap(fault.Conflict, "", ErrSlotFull)
	case errors.As(err, &pe) && pe.Code == "23505": // a hold took the seat first
		return false, nil
	case err != nil:
		return false, err
	}
	return true, sp.Commit(ctx)
}

// BookingCuts are the times before which a booking of each kind is
// deleted with its citizen's details (DeleteOldBookings).
type BookingCuts struct {
	Lapsed    time.Time // a hold or an unconfirmed booking that lapsed, or was given up, before it
	Cancelled time.Time // cancelled before it
	Past      time.Time // a booked appointment that started before it
}

const deleteOldBookings = `
DELETE FROM booking
WHERE state IN ('held', 'unconfirmed') AND expires_at < $1
   OR state = 'expired' AND updated_at < $1
   OR state = 'cancelled' AND cancelled_at < $2
   OR state = 'booked' AND starts_at < $3`

// DeleteOldBookings deletes, in every office, the bookings past their
// cut, and returns how many. The citizen's name, address and telephone
// number go with the row; a deleted booking's links find nothing.
func DeleteOldBookings(ctx context.Context, q Querier, cuts BookingCuts) (int64, error) {
	tag, err := q.Exec(ctx, deleteOldBookings, cuts.Lapsed, cuts.Cancelled, cuts.Past)
	if err != nil {
		return 0, fmt.Errorf("store: delete old bookings: %w", err)
	}
	return tag.RowsAffected(), nil
}
