package portal_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/andybalholm/brotli"

	"github.com/gesundheitsamt/portal/internal/store"
)

func TestCitizenPages(t *testing.T) {
	h := newHarness(t, nil)
	scenarios := []scenario{
		{name: "start page in German by default", path: "/", status: 200, contains: []string{
			`<html lang="de" dir="ltr">`, "Online-Dienste Ihres Gesundheitsamts", `href="#main"`, "<main",
			`href="/leistungen/belehrung-infektionsschutz"`, `href="/leistungen/masernschutz-nachweis"`,
			`autocomplete="postal-code"`, `inputmode="numeric"`, `href="/impressum"`, `href="/datenschutz"`,
			`href="/barrierefreiheit"`, `href="/leichte-sprache"`, `href="/?lang=en"`,
		}},
		{name: "start page in English", path: "/?lang=en", status: 200, contains: []string{
			`<html lang="en" dir="ltr">`, "Online services of your health office", "Travel vaccination advice",
		}, notContains: []string{"Online-Dienste Ihres"}},
		{name: "Accept-Language decides without a choice", path: "/", header: map[string]string{"Accept-Language": "en-GB,en;q=0.9"},
			status: 200, contains: []string{`<html lang="en"`}},
		{name: "unknown lang falls back to German", path: "/?lang=xx", header: map[string]string{"Accept-Language": "en"},
			status: 200, contains: []string{`<html lang="de"`}},
		{name: "postal code of an office redirects to it", path: "/?plz=04109", status: 303, location: "/amt/leipzig"},
		{name: "postal code with spaces", path: "/?plz=+06+108+", status: 303, location: "/amt/halle"},
		{name: "postal code of no office says so", path: "/?plz=99999", status: 200, contains: []string{
			"Für die Postleitzahl 99999 ist kein Gesundheitsamt dieses Portals zuständig", `role="status"`,
		}},
		{name: "postal code of no office in English", path: "/?plz=80331&lang=en", status: 200, contains: []string{
			"No health office on this portal is responsible for the postcode 80331",
		}},
		{name: "four digits: error beside the field, input kept", path: "/?plz=4109", status: 200, contains: []string{
			`<title>Fehler:`, `class="error-summary" role="alert"`, `href="#plz"`,
			"Die Postleitzahl muss aus fünf Ziffern bestehen", `value="4109"`, `aria-invalid="true"`,
			`aria-describedby="plz-hint plz-error"`,
		}},
		{name: "empty postal code", path: "/?plz=", status: 200, contains: []string{"Geben Sie Ihre Postleitzahl ein."}},
		{name: "postal code error in English", path: "/?plz=abc&lang=en", status: 200, contains: []string{
			"<title>Error:", "The postcode must have five digits",
		}},
		{name: "typed markup is escaped", path: "/?plz=" + url.QueryEscape(`"><script>alert(1)</script>`), status: 200,
			contains: []string{`value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"`}, notContains: []string{"<script>alert(1)"}},
		{name: "office page", path: "/amt/leipzig", status: 200, contains: []string{
			"<h1>Gesundheitsamt Leipzig</h1>", "04103–04357", `href="/amt/leipzig/leistungen/reiseimpfberatung"`,
			`href="tel:&#43;493411236700"`, `href="mailto:gesundheitsamt@leipzig.example"`,
		}},
		{name: "unknown office", path: "/amt/muenchen", status: 404, contains: []string{"Seite nicht gefunden"}},
		{name: "service page", path: "/leistungen/masernschutz-nachweis", status: 200, contains: []string{
			"Nachweis über Masernschutz", "§ 20 Absatz 8 bis 13", `action="/leistungen/masernschutz-nachweis"`,
		}},
		{name: "service page finds the office", path: "/leistungen/reiseimpfberatung?plz=06110", status: 303,
			location: "/amt/halle/leistungen/reiseimpfberatung"},
		{name: "service page with no office", path: "/leistungen/reiseimpfberatung?plz=10115", status: 200,
			contains: []string{"10115", "Robert Koch-Institut"}},
		{name: "service at an office", path: "/amt/halle/leistungen/terminanfrage", status: 200, contains: []string{
			`<p class="caption">Gesundheitsamt Halle (Saale)</p>`, "Allgemeine Terminanfrage", "Niemeyerstraße 1",
		}},
		{name: "unknown service", path: "/leistungen/nichts", status: 404},
		{name: "unknown service at an office", path: "/amt/leipzig/leistungen/nichts", status: 404},
		{name: "imprint lists the offices", path: "/impressum", status: 200, contains: []string{
			"Gesundheitsamt Leipzig", "Gesundheitsamt Halle (Saale)", "§ 5 Digitale-Dienste-Gesetz",
		}},
		{name: "privacy notice", path: "/datenschutz", status: 200, contains: []string{"Artikel 9", "Cookies"}},
		{name: "easy language", path: "/leichte-sprache", status: 200, contains: []string{"Post-Leit-Zahl"}},
		{name: "accessibility statement with feedback form", path: "/barrierefreiheit", status: 200, contains: []string{
			"Erklärung zur Barrierefreiheit", `method="post" action="/barrierefreiheit"`, `name="_csrf" value="`,
			"Schlichtungsstelle", `for="feedback-message"`,
		}},
		{name: "unknown page", path: "/gibt-es-nicht", status: 404, contains: []string{
			"Seite nicht gefunden", `class="request-id"`, `<html lang="de"`,
		}},
		{name: "unknown page in English", path: "/gibt-es-nicht?lang=en", status: 404, contains: []string{"Page not found"}},
		{name: "healthz", path: "/healthz", status: 200, contains: []string{"ok"}},
		{name: "readyz", path: "/readyz", status: 200, contains: []string{"ok"}},
		{name: "no profiler on the public address", path: "/debug/pprof", status: 404},
		{name: "a trailing slash goes to the page's one address", path: "/debug/pprof/?a=1", status: 301, location: "/debug/pprof?a=1"},
		{name: "no expvar on the public address", path: "/debug/vars", status: 404},
		{name: "state change without CSRF proof", method: http.MethodDelete, path: "/impressum", status: 403},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) { h.run(t, sc) })
	}
}

