package backup_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/gesundheitsamt/portal/forms"
	"github.com/gesundheitsamt/portal/internal/audit"
	"github.com/gesundheitsamt/portal/internal/backup"
	"github.com/gesundheitsamt/portal/internal/crypto"
	"github.com/gesundheitsamt/portal/internal/demo"
	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/pgembed"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/store/storetest"
	"github.com/gesundheitsamt/portal/internal/submission"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

var (
	encKey    = []byte("0123456789abcdef0123456789abcdef")
	secretKey = []byte("backup-test-secret-backup-test-secret")
	quiet     = slog.New(slog.DiscardHandler)
)

const pdf = "%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"

func tools(t *testing.T) string {
	t.Helper()
	dir, err := pgembed.FindTools("", "pg_dump", "pg_restore")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func open(t *testing.T, dsn string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

// submitWithLetter submits the medical report form with the authority's
// letter attached to office leipzig and returns its reference.
func submitWithLetter(t *testing.T, db *store.DB, letter string) string {
	t.Helper()
	ctx := context.Background()
	set, err := forms.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	svc, err := submission.New(submission.Options{
		DB: db, Engine: forms.NewEngine(forms.NewValidator(), berlin), Secret: secretKey, EncryptionKey: encKey, Location: berlin,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.SaveDefinitions(ctx, set); err != nil {
		t.Fatal(err)
	}
	office, err := store.GetOfficeBySlug(ctx, db, "leipzig")
	if err != nil {
		t.Fatal(err)
	}
	f, _ := set.Form("amtsaerztliches-gutachten")
	field, _ := f.Field("request_letter")
	d := submission.NewDraft(office.ID, "amtsaerztliche-untersuchung", f.ID)
	for k, v := range map[string]string{
		"reason": "dienstfaehigkeit", "file_number": "P-1", "authority": "Landesamt", "disability": "nein",
		"given_name": "Zoë", "family_name": "Ó Briain", "date_of_birth": "1980-02-03", "street": "Markt 1",
		"postal_code": "04109", "city": "Leipzig", "email": "zoe@example.org",
	} {
		d.Answers.Values[k] = []string{v}
	}
	d.Answers.Done = []string{"anlass", "auftrag", "gesundheit", "kontakt"}
	if err := svc.SaveDraft(ctx, d); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AddFile(ctx, d, field, "Auftrag.pdf", []byte(letter)); err != nil {
		t.Fatal(err)
	}
	r, err := svc.Submit(ctx, d, f, "LEJ", "de")
	if err != nil {
		t.Fatal(err)
	}
	if err := audit.AppendNow(ctx, db, audit.Entry{OfficeID: office.ID, Actor: domain.StaffMember(1), Action: domain.CaseRead, Object: domain.Object("submission:" + r.Reference)}); err != nil {
		t.Fatal(err)
	}
	return r.Reference
}

// seeded is a migrated database with the demo offices, two submissions
// with attachments and audit entries.
func seeded(t *testing.T) (dsn string, db *store.DB) {
	t.Helper()
	dsn = storetest.DSN(t)
	db = open(t, dsn)
	if err := demo.Seed(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	submitWithLetter(t, db, pdf)
	submitWithLetter(t, db, strings.Replace(pdf, "1.4", "1.7", 1))
	return dsn, db
}

// writeBackup backs src up into a file and returns its path and manifest.
func writeBackup(t *testing.T, dsn string, db *store.DB) (string, backup.Manifest) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "portal.dump")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := backup.Write(context.Background(), f, backup.Source{DB: db, DSN: dsn, Tools: tools(t)}, backup.Manifest{
		PortalVersion: "test", Source: "external", EncryptionKey: crypto.Fingerprint(encKey), SecretKey: crypto.Fingerprint(secretKey),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path, m
}

func openBackup(t *testing.T, path string) *backup.File {
	t.Helper()
	bf, err := backup.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bf.Close() })
	return bf
}

// attachments returns the plaintext of every attachment of db, opened with
// key, by submission reference.
func attachments(t *testing.T, db *store.DB, key []byte) map[string]string {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT s.reference, a.office_id, a.field_id, a.sha256, a.content
		FROM attachment a JOIN submission s ON s.id = a.submission_id AND s.office_id = a.office_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	box, _ := crypto.NewBox(key)
	out := map[string]string{}
	for rows.Next() {
		var ref, field string
		var office int64
		var sum, sealed []byte
		if err := rows.Scan(&ref, &office, &field, &sum, &sealed); err != nil {
			t.Fatal(err)
		}
		plain, err := box.Open(sealed, submission.FileAAD(office, field, sum))
		if err != nil {
			t.Fatalf("attachment of %s does not open: %v", ref, err)
		}
		out[ref] = string(plain)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRestoreFindsEverySubmissionAttachmentAndAuditEntry(t *testing.T) {
	ctx := context.Background()
	srcDSN, src := seeded(t)
	path, m := writeBackup(t, srcDSN, src)
	wantFiles := attachments(t, src, encKey)
	wantAudit := storetest.AuditHashes(t, src)

	var leipzig store.OfficeCounts
	for _, c := range m.Offices {
		if c.Slug == "leipzig" {
			leipzig = c
		}
	}
	// Two submissions, each with a letter; per submission an audit entry,
	// and one per office for the backup itself.
	if leipzig.Submissions != 2 || leipzig.Attachments != 2 || leipzig.AuditEntries != 3 {
		t.Errorf("manifest counts leipzig %+v", leipzig)
	}
	if m.SchemaVersion != store.LatestSchemaVersion() || m.PostgresVersion == "" || m.CreatedAt.IsZero() {
		t.Errorf("manifest %+v", m)
	}
	raw, _ := os.ReadFile(path)
	if bytes.Contains(raw, encKey) || bytes.Contains(raw, secretKey) {
		t.Fatal("the backup holds a key")
	}

	dstDSN := storetest.EmptyDSN(t)
	dst := open(t, dstDSN)
	target := backup.Target{DB: dst, DSN: dstDSN, Tools: tools(t), EncryptionKey: encKey, SecretKey: secretKey, Log: quiet}
	began := time.Now()
	r, err := backup.Restore(ctx, openBackup(t, path), target)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("backup of %d bytes restored in %v", len(raw), time.Since(began).Round(time.Millisecond))
	if len(r.Warnings) != 0 {
		t.Errorf("warnings with the right keys: %v", r.Warnings)
	}
	gotFiles := attachments(t, dst, encKey)
	if len(gotFiles) != len(wantFiles) || len(gotFiles) != 2 {
		t.Errorf("%d attachments restored, want %d", len(gotFiles), len(wantFiles))
	}
	for ref, content := range wantFiles {
		if gotFiles[ref] != content {
			t.Errorf("attachment of %s restored as %q", ref, gotFiles[ref])
		}
	}
	gotAudit := storetest.AuditHashes(t, dst)
	for id, h := range wantAudit {
		if gotAudit[id] != h {
			t.Errorf("audit entry %d: restored %q, want %q", id, gotAudit[id], h)
		}
	}
	if len(gotAudit) != len(wantAudit)+len(m.Offices) {
		t.Errorf("%d audit entries after the restore, want the %d of the backup and one per office", len(gotAudit), len(wantAudit))
	}
	if n, err := audit.Verify(ctx, dst, 0); err != nil || n != len(gotAudit) {
		t.Errorf("audit verify on the restored copy: %d, %v", n, err)
	}
	if r.AuditEntries != len(wantAudit) {
		t.Errorf("report: %d audit entries verified, want %d", r.AuditEntries, len(wantAudit))
	}
	var restoreEntry string
	if err := dst.QueryRow(ctx, `SELECT object FROM audit_log WHERE action = 'database.restore' LIMIT 1`).Scan(&restoreEntry); err != nil ||
		restoreEntry != "backup:"+m.CreatedAt.Format(time.RFC3339) {
		t.Errorf("restore entry %q, %v", restoreEntry, err)
	}
	// Identity columns go on after the restored ids.
	next := submitWithLetter(t, dst, pdf)
	if next == "" {
		t.Error("no submission into the restored database")
	}

	// The restored database is not empty: a second restore is refused and
	// changes nothing.
	before := storetest.AuditHashes(t, dst)
	_, err = backup.Restore(ctx, openBackup(t, path), target)
	if fault.KindOf(err) != fault.Conflict || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("restore into a database with data: %v", err)
	}
	if after := storetest.AuditHashes(t, dst); len(after) != len(before) {
		t.Errorf("the refused restore changed the audit log: %d entries, were %d", len(after), len(before))
	}
}

func TestRestoreRefusesAnotherEncryptionKey(t *testing.T) {
	ctx := context.Background()
	srcDSN, src := seeded(t)
	path, m := writeBackup(t, srcDSN, src)
	other := []byte("ffffffffffffffffffffffffffffffff")

	for _, tt := range []struct {
		name string
		key  []byte
		kind fault.Kind
		want string
	}{
		{"other key", other, fault.Conflict, crypto.Fingerprint(other)},
		{"no key", nil, fault.Invalid, "PORTAL_ENCRYPTION_KEY"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dstDSN := storetest.EmptyDSN(t)
			dst := open(t, dstDSN)
			_, err := backup.Restore(ctx, openBackup(t, path), backup.Target{DB: dst, DSN: dstDSN, Tools: tools(t), EncryptionKey: tt.key, SecretKey: secretKey, Log: quiet})
			if fault.KindOf(err) != tt.kind || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), m.EncryptionKey) || !strings.Contains(err.Error(), "--force") {
				t.Fatalf("restore with %s: %v", tt.name, err)
			}
			if names, _ := store.Relations(ctx, dst); len(names) != 0 {
				t.Errorf("a refused restore left %v", names)
			}
		})
	}

	t.Run("forced", func(t *testing.T) {
		dstDSN := storetest.EmptyDSN(t)
		dst := open(t, dstDSN)
		r, err := backup.Restore(ctx, openBackup(t, path), backup.Target{DB: dst, DSN: dstDSN, Tools: tools(t), EncryptionKey: other, Force: true, Log: quiet})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Warnings) != 2 || !strings.Contains(r.Warnings[0], "--force") || !strings.Contains(r.Warnings[1], "PORTAL_SECRET_KEY") {
			t.Errorf("warnings %q", r.Warnings)
		}
	})
}

