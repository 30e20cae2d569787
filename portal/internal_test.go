package portal

import (
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/gesundheitsamt/portal/internal/auth"
	"github.com/gesundheitsamt/portal/internal/demo"
	"github.com/gesundheitsamt/portal/internal/i18n"
	"github.com/gesundheitsamt/portal/internal/inbox"
	"github.com/gesundheitsamt/portal/internal/mail"
	"github.com/gesundheitsamt/portal/internal/office"
	"github.com/gesundheitsamt/portal/internal/retention"
	"github.com/gesundheitsamt/portal/locales"
	"github.com/gesundheitsamt/portal/static"
)

// TestEveryMessageIDUsedInCodeExists covers the ids that Go code (not a
// template) passes to the localizer; templates are checked at start.
func TestEveryMessageIDUsedInCodeExists(t *testing.T) {
	bundle, err := i18n.New(locales.FS)
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{msgCSRF, office.MsgPostalCodeRequired, office.MsgPostalCodeFormat,
		inbox.MsgHoldReason, inbox.MsgHoldState, retention.MsgPeriod, "status.deleted.title",
		"staff.case.event.hold", "staff.case.event.hold_lifted", "staff.retention.title", "staff.due.title", "staff.due.all",
		"staff.case.deletion.held", "staff.case.deletion.unknown", "staff.case.deletion.open", "staff.case.deletion.due",
		mail.MsgRecipientCapped, "staff.case.event.mail_capped", "error.connections", auth.MsgThrottled, auth.MsgBusy,
		"staff.login.wait.second", "staff.login.wait.seconds", "staff.login.wait.minutes"}
	for _, id := range []string{"year", "years", "month", "months", "both"} {
		ids = append(ids, "staff.retention.period."+id)
	}
	for status := 400; status < 600; status++ {
		heading, text := errorTexts(status)
		ids = append(ids, heading, text)
	}
	for _, r := range feedbackRules {
		ids = append(ids, r.msgID)
	}
	for _, svc := range demo.Services() {
		for _, part := range []string{"title", "summary", "body", "legal"} {
			ids = append(ids, "service."+svc.Slug+"."+part)
		}
	}
	for _, l := range bundle.Languages() {
		loc := bundle.Localizer(l.Code)
		for _, id := range ids {
			if !loc.Has(id) {
				t.Errorf("%s: message %q is used by the code but not defined", l.Code, id)
			}
		}
	}
}

func TestTemplatesRejectUnknownMessageIDs(t *testing.T) {
	bundle, err := i18n.New(locales.FS)
	if err != nil {
		t.Fatal(err)
	}
	a := &assets{byName: map[string]string{"site.css": "/static/site.css", "favicon.svg": "/static/favicon.svg"}}
	if _, err := newRenderer(templateFS, bundle, a); err != nil {
		t.Fatalf("shipped templates: %v", err)
	}
	layout, _ := fs.ReadFile(templateFS, "templates/layout.html")
	partials, _ := fs.ReadFile(templateFS, "templates/partials.html")
	broken := fstest.MapFS{
		"templates/layout.html":   {Data: layout},
		"templates/partials.html": {Data: partials},
		"templates/broken.html":   {Data: []byte(`{{define "content"}}{{.L.T "no.such.id"}}{{end}}`)},
	}
	if _, err := newRenderer(broken, bundle, a); err == nil || !strings.Contains(err.Error(), "no.such.id") {
		t.Errorf("a template using an undefined message must fail the start: %v", err)
	}
	// A computed id cannot be checked, so it is refused.
	tmpl := mustParse(t, `{{define "content"}}{{.L.T "no.such.id"}}{{.L.Tf (printf "x") "A" 1}}{{end}}`)
	if _, err := messageIDs(tmpl); err == nil {
		t.Error("a computed message id must be rejected")
	}
	tmpl = mustParse(t, `{{define "content"}}{{with .X}}{{$.L.T "inner.id"}}{{end}}{{.L.Tf "count.id" "N" 3}}{{end}}`)
	ids, err := messageIDs(tmpl)
	if err != nil || len(ids) != 2 || ids[0] != "count.id" || ids[1] != "inner.id" {
		t.Errorf("ids %v, err %v", ids, err)
	}
}

