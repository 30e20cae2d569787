package portal_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pquerna/otp/totp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/gesundheitsamt/portal/forms"
	"github.com/gesundheitsamt/portal/internal/app"
	"github.com/gesundheitsamt/portal/internal/auth"
	"github.com/gesundheitsamt/portal/internal/config"
	"github.com/gesundheitsamt/portal/internal/demo"
	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/inbox"
	"github.com/gesundheitsamt/portal/internal/office"
	"github.com/gesundheitsamt/portal/internal/retention"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/store/storetest"
	"github.com/gesundheitsamt/portal/internal/submission"
	"github.com/gesundheitsamt/portal/internal/testlog"
	"github.com/gesundheitsamt/portal/portal"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

// harness is the real application, built by app.New, on a fresh
// database; its methods and the helpers of this file are what the tests
// of the HTTP layer drive it with.
type harness struct {
	t    testing.TB
	app  *app.App
	srv  *portal.Server
	db   *store.DB
	dir  *office.Directory
	reg  *prometheus.Registry
	log  *testlog.Buffer
	auth *auth.Service
	subs *submission.Service
	// spool is the directory of the files of posts in flight.
	spool string
	base  string // of the loopback listener of local, once started
	// events receive what the domain tells (new submissions, status
	// changes, resume links); a test points them at a webhook or mail
	// notifier, such as notifier.
	events *eventsProxy
	// notifier is the one the wiring built: jobs inserted, not worked
	// (the app is not started).
	notifier app.Notifier
	inbox    *inbox.Service
	cases    *retention.Cases
	// clock is what the services read the time from.
	clock *testClock
}

// testClock is the services' clock in tests: the system's until a test
// sets a time.
type testClock struct {
	mu sync.Mutex
	at time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at.IsZero() {
		return time.Now()
	}
	return c.at
}

// set makes the clock say at; the zero time: the system clock again.
func (c *testClock) set(at time.Time) {
	c.mu.Lock()
	c.at = at
	c.mu.Unlock()
}

// eventsProxy forwards events, and resume links, to a target set by a
// test; none by default.
type eventsProxy struct {
	mu     sync.Mutex
	target events
}

// events is what the domain tells: submission.Events and inbox.Events.
type events interface {
	submission.Events
	inbox.Events
}

func (e *eventsProxy) set(t events) {
	e.mu.Lock()
	e.target = t
	e.mu.Unlock()
}

func (e *eventsProxy) get() events {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.target
}

func (e *eventsProxy) Submitted(ctx context.Context, tx pgx.Tx, sub store.Submission) error {
	if t := e.get(); t != nil {
		return t.Submitted(ctx, tx, sub)
	}
	return nil
}

func (e *eventsProxy) Answered(ctx context.Context, tx pgx.Tx, sub store.Submission) error {
	if t := e.get(); t != nil {
		return t.Answered(ctx, tx, sub)
	}
	return nil
}

// ResumeLink forwards to a target that mails resume links (a
// mail.Notifier); without one, resume links are not mailed.
func (e *eventsProxy) ResumeLink(ctx context.Context, tx pgx.Tx, r submission.ResumeRequest) error {
	if m, ok := e.get().(submission.ResumeMailer); ok {
		return m.ResumeLink(ctx, tx, r)
	}
	return fault.New(fault.Unavailable, "portal test: resume link", "")
}

func (e *eventsProxy) StatusChanged(ctx context.Context, tx pgx.Tx, sub store.Submission) error {
	if t := e.get(); t != nil {
		return t.StatusChanged(ctx, tx, sub)
	}
	return nil
}

// newHarness builds the real application on a fresh database with the demo
// data. env overrides configuration variables.
func newHarness(t testing.TB, env map[string]string) *harness {
	t.Helper()
	return newHarnessOn(t, env, storetest.New(t))
}

