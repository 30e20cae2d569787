package portal

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/mail"
	"github.com/gesundheitsamt/portal/internal/store"
)

// appointmentPage is the data of templates/appointment.html: a booking
// reached through its mail's link. Every link of the mails shows this
// page on GET; only its buttons (POST) confirm, cancel or move, so a
// mail scanner that opens links changes nothing.
type appointmentPage struct {
	page
	Office      officeView
	Service     serviceView
	Appointment appointmentView
	Unconfirmed bool // the confirm button
	Booked      bool
	Cancelled   bool
	Lapsed      bool // unconfirmed too long: the place went back
	Past        bool // booked, and over
	AskCancel   bool // the cancel page: the question and its button
	Done        string
	Bring       string
	Until       string
	Action      string // confirm
	ShowURL     string // this page, without the question
	CancelURL   string
	MoveURL     string
	CalendarURL string
	JoinURL     string // a booked video appointment: its consultation's patient link
	Again       string // book again
	Error       string
}

// showAppointment answers GET /termin/:token.
func (s *Server) showAppointment(c *fiber.Ctx) error {
	b, err := s.booking.OpenLink(c.UserContext(), c.Params("token"))
	if err != nil {
		return err
	}
	p, err := s.appointmentPage(c, b)
	if err != nil {
		return err
	}
	// The notice of what was just done, only while the booking is as that
	// left it: an old link with ?erledigt=bestaetigt to a booking
	// cancelled since says nothing of a confirmation.
	switch done := c.Query("erledigt"); {
	case done == "bestaetigt" && p.Booked:
		p.Done = p.L.T("booking.appointment.done_confirmed")
	case done == "abgesagt" && p.Cancelled:
		p.Done = p.L.T("booking.appointment.done_cancelled")
	case done == "verschoben" && p.Booked:
		p.Done = p.L.T("booking.appointment.done_moved")
	}
	return s.views.render(c, fiber.StatusOK, "appointment", p)
}

// confirmAppointment answers POST /termin/:token: the double opt-in's
// second step.
func (s *Server) confirmAppointment(c *fiber.Ctx) error {
	_, err := s.booking.Confirm(c.UserContext(), c.Params("token"))
	if err == nil {
		return c.Redirect("/termin/"+c.Params("token")+"?erledigt=bestaetigt", fiber.StatusSeeOther)
	}
	return s.appointmentRefused(c, err)
}

// showCancel answers GET /termin/:token/absagen: the question, and the
// button that cancels.
func (s *Server) showCancel(c *fiber.Ctx) error {
	b, err := s.booking.OpenLink(c.UserContext(), c.Params("token"))
	if err != nil {
		return err
	}
	p, err := s.appointmentPage(c, b)
	if err != nil {
		return err
	}
	p.AskCancel = (p.Booked && !p.Past) || p.Unconfirmed
	if p.AskCancel {
		p.Title = p.L.T("booking.cancel.title")
		p.CSRF = s.csrf.token(c)
	}
	return s.views.render(c, fiber.StatusOK, "appointment", p)
}

// cancelAppointment answers POST /termin/:token/absagen.
func (s *Server) cancelAppointment(c *fiber.Ctx) error {
	_, err := s.booking.Cancel(c.UserContext(), c.Params("token"))
	if err == nil {
		return c.Redirect("/termin/"+c.Params("token")+"?erledigt=abgesagt", fiber.StatusSeeOther)
	}
	return s.appointmentRefused(c, err)
}

// appointmentRefused shows the booking with why the change could not be
// made.
func (s *Server) appointmentRefused(c *fiber.Ctx, err error) error {
	if fault.KindOf(err) != fault.Conflict {
		return err
	}
	b, oerr := s.booking.OpenLink(c.UserContext(), c.Params("token"))
	if oerr != nil {
		return oerr
	}
	p, perr := s.appointmentPage(c, b)
	if perr != nil {
		return perr
	}
	p.Error = p.L.T(fault.MessageOf(err))
	p.Errors = []fieldError{{Field: "appointment-state", Message: p.Error}}
	return s.views.render(c, fiber.StatusConflict, "appointment", p)
}

// showMove answers GET /termin/:token/verschieben: the free slots of a
// week of a calendar that serves the booking's service (?kalender=,
// ?ab=), each a button that moves the booking there.
func (s *Server) showMove(c *fiber.Ctx) error {
	b, err := s.booking.OpenLink(c.UserContext(), c.Params("token"))
	if err != nil {
		return err
	}
	p, err := s.movePage(c, b, c.Query("kalender"), c.Query("ab"))
	if err != nil {
		return err
	}
	return s.views.render(c, fiber.StatusOK, "booking", p)
}

