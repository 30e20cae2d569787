// Package inbox owns the workflow of a case: its states, the transitions
// staff may make, and what each transition records (the timeline event the
// citizen sees, the audit entry), in one transaction.
package inbox

import (
	"context"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/gesundheitsamt/portal/internal/audit"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/store"
)

// The states of a case.
const (
	StatusReceived   = "eingegangen"
	StatusInProgress = "in_bearbeitung"
	StatusQuestion   = "rueckfrage"
	StatusDone       = "abgeschlossen"
	StatusRejected   = "abgelehnt"
)

// transitions are the workflow: eingegangen → in Bearbeitung → Rückfrage
// → in Bearbeitung → abgeschlossen | abgelehnt.
var transitions = map[string][]string{
	StatusReceived:   {StatusInProgress},
	StatusInProgress: {StatusQuestion, StatusDone, StatusRejected},
	StatusQuestion:   {StatusInProgress},
}

// Next returns the states a case in status may move to.
func Next(status string) []string { return transitions[status] }

// MaxMessage is the longest message to the citizen.
const MaxMessage = 2000

// Message ids of what staff read.
const (
	MsgConflict   = "staff.case.error.conflict"
	MsgTransition = "staff.case.error.transition"
	MsgMessage    = "staff.case.error.message"
)

// Change moves submission id of office officeID from version to status
// to, with an optional message to the citizen, recording the timeline
// event and the audit entry in the same transaction. Errors: NotFound
// (no such case in this office), Conflict (MsgConflict: someone changed
// the case since version), Invalid (MsgTransition, MsgMessage).
func Change(ctx context.Context, db *store.DB, officeID, staffID, id int64, version int, to, message string) error {
	const op = "inbox: change"
	message = strings.TrimSpace(message)
	if utf8.RuneCountInString(message) > MaxMessage {
		return fault.New(fault.Invalid, op, MsgMessage)
	}
	return db.InTx(ctx, func(tx pgx.Tx) error {
		cur, err := store.GetSubmission(ctx, tx, officeID, id)
		if err != nil {
			return err
		}
		if cur.Version != version {
			return fault.New(fault.Conflict, op, MsgConflict)
		}
		allowed := false
		for _, n := range Next(cur.Status) {
			allowed = allowed || n == to
		}
		if !allowed {
			return fault.New(fault.Invalid, op, MsgTransition)
		}
		if _, ok, err := store.ChangeStatus(ctx, tx, officeID, id, version, to); err != nil {
			return err
		} else if !ok {
			return fault.New(fault.Conflict, op, MsgConflict) // changed between our read and write
		}
		if err := store.InsertEvent(ctx, tx, officeID, id, "status", to, true, message); err != nil {
			return err
		}
		return audit.Append(ctx, tx, audit.Entry{
			OfficeID: officeID, Actor: "staff:" + strconv.FormatInt(staffID, 10), Action: "case.status." + to,
			Object: "submission:" + strconv.FormatInt(id, 10),
		})
	})
}
