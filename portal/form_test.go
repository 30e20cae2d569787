package portal_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/gesundheitsamt/portal/forms"
	"github.com/gesundheitsamt/portal/internal/submission"
)

var referencePattern = regexp.MustCompile(`LEJ-20[0-9]{2}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}`)

func TestFormFromServicePageToReceipt(t *testing.T) {
	h := newHarness(t, nil)
	c := h.citizen(t)

	_, b := c.get("/amt/leipzig/leistungen/terminanfrage")
	expectContains(t, b, `href="/amt/leipzig/leistungen/terminanfrage/antrag"`)
	res, _ := c.get(terminBase)
	expectLocation(t, res, terminBase+"/anliegen")
	// A later step cannot be reached before the earlier ones are done.
	res, _ = c.get(terminBase + "/kontakt")
	expectLocation(t, res, terminBase+"/anliegen")

	res, b = c.get(terminBase + "/anliegen")
	expectStatus(t, res, b, http.StatusOK)
	expectContains(t, b, "Schritt 1 von 3", `<select class="select" id="f-topic" name="topic"`, `data-visible-if=`, `hidden`)

	// Empty post: the same step, the error summary linking to the field,
	// the message beside it.
	res, b = c.post(terminBase+"/anliegen", url.Values{"_action": {"next"}})
	expectStatus(t, res, b, http.StatusUnprocessableEntity)
	expectContains(t, b, `class="error-summary" role="alert"`, `href="#f-topic"`, "Wählen Sie bei „Thema“ eine Antwort aus.",
		`aria-describedby="f-topic-error"`, "<title>Fehler:")

	// "Sonstiges" opens a question on the same page: without script, the
	// round trip shows it before validating.
	res, b = c.post(terminBase+"/anliegen", url.Values{"topic": {"sonstiges"}, "message": {"Frage <script>alert(1)</script>"}, "_action": {"next"}})
	expectStatus(t, res, b, http.StatusOK)
	expectContains(t, b, "weitere Fragen", `id="f-topic_other"`, "Frage &lt;script&gt;alert(1)&lt;/script&gt;")
	if strings.Contains(b, "<script>alert") {
		t.Fatal("answer not escaped")
	}
	// Back to a plain topic, and the hidden answer is dropped later.
	res, _ = c.post(terminBase+"/anliegen", url.Values{"topic": {"impfung"}, "topic_other": {"versteckt"}, "message": {"Frage <script>alert(1)</script>"}, "_action": {"next"}})
	expectLocation(t, res, terminBase+"/termin")

	// Back keeps what was entered.
	_, b = c.get(terminBase + "/anliegen")
	expectContains(t, b, `<option value="impfung" selected>`, "Frage &lt;script&gt;")

	c.get(terminBase + "/termin")
	res, b = c.post(terminBase+"/termin", url.Values{"mode": {"video"}, "days": {"mo", "nope"}, "time_of_day": {"vormittags"}, "earliest": {"2001-01-01"}, "_action": {"next"}})
	expectStatus(t, res, b, http.StatusUnprocessableEntity)
	expectContains(t, b, "Wählen Sie bei „An welchen Tagen passt es Ihnen?“ eine der angebotenen Antworten.",
		"„Frühestens ab“ darf nicht in der Vergangenheit liegen.", `value="2001-01-01"`, `value="video" checked`)
	res, _ = c.post(terminBase+"/termin", url.Values{"mode": {"video"}, "days": {"mo", "mi"}, "time_of_day": {"vormittags"}, "_action": {"next"}})
	expectLocation(t, res, terminBase+"/kontakt")

	c.get(terminBase + "/kontakt")
	res, b = c.post(terminBase+"/kontakt", url.Values{"given_name": {"R2D2"}, "family_name": {"Müller"}, "email": {"not-an-email"}, "phone": {"abc"}, "_action": {"next"}})
	expectStatus(t, res, b, http.StatusUnprocessableEntity)
	expectContains(t, b, "„Vorname“ darf nur Buchstaben", "E-Mail-Adresse im Format", "Telefonnummer an", `value="R2D2"`, `value="not-an-email"`)
	res, _ = c.post(terminBase+"/kontakt", url.Values{"given_name": {"Łukasz"}, "family_name": {"Müller-Lüdenscheidt"}, "email": {"lukasz@example.org"}, "unknown": {"x"}, "_action": {"next"}})
	expectLocation(t, res, terminBase+"/pruefen")

	res, b = c.get(terminBase + "/pruefen")
	expectStatus(t, res, b, http.StatusOK)
	expectContains(t, b, "Prüfen Sie Ihre Angaben", "Impfberatung oder Impfung", "Montag\nMittwoch", "Łukasz", `href="/amt/leipzig/leistungen/terminanfrage/antrag/kontakt"`)
	if strings.Contains(b, "versteckt") {
		t.Error("a hidden answer shows on the check page")
	}

	// Without consent: the check page again with its error.
	res, b = c.post(terminBase+"/absenden", url.Values{})
	expectStatus(t, res, b, http.StatusUnprocessableEntity)
	expectContains(t, b, `href="#f-consent"`, "Datenschutzhinweise zur Kenntnis")

	draftCookie := "__Host-draft-leipzig-terminanfrage"
	oldDraft := c.cookies[draftCookie]
	res, _ = c.post(terminBase+"/absenden", url.Values{"consent": {"ja"}})
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/status/") {
		t.Fatalf("submit: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	if c.cookies[draftCookie] != "" {
		t.Error("the draft cookie survived the submit")
	}
	receiptURL := res.Header.Get("Location")
	res, b = c.get(receiptURL)
	expectStatus(t, res, b, http.StatusOK)
	expectContains(t, b, "Ihr Antrag ist eingegangen", "Gesundheitsamt Leipzig", "eingangsbestaetigung.pdf")
	ref := referencePattern.FindString(b)
	if ref == "" {
		t.Fatalf("no reference number on the receipt\n%s", excerpt(b))
	}
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Error("receipt may be cached")
	}

	// A double click: the second post left before the first answer came,
	// with the draft cookie. The same submission, the same receipt, a note.
	c.cookies[draftCookie] = oldDraft
	res, _ = c.post(terminBase+"/absenden", url.Values{"consent": {"ja"}})
	if loc := res.Header.Get("Location"); !strings.HasPrefix(loc, strings.TrimSuffix(receiptURL, "/eingang")) || !strings.Contains(loc, "erneut=1") {
		t.Fatalf("second submit went to %q", loc)
	}
	_, b = c.follow(res, "")
	expectContains(t, b, ref, "bereits abgesendet")
	if n := h.count(t, "submission"); n != 1 {
		t.Fatalf("%d submissions after a double submit", n)
	}
	// Anything else with the submitted draft's cookie starts afresh: the
	// next person at this computer sees nothing of the case.
	_, b = c.get(terminBase + "/anliegen")
	if strings.Contains(b, "selected>") || strings.Contains(b, "Frage &lt;script") {
		t.Error("a submitted draft's answers shown to the next visitor")
	}
	res, _ = c.get(terminBase + "/pruefen")
	expectLocation(t, res, terminBase+"/anliegen")
	res, _ = c.post(terminBase+"/anliegen", url.Values{"topic": {"beratung"}, "message": {"Neu"}, "_action": {"next"}})
	expectLocation(t, res, terminBase+"/termin")
	if c.cookies[draftCookie] == oldDraft || c.cookies[draftCookie] == "" {
		t.Error("a post after the submit did not start a new draft")
	}

	// The stored record: visible answers only, the form's id, version and
	// hash, and the checksum over exactly these bytes.
	var data []byte
	var sum []byte
	if err := h.db.QueryRow(context.Background(), `SELECT data::text, record_sha256 FROM submission`).Scan(&data, &sum); err != nil {
		t.Fatal(err)
	}
	var env struct {
		Form     string         `json:"form"`
		Version  int            `json:"version"`
		FormHash string         `json:"form_hash"`
		Answers  map[string]any `json:"answers"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		t.Fatal(err)
	}
	if env.Form != "terminanfrage" || env.Version != 1 || len(env.FormHash) != 64 {
		t.Errorf("record header %+v", env)
	}
	if _, ok := env.Answers["topic_other"]; ok {
		t.Error("a hidden answer was stored")
	}
	if _, ok := env.Answers["unknown"]; ok {
		t.Error("an unknown field was stored")
	}
	if env.Answers["given_name"] != "Łukasz" || env.Answers["topic"] != "impfung" {
		t.Errorf("answers %v", env.Answers)
	}
	if len(sum) != sha256.Size {
		t.Errorf("record checksum of %d bytes", len(sum))
	}

	// Status page and PDF, through the token only.
	statusURL := strings.TrimSuffix(receiptURL, "/eingang")
	res, b = c.get(statusURL)
	expectStatus(t, res, b, http.StatusOK)
	expectContains(t, b, ref, "Eingegangen")
	res, pdf := c.get(statusURL + "/eingangsbestaetigung.pdf")
	expectStatus(t, res, "", http.StatusOK)
	if res.Header.Get("Content-Type") != "application/pdf" || !strings.HasPrefix(pdf, "%PDF-") {
		t.Errorf("PDF: %s, starts %q", res.Header.Get("Content-Type"), pdf[:min(8, len(pdf))])
	}
	other := []byte(statusURL)
	other[len("/status/")] ^= 1 // another character of the alphabet: another token
	if other[len("/status/")] == 'I' || other[len("/status/")] == 'U' || other[len("/status/")] == 'L' || other[len("/status/")] == 'O' {
		other[len("/status/")] = '7'
	}
	for _, bad := range []string{"/status/0000000000000000000000000", "/status/not-a-token", string(other)} {
		if res, _ := c.get(bad); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", bad, res.StatusCode)
		}
	}
}

func TestFormSaveAndResume(t *testing.T) {
	h := newHarness(t, nil)
	c := h.citizen(t)
	c.get(terminBase + "/anliegen")
	res, _ := c.post(terminBase+"/anliegen", url.Values{"topic": {"beratung"}, "_action": {"save"}})
	expectLocation(t, res, terminBase+"/gespeichert")
	_, b := c.get(terminBase + "/gespeichert")
	link := regexp.MustCompile(`href="(http://localhost:8080/fortsetzen/[0-9A-Z]{26})"`).FindStringSubmatch(b)
	code := regexp.MustCompile(`class="panel__code">([0-9A-Z-]+)<`).FindStringSubmatch(b)
	if link == nil || code == nil {
		t.Fatalf("no resume link or code\n%s", excerpt(b))
	}

	// Another browser: the link shows a button (a GET changes nothing), the
	// code typed in lower case with spaces works.
	other := h.citizen(t)
	res, b = other.get(strings.TrimPrefix(link[1], "http://localhost:8080"))
	expectStatus(t, res, b, http.StatusOK)
	if len(res.Cookies()) > 1 { // only the CSRF cookie
		t.Errorf("GET of the resume link set cookies: %v", res.Cookies())
	}
	res, b = other.post("/fortsetzen", url.Values{"code": {"not a code"}})
	expectStatus(t, res, b, http.StatusUnprocessableEntity)
	expectContains(t, b, "keinen gespeicherten Antrag", `value="not a code"`)
	res, _ = other.post("/fortsetzen", url.Values{"code": {strings.ToLower(strings.ReplaceAll(code[1], "-", " "))}})
	expectLocation(t, res, terminBase)
	_, b = other.follow(res, "")
	expectContains(t, b, `<option value="beratung" selected>`)
}

func TestFormRepeatingGroupAndUploads(t *testing.T) {
	h := newHarness(t, nil)
	c := h.citizen(t)
	base := "/amt/halle/leistungen/reiseimpfberatung/antrag"
	res, b := c.follow(c.get(base))
	expectStatus(t, res, b, http.StatusOK)
	step := strings.TrimPrefix(res.Request.URL.Path, "")
	_ = step
	// Add a second destination without script: a round trip.
	first := regexp.MustCompile(`action="([^"]+)"`).FindStringSubmatch(b)[1]
	res, _ = c.post(first, url.Values{"destinations.0.country": {"Peru"}, "_action": {"add:destinations"}})
	expectLocation(t, res, first+"#f-destinations-1") // at the new entry
	_, b = c.get(first)
	expectContains(t, b, `id="f-destinations-1"`)
	_, b = c.get(first)
	expectContains(t, b, `name="destinations.1.country"`, `value="Peru"`)
	res, _ = c.post(first, url.Values{"destinations.0.country": {"Peru"}, "destinations.1.country": {"Bolivien"}, "_action": {"remove:destinations:0"}})
	expectLocation(t, res, first+"#f-destinations-0")
	_, b = c.get(first)
	expectContains(t, b, `value="Bolivien"`)
	if strings.Contains(b, `value="Peru"`) || strings.Contains(b, `name="destinations.1.country"`) {
		t.Error("removing the first destination did not move the second up")
	}
}

