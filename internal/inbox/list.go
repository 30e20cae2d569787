package inbox

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gesundheitsamt/portal/forms"
	"github.com/gesundheitsamt/portal/internal/audit"
	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/submission"
)

// SearchTimeout bounds a full-text search of the inbox: a search too
// broad to answer in time is told so (store.MsgSearchTooBroad) instead of
// holding a connection.
const SearchTimeout = 3 * time.Second

// List returns the cases of a's office that f selects (f.OfficeID is
// a's, whatever f says), after which the read is recorded in the audit
// log: a token's as api.submissions.list, a search (a text, or the
// reference number it was) as inbox.search (who searched, never what
// for), any other list as inbox.read. A search looks into the medical
// answers only for an access that may read them.
// Errors: Invalid (store.MsgSearchTooBroad).
func (s *Service) List(ctx context.Context, a Access, f store.CaseFilter) ([]store.CaseRow, error) {
	f.OfficeID = a.OfficeID
	f.Medical = a.Medical && f.Text != ""
	var rows []store.CaseRow
	var err error
	if f.Text != "" {
		rows, err = s.db.ListCasesWithin(ctx, f, SearchTimeout)
	} else {
		rows, err = store.ListCases(ctx, s.db, f)
	}
	if err != nil && fault.KindOf(err) != fault.Invalid {
		return nil, err
	}
	action := domain.InboxRead
	switch {
	case a.Actor.Kind == domain.TokenActor:
		action = domain.APISubmissionsList
	case f.Text != "" || f.Reference != "":
		action = domain.InboxSearch
	}
	// A search too broad to answer is recorded too: who searched counts,
	// not what came back.
	if aerr := audit.AppendNow(ctx, s.db, audit.Entry{OfficeID: a.OfficeID, Actor: a.Actor, Action: action}); aerr != nil {
		return nil, aerr
	}
	return rows, err
}

// Counts returns how many cases of a's office are in each status (no
// case data: not recorded).
func (s *Service) Counts(ctx context.Context, a Access) (map[domain.Status]int64, error) {
	return store.CountByStatus(ctx, s.db, a.OfficeID)
}

// Row returns the list row of case sub, as Open or Get returned it, with
// its assignee's name (a staff member of the case's office), as lists
// show it.
func (s *Service) Row(ctx context.Context, sub store.Submission) (store.CaseRow, error) {
	row := store.CaseRow{
		ID: sub.ID, Reference: sub.Reference, ServiceSlug: sub.ServiceSlug, Status: sub.Status, SubmittedAt: sub.SubmittedAt,
		UpdatedAt: sub.UpdatedAt, Applicant: sub.Applicant, AssigneeID: sub.AssigneeID, Unread: sub.Unread, Version: sub.Version,
	}
	if sub.AssigneeID == 0 {
		return row, nil
	}
	var err error
	row.AssigneeName, err = store.StaffName(ctx, s.db, sub.OfficeID, sub.AssigneeID)
	return row, err
}

// Get returns submission id of a's office as it stands, without its
// record: what a change answers with. Not recorded: it carries no
// answers. Errors: NotFound.
func (s *Service) Get(ctx context.Context, a Access, id int64) (store.Submission, error) {
	sub, err := store.GetSubmission(ctx, s.db, a.OfficeID, id)
	sub.Data, sub.AccessTokenSealed = nil, nil
	return sub, err
}

// Export is an export of cases begun for an access and recorded in the
// audit log; Each streams its cases.
type Export struct {
	s      *Service
	access Access
	forms  map[string]*forms.Form // by hash: each definition parsed once per export
}

// Exported is one case of an export: its list row and its answers as the
// access may read them (Summary, Record).
type Exported struct {
	answers
	Row      store.CaseRow
	FormHash string
}

// StartExport records in the audit log that a exports cases as format
// (action family x: "export", "retention.due.export"), before anything
// is read, and returns the export.
func (s *Service) StartExport(ctx context.Context, a Access, x domain.Action, format string) (*Export, error) {
	if err := audit.AppendNow(ctx, s.db, audit.Entry{OfficeID: a.OfficeID, Actor: a.Actor, Action: domain.Export(x, format)}); err != nil {
		return nil, err
	}
	return &Export{s: s, access: a, forms: map[string]*forms.Form{}}, nil
}

// Each calls fn for every case of the access's office that f selects (in
// f's order; f.Limit and f.After are ignored), reading rows as fn consumes
// them, so an export of a million cases needs the memory of one.
func (x *Export) Each(ctx context.Context, f store.CaseFilter, fn func(Exported) error) error {
	f.OfficeID = x.access.OfficeID
	f.Medical = x.access.Medical && f.Text != "" // as List: the medical answers are searched only by who may read them
	return store.EachCase(ctx, x.s.db, f, func(r store.ExportRow) error {
		form, ok := x.forms[r.FormHash]
		if !ok {
			var err error
			if form, err = x.s.subs.FormOf(ctx, x.s.forms, r.FormID, r.FormHash); err != nil {
				return err
			}
			x.forms[r.FormHash] = form
		}
		var env submission.Envelope
		if err := json.Unmarshal(r.Data, &env); err != nil {
			return fmt.Errorf("inbox: export case %d: %w", r.ID, err)
		}
		return fn(Exported{answers: newAnswers(x.access, form, env.Answers), Row: r.CaseRow, FormHash: r.FormHash})
	})
}
