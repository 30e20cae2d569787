package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/store/storetest"
)

// TestBrowserWaitlistByKeyboard: a calendar with no free slot offers its
// waiting list. In German and in English, by keyboard alone, a citizen
// makes a mistake (the error summary, the name kept), joins, sees the
// entry and leaves the list; axe-core finds nothing on the week with the
// form (empty, with errors, filled in), the entry and the page after
// leaving, and each reflows to 320 px.
func TestBrowserWaitlistByKeyboard(t *testing.T) {
	ctx0 := context.Background()
	dsn := storetest.DSN(t)
	p := startPortal(t, map[string]string{"DATABASE_URL": dsn, "PORTAL_DEMO": "1", "PORTAL_DATA_DIR": t.TempDir()})
	db, err := store.Open(ctx0, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Leipzig's on-site calendar without opening hours: no slot at all.
	if _, err := db.Exec(ctx0, `DELETE FROM calendar_rule WHERE calendar_id IN
		(SELECT c.id FROM calendar c JOIN office o ON o.id = c.office_id WHERE o.slug = 'leipzig' AND c.slug = 'vor-ort')`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // what a process keeps of a calendar (booking.DefaultPlanTTL)
	const page = "/amt/leipzig/leistungen/belehrung-infektionsschutz/termin"
	ctx := newBrowser(t)
	k := keyboard{t: t, ctx: ctx, axe: axeScript(t)}
	check, tabTo, typeInto := k.check, k.tabTo, k.typeInto

	for _, lang := range []string{"de", "en"} {
		t.Run(lang, func(t *testing.T) {
			step(t, ctx, "the week", chromedp.Navigate(p.base+page+"?kalender=vor-ort&lang="+lang))
			if !eval[bool](t, ctx, `!!document.querySelector("#waitlist-heading") && !document.querySelector(".slots__slot")`) {
				t.Fatalf("no waiting list on a calendar without slots:\n%s", eval[string](t, ctx, `document.body.innerText`))
			}
			check("waiting list form " + lang)
			typeInto("waitlist-name", "Kim Keyboard")
			typeInto("waitlist-email", "kein-at-zeichen")
			markPage(t, ctx)
			step(t, ctx, "submit with a mistake", chromedp.KeyEvent(kb.Enter))
			waitLoaded(t, ctx)
			if n := eval[int](t, ctx, `document.querySelectorAll(".error-summary li").length`); n != 1 {
				t.Errorf("error summary has %d entries, want 1 (e-mail)", n)
			}
			if got := eval[string](t, ctx, `document.getElementById("waitlist-name").value`); got != "Kim Keyboard" {
				t.Errorf("the name typed was lost: %q", got)
			}
			check("waiting list form with errors " + lang)
			typeInto("waitlist-email", "kim-"+lang+"@example.org")
			check("waiting list form filled in " + lang)
			markPage(t, ctx)
			step(t, ctx, "join", chromedp.KeyEvent(kb.Enter))
			waitLoaded(t, ctx)
			if path := eval[string](t, ctx, `location.pathname`); !strings.HasPrefix(path, "/warteliste/") {
				t.Fatalf("after joining: %s\n%s", path, eval[string](t, ctx, `document.body.innerText`))
			}
			check("waiting list entry " + lang)
			tabTo("leave", `main form button`, kb.Enter)
			if !eval[bool](t, ctx, `!!document.querySelector("[role=status]") && !document.querySelector("main form")`) {
				t.Fatalf("after leaving:\n%s", eval[string](t, ctx, `document.body.innerText`))
			}
			check("left the waiting list " + lang)
		})
	}
}
