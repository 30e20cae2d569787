package video

import (
	"context"
	"encoding/json"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/gesundheitsamt/portal/internal/audit"
	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/fault"
	portalmail "github.com/gesundheitsamt/portal/internal/mail"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/submission"
)

// Message ids of what staff read when a plan or change is refused.
const (
	MsgStart     = "staff.video.error.start"      // no time, or one in the past or too far ahead
	MsgMinutes   = "staff.video.error.minutes"    // a length outside MinMinutes..MaxMinutes
	MsgState     = "staff.video.error.state"      // cancelled or ended meanwhile
	MsgRole      = "staff.video.error.role"       // admins see the list only
	MsgGuestName = "staff.video.error.guest_name" // a guest needs a name
	MsgEmail     = "staff.video.error.email"      // not an address
	MsgGuests    = "staff.video.error.guests"     // MaxGuests links already
	MsgNoAddress = "staff.video.error.no_address" // nobody to re-send to
)

// The lengths a consultation may be planned for, in minutes.
const (
	MinMinutes = 5
	MaxMinutes = 240
)

// Horizon is how far ahead a consultation may be planned.
const Horizon = 366 * 24 * time.Hour

// Late is how far in the past a start may lie: "jetzt starten" and a
// form filled in over a few minutes are not refused.
const Late = 15 * time.Minute

// MaxGuests is how many guest links a consultation has at most (an
// interpreter and a companion, with a spare); a call has room for few.
const MaxGuests = 3

// MaxGuestName is the longest name of a guest.
const MaxGuestName = 100

// NewConsultation is a consultation to create: planned by staff from a case, or made
// by a booking.
type NewConsultation struct {
	OfficeID     int64
	SubmissionID int64 // 0: not about a case
	Start        time.Time
	Minutes      int
	CreatedBy    int64  // the staff member; 0 for a booking
	BookingID    int64  // the video appointment that makes it; 0: planned by staff
	Email, Lang  string // where the invitation goes; "" sends none
	Reference    string // the case's reference number, for the mail
}

// Created is a created consultation and the token of its patient link,
// which exists nowhere else in clear: show it once or let the
// invitation carry it.
type Created struct {
	Consultation store.Consultation
	Token        string
	Mailed       bool // an invitation was enqueued
}

// contact is where a link's mails go, sealed on the link.
type contact struct {
	Email string `json:"email"`
	Lang  string `json:"lang"`
}

func tokenAAD(officeID int64) []byte { return fmt.Appendf(nil, "portal-video-token\x00%d", officeID) }
func contactAAD(officeID int64) []byte {
	return fmt.Appendf(nil, "portal-video-contact\x00%d", officeID)
}

// Create stores consultation n with its patient link, and enqueues the
// invitation when n has an address, all inside tx: a booking creates its
// video consultation in its own transaction this way. The caller checks
// who may create it and records the audit entry. Errors: Invalid
// (MsgStart, MsgMinutes).
func (s *Service) Create(ctx context.Context, tx pgx.Tx, n NewConsultation) (Created, error) {
	if err := s.checkTime(n.Start, n.Minutes); err != nil {
		return Created{}, err
	}
	c, err := store.InsertConsultation(ctx, tx, store.Consultation{
		OfficeID: n.OfficeID, SubmissionID: n.SubmissionID, StartsAt: n.Start, Minutes: n.Minutes, CreatedBy: n.CreatedBy,
		BookingID: n.BookingID,
	})
	if err != nil {
		return Created{}, err
	}
	c.Reference = n.Reference
	token, link, err := s.insertLink(ctx, tx, c, store.LinkPatient, "", contact{Email: n.Email, Lang: n.Lang})
	if err != nil {
		return Created{}, err
	}
	out := Created{Consultation: c, Token: token}
	if n.Email != "" {
		if err := s.send(ctx, tx, c, link, portalmail.TemplateVideoInvite, token, contact{Email: n.Email, Lang: n.Lang}); err != nil {
			return Created{}, err
		}
		out.Mailed = true
	}
	return out, nil
}

