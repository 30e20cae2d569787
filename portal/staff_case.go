package portal

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/internal/booking"
	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/i18n"
	"github.com/gesundheitsamt/portal/internal/inbox"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/submission"
)

// casePage is the data of templates/staff_case.html.
type casePage struct {
	staffPage
	Reference   string
	Service     string
	Received    string
	Status      string
	Sections    []sectionView
	Attachments []attachmentView
	Events      []eventView
	Base        string       // /staff/faelle/<id>: the forms post below it
	Version     int          // the version the page shows
	Next        []optionView // the states the case may move to
	Assignees   []optionView
	Assignee    string // who has the case, "" for nobody
	ClosedAt    string // "" while open
	Deletion    string // when the case will be deleted, or why not
	Hold        *holdView
	Form        caseForm
	Changed     bool // the last change went through
	// Videosprechstunden: this case's, and the plan form for those who
	// take part in them (caseworkers, physicians).
	Consultations []consultationItem
	PlansVideo    bool
	VideoMinutes  []optionView
	// Offer is the section of an appointment request: the slots offered,
	// or the free ones to offer; nil for other cases.
	Offer *offerView
}

// caseForm is what was typed into one of the case page's forms when it
// failed: which form, the message, and the text kept.
type caseForm struct {
	Name         string // "status", "note", "assign", "hold"
	Error        string
	Status       string
	Message      string
	RequestFiles bool
	Note         string
	HoldReason   string
	Video        videoForm // the plan form's fields
	Offered      []string  // the slots ticked in the offer form
}

type attachmentView struct {
	FromAnswer bool // sent with an answer to a Rückfrage
	Name       string
	Size       string
	URL        string // empty when the reader may not open it
	Withheld   bool   // a medical file, for physicians only
}

// caseID is the case id of the path; anything else is 404.
func caseID(c *fiber.Ctx) (int64, error) {
	id, ok := parseID(c.Params("id"))
	if !ok {
		return 0, fiber.ErrNotFound
	}
	return id, nil
}

// showCase answers GET /staff/faelle/:id: the submission as its form
// showed it, medical answers only to physicians, its files and timeline.
// Every read is recorded in the audit log before anything is shown.
func (s *Server) showCase(c *fiber.Ctx) error {
	return s.renderCase(c, fiber.StatusOK, caseForm{})
}

