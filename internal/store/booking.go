package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gesundheitsamt/portal/internal/fault"
)

// Calendar is an office's bookable calendar (a room, a team, the video
// consultations).
type Calendar struct {
	ID       int64
	OfficeID int64
	Slug     string
	Name     string
	Kind     string // CalendarOnsite or CalendarVideo
	Place    string // where an on-site appointment is (room, address)
	// Slot is the length of a slot, Buffer the time between two; a slot
	// can be booked from Horizon ahead until Notice before it starts.
	Slot, Buffer, Notice time.Duration
	Horizon              time.Duration
}

// The kinds of calendar.
const (
	CalendarOnsite = "onsite"
	CalendarVideo  = "video"
)

// Rule is a weekly rule of a calendar: on Weekday, slots from Starts to
// Ends (clock times of the office's day, as offsets from midnight), with
// Capacity places each, on the days from ValidFrom to ValidUntil (zero:
// open).
type Rule struct {
	Weekday               time.Weekday
	Starts, Ends          time.Duration
	Capacity              int
	ValidFrom, ValidUntil time.Time // dates (midnight UTC); zero: open
}

// Closure is a range of days a calendar has no slots, inclusive.
type Closure struct {
	ID                int64     // 0 before it is stored
	FirstDay, LastDay time.Time // dates (midnight UTC)
	Reason            string
}

// The states of a booking: the first three hold a place of their slot.
const (
	BookingHeld        = "held"
	BookingUnconfirmed = "unconfirmed"
	BookingBooked      = "booked"
	BookingCancelled   = "cancelled"
	BookingExpired     = "expired"
)

// ErrSlotFull is the error kind of a hold on a slot whose places are all
// held or booked (fault.Conflict).
var ErrSlotFull = errors.New("store: slot full")

const upsertCalendar = `
INSERT INTO calendar (office_id, slug, name, kind, place, slot_minutes, buffer_minutes, notice_minutes, horizon_days)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (office_id, slug) DO UPDATE SET
    name = EXCLUDED.name, kind = EXCLUDED.kind, place = EXCLUDED.place,
    slot_minutes = EXCLUDED.slot_minutes, buffer_minutes = EXCLUDED.buffer_minutes,
    notice_minutes = EXCLUDED.notice_minutes, horizon_days = EXCLUDED.horizon_days
RETURNING id`

// UpsertCalendar creates the calendar or updates the office's one with the
// same slug, and returns its id.
func UpsertCalendar(ctx context.Context, q Querier, c Calendar) (int64, error) {
	var id int64
	err := q.QueryRow(ctx, upsertCalendar, c.OfficeID, c.Slug, c.Name, c.Kind, c.Place,
		int(c.Slot/time.Minute), int(c.Buffer/time.Minute), int(c.Notice/time.Minute), int(c.Horizon/(24*time.Hour))).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("store: upsert calendar %s: %w", c.Slug, err)
	}
	return id, nil
}

const (
	deleteCalendarServices = `DELETE FROM calendar_service WHERE calendar_id = (SELECT id FROM calendar WHERE office_id = $1 AND id = $2)`
	insertCalendarService  = `INSERT INTO calendar_service (calendar_id, service_slug) SELECT id, $3 FROM calendar WHERE office_id = $1 AND id = $2`
	deleteCalendarRules    = `DELETE FROM calendar_rule WHERE calendar_id = (SELECT id FROM calendar WHERE office_id = $1 AND id = $2)`
	insertCalendarRule     = `
INSERT INTO calendar_rule (calendar_id, weekday, starts, ends, capacity, valid_from, valid_until)
SELECT id, $3, $4, $5, $6, $7, $8 FROM calendar WHERE office_id = $1 AND id = $2`
	insertClosure = `
INSERT INTO calendar_closure (calendar_id, first_day, last_day, reason)
SELECT id, $3, $4, $5 FROM calendar WHERE office_id = $1 AND id = $2`
)

// ReplaceCalendarServices sets the services the office's calendar serves.
// Run it in a transaction.
func ReplaceCalendarServices(ctx context.Context, q Querier, officeID, calendarID int64, services []string) error {
	if _, err := q.Exec(ctx, deleteCalendarServices, officeID, calendarID); err != nil {
		return fmt.Errorf("store: replace services of calendar %d: %w", calendarID, err)
	}
	for _, s := range services {
		if _, err := q.Exec(ctx, insertCalendarService, officeID, calendarID, s); err != nil {
			return fmt.Errorf("store: replace services of calendar %d: %w", calendarID, err)
		}
	}
	return nil
}

