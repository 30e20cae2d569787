package portal

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/internal/auth"
	"github.com/gesundheitsamt/portal/internal/booking"
	"github.com/gesundheitsamt/portal/internal/store"
)

// The API's representations of appointments (api_openapi.json describes
// them). Times are UTC.
type (
	apiCalendar struct {
		ID   int64  `json:"id"`
		Slug string `json:"slug"`
		Name string `json:"name"`
		Kind string `json:"kind"`
	}
	apiAppointment struct {
		ID          int64       `json:"id"`
		Calendar    apiCalendar `json:"calendar"`
		Service     string      `json:"service"`
		Start       time.Time   `json:"start"`
		End         time.Time   `json:"end"`
		State       string      `json:"state"`
		CreatedAt   time.Time   `json:"created_at"`
		ConfirmedAt *time.Time  `json:"confirmed_at"`
		CancelledAt *time.Time  `json:"cancelled_at"`
		CancelledBy *string     `json:"cancelled_by"`
		// CancelReason is the office's own note: the citizen's mail does
		// not carry it.
		CancelReason string `json:"cancel_reason"`
		// Who booked: personal data, for tokens with appointments:read.
		Name     string `json:"name"`
		Email    string `json:"email"`
		Phone    string `json:"phone"`
		Language string `json:"language"`
	}
	apiAppointmentList struct {
		Data []apiAppointment `json:"data"`
	}
	apiCancellation struct {
		Reason string `json:"reason"`
	}
)

// bookingAccess is how the request's token works on appointments.
func bookingAccess(c *fiber.Ctx) booking.Access {
	t := tokenOf(c)
	return booking.Access{OfficeID: t.OfficeID, Actor: t.Actor()}
}

func apiAppointmentOf(b store.Booking) apiAppointment {
	at := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		u := t.UTC()
		return &u
	}
	out := apiAppointment{
		ID:       b.ID,
		Calendar: apiCalendar{ID: b.Calendar.ID, Slug: b.Calendar.Slug, Name: b.Calendar.Name, Kind: b.Calendar.Kind},
		Service:  b.Service, Start: b.Start.UTC(), End: b.End().UTC(), State: b.State,
		CreatedAt: b.Created.UTC(), ConfirmedAt: at(b.Confirmed), CancelledAt: at(b.Cancelled), CancelReason: b.CancelReason,
		Name: b.Name, Email: b.Email, Phone: b.Phone, Language: b.Lang,
	}
	if b.CancelledBy != "" {
		by := b.CancelledBy
		out.CancelledBy = &by
	}
	return out
}

// apiAppointmentFilter reads the filters of GET /api/v1/appointments:
// calendar (a slug), from and to (days, YYYY-MM-DD), state (a
// comma-separated list). The service judges the values (a range too
// long, an unknown state or calendar); a day that is not a date is
// refused here, naming the parameter.
func apiAppointmentFilter(c *fiber.Ctx) (booking.AppointmentFilter, error) {
	f := booking.AppointmentFilter{Calendar: c.Query("calendar")}
	for key, dst := range map[string]*time.Time{"from": &f.FirstDay, "to": &f.LastDay} {
		if v := c.Query(key); v != "" {
			d, err := time.Parse(time.DateOnly, v)
			if err != nil {
				return f, apiBadRequest(key)
			}
			*dst = d
		}
	}
	if v := c.Query("state"); v != "" {
		f.States = strings.Split(v, ",")
	}
	return f, nil
}

// apiListAppointments answers GET /api/v1/appointments.
func (s *Server) apiListAppointments(c *fiber.Ctx) error {
	f, err := apiAppointmentFilter(c)
	if err != nil {
		return err
	}
	list, err := s.booking.ListAppointments(c.UserContext(), bookingAccess(c), f)
	if err != nil {
		return err
	}
	out := apiAppointmentList{Data: make([]apiAppointment, 0, len(list))}
	for _, b := range list {
		out.Data = append(out.Data, apiAppointmentOf(b))
	}
	return c.JSON(out)
}

// apiGetAppointment answers GET /api/v1/appointments/:id. Another
// office's appointment is 404, like one that does not exist.
func (s *Server) apiGetAppointment(c *fiber.Ctx) error {
	id, err := caseID(c)
	if err != nil {
		return err
	}
	b, err := s.booking.GetAppointment(c.UserContext(), bookingAccess(c), id)
	if err != nil {
		return err
	}
	return c.JSON(apiAppointmentOf(b))
}

// apiCancelAppointment answers POST /api/v1/appointments/:id/cancel,
// with no body or {"reason": "..."}. A cancelled appointment answers as
// it is (the call is safe to repeat); one that has begun is 409.
func (s *Server) apiCancelAppointment(c *fiber.Ctx) error {
	id, err := caseID(c)
	if err != nil {
		return err
	}
	var req apiCancellation
	if body := bytes.TrimSpace(c.Body()); len(body) > 0 {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return apiBadRequest("body: want nothing or {\"reason\"}")
		}
	}
	b, err := s.booking.CancelAppointment(c.UserContext(), bookingAccess(c), id, cleanText(req.Reason))
	if err != nil { // Invalid is 400 with the reason, Conflict 409
		return err
	}
	if !tokenOf(c).Has(auth.ScopeAppointmentsRead) {
		return c.SendStatus(fiber.StatusNoContent) // a write-only token reads nothing back
	}
	return c.JSON(apiAppointmentOf(b))
}
