package portal

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/i18n"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/video"
)

// videoAccess is the logged-in staff member as the video service knows
// them.
func videoAccess(c *fiber.Ctx) video.Access { return video.StaffAccess(staffOf(c)) }

// consultationID is the consultation id of the path; anything else is 404.
func consultationID(c *fiber.Ctx) (int64, error) { return caseID(c) }

// parseID reads a positive id.
func parseID(s string) (int64, bool) {
	id, err := strconv.ParseInt(s, 10, 64)
	return id, err == nil && id > 0
}

// listDays is how far ahead the office's list of consultations reaches.
const listDays = 14

// consultationsPage is the data of templates/staff_video_list.html.
type consultationsPage struct {
	staffPage
	Days []consultationDay
}

type consultationDay struct {
	Date  string
	Items []consultationItem
}

type consultationItem struct {
	URL       string
	Time      string // 10:00–10:20
	Reference string
	State     string // planned, cancelled, ended, or what the window says
	Waiting   int
}

// showConsultations answers GET /staff/video: the office's consultations
// of today and the next listDays days, each with who waits now.
func (s *Server) showConsultations(c *fiber.Ctx) error {
	sp, err := s.newStaffPage(c, "staff.video.list.title")
	if err != nil {
		return err
	}
	now := s.now().In(s.loc)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, s.loc)
	rows, err := s.video.List(c.UserContext(), videoAccess(c), today, listDays)
	if err != nil {
		return err
	}
	p := consultationsPage{staffPage: sp}
	for _, r := range rows {
		date := formatDate(p.L, r.StartsAt, s.loc)
		if len(p.Days) == 0 || p.Days[len(p.Days)-1].Date != date {
			p.Days = append(p.Days, consultationDay{Date: date})
		}
		d := &p.Days[len(p.Days)-1]
		d.Items = append(d.Items, consultationItem{
			URL:       fmt.Sprintf("/staff/video/%d", r.ID),
			Time:      r.StartsAt.In(s.loc).Format("15:04") + "–" + r.Ends().In(s.loc).Format("15:04"),
			Reference: r.Reference, State: windowText(p.L, video.WindowOf(r.Consultation, s.now())), Waiting: r.Waiting,
		})
	}
	p.CSRF = s.csrf.token(c)
	return s.views.render(c, fiber.StatusOK, "staff_video_list", p)
}

// consultationPage is the data of templates/staff_video.html.
type consultationPage struct {
	staffPage
	Base      string // /staff/video/<id>: the forms post below it
	When      string
	Length    int
	State     string
	Planned   bool // still planned: the changes are offered
	TakesPart bool // a caseworker or physician (admins only read)
	CanJoin   bool // they may enter the call now
	CaseURL   string
	Reference string
	Creator   string
	Links     []linkView
	History   []eventView
	Form      videoForm
	Changed   bool
	MaxGuests int
	Minutes   []optionView
}

type linkView struct {
	Label  string // "Patientin/Patient" or the guest's name
	Mailed bool
	URL    string // the join link, for links mailed to nobody
}

// videoForm is what was typed into one of the consultation forms (or the
// case page's plan form) when it failed.
type videoForm struct {
	Name       string // "plan", "move", "guest", "resend", "cancel"
	Error      string
	Date, Time string
	Minutes    string
	GuestName  string
	GuestEmail string
}

// consultationMinutes are the lengths offered for a consultation.
var consultationMinutes = []int{15, 20, 30, 45, 60, 90}

func minuteOptions(l *i18n.Localizer, chosen string) []optionView {
	if chosen == "" {
		chosen = "20"
	}
	out := make([]optionView, 0, len(consultationMinutes))
	for _, m := range consultationMinutes {
		v := strconv.Itoa(m)
		out = append(out, optionView{Value: v, Label: l.Tf("staff.video.minutes_option", "Minutes", m), Checked: v == chosen})
	}
	return out
}

// showConsultation answers GET /staff/video/:id: a consultation of the
// office with its links, history and the changes staff may make.
func (s *Server) showConsultation(c *fiber.Ctx) error {
	return s.renderConsultation(c, fiber.StatusOK, videoForm{})
}