// ReplaceCalendarRules sets the weekly rules of the office's calendar. Run
// it in a transaction.
func ReplaceCalendarRules(ctx context.Context, q Querier, officeID, calendarID int64, rules []Rule) error {
	if _, err := q.Exec(ctx, deleteCalendarRules, officeID, calendarID); err != nil {
		return fmt.Errorf("store: replace rules of calendar %d: %w", calendarID, err)
	}
	for _, r := range rules {
		_, err := q.Exec(ctx, insertCalendarRule, officeID, calendarID, isoWeekday(r.Weekday),
			clock(r.Starts), clock(r.Ends), r.Capacity, optionalDate(r.ValidFrom), optionalDate(r.ValidUntil))
		if err != nil {
			return fmt.Errorf("store: replace rules of calendar %d: %w", calendarID, err)
		}
	}
	return nil
}

// AddClosure closes the office's calendar on the days of c.
func AddClosure(ctx context.Context, q Querier, officeID, calendarID int64, c Closure) error {
	tag, err := q.Exec(ctx, insertClosure, officeID, calendarID, c.FirstDay, c.LastDay, c.Reason)
	if err != nil {
		return fmt.Errorf("store: add closure to calendar %d: %w", calendarID, err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("store: add closure", pgx.ErrNoRows)
	}
	return nil
}

const calendarColumns = `id, office_id, slug, name, kind, place, slot_minutes, buffer_minutes, notice_minutes, horizon_days`

func scanCalendar(row pgx.Row) (Calendar, error) {
	var c Calendar
	var slot, buffer, notice, horizon int
	err := row.Scan(&c.ID, &c.OfficeID, &c.Slug, &c.Name, &c.Kind, &c.Place, &slot, &buffer, &notice, &horizon)
	c.Slot, c.Buffer, c.Notice = time.Duration(slot)*time.Minute, time.Duration(buffer)*time.Minute, time.Duration(notice)*time.Minute
	c.Horizon = time.Duration(horizon) * 24 * time.Hour
	return c, err
}

const getCalendar = `SELECT ` + calendarColumns + ` FROM calendar WHERE office_id = $1 AND id = $2`

// GetCalendar returns the office's calendar. Errors: NotFound.
func GetCalendar(ctx context.Context, q Querier, officeID, id int64) (Calendar, error) {
	c, err := scanCalendar(q.QueryRow(ctx, getCalendar, officeID, id))
	if err != nil {
		return Calendar{}, notFound("store: get calendar", err)
	}
	return c, nil
}

const getCalendarBySlug = `SELECT ` + calendarColumns + ` FROM calendar WHERE office_id = $1 AND slug = $2`

// GetCalendarBySlug returns the office's calendar slug. Errors: NotFound.
func GetCalendarBySlug(ctx context.Context, q Querier, officeID int64, slug string) (Calendar, error) {
	c, err := scanCalendar(q.QueryRow(ctx, getCalendarBySlug, officeID, slug))
	if err != nil {
		return Calendar{}, notFound("store: get calendar", err)
	}
	return c, nil
}

const listServiceCalendars = `
SELECT ` + calendarColumns + ` FROM calendar
WHERE office_id = $1 AND id IN (SELECT calendar_id FROM calendar_service WHERE service_slug = $2)
ORDER BY kind, name`

// ListServiceCalendars returns the office's calendars that serve service,
// on-site ones first.
func ListServiceCalendars(ctx context.Context, q Querier, officeID int64, service string) ([]Calendar, error) {
	rows, err := q.Query(ctx, listServiceCalendars, officeID, service)
	if err != nil {
		return nil, fmt.Errorf("store: list calendars of %s: %w", service, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Calendar, error) { return scanCalendar(r) })
	if err != nil {
		return nil, fmt.Errorf("store: list calendars of %s: %w", service, err)
	}
	return out, nil
}

const listCalendarRules = `
SELECT weekday, starts, ends, capacity, valid_from, valid_until FROM calendar_rule
WHERE calendar_id = (SELECT id FROM calendar WHERE office_id = $1 AND id = $2)
ORDER BY weekday, starts`

// ListCalendarRules returns the weekly rules of the office's calendar.
func ListCalendarRules(ctx context.Context, q Querier, officeID, calendarID int64) ([]Rule, error) {
	rows, err := q.Query(ctx, listCalendarRules, officeID, calendarID)
	if err != nil {
		return nil, fmt.Errorf("store: list rules of calendar %d: %w", calendarID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Rule, error) {
		var (
			weekday      int
			starts, ends pgtype.Time
			capacity     int
			from, until  pgtype.Date
		)
		if err := r.Scan(&weekday, &starts, &ends, &capacity, &from, &until); err != nil {
			return Rule{}, err
		}
		return Rule{
			Weekday: time.Weekday(weekday % 7), Capacity: capacity,
			Starts: time.Duration(starts.Microseconds) * time.Microsecond, Ends: time.Duration(ends.Microseconds) * time.Microsecond,
			ValidFrom: from.Time, ValidUntil: until.Time,
		}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: list rules of calendar %d: %w", calendarID, err)
	}
	return out, nil
}

const listClosures = `
SELECT id, first_day, last_day, reason FROM calendar_closure
WHERE calendar_id = (SELECT id FROM calendar WHERE office_id = $1 AND id = $2)
    AND last_day >= $3 AND first_day <= $4
ORDER BY first_day`

// ListClosures returns the closures of the office's calendar that touch
// the days from first to last.
func ListClosures(ctx context.Context, q Querier, officeID, calendarID int64, first, last time.Time) ([]Closure, error) {
	rows, err := q.Query(ctx, listClosures, officeID, calendarID, first, last)
	if err != nil {
		return nil, fmt.Errorf("store: list closures of calendar %d: %w", calendarID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Closure, error) {
		var c Closure
		err := r.Scan(&c.ID, &c.FirstDay, &c.LastDay, &c.Reason)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: list closures of calendar %d: %w", calendarID, err)
	}
	return out, nil
}

const deleteClosure = `
DELETE FROM calendar_closure
WHERE id = $3 AND calendar_id = (SELECT id FROM calendar WHERE office_id = $1 AND id = $2)`

// DeleteClosure opens the office's calendar again on the days of its
// closure id. Errors: NotFound (no such closure of the calendar).
func DeleteClosure(ctx context.Context, q Querier, officeID, calendarID, id int64) error {
	tag, err := q.Exec(ctx, deleteClosure, officeID, calendarID, id)
	if err != nil {
		return fmt.Errorf("store: delete closure %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("store: delete closure", pgx.ErrNoRows)
	}
	return nil
}

// holdsPlace is the condition of a booking that holds its place now.
const holdsPlace = `(state = 'booked' OR (state IN ('held', 'unconfirmed') AND expires_at > now()))`

const countTaken = `
SELECT starts_at, count(*) FROM booking
WHERE office_id = $1 AND calendar_id = $2 AND starts_at >= $3 AND starts_at < $4 AND ` + holdsPlace + `
GROUP BY starts_at`

// CountTaken returns, per slot start in [from, to), how many places of the
// office's calendar are held or booked; slots without any are absent.
func CountTaken(ctx context.Context, q Querier, officeID, calendarID int64, from, to time.Time) (map[time.Time]int, error) {
	rows, err := q.Query(ctx, countTaken, officeID, calendarID, from, to)
	if err != nil {
		return nil, fmt.Errorf("store: count bookings of calendar %d: %w", calendarID, err)
	}
	defer rows.Close()
	out := map[time.Time]int{}
	for rows.Next() {
		var at time.Time
		var n int
		if err := rows.Scan(&at, &n); err != nil {
			return nil, fmt.Errorf("store: count bookings of calendar %d: %w", calendarID, err)
		}
		out[at.UTC()] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: count bookings of calendar %d: %w", calendarID, err)
	}
	return out, nil
}

// PlaceHold asks for one place of a slot: Capacity is the slot's number
// of places (from the calendar's rules, which the caller checked the slot
// against), TTL how long the hold lasts, TokenHash the SHA-256 of the
// citizen's token.
type PlaceHold struct {
	OfficeID, CalendarID int64
	Service              string
	Start                time.Time
	Capacity             int
	TTL                  time.Duration
	TokenHash            []byte
}

const (
	// expireSlot frees the places of the slot's holds and unconfirmed
	// bookings whose time has passed, so that their seats can be taken.
	expireSlot = `
UPDATE booking SET state = 'expired', expires_at = NULL, updated_at = now()
WHERE office_id = $1 AND calendar_id = $2 AND starts_at = $3
    AND state IN ('held', 'unconfirmed') AND expires_at <= now()`
	// takeSeat inserts the hold on the lowest seat no booking of the slot
	// holds. Two holds that pick the same seat at once meet in the unique
	// index booking_place: the second waits for the first to commit and
	// then inserts nothing (and tries again).
	takeSeat = `
INSERT INTO booking (office_id, calendar_id, service_slug, starts_at, seat, state, expires_at, token_hash)
SELECT $1, $2, $3, $4, s, 'held', now() + $6::interval, $7
FROM generate_series(0, $5 - 1) AS s
WHERE s NOT IN (
    SELECT seat FROM booking
    WHERE office_id = $1 AND calendar_id = $2 AND starts_at = $4 AND state IN ('held', 'unconfirmed', 'booked'))
ORDER BY s
LIMIT 1
ON CONFLICT (calendar_id, starts_at, seat) WHERE state IN ('held', 'unconfirmed', 'booked') DO NOTHING
RETURNING id, expires_at`
	countSeats = `
SELECT count(*) FROM booking
WHERE office_id = $1 AND calendar_id = $2 AND starts_at = $3 AND state IN ('held', 'unconfirmed', 'booked')`
)

// HoldPlace takes a place of the slot for h.TTL and returns the booking's
// id and when the hold ends. It frees the slot's lapsed holds first. Run
// it outside a transaction or in one of its own: a lost race for a seat
// is retried with a fresh view of the slot. Errors: Conflict (ErrSlotFull)
// when every place is held or booked.
func HoldPlace(ctx context.Context, q Querier, h PlaceHold) (int64, time.Time, error) {
	const op = "store: hold place"
	if _, err := q.Exec(ctx, expireSlot, h.OfficeID, h.CalendarID, h.Start); err != nil {
		return 0, time.Time{}, fmt.Errorf("%s: %w", op, err)
	}
	for range h.Capacity + 1 {
		var id int64
		var until time.Time
		err := q.QueryRow(ctx, takeSeat, h.OfficeID, h.CalendarID, h.Service, h.Start, h.Capacity, h.TTL, h.TokenHash).Scan(&id, &until)
		if err == nil {
			return id, until, nil
		}
		if !isNoRows(err) {
			return 0, time.Time{}, fmt.Errorf("%s: %w", op, err)
		}
		var taken int
		if err := q.QueryRow(ctx, countSeats, h.OfficeID, h.CalendarID, h.Start).Scan(&taken); err != nil {
			return 0, time.Time{}, fmt.Errorf("%s: %w", op, err)
		}
		if taken >= h.Capacity {
			return 0, time.Time{}, fault.Wrap(fault.Conflict, op, ErrSlotFull)
		}
	}
	// Every try lost a race for a seat that was free when it looked.
	return 0, time.Time{}, fault.Wrap(fault.Conflict, op, ErrSlotFull)
}

// isoWeekday is ISO 8601's number of d: 1 Monday … 7 Sunday.
func isoWeekday(d time.Weekday) int {
	if d == time.Sunday {
		return 7
	}
	return int(d)
}

// clock is an offset from midnight as a PostgreSQL time.
func clock(d time.Duration) pgtype.Time {
	return pgtype.Time{Microseconds: d.Microseconds(), Valid: true}
}

// optionalDate is t as a date, NULL when zero.
func optionalDate(t time.Time) pgtype.Date {
	return pgtype.Date{Time: t, Valid: !t.IsZero()}
}

const listCalendarServices = `
SELECT service_slug FROM calendar_service
WHERE calendar_id = (SELECT id FROM calendar WHERE office_id = $1 AND id = $2)
ORDER BY service_slug`

// ListCalendarServices returns the services the office's calendar serves.
func ListCalendarServices(ctx context.Context, q Querier, officeID, calendarID int64) ([]string, error) {
	rows, err := q.Query(ctx, listCalendarServices, officeID, calendarID)
	if err != nil {
		return nil, fmt.Errorf("store: list services of calendar %d: %w", calendarID, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("store: list services of calendar %d: %w", calendarID, err)
	}
	return out, nil
}