// newHarnessOn is newHarness on the database db (say, one reached through
// a storetest.Proxy); opts, if given, change the wiring's options.
func newHarnessOn(t testing.TB, env map[string]string, db *store.DB, opts ...func(*app.Options)) *harness {
	t.Helper()
	if err := demo.Seed(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		"PORTAL_SECRET_KEY":     strings.Repeat("test-secret-", 4),
		"PORTAL_ENCRYPTION_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
	}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	logs := &testlog.Buffer{}
	h := &harness{t: t, db: db, log: logs, events: &eventsProxy{}, clock: &testClock{}, spool: t.TempDir()}
	o := app.Options{
		Logger:   slog.New(slog.NewTextHandler(logs, nil)),
		Registry: prometheus.NewRegistry(),
		Notifier: func(built app.Notifier) app.Notifier { h.notifier = built; return h.events },
		Now:      h.clock.now,
		SpoolDir: h.spool,
	}
	for _, change := range opts {
		change(&o)
	}
	a, err := app.New(context.Background(), cfg, db, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Stop)
	t.Cleanup(func() { _ = a.Server.Shutdown(time.Second) })
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("portal log:\n%s", logs.String())
		}
	})
	h.app, h.srv, h.dir, h.reg, h.auth, h.subs, h.inbox, h.cases = a, a.Server, a.Directory, a.Registry, a.Auth, a.Submissions, a.Inbox, a.Retention
	return h
}

// listen serves the app on a loopback port, for what needs a real
// connection (a body over the server's limit closes it), and returns the
// base URL.
func (h *harness) listen() string {
	h.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.t.Fatal(err)
	}
	go func() { _ = h.srv.Serve(ln) }() // under the connection limits, as serve runs it
	return "http://" + ln.Addr().String()
}

// local sends a GET over a real loopback connection, with header pairs:
// for what answers only local clients (/metrics, /dev/mail). fiber's
// in-memory connection of do comes from 0.0.0.0, which is not local.
func (h *harness) local(path string, header ...string) (*http.Response, string) {
	h.t.Helper()
	if h.base == "" {
		h.base = h.listen()
	}
	req, err := http.NewRequest(http.MethodGet, h.base+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		h.t.Fatal(err)
	}
	return res, body(h.t, res)
}