func TestSharedPagesFollowLanguageAndDirectory(t *testing.T) {
	h := newHarness(t, nil)
	for i := 0; i < 2; i++ { // the second round comes from the cache
		if _, b := h.get("/"); !strings.Contains(b, `<html lang="de"`) {
			t.Fatal("German start page expected")
		}
		if _, b := h.get("/", "Accept-Language", "en"); !strings.Contains(b, `<html lang="en"`) {
			t.Fatal("English start page expected for an English browser")
		}
		if _, b := h.get("/?lang=en"); !strings.Contains(b, `<html lang="en"`) || !strings.Contains(b, `href="/?lang=de"`) {
			t.Fatal("English start page with a switch back to German expected")
		}
	}
	res, compressed := h.get("/", "Accept-Encoding", "gzip, deflate, br")
	_, plain := h.get("/")
	if res.Header.Get("Content-Encoding") != "br" || len(compressed) >= len(plain)/2 {
		t.Errorf("shared page: encoding %q, %d bytes of %d", res.Header.Get("Content-Encoding"), len(compressed), len(plain))
	}
	if got, err := io.ReadAll(brotli.NewReader(strings.NewReader(compressed))); err != nil || string(got) != plain {
		t.Errorf("the compressed start page differs from the plain one: %v", err)
	}
	res, _ = h.get("/", "Accept-Encoding", "gzip")
	if res.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(res.Header.Get("Vary"), "Accept-Encoding") {
		t.Errorf("gzip: encoding %q, Vary %q", res.Header.Get("Content-Encoding"), res.Header.Get("Vary"))
	}

	ctx := context.Background()
	id, err := store.UpsertOffice(ctx, h.db, store.Office{Slug: "dresden", Code: "DRS", Name: "Gesundheitsamt Dresden"})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.EnableService(ctx, h.db, id, "terminanfrage"); err != nil {
		t.Fatal(err)
	}
	h.dir.Invalidate()
	if _, b := h.get("/impressum"); !strings.Contains(b, "Gesundheitsamt Dresden") {
		t.Error("after the directory changed, the cached imprint must be rebuilt")
	}
	if res, _ := h.get("/amt/dresden"); res.StatusCode != 200 {
		t.Errorf("new office page: %d", res.StatusCode)
	}
}

