package portal

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/internal/booking"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/i18n"
	"github.com/gesundheitsamt/portal/internal/office"
	"github.com/gesundheitsamt/portal/internal/store"
)

// bookingPage is the data of templates/booking.html: the free slots of a
// calendar, a week at a time, as a list of days with a button per slot
// (no date picker: it works without JavaScript and reads well aloud).
// Moving a booking shows the same page with the booking above it.
type bookingPage struct {
	page
	Office    officeView
	Service   serviceView
	Calendars []calendarChoice // more than one serves the service: the choice, no slots yet
	Action    string           // where a slot's button posts
	Moving    *appointmentView
	week
	// Waitlist is the form to join the calendar's waiting list, shown
	// when no slot is free within its horizon; nil otherwise.
	Waitlist *waitlistForm
	Error    string
}

// week is the part of a booking page fillWeek makes: one calendar's free
// slots of a week, and the links around them.
type week struct {
	Calendar calendarView
	First    *slotView // the first free slot from today on
	Week     string    // "7. bis 13. Dezember 2026"
	Days     []dayView
	Prev     string // the week before, empty when it is in the past
	Next     string // the week after, empty beyond the horizon
}

// shows reports whether the week offers the slot of value (a start in
// Unix seconds) as free.
func (w week) shows(value string) bool {
	for _, d := range w.Days {
		for _, sl := range d.Slots {
			if sl.Value == value {
				return true
			}
		}
	}
	return false
}

type calendarChoice struct {
	Name, Kind, URL string
}

type calendarView struct {
	Slug, Name, Kind, Place string
}

type dayView struct {
	ID, Heading string
	Slots       []slotView
}

type slotView struct {
	Day, Time, Value string
	Free             int
}

// bookingAt resolves the office and service of a booking route: the
// office must offer the service and book it directly.
func (s *Server) bookingAt(c *fiber.Ctx) (*office.Entry, string, error) {
	snap, err := s.dir.Snapshot(c.UserContext())
	if err != nil {
		return nil, "", err
	}
	e, ok := snap.Office(c.Params("office"))
	slug := c.Params("service")
	if !ok || !e.Offers(slug) || !e.Books(slug) {
		return nil, "", fiber.ErrNotFound
	}
	return e, slug, nil
}

// showBooking answers GET /amt/:office/leistungen/:service/termin: the
// choice of calendar when several serve the service, else the free slots
// of one week (?ab=YYYY-MM-DD, its first day; ?kalender=slug). A rush
// loads this page most, so a page as it is for everyone (no other query)
// is kept up to bookingPageTTL and spliced with each visitor's CSRF
// token: the free places it shows may be that old, which costs a citizen
// at most a clear refusal of the hold; the places themselves are always
// the database's.
func (s *Server) showBooking(c *fiber.Ctx) error {
	e, slug, err := s.bookingAt(c)
	if err != nil {
		return err
	}
	if done, err := s.rushGate(c, e, slug); done || err != nil {
		return err
	}
	key, shared := s.bookingPageKey(c, e, slug)
	version := strconv.FormatInt(s.now().UnixNano()/int64(bookingPageTTL), 10)
	if shared {
		// One request builds the page of a new version; those asking for
		// it meanwhile wait for that one and answer with what it kept.
		// Without this, under load every request in flight when the
		// version turns (64 behind a proxy) builds the same page at once,
		// each second, and the slowest wait for all of them.
		// The request that builds it keeps its page, for when it is not
		// kept (the choice of calendars) or its build failed.
		var built *bookingPage
		var buildErr error
		if !s.splicedFresh(key, version) {
			_, _, _ = s.bookingBuilds.Do(key+"\x00"+version, func() (any, error) {
				if !s.splicedFresh(key, version) {
					p, err := s.keepBookingPage(c, e, slug, key, version)
					built, buildErr = &p, err
				}
				return nil, nil
			})
		}
		if buildErr != nil {
			return buildErr
		}
		if done, err := s.renderSpliced(c, nil, version, key, nil); done || err != nil {
			return err
		}
		if built != nil {
			return s.views.render(c, fiber.StatusOK, "booking", *built)
		}
	}
	// Not kept: a page with other query parameters, one not kept (see
	// keepBookingPage), or one another request failed to build (this one
	// tries again and shows its own error).
	p, err := s.bookingPage(c, e, slug, c.Query("kalender"), c.Query("ab"), "")
	if err != nil {
		return err
	}
	return s.views.render(c, fiber.StatusOK, "booking", p)
}

