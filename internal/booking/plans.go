package booking

import (
	"context"
	"sync"
	"time"

	"github.com/gesundheitsamt/portal/internal/store"
)

// plans keeps, per calendar, what its slots are computed from, for ttl:
// availability and holds of a rush read each calendar once in a while,
// not four times a request. Only calendars that exist are kept, so its
// size is bounded by the calendars in the database, whatever the
// requests ask for. Capacity itself is never kept here: a hold's place
// is always the database's.
type plans struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[[2]int64]calendarPlan // by office and calendar id
	// served are, by office and service, the calendars that serve it
	// (ListServiceCalendars): every hold asks. Only services some
	// calendar serves are kept, so the size is bounded by the database's
	// calendars too.
	served map[servedKey]servedCalendars
}

type servedKey struct {
	office  int64
	service string
}

type servedCalendars struct {
	read time.Time
	cals []store.Calendar
}

// calendarPlan is a calendar with its rules, the services it serves and
// its closures from yesterday to the end of its horizon, as read at one
// moment.
type calendarPlan struct {
	read     time.Time
	cal      store.Calendar
	services []string
	rules    []store.Rule
	closures []store.Closure
}

func newPlans(ttl time.Duration) *plans {
	return &plans{ttl: ttl, m: map[[2]int64]calendarPlan{}, served: map[servedKey]servedCalendars{}}
}

// get returns the office's calendar's plan, read through q when it is
// not kept or older than ttl; at is the service's clock, from whose day
// on the closures are read. Errors: NotFound.
func (p *plans) get(ctx context.Context, q store.Querier, officeID, calendarID int64, at time.Time, loc *time.Location) (calendarPlan, error) {
	key := [2]int64{officeID, calendarID}
	now := time.Now()
	if p.ttl > 0 {
		p.mu.Lock()
		r, ok := p.m[key]
		p.mu.Unlock()
		if ok && now.Sub(r.read) < p.ttl {
			return r, nil
		}
	}
	c, err := store.GetCalendar(ctx, q, officeID, calendarID)
	if err != nil {
		return calendarPlan{}, err
	}
	r := calendarPlan{read: now, cal: c}
	if r.services, err = store.ListCalendarServices(ctx, q, officeID, calendarID); err != nil {
		return calendarPlan{}, err
	}
	if r.rules, err = store.ListCalendarRules(ctx, q, officeID, calendarID); err != nil {
		return calendarPlan{}, err
	}
	today := dateOf(at.In(loc))
	if r.closures, err = store.ListClosures(ctx, q, officeID, calendarID, today.AddDate(0, 0, -1), today.Add(c.Horizon+48*time.Hour)); err != nil {
		return calendarPlan{}, err
	}
	if p.ttl > 0 {
		p.mu.Lock()
		p.m[key] = r
		p.mu.Unlock()
	}
	return r, nil
}

// calendars returns the office's calendars that serve service, read
// through q when not kept or older than ttl.
func (p *plans) calendars(ctx context.Context, q store.Querier, officeID int64, service string) ([]store.Calendar, error) {
	key := servedKey{officeID, service}
	now := time.Now()
	if p.ttl > 0 {
		p.mu.Lock()
		r, ok := p.served[key]
		p.mu.Unlock()
		if ok && now.Sub(r.read) < p.ttl {
			return r.cals, nil
		}
	}
	cals, err := store.ListServiceCalendars(ctx, q, officeID, service)
	if err != nil {
		return nil, err
	}
	if p.ttl > 0 && len(cals) > 0 {
		p.mu.Lock()
		p.served[key] = servedCalendars{read: now, cals: cals}
		p.mu.Unlock()
	}
	return cals, nil
}
