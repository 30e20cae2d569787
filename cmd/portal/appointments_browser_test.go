package main

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/store/storetest"
)

// TestBrowserStaffAppointments goes through the back office's
// appointments as the demo caseworker does, with the keyboard alone
// (Tab to a control, Enter): the staff bar's "Termine", today's day
// view, another day by the date field, the week, an appointment of today
// and its check-in, and one still to come, cancelled after a reason too
// long was refused. axe-core checks every page, in German and English,
// and each reflows at 320 and 768 px.
func TestBrowserStaffAppointments(t *testing.T) {
	ctx0 := context.Background()
	dsn := storetest.DSN(t)
	p := startPortal(t, map[string]string{
		"DATABASE_URL": dsn, "PORTAL_DEMO": "1", "PORTAL_DATA_DIR": t.TempDir(),
		"PORTAL_DEMO_PASSWORD": "demo-passwort-123", "PORTAL_DEMO_TOTP": demoTOTP,
	})
	db, err := store.Open(ctx0, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Two booked appointments at Leipzig's on-site calendar, straight into
	// the database: one today at 08:00 (whose check-in is open, whatever
	// the hour), one in two days (which can be cancelled).
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().In(berlin)
	today := time.Date(now.Year(), now.Month(), now.Day(), 8, 0, 0, 0, berlin)
	later := today.AddDate(0, 0, 2)
	insert := func(name, email string, at time.Time) string {
		t.Helper()
		var id int64
		err := db.QueryRow(ctx0, `
INSERT INTO booking (office_id, calendar_id, service_slug, starts_at, seat, state, token_hash, name, email, lang, confirmed_at)
SELECT o.id, c.id, 'belehrung-infektionsschutz', $1, 0, 'booked', sha256(convert_to($2, 'UTF8')), $3, $2, 'de', now()
FROM office o JOIN calendar c ON c.office_id = o.id AND c.slug = 'vor-ort' WHERE o.slug = 'leipzig'
RETURNING id`, at, email, name).Scan(&id)
		if err != nil {
			t.Fatal(err)
		}
		return "/staff/termine/" + strconv.FormatInt(id, 10)
	}
	todays := insert("Kim Tastatur", "kim@example.org", today)
	laters := insert("Lou Später", "lou@example.org", later)

	ctx := newBrowser(t)
	axe := axeScript(t)
	check := func(what string) {
		t.Helper()
		checkAccessibility(t, ctx, axe, what)
		checkNoHorizontalScroll(t, ctx, what, 320)
		checkNoHorizontalScroll(t, ctx, what, 768)
	}
	// checkBoth checks the page in the tab, then the same in English, and
	// goes back to German.
	checkBoth := func(what string) {
		t.Helper()
		check(what + " de")
		here := eval[string](t, ctx, `location.pathname + location.search`)
		sep := "?"
		if strings.Contains(here, "?") {
			sep = "&"
		}
		step(t, ctx, what+" en", chromedp.Navigate(p.base+here+sep+"lang=en"))
		waitLoaded(t, ctx)
		check(what + " en")
		step(t, ctx, what+" back to de", chromedp.Navigate(p.base+here+sep+"lang=de"))
		waitLoaded(t, ctx)
	}
	// tabTo presses Tab until the focused element matches selector, then
	// Enter, and waits for the page it loads.
	tabTo := func(what, selector string) {
		t.Helper()
		markPage(t, ctx)
		for i := 0; !eval[bool](t, ctx, `document.activeElement && document.activeElement.matches(`+jsString(selector)+`)`); i++ {
			if i == 200 {
				t.Fatalf("%s: Tab never reached %s", what, selector)
			}
			step(t, ctx, "tab", chromedp.KeyEvent(kb.Tab))
		}
		// The focused control is visibly marked (the focus colour or an
		// outline), not left to the browser's default alone.
		if !eval[bool](t, ctx, `(() => { const s = getComputedStyle(document.activeElement);
			return s.outlineStyle !== "none" || s.backgroundColor === "rgb(255, 221, 0)" || s.boxShadow !== "none"; })()`) {
			t.Errorf("%s: the focused %s shows no focus", what, selector)
		}
		step(t, ctx, what, chromedp.KeyEvent(kb.Enter))
		waitLoaded(t, ctx)
	}

	loginInBrowser(t, ctx, p.base, "sachbearbeitung@leipzig.example")
	tabTo("Termine in the staff bar", `.staff-nav a[href="/staff/termine"]`)
	if text := eval[string](t, ctx, `document.querySelector("main").innerText`); !strings.Contains(text, "Kim Tastatur") || strings.Contains(text, "Lou Später") {
		t.Fatalf("today's day view:\n%s", text)
	}
	checkBoth("day view")

	// Another day by the date field (a GET form), then back by the day
	// links.
	eval[string](t, ctx, `document.getElementById("appointments-day").value = `+jsString(later.Format(time.DateOnly)))
	tabTo("show the day", `.filters__form button[type="submit"]`)
	if !strings.Contains(eval[string](t, ctx, `location.search`), "tag="+later.Format(time.DateOnly)) ||
		!strings.Contains(eval[string](t, ctx, `document.querySelector("main").innerText`), "Lou Später") {
		t.Fatalf("the date field's day: %s", eval[string](t, ctx, `location.href`))
	}
	tabTo("previous day", `a.pager__link[href*="tag=`+later.AddDate(0, 0, -1).Format(time.DateOnly)+`"]`)
	tabTo("previous day again", `a.pager__link[href*="tag=`+today.Format(time.DateOnly)+`"]`)

	tabTo("the week", `a.pager__link[href*="woche="]`)
	if n := eval[int](t, ctx, `document.querySelectorAll('main .week__list a[href^="/staff/termine?"]').length`); n < 5 {
		t.Errorf("the week links %d days", n)
	}
	checkBoth("week view")
	tabTo("back to today", `main .week__list a[href*="kalender=vor-ort"][href*="tag=`+today.Format(time.DateOnly)+`"]`)

	// Today's appointment: the check-in by keyboard.
	tabTo("today's appointment", `a[href="`+todays+`"]`)
	checkBoth("appointment of today")
	tabTo("came", `#attendance-came`)
	if !eval[bool](t, ctx, `!!document.querySelector(".notice[role=status]") && document.querySelector("main").innerText.includes("erschienen (erfasst am")`) {
		t.Fatalf("after the check-in:\n%s", eval[string](t, ctx, `document.querySelector("main").innerText`))
	}
	checkBoth("appointment checked in")

	// The one to come: a reason too long is refused and kept, then the
	// cancellation.
	step(t, ctx, "the later appointment", chromedp.Navigate(p.base+laters))
	waitLoaded(t, ctx)
	checkBoth("appointment to come")
	long := strings.Repeat("x", 501)
	// The refusal is a POST's answer: in English first (the language
	// remembered from a GET), then in German, which stays.
	for _, lang := range []string{"en", "de"} {
		step(t, ctx, "the later appointment "+lang, chromedp.Navigate(p.base+laters+"?lang="+lang))
		waitLoaded(t, ctx)
		eval[string](t, ctx, `document.getElementById("cancel-reason").value = `+jsString(long)) // past maxlength, as a script could
		tabTo("cancel with a reason too long", `#cancel`)
		if !eval[bool](t, ctx, `document.title.startsWith(`+jsString(map[string]string{"de": "Fehler:", "en": "Error:"}[lang])+`) &&
			!!document.querySelector('.error-summary a[href="#cancel-reason"]')`) {
			t.Errorf("%s: a reason too long is not named in the error summary (title %q)", lang, eval[string](t, ctx, `document.title`))
		}
		if got := eval[string](t, ctx, `document.getElementById("cancel-reason").value`); got != long {
			t.Errorf("%s: the reason typed is lost: %d characters", lang, len(got))
		}
		check("cancellation refused " + lang)
	}
	step(t, ctx, "focus the reason", chromedp.Focus(chromedp.ID("cancel-reason")))
	eval[string](t, ctx, `document.getElementById("cancel-reason").value = ""`)
	step(t, ctx, "type the reason", chromedp.SendKeys(chromedp.ID("cancel-reason"), "Erkrankung der Ärztin"))
	tabTo("cancel", `#cancel`)
	if !eval[bool](t, ctx, `!!document.querySelector(".notice[role=status]") && !document.getElementById("cancel")`) {
		t.Fatalf("after cancelling:\n%s", eval[string](t, ctx, `document.querySelector("main").innerText`))
	}
	checkBoth("appointment cancelled")
	var state string
	if err := db.QueryRow(ctx0, `SELECT state FROM booking WHERE email = 'lou@example.org'`).Scan(&state); err != nil || state != store.BookingCancelled {
		t.Errorf("the later appointment is %q (%v)", state, err)
	}

	// A whole day cancelled: the list of what goes, then the day.
	third := today.AddDate(0, 0, 3)
	insert("Mia Tagesabsage", "mia@example.org", third)
	step(t, ctx, "cancel a day", chromedp.Navigate(p.base+"/staff/termine/absagen?tag="+third.Format(time.DateOnly)))
	waitLoaded(t, ctx)
	checkBoth("cancel a day")
	tabTo("cancel the day", `#cancel-day`)
	if !eval[bool](t, ctx, `!!document.querySelector(".notice[role=status]")`) {
		t.Fatalf("after cancelling the day:\n%s", eval[string](t, ctx, `document.querySelector("main").innerText`))
	}
	checkBoth("day cancelled")
	if err := db.QueryRow(ctx0, `SELECT state FROM booking WHERE email = 'mia@example.org'`).Scan(&state); err != nil || state != store.BookingCancelled {
		t.Errorf("the day's appointment is %q (%v)", state, err)
	}

	// A walk-in into a free place of a day to come: the form, a name
	// missing, then booked.
	// The first day from a week ahead with a free place (not a weekend
	// or a public holiday).
	for ahead := 7; ; ahead++ {
		walkDay := today.AddDate(0, 0, ahead)
		step(t, ctx, "a day ahead", chromedp.Navigate(p.base+"/staff/termine?kalender=vor-ort&tag="+walkDay.Format(time.DateOnly)))
		waitLoaded(t, ctx)
		if eval[bool](t, ctx, `!!document.querySelector('main a[href^="/staff/termine/neu?"]')`) {
			break
		}
		if ahead > 21 {
			t.Fatal("no free place in three weeks")
		}
	}
	clickAndWait(t, ctx, "a free place", chromedp.CSS(`main a[href^="/staff/termine/neu?"]`))
	checkBoth("walk-in form")
	clickAndWait(t, ctx, "book without a name", chromedp.ID("walk-in-book"))
	check("walk-in form with an error")
	if !eval[bool](t, ctx, `!!document.querySelector('.error-summary a[href="#walk-in-name"]')`) {
		t.Error("the missing name is not named in the error summary")
	}
	step(t, ctx, "type the name", chromedp.SendKeys(chromedp.ID("walk-in-name"), "Otto Tresen"))
	tabTo("book the walk-in", `#walk-in-book`)
	if !eval[bool](t, ctx, `!!document.querySelector(".notice[role=status]")`) {
		t.Fatalf("after the walk-in:\n%s", eval[string](t, ctx, `document.querySelector("main").innerText`))
	}
}
