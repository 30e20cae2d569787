package main

import (
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/gesundheitsamt/portal/internal/store/storetest"
)

// TestBrowserCalendarSetup: the office admin's calendar pages in German
// and English, empty and with an error, pass axe and reflow to 320 px;
// the error summary leads to the range that is wrong, and what was typed
// stays.
func TestBrowserCalendarSetup(t *testing.T) {
	p := startPortal(t, map[string]string{
		"DATABASE_URL": storetest.DSN(t), "PORTAL_DEMO": "1", "PORTAL_DATA_DIR": t.TempDir(),
		"PORTAL_DEMO_PASSWORD": "demo-passwort-123", "PORTAL_DEMO_TOTP": demoTOTP,
	})
	ctx := newBrowser(t)
	axe := axeScript(t)
	check := func(page string) {
		t.Helper()
		checkAccessibility(t, ctx, axe, page)
		checkNoHorizontalScroll(t, ctx, page, 320)
	}
	loginInBrowser(t, ctx, p.base, "admin@leipzig.example")
	for _, lang := range []string{"en", "de"} {
		step(t, ctx, "calendars "+lang, chromedp.Navigate(p.base+"/staff/verwaltung/kalender?lang="+lang))
		waitLoaded(t, ctx)
		check("/staff/verwaltung/kalender " + lang)
		clickAndWait(t, ctx, "open a calendar "+lang, chromedp.CSS(`main a[href="/staff/verwaltung/kalender/vor-ort"]`))
		check("/staff/verwaltung/kalender/vor-ort " + lang)
	}
	step(t, ctx, "clear Monday", chromedp.SetValue(chromedp.ID("von-1-1"), ""))
	step(t, ctx, "a start only", chromedp.SetValue(chromedp.ID("bis-1-1"), ""))
	step(t, ctx, "places", chromedp.SetValue(chromedp.ID("plaetze-1-1"), "7"))
	clickAndWait(t, ctx, "save the week", chromedp.CSS(`form[action$="/woche"] button[type="submit"]`))
	check("/staff/verwaltung/kalender/vor-ort with an error")
	if !eval[bool](t, ctx, `document.title.startsWith("Fehler:") && !!document.querySelector('.error-summary a[href="#von-1-1"]')`) {
		t.Error("the wrong range is not named in the error summary")
	}
	if got := eval[string](t, ctx, `document.getElementById("plaetze-1-1").value`); got != "7" {
		t.Errorf("the typed places are lost: %q", got)
	}
}