// moveAppointment answers POST /termin/:token/verschieben (kalender,
// beginn): the new slot is taken before the old one is freed.
func (s *Server) moveAppointment(c *fiber.Ctx) error {
	b, err := s.booking.OpenLink(c.UserContext(), c.Params("token"))
	if err != nil {
		return err
	}
	snap, err := s.dir.Snapshot(c.UserContext())
	if err != nil {
		return err
	}
	e, ok := snap.OfficeByID(b.OfficeID)
	if !ok {
		return fiber.ErrNotFound
	}
	cals, err := s.booking.Calendars(c.UserContext(), e.Office, b.Service)
	if err != nil {
		return err
	}
	cal, okCal := calendarBySlug(cals, c.FormValue("kalender"))
	start, okStart := unixTime(c.FormValue("beginn"))
	err = fault.New(fault.Invalid, "portal: move", "booking.error.no_such_slot")
	if okCal && okStart {
		if _, err = s.booking.Move(c.UserContext(), c.Params("token"), cal.ID, start); err == nil {
			return c.Redirect("/termin/"+c.Params("token")+"?erledigt=verschoben", fiber.StatusSeeOther)
		}
		if k := fault.KindOf(err); k != fault.Conflict && k != fault.Invalid {
			return err
		}
	}
	from := ""
	if okStart {
		from = start.In(s.loc).Format(time.DateOnly)
	}
	p, perr := s.movePage(c, b, c.FormValue("kalender"), from)
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

// appointmentICS answers GET /termin/:token/termin.ics: the booked
// appointment as a calendar file, the same the mails carry.
func (s *Server) appointmentICS(c *fiber.Ctx) error {
	b, err := s.booking.OpenLink(c.UserContext(), c.Params("token"))
	if err != nil {
		return err
	}
	if b.State != store.BookingBooked {
		return fiber.ErrNotFound
	}
	snap, err := s.dir.Snapshot(c.UserContext())
	if err != nil {
		return err
	}
	e, ok := snap.OfficeByID(b.OfficeID)
	if !ok {
		return fiber.ErrNotFound
	}
	join, err := s.booking.Join(c.UserContext(), b)
	if err != nil {
		return err
	}
	body, err := mail.BookingICS(b, e.Office, s.localizerFor(c), s.cfg.BaseURL, s.cfg.MailFrom, c.Params("token"), join, s.now().UTC().Truncate(time.Second))
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "text/calendar; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="termin.ics"`)
	return c.Send(body)
}

// movePage is the booking page for moving the booking of the mail's
// token: the booking above, the weeks of its service's calendars below.
func (s *Server) movePage(c *fiber.Ctx, b store.Booking, calendar, from string) (bookingPage, error) {
	snap, err := s.dir.Snapshot(c.UserContext())
	if err != nil {
		return bookingPage{}, err
	}
	e, ok := snap.OfficeByID(b.OfficeID)
	if !ok {
		return bookingPage{}, fiber.ErrNotFound
	}
	p := bookingPage{page: s.newPage(c, "booking.move.title"), Office: officeOf(e)}
	p.Service = serviceOf(p.L, b.Service, "/amt/"+e.Slug+"/leistungen/"+b.Service)
	v := s.appointmentOf(p.L, b)
	p.Moving = &v
	if b.State != store.BookingBooked || !b.Start.After(s.now()) {
		p.Error = p.L.T("booking.error.not_movable")
		return p, nil
	}
	cals, err := s.booking.Calendars(c.UserContext(), e.Office, b.Service)
	if err != nil {
		return p, err
	}
	cal, ok := calendarBySlug(cals, calendar)
	if !ok {
		cal, ok = calendarBySlug(cals, b.Calendar.Slug)
	}
	if !ok {
		return p, fiber.ErrNotFound
	}
	base := "/termin/" + c.Params("token") + "/verschieben"
	for _, k := range cals {
		if len(cals) > 1 {
			p.Calendars = append(p.Calendars, calendarChoice{Name: k.Name, Kind: p.L.T("booking.kind." + k.Kind), URL: base + "?kalender=" + k.Slug})
		}
	}
	p.Action = base
	return p, s.fillWeek(c, &p, e.Office, cal, from, func(d time.Time) string {
		return base + "?kalender=" + cal.Slug + "&ab=" + d.Format(time.DateOnly)
	})
}

func (s *Server) appointmentPage(c *fiber.Ctx, b store.Booking) (appointmentPage, error) {
	p := appointmentPage{page: s.newPage(c, "booking.appointment.title")}
	snap, err := s.dir.Snapshot(c.UserContext())
	if err != nil {
		return p, err
	}
	e, ok := snap.OfficeByID(b.OfficeID)
	if !ok {
		return p, fiber.ErrNotFound
	}
	p.Office = officeOf(e)
	p.Service = serviceOf(p.L, b.Service, "/amt/"+e.Slug+"/leistungen/"+b.Service)
	p.Appointment = s.appointmentOf(p.L, b)
	p.Again = s.againURL(c, b)
	base := "/termin/" + c.Params("token")
	p.ShowURL = base
	switch {
	case b.State == store.BookingUnconfirmed && b.Holds:
		p.Unconfirmed, p.Until = true, b.Expires.In(s.loc).Format("15:04")
		p.Title = p.L.T("booking.appointment.confirm_title")
		p.Action, p.CancelURL = base, base+"/absagen"
		p.CSRF = s.csrf.token(c)
	case b.State == store.BookingBooked:
		p.Booked = true
		p.Title = p.L.T("booking.appointment.booked_title")
		p.Past = !b.Start.After(s.now())
		if !p.Past {
			p.CancelURL, p.MoveURL, p.CalendarURL = base+"/absagen", base+"/verschieben", base+"/termin.ics"
			join, err := s.booking.Join(c.UserContext(), b)
			if err != nil {
				return p, err
			}
			if join != "" {
				p.JoinURL = "/video/" + join
			}
		}
	case b.State == store.BookingCancelled:
		p.Cancelled = true
		p.Title = p.L.T("booking.appointment.cancelled_title")
	default:
		p.Lapsed = true
		p.Title = p.L.T("booking.appointment.lapsed_title")
	}
	bring := "booking.bring." + b.Service
	if !p.L.Has(bring) {
		bring = "booking.bring.default"
	}
	p.Bring = p.L.T(bring)
	return p, nil
}
