package inbox_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/gesundheitsamt/portal/forms"
	"github.com/gesundheitsamt/portal/internal/auth"
	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/inbox"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/store/storetest"
	"github.com/gesundheitsamt/portal/internal/submission"
	"github.com/gesundheitsamt/portal/internal/submission/submissiontest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

const (
	pdf      = submissiontest.PDF
	withheld = "〔vertraulich〕"
	// question is a physician's Rückfrage: medical, as is the answer.
	question = "Bitte senden Sie den Befund Ihrer Kardiologin."
	answer   = "Anbei der Befund vom Mai."
	// letterName is the request letter's name (an open file), findingName
	// the file sent with the answer to the physician's Rückfrage (medical).
	letterName  = "Auftrag Dienststelle.pdf"
	findingName = "Befund Kardiologie.pdf"
)

var words = forms.Words{Yes: "Ja", NotAnswered: "nicht beantwortet"}

// world is the case service on a fresh database with the demo offices,
// staff of both offices and API tokens of Leipzig.
type world struct {
	sw      submissiontest.World
	db      *store.DB
	set     *forms.Set
	subs    *submission.Service
	inbox   *inbox.Service
	leipzig store.Office
	halle   store.Office

	// Accesses of Leipzig, and a caseworker of Halle.
	caseworker, physician, token, medToken, halleWorker inbox.Access
}

// newService builds the submission and case services on a fresh database.
// It is the one place that knows how the services are constructed.
func newService(t *testing.T) *world {
	t.Helper()
	sw := submissiontest.New(t)
	db, set := sw.DB, sw.Forms
	subs := sw.Service(t, submission.Options{})
	w := &world{sw: sw, db: db, set: set, subs: subs, inbox: inbox.New(inbox.Options{DB: db, Submissions: subs, Forms: set})}
	w.leipzig = w.office(t, "leipzig")
	w.halle = w.office(t, "halle")
	w.caseworker = inbox.StaffAccess(w.addStaff(t, w.leipzig, "sb@leipzig.test", domain.Caseworker))
	w.physician = inbox.StaffAccess(w.addStaff(t, w.leipzig, "arzt@leipzig.test", domain.Physician))
	w.halleWorker = inbox.StaffAccess(w.addStaff(t, w.halle, "sb@halle.test", domain.Caseworker))
	w.token = inbox.TokenAccess(w.addToken(t, w.leipzig, "Fachverfahren", auth.ScopeSubmissionsRead, auth.ScopeSubmissionsWrite, auth.ScopeAttachmentsRead))
	w.medToken = inbox.TokenAccess(w.addToken(t, w.leipzig, "Fachverfahren medizinisch", auth.ScopeSubmissionsRead, auth.ScopeSubmissionsWrite,
		auth.ScopeAttachmentsRead, auth.ScopeMedicalRead))
	return w
}

