package mail

import (
	"strconv"
	"strings"

	ics "github.com/arran4/golang-ical"

	"github.com/gesundheitsamt/portal/internal/store"
)

// calendar is the appointment of a video mail as an iTIP message (RFC
// 5546 over RFC 5545), and its method: REQUEST, which puts the
// consultation into the recipient's calendar or moves it there, or
// CANCEL, which takes it out.
//
// Every mail about one consultation carries the same UID
// (video-<id>@<domain of From>), the guest's too: a calendar client
// files each message under its UID, so a move or a cancellation must
// name the event the invitation made, and the guest's move comes as the
// same video_moved mail the patient gets. Patient and guest are two
// attendees of one meeting, each in their own calendar, which is what a
// shared UID means in iTIP. SEQUENCE orders the versions (the video
// service counts it), DTSTAMP is when the mail was enqueued.
//
// The ORGANIZER is the office's address (Reply-To), else the portal's
// sender: REQUEST and CANCEL need one, and a client ignores a move whose
// organizer differs from the invitation's. The one ATTENDEE is the
// recipient's address without a name, RSVP=FALSE: nobody at the office
// reads calendar replies. CLASS:PRIVATE keeps the link out of what a
// shared calendar shows others.
func (w *Worker) calendar(v videoData, office store.Office, cancel bool, summary, description, link string) ([]byte, string) {
	cal := ics.NewCalendarFor("Gesundheitsamt-Portal")
	cal.SetProductId("-//Gesundheitsamt-Portal//Videosprechstunde//DE")
	method, status := ics.MethodRequest, ics.ObjectStatusConfirmed
	if cancel {
		method, status = ics.MethodCancel, ics.ObjectStatusCancelled
	}
	cal.SetMethod(method)
	ev := cal.AddEvent(videoUID(v.ConsultationID, w.From))
	ev.SetDtStampTime(v.Stamp)
	ev.SetSequence(v.Sequence)
	ev.SetStartAt(v.Start)
	ev.SetEndAt(v.Start.Add(v.Length))
	ev.SetSummary(summary)
	ev.SetStatus(status)
	ev.SetClass(ics.ClassificationPrivate)
	if description != "" {
		ev.SetDescription(description)
	}
	if link != "" {
		ev.SetURL(link)
		ev.SetLocation(link) // where most clients show a meeting's link
	}
	organizer := office.Email
	if organizer == "" {
		organizer = w.From
	}
	ev.SetOrganizer(oneLine(organizer), ics.WithCN(paramText(office.Name)))
	ev.AddAttendee(oneLine(v.To), ics.CalendarUserTypeIndividual, ics.ParticipationRoleReqParticipant,
		ics.ParticipationStatusNeedsAction, &ics.KeyValues{Key: string(ics.ParameterRsvp), Value: []string{"FALSE"}}) // WithRSVP writes "false"
	// RFC 5545 lines end in CRLF; the library's default is the system's.
	return []byte(cal.Serialize(ics.WithNewLineWindows)), string(method)
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
