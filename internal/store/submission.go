package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gesundheitsamt/portal/internal/domain"
)

// FormDefinition is a form definition as a submission was made with it.
type FormDefinition struct {
	FormID  string
	Hash    string
	Version int
	Source  string
}

const saveFormDefinition = `
INSERT INTO form_definition (form_id, hash, version, source) VALUES ($1, $2, $3, $4)
ON CONFLICT DO NOTHING`

// SaveFormDefinition keeps a definition (once per hash).
func SaveFormDefinition(ctx context.Context, q Querier, d FormDefinition) error {
	if _, err := q.Exec(ctx, saveFormDefinition, d.FormID, d.Hash, d.Version, d.Source); err != nil {
		return fmt.Errorf("store: save form definition %s: %w", d.FormID, err)
	}
	return nil
}

// Submission is a submitted form.
type Submission struct {
	ID              int64
	OfficeID        int64
	ServiceSlug     string
	FormID          string
	FormVersion     int
	FormHash        string
	Locale          string
	Reference       string
	AccessTokenHash []byte
	DraftID         int64
	Status          domain.Status
	Data            []byte // the record (JSON)
	RecordSHA256    []byte
	SubmittedAt     time.Time
	UpdatedAt       time.Time
	Version         int // raised by every change (optimistic locking)
	Applicant       string
	AssigneeID      int64 // 0: nobody
	Unread          bool  // new, or the citizen answered, since staff last opened it

	// Only written: the tsvector sources (forms.Index).
	SearchText, SearchMedical string

	ContactEmail      string // the citizen's address from the form, for notification mails
	AccessTokenSealed []byte // the status page's token, sealed; nil for submissions before migration 00011

	ClosedAt   *time.Time // when it entered abgeschlossen or abgelehnt; nil while open
	HoldAt     *time.Time // the deletion hold (Löschsperre), nil for none
	HoldBy     int64      // who set the hold
	HoldReason string     // why (required with a hold)

	// CreatedHooks are the office's live webhooks for submission.created,
	// read by InsertSubmission in the same statement (nil: not read).
	CreatedHooks []int64
}

// insertSubmission creates the submission, moves the draft's files to it as
// attachments (those of fileIDs: the uploads of questions still shown;
// the rest are dropped), writes the first case event and closes the draft,
// in one statement (so one round trip, atomically). ON CONFLICT DO NOTHING makes a
// repeated submit of the same draft (or a reference number drawn twice)
// return no row; the caller then tells the two apart. A reference number
// of a deleted case (its tombstone) counts as drawn.
const insertSubmission = `
WITH v AS (
    SELECT to_tsvector('german', $14) AS text, to_tsvector('german', $15) AS medical
), s AS (
    INSERT INTO submission (office_id, service_slug, form_id, form_version, form_hash, locale,
                            reference, access_token_hash, draft_id, data, record_sha256,
                            applicant, search, search_all, contact_email, access_token_sealed)
    SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $13, v.text, v.text || v.medical, $16, $17 FROM v
    WHERE NOT EXISTS (SELECT 1 FROM case_tombstone t WHERE t.reference = $7)
    ON CONFLICT DO NOTHING
    RETURNING id, office_id, submitted_at
), files AS (
    INSERT INTO attachment (submission_id, office_id, field_id, name, media_type, size, sha256, content)
    SELECT s.id, s.office_id, f.field_id, f.name, f.media_type, f.size, f.sha256, f.content
    FROM s, draft_file f WHERE f.draft_id = $9 AND f.id = ANY($12)
), event AS (
    INSERT INTO case_event (submission_id, office_id, kind, status)
    SELECT s.id, s.office_id, 'eingegangen', 'eingegangen' FROM s
), closed AS (
    UPDATE draft SET submission_id = s.id, answers = '{}', updated_at = now(),
                     expires_at = now() + interval '10 minutes'
    FROM s WHERE draft.id = $9
), dropped AS (
    DELETE FROM draft_file WHERE draft_id = $9 AND EXISTS (SELECT 1 FROM s)
)
SELECT id, submitted_at,
    (SELECT coalesce(array_agg(w.id ORDER BY w.id), '{}') FROM webhook w
     WHERE w.office_id = $1 AND 'submission.created' = ANY (w.events) AND w.disabled_at IS NULL)
FROM s`

