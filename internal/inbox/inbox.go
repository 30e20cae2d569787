// Package inbox is the case service: everything staff and API tokens do
// with the cases of their office goes through it, so each rule exists
// once for the back office and the API alike.
//
//   - access.go: who works on cases (Access) and what they may read;
//   - read.go: opening a case (withholding what the access may not read,
//     recording the read, marking it read) and its files;
//   - list.go: lists, counts and exports, recorded in the audit log;
//   - inbox.go: the workflow (status changes and Rückfragen along
//     domain's transitions, notes, assignment, deletion holds), each
//     change with its timeline event and audit entry in one transaction.
package inbox

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/gesundheitsamt/portal/forms"
	"github.com/gesundheitsamt/portal/internal/audit"
	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/submission"
)

// MaxMessage is the longest message to the citizen.
const MaxMessage = 2000

// Message ids of what staff read.
const (
	MsgConflict   = "staff.case.error.conflict"
	MsgTransition = "staff.case.error.transition"
	MsgMessage    = "staff.case.error.message"
	MsgQuestion   = "staff.case.error.question" // a Rückfrage needs its question
	MsgNote       = "staff.case.error.note"
	MsgAssignee   = "staff.case.error.assignee"
)

// Transition is a status change as staff ask for it.
type Transition struct {
	To           domain.Status
	Message      string // to the citizen; for a Rückfrage the question, required
	RequestFiles bool   // a Rückfrage asking for documents
}

// Events are told of changes inside their transaction, so what they do
// (enqueue a webhook call, a mail) happens if and only if the change does.
type Events interface {
	StatusChanged(ctx context.Context, tx pgx.Tx, sub store.Submission) error
}

// Service is the case service: it opens cases for staff and API tokens
// (withholding what the reader may not see, recording the read), lists
// and exports them, and moves them along the workflow. Every rule about
// what a reader of a case may see or change lives here, once, for the
// back office and the API alike. It is safe for concurrent use.
type Service struct {
	db     *store.DB
	subs   *submission.Service
	forms  *forms.Set
	events Events // nil: nobody is told
	now    func() time.Time
}

// Options are what the case service is built from.
type Options struct {
	DB          *store.DB
	Submissions *submission.Service // loads a case's record and opens its files
	Forms       *forms.Set          // the definitions a case's form is found in
	Events      Events              // told of status changes; nil: nobody
	// Now is the clock of closings (retention periods count from them);
	// nil: the system clock. Tests close cases on the dates they need.
	Now func() time.Time
}

// New returns the case service.
func New(o Options) *Service {
	s := &Service{db: o.DB, subs: o.Submissions, forms: o.Forms, events: o.Events, now: o.Now}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Change moves submission id of a's office from version along t,
// recording the timeline event and the audit entry in the same
// transaction. Errors: NotFound (no such case in this office), Conflict
// (MsgConflict: someone changed the case since version), Invalid
// (MsgTransition, MsgMessage, MsgQuestion).
func (s *Service) Change(ctx context.Context, a Access, id int64, version int, t Transition) error {
	const op = "inbox: change"
	t.Message = strings.TrimSpace(t.Message)
	switch {
	case utf8.RuneCountInString(t.Message) > MaxMessage:
		return fault.New(fault.Invalid, op, MsgMessage)
	case t.To == domain.Question && t.Message == "":
		return fault.New(fault.Invalid, op, MsgQuestion)
	}
	t.RequestFiles = t.RequestFiles && t.To == domain.Question
	// A Rückfrage asked by whoever reads medical content (a physician, a
	// token with medical:read) is about health: the answer and its files
	// are for them only.
	confidential := a.Medical && t.To == domain.Question
	return s.db.InTx(ctx, func(tx pgx.Tx) error {
		cur, err := store.GetSubmission(ctx, tx, a.OfficeID, id)
		if err != nil {
			return err
		}
		if cur.Version != version {
			return fault.New(fault.Conflict, op, MsgConflict)
		}
		if !cur.Status.MayBecome(t.To) {
			return fault.New(fault.Invalid, op, MsgTransition)
		}
		var closedAt *time.Time
		if t.To.Closed() {
			at := s.now()
			closedAt = &at
		}
		next, ok, err := store.ChangeStatus(ctx, tx, a.OfficeID, id, version, t.To, false, closedAt)
		if err != nil {
			return err
		} else if !ok {
			return fault.New(fault.Conflict, op, MsgConflict) // changed between our read and write
		}
		if s.events != nil {
			cur.Status, cur.Version = t.To, next
			if err := s.events.StatusChanged(ctx, tx, cur); err != nil {
				return err
			}
		}
		ev := store.Event{Kind: store.EventStatus, Status: t.To, Message: t.Message, StaffID: a.Actor.StaffID(), TokenID: a.Actor.TokenID(),
			RequestFiles: t.RequestFiles, Confidential: confidential}
		if _, err := store.InsertEvent(ctx, tx, a.OfficeID, id, ev); err != nil {
			return err
		}
		return audit.Append(ctx, tx, audit.Entry{
			OfficeID: a.OfficeID, Actor: a.Actor, Action: domain.CaseStatus(t.To), Object: domain.CaseObject(id),
		})
	})
}

// MaxNote is the longest internal note.
const MaxNote = 5000

// AddNote adds an internal note (never shown to the citizen) to submission
// id of a's office. A note changes nothing of the case, so it needs
// no version. Errors: NotFound, Invalid (MsgNote: empty or too long).
func (s *Service) AddNote(ctx context.Context, a Access, id int64, text string) error {
	const op = "inbox: add note"
	text = strings.TrimSpace(text)
	if text == "" || utf8.RuneCountInString(text) > MaxNote {
		return fault.New(fault.Invalid, op, MsgNote)
	}
	return s.db.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := store.GetSubmission(ctx, tx, a.OfficeID, id); err != nil {
			return err
		}
		ev := store.Event{Kind: store.EventNote, Message: text, StaffID: a.Actor.StaffID(), TokenID: a.Actor.TokenID(), Internal: true}
		if _, err := store.InsertEvent(ctx, tx, a.OfficeID, id, ev); err != nil {
			return err
		}
		return audit.Append(ctx, tx, audit.Entry{OfficeID: a.OfficeID, Actor: a.Actor, Action: domain.CaseNote, Object: domain.CaseObject(id)})
	})
}