func (s *Server) renderConsultation(c *fiber.Ctx, status int, form videoForm) error {
	id, err := consultationID(c)
	if err != nil {
		return err
	}
	a := videoAccess(c)
	d, err := s.video.Get(c.UserContext(), a, id)
	if err != nil {
		return err
	}
	sp, err := s.newStaffPage(c, "")
	if err != nil {
		return err
	}
	k := d.Consultation
	p := consultationPage{staffPage: sp, Base: fmt.Sprintf("/staff/video/%d", k.ID), Length: k.Minutes,
		Reference: k.Reference, Creator: k.CreatorName, TakesPart: a.MayTakePart(), MaxGuests: video.MaxGuests}
	p.Title = p.L.Tf("staff.video.title", "Date", formatTime(p.L, k.StartsAt, s.loc))
	p.When = formatTime(p.L, k.StartsAt, s.loc)
	p.State = windowText(p.L, d.Window)
	p.Planned = k.State == store.VideoPlanned && d.Window != video.Over
	p.CanJoin = p.TakesPart && (d.Window == video.Early || d.Window == video.Open)
	if p.CanJoin {
		c.Set("Permissions-Policy", callPermissions)
	}
	if k.SubmissionID != 0 {
		p.CaseURL = fmt.Sprintf("/staff/faelle/%d", k.SubmissionID)
	}
	for _, l := range d.Links {
		v := linkView{Label: p.L.T("staff.video.link.patient"), Mailed: l.ContactSealed != nil}
		if l.Kind == store.LinkGuest {
			v.Label = l.Name
		}
		if l.Token != "" {
			v.URL = s.cfg.BaseURL.JoinPath("video", l.Token).String()
		}
		p.Links = append(p.Links, v)
	}
	for _, ev := range d.Presence {
		p.History = append(p.History, presenceView(p.L, ev, s.loc))
	}
	if form.Date == "" {
		form.Date, form.Time = k.StartsAt.In(s.loc).Format("2006-01-02"), k.StartsAt.In(s.loc).Format("15:04")
	}
	if form.Minutes == "" {
		form.Minutes = strconv.Itoa(k.Minutes)
	}
	p.Minutes = minuteOptions(p.L, form.Minutes)
	p.Changed = c.Query("geaendert") == "1" && form.Error == ""
	if form.Error != "" {
		form.Error = p.L.T(form.Error)
		p.Errors = []fieldError{{Field: videoFormFocus[form.Name], Message: form.Error}}
	}
	p.Form = form
	p.CSRF = s.csrf.token(c)
	return s.views.render(c, status, "staff_video", p)
}

// videoFormFocus is where the error summary of each form leads.
var videoFormFocus = map[string]string{"plan": "video-date", "move": "move-date", "guest": "guest-name", "resend": "resend", "cancel": "cancel"}

// planConsultation answers POST /staff/faelle/:id/video: a consultation
// about the case, at the time typed or now ("jetzt starten"); the
// citizen is invited by mail. The consultation's page follows; the case
// page shows what was wrong.
func (s *Server) planConsultation(c *fiber.Ctx) error {
	id, err := caseID(c)
	if err != nil {
		return err
	}
	form := videoForm{Name: "plan", Date: cleanText(c.FormValue("datum")), Time: cleanText(c.FormValue("uhrzeit")), Minutes: cleanText(c.FormValue("dauer"))}
	start, ok := s.parseStart(form.Date, form.Time)
	if c.FormValue("jetzt") == "1" {
		start, ok = s.now(), true
	}
	minutes, _ := strconv.Atoi(form.Minutes)
	if !ok {
		start = time.Time{} // the service says what is wrong with it
	}
	created, err := s.video.Plan(c.UserContext(), videoAccess(c), id, start, minutes)
	if k := fault.KindOf(err); k == fault.Invalid || k == fault.Conflict {
		return s.afterCaseChange(c, id, caseForm{Name: "video", Error: fault.MessageOf(err), Video: form}, err)
	}
	if err != nil {
		return err
	}
	return c.Redirect(fmt.Sprintf("/staff/video/%d?geaendert=1", created.Consultation.ID), fiber.StatusSeeOther)
}

// rescheduleConsultation answers POST /staff/video/:id/verschieben.
func (s *Server) rescheduleConsultation(c *fiber.Ctx) error {
	id, err := consultationID(c)
	if err != nil {
		return err
	}
	form := videoForm{Name: "move", Date: cleanText(c.FormValue("datum")), Time: cleanText(c.FormValue("uhrzeit")), Minutes: cleanText(c.FormValue("dauer"))}
	start, _ := s.parseStart(form.Date, form.Time)
	minutes, _ := strconv.Atoi(form.Minutes)
	err = s.video.Reschedule(c.UserContext(), videoAccess(c), id, start, minutes)
	return s.afterConsultationChange(c, id, form, err)
}

