package mail

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/riverqueue/river"

	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/i18n"
	"github.com/gesundheitsamt/portal/internal/receipt"
	"github.com/gesundheitsamt/portal/internal/store"
)

// mailData is what the mail templates show.
type mailData struct {
	L          *i18n.Localizer
	Subject    string
	Reference  string
	Service    string
	Status     string
	Link       string
	Office     store.Office
	Paragraphs []string            // message ids
	P          func(string) string // a paragraph's text, with the mail's facts filled in
}

// Compose writes the mail of a job, ready to encode; the Worker calls it
// for every job, tests to see a mail as it goes out. Errors: NotFound (the
// submission, the booking or the office does not exist, the submission
// has no address, or the office wants no such notice or summary, see
// officeNotice and digestMail); a cancelled job (river.JobCancel) for a
// booking no longer in the state its mail speaks of (bookingMail).
func (w *Worker) Compose(ctx context.Context, a Args) (Message, error) {
	switch a.Template {
	case TemplateResume:
		return w.resumeMail(ctx, a)
	case TemplateDigest:
		return w.digestMail(ctx, a)
	case TemplateVideoInvite, TemplateVideoMoved, TemplateVideoCancelled, TemplateVideoGuest:
		return w.videoMail(ctx, a)
	case TemplateBookingConfirm, TemplateBookingBooked, TemplateBookingMoved, TemplateBookingCancelled, TemplateBookingReminder, TemplateBookingOffer:
		return w.bookingMail(ctx, a)
	}
	sub, err := store.GetSubmission(ctx, w.DB, a.OfficeID, a.SubmissionID)
	if err != nil {
		return Message{}, err
	}
	office, err := store.GetOffice(ctx, w.DB, a.OfficeID)
	if err != nil {
		return Message{}, err
	}
	if a.Template == TemplateOfficeNew {
		return w.officeNotice(a, sub, office)
	}
	if sub.ContactEmail == "" {
		return Message{}, fault.New(fault.NotFound, "mail: compose", "")
	}
	token, err := w.Subs.AccessToken(sub)
	if err != nil {
		return Message{}, err
	}
	l := w.Bundle.Localizer(sub.Locale)
	d := mailData{
		L: l, Reference: sub.Reference, Service: text(l, "service."+sub.ServiceSlug+".title", sub.ServiceSlug),
		Status: text(l, "status.state."+string(sub.Status), string(sub.Status)),
		Link:   w.BaseURL.JoinPath("status", token).String(), Office: office,
	}
	t, ok := templates[a.Template]
	if !ok {
		return Message{}, river.JobCancel(fmt.Errorf("%w: %q", errNoTemplate, a.Template))
	}
	d.Paragraphs = bodies[a.Template]
	d.P = func(id string) string {
		return l.Tf(id, "Reference", d.Reference, "Service", d.Service, "Status", d.Status, "Office", office.Name)
	}
	m := Message{
		From: Address{Name: office.Name, Email: w.From}, To: Address{Email: sub.ContactEmail},
		Subject: l.Tf("mail."+a.Template+".subject", "Reference", sub.Reference),
		// One Message-ID per job: a retry after a lost answer is the same
		// mail to the receiving server, which may then drop the copy.
		MessageID: messageID(w.From, a.Key, strconv.FormatInt(sub.ID, 10)),
	}
	if office.Email != "" {
		m.ReplyTo = &Address{Name: office.Name, Email: office.Email}
	}
	d.Subject = m.Subject
	if m.Text, m.HTML, err = render(t.text, t.html, d); err != nil {
		return Message{}, err
	}
	if a.Template == TemplateReceipt {
		pdf, err := w.receiptPDF(l, sub, office, d.Service)
		if err != nil {
			return Message{}, err
		}
		m.Attachments = append(m.Attachments, Attachment{Name: l.T("mail.receipt.attachment") + ".pdf", MediaType: "application/pdf", Content: pdf})
	}
	return m, nil
}

// resumeMail is the mail with a saved draft's resume link. The link opens
// a page with a button (a mail scanner following it changes nothing).
func (w *Worker) resumeMail(ctx context.Context, a Args) (Message, error) {
	if w.Box == nil {
		return Message{}, river.JobCancel(errors.New("mail: no key to open a resume job"))
	}
	plain, err := w.Box.Open(a.Sealed, resumeAAD(a.Key))
	if err != nil {
		return Message{}, river.JobCancel(fmt.Errorf("mail: resume job %s: %w", a.Key, err))
	}
	var r resumeData
	if err := json.Unmarshal(plain, &r); err != nil {
		return Message{}, river.JobCancel(err)
	}
	office, err := store.GetOffice(ctx, w.DB, a.OfficeID)
	if err != nil {
		return Message{}, err
	}
	l := w.Bundle.Localizer(r.Lang)
	d := mailData{
		L: l, Service: text(l, "service."+r.Service+".title", r.Service), Office: office,
		Link: w.BaseURL.JoinPath("fortsetzen", r.Token).String(),
	}
	expires := r.Expires.In(w.location()).Format("02.01.2006")
	d.P = func(id string) string { return l.Tf(id, "Service", d.Service, "Office", office.Name, "Date", expires) }
	m := Message{
		From: Address{Name: office.Name, Email: w.From}, To: Address{Email: r.To},
		Subject:   l.T("mail.resume.subject"),
		MessageID: messageID(w.From, a.Key),
	}
	if office.Email != "" {
		m.ReplyTo = &Address{Name: office.Name, Email: office.Email}
	}
	d.Subject = m.Subject
	if m.Text, m.HTML, err = render(resumeText, resumeHTML, d); err != nil {
		return Message{}, err
	}
	return m, nil
}