func TestClientIPTrustsOnlyConfiguredProxies(t *testing.T) {
	s := &Server{proxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	app := fiber.New()
	tests := []struct {
		peer, xff, want string
	}{
		{"203.0.113.9", "", "203.0.113.9"},
		{"203.0.113.9", "1.2.3.4", "203.0.113.9"},              // not from a proxy: header ignored
		{"10.0.0.2", "198.51.100.7", "198.51.100.7"},           // through our proxy
		{"10.0.0.2", "6.6.6.6, 198.51.100.7", "198.51.100.7"},  // spoofed left part ignored
		{"10.0.0.2", "198.51.100.7, 10.0.0.3", "198.51.100.7"}, // two proxies of ours
		{"10.0.0.2", "not-an-ip", "10.0.0.2"},                  // garbage: the proxy itself
		{"10.0.0.2", "", "10.0.0.2"},
		{"10.0.0.2", "6.6.6.6\n198.51.100.7", "198.51.100.7"}, // two header lines: the proxy's own is the last
	}
	for _, tt := range tests {
		var fctx fasthttp.RequestCtx
		var req fasthttp.Request
		for _, line := range strings.Split(tt.xff, "\n") {
			if line != "" {
				req.Header.Add("X-Forwarded-For", line)
			}
		}
		fctx.Init(&req, &net.TCPAddr{IP: net.ParseIP(tt.peer), Port: 1}, nil)
		c := app.AcquireCtx(&fctx)
		if got := s.clientIP(c); got != tt.want {
			t.Errorf("peer %s, X-Forwarded-For %q: %s, want %s", tt.peer, tt.xff, got, tt.want)
		}
		app.ReleaseCtx(c)
	}
}

func mustParse(t *testing.T, src string) *template.Template {
	t.Helper()
	tmpl, err := template.New("t").Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}

func TestPanicBecomesLocalized500WithoutDetails(t *testing.T) {
	bundle, err := i18n.New(locales.FS)
	if err != nil {
		t.Fatal(err)
	}
	a, err := loadAssets(static.FS)
	if err != nil {
		t.Fatal(err)
	}
	views, err := newRenderer(templateFS, bundle, a)
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	var mu sync.Mutex
	s := &Server{
		bundle:  bundle,
		views:   views,
		log:     slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil)),
		metrics: newHTTPMetrics(prometheus.NewRegistry()),
	}
	s.cfg.BaseURL = &url.URL{Scheme: "http", Host: "localhost:8080"}
	app := fiber.New(fiber.Config{ErrorHandler: s.handleError})
	app.Use(s.requestID, s.accessLog, recover.New(recover.Config{EnableStackTrace: true, StackTraceHandler: s.logPanic}))
	app.Get("/boom", func(c *fiber.Ctx) error { panic("secret internal detail") })

	req := httptest.NewRequest(http.MethodGet, "/boom?lang=en", nil)
	res, err := app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 500 || !strings.Contains(string(b), "A technical error occurred") {
		t.Errorf("status %d\n%s", res.StatusCode, b)
	}
	if strings.Contains(string(b), "secret internal detail") || strings.Contains(string(b), "goroutine") {
		t.Error("the panic's details reached the page")
	}
	id := res.Header.Get("X-Request-Id")
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logs.String(), "secret internal detail") || !strings.Contains(logs.String(), "request_id="+id) ||
		!strings.Contains(logs.String(), "internal_test.go") {
		t.Errorf("the log must carry the panic, its stack and the request id:\n%s", logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestAcceptsEncoding(t *testing.T) {
	tests := []struct {
		header, coding string
		want           bool
	}{
		{"gzip, deflate, br", "gzip", true},
		{"gzip, deflate, br", "br", true},
		{"deflate", "gzip", false},
		{"gzip;q=0, br", "gzip", false},
		{"gzip; q=0.5", "gzip", true},
		{"GZIP", "gzip", true},
		{"xgzip", "gzip", false},
		{"", "gzip", false},
	}
	for _, tt := range tests {
		if got := acceptsEncoding(tt.header, tt.coding); got != tt.want {
			t.Errorf("acceptsEncoding(%q, %q) = %v", tt.header, tt.coding, got)
		}
	}
}

func TestIsFormStep(t *testing.T) {
	for path, want := range map[string]bool{
		"/amt/leipzig/leistungen/terminanfrage/antrag/anliegen": true,
		"/amt/leipzig/leistungen/terminanfrage/antrag/absenden": true, // limited by its own route to 32 KiB
		"/amt/leipzig/leistungen/terminanfrage/antrag":          false,
		"/barrierefreiheit":   false,
		"/amt/x/y/z/antrag/a": false,
	} {
		if got := isFormStep(path); got != want {
			t.Errorf("isFormStep(%q) = %v", path, got)
		}
	}
}

// Limits count an IPv6 client by its /64: changing the last 64 bits gets
// past no limit.
func TestClientKeyOfIPv6IsItsSlash64(t *testing.T) {
	s := &Server{}
	app := fiber.New()
	for peer, want := range map[string]string{
		"2001:db8:1:2::1":         "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff:1:2:3": "2001:db8:1:2::/64",
		"2001:db8:1:3::1":         "2001:db8:1:3::/64",
		"198.51.100.7":            "198.51.100.7",
		"::ffff:198.51.100.7":     "198.51.100.7",
	} {
		var fctx fasthttp.RequestCtx
		fctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.ParseIP(peer), Port: 1}, nil)
		c := app.AcquireCtx(&fctx)
		if got := s.clientKey(c); got != want {
			t.Errorf("%s: %s, want %s", peer, got, want)
		}
		app.ReleaseCtx(c)
	}
}

// The fast check of canonical paths agrees with the full one.
func TestPlainPathsAreCanonical(t *testing.T) {
	s := &Server{slashRoutes: map[string]bool{"/staff": true}}
	for _, path := range []string{"/", "/amt/leipzig", "/amt/leipzig/", "/amt//leipzig", "//amt", "/staff", "/staff/", "/staff//",
		"/amt/./x", "/amt/../x", "/amt/..", "/amt/.", "/a\\b", "/a\tb", "/static/app.3f2a.css", "/amt/leipzig/leistungen/x/antrag/y",
		"/.hidden", "/a..b", "/staff/verwaltung", "/staff/verwaltung/"} {
		want, ok := s.canonical(path)
		if got := s.plain(path); got != (ok && want == path) {
			t.Errorf("%q: plain %v, canonical %q %v", path, got, want, ok)
		}
	}
}
