package submission_test

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/gesundheitsamt/portal/forms"
	"github.com/gesundheitsamt/portal/internal/crypto"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/store/storetest"
	"github.com/gesundheitsamt/portal/internal/submission"
	"github.com/gesundheitsamt/portal/internal/submission/submissiontest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

const pdf = "%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"

type fixture struct {
	world    submissiontest.World
	db       *store.DB
	svc      *submission.Service
	set      *forms.Set
	officeID int64
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	w := submissiontest.New(t)
	var id int64
	if err := w.DB.QueryRow(context.Background(), `SELECT id FROM office WHERE slug = 'leipzig'`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return fixture{world: w, db: w.DB, svc: w.Service(t, submission.Options{}), set: w.Forms, officeID: id}
}

// completeGutachten answers every step of the medical report form for a
// reason that asks for the authority's letter.
func completeGutachten(a *forms.Answers) {
	for k, v := range map[string]string{
		"reason": "dienstfaehigkeit", "file_number": "P-1", "authority": "Landesamt", "disability": "nein",
		"given_name": "Zoë", "family_name": "Ó Briain", "date_of_birth": "1980-02-03", "street": "Markt 1",
		"postal_code": "04109", "city": "Leipzig", "email": "zoe@example.org",
	} {
		a.Values[k] = []string{v}
	}
	a.Done = []string{"anlass", "auftrag", "gesundheit", "kontakt"}
}

func TestFilesAreSealedBoundAndOnlyVisibleOnesSubmitted(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t)
	f, _ := fx.set.Form("amtsaerztliches-gutachten")
	letter, _ := f.Field("request_letter")
	d := submission.NewDraft(fx.officeID, "amtsaerztliche-untersuchung", f.ID)
	completeGutachten(d.Answers)
	if err := fx.svc.SaveDraft(ctx, d); err != nil {
		t.Fatal(err)
	}
	file, err := fx.svc.AddFile(ctx, d, letter, "../../etc/Auftrag\x00.pdf", []byte(pdf))
	if err != nil {
		t.Fatal(err)
	}
	if file.Name != "Auftrag.pdf" || file.MediaType != "application/pdf" {
		t.Errorf("file %+v", file)
	}
	for _, bad := range [][]byte{[]byte("<html>"), {}} {
		if _, err := fx.svc.AddFile(ctx, d, letter, "x.pdf", bad); fault.KindOf(err) != fault.Invalid {
			t.Errorf("AddFile(%q): %v", bad, err)
		}
	}

	// Reopened, the draft lists its file from the files themselves.
	again, err := fx.svc.OpenDraft(ctx, d.Token)
	if err != nil || len(again.Answers.Files["request_letter"]) != 1 {
		t.Fatalf("reopened draft: %v, files %v", err, again.Answers.Files)
	}

	// Sealed at rest, bound to office, question and checksum.
	var sealed, sum []byte
	if err := fx.db.QueryRow(ctx, `SELECT content, sha256 FROM draft_file`).Scan(&sealed, &sum); err != nil {
		t.Fatal(err)
	}
	if plain, err := fx.svc.OpenFile(fx.officeID, "request_letter", sum, sealed); err != nil || string(plain) != pdf {
		t.Fatalf("open: %v", err)
	}
	if _, err := fx.svc.OpenFile(fx.officeID+1, "request_letter", sum, sealed); !errors.Is(err, crypto.ErrCorrupt) {
		t.Errorf("opened under another office: %v", err)
	}
	if _, err := fx.svc.OpenFile(fx.officeID, "proof", sum, sealed); !errors.Is(err, crypto.ErrCorrupt) {
		t.Errorf("opened under another question: %v", err)
	}

	// The citizen changes the reason: the letter's question is hidden, so
	// the letter does not go to the office.
	again.Answers.Values["reason"] = []string{"kur_reha"}
	r, err := fx.svc.Submit(ctx, again, f, "LEJ", "de")
	if err != nil {
		t.Fatal(err)
	}
	var attachments, draftFiles int
	if err := fx.db.QueryRow(ctx, `SELECT (SELECT count(*) FROM attachment), (SELECT count(*) FROM draft_file)`).Scan(&attachments, &draftFiles); err != nil {
		t.Fatal(err)
	}
	if attachments != 0 || draftFiles != 0 {
		t.Errorf("%d attachments and %d draft files left after submitting without the letter", attachments, draftFiles)
	}

	// Submitting again returns the first receipt.
	closed, err := fx.svc.OpenDraft(ctx, d.Token)
	if err != nil || closed.Submitted == nil {
		t.Fatalf("submitted draft: %v %+v", err, closed)
	}
	dup, err := fx.svc.Submit(ctx, closed, f, "LEJ", "de")
	if err != nil || !dup.Duplicate || dup.Reference != r.Reference || dup.AccessToken != r.AccessToken {
		t.Errorf("second submit: %+v, %v; first %+v", dup, err, r)
	}
	view, err := fx.svc.Lookup(ctx, r.AccessToken)
	if err != nil || view.Submission.Reference != r.Reference || len(view.Events) != 1 {
		t.Errorf("lookup: %+v %v", view, err)
	}
}

func TestAttachmentsGoWithTheSubmission(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t)
	f, _ := fx.set.Form("amtsaerztliches-gutachten")
	letter, _ := f.Field("request_letter")
	d := submission.NewDraft(fx.officeID, "amtsaerztliche-untersuchung", f.ID)
	completeGutachten(d.Answers)
	if err := fx.svc.SaveDraft(ctx, d); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.svc.AddFile(ctx, d, letter, "Auftrag.pdf", []byte(pdf)); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.svc.Submit(ctx, d, f, "LEJ", "de"); err != nil {
		t.Fatal(err)
	}
	var officeID int64
	var sealed, sum []byte
	if err := fx.db.QueryRow(ctx, `SELECT office_id, content, sha256 FROM attachment`).Scan(&officeID, &sealed, &sum); err != nil {
		t.Fatal(err)
	}
	if plain, err := fx.svc.OpenFile(officeID, "request_letter", sum, sealed); err != nil || string(plain) != pdf {
		t.Errorf("attachment does not open as the submitted file: %v", err)
	}
}
