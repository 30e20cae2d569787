package portal

import (
	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/internal/booking"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/i18n"
	"github.com/gesundheitsamt/portal/internal/store"
)

// holdPage is the data of templates/booking_hold.html: the slot the
// browser holds, with the contact form while it is held, and "look in
// your mail" once the details came. The token in the path is the
// browser's, from choosing the slot; it never confirms (only the mail's
// link does).
type holdPage struct {
	page
	Office      officeView
	Service     serviceView
	Appointment appointmentView
	Held        bool // the contact form
	Unconfirmed bool // waiting for the mail's link
	Booked      bool
	Lapsed      bool // the hold or the confirmation time passed, or it was cancelled
	Until       string
	Name        string
	Email       string
	Phone       string
	FieldErrors map[string]string // field → message
	Sent        bool              // the confirmation went again just now
	Action      string
	Again       string // choose another slot
	Error       string
}

// appointmentView is a booking as the citizen's pages show it.
type appointmentView struct {
	When     string
	Minutes  int
	Calendar string
	Place    string
	Video    bool
}

func (s *Server) appointmentOf(l *i18n.Localizer, b store.Booking) appointmentView {
	v := appointmentView{When: formatTime(l, b.Start, s.loc), Minutes: int(b.Calendar.Slot.Minutes()), Calendar: b.Calendar.Name, Place: b.Calendar.Place}
	if b.Calendar.Kind == store.CalendarVideo {
		v.Video, v.Place = true, l.T("booking.kind.video")
	}
	return v
}

// showHold answers GET /buchung/:token.
func (s *Server) showHold(c *fiber.Ctx) error {
	b, err := s.booking.OpenHold(c.UserContext(), c.Params("token"))
	if err != nil {
		return err
	}
	p, err := s.holdPage(c, b)
	if err != nil {
		return err
	}
	p.Sent = c.Query("erneut") == "1" && p.Unconfirmed
	return s.views.render(c, fiber.StatusOK, "booking_hold", p)
}

// giveContact answers POST /buchung/:token: name, e-mail and telephone
// for the held slot; the confirmation mail goes out. A wrong detail
// shows the form again with what was typed.
func (s *Server) giveContact(c *fiber.Ctx) error {
	in := store.BookingContact{
		Name: cleanText(c.FormValue("name")), Email: cleanText(c.FormValue("email")), Phone: cleanText(c.FormValue("phone")),
		Lang: s.localizerFor(c).Lang().Code,
	}
	_, err := s.booking.Contact(c.UserContext(), c.Params("token"), in)
	if err == nil {
		return c.Redirect("/buchung/"+c.Params("token"), fiber.StatusSeeOther)
	}
	k := fault.KindOf(err)
	if k != fault.Invalid && k != fault.Conflict {
		return err
	}
	b, oerr := s.booking.OpenHold(c.UserContext(), c.Params("token"))
	if oerr != nil {
		return oerr
	}
	p, perr := s.holdPage(c, b)
	if perr != nil {
		return perr
	}
	p.Name, p.Email, p.Phone = in.Name, in.Email, in.Phone
	status := fiber.StatusConflict
	if bad, ok := booking.AsFieldsError(err); ok && !p.Held {
		// The details were wrong, but the hold is over too: the form is
		// gone, so its fields' errors would point nowhere.
		err = fault.New(fault.Conflict, "portal: contact", "booking.error.hold_lapsed")
	} else if ok {
		status, p.FieldErrors = fiber.StatusUnprocessableEntity, map[string]string{}
		for _, f := range []string{"name", "email", "phone"} {
			if id, ok := bad.Fields[f]; ok {
				p.FieldErrors[f] = p.L.T(id)
				p.Errors = append(p.Errors, fieldError{Field: "booking-" + f, Message: p.FieldErrors[f]})
			}
		}
	}
	if p.FieldErrors == nil {
		p.Error = p.L.T(fault.MessageOf(err))
		p.Errors = []fieldError{{Field: "booking-state", Message: p.Error}}
	}
	return s.views.render(c, status, "booking_hold", p)
}