// Plan creates a consultation about case caseID of a's office, starting
// at start for minutes, and invites the citizen at the case's address in
// the case's language; the case's timeline (and status page) shows it.
// A case without an address gets no mail: Created.Token is then the only
// way to the link. Errors: NotFound (no such case in the office),
// Forbidden (MsgRole), Invalid (MsgStart, MsgMinutes).
func (s *Service) Plan(ctx context.Context, a Access, caseID int64, start time.Time, minutes int) (Created, error) {
	var out Created
	err := s.db.InTx(ctx, func(tx pgx.Tx) error {
		sub, err := store.GetSubmission(ctx, tx, a.OfficeID, caseID)
		if err != nil {
			return err
		}
		if !a.MayTakePart() {
			return fault.New(fault.Forbidden, "video: plan", MsgRole)
		}
		if out, err = s.Create(ctx, tx, NewConsultation{
			OfficeID: a.OfficeID, SubmissionID: sub.ID, Start: start, Minutes: minutes, CreatedBy: a.StaffID,
			Email: sub.ContactEmail, Lang: sub.Locale, Reference: sub.Reference,
		}); err != nil {
			return err
		}
		if err := caseEvent(ctx, tx, a, sub.ID, store.EventVideoPlanned, start); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, domain.VideoCreate, out.Consultation.ID)
	})
	return out, err
}

// Reschedule moves consultation id of a's office to start for minutes
// and tells the citizen (and each guest with an address): their links
// keep working, for the new time. Errors: NotFound, Forbidden (MsgRole),
// Invalid (MsgStart, MsgMinutes), Conflict (MsgState: cancelled or ended).
func (s *Service) Reschedule(ctx context.Context, a Access, id int64, start time.Time, minutes int) error {
	return s.db.InTx(ctx, func(tx pgx.Tx) error {
		c, err := lockFor(ctx, tx, a, id)
		if err != nil {
			return err
		}
		if c.BookingID != 0 {
			return fault.New(fault.Conflict, "video: reschedule", MsgBooking)
		}
		if err := s.checkTime(start, minutes); err != nil {
			return err
		}
		seq, ok, err := store.RescheduleConsultation(ctx, tx, a.OfficeID, id, start, minutes)
		if err != nil {
			return err
		} else if !ok {
			return fault.New(fault.Conflict, "video: reschedule", MsgState)
		}
		c.StartsAt, c.Minutes, c.Sequence = start, minutes, seq
		if err := s.tellAll(ctx, tx, c, portalmail.TemplateVideoMoved); err != nil {
			return err
		}
		if c.SubmissionID != 0 {
			if err := caseEvent(ctx, tx, a, c.SubmissionID, store.EventVideoMoved, start); err != nil {
				return err
			}
		}
		return s.audit(ctx, tx, a, domain.VideoReschedule, id)
	})
}

// Cancel cancels consultation id of a's office and tells everyone with an
// address; the links then say so. Errors: NotFound, Forbidden (MsgRole),
// Conflict (MsgState).
func (s *Service) Cancel(ctx context.Context, a Access, id int64) error {
	return s.db.InTx(ctx, func(tx pgx.Tx) error {
		c, err := lockFor(ctx, tx, a, id)
		if err != nil {
			return err
		}
		if c.BookingID != 0 {
			return fault.New(fault.Conflict, "video: cancel", MsgBooking)
		}
		seq, ok, err := store.CloseConsultation(ctx, tx, a.OfficeID, id, store.VideoCancelled, s.now())
		if err != nil {
			return err
		} else if !ok {
			return fault.New(fault.Conflict, "video: cancel", MsgState)
		}
		c.Sequence, c.State = seq, store.VideoCancelled
		if err := s.tellAll(ctx, tx, c, portalmail.TemplateVideoCancelled); err != nil {
			return err
		}
		if c.SubmissionID != 0 {
			if err := caseEvent(ctx, tx, a, c.SubmissionID, store.EventVideoCancelled, c.StartsAt); err != nil {
				return err
			}
		}
		return s.audit(ctx, tx, a, domain.VideoCancel, id)
	})
}

