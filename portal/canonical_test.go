package portal_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Every page has one address: other spellings of it are redirected (GET)
// or refused, and never become cache entries of their own.
func TestOneAddressPerPage(t *testing.T) {
	h := newHarness(t, nil)
	for _, sc := range []scenario{
		{name: "trailing slash", path: "/amt/leipzig/", status: 301, location: "/amt/leipzig"},
		{name: "many trailing slashes, query kept", path: "/amt/leipzig///?lang=en", status: 301, location: "/amt/leipzig?lang=en"},
		{name: "empty segments", path: "//amt//leipzig", status: 301, location: "/amt/leipzig"},
		{name: "a form step", path: terminBase + "/anliegen/", status: 301, location: terminBase + "/anliegen"},
		{name: "the inbox keeps its slash", path: "/staff", status: 301, location: "/staff/"},
		{name: "the inbox", path: "/staff/", status: 303, location: "/staff/login"},
		{name: "the admin page has none", path: "/staff/verwaltung/", status: 301, location: "/staff/verwaltung"},
		{name: "dot segments are refused", path: "/amt/./leipzig", status: 404},
		{name: "dot-dot segments are refused", path: "/amt/../impressum", status: 404},
		{name: "a backslash is never redirected", path: "/\\evil.example/", status: 404},
		{name: "a post to another spelling is refused", method: http.MethodPost, path: "/barrierefreiheit/", form: url.Values{"message": {"x"}}, status: 404},
		{name: "the canonical page", path: "/amt/leipzig", status: 200, contains: []string{"<h1>Gesundheitsamt Leipzig</h1>"}},
	} {
		t.Run(sc.name, func(t *testing.T) { h.run(t, sc) })
	}

	// A flood of distinct junk paths leaves the caches as they were: an
	// entry per page and language actually shown.
	for i := 0; i < 3000; i++ {
		paths := []string{
			"/amt/leipzig" + strings.Repeat("/", i%50+1),
			"/amt/leipzig/leistungen/reiseimpfberatung" + strings.Repeat("/", i%7+1) + "?lang=en",
			"/amt/nirgendwo-" + strconv.Itoa(i),
			terminBase + "/anliegen" + strings.Repeat("/", i%9+1),
			"/leistungen/x" + strconv.Itoa(i),
		}
		for _, p := range paths {
			h.get(p)
		}
	}
	for _, p := range []string{"/", "/amt/leipzig", "/amt/leipzig?lang=en", terminBase + "/anliegen"} {
		h.get(p)
	}
	_, metrics := h.local("/metrics")
	for cache, most := range map[string]int{"shared": 3, "spliced": 1} {
		m := regexp.MustCompile(fmt.Sprintf(`portal_page_cache_entries\{cache="%s"\} (\d+)`, cache)).FindStringSubmatch(metrics)
		if m == nil {
			t.Fatalf("no cache metric for %s", cache)
		}
		if n, _ := strconv.Atoi(m[1]); n > most || n == 0 {
			t.Errorf("%s page cache: %d entries, want 1 to %d", cache, n, most)
		}
	}
}
