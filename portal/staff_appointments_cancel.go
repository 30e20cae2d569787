package portal

import (
	"net/url"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/internal/booking"
	"github.com/gesundheitsamt/portal/internal/fault"
)

// cancelDayPage is the data of templates/staff_appointments_cancel.html:
// the appointments of a day (of a calendar, or all) that a cancellation
// of the day would cancel, and the form that does it.
type cancelDayPage struct {
	staffPage
	Day, DayText  string // the day as the form sends it, and as read
	Calendar      string // slug; "" every calendar
	CalendarName  string
	Appointments  []cancelDayRow
	Mailed        int // how many of them are booked: their citizens get the cancellation mail
	Reason, Error string
	MaxReason     int
	Back          string
}

type cancelDayRow struct {
	Time, Name, Calendar, State string
}

// showCancelDay answers GET /staff/termine/absagen?tag=&kalender=: what
// cancelling the day would cancel, and the button.
func (s *Server) showCancelDay(c *fiber.Ctx) error {
	return s.renderCancelDay(c, fiber.StatusOK, cleanText(c.Query("tag")), cleanText(c.Query("kalender")), "", "")
}

// cancelDay answers POST /staff/termine/absagen (tag, kalender, grund):
// every appointment of the day that has not begun is cancelled, with the
// cancellation mail to each booked one's citizen.
func (s *Server) cancelDay(c *fiber.Ctx) error {
	dayText, slug, reason := cleanText(c.FormValue("tag")), cleanText(c.FormValue("kalender")), cleanText(c.FormValue("grund"))
	day, ok := s.parseDay(dayText)
	if !ok || dayText == "" {
		return fiber.ErrNotFound
	}
	if _, _, err := s.appointmentCalendars(c, slug); err != nil {
		return err
	}
	n, err := s.booking.CancelDay(c.UserContext(), staffBookingAccess(c), slug, day, reason, c.FormValue("schliessen") == "ja")
	if fault.KindOf(err) == fault.Invalid {
		return s.renderCancelDay(c, fiber.StatusUnprocessableEntity, dayText, slug, reason, fault.MessageOf(err))
	}
	if err != nil {
		return err
	}
	v := url.Values{"tag": {day.Format(time.DateOnly)}, "abgesagt": {strconv.Itoa(n)}}
	if slug != "" {
		v.Set("kalender", slug)
	}
	return c.Redirect("/staff/termine?"+v.Encode(), fiber.StatusSeeOther)
}

func (s *Server) renderCancelDay(c *fiber.Ctx, status int, dayText, slug, reason, msgID string) error {
	sp, err := s.newStaffPage(c, "")
	if err != nil {
		return err
	}
	day, ok := s.parseDay(dayText)
	if !ok || dayText == "" {
		return fiber.ErrNotFound
	}
	_, cals, err := s.appointmentCalendars(c, slug)
	if err != nil {
		return err
	}
	p := cancelDayPage{staffPage: sp, Day: day.Format(time.DateOnly), DayText: dayName(sp.L, day, true), Calendar: slug,
		Reason: reason, MaxReason: booking.MaxCancelReason, Back: appointmentsURL("tag", day, slug)}
	p.Title = p.L.Tf("staff.appointments.cancel_day.title", "Date", p.DayText)
	names := map[int64]string{}
	for _, k := range cals {
		names[k.ID] = k.Name
		if k.Slug == slug {
			p.CalendarName = k.Name
		}
	}
	list, err := s.booking.ListAppointments(c.UserContext(), staffBookingAccess(c), booking.AppointmentFilter{Calendar: slug, FirstDay: day, LastDay: day})
	if err != nil {
		return err
	}
	for _, b := range list {
		if !s.booking.Cancellable(b) {
			continue
		}
		start := b.Start.In(s.loc)
		p.Appointments = append(p.Appointments, cancelDayRow{Time: start.Format("15:04") + "–" + b.End().In(s.loc).Format("15:04"),
			Name: b.Name, Calendar: names[b.Calendar.ID], State: appointmentState(p.L, b.State)})
		if b.State == "booked" && b.Email != "" { // a walk-in without an address is mailed nothing
			p.Mailed++
		}
	}
	if msgID != "" {
		p.Error = p.L.T(msgID)
		field := "cancel-day-reason"
		if len(p.Appointments) == 0 {
			field = "cancel-day-none" // nothing left to cancel: the form is gone
		}
		p.Errors = []fieldError{{Field: field, Message: p.Error}}
	}
	p.CSRF = s.csrf.token(c)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return s.views.render(c, status, "staff_appointments_cancel", p)
}
