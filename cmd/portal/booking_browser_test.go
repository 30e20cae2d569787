package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/gesundheitsamt/portal/internal/store/storetest"
)

var bookingLink = regexp.MustCompile(`/termin/[A-Za-z0-9]+`)

// TestBrowserBookingByKeyboard books, moves and cancels an appointment in
// Chromium with the keyboard alone (Tab to a control, Enter or Space),
// in German and in English, and runs axe-core on every booking page:
// the choice of calendar, the week, the contact form empty, with errors
// and filled in, the wait for the mail, the mail's page, the booked page,
// the move and the cancellation.
func TestBrowserBookingByKeyboard(t *testing.T) {
	p := startPortal(t, map[string]string{"DATABASE_URL": storetest.DSN(t), "PORTAL_DEMO": "1", "PORTAL_DATA_DIR": t.TempDir()})
	ctx := newBrowser(t)
	k := keyboard{t: t, ctx: ctx, axe: axeScript(t)}
	check, tabTo, typeInto := k.check, k.tabTo, k.typeInto

	for _, lang := range []string{"de", "en"} {
		t.Run(lang, func(t *testing.T) {
			email := "keyboard-" + lang + "@example.org"
			// Reiseimpfberatung in Halle: two calendars, so the choice first.
			step(t, ctx, "service page", chromedp.Navigate(p.base+"/amt/halle/leistungen/reiseimpfberatung?lang="+lang))
			tabTo("book", `a[href$="/termin"]`, kb.Enter)
			check("calendar choice " + lang)
			tabTo("on site", `a[href*="kalender=vor-ort"]`, kb.Enter)
			check("week " + lang)
			// The next week, and back, by keyboard.
			tabTo("next week", `.pager__link`, kb.Enter)
			check("next week " + lang)
			// A slot of that week, chosen with the space bar.
			tabTo("slot", `.slots__slot`, " ")
			if !strings.HasPrefix(eval[string](t, ctx, `location.pathname`), "/buchung/") {
				t.Fatalf("after choosing a slot: %s", eval[string](t, ctx, `location.pathname`))
			}
			check("contact form " + lang)

			typeInto("booking-name", "Kim Keyboard")
			typeInto("booking-email", "kein-at-zeichen")
			markPage(t, ctx)
			step(t, ctx, "submit with a mistake", chromedp.KeyEvent(kb.Enter))
			waitLoaded(t, ctx)
			if n := eval[int](t, ctx, `document.querySelectorAll(".error-summary li").length`); n != 1 {
				t.Errorf("error summary has %d entries, want 1 (e-mail)", n)
			}
			if got := eval[string](t, ctx, `document.getElementById("booking-name").value`); got != "Kim Keyboard" {
				t.Errorf("the name typed was lost: %q", got)
			}
			check("contact form with errors " + lang)
			typeInto("booking-email", email)
			typeInto("booking-phone", "0345 123456")
			check("contact form filled in " + lang)
			markPage(t, ctx)
			step(t, ctx, "submit", chromedp.KeyEvent(kb.Enter))
			waitLoaded(t, ctx)
			check("waiting for the mail " + lang)

			link := ""
			for deadline := time.Now().Add(20 * time.Second); link == ""; time.Sleep(200 * time.Millisecond) {
				step(t, ctx, "open the mailbox", chromedp.Navigate(p.base+"/dev/mail"))
				text := eval[string](t, ctx, `[...document.querySelectorAll("article, li, tr")].filter(e => e.innerText.includes(`+jsString(email)+`)).map(e => e.innerText).join("\n")`)
				link = bookingLink.FindString(text)
				if time.Now().After(deadline) {
					t.Fatalf("no confirmation mail to %s in the development mailbox", email)
				}
			}
			step(t, ctx, "the mail's link", chromedp.Navigate(p.base+link+"?lang="+lang))
			check("confirm page " + lang)
			tabTo("confirm", `form[action="`+link+`"] button`, kb.Enter)
			if !eval[bool](t, ctx, `!!document.querySelector(".panel[role=status]")`) {
				t.Fatalf("no booked banner after confirming:\n%s", eval[string](t, ctx, `document.body.innerText`))
			}
			check("booked " + lang)

			tabTo("move", `a[href$="/verschieben"]`, kb.Enter)
			check("move " + lang)
			tabTo("new slot", `.slots__slot`, kb.Enter)
			if !strings.HasPrefix(eval[string](t, ctx, `location.pathname`), link) || !eval[bool](t, ctx, `!!document.querySelector("[role=status]")`) {
				t.Fatalf("after moving: %s\n%s", eval[string](t, ctx, `location.href`), eval[string](t, ctx, `document.body.innerText`))
			}
			check("moved " + lang)

			tabTo("cancel", `a[href$="/absagen"]`, kb.Enter)
			check("cancel question " + lang)
			tabTo("cancel for good", `button.button--warning`, kb.Enter)
			if !eval[bool](t, ctx, `!document.querySelector("a[href$='/verschieben']") && !!document.querySelector("[role=status]")`) {
				t.Fatalf("after cancelling:\n%s", eval[string](t, ctx, `document.body.innerText`))
			}
			check("cancelled " + lang)
		})
	}
}

// keyboard drives the browser's page as a keyboard user does, and checks
// each page reached with axe-core and for reflow at 320 px.
type keyboard struct {
	t   *testing.T
	ctx context.Context
	axe string
}

// check runs axe-core on the page and checks it reflows to 320 px.
func (k keyboard) check(what string) {
	k.t.Helper()
	checkAccessibility(k.t, k.ctx, k.axe, what)
	checkNoHorizontalScroll(k.t, k.ctx, what, 320)
}

// tabTo presses Tab until the focused element matches the CSS selector,
// then presses key and waits for the page it loads.
func (k keyboard) tabTo(what, selector, key string) {
	k.t.Helper()
	markPage(k.t, k.ctx)
	for i := 0; ; i++ {
		if eval[bool](k.t, k.ctx, `document.activeElement && document.activeElement.matches(`+jsString(selector)+`)`) {
			break
		}
		if i == 200 {
			k.t.Fatalf("%s: Tab never reached %s", what, selector)
		}
		step(k.t, k.ctx, "tab", chromedp.KeyEvent(kb.Tab))
	}
	step(k.t, k.ctx, what, chromedp.KeyEvent(key))
	waitLoaded(k.t, k.ctx)
}

// typeInto replaces the text of the input id with text, typed.
func (k keyboard) typeInto(id, text string) {
	k.t.Helper()
	step(k.t, k.ctx, "focus "+id, chromedp.Focus(chromedp.ID(id)))
	eval[string](k.t, k.ctx, `document.getElementById(`+jsString(id)+`).value = ""`)
	step(k.t, k.ctx, "type "+id, chromedp.SendKeys(chromedp.ID(id), text))
}

// jsString is s as a JavaScript string literal.
func jsString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
