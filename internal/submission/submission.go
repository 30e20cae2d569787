// Package submission owns a citizen's way from a draft to a submission:
// drafts kept between steps, uploads sealed at rest, the idempotent submit
// with its reference number and access token, and the citizen's view of a
// submission afterwards.
package submission

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gesundheitsamt/portal/forms"
	"github.com/gesundheitsamt/portal/internal/crypto"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/scan"
	"github.com/gesundheitsamt/portal/internal/store"
)

// DraftTTL is how long a draft lives after its last change.
const DraftTTL = 30 * 24 * time.Hour

// Service runs drafts and submissions. It is safe for concurrent use.
type Service struct {
	db     *store.DB
	box    *crypto.Box
	secret []byte
	engine *forms.Engine
	loc    *time.Location
	now    func() time.Time
	events Events       // nil: nobody is told
	resume ResumeMailer // nil: resume links are not mailed
	scan   *scan.Checker
}

// Events are told of new submissions and of the citizen's answers inside
// the transaction that makes them, so what they do (enqueue a webhook
// call, a mail) happens if and only if the change does.
type Events interface {
	Submitted(ctx context.Context, tx pgx.Tx, sub store.Submission) error
	// Answered: the citizen answered a Rückfrage; the case is back in
	// Bearbeitung.
	Answered(ctx context.Context, tx pgx.Tx, sub store.Submission) error
}

// Options are what the service is built from.
type Options struct {
	DB     *store.DB
	Engine *forms.Engine // validates and renders the forms' answers
	// Secret derives access tokens (PORTAL_SECRET_KEY); EncryptionKey
	// seals uploads (PORTAL_ENCRYPTION_KEY).
	Secret, EncryptionKey []byte
	// Location is the offices' time zone: the year of reference numbers,
	// "today" in date rules.
	Location *time.Location
	// Scan checks uploads (the one with the configured virus scan and the
	// logger); nil: the checks of internal/scan without a virus scan.
	Scan *scan.Checker
	// Events are told of submissions and answers; nil: nobody is told.
	Events Events
	// Resume mails the resume links of saved drafts; nil: they are not
	// mailed (SendResumeLink is Unavailable).
	Resume ResumeMailer
	// Now is the clock of drafts' expiry; nil: the system clock.
	Now func() time.Time
}

