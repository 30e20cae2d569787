package portal

import (
	"fmt"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/internal/booking"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/store"
)

// walkInPage is the data of templates/staff_appointments_walkin.html:
// the slot, and the form that books someone at the counter into it.
type walkInPage struct {
	staffPage
	Calendar, CalendarName string
	Start                  string // Unix seconds, as the form sends it
	When                   string
	Services               []optionView
	Name, Email, Phone     string
	FieldErrors            map[string]string // name, email, phone, service
	Error                  string            // the slot is taken or over
	Back                   string
}

// showWalkIn answers GET /staff/termine/neu?kalender=&beginn=.
func (s *Server) showWalkIn(c *fiber.Ctx) error {
	p, _, _, _, err := s.walkInPage(c, c.Query("kalender"), c.Query("beginn"), "")
	if err != nil {
		return err
	}
	return s.views.render(c, fiber.StatusOK, "staff_appointments_walkin", p)
}

// bookWalkIn answers POST /staff/termine/neu (kalender, beginn,
// leistung, name, email, phone).
func (s *Server) bookWalkIn(c *fiber.Ctx) error {
	p, office, cal, start, err := s.walkInPage(c, c.FormValue("kalender"), c.FormValue("beginn"), cleanText(c.FormValue("leistung")))
	if err != nil {
		return err
	}
	p.Name, p.Email, p.Phone = cleanText(c.FormValue("name")), cleanText(c.FormValue("email")), cleanText(c.FormValue("phone"))
	b, err := s.booking.WalkIn(c.UserContext(), staffBookingAccess(c), office, cal.ID, cleanText(c.FormValue("leistung")), start,
		store.BookingContact{Name: p.Name, Email: p.Email, Phone: p.Phone, Lang: "de"})
	if err == nil {
		return c.Redirect(fmt.Sprintf("/staff/termine/%d?erledigt=eingetragen", b.ID), fiber.StatusSeeOther)
	}
	status := fiber.StatusUnprocessableEntity
	switch bad, ok := booking.AsFieldsError(err); {
	case ok:
		p.FieldErrors = map[string]string{}
		for _, f := range []string{"name", "email", "phone"} {
			if id, ok := bad.Fields[f]; ok {
				p.FieldErrors[f] = p.L.T(id)
				p.Errors = append(p.Errors, fieldError{Field: "walk-in-" + f, Message: p.FieldErrors[f]})
			}
		}
	case fault.KindOf(err) == fault.Invalid && fault.MessageOf(err) == "booking.error.walk_in_service":
		p.FieldErrors = map[string]string{"service": p.L.T(fault.MessageOf(err))}
		p.Errors = []fieldError{{Field: "walk-in-service", Message: p.FieldErrors["service"]}}
	case fault.KindOf(err) == fault.Invalid || fault.KindOf(err) == fault.Conflict:
		if fault.KindOf(err) == fault.Conflict {
			status = fiber.StatusConflict
		}
		p.Error = p.L.T(fault.MessageOf(err))
		p.Errors = []fieldError{{Field: "walk-in-slot", Message: p.Error}}
	default:
		return err
	}
	return s.views.render(c, status, "staff_appointments_walkin", p)
}

// walkInPage builds the page of the slot of the office's calendar slug
// that starts at start (Unix seconds), with the calendar's services to
// choose from (chosen preselected). Errors: NotFound (no such calendar
// of the office, or not a time).
func (s *Server) walkInPage(c *fiber.Ctx, slug, start, chosen string) (walkInPage, store.Office, store.Calendar, time.Time, error) {
	var p walkInPage
	sp, err := s.newStaffPage(c, "staff.appointments.walk_in.title")
	if err != nil {
		return p, store.Office{}, store.Calendar{}, time.Time{}, err
	}
	slug = cleanText(slug)
	if slug == "" {
		return p, store.Office{}, store.Calendar{}, time.Time{}, fiber.ErrNotFound
	}
	office, cals, err := s.appointmentCalendars(c, slug)
	if err != nil {
		return p, office, store.Calendar{}, time.Time{}, err
	}
	at, ok := unixTime(start)
	if !ok {
		return p, office, store.Calendar{}, time.Time{}, fiber.ErrNotFound
	}
	var cal store.Calendar
	for _, k := range cals {
		if k.Slug == slug {
			cal = k
		}
	}
	services, err := s.booking.CalendarServices(c.UserContext(), staffBookingAccess(c), cal.ID)
	if err != nil {
		return p, office, cal, at, err
	}
	p = walkInPage{staffPage: sp, Calendar: cal.Slug, CalendarName: cal.Name, Start: strconv.FormatInt(at.Unix(), 10),
		When: formatTime(sp.L, at, s.loc), Back: appointmentsURL("tag", at.In(s.loc), "")}
	for i, svc := range services {
		p.Services = append(p.Services, optionView{Value: svc, Label: serviceOf(sp.L, svc, "").Title, Checked: svc == chosen || chosen == "" && i == 0})
	}
	p.CSRF = s.csrf.token(c)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return p, office, cal, at, nil
}

// walkInFieldView is a field of the walk-in form, as "walk-in-field"
// shows it.
type walkInFieldView struct {
	Name, Type, Autocomplete, Value string
	Label, Hint, Error, Prefix      string
	Optional                        bool
	OptionalText                    string
}

// walkInFieldOf builds the walk-in form's field name of p.
func walkInFieldOf(p walkInPage, name, typ, autocomplete, value string, optional bool) walkInFieldView {
	f := walkInFieldView{Name: name, Type: typ, Autocomplete: autocomplete, Value: value, Optional: optional,
		Label: p.L.T("staff.appointments.walk_in." + name), Error: p.FieldErrors[name], Prefix: p.L.T("form.error_prefix"), OptionalText: p.L.T("form.optional")}
	if id := "staff.appointments.walk_in." + name + "_hint"; p.L.Has(id) {
		f.Hint = p.L.T(id)
	}
	return f
}