// InsertSubmission stores s, with the draft files fileIDs as its
// attachments, as described at insertSubmission. It reports false, with no
// error, when nothing was inserted because the draft was already submitted
// or the reference number is taken.
func InsertSubmission(ctx context.Context, q Querier, s *Submission, fileIDs []int64) (bool, error) {
	if fileIDs == nil {
		fileIDs = []int64{}
	}
	err := q.QueryRow(ctx, insertSubmission, s.OfficeID, s.ServiceSlug, s.FormID, s.FormVersion, s.FormHash, s.Locale,
		s.Reference, s.AccessTokenHash, s.DraftID, s.Data, s.RecordSHA256, fileIDs,
		s.Applicant, s.SearchText, s.SearchMedical, s.ContactEmail, s.AccessTokenSealed).Scan(&s.ID, &s.SubmittedAt, &s.CreatedHooks)
	if err != nil {
		if isNoRows(err) {
			return false, nil
		}
		return false, fmt.Errorf("store: insert submission: %w", err)
	}
	s.Status, s.Version, s.Unread = domain.Received, 1, true
	return true, nil
}

const submissionColumns = `id, office_id, service_slug, form_id, form_version, form_hash, locale, reference,
    access_token_hash, draft_id, status, data, record_sha256, submitted_at, updated_at, version,
    applicant, coalesce(assignee_id, 0), unread, contact_email, access_token_sealed,
    closed_at, hold_at, coalesce(hold_by, 0), hold_reason`

func scanSubmission(row interface{ Scan(...any) error }) (Submission, error) {
	var s Submission
	err := row.Scan(&s.ID, &s.OfficeID, &s.ServiceSlug, &s.FormID, &s.FormVersion, &s.FormHash, &s.Locale, &s.Reference,
		&s.AccessTokenHash, &s.DraftID, &s.Status, &s.Data, &s.RecordSHA256, &s.SubmittedAt, &s.UpdatedAt, &s.Version,
		&s.Applicant, &s.AssigneeID, &s.Unread, &s.ContactEmail, &s.AccessTokenSealed,
		&s.ClosedAt, &s.HoldAt, &s.HoldBy, &s.HoldReason)
	return s, err
}

var getSubmissionByDraft = `SELECT ` + submissionColumns + ` FROM submission WHERE draft_id = $1`

// GetSubmissionByDraft returns the submission made from draft draftID.
// Errors: NotFound.
func GetSubmissionByDraft(ctx context.Context, q Querier, draftID int64) (Submission, error) {
	s, err := scanSubmission(q.QueryRow(ctx, getSubmissionByDraft, draftID))
	if err != nil {
		return Submission{}, notFound("store: get submission by draft", err)
	}
	return s, nil
}

var getSubmissionByToken = `SELECT ` + submissionColumns + ` FROM submission WHERE access_token_hash = $1`

// GetSubmissionByToken returns the submission whose access token hashes to
// tokenHash: the citizen's view, which needs no office. Errors: NotFound.
func GetSubmissionByToken(ctx context.Context, q Querier, tokenHash []byte) (Submission, error) {
	s, err := scanSubmission(q.QueryRow(ctx, getSubmissionByToken, tokenHash))
	if err != nil {
		return Submission{}, notFound("store: get submission by token", err)
	}
	return s, nil
}

// Event is an entry of a submission's case history.
type Event struct {
	ID           int64
	Kind         string // EventStatus, EventNote, EventAnswer, EventAssign
	Status       domain.Status
	Message      string
	At           time.Time
	StaffID      int64  // who wrote it; 0 for the citizen, the system and the API
	StaffName    string // read only
	TokenID      int64  // the API token that made it, if any
	TokenName    string // read only
	RequestFiles bool   // a Rückfrage asking for documents
	Internal     bool   // not shown to the citizen
	Confidential bool   // a physician's Rückfrage or the answer to it: for physicians only
}