// Resend sends the citizen's invitation of consultation id of a's office
// again, with the same link. Errors: NotFound, Forbidden (MsgRole),
// Conflict (MsgState), Invalid (MsgNoAddress: the link has no address).
func (s *Service) Resend(ctx context.Context, a Access, id int64) error {
	return s.db.InTx(ctx, func(tx pgx.Tx) error {
		c, err := lockFor(ctx, tx, a, id)
		if err != nil {
			return err
		}
		if c.State != store.VideoPlanned {
			return fault.New(fault.Conflict, "video: resend", MsgState)
		}
		links, err := store.ListVideoLinks(ctx, tx, a.OfficeID, id)
		if err != nil {
			return err
		}
		sent := false
		for _, l := range links {
			if l.Kind != store.LinkPatient {
				continue
			}
			ok, err := s.tell(ctx, tx, c, l, portalmail.TemplateVideoInvite)
			if err != nil {
				return err
			}
			sent = sent || ok
		}
		if !sent {
			return fault.New(fault.Invalid, "video: resend", MsgNoAddress)
		}
		return s.audit(ctx, tx, a, domain.VideoResend, id)
	})
}

// AddGuest adds a link for guest name (an interpreter, a companion) to
// consultation id of a's office, and mails it when email is given. The
// returned token is the link's; staff may pass it on themselves. Errors:
// NotFound, Forbidden (MsgRole), Conflict (MsgState), Invalid
// (MsgGuestName, MsgEmail, MsgGuests).
func (s *Service) AddGuest(ctx context.Context, a Access, id int64, name, email, lang string) (string, error) {
	const op = "video: add guest"
	name, email = strings.Join(strings.Fields(name), " "), strings.TrimSpace(email)
	var token string
	err := s.db.InTx(ctx, func(tx pgx.Tx) error {
		c, err := lockFor(ctx, tx, a, id)
		if err != nil {
			return err
		}
		if name == "" || utf8.RuneCountInString(name) > MaxGuestName {
			return fault.New(fault.Invalid, op, MsgGuestName)
		}
		if email != "" {
			if addr, err := mail.ParseAddress(email); err != nil || addr.Address != email || addr.Name != "" {
				return fault.New(fault.Invalid, op, MsgEmail)
			}
		}
		if c.State != store.VideoPlanned || WindowOf(c, s.now()) == Over {
			return fault.New(fault.Conflict, op, MsgState)
		}
		links, err := store.ListVideoLinks(ctx, tx, a.OfficeID, id)
		if err != nil {
			return err
		}
		guests := 0
		for _, l := range links {
			if l.Kind == store.LinkGuest {
				guests++
			}
		}
		if guests >= MaxGuests {
			return fault.New(fault.Invalid, op, MsgGuests)
		}
		to := contact{Email: email, Lang: lang}
		t, l, err := s.insertLink(ctx, tx, c, store.LinkGuest, name, to)
		if err != nil {
			return err
		}
		token = t
		if email != "" {
			if err := s.send(ctx, tx, c, l, portalmail.TemplateVideoGuest, t, to); err != nil {
				return err
			}
		}
		return s.audit(ctx, tx, a, domain.VideoGuest, id)
	})
	return token, err
}

// lockFor locks consultation id of a's office for a change by a: another
// office's is NotFound like one that does not exist, before anything
// else is said about it. Errors: NotFound, Forbidden (MsgRole).
func lockFor(ctx context.Context, tx pgx.Tx, a Access, id int64) (store.Consultation, error) {
	c, err := store.LockConsultation(ctx, tx, a.OfficeID, id)
	if err != nil {
		return store.Consultation{}, err
	}
	if !a.MayTakePart() {
		return store.Consultation{}, fault.New(fault.Forbidden, "video: change", MsgRole)
	}
	return c, nil
}

// checkTime refuses a start in the past (beyond Late) or beyond Horizon,
// and a length outside MinMinutes..MaxMinutes.
func (s *Service) checkTime(start time.Time, minutes int) error {
	now := s.now()
	if start.IsZero() || start.Before(now.Add(-Late)) || start.After(now.Add(Horizon)) {
		return fault.New(fault.Invalid, "video: plan", MsgStart)
	}
	if minutes < MinMinutes || minutes > MaxMinutes {
		return fault.New(fault.Invalid, "video: plan", MsgMinutes)
	}
	return nil
}

