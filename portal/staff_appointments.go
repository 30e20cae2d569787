package portal

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/internal/booking"
	"github.com/gesundheitsamt/portal/internal/i18n"
	"github.com/gesundheitsamt/portal/internal/store"
)

// staffBookingAccess is how the logged-in staff member works on the
// office's appointments: every role of the office may.
func staffBookingAccess(c *fiber.Ctx) booking.Access {
	st := staffOf(c)
	return booking.Access{OfficeID: st.OfficeID, Actor: st.Actor()}
}

// appointmentsPage is the data of templates/staff_appointments.html: the
// appointments of one day, by calendar and slot.
type appointmentsPage struct {
	staffPage
	Filter   appointmentsFilter
	Choices  []optionView // the calendars to choose from, "" all
	DayError string
	Prev     string
	Next     string
	Today    string // "" when the day is today
	Week     string
	Sections []calendarDay
	// CancelDay asks to cancel the day's appointments; "" for a day
	// that is over. Done says how many a cancellation of the day just
	// cancelled.
	CancelDay, Done string
}

// appointmentsFilter is what the day's and the week's forms send: the
// day as typed (in the field Key, tag or woche, whose input has ID and
// Label), the calendar's slug.
type appointmentsFilter struct {
	Key, ID, Label string
	Day            string
	Calendar       string
}

// calendarDay is one calendar's day: its slots, each with its
// appointments.
type calendarDay struct {
	ID      string // of the heading
	Name    string
	Kind    string
	Caption string
	Rows    []slotRow
}

type slotRow struct {
	Time         string // 08:00–08:20
	Outside      bool   // appointments at a time no rule makes a slot of (any longer)
	Appointments []appointmentRow
	Free         string // "2 frei"; "" outside the slots
	Held         string // places held by someone still booking; "" none
	WalkIn       string // books a walk-in into a free place; "" none free, or over
	WalkInLabel  string
}

type appointmentRow struct {
	URL        string
	Name       string
	Service    string
	State      string
	Attendance string // "" while not recorded
	Quiet      bool   // not booked: shown plainer
}

// showAppointments answers GET /staff/termine: the day view (?tag=,
// default today; ?kalender=, default every calendar of the office), or
// with ?woche= the week's overview.
func (s *Server) showAppointments(c *fiber.Ctx) error {
	if c.Query("woche") != "" {
		return s.showAppointmentsWeek(c)
	}
	sp, err := s.newStaffPage(c, "")
	if err != nil {
		return err
	}
	p := appointmentsPage{staffPage: sp, Filter: appointmentsFilter{Key: "tag", ID: "appointments-day", Label: sp.L.T("staff.appointments.filter.day"),
		Day: cleanText(c.Query("tag")), Calendar: cleanText(c.Query("kalender"))}}
	office, cals, err := s.appointmentCalendars(c, p.Filter.Calendar)
	if err != nil {
		return err
	}
	status := fiber.StatusOK
	day, ok := s.parseDay(p.Filter.Day)
	if !ok {
		p.DayError = p.L.T("staff.appointments.error_day")
		p.Errors = []fieldError{{Field: "appointments-day", Message: p.DayError}}
		status = fiber.StatusUnprocessableEntity
	}
	if p.DayError == "" || p.Filter.Day == "" {
		p.Filter.Day = day.Format(time.DateOnly)
	}
	p.Title = p.L.Tf("staff.appointments.title_day", "Date", dayName(p.L, day, true))
	p.Choices = calendarChoices(p.L, cals, p.Filter.Calendar)
	list, err := s.booking.ListAppointments(c.UserContext(), staffBookingAccess(c), booking.AppointmentFilter{
		Calendar: p.Filter.Calendar, FirstDay: day, LastDay: day, States: booking.ListStates,
	})
	if err != nil {
		return err
	}
	for _, cal := range cals {
		if p.Filter.Calendar != "" && cal.Slug != p.Filter.Calendar {
			continue
		}
		_, days, err := s.booking.Schedule(c.UserContext(), office, cal.ID, day, day.AddDate(0, 0, 1))
		if err != nil {
			return err
		}
		p.Sections = append(p.Sections, s.calendarDayOf(p.L, cal, day, days, list))
	}
	link := func(key string, d time.Time) string { return appointmentsURL(key, d, p.Filter.Calendar) }
	p.Prev, p.Next, p.Week = link("tag", day.AddDate(0, 0, -1)), link("tag", day.AddDate(0, 0, 1)), link("woche", day)
	if today := s.midnight(); !day.Equal(today) {
		p.Today = link("tag", today)
	}
	if !day.Before(s.midnight()) {
		p.CancelDay = "/staff/termine/absagen?" + strings.TrimPrefix(link("tag", day), "/staff/termine?")
	}
	if n, err := strconv.Atoi(c.Query("abgesagt")); err == nil && n >= 0 && n <= booking.MaxList {
		p.Done = p.L.Tf("staff.appointments.cancel_day.done", "N", n)
	}
	return s.views.render(c, status, "staff_appointments", p)
}