// The kinds of events besides the first (domain.Received).
const (
	EventStatus     = "status"      // a status change, with an optional message to the citizen
	EventNote       = "note"        // an internal note
	EventAnswer     = "answer"      // the citizen's answer to a Rückfrage
	EventAssign     = "assign"      // the case was assigned (message: the assignee's name, or empty)
	EventMailFailed = "mail_failed" // a mail to the citizen was refused for good (message: address and answer)
	EventMailCapped = "mail_capped" // the receipt was not sent: its address had its mails of the day
	EventHold       = "hold"        // a deletion hold was set (message: the reason)
	EventHoldLifted = "hold_lifted" // the deletion hold was lifted
	// A video consultation about the case was planned, moved or
	// cancelled (message: its start, RFC 3339); the citizen sees it.
	EventVideoPlanned   = "video_planned"
	EventVideoMoved     = "video_moved"
	EventVideoCancelled = "video_cancelled"
	// Appointments were offered to the citizen, the citizen booked one
	// of them (message: its start, RFC 3339), or staff withdrew the
	// offer; the citizen sees each.
	EventOfferMade      = "offer_made"
	EventOfferBooked    = "offer_booked"
	EventOfferWithdrawn = "offer_withdrawn"
)

const eventColumns = `e.id, e.kind, e.status, e.message, e.at, coalesce(e.staff_id, 0), coalesce(st.name, ''),
    coalesce(e.api_token_id, 0), coalesce(tk.name, ''), e.request_files, NOT e.citizen_visible, e.confidential`

const eventJoins = ` FROM case_event e LEFT JOIN staff st ON st.id = e.staff_id LEFT JOIN api_token tk ON tk.id = e.api_token_id`

const listCitizenEvents = `
SELECT ` + eventColumns + eventJoins + `
WHERE e.submission_id = $1 AND e.office_id = $2 AND e.citizen_visible
ORDER BY e.at, e.id`

// ListCitizenEvents returns the events of submission id (of office
// officeID) that the citizen may see, oldest first.
func ListCitizenEvents(ctx context.Context, q Querier, officeID, id int64) ([]Event, error) {
	return queryEvents(ctx, q, listCitizenEvents, officeID, id)
}

