package portal

import (
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/internal/booking"
	"github.com/gesundheitsamt/portal/internal/i18n"
	"github.com/gesundheitsamt/portal/internal/store"
)

// calendarsPage is the data of templates/staff_calendars.html: the
// office's calendars, each a link to its set-up.
type calendarsPage struct {
	staffPage
	Calendars []calendarLink
}

type calendarLink struct {
	Name, Kind, URL, Place string
}

// calendarPage is the data of templates/staff_calendar.html: one
// calendar's times, weekly slots and closures, each with its form.
type calendarPage struct {
	staffPage
	Calendar store.Calendar
	Kind     string
	Base     string // the page's path, the forms' actions below it
	Times    timesForm
	Days     []dayForm
	Dated    []string // rules with a validity range, as text: kept as they are
	Closures []closureView
	Closure  closureForm
	Holidays []holidayView
	Done     string
}

// timesForm is the form of the calendar's times, as shown or as typed.
type timesForm struct {
	Slot, Buffer, Notice, Horizon string
	Errors                        map[string]string // field → message
}

// dayForm is a weekday's ranges in the week form.
type dayForm struct {
	Name   string
	Ranges []rangeForm
}

// rangeForm is one time range of a weekday, as shown or as typed.
type rangeForm struct {
	ID, N               string // ID: "<weekday>-<n>", the inputs' ids and the error's field
	From, Until, Places string
	Error               string
}

type closureView struct {
	ID           int64
	Days, Reason string
	RemoveURL    string
	RemoveLabel  string
}

// closureForm is the form of a new closure, as typed.
type closureForm struct {
	First, Last, Reason string
	Errors              map[string]string
}

type holidayView struct {
	Date, Name string
}

// showCalendars answers GET /staff/verwaltung/kalender.
func (s *Server) showCalendars(c *fiber.Ctx) error {
	p := calendarsPage{}
	var err error
	if p.staffPage, err = s.newStaffPage(c, "staff.calendars.title"); err != nil {
		return err
	}
	cals, err := s.booking.OfficeCalendars(c.UserContext(), staffBookingAccess(c))
	if err != nil {
		return err
	}
	for _, k := range cals {
		p.Calendars = append(p.Calendars, calendarLink{Name: k.Name, Kind: p.L.T("booking.kind." + k.Kind), Place: k.Place, URL: "/staff/verwaltung/kalender/" + k.Slug})
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return s.views.render(c, fiber.StatusOK, "staff_calendars", p)
}

// showCalendar answers GET /staff/verwaltung/kalender/:slug.
func (s *Server) showCalendar(c *fiber.Ctx) error {
	p, err := s.calendarPage(c)
	if err != nil {
		return err
	}
	switch c.Query("erledigt") {
	case "woche":
		p.Done = p.L.T("staff.calendar.done_woche")
	case "zeiten":
		p.Done = p.L.T("staff.calendar.done_zeiten")
	case "schliessung":
		p.Done = p.L.T("staff.calendar.done_schliessung")
	case "geoeffnet":
		p.Done = p.L.T("staff.calendar.done_geoeffnet")
	}
	return s.views.render(c, fiber.StatusOK, "staff_calendar", p)
}

// calendarPage builds the page of the calendar in the path, its forms
// filled with what is stored.
func (s *Server) calendarPage(c *fiber.Ctx) (calendarPage, error) {
	p := calendarPage{}
	var err error
	if p.staffPage, err = s.newStaffPage(c, "staff.calendar.title"); err != nil {
		return p, err
	}
	snap, err := s.dir.Snapshot(c.UserContext())
	if err != nil {
		return p, err
	}
	e, ok := snap.OfficeByID(p.Staff.OfficeID)
	if !ok {
		return p, fiber.ErrNotFound
	}
	set, err := s.booking.Setup(c.UserContext(), e.Office, c.Params("slug"))
	if err != nil {
		return p, err
	}
	l := p.L
	p.Calendar, p.Kind = set.Calendar, l.T("booking.kind."+set.Calendar.Kind)
	p.Title = l.Tf("staff.calendar.title_of", "Name", set.Calendar.Name)
	p.Base = "/staff/verwaltung/kalender/" + set.Calendar.Slug
	p.Times = timesForm{
		Slot: strconv.Itoa(int(set.Calendar.Slot / time.Minute)), Buffer: strconv.Itoa(int(set.Calendar.Buffer / time.Minute)),
		Notice: strconv.Itoa(int(set.Calendar.Notice / time.Hour)), Horizon: strconv.Itoa(int(set.Calendar.Horizon / (24 * time.Hour))),
	}
	p.Days = weekForms(l, set.Week)
	for _, r := range set.Dated {
		p.Dated = append(p.Dated, l.Tf("staff.calendar.dated_rule", "Day", weekdayName(l, r.Weekday), "From", clockText(r.Starts), "Until", clockText(r.Ends),
			"Places", r.Capacity, "First", dateOrOpen(l, r.ValidFrom), "Last", dateOrOpen(l, r.ValidUntil)))
	}
	for _, k := range set.Closures {
		days := dateText(k.FirstDay)
		if !k.LastDay.Equal(k.FirstDay) {
			days = l.Tf("staff.calendar.closure_days", "First", days, "Last", dateText(k.LastDay))
		}
		p.Closures = append(p.Closures, closureView{ID: k.ID, Days: days, Reason: k.Reason,
			RemoveURL: p.Base + "/schliessung/" + strconv.FormatInt(k.ID, 10) + "/entfernen", RemoveLabel: l.Tf("staff.calendar.closure_remove", "Days", days)})
	}
	for _, h := range set.Holidays {
		p.Holidays = append(p.Holidays, holidayView{Date: dateText(h.Date), Name: h.Name})
	}
	p.CSRF = s.csrf.token(c)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return p, nil
}

// weekForms lays the weekly rules out as the week form shows them: per
// weekday its ranges by start, and one empty range more, at least two,
// at most booking.MaxRangesPerDay.
func weekForms(l *i18n.Localizer, rules []store.Rule) []dayForm {
	var days []dayForm
	for _, wd := range isoWeek {
		d := dayForm{Name: weekdayName(l, wd)}
		for _, r := range rules {
			if r.Weekday == wd && len(d.Ranges) < booking.MaxRangesPerDay {
				d.Ranges = append(d.Ranges, rangeForm{From: clockText(r.Starts), Until: clockText(r.Ends), Places: strconv.Itoa(r.Capacity)})
			}
		}
		for len(d.Ranges) < min(booking.MaxRangesPerDay, max(2, len(d.Ranges)+1)) {
			d.Ranges = append(d.Ranges, rangeForm{})
		}
		for i := range d.Ranges {
			d.Ranges[i].ID, d.Ranges[i].N = booking.RuleName(wd, i+1), strconv.Itoa(i+1)
		}
		days = append(days, d)
	}
	return days
}

var isoWeek = []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday, time.Sunday}