func TestConcurrentSubmitsOfOneDraftMakeOneSubmission(t *testing.T) {
	h := newHarness(t, nil)
	c := h.citizen(t)
	fillTermin(t, c)
	c.get(terminBase + "/pruefen")
	var wg sync.WaitGroup
	locations := make([]string, 8)
	for i := range locations {
		wg.Add(1)
		go func() {
			defer wg.Done()
			form := url.Values{"consent": {"ja"}, "_csrf": {c.token}}
			req := httptest.NewRequest(http.MethodPost, terminBase+"/absenden", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			var parts []string
			for k, v := range c.cookies {
				parts = append(parts, k+"="+v)
			}
			req.Header.Set("Cookie", strings.Join(parts, "; "))
			res, err := h.srv.App().Test(req, -1)
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			locations[i] = strings.TrimSuffix(res.Header.Get("Location"), "?erneut=1")
		}()
	}
	wg.Wait()
	for _, l := range locations {
		if l == "" || l != locations[0] {
			t.Fatalf("receipts differ: %q", locations)
		}
	}
	if n := h.count(t, "submission"); n != 1 {
		t.Fatalf("%d submissions from one draft", n)
	}
	if n := h.count(t, "case_event"); n != 1 {
		t.Fatalf("%d events", n)
	}
}

// BenchmarkRenderStep measures GET of a form step through the whole
// application: a new visitor, so no draft lookup.
func BenchmarkRenderStep(b *testing.B) { benchmarkGET(b, terminBase+"/anliegen", 200) }

// BenchmarkRenderStepWithDraft measures GET of a step of a saved draft:
// one draft lookup in PostgreSQL and the answers filled in.
func BenchmarkRenderStepWithDraft(b *testing.B) {
	h := newHarness(b, nil)
	c := h.citizen(b)
	fillTermin(b, c)
	cookies := ""
	for k, v := range c.cookies {
		cookies += k + "=" + v + "; "
	}
	handler := h.srv.App().Handler()
	b.ReportAllocs()
	for b.Loop() {
		ctx := newFastCtx(http.MethodGet, terminBase+"/kontakt", "")
		ctx.Request.Header.Set("Cookie", cookies)
		handler(ctx)
		if ctx.Response.StatusCode() != 200 {
			b.Fatalf("status %d", ctx.Response.StatusCode())
		}
	}
}

// BenchmarkSubmit measures the submit of a completed draft: draft lookup,
// validation of every step, and the one-statement insert.
// BenchmarkSubmit measures a submit; BenchmarkSubmitWithJobs the same
// with the receipt mail and the webhook lookup enqueued in its
// transaction, as serve wires it (the enqueueing is meant to cost less
// than 1 ms).
func BenchmarkSubmit(b *testing.B)         { benchmarkSubmit(b, false) }
func BenchmarkSubmitWithJobs(b *testing.B) { benchmarkSubmit(b, true) }

func benchmarkSubmit(b *testing.B, withJobs bool) { benchmarkSubmitOn(b, newHarness(b, nil), withJobs) }

func benchmarkSubmitOn(b *testing.B, h *harness, withJobs bool) {
	if withJobs {
		// The wiring's notifier: jobs are only inserted (the app is not
		// started), as in a process under load.
		h.events.set(h.notifier)
	}
	c := h.citizen(b)
	fillTermin(b, c)
	c.get(terminBase + "/pruefen")
	var answers []byte
	if err := h.db.QueryRow(context.Background(), `SELECT answers FROM draft`).Scan(&answers); err != nil {
		b.Fatal(err)
	}
	csrfName := "__Host-csrf"
	draftName := "__Host-draft-leipzig-terminanfrage"
	body := url.Values{"_csrf": {c.token}, "consent": {"ja"}}.Encode()
	handler := h.srv.App().Handler()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		token := submission.NewToken()
		if _, err := h.db.Exec(context.Background(), `INSERT INTO draft (token_hash, office_id, service_slug, form_id, answers, expires_at)
			SELECT $1, office_id, service_slug, form_id, answers, expires_at FROM draft LIMIT 1`, submission.HashToken(token)); err != nil {
			b.Fatal(err)
		}
		ctx := newFastCtx(http.MethodPost, terminBase+"/absenden", body)
		ctx.Request.Header.Set("Cookie", csrfName+"="+c.cookies[csrfName]+"; "+draftName+"="+token)
		b.StartTimer()
		handler(ctx)
		if ctx.Response.StatusCode() != http.StatusSeeOther {
			b.Fatalf("status %d: %s", ctx.Response.StatusCode(), excerpt(string(ctx.Response.Body())))
		}
	}
}