// do sends a request through the real app (fiber's in-memory connection).
func (h *harness) do(req *http.Request) *http.Response {
	h.t.Helper()
	res, err := h.srv.App().Test(req, -1)
	if err != nil {
		h.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	return res
}

func (h *harness) get(path string, header ...string) (*http.Response, string) {
	h.t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res := h.do(req)
	return res, body(h.t, res)
}

func body(t testing.TB, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// scenario is one request and what must come back.
type scenario struct {
	name        string
	method      string
	path        string
	header      map[string]string
	form        url.Values
	status      int
	location    string
	contains    []string
	notContains []string
}

func (h *harness) run(t *testing.T, sc scenario) {
	t.Helper()
	method := sc.method
	if method == "" {
		method = http.MethodGet
	}
	var rd io.Reader
	if sc.form != nil {
		rd = strings.NewReader(sc.form.Encode())
	}
	req := httptest.NewRequest(method, sc.path, rd)
	if sc.form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range sc.header {
		req.Header.Set(k, v)
	}
	res := h.do(req)
	b := body(t, res)
	if res.StatusCode != sc.status {
		t.Errorf("status %d, want %d\n%s", res.StatusCode, sc.status, excerpt(b))
	}
	if sc.location != "" && res.Header.Get("Location") != sc.location {
		t.Errorf("Location %q, want %q", res.Header.Get("Location"), sc.location)
	}
	for _, s := range sc.contains {
		if !strings.Contains(b, s) {
			t.Errorf("body lacks %q\n%s", s, excerpt(b))
		}
	}
	for _, s := range sc.notContains {
		if strings.Contains(b, s) {
			t.Errorf("body must not contain %q", s)
		}
	}
}

var mainRe = regexp.MustCompile(`(?s)<main.*</main>`)

func excerpt(b string) string {
	if m := mainRe.FindString(b); m != "" {
		b = m
	}
	if len(b) > 1500 {
		b = b[:1500] + "…"
	}
	return b
}

// citizen is a browser without JavaScript: it keeps cookies, reads the
// CSRF token of the last page and follows redirects by hand.
type citizen struct {
	t       testing.TB
	h       *harness
	cookies map[string]string
	token   string // CSRF token of the last page
	last    string // body of the last page
}

func (h *harness) citizen(t testing.TB) *citizen {
	return &citizen{t: t, h: h, cookies: map[string]string{}}
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

func (c *citizen) send(req *http.Request) (*http.Response, string) {
	c.t.Helper()
	var parts []string
	for k, v := range c.cookies {
		parts = append(parts, k+"="+v)
	}
	req.Header.Set("Cookie", strings.Join(parts, "; "))
	res := c.h.do(req)
	for _, ck := range res.Cookies() {
		c.cookies[ck.Name] = ck.Value
	}
	b := body(c.t, res)
	if m := csrfField.FindStringSubmatch(b); m != nil {
		c.token = m[1]
	}
	c.last = b
	return res, b
}

func (c *citizen) get(path string) (*http.Response, string) {
	c.t.Helper()
	return c.send(httptest.NewRequest(http.MethodGet, path, nil))
}

// post sends a form the way a browser does and returns the response.
func (c *citizen) post(path string, form url.Values) (*http.Response, string) {
	c.t.Helper()
	if form.Get("_csrf") == "" {
		form.Set("_csrf", c.token)
	}
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.send(req)
}

// postFiles sends a multipart form with files (input name → file name →
// content).
func (c *citizen) postFiles(path string, form url.Values, files map[string]map[string][]byte) (*http.Response, string) {
	c.t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	if form.Get("_csrf") == "" {
		form.Set("_csrf", c.token)
	}
	for k, vs := range form {
		for _, v := range vs {
			_ = w.WriteField(k, v)
		}
	}
	for field, byName := range files {
		for name, content := range byName {
			fw, err := w.CreateFormFile(field, name)
			if err != nil {
				c.t.Fatal(err)
			}
			_, _ = fw.Write(content)
		}
	}
	_ = w.Close()
	req := httptest.NewRequest(http.MethodPost, path, &buf)
	req.Header.Set("Content-Type", w.FormDataContentType())
	return c.send(req)
}

// follow sends the request and then follows redirects with GET.
func (c *citizen) follow(res *http.Response, b string) (*http.Response, string) {
	c.t.Helper()
	for i := 0; i < 5 && res.StatusCode == http.StatusSeeOther; i++ {
		res, b = c.get(res.Header.Get("Location"))
	}
	return res, b
}

func expectStatus(t testing.TB, res *http.Response, b string, want int) {
	t.Helper()
	if res.StatusCode != want {
		t.Fatalf("status %d, want %d\n%s", res.StatusCode, want, excerpt(b))
	}
}

func expectLocation(t testing.TB, res *http.Response, want string) {
	t.Helper()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != want {
		t.Fatalf("status %d Location %q, want 303 to %q", res.StatusCode, res.Header.Get("Location"), want)
	}
}

func expectContains(t testing.TB, b string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(b, w) {
			t.Errorf("page lacks %q\n%s", w, excerpt(b))
		}
	}
}

func expectNotContains(t testing.TB, b string, unwanted ...string) {
	t.Helper()
	for _, w := range unwanted {
		if strings.Contains(b, w) {
			t.Errorf("page has %q\n%s", w, excerpt(b))
		}
	}
}

const terminBase = "/amt/leipzig/leistungen/terminanfrage/antrag"

// fillTermin answers the appointment request's steps validly, up to the
// check page.
func fillTermin(t testing.TB, c *citizen) {
	t.Helper()
	c.get(terminBase + "/anliegen")
	res, _ := c.post(terminBase+"/anliegen", url.Values{"topic": {"impfung"}, "message": {"Bitte um Beratung."}, "_action": {"next"}})
	expectLocation(t, res, terminBase+"/termin")
	c.get(terminBase + "/termin")
	res, _ = c.post(terminBase+"/termin", url.Values{"mode": {"video"}, "days": {"mo", "mi"}, "time_of_day": {"vormittags"}, "_action": {"next"}})
	expectLocation(t, res, terminBase+"/kontakt")
	c.get(terminBase + "/kontakt")
	res, _ = c.post(terminBase+"/kontakt", url.Values{
		"given_name": {"Łukasz"}, "family_name": {"Müller-Lüdenscheidt"}, "email": {"lukasz@example.org"}, "_action": {"next"},
	})
	expectLocation(t, res, terminBase+"/pruefen")
}

// count returns the number of rows of table.
func (h *harness) count(t testing.TB, table string) (n int) {
	t.Helper()
	if err := h.db.QueryRow(context.Background(), `SELECT count(*) FROM `+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

const gutachtenBase = "/amt/leipzig/leistungen/amtsaerztliche-untersuchung/antrag"

// minimalPDF is a small but complete PDF.
const minimalPDF = "%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n" +
	"trailer<</Root 1 0 R>>\n%%EOF\n"

const testTOTP = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

// addStaff creates an account at office slug and returns its password.
func (h *harness) addStaff(t testing.TB, slug, email, role, secret string) string {
	t.Helper()
	o, err := store.GetOfficeBySlug(context.Background(), h.db, slug)
	if err != nil {
		t.Fatal(err)
	}
	pw := auth.NewPassword()
	if _, err := h.auth.AddStaff(context.Background(), auth.NewAccount{
		OfficeID: o.ID, Email: email, Name: "Test " + role, Role: domain.Role(role), Password: pw, TOTPSecret: secret,
	}); err != nil {
		t.Fatal(err)
	}
	return pw
}

// logIn goes through password and code and returns the citizen-style client
// holding the staff session.
func (h *harness) logIn(t testing.TB, email, password string) *citizen {
	t.Helper()
	c := h.citizen(t)
	c.get("/staff/login")
	res, _ := c.post("/staff/login", url.Values{"email": {email}, "password": {password}})
	expectLocation(t, res, "/staff/login/code")
	c.get("/staff/login/code")
	code, err := totp.GenerateCode(testTOTP, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	res, _ = c.post("/staff/login/code", url.Values{"code": {code}})
	expectLocation(t, res, "/staff/")
	return c
}

// submitGutachten makes a submission of the medical report form at office
// slug, with a medical answer and the authority's letter, and returns its
// id and the citizen's access token.
func (h *harness) submitGutachten(t testing.TB, slug string) (int64, string) {
	t.Helper()
	return h.submitGutachtenWith(t, slug, nil)
}

// submitGutachtenWith is submitGutachten with some answers replaced.
func (h *harness) submitGutachtenWith(t testing.TB, slug string, answers map[string]string) (int64, string) {
	t.Helper()
	ctx := context.Background()
	set, _ := forms.Builtin()
	f, _ := set.Form("amtsaerztliches-gutachten")
	o, err := store.GetOfficeBySlug(ctx, h.db, slug)
	if err != nil {
		t.Fatal(err)
	}
	d := submission.NewDraft(o.ID, "amtsaerztliche-untersuchung", f.ID)
	for k, v := range map[string]string{
		"reason": "dienstfaehigkeit", "file_number": "P-1", "authority": "Landesamt <b>fett</b>", "disability": "nein",
		"medication": "Ibuprofen <script>alert(1)</script>",
		"given_name": "Zoë", "family_name": "Ó Briain", "date_of_birth": "1980-02-03", "street": "Markt 1",
		"postal_code": "04109", "city": "Leipzig", "email": "zoe@example.org",
	} {
		d.Answers.Values[k] = []string{v}
	}
	for k, v := range answers {
		d.Answers.Values[k] = []string{v}
	}
	d.Answers.Done = []string{"anlass", "auftrag", "gesundheit", "kontakt"}
	if err := h.subs.SaveDraft(ctx, d); err != nil {
		t.Fatal(err)
	}
	letter, _ := f.Field("request_letter")
	if _, err := h.subs.AddFile(ctx, d, letter, "Auftrag Dienststelle.pdf", []byte(minimalPDF)); err != nil {
		t.Fatal(err)
	}
	r, err := h.subs.Submit(ctx, d, f, o.Code, "de")
	if err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := h.db.QueryRow(ctx, `SELECT id FROM submission WHERE draft_id = $1`, d.ID).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id, r.AccessToken
}

// closeCase takes case id of office slug from eingegangen to abgeschlossen
// on day, through the workflow.
func (h *harness) closeCase(t testing.TB, slug string, id int64, day time.Time) {
	t.Helper()
	ctx := context.Background()
	o, err := store.GetOfficeBySlug(ctx, h.db, slug)
	if err != nil {
		t.Fatal(err)
	}
	h.clock.set(day)
	defer h.clock.set(time.Time{})
	for _, to := range []domain.Status{domain.InProgress, domain.Done} {
		sub, err := store.GetSubmission(ctx, h.db, o.ID, id)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.inbox.Change(ctx, inbox.Access{OfficeID: o.ID, Actor: domain.StaffMember(0)}, id, sub.Version, inbox.Transition{To: to}); err != nil {
			t.Fatal(err)
		}
	}
}

// newFastCtx is a request for benchmarks that call the handler directly.
func newFastCtx(method, uri, body string) *fasthttp.RequestCtx {
	var req fasthttp.Request
	req.Header.SetMethod(method)
	req.SetRequestURI(uri)
	req.Header.SetHost("localhost:8080")
	if body != "" {
		req.SetBodyString(body)
		req.Header.SetContentType("application/x-www-form-urlencoded")
	}
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, nil)
	return ctx
}
