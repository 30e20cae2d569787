package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Draft is a form being filled in. Answers is the JSON of forms.Answers;
// the store does not look inside. Files lists the uploads (without
// content), read from draft_file with the draft, so the list can never
// disagree with the stored files.
type Draft struct {
	ID           int64
	OfficeID     int64
	ServiceSlug  string
	FormID       string
	Answers      []byte
	SubmissionID *int64 // set once submitted
	ExpiresAt    time.Time
	Files        []File
}

// File is a sealed upload: of a draft, and later the same file as a
// submission's attachment. Content is only filled where a query says so.
type File struct {
	ID        int64
	FieldID   string
	Name      string
	MediaType string
	Size      int64
	SHA256    []byte
	Content   []byte
	// Confidential: an attachment sent with the answer to a physician's
	// Rückfrage, for physicians only (attachments only).
	Confidential bool
}

const getDraft = `
SELECT d.id, d.office_id, d.service_slug, d.form_id, d.answers, d.submission_id, d.expires_at,
       coalesce(array_agg(f.id ORDER BY f.id) FILTER (WHERE f.id IS NOT NULL), '{}'),
       coalesce(array_agg(f.field_id ORDER BY f.id) FILTER (WHERE f.id IS NOT NULL), '{}'),
       coalesce(array_agg(f.name ORDER BY f.id) FILTER (WHERE f.id IS NOT NULL), '{}'),
       coalesce(array_agg(f.media_type ORDER BY f.id) FILTER (WHERE f.id IS NOT NULL), '{}'),
       coalesce(array_agg(f.size ORDER BY f.id) FILTER (WHERE f.id IS NOT NULL), '{}'),
       coalesce(array_agg(f.sha256 ORDER BY f.id) FILTER (WHERE f.id IS NOT NULL), '{}')
FROM draft d LEFT JOIN draft_file f ON f.draft_id = d.id
WHERE d.token_hash = $1 AND d.expires_at > now()
GROUP BY d.id`

// GetDraft returns the unexpired draft whose token hashes to tokenHash,
// with its files' metadata. Errors: NotFound.
func GetDraft(ctx context.Context, q Querier, tokenHash []byte) (Draft, error) {
	var d Draft
	var ids, sizes []int64
	var fields, names, types []string
	var sums [][]byte
	err := q.QueryRow(ctx, getDraft, tokenHash).Scan(&d.ID, &d.OfficeID, &d.ServiceSlug, &d.FormID, &d.Answers, &d.SubmissionID, &d.ExpiresAt,
		&ids, &fields, &names, &types, &sizes, &sums)
	if err != nil {
		return Draft{}, notFound("store: get draft", err)
	}
	for i := range ids {
		d.Files = append(d.Files, File{ID: ids[i], FieldID: fields[i], Name: names[i], MediaType: types[i], Size: sizes[i], SHA256: sums[i]})
	}
	return d, nil
}

const insertDraft = `
INSERT INTO draft (token_hash, office_id, service_slug, form_id, answers, expires_at)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING id`

// InsertDraft stores a new draft and returns its id.
func InsertDraft(ctx context.Context, q Querier, tokenHash []byte, d Draft) (int64, error) {
	var id int64
	if err := q.QueryRow(ctx, insertDraft, tokenHash, d.OfficeID, d.ServiceSlug, d.FormID, d.Answers, d.ExpiresAt).Scan(&id); err != nil {
		return 0, fmt.Errorf("store: insert draft: %w", err)
	}
	return id, nil
}

const updateDraft = `
UPDATE draft SET answers = $2, expires_at = $3, updated_at = now()
WHERE id = $1 AND submission_id IS NULL`

// UpdateDraft replaces a draft's answers and extends its life. A submitted
// draft is not changed. Errors: NotFound (gone or submitted).
func UpdateDraft(ctx context.Context, q Querier, id int64, answers []byte, expires time.Time) error {
	tag, err := q.Exec(ctx, updateDraft, id, answers, expires)
	if err != nil {
		return fmt.Errorf("store: update draft %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("store: update draft", pgx.ErrNoRows)
	}
	return nil
}

const insertDraftFile = `
INSERT INTO draft_file (draft_id, field_id, name, media_type, size, sha256, content)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING id`

// InsertDraftFile stores an upload of draft draftID and returns its id.
func InsertDraftFile(ctx context.Context, q Querier, draftID int64, f File) (int64, error) {
	var id int64
	err := q.QueryRow(ctx, insertDraftFile, draftID, f.FieldID, f.Name, f.MediaType, f.Size, f.SHA256, f.Content).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("store: insert draft file: %w", err)
	}
	return id, nil
}

const deleteDraftFile = `DELETE FROM draft_file WHERE id = $1 AND draft_id = $2`

// DeleteDraftFile removes upload id of draft draftID (and of no other).
func DeleteDraftFile(ctx context.Context, q Querier, draftID, id int64) error {
	if _, err := q.Exec(ctx, deleteDraftFile, id, draftID); err != nil {
		return fmt.Errorf("store: delete draft file: %w", err)
	}
	return nil
}

const deleteExpiredDrafts = `DELETE FROM draft WHERE expires_at <= $1`

// DeleteExpiredDrafts deletes drafts (with their files) that expired before
// t and returns how many.
func DeleteExpiredDrafts(ctx context.Context, q Querier, t time.Time) (int64, error) {
	tag, err := q.Exec(ctx, deleteExpiredDrafts, t)
	if err != nil {
		return 0, fmt.Errorf("store: delete expired drafts: %w", err)
	}
	return tag.RowsAffected(), nil
}
