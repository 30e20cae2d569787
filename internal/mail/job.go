package mail

import (
	"time"

	"github.com/riverqueue/river"
)

// The mails a job writes (Args.Template): the citizen's, and the notice
// to the office. TemplateDigest is with the daily summary (digest.go).
const (
	TemplateReceipt  = "receipt"  // the submission arrived, with the PDF receipt
	TemplateStatus   = "status"   // the status changed
	TemplateQuestion = "question" // the office asks something (Rückfrage)
	// TemplateOffered tells the citizen of an appointment request that
	// the office offers appointments, to book on the status page.
	TemplateOffered = "offered"
	// TemplateOfficeNew tells the office's inbox address that a submission
	// arrived: reference and link into the back office, no personal data.
	TemplateOfficeNew = "office_new"
	// TemplateResume sends the resume link of a saved draft.
	TemplateResume = "resume"
)

// The mails of a video consultation (Videosprechstunde), each with the
// appointment as a calendar file; enqueued by Notifier.Video.
const (
	TemplateVideoInvite    = "video_invite"    // the appointment and the join link
	TemplateVideoMoved     = "video_moved"     // the new time; the link stays the same
	TemplateVideoCancelled = "video_cancelled" // called off; no link
	// TemplateVideoGuest invites a guest (an interpreter, a companion)
	// with a link of their own; it names neither the patient nor the case.
	TemplateVideoGuest = "video_guest"
)

// The mails of an appointment booking (booking.go), enqueued by
// Notifier.Booking. The worker reads the booking when it writes one and
// sends it only while the booking is in the state the mail speaks of.
const (
	TemplateBookingConfirm   = "booking_confirm"   // please confirm: the confirmation link (double opt-in); no calendar file
	TemplateBookingBooked    = "booking_booked"    // the appointment is booked: calendar file, links to show, cancel and move
	TemplateBookingMoved     = "booking_moved"     // moved to a new time: calendar file with a higher SEQUENCE, same links
	TemplateBookingCancelled = "booking_cancelled" // cancelled: calendar file METHOD:CANCEL, no links but how to book again
	TemplateBookingReminder  = "booking_reminder"  // 24 hours before: same facts and links as booked
	TemplateBookingOffer     = "booking_offer"     // a place freed for the waiting list: the confirmation link, until when it is kept
)

// Args are a mail job's arguments: which mail about which submission. The
// address and the link are read when the mail is written, so no personal
// data sits in the queue. Key makes the job unique: one mail per event and
// recipient, however often the event is reported.
type Args struct {
	Key          string `json:"key" river:"unique"`
	Template     string `json:"template"`
	OfficeID     int64  `json:"office_id"`
	SubmissionID int64  `json:"submission_id,omitempty"`
	BookingID    int64  `json:"booking_id,omitempty"`
	// Sealed holds, for a resume link and a video consultation's mails,
	// address and link sealed with PORTAL_ENCRYPTION_KEY: the draft has no
	// address to read them from, and the database keeps a join token's
	// hash only. A booking's mail seals the mail token of its links only;
	// the address and the time are read from the booking.
	Sealed []byte `json:"sealed,omitempty"`
	// Day is the day a summary (TemplateDigest) counts, YYYY-MM-DD.
	Day string `json:"day,omitempty"`
}

// Kind names the job kind in River.
func (Args) Kind() string { return "mail.send" }

// resumeData is what a resume link's job carries, sealed.
type resumeData struct {
	To, Token, Lang, Service string
	Expires                  time.Time
}

// resumeAAD binds a sealed resume job to its key.
func resumeAAD(key string) []byte { return []byte("portal-mail-resume\x00" + key) }

// RetryCap is the longest wait between two attempts of a mail: after a
// long relay outage the mails go out within minutes of its end, not an
// hour.
const RetryCap = 5 * time.Minute

// MaxAttempts with Worker.NextRetry keeps trying for about a day: waits
// of 30 s, 1, 2 and 4 minutes, then 287 of 5 minutes (24 h in all).
const MaxAttempts = 292

// Queue is the River queue of mail jobs, worked with fewer workers than
// webhook calls (jobs.Options.MailWorkers).
const Queue = "mail"

// insertOpts are every mail job's: its queue, about a day of attempts,
// one job per key.
func insertOpts() *river.InsertOpts {
	return &river.InsertOpts{MaxAttempts: MaxAttempts, Queue: Queue, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}