// A new visitor's step page comes from the spliced cache: gzip with the
// visitor's own CSRF token in a stored block. It must decode (CRC and size
// checked) to the same page as without compression, with a token that
// works.
func TestSplicedStepPage(t *testing.T) {
	h := newHarness(t, nil)
	get := func(encoding string) (*http.Response, string) {
		req := httptest.NewRequest(http.MethodGet, terminBase+"/anliegen", nil)
		if encoding != "" {
			req.Header.Set("Accept-Encoding", encoding)
		}
		res := h.do(req)
		raw, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		if res.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			if raw, err = io.ReadAll(zr); err != nil {
				t.Fatalf("spliced gzip does not decode: %v", err)
			}
		}
		return res, string(raw)
	}
	var tokens []string
	var pages []string
	for _, enc := range []string{"gzip, deflate, br", "", "gzip"} {
		res, b := get(enc)
		expectStatus(t, res, b, http.StatusOK)
		if (enc != "") != (res.Header.Get("Content-Encoding") == "gzip") {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q", enc, res.Header.Get("Content-Encoding"))
		}
		m := csrfField.FindStringSubmatch(b)
		if m == nil || strings.Contains(b, "PLACEHOLDER") {
			t.Fatalf("no token in the spliced page\n%s", excerpt(b))
		}
		tokens = append(tokens, m[1])
		pages = append(pages, strings.Replace(b, m[1], "T", 1))
	}
	if pages[0] != pages[1] || pages[1] != pages[2] {
		t.Error("the spliced page differs between encodings")
	}
	if tokens[0] == tokens[1] || tokens[1] == tokens[2] {
		t.Error("two visitors got the same CSRF token")
	}
	// The token of a spliced page is accepted with its cookie.
	c := h.citizen(t)
	req := httptest.NewRequest(http.MethodGet, terminBase+"/anliegen", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	res, _ := c.send(req)
	zr, err := gzip.NewReader(strings.NewReader(c.last))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	c.token = csrfField.FindStringSubmatch(string(plain))[1]
	_ = res
	res, _ = c.post(terminBase+"/anliegen", url.Values{"topic": {"impfung"}, "message": {"x"}, "_action": {"next"}})
	expectLocation(t, res, terminBase+"/termin")
}