// insertLink makes a fresh token for a link of kind to c and stores the
// link with the token and its contact sealed.
func (s *Service) insertLink(ctx context.Context, tx pgx.Tx, c store.Consultation, kind, name string, to contact) (string, store.VideoLink, error) {
	token := submission.NewToken()
	sealed, err := s.box.Seal([]byte(token), tokenAAD(c.OfficeID))
	if err != nil {
		return "", store.VideoLink{}, err
	}
	l := store.VideoLink{ConsultationID: c.ID, OfficeID: c.OfficeID, Kind: kind, Name: name, TokenSealed: sealed}
	if to.Email != "" {
		raw, err := json.Marshal(to)
		if err != nil {
			return "", store.VideoLink{}, err
		}
		if l.ContactSealed, err = s.box.Seal(raw, contactAAD(c.OfficeID)); err != nil {
			return "", store.VideoLink{}, err
		}
	}
	l, err = store.InsertVideoLink(ctx, tx, submission.HashToken(token), l)
	return token, l, err
}

// tellAll sends template to every link of c with an address.
func (s *Service) tellAll(ctx context.Context, tx pgx.Tx, c store.Consultation, template string) error {
	links, err := store.ListVideoLinks(ctx, tx, c.OfficeID, c.ID)
	if err != nil {
		return err
	}
	for _, l := range links {
		if _, err := s.tell(ctx, tx, c, l, template); err != nil {
			return err
		}
	}
	return nil
}

// tell sends template to link l's address, reporting whether it has one.
// A guest's invitation is the guest template whatever the occasion.
func (s *Service) tell(ctx context.Context, tx pgx.Tx, c store.Consultation, l store.VideoLink, template string) (bool, error) {
	if l.ContactSealed == nil {
		return false, nil
	}
	raw, err := s.box.Open(l.ContactSealed, contactAAD(c.OfficeID))
	if err != nil {
		return false, fmt.Errorf("video: open the contact of link %d: %w", l.ID, err)
	}
	var to contact
	if err := json.Unmarshal(raw, &to); err != nil {
		return false, fmt.Errorf("video: contact of link %d: %w", l.ID, err)
	}
	token, err := s.box.Open(l.TokenSealed, tokenAAD(c.OfficeID))
	if err != nil {
		return false, fmt.Errorf("video: open the token of link %d: %w", l.ID, err)
	}
	if template == portalmail.TemplateVideoInvite && l.Kind == store.LinkGuest {
		template = portalmail.TemplateVideoGuest
	}
	return true, s.send(ctx, tx, c, l, template, string(token), to)
}

// send enqueues one mail about c to to; its key is the consultation's
// mail count, so each mail is one job however often it is retried.
func (s *Service) send(ctx context.Context, tx pgx.Tx, c store.Consultation, l store.VideoLink, template, token string, to contact) error {
	if s.mail == nil {
		return nil
	}
	n, err := store.CountConsultationMail(ctx, tx, c.OfficeID, c.ID)
	if err != nil {
		return err
	}
	m := portalmail.VideoMail{
		Key: fmt.Sprintf("video:%d:%d", c.ID, n), Template: template, OfficeID: c.OfficeID, ConsultationID: c.ID,
		Sequence: c.Sequence, To: to.Email, Lang: to.Lang, Token: token,
		Start: c.StartsAt, Length: time.Duration(c.Minutes) * time.Minute,
	}
	if l.Kind == store.LinkGuest {
		m.Name = l.Name
	} else {
		m.Reference = c.Reference
	}
	if template == portalmail.TemplateVideoCancelled {
		m.Token = ""
	}
	return s.mail.Video(ctx, tx, m)
}

// caseEvent records on the case's timeline, for the citizen too, that a
// consultation was planned, moved or cancelled (message: its start).
func caseEvent(ctx context.Context, tx pgx.Tx, a Access, caseID int64, kind string, start time.Time) error {
	ev := store.Event{Kind: kind, Message: start.UTC().Format(time.RFC3339), StaffID: a.StaffID}
	_, err := store.InsertEvent(ctx, tx, a.OfficeID, caseID, ev)
	return err
}

func (s *Service) audit(ctx context.Context, tx pgx.Tx, a Access, action domain.Action, id int64) error {
	return audit.Append(ctx, tx, audit.Entry{OfficeID: a.OfficeID, Actor: a.Actor(), Action: action, Object: domain.VideoObject(id)})
}
