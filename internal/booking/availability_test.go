package booking

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gesundheitsamt/portal/internal/store"
)

// TestDays computes the slots of calendars from their rules, closures and
// holidays, as a list of local start times with their capacity.
func TestDays(t *testing.T) {
	berlin, err := time.LoadLocation(Zone)
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, berlin)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	date := func(s string) time.Time {
		v, err := time.Parse("2006-01-02", s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	h := func(hh, mm int) time.Duration { return time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute }
	weekdays := func(from, to time.Duration, capacity int) []store.Rule {
		var rules []store.Rule
		for d := time.Monday; d <= time.Friday; d++ {
			rules = append(rules, store.Rule{Weekday: d, Starts: from, Ends: to, Capacity: capacity})
		}
		return rules
	}
	cal20 := store.Calendar{Slot: 20 * time.Minute, Notice: 0, Horizon: 60 * 24 * time.Hour}
	tests := []struct {
		name     string
		cal      store.Calendar
		rules    []store.Rule
		closures []store.Closure
		state    string
		now      string
		from, to string
		want     string // "day: hh:mm/capacity ...; day: ..."
	}{
		{"a morning of 20-minute slots", cal20, weekdays(h(8, 0), h(10, 0), 2), nil, "SN",
			"2026-12-07 07:00", "2026-12-08 00:00", "2026-12-09 00:00",
			"12-08: 08:00/2 08:20/2 08:40/2 09:00/2 09:20/2 09:40/2"},
		{"a buffer between slots, and the last slot that still fits", store.Calendar{Slot: 20 * time.Minute, Buffer: 10 * time.Minute, Horizon: 60 * 24 * time.Hour},
			weekdays(h(8, 0), h(9, 45), 1), nil, "SN",
			"2026-12-07 07:00", "2026-12-08 00:00", "2026-12-09 00:00",
			"12-08: 08:00/1 08:30/1 09:00/1"},
		{"no slots on the weekend", cal20, weekdays(h(8, 0), h(8, 40), 1), nil, "SN",
			"2026-12-07 07:00", "2026-12-11 00:00", "2026-12-15 00:00",
			"12-11: 08:00/1 08:20/1; 12-14: 08:00/1 08:20/1"},
		{"Buß- und Bettag closes Saxony's calendars", cal20, weekdays(h(8, 0), h(8, 40), 1), nil, "SN",
			"2026-11-16 07:00", "2026-11-17 00:00", "2026-11-20 00:00",
			"11-17: 08:00/1 08:20/1; 11-19: 08:00/1 08:20/1"},
		{"but not Saxony-Anhalt's", cal20, weekdays(h(8, 0), h(8, 40), 1), nil, "ST",
			"2026-11-16 07:00", "2026-11-17 00:00", "2026-11-20 00:00",
			"11-17: 08:00/1 08:20/1; 11-18: 08:00/1 08:20/1; 11-19: 08:00/1 08:20/1"},
		{"Christmas everywhere", cal20, weekdays(h(8, 0), h(8, 20), 1), nil, "",
			"2026-12-21 07:00", "2026-12-24 00:00", "2026-12-29 00:00",
			"12-24: 08:00/1; 12-28: 08:00/1"},
		{"a closure of two days", cal20, weekdays(h(8, 0), h(8, 20), 1),
			[]store.Closure{{FirstDay: date("2026-12-08"), LastDay: date("2026-12-09")}}, "SN",
			"2026-12-07 07:00", "2026-12-07 00:00", "2026-12-11 00:00",
			"12-07: 08:00/1; 12-10: 08:00/1"},
		{"minimum notice", store.Calendar{Slot: 20 * time.Minute, Notice: 2 * time.Hour, Horizon: 60 * 24 * time.Hour},
			weekdays(h(8, 0), h(12, 0), 1), nil, "SN",
			"2026-12-08 09:05", "2026-12-08 00:00", "2026-12-09 00:00",
			"12-08: 11:20/1 11:40/1"},
		{"the horizon", store.Calendar{Slot: 20 * time.Minute, Horizon: 2 * 24 * time.Hour},
			weekdays(h(8, 0), h(8, 20), 1), nil, "SN",
			"2026-12-07 12:00", "2026-12-07 00:00", "2026-12-31 00:00",
			"12-08: 08:00/1; 12-09: 08:00/1"},
		{"08:00 stays 08:00 when the clocks change", cal20, weekdays(h(8, 0), h(8, 20), 1), nil, "SN",
			"2026-10-22 07:00", "2026-10-23 00:00", "2026-10-27 00:00",
			"10-23: 08:00/1; 10-26: 08:00/1"},
		{"Easter: Good Friday and Easter Monday", cal20, weekdays(h(8, 0), h(8, 20), 1), nil, "SN",
			"2027-03-24 07:00", "2027-03-25 00:00", "2027-03-31 00:00",
			"03-25: 08:00/1; 03-30: 08:00/1"},
		{"rules valid for some days", cal20, []store.Rule{
			{Weekday: time.Tuesday, Starts: h(8, 0), Ends: h(8, 20), Capacity: 1, ValidUntil: date("2026-12-08")},
			{Weekday: time.Tuesday, Starts: h(9, 0), Ends: h(9, 20), Capacity: 1, ValidFrom: date("2026-12-15")},
		}, nil, "SN",
			"2026-12-07 07:00", "2026-12-07 00:00", "2026-12-16 00:00",
			"12-08: 08:00/1; 12-15: 09:00/1"},
		{"two rules at the same time add their places", cal20, []store.Rule{
			{Weekday: time.Tuesday, Starts: h(8, 0), Ends: h(8, 40), Capacity: 1},
			{Weekday: time.Tuesday, Starts: h(8, 20), Ends: h(9, 0), Capacity: 2},
		}, nil, "SN",
			"2026-12-07 07:00", "2026-12-08 00:00", "2026-12-09 00:00",
			"12-08: 08:00/1 08:20/3 08:40/2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := plan{cal: tt.cal, rules: tt.rules, closures: tt.closures, holidays: holidays(tt.state), loc: berlin, now: at(tt.now)}
			var got []string
			for _, d := range p.days(at(tt.from), at(tt.to)) {
				var slots []string
				for _, s := range d.Slots {
					if s.End.Sub(s.Start) != tt.cal.Slot {
						t.Errorf("slot %v ends at %v", s.Start, s.End)
					}
					slots = append(slots, fmt.Sprintf("%s/%d", s.Start.In(berlin).Format("15:04"), s.Capacity))
				}
				got = append(got, d.Date.Format("01-02")+": "+strings.Join(slots, " "))
			}
			if g := strings.Join(got, "; "); g != tt.want {
				t.Errorf("got  %s\nwant %s", g, tt.want)
			}
		})
	}
}

