package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/gesundheitsamt/portal/forms"
	"github.com/gesundheitsamt/portal/internal/store/storetest"
)

var serviceOfForm = map[string]string{
	"belehrung-43-ifsg":         "belehrung-infektionsschutz",
	"amtsaerztliches-gutachten": "amtsaerztliche-untersuchung",
	"reiseimpfberatung":         "reiseimpfberatung",
	"masernschutz-20-ifsg":      "masernschutz-nachweis",
	"terminanfrage":             "terminanfrage",
}

// TestBrowserEveryFormStepIsAccessible walks every step of every form in
// German and English: each step empty, with its errors, and filled in;
// then the check page, the receipt and the status page. axe-core checks
// each of them for WCAG 2.1 A and AA.
func TestBrowserEveryFormStepIsAccessible(t *testing.T) {
	set, err := forms.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	p := startPortal(t, map[string]string{"DATABASE_URL": storetest.DSN(t), "PORTAL_DEMO": "1", "PORTAL_DATA_DIR": t.TempDir()})
	axe := axeScript(t)
	pdf := writeTestPDF(t)
	for _, f := range set.Forms() {
		for _, lang := range []string{"de", "en"} {
			t.Run(f.ID+"/"+lang, func(t *testing.T) {
				ctx := newBrowser(t) // a fresh browser: no draft cookie from the last run
				base := "/amt/leipzig/leistungen/" + serviceOfForm[f.ID] + "/antrag"
				step(t, ctx, "start", chromedp.Navigate(p.base+base+"?lang="+lang))
				for _, st := range f.Steps {
					path := base + "/" + st.ID
					waitPath(t, ctx, path)
					checkAccessibility(t, ctx, axe, path)
					// Next with nothing entered: the errors, if the step has
					// required questions.
					clickAndWait(t, ctx, "next, empty", chromedp.CSS(`.form__actions button[value="next"]`))
					if eval[bool](t, ctx, `!!document.querySelector(".error-summary")`) {
						if id := eval[string](t, ctx, `document.activeElement.className`); id != "error-summary" {
							t.Errorf("%s: focus on %q, want the error summary", path, id)
						}
						checkAccessibility(t, ctx, axe, path+" (errors)")
						checkNoHorizontalScroll(t, ctx, path+" (errors)", 320)
					}
					if !strings.HasSuffix(eval[string](t, ctx, `location.pathname`), "/"+st.ID) {
						continue // a step without required questions went on
					}
					for range 3 {
						files := eval[[]string](t, ctx, fillScript)
						for _, id := range files {
							step(t, ctx, "upload", chromedp.SetUploadFiles(chromedp.ID(id), []string{pdf}))
						}
						if len(files) == 0 {
							break
						}
						// Uploads go with Next; the step shows them before going on.
					}
					clickAndWait(t, ctx, "next", chromedp.CSS(`.form__actions button[value="next"]`))
					if eval[bool](t, ctx, `!!document.querySelector("form[data-form]") && location.pathname.endsWith("/`+st.ID+`")`) {
						// Revealed questions, warnings or files: fill again and go on.
						eval[[]string](t, ctx, fillScript)
						clickAndWait(t, ctx, "next again", chromedp.CSS(`.form__actions button[value="next"]`))
					}
					if eval[bool](t, ctx, `!!document.querySelector(".error-summary")`) {
						t.Fatalf("%s: errors after filling in:\n%s", path, eval[string](t, ctx, `document.querySelector(".error-summary").innerText`))
					}
				}
				waitPath(t, ctx, base+"/pruefen")
				checkAccessibility(t, ctx, axe, base+"/pruefen")
				checkNoHorizontalScroll(t, ctx, base+"/pruefen", 320)
				clickAndWait(t, ctx, "send without consent", chromedp.CSS(`button[data-once]`))
				checkAccessibility(t, ctx, axe, base+"/absenden (errors)")
				step(t, ctx, "consent", chromedp.Click(chromedp.ID("f-consent")))
				clickAndWait(t, ctx, "send", chromedp.CSS(`button[data-once]`))
				text := eval[string](t, ctx, `document.querySelector("main").innerText`)
				if !regexp.MustCompile(`LEJ-20\d\d-[0-9A-Z]{4}-[0-9A-Z]{4}`).MatchString(text) {
					t.Fatalf("no reference number on the receipt:\n%s", text)
				}
				checkAccessibility(t, ctx, axe, "receipt")
				checkNoHorizontalScroll(t, ctx, "receipt", 320)
				clickAndWait(t, ctx, "status", chromedp.CSS(`main a[href^="/status/"]:not([download])`))
				checkAccessibility(t, ctx, axe, "status")
			})
		}
	}
}

