package booking

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/gesundheitsamt/portal/internal/fault"
	portalmail "github.com/gesundheitsamt/portal/internal/mail"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/submission"
)

// The waiting list. A citizen who finds no free slot within a calendar's
// horizon can join its list. When a place frees (a cancellation, a move
// away, a hold or an offer that lapsed), the first entry in line gets it
// offered: an unconfirmed booking with the entry's contact details holds
// the place for OfferTTL, and the offer mail's link confirms it as any
// booking's confirmation link does (GET shows, POST books). Until then
// the place goes to no one else, so the list is served strictly in the
// order its entries came; an offer not confirmed in time ends its entry
// and the place goes to the next. A sweep (SweepWaitlist) makes the
// offers: queued in the transaction that frees a place, and once a
// minute for every list (what lapses by time alone).
const (
	// OfferTTL is how long a place offered from the waiting list waits
	// for its confirmation.
	OfferTTL = 2 * time.Hour
	// WaitlistKeep is how long an entry waits at most; then it ends
	// (with its contact details).
	WaitlistKeep = 60 * 24 * time.Hour
	// WaitlistMax is the most entries a calendar's list takes.
	WaitlistMax = 500
	// maxOffersPerSweep bounds one sweep's work (a mass cancellation
	// frees many places; the next sweep goes on).
	maxOffersPerSweep = 100
)

// Message ids of the waiting list's answers.
const (
	msgWaitlistFree  = "booking.waitlist.error.free"  // a slot is free: book it instead
	msgWaitlistTwice = "booking.waitlist.error.twice" // the address is on the list already
	msgWaitlistFull  = "booking.waitlist.error.full"  // the list has WaitlistMax entries
)

// Queue inserts a job in a transaction (River's client).
type Queue interface {
	InsertTx(ctx context.Context, tx pgx.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// WaitlistArgs is the job of a sweep: of the office's calendar, or, with
// both zero (the periodic job), of every list.
type WaitlistArgs struct {
	OfficeID   int64 `json:"office_id,omitempty"`
	CalendarID int64 `json:"calendar_id,omitempty"`
}

// Kind names the job kind in River.
func (WaitlistArgs) Kind() string { return "waitlist.sweep" }

// PeriodicWaitlist is the River periodic job that sweeps every list once
// a minute.
func PeriodicWaitlist() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(time.Minute), func() (river.JobArgs, *river.InsertOpts) {
		return WaitlistArgs{}, &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true, ByPeriod: time.Minute}}
	}, &river.PeriodicJobOpts{ID: "waitlist.sweep", RunOnStart: true})
}

// WaitlistWorker works WaitlistArgs.
type WaitlistWorker struct {
	river.WorkerDefaults[WaitlistArgs]
	Booking *Service
}

