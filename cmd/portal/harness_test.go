package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/pquerna/otp/totp"

	"github.com/gesundheitsamt/portal/internal/store/storetest"
	"github.com/gesundheitsamt/portal/internal/testlog"
)

// TestMain runs the tests on one PostgreSQL cluster (storetest). The
// helpers of this file, shared by the package's tests, run the real
// program in this process (startPortal) and drive it with a headless
// browser (newBrowser).
func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

// logSink is the portal's stdout in tests: it keeps the log and reports the
// listening address from the "portal ready" line.
type logSink struct {
	testlog.Buffer
	ready chan string
	once  sync.Once
}

var readyRe = regexp.MustCompile(`msg="portal ready" addr=(\S+)`)

func (s *logSink) Write(p []byte) (int, error) {
	s.Buffer.Write(p)
	if m := readyRe.FindSubmatch(p); m != nil {
		s.once.Do(func() { s.ready <- string(m[1]) })
	}
	return len(p), nil
}

// instance is a running run() in this test process.
type instance struct {
	base    string
	log     *logSink
	started time.Duration // from run() to the ready line
	stop    func() error  // cancels the context, returns run's result
}

// startPortal runs the real program (`portal serve`) with env on a free
// loopback port and waits until it is ready.
func startPortal(t *testing.T, env map[string]string) *instance {
	t.Helper()
	vars := map[string]string{"PORTAL_ADDR": "127.0.0.1:0"}
	for k, v := range env {
		vars[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	sink := &logSink{ready: make(chan string, 1)}
	done := make(chan error, 1)
	began := time.Now()
	go func() { done <- run(ctx, []string{"portal", "serve"}, func(k string) string { return vars[k] }, sink) }()

	var stopped bool
	var result error
	stop := func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case result = <-done:
			case <-time.After(30 * time.Second):
				t.Fatalf("run did not return within 30 s of the signal\n%s", sink)
			}
		}
		return result
	}
	t.Cleanup(func() { _ = stop() })

	select {
	case addr := <-sink.ready:
		return &instance{base: "http://" + addr, log: sink, started: time.Since(began), stop: stop}
	case err := <-done:
		stopped = true
		t.Fatalf("run returned before it was ready: %v\n%s", err, sink)
	case <-time.After(90 * time.Second):
		t.Fatalf("not ready after 90 s\n%s", sink)
	}
	return nil
}

// client follows no redirects, so tests see them.
var client = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func get(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	res, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res.Header
}

var placedRe = regexp.MustCompile(`placed outside the data directory.* using=(\S+)`)

// clusterRoot is where the embedded PostgreSQL lives: under the data
// directory, or, as root with a data directory the postgres user cannot
// enter (t.TempDir is 0700), in the private place the log names.
func clusterRoot(log, dataDir string) string {
	if m := placedRe.FindStringSubmatch(log); m != nil {
		return m[1]
	}
	return filepath.Join(dataDir, "pg")
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

const demoTOTP = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

// sendTerminInBrowser fills in and sends the appointment request at url,
// step by step as a person would, and stays on the receipt page.
func sendTerminInBrowser(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	step(t, ctx, "start a form", chromedp.Navigate(url))
	for range 6 {
		waitLoaded(t, ctx)
		if eval[bool](t, ctx, `location.pathname.endsWith("/pruefen")`) {
			break
		}
		eval[[]string](t, ctx, fillScript)
		clickAndWait(t, ctx, "next", chromedp.CSS(`.form__actions button[value="next"]`))
	}
	step(t, ctx, "consent", chromedp.Click(chromedp.ID("f-consent")))
	clickAndWait(t, ctx, "send", chromedp.CSS(`button[data-once]`))
}

// loginInBrowser logs a demo account in through the login pages, as a
// person types it, in German, and waits for the inbox.
func loginInBrowser(t *testing.T, ctx context.Context, base, email string) {
	t.Helper()
	step(t, ctx, "login", chromedp.Navigate(base+"/staff/login?lang=de"))
	step(t, ctx, "email", chromedp.SendKeys(chromedp.ID("login-email"), email))
	markPage(t, ctx)
	step(t, ctx, "password", chromedp.SendKeys(chromedp.ID("login-password"), "demo-passwort-123"+kb.Enter))
	waitLoaded(t, ctx)
	code, _ := totp.GenerateCode(demoTOTP, time.Now())
	markPage(t, ctx)
	step(t, ctx, "code", chromedp.SendKeys(chromedp.ID("login-code"), code+kb.Enter))
	waitLoaded(t, ctx)
	waitPath(t, ctx, "/staff/")
}

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
	return newBrowserWith(t)
}

// newBrowserWith is newBrowser with more Chromium flags.
func newBrowserWith(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
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
	opts = append(opts, extra...)
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
