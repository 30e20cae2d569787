package portal_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

var csrfFieldRe = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// formSession is a browser on the feedback form: its CSRF cookie and the
// token from the page.
type formSession struct {
	cookie string // "name=value"
	token  string
}

func (h *harness) openFeedbackForm(t *testing.T) formSession {
	t.Helper()
	res, b := h.get("/barrierefreiheit")
	var s formSession
	for _, c := range res.Cookies() {
		if c.Name == "__Host-csrf" {
			if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" {
				t.Errorf("CSRF cookie attributes %+v", c)
			}
			s.cookie = c.Name + "=" + c.Value
		}
	}
	m := csrfFieldRe.FindStringSubmatch(b)
	if s.cookie == "" || m == nil {
		t.Fatalf("no CSRF cookie or token on the form page (cookie %q)", s.cookie)
	}
	s.token = m[1]
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("the form page must not be cached: %q", res.Header.Get("Cache-Control"))
	}
	return s
}

func (h *harness) postFeedback(s formSession, form url.Values, header ...string) (*http.Response, string) {
	h.t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/barrierefreiheit", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if s.cookie != "" {
		req.Header.Set("Cookie", s.cookie)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res := h.do(req)
	return res, body(h.t, res)
}

func (h *harness) feedbackCount(t *testing.T) (n int) {
	t.Helper()
	if err := h.db.QueryRow(context.Background(), `SELECT count(*) FROM accessibility_feedback`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestFeedbackIsStoredAndRedirects(t *testing.T) {
	h := newHarness(t, nil)
	s := h.openFeedbackForm(t)
	res, _ := h.postFeedback(s, url.Values{
		"_csrf": {s.token}, "message": {"  Der Kontrast der Fußzeile ist zu schwach.  "},
		"page": {"/impressum"}, "email": {"anna@example.org"}, "unknown": {"ignored"},
	}, "Sec-Fetch-Site", "same-origin", "Origin", "null")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/barrierefreiheit/danke" {
		t.Fatalf("status %d, location %q", res.StatusCode, res.Header.Get("Location"))
	}
	var msg, page, email, lang string
	err := h.db.QueryRow(context.Background(), `SELECT message, page, email, lang FROM accessibility_feedback`).Scan(&msg, &page, &email, &lang)
	if err != nil {
		t.Fatal(err)
	}
	if msg != "Der Kontrast der Fußzeile ist zu schwach." || page != "/impressum" || email != "anna@example.org" || lang != "de" {
		t.Errorf("stored %q %q %q %q", msg, page, email, lang)
	}
	_, b := h.get("/barrierefreiheit/danke")
	if !strings.Contains(b, "Vielen Dank für Ihre Meldung") {
		t.Error("thank-you page missing")
	}
}

func TestFeedbackErrorsKeepEveryValue(t *testing.T) {
	h := newHarness(t, nil)
	s := h.openFeedbackForm(t)
	res, b := h.postFeedback(s, url.Values{
		"_csrf": {s.token}, "message": {""}, "page": {"Startseite <b>"}, "name": {"Zoë Müller-Lüdenscheidt"},
		"email": {"anna(at)example"},
	})
	if res.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("status %d", res.StatusCode)
	}
	for _, want := range []string{
		"<title>Fehler:", `class="error-summary" role="alert"`,
		`href="#feedback-message"`, "Beschreiben Sie die Barriere.",
		`href="#feedback-email"`, "Geben Sie eine E-Mail-Adresse im richtigen Format ein",
		`value="Startseite &lt;b&gt;"`, `value="Zoë Müller-Lüdenscheidt"`, `value="anna(at)example"`,
		`aria-describedby="feedback-email-hint feedback-email-error"`, `aria-invalid="true"`,
		`name="_csrf" value="`,
	} {
		if !strings.Contains(b, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Index(b, `href="#feedback-message"`) > strings.Index(b, `href="#feedback-email"`) {
		t.Error("the error summary must follow the order of the form")
	}
	if h.feedbackCount(t) != 0 {
		t.Error("an invalid message was stored")
	}

	// Too long, in English: the message says the limit, the text stays.
	long := strings.Repeat("ä", 5001)
	s = h.openFeedbackForm(t)
	res, b = h.postFeedback(s, url.Values{"_csrf": {s.token}, "message": {long}}, "Accept-Language", "en")
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(b, "at most 5,000 characters") || !strings.Contains(b, long) {
		t.Errorf("status %d; long message not reported in English or not kept", res.StatusCode)
	}
}

func TestStateChangesNeedCSRFProof(t *testing.T) {
	h := newHarness(t, nil)
	s := h.openFeedbackForm(t)
	other := h.openFeedbackForm(t) // another browser
	valid := url.Values{"message": {"Barriere"}}
	with := func(token string) url.Values {
		v := url.Values{"_csrf": {token}}
		for k, vs := range valid {
			v[k] = vs
		}
		return v
	}
	tests := []struct {
		name   string
		s      formSession
		form   url.Values
		header []string
	}{
		{"no token", s, valid, nil},
		{"no cookie", formSession{}, with(s.token), nil},
		{"token of another browser", s, with(other.token), nil},
		{"tampered token", s, with(tamper(s.token)), nil},
		{"garbage token", s, with("not-a-token"), nil},
		{"cross-site request with valid token", s, with(s.token), []string{"Sec-Fetch-Site", "cross-site"}},
		{"foreign origin with valid token", s, with(s.token), []string{"Origin", "https://evil.example"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, b := h.postFeedback(tt.s, tt.form, tt.header...)
			if res.StatusCode != http.StatusForbidden {
				t.Errorf("status %d, want 403", res.StatusCode)
			}
			if !strings.Contains(b, "Bitte laden Sie die Seite neu") {
				t.Error("the 403 page must say what to do")
			}
		})
	}
	if h.feedbackCount(t) != 0 {
		t.Error("a request without valid CSRF proof changed state")
	}
	// The same token works for its own browser, also from the same origin.
	res, _ := h.postFeedback(s, with(s.token), "Origin", "http://localhost:8080")
	if res.StatusCode != http.StatusSeeOther {
		t.Errorf("valid post: status %d", res.StatusCode)
	}
}

func TestOversizedBodiesGetALocalized413(t *testing.T) {
	h := newHarness(t, nil)
	s := h.openFeedbackForm(t)
	// Over the route's limit (32 KiB) but under the server's.
	res, b := h.postFeedback(s, url.Values{"_csrf": {s.token}, "message": {strings.Repeat("x", 40<<10)}}, "Accept-Language", "en")
	if res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(b, "The request is too large") {
		t.Errorf("route limit: status %d\n%s", res.StatusCode, excerpt(b))
	}
	// Over every route's limit: refused from the announced length before
	// any handler reads, still localized and with the security headers.
	// The request announces 64 MiB (the largest route, a form step with
	// uploads, takes 30 MiB) and sends its first 16 KiB: the server
	// streams bodies, so it looks at a request once its first bytes are
	// in, and answers without reading the rest.
	base := h.listen()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /barrierefreiheit HTTP/1.1\r\nHost: localhost:8080\r\n"+
		"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s", 64<<20, strings.Repeat("x", 16<<10))
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	res, err = http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b = body(t, res)
	if res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(b, "Die Anfrage ist zu groß") {
		t.Errorf("server limit: status %d\n%s", res.StatusCode, excerpt(b))
	}
	if !strings.Contains(res.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Error("413 before routing lacks the security headers")
	}
	if strings.Contains(b, "goroutine") || strings.Contains(b, "fasthttp") {
		t.Error("internal details in the error page")
	}
}

func TestFeedbackIsRateLimited(t *testing.T) {
	h := newHarness(t, nil)
	s := h.openFeedbackForm(t)
	var last *http.Response
	var b string
	for i := 0; i < 11; i++ {
		last, b = h.postFeedback(s, url.Values{"_csrf": {s.token}, "message": {""}})
	}
	if last.StatusCode != http.StatusTooManyRequests || last.Header.Get("Retry-After") == "" {
		t.Fatalf("11th post: status %d, Retry-After %q", last.StatusCode, last.Header.Get("Retry-After"))
	}
	if !strings.Contains(b, "Zu viele Anfragen") {
		t.Error("429 page not localized")
	}
	// Rate-limit records must not hold client addresses.
	var keys string
	if err := h.db.QueryRow(context.Background(), `SELECT string_agg(encode(key, 'escape'), ' ') FROM rate_count`).Scan(&keys); err != nil {
		t.Fatal(err)
	}
	if keys == "" || strings.Contains(keys, "0.0.0.0") || strings.Contains(keys, "127.0.0.1") {
		t.Errorf("rate-limit keys %q", keys)
	}
}

// tamper changes the first character of a token to another one. (Upper-
// casing a prefix, as before, left a token without lower-case letters
// there unchanged: a flaky test, about once in 200 runs.)
func tamper(token string) string {
	first := byte('A')
	if token[0] == 'A' {
		first = 'B'
	}
	return string(first) + token[1:]
}