// queryEvents runs one of the event lists for submission id of office
// officeID.
func queryEvents(ctx context.Context, q Querier, sql string, officeID, id int64) ([]Event, error) {
	rows, err := q.Query(ctx, sql, id, officeID)
	if err != nil {
		return nil, fmt.Errorf("store: list events: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Event])
	if err != nil {
		return nil, fmt.Errorf("store: list events: %w", err)
	}
	return out, nil
}

const getFormDefinition = `SELECT form_id, hash, version, source FROM form_definition WHERE form_id = $1 AND hash = $2`

// GetFormDefinition returns a kept definition. Errors: NotFound.
func GetFormDefinition(ctx context.Context, q Querier, formID, hash string) (FormDefinition, error) {
	var d FormDefinition
	if err := q.QueryRow(ctx, getFormDefinition, formID, hash).Scan(&d.FormID, &d.Hash, &d.Version, &d.Source); err != nil {
		return FormDefinition{}, notFound("store: get form definition", err)
	}
	return d, nil
}

var getSubmissionOfOffice = `SELECT ` + submissionColumns + ` FROM submission WHERE id = $1 AND office_id = $2`

// GetSubmission returns submission id of office officeID: another office's
// submission is NotFound, like one that does not exist.
func GetSubmission(ctx context.Context, q Querier, officeID, id int64) (Submission, error) {
	s, err := scanSubmission(q.QueryRow(ctx, getSubmissionOfOffice, id, officeID))
	if err != nil {
		return Submission{}, notFound("store: get submission", err)
	}
	return s, nil
}

const listEvents = `
SELECT ` + eventColumns + eventJoins + `
WHERE e.submission_id = $1 AND e.office_id = $2
ORDER BY e.at, e.id`

// ListEvents returns every event of submission id of office officeID,
// oldest first (the staff's timeline).
func ListEvents(ctx context.Context, q Querier, officeID, id int64) ([]Event, error) {
	return queryEvents(ctx, q, listEvents, officeID, id)
}

const listAttachments = `
SELECT id, field_id, name, media_type, size, sha256, ''::bytea, confidential FROM attachment
WHERE submission_id = $1 AND office_id = $2 ORDER BY id`

// ListAttachments returns the attachments of submission id of office
// officeID, without content.
func ListAttachments(ctx context.Context, q Querier, officeID, id int64) ([]File, error) {
	rows, err := q.Query(ctx, listAttachments, id, officeID)
	if err != nil {
		return nil, fmt.Errorf("store: list attachments: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[File])
	if err != nil {
		return nil, fmt.Errorf("store: list attachments: %w", err)
	}
	return out, nil
}

const getAttachment = `
SELECT id, field_id, name, media_type, size, sha256, content, confidential FROM attachment
WHERE id = $1 AND submission_id = $2 AND office_id = $3`

// GetAttachment returns attachment id of submission subID of office
// officeID with its sealed content. Errors: NotFound.
func GetAttachment(ctx context.Context, q Querier, officeID, subID, id int64) (File, error) {
	var a File
	err := q.QueryRow(ctx, getAttachment, id, subID, officeID).Scan(&a.ID, &a.FieldID, &a.Name, &a.MediaType, &a.Size, &a.SHA256, &a.Content, &a.Confidential)
	if err != nil {
		return File{}, notFound("store: get attachment", err)
	}
	return a, nil
}

const changeStatus = `
UPDATE submission SET status = $4, version = version + 1, updated_at = now(), unread = unread OR $5, closed_at = $6
WHERE id = $1 AND office_id = $2 AND version = $3
RETURNING version`

// ChangeStatus sets the status of submission id of office officeID if it
// still has version, marking it unread if markUnread, and returns the new
// version. closedAt is when the case closed, nil for a status that leaves
// it open (the retention period counts from it). It reports false when
// the version (or the office) did not match.
func ChangeStatus(ctx context.Context, q Querier, officeID, id int64, version int, status domain.Status, markUnread bool, closedAt *time.Time) (int, bool, error) {
	var v int
	err := q.QueryRow(ctx, changeStatus, id, officeID, version, status, markUnread, closedAt).Scan(&v)
	if isNoRows(err) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("store: change status: %w", err)
	}
	return v, true, nil
}

const insertEvent = `
INSERT INTO case_event (submission_id, office_id, kind, status, citizen_visible, message, staff_id, request_files, api_token_id, confidential)
VALUES ($1, $2, $3, $4, $5, $6, nullif($7, 0), $8, nullif($9, 0), $10)
RETURNING id`

// InsertEvent adds e to the timeline of submission id of office officeID
// and returns its id.
func InsertEvent(ctx context.Context, q Querier, officeID, id int64, e Event) (int64, error) {
	var eventID int64
	err := q.QueryRow(ctx, insertEvent, id, officeID, e.Kind, e.Status, !e.Internal, e.Message, e.StaffID, e.RequestFiles, e.TokenID, e.Confidential).Scan(&eventID)
	if err != nil {
		return 0, fmt.Errorf("store: insert event: %w", err)
	}
	return eventID, nil
}

const insertAttachment = `
INSERT INTO attachment (submission_id, office_id, event_id, field_id, name, media_type, size, sha256, content, confidential)
VALUES ($1, $2, nullif($3, 0), $4, $5, $6, $7, $8, $9, $10)`

// InsertAttachment adds file a (sealed) to submission id of office
// officeID, sent with event eventID (0: with the submission).
func InsertAttachment(ctx context.Context, q Querier, officeID, id, eventID int64, a File) error {
	if _, err := q.Exec(ctx, insertAttachment, id, officeID, eventID, a.FieldID, a.Name, a.MediaType, a.Size, a.SHA256, a.Content, a.Confidential); err != nil {
		return fmt.Errorf("store: insert attachment: %w", err)
	}
	return nil
}
