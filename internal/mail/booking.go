package mail

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/i18n"
	"github.com/gesundheitsamt/portal/internal/store"
)

// BookingMail is one mail about an appointment.
type BookingMail struct {
	Key       string // unique per mail, made by the caller ("booking:<id>:<event>:<n>"); a retry of the same event sends one mail
	Template  string // one of the TemplateBooking* constants
	OfficeID  int64
	BookingID int64
	Token     string // the booking's mail token: the path of its links (/termin/<token>); sealed into the job, the database keeps only its hash
	// At is when the mail goes out; zero: at once. A reminder is queued
	// when the appointment is booked, for the day before.
	At time.Time
	// Join is the token of the patient link of a video appointment's
	// consultation (/video/<token>), for the mails of a booked one;
	// sealed into the job like Token.
	Join string
	// Sequence is the booking's Sequence the mail is written for. A
	// reminder goes out only while the booking still has it: a moved
	// booking has a reminder of its own for its new time.
	Sequence int
}

// MsgBookingCapped is the message of a confirmation mail that is not
// sent: its address had its mails of the day (RecipientPerDay).
const MsgBookingCapped = "mail.booking.capped"

// bookingData is what a booking mail's job carries, sealed: the mail
// token, which the database keeps as a hash only. Everything else (the
// address, the time, the place) the worker reads from the booking when it
// writes the mail, so no address sits in the queue and a reminder shows
// the time as it is then.
type bookingData struct {
	Token    string
	Join     string
	Sequence int
	// Stamp is when the mail was enqueued: the calendar's DTSTAMP, the
	// same at every attempt.
	Stamp time.Time
}

// bookingAAD binds a sealed booking job to its key, template, office and
// booking: a token cannot be moved to another job, kind of mail, office
// or booking.
func bookingAAD(a Args) []byte {
	return []byte("portal-mail-booking\x00" + a.Template + "\x00" + strconv.FormatInt(a.OfficeID, 10) + "\x00" +
		strconv.FormatInt(a.BookingID, 10) + "\x00" + a.Key)
}

// Booking enqueues one mail about a booking, in tx: the transaction of
// the booking service's change that causes it. Only the mail token is
// sealed into the job; one job per Key.
//
// The confirmation mail is caused by whoever fills in the booking form,
// with any address, so it counts against RecipientPerDay like a receipt;
// the booking must have its address in tx already. The other mails follow
// from what the address's owner did (they confirmed) or from the office,
// and do not count. Errors: Invalid (no Key, an unknown Template, no
// office or booking, no Token for a mail with links, a confirmation for a
// booking without an address; MsgBookingCapped: the address had its
// mails of the day, nothing is queued); NotFound (a confirmation for a
// booking that does not exist).
func (n *Notifier) Booking(ctx context.Context, tx pgx.Tx, b BookingMail) error {
	const op = "mail: booking mail"
	_, known := bookingMails[b.Template]
	switch {
	case b.Key == "":
		return fault.Wrap(fault.Invalid, op, errors.New("no key"))
	case !known:
		return fault.Wrap(fault.Invalid, op, fmt.Errorf("unknown template %q", b.Template))
	case b.OfficeID == 0 || b.BookingID == 0:
		return fault.Wrap(fault.Invalid, op, errors.New("no office or booking"))
	case b.Token == "" && b.Template != TemplateBookingCancelled:
		return fault.Wrap(fault.Invalid, op, fmt.Errorf("%s without a mail token", b.Template))
	}
	if b.Template == TemplateBookingConfirm {
		booking, err := store.GetBooking(ctx, tx, b.OfficeID, b.BookingID)
		if err != nil {
			return err
		}
		if booking.Email == "" {
			return fault.Wrap(fault.Invalid, op, fmt.Errorf("booking %d has no address", b.BookingID))
		}
		ok, err := n.underCap(ctx, tx, booking.Email)
		if err != nil {
			return err
		}
		if !ok {
			return fault.New(fault.Invalid, "mail: booking confirmation: recipient over the daily cap", MsgBookingCapped)
		}
	}
	data := bookingData{Token: b.Token, Join: b.Join, Sequence: b.Sequence, Stamp: time.Now().UTC().Truncate(time.Second)}
	if b.Template == TemplateBookingCancelled || b.Template == TemplateBookingConfirm || b.Template == TemplateBookingOffer {
		data.Join = "" // what a mail does not show is not kept with it
	}
	if b.Template == TemplateBookingCancelled {
		data.Token = ""
	}
	plain, err := json.Marshal(data)
	if err != nil {
		return err
	}
	a := Args{Key: b.Key, Template: b.Template, OfficeID: b.OfficeID, BookingID: b.BookingID}
	if a.Sealed, err = n.box.Seal(plain, bookingAAD(a)); err != nil {
		return err
	}
	opts := insertOpts()
	opts.ScheduledAt = b.At
	if _, err := n.client.InsertTx(ctx, tx, a, opts); err != nil {
		return fmt.Errorf("mail: enqueue %s: %w", b.Key, err)
	}
	return nil
}

