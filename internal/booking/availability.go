// Package booking owns appointments: an office's calendars and their
// slots, computed from weekly rules, closures and the public holidays of
// the office's Land, and the holds and bookings that take their places.
// Capacity is PostgreSQL's to enforce (store.HoldPlace): any number of
// portal processes book correctly, and nothing here counts places in
// memory.
package booking

import (
	"sort"
	"time"

	"github.com/rickar/cal/v2"
	"github.com/rickar/cal/v2/de"

	"github.com/gesundheitsamt/portal/internal/store"
)

// Slot is one slot of a calendar: from Start to End, Capacity places of
// which Free are neither held nor booked.
type Slot struct {
	Start, End     time.Time
	Capacity, Free int
}

// Day is the slots of one day of the office's calendar, in order. Date
// is the day's midnight in the office's time zone.
type Day struct {
	Date  time.Time
	Slots []Slot
}

// plan is what slots are computed from: a calendar with its rules and
// closures, the office's holidays, and the time the computation is for.
type plan struct {
	cal      store.Calendar
	rules    []store.Rule
	closures []store.Closure
	holidays *cal.Calendar
	loc      *time.Location
	now      time.Time
}

// days returns the bookable slots that start in [from, to), by day, with
// their capacity (Free equal to Capacity: the caller subtracts what is
// taken). A slot is bookable when a rule of its weekday and date has it,
// its day is neither closed nor a public holiday, and it starts no sooner
// than the calendar's notice and no later than its horizon from now.
func (p plan) days(from, to time.Time) []Day {
	first := p.now.Add(p.cal.Notice)
	last := p.now.Add(p.cal.Horizon)
	if from.Before(first) {
		from = first
	}
	if to.After(last) {
		to = last
	}
	return p.slots(from, to)
}

// slots returns the slots the rules make that start in [from, to), by
// day, bookable or not: the office's view of its days, which has the
// slots that began an hour ago and the ones beyond the horizon. Free is
// Capacity, as for days.
func (p plan) slots(from, to time.Time) []Day {
	var out []Day
	if !from.Before(to) {
		return out
	}
	step := p.cal.Slot + p.cal.Buffer
	for day := midnight(from.In(p.loc)); day.Before(to); day = day.AddDate(0, 0, 1) {
		if p.closed(day) {
			continue
		}
		var slots []Slot
		for _, r := range p.rules {
			if r.Weekday != day.Weekday() || !r.ValidFrom.IsZero() && dateOf(day).Before(r.ValidFrom) ||
				!r.ValidUntil.IsZero() && dateOf(day).After(r.ValidUntil) {
				continue
			}
			for at := r.Starts; at+p.cal.Slot <= r.Ends; at += step {
				start := clockOn(day, at)
				if start.Before(from) || !start.Before(to) {
					continue
				}
				slots = append(slots, Slot{Start: start, End: start.Add(p.cal.Slot), Capacity: r.Capacity, Free: r.Capacity})
			}
		}
		if len(slots) == 0 {
			continue
		}
		sort.Slice(slots, func(i, j int) bool { return slots[i].Start.Before(slots[j].Start) })
		out = append(out, Day{Date: day, Slots: merge(slots)})
	}
	return out
}

// merge joins slots of two rules that start at the same time: their
// places add up.
func merge(slots []Slot) []Slot {
	out := slots[:0]
	for _, s := range slots {
		if n := len(out); n > 0 && out[n-1].Start.Equal(s.Start) {
			out[n-1].Capacity += s.Capacity
			out[n-1].Free += s.Free
			continue
		}
		out = append(out, s)
	}
	return out
}

// closed reports whether the calendar has no slots on day: a closure or a
// public holiday of the office's Land.
func (p plan) closed(day time.Time) bool {
	d := dateOf(day)
	for _, c := range p.closures {
		if !d.Before(c.FirstDay) && !d.After(c.LastDay) {
			return true
		}
	}
	actual, _, _ := p.holidays.IsHoliday(d)
	return actual
}

// holidays returns the public holidays of a Land (two letters, SN, ST,
// ...); an empty or unknown state gives the nationwide ones. The calendar
// keeps no cache, so one value serves concurrent requests.
func holidays(state string) *cal.Calendar {
	lists := map[string][]*cal.Holiday{
		"BW": de.HolidaysBW, "BY": de.HolidaysBY, "BE": de.HolidaysBE, "BB": de.HolidaysBB,
		"HB": de.HolidaysHB, "HH": de.HolidaysHH, "HE": de.HolidaysHE, "MV": de.HolidaysMV,
		"NI": de.HolidaysNI, "NW": de.HolidaysNW, "RP": de.HolidaysRP, "SL": de.HolidaysSL,
		"SN": de.HolidaysSN, "ST": de.HolidaysST, "SH": de.HolidaysSH, "TH": de.HolidaysTH,
	}
	list, ok := lists[state]
	if !ok {
		list = de.Holidays
	}
	c := &cal.Calendar{}
	c.AddHoliday(list...)
	return c
}

// midnight is the start of t's day in t's location.
func midnight(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, t.Location())
}

// dateOf is day's date as midnight UTC, the way dates come from the
// database.
func dateOf(day time.Time) time.Time {
	y, m, d := day.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// clockOn is the wall-clock time at (an offset from midnight) on day, in
// day's location: 08:00 is 08:00 also on the days the clocks change.
func clockOn(day time.Time, at time.Duration) time.Time {
	y, m, d := day.Date()
	return time.Date(y, m, d, int(at/time.Hour), int(at%time.Hour/time.Minute), 0, 0, day.Location())
}
