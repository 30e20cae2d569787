package video

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/store"
)

// The rules of a running call: who may enter, and the metadata and audit
// entries that admitting, turning away and ending leave. The hub (hub.go)
// holds the people connected now; these are its way to the database.

// Entry is someone found to belong to a call now, on their way into it:
// a link's holder (Enter) or a staff member (EnterStaff). The websocket
// layer asks the node that holds the call with it (Consultation) and
// connects it (Hub.Connect), so that one node asks the database once.
// Only Enter and EnterStaff make one.
type Entry struct {
	c      store.Consultation
	link   store.VideoLink // a link's holder; zero for staff
	name   string          // the name the ticket carries, or the staff member's
	access Access          // staff
}

// Consultation is the consultation whose call e enters.
func (e Entry) Consultation() store.Consultation { return e.c }

// Enter checks the holder of token with the ticket of the landing page:
// the link must be open now and the ticket one this service signed for
// it. Errors: NotFound (unknown link), Conflict (the link is not open
// now), Forbidden (no valid ticket for this link).
func (s *Service) Enter(ctx context.Context, token, ticket string) (Entry, error) {
	l, c, err := s.link(ctx, token)
	if err != nil {
		return Entry{}, err
	}
	if WindowOf(c, s.now()) != Open {
		return Entry{}, fault.New(fault.Conflict, "video: enter", "")
	}
	name, ok := s.CheckTicket(l.ID, ticket)
	if !ok {
		return Entry{}, fault.New(fault.Forbidden, "video: enter", "")
	}
	return Entry{c: c, link: l, name: name}, nil
}

// EnterStaff checks that a may take part in consultation id of a's office
// now: staff may open the room before the patient's link opens, not once
// it is cancelled or ended. Errors: NotFound, Forbidden (MsgRole),
// Conflict (MsgState).
func (s *Service) EnterStaff(ctx context.Context, a Access, id int64) (Entry, error) {
	c, err := store.GetConsultation(ctx, s.db, a.OfficeID, id)
	if err != nil {
		return Entry{}, err
	}
	if !a.MayTakePart() {
		return Entry{}, fault.New(fault.Forbidden, "video: enter", MsgRole)
	}
	if w := WindowOf(c, s.now()); w != Early && w != Open {
		return Entry{}, fault.New(fault.Conflict, "video: enter", MsgState)
	}
	return Entry{c: c, name: a.Name, access: a}, nil
}

// Present records that the holder of link linkID (or staff member
// staffID) of consultation c did kind (store.Presence*): metadata, never
// content.
func (s *Service) Present(ctx context.Context, c store.Consultation, linkID, staffID int64, kind string) error {
	_, err := store.InsertPresence(ctx, s.db, store.Presence{ConsultationID: c.ID, OfficeID: c.OfficeID, LinkID: linkID, StaffID: staffID, Kind: kind})
	return err
}

// presentLink records that the holder of link linkID of consultation c,
// who was let in, did kind (back into the call, out of it), and that
// they come back without admission until until, on whichever process
// holds the call then.
func (s *Service) presentLink(ctx context.Context, c store.Consultation, linkID int64, kind string, until time.Time) error {
	_, err := store.InsertLinkPresence(ctx, s.db, store.Presence{ConsultationID: c.ID, OfficeID: c.OfficeID, LinkID: linkID, Kind: kind}, until)
	return err
}

// Admit records that a let the holder of link linkID into consultation
// id of a's office, with its audit entry: they come back without being
// admitted again until Rejoin from now (and, once in the call, until
// Rejoin after they dropped out). Errors: NotFound (also a link of
// another consultation, or one turned away), Forbidden (MsgRole),
// Conflict (MsgState: the consultation is not open now).
func (s *Service) Admit(ctx context.Context, a Access, id, linkID int64) error {
	return s.decide(ctx, a, id, linkID, true)
}

// Deny records that a turned the holder of link linkID away for the rest
// of the call, with its audit entry. Errors: as Admit's.
func (s *Service) Deny(ctx context.Context, a Access, id, linkID int64) error {
	return s.decide(ctx, a, id, linkID, false)
}

func (s *Service) decide(ctx context.Context, a Access, id, linkID int64, admit bool) error {
	kind, action := store.PresenceDenied, domain.VideoDeny
	if admit {
		kind, action = store.PresenceAdmitted, domain.VideoAdmit
	}
	return s.db.InTx(ctx, func(tx pgx.Tx) error {
		c, err := lockFor(ctx, tx, a, id)
		if err != nil {
			return err
		}
		now := s.now()
		if WindowOf(c, now) != Open {
			return fault.New(fault.Conflict, "video: decide", MsgState)
		}
		var ok bool
		if admit {
			ok, err = store.AdmitVideoLink(ctx, tx, c.OfficeID, c.ID, linkID, now.Add(Rejoin))
		} else {
			ok, err = store.DenyVideoLink(ctx, tx, c.OfficeID, c.ID, linkID)
		}
		if err != nil {
			return err
		} else if !ok {
			return fault.New(fault.NotFound, "video: decide", "")
		}
		p := store.Presence{ConsultationID: c.ID, OfficeID: c.OfficeID, LinkID: linkID, StaffID: a.StaffID, Kind: kind}
		if _, err := store.InsertPresence(ctx, tx, p); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, action, c.ID)
	})
}

// End ends consultation id of a's office for everyone: its links then
// say it is over. Errors: NotFound, Forbidden (MsgRole), Conflict
// (MsgState: cancelled or ended already).
func (s *Service) End(ctx context.Context, a Access, id int64) error {
	return s.db.InTx(ctx, func(tx pgx.Tx) error {
		c, err := lockFor(ctx, tx, a, id)
		if err != nil {
			return err
		}
		if _, ok, err := store.CloseConsultation(ctx, tx, a.OfficeID, id, store.VideoEnded, s.now()); err != nil {
			return err
		} else if !ok {
			return fault.New(fault.Conflict, "video: end", MsgState)
		}
		p := store.Presence{ConsultationID: c.ID, OfficeID: c.OfficeID, StaffID: a.StaffID, Kind: store.PresenceEnded}
		if _, err := store.InsertPresence(ctx, tx, p); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, domain.VideoEnd, id)
	})
}