// Work sweeps the job's list, or every list.
func (w *WaitlistWorker) Work(ctx context.Context, job *river.Job[WaitlistArgs]) error {
	if job.Args.OfficeID != 0 {
		_, err := w.Booking.SweepWaitlist(ctx, job.Args.OfficeID, job.Args.CalendarID)
		return err
	}
	queues, err := store.ListWaitlistQueues(ctx, w.Booking.db)
	if err != nil {
		return err
	}
	var errs []error
	for _, q := range queues {
		if _, err := w.Booking.SweepWaitlist(ctx, q.OfficeID, q.CalendarID); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// JoinWaitlist puts the citizen of c on the waiting list of the office's
// calendar calendarID, for service, and returns the token of the entry's
// page. Errors: NotFound (no such calendar of the office, or it does not
// serve service); Invalid (*FieldsError); Conflict (msgWaitlistFree: a
// slot is free within the horizon; msgWaitlistTwice; msgWaitlistFull).
func (s *Service) JoinWaitlist(ctx context.Context, office store.Office, calendarID int64, service string, c store.BookingContact) (string, error) {
	const op = "booking: join waiting list"
	c, bad := CheckContact(c)
	if bad != nil {
		return "", fault.Wrap(fault.Invalid, op, bad)
	}
	if _, services, err := s.plan(ctx, s.db, office, calendarID); err != nil || !slices.Contains(services, service) {
		if err == nil || fault.KindOf(err) == fault.NotFound {
			return "", fault.New(fault.NotFound, op, "")
		}
		return "", fmt.Errorf("%s: %w", op, err)
	}
	if _, free, err := s.firstFree(ctx, s.db, office, calendarID, s.now()); err != nil {
		return "", fmt.Errorf("%s: %w", op, err)
	} else if free {
		return "", fault.New(fault.Conflict, op, msgWaitlistFree)
	}
	token := submission.NewToken()
	err := s.db.InTx(ctx, func(tx pgx.Tx) error {
		_, err := store.JoinWaitlist(ctx, tx, office.ID, calendarID, service, c, submission.HashToken(token), WaitlistMax)
		switch {
		case errors.Is(err, store.ErrWaitlistFull):
			return fault.New(fault.Conflict, op, msgWaitlistFull)
		case fault.KindOf(err) == fault.Conflict:
			return fault.New(fault.Conflict, op, msgWaitlistTwice)
		}
		return err
	})
	if err != nil {
		return "", fmt.Errorf("%s: %w", op, err)
	}
	return token, nil
}

// OpenWaitlist returns the entry of the token, with its place in line.
// Errors: NotFound (unknown, or ended).
func (s *Service) OpenWaitlist(ctx context.Context, token string) (store.WaitlistEntry, error) {
	if token == "" {
		return store.WaitlistEntry{}, fault.New(fault.NotFound, "booking: open waiting list entry", "")
	}
	e, err := store.FindWaitlistEntry(ctx, s.db, submission.HashToken(token))
	if err != nil {
		return store.WaitlistEntry{}, fmt.Errorf("booking: open waiting list entry: %w", err)
	}
	return e, nil
}

// LeaveWaitlist ends the entry of the token. An entry with an offer out
// gives its place back (the offer's booking is cancelled), and the next
// in line gets it. Errors: NotFound.
func (s *Service) LeaveWaitlist(ctx context.Context, token string) (store.WaitlistEntry, error) {
	const op = "booking: leave waiting list"
	if token == "" {
		return store.WaitlistEntry{}, fault.New(fault.NotFound, op, "")
	}
	var out store.WaitlistEntry
	hash := submission.HashToken(token)
	err := s.db.InTx(ctx, func(tx pgx.Tx) error {
		// The list's lock first: a sweep making this entry an offer
		// finishes before the entry goes.
		e, err := store.FindWaitlistEntry(ctx, tx, hash)
		if err != nil {
			return err
		}
		if err := store.LockWaitlist(ctx, tx, e.OfficeID, e.CalendarID); err != nil {
			return err
		}
		if e, err = store.LeaveWaitlist(ctx, tx, hash); err != nil {
			return err
		}
		out = e
		if e.BookingID == 0 {
			return nil
		}
		// Not a conflict when the offer lapsed or was confirmed meanwhile:
		// then nothing is held for the entry any more.
		if err := store.CancelBooking(ctx, tx, e.OfficeID, e.BookingID); err != nil && fault.KindOf(err) != fault.Conflict {
			return err
		}
		return s.freed(ctx, tx, e.OfficeID, e.CalendarID)
	})
	if err != nil {
		return store.WaitlistEntry{}, fmt.Errorf("%s: %w", op, err)
	}
	return out, nil
}

// SweepWaitlist serves the waiting list of the office's calendar: it ends
// the entries whose offer lapsed and those waiting longer than
// WaitlistKeep, and offers the free places of the
// calendar to the entries waiting, in order, while there are both. It
// returns how many offers it made. Sweeps of one list run one at a time.
func (s *Service) SweepWaitlist(ctx context.Context, officeID, calendarID int64) (int, error) {
	const op = "booking: sweep waiting list"
	office, err := store.GetOffice(ctx, s.db, officeID)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	offered := 0
	err = s.db.InTx(ctx, func(tx pgx.Tx) error {
		offered = 0
		if err := store.LockWaitlist(ctx, tx, officeID, calendarID); err != nil {
			return err
		}
		if _, err := store.EndLapsedOffers(ctx, tx, officeID, calendarID); err != nil {
			return err
		}
		if _, err := store.DeleteStaleWaitlist(ctx, tx, officeID, calendarID, s.now().Add(-WaitlistKeep)); err != nil {
			return err
		}
		entries, err := store.ListWaitlist(ctx, tx, officeID, calendarID, WaitlistMax)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if e.State != store.WaitlistWaiting {
				continue // its offer still holds a place
			}
			if offered == maxOffersPerSweep {
				return s.freed(ctx, tx, officeID, calendarID) // the next sweep goes on
			}
			r, err := s.offer(ctx, tx, office, e)
			if err != nil || r == noPlace {
				return err
			}
			if r == offerMade {
				offered++
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	return offered, nil
}

// offerResult is what offer did with an entry.
type offerResult int

const (
	offerMade  offerResult = iota
	entryEnded             // the address has its appointments by now
	noPlace                // no place is free: the sweep is done
)

// offer offers entry e the first free place of its calendar, in tx. An
// entry whose address has its appointments of the service by now ends
// instead, and the place stays for the next.
func (s *Service) offer(ctx context.Context, tx pgx.Tx, office store.Office, e store.WaitlistEntry) (offerResult, error) {
	if s.perAddress > 0 {
		n, err := store.CountActiveAtAddress(ctx, tx, office.ID, e.Service, e.Contact.Email, 0)
		if err != nil {
			return noPlace, err
		}
		if n >= s.perAddress {
			return entryEnded, store.EndWaitlistEntry(ctx, tx, office.ID, e.ID)
		}
	}
	// A place the slot's count showed free can be taken between the count
	// and the hold (by a citizen booking it): a few tries, each counting
	// afresh.
	for range 5 {
		slot, free, err := s.firstFree(ctx, tx, office, e.CalendarID, s.now())
		if err != nil || !free {
			return noPlace, err
		}
		id, _, err := store.HoldPlace(ctx, tx, store.PlaceHold{
			OfficeID: office.ID, CalendarID: e.CalendarID, Service: e.Service, Start: slot.Start,
			Capacity: slot.Capacity, TTL: OfferTTL, TokenHash: submission.HashToken(submission.NewToken()),
		})
		if errors.Is(err, store.ErrSlotFull) {
			continue
		}
		if err != nil {
			return noPlace, err
		}
		mailToken := submission.NewToken()
		if _, err := store.SetBookingContact(ctx, tx, office.ID, id, e.Contact, submission.HashToken(mailToken), OfferTTL); err != nil {
			return noPlace, err
		}
		if err := store.OfferToWaitlist(ctx, tx, office.ID, e.ID, id); err != nil {
			return noPlace, err
		}
		b, err := store.GetBooking(ctx, tx, office.ID, id)
		if err != nil {
			return noPlace, err
		}
		return offerMade, s.send(ctx, tx, b, portalmail.TemplateBookingOffer, "offer", mailToken, "")
	}
	return noPlace, nil
}

// freed queues, in tx, a sweep of the office's calendar's waiting list
// when it has entries: a place of the calendar frees as tx commits.
func (s *Service) freed(ctx context.Context, tx pgx.Tx, officeID, calendarID int64) error {
	if s.queue == nil {
		return nil
	}
	waiting, err := store.HasWaitlist(ctx, tx, officeID, calendarID)
	if err != nil || !waiting {
		return err
	}
	if _, err := s.queue.InsertTx(ctx, tx, WaitlistArgs{OfficeID: officeID, CalendarID: calendarID}, nil); err != nil {
		return fmt.Errorf("booking: queue waiting list of calendar %d: %w", calendarID, err)
	}
	return nil
}
