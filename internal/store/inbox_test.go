package store_test

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gesundheitsamt/portal/internal/demo"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/store/storetest"
	"github.com/gesundheitsamt/portal/internal/submission"
)

// insertCases adds n bare submissions with status to office officeID.
func insertCases(t testing.TB, q store.Querier, officeID int64, status string, n int, text string) {
	t.Helper()
	if err := insertCasesErr(q, officeID, status, n, text); err != nil {
		t.Fatal(err)
	}
}

// insertCasesErr is insertCases for other goroutines than the test's.
func insertCasesErr(q store.Querier, officeID int64, status string, n int, text string) error {
	ctx := context.Background()
	if _, err := q.Exec(ctx, `INSERT INTO form_definition (form_id, hash, version, source)
		VALUES ('f', repeat('0', 64), 1, '') ON CONFLICT DO NOTHING`); err != nil {
		return err
	}
	for range n {
		token := make([]byte, 32)
		_, _ = rand.Read(token)
		draft := int64(binary.BigEndian.Uint64(token) >> 1)
		_, err := q.Exec(ctx, `
INSERT INTO submission (office_id, service_slug, form_id, form_version, form_hash, locale, reference,
                        access_token_hash, draft_id, status, data, record_sha256, search, search_all)
VALUES ($1, 'terminanfrage', 'f', 1, repeat('0', 64), 'de', $2, $3, $4, $5, '{}', '\x00',
        to_tsvector('german', $6), to_tsvector('german', $6))`,
			officeID, submission.NewReference("LEJ", 2026), token, -draft, status, text)
		if err != nil {
			return err
		}
	}
	return nil
}

func offices(t testing.TB, db *store.DB) (leipzig, halle int64) {
	t.Helper()
	ctx := context.Background()
	if err := demo.Seed(ctx, db); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(ctx, `SELECT (SELECT id FROM office WHERE slug = 'leipzig'), (SELECT id FROM office WHERE slug = 'halle')`).Scan(&leipzig, &halle); err != nil {
		t.Fatal(err)
	}
	return leipzig, halle
}

// The counts per status are deltas appended by triggers and folded by
// readers; whatever happens concurrently, they must equal count(*).
func TestCountsByStatusStayExactUnderConcurrentFolds(t *testing.T) {
	ctx := context.Background()
	db := storetest.New(t)
	leipzig, halle := offices(t, db)
	insertCases(t, db, halle, "eingegangen", 3, "")

	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 4 {
		wg.Add(1)
		go func() { // writers: inserts, status changes, a delete
			defer wg.Done()
			for i := range 40 {
				if err := insertCasesErr(db, leipzig, "eingegangen", 2, ""); err != nil {
					errs <- err
					return
				}
				if _, err := db.Exec(ctx, `UPDATE submission SET status = 'in_bearbeitung'
					WHERE id = (SELECT id FROM submission WHERE office_id = $1 AND status = 'eingegangen' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)`, leipzig); err != nil {
					errs <- err
					return
				}
				if i%10 == w {
					if _, err := db.Exec(ctx, `DELETE FROM submission WHERE id = (SELECT max(id) FROM submission WHERE office_id = $1)`, leipzig); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	for range 4 {
		wg.Add(1)
		go func() { // readers, folding as they go
			defer wg.Done()
			for range 60 {
				if _, err := store.CountByStatus(ctx, db, leipzig); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, office := range []int64{leipzig, halle} {
		got, err := store.CountByStatus(ctx, db, office)
		if err != nil {
			t.Fatal(err)
		}
		rows, _ := db.Query(ctx, `SELECT status, count(*) FROM submission WHERE office_id = $1 GROUP BY status`, office)
		want := map[string]int64{}
		for rows.Next() {
			var s string
			var n int64
			_ = rows.Scan(&s, &n)
			want[s] = n
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("office %d: counts %v, count(*) %v", office, got, want)
		}
	}
	var deltas int
	_ = db.QueryRow(ctx, `SELECT count(*) FROM case_count WHERE office_id = $1`, leipzig).Scan(&deltas)
	if deltas > 256+16 {
		t.Errorf("%d delta rows left: folding does not keep up", deltas)
	}
}

func TestListCasesNeverCrossesOffices(t *testing.T) {
	ctx := context.Background()
	db := storetest.New(t)
	leipzig, halle := offices(t, db)
	insertCases(t, db, leipzig, "eingegangen", 3, "Schneider Impfung")
	insertCases(t, db, halle, "eingegangen", 3, "Schneider Impfung")
	var halleRef string
	_ = db.QueryRow(ctx, `SELECT reference FROM submission WHERE office_id = $1 LIMIT 1`, halle).Scan(&halleRef)
	for name, f := range map[string]store.CaseFilter{
		"all":       {},
		"status":    {Status: "eingegangen"},
		"service":   {Service: "terminanfrage"},
		"unread":    {Unread: true},
		"text":      {Text: "Schneider"},
		"medical":   {Text: "Schneider", Medical: true},
		"reference": {Reference: halleRef},
		"nobody":    {Assignee: store.AssigneeNone},
		"oldest":    {Oldest: true},
		"dates":     {From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Hour)},
	} {
		f.OfficeID, f.Limit = leipzig, 100
		rows, err := store.ListCases(ctx, db, f)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var n int
		err = store.EachCase(ctx, db, f, func(r store.ExportRow) error {
			n++
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, r := range rows {
			if r.Reference == halleRef {
				t.Errorf("%s: lists Halle's case", name)
			}
		}
		want := 3
		if name == "reference" {
			want = 0
		}
		if len(rows) != want || n != want {
			t.Errorf("%s: %d listed, %d exported, want %d", name, len(rows), n, want)
		}
	}
}

func TestSearchThatRunsTooLongIsCancelled(t *testing.T) {
	ctx := context.Background()
	db := storetest.New(t)
	leipzig, _ := offices(t, db)
	insertCases(t, db, leipzig, "eingegangen", 1, "Schneider")
	// A search that cannot finish: the table is locked by another
	// transaction, and waiting counts against the statement's time.
	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	if _, err := tx.Exec(ctx, `LOCK TABLE submission IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = db.ListCasesWithin(ctx, store.CaseFilter{OfficeID: leipzig, Text: "Schneider", Limit: 51}, 50*time.Millisecond)
	if fault.KindOf(err) != fault.Invalid || fault.MessageOf(err) != store.MsgSearchTooBroad {
		t.Fatalf("got %v, want the too-broad message", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("cancelled after %v", took)
	}
	_ = tx.Rollback(ctx)
	rows, err := db.ListCasesWithin(ctx, store.CaseFilter{OfficeID: leipzig, Text: "Schneider", Limit: 51}, time.Second)
	if err != nil || len(rows) != 1 {
		t.Fatalf("after the lock: %d rows, %v", len(rows), err)
	}
}
