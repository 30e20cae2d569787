package portal

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/gesundheitsamt/portal/internal/demo"
	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/i18n"
	"github.com/gesundheitsamt/portal/internal/testlog"
	"github.com/gesundheitsamt/portal/locales"
	"github.com/gesundheitsamt/portal/static"
)

// TestEveryMessageIDUsedInCodeExists covers the ids that Go code (not a
// template; templates are checked at start) passes to the localizer: the
// ids the code spells out are found by parsing it, the ids it computes are
// built here the way the code builds them. Each must be defined in every
// language's own file.
func TestEveryMessageIDUsedInCodeExists(t *testing.T) {
	bundle, err := i18n.New(locales.FS)
	if err != nil {
		t.Fatal(err)
	}
	prefixes := map[string]bool{}
	for _, id := range bundle.MessageIDs(i18n.Source) {
		first, _, _ := strings.Cut(id, ".")
		prefixes[first] = true
	}
	uses, problems := messageIDsInCode(t, repositoryRoot(t), prefixes)
	for _, p := range problems {
		t.Error(p)
	}
	if len(uses) < 50 {
		t.Fatalf("the scan found only %d message ids in the code: it no longer sees them", len(uses))
	}

	// Ids the code computes from a value.
	computed := func(id string) { uses = append(uses, idUse{id: id, at: "computed"}) }
	for status := 400; status < 600; status++ {
		heading, text := errorTexts(status)
		computed(heading)
		computed(text)
	}
	for _, r := range feedbackRules {
		computed(r.msgID)
	}
	for _, svc := range demo.Services() {
		for _, part := range []string{"title", "summary", "body", "legal"} {
			computed("service." + svc.Slug + "." + part)
		}
	}
	for _, st := range domain.Statuses {
		computed("status.state." + string(st))
	}
	for _, unit := range []string{"year", "years", "month", "months", "both"} {
		computed("staff.retention.period." + unit)
	}
	for _, m := range notifyModes {
		computed("staff.mail." + m)
	}

	for _, l := range bundle.Languages() {
		own := map[string]bool{}
		for _, id := range bundle.MessageIDs(l.Code) {
			own[id] = true
		}
		for _, u := range uses {
			if !own[u.id] {
				t.Errorf("%s: message %q (%s) is used by the code but not defined in active.%s.toml", l.Code, u.id, u.at, l.Code)
			}
		}
	}
}

// idShape is the shape of a message id: dotted lowercase words.
var idShape = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$`)

// templateAction and templateString find the quoted strings inside the
// actions of a text or HTML template kept in a Go literal
// ({{.L.T "mail.greeting"}}).
var (
	templateAction = regexp.MustCompile(`\{\{.*?\}\}`)
	templateString = regexp.MustCompile(`"([^"\\]*)"`)
)

// notMessageIDs are the literals of the shape of a message id that name
// something else, each with what it names. One that no longer occurs in
// the code fails the test, so the list cannot grow stale.
var notMessageIDs = map[string]string{
	"mail.send":        "the kind of River's mail job",
	"mail.digest.plan": "the kind of River's digest planning job",
	"mail.digest":      "the id of the periodic digest job",
	"layout.html":      "the name of the page layout template",
}

// idUse is a message id and where the code names it.
type idUse struct{ id, at string }

