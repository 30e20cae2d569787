package booking

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gesundheitsamt/portal/internal/audit"
	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/fault"
	portalmail "github.com/gesundheitsamt/portal/internal/mail"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/submission"
)

// Message ids of a walk-in that is refused.
const (
	msgWalkInSlot    = "booking.error.walk_in_slot"    // not a slot of the calendar that day, or it is over
	msgWalkInService = "booking.error.walk_in_service" // the calendar does not serve the service
)

// WalkIn books, for a's office, a place of the slot of office's calendar
// calendarID that starts at start, for service, for someone at the
// counter: booked at once, no double opt-in, since staff see the person.
// The contact needs a name; the address is optional: with one, the
// booked mail (and the reminder, and a video appointment's link) goes out
// as for a booking of the citizen's own, with its links to cancel and to
// move. The slot may be today's, within the calendar's notice, until it
// ends; the limit per address does not apply (staff decide). The place is
// taken as a citizen's hold takes it, so it is never double-booked.
// Audited. Errors: NotFound (no such calendar of the office); Invalid
// (*FieldsError; msgWalkInService; msgWalkInSlot); Conflict
// (msgSlotTaken).
func (s *Service) WalkIn(ctx context.Context, a Access, office store.Office, calendarID int64, service string, start time.Time, c store.BookingContact) (store.Booking, error) {
	const op = "booking: walk-in"
	if office.ID != a.OfficeID {
		return store.Booking{}, fault.New(fault.NotFound, op, "")
	}
	c, bad := CheckContact(c)
	if bad != nil && c.Email == "" && bad.Fields["email"] == msgEmailRequired {
		delete(bad.Fields, "email")
		if len(bad.Fields) == 0 {
			bad = nil
		}
	}
	if bad != nil {
		return store.Booking{}, fault.Wrap(fault.Invalid, op, bad)
	}
	p, services, err := s.plan(ctx, s.db, office, calendarID)
	if err != nil {
		return store.Booking{}, fmt.Errorf("%s: %w", op, err)
	}
	if !slices.Contains(services, service) {
		return store.Booking{}, fault.New(fault.Invalid, op, msgWalkInService)
	}
	local := start.In(s.loc)
	day := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, s.loc)
	_, days, err := s.Schedule(ctx, office, calendarID, day, day.AddDate(0, 0, 1))
	if err != nil {
		return store.Booking{}, fmt.Errorf("%s: %w", op, err)
	}
	var slot Slot
	for _, d := range days {
		for _, sl := range d.Slots {
			if sl.Start.Equal(start) {
				slot = sl
			}
		}
	}
	if slot.Start.IsZero() || !slot.End.After(s.now()) {
		return store.Booking{}, fault.New(fault.Invalid, op, msgWalkInSlot)
	}
	var out store.Booking
	err = s.db.InTx(ctx, func(tx pgx.Tx) error {
		id, _, err := store.HoldPlace(ctx, tx, store.PlaceHold{OfficeID: office.ID, CalendarID: p.cal.ID, Service: service, Start: slot.Start,
			Capacity: slot.Capacity, TTL: HoldTTL, TokenHash: submission.HashToken(submission.NewToken())})
		if err != nil {
			return err
		}
		if err := store.MarkWalkIn(ctx, tx, office.ID, id); err != nil {
			return err
		}
		var mailToken string
		var mailHash []byte
		if c.Email != "" {
			mailToken = submission.NewToken()
			mailHash = submission.HashToken(mailToken)
		}
		if _, err := store.SetBookingContact(ctx, tx, office.ID, id, c, mailHash, HoldTTL); err != nil {
			return err
		}
		if err := store.ConfirmBooking(ctx, tx, office.ID, id); err != nil {
			return err
		}
		if out, err = store.GetBooking(ctx, tx, office.ID, id); err != nil {
			return err
		}
		if err := s.hook(ctx, tx, out, eventBooked); err != nil {
			return err
		}
		if err := audit.Append(ctx, tx, audit.Entry{OfficeID: a.OfficeID, Actor: a.Actor, Action: domain.AppointmentWalkIn, Object: domain.AppointmentObject(id)}); err != nil {
			return err
		}
		join, err := s.room(ctx, tx, out, false)
		if err != nil || mailToken == "" {
			return err
		}
		if err := s.send(ctx, tx, out, portalmail.TemplateBookingBooked, "booked", mailToken, join); err != nil {
			return err
		}
		return s.remind(ctx, tx, out, mailToken, join)
	})
	if fault.KindOf(err) == fault.Conflict {
		return store.Booking{}, fault.New(fault.Conflict, op, msgSlotTaken)
	}
	if err != nil {
		return store.Booking{}, fmt.Errorf("%s: %w", op, err)
	}
	return out, nil
}

// CalendarServices returns the services the calendar calendarID of a's
// office serves, for a walk-in's form. Errors: NotFound.
func (s *Service) CalendarServices(ctx context.Context, a Access, calendarID int64) ([]string, error) {
	if _, err := store.GetCalendar(ctx, s.db, a.OfficeID, calendarID); err != nil {
		return nil, fmt.Errorf("booking: calendar services: %w", err)
	}
	list, err := store.ListCalendarServices(ctx, s.db, a.OfficeID, calendarID)
	if err != nil {
		return nil, fmt.Errorf("booking: calendar services: %w", err)
	}
	return list, nil
}
