package booking

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gesundheitsamt/portal/internal/audit"
	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/fault"
	portalmail "github.com/gesundheitsamt/portal/internal/mail"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/submission"
)

// RequestForm is the form of an appointment request (Terminanfrage): the
// cases staff may answer with an offer of appointments.
const RequestForm = "terminanfrage"

// MaxOfferSlots is how many slots one offer may name.
const MaxOfferSlots = 5

// Message ids of an offer that is refused.
const (
	msgOfferCase     = "booking.error.offer_case"      // the case is no appointment request
	msgOfferCount    = "booking.error.offer_count"     // no slot chosen, or more than MaxOfferSlots
	msgOfferSlot     = "booking.error.offer_slot"      // not a bookable slot of the office's calendars
	msgOfferOpen     = "booking.error.offer_open"      // the case has an open offer already
	msgOfferClosed   = "booking.error.offer_closed"    // withdrawn, or a slot of it booked already
	msgOfferNotThere = "booking.error.offer_not_there" // the slot is not one of the offer's
	msgOfferNoEmail  = "booking.error.offer_no_email"  // the request gave no e-mail address to send the offer to
)

// CaseOffer is the open offer of a case with the slots of it that can
// still be booked.
type CaseOffer struct {
	Offer store.Offer
	Slots []OfferedSlot // by start; the ones over or out of notice left out
}

// OfferedSlot is a slot of an offer with its calendar (its place, or
// Video).
type OfferedSlot struct {
	Calendar store.Calendar
	Slot     Slot
}

// Offer offers the citizen of case caseID of a's office the slots, each
// a start of any of the office's calendars (anyService: the citizen asked
// for an appointment, the office chooses where). An offer holds none of its slots (see migration 00029): the
// citizen's booking takes the place as any booking does, with the
// database's check of the capacity. The citizen-visible event on the
// status page and the mail to the citizen ride the same transaction.
// Audited. Errors: NotFound (no such case of the office); Invalid
// (msgOfferCase, msgOfferNoEmail: the offer goes out by mail, and the
// request gave no address; msgOfferCount, msgOfferSlot); Conflict
// (msgOfferOpen).
func (s *Service) Offer(ctx context.Context, a Access, caseID int64, slots []store.OfferSlot) (store.Offer, error) {
	const op = "booking: offer"
	sub, err := store.GetSubmission(ctx, s.db, a.OfficeID, caseID)
	if err != nil {
		return store.Offer{}, fmt.Errorf("%s: %w", op, err)
	}
	if sub.FormID != RequestForm {
		return store.Offer{}, fault.New(fault.Invalid, op, msgOfferCase)
	}
	if sub.ContactEmail == "" {
		return store.Offer{}, fault.New(fault.Invalid, op, msgOfferNoEmail)
	}
	if len(slots) == 0 || len(slots) > MaxOfferSlots {
		return store.Offer{}, fault.New(fault.Invalid, op, msgOfferCount)
	}
	office, err := store.GetOffice(ctx, s.db, a.OfficeID)
	if err != nil {
		return store.Offer{}, fmt.Errorf("%s: %w", op, err)
	}
	for _, sl := range slots {
		if _, _, err := s.slot(ctx, s.db, office, sl.CalendarID, anyService, sl.Start); err != nil {
			if k := fault.KindOf(err); k == fault.NotFound || k == fault.Invalid {
				return store.Offer{}, fault.New(fault.Invalid, op, msgOfferSlot)
			}
			return store.Offer{}, fmt.Errorf("%s: %w", op, err)
		}
	}
	o := store.Offer{OfficeID: a.OfficeID, SubmissionID: caseID, StaffID: a.Actor.StaffID(), Slots: slots}
	err = s.db.InTx(ctx, func(tx pgx.Tx) error {
		if err := store.InsertOffer(ctx, tx, &o); err != nil {
			return err
		}
		if _, err := store.InsertEvent(ctx, tx, a.OfficeID, caseID, store.Event{Kind: store.EventOfferMade, StaffID: a.Actor.StaffID()}); err != nil {
			return err
		}
		if err := audit.Append(ctx, tx, audit.Entry{OfficeID: a.OfficeID, Actor: a.Actor, Action: domain.AppointmentOffer, Object: domain.CaseObject(caseID)}); err != nil {
			return err
		}
		if s.mail == nil {
			return nil
		}
		return s.mail.Offered(ctx, tx, sub, o.ID)
	})
	if errors.Is(err, store.ErrOfferOpen) {
		return store.Offer{}, fault.New(fault.Conflict, op, msgOfferOpen)
	}
	if err != nil {
		return store.Offer{}, fmt.Errorf("%s: %w", op, err)
	}
	return o, nil
}

