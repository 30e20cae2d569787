// Package mail writes and sends the portal's notification e-mails. Mails
// are River jobs, inserted in the transaction of the event that causes
// them, so nothing is sent for work that rolled back.
//
// No mail carries health data or answers: a mail names the service and the
// reference number and links to the token-protected page; a video
// consultation's mail names the office, the time and the join link; a
// booking's mail the service, the office, the time and place, and its
// links.
//
// The files, in the order a mail passes through them:
//
//   - job.go: a mail job's arguments (Args), the template names, its
//     queue and attempts.
//   - notify.go: the Notifier, which enqueues the mails of case events
//     and saved drafts in their transaction, with the daily cap per
//     recipient.
//   - digest.go: the daily summary to an office, its planning job and
//     its mail.
//   - video.go: the mails of a video consultation (invitation, move,
//     cancellation, a guest's invitation): Notifier.Video, which seals
//     address and join link into the job, and their composition.
//   - booking.go: the mails of an appointment booking (confirmation
//     link, booked, moved, cancelled, reminder): Notifier.Booking, which
//     seals the mail token into the job, their composition from the
//     booking as it is when the mail is written, with schema.org markup,
//     and BookingICS, the booking's calendar file for a download.
//   - ics.go: an appointment as a calendar file (iTIP REQUEST or
//     CANCEL) with golang-ical, for video consultations and bookings.
//   - worker.go: the Worker, which works a job: write, send, record.
//   - compose.go: Compose, which renders a job's mail (receipt with its
//     PDF, status, Rückfrage, office notice, resume link) into a Message.
//   - templates.go: the mails' text and HTML templates and render.
//   - mime.go: Message and its RFC 5322 encoding with go-message (text
//     and HTML alternatives, attachments, encoded headers), and Parse for
//     the development mailbox.
//   - dkim.go: the DKIM signature.
//   - send.go: the Sender over SMTP with go-smtp (STARTTLS, implicit TLS,
//     AUTH, connection reuse), the development Mailbox, and the kinds of
//     failure (Permanent, RelayError, OutageError).
//   - relay.go: the relay's condition as the log reports it.
//   - record.go: the record that a mail went out, kept through a
//     database outage so that no mail goes out twice.
//   - refusal.go: the record of a permanent refusal, for the admin's
//     list, the audit log and the case's timeline.
package mail
