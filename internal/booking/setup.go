package booking

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/gesundheitsamt/portal/internal/audit"
	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/store"
)

// The office admin's set-up of a calendar: its weekly slots, its times
// and its closures. Who may change them (the office's admin) is the
// HTTP layer's to check; every change is audited here. Bookings made
// before a change keep their time: a rule taken away frees no booked
// place, it only offers no new ones.

// Message ids of a refused change of a calendar's set-up.
const (
	MsgRuleTime       = "booking.setup.error.rule_time"      // a range without both times, or that ends before it starts
	MsgRuleShort      = "booking.setup.error.rule_short"     // a range shorter than one slot
	MsgRuleCapacity   = "booking.setup.error.rule_capacity"  // places not 1 to 50
	MsgRuleOverlap    = "booking.setup.error.rule_overlap"   // two ranges of a day that overlap
	MsgSlotMinutes    = "booking.setup.error.slot_minutes"   // not 5 to 240
	MsgBufferMinutes  = "booking.setup.error.buffer_minutes" // not 0 to 120
	MsgNoticeHours    = "booking.setup.error.notice_hours"   // not 0 to 720
	MsgHorizonDays    = "booking.setup.error.horizon_days"   // not 1 to 366
	MsgClosureDays    = "booking.setup.error.closure_days"   // no day, the last before the first, or more than a year
	MsgClosurePast    = "booking.setup.error.closure_past"   // over before today
	MsgClosureReason  = "booking.setup.error.closure_reason" // too long, or control characters
	MaxClosureReason  = 200                                  // characters of a closure's reason
	MaxRangesPerDay   = 4                                    // time ranges of one weekday
	maxClosureDays    = 366
	maxNoticeMinutes  = 30 * 24 * 60
	maxCapacityOfRule = 50
)

// Setup is a calendar with what its slots are made of, as its admin
// sees it.
type Setup struct {
	Calendar store.Calendar
	// Week are the weekly rules without a validity range: what the week
	// form edits. Dated are those with one (from the demo data or an
	// import), shown and kept as they are.
	Week, Dated []store.Rule
	Closures    []store.Closure // those that end today or later
	Holidays    []Holiday       // the public holidays of the office's Land within the horizon
}

// Holiday is a public holiday: its date (midnight UTC) and name.
type Holiday struct {
	Date time.Time
	Name string
}

// Setup returns the set-up of the office's calendar slug. Errors:
// NotFound.
func (s *Service) Setup(ctx context.Context, office store.Office, slug string) (Setup, error) {
	const op = "booking: calendar set-up"
	c, err := store.GetCalendarBySlug(ctx, s.db, office.ID, slug)
	if err != nil {
		return Setup{}, fmt.Errorf("%s: %w", op, err)
	}
	rules, err := store.ListCalendarRules(ctx, s.db, office.ID, c.ID)
	if err != nil {
		return Setup{}, fmt.Errorf("%s: %w", op, err)
	}
	out := Setup{Calendar: c}
	for _, r := range rules {
		if r.ValidFrom.IsZero() && r.ValidUntil.IsZero() {
			out.Week = append(out.Week, r)
		} else {
			out.Dated = append(out.Dated, r)
		}
	}
	today := midnight(s.now().In(s.loc))
	last := today.Add(c.Horizon)
	if out.Closures, err = store.ListClosures(ctx, s.db, office.ID, c.ID, dateOf(today), dateOf(last)); err != nil {
		return Setup{}, fmt.Errorf("%s: %w", op, err)
	}
	h := s.holidays[office.State]
	if h == nil {
		h = s.holidays[""]
	}
	for day := today; !day.After(last); day = day.AddDate(0, 0, 1) {
		if actual, _, hol := h.IsHoliday(dateOf(day)); actual && hol != nil {
			out.Holidays = append(out.Holidays, Holiday{Date: dateOf(day), Name: hol.Name})
		}
	}
	return out, nil
}

// SetWeek replaces the weekly rules of a's office's calendar calendarID
// without a validity range by week (the dated ones stay). Each rule is
// checked: both times (negative: missing or not a time), the end after the start, at least one slot long,
// 1 to 50 places, no overlap with another range of its day; a rule's
// field is "<weekday>-<n>", weekday 1 (Monday) to 7, n its place among
// the day's ranges from 1, as the caller passes them in names. Errors:
// NotFound; Invalid (*FieldsError).
func (s *Service) SetWeek(ctx context.Context, a Access, calendarID int64, week []store.Rule, names []string) error {
	const op = "booking: set week"
	return s.db.InTx(ctx, func(tx pgx.Tx) error {
		c, err := store.GetCalendar(ctx, tx, a.OfficeID, calendarID)
		if err != nil {
			return err
		}
		bad := map[string]string{}
		for i, r := range week {
			switch {
			case r.Starts < 0 || r.Ends < 0 || r.Ends <= r.Starts || r.Ends > 24*time.Hour: // negative: missing or not a time
				bad[names[i]] = MsgRuleTime
			case r.Ends-r.Starts < c.Slot:
				bad[names[i]] = MsgRuleShort
			case r.Capacity < 1 || r.Capacity > maxCapacityOfRule:
				bad[names[i]] = MsgRuleCapacity
			}
			for j := range i {
				o := week[j]
				if o.Weekday == r.Weekday && o.Starts < r.Ends && r.Starts < o.Ends && bad[names[i]] == "" && bad[names[j]] == "" {
					bad[names[i]] = MsgRuleOverlap
				}
			}
		}
		if len(bad) > 0 {
			return fault.Wrap(fault.Invalid, op, &FieldsError{Fields: bad})
		}
		rules, err := store.ListCalendarRules(ctx, tx, a.OfficeID, c.ID)
		if err != nil {
			return err
		}
		kept := slices.DeleteFunc(rules, func(r store.Rule) bool { return r.ValidFrom.IsZero() && r.ValidUntil.IsZero() })
		if err := store.ReplaceCalendarRules(ctx, tx, a.OfficeID, c.ID, append(kept, week...)); err != nil {
			return err
		}
		return s.auditCalendar(ctx, tx, a, domain.CalendarWeek, c.ID)
	})
}