func (w *world) office(t *testing.T, slug string) store.Office {
	t.Helper()
	o, err := store.GetOfficeBySlug(context.Background(), w.db, slug)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func (w *world) addStaff(t *testing.T, o store.Office, email string, role domain.Role) auth.Staff {
	t.Helper()
	st := auth.Staff{OfficeID: o.ID, Email: email, Name: email, Role: role}
	if err := w.db.QueryRow(context.Background(), `INSERT INTO staff (office_id, email, name, role, password_hash)
		VALUES ($1, $2, $3, $4, 'x') RETURNING id`, o.ID, email, email, string(role)).Scan(&st.ID); err != nil {
		t.Fatal(err)
	}
	return st
}

func (w *world) addToken(t *testing.T, o store.Office, name string, scopes ...string) auth.Token {
	t.Helper()
	tok := auth.Token{OfficeID: o.ID, Name: name, Scopes: scopes}
	if err := w.db.QueryRow(context.Background(), `INSERT INTO api_token (office_id, name, token_hash, scopes)
		VALUES ($1, $2, $3, $4) RETURNING id`, o.ID, name, []byte(name), scopes).Scan(&tok.ID); err != nil {
		t.Fatal(err)
	}
	return tok
}

// kase is a case made through the real path.
type kase struct {
	id    int64
	token string // the citizen's access token
	ref   string
}

// submit makes a medical report case at office o from a citizen named
// family: medication (a medical answer) names medication, the request
// letter is attached.
func (w *world) submit(t *testing.T, o store.Office, family, medication string) kase {
	t.Helper()
	k := w.sw.SubmitGutachten(t, w.subs, o, family, medication, letterName)
	return kase{id: k.ID, token: k.Token, ref: k.Ref}
}

// medicalCase is a case of Leipzig with every kind of content: open and
// medical answers, the open request letter, and a physician's Rückfrage
// the citizen answered with a finding (medical). It is back in progress
// and unread.
func (w *world) medicalCase(t *testing.T) kase {
	t.Helper()
	k := w.submit(t, w.leipzig, "Vogelsang", "Metformin 500 mg")
	w.change(t, w.physician, k.id, inbox.Transition{To: domain.InProgress})
	w.change(t, w.physician, k.id, inbox.Transition{To: domain.Question, Message: question, RequestFiles: true})
	if err := w.subs.Answer(context.Background(), k.token, answer, []submission.Upload{{Name: findingName, Content: []byte(pdf)}}); err != nil {
		t.Fatal(err)
	}
	return k
}

// change moves case id along tr at its current version.
func (w *world) change(t *testing.T, a inbox.Access, id int64, tr inbox.Transition) {
	t.Helper()
	sub := w.get(t, a.OfficeID, id)
	if err := w.inbox.Change(context.Background(), a, id, sub.Version, tr); err != nil {
		t.Fatalf("%s → %s: %v", sub.Status, tr.To, err)
	}
}

func (w *world) get(t *testing.T, officeID, id int64) store.Submission {
	t.Helper()
	sub, err := store.GetSubmission(context.Background(), w.db, officeID, id)
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

// files returns the ids of case id's request letter and of the file sent
// with the answer to the Rückfrage.
func (w *world) files(t *testing.T, k kase) (letter, finding int64) {
	t.Helper()
	rows, err := w.db.Query(context.Background(), `SELECT id, field_id FROM attachment WHERE submission_id = $1`, k.id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var field string
		if err := rows.Scan(&id, &field); err != nil {
			t.Fatal(err)
		}
		switch field {
		case "request_letter":
			letter = id
		case submission.AnswerField:
			finding = id
		}
	}
	if err := rows.Err(); err != nil || letter == 0 || finding == 0 {
		t.Fatalf("attachments of case %d: letter %d, finding %d, %v", k.id, letter, finding, err)
	}
	return letter, finding
}

// entry is a row of the audit log.
type entry struct{ Actor, Action, Object string }

// auditMark is the id of the newest audit entry (of any office).
func (w *world) auditMark(t *testing.T) int64 {
	t.Helper()
	var id int64
	if err := w.db.QueryRow(context.Background(), `SELECT coalesce(max(id), 0) FROM audit_log`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// auditSince returns the audit entries of every office after mark.
func (w *world) auditSince(t *testing.T, mark int64) []entry {
	t.Helper()
	rows, err := w.db.Query(context.Background(), `SELECT actor, action, object FROM audit_log WHERE id > $1 ORDER BY id`, mark)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []entry
	for rows.Next() {
		var e entry
		if err := rows.Scan(&e.Actor, &e.Action, &e.Object); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func expectAudit(t *testing.T, got []entry, want ...entry) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("audit entries %v, want %v", got, want)
	}
}

func TestOpenWithholdsWhatTheAccessMayNotRead(t *testing.T) {
	ctx := context.Background()
	w := newService(t)
	k := w.medicalCase(t)
	for _, tc := range []struct {
		name   string
		access inbox.Access
		// medical: the access reads what is marked medical.
		medical bool
		// marksRead: opening clears the case's unread marker.
		marksRead bool
	}{
		{"caseworker", w.caseworker, false, true},
		{"physician", w.physician, true, true},
		{"token", w.token, false, false},
		{"token with medical:read", w.medToken, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := w.db.Exec(ctx, `UPDATE submission SET unread = true WHERE id = $1`, k.id); err != nil {
				t.Fatal(err)
			}
			mark := w.auditMark(t)
			c, err := w.inbox.Open(ctx, tc.access, k.id)
			if err != nil {
				t.Fatal(err)
			}
			if c.Submission.Data != nil || c.Submission.AccessTokenSealed != nil {
				t.Error("the opened case carries the full record or the sealed access token")
			}

			// Summary: answered medical items are withheld, their value replaced.
			var withheldItems []string
			var values strings.Builder
			for _, sec := range c.Summary("de", words, withheld) {
				for _, it := range sec.Items {
					if it.Withheld {
						withheldItems = append(withheldItems, it.FieldID)
						if it.Value != withheld {
							t.Errorf("withheld %s shows %q", it.FieldID, it.Value)
						}
					}
					values.WriteString(it.Value + "\n")
				}
			}
			wantWithheld := []string{"medication", "disability"} // physician is not answered: nothing to withhold
			if tc.medical {
				wantWithheld = nil
			}
			if !slices.Equal(withheldItems, wantWithheld) {
				t.Errorf("withheld summary items %v, want %v", withheldItems, wantWithheld)
			}
			if got := strings.Contains(values.String(), "Metformin"); got != tc.medical {
				t.Errorf("summary shows the medication: %v, want %v", got, tc.medical)
			}
			if !strings.Contains(values.String(), "Landesamt") {
				t.Error("summary lacks an open answer")
			}

			// Record: medical fields are left out and named.
			rec, left := c.Record()
			if !slices.Equal(left, wantWithheld) {
				t.Errorf("record leaves out %v, want %v", left, wantWithheld)
			}
			if got := strings.Contains(fmt.Sprint(rec["medication"]), "Metformin"); got != tc.medical {
				t.Errorf("record has the medication: %v (%v), want %v", got, rec["medication"], tc.medical)
			}
			if rec["authority"] == nil {
				t.Error("record lacks an open answer")
			}

			// Files: the finding is withheld, name and checksum empty; the letter is not.
			var fileWithheld []string
			for _, f := range c.Files() {
				switch f.FieldID {
				case "request_letter":
					if f.Withheld || f.Name != letterName || len(f.SHA256) == 0 {
						t.Errorf("letter %+v", f)
					}
				case submission.AnswerField:
					if f.Withheld {
						fileWithheld = append(fileWithheld, f.FieldID)
						if f.Name != "" || f.SHA256 != nil {
							t.Errorf("withheld finding shows name %q, checksum %x", f.Name, f.SHA256)
						}
					} else if f.Name != findingName || len(f.SHA256) == 0 {
						t.Errorf("finding %+v", f)
					}
				}
				if f.Size != int64(len(pdf)) || f.MediaType != "application/pdf" {
					t.Errorf("file %s lost size or type: %+v", f.FieldID, f)
				}
			}
			if got := len(fileWithheld) == 1; got != !tc.medical || len(c.Files()) != 2 {
				t.Errorf("files %+v, withheld %v", c.Files(), fileWithheld)
			}

			// Events: the physician's Rückfrage and its answer are withheld.
			var seen int
			for _, ev := range c.Events() {
				var want string
				switch {
				case ev.Kind == store.EventStatus && ev.Status == domain.Question:
					want = question
				case ev.Kind == store.EventAnswer:
					want = answer
				default:
					if ev.Withheld {
						t.Errorf("event %s/%s withheld", ev.Kind, ev.Status)
					}
					continue
				}
				seen++
				if ev.Withheld != !tc.medical {
					t.Errorf("event %s withheld: %v, want %v", ev.Kind, ev.Withheld, !tc.medical)
				}
				if tc.medical && ev.Message != want || !tc.medical && ev.Message != "" {
					t.Errorf("event %s says %q", ev.Kind, ev.Message)
				}
			}
			if seen != 2 {
				t.Errorf("%d medical events, want the Rückfrage and its answer", seen)
			}

			// One case.read naming the actor; unread cleared for staff only.
			expectAudit(t, w.auditSince(t, mark), entry{tc.access.Actor.String(), string(domain.CaseRead), string(domain.CaseObject(k.id))})
			if unread := w.get(t, w.leipzig.ID, k.id).Unread; unread == tc.marksRead {
				t.Errorf("unread after Open: %v, want %v", unread, !tc.marksRead)
			}
		})
	}
}

func TestAnotherOfficesCaseIsNotFound(t *testing.T) {
	ctx := context.Background()
	w := newService(t)
	theirs := w.submit(t, w.halle, "Brandt", "Ibuprofen")
	fileID, _ := store.ListAttachments(ctx, w.db, w.halle.ID, theirs.id)
	if len(fileID) != 1 {
		t.Fatalf("Halle's case has %d files", len(fileID))
	}
	for _, tc := range []struct {
		name   string
		access inbox.Access
		open   func(inbox.Access) error
	}{
		{"Open as caseworker", w.caseworker, func(a inbox.Access) error { _, err := w.inbox.Open(ctx, a, theirs.id); return err }},
		{"Open as physician", w.physician, func(a inbox.Access) error { _, err := w.inbox.Open(ctx, a, theirs.id); return err }},
		{"Open as token with medical:read", w.medToken, func(a inbox.Access) error { _, err := w.inbox.Open(ctx, a, theirs.id); return err }},
		{"OpenFile as physician", w.physician, func(a inbox.Access) error {
			_, _, err := w.inbox.OpenFile(ctx, a, theirs.id, fileID[0].ID)
			return err
		}},
		{"Change as caseworker", w.caseworker, func(a inbox.Access) error {
			return w.inbox.Change(ctx, a, theirs.id, 1, inbox.Transition{To: domain.InProgress})
		}},
		{"AddNote as caseworker", w.caseworker, func(a inbox.Access) error { return w.inbox.AddNote(ctx, a, theirs.id, "Notiz") }},
		{"SetHold as caseworker", w.caseworker, func(a inbox.Access) error { return w.inbox.SetHold(ctx, a, theirs.id, "Klage") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mark := w.auditMark(t)
			if err := tc.open(tc.access); fault.KindOf(err) != fault.NotFound {
				t.Errorf("err %v (%v), want NotFound", err, fault.KindOf(err))
			}
			expectAudit(t, w.auditSince(t, mark))
		})
	}
	// Halle's own staff reach it: the rows above fail for the office, not the case.
	if _, err := w.inbox.Open(ctx, w.halleWorker, theirs.id); err != nil {
		t.Errorf("Halle opens its case: %v", err)
	}
	if sub := w.get(t, w.halle.ID, theirs.id); sub.Status != domain.Received || sub.HoldReason != "" {
		t.Errorf("Halle's case changed: %s, hold %q", sub.Status, sub.HoldReason)
	}
}

func TestOpenFileKeepsMedicalFilesBack(t *testing.T) {
	ctx := context.Background()
	w := newService(t)
	k := w.medicalCase(t)
	letter, finding := w.files(t, k)
	for _, tc := range []struct {
		name   string
		access inbox.Access
		file   int64
		want   fault.Kind // Internal: no error
	}{
		{"caseworker, letter", w.caseworker, letter, fault.Internal},
		{"caseworker, finding", w.caseworker, finding, fault.NotFound},
		{"physician, finding", w.physician, finding, fault.Internal},
		{"token, letter", w.token, letter, fault.Internal},
		{"token, finding", w.token, finding, fault.NotFound},
		{"token with medical:read, finding", w.medToken, finding, fault.Internal},
		{"caseworker, no such file", w.caseworker, finding + 100, fault.NotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mark := w.auditMark(t)
			f, content, err := w.inbox.OpenFile(ctx, tc.access, k.id, tc.file)
			if tc.want != fault.Internal {
				if fault.KindOf(err) != tc.want {
					t.Errorf("err %v, want %v", err, tc.want)
				}
				if content != nil || f.Name != "" {
					t.Errorf("refused file came with %q, %q", f.Name, content)
				}
				expectAudit(t, w.auditSince(t, mark))
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(content) != pdf || f.ID != tc.file {
				t.Errorf("file %d: %q", f.ID, content)
			}
			expectAudit(t, w.auditSince(t, mark), entry{tc.access.Actor.String(), string(domain.AttachmentDownload), string(domain.AttachmentObject(tc.file))})
		})
	}
}

func TestListStaysInTheOfficeAndRecordsTheRead(t *testing.T) {
	ctx := context.Background()
	w := newService(t)
	ours := w.medicalCase(t)
	theirs := w.submit(t, w.halle, "Vogelsang", "Metformin 850 mg") // found by the same words
	for _, tc := range []struct {
		name   string
		access inbox.Access
		filter store.CaseFilter
		action domain.Action
		found  bool // ours is listed
	}{
		{"caseworker's inbox", w.caseworker, store.CaseFilter{}, domain.InboxRead, true},
		{"caseworker names Halle", w.caseworker, store.CaseFilter{OfficeID: w.halle.ID}, domain.InboxRead, true},
		{"caseworker names Halle's reference", w.caseworker, store.CaseFilter{OfficeID: w.halle.ID, Reference: theirs.ref}, domain.InboxSearch, false},
		{"caseworker searches a name", w.caseworker, store.CaseFilter{OfficeID: w.halle.ID, Text: "Vogelsang"}, domain.InboxSearch, true},
		{"caseworker searches a medication", w.caseworker, store.CaseFilter{Text: "Metformin"}, domain.InboxSearch, false},
		{"physician searches a medication", w.physician, store.CaseFilter{OfficeID: w.halle.ID, Text: "Metformin"}, domain.InboxSearch, true},
		{"token lists", w.token, store.CaseFilter{OfficeID: w.halle.ID}, domain.APISubmissionsList, true},
		{"token searches a medication", w.token, store.CaseFilter{Text: "Metformin"}, domain.APISubmissionsList, false},
		{"token with medical:read searches a medication", w.medToken, store.CaseFilter{Text: "Metformin"}, domain.APISubmissionsList, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mark := w.auditMark(t)
			tc.filter.Limit = 50
			rows, err := w.inbox.List(ctx, tc.access, tc.filter)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, r := range rows {
				if r.ID == theirs.id {
					t.Errorf("Leipzig lists Halle's case %s", r.Reference)
				}
				found = found || r.ID == ours.id
			}
			if found != tc.found {
				t.Errorf("our case listed: %v, want %v (%d rows)", found, tc.found, len(rows))
			}
			expectAudit(t, w.auditSince(t, mark), entry{tc.access.Actor.String(), string(tc.action), ""})
		})
	}
	// Halle finds its case by the same filter: the rows above fail for the office.
	rows, err := w.inbox.List(ctx, w.halleWorker, store.CaseFilter{Reference: theirs.ref, Limit: 50})
	if err != nil || len(rows) != 1 || rows[0].ID != theirs.id {
		t.Errorf("Halle lists %+v, %v", rows, err)
	}
}

// TestExportSearchesAndWithholdsLikeTheList: an export of a search finds
// by medical answers only for medical access, never another office's
// case, and records the export before the first row.
func TestExportSearchesAndWithholdsLikeTheList(t *testing.T) {
	ctx := context.Background()
	w := newService(t)
	ours := w.medicalCase(t)
	theirs := w.submit(t, w.halle, "Vogelsang", "Metformin 850 mg")
	for _, tc := range []struct {
		name   string
		access inbox.Access
		found  bool
	}{
		{"caseworker", w.caseworker, false},
		{"physician", w.physician, true},
		{"token", w.token, false},
		{"token with medical:read", w.medToken, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mark := w.auditMark(t)
			x, err := w.inbox.StartExport(ctx, tc.access, domain.CaseExport, "json")
			if err != nil {
				t.Fatal(err)
			}
			expectAudit(t, w.auditSince(t, mark), entry{tc.access.Actor.String(), "export.json", ""})
			found := false
			err = x.Each(ctx, store.CaseFilter{OfficeID: w.halle.ID, Text: "Metformin", Medical: true}, func(e inbox.Exported) error {
				if e.Row.ID == theirs.id {
					t.Errorf("the export holds Halle's case %s", e.Row.Reference)
				}
				if e.Row.ID == ours.id {
					found = true
					record, withheld := e.Record()
					if _, ok := record["medication"]; ok == !tc.access.Medical {
						t.Errorf("medication in the record: %v, withheld %v", ok, withheld)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if found != tc.found {
				t.Errorf("found by a medical answer: %v, want %v", found, tc.found)
			}
		})
	}
}

func TestARueckfrageAskedWithMedicalAccessIsConfidential(t *testing.T) {
	ctx := context.Background()
	w := newService(t)
	for _, tc := range []struct {
		name         string
		access       inbox.Access
		confidential bool
	}{
		{"caseworker", w.caseworker, false},
		{"physician", w.physician, true},
		{"token", w.token, false},
		{"token with medical:read", w.medToken, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := w.submit(t, w.leipzig, "Vogelsang", "Metformin")
			w.change(t, w.caseworker, k.id, inbox.Transition{To: domain.InProgress})
			w.change(t, tc.access, k.id, inbox.Transition{To: domain.Question, Message: "  " + question + "\n", RequestFiles: true})
			events, err := store.ListEvents(ctx, w.db, w.leipzig.ID, k.id)
			if err != nil {
				t.Fatal(err)
			}
			last := events[len(events)-1]
			if last.Kind != store.EventStatus || last.Status != domain.Question || last.Message != question || !last.RequestFiles ||
				last.StaffID != tc.access.Actor.StaffID() || last.TokenID != tc.access.Actor.TokenID() {
				t.Errorf("event %+v", last)
			}
			if last.Confidential != tc.confidential {
				t.Errorf("confidential %v, want %v", last.Confidential, tc.confidential)
			}
			// The moves before the Rückfrage are not confidential, whoever made them.
			for _, ev := range events[:len(events)-1] {
				if ev.Confidential {
					t.Errorf("event %s/%s confidential", ev.Kind, ev.Status)
				}
			}
		})
	}
}

func TestChangeFollowsTheWorkflow(t *testing.T) {
	ctx := context.Background()
	w := newService(t)
	for _, tc := range []struct {
		name    string
		path    []domain.Status // where the case is moved first
		to      inbox.Transition
		stale   bool // change from the version before the current one
		kind    fault.Kind
		message string
	}{
		{"received to in progress", nil, inbox.Transition{To: domain.InProgress}, false, fault.Internal, ""},
		{"received to done", nil, inbox.Transition{To: domain.Done}, false, fault.Invalid, inbox.MsgTransition},
		{"received to rueckfrage", nil, inbox.Transition{To: domain.Question, Message: question}, false, fault.Invalid, inbox.MsgTransition},
		{"done to in progress", []domain.Status{domain.InProgress, domain.Done}, inbox.Transition{To: domain.InProgress}, false, fault.Invalid, inbox.MsgTransition},
		{"rueckfrage without a question", []domain.Status{domain.InProgress}, inbox.Transition{To: domain.Question, Message: " "}, false, fault.Invalid, inbox.MsgQuestion},
		{"message too long", []domain.Status{domain.InProgress}, inbox.Transition{To: domain.Done, Message: strings.Repeat("ä", inbox.MaxMessage+1)}, false, fault.Invalid, inbox.MsgMessage},
		{"stale version", []domain.Status{domain.InProgress}, inbox.Transition{To: domain.Done}, true, fault.Conflict, inbox.MsgConflict},
		{"in progress to done", []domain.Status{domain.InProgress}, inbox.Transition{To: domain.Done}, false, fault.Internal, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := w.submit(t, w.leipzig, "Vogelsang", "Metformin")
			for _, s := range tc.path {
				w.change(t, w.caseworker, k.id, inbox.Transition{To: s})
			}
			before := w.get(t, w.leipzig.ID, k.id)
			version := before.Version
			if tc.stale {
				version--
			}
			mark := w.auditMark(t)
			err := w.inbox.Change(ctx, w.caseworker, k.id, version, tc.to)
			after := w.get(t, w.leipzig.ID, k.id)
			if tc.kind == fault.Internal {
				if err != nil {
					t.Fatal(err)
				}
				if after.Status != tc.to.To || after.Version == before.Version {
					t.Errorf("after the change: %s v%d, before v%d", after.Status, after.Version, before.Version)
				}
				expectAudit(t, w.auditSince(t, mark), entry{w.caseworker.Actor.String(), string(domain.CaseStatus(tc.to.To)), string(domain.CaseObject(k.id))})
				return
			}
			if fault.KindOf(err) != tc.kind || fault.MessageOf(err) != tc.message {
				t.Errorf("err %v (%v, %q), want %v, %q", err, fault.KindOf(err), fault.MessageOf(err), tc.kind, tc.message)
			}
			if after.Status != before.Status || after.Version != before.Version {
				t.Errorf("refused change moved the case: %s v%d → %s v%d", before.Status, before.Version, after.Status, after.Version)
			}
			expectAudit(t, w.auditSince(t, mark))
		})
	}
}

// TestRowNamesTheAssigneeOfTheCasesOffice: a list row carries the name of
// the staff member a case is assigned to, read within the case's office.
func TestRowNamesTheAssigneeOfTheCasesOffice(t *testing.T) {
	ctx := context.Background()
	w := newService(t)
	k := w.submit(t, w.leipzig, "Vogelsang", "keine")
	sub := w.get(t, w.leipzig.ID, k.id)
	if err := w.inbox.Assign(ctx, w.caseworker, k.id, sub.Version, w.physician.Actor.StaffID()); err != nil {
		t.Fatal(err)
	}
	sub, err := w.inbox.Get(ctx, w.caseworker, k.id)
	if err != nil {
		t.Fatal(err)
	}
	row, err := w.inbox.Row(ctx, sub)
	if err != nil || row.AssigneeName != "arzt@leipzig.test" || row.AssigneeID != w.physician.Actor.StaffID() {
		t.Fatalf("row %+v, %v: want the physician as assignee", row, err)
	}
	// A staff id of another office is not read as this case's assignee.
	sub.AssigneeID = w.halleWorker.Actor.StaffID()
	if _, err := w.inbox.Row(ctx, sub); fault.KindOf(err) != fault.NotFound {
		t.Errorf("Row with Halle's staff member as assignee: %v, want NotFound", err)
	}
}
