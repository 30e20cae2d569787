package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/gesundheitsamt/portal/internal/store/storetest"
)

// These tests drive the real portal (run()) with headless Chromium as a
// person would: by labels and the keyboard, at phone width and at 200 %
// zoom, and run axe-core's WCAG 2.1 A and AA rules on every citizen page.
// make test installs Chromium and axe-core (testdata/axe).

func TestBrowserCitizenPagesAreAccessible(t *testing.T) {
	p := startPortal(t, map[string]string{"DATABASE_URL": storetest.DSN(t), "PORTAL_DEMO": "1", "PORTAL_DATA_DIR": t.TempDir()})
	ctx := newBrowser(t)
	axe := axeScript(t)

	pages := []string{
		"/", "/?plz=4109", "/?plz=99999", "/amt/leipzig", "/leistungen/reiseimpfberatung",
		"/leistungen/terminanfrage?plz=123", "/amt/halle/leistungen/masernschutz-nachweis",
		"/impressum", "/datenschutz", "/barrierefreiheit", "/leichte-sprache", "/gibt-es-nicht", "/staff/login",
	}
	for _, lang := range []string{"de", "en"} {
		for _, page := range pages {
			sep := "?"
			if strings.Contains(page, "?") {
				sep = "&"
			}
			url := page + sep + "lang=" + lang
			t.Run(lang+url, func(t *testing.T) {
				step(t, ctx, "open", chromedp.Navigate(p.base+url))
				if got := eval[string](t, ctx, `document.documentElement.lang`); got != lang {
					t.Errorf("<html lang=%q>, want %q", got, lang)
				}
				checkAccessibility(t, ctx, axe, url)
				checkNoHorizontalScroll(t, ctx, url, 320)
				checkNoHorizontalScroll(t, ctx, url, 640)
			})
		}
	}

	// The feedback form with errors, as a person produces them.
	t.Run("feedback form with errors", func(t *testing.T) {
		step(t, ctx, "open form", chromedp.Navigate(p.base+"/barrierefreiheit?lang=de"))
		step(t, ctx, "submit empty", chromedp.SendKeys(chromedp.ID("feedback-email"), "falsch"+kb.Enter))
		waitPath(t, ctx, "/barrierefreiheit")
		if n := eval[int](t, ctx, `document.querySelectorAll(".error-summary li").length`); n != 2 {
			t.Errorf("error summary has %d entries, want 2 (message, email)", n)
		}
		checkAccessibility(t, ctx, axe, "/barrierefreiheit (errors)")
		checkNoHorizontalScroll(t, ctx, "/barrierefreiheit (errors)", 320)
	})
}