// Assign gives submission id of a's office (at version) to staff
// member to of the same office, or to nobody (to = 0). Errors: NotFound,
// Conflict (MsgConflict), Invalid (MsgAssignee: not an active colleague).
func (s *Service) Assign(ctx context.Context, a Access, id int64, version int, to int64) error {
	const op = "inbox: assign"
	return s.db.InTx(ctx, func(tx pgx.Tx) error {
		name, err := colleague(ctx, tx, a.OfficeID, to)
		if err != nil {
			return err
		}
		if _, err := store.GetSubmission(ctx, tx, a.OfficeID, id); err != nil {
			return err
		}
		if _, ok, err := store.SetAssignee(ctx, tx, a.OfficeID, id, version, to); err != nil {
			return err
		} else if !ok {
			return fault.New(fault.Conflict, op, MsgConflict)
		}
		ev := store.Event{Kind: store.EventAssign, Message: name, StaffID: a.Actor.StaffID(), TokenID: a.Actor.TokenID(), Internal: true}
		if _, err := store.InsertEvent(ctx, tx, a.OfficeID, id, ev); err != nil {
			return err
		}
		return audit.Append(ctx, tx, audit.Entry{
			OfficeID: a.OfficeID, Actor: a.Actor, Action: domain.CaseAssign, Object: domain.CaseObject(id),
		})
	})
}

// MaxHoldReason is the longest reason of a deletion hold.
const MaxHoldReason = 1000

// Message ids of a deletion hold staff cannot set or lift.
const (
	MsgHoldReason = "staff.case.hold.error.reason" // empty or too long
	MsgHoldState  = "staff.case.hold.error.state"  // set or lifted meanwhile
)

// SetHold puts a deletion hold (Löschsperre) on submission id of
// a's office: however old, it is not deleted while the hold lasts. The
// reason goes onto the case and its internal timeline, which are deleted
// with it; the audit log, which is kept, records only that a hold was set.
// Errors: NotFound, Invalid (MsgHoldReason), Conflict (MsgHoldState: the
// case is held already).
func (s *Service) SetHold(ctx context.Context, a Access, id int64, reason string) error {
	const op = "inbox: set hold"
	reason = strings.TrimSpace(reason)
	if reason == "" || utf8.RuneCountInString(reason) > MaxHoldReason {
		return fault.New(fault.Invalid, op, MsgHoldReason)
	}
	return s.db.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := store.GetSubmission(ctx, tx, a.OfficeID, id); err != nil {
			return err
		}
		ok, err := store.SetHold(ctx, tx, a.OfficeID, id, a.Actor.StaffID(), reason, s.now())
		if err != nil {
			return err
		} else if !ok {
			return fault.New(fault.Conflict, op, MsgHoldState)
		}
		ev := store.Event{Kind: store.EventHold, Message: reason, StaffID: a.Actor.StaffID(), TokenID: a.Actor.TokenID(), Internal: true}
		if _, err := store.InsertEvent(ctx, tx, a.OfficeID, id, ev); err != nil {
			return err
		}
		return audit.Append(ctx, tx, audit.Entry{OfficeID: a.OfficeID, Actor: a.Actor, Action: domain.CaseHoldSet, Object: domain.CaseObject(id)})
	})
}

// LiftHold ends the deletion hold of submission id of a's office: a
// case past its retention period goes with the next deletion run.
// Errors: NotFound, Conflict (MsgHoldState: no hold).
func (s *Service) LiftHold(ctx context.Context, a Access, id int64) error {
	const op = "inbox: lift hold"
	return s.db.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := store.GetSubmission(ctx, tx, a.OfficeID, id); err != nil {
			return err
		}
		ok, err := store.ClearHold(ctx, tx, a.OfficeID, id)
		if err != nil {
			return err
		} else if !ok {
			return fault.New(fault.Conflict, op, MsgHoldState)
		}
		ev := store.Event{Kind: store.EventHoldLifted, StaffID: a.Actor.StaffID(), TokenID: a.Actor.TokenID(), Internal: true}
		if _, err := store.InsertEvent(ctx, tx, a.OfficeID, id, ev); err != nil {
			return err
		}
		return audit.Append(ctx, tx, audit.Entry{OfficeID: a.OfficeID, Actor: a.Actor, Action: domain.CaseHoldLift, Object: domain.CaseObject(id)})
	})
}

// colleague returns the name of active staff member id of a's office
// ("" for id 0). Errors: Invalid (MsgAssignee).
func colleague(ctx context.Context, q store.Querier, officeID, id int64) (string, error) {
	if id == 0 {
		return "", nil
	}
	cs, err := store.ListColleagues(ctx, q, officeID)
	if err != nil {
		return "", err
	}
	for _, c := range cs {
		if c.ID == id {
			return c.Name, nil
		}
	}
	return "", fault.New(fault.Invalid, "inbox: assign", MsgAssignee)
}
