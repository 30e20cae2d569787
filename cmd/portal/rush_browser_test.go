package main

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/store/storetest"
)

// TestBrowserRushWaitingRoom: the waiting room of a service in rush mode,
// in German and English, passes axe and reflows to 320 px; its reloading
// is turned off by keyboard (WCAG 2.2.1: a page that reloads itself must
// let the visitor stop it), and when the visitor's turn comes the page
// reloads into the week's slots by itself, without JavaScript.
func TestBrowserRushWaitingRoom(t *testing.T) {
	ctx0 := context.Background()
	dsn := storetest.DSN(t)
	p := startPortal(t, map[string]string{"DATABASE_URL": dsn, "PORTAL_DEMO": "1", "PORTAL_DATA_DIR": t.TempDir()})
	db, err := store.Open(ctx0, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// A rush that lets one visitor in every 1000 s.
	if _, err := db.Exec(ctx0, `INSERT INTO booking_rush (office_id, service_slug, started_at, until, admit_rate)
		SELECT id, 'belehrung-infektionsschutz', now(), now() + interval '10 minutes', 0.001 FROM office WHERE slug = 'leipzig'`); err != nil {
		t.Fatal(err)
	}
	const page = "/amt/leipzig/leistungen/belehrung-infektionsschutz/termin"
	ctx := newBrowser(t)
	axe := axeScript(t)

	for _, lang := range []string{"de", "en"} {
		t.Run(lang, func(t *testing.T) {
			url := page + "?lang=" + lang + "&neuladen=aus"
			step(t, ctx, "open", chromedp.Navigate(p.base+url))
			if got := eval[string](t, ctx, `(document.querySelector('[role="status"]') || {}).textContent || ""`); got == "" {
				t.Fatal("no position in a status region")
			}
			if eval[bool](t, ctx, `!!document.querySelector('meta[http-equiv="refresh"], main form, main button')`) {
				t.Error("the page with the reloading off reloads, or has a form")
			}
			checkAccessibility(t, ctx, axe, url)
			checkNoHorizontalScroll(t, ctx, url, 320)
		})
	}

	// With the reloading on, Tab reaches the link that turns it off.
	step(t, ctx, "open", chromedp.Navigate(p.base+page+"?lang=de"))
	if !eval[bool](t, ctx, `!!document.querySelector('meta[http-equiv="refresh"]')`) {
		t.Fatal("the waiting room does not reload itself")
	}
	markPage(t, ctx)
	for i := 0; !eval[bool](t, ctx, `!!document.activeElement && String(document.activeElement.href).endsWith("neuladen=aus") && document.activeElement.textContent.includes("ausschalten")`); i++ {
		if i == 100 {
			t.Fatal("Tab never reached the link that stops the reloading")
		}
		step(t, ctx, "tab", chromedp.KeyEvent(kb.Tab))
	}
	step(t, ctx, "stop reloading", chromedp.KeyEvent(kb.Enter))
	waitLoaded(t, ctx)
	if eval[bool](t, ctx, `!!document.querySelector('meta[http-equiv="refresh"]')`) {
		t.Error("still reloading after the link")
	}

	// The visitor's turn comes 3 s from now: the page reloads into the
	// slots by itself.
	if _, err := db.Exec(ctx0, `UPDATE booking_rush SET admit_rate = 1, started_at = now() + interval '2 seconds'`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // what a process keeps of the rush (portal's rushTTL)
	step(t, ctx, "open", chromedp.Navigate(p.base+page+"?lang=de"))
	if !eval[bool](t, ctx, `!!document.querySelector('[role="status"]')`) {
		t.Fatal("admitted before the turn")
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if ok, err := tryEval[bool](ctx, `!!document.querySelector('button[name="beginn"]')`); err == nil && ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no slots 15 s after the turn")
		}
	}
}
