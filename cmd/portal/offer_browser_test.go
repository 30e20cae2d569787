package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/store/storetest"
)

// TestBrowserOfferedSlots: a citizen sends an appointment request; a
// caseworker, by keyboard, offers two of the office's free slots from the
// case page (first sending none: the error); the citizen books one from
// the status page with the keyboard. axe-core finds nothing on the case
// page's offer form (empty, with the error, the open offer) and the
// status page with the offer and after booking, in German and English,
// and each reflows to 320 px.
func TestBrowserOfferedSlots(t *testing.T) {
	dsn := storetest.DSN(t)
	p := startPortal(t, map[string]string{
		"DATABASE_URL": dsn, "PORTAL_DEMO": "1", "PORTAL_DATA_DIR": t.TempDir(),
		"PORTAL_DEMO_PASSWORD": "demo-passwort-123", "PORTAL_DEMO_TOTP": demoTOTP,
	})
	db, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	axe := axeScript(t)

	citizen := newBrowser(t)
	status := sendRequest(t, citizen, p.base)
	var caseID int64
	if err := db.QueryRow(context.Background(), `SELECT max(id) FROM submission WHERE form_id = 'terminanfrage'`).Scan(&caseID); err != nil {
		t.Fatal(err)
	}

	staff := newBrowser(t)
	k := keyboard{t: t, ctx: staff, axe: axe}
	// both checks the page in German and in English, and stays in German.
	both := func(k keyboard, what string) {
		t.Helper()
		here := eval[string](t, k.ctx, `location.pathname`)
		for _, lang := range []string{"en", "de"} {
			step(t, k.ctx, what+" "+lang, chromedp.Navigate(p.base+here+"?lang="+lang))
			waitLoaded(t, k.ctx)
			k.check(what + " " + lang)
		}
	}
	loginInBrowser(t, staff, p.base, "sachbearbeitung@leipzig.example")
	step(t, staff, "the case", chromedp.Navigate(fmt.Sprintf("%s/staff/faelle/%d", p.base, caseID)))
	waitLoaded(t, staff)
	if n := eval[int](t, staff, `document.querySelectorAll('input[name="termin"]').length`); n < 2 {
		t.Fatalf("%d free slots offered on the case page:\n%s", n, eval[string](t, staff, `document.querySelector("main").innerText`))
	}
	both(k, "offer form")
	k.tabTo("offer nothing", `#offer-heading ~ form button[type="submit"]`, kb.Enter)
	if !strings.Contains(eval[string](t, staff, `document.querySelector(".error-summary").innerText`), "mindestens einen") {
		t.Fatalf("no error for an offer of nothing:\n%s", eval[string](t, staff, `document.querySelector("main").innerText`))
	}
	k.check("offer form with the error de")
	for i := range 2 {
		id := eval[string](t, staff, fmt.Sprintf(`document.querySelectorAll('input[name="termin"]')[%d].id`, i))
		step(t, staff, "focus slot", chromedp.Focus(chromedp.ID(id)))
		step(t, staff, "tick slot", chromedp.KeyEvent(" "))
	}
	if n := eval[int](t, staff, `document.querySelectorAll('input[name="termin"]:checked').length`); n != 2 {
		t.Fatalf("%d slots ticked by Space, want 2", n)
	}
	k.tabTo("offer the two", `#offer-heading ~ form button[type="submit"]`, kb.Enter)
	if !strings.Contains(eval[string](t, staff, `document.querySelector("main").innerText`), "Angebot zurückziehen") {
		t.Fatalf("after the offer:\n%s", eval[string](t, staff, `document.querySelector("main").innerText`))
	}
	both(k, "open offer")

	c := keyboard{t: t, ctx: citizen, axe: axe}
	step(t, citizen, "status page", chromedp.Navigate(p.base+status))
	waitLoaded(t, citizen)
	if n := eval[int](t, citizen, `document.querySelectorAll('button[name="termin"]').length`); n != 2 {
		t.Fatalf("%d slots to book on the status page, want 2:\n%s", n, eval[string](t, citizen, `document.querySelector("main").innerText`))
	}
	both(c, "status page with the offer")
	c.tabTo("book the first", `button[name="termin"]`, kb.Enter)
	text := eval[string](t, citizen, `document.querySelector("main").innerText`)
	if !strings.Contains(text, "Ihr Termin ist gebucht") || strings.Contains(text, "Diesen Termin buchen") {
		t.Fatalf("after booking:\n%s", text)
	}
	c.check("booked de")
}

// sendRequest sends Leipzig's appointment request with every question
// answered, in the browser ctx, and returns the path of its status page.
func sendRequest(t *testing.T, ctx context.Context, base string) string {
	t.Helper()
	step(t, ctx, "the request", chromedp.Navigate(base+"/amt/leipzig/leistungen/terminanfrage/antrag?lang=de"))
	waitLoaded(t, ctx)
	for i := 0; !strings.HasSuffix(eval[string](t, ctx, `location.pathname`), "/pruefen"); i++ {
		if i == 10 {
			t.Fatalf("the request never reached its check page:\n%s", eval[string](t, ctx, `document.querySelector("main").innerText`))
		}
		eval[[]string](t, ctx, fillScript)
		clickAndWait(t, ctx, "next", chromedp.CSS(`.form__actions button[value="next"]`))
	}
	step(t, ctx, "consent", chromedp.Click(chromedp.ID("f-consent")))
	clickAndWait(t, ctx, "send", chromedp.CSS(`button[data-once]`))
	return eval[string](t, ctx, `document.querySelector('main a[href^="/status/"]:not([download])').getAttribute("href")`)
}