// SetTimes sets the slot length, the buffer between slots, the notice
// and the horizon of a's office's calendar calendarID; fields "slot",
// "buffer", "notice", "horizon". Errors: NotFound; Invalid (*FieldsError).
func (s *Service) SetTimes(ctx context.Context, a Access, calendarID int64, slot, buffer, notice time.Duration, horizonDays int) error {
	const op = "booking: set times"
	bad := map[string]string{}
	if slot < 5*time.Minute || slot > 240*time.Minute || slot%time.Minute != 0 {
		bad["slot"] = MsgSlotMinutes
	}
	if buffer < 0 || buffer > 120*time.Minute || buffer%time.Minute != 0 {
		bad["buffer"] = MsgBufferMinutes
	}
	if notice < 0 || notice > maxNoticeMinutes*time.Minute {
		bad["notice"] = MsgNoticeHours
	}
	if horizonDays < 1 || horizonDays > 366 {
		bad["horizon"] = MsgHorizonDays
	}
	if len(bad) > 0 {
		return fault.Wrap(fault.Invalid, op, &FieldsError{Fields: bad})
	}
	return s.db.InTx(ctx, func(tx pgx.Tx) error {
		c, err := store.GetCalendar(ctx, tx, a.OfficeID, calendarID)
		if err != nil {
			return err
		}
		c.Slot, c.Buffer, c.Notice, c.Horizon = slot, buffer, notice, time.Duration(horizonDays)*24*time.Hour
		if _, err := store.UpsertCalendar(ctx, tx, c); err != nil {
			return err
		}
		return s.auditCalendar(ctx, tx, a, domain.CalendarTimes, c.ID)
	})
}

// AddClosure closes a's office's calendar calendarID from first to last
// (dates, inclusive, at most a year, not over before today) for reason;
// fields "first", "last", "reason". Bookings on those days stay: the
// office tells their citizens itself (or cancels them). Errors:
// NotFound; Invalid (*FieldsError).
func (s *Service) AddClosure(ctx context.Context, a Access, calendarID int64, first, last time.Time, reason string) error {
	const op = "booking: add closure"
	reason = strings.Join(strings.Fields(reason), " ")
	bad := map[string]string{}
	today := dateOf(s.now().In(s.loc))
	switch {
	case first.IsZero():
		bad["first"] = MsgClosureDays
	case last.IsZero() || last.Before(first) || last.Sub(first) > maxClosureDays*24*time.Hour:
		bad["last"] = MsgClosureDays
	case last.Before(today):
		bad["last"] = MsgClosurePast
	}
	if utf8.RuneCountInString(reason) > MaxClosureReason || strings.ContainsFunc(reason, func(r rune) bool { return !unicode.IsPrint(r) }) {
		bad["reason"] = MsgClosureReason
	}
	if len(bad) > 0 {
		return fault.Wrap(fault.Invalid, op, &FieldsError{Fields: bad})
	}
	return s.db.InTx(ctx, func(tx pgx.Tx) error {
		if err := store.AddClosure(ctx, tx, a.OfficeID, calendarID, store.Closure{FirstDay: first, LastDay: last, Reason: reason}); err != nil {
			return err
		}
		return s.auditCalendar(ctx, tx, a, domain.CalendarClosureAdd, calendarID)
	})
}

// RemoveClosure opens a's office's calendar calendarID again on the days
// of its closure id. Errors: NotFound.
func (s *Service) RemoveClosure(ctx context.Context, a Access, calendarID, id int64) error {
	return s.db.InTx(ctx, func(tx pgx.Tx) error {
		if err := store.DeleteClosure(ctx, tx, a.OfficeID, calendarID, id); err != nil {
			return err
		}
		return s.auditCalendar(ctx, tx, a, domain.CalendarClosureRemove, calendarID)
	})
}

func (s *Service) auditCalendar(ctx context.Context, tx pgx.Tx, a Access, action domain.Action, id int64) error {
	return audit.Append(ctx, tx, audit.Entry{OfficeID: a.OfficeID, Actor: a.Actor, Action: action, Object: domain.CalendarObject(id)})
}

// RuleName is the field name of the nth range (from 1) of weekday in
// SetWeek's errors.
func RuleName(weekday time.Weekday, n int) string {
	return strconv.Itoa(isoDay(weekday)) + "-" + strconv.Itoa(n)
}

// isoDay is weekday as 1 (Monday) to 7 (Sunday).
func isoDay(d time.Weekday) int {
	if d == time.Sunday {
		return 7
	}
	return int(d)
}
