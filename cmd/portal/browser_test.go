package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/gesundheitsamt/portal/internal/store/storetest"
)

// These tests drive the real portal (run()) with headless Chromium as a
// person would: by labels and the keyboard, at phone width and at 200 %
// zoom, and run axe-core's WCAG 2.1 A and AA rules on every citizen page.
// make test installs Chromium and axe-core (testdata/axe).

// axeScript is axe-core, pinned by testdata/axe/package-lock.json.
func axeScript(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "axe", "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		t.Fatalf("axe-core is not installed (make test installs it: npm ci --prefix testdata/axe): %v", err)
	}
	return string(b)
}

func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM_PATH"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("Chromium is not installed (make test installs it: apt-get install chromium), or set CHROMIUM_PATH")
	return ""
}

// newBrowser starts one headless Chromium for a test and returns a context
// for a tab in it.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("lang", "de-DE"),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// step runs actions with a time limit, failing the test on error.
func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(c, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, expr string, opts ...chromedp.EvaluateOption) T {
	t.Helper()
	v, err := tryEval[T](ctx, expr, opts...)
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// tryEval is eval for polling while a page may be replaced: an expression
// evaluated just as the tab navigates fails ("Inspected target navigated
// or closed") and is simply asked again.
func tryEval[T any](ctx context.Context, expr string, opts ...chromedp.EvaluateOption) (T, error) {
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	return chromedp.Run(c, chromedp.Evaluate[T](expr, opts...))
}

// waitPath waits until the tab shows path (navigation after a submit).
func waitPath(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		got, err := tryEval[string](ctx, `location.pathname + location.search + " " + document.readyState`)
		if err == nil && got == path+" complete" {
			return
		}
	}
	t.Fatalf("browser did not reach %s, is at %s", path, eval[string](t, ctx, `location.pathname + location.search`))
}

type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// checkAccessibility runs axe-core's WCAG 2.1 A and AA rules on the page in
// the tab and fails the test for every violation.
func checkAccessibility(t *testing.T, ctx context.Context, axe, page string) {
	t.Helper()
	if !eval[bool](t, ctx, `typeof axe !== "undefined"`) {
		eval[chromedp.Void](t, ctx, axe)
	}
	raw := eval[[]byte](t, ctx, `axe.run(document, {
		runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
		resultTypes: ["violations"]
	}).then(r => JSON.stringify(r.violations.map(v => ({
		id: v.id, impact: v.impact, help: v.help,
		nodes: v.nodes.map(n => n.target.join(" ") + "  " + n.html.slice(0, 200))
	}))))`, chromedp.EvalAwaitPromise)
	var encoded string
	if err := json.Unmarshal(raw, &encoded); err != nil {
		t.Fatal(err)
	}
	var violations []axeViolation
	if err := json.Unmarshal([]byte(encoded), &violations); err != nil {
		t.Fatal(err)
	}
	for _, v := range violations {
		t.Errorf("%s: axe %s (%s): %s\n  %s", page, v.ID, v.Impact, v.Help, strings.Join(v.Nodes, "\n  "))
	}
}

// checkNoHorizontalScroll fails when the page is wider than the viewport
// (WCAG 1.4.10 Reflow: 320 CSS px, which is also 1280 px at 400 % zoom;
// 640 px is 1280 px at 200 %).
func checkNoHorizontalScroll(t *testing.T, ctx context.Context, page string, width int64) {
	t.Helper()
	step(t, ctx, "viewport", chromedp.EmulateViewport(width, 800))
	overflow := eval[int](t, ctx, `document.documentElement.scrollWidth - document.documentElement.clientWidth`)
	if overflow > 0 {
		wide := eval[string](t, ctx, `[...document.querySelectorAll("body *")]
			.filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
			.slice(0, 3).map(e => e.tagName + "." + e.className).join(", ")`)
		t.Errorf("%s at %d px: %d px of horizontal scrolling (too wide: %s)", page, width, overflow, wide)
	}
	step(t, ctx, "viewport", chromedp.EmulateViewport(1280, 900))
}

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
