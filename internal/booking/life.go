package booking

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/gesundheitsamt/portal/forms"
	"github.com/gesundheitsamt/portal/internal/fault"
	portalmail "github.com/gesundheitsamt/portal/internal/mail"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/submission"
	"github.com/gesundheitsamt/portal/internal/video"
)

// ConfirmTTL is how long a booking whose details came waits for its
// confirmation: long enough for a slow mail, short enough that an
// unconfirmed place goes back to others the same morning.
const ConfirmTTL = 60 * time.Minute

// ReminderLead is how long before the appointment the reminder mail goes
// out. An appointment booked closer to its time than this gets none: the
// booked mail is fresh.
const ReminderLead = 24 * time.Hour

// MaxResends is how often a citizen may have the confirmation mail sent
// again.
const MaxResends = 3

// Message ids of the answers a citizen reads about a booking's life.
const (
	msgHoldLapsed     = "booking.error.hold_lapsed"    // the 10 minutes of the hold are over
	msgConfirmLapsed  = "booking.error.confirm_lapsed" // the confirmation came too late; the place is free again
	msgCancelled      = "booking.error.cancelled"      // the booking was cancelled
	msgPast           = "booking.error.past"           // the appointment is over
	msgAddressLimit   = "booking.error.address_limit"  // the address has its appointments of the service
	msgResendLimit    = "booking.error.resend_limit"   // the confirmation mail was sent again often enough
	msgNotConfirmed   = "booking.error.not_confirmed"  // moving needs a confirmed booking
	msgSameSlot       = "booking.error.same_slot"      // moving to the time it has
	msgNameRequired   = "booking.error.name_required"  // contact: no name
	msgNameInvalid    = "booking.error.name_invalid"   // contact: control characters, or too long
	msgEmailRequired  = "booking.error.email_required" // contact: no address
	msgEmailInvalid   = "booking.error.email_invalid"  // contact: not an address
	msgPhoneInvalid   = "booking.error.phone_invalid"  // contact: not a telephone number
	maxNameRunes      = 200
	maxEmailBytes     = 254
	maxPhoneRunesSeen = 40
)

// FieldsError says which fields of what was entered are wrong: field →
// message id. It travels as an Invalid error: the contact details of a
// booking (fields "name", "email", "phone") and the set-up of a calendar
// (the fields its methods name).
type FieldsError struct {
	Fields map[string]string
}

func (e *FieldsError) Error() string { return "booking: fields invalid" }

// AsFieldsError returns the field errors err carries.
func AsFieldsError(err error) (*FieldsError, bool) {
	var e *FieldsError
	ok := errors.As(err, &e)
	return e, ok
}

// CheckContact normalises c and returns what is wrong with it, nil when
// nothing is. The name may be in any script (the appointment is not a
// register entry); the address must be one mail can be sent to; the
// telephone number is optional; a language that is not a two-letter code
// is German.
func CheckContact(c store.BookingContact) (store.BookingContact, *FieldsError) {
	c.Name = strings.Join(strings.Fields(c.Name), " ")
	c.Email = strings.TrimSpace(c.Email)
	c.Phone = strings.TrimSpace(c.Phone)
	if len(c.Lang) != 2 || strings.ContainsFunc(c.Lang, func(r rune) bool { return r < 'a' || r > 'z' }) {
		c.Lang = "de" // the office's language of record
	}
	bad := map[string]string{}
	switch {
	case c.Name == "":
		bad["name"] = msgNameRequired
	case utf8.RuneCountInString(c.Name) > maxNameRunes || strings.ContainsFunc(c.Name, func(r rune) bool { return !unicode.IsPrint(r) }):
		bad["name"] = msgNameInvalid
	}
	switch {
	case c.Email == "":
		bad["email"] = msgEmailRequired
	case !isAddress(c.Email):
		bad["email"] = msgEmailInvalid
	}
	if c.Phone != "" && (utf8.RuneCountInString(c.Phone) > maxPhoneRunesSeen || !forms.IsPhone(c.Phone)) {
		bad["phone"] = msgPhoneInvalid
	}
	if len(bad) > 0 {
		return c, &FieldsError{Fields: bad}
	}
	return c, nil
}

