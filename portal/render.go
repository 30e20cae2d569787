package portal

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"sort"
	"strings"
	"sync"
	"text/template/parse"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/bytebufferpool"

	"github.com/gesundheitsamt/portal/internal/i18n"
	"github.com/gesundheitsamt/portal/internal/office"
)

//go:embed templates/*.html
var templateFS embed.FS

// page is what every template receives: the request's localizer and the
// parts of the layout. Each page's data embeds it.
type page struct {
	L         *i18n.Localizer
	Lang      i18n.Lang
	Title     string       // the page's own title; the layout appends the site name
	Errors    []fieldError // the error summary; also prefixes the title with "Fehler:"
	Langs     []langLink   // the language switch
	RequestID string
	CSRF      string // token for the page's forms, empty when it has none
}

type langLink struct {
	Code, Name, URL string
	Current         bool
}

// fieldArgs is what the "form-field" template takes: the page (for its
// localizer) and one field.
type fieldArgs struct {
	Page  any
	Field fieldView
}

func fieldArgsOf(p any, f fieldView) fieldArgs { return fieldArgs{Page: p, Field: f} }

// inputType is the type attribute of a field's input. Numbers are text
// inputs with inputmode, as GOV.UK advises: type=number mangles input.
func inputType(fieldType string) string {
	switch fieldType {
	case "email", "tel", "date":
		return fieldType
	}
	return "text"
}

// renderer holds every page template, parsed and checked at start. The
// FuncMap is fixed at start too: anything request-specific travels in the
// page data, never in a shared function.
type renderer struct {
	pages map[string]*template.Template
}

func newRenderer(fsys fs.FS, bundle *i18n.Bundle, a *assets) (*renderer, error) {
	funcs := template.FuncMap{"asset": a.url, "args": fieldArgsOf, "inputType": inputType, "bookingField": bookingFieldOf, "waitlistField": waitlistFieldOf, "calendarNumber": calendarNumberOf, "calendarDate": calendarDateOf, "walkInField": walkInFieldOf}
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(fsys, "templates/layout.html", "templates/partials.html")
	if err != nil {
		return nil, fmt.Errorf("portal: templates: %w", err)
	}
	names, err := fs.Glob(fsys, "templates/*.html")
	if err != nil {
		return nil, err
	}
	r := &renderer{pages: make(map[string]*template.Template)}
	var missing []string
	for _, file := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(file, "templates/"), ".html")
		if name == "layout" || name == "partials" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(fsys, file)
		if err != nil {
			return nil, fmt.Errorf("portal: templates: %w", err)
		}
		if t.Lookup("content") == nil {
			return nil, fmt.Errorf("portal: templates: %s defines no \"content\"", file)
		}
		ids, err := messageIDs(t)
		if err != nil {
			return nil, fmt.Errorf("portal: templates: %s: %w", file, err)
		}
		for _, id := range ids {
			for _, l := range bundle.Languages() {
				if !bundle.Localizer(l.Code).Has(id) {
					missing = append(missing, fmt.Sprintf("%s uses %q, missing in %s", file, id, l.Code))
				}
			}
		}
		r.pages[name] = t
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("portal: templates use undefined messages:\n  %s", strings.Join(missing, "\n  "))
	}
	return r, nil
}

// render writes page name with data and status. Rendering goes to a buffer
// first, so a template error becomes a clean error page, not half a page.
func (r *renderer) render(c *fiber.Ctx, status int, name string, data any) error {
	buf := bytebufferpool.Get()
	defer bytebufferpool.Put(buf)
	if err := r.execute(buf, name, data); err != nil {
		return err
	}
	c.Status(status)
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	// SetBody copies: the buffer goes back to the pool before fasthttp
	// writes the response (c.Send would keep a reference to it).
	c.Response().SetBody(buf.B)
	return nil
}

func (r *renderer) execute(w io.Writer, name string, data any) error {
	t, ok := r.pages[name]
	if !ok {
		return fmt.Errorf("portal: no template %q", name)
	}
	if err := t.ExecuteTemplate(w, "layout", data); err != nil {
		return fmt.Errorf("portal: render %s: %w", name, err)
	}
	return nil
}

