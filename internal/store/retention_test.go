package store_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/store/storetest"
	"github.com/gesundheitsamt/portal/internal/submission"
)

// TestMigrationBackfillsClosingTimes: cases closed before migration 00013
// get the time of the status event that closed them (else their last
// change); open cases none.
func TestMigrationBackfillsClosingTimes(t *testing.T) {
	ctx := context.Background()
	db := storetest.New(t)
	leipzig, _ := offices(t, db)
	sqlDB := db.SQLDB()
	defer sqlDB.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, sqlDB, os.DirFS("migrations"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := provider.DownTo(ctx, 12); err != nil {
		t.Fatal(err)
	}
	insertCases(t, db, leipzig, "abgeschlossen", 1, "mit Ereignis")
	insertCases(t, db, leipzig, "abgelehnt", 1, "ohne Ereignis")
	insertCases(t, db, leipzig, "in_bearbeitung", 1, "offen")
	closed := time.Date(2025, 11, 3, 9, 30, 0, 0, time.UTC)
	changed := time.Date(2025, 12, 24, 12, 0, 0, 0, time.UTC)
	if _, err := db.Exec(ctx, `UPDATE submission SET updated_at = $1`, changed); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO case_event (submission_id, office_id, kind, status, at)
		SELECT id, office_id, 'status', 'abgeschlossen', $1 FROM submission WHERE status = 'abgeschlossen'`, closed); err != nil {
		t.Fatal(err)
	}
	if _, err := provider.UpTo(ctx, 13); err != nil {
		t.Fatal(err)
	}
	for status, want := range map[string]*time.Time{"abgeschlossen": &closed, "abgelehnt": &changed, "in_bearbeitung": nil} {
		var got *time.Time
		if err := db.QueryRow(ctx, `SELECT closed_at FROM submission WHERE status = $1`, status).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if (got == nil) != (want == nil) || (got != nil && !got.Equal(*want)) {
			t.Errorf("%s: closed_at %v, want %v", status, got, want)
		}
	}
}

// TestReferenceOfADeletedCaseIsNeverDrawnAgain: a reference number whose
// case was deleted stays taken (its tombstone names it), so an old status
// link or a letter quoting it never points at someone else's case.
func TestReferenceOfADeletedCaseIsNeverDrawnAgain(t *testing.T) {
	ctx := context.Background()
	db := storetest.New(t)
	leipzig, _ := offices(t, db)
	if _, err := db.Exec(ctx, `INSERT INTO form_definition (form_id, hash, version, source)
		VALUES ('f', repeat('0', 64), 1, '') ON CONFLICT DO NOTHING`); err != nil {
		t.Fatal(err)
	}
	ref := submission.NewReference("LEJ", 2026)
	if _, err := db.Exec(ctx, `INSERT INTO case_tombstone (id, office_id, service_slug, form_id, form_version, reference,
		access_token_hash, submitted_at, closed_at, deleted_at) VALUES (424242, $1, 'terminanfrage', 'f', 1, $2, '\x01', now(), now(), now())`,
		leipzig, ref); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO draft (token_hash, office_id, service_slug, form_id, answers, expires_at)
		VALUES ('\x02', $1, 'terminanfrage', 'f', '{}', now() + interval '1 day')`, leipzig); err != nil {
		t.Fatal(err)
	}
	var draft int64
	if err := db.QueryRow(ctx, `SELECT id FROM draft`).Scan(&draft); err != nil {
		t.Fatal(err)
	}
	s := store.Submission{OfficeID: leipzig, ServiceSlug: "terminanfrage", FormID: "f", FormVersion: 1, FormHash: "0000000000000000000000000000000000000000000000000000000000000000",
		Locale: "de", Reference: ref, AccessTokenHash: []byte{3}, DraftID: draft, Data: []byte(`{}`), RecordSHA256: []byte{0}}
	if ok, err := store.InsertSubmission(ctx, db, &s, nil); err != nil || ok {
		t.Fatalf("a deleted case's reference was drawn again: inserted %v, %v", ok, err)
	}
	s.Reference = submission.NewReference("LEJ", 2026)
	if ok, err := store.InsertSubmission(ctx, db, &s, nil); err != nil || !ok {
		t.Fatalf("a fresh reference: inserted %v, %v", ok, err)
	}
}

// TestDueCasesListHoldsAndStaysInItsOffice: the admin's list takes the
// cut of each service, shows held cases too, never another office's, in
// the order they are due, page by page.
func TestDueCasesListHoldsAndStaysInItsOffice(t *testing.T) {
	ctx := context.Background()
	db := storetest.New(t)
	leipzig, halle := offices(t, db)
	insertCases(t, db, leipzig, "abgeschlossen", 4, "")
	insertCases(t, db, leipzig, "in_bearbeitung", 1, "")
	insertCases(t, db, halle, "abgeschlossen", 1, "")
	base := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	if _, err := db.Exec(ctx, `UPDATE submission SET closed_at = $1::timestamptz + (id % 1000) * interval '1 day'
		WHERE status = 'abgeschlossen'`, base); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `UPDATE submission SET hold_at = now(), hold_reason = 'Klage'
		WHERE id = (SELECT min(id) FROM submission WHERE office_id = $1)`, leipzig); err != nil {
		t.Fatal(err)
	}
	cuts := []store.DueCut{{Service: "terminanfrage", ClosedBy: base.AddDate(1, 0, 0), Months: 6}}
	rows, err := store.ListDueCases(ctx, db, leipzig, cuts, store.Cursor{}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[0].HoldAt == nil {
		t.Fatalf("first page: %+v (want 3, the held first: it closed first)", rows)
	}
	next, err := store.ListDueCases(ctx, db, leipzig, cuts, store.Cursor{At: rows[2].Due, ID: rows[2].ID}, 3)
	if err != nil || len(next) != 1 || next[0].ID == rows[2].ID {
		t.Fatalf("second page: %+v %v", next, err)
	}
	for _, r := range append(rows, next...) {
		if r.Status != "abgeschlossen" {
			t.Errorf("an open case is listed: %+v", r)
		}
	}
	// Nothing closed by then, and another office's cuts: nothing.
	early := []store.DueCut{{Service: "terminanfrage", ClosedBy: base.Add(-time.Hour), Months: 6}}
	if rows, err := store.ListDueCases(ctx, db, leipzig, early, store.Cursor{}, 10); err != nil || len(rows) != 0 {
		t.Errorf("before any closing: %d rows, %v", len(rows), err)
	}
	pairs, err := store.ListClosedPairs(ctx, db)
	if err != nil || len(pairs) != 2 {
		t.Errorf("closed pairs %v, %v; want Leipzig's and Halle's terminanfrage", pairs, err)
	}
	// The inbox's filter with the same cuts: the export of these cases.
	n := 0
	err = store.EachCase(ctx, db, store.CaseFilter{OfficeID: leipzig, Due: cuts}, func(store.ExportRow) error { n++; return nil })
	if err != nil || n != 4 {
		t.Errorf("export of the due cases: %d, %v", n, err)
	}
	err = store.EachCase(ctx, db, store.CaseFilter{OfficeID: leipzig, Due: []store.DueCut{}}, func(store.ExportRow) error { n++; return nil })
	if err != nil || n != 4 {
		t.Errorf("no cuts must select nothing: %d, %v", n-4, err)
	}
}
