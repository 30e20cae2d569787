package audit_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/gesundheitsamt/portal/internal/audit"
	"github.com/gesundheitsamt/portal/internal/demo"
	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

func setup(t *testing.T) (*store.DB, int64, int64) {
	t.Helper()
	db := storetest.New(t)
	if err := demo.Seed(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	var lej, hal int64
	if err := db.QueryRow(context.Background(), `SELECT (SELECT id FROM office WHERE slug = 'leipzig'), (SELECT id FROM office WHERE slug = 'halle')`).Scan(&lej, &hal); err != nil {
		t.Fatal(err)
	}
	return db, lej, hal
}

func TestChainAppendOnlyAndTamperDetection(t *testing.T) {
	ctx := context.Background()
	db, lej, hal := setup(t)

	// Appends from eight goroutines to two offices: each chain stays a line.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			office := []int64{lej, hal}[i%2]
			for j := range 5 {
				if err := audit.AppendNow(ctx, db, audit.Entry{OfficeID: office, Actor: domain.StaffMember(int64(i)), Action: domain.CaseRead, Object: domain.CaseObject(int64(j))}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if n, err := audit.Verify(ctx, db, 0); err != nil || n != 40 {
		t.Fatalf("verify: %d entries, %v", n, err)
	}
	// The log page pages back by id; one beyond int4 (a typed ?vor=) is
	// no error.
	if page, err := audit.List(ctx, db, lej, 3_000_000_000, 100); err != nil || len(page) != 20 {
		t.Errorf("paging from a large id: %d entries, %v", len(page), err)
	}

	// The database refuses changes and removal, even for the table's owner.
	for _, sql := range []string{
		`UPDATE audit_log SET actor = 'staff:99' WHERE id = 3`,
		`DELETE FROM audit_log WHERE id = 3`,
		`TRUNCATE audit_log`,
	} {
		if _, err := db.Exec(ctx, sql); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v", sql, err)
		}
	}

	// Someone with the power to switch the triggers off changes an entry,
	// then removes one: verify names each.
	var victim, next int64
	if err := db.QueryRow(ctx, `SELECT id FROM audit_log WHERE office_id = $1 ORDER BY id OFFSET 3 LIMIT 1`, lej).Scan(&victim); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `ALTER TABLE audit_log DISABLE TRIGGER USER;
		UPDATE audit_log SET object = 'submission:999' WHERE id = `+fmt.Sprint(victim)+`;
		ALTER TABLE audit_log ENABLE TRIGGER USER`); err != nil {
		t.Fatal(err)
	}
	_, err := audit.Verify(ctx, db, lej)
	var broken *audit.BrokenError
	if !errors.As(err, &broken) || broken.EntryID != victim || !strings.Contains(broken.Reason, "content") {
		t.Fatalf("changed entry %d: %v", victim, err)
	}
	if _, err := audit.Verify(ctx, db, hal); err != nil {
		t.Errorf("the other office's chain: %v", err)
	}
	if err := db.QueryRow(ctx, `SELECT id FROM audit_log WHERE office_id = $1 AND id > $2 ORDER BY id LIMIT 1`, lej, victim).Scan(&next); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `ALTER TABLE audit_log DISABLE TRIGGER USER;
		DELETE FROM audit_log WHERE id = `+fmt.Sprint(victim)+`;
		ALTER TABLE audit_log ENABLE TRIGGER USER`); err != nil {
		t.Fatal(err)
	}
	if _, err := audit.Verify(ctx, db, lej); !errors.As(err, &broken) || broken.EntryID != next {
		t.Fatalf("after removing %d, verify should name %d: %v", victim, next, err)
	}
}