// TestDaysClockChange checks the instants: 08:00 in Berlin is 06:00 UTC
// in summer and 07:00 UTC in winter (the clocks went back on 25 October
// 2026).
func TestDaysClockChange(t *testing.T) {
	berlin, err := time.LoadLocation(Zone)
	if err != nil {
		t.Fatal(err)
	}
	rules := []store.Rule{{Weekday: time.Friday, Starts: 8 * time.Hour, Ends: 9 * time.Hour, Capacity: 1},
		{Weekday: time.Monday, Starts: 8 * time.Hour, Ends: 9 * time.Hour, Capacity: 1}}
	p := plan{cal: store.Calendar{Slot: time.Hour, Horizon: 30 * 24 * time.Hour}, rules: rules, holidays: holidays("SN"), loc: berlin,
		now: time.Date(2026, 10, 20, 0, 0, 0, 0, time.UTC)}
	days := p.days(time.Date(2026, 10, 23, 0, 0, 0, 0, time.UTC), time.Date(2026, 10, 27, 0, 0, 0, 0, time.UTC))
	if len(days) != 2 {
		t.Fatalf("days %v", days)
	}
	if got := days[0].Slots[0].Start.UTC().Format("15:04"); got != "06:00" {
		t.Errorf("Friday before the change: %s UTC", got)
	}
	if got := days[1].Slots[0].Start.UTC().Format("15:04"); got != "07:00" {
		t.Errorf("Monday after the change: %s UTC", got)
	}
}
