package booking

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/gesundheitsamt/portal/internal/audit"
	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/fault"
	portalmail "github.com/gesundheitsamt/portal/internal/mail"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/webhook"
)

// Access is who works on an office's appointments: the office whose
// appointments they reach (never another's) and who they are in the
// audit log. The HTTP layer makes it from an API token (or a staff
// member) and nothing else; what the caller may do (a token's scopes, a
// role) it decides before it calls.
type Access struct {
	OfficeID int64
	Actor    domain.Actor
}

// The bounds of an office's list of appointments.
const (
	MaxListDays     = 31   // days of one list
	MaxList         = 1000 // appointments of one list
	MaxCancelReason = 500  // characters of the office's reason of a cancellation
)

// Message ids of the office's requests that are refused.
const (
	msgRange           = "booking.error.range"            // the last day before the first, or more than MaxListDays
	msgTooMany         = "booking.error.too_many"         // more than MaxList appointments
	msgStateFilter     = "booking.error.state_filter"     // not one of ListStates
	msgUnknownCalendar = "booking.error.unknown_calendar" // no calendar of the office has the slug
	msgReason          = "booking.error.reason"           // too long, or control characters
	// The check-in refused: before the appointment's day, for a
	// cancelled appointment, for one not confirmed (nobody is expected).
	msgAttendanceEarly       = "booking.error.attendance_early"
	msgAttendanceCancelled   = "booking.error.attendance_cancelled"
	msgAttendanceUnconfirmed = "booking.error.attendance_unconfirmed"
)

// ListStates are the states an office's list may ask for: an
// appointment is a booking with someone's contact details, unconfirmed
// (and waiting for its confirmation), booked or cancelled. A hold is a
// browser's choice and a lapsed confirmation nobody's appointment: the
// office sees neither.
var ListStates = []string{store.BookingUnconfirmed, store.BookingBooked, store.BookingCancelled}

// The webhook events of a booking's life.
const (
	eventBooked    = webhook.EventAppointmentBooked
	eventCancelled = webhook.EventAppointmentCancelled
	eventMoved     = webhook.EventAppointmentMoved
)

// AppointmentFilter selects an office's appointments.
type AppointmentFilter struct {
	Calendar string // slug of one of the office's calendars; "": every calendar
	// FirstDay and LastDay are the days of the list, inclusive, in Zone:
	// only their year, month and day count. A zero FirstDay is today, a
	// zero LastDay FirstDay. At most MaxListDays.
	FirstDay, LastDay time.Time
	// States are some of ListStates; none: unconfirmed and booked, the
	// appointments that hold a place.
	States []string
}