// TestBrowserFormByKeyboardOnly completes the appointment request with the
// keyboard alone: every control is reached with Tab, chosen with Space or
// arrows, and the form is sent with Enter.
func TestBrowserFormByKeyboardOnly(t *testing.T) {
	p := startPortal(t, map[string]string{"DATABASE_URL": storetest.DSN(t), "PORTAL_DEMO": "1", "PORTAL_DATA_DIR": t.TempDir()})
	ctx := newBrowser(t)
	base := "/amt/halle/leistungen/terminanfrage/antrag"

	// tabTo presses Tab until the element with id has focus.
	tabTo := func(id string) {
		t.Helper()
		for range 80 {
			if eval[string](t, ctx, `document.activeElement.id`) == id {
				return
			}
			step(t, ctx, "tab", chromedp.KeyEvent(kb.Tab))
		}
		t.Fatalf("%s cannot be reached with Tab", id)
	}
	press := func(keys string) { t.Helper(); step(t, ctx, "keys", chromedp.KeyEvent(keys)) }
	next := func(path string) {
		t.Helper()
		for range 80 {
			if eval[string](t, ctx, `document.activeElement.value`) == "next" {
				press(kb.Enter)
				waitPath(t, ctx, path)
				return
			}
			press(kb.Tab)
		}
		t.Fatal("the Next button cannot be reached with Tab")
	}

	step(t, ctx, "open", chromedp.Navigate(p.base+"/amt/halle/leistungen/terminanfrage?lang=de"))
	tabTo(eval[string](t, ctx, `(document.querySelector("a.button--start").id = "start")`))
	press(kb.Enter)
	waitPath(t, ctx, base+"/anliegen")

	tabTo("f-topic")
	press(kb.ArrowDown) // the first topic
	tabTo("f-message")
	press("Bitte um einen Termin.")
	next(base + "/termin")

	tabTo("f-mode")
	press(" ")
	tabTo("f-days")
	press(" ")
	tabTo("f-time_of_day")
	press(" ")
	next(base + "/kontakt")

	for id, text := range map[string]string{"f-given_name": "Zoë", "f-family_name": "Ó Briain", "f-email": "zoe@example.org"} {
		tabTo(id)
		press(text)
	}
	next(base + "/pruefen")

	tabTo("f-consent")
	press(" ")
	press(kb.Tab)
	if eval[string](t, ctx, `document.activeElement.tagName`) == "A" { // the privacy link sits between
		press(kb.Tab)
	}
	markPage(t, ctx)
	press(kb.Enter)
	waitLoaded(t, ctx)
	text := eval[string](t, ctx, `document.querySelector("main").innerText`)
	if !strings.Contains(text, "Ihr Antrag ist eingegangen") || !regexp.MustCompile(`HAL-20\d\d-`).MatchString(text) {
		t.Fatalf("after sending by keyboard:\n%s", text)
	}

	// The script adds a destination without a round trip and puts the
	// focus into it; Enter in a text field then means Next, not the first
	// button of the page (a destination's Remove), and the server takes
	// both destinations.
	travel := "/amt/halle/leistungen/reiseimpfberatung/antrag/reise"
	step(t, ctx, "open travel form", chromedp.Navigate(p.base+travel+"?lang=de"))
	markPage(t, ctx)
	tabTo(eval[string](t, ctx, `(document.querySelector('button[value="add:destinations"]').id = "add-destination")`))
	press(kb.Enter)
	if !eval[bool](t, ctx, `window.__old === true`) {
		t.Fatal("adding a destination reloaded the page")
	}
	if n := eval[int](t, ctx, `document.querySelectorAll('input[name$=".country"]').length`); n != 2 {
		t.Fatalf("%d destinations after adding one", n)
	}
	if id := eval[string](t, ctx, `document.activeElement.id`); id != "f-destinations-1-country" {
		t.Errorf("focus on %q after adding, want the new entry's first field", id)
	}
	if legend := eval[string](t, ctx, `document.querySelector("#f-destinations-1 legend").textContent`); legend != "Reiseziel 2" {
		t.Errorf("new entry's legend %q", legend)
	}
	press("Peru")
	markPage(t, ctx)
	press(kb.Enter)
	waitLoaded(t, ctx)
	if n := eval[int](t, ctx, `document.querySelectorAll('input[name$=".country"]').length`); n != 2 {
		t.Errorf("Enter in a field changed the destinations: %d left", n)
	}
	if !eval[bool](t, ctx, `!!document.querySelector(".error-summary")`) {
		t.Error("Enter in a field did not validate the step (Next)")
	}
	if v := eval[string](t, ctx, `document.getElementById("f-destinations-1-country").value`); v != "Peru" {
		t.Errorf("the typed destination is %q", v)
	}
}
