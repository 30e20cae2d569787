package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gesundheitsamt/portal/forms"
	"github.com/gesundheitsamt/portal/internal/retention"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/store/storetest"
)

// TestBrowserRetentionPages goes through retention as the people involved
// see it: an admin puts a hold on a closed case (first without a reason),
// sets a period (first out of bounds), reads the list of what is due and
// lifts the hold; after the deletion the citizen's link says the case was
// deleted. axe and the 320 px reflow check every page on the way, staff
// pages in German and English.
func TestBrowserRetentionPages(t *testing.T) {
	ctx0 := context.Background()
	dsn := storetest.DSN(t)
	p := startPortal(t, map[string]string{
		"DATABASE_URL": dsn, "PORTAL_DEMO": "1", "PORTAL_DATA_DIR": t.TempDir(),
		"PORTAL_DEMO_PASSWORD": "demo-passwort-123", "PORTAL_DEMO_TOTP": demoTOTP,
	})
	ctx := newBrowser(t)
	axe := axeScript(t)
	check := func(page string) {
		t.Helper()
		checkAccessibility(t, ctx, axe, page)
		checkNoHorizontalScroll(t, ctx, page, 320)
	}

	sendTerminInBrowser(t, ctx, p.base+"/amt/leipzig/leistungen/terminanfrage/antrag?lang=de")
	statusURL := eval[string](t, ctx, `document.querySelector('main a[href^="/status/"]:not([download])').href`)
	db, err := store.Open(ctx0, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Closed almost six months ago: the appointment request's period ends
	// in five days.
	if _, err := db.Exec(ctx0, `UPDATE submission SET status = 'abgeschlossen',
		closed_at = now() - interval '6 months' + interval '5 days'`); err != nil {
		t.Fatal(err)
	}

	loginInBrowser(t, ctx, p.base, "admin@leipzig.example")

	// The hold: without a reason the error leads to the field; then set.
	clickAndWait(t, ctx, "open the case", chromedp.CSS(`.table a[href^="/staff/faelle/"]`))
	check("case page of a closed case")
	clickAndWait(t, ctx, "hold without a reason", chromedp.CSS(`form[action$="/loeschsperre"] button`))
	check("case page with a hold error")
	if !eval[bool](t, ctx, `document.title.startsWith("Fehler:") && !!document.querySelector('.error-summary a[href="#hold-reason"]')`) {
		t.Error("the missing reason is not named in the error summary")
	}
	step(t, ctx, "reason", chromedp.SendKeys(chromedp.ID("hold-reason"), "Widerspruchsverfahren anhängig"))
	clickAndWait(t, ctx, "set the hold", chromedp.CSS(`form[action$="/loeschsperre"] button`))
	check("case page with a hold")
	casePath := eval[string](t, ctx, `location.pathname`)

	// The periods, in both languages; a period out of bounds.
	for _, lang := range []string{"en", "de"} {
		step(t, ctx, "periods "+lang, chromedp.Navigate(p.base+"/staff/verwaltung/aufbewahrung?lang="+lang))
		waitLoaded(t, ctx)
		check("/staff/verwaltung/aufbewahrung " + lang)
	}
	step(t, ctx, "type a period", chromedp.SendKeys(chromedp.ID("period-terminanfrage"), "99"))
	clickAndWait(t, ctx, "save the period", chromedp.CSS(`#service-terminanfrage form button`))
	check("/staff/verwaltung/aufbewahrung with an error")
	if got := eval[string](t, ctx, `document.getElementById("period-terminanfrage").value`); got != "99" {
		t.Errorf("the typed period is lost: %q", got)
	}

	// What is due, with the hold.
	for _, lang := range []string{"en", "de"} {
		step(t, ctx, "due "+lang, chromedp.Navigate(p.base+"/staff/verwaltung/loeschung?lang="+lang))
		waitLoaded(t, ctx)
		check("/staff/verwaltung/loeschung " + lang)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll('.table a[href^="/staff/faelle/"]').length`); n != 1 {
		t.Errorf("the due list shows %d cases, want the held one", n)
	}
	step(t, ctx, "back to the case", chromedp.Navigate(p.base+casePath))
	waitLoaded(t, ctx)
	clickAndWait(t, ctx, "lift the hold", chromedp.ID("hold-lift"))

	// The night the period is over: the citizen's link says what happened.
	set, err := forms.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	res, err := retention.NewCases(db, set, berlin, slog.New(slog.DiscardHandler)).DeleteDue(ctx0, time.Now().AddDate(0, 0, 6), time.Time{})
	if err != nil || res.Cases != 1 {
		t.Fatalf("deletion: %+v %v", res, err)
	}
	for _, lang := range []string{"de", "en"} {
		step(t, ctx, "status "+lang, chromedp.Navigate(statusURL+"?lang="+lang))
		waitLoaded(t, ctx)
		check("status page of a deleted case " + lang)
		if text := eval[string](t, ctx, `document.querySelector("h1").textContent`); !strings.Contains(text, map[string]string{"de": "gelöscht", "en": "deleted"}[lang]) {
			t.Errorf("%s: heading %q", lang, text)
		}
	}
}