// ListAppointments returns the appointments of a's office that f
// selects, by start, then id, and records the read in the office's audit
// log: the list carries who booked. Errors: Invalid (msgRange,
// msgStateFilter, msgUnknownCalendar; msgTooMany: more than MaxList,
// none returned).
func (s *Service) ListAppointments(ctx context.Context, a Access, f AppointmentFilter) ([]store.Booking, error) {
	const op = "booking: list appointments"
	from, to, err := s.listDays(f)
	if err != nil {
		return nil, fault.New(fault.Invalid, op, msgRange)
	}
	states := []string{store.BookingUnconfirmed, store.BookingBooked}
	if len(f.States) > 0 {
		states = nil
		for _, st := range f.States {
			if !slices.Contains(ListStates, st) {
				return nil, fault.New(fault.Invalid, op, msgStateFilter)
			}
			if !slices.Contains(states, st) {
				states = append(states, st)
			}
		}
	}
	sf := store.BookingFilter{OfficeID: a.OfficeID, From: from, To: to, States: states, Limit: MaxList + 1}
	if f.Calendar != "" {
		c, err := store.GetCalendarBySlug(ctx, s.db, a.OfficeID, f.Calendar)
		if fault.KindOf(err) == fault.NotFound {
			return nil, fault.New(fault.Invalid, op, msgUnknownCalendar)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		sf.CalendarID = c.ID
	}
	list, err := store.ListBookings(ctx, s.db, sf)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if err := audit.AppendNow(ctx, s.db, audit.Entry{OfficeID: a.OfficeID, Actor: a.Actor, Action: domain.AppointmentsList}); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if len(list) > MaxList {
		return nil, fault.New(fault.Invalid, op, msgTooMany)
	}
	return list, nil
}

// listDays returns where the days of f begin and end in the office's
// zone; an error when they are more than MaxListDays or the last is
// before the first.
func (s *Service) listDays(f AppointmentFilter) (from, to time.Time, err error) {
	first, last := f.FirstDay, f.LastDay
	if first.IsZero() {
		first = s.now().In(s.loc)
	}
	if last.IsZero() {
		last = first
	}
	fy, fm, fd := first.Date()
	ly, lm, ld := last.Date()
	// Counted on the calendar, not in hours: a day of the clock change
	// has 23 or 25.
	after := time.Date(ly, lm, ld, 0, 0, 0, 0, time.UTC).Sub(time.Date(fy, fm, fd, 0, 0, 0, 0, time.UTC)) / (24 * time.Hour)
	if after < 0 || after >= MaxListDays {
		return time.Time{}, time.Time{}, fmt.Errorf("%d days", after+1)
	}
	return time.Date(fy, fm, fd, 0, 0, 0, 0, s.loc), time.Date(ly, lm, ld+1, 0, 0, 0, 0, s.loc), nil
}

// GetAppointment returns appointment id of a's office and records the
// read in the office's audit log. Another office's appointment is
// NotFound, exactly like one that does not exist, and so are a hold and
// a booking whose confirmation lapsed (none is an appointment). Errors:
// NotFound.
func (s *Service) GetAppointment(ctx context.Context, a Access, id int64) (store.Booking, error) {
	const op = "booking: get appointment"
	b, err := store.GetBooking(ctx, s.db, a.OfficeID, id)
	if err != nil {
		return store.Booking{}, fmt.Errorf("%s: %w", op, err)
	}
	if !isAppointment(b) {
		return store.Booking{}, fault.New(fault.NotFound, op, "")
	}
	err = audit.AppendNow(ctx, s.db, audit.Entry{OfficeID: a.OfficeID, Actor: a.Actor, Action: domain.AppointmentRead, Object: domain.AppointmentObject(id)})
	if err != nil {
		return store.Booking{}, fmt.Errorf("%s: %w", op, err)
	}
	return b, nil
}

// CancelAppointment cancels appointment id of a's office for the office,
// which frees its place at once, with reason (may be empty), and returns
// it as it is then. A booked appointment's citizen gets the cancellation
// mail; an unconfirmed one's was never booked and gets none. Its webhook
// call (appointment.cancelled) and the audit entry go in the same
// transaction.
//
// The reason is kept with the appointment (store.Booking.CancelReason)
// for the office to read, and nowhere else: it is not in the mail, not
// in the webhook call and not in the audit log, which outlives the
// appointment, because a reason may say something about a person's
// health ("in hospital"). The mail says that the appointment is
// cancelled, not by whom or why.
//
// An appointment cancelled already stays as it is (a repeated request is
// no error). Errors: NotFound (as GetAppointment); Invalid (msgReason);
// Conflict (msgPast: it has begun or is over).
func (s *Service) CancelAppointment(ctx context.Context, a Access, id int64, reason string) (store.Booking, error) {
	const op = "booking: cancel appointment"
	reason, err := cancelReason(op, reason)
	if err != nil {
		return store.Booking{}, err
	}
	var out store.Booking
	err = s.db.InTx(ctx, func(tx pgx.Tx) error {
		b, err := store.LockBooking(ctx, tx, a.OfficeID, id)
		if err != nil {
			return err
		}
		out, err = s.cancelLocked(ctx, tx, a, b, reason)
		return err
	})
	if err != nil {
		return store.Booking{}, fmt.Errorf("%s: %w", op, err)
	}
	return out, nil
}

// CancelDay cancels, as CancelAppointment does one, every appointment of
// a's office on day (its date in Zone) that holds a place and has not
// begun, of the calendar with slug calendar ("": every calendar), in one
// transaction: each citizen of a booked one gets the cancellation mail,
// each cancellation its webhook call and audit entry. With closeDay the
// day is closed too (a closure of each calendar concerned, audited), so
// that the places freed are not offered again. It returns how many were
// cancelled. Appointments that began already that day stay as they are.
//
// The day's bookings are locked first, in one statement and in start
// order, and only then is anything audited: a check-in or a single
// cancellation meanwhile (which lock one booking, then the audit log)
// waits for the day or runs before it, and never deadlocks with it.
// Errors: Invalid (msgReason; msgUnknownCalendar; msgTooMany).
func (s *Service) CancelDay(ctx context.Context, a Access, calendar string, day time.Time, reason string, closeDay bool) (int, error) {
	const op = "booking: cancel a day"
	reason, err := cancelReason(op, reason)
	if err != nil {
		return 0, err
	}
	from, to, err := s.listDays(AppointmentFilter{FirstDay: day})
	if err != nil {
		return 0, fault.New(fault.Invalid, op, msgRange)
	}
	f := store.BookingFilter{OfficeID: a.OfficeID, From: from, To: to, States: []string{store.BookingUnconfirmed, store.BookingBooked}, Limit: MaxList + 1}
	cals, err := store.ListOfficeCalendars(ctx, s.db, a.OfficeID)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	if calendar != "" {
		cals = slices.DeleteFunc(cals, func(c store.Calendar) bool { return c.Slug != calendar })
		if len(cals) == 0 {
			return 0, fault.New(fault.Invalid, op, msgUnknownCalendar)
		}
		f.CalendarID = cals[0].ID
	}
	n := 0
	err = s.db.InTx(ctx, func(tx pgx.Tx) error {
		n = 0
		list, err := store.LockBookings(ctx, tx, f)
		if err != nil {
			return err
		}
		if len(list) > MaxList {
			return fault.New(fault.Invalid, op, msgTooMany)
		}
		for _, b := range list {
			if !s.Cancellable(b) {
				continue // begun
			}
			if _, err := s.cancelLocked(ctx, tx, a, b, reason); err != nil {
				return err
			}
			n++
		}
		if !closeDay {
			return nil
		}
		date := dateOf(from)
		for _, c := range cals {
			if err := store.AddClosure(ctx, tx, a.OfficeID, c.ID, store.Closure{FirstDay: date, LastDay: date}); err != nil {
				return err
			}
			if err := s.auditCalendar(ctx, tx, a, domain.CalendarClosureAdd, c.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	return n, nil
}

// cancelReason normalises the office's reason of a cancellation.
// Errors: Invalid (msgReason: too long, or control characters).
func cancelReason(op, reason string) (string, error) {
	reason = strings.Join(strings.Fields(reason), " ")
	if utf8.RuneCountInString(reason) > MaxCancelReason || strings.ContainsFunc(reason, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return "", fault.New(fault.Invalid, op, msgReason)
	}
	return reason, nil
}

// cancelLocked cancels b, locked in tx, for a's office, as
// CancelAppointment says, and returns it as it is then.
func (s *Service) cancelLocked(ctx context.Context, tx pgx.Tx, a Access, b store.Booking, reason string) (store.Booking, error) {
	const op = "booking: cancel appointment"
	switch {
	case !isAppointment(b):
		return b, fault.New(fault.NotFound, op, "")
	case b.State == store.BookingCancelled:
		return b, nil
	case !b.Start.After(s.now()):
		return b, fault.New(fault.Conflict, op, msgPast)
	}
	if err := store.CancelBookingByOffice(ctx, tx, a.OfficeID, b.ID, reason); err != nil {
		return b, err
	}
	if err := s.freed(ctx, tx, a.OfficeID, b.Calendar.ID); err != nil {
		return b, err
	}
	out, err := store.GetBooking(ctx, tx, a.OfficeID, b.ID)
	if err != nil {
		return b, err
	}
	if err := s.hook(ctx, tx, out, eventCancelled); err != nil {
		return out, err
	}
	err = audit.Append(ctx, tx, audit.Entry{OfficeID: a.OfficeID, Actor: a.Actor, Action: domain.AppointmentCancel, Object: domain.AppointmentObject(b.ID)})
	if err != nil {
		return out, err
	}
	if b.State != store.BookingBooked {
		return out, nil // nothing was booked: no calendar entry to cancel
	}
	if err := s.closeRoom(ctx, tx, b); err != nil {
		return out, err
	}
	// The cancellation's mail has no links, so it needs no token.
	return out, s.send(ctx, tx, out, portalmail.TemplateBookingCancelled, "cancelled", "", "")
}

// SetAttendance records whether the citizen of booked appointment id of
// a's office came (came) or did not, from the appointment's day on (its
// date in Zone; any time of that day, and any day after), and returns
// the appointment as it is then. The other answer replaces what was
// recorded (a no-show who turns up late came after all); the same answer
// again changes nothing. It is recorded in the audit log, in the
// change's transaction, and sends nothing: no mail, no webhook call.
// Errors: NotFound (as GetAppointment); Conflict (msgAttendanceEarly:
// before its day; msgAttendanceCancelled; msgAttendanceUnconfirmed: not
// booked).
func (s *Service) SetAttendance(ctx context.Context, a Access, id int64, came bool) (store.Booking, error) {
	const op = "booking: set attendance"
	want, action := store.AttendanceNoShow, domain.AppointmentNoShow
	if came {
		want, action = store.AttendanceCame, domain.AppointmentCame
	}
	var out store.Booking
	err := s.db.InTx(ctx, func(tx pgx.Tx) error {
		b, err := store.LockBooking(ctx, tx, a.OfficeID, id)
		if err != nil {
			return err
		}
		out = b
		switch {
		case !isAppointment(b):
			return fault.New(fault.NotFound, op, "")
		case b.State == store.BookingCancelled:
			return fault.New(fault.Conflict, op, msgAttendanceCancelled)
		case b.State != store.BookingBooked:
			return fault.New(fault.Conflict, op, msgAttendanceUnconfirmed)
		case !s.AttendanceOpen(b):
			return fault.New(fault.Conflict, op, msgAttendanceEarly)
		case b.Attendance == want:
			return nil
		}
		if err := store.SetAttendance(ctx, tx, a.OfficeID, id, want); err != nil {
			return err
		}
		if out, err = store.GetBooking(ctx, tx, a.OfficeID, id); err != nil {
			return err
		}
		return audit.Append(ctx, tx, audit.Entry{OfficeID: a.OfficeID, Actor: a.Actor, Action: action, Object: domain.AppointmentObject(id)})
	})
	if err != nil {
		return store.Booking{}, fmt.Errorf("%s: %w", op, err)
	}
	return out, nil
}

// AttendanceOpen reports whether the check-in of appointment b is open
// now: it is booked and its day (in Zone) has come. SetAttendance
// refuses what this refuses, saying why; a page asks it to offer the
// check-in only where it is open.
func (s *Service) AttendanceOpen(b store.Booking) bool {
	return b.State == store.BookingBooked && !midnight(b.Start.In(s.loc)).After(s.now())
}

// Cancellable reports whether the office may cancel appointment b now:
// unconfirmed and holding its place, or booked, and not begun.
// CancelAppointment refuses a booking that has begun; a page asks this
// to offer the cancellation only where it is possible.
func (s *Service) Cancellable(b store.Booking) bool {
	return (b.State == store.BookingBooked || b.State == store.BookingUnconfirmed && b.Holds) && b.Start.After(s.now())
}

// OfficeCalendars returns every calendar of a's office, on-site ones
// first, then by name.
func (s *Service) OfficeCalendars(ctx context.Context, a Access) ([]store.Calendar, error) {
	cs, err := store.ListOfficeCalendars(ctx, s.db, a.OfficeID)
	if err != nil {
		return nil, fmt.Errorf("booking: office calendars: %w", err)
	}
	return cs, nil
}

// Schedule returns the office's calendar and the slots its rules make
// that start in [from, to), by day, each with its free places: the
// office's view of its days. Unlike Availability, which has what a
// citizen may book, it keeps the slots that have begun or are over, are
// within the calendar's notice or beyond its horizon; a closure or a
// public holiday takes a day out all the same. At most MaxListDays.
// Errors: NotFound (no such calendar of the office); Invalid (msgRange).
func (s *Service) Schedule(ctx context.Context, office store.Office, calendarID int64, from, to time.Time) (store.Calendar, []Day, error) {
	const op = "booking: schedule"
	if to.Sub(from) > (MaxListDays+1)*24*time.Hour {
		return store.Calendar{}, nil, fault.New(fault.Invalid, op, msgRange)
	}
	p, _, err := s.plan(ctx, s.db, office, calendarID)
	if err != nil {
		return store.Calendar{}, nil, fmt.Errorf("%s: %w", op, err)
	}
	// The plan keeps the closures of the days a citizen may book; these
	// days may be others.
	p.closures, err = store.ListClosures(ctx, s.db, office.ID, calendarID, dateOf(from.In(s.loc)), dateOf(to.In(s.loc)))
	if err != nil {
		return store.Calendar{}, nil, fmt.Errorf("%s: %w", op, err)
	}
	days := p.slots(from, to)
	if err := s.countFree(ctx, office.ID, calendarID, days); err != nil {
		return store.Calendar{}, nil, fmt.Errorf("%s: %w", op, err)
	}
	return p.cal, days, nil
}

// isAppointment reports whether b is an appointment the office sees:
// unconfirmed and holding its place, booked, or cancelled (always after
// its contact details came).
func isAppointment(b store.Booking) bool {
	switch b.State {
	case store.BookingBooked, store.BookingCancelled:
		return true
	case store.BookingUnconfirmed:
		return b.Holds
	}
	return false
}

// hook enqueues the webhook calls of event about booking b in tx, after
// b's change (none without Options.Hooks).
func (s *Service) hook(ctx context.Context, tx pgx.Tx, b store.Booking, event string) error {
	if s.hooks == nil {
		return nil
	}
	return s.hooks.Appointment(ctx, tx, event, b.OfficeID, b.ID)
}
