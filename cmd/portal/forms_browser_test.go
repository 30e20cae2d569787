package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/gesundheitsamt/portal/forms"
	"github.com/gesundheitsamt/portal/internal/store/storetest"
)

// fillScript answers every visible question of the step in the tab the
// way a careful citizen would, and returns the ids of the file inputs that
// still need a file. Conditions look back only, so a second call answers
// what the first one revealed.
const fillScript = `(() => {
	const form = document.querySelector("form[data-form]");
	const shown = el => !el.closest("[hidden]");
	const files = [];
	for (const el of form.querySelectorAll("input, select, textarea")) {
		if (!shown(el) || el.type === "hidden") continue;
		const ac = el.getAttribute("autocomplete") || "";
		if (el.type === "radio") {
			const group = form.querySelectorAll('input[name="' + el.name + '"]');
			if (![...group].some(r => r.checked)) group[0].checked = true;
		} else if (el.type === "checkbox") {
			const group = form.querySelectorAll('input[name="' + el.name + '"]');
			if (![...group].some(r => r.checked)) group[0].checked = true;
		} else if (el.tagName === "SELECT") {
			if (!el.value) el.selectedIndex = 1;
		} else if (el.type === "file") {
			if (!el.closest(".field").querySelector(".files")) files.push(el.id);
		} else if (!el.value) {
			if (el.type === "date") el.value = el.max ? "1990-05-17" : "2027-09-15";
			else if (el.type === "email") el.value = "anna.muster@example.org";
			else if (el.type === "tel") el.value = "0341 123456";
			else if (ac === "postal-code" || el.classList.contains("input--postal")) el.value = "04109";
			else if (ac === "given-name") el.value = "Łukasz";
			else if (ac === "family-name") el.value = "Müller-Lüdenscheidt";
			else if (el.getAttribute("inputmode") === "numeric" || el.getAttribute("inputmode") === "decimal") el.value = "3";
			else el.value = "Angabe";
		}
		el.dispatchEvent(new Event("change", {bubbles: true}));
	}
	return files;
})()`

// writeTestPDF writes a small, real PDF for the upload fields.
func writeTestPDF(t *testing.T) string {
	t.Helper()
	pdf := "%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n" +
		"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
	path := filepath.Join(t.TempDir(), "impfpass.pdf")
	if err := os.WriteFile(path, []byte(pdf), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

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

// markPage marks the page in the tab, so waitLoaded can tell when the next
// one has replaced it.
func markPage(t *testing.T, ctx context.Context) {
	t.Helper()
	eval[bool](t, ctx, `window.__old = true`)
}

// waitLoaded waits until a new page (not the marked one) has loaded.
func waitLoaded(t *testing.T, ctx context.Context) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if ok, err := tryEval[bool](ctx, `!window.__old && document.readyState === "complete"`); err == nil && ok {
			return
		}
	}
	t.Fatal("no new page loaded")
}

// clickAndWait clicks the element and waits for the page it loads.
func clickAndWait[S chromedp.Selectable](t *testing.T, ctx context.Context, what string, sel S) {
	t.Helper()
	markPage(t, ctx)
	step(t, ctx, what, chromedp.Click(sel))
	waitLoaded(t, ctx)
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