// New returns a service built from o.
func New(o Options) (*Service, error) {
	box, err := crypto.NewBox(o.EncryptionKey)
	if err != nil {
		return nil, fmt.Errorf("submission: %w", err)
	}
	checker := o.Scan
	if checker == nil {
		if checker, err = scan.New(scan.Options{}); err != nil {
			return nil, fmt.Errorf("submission: %w", err)
		}
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	return &Service{db: o.DB, box: box, secret: o.Secret, engine: o.Engine, loc: o.Location, now: now, scan: checker,
		events: o.Events, resume: o.Resume}, nil
}

// VirusScan reports whether uploads are scanned for viruses and what
// clamd says of its version, for the office admin's page.
func (s *Service) VirusScan(ctx context.Context) scan.Status { return s.scan.Status(ctx) }

// SaveDefinitions keeps every form definition in the database, so each
// submission can be shown with the form it was made with.
func (s *Service) SaveDefinitions(ctx context.Context, set *forms.Set) error {
	for _, f := range set.Forms() {
		d := store.FormDefinition{FormID: f.ID, Hash: f.Hash, Version: f.Version, Source: string(f.Source)}
		if err := store.SaveFormDefinition(ctx, s.db, d); err != nil {
			return err
		}
	}
	return nil
}

// Draft is an open draft with its decoded answers. Token is the citizen's
// secret; it is empty for a draft that is not stored yet.
type Draft struct {
	ID          int64
	Token       string
	OfficeID    int64
	ServiceSlug string
	FormID      string
	Answers     *forms.Answers
	Submitted   *int64 // the submission's id, once submitted
}

// OpenDraft returns the draft of token. Errors: NotFound (unknown, expired,
// or malformed token).
func (s *Service) OpenDraft(ctx context.Context, token string) (*Draft, error) {
	t, ok := ParseToken(token)
	if !ok {
		return nil, fault.New(fault.NotFound, "submission: open draft", "")
	}
	row, err := store.GetDraft(ctx, s.db, HashToken(t))
	if err != nil {
		return nil, err
	}
	d := &Draft{ID: row.ID, Token: t, OfficeID: row.OfficeID, ServiceSlug: row.ServiceSlug, FormID: row.FormID, Submitted: row.SubmissionID, Answers: forms.NewAnswers()}
	if err := json.Unmarshal(row.Answers, d.Answers); err != nil {
		return nil, fmt.Errorf("submission: decode draft %d: %w", row.ID, err)
	}
	if d.Answers.Values == nil { // a submitted draft keeps "{}"
		d.Answers = forms.NewAnswers()
	}
	if d.Answers.Counts == nil {
		d.Answers.Counts = make(map[string]int)
	}
	d.Answers.Files = make(map[string][]forms.File)
	for _, f := range row.Files {
		d.Answers.Files[f.FieldID] = append(d.Answers.Files[f.FieldID],
			forms.File{ID: f.ID, Name: f.Name, MediaType: f.MediaType, Size: f.Size, SHA256: hex.EncodeToString(f.SHA256)})
	}
	return d, nil
}

// NewDraft returns an unsaved draft for a service at an office.
func NewDraft(officeID int64, serviceSlug, formID string) *Draft {
	return &Draft{OfficeID: officeID, ServiceSlug: serviceSlug, FormID: formID, Answers: forms.NewAnswers()}
}

// SaveDraft stores d: the first save creates the row and sets d.Token.
// Errors: NotFound when the draft was submitted or expired meanwhile.
func (s *Service) SaveDraft(ctx context.Context, d *Draft) error {
	data, err := json.Marshal(d.Answers)
	if err != nil {
		return fmt.Errorf("submission: encode draft: %w", err)
	}
	expires := s.now().Add(DraftTTL)
	if d.ID != 0 {
		return store.UpdateDraft(ctx, s.db, d.ID, data, expires)
	}
	token := NewToken()
	id, err := store.InsertDraft(ctx, s.db, HashToken(token), store.Draft{
		OfficeID: d.OfficeID, ServiceSlug: d.ServiceSlug, FormID: d.FormID, Answers: data, ExpiresAt: expires,
	})
	if err != nil {
		return err
	}
	d.ID, d.Token = id, token
	return nil
}

// Upload errors carry these message ids.
const (
	MsgFileEmpty    = "form.error.file_empty"
	MsgFileSize     = "form.error.file_size"
	MsgFileType     = "form.error.file_type"
	MsgFileCount    = "form.error.file_count"
	MsgFileDamaged  = "form.error.file_damaged"  // cannot be read as what it claims to be
	MsgFileActive   = "form.error.file_active"   // a PDF with JavaScript, launch actions, XFA
	MsgFileEmbedded = "form.error.file_embedded" // a PDF with embedded files
	MsgFilePassword = "form.error.file_password" // a PDF that needs a password to open
	MsgFilePixels   = "form.error.file_pixels"   // an image with too many pixels
	MsgFileVirus    = "form.error.file_virus"    // the virus scan found a signature
	MsgFileNotNow   = "form.error.file_not_now"  // the virus scan does not answer: try again later
)

// FileMessages are the message ids of every reason a file is refused,
// for callers that show them next to the file input.
func FileMessages() []string {
	return []string{MsgFileEmpty, MsgFileSize, MsgFileType, MsgFileCount, MsgFileDamaged, MsgFileActive,
		MsgFileEmbedded, MsgFilePassword, MsgFilePixels, MsgFileVirus, MsgFileNotNow}
}

// checkedFile is an upload that passed every check: what is stored.
type checkedFile struct {
	Name      string // cleaned
	MediaType string
	Content   []byte // what is stored: an image encoded again, a PDF as sent
	SHA256    [32]byte
}

// checkFile is the one place every uploaded file goes through, from a
// form step or an answer: its type by content and name, its size, then
// the checks of internal/scan (PDF content, images encoded again, the
// virus scan). Errors: Invalid with a MsgFile* id wrapping the reason;
// a virus scan that cannot run now is Invalid too (MsgFileNotNow), so
// the file is refused as a bad one would be and everything else the
// citizen entered stays.
func (s *Service) checkFile(ctx context.Context, op, name string, content []byte, allowed []string, maxSize int64) (checkedFile, error) {
	if err := forms.CheckUpload(name, content, allowed, maxSize); err != nil {
		msg := MsgFileType
		switch {
		case errors.Is(err, forms.ErrFileEmpty):
			msg = MsgFileEmpty
		case errors.Is(err, forms.ErrFileTooLarge):
			msg = MsgFileSize
		}
		return checkedFile{}, &fault.Error{Kind: fault.Invalid, Op: op, MessageID: msg, Err: err}
	}
	mediaType := forms.SniffMediaType(content)
	stored, err := s.scan.Check(ctx, mediaType, content, maxSize)
	if err != nil {
		msg, ok := findingMessage(scan.KindOf(err))
		if !ok {
			return checkedFile{}, fmt.Errorf("%s: %w", op, err)
		}
		return checkedFile{}, &fault.Error{Kind: fault.Invalid, Op: op, MessageID: msg, Err: err}
	}
	return checkedFile{Name: cleanFileName(name), MediaType: mediaType, Content: stored, SHA256: sha256.Sum256(stored)}, nil
}

// findingMessage is the message id of a scan finding.
func findingMessage(k scan.Kind) (string, bool) {
	switch k {
	case scan.Damaged:
		return MsgFileDamaged, true
	case scan.Active:
		return MsgFileActive, true
	case scan.Embedded:
		return MsgFileEmbedded, true
	case scan.Encrypted:
		return MsgFilePassword, true
	case scan.TooLarge:
		return MsgFilePixels, true
	case scan.Infected:
		return MsgFileVirus, true
	case scan.Unavailable:
		return MsgFileNotNow, true
	}
	return "", false
}

// AddFile checks an upload for file field fd (checkFile), seals what is
// to be stored and stores it with the (saved) draft d; the answers list
// it. Size and checksum are those of the stored bytes (an image encoded
// again differs from the upload). Errors: Invalid with one of the
// MsgFile* ids.
func (s *Service) AddFile(ctx context.Context, d *Draft, fd *forms.Field, name string, content []byte) (forms.File, error) {
	const op = "submission: add file"
	if len(d.Answers.Files[fd.ID]) >= fd.Upload.MaxFiles {
		return forms.File{}, fault.New(fault.Invalid, op, MsgFileCount)
	}
	cf, err := s.checkFile(ctx, op, name, content, fd.Upload.MediaTypes(), fd.Upload.MaxBytes())
	if err != nil {
		return forms.File{}, err
	}
	sealed, err := s.box.Seal(cf.Content, FileAAD(d.OfficeID, fd.ID, cf.SHA256[:]))
	if err != nil {
		return forms.File{}, fmt.Errorf("%s: %w", op, err)
	}
	f := store.File{
		FieldID: fd.ID, Name: cf.Name, MediaType: cf.MediaType,
		Size: int64(len(cf.Content)), SHA256: cf.SHA256[:], Content: sealed,
	}
	id, err := store.InsertDraftFile(ctx, s.db, d.ID, f)
	if err != nil {
		return forms.File{}, err
	}
	file := forms.File{ID: id, Name: f.Name, MediaType: f.MediaType, Size: f.Size, SHA256: hex.EncodeToString(cf.SHA256[:])}
	d.Answers.Files[fd.ID] = append(d.Answers.Files[fd.ID], file)
	return file, nil
}

// FileAAD is the associated data a file is sealed with: its office, its
// question and its checksum. A sealed file copied to another office's or
// question's row, or under another checksum, does not open. It stays the
// same when a draft's file becomes a submission's attachment.
func FileAAD(officeID int64, fieldID string, sha256 []byte) []byte {
	return fmt.Appendf(nil, "portal-file\x00%d\x00%s\x00%x", officeID, fieldID, sha256)
}

// OpenFile decrypts a sealed file of office officeID. Errors: wraps
// crypto.ErrCorrupt when the blob does not belong there.
func (s *Service) OpenFile(officeID int64, fieldID string, sha256, sealed []byte) ([]byte, error) {
	return s.box.Open(sealed, FileAAD(officeID, fieldID, sha256))
}

// RemoveFile deletes upload id of field fieldID from draft d.
func (s *Service) RemoveFile(ctx context.Context, d *Draft, fieldID string, id int64) error {
	files := d.Answers.Files[fieldID]
	for i, f := range files {
		if f.ID == id {
			if err := store.DeleteDraftFile(ctx, s.db, d.ID, id); err != nil {
				return err
			}
			d.Answers.Files[fieldID] = append(files[:i:i], files[i+1:]...)
			return nil
		}
	}
	return nil
}

// Receipt is what the citizen gets for a submission.
type Receipt struct {
	Reference   string
	AccessToken string
	SubmittedAt time.Time
	Duplicate   bool // the draft had been submitted before: this is the first receipt again
}

// InvalidAnswers is the Invalid error of a submit whose answers fail: Step is
// the first step with an error, where the citizen goes back to.
type InvalidAnswers struct {
	Step   *forms.Step
	Issues []forms.Issue
}

func (e *InvalidAnswers) Error() string { return "submission: answers invalid at step " + e.Step.ID }

// Submit turns the saved draft d into a submission of form f at the office
// with code officeCode, in language locale. It validates every visible
// step again (a tampered post cannot skip one) and is idempotent: submitting
// the same draft again returns the first receipt with Duplicate set.
// Errors: *InvalidAnswers (wrapped as Invalid) when answers fail, Unavailable
// when the database is down.
func (s *Service) Submit(ctx context.Context, d *Draft, f *forms.Form, officeCode, locale string) (Receipt, error) {
	const op = "submission: submit"
	access := accessToken(s.secret, d.Token)
	if d.Submitted != nil {
		return s.receiptOf(ctx, d, access)
	}
	now := s.now()
	if step, issues := s.engine.ValidateAll(f, d.Answers, now); step != nil {
		return Receipt{}, fault.Wrap(fault.Invalid, op, &InvalidAnswers{Step: step, Issues: issues})
	}
	answers := forms.BuildRecord(f, d.Answers)
	record, err := json.Marshal(Envelope{Form: f.ID, Version: f.Version, FormHash: f.Hash, Locale: locale, Answers: answers})
	if err != nil {
		return Receipt{}, fmt.Errorf("%s: encode record: %w", op, err)
	}
	sum := sha256.Sum256(record)
	sub := store.Submission{
		OfficeID: d.OfficeID, ServiceSlug: d.ServiceSlug, FormID: f.ID, FormVersion: f.Version, FormHash: f.Hash,
		Locale: locale, AccessTokenHash: HashToken(access), DraftID: d.ID, Data: record, RecordSHA256: sum[:],
	}
	ix := forms.IndexOf(f, d.Answers)
	sub.Applicant, sub.SearchText, sub.SearchMedical, sub.ContactEmail = ix.Applicant, ix.Text, ix.Medical, ix.Email
	if sub.AccessTokenSealed, err = s.box.Seal([]byte(access), accessTokenAAD(d.OfficeID)); err != nil {
		return Receipt{}, fmt.Errorf("%s: seal access token: %w", op, err)
	}
	year := now.In(s.loc).Year()
	for range 5 { // 40 random bits per office and year: a clash is rare, five in a row is a bug
		sub.Reference = NewReference(officeCode, year)
		inserted, err := s.insert(ctx, &sub, answers.FileIDs())
		if err != nil {
			return Receipt{}, fault.Wrap(fault.Unavailable, op, err)
		}
		if inserted {
			return Receipt{Reference: sub.Reference, AccessToken: access, SubmittedAt: sub.SubmittedAt}, nil
		}
		if r, err := s.receiptOf(ctx, d, access); fault.KindOf(err) != fault.NotFound {
			return r, err // submitted meanwhile (a double click)
		}
	}
	return Receipt{}, fmt.Errorf("%s: no free reference number after five tries", op)
}

// accessTokenAAD binds a sealed access token to its office.
func accessTokenAAD(officeID int64) []byte {
	return fmt.Appendf(nil, "portal-access-token\x00%d", officeID)
}

// SealAccessToken seals an access token of office officeID as Submit
// keeps it (for tools that make submissions directly, like the benchmarks).
func SealAccessToken(box *crypto.Box, officeID int64, token string) ([]byte, error) {
	return box.Seal([]byte(token), accessTokenAAD(officeID))
}

// AccessToken returns the status page's token of sub, for a link in a
// mail. Errors: NotFound when sub has none kept (made before it was).
func (s *Service) AccessToken(sub store.Submission) (string, error) {
	if sub.AccessTokenSealed == nil {
		return "", fault.New(fault.NotFound, "submission: access token", "")
	}
	t, err := s.box.Open(sub.AccessTokenSealed, accessTokenAAD(sub.OfficeID))
	if err != nil {
		return "", fmt.Errorf("submission: access token of %d: %w", sub.ID, err)
	}
	return string(t), nil
}

// insert stores sub; with events, in a transaction that also tells them.
func (s *Service) insert(ctx context.Context, sub *store.Submission, fileIDs []int64) (bool, error) {
	if s.events == nil {
		return store.InsertSubmission(ctx, s.db, sub, fileIDs)
	}
	var inserted bool
	err := s.db.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		if inserted, err = store.InsertSubmission(ctx, tx, sub, fileIDs); err != nil || !inserted {
			return err
		}
		return s.events.Submitted(ctx, tx, *sub)
	})
	return inserted, err
}