// renderCase renders the case page; form.Error (a message id) and what
// was typed come back when a change failed.
func (s *Server) renderCase(c *fiber.Ctx, status int, form caseForm) error {
	id, err := caseID(c)
	if err != nil {
		return err
	}
	access := staffAccess(c)
	k, err := s.inbox.Open(c.UserContext(), access, id)
	if err != nil {
		return err
	}
	colleagues, err := s.inbox.Colleagues(c.UserContext(), access)
	if err != nil {
		return err
	}
	sp, err := s.newStaffPage(c, "")
	if err != nil {
		return err
	}
	p := casePage{staffPage: sp}
	lang := p.Lang.Code
	sub := k.Submission
	p.Reference = sub.Reference
	p.Title = p.L.Tf("staff.case.title", "Reference", sub.Reference)
	p.Service = serviceOf(p.L, sub.ServiceSlug, "").Title
	p.Received = formatTime(p.L, sub.SubmittedAt, s.loc)
	p.Status = statusText(p.L, sub.Status)
	for _, sec := range k.Summary(lang, s.words(p.L), p.L.T("staff.case.withheld")) {
		p.Sections = append(p.Sections, sectionView{Title: sec.Title, Items: sec.Items})
	}
	for _, a := range k.Files() {
		v := attachmentView{Name: a.Name, Size: humanSize(a.Size), FromAnswer: a.FieldID == submission.AnswerField, Withheld: a.Withheld}
		if a.Withheld {
			v.Name = p.L.T("staff.case.withheld_file") // not even the name: it may say what the file is about
		} else {
			v.URL = fmt.Sprintf("/staff/faelle/%d/anlagen/%d", sub.ID, a.ID)
		}
		p.Attachments = append(p.Attachments, v)
	}
	for _, ev := range k.Events() {
		v := staffEventView(p.L, ev.Event, s.loc)
		if ev.Withheld {
			v.Message = p.L.T("staff.case.withheld")
		}
		p.Events = append(p.Events, v)
	}
	p.Base = fmt.Sprintf("/staff/faelle/%d", sub.ID)
	p.Version = sub.Version
	for i, n := range sub.Status.Next() {
		p.Next = append(p.Next, optionView{Value: string(n), Label: statusText(p.L, n), ID: "status-" + strconv.Itoa(i), Checked: string(n) == form.Status || (form.Status == "" && i == 0)})
	}
	p.Assignees = append(p.Assignees, optionView{Value: "0", Label: p.L.T("staff.inbox.nobody"), Checked: sub.AssigneeID == 0})
	names := make(map[int64]string, len(colleagues))
	for _, co := range colleagues {
		names[co.ID] = co.Name
		p.Assignees = append(p.Assignees, optionView{Value: strconv.FormatInt(co.ID, 10), Label: co.Name, Checked: co.ID == sub.AssigneeID})
		if co.ID == sub.AssigneeID {
			p.Assignee = co.Name
		}
	}
	if err := s.caseDeletion(c, &p, sub, names); err != nil {
		return err
	}
	if p.Consultations, err = s.caseConsultations(c, p.L, sub.ID); err != nil {
		return err
	}
	if sub.FormID == booking.RequestForm {
		if p.Offer, err = s.caseOffer(c, p.L, sub, form.Offered); err != nil {
			return err
		}
	}
	p.PlansVideo = videoAccess(c).MayTakePart()
	p.VideoMinutes = minuteOptions(p.L, form.Video.Minutes)
	p.Changed = c.Query("geaendert") == "1" && form.Error == ""
	if form.Error != "" {
		form.Error = p.L.T(form.Error)
		focus := caseFormFocus[form.Name]
		if form.Name == "hold" && p.Hold != nil {
			focus = "hold-lift" // held meanwhile: the form to lift it is there instead
		}
		p.Errors = []fieldError{{Field: focus, Message: form.Error}}
	}
	p.Form = form
	p.CSRF = s.csrf.token(c)
	return s.views.render(c, status, "staff_case", p)
}

// changeStatus answers POST /staff/faelle/:id/status: the case moves on,
// or the page says why not (someone else changed it meanwhile, a step the
// workflow does not allow, a message too long), keeping the message typed.
func (s *Server) changeStatus(c *fiber.Ctx) error {
	id, err := caseID(c)
	if err != nil {
		return err
	}
	version, _ := strconv.Atoi(c.FormValue("version"))
	form := caseForm{Name: "status", Status: cleanText(c.FormValue("status")), Message: cleanText(c.FormValue("message")),
		RequestFiles: c.FormValue("unterlagen") == "1"}
	t := inbox.Transition{To: domain.Status(form.Status), Message: form.Message, RequestFiles: form.RequestFiles}
	err = s.inbox.Change(c.UserContext(), staffAccess(c), id, version, t)
	return s.afterCaseChange(c, id, form, err)
}

// addNote answers POST /staff/faelle/:id/notiz: an internal note.
func (s *Server) addNote(c *fiber.Ctx) error {
	id, err := caseID(c)
	if err != nil {
		return err
	}
	form := caseForm{Name: "note", Note: cleanText(c.FormValue("notiz"))}
	err = s.inbox.AddNote(c.UserContext(), staffAccess(c), id, form.Note)
	return s.afterCaseChange(c, id, form, err)
}

// assignCase answers POST /staff/faelle/:id/zuweisung: the case goes to a
// colleague of the office, or to nobody.
func (s *Server) assignCase(c *fiber.Ctx) error {
	id, err := caseID(c)
	if err != nil {
		return err
	}
	version, _ := strconv.Atoi(c.FormValue("version"))
	to, _ := strconv.ParseInt(c.FormValue("bearbeitung"), 10, 64)
	err = s.inbox.Assign(c.UserContext(), staffAccess(c), id, version, to)
	return s.afterCaseChange(c, id, caseForm{Name: "assign"}, err)
}