func TestBrowserPostalCodeSearch(t *testing.T) {
	p := startPortal(t, map[string]string{"DATABASE_URL": storetest.DSN(t), "PORTAL_DEMO": "1", "PORTAL_DATA_DIR": t.TempDir()})
	ctx := newBrowser(t)

	tests := []struct {
		lang, typed, wantPath, wantText string
	}{
		{"de", "04109", "/amt/leipzig", "Gesundheitsamt Leipzig"},
		{"en", "06110", "/amt/halle", "Gesundheitsamt Halle (Saale)"},
		{"de", "99999", "/?plz=99999", "Für die Postleitzahl 99999 ist kein Gesundheitsamt dieses Portals zuständig."},
		{"en", "10115", "/?plz=10115", "No health office on this portal is responsible for the postcode 10115."},
		{"de", "4109", "/?plz=4109", "Die Postleitzahl muss aus fünf Ziffern bestehen, zum Beispiel 04109."},
		{"en", "abcde", "/?plz=abcde", "The postcode must have five digits, for example 04109."},
	}
	for _, tt := range tests {
		t.Run(tt.lang+" "+tt.typed, func(t *testing.T) {
			step(t, ctx, "open start page", chromedp.Navigate(p.base+"/?lang="+tt.lang))
			// Find the field by its label, as a screen reader user would.
			label := map[string]string{"de": "Postleitzahl", "en": "Postcode"}[tt.lang]
			fieldID := eval[string](t, ctx, fmt.Sprintf(
				`[...document.querySelectorAll("label")].find(l => l.textContent.trim() === %q).htmlFor`, label))
			step(t, ctx, "type postal code", chromedp.SendKeys(chromedp.ID(fieldID), tt.typed+kb.Enter))
			waitPath(t, ctx, tt.wantPath)
			text := eval[string](t, ctx, `document.querySelector("main").innerText`)
			if !strings.Contains(text, tt.wantText) {
				t.Errorf("page lacks %q:\n%s", tt.wantText, text)
			}
			if strings.HasPrefix(tt.wantPath, "/?") {
				if got := eval[string](t, ctx, `document.getElementById("plz").value`); got != tt.typed {
					t.Errorf("the field holds %q, want what was typed (%q)", got, tt.typed)
				}
			}
		})
	}

	t.Run("error summary links to the field", func(t *testing.T) {
		step(t, ctx, "open", chromedp.Navigate(p.base+"/?plz=12&lang=de"))
		if role := eval[string](t, ctx, `document.querySelector(".error-summary").getAttribute("role")`); role != "alert" {
			t.Errorf("error summary role %q", role)
		}
		if !strings.HasPrefix(eval[string](t, ctx, `document.title`), "Fehler:") {
			t.Error("the title must start with Fehler: when the page shows errors")
		}
		step(t, ctx, "follow the error link", chromedp.Click(chromedp.CSS(".error-summary a")))
		if id := eval[string](t, ctx, `document.activeElement.id`); id != "plz" {
			t.Errorf("focus on %q after following the error link, want the field", id)
		}
	})

	t.Run("skip link is the first stop and moves focus to the content", func(t *testing.T) {
		step(t, ctx, "open", chromedp.Navigate(p.base+"/?lang=de"))
		step(t, ctx, "tab", chromedp.KeyEvent(kb.Tab))
		if text := eval[string](t, ctx, `document.activeElement.textContent`); text != "Zum Inhalt springen" {
			t.Fatalf("first tab stop is %q", text)
		}
		if !eval[bool](t, ctx, `document.activeElement.getBoundingClientRect().left >= 0`) {
			t.Error("the focused skip link is not visible")
		}
		step(t, ctx, "enter", chromedp.KeyEvent(kb.Enter))
		if id := eval[string](t, ctx, `document.activeElement.id`); id != "main" {
			t.Errorf("focus on %q after the skip link, want main", id)
		}
	})

	t.Run("language switch keeps the page", func(t *testing.T) {
		step(t, ctx, "open", chromedp.Navigate(p.base+"/amt/leipzig?lang=de"))
		step(t, ctx, "switch", chromedp.Click(chromedp.CSS(`.lang-switch a[hreflang="en"]`)))
		waitPath(t, ctx, "/amt/leipzig?lang=en")
		if lang := eval[string](t, ctx, `document.documentElement.lang`); lang != "en" {
			t.Errorf("lang %q after switching", lang)
		}
		// The choice is remembered for the next page without ?lang=.
		step(t, ctx, "next page", chromedp.Navigate(p.base+"/impressum"))
		if h1 := eval[string](t, ctx, `document.querySelector("h1").textContent`); h1 != "Legal notice" {
			t.Errorf("h1 %q: the language choice was not remembered", h1)
		}
	})

	t.Run("feedback reaches the office through a real browser", func(t *testing.T) {
		step(t, ctx, "open form", chromedp.Navigate(p.base+"/barrierefreiheit?lang=de"))
		step(t, ctx, "fill", chromedp.SendKeys(chromedp.ID("feedback-message"), "Der Fokus ist auf der Startseite schlecht sichtbar."))
		step(t, ctx, "send", chromedp.Click(chromedp.CSS(`form.form button[type="submit"]`)))
		waitPath(t, ctx, "/barrierefreiheit/danke")
		if h1 := eval[string](t, ctx, `document.querySelector("h1").textContent`); h1 != "Vielen Dank für Ihre Meldung" {
			t.Errorf("after sending: %q", h1)
		}
	})
}