// bookingTexts are one booking mail's own message ids and what it shows.
type bookingTexts struct {
	subject, intro string
	state          string // the state the booking must be in for the mail to go out
	ahead          bool   // only while the appointment is still to come
	sequenced      bool   // only while the booking has the Sequence the mail was queued for
	confirm        bool   // the confirmation link, until when, and "ignore it if it was not you"
	until, ignore  string // a confirmation's own texts of these; empty: mail.booking_confirm's
	links          bool   // the links to show, cancel and move the booking
	calendar       string // says what the calendar file does; empty: none attached
	footer         string
}

var bookingMails = map[string]bookingTexts{
	TemplateBookingConfirm: {
		subject: "mail.booking_confirm.subject", intro: "mail.booking_confirm.intro",
		state: store.BookingUnconfirmed, ahead: true, confirm: true, footer: "mail.booking_confirm.footer",
	},
	TemplateBookingBooked: {
		subject: "mail.booking_booked.subject", intro: "mail.booking_booked.intro",
		state: store.BookingBooked, links: true, calendar: "mail.booking.calendar", footer: "mail.booking.footer",
	},
	TemplateBookingMoved: {
		subject: "mail.booking_moved.subject", intro: "mail.booking_moved.intro",
		state: store.BookingBooked, links: true, calendar: "mail.booking_moved.calendar", footer: "mail.booking.footer",
	},
	TemplateBookingCancelled: {
		subject: "mail.booking_cancelled.subject", intro: "mail.booking_cancelled.intro",
		state: store.BookingCancelled, calendar: "mail.booking_cancelled.calendar", footer: "mail.booking.footer",
	},
	TemplateBookingReminder: {
		subject: "mail.booking_reminder.subject", intro: "mail.booking_reminder.intro",
		state: store.BookingBooked, ahead: true, sequenced: true, links: true, calendar: "mail.booking.calendar", footer: "mail.booking.footer",
	},
	// An offer from the waiting list is a confirmation: the place is
	// held for the citizen, who books it by the same kind of link.
	TemplateBookingOffer: {
		subject: "mail.booking_offer.subject", intro: "mail.booking_offer.intro",
		state: store.BookingUnconfirmed, ahead: true, confirm: true,
		until: "mail.booking_offer.until", ignore: "mail.booking_offer.ignore", footer: "mail.booking_offer.footer",
	},
}

// fits reports whether booking b, at now, is in the state the mail
// speaks of: a confirmation only while b waits for it (its place not
// lapsed), a booked, moved or reminder mail only while it is booked (a
// reminder only before it starts), a cancellation only once cancelled.
// A job that was queued for an earlier state (a confirmation that
// arrives after the citizen confirmed on another device; a reminder for
// a booking cancelled since) sends nothing.
func (t bookingTexts) fits(b store.Booking, now time.Time) bool {
	switch {
	case b.State != t.state:
		return false
	case t.confirm && !b.Expires.After(now):
		return false
	case t.ahead && !b.Start.After(now):
		return false
	}
	return true
}