// setWeek answers POST /staff/verwaltung/kalender/:slug/woche: the
// weekly ranges, von-<id>, bis-<id>, plaetze-<id> for each range id
// "<weekday>-<n>"; a range left empty is none.
func (s *Server) setWeek(c *fiber.Ctx) error {
	p, err := s.calendarPage(c)
	if err != nil {
		return err
	}
	var (
		week  []store.Rule
		names []string
	)
	for di, wd := range isoWeek {
		var typed []rangeForm
		for n := 1; n <= booking.MaxRangesPerDay; n++ {
			id := booking.RuleName(wd, n)
			r := rangeForm{ID: id, N: strconv.Itoa(n), From: cleanText(c.FormValue("von-" + id)), Until: cleanText(c.FormValue("bis-" + id)), Places: cleanText(c.FormValue("plaetze-" + id))}
			if n > 2 && r.From == "" && r.Until == "" && r.Places == "" && n > len(p.Days[di].Ranges) {
				continue
			}
			typed = append(typed, r)
			if r.From == "" && r.Until == "" && r.Places == "" {
				continue
			}
			places, err := strconv.Atoi(strings.TrimSpace(r.Places))
			if err != nil {
				places = 0
			}
			week = append(week, store.Rule{Weekday: wd, Starts: parseClock(r.From), Ends: parseClock(r.Until), Capacity: places})
			names = append(names, id)
		}
		p.Days[di].Ranges = typed
	}
	err = s.booking.SetWeek(c.UserContext(), staffBookingAccess(c), p.Calendar.ID, week, names)
	if err == nil {
		return c.Redirect(p.Base+"?erledigt=woche#woche", fiber.StatusSeeOther)
	}
	bad, ok := booking.AsFieldsError(err)
	if !ok {
		return err
	}
	for di := range p.Days {
		for ri, r := range p.Days[di].Ranges {
			if id, ok := bad.Fields[r.ID]; ok {
				msg := p.L.T(id)
				p.Days[di].Ranges[ri].Error = msg
				p.Errors = append(p.Errors, fieldError{Field: "von-" + r.ID, Message: p.Days[di].Name + ", " + p.L.Tf("staff.calendar.range", "N", r.N) + ": " + msg})
			}
		}
	}
	return s.views.render(c, fiber.StatusUnprocessableEntity, "staff_calendar", p)
}

// setTimes answers POST /staff/verwaltung/kalender/:slug/zeiten:
// dauer (minutes), puffer (minutes), vorlauf (hours), horizont (days).
func (s *Server) setTimes(c *fiber.Ctx) error {
	p, err := s.calendarPage(c)
	if err != nil {
		return err
	}
	p.Times = timesForm{Slot: cleanText(c.FormValue("dauer")), Buffer: cleanText(c.FormValue("puffer")),
		Notice: cleanText(c.FormValue("vorlauf")), Horizon: cleanText(c.FormValue("horizont"))}
	number := func(v string) int {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return -1
		}
		return n
	}
	err = s.booking.SetTimes(c.UserContext(), staffBookingAccess(c), p.Calendar.ID,
		time.Duration(number(p.Times.Slot))*time.Minute, time.Duration(number(p.Times.Buffer))*time.Minute,
		time.Duration(number(p.Times.Notice))*time.Hour, number(p.Times.Horizon))
	if err == nil {
		return c.Redirect(p.Base+"?erledigt=zeiten#zeiten", fiber.StatusSeeOther)
	}
	bad, ok := booking.AsFieldsError(err)
	if !ok {
		return err
	}
	p.Times.Errors = p.setupErrors(bad, "zeiten-", [][2]string{{"slot", "dauer"}, {"buffer", "puffer"}, {"notice", "vorlauf"}, {"horizon", "horizont"}})
	return s.views.render(c, fiber.StatusUnprocessableEntity, "staff_calendar", p)
}