func (s *Service) receiptOf(ctx context.Context, d *Draft, access string) (Receipt, error) {
	sub, err := store.GetSubmissionByDraft(ctx, s.db, d.ID)
	if err != nil {
		return Receipt{}, err
	}
	return Receipt{Reference: sub.Reference, AccessToken: access, SubmittedAt: sub.SubmittedAt, Duplicate: true}, nil
}

// Envelope is the stored record of a submission: the answers with the form
// they answer. Its JSON encoding (map keys sorted) is what the receipt's
// SHA-256 covers.
type Envelope struct {
	Form     string       `json:"form"`
	Version  int          `json:"version"`
	FormHash string       `json:"form_hash"`
	Locale   string       `json:"locale"`
	Answers  forms.Record `json:"answers"`
}

// View is a submission as its citizen sees it.
type View struct {
	Submission store.Submission
	Envelope   Envelope
	Events     []store.Event
}

// DeletedError is the cause of a Gone error: the case was deleted when
// its retention period ended, and this is what is left of it.
type DeletedError struct {
	Tombstone store.Tombstone
}

func (e *DeletedError) Error() string {
	return "case " + strconv.FormatInt(e.Tombstone.ID, 10) + " was deleted"
}

// byToken returns the submission whose access token hashes to hash.
// Errors: NotFound, Gone (a *DeletedError: it was deleted).
func byToken(ctx context.Context, q store.Querier, op string, hash []byte) (store.Submission, error) {
	sub, err := store.GetSubmissionByToken(ctx, q, hash)
	if fault.KindOf(err) != fault.NotFound {
		return sub, err
	}
	tomb, terr := store.GetTombstoneByToken(ctx, q, hash)
	if terr != nil {
		if fault.KindOf(terr) == fault.NotFound {
			return sub, err
		}
		return sub, terr
	}
	return sub, fault.Wrap(fault.Gone, op, &DeletedError{Tombstone: tomb})
}