// bookingView is what a booking mail's templates show.
type bookingView struct {
	L                   *i18n.Localizer
	Subject, Greeting   string
	Intro               string
	Service, Date, Time string
	Length, Place       string
	// Join says how a video appointment's join link comes, or leads to
	// it (JoinURL); empty on site. The one place of the mail that speaks
	// of a join link.
	Join    string
	JoinURL string
	Bring   string // what to bring; empty: not shown
	// The confirmation (TemplateBookingConfirm): the link, until when it
	// works and what happens then, and that nobody need act who did not
	// ask for it.
	ConfirmIntro, Confirm, Until, Ignore string
	// The links of a booked appointment; empty: not shown.
	Show, Cancel, Move string
	Secret             string // the links are personal; empty: no links
	Rebook, Again      string // a cancellation: how to book again, and where
	Calendar           string // what the attached calendar file does; empty: none
	Reply, Footer      string
	Office             store.Office
	// Reservation is the appointment as schema.org markup for the HTML
	// part (JSON-LD); nil: none. html/template marshals it as JSON inside
	// the script element, escaping what could end the element.
	Reservation *reservation
}

// bookingMail is a mail about a booking: what, when, where, what to
// bring and the links to act on it, with the appointment as a calendar
// file. It reads the booking at the time of writing and sends nothing
// (the job is cancelled) when the booking is no longer in the state the
// mail speaks of. It shows the service's title and nothing else of the
// citizen's matter: no phone number, no answer. Errors: NotFound (the
// booking or the office is gone).
func (w *Worker) bookingMail(ctx context.Context, a Args) (Message, error) {
	texts, ok := bookingMails[a.Template]
	if !ok {
		return Message{}, river.JobCancel(fmt.Errorf("%w: %q", errNoTemplate, a.Template))
	}
	if w.Box == nil {
		return Message{}, river.JobCancel(errors.New("mail: no key to open a booking job"))
	}
	plain, err := w.Box.Open(a.Sealed, bookingAAD(a))
	if err != nil {
		return Message{}, river.JobCancel(fmt.Errorf("mail: booking job %s: %w", a.Key, err))
	}
	var data bookingData
	if err := json.Unmarshal(plain, &data); err != nil {
		return Message{}, river.JobCancel(err)
	}
	b, err := store.GetBooking(ctx, w.DB, a.OfficeID, a.BookingID)
	if err != nil {
		return Message{}, err
	}
	if texts.sequenced && data.Sequence != b.Sequence {
		return Message{}, river.JobCancel(fmt.Errorf("mail: booking %d was moved since the %s mail was queued", b.ID, a.Template))
	}
	if !texts.fits(b, time.Now()) {
		return Message{}, river.JobCancel(fmt.Errorf("mail: booking %d is %s: no %s mail", b.ID, b.State, a.Template))
	}
	if b.Email == "" {
		return Message{}, river.JobCancel(fmt.Errorf("mail: booking %d has no address", b.ID))
	}
	if sum := sha256.Sum256([]byte(data.Token)); data.Token != "" && !bytes.Equal(sum[:], b.MailTokenHash) {
		// The confirmation was sent again since: this mail's links open
		// nothing any more, and the newer mail has the working ones.
		return Message{}, river.JobCancel(fmt.Errorf("mail: booking %d: the %s mail's link was replaced", b.ID, a.Template))
	}
	office, err := store.GetOffice(ctx, w.DB, a.OfficeID)
	if err != nil {
		return Message{}, err
	}
	l := w.Bundle.Localizer(b.Lang)
	f := newBookingFacts(b, office, l, w.BaseURL, data.Token, w.location())
	f.withJoin(l, w.BaseURL, data.Join)
	d := bookingView{
		L: l, Office: office,
		Subject:  l.Tf(texts.subject, "Date", f.date, "Time", f.clock),
		Greeting: l.T("mail.greeting"),
		Intro:    l.Tf(texts.intro, "Office", office.Name),
		Service:  f.service, Date: f.date, Time: f.time, Length: f.length, Place: f.place, Join: f.join, JoinURL: f.joinURL,
		Reply: l.T("mail.booking.contact"), Footer: l.T(texts.footer),
	}
	if name := oneLine(b.Name); name != "" {
		d.Greeting = l.Tf("mail.booking.greeting_name", "Name", name)
	}
	switch {
	case texts.confirm:
		until := b.Expires.In(w.location())
		d.ConfirmIntro, d.Confirm = l.T("mail.booking_confirm.link_intro"), f.show
		d.Until = l.Tf(cmp.Or(texts.until, "mail.booking_confirm.until"), "Date", dateIn(l, until), "Time", until.Format("15:04"))
		d.Ignore, d.Secret = l.T(cmp.Or(texts.ignore, "mail.booking_confirm.ignore")), l.T("mail.booking_confirm.secret")
	case texts.links:
		d.Bring = f.bring
		d.Show, d.Cancel, d.Move = f.show, f.cancel, f.move
		d.Secret = l.T("mail.booking.secret")
		d.Reservation = f.reservation(false)
	default: // cancelled
		d.Rebook, d.Again = f.rebook, f.again
		d.Reservation = f.reservation(true)
	}
	if texts.calendar != "" {
		d.Calendar = l.T(texts.calendar)
	}
	m := Message{
		From: Address{Name: office.Name, Email: w.From}, To: Address{Name: b.Name, Email: b.Email},
		Subject:   d.Subject,
		MessageID: messageID(w.From, a.Key),
	}
	if office.Email != "" {
		m.ReplyTo = &Address{Name: office.Name, Email: office.Email}
		d.Reply = l.T("mail.booking.reply")
	}
	if m.Text, m.HTML, err = render(bookingText, bookingHTML, d); err != nil {
		return Message{}, err
	}
	if texts.calendar != "" {
		cal, method := f.event(w.From, data.Stamp).calendar()
		m.Attachments = append(m.Attachments, Attachment{
			Name:      l.T("mail.booking.attachment") + ".ics",
			MediaType: "text/calendar; charset=utf-8; method=" + method,
			Content:   cal,
		})
	}
	return m, nil
}

