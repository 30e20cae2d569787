package submission_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/gesundheitsamt/portal/forms"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/i18n"
	"github.com/gesundheitsamt/portal/internal/scan"
	"github.com/gesundheitsamt/portal/internal/scan/clamdtest"
	"github.com/gesundheitsamt/portal/internal/scan/scantest"
	"github.com/gesundheitsamt/portal/internal/submission"
	"github.com/gesundheitsamt/portal/locales"
)

// newLetterDraft is a saved draft of the medical report form and its
// upload field for the authority's letter (PDF, JPEG, PNG).
func newLetterDraft(t *testing.T, fx fixture) (*submission.Draft, *forms.Field) {
	t.Helper()
	f, _ := fx.set.Form("amtsaerztliches-gutachten")
	letter, _ := f.Field("request_letter")
	d := submission.NewDraft(fx.officeID, "amtsaerztliche-untersuchung", f.ID)
	completeGutachten(d.Answers)
	if err := fx.svc.SaveDraft(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	return d, letter
}

func (fx fixture) count(t *testing.T, table string) int {
	t.Helper()
	var n int
	if err := fx.db.QueryRow(context.Background(), `SELECT count(*) FROM `+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Each refused file gets its own message and leaves nothing stored.
func TestUploadChecksRefuseAndStoreNothing(t *testing.T) {
	fx := newFixture(t)
	d, letter := newLetterDraft(t, fx)
	photo := scantest.Photo(640, 480)
	for _, tt := range []struct {
		name    string
		file    string
		content []byte
		msg     string
	}{
		{"JavaScript", "auftrag.pdf", scantest.JavaScriptPDF(), submission.MsgFileActive},
		{"launch action", "auftrag.pdf", scantest.LaunchPDF(), submission.MsgFileActive},
		{"embedded file", "auftrag.pdf", scantest.EmbeddedFilePDF(), submission.MsgFileEmbedded},
		{"password", "auftrag.pdf", scantest.PasswordPDF(), submission.MsgFilePassword},
		{"unreadable PDF", "auftrag.pdf", []byte("%PDF-1.4\nkein PDF\n%%EOF\n"), submission.MsgFileDamaged},
		{"cut-off photo", "auftrag.jpg", photo[:len(photo)/3], submission.MsgFileDamaged},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := fx.svc.AddFile(context.Background(), d, letter, tt.file, tt.content)
			if fault.KindOf(err) != fault.Invalid || fault.MessageOf(err) != tt.msg {
				t.Fatalf("AddFile = %v, want Invalid %s", err, tt.msg)
			}
			if n := fx.count(t, "draft_file"); n != 0 || len(d.Answers.Files[letter.ID]) != 0 {
				t.Fatalf("%d files stored, %d listed", n, len(d.Answers.Files[letter.ID]))
			}
		})
	}
	if _, err := fx.svc.AddFile(context.Background(), d, letter, "auftrag.pdf", scantest.PDF("")); err != nil {
		t.Fatalf("a plain PDF: %v", err)
	}
}

// A photo is stored encoded again: without its EXIF (GPS), comment and
// appended data, with size and checksum of what is stored, and it opens
// as a submission's attachment under that checksum.
func TestImagesAreStoredWithoutMetadata(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name, file string
		content    []byte
		mediaType  string
		leaks      []string
	}{
		{"JPEG", "Auftrag.jpg", scantest.Photo(64, 48), "image/jpeg", []string{"Exif", scantest.GPSMarker, "Pixel 9", scantest.CommentMarker, scantest.AppendedMarker}},
		{"PNG", "Auftrag.png", scantest.Screenshot(64, 48), "image/png", []string{"tEXt", "eXIf", scantest.GPSMarker, scantest.CommentMarker, scantest.AppendedMarker}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t)
			d, letter := newLetterDraft(t, fx)
			file, err := fx.svc.AddFile(ctx, d, letter, tt.file, tt.content)
			if err != nil {
				t.Fatal(err)
			}
			var sealed, sum []byte
			var size int64
			if err := fx.db.QueryRow(ctx, `SELECT content, sha256, size FROM draft_file`).Scan(&sealed, &sum, &size); err != nil {
				t.Fatal(err)
			}
			stored, err := fx.svc.OpenFile(fx.officeID, letter.ID, sum, sealed)
			if err != nil {
				t.Fatal(err)
			}
			for _, leak := range tt.leaks {
				if !bytes.Contains(tt.content, []byte(leak)) {
					t.Fatalf("test file lacks %q", leak)
				}
				if bytes.Contains(stored, []byte(leak)) {
					t.Errorf("stored file still holds %q", leak)
				}
			}
			want := sha256.Sum256(stored)
			if !bytes.Equal(sum, want[:]) || file.SHA256 != hex.EncodeToString(want[:]) || size != int64(len(stored)) || file.Size != size {
				t.Errorf("stored %d bytes; row says %d bytes, sha256 %x; file %+v", len(stored), size, sum, file)
			}
			if file.MediaType != tt.mediaType || forms.SniffMediaType(stored) != tt.mediaType {
				t.Errorf("media type %s, stored sniffs as %s", file.MediaType, forms.SniffMediaType(stored))
			}
			f, _ := fx.set.Form("amtsaerztliches-gutachten")
			if _, err := fx.svc.Submit(ctx, d, f, "LEJ", "de"); err != nil {
				t.Fatal(err)
			}
			var officeID, subID, attID int64
			if err := fx.db.QueryRow(ctx, `SELECT office_id, submission_id, id FROM attachment`).Scan(&officeID, &subID, &attID); err != nil {
				t.Fatal(err)
			}
			a, plain, err := fx.svc.Attachment(ctx, officeID, subID, attID)
			if err != nil || !bytes.Equal(plain, stored) || a.Size != int64(len(stored)) {
				t.Fatalf("attachment: %v, %d bytes", err, len(plain))
			}
		})
	}
}