// Lookup returns the submission of an access token with its citizen-visible
// events. Errors: NotFound, Gone (a *DeletedError, for a case deleted when
// its retention period ended: the citizen's link says so).
func (s *Service) Lookup(ctx context.Context, token string) (*View, error) {
	t, ok := ParseToken(token)
	if !ok {
		return nil, fault.New(fault.NotFound, "submission: lookup", "")
	}
	sub, err := byToken(ctx, s.db, "submission: lookup", HashToken(t))
	if err != nil {
		return nil, err
	}
	v := &View{Submission: sub}
	if err := json.Unmarshal(sub.Data, &v.Envelope); err != nil {
		return nil, fmt.Errorf("submission: decode record %d: %w", sub.ID, err)
	}
	if v.Events, err = store.ListCitizenEvents(ctx, s.db, sub.OfficeID, sub.ID); err != nil {
		return nil, err
	}
	return v, nil
}

// cleanFileName keeps a file name readable but harmless: the base name,
// without control characters or path separators, at most 120 characters.
func cleanFileName(name string) string {
	out := make([]rune, 0, len(name))
	for _, r := range name {
		switch {
		case r == '/' || r == '\\':
			out = out[:0]
		case r < 0x20 || r == 0x7f || r == '"':
		default:
			out = append(out, r)
		}
	}
	if len(out) > 120 {
		out = out[len(out)-120:]
	}
	if len(out) == 0 {
		return "datei"
	}
	return string(out)
}