// BookingICS is the calendar file of booking b of office as the booking's
// mails attach it, for the citizen's pages to offer as a download: the
// same UID, SEQUENCE and organizer, so that a later mail's move or
// cancellation updates the event the download made. A booked booking
// gives METHOD:REQUEST, a cancelled one METHOD:CANCEL.
//
// l is the booking's language (its Lang), base the portal's base URL
// (the links, and the UID's host), from the portal's sender address
// (MAIL_FROM: the organizer when the office has no address of its own),
// token the booking's mail token (the link in the description; not
// needed for a cancelled booking), stamp the DTSTAMP (when the file is
// made). The times are in UTC, so the file needs no time zone. It reads
// nothing: the caller (the page the mail token opened) has decided who
// may have the file. Errors: Invalid
// (the booking is neither booked nor cancelled, so there is no
// appointment to file; or a booked booking without a token).
func BookingICS(b store.Booking, office store.Office, l *i18n.Localizer, base *url.URL, from, token, join string, stamp time.Time) ([]byte, error) {
	const op = "mail: booking calendar"
	switch {
	case b.State != store.BookingBooked && b.State != store.BookingCancelled:
		return nil, fault.Wrap(fault.Invalid, op, fmt.Errorf("booking %d is %s", b.ID, b.State))
	case b.State == store.BookingBooked && token == "":
		return nil, fault.Wrap(fault.Invalid, op, errors.New("no mail token"))
	}
	f := newBookingFacts(b, office, l, base, token, time.UTC)
	if b.State == store.BookingBooked {
		f.withJoin(l, base, join)
	}
	cal, _ := f.event(from, stamp).calendar()
	return cal, nil
}

// bookingFacts are a booking's facts as a mail, its calendar file and
// its markup tell them, in one language.
type bookingFacts struct {
	b                         store.Booking
	office                    store.Office
	loc                       *time.Location
	host                      string // the portal's host name, the UID's domain
	service                   string
	date, clock, time, length string
	place                     string // where, as the mail and the calendar say it
	join                      string // a video appointment: how the join link comes, or the words before it
	joinURL                   string // a booked video appointment: its consultation's patient link
	bring                     string
	show, cancel, move        string // the links; empty without a token
	again, rebook             string // where to book again, and the sentence that leads there
	linksIntro                string // leads to the links in the calendar file
	summary, video            string
}

