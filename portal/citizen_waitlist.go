package portal

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/internal/booking"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/store"
)

// waitlistForm is the form of the booking page that puts a citizen on the
// calendar's waiting list, with what was typed and what is wrong with it.
type waitlistForm struct {
	Action      string
	OfferHours  int // how long an offered place waits for its confirmation
	KeepDays    int // how long an entry waits at most
	Name, Email string
	FieldErrors map[string]string // field → message
}

func newWaitlistForm(action string) *waitlistForm {
	return &waitlistForm{Action: action, OfferHours: int(booking.OfferTTL / time.Hour), KeepDays: int(booking.WaitlistKeep / (24 * time.Hour))}
}

// waitlistFieldOf builds the waiting list form's field name of p.
func waitlistFieldOf(p bookingPage, name, typ, autocomplete, value string) bookingField {
	var errs map[string]string
	if p.Waitlist != nil {
		errs = p.Waitlist.FieldErrors
	}
	return contactField(p.L, errs, "waitlist-", name, typ, autocomplete, value)
}

// waitlistPage is the data of templates/waitlist.html: a citizen's entry
// on a waiting list, reached by the link of its token (/warteliste/<token>),
// with its place in line and the button to leave; or, after leaving, that
// the entry is gone.
type waitlistPage struct {
	page
	Office     officeView
	Service    serviceView
	Calendar   string
	Place      int // in line, from 1
	Since      string
	Until      string // when the entry ends unless it is served first
	Offered    bool
	OfferHours int
	Action     string // leave the list
	Left       bool
	Again      string // the booking page of the calendar's service
}

// joinWaitlist answers POST /amt/:office/leistungen/:service/termin/warteliste:
// the citizen (name, email) joins the waiting list of the calendar
// (kalender) and goes to the page of the entry. Wrong details show the
// booking page again with the form filled in; a slot that freed
// meanwhile shows the week with it.
func (s *Server) joinWaitlist(c *fiber.Ctx) error {
	e, slug, err := s.bookingAt(c)
	if err != nil {
		return err
	}
	cals, err := s.booking.Calendars(c.UserContext(), e.Office, slug)
	if err != nil {
		return err
	}
	cal, ok := calendarBySlug(cals, c.FormValue("kalender"))
	if !ok {
		return fiber.ErrNotFound
	}
	in := store.BookingContact{Name: cleanText(c.FormValue("name")), Email: cleanText(c.FormValue("email")), Lang: s.localizerFor(c).Lang().Code}
	token, err := s.booking.JoinWaitlist(c.UserContext(), e.Office, cal.ID, slug, in)
	if err == nil {
		return c.Redirect("/warteliste/"+token, fiber.StatusSeeOther)
	}
	k := fault.KindOf(err)
	if k != fault.Invalid && k != fault.Conflict {
		return err
	}
	p, perr := s.bookingPage(c, e, slug, cal.Slug, "", "")
	if perr != nil {
		return perr
	}
	status := fiber.StatusConflict
	bad, fields := booking.AsFieldsError(err)
	switch {
	case p.Waitlist == nil:
		// A slot is free by now: the week shows it, and says so.
		err = fault.New(fault.Conflict, "portal: waiting list", "booking.waitlist.error.free")
		fields = false
	case fields:
		status, p.Waitlist.FieldErrors = fiber.StatusUnprocessableEntity, map[string]string{}
		for _, f := range []string{"name", "email"} {
			if id, ok := bad.Fields[f]; ok {
				p.Waitlist.FieldErrors[f] = p.L.T(id)
				p.Errors = append(p.Errors, fieldError{Field: "waitlist-" + f, Message: p.Waitlist.FieldErrors[f]})
			}
		}
	}
	if p.Waitlist != nil {
		p.Waitlist.Name, p.Waitlist.Email = in.Name, in.Email
	}
	if !fields {
		p.Error = p.L.T(fault.MessageOf(err))
		p.Errors = []fieldError{{Field: "booking-error", Message: p.Error}}
	}
	return s.views.render(c, status, "booking", p)
}

// showWaitlist answers GET /warteliste/:token.
func (s *Server) showWaitlist(c *fiber.Ctx) error {
	w, err := s.booking.OpenWaitlist(c.UserContext(), c.Params("token"))
	if err != nil {
		return err
	}
	p, err := s.waitlistPage(c, w)
	if err != nil {
		return err
	}
	return s.views.render(c, fiber.StatusOK, "waitlist", p)
}

// leaveWaitlist answers POST /warteliste/:token/verlassen: the entry
// ends, and the page says so.
func (s *Server) leaveWaitlist(c *fiber.Ctx) error {
	w, err := s.booking.LeaveWaitlist(c.UserContext(), c.Params("token"))
	if err != nil {
		return err
	}
	p, err := s.waitlistPage(c, w)
	if err != nil {
		return err
	}
	p.Left, p.Title = true, p.L.T("booking.waitlist.left_title")
	return s.views.render(c, fiber.StatusOK, "waitlist", p)
}

func (s *Server) waitlistPage(c *fiber.Ctx, w store.WaitlistEntry) (waitlistPage, error) {
	p := waitlistPage{page: s.newPage(c, "booking.waitlist.title"), OfferHours: int(booking.OfferTTL / time.Hour)}
	snap, err := s.dir.Snapshot(c.UserContext())
	if err != nil {
		return p, err
	}
	e, ok := snap.OfficeByID(w.OfficeID)
	if !ok {
		return p, fiber.ErrNotFound
	}
	p.Office = officeOf(e)
	base := "/amt/" + e.Slug + "/leistungen/" + w.Service
	p.Service = serviceOf(p.L, w.Service, base)
	p.Again = base + "/termin"
	p.Calendar = w.CalendarName + " (" + p.L.T("booking.kind."+w.CalendarKind) + ")"
	p.Place = w.Ahead + 1
	p.Since = dayName(p.L, w.Created.In(s.loc), false)
	p.Until = dayName(p.L, w.Created.Add(booking.WaitlistKeep).In(s.loc), false)
	p.Offered = w.State == store.WaitlistOffered
	p.Action = "/warteliste/" + c.Params("token") + "/verlassen"
	p.CSRF = s.csrf.token(c)
	return p, nil
}
