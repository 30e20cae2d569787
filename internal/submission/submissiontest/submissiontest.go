// Package submissiontest builds what the tests of the services around
// submissions start from: a fresh database with the demo offices and the
// shipped forms, and submission services on it built as the wiring
// builds them, with the tests' own keys.
package submissiontest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gesundheitsamt/portal/forms"
	"github.com/gesundheitsamt/portal/internal/demo"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/store/storetest"
	"github.com/gesundheitsamt/portal/internal/submission"
)

// EncryptionKey seals the tests' uploads; Secret derives their access
// tokens.
var (
	EncryptionKey = []byte("0123456789abcdef0123456789abcdef")
	Secret        = []byte("secret")
)

// World is a database with the demo data and the shipped forms.
type World struct {
	DB       *store.DB
	Forms    *forms.Set
	Location *time.Location // Europe/Berlin
}

// New returns a fresh database (storetest.New) with the demo offices and
// services, and the shipped form definitions kept in it.
func New(t testing.TB) World {
	t.Helper()
	db := storetest.New(t)
	if err := demo.Seed(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	set, err := forms.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	w := World{DB: db, Forms: set, Location: berlin}
	if err := w.Service(t, submission.Options{}).SaveDefinitions(context.Background(), set); err != nil {
		t.Fatal(err)
	}
	return w
}

// Service returns a submission service on w: o as given, with the
// database, engine, keys and time zone filled in.
func (w World) Service(t testing.TB, o submission.Options) *submission.Service {
	t.Helper()
	o.DB, o.Engine, o.Location = w.DB, forms.NewEngine(forms.NewValidator(), w.Location), w.Location
	o.Secret, o.EncryptionKey = Secret, EncryptionKey
	svc, err := submission.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// PDF is the smallest PDF the upload checks accept.
const PDF = "%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"

// Case is a submitted case as a test refers to it.
type Case struct {
	ID    int64
	Token string // the citizen's access token
	Ref   string
}

// SubmitGutachten submits, through svc, a medical report case
// (amtsaerztliche-untersuchung) at office o from a citizen named family:
// the medical answer medication names medication, and the request letter
// is attached as letterName.
func (w World) SubmitGutachten(t testing.TB, svc *submission.Service, o store.Office, family, medication, letterName string) Case {
	t.Helper()
	ctx := context.Background()
	f, _ := w.Forms.Form("amtsaerztliches-gutachten")
	d := submission.NewDraft(o.ID, "amtsaerztliche-untersuchung", f.ID)
	for k, v := range map[string]string{
		"reason": "dienstfaehigkeit", "file_number": "P-1", "authority": "Landesamt", "disability": "nein",
		"medication": medication,
		"given_name": "Zoë", "family_name": family, "date_of_birth": "1980-02-03", "street": "Markt 1",
		"postal_code": "04109", "city": "Leipzig", "email": strings.ToLower(family) + "@example.org",
	} {
		d.Answers.Values[k] = []string{v}
	}
	d.Answers.Done = []string{"anlass", "auftrag", "gesundheit", "kontakt"}
	if err := svc.SaveDraft(ctx, d); err != nil {
		t.Fatal(err)
	}
	letter, _ := f.Field("request_letter")
	if _, err := svc.AddFile(ctx, d, letter, letterName, []byte(PDF)); err != nil {
		t.Fatal(err)
	}
	r, err := svc.Submit(ctx, d, f, o.Code, "de")
	if err != nil {
		t.Fatal(err)
	}
	k := Case{Token: r.AccessToken, Ref: r.Reference}
	if err := w.DB.QueryRow(ctx, `SELECT id FROM submission WHERE draft_id = $1`, d.ID).Scan(&k.ID); err != nil {
		t.Fatal(err)
	}
	return k
}