// resendInvitation answers POST /staff/video/:id/erneut-senden.
func (s *Server) resendInvitation(c *fiber.Ctx) error {
	id, err := consultationID(c)
	if err != nil {
		return err
	}
	err = s.video.Resend(c.UserContext(), videoAccess(c), id)
	return s.afterConsultationChange(c, id, videoForm{Name: "resend"}, err)
}

// cancelConsultation answers POST /staff/video/:id/absagen.
func (s *Server) cancelConsultation(c *fiber.Ctx) error {
	id, err := consultationID(c)
	if err != nil {
		return err
	}
	err = s.video.Cancel(c.UserContext(), videoAccess(c), id)
	if err == nil {
		s.hub.Close(id) // whoever waits or talks on this process is told
	}
	return s.afterConsultationChange(c, id, videoForm{Name: "cancel"}, err)
}

// addGuest answers POST /staff/video/:id/gast: a link for an interpreter
// or companion, mailed when an address is given, else shown on the page.
func (s *Server) addGuest(c *fiber.Ctx) error {
	id, err := consultationID(c)
	if err != nil {
		return err
	}
	form := videoForm{Name: "guest", GuestName: cleanText(c.FormValue("name")), GuestEmail: cleanText(c.FormValue("email"))}
	_, err = s.video.AddGuest(c.UserContext(), videoAccess(c), id, form.GuestName, form.GuestEmail, s.localizerFor(c).Lang().Code)
	return s.afterConsultationChange(c, id, form, err)
}

// afterConsultationChange shows the consultation again: redirected when
// the change went through, rendered with the error and what was typed
// when it did not.
func (s *Server) afterConsultationChange(c *fiber.Ctx, id int64, form videoForm, err error) error {
	switch fault.KindOf(err) {
	case fault.Conflict:
		form.Error = fault.MessageOf(err)
		return s.renderConsultation(c, fiber.StatusConflict, form)
	case fault.Invalid:
		form.Error = fault.MessageOf(err)
		return s.renderConsultation(c, fiber.StatusUnprocessableEntity, form)
	}
	if err != nil {
		return err
	}
	return c.Redirect(fmt.Sprintf("/staff/video/%d?geaendert=1", id), fiber.StatusSeeOther)
}

// parseStart reads a date (2026-12-03, as a date input sends it, or
// 03.12.2026 typed) and a time (10:00) in the offices' time zone.
func (s *Server) parseStart(date, clock string) (time.Time, bool) {
	clock = strings.TrimSuffix(strings.TrimSpace(clock), " Uhr")
	for _, layout := range []string{"2006-01-02 15:04", "02.01.2006 15:04", "2.1.2006 15:04"} {
		if t, err := time.ParseInLocation(layout, strings.TrimSpace(date)+" "+clock, s.loc); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// windowText is the state of a consultation as staff read it.
func windowText(l *i18n.Localizer, w video.Window) string {
	switch w {
	case video.Early:
		return l.T("staff.video.state.planned")
	case video.Open:
		return l.T("staff.video.state.open")
	case video.Over:
		return l.T("staff.video.state.over")
	case video.Cancelled:
		return l.T("staff.video.state.cancelled")
	}
	return l.T("staff.video.state.ended")
}

// presenceView is an entry of a consultation's history.
func presenceView(l *i18n.Localizer, p store.Presence, loc *time.Location) eventView {
	who, by := p.LinkName, p.StaffName
	switch {
	case p.LinkKind == store.LinkPatient:
		who = l.T("staff.video.link.patient")
	case p.LinkKind == "" && p.Kind == store.PresenceLeft:
		// A staff member's own departure: they are who left.
		who, by = p.StaffName, ""
	}
	return eventView{At: formatTime(l, p.At, loc), Text: l.Tf("staff.video.presence."+p.Kind, "Name", who), By: by}
}

// caseConsultations are a case page's consultations, latest first.
func (s *Server) caseConsultations(c *fiber.Ctx, l *i18n.Localizer, caseID int64) ([]consultationItem, error) {
	cs, err := s.video.OfCase(c.UserContext(), videoAccess(c), caseID)
	if err != nil {
		return nil, err
	}
	out := make([]consultationItem, 0, len(cs))
	for _, k := range cs {
		out = append(out, consultationItem{
			URL: fmt.Sprintf("/staff/video/%d", k.ID), Time: formatTime(l, k.StartsAt, s.loc),
			State: windowText(l, video.WindowOf(k, s.now())),
		})
	}
	return out, nil
}
