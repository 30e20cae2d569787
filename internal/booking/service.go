package booking

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
	_ "time/tzdata" // the office's zone, also on machines without a zone database

	"github.com/jackc/pgx/v5"
	"github.com/rickar/cal/v2"

	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/mail"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/submission"
	"github.com/gesundheitsamt/portal/internal/video"
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

// Mailer enqueues a booking's mails inside the transaction of the change
// that causes them (mail.Notifier).
type Mailer interface {
	Booking(ctx context.Context, tx pgx.Tx, m mail.BookingMail) error
	// Offered enqueues the mail telling the citizen of a case of an offer
	// of appointments.
	Offered(ctx context.Context, tx pgx.Tx, sub store.Submission, offerID int64) error
}

// Rooms keeps the video consultation of a video appointment in step with
// the booking, inside the booking's transaction (video.Service).
type Rooms interface {
	Create(ctx context.Context, tx pgx.Tx, n video.NewConsultation) (video.Created, error)
	ForBooking(ctx context.Context, q store.Querier, officeID, bookingID int64) (store.Consultation, string, error)
	MoveForBooking(ctx context.Context, tx pgx.Tx, officeID, bookingID int64, start time.Time, minutes int) (string, error)
	CancelForBooking(ctx context.Context, tx pgx.Tx, officeID, bookingID int64) error
}

// Hooks enqueues the webhook calls of an appointment's change inside the
// transaction that makes it (webhook.Notifier): event about the office's
// booking id, as tx sees it after the change.
type Hooks interface {
	Appointment(ctx context.Context, tx pgx.Tx, event string, officeID, id int64) error
}

// Service computes availability, takes holds and carries a booking
// through its life. It is built once by the wiring and safe for
// concurrent use.
type Service struct {
	db         *store.DB
	mail       Mailer
	rooms      Rooms
	hooks      Hooks
	now        func() time.Time
	loc        *time.Location
	holidays   map[string]*cal.Calendar // by Land; "" the nationwide ones
	perAddress int
	plans      *plans
	queue      Queue
}

// Options are what the service is built from.
type Options struct {
	DB   *store.DB
	Mail Mailer // nil: no mails (tests of slots and holds alone)
	// Rooms makes the video consultation of a booked video appointment;
	// nil: none is made (tests of on-site appointments).
	Rooms Rooms
	// Hooks hears of appointments booked and cancelled; nil: no webhook
	// calls.
	Hooks Hooks
	// Now is the clock of notice and horizon; nil: the system clock.
	// Holds and confirmations lapse by the database's clock.
	Now func() time.Time
	// PlanTTL is how long a calendar's rules, closures and services, read
	// once, serve the computations of its slots; 0: read them every time
	// (tests that change a calendar and look at once). DefaultPlanTTL is
	// the wiring's: a rush release reads each calendar once a second,
	// not once a request, and a change of the rules shows within it.
	PlanTTL time.Duration
	// Queue takes the sweeps of the waiting lists a freed place queues
	// (River's client); nil: none are queued, only the periodic sweep
	// serves the lists.
	Queue Queue
	// PerAddress is how many appointments of one service an e-mail
	// address may have at an office at once (unconfirmed or to come);
	// 0: DefaultPerAddress, negative: no limit.
	PerAddress int
}

// DefaultPlanTTL is the wiring's Options.PlanTTL.
const DefaultPlanTTL = time.Second

// DefaultPerAddress is the limit of Options.PerAddress: one appointment
// per person and service, as the offices book them.
const DefaultPerAddress = 1

// New returns the booking service.
func New(o Options) (*Service, error) {
	loc, err := time.LoadLocation(Zone)
	if err != nil {
		return nil, fmt.Errorf("booking: %w", err)
	}
	s := &Service{db: o.DB, mail: o.Mail, rooms: o.Rooms, hooks: o.Hooks, now: o.Now, loc: loc, holidays: map[string]*cal.Calendar{}, perAddress: o.PerAddress, plans: newPlans(o.PlanTTL), queue: o.Queue}
	if s.now == nil {
		s.now = time.Now
	}
	if s.perAddress == 0 {
		s.perAddress = DefaultPerAddress
	}
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
	p, _, err := s.plan(ctx, s.db, office, calendarID)
	if err != nil {
		return store.Calendar{}, nil, fmt.Errorf("%s: %w", op, err)
	}
	days := p.days(from, to)
	if err := s.countFree(ctx, office.ID, calendarID, days); err != nil {
		return store.Calendar{}, nil, fmt.Errorf("%s: %w", op, err)
	}
	return p.cal, days, nil
}

