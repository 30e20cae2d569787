package portal

import (
	"bytes"
	"encoding/hex"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/forms"
	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/i18n"
	"github.com/gesundheitsamt/portal/internal/receipt"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/submission"
)

// statusPage is the data of templates/status.html and receipt.html.
type statusPage struct {
	page
	Reference   string
	Service     string
	Office      officeView
	SubmittedAt string
	Status      string
	Events      []eventView
	StatusURL   string
	ReceiptURL  string
	PDFURL      string
	Again       bool // the citizen submitted the same draft again
	Question    *questionView
	Answered    bool // the answer just went in
	Offer       *citizenOfferView
	Booked      bool // a slot of the offer was just booked
}

// questionView is the open Rückfrage on the status page, with the answer
// form and what was typed when it failed.
type questionView struct {
	Text         string
	At           string
	RequestFiles bool
	Action       string
	Answer       string
	Error        string
	ErrorField   string // "answer-text" or "answer-files"
	MaxFiles     int
	MaxSizeMB    int
}

type eventView struct {
	At       string
	Text     string
	Message  string
	By       string // the staff member, on staff pages
	Internal bool   // not shown to the citizen, on staff pages
}

// submissionView loads the submission of the request's access token with
// what the pages show. Errors: NotFound for any unknown token.
func (s *Server) submissionView(c *fiber.Ctx) (*submission.View, *statusPage, *forms.Form, error) {
	v, err := s.subs.Lookup(c.UserContext(), c.Params("token"))
	if err != nil {
		return nil, nil, nil, err
	}
	snap, err := s.dir.Snapshot(c.UserContext())
	if err != nil {
		return nil, nil, nil, err
	}
	e, ok := snap.OfficeByID(v.Submission.OfficeID)
	if !ok {
		return nil, nil, nil, fiber.ErrNotFound
	}
	f, err := s.subs.FormOf(c.UserContext(), s.forms, v.Submission.FormID, v.Submission.FormHash)
	if err != nil {
		return nil, nil, nil, err
	}
	p := &statusPage{page: s.newPage(c, "")}
	base := "/status/" + c.Params("token")
	p.Reference = v.Submission.Reference
	p.Service = serviceOf(p.L, v.Submission.ServiceSlug, "").Title
	p.Office = officeOf(e)
	p.SubmittedAt = formatTime(p.L, v.Submission.SubmittedAt, s.loc)
	p.Status = statusText(p.L, v.Submission.Status)
	p.StatusURL, p.ReceiptURL, p.PDFURL = base, base+"/eingang", base+"/eingangsbestaetigung.pdf"
	for _, ev := range v.Events {
		text, message := statusText(p.L, ev.Status), ev.Message
		switch ev.Kind {
		case store.EventAnswer:
			text = p.L.T("status.event.answer")
		case store.EventVideoPlanned, store.EventVideoMoved, store.EventVideoCancelled,
			store.EventOfferMade, store.EventOfferBooked, store.EventOfferWithdrawn:
			text, message = videoEventText(p.L, ev, s.loc), ""
		}
		p.Events = append(p.Events, eventView{At: formatTime(p.L, ev.At, s.loc), Text: text, Message: message})
	}
	if v.Submission.Status == domain.Question {
		// The open question is the latest Rückfrage.
		for i := len(v.Events) - 1; i >= 0; i-- {
			if ev := v.Events[i]; ev.Kind == store.EventStatus && ev.Status == domain.Question {
				p.Question = &questionView{
					Text: ev.Message, At: formatTime(p.L, ev.At, s.loc), RequestFiles: ev.RequestFiles, Action: base + "/antwort",
					MaxFiles: submission.AnswerMaxFiles, MaxSizeMB: forms.MaxUploadMB,
				}
				break
			}
		}
	}
	if err := s.statusOffer(c, p, v.Submission); err != nil {
		return nil, nil, nil, err
	}
	return v, p, f, nil
}

// showReceipt answers GET /status/:token/eingang: the receipt page right
// after submitting (of a deleted case: that it was deleted).
func (s *Server) showReceipt(c *fiber.Ctx) error {
	_, p, _, err := s.submissionView(c)
	if err != nil {
		return s.orDeleted(c, err)
	}
	p.Title = p.L.T("receipt.title")
	p.Again = c.Query("erneut") == "1"
	c.Set(fiber.HeaderCacheControl, "no-store")
	return s.views.render(c, fiber.StatusOK, "receipt", p)
}