// TestConcurrentVisitorsGetTheirOwnPages sends many requests at once over
// real connections: each answer must be the one for its own request (a
// response body shared between requests would show up here and under
// -race).
func TestConcurrentVisitorsGetTheirOwnPages(t *testing.T) {
	h := newHarness(t, nil)
	base := h.listen()
	var wg sync.WaitGroup
	errs := make(chan string, 400)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				code := fmt.Sprintf("9%02d%02d", g, i)
				res, err := http.Get(base + "/?plz=" + code)
				if err != nil {
					errs <- err.Error()
					return
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if !strings.Contains(string(b), "Postleitzahl "+code+" ist kein") {
					errs <- "answer for " + code + " is not its own"
				}
				if res.Header.Get("Cache-Control") != "no-store" {
					errs <- "a page showing typed input without no-store"
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestMetricsStayConsistent(t *testing.T) {
	h := newHarness(t, nil)
	for _, p := range []string{"/", "/amt/leipzig", "/gibt-es-nicht", "/impressum", "/?plz=1"} {
		h.get(p)
	}
	s := h.openFeedbackForm(t)
	h.postFeedback(s, url.Values{"message": {"x"}}) // refused: no token
	families, err := h.reg.Gather()
	if err != nil {
		t.Fatalf("metrics cannot be gathered: %v", err)
	}
	routes := map[string]bool{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "method":
					if v := l.GetValue(); v != "GET" && v != "POST" {
						t.Errorf("method label %q", v)
					}
				case "route":
					routes[l.GetValue()] = true
				}
			}
		}
	}
	for _, want := range []string{"/", "/amt/:office", "(unmatched)", "(csrf)"} {
		if !routes[want] {
			t.Errorf("no metrics for route %q (have %v)", want, routes)
		}
	}
	if logs := h.log.String(); !strings.Contains(logs, "route=(unmatched) status=404") || !strings.Contains(logs, "route=(csrf) status=403") {
		t.Errorf("404 and CSRF answers must be logged under their own labels:\n%s", logs)
	}
}

func TestLanguageSwitchNeverLeavesTheSite(t *testing.T) {
	h := newHarness(t, nil)
	base := h.listen()
	for _, path := range []string{"//evil.example", "/\\evil.example", "/gibt-es-nicht?a%26plz%3D1%23=1"} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: localhost:8080\r\nConnection: close\r\n\r\n", path)
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		b := body(t, res)
		conn.Close()
		if res.StatusCode == http.StatusMovedPermanently { // to the canonical spelling: on this site
			if loc := res.Header.Get("Location"); !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") || strings.HasPrefix(loc, "/\\") {
				t.Errorf("%s: redirected to %q", path, loc)
			}
			continue
		}
		for _, bad := range []string{`href="//evil`, `href="/\evil`, `href="/%5cevil`, "plz=1#"} {
			if strings.Contains(strings.ToLower(b), strings.ToLower(bad)) {
				t.Errorf("%s: page contains %s", path, bad)
			}
		}
		if !strings.Contains(b, `lang="en"`) {
			t.Errorf("%s: no language switch", path)
		}
	}
}

