package office_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/gesundheitsamt/portal/internal/demo"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/office"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

func TestParsePostalCode(t *testing.T) {
	tests := []struct {
		in, want, msg string
	}{
		{"04109", "04109", ""},
		{" 04109 ", "04109", ""},
		{"04 109", "04109", ""},
		{"", "", office.MsgPostalCodeRequired},
		{"   ", "", office.MsgPostalCodeRequired},
		{"4109", "", office.MsgPostalCodeFormat},
		{"041090", "", office.MsgPostalCodeFormat},
		{"O4109", "", office.MsgPostalCodeFormat},
		{"０４１０９", "", office.MsgPostalCodeFormat},
		{"04109'; DROP TABLE office;--", "", office.MsgPostalCodeFormat},
	}
	for _, tt := range tests {
		got, err := office.ParsePostalCode(tt.in)
		if got != tt.want || fault.MessageOf(err) != tt.msg {
			t.Errorf("ParsePostalCode(%q) = %q, %v; want %q, %q", tt.in, got, err, tt.want, tt.msg)
		}
		if err != nil && fault.KindOf(err) != fault.Invalid {
			t.Errorf("ParsePostalCode(%q): kind %v, want invalid", tt.in, fault.KindOf(err))
		}
	}
}

func seeded(t *testing.T) (*store.DB, *office.Directory) {
	t.Helper()
	db := storetest.New(t)
	if err := demo.Seed(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	return db, office.NewDirectory(db, time.Hour, slog.New(slog.DiscardHandler))
}

func TestResponsible(t *testing.T) {
	ctx := context.Background()
	_, dir := seeded(t)
	snap, err := dir.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for code, want := range map[string][]string{
		"04103": {"leipzig"}, "04109": {"leipzig"}, "04357": {"leipzig"}, "04358": nil,
		"06108": {"halle"}, "06132": {"halle"}, "99999": nil,
	} {
		got, err := snap.Responsible(code)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) || (len(want) == 1 && got[0].Slug != want[0]) {
			t.Errorf("%s: %v, want %v", code, got, want)
		}
	}
	if _, err := snap.Responsible("123"); fault.KindOf(err) != fault.Invalid {
		t.Errorf("invalid code: err = %v", err)
	}
	leipzig, ok := snap.Office("leipzig")
	if !ok || len(leipzig.Services) != 5 || !leipzig.Offers("reiseimpfberatung") || leipzig.Offers("nonsense") {
		t.Errorf("leipzig: %+v", leipzig)
	}
	if len(snap.Catalogue) != 5 || snap.Catalogue[0].Slug != "belehrung-infektionsschutz" {
		t.Errorf("catalogue order: %+v", snap.Catalogue)
	}
}

func TestOverlappingAreasYieldSeveralOffices(t *testing.T) {
	ctx := context.Background()
	db, dir := seeded(t)
	halle, err := store.GetOfficeBySlug(ctx, db, "halle")
	if err != nil {
		t.Fatal(err)
	}
	areas := []store.PostalArea{{FirstCode: "06108", LastCode: "06132"}, {FirstCode: "04109", LastCode: "04109"}}
	if err := store.ReplacePostalAreas(ctx, db, halle.ID, areas); err != nil {
		t.Fatal(err)
	}
	snap, err := dir.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := snap.Responsible("04109")
	if len(got) != 2 || got[0].Name > got[1].Name {
		t.Errorf("04109: %v, want both offices by name", got)
	}
}

func TestSnapshotIsCachedAndInvalidated(t *testing.T) {
	ctx := context.Background()
	db, dir := seeded(t)
	first, err := dir.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.UpsertOffice(ctx, db, store.Office{Slug: "dresden", Code: "DRS", Name: "Gesundheitsamt Dresden"}); err != nil {
		t.Fatal(err)
	}
	if again, _ := dir.Snapshot(ctx); again != first {
		t.Error("within its time to live the snapshot must be reused, not reloaded")
	}
	short := office.NewDirectory(db, time.Nanosecond, slog.New(slog.DiscardHandler))
	a, _ := short.Snapshot(ctx)
	if b, _ := short.Snapshot(ctx); b != a {
		t.Error("a reload that finds nothing changed must keep the snapshot (pages cached for it stay valid)")
	}
	dir.Invalidate()
	fresh, err := dir.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := fresh.Office("dresden"); !ok {
		t.Error("after Invalidate the new office must appear")
	}
}

func TestSnapshotSurvivesADatabaseOutage(t *testing.T) {
	ctx := context.Background()
	db := storetest.New(t)
	if err := demo.Seed(ctx, db); err != nil {
		t.Fatal(err)
	}
	dir := office.NewDirectory(db, time.Millisecond, slog.New(slog.DiscardHandler))
	before, err := dir.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	db.Close() // the database is gone
	time.Sleep(2 * time.Millisecond)
	after, err := dir.Snapshot(ctx)
	if err != nil || after != before {
		t.Errorf("with the database down the last snapshot must be served: %v", err)
	}

	empty := office.NewDirectory(db, time.Millisecond, slog.New(slog.DiscardHandler))
	if _, err := empty.Snapshot(ctx); fault.KindOf(err) != fault.Unavailable {
		t.Errorf("without any snapshot: err = %v, want Unavailable", err)
	}
}