// addClosure answers POST /staff/verwaltung/kalender/:slug/schliessung:
// von and bis (dates), grund.
func (s *Server) addClosure(c *fiber.Ctx) error {
	p, err := s.calendarPage(c)
	if err != nil {
		return err
	}
	p.Closure = closureForm{First: cleanText(c.FormValue("von")), Last: cleanText(c.FormValue("bis")), Reason: cleanText(c.FormValue("grund"))}
	first, _ := time.Parse(time.DateOnly, strings.TrimSpace(p.Closure.First))
	last := first
	if p.Closure.Last != "" {
		last, _ = time.Parse(time.DateOnly, strings.TrimSpace(p.Closure.Last))
	}
	err = s.booking.AddClosure(c.UserContext(), staffBookingAccess(c), p.Calendar.ID, first, last, p.Closure.Reason)
	if err == nil {
		return c.Redirect(p.Base+"?erledigt=schliessung#schliessungen", fiber.StatusSeeOther)
	}
	bad, ok := booking.AsFieldsError(err)
	if !ok {
		return err
	}
	p.Closure.Errors = p.setupErrors(bad, "schliessung-", [][2]string{{"first", "von"}, {"last", "bis"}, {"reason", "grund"}})
	return s.views.render(c, fiber.StatusUnprocessableEntity, "staff_calendar", p)
}

// setupErrors are the messages of bad's fields by the form's names
// (fields: the service's field name, the form's), each also in the
// page's error summary, linked to the input with id prefix+name.
func (p *calendarPage) setupErrors(bad *booking.FieldsError, prefix string, fields [][2]string) map[string]string {
	out := map[string]string{}
	for _, f := range fields {
		if id, ok := bad.Fields[f[0]]; ok {
			out[f[1]] = p.L.T(id)
			p.Errors = append(p.Errors, fieldError{Field: prefix + f[1], Message: out[f[1]]})
		}
	}
	return out
}

// removeClosure answers POST /staff/verwaltung/kalender/:slug/schliessung/:id/entfernen.
func (s *Server) removeClosure(c *fiber.Ctx) error {
	p, err := s.calendarPage(c)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil {
		return fiber.ErrNotFound
	}
	if err := s.booking.RemoveClosure(c.UserContext(), staffBookingAccess(c), p.Calendar.ID, id); err != nil {
		return err
	}
	return c.Redirect(p.Base+"?erledigt=geoeffnet#schliessungen", fiber.StatusSeeOther)
}

// parseClock reads "HH:MM" as an offset from midnight; -1 when it is not
// one (booking.SetWeek refuses it).
func parseClock(v string) time.Duration {
	t, err := time.Parse("15:04", strings.TrimSpace(v))
	if err != nil {
		return -1
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute
}

// clockText writes an offset from midnight as "HH:MM".
func clockText(d time.Duration) string {
	return time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Add(d).Format("15:04")
}

// dateText writes a date as the staff pages' date fields do, YYYY-MM-DD.
func dateText(d time.Time) string { return d.Format(time.DateOnly) }

// dateOrOpen is a validity's date, or "open" for none.
func dateOrOpen(l *i18n.Localizer, d time.Time) string {
	if d.IsZero() {
		return l.T("staff.calendar.open")
	}
	return dateText(d)
}

func weekdayName(l *i18n.Localizer, wd time.Weekday) string {
	return l.T("staff.calendar.weekday." + strconv.Itoa(int(wd)))
}

// calendarField is a field of the calendar page's times or closure
// forms, as the "calendar-number" and "calendar-date" templates show it.
type calendarField struct {
	Name, Value, Label, Hint, Error, Prefix string
}

// calendarNumberOf builds the times form's number field name of p with
// its label and hint message ids, what it holds and its error.
func calendarNumberOf(p calendarPage, name, value, label, hint string, errs map[string]string) calendarField {
	return calendarField{Name: name, Value: value, Label: p.L.T(label), Hint: p.L.T(hint), Error: errs[name], Prefix: p.L.T("form.error_prefix")}
}

// calendarDateOf builds the closure form's date field name of p.
func calendarDateOf(p calendarPage, name, value, label string, errs map[string]string) calendarField {
	return calendarField{Name: name, Value: value, Label: p.L.T(label), Error: errs[name], Prefix: p.L.T("form.error_prefix")}
}
