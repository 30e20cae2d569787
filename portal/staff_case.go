package portal

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/forms"
	"github.com/gesundheitsamt/portal/internal/audit"
	"github.com/gesundheitsamt/portal/internal/auth"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/inbox"
	"github.com/gesundheitsamt/portal/internal/submission"
)

// casePage is the data of templates/staff_case.html.
type casePage struct {
	page
	Reference   string
	Service     string
	Received    string
	Status      string
	Sections    []sectionView
	Attachments []attachmentView
	Events      []eventView
	Action      string       // where the status form posts
	Version     int          // the version the page shows
	Next        []optionView // the states the case may move to
	Message     string       // the message typed, kept on error
	Error       string
	Changed     bool // the last change went through
}

type attachmentView struct {
	Name     string
	Size     string
	URL      string // empty when the reader may not open it
	Withheld bool   // a medical file, for physicians only
}

// caseOf loads the case of the path's id for the staff member's office.
// Another office's case is 404, exactly like one that does not exist.
func (s *Server) caseOf(c *fiber.Ctx) (*submission.Case, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return nil, fiber.ErrNotFound
	}
	return s.subs.Case(c.UserContext(), s.forms, staffOf(c).OfficeID, id)
}

// mayRead reports whether the staff member may read answers marked
// confidential: medical.
func mayRead(st auth.Staff, confidential bool) bool {
	return !confidential || st.Role == auth.RolePhysician
}

// showCase answers GET /staff/faelle/:id: the submission as its form
// showed it, medical answers only to physicians, its files and timeline.
// Every read is recorded in the audit log before anything is shown.
func (s *Server) showCase(c *fiber.Ctx) error {
	return s.renderCase(c, fiber.StatusOK, "", "")
}

// renderCase renders the case page, with an error (message id) and the
// message typed when a change failed.
func (s *Server) renderCase(c *fiber.Ctx, status int, msgID, message string) error {
	st := staffOf(c)
	k, err := s.caseOf(c)
	if err != nil {
		return err
	}
	if err := audit.AppendNow(c.UserContext(), s.db, audit.Entry{
		OfficeID: st.OfficeID, Actor: auth.Actor(st.ID), Action: "case.read", Object: "submission:" + strconv.FormatInt(k.Submission.ID, 10),
	}); err != nil {
		return err
	}
	p := casePage{page: s.newPage(c, "")}
	lang := p.Lang.Code
	sub := k.Submission
	p.Reference = sub.Reference
	p.Title = p.L.Tf("staff.case.title", "Reference", sub.Reference)
	p.Service = serviceOf(p.L, sub.ServiceSlug, "").Title
	p.Received = formatTime(p.L, sub.SubmittedAt, s.loc)
	p.Status = statusText(p.L, sub.Status)
	withheld := p.L.T("staff.case.withheld")
	for _, sec := range forms.Summarize(k.Form, k.Answers, lang, s.words(p.L)) {
		v := sectionView{Title: sec.Title}
		for _, it := range sec.Items {
			if !mayRead(st, it.Confidential) && !it.Empty {
				it.Value, it.Empty = withheld, true // that an answer exists shows; what it is does not
			}
			v.Items = append(v.Items, it)
		}
		p.Sections = append(p.Sections, v)
	}
	for _, a := range k.Attachments {
		fd, _ := k.Form.Field(a.FieldID)
		v := attachmentView{Name: a.Name, Size: humanSize(a.Size)}
		if fd != nil && !mayRead(st, fd.Confidential == forms.ConfidentialMedical) {
			v.Withheld = true
		} else {
			v.URL = fmt.Sprintf("/staff/faelle/%d/anlagen/%d", sub.ID, a.ID)
		}
		p.Attachments = append(p.Attachments, v)
	}
	for _, ev := range k.Events {
		p.Events = append(p.Events, eventView{At: formatTime(p.L, ev.At, s.loc), Text: statusText(p.L, ev.Status), Message: ev.Message})
	}
	p.Action = fmt.Sprintf("/staff/faelle/%d/status", sub.ID)
	p.Version = sub.Version
	for i, n := range inbox.Next(sub.Status) {
		p.Next = append(p.Next, optionView{Value: n, Label: statusText(p.L, n), ID: "status-" + strconv.Itoa(i)})
	}
	p.Message = message
	p.Changed = c.Query("geaendert") == "1" && msgID == ""
	if msgID != "" {
		p.Error = p.L.T(msgID)
		p.Errors = []fieldError{{Field: "status-0", Message: p.Error}}
	}
	p.CSRF = s.csrf.token(c)
	return s.views.render(c, status, "staff_case", p)
}

// changeStatus answers POST /staff/faelle/:id/status: the case moves on,
// or the page says why not (someone else changed it meanwhile, a step the
// workflow does not allow, a message too long), keeping the message typed.
func (s *Server) changeStatus(c *fiber.Ctx) error {
	st := staffOf(c)
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil {
		return fiber.ErrNotFound
	}
	version, _ := strconv.Atoi(c.FormValue("version"))
	message := cleanText(c.FormValue("message"))
	err = inbox.Change(c.UserContext(), s.db, st.OfficeID, st.ID, id, version, cleanText(c.FormValue("status")), message)
	switch fault.KindOf(err) {
	case fault.Conflict:
		return s.renderCase(c, fiber.StatusConflict, fault.MessageOf(err), message)
	case fault.Invalid:
		return s.renderCase(c, fiber.StatusUnprocessableEntity, fault.MessageOf(err), message)
	}
	if err != nil {
		return err
	}
	return c.Redirect(fmt.Sprintf("/staff/faelle/%d?geaendert=1", id), fiber.StatusSeeOther)
}

// downloadAttachment answers GET /staff/faelle/:id/anlagen/:file: the file
// decrypted, as a download that no browser runs, recorded in the audit log.
func (s *Server) downloadAttachment(c *fiber.Ctx) error {
	st := staffOf(c)
	k, err := s.caseOf(c)
	if err != nil {
		return err
	}
	fileID, err := strconv.ParseInt(c.Params("file"), 10, 64)
	if err != nil {
		return fiber.ErrNotFound
	}
	a, content, err := s.subs.Attachment(c.UserContext(), st.OfficeID, k.Submission.ID, fileID)
	if err != nil {
		return err
	}
	if fd, ok := k.Form.Field(a.FieldID); ok && !mayRead(st, fd.Confidential == forms.ConfidentialMedical) {
		return fiber.ErrNotFound // not even that it is there: the case page says it is withheld
	}
	if err := audit.AppendNow(c.UserContext(), s.db, audit.Entry{
		OfficeID: st.OfficeID, Actor: auth.Actor(st.ID), Action: "attachment.download",
		Object: "attachment:" + strconv.FormatInt(a.ID, 10),
	}); err != nil {
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