func TestFormUploads(t *testing.T) {
	h := newHarness(t, nil)
	c := h.citizen(t)
	c.get(gutachtenBase + "/anlass")
	res, _ := c.post(gutachtenBase+"/anlass", url.Values{"reason": {"dienstfaehigkeit"}, "file_number": {"P-12/2026"}, "_action": {"next"}})
	expectLocation(t, res, gutachtenBase+"/auftrag")
	_, b := c.get(gutachtenBase + "/auftrag")
	expectContains(t, b, `enctype="multipart/form-data"`, `type="file"`, `accept="application/pdf,image/jpeg,image/png"`, "höchstens 10 MB")

	form := url.Values{"authority": {"Landesamt für Schule und Bildung"}, "authority_contact": {"Frau Beispiel"}, "_action": {"next"}}
	tests := []struct {
		name  string
		files map[string][]byte
		msg   string
	}{
		{"no file", nil, "Laden Sie bei „Untersuchungsauftrag“ eine Datei hoch."},
		{"HTML named .pdf", map[string][]byte{"auftrag.pdf": []byte("<html><script>alert(1)</script></html>")}, "„auftrag.pdf“ hat nicht das erwartete Format"},
		{"empty file", map[string][]byte{"leer.pdf": {}}, "„leer.pdf“ ist leer"},
		{"larger than the field allows", map[string][]byte{"gross.pdf": append([]byte(minimalPDF), make([]byte, 10<<20)...)}, "„gross.pdf“ ist größer als 10 MB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, b := c.postFiles(gutachtenBase+"/auftrag", url.Values(cloneValues(form)), map[string]map[string][]byte{"request_letter": tt.files})
			expectStatus(t, res, b, http.StatusUnprocessableEntity)
			expectContains(t, b, tt.msg, `value="Landesamt für Schule und Bildung"`, `value="Frau Beispiel"`)
		})
	}
	// A real PDF is taken, sealed, and listed; a bad second file keeps it.
	res, b = c.postFiles(gutachtenBase+"/auftrag", cloneValues(form), map[string]map[string][]byte{"request_letter": {"Auftrag Dienstherr.pdf": []byte(minimalPDF)}})
	expectLocation(t, res, gutachtenBase+"/gesundheit")
	var stored []byte
	var size int64
	if err := h.db.QueryRow(context.Background(), `SELECT content, size FROM draft_file`).Scan(&stored, &size); err != nil {
		t.Fatal(err)
	}
	if size != int64(len(minimalPDF)) || bytes.Contains(stored, []byte("%PDF")) {
		t.Fatalf("stored file of %d bytes, plain text visible: %v", size, bytes.Contains(stored, []byte("%PDF")))
	}
	c.get(gutachtenBase + "/auftrag")
	res, b = c.postFiles(gutachtenBase+"/auftrag", cloneValues(form), map[string]map[string][]byte{"request_letter": {"bild.png": []byte("not a png")}})
	expectStatus(t, res, b, http.StatusUnprocessableEntity)
	expectContains(t, b, "Auftrag Dienstherr.pdf", "„bild.png“ hat nicht das erwartete Format")

	// Remove it again: the field is required, so Next fails.
	id := regexp.MustCompile(`value="(remove-file:request_letter:\d+)"`).FindStringSubmatch(b)
	if id == nil {
		t.Fatalf("no remove button\n%s", excerpt(b))
	}
	remove := cloneValues(form)
	remove.Set("_action", id[1])
	res, _ = c.postFiles(gutachtenBase+"/auftrag", remove, nil)
	expectLocation(t, res, gutachtenBase+"/auftrag#f-request_letter")
	if n := h.count(t, "draft_file"); n != 0 {
		t.Errorf("%d files after removing", n)
	}
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// TestFormBadInput: each kind of bad input gets its own localized message,
// in German and English, with every value kept; never a 500.
func TestFormBadInput(t *testing.T) {
	h := newHarness(t, nil)
	base := "/amt/halle/leistungen/belehrung-infektionsschutz/antrag"
	set, err := forms.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	f, _ := set.Form("belehrung-43-ifsg")
	tests := []struct {
		lang  string
		field string
		value string
		want  string
	}{
		{"de", "date_of_birth", "2030-01-01", "„Geburtsdatum“ darf nicht in der Zukunft liegen."},
		{"en", "date_of_birth", "2030-01-01", "“Date of birth” must not be in the future."},
		{"de", "postal_code", "0410", "eine Postleitzahl mit fünf Ziffern an"},
		{"en", "postal_code", "ABCDE", "Enter a postcode of five digits"},
		{"de", "family_name", "Müller☺", "„Nachname“ darf nur Buchstaben"},
		{"en", "given_name", "Анна", "may contain only letters"},
		{"de", "date_of_birth", "31.02.1990", "ein gültiges Datum an"},
	}
	for _, tt := range tests {
		t.Run(tt.lang+" "+tt.field+" "+tt.value, func(t *testing.T) {
			c := h.citizen(t)
			// Pass the earlier steps by posting each one's answers directly.
			c.get(base + "?lang=" + tt.lang)
			for _, st := range f.Steps[:len(f.Steps)-1] {
				c.get(base + "/" + st.ID + "?lang=" + tt.lang)
				res, b := c.post(base+"/"+st.ID+"?lang="+tt.lang, validAnswers(st.ID))
				if res.StatusCode != http.StatusSeeOther {
					t.Fatalf("step %s: %d\n%s", st.ID, res.StatusCode, excerpt(b))
				}
			}
			last := f.Steps[len(f.Steps)-1].ID
			c.get(base + "/" + last + "?lang=" + tt.lang)
			post := validAnswers(last)
			post.Set(tt.field, tt.value)
			res, b := c.post(base+"/"+last+"?lang="+tt.lang, post)
			expectStatus(t, res, b, http.StatusUnprocessableEntity)
			expectContains(t, b, tt.want, `value="`+html.EscapeString(tt.value)+`"`)
		})
	}
}

