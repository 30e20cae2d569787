package video

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/store"
)

// MsgBooking is what staff read when they would move or cancel the
// consultation of a booked video appointment on its own: it moves and is
// cancelled with the appointment, so that the citizen's booking and the
// call never disagree.
const MsgBooking = "staff.video.error.booking"

// The booking service keeps the consultation of a video appointment in
// step with the booking, inside the booking's transaction: Create (with
// NewConsultation.BookingID) when it is booked, MoveForBooking and
// CancelForBooking when it moves or is cancelled. The booking's mails
// carry the patient link, so these send no mail of their own and leave
// no audit entry: the citizen, not staff, acted.

// ForBooking returns the consultation that booking bookingID of office
// officeID made and the token of its patient link (for the booking's
// pages and mails). Errors: NotFound (none).
func (s *Service) ForBooking(ctx context.Context, q store.Querier, officeID, bookingID int64) (store.Consultation, string, error) {
	c, err := store.GetBookingConsultation(ctx, q, officeID, bookingID)
	if err != nil {
		return store.Consultation{}, "", err
	}
	token, err := s.patientToken(ctx, q, c)
	return c, token, err
}

// MoveForBooking moves the consultation of booking bookingID to start
// for minutes, in tx, and returns its patient link's token, which keeps
// working for the new time. A consultation cancelled with a move on site
// is planned again (the appointment came back to video). Errors:
// NotFound (none); Conflict (MsgState: ended).
func (s *Service) MoveForBooking(ctx context.Context, tx pgx.Tx, officeID, bookingID int64, start time.Time, minutes int) (string, error) {
	c, err := store.LockBookingConsultation(ctx, tx, officeID, bookingID)
	if err != nil {
		return "", err
	}
	move := store.RescheduleConsultation
	if c.State == store.VideoCancelled {
		move = store.ReopenConsultation
	}
	if _, ok, err := move(ctx, tx, officeID, c.ID, start, minutes); err != nil {
		return "", err
	} else if !ok {
		return "", fault.New(fault.Conflict, "video: move for a booking", MsgState)
	}
	return s.patientToken(ctx, tx, c)
}

// CancelForBooking cancels the consultation of booking bookingID, in tx;
// one that is cancelled or over already, or that does not exist, is
// left as it is.
func (s *Service) CancelForBooking(ctx context.Context, tx pgx.Tx, officeID, bookingID int64) error {
	c, err := store.LockBookingConsultation(ctx, tx, officeID, bookingID)
	if fault.KindOf(err) == fault.NotFound {
		return nil
	}
	if err != nil {
		return err
	}
	_, _, err = store.CloseConsultation(ctx, tx, officeID, c.ID, store.VideoCancelled, s.now())
	return err
}

// patientToken opens the token of c's patient link.
func (s *Service) patientToken(ctx context.Context, q store.Querier, c store.Consultation) (string, error) {
	links, err := store.ListVideoLinks(ctx, q, c.OfficeID, c.ID)
	if err != nil {
		return "", err
	}
	for _, l := range links {
		if l.Kind != store.LinkPatient {
			continue
		}
		token, err := s.box.Open(l.TokenSealed, tokenAAD(c.OfficeID))
		if err != nil {
			return "", fmt.Errorf("video: open the token of link %d: %w", l.ID, err)
		}
		return string(token), nil
	}
	return "", fault.New(fault.NotFound, "video: patient link", "")
}