// calendarDayOf lays out calendar cal's day: its slots (days, from
// Schedule) with the appointments of list that are in cal, and a row of
// their own for appointments at a time that is no slot's.
func (s *Server) calendarDayOf(l *i18n.Localizer, cal store.Calendar, day time.Time, days []booking.Day, list []store.Booking) calendarDay {
	d := calendarDay{ID: "kalender-" + cal.Slug, Name: cal.Name, Kind: calendarKind(l, cal),
		Caption: l.Tf("staff.appointments.caption", "Calendar", cal.Name, "Date", dayName(l, day, true))}
	type row struct {
		start time.Time
		slot  *booking.Slot
		rows  []appointmentRow
		holds int // the appointments that hold a place of the slot
	}
	var rows []*row
	at := map[int64]*row{}
	for _, dd := range days {
		for i := range dd.Slots {
			r := &row{start: dd.Slots[i].Start, slot: &dd.Slots[i]}
			rows = append(rows, r)
			at[r.start.Unix()] = r
		}
	}
	for _, b := range list {
		if b.Calendar.ID != cal.ID {
			continue
		}
		r := at[b.Start.Unix()]
		if r == nil {
			r = &row{start: b.Start}
			rows = append(rows, r)
			at[r.start.Unix()] = r
		}
		if b.Holds {
			r.holds++
		}
		r.rows = append(r.rows, appointmentRow{
			URL: fmt.Sprintf("/staff/termine/%d", b.ID), Name: b.Name, Service: serviceOf(l, b.Service, "").Title,
			State: appointmentState(l, b.State), Attendance: attendanceText(l, b.Attendance), Quiet: b.State != store.BookingBooked,
		})
	}
	slices.SortStableFunc(rows, func(a, b *row) int { return a.start.Compare(b.start) })
	for _, r := range rows {
		v := slotRow{Time: r.start.In(s.loc).Format("15:04"), Appointments: r.rows}
		if r.slot == nil {
			v.Outside = true
		} else {
			v.Time += "–" + r.slot.End.In(s.loc).Format("15:04")
			v.Free = l.Tf("staff.appointments.free", "Count", r.slot.Free)
			// Taken places that are nobody's appointment yet: someone
			// chose the slot and is still typing their details.
			if held := r.slot.Capacity - r.slot.Free - r.holds; held > 0 {
				v.Held = l.Tf("staff.appointments.held", "Count", held)
			}
			if r.slot.Free > 0 && r.slot.End.After(s.now()) {
				v.WalkIn = "/staff/termine/neu?" + url.Values{"kalender": {cal.Slug}, "beginn": {strconv.FormatInt(r.start.Unix(), 10)}}.Encode()
				v.WalkInLabel = l.Tf("staff.appointments.walk_in.link_label", "Time", v.Time)
			}
		}
		d.Rows = append(d.Rows, v)
	}
	return d
}

// appointmentCalendars returns the staff member's office and its
// calendars; a slug that is none of them is 404.
func (s *Server) appointmentCalendars(c *fiber.Ctx, slug string) (store.Office, []store.Calendar, error) {
	snap, err := s.dir.Snapshot(c.UserContext())
	if err != nil {
		return store.Office{}, nil, err
	}
	e, ok := snap.OfficeByID(staffOf(c).OfficeID)
	if !ok {
		return store.Office{}, nil, fiber.ErrNotFound
	}
	cals, err := s.booking.OfficeCalendars(c.UserContext(), staffBookingAccess(c))
	if err != nil {
		return store.Office{}, nil, err
	}
	if slug != "" && !slices.ContainsFunc(cals, func(k store.Calendar) bool { return k.Slug == slug }) {
		return store.Office{}, nil, fiber.ErrNotFound
	}
	return e.Office, cals, nil
}

// calendarChoices are the options of the calendar filter, "" for all.
func calendarChoices(l *i18n.Localizer, cals []store.Calendar, chosen string) []optionView {
	out := []optionView{{Value: "", Label: l.T("staff.appointments.filter.all"), Checked: chosen == ""}}
	for _, k := range cals {
		out = append(out, optionView{Value: k.Slug, Label: k.Name, Checked: k.Slug == chosen})
	}
	return out
}

// appointmentsURL is the day view (key "tag") or the week (key "woche")
// of day, of the calendar slug ("" every calendar).
func appointmentsURL(key string, day time.Time, slug string) string {
	v := url.Values{key: {day.Format(time.DateOnly)}}
	if slug != "" {
		v.Set("kalender", slug)
	}
	return "/staff/termine?" + v.Encode()
}

// midnight is the start of today in the offices' time zone.
func (s *Server) midnight() time.Time {
	now := s.now().In(s.loc)
	return time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, s.loc)
}

// parseDay reads a day as a date input sends it (2026-12-08) or as it is
// typed where the browser has none (08.12.2026); "" is today. false: not
// a day (today is returned).
func (s *Server) parseDay(v string) (time.Time, bool) {
	if v == "" {
		return s.midnight(), true
	}
	for _, layout := range []string{time.DateOnly, "02.01.2006", "2.1.2006"} {
		if d, err := time.ParseInLocation(layout, strings.TrimSpace(v), s.loc); err == nil && d.Year() >= 2000 && d.Year() < 2200 {
			return d, true
		}
	}
	return s.midnight(), false
}

// appointmentState is an appointment's state as staff read it.
func appointmentState(l *i18n.Localizer, state string) string {
	switch state {
	case store.BookingUnconfirmed:
		return l.T("staff.appointments.state.unconfirmed")
	case store.BookingCancelled:
		return l.T("staff.appointments.state.cancelled")
	}
	return l.T("staff.appointments.state.booked")
}

// attendanceText is what was recorded of a booked appointment's
// citizen: "" nothing.
func attendanceText(l *i18n.Localizer, attendance string) string {
	switch attendance {
	case store.AttendanceCame:
		return l.T("staff.appointments.attendance.came")
	case store.AttendanceNoShow:
		return l.T("staff.appointments.attendance.no_show")
	}
	return ""
}

// calendarKind is a calendar's kind as the pages name it beside its
// name; "" when the name says it already ("Videosprechstunde").
func calendarKind(l *i18n.Localizer, cal store.Calendar) string {
	kind := l.T("booking.kind.onsite")
	if cal.Kind == store.CalendarVideo {
		kind = l.T("booking.kind.video")
	}
	if strings.Contains(strings.ToLower(cal.Name), strings.ToLower(kind)) {
		return ""
	}
	return kind
}