// TestRestoreOfAnOlderBackupMigrates backs up a database of an older
// portal (the migrations up to the audit log) and restores it: the
// restore applies what is missing, the job queue's tables included.
func TestRestoreOfAnOlderBackupMigrates(t *testing.T) {
	ctx := context.Background()
	const old = 5
	srcDSN := storetest.EmptyDSN(t)
	src := open(t, srcDSN)
	sqlDB := src.SQLDB()
	defer sqlDB.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, sqlDB, os.DirFS("../store/migrations"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := provider.UpTo(ctx, old); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Exec(ctx, `INSERT INTO office (slug, code, name) VALUES ('alt', 'ALT', 'Gesundheitsamt Alt')`); err != nil {
		t.Fatal(err)
	}
	path, m := writeBackup(t, srcDSN, src)
	if m.SchemaVersion != old {
		t.Fatalf("manifest schema version %d", m.SchemaVersion)
	}

	dstDSN := storetest.EmptyDSN(t)
	dst := open(t, dstDSN)
	r, err := backup.Restore(ctx, openBackup(t, path), backup.Target{DB: dst, DSN: dstDSN, Tools: tools(t), EncryptionKey: encKey, SecretKey: secretKey, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if r.SchemaFrom != old || r.SchemaTo != store.LatestSchemaVersion() {
		t.Errorf("schema %d → %d, want %d → %d", r.SchemaFrom, r.SchemaTo, old, store.LatestSchemaVersion())
	}
	if _, err := store.CountPendingJobs(ctx, dst); err != nil {
		t.Errorf("the job queue was not migrated: %v", err)
	}
	if o, err := store.GetOfficeBySlug(ctx, dst, "alt"); err != nil || o.Notify == "" {
		t.Errorf("office after the migrations: %+v, %v", o, err)
	}
}

func TestRestoreRefusesABackupOfANewerPortal(t *testing.T) {
	srcDSN, src := seeded(t)
	path, _ := writeBackup(t, srcDSN, src)
	bf := openBackup(t, path)
	bf.Manifest.SchemaVersion = store.LatestSchemaVersion() + 1
	dstDSN := storetest.EmptyDSN(t)
	_, err := backup.Restore(context.Background(), bf, backup.Target{DB: open(t, dstDSN), DSN: dstDSN, Tools: tools(t), EncryptionKey: encKey, SecretKey: secretKey, Log: quiet})
	if fault.KindOf(err) != fault.Conflict || !strings.Contains(err.Error(), "newer portal") {
		t.Errorf("restore of a newer schema: %v", err)
	}
}

func TestBackupOfADatabaseWithoutPortalData(t *testing.T) {
	dsn := storetest.EmptyDSN(t)
	var out bytes.Buffer
	_, err := backup.Write(context.Background(), &out, backup.Source{DB: open(t, dsn), DSN: dsn, Tools: tools(t)}, backup.Manifest{})
	if fault.KindOf(err) != fault.NotFound || out.Len() != 0 {
		t.Errorf("backup of an empty database: %v, %d bytes", err, out.Len())
	}
}

func TestPgDumpErrorsAreShown(t *testing.T) {
	_, db := seeded(t)
	var out bytes.Buffer
	_, err := backup.Write(context.Background(), &out, backup.Source{DB: db, DSN: "host=/nonexistent port=5432 dbname=portal", Tools: tools(t)}, backup.Manifest{})
	if err == nil || !strings.Contains(err.Error(), "pg_dump failed") || !strings.Contains(err.Error(), "/nonexistent") {
		t.Errorf("pg_dump against nothing: %v", err)
	}
}
