package submission

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/gesundheitsamt/portal/forms"
	"github.com/gesundheitsamt/portal/internal/audit"
	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/store"
)

// Limits of a citizen's answer to a Rückfrage: at most AnswerMaxFiles
// files of PDF, JPEG or PNG, each at most forms.MaxUploadMB, so one answer
// stays within the largest body the server takes (forms.MaxStepUploadMB).
const (
	AnswerMaxFiles = 3
	AnswerMaxText  = 5000
	// AnswerField is the field id answer files are filed and sealed under.
	AnswerField = "rueckfrage"
)

// Message ids of an answer the portal cannot take.
const (
	MsgAnswerEmpty  = "status.answer.error.empty"
	MsgAnswerLong   = "status.answer.error.long"
	MsgAnswerClosed = "status.answer.error.closed"
)

// FileError names the file an answer was refused for.
type FileError struct {
	Name string
	Err  error
}

func (e *FileError) Error() string { return "file " + strconv.Quote(e.Name) + ": " + e.Err.Error() }
func (e *FileError) Unwrap() error { return e.Err }

// Upload is a file as a citizen sent it.
type Upload struct {
	Name    string
	Content []byte
}

var answerTypes = []string{forms.MediaTypePDF, forms.MediaTypeJPEG, forms.MediaTypePNG}

// Answer records the citizen's answer to the open Rückfrage of the
// submission of access token: text and files go to the case's timeline,
// the case returns to "in Bearbeitung" and is marked unread, all in one
// transaction. Each file goes through the same checks as a form's
// upload (checkFile), before the transaction. Errors: NotFound (unknown
// token), Gone (the case was deleted), Invalid (MsgAnswer*, or a MsgFile*
// id wrapping a *FileError for a file), Conflict (MsgAnswerClosed: no
// Rückfrage is open, for instance after a repeated post).
func (s *Service) Answer(ctx context.Context, token, text string, files []Upload) error {
	const op = "submission: answer"
	text = strings.TrimSpace(text)
	switch {
	case utf8.RuneCountInString(text) > AnswerMaxText:
		return fault.New(fault.Invalid, op, MsgAnswerLong)
	case text == "" && len(files) == 0:
		return fault.New(fault.Invalid, op, MsgAnswerEmpty)
	case len(files) > AnswerMaxFiles:
		return fault.New(fault.Invalid, op, MsgFileCount)
	}
	t, ok := ParseToken(token)
	if !ok {
		return fault.New(fault.NotFound, op, "")
	}
	checked := make([]checkedFile, len(files))
	for i, f := range files {
		cf, err := s.checkFile(ctx, op, f.Name, f.Content, answerTypes, forms.MaxUploadMB<<20)
		if err != nil {
			var fe *fault.Error
			if errors.As(err, &fe) && fe.Kind == fault.Invalid {
				fe.Err = &FileError{Name: f.Name, Err: fe.Err}
			}
			return err
		}
		checked[i] = cf
	}
	return s.db.InTx(ctx, func(tx pgx.Tx) error {
		sub, err := byToken(ctx, tx, op, HashToken(t))
		if err != nil {
			return err
		}
		if sub.Status != domain.Question {
			return fault.New(fault.Conflict, op, MsgAnswerClosed)
		}
		// The answer is as confidential as the question it answers.
		events, err := store.ListCitizenEvents(ctx, tx, sub.OfficeID, sub.ID)
		if err != nil {
			return err
		}
		confidential := false
		for _, ev := range events {
			if ev.Kind == store.EventStatus && ev.Status == domain.Question {
				confidential = ev.Confidential
			}
		}
		next, ok, err := store.ChangeStatus(ctx, tx, sub.OfficeID, sub.ID, sub.Version, domain.AnswerReturnsTo, true, nil)
		if err != nil {
			return err
		} else if !ok {
			return fault.New(fault.Conflict, op, MsgAnswerClosed) // staff changed the case meanwhile
		}
		if s.events != nil {
			sub.Status, sub.Version = domain.AnswerReturnsTo, next
			if err := s.events.Answered(ctx, tx, sub); err != nil {
				return err
			}
		}
		eventID, err := store.InsertEvent(ctx, tx, sub.OfficeID, sub.ID, store.Event{Kind: store.EventAnswer, Status: domain.AnswerReturnsTo, Message: text, Confidential: confidential})
		if err != nil {
			return err
		}
		for _, f := range checked {
			sealed, err := s.box.Seal(f.Content, FileAAD(sub.OfficeID, AnswerField, f.SHA256[:]))
			if err != nil {
				return err
			}
			a := store.File{
				FieldID: AnswerField, Name: f.Name, MediaType: f.MediaType,
				Size: int64(len(f.Content)), SHA256: f.SHA256[:], Content: sealed, Confidential: confidential,
			}
			if err := store.InsertAttachment(ctx, tx, sub.OfficeID, sub.ID, eventID, a); err != nil {
				return err
			}
		}
		return audit.Append(ctx, tx, audit.Entry{OfficeID: sub.OfficeID, Actor: domain.Citizen, Action: domain.CaseAnswer, Object: domain.CaseObject(sub.ID)})
	})
}