// validAnswers are valid answers of the § 43 instruction's steps.
func validAnswers(step string) url.Values {
	switch step {
	case "taetigkeit":
		return url.Values{"work_area": {"gastronomie"}, "employer": {"Café Müller"}, "start_date": {"2027-03-01"}, "_action": {"next"}}
	case "belehrung":
		return url.Values{"format": {"vor_ort"}, "language": {"deutsch"}, "_action": {"next"}}
	}
	return url.Values{"given_name": {"Zoë"}, "family_name": {"Ó Briain"}, "date_of_birth": {"1990-05-17"},
		"street": {"Hauptstraße 1"}, "postal_code": {"06108"}, "city": {"Halle (Saale)"}, "email": {"zoe@example.org"}, "_action": {"next"}}
}

// A German date typed into a browser without a date picker is understood
// and shown back in ISO form, which date inputs display localized.
func TestFormGermanDateIsNormalised(t *testing.T) {
	a := forms.NewAnswers()
	set, _ := forms.Builtin()
	f, _ := set.Form("belehrung-43-ifsg")
	st, _ := f.Step("kontakt")
	a.Decode(st, func(n string) []string {
		if n == "date_of_birth" {
			return []string{" 7.5.1990 "}
		}
		return nil
	})
	if got := a.Value("date_of_birth"); got != "1990-05-07" {
		t.Errorf("got %q", got)
	}
}

