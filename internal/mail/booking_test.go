package mail_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	ics "github.com/arran4/golang-ical"
	gomail "github.com/emersion/go-message/mail"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/mail"
	"github.com/gesundheitsamt/portal/internal/mail/mailtest"
	"github.com/gesundheitsamt/portal/internal/store"
)

var update = flag.Bool("update", false, "rewrite the golden booking mails in testdata/mail")

// goldenDir holds the expected booking mails, beside the other mails'
// (portal's TestMailGoldenFiles), relative to this package.
const goldenDir = "../../testdata/mail"

// bookingStart is the appointment of the tests' bookings: 10:00 in
// Leipzig, far enough ahead that a reminder is still to come.
var bookingStart = time.Date(2030, 12, 5, 9, 0, 0, 0, time.UTC)

const (
	bookingToken = "MailTokenZ0e4x"
	bookingEmail = "zoe.obriain@example.org"
	bookingName  = "Zoë Ó Briain"
	bookingPhone = "+49 170 5550123"
)

// bookingOf is a booking to make: where, what, and for whom.
type bookingOf struct {
	kind    string // store.CalendarOnsite or store.CalendarVideo
	service string
	lang    string
	name    string
	start   time.Time
}

// newBooking holds a place of a calendar of the office and gives it its
// citizen, as the booking service does: the booking is unconfirmed, its
// place kept for an hour.
func (w *videoWorld) newBooking(t *testing.T, of bookingOf) store.Booking {
	t.Helper()
	ctx := context.Background()
	c := store.Calendar{OfficeID: w.office.ID, Slug: "vor-ort", Name: "Sprechstunde vor Ort", Kind: store.CalendarOnsite,
		Place: "Friedrich-Ebert-Straße 19a, 04109 Leipzig, Raum 1.12", Slot: 30 * time.Minute, Notice: 2 * time.Hour, Horizon: 56 * 24 * time.Hour}
	if of.kind == store.CalendarVideo {
		c.Slug, c.Name, c.Kind, c.Place = "video", "Videosprechstunde", store.CalendarVideo, ""
	}
	if of.start.IsZero() {
		of.start = bookingStart
	}
	if of.lang == "" {
		of.lang = "de"
	}
	var id int64
	err := w.db.InTx(ctx, func(tx pgx.Tx) error {
		if err := store.UpsertService(ctx, tx, store.Service{Slug: of.service, FormRef: of.service}); err != nil {
			return err
		}
		cal, err := store.UpsertCalendar(ctx, tx, c)
		if err != nil {
			return err
		}
		if err := store.ReplaceCalendarServices(ctx, tx, w.office.ID, cal, []string{of.service}); err != nil {
			return err
		}
		rule := store.Rule{Weekday: of.start.In(w.berlin).Weekday(), Starts: 8 * time.Hour, Ends: 12 * time.Hour, Capacity: 50}
		if err := store.ReplaceCalendarRules(ctx, tx, w.office.ID, cal, []store.Rule{rule}); err != nil {
			return err
		}
		if id, _, err = store.HoldPlace(ctx, tx, store.PlaceHold{OfficeID: w.office.ID, CalendarID: cal, Service: of.service,
			Start: of.start, Capacity: 50, TTL: 10 * time.Minute, TokenHash: randomHash(t)}); err != nil {
			return err
		}
		_, err = store.SetBookingContact(ctx, tx, w.office.ID, id,
			store.BookingContact{Name: of.name, Email: bookingEmail, Phone: bookingPhone, Lang: of.lang}, randomHash(t), time.Hour)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return w.booking(t, id)
}

func (w *videoWorld) booking(t *testing.T, id int64) store.Booking {
	t.Helper()
	b, err := store.GetBooking(context.Background(), w.db, w.office.ID, id)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tokenHash is the hash the database keeps of a mail token.
func tokenHash(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

func randomHash(t *testing.T) []byte {
	t.Helper()
	h := make([]byte, 32)
	if _, err := rand.Read(h); err != nil {
		t.Fatal(err)
	}
	return h
}

// to brings booking b into state: booked (confirmed), moved (confirmed,
// then to 11:00, which counts its sequence up) or cancelled (confirmed,
// then cancelled); unconfirmed leaves it.
func (w *videoWorld) to(t *testing.T, b store.Booking, state string) store.Booking {
	t.Helper()
	ctx := context.Background()
	err := w.db.InTx(ctx, func(tx pgx.Tx) error {
		if state == store.BookingUnconfirmed {
			return nil
		}
		if err := store.ConfirmBooking(ctx, tx, w.office.ID, b.ID); err != nil {
			return err
		}
		switch state {
		case "moved":
			return store.MoveBooking(ctx, tx, w.office.ID, b.ID, b.Calendar.ID, b.Start.Add(time.Hour), 50)
		case store.BookingCancelled:
			return store.CancelBooking(ctx, tx, w.office.ID, b.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return w.booking(t, b.ID)
}

// bookingMail is the mail of template about b, with the key the booking
// service would give it.
func bookingMail(b store.Booking, tmpl string) mail.BookingMail {
	return mail.BookingMail{
		Key: "booking:" + strconv.FormatInt(b.ID, 10) + ":" + tmpl + ":1", Template: tmpl,
		OfficeID: b.OfficeID, BookingID: b.ID, Token: bookingToken,
	}
}

// enqueueBooking runs Notifier.Booking in a transaction and returns the
// job's arguments as the queue holds them, and their JSON.
func (w *videoWorld) enqueueBooking(t *testing.T, m mail.BookingMail) (mail.Args, string) {
	t.Helper()
	ctx := context.Background()
	// The booking's links are m's token now (the worker sends a mail only
	// with its booking's current token); another booking of the test that
	// had it gets another one.
	if m.Token != "" {
		for _, q := range []string{
			`UPDATE booking SET mail_token_hash = sha256(mail_token_hash || id::text::bytea) WHERE id <> $1 AND mail_token_hash = $2`,
			`UPDATE booking SET mail_token_hash = $2 WHERE id = $1`,
		} {
			if _, err := w.db.Exec(ctx, q, m.BookingID, tokenHash(m.Token)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.db.InTx(ctx, func(tx pgx.Tx) error { return w.notifier.Booking(ctx, tx, m) }); err != nil {
		t.Fatal(err)
	}
	var raw string
	if err := w.db.QueryRow(ctx, `SELECT args::text FROM river_job WHERE kind = 'mail.send' AND args->>'key' = $1`, m.Key).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	var a mail.Args
	if err := json.Unmarshal([]byte(raw), &a); err != nil {
		t.Fatal(err)
	}
	return a, raw
}

// The state each template's booking is brought into for its mail.
var bookingStates = map[string]string{
	mail.TemplateBookingConfirm:   store.BookingUnconfirmed,
	mail.TemplateBookingBooked:    store.BookingBooked,
	mail.TemplateBookingMoved:     "moved",
	mail.TemplateBookingCancelled: store.BookingCancelled,
	mail.TemplateBookingReminder:  store.BookingBooked,
	mail.TemplateBookingOffer:     store.BookingUnconfirmed,
}

var bookingTemplates = []string{mail.TemplateBookingConfirm, mail.TemplateBookingBooked, mail.TemplateBookingMoved,
	mail.TemplateBookingCancelled, mail.TemplateBookingReminder, mail.TemplateBookingOffer}

var (
	// shownID finds a message id shown instead of its text.
	shownID = regexp.MustCompile(`\b(mail|booking|service)\.[a-z_]+(\.[a-z_-]+)+\b`)
	dtstamp = regexp.MustCompile(`DTSTAMP:\d{8}T\d{6}Z`)
	jsonLD  = regexp.MustCompile(`(?s)<script type="application/ld\+json">(.*?)</script>`)
)

// TestBookingMailGoldenFiles composes every booking mail in German and
// English from the job Notifier.Booking queued, for an on-site
// Belehrung, and compares subject, text, HTML and calendar file with
// testdata/mail/booking_<event>.<lang>.golden (the booking's id and the
// DTSTAMP replaced by placeholders). Run with -update after an intended
// change, and read the diff.
func TestBookingMailGoldenFiles(t *testing.T) {
	ctx := context.Background()
	expires := time.Date(2030, 12, 1, 10, 45, 0, 0, time.UTC)
	for _, lang := range []string{"de", "en"} {
		for _, tmpl := range bookingTemplates {
			t.Run(tmpl+"."+lang, func(t *testing.T) {
				w := newVideoWorld(t)
				b := w.newBooking(t, bookingOf{service: "belehrung-infektionsschutz", lang: lang, name: bookingName})
				// The golden file's place is held until a fixed time, not
				// an hour from the test's run.
				if _, err := w.db.Exec(ctx, `UPDATE booking SET expires_at = $2 WHERE id = $1`, b.ID, expires); err != nil {
					t.Fatal(err)
				}
				b = w.to(t, b, bookingStates[tmpl])
				a, _ := w.enqueueBooking(t, bookingMail(b, tmpl))
				m, err := w.worker.Compose(ctx, a)
				if err != nil {
					t.Fatal(err)
				}
				got := "Subject: " + m.Subject + "\nTo: " + m.To.Email + "\n\n" + m.Text + "\n----\n" + m.HTML
				for _, att := range m.Attachments {
					got += "\n----\n" + att.Name + " (" + att.MediaType + ")\n" +
						dtstamp.ReplaceAllString(strings.ReplaceAll(string(att.Content), "\r\n", "\n"), "DTSTAMP:<STAMP>")
				}
				id := strconv.FormatInt(b.ID, 10)
				got = strings.NewReplacer("booking-"+id+"@", "booking-<ID>@", `"reservationNumber":"`+id+`"`, `"reservationNumber":"<ID>"`).Replace(got)
				if shownID.MatchString(got) || strings.Contains(got, "<no value>") {
					t.Errorf("a message id or template field is missing:\n%s", got)
				}
				again, err := w.worker.Compose(ctx, a)
				if err != nil || again.MessageID != m.MessageID {
					t.Errorf("Message-ID %q, then %q (%v): not stable across attempts", m.MessageID, again.MessageID, err)
				}
				checkGolden(t, filepath.Join(goldenDir, tmpl+"."+lang+".golden"), got)
			})
		}
	}
}

// checkGolden compares got with the golden file, or writes it there with
// -update.
func checkGolden(t *testing.T, file, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/mail -run TestBookingMailGoldenFiles -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file; run with -update and read the diff\n--- got\n%s", file, got)
	}
}

// TestBookingMailsSayWhatTheyAre composes each mail for a booking in its
// state and checks what it must say and must not: the links where they
// belong (the confirmation only the show link, a cancellation none), that
// a booked mail says booked, no phone number, and a calendar file that
// parses with the method, UID, SEQUENCE and times a calendar needs.
func TestBookingMailsSayWhatTheyAre(t *testing.T) {
	w := newVideoWorld(t)
	ctx := context.Background()
	show := "https://portal.example/termin/" + bookingToken
	tests := []struct {
		tmpl, lang string
		links      []string // the booking's links in the mail; the others must not be there
		method     string   // empty: no calendar file
		seq        int
		say        []string
	}{
		{mail.TemplateBookingConfirm, "de", []string{show}, "", 0,
			[]string{"noch nicht gebucht", "bestätigen Sie den Termin", "Uhr für Sie reserviert", "Platz wieder freigegeben", "keinen Termin angefragt", "ignorieren"}},
		{mail.TemplateBookingConfirm, "en", []string{show}, "", 0,
			[]string{"not booked yet", "Please confirm", "held for you until", "place is released", "ignore this e-mail"}},
		{mail.TemplateBookingBooked, "de", []string{show, show + "/absagen", show + "/verschieben"}, "REQUEST", 0,
			[]string{"verbindlich gebucht", "Termin absagen", "Termin verschieben", "Impfpass"}},
		{mail.TemplateBookingBooked, "en", []string{show, show + "/absagen", show + "/verschieben"}, "REQUEST", 0,
			[]string{"is booked", "Cancel the appointment", "Move the appointment", "vaccination card"}},
		{mail.TemplateBookingMoved, "de", []string{show, show + "/absagen", show + "/verschieben"}, "REQUEST", 1,
			[]string{"wurde verschoben", "verbindlich gebucht", "11:00 Uhr (MEZ)"}},
		{mail.TemplateBookingMoved, "en", []string{show, show + "/absagen", show + "/verschieben"}, "REQUEST", 1,
			[]string{"has been moved", "is booked", "11:00 (CET)"}},
		{mail.TemplateBookingCancelled, "de", nil, "CANCEL", 1,
			[]string{"abgesagt", "nicht mehr gebucht", "https://portal.example/amt/leipzig/leistungen/reiseimpfberatung"}},
		{mail.TemplateBookingCancelled, "en", nil, "CANCEL", 1,
			[]string{"is cancelled", "no longer booked", "book it again"}},
		{mail.TemplateBookingReminder, "de", []string{show, show + "/absagen", show + "/verschieben"}, "REQUEST", 0,
			[]string{"Wir erinnern Sie", "verbindlich gebucht"}},
		{mail.TemplateBookingReminder, "en", []string{show, show + "/absagen", show + "/verschieben"}, "REQUEST", 0,
			[]string{"reminder", "is booked"}},
	}
	for _, tt := range tests {
		t.Run(tt.tmpl+"."+tt.lang, func(t *testing.T) {
			b := w.to(t, w.newBooking(t, bookingOf{service: "reiseimpfberatung", lang: tt.lang, name: bookingName}), bookingStates[tt.tmpl])
			a, raw := w.enqueueBooking(t, bookingMail(b, tt.tmpl))
			for _, secret := range []string{bookingEmail, "zoe.obriain", "Briain", bookingToken, bookingPhone} {
				if strings.Contains(strings.ToLower(raw), strings.ToLower(secret)) {
					t.Errorf("the job's args hold %q in plain text: %s", secret, raw)
				}
			}
			if a.BookingID != b.ID || a.OfficeID != w.office.ID || a.SubmissionID != 0 || len(a.Sealed) == 0 {
				t.Errorf("args %+v", a)
			}
			m, err := w.worker.Compose(ctx, a)
			if err != nil {
				t.Fatal(err)
			}
			if m.To.Email != bookingEmail || m.From.Name != w.office.Name || m.ReplyTo == nil || m.ReplyTo.Email != w.office.Email {
				t.Errorf("from %+v, reply-to %+v, to %+v", m.From, m.ReplyTo, m.To)
			}
			date := map[string]string{"de": "Datum: 05.12.2030", "en": "Date: 5 December 2030"}[tt.lang]
			greeting := map[string]string{"de": "Guten Tag Zoë Ó Briain,", "en": "Hello Zoë Ó Briain,"}[tt.lang]
			service := map[string]string{"de": "Reiseimpfberatung", "en": "Travel vaccination advice"}[tt.lang]
			for _, want := range append([]string{date, greeting, service, "Raum 1.12", "Gesundheitsamt Leipzig"}, tt.say...) {
				if !strings.Contains(m.Text, want) {
					t.Errorf("no %q in the text:\n%s", want, m.Text)
				}
			}
			all := []string{show + "/absagen", show + "/verschieben", show}
			for part, body := range map[string]string{"text": m.Text, "html": m.HTML} {
				rest := body
				for _, link := range all {
					want := false
					for _, l := range tt.links {
						want = want || l == link
					}
					if got := strings.Contains(rest, link); got != want {
						t.Errorf("%s: link %s there: %v, want %v", part, link, got, want)
					}
					rest = strings.ReplaceAll(rest, link, "")
				}
				if strings.Contains(body, bookingPhone) || strings.Contains(body, "5550123") {
					t.Errorf("%s: the phone number is in the mail", part)
				}
			}
			if tt.method == "" {
				if len(m.Attachments) != 0 {
					t.Errorf("%d attachments, want none", len(m.Attachments))
				}
				return
			}
			if len(m.Attachments) != 1 {
				t.Fatalf("%d attachments, want the calendar file", len(m.Attachments))
			}
			att := m.Attachments[0]
			wantName := map[string]string{"de": "termin.ics", "en": "appointment.ics"}[tt.lang]
			if att.Name != wantName || att.MediaType != "text/calendar; charset=utf-8; method="+tt.method {
				t.Errorf("attachment %q %q", att.Name, att.MediaType)
			}
			start := bookingStart
			if tt.tmpl == mail.TemplateBookingMoved {
				start = start.Add(time.Hour)
			}
			ev := parseEvent(t, att.Content, tt.method)
			checkBookingEvent(t, ev, b.ID, tt.seq, start, tt.method == "REQUEST")
			if bytes.Contains(att.Content, []byte(bookingPhone)) || bytes.Contains(att.Content, []byte("Zoë")) {
				t.Errorf("the calendar names the person or the phone:\n%s", att.Content)
			}
		})
	}
}

// checkBookingEvent checks a booking's calendar event: the UID all files
// of booking id share, its sequence, the times in UTC (a 30-minute slot
// from start), the place, the office as organizer, the citizen as the one
// attendee, and the show link (none in a cancellation).
func checkBookingEvent(t *testing.T, ev *ics.VEvent, id int64, seq int, start time.Time, link bool) {
	t.Helper()
	if want := "booking-" + strconv.FormatInt(id, 10) + "@portal.example"; ev.Id() != want {
		t.Errorf("UID %q, want %q", ev.Id(), want)
	}
	if got := propValue(ev, ics.ComponentPropertySequence); got != strconv.Itoa(seq) {
		t.Errorf("SEQUENCE %q, want %d", got, seq)
	}
	if got, err := ev.GetStartAt(); err != nil || !got.Equal(start) || got.Location() != time.UTC {
		t.Errorf("DTSTART %v (%v), want %v in UTC", got, err, start)
	}
	if got := propValue(ev, ics.ComponentPropertyDtStart); got != start.Format("20060102T150405Z") {
		t.Errorf("DTSTART %q: not in UTC", got)
	}
	if got, err := ev.GetEndAt(); err != nil || !got.Equal(start.Add(30*time.Minute)) {
		t.Errorf("DTEND %v (%v)", got, err)
	}
	if got := propValue(ev, ics.ComponentPropertyLocation); !strings.Contains(got, "Raum 1.12") {
		t.Errorf("LOCATION %q", got)
	}
	if got := propValue(ev, ics.ComponentPropertySummary); !strings.Contains(got, "Gesundheitsamt Leipzig") || !strings.Contains(got, "Reise") && !strings.Contains(got, "Travel") {
		t.Errorf("SUMMARY %q: not the service and the office", got)
	}
	org := ev.GetProperty(ics.ComponentPropertyOrganizer)
	if org == nil || org.Value != "mailto:gesundheitsamt@leipzig.example" {
		t.Errorf("ORGANIZER %+v", org)
	}
	if as := ev.Attendees(); len(as) != 1 || as[0].Email() != bookingEmail {
		t.Errorf("ATTENDEE %+v", as)
	}
	desc := propValue(ev, ics.ComponentPropertyDescription)
	if got := strings.Contains(desc, "/termin/"+bookingToken); got != link {
		t.Errorf("DESCRIPTION %q: the show link there: %v, want %v", desc, got, link)
	}
}

// TestBookingMailJobIsSealedToItself reads a booking mail's job as anyone
// with database access can (no address, name or token), and moves its
// sealed token to another office's, another booking's, another kind of
// mail's and another key's job: none opens. A retry of the event makes
// no second job; what cannot become a mail is refused before it is
// queued.
func TestBookingMailJobIsSealedToItself(t *testing.T) {
	w := newVideoWorld(t)
	ctx := context.Background()
	b := w.to(t, w.newBooking(t, bookingOf{service: "reiseimpfberatung", name: bookingName}), store.BookingBooked)
	other := w.to(t, w.newBooking(t, bookingOf{service: "reiseimpfberatung"}), store.BookingBooked)
	m := bookingMail(b, mail.TemplateBookingBooked)
	a, _ := w.enqueueBooking(t, m)
	if _, err := w.worker.Compose(ctx, a); err != nil {
		t.Fatalf("the job's own mail: %v", err)
	}
	moves := map[string]func(*mail.Args){
		"another office":   func(a *mail.Args) { a.OfficeID++ },
		"another booking":  func(a *mail.Args) { a.BookingID = other.ID },
		"another template": func(a *mail.Args) { a.Template = mail.TemplateBookingReminder },
		"another key":      func(a *mail.Args) { a.Key += "x" },
	}
	for name, move := range moves {
		t.Run(name, func(t *testing.T) {
			moved := a
			move(&moved)
			_, err := w.worker.Compose(ctx, moved)
			var cancel *rivertype.JobCancelError
			if !errors.As(err, &cancel) {
				t.Errorf("error %v, want the job cancelled: the sealed token opened under %s", err, name)
			}
		})
	}

	w.enqueueBooking(t, m) // the booking service's retry of the same event
	var jobs int
	if err := w.db.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE args->>'key' = $1`, m.Key).Scan(&jobs); err != nil || jobs != 1 {
		t.Errorf("%d jobs (%v) for one key", jobs, err)
	}

	invalid := map[string]func(*mail.BookingMail){
		"an unknown template":        func(m *mail.BookingMail) { m.Template = mail.TemplateVideoInvite },
		"no key":                     func(m *mail.BookingMail) { m.Key = "" },
		"no booking":                 func(m *mail.BookingMail) { m.BookingID = 0 },
		"no office":                  func(m *mail.BookingMail) { m.OfficeID = 0 },
		"a booked mail without link": func(m *mail.BookingMail) { m.Token = "" },
		"a confirmation without link": func(m *mail.BookingMail) {
			m.Template, m.Token = mail.TemplateBookingConfirm, ""
		},
	}
	for name, change := range invalid {
		t.Run(name, func(t *testing.T) {
			bad := m
			bad.Key = "booking:invalid"
			change(&bad)
			err := w.db.InTx(ctx, func(tx pgx.Tx) error { return w.notifier.Booking(ctx, tx, bad) })
			if fault.KindOf(err) != fault.Invalid {
				t.Errorf("error %v, want Invalid", err)
			}
		})
	}
	if err := w.db.QueryRow(ctx, `SELECT count(*) FROM river_job`).Scan(&jobs); err != nil || jobs != 1 {
		t.Errorf("%d jobs (%v): an invalid booking mail was queued", jobs, err)
	}
	// A cancellation needs no link, and keeps none.
	cancel := bookingMail(b, mail.TemplateBookingCancelled)
	cancel.Token = ""
	w.enqueueBooking(t, cancel)
}

// TestBookingMailsGoOutOnlyInTheirState works booking jobs as the queue
// does, to a real SMTP server: a booked mail arrives once with its
// calendar; a job whose transaction rolled back does not exist; a
// confirmation for a booking confirmed meanwhile, a reminder for one
// cancelled meanwhile and a cancellation for one still booked are
// cancelled without a mail.
func TestBookingMailsGoOutOnlyInTheirState(t *testing.T) {
	w := newVideoWorld(t)
	ctx := context.Background()
	sink := mailtest.Start(t)
	sender, err := mail.NewSMTP("smtp://"+sink.Addr, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sender.Close)
	w.worker.Sender = sender
	work := func(a mail.Args) error {
		return w.worker.Work(ctx, &river.Job[mail.Args]{JobRow: &rivertype.JobRow{Attempt: 1}, Args: a})
	}

	// Booked: the mail goes out once, with its calendar file.
	b := w.to(t, w.newBooking(t, bookingOf{service: "reiseimpfberatung", name: bookingName}), store.BookingBooked)
	a, _ := w.enqueueBooking(t, bookingMail(b, mail.TemplateBookingBooked))
	for range 2 { // a second run of the job finds the mail recorded as sent
		if err := work(a); err != nil {
			t.Fatal(err)
		}
	}
	got := sink.Wait(1, 5*time.Second)
	if len(got) != 1 || got[0].To[0] != bookingEmail {
		t.Fatalf("mails %+v", got)
	}
	cal := calendarPart(t, got[0].Data, "REQUEST", "termin.ics")
	checkBookingEvent(t, parseEvent(t, cal, "REQUEST"), b.ID, 0, bookingStart, true)

	// Rolled back: no job, so nothing to send.
	rolledBack := bookingMail(b, mail.TemplateBookingMoved)
	errRollback := errors.New("the move failed")
	err = w.db.InTx(ctx, func(tx pgx.Tx) error {
		if err := w.notifier.Booking(ctx, tx, rolledBack); err != nil {
			return err
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatal(err)
	}
	var jobs int
	if err := w.db.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE args->>'key' = $1`, rolledBack.Key).Scan(&jobs); err != nil || jobs != 0 {
		t.Errorf("%d jobs (%v) of a rolled-back transaction", jobs, err)
	}

	// Queued for a state the booking has left: cancelled, no mail.
	confirmed := w.newBooking(t, bookingOf{service: "reiseimpfberatung"})
	confirmJob, _ := w.enqueueBooking(t, bookingMail(confirmed, mail.TemplateBookingConfirm))
	w.to(t, confirmed, store.BookingBooked) // confirmed on another device before the mail went
	booked := w.to(t, w.newBooking(t, bookingOf{service: "reiseimpfberatung"}), store.BookingBooked)
	reminderJob, _ := w.enqueueBooking(t, bookingMail(booked, mail.TemplateBookingReminder))
	if err := store.CancelBooking(ctx, w.db, w.office.ID, booked.ID); err != nil {
		t.Fatal(err)
	}
	stillBooked := w.to(t, w.newBooking(t, bookingOf{service: "reiseimpfberatung"}), store.BookingBooked)
	cancelJob, _ := w.enqueueBooking(t, bookingMail(stillBooked, mail.TemplateBookingCancelled))
	for name, a := range map[string]mail.Args{
		"a confirmation of a booked booking":       confirmJob,
		"a reminder of a cancelled booking":        reminderJob,
		"a cancellation of a booking still booked": cancelJob,
	} {
		err := work(a)
		var cancel *rivertype.JobCancelError
		if !errors.As(err, &cancel) {
			t.Errorf("%s: error %v, want the job cancelled", name, err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(sink.Mails()); n != 1 {
		t.Errorf("%d mails, want only the booked one", n)
	}
}

// calendarPart is the calendar file of a mail as it arrived, after
// checking its content type says method and its name.
func calendarPart(t *testing.T, data []byte, method, name string) []byte {
	t.Helper()
	r, err := gomail.CreateReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			t.Fatal("no calendar in the mail")
		}
		if err != nil {
			t.Fatal(err)
		}
		if h, ok := p.Header.(*gomail.AttachmentHeader); ok {
			mt, params, _ := h.ContentType()
			got, _ := h.Filename()
			if mt != "text/calendar" || params["method"] != method || got != name {
				t.Errorf("attachment %s %v %q", mt, params, got)
			}
			content, err := io.ReadAll(p.Body)
			if err != nil {
				t.Fatal(err)
			}
			return content
		}
	}
}

// TestBookingMailStates composes each mail for a booking in each state:
// only the state the mail speaks of makes a mail; the others cancel the
// job. A confirmation whose place lapsed and a reminder of an
// appointment that began are cancelled too.
func TestBookingMailStates(t *testing.T) {
	w := newVideoWorld(t)
	ctx := context.Background()
	fits := map[string]string{
		mail.TemplateBookingConfirm: store.BookingUnconfirmed, mail.TemplateBookingBooked: store.BookingBooked,
		mail.TemplateBookingMoved: store.BookingBooked, mail.TemplateBookingReminder: store.BookingBooked,
		mail.TemplateBookingCancelled: store.BookingCancelled, mail.TemplateBookingOffer: store.BookingUnconfirmed,
	}
	for _, state := range []string{store.BookingUnconfirmed, store.BookingBooked, store.BookingCancelled} {
		b := w.to(t, w.newBooking(t, bookingOf{service: "reiseimpfberatung"}), state)
		for _, tmpl := range bookingTemplates {
			m := bookingMail(b, tmpl)
			a, _ := w.enqueueBooking(t, m)
			_, err := w.worker.Compose(ctx, a)
			var cancel *rivertype.JobCancelError
			if want := fits[tmpl] == state; (err == nil) != want || !want && !errors.As(err, &cancel) {
				t.Errorf("%s of a %s booking: error %v, want a mail: %v", tmpl, state, err, want)
			}
		}
	}

	lapsed := w.newBooking(t, bookingOf{service: "reiseimpfberatung"})
	a, _ := w.enqueueBooking(t, bookingMail(lapsed, mail.TemplateBookingConfirm))
	if _, err := w.db.Exec(ctx, `UPDATE booking SET expires_at = now() - interval '1 minute' WHERE id = $1`, lapsed.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := w.worker.Compose(ctx, a); err == nil {
		t.Error("a confirmation of a lapsed place was written")
	}
	begun := w.to(t, w.newBooking(t, bookingOf{service: "reiseimpfberatung", start: time.Now().Add(3 * time.Hour).Truncate(time.Minute)}), store.BookingBooked)
	a, _ = w.enqueueBooking(t, bookingMail(begun, mail.TemplateBookingReminder))
	if _, err := w.worker.Compose(ctx, a); err != nil {
		t.Fatalf("a reminder of an appointment still to come: %v", err)
	}
	if _, err := w.db.Exec(ctx, `UPDATE booking SET starts_at = now() - interval '1 minute' WHERE id = $1`, begun.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := w.worker.Compose(ctx, a); err == nil {
		t.Error("a reminder of an appointment that began was written")
	}
	// A reminder queued before a move: the booking's Sequence moved on,
	// and the reminder of the new time is its own.
	moved := w.to(t, w.newBooking(t, bookingOf{service: "reiseimpfberatung"}), "moved")
	old := bookingMail(moved, mail.TemplateBookingReminder)
	old.Sequence = moved.Sequence - 1
	a, _ = w.enqueueBooking(t, old)
	if _, err := w.worker.Compose(ctx, a); err == nil {
		t.Error("a reminder of the time before a move was written")
	}
	current := bookingMail(moved, mail.TemplateBookingReminder)
	current.Key, current.Sequence = current.Key+":now", moved.Sequence
	a, _ = w.enqueueBooking(t, current)
	if _, err := w.worker.Compose(ctx, a); err != nil {
		t.Errorf("the reminder of the moved time: %v", err)
	}
	// The confirmation sent again: the first mail's link opens nothing
	// any more, so that mail is not sent; the newer one is.
	resent := w.newBooking(t, bookingOf{service: "reiseimpfberatung"})
	a, _ = w.enqueueBooking(t, bookingMail(resent, mail.TemplateBookingConfirm))
	if _, err := w.db.Exec(ctx, `UPDATE booking SET mail_token_hash = $2 WHERE id = $1`, resent.ID, tokenHash("NewerToken")); err != nil {
		t.Fatal(err)
	}
	var cancel *rivertype.JobCancelError
	if _, err := w.worker.Compose(ctx, a); !errors.As(err, &cancel) {
		t.Errorf("a confirmation whose link was replaced: %v, want the job cancelled", err)
	}
	// A booking that is gone: NotFound, which the worker completes
	// without a mail, as for a deleted submission.
	gone := w.to(t, w.newBooking(t, bookingOf{service: "reiseimpfberatung"}), store.BookingBooked)
	a, _ = w.enqueueBooking(t, bookingMail(gone, mail.TemplateBookingBooked))
	if _, err := w.db.Exec(ctx, `DELETE FROM booking WHERE id = $1`, gone.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := w.worker.Compose(ctx, a); fault.KindOf(err) != fault.NotFound {
		t.Errorf("a mail of a deleted booking: %v, want NotFound", err)
	}
}

// TestBookingConfirmationCountsAgainstRecipientCap: anyone can type a
// stranger's address into the booking form, so confirmation mails count
// with the receipts and resume links of the address; past RecipientPerDay
// none is queued. The mails that follow a confirmation do not count.
func TestBookingConfirmationCountsAgainstRecipientCap(t *testing.T) {
	w := newVideoWorld(t)
	ctx := context.Background()
	b := w.newBooking(t, bookingOf{service: "reiseimpfberatung"})
	for i := range mail.RecipientPerDay {
		m := bookingMail(b, mail.TemplateBookingConfirm)
		m.Key += ":" + strconv.Itoa(i)
		w.enqueueBooking(t, m)
	}
	over := bookingMail(b, mail.TemplateBookingConfirm)
	over.Key += ":over"
	err := w.db.InTx(ctx, func(tx pgx.Tx) error { return w.notifier.Booking(ctx, tx, over) })
	if fault.KindOf(err) != fault.Invalid || fault.MessageOf(err) != mail.MsgBookingCapped {
		t.Fatalf("confirmation %d: error %v, want Invalid %s", mail.RecipientPerDay+1, err, mail.MsgBookingCapped)
	}
	var jobs int
	if err := w.db.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE args->>'key' = $1`, over.Key).Scan(&jobs); err != nil || jobs != 0 {
		t.Errorf("%d jobs (%v) past the cap", jobs, err)
	}
	// Confirmed: its other mails still go to the address.
	b = w.to(t, b, store.BookingBooked)
	for _, tmpl := range []string{mail.TemplateBookingBooked, mail.TemplateBookingReminder, mail.TemplateBookingMoved} {
		w.enqueueBooking(t, bookingMail(b, tmpl))
	}
}

// TestBookedMailCarriesReservationMarkup reads the booked mail's JSON-LD
// as a mail client does: valid JSON, an EventReservation with the time,
// the place and the link to move it. A name made to end the script
// element, or to end a JSON string, stays a name.
func TestBookedMailCarriesReservationMarkup(t *testing.T) {
	w := newVideoWorld(t)
	ctx := context.Background()
	evil := `Zoë "</script><script>alert(1)</script>\u003c!-- ' &amp;`
	b := w.to(t, w.newBooking(t, bookingOf{service: "belehrung-infektionsschutz", name: evil}), store.BookingBooked)
	a, _ := w.enqueueBooking(t, bookingMail(b, mail.TemplateBookingBooked))
	m, err := w.worker.Compose(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(m.HTML, "<script"); n != 1 {
		t.Errorf("%d script elements, want the markup's one:\n%s", n, m.HTML)
	}
	if strings.Contains(m.HTML, "<script>alert") {
		t.Errorf("the name broke out:\n%s", m.HTML)
	}
	found := jsonLD.FindStringSubmatch(m.HTML)
	if found == nil {
		t.Fatalf("no JSON-LD in\n%s", m.HTML)
	}
	var r struct {
		Context   string `json:"@context"`
		Type      string `json:"@type"`
		Number    string `json:"reservationNumber"`
		Status    string `json:"reservationStatus"`
		UnderName struct {
			Name string `json:"name"`
		} `json:"underName"`
		For struct {
			Type      string `json:"@type"`
			Name      string `json:"name"`
			StartDate string `json:"startDate"`
			EndDate   string `json:"endDate"`
			Location  struct {
				Type    string `json:"@type"`
				Name    string `json:"name"`
				Address struct {
					Street   string `json:"streetAddress"`
					Locality string `json:"addressLocality"`
				} `json:"address"`
			} `json:"location"`
		} `json:"reservationFor"`
		Modify string `json:"modifyReservationUrl"`
	}
	if err := json.Unmarshal([]byte(found[1]), &r); err != nil {
		t.Fatalf("the JSON-LD does not parse: %v\n%s", err, found[1])
	}
	if r.Context != "https://schema.org" || r.Type != "EventReservation" || r.Number != strconv.FormatInt(b.ID, 10) ||
		r.Status != "https://schema.org/ReservationConfirmed" || r.UnderName.Name != evil {
		t.Errorf("reservation %+v", r)
	}
	if r.For.Type != "Event" || !strings.Contains(r.For.Name, "§ 43") || r.For.StartDate != "2030-12-05T10:00:00+01:00" ||
		r.For.EndDate != "2030-12-05T10:30:00+01:00" || r.For.Location.Type != "Place" || !strings.Contains(r.For.Location.Name, "Raum 1.12") ||
		r.For.Location.Address.Street != w.office.Street || r.For.Location.Address.Locality != "Leipzig" {
		t.Errorf("reservation for %+v", r.For)
	}
	if r.Modify != "https://portal.example/termin/"+bookingToken+"/verschieben" {
		t.Errorf("modifyReservationUrl %q", r.Modify)
	}
	// The greeting shows the name escaped, as everything else.
	if !strings.Contains(m.HTML, "Zoë &#34;&lt;/script&gt;") {
		t.Errorf("the greeting is not escaped:\n%s", m.HTML)
	}
	// The confirmation asks to confirm: no markup that says booked.
	c := w.newBooking(t, bookingOf{service: "belehrung-infektionsschutz"})
	a, _ = w.enqueueBooking(t, bookingMail(c, mail.TemplateBookingConfirm))
	if m, err = w.worker.Compose(ctx, a); err != nil || strings.Contains(m.HTML, "ld+json") {
		t.Errorf("a confirmation with markup (%v):\n%s", err, m.HTML)
	}
}

// TestBookingICSIsTheMailsCalendar: the download the booked page offers
// is the file the booked mail attached, byte for byte at the same stamp,
// so a later move or cancellation by mail updates the downloaded event.
// A booking not yet booked has no calendar file.
func TestBookingICSIsTheMailsCalendar(t *testing.T) {
	w := newVideoWorld(t)
	ctx := context.Background()
	b := w.to(t, w.newBooking(t, bookingOf{service: "reiseimpfberatung", name: bookingName, lang: "en"}), store.BookingBooked)
	a, _ := w.enqueueBooking(t, bookingMail(b, mail.TemplateBookingBooked))
	m, err := w.worker.Compose(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	attached := m.Attachments[0].Content
	stamp, err := parseEvent(t, attached, "REQUEST").GetDtStampTime()
	if err != nil {
		t.Fatal(err)
	}
	got, err := mail.BookingICS(b, w.office, w.worker.Bundle.Localizer("en"), w.worker.BaseURL, w.worker.From, bookingToken, "", stamp)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, attached) {
		t.Errorf("the download differs from the mail's file:\n%s\n----\n%s", got, attached)
	}

	cancelled := w.to(t, w.newBooking(t, bookingOf{service: "reiseimpfberatung"}), store.BookingCancelled)
	got, err = mail.BookingICS(cancelled, w.office, w.worker.Bundle.Localizer("de"), w.worker.BaseURL, w.worker.From, "", "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	checkBookingEvent(t, parseEvent(t, got, "CANCEL"), cancelled.ID, 1, bookingStart, false)

	unconfirmed := w.newBooking(t, bookingOf{service: "reiseimpfberatung"})
	if _, err := mail.BookingICS(unconfirmed, w.office, w.worker.Bundle.Localizer("de"), w.worker.BaseURL, w.worker.From, bookingToken, "", time.Now()); fault.KindOf(err) != fault.Invalid {
		t.Errorf("the calendar of an unconfirmed booking: %v, want Invalid", err)
	}
}

// TestBookingMailOfAVideoAppointmentAndWhatToBring: a video calendar's
// booking names no room but the video consultation, and says the join
// link comes in a mail of its own; a service without a text of what to
// bring gets the default (a photo ID).
func TestBookingMailOfAVideoAppointmentAndWhatToBring(t *testing.T) {
	w := newVideoWorld(t)
	ctx := context.Background()
	unconfirmed := w.newBooking(t, bookingOf{kind: store.CalendarVideo, service: "terminanfrage"})
	confirm := bookingMail(unconfirmed, mail.TemplateBookingConfirm)
	confirm.Join = "JoinTokenNotYet"
	a, raw := w.enqueueBooking(t, confirm)
	if strings.Contains(raw, "JoinTokenNotYet") {
		t.Errorf("a join token in plain text in the job: %s", raw)
	}
	m, err := w.worker.Compose(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	// Before it is booked, the appointment has no consultation: the mail
	// says the link comes then.
	if !strings.Contains(m.Text, "sobald der Termin gebucht ist") || strings.Contains(m.Text, "/video/") {
		t.Errorf("the confirmation of a video appointment:\n%s", m.Text)
	}

	b := w.to(t, w.newBooking(t, bookingOf{kind: store.CalendarVideo, service: "terminanfrage"}), store.BookingBooked)
	booked := bookingMail(b, mail.TemplateBookingBooked)
	booked.Join = "JoinTokenQ7x"
	a, _ = w.enqueueBooking(t, booked)
	if m, err = w.worker.Compose(ctx, a); err != nil {
		t.Fatal(err)
	}
	join := "https://portal.example/video/JoinTokenQ7x"
	for _, want := range []string{"Guten Tag,", "Ort: Videosprechstunde", "Zur Videosprechstunde kommen Sie über diesen Link", join, "amtlichen Lichtbildausweis", "Allgemeine Terminanfrage"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("no %q in\n%s", want, m.Text)
		}
	}
	if !strings.Contains(m.HTML, `href="`+join+`"`) {
		t.Errorf("no link to the consultation in the HTML:\n%s", m.HTML)
	}
	if strings.Contains(m.Text, "Raum") {
		t.Errorf("a room in a video booking's mail:\n%s", m.Text)
	}
	ev := parseEvent(t, m.Attachments[0].Content, "REQUEST")
	if got := propValue(ev, ics.ComponentPropertyLocation); got != "Videosprechstunde" {
		t.Errorf("LOCATION %q", got)
	}
	if got := propValue(ev, ics.ComponentPropertyDescription); !strings.Contains(got, join) {
		t.Errorf("the calendar file's description lacks the join link: %q", got)
	}
	if found := jsonLD.FindStringSubmatch(m.HTML); found == nil || !strings.Contains(found[1], `"VirtualLocation"`) {
		t.Errorf("the markup's location is not virtual: %v", found)
	}
}
