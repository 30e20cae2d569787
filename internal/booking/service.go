package booking

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
	_ "time/tzdata" // the office's zone, also on machines without a zone database

	"github.com/rickar/cal/v2"

	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/submission"
)

// HoldTTL is how long a chosen slot is held for the citizen to give their
// contact details.
const HoldTTL = 10 * time.Minute

// Zone is the time zone of every office's calendars.
const Zone = "Europe/Berlin"

// Message ids of the errors a citizen reads.
const (
	msgNoSuchSlot = "booking.error.no_such_slot" // not a slot of the calendar, or out of notice and horizon
	msgSlotTaken  = "booking.error.slot_taken"   // every place of the slot is held or booked
)

// Service computes availability and takes holds. It is built once by the
// wiring and safe for concurrent use.
type Service struct {
	db       *store.DB
	now      func() time.Time
	loc      *time.Location
	holidays map[string]*cal.Calendar // by Land; "" the nationwide ones
}

// New returns the booking service on db; now is the clock (time.Now in
// production).
func New(db *store.DB, now func() time.Time) (*Service, error) {
	loc, err := time.LoadLocation(Zone)
	if err != nil {
		return nil, fmt.Errorf("booking: %w", err)
	}
	s := &Service{db: db, now: now, loc: loc, holidays: map[string]*cal.Calendar{}}
	for _, state := range []string{"", "BW", "BY", "BE", "BB", "HB", "HH", "HE", "MV", "NI", "NW", "RP", "SL", "SN", "ST", "SH", "TH"} {
		s.holidays[state] = holidays(state)
	}
	return s, nil
}

// Availability returns the office's calendar and its slots that start in
// [from, to), by day, each with its free places (full slots included,
// with Free 0). Errors: NotFound (no such calendar of the office).
func (s *Service) Availability(ctx context.Context, office store.Office, calendarID int64, from, to time.Time) (store.Calendar, []Day, error) {
	const op = "booking: availability"
	c, err := store.GetCalendar(ctx, s.db, office.ID, calendarID)
	if err != nil {
		return store.Calendar{}, nil, fmt.Errorf("%s: %w", op, err)
	}
	p, err := s.plan(ctx, office, c, from, to)
	if err != nil {
		return store.Calendar{}, nil, fmt.Errorf("%s: %w", op, err)
	}
	days := p.days(from, to)
	if len(days) == 0 {
		return p.cal, nil, nil
	}
	last := days[len(days)-1].Slots
	taken, err := store.CountTaken(ctx, s.db, office.ID, calendarID, days[0].Slots[0].Start, last[len(last)-1].Start.Add(time.Nanosecond))
	if err != nil {
		return store.Calendar{}, nil, fmt.Errorf("%s: %w", op, err)
	}
	for _, d := range days {
		for i := range d.Slots {
			d.Slots[i].Free = max(0, d.Slots[i].Capacity-taken[d.Slots[i].Start.UTC()])
		}
	}
	return p.cal, days, nil
}

// Hold is a place held for a citizen until Until. Token is the secret of
// the citizen's links to it; only its hash is stored.
type Hold struct {
	ID    int64
	Token string
	Slot  Slot
	Until time.Time
}

// Hold takes a place of the slot of the office's calendar that starts at
// start, for service, for HoldTTL. Errors: NotFound (no such calendar of
// the office, or it does not serve service); Invalid (msgNoSuchSlot: no
// slot starts then, or it is out of the calendar's notice or horizon);
// Conflict (msgSlotTaken: every place is held or booked).
func (s *Service) Hold(ctx context.Context, office store.Office, calendarID int64, service string, start time.Time) (Hold, error) {
	const op = "booking: hold"
	serving, err := store.ListServiceCalendars(ctx, s.db, office.ID, service)
	if err != nil {
		return Hold{}, fmt.Errorf("%s: %w", op, err)
	}
	i := slices.IndexFunc(serving, func(c store.Calendar) bool { return c.ID == calendarID })
	if i < 0 {
		return Hold{}, fault.New(fault.NotFound, op, "")
	}
	p, err := s.plan(ctx, office, serving[i], start, start.Add(time.Nanosecond))
	if err != nil {
		return Hold{}, fmt.Errorf("%s: %w", op, err)
	}
	days := p.days(start, start.Add(time.Nanosecond))
	if len(days) != 1 || !days[0].Slots[0].Start.Equal(start) {
		return Hold{}, fault.New(fault.Invalid, op, msgNoSuchSlot)
	}
	slot := days[0].Slots[0]
	token := submission.NewToken()
	id, until, err := store.HoldPlace(ctx, s.db, store.PlaceHold{
		OfficeID: office.ID, CalendarID: calendarID, Service: service, Start: slot.Start,
		Capacity: slot.Capacity, TTL: HoldTTL, TokenHash: submission.HashToken(token),
	})
	if errors.Is(err, store.ErrSlotFull) {
		return Hold{}, fault.New(fault.Conflict, op, msgSlotTaken)
	}
	if err != nil {
		return Hold{}, fmt.Errorf("%s: %w", op, err)
	}
	return Hold{ID: id, Token: token, Slot: slot, Until: until}, nil
}

// plan loads what the slots of the office's calendar c between from and
// to are computed from.
func (s *Service) plan(ctx context.Context, office store.Office, c store.Calendar, from, to time.Time) (plan, error) {
	rules, err := store.ListCalendarRules(ctx, s.db, office.ID, c.ID)
	if err != nil {
		return plan{}, err
	}
	closures, err := store.ListClosures(ctx, s.db, office.ID, c.ID, dateOf(from.In(s.loc)), dateOf(to.In(s.loc)))
	if err != nil {
		return plan{}, err
	}
	h := s.holidays[office.State]
	if h == nil {
		h = s.holidays[""]
	}
	return plan{cal: c, rules: rules, closures: closures, holidays: h, loc: s.loc, now: s.now()}, nil
}