// officeNotice is the mail to the office's inbox address about a new
// submission: in German (the office's language), with the service, the
// reference, the time and a link into the back office; never who applied
// or what they wrote. Errors: NotFound (the office has no address, or
// chose the daily summary or no mail; the job is enqueued with the
// submission all the same, which saves the submission a lookup).
func (w *Worker) officeNotice(a Args, sub store.Submission, office store.Office) (Message, error) {
	if office.Email == "" || office.Notify != store.NotifyEach {
		return Message{}, fault.New(fault.NotFound, "mail: office notice", "")
	}
	l := w.Bundle.Localizer("de")
	d := officeData{
		L: l, Reference: sub.Reference, Service: text(l, "service."+sub.ServiceSlug+".title", sub.ServiceSlug),
		Received: l.Tf("mail.office_new.received", "Date", sub.SubmittedAt.In(w.location()).Format("02.01.2006"),
			"Time", sub.SubmittedAt.In(w.location()).Format("15:04")),
		Link: w.BaseURL.JoinPath("staff", "faelle", strconv.FormatInt(sub.ID, 10)).String(),
	}
	d.Subject = l.Tf("mail.office_new.subject", "Reference", sub.Reference, "Service", d.Service)
	txt, html, err := render(officeText, officeHTML, d)
	if err != nil {
		return Message{}, err
	}
	return Message{
		From: Address{Name: l.T("mail.office_new.from"), Email: w.From}, To: Address{Name: office.Name, Email: office.Email},
		Subject: d.Subject, Text: txt, HTML: html,
		MessageID: messageID(w.From, a.Key, strconv.FormatInt(sub.ID, 10)),
	}, nil
}

// receiptPDF is the receipt without the answers: a mail travels unencrypted
// and may be read by others, so health data stays behind the status page.
func (w *Worker) receiptPDF(l *i18n.Localizer, sub store.Submission, o store.Office, service string) ([]byte, error) {
	d := receipt.Data{
		Lang: l.Lang().Code, Title: l.T("receipt.pdf.title"), Reference: sub.Reference, Service: service,
		Office:      receipt.Office{Name: o.Name, Street: o.Street, PostalCode: o.PostalCode, City: o.City, Phone: o.Phone, Email: o.Email},
		SubmittedAt: sub.SubmittedAt,
		Labels: receipt.Labels{
			Reference: l.T("receipt.reference"), Service: l.T("receipt.service"), Office: l.T("receipt.office"),
			SubmittedAt: l.T("receipt.submitted_at"), Answers: l.T("receipt.pdf.answers"), Hash: l.T("receipt.pdf.checksum"),
			HashHint: l.T("receipt.pdf.checksum_hint"), Status: l.T("receipt.pdf.status"), Page: l.T("receipt.pdf.page"),
		},
		RecordSHA256: hex.EncodeToString(sub.RecordSHA256),
		NextSteps:    l.T("mail.receipt.pdf_note"),
		CoreFonts:    true, // no names in it: Windows-1252 suffices, at a tenth of the cost
	}
	var buf bytes.Buffer
	err := receipt.Render(&buf, d)
	return buf.Bytes(), err
}

// text is the localized text of message id, or fallback where the
// locale has none (a service or a status without a title).
func text(l *i18n.Localizer, id, fallback string) string {
	if l.Has(id) {
		return l.T(id)
	}
	return fallback
}

// messageID is the Message-ID (without brackets) of a job's mail from
// the address from: the parts (the job's key first) joined by dots, at
// the sender's domain. Derived from the job alone, it is the same at
// every attempt, so a receiving system can drop a copy. A key's colons,
// and whatever else a msg-id may not carry (RFC 5322 dot-atom-text),
// become dots: a Message-ID that does not parse helps nobody drop
// anything.
func messageID(from string, parts ...string) string {
	left := strings.Map(func(r rune) rune {
		if r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", r)) {
			return r
		}
		return '.'
	}, strings.Join(parts, "."))
	for strings.Contains(left, "..") {
		left = strings.ReplaceAll(left, "..", ".")
	}
	return strings.Trim(left, ".") + "@" + domainOf(from)
}

func domainOf(addr string) string {
	if _, d, ok := strings.Cut(addr, "@"); ok && d != "" {
		return oneLine(d)
	}
	return "portal.invalid"
}

var errNoTemplate = errors.New("mail: no such template")