// newBookingFacts tells booking b of office in language l, with its
// times in loc and its links under base.
func newBookingFacts(b store.Booking, office store.Office, l *i18n.Localizer, base *url.URL, token string, loc *time.Location) bookingFacts {
	start := b.Start.In(loc)
	f := bookingFacts{
		b: b, office: office, loc: loc,
		service: text(l, "service."+b.Service+".title", b.Service),
		date:    dateIn(l, start), clock: start.Format("15:04"),
		length: l.Tf("mail.booking.length_value", "Minutes", int(b.Calendar.Slot.Round(time.Minute)/time.Minute)),
		again:  base.JoinPath("amt", office.Slug, "leistungen", b.Service).String(),
		host:   cmp.Or(base.Hostname(), "portal.invalid"),
	}
	zone := start.Format("MST")
	f.time = l.Tf("mail.booking.time_value", "Time", f.clock, "Zone", text(l, "mail.booking.zone."+strings.ToLower(zone), zone))
	f.summary = l.Tf("mail.booking.summary", "Service", f.service, "Office", office.Name)
	f.place, f.join = bookingPlace(b.Calendar, office, l)
	f.video = l.T("mail.booking.video_place")
	f.rebook, f.linksIntro = l.T("mail.booking_cancelled.rebook"), l.T("mail.booking.calendar_links")
	f.bring = l.T("booking.bring.default")
	if id := "booking.bring." + b.Service; l.Has(id) {
		f.bring = l.T(id)
	}
	if token != "" {
		show := base.JoinPath("termin", token)
		f.show, f.cancel, f.move = show.String(), show.JoinPath("absagen").String(), show.JoinPath("verschieben").String()
	}
	return f
}

// withJoin gives the facts of a video appointment the patient link of its
// consultation, /video/<join>; an empty join leaves the sentence that the
// link comes once the appointment is booked.
func (f *bookingFacts) withJoin(l *i18n.Localizer, base *url.URL, join string) {
	if join == "" || f.b.Calendar.Kind != store.CalendarVideo {
		return
	}
	f.join, f.joinURL = l.T("mail.booking.video_link"), base.JoinPath("video", join).String()
}

// bookingPlace is where an appointment of calendar c is: an on-site
// calendar's place (with the calendar's name, else the office's
// address), or, for a video calendar, the video consultation and how its
// join link comes. A video appointment's join link is made and sent by
// the video consultation it belongs to, in a mail of its own; this is
// where a booking's mails speak of it.
func bookingPlace(c store.Calendar, office store.Office, l *i18n.Localizer) (place, join string) {
	if c.Kind == store.CalendarVideo {
		return l.T("mail.booking.video_place"), l.T("mail.booking.video_join")
	}
	place = oneLine(c.Place)
	if place == "" {
		place = oneLine(strings.Join(nonEmpty(office.Name, office.Street, strings.TrimSpace(office.PostalCode+" "+office.City)), ", "))
	}
	if name := oneLine(c.Name); name != "" && !strings.Contains(place, name) {
		place += " (" + name + ")"
	}
	return place, ""
}

func nonEmpty(parts ...string) []string {
	out := parts[:0]
	for _, p := range parts {
		if strings.TrimSpace(p) != "" {
			out = append(out, p)
		}
	}
	return out
}

