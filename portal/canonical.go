package portal

import (
	"strings"

	"github.com/gofiber/fiber/v2"
)

// Every page has one address. The router forgives trailing slashes, so
// "/amt/leipzig", "/amt/leipzig/" and "/amt/leipzig///" would each be a
// page of its own to a cache keyed by path, and to search engines.
// canonicalPath sends a GET or HEAD of any other spelling to the one the
// route table uses (301), and refuses other methods (404); the caches key
// on the matched route and its parameters (routeKey), never the raw path.

// labelRedirected is the route label of a redirect to the canonical path.
const labelRedirected = "(non-canonical)"

// canonicalPath is the middleware.
func (s *Server) canonicalPath(c *fiber.Ctx) error {
	path := c.Path()
	want, ok := s.canonical(path)
	if want == path {
		return c.Next()
	}
	c.Locals(localRouteLabel, labelRedirected)
	if !ok || (c.Method() != fiber.MethodGet && c.Method() != fiber.MethodHead) {
		return fiber.ErrNotFound
	}
	if q := c.Request().URI().QueryString(); len(q) > 0 {
		want += "?" + string(q)
	}
	return c.Redirect(want, fiber.StatusMovedPermanently)
}

// canonical returns the canonical spelling of path: no empty segments,
// and a trailing slash exactly where the route table has one. It reports
// false when path cannot be redirected: a "." or ".." segment, a
// backslash (which browsers read as a slash: "/\evil.example" is another
// site), or a control character.
func (s *Server) canonical(path string) (string, bool) {
	if s.plain(path) {
		return path, true
	}
	if strings.ContainsAny(path, "\\") {
		return "", false
	}
	for i := 0; i < len(path); i++ {
		if path[i] < 0x21 || path[i] == 0x7f {
			return "", false
		}
	}
	segments := strings.Split(path, "/")
	kept := segments[:0]
	for _, seg := range segments {
		switch seg {
		case "":
			continue
		case ".", "..":
			return "", false
		}
		kept = append(kept, seg)
	}
	clean := "/" + strings.Join(kept, "/")
	if s.slashRoutes[clean] {
		clean += "/"
	}
	return clean, true
}

// plain reports, without allocating, whether path is canonical as it
// stands: what nearly every request's path is.
func (s *Server) plain(path string) bool {
	if path == "/" {
		return true
	}
	if len(path) < 2 || path[0] != '/' {
		return false
	}
	bare, slash := strings.CutSuffix(path, "/")
	if slash != s.slashRoutes[bare] {
		return false
	}
	start := 1
	for i := 1; i <= len(bare); i++ {
		if i < len(bare) && bare[i] != '/' {
			if c := bare[i]; c < 0x21 || c == 0x7f || c == '\\' {
				return false
			}
			continue
		}
		switch bare[start:i] {
		case "", ".", "..":
			return false
		}
		start = i + 1
	}
	return true
}

// slashRoutesOf returns the static routes whose path ends in a slash, by
// their path without it ("/staff" for "/staff/"): their canonical spelling
// keeps the slash.
func slashRoutesOf(app *fiber.App) map[string]bool {
	out := make(map[string]bool)
	for _, r := range app.GetRoutes() {
		if len(r.Path) > 1 && strings.HasSuffix(r.Path, "/") && !strings.ContainsAny(r.Path, ":*+") {
			out[strings.TrimSuffix(r.Path, "/")] = true
		}
	}
	return out
}

// routeKey identifies the request's matched route and its parameter
// values: what a page cache keys on.
func routeKey(c *fiber.Ctx) string {
	r := c.Route()
	if len(r.Params) == 0 {
		return r.Path
	}
	var b strings.Builder
	b.WriteString(r.Path)
	for _, p := range r.Params {
		b.WriteByte(0)
		b.WriteString(c.Params(p))
	}
	return b.String()
}