// showStatus answers GET /status/:token: the submission's status and the
// events its citizen may see; for a case deleted when its retention
// period ended, that it was deleted and when.
func (s *Server) showStatus(c *fiber.Ctx) error {
	_, p, _, err := s.submissionView(c)
	if err != nil {
		return s.orDeleted(c, err)
	}
	p.Title = p.L.T("status.title")
	p.Answered = c.Query("beantwortet") == "1"
	p.Booked = c.Query("termin") == "gebucht"
	if p.Question != nil || p.Offer != nil {
		p.CSRF = s.csrf.token(c)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return s.views.render(c, fiber.StatusOK, "status", p)
}

// receiptPDF answers GET /status/:token/eingangsbestaetigung.pdf: the
// receipt with every answer, generated on request and never stored (of a
// deleted case: the page that says it was deleted).
func (s *Server) receiptPDF(c *fiber.Ctx) error {
	v, p, f, err := s.submissionView(c)
	if err != nil {
		return s.orDeleted(c, err)
	}
	lang := p.Lang.Code
	d := receipt.Data{
		Lang: lang, Title: p.L.T("receipt.pdf.title"), Reference: p.Reference, Service: p.Service,
		Office: receipt.Office{
			Name: p.Office.Name, Street: p.Office.Street, PostalCode: p.Office.PostalCode, City: p.Office.City,
			Phone: p.Office.Phone, Email: p.Office.Email,
		},
		SubmittedAt: v.Submission.SubmittedAt,
		Labels: receipt.Labels{
			Reference: p.L.T("receipt.reference"), Service: p.L.T("receipt.service"), Office: p.L.T("receipt.office"),
			SubmittedAt: p.L.T("receipt.submitted_at"), Answers: p.L.T("receipt.pdf.answers"), Hash: p.L.T("receipt.pdf.checksum"),
			HashHint: p.L.T("receipt.pdf.checksum_hint"), Status: p.L.T("receipt.pdf.status"), Page: p.L.T("receipt.pdf.page"),
		},
		RecordSHA256: hex.EncodeToString(v.Submission.RecordSHA256),
		// No status link: receipts get forwarded (a measles proof to the
		// Kita), and the link is the citizen's key to the case.
		NextSteps: p.L.T("receipt.next.text"),
	}
	a := forms.AnswersFromRecord(f, v.Envelope.Answers)
	for _, sec := range forms.Summarize(f, a, lang, s.words(p.L)) {
		rs := receipt.Section{Title: sec.Title}
		for _, it := range sec.Items {
			rs.Items = append(rs.Items, receipt.Item{Label: it.Label, Value: it.Value})
		}
		d.Sections = append(d.Sections, rs)
	}
	// A receipt takes about 8 ms of CPU and 12 MB of allocations: at most
	// one per core at a time, the others wait their turn.
	select {
	case s.pdfSlots <- struct{}{}:
		defer func() { <-s.pdfSlots }()
	case <-c.UserContext().Done():
		return c.UserContext().Err()
	}
	var buf bytes.Buffer
	if err := receipt.Render(&buf, d); err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderContentType, "application/pdf")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="eingangsbestaetigung-`+p.Reference+`.pdf"`)
	return c.Send(buf.Bytes())
}

// statusText names a status in the reader's language.
func statusText(l *i18n.Localizer, status domain.Status) string {
	id := "status.state." + string(status)
	if l.Has(id) {
		return l.T(id)
	}
	return string(status)
}

// formatDate shows the day of a moment in the offices' time zone.
func formatDate(l *i18n.Localizer, t time.Time, loc *time.Location) string {
	t = t.In(loc)
	if l.Lang().Code == "de" {
		return t.Format("02.01.2006")
	}
	return t.Format("2 January 2006")
}

// videoEventText is a video consultation's timeline entry (planned,
// moved or cancelled) or an offer of appointments' (made, booked,
// withdrawn), with the start the event's message names, if any.
func videoEventText(l *i18n.Localizer, ev store.Event, loc *time.Location) string {
	date := ev.Message
	if at, err := time.Parse(time.RFC3339, ev.Message); err == nil {
		date = formatTime(l, at, loc)
	}
	return l.Tf("status.event."+ev.Kind, "Date", date)
}

// formatTime shows a moment in the offices' time zone.
func formatTime(l *i18n.Localizer, t time.Time, loc *time.Location) string {
	t = t.In(loc)
	if l.Lang().Code == "de" {
		return t.Format("02.01.2006, 15:04") + " Uhr"
	}
	return t.Format("2 January 2006, 15:04")
}