// sharedPages keeps rendered pages that are the same for every visitor in
// one language (public content, no form, nothing personal) until the
// office directory they were built from changes. html/template spends
// tens of microseconds on a page; the start page is the portal's hottest.
type sharedPages struct {
	mu    sync.RWMutex
	pages map[string]sharedPage
}

type sharedPage struct {
	snap *office.Snapshot
	body []byte
	gz   []byte // the body compressed once, served to browsers that accept it
	br   []byte
}

// maxCachedPages bounds each page cache (shared and spliced pages), about
// 30 MB at most. Its keys are routes with parameters a handler found valid
// (an office, a service, a step) and a language, so junk requests add
// none; when many offices and languages reach the bound, an entry makes
// room, and a page dropped is only rendered again.
const maxCachedPages = 1024

// renderShared answers with page name, rendered by build, from the cache
// when possible. Only requests without a query (apart from lang) are
// shared: anything else may show what a person typed. The key is the
// matched route with its parameters (the page's one address, see
// canonical.go), because the language switch links to it.
func (s *Server) renderShared(c *fiber.Ctx, snap *office.Snapshot, name string, build func() any) error {
	args := c.Request().URI().QueryArgs()
	if n := args.Len(); n > 1 || (n == 1 && !args.Has("lang")) {
		return s.views.render(c, fiber.StatusOK, name, build())
	}
	key := name + "\x00" + routeKey(c) + "\x00" + s.localizerFor(c).Lang().Code
	s.shared.mu.RLock()
	hit, ok := s.shared.pages[key]
	s.shared.mu.RUnlock()
	if !ok || hit.snap != snap {
		var buf bytes.Buffer
		if err := s.views.execute(&buf, name, build()); err != nil {
			return err
		}
		hit = sharedPage{snap: snap, body: buf.Bytes()}
		var err error
		if hit.gz, err = gzipped(hit.body); err != nil {
			return err
		}
		if hit.br, err = brotlied(hit.body, 6); err != nil { // pages are rebuilt at run time: a fast level
			return err
		}
		s.shared.mu.Lock()
		makeRoom(s.shared.pages, key)
		s.shared.pages[key] = hit
		s.shared.mu.Unlock()
	}
	c.Status(fiber.StatusOK)
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return sendEncoded(c, hit.body, hit.gz, hit.br)
}

// makeRoom removes an entry of pages when key is new and the cache is
// full.
func makeRoom[V any](pages map[string]V, key string) {
	if _, ok := pages[key]; ok || len(pages) < maxCachedPages {
		return
	}
	for k := range pages {
		delete(pages, k)
		return
	}
}

// messageIDs returns the message ids a template passes to .L.T or .L.Tf. An id that is not a string literal is an error: only literal ids
// can be checked before a citizen sees the page.
func messageIDs(t *template.Template) ([]string, error) {
	seen := make(map[string]bool)
	var walkErr error
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					walk(c)
				}
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.IfNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.TemplateNode:
			walk(n.Pipe)
		case *parse.PipeNode:
			if n != nil {
				for _, cmd := range n.Cmds {
					walk(cmd)
				}
			}
		case *parse.CommandNode:
			if len(n.Args) > 0 && isLocalizeCall(n.Args[0]) {
				if len(n.Args) < 2 {
					walkErr = fmt.Errorf("%s without a message id", n)
					return
				}
				s, ok := n.Args[1].(*parse.StringNode)
				if !ok {
					walkErr = fmt.Errorf("message id in %s is not a string literal", n)
					return
				}
				seen[s.Text] = true
			}
			for _, a := range n.Args {
				walk(a)
			}
		}
	}
	for _, tt := range t.Templates() {
		if tt.Tree != nil {
			walk(tt.Tree.Root)
		}
	}
	ids := make([]string, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids, walkErr
}

func isLocalizeCall(n parse.Node) bool {
	var idents []string
	switch n := n.(type) {
	case *parse.FieldNode:
		idents = n.Ident
	case *parse.VariableNode:
		idents = n.Ident
	case *parse.ChainNode:
		idents = n.Field
	default:
		return false
	}
	if len(idents) < 2 || idents[len(idents)-2] != "L" {
		return false
	}
	switch idents[len(idents)-1] {
	case "T", "Tf":
		return true
	}
	return false
}
