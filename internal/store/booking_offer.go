package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gesundheitsamt/portal/internal/fault"
)

// The states of an offer of appointments.
const (
	OfferOpen      = "open"      // the citizen may book one of its slots
	OfferBooked    = "booked"    // the citizen booked one (BookingID); closed
	OfferWithdrawn = "withdrawn" // staff withdrew it; closed
)

// Offer is an offer of appointments made from a case: slots staff chose
// for the citizen, none of them held (migration 00029).
type Offer struct {
	ID           int64
	OfficeID     int64
	SubmissionID int64
	State        string
	BookingID    int64 // 0: none
	StaffID      int64 // 0: none, or the account is gone
	CreatedAt    time.Time
	Slots        []OfferSlot // by start
}

// OfferSlot is one slot of an offer: a start of a calendar of the office.
type OfferSlot struct {
	CalendarID int64
	Start      time.Time
}

const insertOffer = `
INSERT INTO booking_offer (office_id, submission_id, staff_id)
VALUES ($1, $2, nullif($3, 0))
ON CONFLICT (office_id, submission_id) WHERE state = 'open' DO NOTHING
RETURNING id, created_at`

const insertOfferSlot = `
INSERT INTO booking_offer_slot (offer_id, office_id, calendar_id, starts_at)
VALUES ($1, $2, $3, $4)
ON CONFLICT DO NOTHING`

// ErrOfferOpen is returned by InsertOffer when the case has an open offer.
var ErrOfferOpen = errors.New("store: the case has an open offer")

// InsertOffer stores an open offer of o.Slots for o's case of o's office
// and sets o.ID. Errors: Conflict (ErrOfferOpen) when the case has an
// open offer already.
func InsertOffer(ctx context.Context, q Querier, o *Offer) error {
	err := q.QueryRow(ctx, insertOffer, o.OfficeID, o.SubmissionID, o.StaffID).Scan(&o.ID, &o.CreatedAt)
	if isNoRows(err) {
		return ErrOfferOpen
	}
	if err != nil {
		return fmt.Errorf("store: insert offer: %w", err)
	}
	o.State = OfferOpen
	for _, s := range o.Slots {
		if _, err := q.Exec(ctx, insertOfferSlot, o.ID, o.OfficeID, s.CalendarID, s.Start); err != nil {
			return fmt.Errorf("store: insert offer slot: %w", err)
		}
	}
	return nil
}

const offerColumns = `id, office_id, submission_id, state, coalesce(booking_id, 0), coalesce(staff_id, 0), created_at`

const getOpenOffer = `
SELECT ` + offerColumns + ` FROM booking_offer
WHERE office_id = $1 AND submission_id = $2 AND state = 'open'`

const lockOffer = `
SELECT ` + offerColumns + ` FROM booking_offer
WHERE office_id = $1 AND id = $2
FOR UPDATE`

const listOfferSlots = `
SELECT calendar_id, starts_at FROM booking_offer_slot
WHERE office_id = $1 AND offer_id = $2
ORDER BY starts_at, calendar_id`

// GetOpenOffer returns the open offer of case submissionID of office
// officeID with its slots. Errors: NotFound (none open).
func GetOpenOffer(ctx context.Context, q Querier, officeID, submissionID int64) (Offer, error) {
	return getOffer(ctx, q, "store: get open offer", getOpenOffer, officeID, submissionID)
}

// LockOffer returns offer id of office officeID with its slots, locked
// for the rest of the transaction q runs, so that two bookings from it
// are made one after the other. Errors: NotFound.
func LockOffer(ctx context.Context, q Querier, officeID, id int64) (Offer, error) {
	return getOffer(ctx, q, "store: lock offer", lockOffer, officeID, id)
}

func getOffer(ctx context.Context, q Querier, op, sql string, officeID, arg int64) (Offer, error) {
	var o Offer
	err := q.QueryRow(ctx, sql, officeID, arg).Scan(&o.ID, &o.OfficeID, &o.SubmissionID, &o.State, &o.BookingID, &o.StaffID, &o.CreatedAt)
	if err != nil {
		return Offer{}, notFound(op, err)
	}
	rows, err := q.Query(ctx, listOfferSlots, officeID, o.ID)
	if err != nil {
		return Offer{}, fmt.Errorf("%s: %w", op, err)
	}
	o.Slots, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (OfferSlot, error) {
		var s OfferSlot
		return s, r.Scan(&s.CalendarID, &s.Start)
	})
	if err != nil {
		return Offer{}, fmt.Errorf("%s: %w", op, err)
	}
	return o, nil
}

const closeOffer = `
UPDATE booking_offer SET state = $3, booking_id = nullif($4, 0), closed_at = now()
WHERE office_id = $1 AND id = $2 AND state = 'open'`

// CloseOffer closes open offer id of office officeID: booked with
// booking bookingID (OfferBooked), or withdrawn (OfferWithdrawn,
// bookingID 0). Errors: Conflict when the offer is not open.
func CloseOffer(ctx context.Context, q Querier, officeID, id int64, state string, bookingID int64) error {
	tag, err := q.Exec(ctx, closeOffer, officeID, id, state, bookingID)
	if err != nil {
		return fmt.Errorf("store: close offer: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fault.Wrap(fault.Conflict, "store: close offer", errors.New("offer not open"))
	}
	return nil
}
