package mail

import (
	"strconv"
	"strings"
	"time"

	ics "github.com/arran4/golang-ical"

	"github.com/gesundheitsamt/portal/internal/store"
)

// event is one appointment as an iTIP message (RFC 5546 over RFC 5545):
// what a video consultation's and a booking's calendar files share.
type event struct {
	product     string // the PRODID's last but one part: "Videosprechstunde", "Termin"
	uid         string
	stamp       time.Time // DTSTAMP: when the mail was enqueued, the same at every attempt
	sequence    int
	start, end  time.Time
	summary     string
	description string // empty: none
	url         string // empty: none
	location    string // empty: none
	organizer   Address
	attendee    string // the recipient's address
	cancel      bool   // METHOD:CANCEL, STATUS:CANCELLED
}

// calendar writes e, and returns the method: REQUEST, which puts the
// appointment into the recipient's calendar or moves it there, or CANCEL,
// which takes it out.
//
// SEQUENCE orders the versions of one UID; a client ignores a version
// older than the one it has. The ORGANIZER is the office (REQUEST and
// CANCEL need one, and a client ignores a move whose organizer differs
// from the invitation's, see organizer). The one ATTENDEE is the
// recipient's address without a name, RSVP=FALSE: nobody at the office
// reads calendar replies. CLASS:PRIVATE keeps the links out of what a
// shared calendar shows others.
func (e event) calendar() ([]byte, string) {
	cal := ics.NewCalendarFor("Gesundheitsamt-Portal")
	cal.SetProductId("-//Gesundheitsamt-Portal//" + e.product + "//DE")
	method, status := ics.MethodRequest, ics.ObjectStatusConfirmed
	if e.cancel {
		method, status = ics.MethodCancel, ics.ObjectStatusCancelled
	}
	cal.SetMethod(method)
	ev := cal.AddEvent(e.uid)
	ev.SetDtStampTime(e.stamp)
	ev.SetSequence(e.sequence)
	ev.SetStartAt(e.start)
	ev.SetEndAt(e.end)
	ev.SetSummary(e.summary)
	ev.SetStatus(status)
	ev.SetClass(ics.ClassificationPrivate)
	if e.description != "" {
		ev.SetDescription(e.description)
	}
	if e.url != "" {
		ev.SetURL(e.url)
	}
	if e.location != "" {
		ev.SetLocation(e.location)
	}
	ev.SetOrganizer(oneLine(e.organizer.Email), ics.WithCN(paramText(e.organizer.Name)))
	ev.AddAttendee(oneLine(e.attendee), ics.CalendarUserTypeIndividual, ics.ParticipationRoleReqParticipant,
		ics.ParticipationStatusNeedsAction, &ics.KeyValues{Key: string(ics.ParameterRsvp), Value: []string{"FALSE"}}) // WithRSVP writes "false"
	// RFC 5545 lines end in CRLF; the library's default is the system's.
	return []byte(cal.Serialize(ics.WithNewLineWindows)), string(method)
}

// organizer is the ORGANIZER of an office's appointments: the office's
// address (the mails' Reply-To), else the portal's sender from. Every
// calendar file of one appointment must name the same one.
func organizer(office store.Office, from string) Address {
	if office.Email != "" {
		return Address{Name: office.Name, Email: office.Email}
	}
	return Address{Name: office.Name, Email: from}
}

// videoCalendar is the appointment of a video mail as a calendar file.
//
// Every mail about one consultation carries the same UID
// (video-<id>@<domain of From>), the guest's too: a calendar client
// files each message under its UID, so a move or a cancellation must
// name the event the invitation made, and the guest's move comes as the
// same video_moved mail the patient gets. Patient and guest are two
// attendees of one meeting, each in their own calendar, which is what a
// shared UID means in iTIP. SEQUENCE orders the versions (the video
// service counts it), DTSTAMP is when the mail was enqueued. The join
// link is the URL and the LOCATION, where most clients show a meeting's
// link.
func (w *Worker) videoCalendar(v videoData, office store.Office, cancel bool, summary, description, link string) ([]byte, string) {
	return event{
		product: "Videosprechstunde", uid: videoUID(v.ConsultationID, w.From), stamp: v.Stamp, sequence: v.Sequence,
		start: v.Start, end: v.Start.Add(v.Length), summary: summary, description: description,
		url: link, location: link, organizer: organizer(office, w.From), attendee: v.To, cancel: cancel,
	}.calendar()
}

// videoUID is the UID of consultation id's calendar event.
func videoUID(id int64, from string) string {
	return "video-" + strconv.FormatInt(id, 10) + "@" + domainOf(from)
}

// paramText makes s a parameter value (a CN) that needs no quoting: the
// library escapes , ; : ' \ with backslashes, which RFC 5545 does not
// know, so they become spaces (the apostrophe a typographic one); quotes
// go, as do control characters.
func paramText(s string) string {
	s = strings.Map(func(r rune) rune {
		switch r {
		case ',', ';', ':', '\\':
			return ' '
		case '\'':
			return '’'
		case '"':
			return -1
		}
		return r
	}, s)
	return oneLine(s)
}
