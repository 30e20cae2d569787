package mail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/i18n"
	"github.com/gesundheitsamt/portal/internal/store"
)

// VideoMail is one mail about a video consultation.
type VideoMail struct {
	Key            string // unique per mail (the caller makes it: "video:<id>:<n>"); a retry of the same event sends one mail
	Template       string // one of the TemplateVideo* constants
	OfficeID       int64
	ConsultationID int64
	Sequence       int    // ICS SEQUENCE: 0 at creation, +1 per reschedule and at cancellation
	To, Name, Lang string // recipient address, display name (may be empty), language ("de", "en")
	Token          string // the join token, path of the link /video/<token>; empty for a cancellation
	Start          time.Time
	Length         time.Duration
	// Reference is the case's reference number, may be empty (a booking
	// without a case). A guest's mail never shows it; a caller that sends
	// a guest the move or cancellation of a consultation leaves it empty.
	Reference string
}

// videoData is what a video mail's job carries, sealed: the database
// keeps only the join token's hash, and the queue no address.
type videoData struct {
	To, Name, Lang, Token, Reference string
	Start                            time.Time
	Length                           time.Duration
	Sequence                         int
	ConsultationID                   int64
	// Stamp is when the mail was enqueued: the calendar's DTSTAMP, the
	// same at every attempt.
	Stamp time.Time
}

// videoAAD binds a sealed video job to its key, template and office: the
// sealed data cannot be moved to another job, another kind of mail or
// another office's.
func videoAAD(a Args) []byte {
	return []byte("portal-mail-video\x00" + a.Template + "\x00" + strconv.FormatInt(a.OfficeID, 10) + "\x00" + a.Key)
}

// Video enqueues one mail about a video consultation, in tx: the
// transaction of the video service's change that causes it. Address,
// name, token, time and reference are sealed into the job; one job per
// Key. The mails are caused by staff, so they do not count against
// RecipientPerDay. Errors: Invalid (no Key, an unknown Template, no To,
// no Token for a mail with a link, no Start or Length).
func (n *Notifier) Video(ctx context.Context, tx pgx.Tx, v VideoMail) error {
	const op = "mail: video mail"
	_, known := videoMails[v.Template]
	switch {
	case v.Key == "":
		return fault.Wrap(fault.Invalid, op, errors.New("no key"))
	case !known:
		return fault.Wrap(fault.Invalid, op, fmt.Errorf("unknown template %q", v.Template))
	case strings.TrimSpace(v.To) == "":
		return fault.Wrap(fault.Invalid, op, errors.New("no recipient"))
	case v.Token == "" && v.Template != TemplateVideoCancelled:
		return fault.Wrap(fault.Invalid, op, fmt.Errorf("%s without a join token", v.Template))
	case v.Start.IsZero() || v.Length <= 0:
		return fault.Wrap(fault.Invalid, op, errors.New("no start or length"))
	}
	data := videoData{
		To: strings.TrimSpace(v.To), Name: v.Name, Lang: v.Lang, Token: v.Token, Reference: v.Reference,
		Start: v.Start, Length: v.Length, Sequence: v.Sequence, ConsultationID: v.ConsultationID,
		Stamp: time.Now().UTC().Truncate(time.Second),
	}
	// What a mail does not show is not kept with it.
	if v.Template == TemplateVideoCancelled {
		data.Token = ""
	}
	if v.Template == TemplateVideoGuest {
		data.Reference = ""
	}
	plain, err := json.Marshal(data)
	if err != nil {
		return err
	}
	a := Args{Key: v.Key, Template: v.Template, OfficeID: v.OfficeID}
	if a.Sealed, err = n.box.Seal(plain, videoAAD(a)); err != nil {
		return err
	}
	if _, err := n.client.InsertTx(ctx, tx, a, insertOpts()); err != nil {
		return fmt.Errorf("mail: enqueue %s: %w", v.Key, err)
	}
	return nil
}

// videoTexts are the message ids of one video mail's own texts; the
// rest (the facts, what is needed, the office) all of them share.
type videoTexts struct {
	subject, intro string
	// linkIntro leads to the join link; empty: the mail has no link and
	// says contact instead.
	linkIntro, contact string
	secret             string
	calendar, footer   string
	reference          bool // the case's reference number may be shown
	cancel             bool // the calendar file cancels the appointment
}