// Withdraw withdraws the open offer of case caseID of a's office: its
// slots disappear from the status page. Audited. Errors: NotFound (no
// such case of the office, or it has no open offer).
func (s *Service) Withdraw(ctx context.Context, a Access, caseID int64) error {
	const op = "booking: withdraw offer"
	err := s.db.InTx(ctx, func(tx pgx.Tx) error {
		o, err := store.GetOpenOffer(ctx, tx, a.OfficeID, caseID)
		if err != nil {
			return err
		}
		if err := store.CloseOffer(ctx, tx, a.OfficeID, o.ID, store.OfferWithdrawn, 0); err != nil {
			return err
		}
		if _, err := store.InsertEvent(ctx, tx, a.OfficeID, caseID, store.Event{Kind: store.EventOfferWithdrawn, StaffID: a.Actor.StaffID()}); err != nil {
			return err
		}
		return audit.Append(ctx, tx, audit.Entry{OfficeID: a.OfficeID, Actor: a.Actor, Action: domain.AppointmentOfferWithdraw, Object: domain.CaseObject(caseID)})
	})
	if fault.KindOf(err) == fault.Conflict {
		return fault.New(fault.NotFound, op, "") // withdrawn or booked meanwhile
	}
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// OpenOffer returns the open offer of case caseID of office officeID
// with its slots that can be booked now (for the status page and the
// case page): not over, not within the calendar's notice, and with a
// place free, so that the citizen is not shown a button that can only be
// refused. A place can still be taken between the page and the click:
// BookOffered then refuses it and the offer stays open. Errors: NotFound
// (no open offer).
func (s *Service) OpenOffer(ctx context.Context, officeID, caseID int64) (CaseOffer, error) {
	o, err := store.GetOpenOffer(ctx, s.db, officeID, caseID)
	if err != nil {
		return CaseOffer{}, fmt.Errorf("booking: open offer: %w", err)
	}
	office, err := store.GetOffice(ctx, s.db, officeID)
	if err != nil {
		return CaseOffer{}, fmt.Errorf("booking: open offer: %w", err)
	}
	out := CaseOffer{Offer: o}
	for _, sl := range o.Slots {
		cal, slot, err := s.slot(ctx, s.db, office, sl.CalendarID, anyService, sl.Start)
		if k := fault.KindOf(err); k == fault.NotFound || k == fault.Invalid {
			continue // over, out of notice, or the calendar changed
		}
		if err != nil {
			return CaseOffer{}, fmt.Errorf("booking: open offer: %w", err)
		}
		day := []Day{{Slots: []Slot{slot}}} // at most MaxOfferSlots queries
		if err := s.countFree(ctx, officeID, cal.ID, day); err != nil {
			return CaseOffer{}, fmt.Errorf("booking: open offer: %w", err)
		}
		if slot = day[0].Slots[0]; slot.Free == 0 {
			continue // every place taken meanwhile
		}
		out.Slots = append(out.Slots, OfferedSlot{Calendar: cal, Slot: slot})
	}
	return out, nil
}

// BookOffered books, for the citizen of the case whose status link's
// token is token, the slot of the case's open offer at calendarID and
// start. The booking takes its place as a hold does (the capacity is
// checked by the database, so an offered slot is never double-booked),
// with the contact details of the case, and is booked at once: the
// status link proves the citizen's address already, so no second double
// opt-in is asked. The booked mail (with its ICS) and the reminder go
// out, and a video calendar's booking gets its consultation, as for any
// booking; the offer closes. Errors: NotFound (no such case); Conflict
// (msgOfferClosed: no open offer; msgSlotTaken: every place is taken,
// the offer stays open); Invalid (msgOfferNotThere; msgPast: the slot is
// over or within the calendar's notice).
func (s *Service) BookOffered(ctx context.Context, token string, calendarID int64, start time.Time) (store.Booking, error) {
	const op = "booking: book offered slot"
	if token == "" {
		return store.Booking{}, fault.New(fault.NotFound, op, "")
	}
	sub, err := store.GetSubmissionByToken(ctx, s.db, submission.HashToken(token))
	if err != nil {
		return store.Booking{}, fmt.Errorf("%s: %w", op, err)
	}
	office, err := store.GetOffice(ctx, s.db, sub.OfficeID)
	if err != nil {
		return store.Booking{}, fmt.Errorf("%s: %w", op, err)
	}
	var out store.Booking
	err = s.db.InTx(ctx, func(tx pgx.Tx) error {
		open, err := store.GetOpenOffer(ctx, tx, sub.OfficeID, sub.ID)
		if fault.KindOf(err) == fault.NotFound {
			return fault.New(fault.Conflict, op, msgOfferClosed)
		}
		if err != nil {
			return err
		}
		// The lock makes a second booking from the offer wait for the
		// first and then find the offer closed.
		o, err := store.LockOffer(ctx, tx, sub.OfficeID, open.ID)
		if err != nil {
			return err
		}
		if o.State != store.OfferOpen {
			return fault.New(fault.Conflict, op, msgOfferClosed)
		}
		if !slices.ContainsFunc(o.Slots, func(sl store.OfferSlot) bool { return sl.CalendarID == calendarID && sl.Start.Equal(start) }) {
			return fault.New(fault.Invalid, op, msgOfferNotThere)
		}
		cal, slot, err := s.slot(ctx, tx, office, calendarID, anyService, start)
		if k := fault.KindOf(err); k == fault.NotFound || k == fault.Invalid {
			return fault.New(fault.Invalid, op, msgPast)
		}
		if err != nil {
			return err
		}
		id, _, err := store.HoldPlace(ctx, tx, store.PlaceHold{OfficeID: office.ID, CalendarID: cal.ID, Service: sub.ServiceSlug, Start: slot.Start,
			Capacity: slot.Capacity, TTL: HoldTTL, TokenHash: submission.HashToken(submission.NewToken())})
		if errors.Is(err, store.ErrSlotFull) {
			return fault.New(fault.Conflict, op, msgSlotTaken)
		}
		if err != nil {
			return err
		}
		mailToken := submission.NewToken()
		lang := sub.Locale
		if lang == "" {
			lang = "de"
		}
		c := store.BookingContact{Name: sub.Applicant, Email: sub.ContactEmail, Lang: lang}
		if _, err := store.SetBookingContact(ctx, tx, office.ID, id, c, submission.HashToken(mailToken), HoldTTL); err != nil {
			return err
		}
		if err := store.ConfirmBooking(ctx, tx, office.ID, id); err != nil {
			return err
		}
		if err := store.CloseOffer(ctx, tx, office.ID, o.ID, store.OfferBooked, id); err != nil {
			return err
		}
		if out, err = store.GetBooking(ctx, tx, office.ID, id); err != nil {
			return err
		}
		ev := store.Event{Kind: store.EventOfferBooked, Message: out.Start.UTC().Format(time.RFC3339)}
		if _, err := store.InsertEvent(ctx, tx, office.ID, sub.ID, ev); err != nil {
			return err
		}
		if err := s.hook(ctx, tx, out, eventBooked); err != nil {
			return err
		}
		join, err := s.room(ctx, tx, out, false)
		if err != nil {
			return err
		}
		if err := s.send(ctx, tx, out, portalmail.TemplateBookingBooked, "booked", mailToken, join); err != nil {
			return err
		}
		return s.remind(ctx, tx, out, mailToken, join)
	})
	if err != nil {
		return store.Booking{}, fmt.Errorf("%s: %w", op, err)
	}
	return out, nil
}