// A step without uploads takes no more than a text form: a larger body gets
// the localized 413, and the draft keeps what was saved before.
func TestFormOversizedTextPost(t *testing.T) {
	h := newHarness(t, nil)
	c := h.citizen(t)
	c.get(terminBase + "/anliegen")
	res, _ := c.post(terminBase+"/anliegen", url.Values{"topic": {"impfung"}, "_action": {"save"}})
	expectLocation(t, res, terminBase+"/gespeichert")
	c.get(terminBase + "/anliegen")
	res, b := c.post(terminBase+"/anliegen?lang=en", url.Values{"topic": {"beratung"}, "message": {strings.Repeat("x", 40<<10)}, "_action": {"next"}})
	expectStatus(t, res, b, http.StatusRequestEntityTooLarge)
	expectContains(t, b, "The request is too large")
	_, b = c.get(terminBase + "/anliegen")
	expectContains(t, b, `<option value="impfung" selected>`)
}

// A recommended answer left empty warns once; confirming goes on.
func TestFormRecommendedWarnsOnce(t *testing.T) {
	h := newHarness(t, nil)
	c := h.citizen(t)
	c.get(terminBase + "/anliegen")
	res, b := c.post(terminBase+"/anliegen", url.Values{"topic": {"impfung"}, "_action": {"next"}})
	expectStatus(t, res, b, http.StatusOK)
	expectContains(t, b, "Einige empfohlene Angaben fehlen", `href="#f-message"`, `name="_ack"`)
	if strings.Contains(b, "error-summary") {
		t.Error("a warning shown as an error")
	}
	ack := regexp.MustCompile(`name="_ack" value="([0-9a-f]+)"`).FindStringSubmatch(b)[1]
	res, _ = c.post(terminBase+"/anliegen", url.Values{"topic": {"impfung"}, "_ack": {ack}, "_action": {"next"}})
	expectLocation(t, res, terminBase+"/termin")
}