// resendConfirmation answers POST /buchung/:token/erneut: the
// confirmation mail again, with a new link.
func (s *Server) resendConfirmation(c *fiber.Ctx) error {
	err := s.booking.Resend(c.UserContext(), c.Params("token"))
	if err == nil {
		return c.Redirect("/buchung/"+c.Params("token")+"?erneut=1", fiber.StatusSeeOther)
	}
	// Conflict: no longer waiting, or sent often enough; Invalid: the
	// address had its mails of the day (mail.MsgBookingCapped).
	if k := fault.KindOf(err); k != fault.Conflict && k != fault.Invalid {
		return err
	}
	b, oerr := s.booking.OpenHold(c.UserContext(), c.Params("token"))
	if oerr != nil {
		return oerr
	}
	p, perr := s.holdPage(c, b)
	if perr != nil {
		return perr
	}
	p.Error = p.L.T(fault.MessageOf(err))
	p.Errors = []fieldError{{Field: "booking-state", Message: p.Error}}
	return s.views.render(c, fiber.StatusConflict, "booking_hold", p)
}

// releaseHold answers POST /buchung/:token/freigeben: the held slot goes
// back, and the citizen chooses another one in the same week.
func (s *Server) releaseHold(c *fiber.Ctx) error {
	b, err := s.booking.Release(c.UserContext(), c.Params("token"))
	if err != nil {
		return err
	}
	return c.Redirect(s.againURL(c, b), fiber.StatusSeeOther)
}

// againURL is the week of the booking's slot, to choose another one.
func (s *Server) againURL(c *fiber.Ctx, b store.Booking) string {
	snap, err := s.dir.Snapshot(c.UserContext())
	if err != nil {
		return "/"
	}
	e, ok := snap.OfficeByID(b.OfficeID)
	if !ok {
		return "/"
	}
	return "/amt/" + e.Slug + "/leistungen/" + b.Service + "/termin?kalender=" + b.Calendar.Slug + "&ab=" + b.Start.In(s.loc).Format("2006-01-02")
}

func (s *Server) holdPage(c *fiber.Ctx, b store.Booking) (holdPage, error) {
	p := holdPage{page: s.newPage(c, "booking.hold.title")}
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
	p.Action = "/buchung/" + c.Params("token")
	p.Again = s.againURL(c, b)
	switch {
	case b.State == store.BookingHeld && b.Holds:
		p.Held, p.Until = true, b.Expires.In(s.loc).Format("15:04")
		p.CSRF = s.csrf.token(c)
	case b.State == store.BookingUnconfirmed && b.Holds:
		p.Unconfirmed, p.Until = true, b.Expires.In(s.loc).Format("15:04")
		p.CSRF = s.csrf.token(c)
		p.Title = p.L.T("booking.hold.mail_title")
	case b.State == store.BookingBooked:
		p.Booked = true
		p.Title = p.L.T("booking.hold.booked_title")
	default:
		p.Lapsed = true
		p.Title = p.L.T("booking.hold.lapsed_title")
	}
	return p, nil
}

// bookingField is one field of the contact form, as the "booking-field"
// template shows it.
type bookingField struct {
	ID, Name, Type, Autocomplete, Value string
	Label, Hint, Error                  string
	Optional                            bool
	Prefix, OptionalText                string
}

// bookingFieldOf builds the contact form's field name of p, of input type
// typ, with what was typed.
func bookingFieldOf(p holdPage, name, typ, autocomplete, value string) bookingField {
	return contactField(p.L, p.FieldErrors, "booking-", name, typ, autocomplete, value)
}

// contactField is a field of contact details (name, email, phone) with
// the id prefix+name, its error from errs.
func contactField(l *i18n.Localizer, errs map[string]string, prefix, name, typ, autocomplete, value string) bookingField {
	f := bookingField{
		ID: prefix + name, Name: name, Type: typ, Autocomplete: autocomplete, Value: value,
		Label: l.T("booking.contact." + name), Error: errs[name],
		Optional: name == "phone", Prefix: l.T("form.error_prefix"), OptionalText: l.T("form.optional"),
	}
	if id := "booking.contact." + name + "_hint"; l.Has(id) {
		f.Hint = l.T(id)
	}
	return f
}