// openQuestion submits draft d and puts its case into Rückfrage, as
// staff would; it returns the citizen's access token.
func openQuestion(t *testing.T, fx fixture, d *submission.Draft) string {
	t.Helper()
	ctx := context.Background()
	f, _ := fx.set.Form("amtsaerztliches-gutachten")
	r, err := fx.svc.Submit(ctx, d, f, "LEJ", "de")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fx.db.Exec(ctx, `UPDATE submission SET status = 'rueckfrage'`); err != nil {
		t.Fatal(err)
	}
	return r.AccessToken
}

// With clamd configured, an infected file is refused, from a form step
// and in an answer to a Rückfrage, and nothing is stored; a clean one is
// taken. A clamd that does not answer refuses every file.
func TestVirusScan(t *testing.T) {
	ctx := context.Background()
	addr := clamdtest.Start(t, clamdtest.Options{})
	fx := newFixture(t)
	checker, err := scan.New(scan.Options{Clamd: addr})
	if err != nil {
		t.Fatal(err)
	}
	fx.svc = fx.world.Service(t, submission.Options{Scan: checker})
	d, letter := newLetterDraft(t, fx)

	infected := scantest.PDF("", scantest.Stream("", clamdtest.EICAR))
	if _, err := fx.svc.AddFile(ctx, d, letter, "auftrag.pdf", infected); fault.MessageOf(err) != submission.MsgFileVirus {
		t.Fatalf("infected PDF: %v", err)
	}
	photo := scantest.WithComment(scantest.Photo(32, 32), clamdtest.EICAR)
	if _, err := fx.svc.AddFile(ctx, d, letter, "auftrag.jpg", photo); fault.MessageOf(err) != submission.MsgFileVirus {
		t.Fatalf("infected JPEG: %v", err)
	}
	if n := fx.count(t, "draft_file"); n != 0 {
		t.Fatalf("%d infected files stored", n)
	}
	if _, err := fx.svc.AddFile(ctx, d, letter, "auftrag.pdf", scantest.PDF("")); err != nil {
		t.Fatalf("clean PDF: %v", err)
	}

	token := openQuestion(t, fx, d)
	err = fx.svc.Answer(ctx, token, "Anbei der Befund.", []submission.Upload{{Name: "befund.pdf", Content: infected}})
	var fe *submission.FileError
	if fault.KindOf(err) != fault.Invalid || fault.MessageOf(err) != submission.MsgFileVirus || !errors.As(err, &fe) || fe.Name != "befund.pdf" {
		t.Fatalf("answer with an infected file: %v", err)
	}
	var status string
	if err := fx.db.QueryRow(ctx, `SELECT status FROM submission`).Scan(&status); err != nil || status != "rueckfrage" {
		t.Fatalf("status %q after a refused answer (%v)", status, err)
	}
	if n := fx.count(t, "attachment"); n != 1 { // the clean letter only
		t.Fatalf("%d attachments after a refused answer", n)
	}
	if err := fx.svc.Answer(ctx, token, "Anbei der Befund.", []submission.Upload{{Name: "befund.pdf", Content: scantest.PDF("")}}); err != nil {
		t.Fatalf("answer with a clean file: %v", err)
	}

	// Configured, but clamd is gone: fail closed.
	down, err := scan.New(scan.Options{Clamd: "unix:/nonexistent/clamd.sock"})
	if err != nil {
		t.Fatal(err)
	}
	fx.svc = fx.world.Service(t, submission.Options{Scan: down})
	d2, _ := newLetterDraft(t, fx)
	if _, err := fx.svc.AddFile(ctx, d2, letter, "auftrag.pdf", scantest.PDF("")); fault.KindOf(err) != fault.Invalid || fault.MessageOf(err) != submission.MsgFileNotNow {
		t.Fatalf("with clamd down: %v", err)
	}
	if n := fx.count(t, "draft_file"); n != 0 {
		t.Fatalf("%d draft files with clamd down", n)
	}
	if st := fx.svc.VirusScan(ctx); !st.Configured || st.Version != "" {
		t.Errorf("VirusScan = %+v", st)
	}
}

// Every reason a file is refused has its text in German (and so, by
// internal/i18n's tests, in English), with the file's name in it.
func TestFileMessagesExist(t *testing.T) {
	b, err := i18n.New(locales.FS)
	if err != nil {
		t.Fatal(err)
	}
	de := b.Localizer("de")
	for _, id := range submission.FileMessages() {
		if !de.Has(id) {
			t.Errorf("no text for %s", id)
		}
		if id != submission.MsgFileCount && !bytes.Contains([]byte(de.Tf(id, "File", "befund.pdf")), []byte("befund.pdf")) {
			t.Errorf("%s does not name the file", id)
		}
	}
}