// The server validates every visible step again at submit: answers changed
// behind the steps' back send the citizen to the step with the problem.
func TestFormSubmitRevalidates(t *testing.T) {
	h := newHarness(t, nil)
	c := h.citizen(t)
	fillTermin(t, c)
	if _, err := h.db.Exec(context.Background(),
		`UPDATE draft SET answers = jsonb_set(answers, '{values,email}', '["kaputt"]')`); err != nil {
		t.Fatal(err)
	}
	c.get(terminBase + "/pruefen")
	res, b := c.post(terminBase+"/absenden", url.Values{"consent": {"ja"}})
	expectStatus(t, res, b, http.StatusUnprocessableEntity)
	expectContains(t, b, "Ihre Kontaktdaten", "E-Mail-Adresse im Format")
	if n := h.count(t, "submission"); n != 0 {
		t.Fatalf("%d submissions of invalid answers", n)
	}
}

// "Ändern" on the check page leads to the step; Next returns to the check
// page, unless the change opened a question elsewhere.
func TestFormChangeReturnsToCheckPage(t *testing.T) {
	h := newHarness(t, nil)
	c := h.citizen(t)
	fillTermin(t, c)
	c.get(terminBase + "/anliegen")
	res, _ := c.post(terminBase+"/anliegen", url.Values{"topic": {"beratung"}, "message": {"Neu"}, "_action": {"next"}})
	expectLocation(t, res, terminBase+"/pruefen")
	_, b := c.get(terminBase + "/pruefen")
	expectContains(t, b, "Beratung (z. B. sexuelle Gesundheit, Tuberkulose)", "Neu")
	// Remove the e-mail behind the steps' back: the check page sends the
	// citizen to the contact step.
	if _, err := h.db.Exec(context.Background(), `UPDATE draft SET answers = answers #- '{values,email}'`); err != nil {
		t.Fatal(err)
	}
	res, b = c.get(terminBase + "/pruefen")
	expectStatus(t, res, b, http.StatusOK)
	expectContains(t, b, "<h1>Ihre Kontaktdaten</h1>", `href="#f-email"`, "Geben Sie „E-Mail-Adresse“ an.")
}

// An error in a repeating group names its entry.
func TestFormGroupErrorsNameTheirEntry(t *testing.T) {
	h := newHarness(t, nil)
	c := h.citizen(t)
	base := "/amt/halle/leistungen/reiseimpfberatung/antrag/reise"
	c.get(base)
	res, _ := c.post(base, url.Values{"_action": {"add:destinations"}})
	expectLocation(t, res, base+"#f-destinations-1")
	c.get(base)
	res, b := c.post(base, url.Values{"destinations.0.country": {"Peru"}, "_action": {"next"}})
	expectStatus(t, res, b, http.StatusUnprocessableEntity)
	expectContains(t, b, "Geben Sie „Reiseziel 2: Land“ an.", `href="#f-destinations-1-country"`)
	if strings.Contains(b, "„Reiseziel 1: Land“") {
		t.Error("the filled-in entry reported")
	}
}
