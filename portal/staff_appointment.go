package portal

import (
	"fmt"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/internal/booking"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/store"
)

// appointmentDetailPage is the data of templates/staff_appointment.html:
// one appointment of the office, with the check-in and the office's
// cancellation.
type appointmentDetailPage struct {
	staffPage
	Base         string // /staff/termine/<id>: the forms post below it
	DayURL       string // the day view of its day and calendar
	Crumb        string // its time, for the breadcrumbs
	Service      string
	Calendar     string
	Kind         string
	Place        string
	When         string
	Minutes      int
	State        string
	Attendance   string // "" nothing recorded
	AttendanceAt string
	Name         string
	Email        string
	Phone        string
	Created      string
	Confirmed    string
	Cancelled    string
	CancelledBy  string
	CancelReason string
	IsCancelled  bool
	VideoURL     string // the staff page of a video appointment's consultation
	// The check-in: open (booked, its day has come), to come (booked,
	// its day has not), or not for this appointment (neither).
	CheckIn      bool
	CheckInLater bool
	// The office's cancellation: offered while it is possible; Mails
	// says the citizen is told (a booked appointment).
	MayCancel bool
	Mails     bool
	MaxReason int
	Done      string
	Form      appointmentForm
}

// appointmentForm is what was typed into one of the appointment's
// forms when it failed.
type appointmentForm struct {
	Name   string // "attendance", "cancel"
	Error  string // a message id, then its text
	Reason string
}

// appointmentFormFocus is where the error summary of each form leads.
var appointmentFormFocus = map[string]string{"attendance": "attendance-heading", "cancel": "cancel-reason"}

// showStaffAppointment answers GET /staff/termine/:id: an appointment of
// the office (another office's is 404, as one that does not exist),
// whose read is recorded in the audit log.
func (s *Server) showStaffAppointment(c *fiber.Ctx) error {
	return s.renderStaffAppointment(c, fiber.StatusOK, appointmentForm{})
}

func (s *Server) renderStaffAppointment(c *fiber.Ctx, status int, form appointmentForm) error {
	id, err := caseID(c)
	if err != nil {
		return err
	}
	b, err := s.booking.GetAppointment(c.UserContext(), staffBookingAccess(c), id)
	if err != nil {
		return err
	}
	sp, err := s.newStaffPage(c, "")
	if err != nil {
		return err
	}
	l := sp.L
	start := b.Start.In(s.loc)
	p := appointmentDetailPage{staffPage: sp, Base: fmt.Sprintf("/staff/termine/%d", b.ID),
		DayURL: appointmentsURL("tag", start, b.Calendar.Slug), Crumb: l.Tf("booking.clock", "Time", start.Format("15:04")),
		Service: serviceOf(l, b.Service, "").Title, Calendar: b.Calendar.Name, Kind: calendarKind(l, b.Calendar), Place: b.Calendar.Place,
		When: formatTime(l, b.Start, s.loc), Minutes: int(b.Calendar.Slot / time.Minute), State: appointmentState(l, b.State),
		Attendance: attendanceText(l, b.Attendance), Name: b.Name, Email: b.Email, Phone: b.Phone,
		Created: formatTime(l, b.Created, s.loc), IsCancelled: b.State == store.BookingCancelled, CancelReason: b.CancelReason,
		CheckIn: s.booking.AttendanceOpen(b), MayCancel: s.booking.Cancellable(b), Mails: b.State == store.BookingBooked && b.Email != "",
		MaxReason: booking.MaxCancelReason,
	}
	p.Title = l.Tf("staff.appointments.detail.title", "Date", dayName(l, start, true), "Time", start.Format("15:04"))
	p.CheckInLater = b.State == store.BookingBooked && !p.CheckIn
	if !b.AttendanceAt.IsZero() {
		p.AttendanceAt = formatTime(l, b.AttendanceAt, s.loc)
	}
	if !b.Confirmed.IsZero() {
		p.Confirmed = formatTime(l, b.Confirmed, s.loc)
	}
	if !b.Cancelled.IsZero() {
		p.Cancelled = formatTime(l, b.Cancelled, s.loc)
	}
	switch b.CancelledBy {
	case store.CancelledByCitizen:
		p.CancelledBy = l.T("staff.appointments.detail.by_citizen")
	case store.CancelledByOffice:
		p.CancelledBy = l.T("staff.appointments.detail.by_office")
	}
	if b.Calendar.Kind == store.CalendarVideo {
		k, err := store.GetBookingConsultation(c.UserContext(), s.db, b.OfficeID, b.ID)
		switch {
		case err == nil:
			p.VideoURL = fmt.Sprintf("/staff/video/%d", k.ID)
		case fault.KindOf(err) != fault.NotFound:
			return err
		}
	}
	// The notice of what was just done, only while the appointment is
	// as that left it.
	switch done := c.Query("erledigt"); {
	case form.Error != "":
	case done == "erschienen" && b.Attendance == store.AttendanceCame:
		p.Done = l.T("staff.appointments.checkin.done_came")
	case done == "eingetragen" && b.State == store.BookingBooked && b.WalkIn:
		p.Done = l.T("staff.appointments.walk_in.done")
	case done == "nicht-erschienen" && b.Attendance == store.AttendanceNoShow:
		p.Done = l.T("staff.appointments.checkin.done_no_show")
	case done == "abgesagt" && b.State == store.BookingCancelled && b.CancelledBy == store.CancelledByOffice:
		p.Done = l.T("staff.appointments.cancel.done")
		if !b.Confirmed.IsZero() && b.Email != "" { // a walk-in without an address got no mail
			p.Done = l.T("staff.appointments.cancel.done_mailed")
		}
	}
	if form.Error != "" {
		form.Error = l.T(form.Error)
		focus := appointmentFormFocus[form.Name]
		if form.Name == "cancel" && !p.MayCancel {
			focus = "cancel-heading" // begun meanwhile: the form is gone
		}
		p.Errors = []fieldError{{Field: focus, Message: form.Error}}
	}
	p.Form = form
	p.CSRF = s.csrf.token(c)
	return s.views.render(c, status, "staff_appointment", p)
}