func TestSeveralOfficesLinkOnlyToWhatTheyOffer(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	halle, err := store.GetOfficeBySlug(ctx, h.db, "halle")
	if err != nil {
		t.Fatal(err)
	}
	if err := store.ReplacePostalAreas(ctx, h.db, halle.ID, []store.PostalArea{{FirstCode: "04109", LastCode: "04109"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.db.Exec(ctx, `DELETE FROM office_service WHERE office_id = $1 AND service_slug = 'reiseimpfberatung'`, halle.ID); err != nil {
		t.Fatal(err)
	}
	h.dir.Invalidate()
	_, b := h.get("/leistungen/reiseimpfberatung?plz=04109")
	if !strings.Contains(b, `href="/amt/leipzig/leistungen/reiseimpfberatung"`) || !strings.Contains(b, `href="/amt/halle"`) ||
		strings.Contains(b, `href="/amt/halle/leistungen/reiseimpfberatung"`) {
		t.Errorf("choices:\n%s", excerpt(b))
	}
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	h := newHarness(t, nil)
	for _, path := range []string{"/", "/gibt-es-nicht", "/barrierefreiheit", "/healthz", "/?plz=1"} {
		res, _ := h.get(path)
		for header, want := range map[string]string{
			"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'",
			"X-Content-Type-Options":  "nosniff",
			"Referrer-Policy":         "no-referrer",
			"X-Frame-Options":         "DENY",
			"Permissions-Policy":      "camera=()",
		} {
			if got := res.Header.Get(header); !strings.Contains(got, want) {
				t.Errorf("%s: %s = %q, want it to contain %q", path, header, got, want)
			}
		}
		if !strings.Contains(res.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("%s: CSP without frame-ancestors 'none'", path)
		}
		if strings.Contains(res.Header.Get("Content-Security-Policy"), "unsafe-inline") {
			t.Errorf("%s: CSP allows inline code", path)
		}
		if res.Header.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: HSTS in development", path)
		}
		if res.Header.Get("X-Request-Id") == "" {
			t.Errorf("%s: no request id", path)
		}
	}
}

func TestProductionSendsHSTS(t *testing.T) {
	h := newHarness(t, map[string]string{
		"PORTAL_ENV": "production", "PORTAL_BASE_URL": "https://portal.example",
		"DATABASE_URL": "postgres://unused", "SMTP_URL": "smtp://mail.example:25",
	})
	for _, path := range []string{"/", "/gibt-es-nicht"} {
		res, _ := h.get(path)
		hsts := res.Header.Get("Strict-Transport-Security")
		var maxAge int
		if _, err := fmt.Sscanf(hsts, "max-age=%d", &maxAge); err != nil || maxAge < 365*24*3600 {
			t.Errorf("%s: Strict-Transport-Security = %q, want at least a year", path, hsts)
		}
	}
}

func TestLanguageChoiceIsRemembered(t *testing.T) {
	h := newHarness(t, nil)
	res, _ := h.get("/?lang=en")
	var cookie *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == "__Host-lang" {
			cookie = c
		}
	}
	if cookie == nil || cookie.Value != "en" || !cookie.Secure || !cookie.HttpOnly || cookie.Path != "/" ||
		cookie.SameSite != http.SameSiteLaxMode || cookie.MaxAge < 300*24*3600 {
		t.Fatalf("language cookie %+v", cookie)
	}
	_, b := h.get("/impressum", "Cookie", "__Host-lang=en", "Accept-Language", "de")
	if !strings.Contains(b, `<html lang="en"`) || !strings.Contains(b, "Legal notice") {
		t.Error("the remembered language must win over Accept-Language")
	}
	res, _ = h.get("/?lang=xx")
	for _, c := range res.Cookies() {
		if c.Name == "__Host-lang" {
			t.Error("an unsupported language must not be remembered")
		}
	}
}

func TestStaticFilesAreHashedAndCachedForAYear(t *testing.T) {
	h := newHarness(t, nil)
	_, page := h.get("/")
	css := regexp.MustCompile(`/static/site\.[0-9a-f]{12}\.css`).FindString(page)
	if css == "" {
		t.Fatal("no hashed stylesheet link on the start page")
	}
	res, b := h.get(css, "Accept-Encoding", "gzip, br")
	if res.StatusCode != 200 || res.Header.Get("Content-Encoding") != "br" || len(b) == 0 {
		t.Errorf("status %d, encoding %q", res.StatusCode, res.Header.Get("Content-Encoding"))
	}
	if cc := res.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=31536000") || !strings.Contains(cc, "immutable") {
		t.Errorf("Cache-Control %q", cc)
	}
	res, b = h.get(css)
	if res.Header.Get("Content-Encoding") != "" || !strings.Contains(b, ":root") || res.Header.Get("Content-Type") != "text/css; charset=utf-8" {
		t.Errorf("plain: encoding %q type %q", res.Header.Get("Content-Encoding"), res.Header.Get("Content-Type"))
	}
	if res, _ := h.get("/static/site.000000000000.css"); res.StatusCode != 404 {
		t.Errorf("stale hash: status %d", res.StatusCode)
	}
}