var videoMails = map[string]videoTexts{
	TemplateVideoInvite: {
		subject: "mail.video_invite.subject", intro: "mail.video_invite.intro",
		linkIntro: "mail.video.link_intro", secret: "mail.video.secret",
		calendar: "mail.video.calendar", footer: "mail.video.footer", reference: true,
	},
	TemplateVideoMoved: {
		subject: "mail.video_moved.subject", intro: "mail.video_moved.intro",
		linkIntro: "mail.video_moved.link_intro", secret: "mail.video.secret",
		calendar: "mail.video.calendar", footer: "mail.video.footer", reference: true,
	},
	TemplateVideoCancelled: {
		subject: "mail.video_cancelled.subject", intro: "mail.video_cancelled.intro",
		contact:  "mail.video_cancelled.contact",
		calendar: "mail.video_cancelled.calendar", footer: "mail.video.footer", reference: true, cancel: true,
	},
	TemplateVideoGuest: {
		subject: "mail.video_guest.subject", intro: "mail.video_guest.intro",
		linkIntro: "mail.video.link_intro", secret: "mail.video_guest.secret",
		calendar: "mail.video.calendar", footer: "mail.video_guest.footer",
	},
}

// The window in which a join link opens the consultation, as the mails
// tell it.
const (
	joinOpensBefore = 30 * time.Minute
	joinValidAfter  = 2 * time.Hour
)

// videoView is what a video mail's templates show.
type videoView struct {
	L                  *i18n.Localizer
	Subject, Greeting  string
	Intro              string
	Date, Time, Length string
	Reference          string // empty: not shown
	LinkIntro, Link    string // empty: a cancellation, which has Contact
	Window, Secret     string
	Contact            string
	Calendar, Reply    string
	Footer             string
	Office             store.Office
}

// videoMail is a mail about a video consultation: when, how long, the
// join link and what is needed, with the appointment as a calendar file.
// It reads the office (by the job's office) and the sealed data, nothing
// of the case: no answer, no diagnosis, in a guest's mail not even the
// reference. Errors: NotFound (the office is gone).
func (w *Worker) videoMail(ctx context.Context, a Args) (Message, error) {
	texts, ok := videoMails[a.Template]
	if !ok {
		return Message{}, river.JobCancel(fmt.Errorf("%w: %q", errNoTemplate, a.Template))
	}
	if w.Box == nil {
		return Message{}, river.JobCancel(errors.New("mail: no key to open a video job"))
	}
	plain, err := w.Box.Open(a.Sealed, videoAAD(a))
	if err != nil {
		return Message{}, river.JobCancel(fmt.Errorf("mail: video job %s: %w", a.Key, err))
	}
	var v videoData
	if err := json.Unmarshal(plain, &v); err != nil {
		return Message{}, river.JobCancel(err)
	}
	office, err := store.GetOffice(ctx, w.DB, a.OfficeID)
	if err != nil {
		return Message{}, err
	}
	l := w.Bundle.Localizer(v.Lang)
	start := v.Start.In(w.location())
	date, clock := start.Format("02.01.2006"), start.Format("15:04")
	if l.Lang().Code != "de" {
		date = start.Format("2 January 2006")
	}
	d := videoView{
		L: l, Office: office, Date: date,
		Subject:  l.Tf(texts.subject, "Date", date, "Time", clock),
		Greeting: l.T("mail.greeting"),
		Intro:    l.Tf(texts.intro, "Office", office.Name),
		Time:     l.Tf("mail.video.time_value", "Time", clock, "Zone", start.Format("MST")),
		Length:   l.Tf("mail.video.length_value", "Minutes", int(v.Length.Round(time.Minute)/time.Minute)),
		Calendar: l.T(texts.calendar), Footer: l.T(texts.footer),
		Reply: l.T("mail.video.contact"),
	}
	if name := oneLine(v.Name); name != "" {
		d.Greeting = l.Tf("mail.video.greeting_name", "Name", name)
	}
	if texts.reference {
		d.Reference = v.Reference
	}
	if texts.linkIntro != "" {
		d.LinkIntro, d.Link = l.T(texts.linkIntro), w.BaseURL.JoinPath("video", v.Token).String()
		d.Window = l.Tf("mail.video.window", "Before", int(joinOpensBefore/time.Minute), "After", int(joinValidAfter/time.Hour))
		d.Secret = l.T(texts.secret)
	} else {
		d.Contact = l.T(texts.contact)
	}
	m := Message{
		From: Address{Name: office.Name, Email: w.From}, To: Address{Name: v.Name, Email: v.To},
		Subject:   d.Subject,
		MessageID: messageID(w.From, a.Key),
	}
	if office.Email != "" {
		m.ReplyTo = &Address{Name: office.Name, Email: office.Email}
		d.Reply = l.T("mail.video.reply")
	}
	if m.Text, m.HTML, err = render(videoText, videoHTML, d); err != nil {
		return Message{}, err
	}
	description := d.Contact
	if d.Link != "" {
		description = d.LinkIntro + "\n" + d.Link + "\n\n" + d.Window + "\n\n" + d.Secret
	}
	cal, method := w.videoCalendar(v, office, texts.cancel, l.Tf("mail.video.summary", "Office", office.Name), description, d.Link)
	m.Attachments = append(m.Attachments, Attachment{
		Name:      l.T("mail.video.attachment") + ".ics",
		MediaType: "text/calendar; charset=utf-8; method=" + method,
		Content:   cal,
	})
	return m, nil
}
