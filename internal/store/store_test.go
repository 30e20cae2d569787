package store_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gesundheitsamt/portal/internal/demo"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

func TestMigrateIsIdempotent(t *testing.T) {
	db := storetest.New(t)
	if err := db.Migrate(context.Background(), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("migrating an up-to-date database: %v", err)
	}
}

func TestDemoSeedIsIdempotent(t *testing.T) {
	ctx := context.Background()
	db := storetest.New(t)
	count := func() (n int) {
		t.Helper()
		err := db.QueryRow(ctx, `SELECT (SELECT count(*) FROM office) + (SELECT count(*) FROM office_postal_area)
			+ (SELECT count(*) FROM service) + (SELECT count(*) FROM office_service)`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if err := demo.Seed(ctx, db); err != nil {
		t.Fatal(err)
	}
	first := count()
	if err := demo.Seed(ctx, db); err != nil {
		t.Fatal(err)
	}
	if again := count(); again != first || first != 2+2+5+10 {
		t.Errorf("rows after first seed %d, after second %d; want 19 both times", first, again)
	}
}

func TestOfficesForPostalCode(t *testing.T) {
	ctx := context.Background()
	db := storetest.New(t)
	if err := demo.Seed(ctx, db); err != nil {
		t.Fatal(err)
	}
	tests := map[string]string{
		"04103": "leipzig", "04109": "leipzig", "04357": "leipzig",
		"04102": "", "04358": "", "06108": "halle", "06132": "halle", "06133": "", "99999": "",
	}
	for code, want := range tests {
		offices, err := store.OfficesForPostalCode(ctx, db, code)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if len(offices) == 1 {
			got = offices[0].Slug
		} else if len(offices) > 1 {
			t.Fatalf("%s: %d offices", code, len(offices))
		}
		if got != want {
			t.Errorf("%s: office %q, want %q", code, got, want)
		}
	}
}

func TestGetOfficeBySlugNotFound(t *testing.T) {
	db := storetest.New(t)
	_, err := store.GetOfficeBySlug(context.Background(), db, "nowhere")
	if fault.KindOf(err) != fault.NotFound {
		t.Errorf("err = %v, want a NotFound error", err)
	}
}

func TestInTxRollsBackOnError(t *testing.T) {
	ctx := context.Background()
	db := storetest.New(t)
	errBoom := fault.New(fault.Invalid, "test", "")
	err := db.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := store.UpsertOffice(ctx, tx, store.Office{Slug: "temp", Code: "TMP", Name: "Temp"}); err != nil {
			return err
		}
		return errBoom
	})
	if err != errBoom {
		t.Fatalf("err = %v", err)
	}
	offices, err := store.ListOffices(ctx, db)
	if err != nil || len(offices) != 0 {
		t.Errorf("offices after rollback: %v, %v", offices, err)
	}
}

func TestDatabaseRefusesInvalidOffices(t *testing.T) {
	ctx := context.Background()
	db := storetest.New(t)
	for _, o := range []store.Office{
		{Slug: "Leipzig", Code: "LEJ", Name: "x"},
		{Slug: "ok", Code: "lej", Name: "x"},
		{Slug: "ok", Code: "LEJ", Name: ""},
	} {
		if _, err := store.UpsertOffice(ctx, db, o); err == nil {
			t.Errorf("%+v was accepted", o)
		}
	}
}

func TestFeedbackIsStored(t *testing.T) {
	ctx := context.Background()
	db := storetest.New(t)
	f, err := store.InsertFeedback(ctx, db, store.Feedback{Lang: "de", Message: "Kontrast zu schwach"})
	if err != nil {
		t.Fatal(err)
	}
	if f.ID == 0 || f.CreatedAt.IsZero() {
		t.Errorf("%+v", f)
	}
	if _, err := store.InsertFeedback(ctx, db, store.Feedback{Lang: "de"}); err == nil {
		t.Error("an empty message was stored")
	}
}

// Every way the database can go away reaches the caller as Unavailable,
// whichever query, transaction or connect met it; an answer of a server
// that is there (a broken constraint, no row) keeps its own kind.
func TestConnectionLossIsUnavailable(t *testing.T) {
	ctx := context.Background()
	proxy := storetest.NewProxy(t, storetest.DSN(t))
	db, err := store.Open(ctx, proxy.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ping := func() error { return db.QueryRow(ctx, `SELECT 1`).Scan(new(int)) }
	expect := func(what string, err error, want fault.Kind) {
		t.Helper()
		if got := fault.KindOf(err); got != want {
			t.Errorf("%s: kind %v, want %v (%v)", what, got, want, err)
		}
	}

	// A connection the pool holds dies under it; then connects are refused.
	if err := ping(); err != nil {
		t.Fatal(err)
	}
	proxy.Cut()
	expect("query on a dropped connection", ping(), fault.Unavailable)
	expect("query while connects are refused", ping(), fault.Unavailable)
	_, err = store.GetOffice(ctx, db, 1)
	expect("a store method while connects are refused", err, fault.Unavailable)
	expect("a transaction while connects are refused", db.InTx(ctx, func(pgx.Tx) error { return nil }), fault.Unavailable)
	proxy.Restore()

	// Cut between the statements of a transaction: its commit fails.
	err = db.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO mail_sent (key) VALUES ('a')`); err != nil {
			return err
		}
		proxy.Cut()
		_, err := tx.Exec(ctx, `INSERT INTO mail_sent (key) VALUES ('b')`)
		return err
	})
	expect("a statement inside a transaction after the cut", err, fault.Unavailable)
	proxy.Restore()

	// The server ends the connection (an administrator, a fast shutdown):
	// SQLSTATE 57P01 on the next statement.
	conn, err := db.Begin(ctx) // holds one connection of the pool
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	if err := conn.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	_, err = conn.Exec(ctx, `SELECT 1`)
	expect("a terminated backend", err, fault.Unavailable)
	_ = conn.Rollback(ctx)

	// No server on the port at all.
	_, err = store.Open(ctx, "host=127.0.0.1 port=1 user=portal dbname=portal sslmode=disable connect_timeout=2")
	expect("nothing listening", err, fault.Unavailable)

	// A server that is there and answers: not an outage.
	if err := ping(); err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(ctx, `INSERT INTO mail_sent (key) VALUES ('c'), ('c')`)
	expect("a broken constraint", err, fault.Internal)
	_, err = store.GetOffice(ctx, db, 424242)
	expect("no such row", err, fault.NotFound)
}
