package mail_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	ics "github.com/arran4/golang-ical"
	gomail "github.com/emersion/go-message/mail"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/gesundheitsamt/portal/internal/crypto"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/i18n"
	"github.com/gesundheitsamt/portal/internal/mail"
	"github.com/gesundheitsamt/portal/internal/mail/mailtest"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/store/storetest"
	"github.com/gesundheitsamt/portal/locales"
)

// videoWorld is a fresh database with one office, a notifier that only
// inserts jobs, and a worker that writes their mails.
type videoWorld struct {
	db       *store.DB
	notifier *mail.Notifier
	worker   *mail.Worker
	office   store.Office
	berlin   *time.Location
}

func newVideoWorld(t *testing.T) *videoWorld {
	t.Helper()
	ctx := context.Background()
	db := storetest.New(t)
	o := store.Office{Slug: "leipzig", Code: "LEJ", Name: "Gesundheitsamt Leipzig", Street: "Friedrich-Ebert-Straße 19a",
		PostalCode: "04109", City: "Leipzig", Phone: "+49 341 123-6700", Email: "gesundheitsamt@leipzig.example"}
	id, err := store.UpsertOffice(ctx, db, o)
	if err != nil {
		t.Fatal(err)
	}
	o.ID = id
	client, err := river.NewClient(db.RiverDriver(), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	box, err := crypto.NewBox([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := i18n.New(locales.FS)
	if err != nil {
		t.Fatal(err)
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	base, _ := url.Parse("https://portal.example")
	return &videoWorld{
		db: db, notifier: mail.NewNotifier(client, box, []byte("video-test-secret")), office: o, berlin: berlin,
		worker: &mail.Worker{DB: db, Bundle: bundle, BaseURL: base, From: "portal@gesundheitsamt.example", Loc: berlin, Box: box},
	}
}

// mailAbout is a video mail about consultation 42 at office o on
// 3 December 2026, 10:00 in Leipzig, for 30 minutes.
func (w *videoWorld) mailAbout(tmpl, lang string, seq int) mail.VideoMail {
	return mail.VideoMail{
		Key: "video:42:" + tmpl + ":" + lang, Template: tmpl, OfficeID: w.office.ID, ConsultationID: 42, Sequence: seq,
		To: "zoe.obriain@example.org", Name: "Zoë Ó Briain", Lang: lang, Token: "JoinTokenZ0e4x",
		Start: time.Date(2026, 12, 3, 10, 0, 0, 0, w.berlin), Length: 30 * time.Minute, Reference: "LEJ-2026-00042",
	}
}

// enqueue runs Notifier.Video in a transaction and returns the job's
// arguments as the queue holds them, and their JSON.
func (w *videoWorld) enqueue(t *testing.T, v mail.VideoMail) (mail.Args, string) {
	t.Helper()
	ctx := context.Background()
	if err := w.db.InTx(ctx, func(tx pgx.Tx) error { return w.notifier.Video(ctx, tx, v) }); err != nil {
		t.Fatal(err)
	}
	var raw string
	if err := w.db.QueryRow(ctx, `SELECT args::text FROM river_job WHERE kind = 'mail.send' AND args->>'key' = $1`, v.Key).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	var a mail.Args
	if err := json.Unmarshal([]byte(raw), &a); err != nil {
		t.Fatal(err)
	}
	return a, raw
}

// TestVideoMailJobCarriesNothingInPlainText enqueues a video mail and reads
// the queue as anyone with database access can: no address, name, token
// or reference. A retry of the event makes no second job; what cannot
// become a mail is refused before it is queued.
func TestVideoMailJobCarriesNothingInPlainText(t *testing.T) {
	w := newVideoWorld(t)
	ctx := context.Background()
	v := w.mailAbout(mail.TemplateVideoInvite, "de", 0)
	a, raw := w.enqueue(t, v)
	for _, secret := range []string{v.To, "zoe.obriain", "Briain", v.Token, v.Reference} {
		if strings.Contains(strings.ToLower(raw), strings.ToLower(secret)) {
			t.Errorf("the job's args hold %q in plain text: %s", secret, raw)
		}
	}
	if a.Template != mail.TemplateVideoInvite || a.OfficeID != w.office.ID || len(a.Sealed) == 0 {
		t.Errorf("args %+v", a)
	}
	var queue string
	var attempts int
	if err := w.db.QueryRow(ctx, `SELECT queue, max_attempts FROM river_job WHERE args->>'key' = $1`, v.Key).Scan(&queue, &attempts); err != nil {
		t.Fatal(err)
	}
	if queue != mail.Queue || attempts != mail.MaxAttempts {
		t.Errorf("queue %q, %d attempts: not the mail queue's", queue, attempts)
	}

	// The same event again (the video service's retry): one job.
	w.enqueue(t, v)
	var jobs int
	if err := w.db.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE args->>'key' = $1`, v.Key).Scan(&jobs); err != nil {
		t.Fatal(err)
	}
	if jobs != 1 {
		t.Errorf("%d jobs for one key", jobs)
	}

	// The sealed data opens only in its own job: moved to another
	// office's, it is no mail.
	moved := a
	moved.OfficeID++
	if _, err := w.worker.Compose(ctx, moved); err == nil {
		t.Error("a video job's sealed data opened under another office")
	}

	invalid := map[string]func(*mail.VideoMail){
		"an unknown template":          func(v *mail.VideoMail) { v.Template = mail.TemplateReceipt },
		"no recipient":                 func(v *mail.VideoMail) { v.To = "  " },
		"no key":                       func(v *mail.VideoMail) { v.Key = "" },
		"an invitation without a link": func(v *mail.VideoMail) { v.Token = "" },
		"a guest without a link":       func(v *mail.VideoMail) { v.Template, v.Token = mail.TemplateVideoGuest, "" },
		"no length":                    func(v *mail.VideoMail) { v.Length = 0 },
		"no start":                     func(v *mail.VideoMail) { v.Start = time.Time{} },
	}
	for name, change := range invalid {
		t.Run(name, func(t *testing.T) {
			bad := w.mailAbout(mail.TemplateVideoInvite, "de", 0)
			bad.Key = "video:42:invalid"
			change(&bad)
			err := w.db.InTx(ctx, func(tx pgx.Tx) error { return w.notifier.Video(ctx, tx, bad) })
			if fault.KindOf(err) != fault.Invalid {
				t.Errorf("error %v, want Invalid", err)
			}
		})
	}
	if err := w.db.QueryRow(ctx, `SELECT count(*) FROM river_job`).Scan(&jobs); err != nil || jobs != 1 {
		t.Errorf("%d jobs (%v): an invalid video mail was queued", jobs, err)
	}
	// A cancellation needs no link.
	cancel := w.mailAbout(mail.TemplateVideoCancelled, "de", 1)
	cancel.Token = ""
	w.enqueue(t, cancel)
}

// TestVideoMailsSayWhenAndLinkOnlyWhereTheyMay composes every video mail
// in both languages from the job Notifier.Video queued: subject, link
// (none in a cancellation), the reference (never in a guest's mail) and a
// calendar file that parses back with the method, UID, SEQUENCE and times
// a calendar needs.
func TestVideoMailsSayWhenAndLinkOnlyWhereTheyMay(t *testing.T) {
	w := newVideoWorld(t)
	ctx := context.Background()
	link := "https://portal.example/video/JoinTokenZ0e4x"
	tests := []struct {
		tmpl, lang, subject string
		seq                 int
		link, reference     bool
		method              string
		say                 []string // in the text, besides date, time and office
	}{
		{mail.TemplateVideoInvite, "de", "Ihre Videosprechstunde am 03.12.2026 um 10:00 Uhr", 0, true, true, "REQUEST",
			[]string{"Guten Tag Zoë Ó Briain,", "Uhrzeit: 10:00 Uhr", "Dauer: 30 Minuten", "Vorgangsnummer: LEJ-2026-00042", "30 Minuten vor Beginn", "2 Stunden nach Beginn", "Kamera", "Mikrofon", "nicht weiter"}},
		{mail.TemplateVideoInvite, "en", "Your video consultation on 3 December 2026 at 10:00", 0, true, true, "REQUEST",
			[]string{"Hello Zoë Ó Briain,", "Time: 10:00 (CET)", "Duration: 30 minutes", "Reference number: LEJ-2026-00042", "camera", "no app"}},
		{mail.TemplateVideoMoved, "de", "Neuer Termin für Ihre Videosprechstunde: 03.12.2026 um 10:00 Uhr", 1, true, true, "REQUEST",
			[]string{"wurde verschoben", "Ihr Link bleibt derselbe"}},
		{mail.TemplateVideoMoved, "en", "New time for your video consultation: 3 December 2026 at 10:00", 1, true, true, "REQUEST",
			[]string{"has been moved", "Your link stays the same"}},
		{mail.TemplateVideoCancelled, "de", "Abgesagt: Ihre Videosprechstunde am 03.12.2026 um 10:00 Uhr", 2, false, true, "CANCEL",
			[]string{"wurde abgesagt", "gilt nicht mehr", "aus Ihrem Kalender entfernen"}},
		{mail.TemplateVideoCancelled, "en", "Cancelled: your video consultation on 3 December 2026 at 10:00", 2, false, true, "CANCEL",
			[]string{"has been cancelled", "no longer works"}},
		{mail.TemplateVideoGuest, "de", "Einladung zu einer Videosprechstunde am 03.12.2026 um 10:00 Uhr", 1, true, false, "REQUEST",
			[]string{"als Gast", "Dolmetschen", "nur für Sie als eingeladenen Gast"}},
		{mail.TemplateVideoGuest, "en", "Invitation to a video consultation on 3 December 2026 at 10:00", 1, true, false, "REQUEST",
			[]string{"as a guest", "interpreter", "only for you as the invited guest"}},
	}
	for _, tt := range tests {
		t.Run(tt.tmpl+"."+tt.lang, func(t *testing.T) {
			v := w.mailAbout(tt.tmpl, tt.lang, tt.seq)
			if tt.tmpl == mail.TemplateVideoCancelled {
				v.Token = ""
			}
			// The guest's job is given a reference, as a careless caller
			// might: the mail shows none all the same.
			a, _ := w.enqueue(t, v)
			m, err := w.worker.Compose(ctx, a)
			if err != nil {
				t.Fatal(err)
			}
			if m.Subject != tt.subject {
				t.Errorf("subject %q, want %q", m.Subject, tt.subject)
			}
			if m.To.Email != v.To || m.From.Name != w.office.Name || m.From.Email != "portal@gesundheitsamt.example" ||
				m.ReplyTo == nil || m.ReplyTo.Email != w.office.Email {
				t.Errorf("from %+v, reply-to %+v, to %+v", m.From, m.ReplyTo, m.To)
			}
			date := map[string]string{"de": "Datum: 03.12.2026", "en": "Date: 3 December 2026"}[tt.lang]
			for _, want := range append([]string{date, "Gesundheitsamt Leipzig", "04109 Leipzig", w.office.Email}, tt.say...) {
				if !strings.Contains(m.Text, want) {
					t.Errorf("no %q in the text:\n%s", want, m.Text)
				}
			}
			for part, body := range map[string]string{"text": m.Text, "html": m.HTML} {
				if got := strings.Contains(body, link); got != tt.link {
					t.Errorf("%s: the join link is there: %v, want %v", part, got, tt.link)
				}
				if strings.Contains(body, "/video/") != tt.link {
					t.Errorf("%s: a /video/ link where none belongs:\n%s", part, body)
				}
				if got := strings.Contains(body, v.Reference); got != tt.reference {
					t.Errorf("%s: the reference is there: %v, want %v", part, got, tt.reference)
				}
				if strings.Contains(body, "mail.video") || strings.Contains(body, "<no value>") {
					t.Errorf("%s: a message id or field is missing:\n%s", part, body)
				}
			}
			if tt.tmpl == mail.TemplateVideoGuest && !strings.Contains(m.Text, "Guten Tag Zoë") && !strings.Contains(m.Text, "Hello Zoë") {
				t.Error("the guest's greeting does not name the guest")
			}

			if len(m.Attachments) != 1 {
				t.Fatalf("%d attachments, want the calendar file", len(m.Attachments))
			}
			att := m.Attachments[0]
			wantName := map[string]string{"de": "videosprechstunde.ics", "en": "video-consultation.ics"}[tt.lang]
			if att.Name != wantName || att.MediaType != "text/calendar; charset=utf-8; method="+tt.method {
				t.Errorf("attachment %q %q", att.Name, att.MediaType)
			}
			ev := parseEvent(t, att.Content, tt.method)
			checkEvent(t, ev, tt.seq, tt.link, link)
			status := map[string]string{"REQUEST": "CONFIRMED", "CANCEL": "CANCELLED"}[tt.method]
			if got := propValue(ev, ics.ComponentPropertyStatus); got != status {
				t.Errorf("STATUS %q, want %q", got, status)
			}
			if !bytes.Contains(att.Content, []byte("\r\nEND:VCALENDAR\r\n")) {
				t.Error("the calendar's lines do not end in CRLF")
			}
			if bytes.Contains(att.Content, []byte(v.Reference)) || bytes.Contains(att.Content, []byte("Zoë")) {
				t.Errorf("the calendar names the case or the person:\n%s", att.Content)
			}
		})
	}
}

// parseEvent parses a calendar file with the library a client might use
// and returns its one event, after checking the calendar's METHOD.
func parseEvent(t *testing.T, content []byte, method string) *ics.VEvent {
	t.Helper()
	cal, err := ics.ParseCalendar(bytes.NewReader(content))
	if err != nil {
		t.Fatalf("the calendar does not parse: %v\n%s", err, content)
	}
	var got string
	for _, p := range cal.CalendarProperties {
		if p.IANAToken == string(ics.PropertyMethod) {
			got = p.Value
		}
	}
	if got != method {
		t.Errorf("METHOD %q, want %q", got, method)
	}
	events := cal.Events()
	if len(events) != 1 {
		t.Fatalf("%d events in\n%s", len(events), content)
	}
	return events[0]
}

// checkEvent checks what every video calendar event carries: the UID all
// mails about consultation 42 share, the sequence, the times in UTC, the
// summary, the office as organizer, and the link (or none).
func checkEvent(t *testing.T, ev *ics.VEvent, seq int, hasLink bool, link string) {
	t.Helper()
	if ev.Id() != "video-42@gesundheitsamt.example" {
		t.Errorf("UID %q", ev.Id())
	}
	if got := propValue(ev, ics.ComponentPropertySequence); got != strconv.Itoa(seq) {
		t.Errorf("SEQUENCE %q, want %d", got, seq)
	}
	for prop, want := range map[ics.ComponentProperty]string{ics.ComponentPropertyDtStart: "20261203T090000Z", ics.ComponentPropertyDtEnd: "20261203T093000Z"} {
		if got := propValue(ev, prop); got != want {
			t.Errorf("%s %q, want %q", prop, got, want)
		}
	}
	if start, err := ev.GetStartAt(); err != nil || !start.Equal(time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)) {
		t.Errorf("start %v (%v)", start, err)
	}
	if stamp, err := ev.GetDtStampTime(); err != nil || time.Since(stamp) > time.Hour || time.Since(stamp) < -time.Minute {
		t.Errorf("DTSTAMP %v (%v): not when the mail was queued", stamp, err)
	}
	if got := propValue(ev, ics.ComponentPropertySummary); got != "Videosprechstunde – Gesundheitsamt Leipzig" && got != "Video consultation – Gesundheitsamt Leipzig" {
		t.Errorf("SUMMARY %q", got)
	}
	org := ev.GetProperty(ics.ComponentPropertyOrganizer)
	if org == nil || org.Value != "mailto:gesundheitsamt@leipzig.example" || len(org.ICalParameters["CN"]) != 1 || org.ICalParameters["CN"][0] != "Gesundheitsamt Leipzig" {
		t.Errorf("ORGANIZER %+v", org)
	}
	// The recipient, without a name; no reply is asked for.
	if as := ev.Attendees(); len(as) != 1 || as[0].Email() != "zoe.obriain@example.org" ||
		len(as[0].ICalParameters["CN"]) != 0 || strings.Join(as[0].ICalParameters["RSVP"], ",") != "FALSE" {
		t.Errorf("ATTENDEE %+v", as)
	}
	url, desc := propValue(ev, ics.ComponentPropertyUrl), propValue(ev, ics.ComponentPropertyDescription)
	if hasLink && (url != link || !strings.Contains(desc, link)) {
		t.Errorf("URL %q, DESCRIPTION %q: want the link %s", url, desc, link)
	}
	if !hasLink && (url != "" || strings.Contains(desc, "/video/") || propValue(ev, ics.ComponentPropertyLocation) != "") {
		t.Errorf("a cancellation with a link: URL %q, DESCRIPTION %q", url, desc)
	}
}

func propValue(ev *ics.VEvent, p ics.ComponentProperty) string {
	if prop := ev.GetProperty(p); prop != nil {
		return prop.Value
	}
	return ""
}

// TestVideoCancellationMailGoesOutWithItsCalendar works a cancellation's job
// as the queue does, to a real SMTP server: the mail arrives once, and
// its calendar part says CANCEL in its content type, where Outlook and
// Gmail read it, and in the file.
func TestVideoCancellationMailGoesOutWithItsCalendar(t *testing.T) {
	w := newVideoWorld(t)
	ctx := context.Background()
	sink := mailtest.Start(t)
	sender, err := mail.NewSMTP("smtp://"+sink.Addr, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sender.Close)
	w.worker.Sender = sender
	v := w.mailAbout(mail.TemplateVideoCancelled, "de", 3)
	v.Token = ""
	a, _ := w.enqueue(t, v)
	job := &river.Job[mail.Args]{JobRow: &rivertype.JobRow{Attempt: 1}, Args: a}
	for range 2 { // a second run of the job finds the mail recorded as sent
		if err := w.worker.Work(ctx, job); err != nil {
			t.Fatal(err)
		}
	}
	got := sink.Wait(1, 5*time.Second)
	time.Sleep(100 * time.Millisecond)
	if n := len(sink.Mails()); n != 1 {
		t.Fatalf("%d mails for one job", n)
	}
	if got[0].To[0] != v.To {
		t.Errorf("to %v", got[0].To)
	}
	r, err := gomail.CreateReader(bytes.NewReader(got[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	var content []byte
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h, ok := p.Header.(*gomail.AttachmentHeader); ok {
			mt, params, _ := h.ContentType()
			name, _ := h.Filename()
			if mt != "text/calendar" || params["method"] != "CANCEL" || params["charset"] != "utf-8" || name != "videosprechstunde.ics" {
				t.Errorf("attachment %s %v %q", mt, params, name)
			}
			content, _ = io.ReadAll(p.Body)
		}
	}
	if content == nil {
		t.Fatal("no calendar in the mail")
	}
	checkEvent(t, parseEvent(t, content, "CANCEL"), 3, false, "")
}

// An office without an address of its own: no Reply-To, no promise that
// a reply reaches the office, and the calendar's organizer is the portal's
// sender (an invitation needs one).
func TestVideoMailOfAnOfficeWithoutAddress(t *testing.T) {
	w := newVideoWorld(t)
	ctx := context.Background()
	if _, err := w.db.Exec(ctx, `UPDATE office SET email = '' WHERE id = $1`, w.office.ID); err != nil {
		t.Fatal(err)
	}
	a, _ := w.enqueue(t, w.mailAbout(mail.TemplateVideoInvite, "de", 0))
	m, err := w.worker.Compose(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if m.ReplyTo != nil || strings.Contains(m.Text, "antworten") || !strings.Contains(m.Text, "Bei Fragen wenden Sie sich an das Gesundheitsamt:") {
		t.Errorf("reply-to %+v, text:\n%s", m.ReplyTo, m.Text)
	}
	org := parseEvent(t, m.Attachments[0].Content, "REQUEST").GetProperty(ics.ComponentPropertyOrganizer)
	if org == nil || org.Value != "mailto:portal@gesundheitsamt.example" {
		t.Errorf("ORGANIZER %+v", org)
	}
}