// keepBookingPage builds the booking page of the request, keeps it for
// everyone as the spliced page of key and version, and returns it (with
// the request's token). Kept only for a week of the calendar asked for
// (or of the only one): what a made-up slug shows is not kept, nor is the
// choice of calendars (it has no form).
func (s *Server) keepBookingPage(c *fiber.Ctx, e *office.Entry, slug, key, version string) (bookingPage, error) {
	p, err := s.bookingPage(c, e, slug, c.Query("kalender"), c.Query("ab"), "")
	if err != nil || p.CSRF == "" || (c.Query("kalender") != "" && c.Query("kalender") != p.Calendar.Slug) {
		return p, err
	}
	_, _, err = s.keepSpliced(nil, version, key, func() (string, any) {
		kept := p
		kept.CSRF = csrfPlaceholder
		return "booking", kept
	})
	return p, err
}

// keptWeeks are the weeks shown with refused holds, by calendar, first
// day and language (weekRefused).
type keptWeeks struct {
	mu    sync.Mutex
	weeks map[string]keptWeek
}

type keptWeek struct {
	version int64 // of bookingPageTTL
	week    week
}

// weekRefused fills p's week for a hold refused because the slot taken
// is full. A rush refuses most holds (several visitors for each place),
// and each refusal shows the week of its slot again: that week is kept
// for bookingPageTTL, as the page everyone gets is, so that refusals cost
// no queries of their own. A kept week that still offers the slot taken
// is older than what the refusal knows, and is made again by fill. The
// week's slices are shared by the requests that show it, which only read
// them. key names the calendar, the first day and the language; a slot
// taken lies within the calendar's horizon, which bounds the keys, and
// makeRoom bounds them again.
func (s *Server) weekRefused(c *fiber.Ctx, p *bookingPage, key, taken string, fill func() error) error {
	version := s.now().UnixNano() / int64(bookingPageTTL)
	k := &s.refusedWeeks
	k.mu.Lock()
	kept, ok := k.weeks[key]
	k.mu.Unlock()
	if ok && kept.version == version && !kept.week.shows(taken) {
		p.week = kept.week
		p.CSRF = s.csrf.token(c)
		return nil
	}
	if err := fill(); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.weeks == nil {
		k.weeks = map[string]keptWeek{}
	}
	makeRoom(k.weeks, key)
	k.weeks[key] = keptWeek{version: version, week: p.week}
	return nil
}

// bookingPageTTL is how long a booking week's page is kept for everyone.
const bookingPageTTL = time.Second

