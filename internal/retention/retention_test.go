package retention_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/gesundheitsamt/portal/internal/retention"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

func TestOldFeedbackIsDeleted(t *testing.T) {
	ctx := context.Background()
	db := storetest.New(t)
	for _, age := range []string{"1 day", "700 days", "731 days", "5 years"} {
		if _, err := db.Exec(ctx, `INSERT INTO accessibility_feedback (lang, message, created_at)
			VALUES ('de', 'Barriere', now() - $1::interval)`, age); err != nil {
			t.Fatal(err)
		}
	}
	if err := retention.Sweep(ctx, db, time.Now(), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM accessibility_feedback`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("%d messages left, want the 2 younger than two years", n)
	}
	if _, err := store.InsertFeedback(ctx, db, store.Feedback{Lang: "de", Message: "neu"}); err != nil {
		t.Fatal(err)
	}
}

func TestRunStopsWithItsContext(t *testing.T) {
	db := storetest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { retention.Run(ctx, db, time.Hour, slog.New(slog.DiscardHandler)); close(done) }()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop")
	}
}

func TestOldMailRefusalsAreDeleted(t *testing.T) {
	ctx := context.Background()
	db := storetest.New(t)
	var office int64
	if err := db.QueryRow(ctx, `INSERT INTO office (slug, code, name, street, postal_code, city, phone, email, website)
		VALUES ('x', 'XXX', 'Amt X', '', '', '', '', '', '') RETURNING id`).Scan(&office); err != nil {
		t.Fatal(err)
	}
	for _, age := range []string{"1 day", "89 days", "91 days", "1 year"} {
		if _, err := db.Exec(ctx, `INSERT INTO mail_refusal (office_id, template, recipient, answer, at)
			VALUES ($1, 'resume', 'a@example.org', '550', now() - $2::interval)`, office, age); err != nil {
			t.Fatal(err)
		}
	}
	if err := retention.Sweep(ctx, db, time.Now(), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	left, err := store.ListMailRefusals(ctx, db, office, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 2 {
		t.Errorf("%d refusals left, want the 2 younger than 90 days", len(left))
	}
	// Paging from an id beyond int4 (a typed ?vor=) is no error.
	if older, err := store.ListMailRefusals(ctx, db, office, 3_000_000_000, 10); err != nil || len(older) != 2 {
		t.Errorf("paging from a large id: %d rows, %v", len(older), err)
	}
}