// afterCaseChange shows the case again after a change: redirected when it
// went through, rendered with the error and what was typed when it did
// not (someone else changed the case meanwhile, a step the workflow does
// not allow, a text too long).
func (s *Server) afterCaseChange(c *fiber.Ctx, id int64, form caseForm, err error) error {
	switch fault.KindOf(err) {
	case fault.Conflict:
		form.Error = fault.MessageOf(err)
		return s.renderCase(c, fiber.StatusConflict, form)
	case fault.Invalid:
		form.Error = fault.MessageOf(err)
		return s.renderCase(c, fiber.StatusUnprocessableEntity, form)
	}
	if err != nil {
		return err
	}
	return c.Redirect(fmt.Sprintf("/staff/faelle/%d?geaendert=1", id), fiber.StatusSeeOther)
}

// caseFormFocus is where the error summary of each case form leads.
var caseFormFocus = map[string]string{"status": "status-0", "note": "note-text", "assign": "assignee", "hold": "hold-reason", "video": "video-date", "offer": "offer-heading"}

// staffEventView is an event of the timeline as staff read it: who did
// what, and whether the citizen sees it.
func staffEventView(l *i18n.Localizer, ev store.Event, loc *time.Location) eventView {
	v := eventView{At: formatTime(l, ev.At, loc), Message: ev.Message, Internal: ev.Internal, By: ev.StaffName}
	if ev.TokenName != "" {
		v.By = l.Tf("staff.case.event.by_api", "Name", ev.TokenName)
	}
	switch ev.Kind {
	case store.EventNote:
		v.Text = l.T("staff.case.event.note")
	case store.EventAssign:
		if ev.Message == "" {
			v.Text = l.T("staff.case.event.unassigned")
		} else {
			v.Text = l.Tf("staff.case.event.assigned", "Name", ev.Message)
		}
		v.Message = ""
	case store.EventAnswer:
		v.Text = l.T("status.event.answer")
	case store.EventMailFailed:
		v.Text = l.T("staff.case.event.mail_failed")
	case store.EventMailCapped:
		v.Text = l.T("staff.case.event.mail_capped")
	case store.EventHold:
		v.Text = l.T("staff.case.event.hold")
	case store.EventHoldLifted:
		v.Text = l.T("staff.case.event.hold_lifted")
	case store.EventVideoPlanned, store.EventVideoMoved, store.EventVideoCancelled,
		store.EventOfferMade, store.EventOfferBooked, store.EventOfferWithdrawn:
		v.Text, v.Message = videoEventText(l, ev, loc), ""
	default:
		v.Text = statusText(l, ev.Status)
		if ev.RequestFiles {
			v.Text += " – " + l.T("staff.case.event.files_requested")
		}
	}
	return v
}

// downloadAttachment answers GET /staff/faelle/:id/anlagen/:file: the file
// decrypted, recorded in the audit log; a file the reader may not open
// is 404, as the case page lists it as withheld.
func (s *Server) downloadAttachment(c *fiber.Ctx) error {
	return s.sendAttachment(c, staffAccess(c))
}

// sendAttachment answers with the path's attachment of the path's case,
// opened for access (inbox.OpenFile), as a download that no browser runs.
func (s *Server) sendAttachment(c *fiber.Ctx, access inbox.Access) error {
	id, err := caseID(c)
	if err != nil {
		return err
	}
	fileID, err := strconv.ParseInt(c.Params("file"), 10, 64)
	if err != nil {
		return fiber.ErrNotFound
	}
	a, content, err := s.inbox.OpenFile(c.UserContext(), access, id, fileID)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, a.MediaType)
	c.Set(fiber.HeaderContentDisposition, contentDisposition(a.Name))
	// A file a citizen uploaded never runs as a page of this site.
	c.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	return c.Send(content)
}

// contentDisposition makes an attachment header for name: an ASCII
// fallback and the UTF-8 name (RFC 6266 / 5987).
func contentDisposition(name string) string {
	ascii := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' || r == ';' {
			return '_'
		}
		return r
	}, name)
	return `attachment; filename="` + ascii + `"; filename*=UTF-8''` + url.PathEscape(name)
}