func TestErrorPagesAreNotCachedAndShowTheRequestID(t *testing.T) {
	h := newHarness(t, nil)
	res, b := h.get("/gibt-es-nicht")
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", res.Header.Get("Cache-Control"))
	}
	if id := res.Header.Get("X-Request-Id"); id == "" || !strings.Contains(b, id) {
		t.Errorf("the page must show the request id %q", id)
	}
	// A request id sent by a client (not a trusted proxy) is not taken over.
	res, _ = h.get("/", "X-Request-Id", "forged-id")
	if res.Header.Get("X-Request-Id") == "forged-id" {
		t.Error("a client's X-Request-Id was trusted")
	}
}

func TestLogsCarryNoQueryNoPathTokensNoAddresses(t *testing.T) {
	h := newHarness(t, nil)
	h.get("/?plz=04999")
	h.get("/amt/halle/leistungen/terminanfrage?secret=tok123")
	logs := h.log.String()
	for _, leak := range []string{"04999", "tok123", "secret=", "halle", "0.0.0.0"} {
		if strings.Contains(logs, leak) {
			t.Errorf("log contains %q:\n%s", leak, logs)
		}
	}
	if !strings.Contains(logs, "route=/amt/:office/leistungen/:service") || !strings.Contains(logs, "request_id=") {
		t.Errorf("log lines lack route pattern or request id:\n%s", logs)
	}
}

func TestReadyzFailsWithoutDatabase(t *testing.T) {
	h := newHarness(t, nil)
	h.db.Close()
	res, _ := h.get("/readyz")
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", res.StatusCode)
	}
	if res, _ := h.get("/healthz"); res.StatusCode != 200 {
		t.Errorf("healthz %d: the process still runs", res.StatusCode)
	}
}

func TestUnavailableDatabaseShowsLocalized503(t *testing.T) {
	h := newHarness(t, nil)
	h.db.Close() // before the directory was ever loaded
	res, b := h.get("/?lang=en")
	if res.StatusCode != 503 || !strings.Contains(b, "temporarily unavailable") {
		t.Errorf("status %d\n%s", res.StatusCode, excerpt(b))
	}
	if strings.Contains(b, "pool") || strings.Contains(b, "goroutine") {
		t.Error("internal details shown to the citizen")
	}
}

// benchmarkGET measures one GET through the whole application (every
// middleware, the handler, the error handler), without the network.
func benchmarkGET(b *testing.B, uri string, status int) {
	h := newHarness(b, nil)
	h.get("/") // load the directory snapshot
	handler := h.srv.App().Handler()
	b.ReportAllocs()
	for b.Loop() {
		ctx := newFastCtx(http.MethodGet, uri, "")
		handler(ctx)
		if ctx.Response.StatusCode() != status {
			b.Fatalf("status %d", ctx.Response.StatusCode())
		}
	}
}

func BenchmarkStartPage(b *testing.B)    { benchmarkGET(b, "/", 200) }
func BenchmarkPostalSearch(b *testing.B) { benchmarkGET(b, "/?plz=99999", 200) }
func BenchmarkOfficePage(b *testing.B)   { benchmarkGET(b, "/amt/leipzig/leistungen/terminanfrage", 200) }
func BenchmarkNotFound(b *testing.B)     { benchmarkGET(b, "/gibt-es-nicht", 404) }