// bookingPageKey is the key of the booking page of the request in the
// spliced pages, and whether it may be kept: only the query kalender, ab
// and lang, with ab a date (or none) and kalender a slug.
func (s *Server) bookingPageKey(c *fiber.Ctx, e *office.Entry, service string) (string, bool) {
	shared := true
	c.Request().URI().QueryArgs().VisitAll(func(k, v []byte) {
		switch string(k) {
		case "lang", "kalender", "ab":
		default:
			shared = false
		}
	})
	cal, from := c.Query("kalender"), c.Query("ab")
	if len(cal) > 60 || strings.ContainsFunc(cal, func(r rune) bool { return (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' }) {
		shared = false
	}
	if _, err := time.Parse(time.DateOnly, from); from != "" && err != nil {
		shared = false
	}
	return "booking\x00" + e.Slug + "\x00" + service + "\x00" + cal + "\x00" + from + "\x00" + s.localizerFor(c).Lang().Code, shared
}

// holdSlot answers POST /amt/:office/leistungen/:service/termin: the
// chosen slot (kalender, beginn in Unix seconds) is held for the
// citizen, who goes on to give their contact details. A slot taken in
// the meantime, or no slot at all, shows the week again with the
// reason.
func (s *Server) holdSlot(c *fiber.Ctx) error {
	e, slug, err := s.bookingAt(c)
	if err != nil {
		return err
	}
	if done, err := s.rushGate(c, e, slug); done || err != nil {
		return err
	}
	cals, err := s.booking.Calendars(c.UserContext(), e.Office, slug)
	if err != nil {
		return err
	}
	cal, ok := calendarBySlug(cals, c.FormValue("kalender"))
	start, okStart := unixTime(c.FormValue("beginn"))
	if ok && okStart {
		h, err := s.booking.Hold(c.UserContext(), e.Office, cal.ID, slug, start)
		if err == nil {
			return c.Redirect("/buchung/"+h.Token, fiber.StatusSeeOther)
		}
		if k := fault.KindOf(err); k != fault.Conflict && k != fault.Invalid {
			return err
		}
		return s.slotRefused(c, e, slug, cal.Slug, start, err)
	}
	return s.slotRefused(c, e, slug, c.FormValue("kalender"), start, fault.New(fault.Invalid, "portal: hold", "booking.error.no_such_slot"))
}

// slotRefused shows the week of start again, with why the slot could not
// be had.
func (s *Server) slotRefused(c *fiber.Ctx, e *office.Entry, slug, calendar string, start time.Time, err error) error {
	from := ""
	if !start.IsZero() {
		from = start.In(s.loc).Format(time.DateOnly)
	}
	taken := ""
	if fault.KindOf(err) == fault.Conflict {
		taken = strconv.FormatInt(start.Unix(), 10)
	}
	p, perr := s.bookingPage(c, e, slug, calendar, from, taken)
	if perr != nil {
		return perr
	}
	p.Error = p.L.T(fault.MessageOf(err))
	p.Errors = []fieldError{{Field: "booking-error", Message: p.Error}}
	status := fiber.StatusUnprocessableEntity
	if fault.KindOf(err) == fault.Conflict {
		status = fiber.StatusConflict
	}
	return s.views.render(c, status, "booking", p)
}

// bookingPage builds the page of the week from (a date; empty or wrong:
// this week) of the calendar slug (empty or unknown with several
// calendars: the choice). taken, when not empty, is the slot (Unix
// seconds) a hold was just refused, because it is full: see weekRefused.
func (s *Server) bookingPage(c *fiber.Ctx, e *office.Entry, service, calendar, from, taken string) (bookingPage, error) {
	p := bookingPage{page: s.newPage(c, "booking.title"), Office: officeOf(e)}
	base := "/amt/" + e.Slug + "/leistungen/" + service
	p.Service = serviceOf(p.L, service, base)
	p.Title = p.L.Tf("booking.title_for", "Service", p.Service.Title)
	cals, err := s.booking.Calendars(c.UserContext(), e.Office, service)
	if err != nil {
		return p, err
	}
	cal, ok := calendarBySlug(cals, calendar)
	if !ok && len(cals) == 1 {
		cal, ok = cals[0], true
	}
	if !ok {
		for _, k := range cals {
			p.Calendars = append(p.Calendars, calendarChoice{Name: k.Name, Kind: p.L.T("booking.kind." + k.Kind), URL: base + "/termin?kalender=" + k.Slug})
		}
		return p, nil
	}
	p.Action = base + "/termin"
	weekURL := func(d time.Time) string {
		return base + "/termin?kalender=" + cal.Slug + "&ab=" + d.Format(time.DateOnly)
	}
	fill := func() error { return s.fillWeek(c, &p, e.Office, cal, from, weekURL) }
	if taken != "" {
		key := e.Slug + "\x00" + service + "\x00" + cal.Slug + "\x00" + from + "\x00" + p.L.Lang().Code
		err = s.weekRefused(c, &p, key, taken, fill)
	} else {
		err = fill()
	}
	if err != nil {
		return p, err
	}
	if p.First == nil {
		p.Waitlist = newWaitlistForm(base + "/termin/warteliste")
	}
	return p, nil
}

// fillWeek puts the calendar's week from (its first day; empty or wrong:
// this week) into p, with the first free slot and the links to the weeks
// beside it.
func (s *Server) fillWeek(c *fiber.Ctx, p *bookingPage, o store.Office, cal store.Calendar, from string, weekURL func(time.Time) string) error {
	now := s.now().In(s.loc)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, s.loc)
	first := today
	if d, err := time.ParseInLocation(time.DateOnly, from, s.loc); err == nil && d.After(today) && d.Before(today.Add(cal.Horizon)) {
		first = d
	}
	p.CSRF = s.csrf.token(c)
	p.Calendar = calendarView{Slug: cal.Slug, Name: cal.Name, Kind: p.L.T("booking.kind." + cal.Kind), Place: cal.Place}
	if cal.Kind == store.CalendarVideo {
		p.Calendar.Place = p.L.T("booking.kind.video")
	}
	end := first.AddDate(0, 0, 7)
	_, days, err := s.booking.Availability(c.UserContext(), o, cal.ID, first, end)
	if err != nil {
		return err
	}
	p.Week = p.L.Tf("booking.week", "From", dayName(p.L, first, false), "To", dayName(p.L, end.AddDate(0, 0, -1), false))
	for _, d := range days {
		v := dayView{ID: "tag-" + d.Date.Format(time.DateOnly), Heading: dayName(p.L, d.Date, true)}
		for _, sl := range d.Slots {
			if sl.Free > 0 {
				v.Slots = append(v.Slots, slotOf(p.L, sl, s.loc))
			}
		}
		if len(v.Slots) > 0 {
			p.Days = append(p.Days, v)
		}
	}
	// The first free slot from now on: in the week shown when it starts
	// today, which saves its queries on the page a rush loads most.
	if first.Equal(today) && len(p.Days) > 0 {
		v := p.Days[0].Slots[0]
		p.First = &v
	} else if sl, ok, err := s.booking.FirstFree(c.UserContext(), o, cal.ID, now); err != nil {
		return err
	} else if ok {
		v := slotOf(p.L, sl, s.loc)
		p.First = &v
	}
	if first.After(today) {
		p.Prev = weekURL(maxTime(today, first.AddDate(0, 0, -7)))
	}
	if end.Before(today.Add(cal.Horizon)) {
		p.Next = weekURL(end)
	}
	return nil
}

func slotOf(l *i18n.Localizer, sl booking.Slot, loc *time.Location) slotView {
	at := sl.Start.In(loc)
	return slotView{
		Day: dayName(l, at, true), Time: l.Tf("booking.clock", "Time", at.Format("15:04")),
		Value: strconv.FormatInt(sl.Start.Unix(), 10), Free: sl.Free,
	}
}

// dayName is a day as the page says it: "Dienstag, 8. Dezember 2026"
// (withWeekday), else "8. Dezember 2026". The names of months and
// weekdays are one message each, comma-separated.
func dayName(l *i18n.Localizer, d time.Time, withWeekday bool) string {
	month := nth(l.T("booking.months"), int(d.Month())-1)
	if !withWeekday {
		return l.Tf("booking.date", "Day", d.Day(), "Month", month, "Year", d.Year())
	}
	return l.Tf("booking.day", "Weekday", nth(l.T("booking.weekdays"), int(d.Weekday())), "Day", d.Day(), "Month", month, "Year", d.Year())
}

// nth is the i-th of the comma-separated names.
func nth(names string, i int) string {
	for n := range strings.SplitSeq(names, ",") {
		if i == 0 {
			return n
		}
		i--
	}
	return ""
}

func calendarBySlug(cals []store.Calendar, slug string) (store.Calendar, bool) {
	for _, c := range cals {
		if c.Slug == slug {
			return c, true
		}
	}
	return store.Calendar{}, false
}

// unixTime parses a slot's value: Unix seconds.
func unixTime(v string) (time.Time, bool) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 || n > 1<<40 {
		return time.Time{}, false
	}
	return time.Unix(n, 0), true
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