// setAttendance answers POST /staff/termine/:id/anwesenheit
// (erschienen=ja: the citizen came; nein: did not): the check-in, from
// the appointment's day on, changeable. Nothing is mailed.
func (s *Server) setAttendance(c *fiber.Ctx) error {
	id, err := caseID(c)
	if err != nil {
		return err
	}
	came, ok := map[string]bool{"ja": true, "nein": false}[c.FormValue("erschienen")]
	if !ok {
		return s.afterAppointmentChange(c, id, appointmentForm{Name: "attendance"},
			fault.New(fault.Invalid, "portal: set attendance", "staff.appointments.error.attendance"), "")
	}
	b, err := s.booking.SetAttendance(c.UserContext(), staffBookingAccess(c), id, came)
	done := "nicht-erschienen"
	if b.Attendance == store.AttendanceCame {
		done = "erschienen"
	}
	return s.afterAppointmentChange(c, id, appointmentForm{Name: "attendance"}, err, done)
}

// cancelStaffAppointment answers POST /staff/termine/:id/absagen (grund:
// optional, for the office only): the office's cancellation, which frees
// the place at once and mails a booked appointment's citizen, without
// the reason.
func (s *Server) cancelStaffAppointment(c *fiber.Ctx) error {
	id, err := caseID(c)
	if err != nil {
		return err
	}
	form := appointmentForm{Name: "cancel", Reason: cleanText(c.FormValue("grund"))}
	_, err = s.booking.CancelAppointment(c.UserContext(), staffBookingAccess(c), id, form.Reason)
	return s.afterAppointmentChange(c, id, form, err, "abgesagt")
}

// afterAppointmentChange shows the appointment again: redirected with
// the notice done when the change went through, rendered with the error
// and what was typed when it did not.
func (s *Server) afterAppointmentChange(c *fiber.Ctx, id int64, form appointmentForm, err error, done string) error {
	switch fault.KindOf(err) {
	case fault.Conflict:
		form.Error = fault.MessageOf(err)
		return s.renderStaffAppointment(c, fiber.StatusConflict, form)
	case fault.Invalid:
		form.Error = fault.MessageOf(err)
		return s.renderStaffAppointment(c, fiber.StatusUnprocessableEntity, form)
	}
	if err != nil {
		return err
	}
	return c.Redirect(fmt.Sprintf("/staff/termine/%d?erledigt=%s", id, done), fiber.StatusSeeOther)
}