// countFree sets the free places of the slots of days, of the office's
// calendar, from what is held and booked now: one query for all.
func (s *Service) countFree(ctx context.Context, officeID, calendarID int64, days []Day) error {
	if len(days) == 0 {
		return nil
	}
	last := days[len(days)-1].Slots
	// Just after the last start: a microsecond, which PostgreSQL keeps (a
	// nanosecond would round to the start itself and leave it out).
	taken, err := store.CountTaken(ctx, s.db, officeID, calendarID, days[0].Slots[0].Start, last[len(last)-1].Start.Add(time.Microsecond))
	if err != nil {
		return err
	}
	for _, d := range days {
		for i := range d.Slots {
			d.Slots[i].Free = max(0, d.Slots[i].Capacity-taken[d.Slots[i].Start.UTC()])
		}
	}
	return nil
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
	c, slot, err := s.slot(ctx, s.db, office, calendarID, service, start)
	if err != nil {
		return Hold{}, fmt.Errorf("%s: %w", op, err)
	}
	token := submission.NewToken()
	id, until, err := store.HoldPlace(ctx, s.db, store.PlaceHold{
		OfficeID: office.ID, CalendarID: c.ID, Service: service, Start: slot.Start,
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

// slot returns the office's calendar calendarID and its slot at start,
// when the calendar serves service and the slot can be booked now.
// Errors: NotFound (no such calendar of the office, or it does not serve
// service); Invalid (msgNoSuchSlot: no slot starts then, or it is out of
// the calendar's notice or horizon).
// anyService, as slot's service, takes a slot of any of the office's
// calendars, whichever services they serve: the slots offered from an
// appointment request, whose citizen asked for an appointment and let the
// office choose where.
const anyService = "\x00any"

func (s *Service) slot(ctx context.Context, q store.Querier, office store.Office, calendarID int64, service string, start time.Time) (store.Calendar, Slot, error) {
	p, services, err := s.plan(ctx, q, office, calendarID)
	if fault.KindOf(err) == fault.NotFound || err == nil && service != anyService && !slices.Contains(services, service) {
		return store.Calendar{}, Slot{}, fault.New(fault.NotFound, "", "")
	}
	if err != nil {
		return store.Calendar{}, Slot{}, err
	}
	days := p.days(start, start.Add(time.Nanosecond))
	if len(days) != 1 || !days[0].Slots[0].Start.Equal(start) {
		return store.Calendar{}, Slot{}, fault.New(fault.Invalid, "", msgNoSuchSlot)
	}
	return p.cal, days[0].Slots[0], nil
}

// plan returns what the slots of the office's calendar are computed
// from, and the services it serves: read from the database, or, with
// Options.PlanTTL, as read at most that long ago. Errors: NotFound.
func (s *Service) plan(ctx context.Context, q store.Querier, office store.Office, calendarID int64) (plan, []string, error) {
	h := s.holidays[office.State]
	if h == nil {
		h = s.holidays[""]
	}
	now := s.now()
	r, err := s.plans.get(ctx, q, office.ID, calendarID, now, s.loc)
	if err != nil {
		return plan{}, nil, err
	}
	return plan{cal: r.cal, rules: r.rules, closures: r.closures, holidays: h, loc: s.loc, now: now}, r.services, nil
}

// Calendars returns the office's calendars that serve service, on-site
// ones first; none when the service is not booked directly there. With
// Options.PlanTTL they are as read at most that long ago (the caller
// must not change the slice).
func (s *Service) Calendars(ctx context.Context, office store.Office, service string) ([]store.Calendar, error) {
	cs, err := s.plans.calendars(ctx, s.db, office.ID, service)
	if err != nil {
		return nil, fmt.Errorf("booking: calendars: %w", err)
	}
	return cs, nil
}

// FirstFree returns the first slot of the office's calendar with a free
// place from from on, within the calendar's horizon; false when there is
// none. Errors: NotFound (no such calendar of the office).
func (s *Service) FirstFree(ctx context.Context, office store.Office, calendarID int64, from time.Time) (Slot, bool, error) {
	sl, ok, err := s.firstFree(ctx, s.db, office, calendarID, from)
	if err != nil {
		return Slot{}, false, fmt.Errorf("booking: first free: %w", err)
	}
	return sl, ok, nil
}

// firstFree is FirstFree counting the places taken through q (a
// transaction sees its own holds).
func (s *Service) firstFree(ctx context.Context, q store.Querier, office store.Office, calendarID int64, from time.Time) (Slot, bool, error) {
	p, _, err := s.plan(ctx, q, office, calendarID)
	if err != nil {
		return Slot{}, false, err
	}
	// The first week, then the rest of the horizon at once: two counts at
	// most, however far the horizon, and the common case (a free place
	// this week) computes and counts one week only.
	end := s.now().Add(p.cal.Horizon + 24*time.Hour)
	week := from.Add(7 * 24 * time.Hour)
	if end.Before(week) {
		week = end
	}
	for _, r := range [][2]time.Time{{from, week}, {week, end}} {
		if !r[0].Before(r[1]) {
			break
		}
		days := p.days(r[0], r[1])
		if len(days) == 0 {
			continue
		}
		last := days[len(days)-1].Slots
		taken, err := store.CountTaken(ctx, q, office.ID, calendarID, days[0].Slots[0].Start, last[len(last)-1].Start.Add(time.Microsecond))
		if err != nil {
			return Slot{}, false, err
		}
		for _, d := range days {
			for _, sl := range d.Slots {
				if n := taken[sl.Start.UTC()]; sl.Capacity > n {
					sl.Free = sl.Capacity - n
					return sl, true, nil
				}
			}
		}
	}
	return Slot{}, false, nil
}
