package inbox

import (
	"context"

	"github.com/gesundheitsamt/portal/forms"
	"github.com/gesundheitsamt/portal/internal/audit"
	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/store"
)

// answers is a case's record as one access may read it. The full record
// stays inside this package: what leaves it has been through Summary or
// Record, which withhold what the access may not read.
type answers struct {
	access Access
	form   *forms.Form
	record forms.Record
}

func newAnswers(a Access, form *forms.Form, record forms.Record) answers {
	return answers{access: a, form: form, record: record}
}

// Form is the form the case was made with.
func (x answers) Form() *forms.Form { return x.form }

// Summary is the answers per step in lang, as forms.Summarize shows them,
// with each answer the access may not read marked Withheld and its value
// replaced by withheld: that an answer exists shows, what it is does not.
func (x answers) Summary(lang string, w forms.Words, withheld string) []forms.Section {
	secs := forms.Summarize(x.form, forms.AnswersFromRecord(x.form, x.record), lang, w)
	for i := range secs {
		for j := range secs[i].Items {
			it := &secs[i].Items[j]
			if !it.Empty && it.Confidential && !x.access.Medical {
				it.Value, it.Empty, it.Withheld = withheld, true, true
			}
		}
	}
	return secs
}

// Record is the record without the answers the access may not read, and
// the ids of the fields left out.
func (x answers) Record() (forms.Record, []string) {
	return forms.Redact(x.form, x.record, func(fd *forms.Field) bool { return !x.access.mayRead(fieldMarker(fd)) })
}

// Case is one case opened for an access: the submission (without its
// record and sealed token), its answers, files and timeline, each
// withholding what the access may not read.
type Case struct {
	answers
	Submission store.Submission
	files      []store.File
	events     []store.Event
}

// File is an attachment as a case lists it. A withheld file keeps its
// id, field, type and size; its name and checksum, which may say what it
// is about, are empty.
type File struct {
	store.File
	Withheld bool
}

// Files are the case's attachments (without content), in order.
func (c *Case) Files() []File {
	out := make([]File, 0, len(c.files))
	for _, f := range c.files {
		v := File{File: f}
		if !c.access.mayRead(fileMarker(c.form, f)) {
			v.Withheld, v.Name, v.SHA256 = true, "", nil
		}
		out = append(out, v)
	}
	return out
}

// Event is an event of the timeline. Withheld: it had a message the
// access may not read, and Message is empty.
type Event struct {
	store.Event
	Withheld bool
}

// Events are the case's timeline, oldest first.
func (c *Case) Events() []Event {
	out := make([]Event, 0, len(c.events))
	for _, ev := range c.events {
		v := Event{Event: ev}
		if ev.Message != "" && !c.access.mayRead(eventMarker(ev)) {
			v.Withheld, v.Message = true, ""
		}
		out = append(out, v)
	}
	return out
}

// Open returns case id of a's office for a, after recording the read in
// the office's audit log; a staff member's first read also marks the
// case read for the office. Another office's case is NotFound, exactly
// like one that does not exist. Errors: NotFound, Gone (a
// *submission.DeletedError: deleted when its retention period ended).
func (s *Service) Open(ctx context.Context, a Access, id int64) (*Case, error) {
	k, err := s.subs.Case(ctx, s.forms, a.OfficeID, id)
	if err != nil {
		return nil, err
	}
	if err := audit.AppendNow(ctx, s.db, audit.Entry{OfficeID: a.OfficeID, Actor: a.Actor, Action: domain.CaseRead, Object: domain.CaseObject(id)}); err != nil {
		return nil, err
	}
	if k.Submission.Unread && a.Actor.Kind == domain.StaffActor {
		if err := store.MarkRead(ctx, s.db, a.OfficeID, id); err != nil {
			return nil, err
		}
	}
	sub := k.Submission
	// The full record and the sealed access token stay here: what leaves
	// is the record as the access may read it (Summary, Record).
	sub.Data, sub.AccessTokenSealed = nil, nil
	return &Case{answers: newAnswers(a, k.Form, k.Envelope.Answers), Submission: sub, files: k.Attachments, events: k.Events}, nil
}

// OpenFile returns attachment fileID of case caseID of a's office,
// decrypted, after recording the download in the audit log. A file the
// access may not read is NotFound, as if it were not there: the case
// lists it as withheld. Errors: NotFound, Gone.
func (s *Service) OpenFile(ctx context.Context, a Access, caseID, fileID int64) (store.File, []byte, error) {
	k, err := s.subs.Case(ctx, s.forms, a.OfficeID, caseID)
	if err != nil {
		return store.File{}, nil, err
	}
	f, content, err := s.subs.Attachment(ctx, a.OfficeID, k.Submission.ID, fileID)
	if err != nil {
		return store.File{}, nil, err
	}
	if !a.mayRead(fileMarker(k.Form, f)) {
		return store.File{}, nil, fault.New(fault.NotFound, "inbox: open file", "")
	}
	err = audit.AppendNow(ctx, s.db, audit.Entry{OfficeID: a.OfficeID, Actor: a.Actor, Action: domain.AttachmentDownload, Object: domain.AttachmentObject(f.ID)})
	if err != nil {
		return store.File{}, nil, err
	}
	return f, content, nil
}

// Colleagues are the active staff of a's office, whom a case may be
// assigned to.
func (s *Service) Colleagues(ctx context.Context, a Access) ([]store.Colleague, error) {
	return store.ListColleagues(ctx, s.db, a.OfficeID)
}