// isAddress reports whether s is a bare address (name@domain, no display
// name, no comments) of a domain with a dot.
func isAddress(s string) bool {
	if len(s) > maxEmailBytes {
		return false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	return at > 0 && strings.Contains(s[at+1:], ".") && !strings.HasSuffix(s, ".")
}

// OpenHold returns the booking the browser's token (from choosing the
// slot) belongs to. Errors: NotFound.
func (s *Service) OpenHold(ctx context.Context, token string) (store.Booking, error) {
	b, err := store.FindBooking(ctx, s.db, submission.HashToken(token))
	if err != nil {
		return store.Booking{}, fmt.Errorf("booking: open hold: %w", err)
	}
	return b, nil
}

// OpenLink returns the booking a mail's token belongs to. Errors:
// NotFound (unknown, or replaced by a newer mail).
func (s *Service) OpenLink(ctx context.Context, token string) (store.Booking, error) {
	b, err := store.FindBookingByMail(ctx, s.db, submission.HashToken(token))
	if err != nil {
		return store.Booking{}, fmt.Errorf("booking: open link: %w", err)
	}
	return b, nil
}

// Contact gives the held booking of the browser's token its citizen and
// sends the confirmation mail, whose link alone confirms (double
// opt-in); the place is kept ConfirmTTL for it. Errors: NotFound (no
// such hold); Invalid (*FieldsError); Conflict (msgHoldLapsed: the
// hold lapsed or its details came already; msgAddressLimit: the address
// has its appointments of the service).
func (s *Service) Contact(ctx context.Context, token string, c store.BookingContact) (store.Booking, error) {
	const op = "booking: contact"
	c, bad := CheckContact(c)
	if bad != nil {
		return store.Booking{}, fault.Wrap(fault.Invalid, op, bad)
	}
	var out store.Booking
	err := s.inBooking(ctx, store.LockHold, token, func(tx pgx.Tx, b store.Booking) error {
		if b.State != store.BookingHeld || !b.Holds {
			return fault.New(fault.Conflict, op, msgHoldLapsed)
		}
		if s.perAddress > 0 {
			n, err := store.CountActiveAtAddress(ctx, tx, b.OfficeID, b.Service, c.Email, b.ID)
			if err != nil {
				return err
			}
			if n >= s.perAddress {
				return fault.New(fault.Conflict, op, msgAddressLimit)
			}
		}
		mailToken := submission.NewToken()
		until, err := store.SetBookingContact(ctx, tx, b.OfficeID, b.ID, c, submission.HashToken(mailToken), ConfirmTTL)
		if err != nil {
			return err
		}
		b.State, b.Expires = store.BookingUnconfirmed, until
		b.Name, b.Email, b.Phone, b.Lang = c.Name, c.Email, c.Phone, c.Lang
		out = b
		return s.send(ctx, tx, b, portalmail.TemplateBookingConfirm, "confirm:0", mailToken, "")
	})
	if err != nil {
		return store.Booking{}, fmt.Errorf("%s: %w", op, err)
	}
	return out, nil
}

// Resend sends the confirmation mail of the browser's unconfirmed
// booking again, with a new link (the old one stops working), at most
// MaxResends times. Errors: NotFound; Conflict (msgConfirmLapsed: not
// waiting for a confirmation; msgResendLimit).
func (s *Service) Resend(ctx context.Context, token string) error {
	const op = "booking: resend"
	err := s.inBooking(ctx, store.LockHold, token, func(tx pgx.Tx, b store.Booking) error {
		if b.State != store.BookingUnconfirmed || !b.Holds {
			return fault.New(fault.Conflict, op, msgConfirmLapsed)
		}
		if b.Resends >= MaxResends {
			return fault.New(fault.Conflict, op, msgResendLimit)
		}
		mailToken := submission.NewToken()
		n, err := store.RenewMailToken(ctx, tx, b.OfficeID, b.ID, submission.HashToken(mailToken), MaxResends)
		if err != nil {
			return err
		}
		return s.send(ctx, tx, b, portalmail.TemplateBookingConfirm, "confirm:"+strconv.Itoa(n), mailToken, "")
	})
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// Confirm books the unconfirmed booking of the mail's token and sends
// the booked mail. A booking confirmed already stays as it is (a second
// click is no error; the returned booking says so). Errors: NotFound;
// Conflict (msgConfirmLapsed: too late, the place went back;
// msgCancelled; msgPast: the slot began meanwhile).
func (s *Service) Confirm(ctx context.Context, token string) (store.Booking, error) {
	const op = "booking: confirm"
	var out store.Booking
	err := s.inBooking(ctx, store.LockBookingByMail, token, func(tx pgx.Tx, b store.Booking) error {
		out = b
		switch {
		case b.State == store.BookingBooked:
			return nil
		case b.State == store.BookingCancelled:
			return fault.New(fault.Conflict, op, msgCancelled)
		case b.State != store.BookingUnconfirmed || !b.Holds:
			return fault.New(fault.Conflict, op, msgConfirmLapsed)
		case !b.Start.After(s.now()):
			return fault.New(fault.Conflict, op, msgPast) // confirmed after its time (a calendar without notice)
		}
		if err := store.ConfirmBooking(ctx, tx, b.OfficeID, b.ID); err != nil {
			return err
		}
		// An offer from the waiting list, confirmed, ends its entry.
		if err := store.EndOffer(ctx, tx, b.OfficeID, b.ID); err != nil {
			return err
		}
		out.State, out.Expires, out.Confirmed = store.BookingBooked, time.Time{}, s.now()
		if err := s.hook(ctx, tx, out, eventBooked); err != nil {
			return err
		}
		join, err := s.room(ctx, tx, out, false)
		if err != nil {
			return err
		}
		if err := s.send(ctx, tx, out, portalmail.TemplateBookingBooked, "booked", token, join); err != nil {
			return err
		}
		return s.remind(ctx, tx, out, token, join)
	})
	if err != nil {
		return store.Booking{}, fmt.Errorf("%s: %w", op, err)
	}
	return out, nil
}

// Cancel cancels the booking of the mail's token, which frees its place
// at once, and, when it was booked, sends the cancellation. A booking
// cancelled already stays as it is. Errors: NotFound; Conflict
// (msgConfirmLapsed: it lapsed unconfirmed; msgPast: the appointment is
// over).
func (s *Service) Cancel(ctx context.Context, token string) (store.Booking, error) {
	const op = "booking: cancel"
	var out store.Booking
	err := s.inBooking(ctx, store.LockBookingByMail, token, func(tx pgx.Tx, b store.Booking) error {
		out = b
		switch {
		case b.State == store.BookingCancelled:
			return nil
		case b.State == store.BookingBooked && !b.Start.After(s.now()):
			return fault.New(fault.Conflict, op, msgPast)
		case b.State == store.BookingBooked:
		case b.State == store.BookingUnconfirmed && b.Holds:
		default:
			return fault.New(fault.Conflict, op, msgConfirmLapsed)
		}
		if err := store.CancelBooking(ctx, tx, b.OfficeID, b.ID); err != nil {
			return err
		}
		if err := s.freed(ctx, tx, b.OfficeID, b.Calendar.ID); err != nil {
			return err
		}
		// As the statement leaves the row.
		out.State, out.Expires, out.Cancelled, out.Sequence = store.BookingCancelled, time.Time{}, s.now(), b.Sequence+1
		out.CancelledBy, out.Attendance, out.AttendanceAt = store.CancelledByCitizen, "", time.Time{}
		if err := s.hook(ctx, tx, out, eventCancelled); err != nil {
			return err
		}
		if b.State != store.BookingBooked {
			return nil // nothing was booked: no calendar entry to cancel
		}
		if err := s.closeRoom(ctx, tx, b); err != nil {
			return err
		}
		return s.send(ctx, tx, out, portalmail.TemplateBookingCancelled, "cancelled", token, "")
	})
	if err != nil {
		return store.Booking{}, fmt.Errorf("%s: %w", op, err)
	}
	return out, nil
}

// Move moves the booked booking of the mail's token to the slot of the
// office's calendar calendarID at start and sends the new time. The new
// place is taken before the old one is freed, in one statement: a move
// that finds no place leaves the booking where it was. Errors: NotFound
// (also a calendar that does not serve the booking's service); Invalid
// (msgNoSuchSlot, msgSameSlot); Conflict (msgSlotTaken, msgNotConfirmed,
// msgCancelled, msgPast).
func (s *Service) Move(ctx context.Context, token string, calendarID int64, start time.Time) (store.Booking, error) {
	const op = "booking: move"
	var out store.Booking
	err := s.inBooking(ctx, store.LockBookingByMail, token, func(tx pgx.Tx, b store.Booking) error {
		switch {
		case b.State == store.BookingCancelled:
			return fault.New(fault.Conflict, op, msgCancelled)
		case b.State != store.BookingBooked:
			return fault.New(fault.Conflict, op, msgNotConfirmed)
		case !b.Start.After(s.now()):
			return fault.New(fault.Conflict, op, msgPast)
		case b.Calendar.ID == calendarID && b.Start.Equal(start):
			return fault.New(fault.Invalid, op, msgSameSlot)
		}
		office, err := store.GetOffice(ctx, tx, b.OfficeID)
		if err != nil {
			return err
		}
		c, slot, err := s.slot(ctx, tx, office, calendarID, b.Service, start)
		if err != nil {
			return err
		}
		err = store.MoveBooking(ctx, tx, b.OfficeID, b.ID, c.ID, slot.Start, slot.Capacity)
		if errors.Is(err, store.ErrSlotFull) {
			return fault.New(fault.Conflict, op, msgSlotTaken)
		}
		if err != nil {
			return err
		}
		if err := s.freed(ctx, tx, b.OfficeID, b.Calendar.ID); err != nil {
			return err // the old place frees
		}
		out = b
		out.Calendar, out.Start, out.Sequence = c, slot.Start, b.Sequence+1
		out.Attendance, out.AttendanceAt = "", time.Time{} // as the statement leaves the row
		join, err := s.room(ctx, tx, out, b.Calendar.Kind == store.CalendarVideo)
		if err != nil {
			return err
		}
		if err := s.hook(ctx, tx, out, eventMoved); err != nil {
			return err
		}
		if err := s.send(ctx, tx, out, portalmail.TemplateBookingMoved, "moved:"+strconv.Itoa(out.Sequence), token, join); err != nil {
			return err
		}
		return s.remind(ctx, tx, out, token, join)
	})
	if err != nil {
		return store.Booking{}, fmt.Errorf("%s: %w", op, err)
	}
	return out, nil
}

// Release gives up the browser's hold, so the citizen can choose another
// slot and the place goes back to others at once. A hold that is no
// longer one is left as it is. Errors: NotFound.
func (s *Service) Release(ctx context.Context, token string) (store.Booking, error) {
	var out store.Booking
	err := s.inBooking(ctx, store.LockHold, token, func(tx pgx.Tx, b store.Booking) error {
		out = b
		if b.State != store.BookingHeld {
			return nil
		}
		if err := store.ReleaseHold(ctx, tx, b.OfficeID, b.ID); err != nil {
			return err
		}
		return s.freed(ctx, tx, b.OfficeID, b.Calendar.ID)
	})
	if err != nil {
		return store.Booking{}, fmt.Errorf("booking: release: %w", err)
	}
	return out, nil
}

// inBooking runs fn in a transaction on the booking that lock returns
// for the token, with its row locked: the checks and the change see the
// same booking, a double click waits for the first, and a mail token
// replaced meanwhile (PostgreSQL checks the WHERE again on the locked
// row) finds nothing.
func (s *Service) inBooking(ctx context.Context, lock func(context.Context, pgx.Tx, []byte) (store.Booking, error), token string, fn func(pgx.Tx, store.Booking) error) error {
	if token == "" {
		return fault.New(fault.NotFound, "booking", "")
	}
	hash := submission.HashToken(token)
	return s.db.InTx(ctx, func(tx pgx.Tx) error {
		b, err := lock(ctx, tx, hash)
		if err != nil {
			return err
		}
		return fn(tx, b)
	})
}

// remind queues, in tx, the reminder of booked booking b for
// ReminderLead before it starts, keyed by its Sequence: a move queues a
// reminder for the new time, and the old one, finding the booking moved
// (or cancelled), sends nothing.
func (s *Service) remind(ctx context.Context, tx pgx.Tx, b store.Booking, token, join string) error {
	at := b.Start.Add(-ReminderLead)
	if s.mail == nil || !at.After(s.now()) {
		return nil
	}
	return s.mail.Booking(ctx, tx, portalmail.BookingMail{
		Key: "booking:" + strconv.FormatInt(b.ID, 10) + ":reminder:" + strconv.Itoa(b.Sequence), Template: portalmail.TemplateBookingReminder,
		OfficeID: b.OfficeID, BookingID: b.ID, Token: token, Join: join, At: at, Sequence: b.Sequence,
	})
}

// room keeps the video consultation of booked booking b in step with
// it, b's calendar and start being the booking's now and wasVideo saying
// whether it was a video appointment before (a move between calendars):
// a video appointment gets its consultation made or moved, one that
// moved on site gets it cancelled. It returns the patient link's token
// for the mails; "" on site, or without Rooms.
func (s *Service) room(ctx context.Context, tx pgx.Tx, b store.Booking, wasVideo bool) (string, error) {
	if s.rooms == nil {
		return "", nil
	}
	minutes := int(b.Calendar.Slot / time.Minute)
	switch {
	case b.Calendar.Kind != store.CalendarVideo && wasVideo:
		return "", s.rooms.CancelForBooking(ctx, tx, b.OfficeID, b.ID)
	case b.Calendar.Kind != store.CalendarVideo:
		return "", nil
	}
	// To a video calendar: the booking's consultation, if it had one
	// (moved within video, or cancelled by a move on site and planned
	// again now), else a new one.
	join, err := s.rooms.MoveForBooking(ctx, tx, b.OfficeID, b.ID, b.Start, minutes)
	if fault.KindOf(err) == fault.Conflict {
		return "", fault.New(fault.Conflict, "booking: video consultation", msgPast) // its call took place already
	}
	if fault.KindOf(err) != fault.NotFound {
		return join, err
	}
	c, err := s.rooms.Create(ctx, tx, video.NewConsultation{OfficeID: b.OfficeID, BookingID: b.ID, Start: b.Start, Minutes: minutes})
	if err != nil {
		return "", err
	}
	return c.Token, nil
}

// closeRoom cancels the video consultation of booking b, booked until
// now, when it is a video appointment.
func (s *Service) closeRoom(ctx context.Context, tx pgx.Tx, b store.Booking) error {
	if s.rooms == nil || b.Calendar.Kind != store.CalendarVideo {
		return nil
	}
	return s.rooms.CancelForBooking(ctx, tx, b.OfficeID, b.ID)
}

// Join returns the token of the patient link of booked video booking b's
// consultation (/video/<token>), for its pages; "" for an on-site
// appointment, or one that has no consultation.
func (s *Service) Join(ctx context.Context, b store.Booking) (string, error) {
	if s.rooms == nil || b.State != store.BookingBooked || b.Calendar.Kind != store.CalendarVideo {
		return "", nil
	}
	_, token, err := s.rooms.ForBooking(ctx, s.db, b.OfficeID, b.ID)
	if fault.KindOf(err) == fault.NotFound {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("booking: join link: %w", err)
	}
	return token, nil
}

// send enqueues the booking's mail template in tx, keyed by the booking
// and event, with the mail token its links carry.
func (s *Service) send(ctx context.Context, tx pgx.Tx, b store.Booking, template, event, token, join string) error {
	if s.mail == nil {
		return nil
	}
	return s.mail.Booking(ctx, tx, portalmail.BookingMail{
		Key: "booking:" + strconv.FormatInt(b.ID, 10) + ":" + event, Template: template,
		OfficeID: b.OfficeID, BookingID: b.ID, Token: token, Join: join,
	})
}