// messageIDsInCode parses every non-test Go file under root, as a linter
// would, and returns the message ids the code spells out:
//   - every string literal of the shape of an id whose first word is one
//     of prefixes (the top-level keys of the locale files), wherever it
//     stands: a table, a struct field, a return, an action of a template
//     kept in a Go string;
//   - every literal given as the id to a localizer (.T, .Tf, .TData) or to
//     fault.New, whatever its shape;
//   - the value of every constant named Msg… or msg….
//
// Constants of a named type other than string (domain.Action) are words
// of that type's own vocabulary and are left out, as are notMessageIDs.
// problems names what cannot be checked (a Msg constant whose value is
// not a plain literal) and entries of notMessageIDs no longer found.
func messageIDsInCode(t *testing.T, root string, prefixes map[string]bool) (uses []idUse, problems []string) {
	t.Helper()
	fset := token.NewFileSet()
	seen := map[token.Pos]bool{}         // literals already taken or left out
	exempted := map[string]bool{}        // notMessageIDs met
	looksLikeID := func(s string) bool { // by shape and top-level key
		first, _, _ := strings.Cut(s, ".")
		return idShape.MatchString(s) && prefixes[first]
	}
	add := func(lit *ast.BasicLit, always bool) {
		if lit.Kind != token.STRING || seen[lit.Pos()] {
			return
		}
		seen[lit.Pos()] = true
		s, err := strconv.Unquote(lit.Value)
		if err != nil || s == "" {
			return // "" is "no message" (fault.New without one)
		}
		at := fset.Position(lit.Pos()).String()
		switch {
		case always:
			uses = append(uses, idUse{id: s, at: at})
		case looksLikeID(s):
			if _, ok := notMessageIDs[s]; ok {
				exempted[s] = true
				return
			}
			uses = append(uses, idUse{id: s, at: at})
		case strings.Contains(s, "{{"):
			for _, action := range templateAction.FindAllString(s, -1) {
				for _, m := range templateString.FindAllStringSubmatch(action, -1) {
					if looksLikeID(m[1]) {
						uses = append(uses, idUse{id: m[1], at: at + " (template)"})
					}
				}
			}
		}
	}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (name == "testdata" || name == "vendor" || name == "node_modules" || strings.HasPrefix(name, ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f, err := parser.ParseFile(fset, rel, src, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		// Parents are visited before their children, so the rules for a
		// call and a declaration see their literals first.
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				if lit, ok := localizedArg(n).(*ast.BasicLit); ok {
					add(lit, true)
				}
			case *ast.ValueSpec:
				for i, ident := range n.Names {
					var lit *ast.BasicLit
					if i < len(n.Values) {
						lit, _ = n.Values[i].(*ast.BasicLit)
					}
					switch {
					case msgConst.MatchString(ident.Name):
						if lit == nil || lit.Kind != token.STRING {
							problems = append(problems, fmt.Sprintf("%s: %s is not a plain string literal; a message id must be one to be checked",
								fset.Position(ident.Pos()), ident.Name))
							continue
						}
						add(lit, true)
					case lit != nil && n.Type != nil && !isIdent(n.Type, "string"):
						seen[lit.Pos()] = true // a word of its type's vocabulary
					}
				}
			case *ast.BasicLit:
				add(n, false)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for s, what := range notMessageIDs {
		if !exempted[s] {
			problems = append(problems, fmt.Sprintf("%q (%s) is no longer in the code: drop it from notMessageIDs", s, what))
		}
	}
	return uses, problems
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

// msgConst is the name of a constant holding a message id.
var msgConst = regexp.MustCompile(`^[Mm]sg[A-Z]`)

// localizedArg returns the argument of call that is a message id: the
// first of l.T, l.Tf and l.TData, the third of fault.New; nil for any
// other call.
func localizedArg(call *ast.CallExpr) ast.Expr {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return nil
	}
	switch pkg, _ := sel.X.(*ast.Ident); {
	case pkg != nil && pkg.Name == "fault" && sel.Sel.Name == "New" && len(call.Args) == 3:
		return call.Args[2]
	case (sel.Sel.Name == "T" || sel.Sel.Name == "Tf" || sel.Sel.Name == "TData") && len(call.Args) > 0:
		return call.Args[0]
	}
	return nil
}

// repositoryRoot is the directory of go.mod above the test's directory.
func repositoryRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
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
	var logs testlog.Buffer
	s := &Server{
		bundle:  bundle,
		views:   views,
		log:     slog.New(slog.NewTextHandler(&logs, nil)),
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
	if !strings.Contains(logs.String(), "secret internal detail") || !strings.Contains(logs.String(), "request_id="+id) ||
		!strings.Contains(logs.String(), "internal_test.go") {
		t.Errorf("the log must carry the panic, its stack and the request id:\n%s", logs.String())
	}
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
