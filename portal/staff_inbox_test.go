package portal_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var (
	caseLinks = regexp.MustCompile(`href="/staff/faelle/(\d+)"`)
	nextLink  = regexp.MustCompile(`href="(/staff/\?[^"]*nach=[^"]+)">Nächste Seite`)
)

// caseIDs returns the case ids an inbox page lists, in order.
func caseIDs(b string) []string {
	var out []string
	for _, m := range caseLinks.FindAllStringSubmatch(b, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestInboxPagesFiltersAndCounts(t *testing.T) {
	h := newHarness(t, nil)
	const n = 57 // more than one page of 50
	ids := make([]int64, n)
	for i := range n {
		ids[i], _ = h.submitGutachtenWith(t, "leipzig", map[string]string{"family_name": fmt.Sprintf("Muster%c", 'a'+i%26)})
	}
	worker := h.logIn(t, "sb@leipzig.test", h.addStaff(t, "leipzig", "sb@leipzig.test", "caseworker", testTOTP))

	// Page one: the newest 50, all unread, with names; page two: the rest.
	res, b := worker.get("/staff/")
	expectStatus(t, res, b, http.StatusOK)
	first := caseIDs(b)
	if len(first) != 50 || first[0] != strconv.FormatInt(ids[n-1], 10) {
		t.Fatalf("first page: %d cases, first %v", len(first), first[:1])
	}
	expectContains(t, b, "Mustere, Zoë", `class="table__unread"`, "Eingegangen <span class=\"counts__n\">57</span>")
	next := nextLink.FindStringSubmatch(b)
	if next == nil {
		t.Fatalf("no next page link\n%s", excerpt(b))
	}
	_, b = worker.get(strings.ReplaceAll(next[1], "&amp;", "&"))
	second := caseIDs(b)
	if len(second) != n-50 || second[len(second)-1] != strconv.FormatInt(ids[0], 10) {
		t.Fatalf("second page: %v", second)
	}
	if nextLink.MatchString(b) {
		t.Error("the last page links to a next one")
	}

	// Oldest first turns the order round.
	_, b = worker.get("/staff/?sort=alt")
	if got := caseIDs(b); got[0] != strconv.FormatInt(ids[0], 10) {
		t.Errorf("oldest first starts with %s", got[0])
	}

	// A status change: counted and filterable, and the case is no longer unread once opened.
	casePath := "/staff/faelle/" + strconv.FormatInt(ids[3], 10)
	worker.get(casePath)
	if res, _ := worker.post(casePath+"/status", url.Values{"version": {"1"}, "status": {"in_bearbeitung"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("status change: %d", res.StatusCode)
	}
	_, b = worker.get("/staff/?status=in_bearbeitung")
	if got := caseIDs(b); len(got) != 1 || got[0] != strconv.FormatInt(ids[3], 10) {
		t.Errorf("status filter: %v", got)
	}
	expectContains(t, b, "Eingegangen <span class=\"counts__n\">56</span>", "In Bearbeitung <span class=\"counts__n\">1</span>")
	_, b = worker.get("/staff/?ungelesen=1")
	_, b2 := worker.get("/staff/?ungelesen=1&sort=alt")
	if got := caseIDs(b2); len(got) != 50 || slices.Contains(got, strconv.FormatInt(ids[3], 10)) || got[0] != strconv.FormatInt(ids[0], 10) {
		t.Errorf("unread filter, oldest first: %v", got)
	}

	// Received dates, in the office's time zone.
	today := "2000-01-01"
	_, b = worker.get("/staff/?bis=" + today)
	if got := caseIDs(b); len(got) != 0 {
		t.Errorf("received until %s: %v", today, got)
	}

	// Unknown filter values find nothing rather than everything.
	_, b = worker.get("/staff/?bearbeitung=niemand-bekanntes")
	expectContains(t, b, "Keine Anträge passen")
}

func TestInboxSearch(t *testing.T) {
	h := newHarness(t, nil)
	id, _ := h.submitGutachtenWith(t, "leipzig", map[string]string{"family_name": "Kowalczyk", "medication": "Metformin"})
	other, _ := h.submitGutachtenWith(t, "leipzig", map[string]string{"family_name": "Schneider", "authority": "Metformin-Studie O'Neill"})
	h.submitGutachtenWith(t, "halle", map[string]string{"family_name": "Kowalczyk"})
	var ref string
	if err := h.db.QueryRow(context.Background(), `SELECT reference FROM submission WHERE id = $1`, id).Scan(&ref); err != nil {
		t.Fatal(err)
	}
	worker := h.logIn(t, "sb@leipzig.test", h.addStaff(t, "leipzig", "sb@leipzig.test", "caseworker", testTOTP))
	doctor := h.logIn(t, "arzt@leipzig.test", h.addStaff(t, "leipzig", "arzt@leipzig.test", "physician", testTOTP))
	worker.get("/staff/")
	doctor.get("/staff/")
	want := []string{strconv.FormatInt(id, 10)}
	for _, tc := range []struct {
		who   *citizen
		q     string
		found []string
	}{
		{worker, "Kowalczyk", want},                                       // a name; only Leipzig's case
		{worker, "kowalczyk", want},                                       // any case
		{worker, strings.ToLower(strings.ReplaceAll(ref, "-", "")), want}, // a reference as typed on the phone
		{worker, ref, want},
		{worker, "Metformin Kowalczyk", nil}, // a medical answer: not for caseworkers, not even as a hit
		{doctor, "Metformin Kowalczyk", want},
		{worker, "Metformin", []string{strconv.FormatInt(other, 10)}}, // the same word where everyone may read it
		{doctor, "Metformin", []string{"", ""}},
		{worker, `"Studie O'Neill"`, []string{strconv.FormatInt(other, 10)}}, // a phrase, with a quote
		{worker, "Metformin -Schneider", nil},
		{worker, "Dienstfähigkeit", []string{"", ""}}, // an option's label, stemmed: both Leipzig cases
		{worker, "Nirgendwo", nil},
	} {
		res, b := tc.who.post("/staff/suche", url.Values{"q": {tc.q}})
		expectStatus(t, res, b, http.StatusOK)
		got := caseIDs(b)
		if len(got) != len(tc.found) || (len(tc.found) == 1 && got[0] != tc.found[0]) {
			t.Errorf("search %q: %v, want %v", tc.q, got, tc.found)
		}
		// The search text stays out of every link of the page.
		for _, m := range regexp.MustCompile(`href="([^"]*)"`).FindAllStringSubmatch(b, -1) {
			if strings.Contains(strings.ToLower(m[1]), strings.ToLower(tc.q)) {
				t.Errorf("search %q: link %s carries it", tc.q, m[1])
			}
		}
	}
	// Without the CSRF token, no search.
	if res, _ := worker.post("/staff/suche", url.Values{"q": {"Kowalczyk"}, "_csrf": {"x"}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("search without token: %d", res.StatusCode)
	}
}

func TestInboxBulkActions(t *testing.T) {
	h := newHarness(t, nil)
	a, _ := h.submitGutachten(t, "leipzig")
	b, _ := h.submitGutachten(t, "leipzig")
	c, _ := h.submitGutachten(t, "leipzig")
	halle, _ := h.submitGutachten(t, "halle")
	worker := h.logIn(t, "sb@leipzig.test", h.addStaff(t, "leipzig", "sb@leipzig.test", "caseworker", testTOTP))
	_, page := worker.get("/staff/")
	me := regexp.MustCompile(`<option value="assign:(\d+)">Zuweisen an Test caseworker`).FindStringSubmatch(page)
	if me == nil {
		t.Fatalf("no assign action\n%s", excerpt(page))
	}
	pick := func(id int64, version int) string { return fmt.Sprintf("%d:%d", id, version) }

	res, _ := worker.post("/staff/faelle/sammel", url.Values{"aktion": {"assign:" + me[1]}, "fall": {pick(a, 1), pick(b, 1), pick(halle, 1)}, "zurueck": {"/staff/?status=eingegangen"}})
	expectLocation(t, res, "/staff/?erledigt=2&status=eingegangen&uebersprungen=1")
	_, page = worker.get("/staff/?bearbeitung=ich")
	if got := caseIDs(page); len(got) != 2 {
		t.Errorf("assigned to me: %v", got)
	}

	// b is now at version 2: a status change against version 1 is skipped.
	res, _ = worker.post("/staff/faelle/sammel", url.Values{"aktion": {"status:in_bearbeitung"}, "fall": {pick(a, 2), pick(b, 1), pick(c, 1)}})
	expectLocation(t, res, "/staff/?erledigt=2&uebersprungen=1")
	_, page = worker.follow(res, "")
	expectContains(t, page, "2 geändert, 1 übersprungen")
	var statuses []string
	rows, _ := h.db.Query(context.Background(), `SELECT status FROM submission WHERE id = ANY($1) ORDER BY id`, []int64{a, b, c, halle})
	for rows.Next() {
		var s string
		_ = rows.Scan(&s)
		statuses = append(statuses, s)
	}
	if strings.Join(statuses, ",") != "in_bearbeitung,eingegangen,in_bearbeitung,eingegangen" {
		t.Errorf("statuses after bulk: %v", statuses)
	}

	// The way back is rebuilt from its filter: nothing else gets through,
	// a line break (header splitting) least of all.
	for _, back := range []string{"/staff/?status=eingegangen&x=%0D%0ASet-Cookie:%20a=1", "/staff/\r\nSet-Cookie: a=1", "/staff/%0D%0ASet-Cookie:%20a=1"} {
		res, _ := worker.post("/staff/faelle/sammel", url.Values{"aktion": {"assign:0"}, "fall": {pick(c, 1)}, "zurueck": {back}})
		loc := res.Header.Get("Location")
		if strings.ContainsAny(loc, "\r\n") || len(res.Header.Values("Set-Cookie")) > 0 || !strings.HasPrefix(loc, "/staff/?") || strings.Contains(loc, "x=") {
			t.Errorf("zurueck %q: Location %q, cookies %v", back, loc, res.Header.Values("Set-Cookie"))
		}
	}

	// Nothing chosen: the list says so; a way back to another site is ignored.
	res, _ = worker.post("/staff/faelle/sammel", url.Values{"aktion": {""}, "zurueck": {"//evil.example/"}})
	expectLocation(t, res, "/staff/?fehler=auswahl")
	_, page = worker.follow(res, "")
	expectContains(t, page, "Wählen Sie mindestens einen Antrag", `href="#bulk-action"`)
}

func TestCaseNotesAndAssignment(t *testing.T) {
	h := newHarness(t, nil)
	id, token := h.submitGutachten(t, "leipzig")
	casePath := "/staff/faelle/" + strconv.FormatInt(id, 10)
	worker := h.logIn(t, "sb@leipzig.test", h.addStaff(t, "leipzig", "sb@leipzig.test", "caseworker", testTOTP))
	worker.get(casePath)

	res, _ := worker.post(casePath+"/notiz", url.Values{"notiz": {"Rückruf <b>vereinbart</b>"}})
	expectLocation(t, res, casePath+"?geaendert=1")
	_, b := worker.get(casePath)
	expectContains(t, b, "Interne Notiz", "Rückruf &lt;b&gt;vereinbart&lt;/b&gt;", "(intern)", "Test caseworker")
	res, b = worker.post(casePath+"/notiz", url.Values{"notiz": {"  "}})
	expectStatus(t, res, b, http.StatusUnprocessableEntity)
	expectContains(t, b, "Die Notiz darf nicht leer", `href="#note-text"`)

	// Assignment: to a colleague of the office; someone of another office is refused.
	var mine, theirs int64
	ctx := context.Background()
	h.addStaff(t, "halle", "sb@halle.test", "caseworker", testTOTP)
	_ = h.db.QueryRow(ctx, `SELECT id FROM staff WHERE email = 'sb@leipzig.test'`).Scan(&mine)
	_ = h.db.QueryRow(ctx, `SELECT id FROM staff WHERE email = 'sb@halle.test'`).Scan(&theirs)
	res, b = worker.post(casePath+"/zuweisung", url.Values{"version": {"1"}, "bearbeitung": {strconv.FormatInt(theirs, 10)}})
	expectStatus(t, res, b, http.StatusUnprocessableEntity)
	expectContains(t, b, "gehört nicht (mehr) zu Ihrem Gesundheitsamt")
	res, _ = worker.post(casePath+"/zuweisung", url.Values{"version": {"1"}, "bearbeitung": {strconv.FormatInt(mine, 10)}})
	expectLocation(t, res, casePath+"?geaendert=1")
	_, b = worker.get(casePath)
	expectContains(t, b, "Zugewiesen an Test caseworker", `name="version" value="2"`)
	// The same form sent again from an old page: a conflict, not a silent overwrite.
	res, b = worker.post(casePath+"/zuweisung", url.Values{"version": {"1"}, "bearbeitung": {"0"}})
	expectStatus(t, res, b, http.StatusConflict)

	// Notes and assignments never reach the citizen.
	_, b = h.citizen(t).get("/status/" + token)
	if strings.Contains(b, "vereinbart") || strings.Contains(b, "Zugewiesen") {
		t.Error("the citizen sees an internal note or assignment")
	}
}

func TestRueckfrageAnsweredByTheCitizen(t *testing.T) {
	h := newHarness(t, nil)
	id, token := h.submitGutachten(t, "leipzig")
	casePath := "/staff/faelle/" + strconv.FormatInt(id, 10)
	worker := h.logIn(t, "sb@leipzig.test", h.addStaff(t, "leipzig", "sb@leipzig.test", "caseworker", testTOTP))
	worker.get(casePath)
	worker.post(casePath+"/status", url.Values{"version": {"1"}, "status": {"in_bearbeitung"}})
	worker.get(casePath)

	// A Rückfrage needs its question.
	res, b := worker.post(casePath+"/status", url.Values{"version": {"2"}, "status": {"rueckfrage"}, "unterlagen": {"1"}})
	expectStatus(t, res, b, http.StatusUnprocessableEntity)
	expectContains(t, b, "Schreiben Sie bei einer Rückfrage die Frage", `value="rueckfrage" checked`, `id="status-files" name="unterlagen" type="checkbox" value="1" checked`)
	res, _ = worker.post(casePath+"/status", url.Values{"version": {"2"}, "status": {"rueckfrage"}, "unterlagen": {"1"},
		"message": {"Bitte senden Sie den <b>Impfpass</b>."}})
	expectLocation(t, res, casePath+"?geaendert=1")

	// The citizen sees the question and answers it.
	citizen := h.citizen(t)
	statusPath := "/status/" + token
	_, b = citizen.get(statusPath)
	expectContains(t, b, "Rückfrage des Gesundheitsamts", "Bitte senden Sie den &lt;b&gt;Impfpass&lt;/b&gt;.", "Bitte senden Sie die erbetenen Unterlagen mit.", `enctype="multipart/form-data"`)
	res, b = citizen.postFiles(statusPath+"/antwort", url.Values{}, nil)
	expectStatus(t, res, b, http.StatusUnprocessableEntity)
	expectContains(t, b, "Geben Sie eine Antwort ein", `href="#answer-text"`)
	res, b = citizen.postFiles(statusPath+"/antwort", url.Values{"antwort": {"Anbei der Pass."}}, map[string]map[string][]byte{"dateien": {"pass.pdf": []byte("not a pdf")}})
	expectStatus(t, res, b, http.StatusUnprocessableEntity)
	expectContains(t, b, "Die Datei „pass.pdf“ hat nicht das erwartete Format", "Anbei der Pass.", `href="#answer-files"`)
	res, _ = citizen.postFiles(statusPath+"/antwort", url.Values{"antwort": {"Anbei der <i>Pass</i>."}}, map[string]map[string][]byte{"dateien": {"pass.pdf": []byte(minimalPDF)}})
	expectLocation(t, res, statusPath+"?beantwortet=1")
	_, b = citizen.follow(res, "")
	expectContains(t, b, "Ihre Antwort ist beim Gesundheitsamt eingegangen.", "In Bearbeitung", "Ihre Antwort auf die Rückfrage", "Anbei der &lt;i&gt;Pass&lt;/i&gt;.")
	if strings.Contains(b, `name="antwort"`) {
		t.Error("the answer form is still shown")
	}
	// Sent again (a double click): nothing recorded twice.
	res, b = citizen.postFiles(statusPath+"/antwort", url.Values{"antwort": {"Anbei der Pass."}}, nil)
	expectStatus(t, res, b, http.StatusConflict)
	expectContains(t, b, "keine Rückfrage offen")

	// Back in the office: unread, in Bearbeitung, the answer and its file in the case.
	_, b = worker.get("/staff/?ungelesen=1")
	if got := caseIDs(b); len(got) != 1 {
		t.Errorf("unread after the answer: %v", got)
	}
	_, b = worker.get(casePath)
	expectContains(t, b, "Anbei der &lt;i&gt;Pass&lt;/i&gt;.", "Mit Antwort auf Rückfrage", "pass.pdf", "Unterlagen angefordert")
	file := regexp.MustCompile(`href="(/staff/faelle/\d+/anlagen/\d+)"[^>]*>pass.pdf`).FindStringSubmatch(b)
	if file == nil {
		t.Fatalf("no link to the answer's file\n%s", excerpt(b))
	}
	res, got := worker.get(file[1])
	expectStatus(t, res, got, http.StatusOK)
	if got != minimalPDF {
		t.Error("the answer's file does not come back as sent")
	}
}

func TestExportNeutralisesFormulasAndWithholdsMedicalAnswers(t *testing.T) {
	h := newHarness(t, nil)
	h.submitGutachtenWith(t, "leipzig", map[string]string{"authority": "=HYPERLINK(\"http://evil.example\")", "medication": "Metformin"})
	h.submitGutachtenWith(t, "halle", map[string]string{"family_name": "Hallenser"})
	worker := h.logIn(t, "sb@leipzig.test", h.addStaff(t, "leipzig", "sb@leipzig.test", "caseworker", testTOTP))
	doctor := h.logIn(t, "arzt@leipzig.test", h.addStaff(t, "leipzig", "arzt@leipzig.test", "physician", testTOTP))
	worker.get("/staff/")
	doctor.get("/staff/")

	res, b := worker.post("/staff/export", url.Values{"format": {"csv"}, "dienst": {"amtsaerztliche-untersuchung"}})
	expectStatus(t, res, b, http.StatusOK)
	if !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") || !strings.HasPrefix(res.Header.Get("Content-Disposition"), "attachment;") {
		t.Errorf("headers: %v", res.Header)
	}
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(b, "\ufeff")))
	r.Comma = ';'
	records, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(records) != 2 {
		t.Fatalf("%d records, want header and one case:\n%s", len(records), b)
	}
	row := strings.Join(records[1], "|")
	if !strings.Contains(row, `'=HYPERLINK("http://evil.example")`) {
		t.Errorf("formula not neutralised: %s", row)
	}
	if strings.Contains(b, "Metformin") || !strings.Contains(row, "[vertrauliche ärztliche Angabe]") || strings.Contains(b, "Hallenser") {
		t.Errorf("caseworker's CSV: %s", b)
	}

	_, b = doctor.post("/staff/export", url.Values{"format": {"json"}})
	var doc struct {
		Cases []struct {
			Reference string         `json:"reference"`
			Answers   map[string]any `json:"answers"`
			Withheld  []string       `json:"withheld"`
		} `json:"cases"`
	}
	if err := json.Unmarshal([]byte(b), &doc); err != nil {
		t.Fatalf("JSON export: %v\n%s", err, b)
	}
	if len(doc.Cases) != 1 || doc.Cases[0].Answers["medication"] != "Metformin" || len(doc.Cases[0].Withheld) != 0 {
		t.Errorf("physician's JSON: %+v", doc.Cases)
	}
	_, b = worker.post("/staff/export", url.Values{"format": {"json"}})
	doc.Cases = nil
	if err := json.Unmarshal([]byte(b), &doc); err != nil {
		t.Fatal(err)
	}
	if _, ok := doc.Cases[0].Answers["medication"]; ok || !strings.Contains(strings.Join(doc.Cases[0].Withheld, ","), "medication") {
		t.Errorf("caseworker's JSON: %+v", doc.Cases[0])
	}
	var exports int
	_ = h.db.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE action LIKE 'export.%'`).Scan(&exports)
	if exports != 3 {
		t.Errorf("%d exports audited, want 3", exports)
	}
}

// A physician's Rückfrage is about health: the citizen's answer and its
// files are for physicians (and tokens with medical:read) only.
func TestAnswerToAPhysiciansQuestionIsConfidential(t *testing.T) {
	h := newHarness(t, nil)
	spec := loadOpenAPI(t, h)
	id, token := h.submitGutachten(t, "leipzig")
	casePath := fmt.Sprintf("/staff/faelle/%d", id)
	doctor := h.logIn(t, "arzt@leipzig.test", h.addStaff(t, "leipzig", "arzt@leipzig.test", "physician", testTOTP))
	doctor.get(casePath)
	doctor.post(casePath+"/status", url.Values{"version": {"1"}, "status": {"in_bearbeitung"}})
	doctor.get(casePath)
	res, _ := doctor.post(casePath+"/status", url.Values{"version": {"2"}, "status": {"rueckfrage"}, "message": {"Bitte senden Sie den Befund."}, "unterlagen": {"1"}})
	expectLocation(t, res, casePath+"?geaendert=1")
	citizen := h.citizen(t)
	citizen.get("/status/" + token)
	res, _ = citizen.postFiles("/status/"+token+"/antwort", url.Values{"antwort": {"Diabetes Typ 2 seit 2019"}},
		map[string]map[string][]byte{"dateien": {"Befund-Diabetes.pdf": []byte(minimalPDF)}})
	expectLocation(t, res, "/status/"+token+"?beantwortet=1")

	worker := h.logIn(t, "sb@leipzig.test", h.addStaff(t, "leipzig", "sb@leipzig.test", "caseworker", testTOTP))
	_, b := worker.get(casePath)
	if strings.Contains(b, "Diabetes") || strings.Contains(b, "Befund-Diabetes") {
		t.Error("a caseworker reads the answer to a physician's question, or its file's name")
	}
	expectContains(t, b, "Vertrauliche ärztliche Datei")
	var file int64
	if err := h.db.QueryRow(context.Background(), `SELECT id FROM attachment WHERE submission_id = $1 AND confidential`, id).Scan(&file); err != nil {
		t.Fatal(err)
	}
	if res, _ := worker.get(fmt.Sprintf("%s/anlagen/%d", casePath, file)); res.StatusCode != http.StatusNotFound {
		t.Errorf("a caseworker downloads the confidential answer file: %d", res.StatusCode)
	}
	_, b = doctor.get(casePath)
	expectContains(t, b, "Diabetes Typ 2 seit 2019", "Befund-Diabetes.pdf")

	plain := h.apiToken(t, spec, "leipzig", "submissions:read", "attachments:read")
	medical := h.apiToken(t, spec, "leipzig", "submissions:read", "attachments:read", "medical:read")
	for who, c := range map[string]*apiClient{"plain": plain, "medical": medical} {
		_, detail := c.do(http.MethodGet, fmt.Sprintf("/api/v1/submissions/%d", id), nil)
		_, events := c.do(http.MethodGet, fmt.Sprintf("/api/v1/submissions/%d/events", id), nil)
		res, _ := c.do(http.MethodGet, fmt.Sprintf("/api/v1/submissions/%d/attachments/%d", id, file), nil)
		sees := strings.Contains(string(events), "Diabetes") || strings.Contains(string(detail), "Befund-Diabetes")
		if who == "plain" && (sees || res.StatusCode != http.StatusNotFound) {
			t.Errorf("a token without medical:read reads the answer (%v) or downloads its file (%d)", sees, res.StatusCode)
		}
		if who == "medical" && (!sees || res.StatusCode != http.StatusOK) {
			t.Errorf("a token with medical:read: sees %v, download %d", sees, res.StatusCode)
		}
	}
}

// BenchmarkInboxList is the first inbox page of an office with 200 cases,
// as a logged-in caseworker: the list query, the counts, the audit entry
// and the render (.ci/bench-inbox times it at a million cases over HTTP).
func BenchmarkInboxList(b *testing.B) {
	h := newHarness(b, nil)
	for range 200 {
		h.submitGutachten(b, "leipzig")
	}
	c := h.logIn(b, "sb@leipzig.test", h.addStaff(b, "leipzig", "sb@leipzig.test", "caseworker", testTOTP))
	var cookies []string
	for k, v := range c.cookies {
		cookies = append(cookies, k+"="+v)
	}
	handler := h.srv.App().Handler()
	b.ReportAllocs()
	for b.Loop() {
		ctx := newFastCtx(http.MethodGet, "/staff/?status=eingegangen", "")
		ctx.Request.Header.Set("Cookie", strings.Join(cookies, "; "))
		handler(ctx)
		if ctx.Response.StatusCode() != http.StatusOK {
			b.Fatalf("status %d", ctx.Response.StatusCode())
		}
	}
}