// FormOf returns the form a submission was made with: the loaded one when
// its hash matches, else the kept definition, parsed again. Errors:
// NotFound.
func (s *Service) FormOf(ctx context.Context, set *forms.Set, formID, hash string) (*forms.Form, error) {
	if f, ok := set.Form(formID); ok && f.Hash == hash {
		return f, nil
	}
	d, err := store.GetFormDefinition(ctx, s.db, formID, hash)
	if err != nil {
		return nil, err
	}
	f, problems := forms.Parse(formID+".yaml", []byte(d.Source))
	if len(problems) > 0 {
		return nil, fmt.Errorf("submission: kept definition %s %s: %w", formID, hash[:12], problems)
	}
	return f, nil
}

// Engine returns the validation engine.
func (s *Service) Engine() *forms.Engine { return s.engine }

// Case is a submission as the back office shows it.
type Case struct {
	View
	Form        *forms.Form
	Answers     *forms.Answers // rebuilt from the record, for forms.Summarize
	Attachments []store.File
}

// Case returns submission id of office officeID with every event, its
// attachments (without content) and the form it was made with. Errors:
// NotFound (also for another office's submission), Gone (a *DeletedError:
// the office's case was deleted when its retention period ended).
func (s *Service) Case(ctx context.Context, set *forms.Set, officeID, id int64) (*Case, error) {
	sub, err := store.GetSubmission(ctx, s.db, officeID, id)
	if fault.KindOf(err) == fault.NotFound {
		if tomb, terr := store.GetTombstone(ctx, s.db, officeID, id); terr == nil {
			return nil, fault.Wrap(fault.Gone, "submission: case", &DeletedError{Tombstone: tomb})
		} else if fault.KindOf(terr) != fault.NotFound {
			return nil, terr
		}
	}
	if err != nil {
		return nil, err
	}
	c := &Case{View: View{Submission: sub}}
	if err := json.Unmarshal(sub.Data, &c.Envelope); err != nil {
		return nil, fmt.Errorf("submission: decode record %d: %w", sub.ID, err)
	}
	if c.Form, err = s.FormOf(ctx, set, sub.FormID, sub.FormHash); err != nil {
		return nil, err
	}
	c.Answers = forms.AnswersFromRecord(c.Form, c.Envelope.Answers)
	if c.Events, err = store.ListEvents(ctx, s.db, officeID, id); err != nil {
		return nil, err
	}
	if c.Attachments, err = store.ListAttachments(ctx, s.db, officeID, id); err != nil {
		return nil, err
	}
	return c, nil
}

// Attachment returns attachment attID of submission subID of office
// officeID, decrypted. Errors: NotFound.
func (s *Service) Attachment(ctx context.Context, officeID, subID, attID int64) (store.File, []byte, error) {
	a, err := store.GetAttachment(ctx, s.db, officeID, subID, attID)
	if err != nil {
		return store.File{}, nil, err
	}
	plain, err := s.OpenFile(officeID, a.FieldID, a.SHA256, a.Content)
	if err != nil {
		return store.File{}, nil, fmt.Errorf("submission: attachment %d: %w", a.ID, err)
	}
	return a, plain, nil
}