// event is the booking as a calendar event. Every calendar file of one
// booking carries the UID booking-<id>@<host of the base URL>: the host
// is what the download and the mails share (the mails' sender may
// change). SEQUENCE is the booking's, which the store counts up at each
// move and at the cancellation.
func (f bookingFacts) event(from string, stamp time.Time) event {
	e := event{
		product: "Termin", uid: "booking-" + strconv.FormatInt(f.b.ID, 10) + "@" + f.host, stamp: stamp, sequence: f.b.Sequence,
		start: f.b.Start, end: f.b.End(), summary: f.summary, location: f.place,
		organizer: organizer(f.office, from), attendee: f.b.Email,
		cancel: f.b.State == store.BookingCancelled,
	}
	if f.b.Calendar.Kind == store.CalendarVideo {
		e.location = f.video
	}
	var desc []string
	if f.join != "" && !e.cancel {
		desc = append(desc, strings.TrimSpace(f.join+"\n"+f.joinURL))
	}
	if !e.cancel && f.show != "" {
		e.url = f.show
		desc = append(desc, f.linksIntro+"\n"+f.show, f.bring)
	}
	if e.cancel {
		desc = append(desc, f.rebook+"\n"+f.again)
	}
	e.description = strings.Join(desc, "\n\n")
	return e
}

// dateIn is t's date as language l writes it.
func dateIn(l *i18n.Localizer, t time.Time) string {
	if l.Lang().Code == "de" {
		return t.Format("02.01.2006")
	}
	return t.Format("2 January 2006")
}

// reservation is a booking as schema.org's EventReservation, which mail
// clients (Gmail, Apple Mail) show as a card with the time and the link
// to change it. Only what the mail says anyway: no address, no phone.
type reservation struct {
	Context   string        `json:"@context"`
	Type      string        `json:"@type"`
	Number    string        `json:"reservationNumber"`
	Status    string        `json:"reservationStatus"`
	UnderName *named        `json:"underName,omitempty"`
	For       reservedEvent `json:"reservationFor"`
	ModifyURL string        `json:"modifyReservationUrl,omitempty"`
}

// named is a schema.org thing with a type and a name: a Person, an
// organization.
type named struct {
	Type string `json:"@type"`
	Name string `json:"name"`
}

type reservedEvent struct {
	Type           string   `json:"@type"`
	Name           string   `json:"name"`
	StartDate      string   `json:"startDate"`
	EndDate        string   `json:"endDate"`
	AttendanceMode string   `json:"eventAttendanceMode"`
	Location       location `json:"location"`
	Organizer      named    `json:"organizer"`
}

type location struct {
	Type    string         `json:"@type"` // Place or VirtualLocation
	Name    string         `json:"name"`
	Address *postalAddress `json:"address,omitempty"`
}

type postalAddress struct {
	Type       string `json:"@type"`
	Street     string `json:"streetAddress,omitempty"`
	PostalCode string `json:"postalCode,omitempty"`
	Locality   string `json:"addressLocality,omitempty"`
	Country    string `json:"addressCountry"`
}

// reservation is the booking's markup: confirmed, with the link to move
// it, or cancelled. The reservation number is the booking's id, which
// opens nothing (the token does).
func (f bookingFacts) reservation(cancelled bool) *reservation {
	r := &reservation{
		Context: "https://schema.org", Type: "EventReservation",
		Number: strconv.FormatInt(f.b.ID, 10), Status: "https://schema.org/ReservationConfirmed",
		For: reservedEvent{
			Type: "Event", Name: f.summary,
			StartDate: f.b.Start.In(f.loc).Format(time.RFC3339), EndDate: f.b.End().In(f.loc).Format(time.RFC3339),
			AttendanceMode: "https://schema.org/OfflineEventAttendanceMode",
			Location: location{Type: "Place", Name: f.place, Address: &postalAddress{
				Type: "PostalAddress", Street: f.office.Street, PostalCode: f.office.PostalCode, Locality: f.office.City, Country: "DE",
			}},
			Organizer: named{Type: "GovernmentOrganization", Name: f.office.Name},
		},
		ModifyURL: f.move,
	}
	if f.b.Calendar.Kind == store.CalendarVideo {
		r.For.AttendanceMode = "https://schema.org/OnlineEventAttendanceMode"
		r.For.Location = location{Type: "VirtualLocation", Name: f.video}
	}
	if name := oneLine(f.b.Name); name != "" {
		r.UnderName = &named{Type: "Person", Name: name}
	}
	if cancelled {
		r.Status, r.ModifyURL = "https://schema.org/ReservationCancelled", ""
	}
	return r
}
