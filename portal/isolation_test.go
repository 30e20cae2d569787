package portal_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// staffRoute is one route of the back office, with what a request to it
// carries; {id} and {file} stand for a case and its attachment.
type staffRoute struct {
	method, path string
	form         url.Values
}

// staffRoutes are every route under /staff/ that names or touches a case
// (routes.go), so a new one without its line here is a gap to notice.
func staffRoutes() []staffRoute {
	return []staffRoute{
		{http.MethodGet, "/staff/faelle/{id}", nil},
		{http.MethodGet, "/staff/faelle/{id}/anlagen/{file}", nil},
		{http.MethodPost, "/staff/faelle/{id}/status", url.Values{"version": {"1"}, "status": {"in_bearbeitung"}}},
		{http.MethodPost, "/staff/faelle/{id}/notiz", url.Values{"notiz": {"Notiz"}}},
		{http.MethodPost, "/staff/faelle/{id}/zuweisung", url.Values{"version": {"1"}, "bearbeitung": {"0"}}},
		{http.MethodPost, "/staff/faelle/{id}/loeschsperre", url.Values{"grund": {"Klage"}}},
		{http.MethodPost, "/staff/faelle/{id}/loeschsperre/aufheben", nil},
		{http.MethodPost, "/staff/faelle/sammel", url.Values{"aktion": {"status:in_bearbeitung"}, "fall": {"{id}:1"}}},
		{http.MethodPost, "/staff/suche", url.Values{"q": {"{ref}"}}},
		{http.MethodPost, "/staff/export", url.Values{"format": {"json"}}},
		{http.MethodGet, "/staff/", nil},
	}
}

func (r staffRoute) fill(id, file int64, ref string) (string, url.Values) {
	rep := strings.NewReplacer("{id}", fmt.Sprint(id), "{file}", fmt.Sprint(file), "{ref}", ref)
	form := url.Values{}
	for k, vs := range r.form {
		for _, v := range vs {
			form.Add(k, rep.Replace(v))
		}
	}
	return rep.Replace(r.path), form
}

// TestStaffIsolationMatrix: an admin of Halle tries every back-office
// route on a Leipzig case by id. Routes about one case answer 404, exactly
// as for a case that does not exist; lists, searches and exports show
// nothing of it; and the case is unchanged afterwards.
func TestStaffIsolationMatrix(t *testing.T) {
	h := newHarness(t, nil)
	id, _ := h.submitGutachten(t, "leipzig")
	ctx := context.Background()
	var file int64
	var ref string
	if err := h.db.Pool.QueryRow(ctx, `SELECT a.id, s.reference FROM attachment a JOIN submission s ON s.id = a.submission_id WHERE s.id = $1`, id).Scan(&file, &ref); err != nil {
		t.Fatal(err)
	}
	halle := h.logIn(t, "admin@halle.test", h.addStaff(t, "halle", "admin@halle.test", "admin", testTOTP))
	halle.get("/staff/")
	for _, r := range staffRoutes() {
		for _, target := range []struct {
			name     string
			id, file int64
		}{{"Leipzig's case", id, file}, {"no case", 99999999, 99999999}} {
			path, form := r.fill(target.id, target.file, ref)
			var res *http.Response
			var b string
			if r.method == http.MethodGet {
				res, b = halle.get(path)
			} else {
				res, b = halle.post(path, form)
			}
			// The search page repeats what was searched; nothing else may name the case.
			if strings.Contains(strings.ReplaceAll(b, `value="`+ref+`"`, ""), ref) || strings.Contains(b, "Briain") {
				t.Errorf("%s %s (%s): the answer shows the case", r.method, path, target.name)
			}
			if strings.Contains(r.path, "{id}") && !strings.Contains(r.path, "sammel") && res.StatusCode != http.StatusNotFound {
				t.Errorf("%s %s (%s): %d, want 404", r.method, path, target.name, res.StatusCode)
			}
		}
	}
	var status string
	var version, events int
	if err := h.db.Pool.QueryRow(ctx, `SELECT status, version, (SELECT count(*) FROM case_event WHERE submission_id = $1) FROM submission WHERE id = $1`, id).Scan(&status, &version, &events); err != nil {
		t.Fatal(err)
	}
	if status != "eingegangen" || version != 1 || events != 1 {
		t.Errorf("Halle changed the Leipzig case: %s, version %d, %d events", status, version, events)
	}
	var reads int
	_ = h.db.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE object = $1`, fmt.Sprintf("submission:%d", id)).Scan(&reads)
	if reads != 0 {
		t.Errorf("%d audit entries about the case from another office's attempts", reads)
	}
}

// TestStaffPostsNeedTheCSRFToken: every state change of the back office
// refuses a post without a valid token, and changes nothing.
func TestStaffPostsNeedTheCSRFToken(t *testing.T) {
	h := newHarness(t, nil)
	id, _ := h.submitGutachten(t, "leipzig")
	worker := h.logIn(t, "sb@leipzig.test", h.addStaff(t, "leipzig", "sb@leipzig.test", "caseworker", testTOTP))
	worker.get("/staff/")
	posts := append(staffRoutes(), staffRoute{http.MethodPost, "/staff/logout", nil}, staffRoute{http.MethodPost, "/staff/logout/ueberall", nil})
	for _, r := range posts {
		if r.method != http.MethodPost {
			continue
		}
		path, form := r.fill(id, 0, "x")
		for _, token := range []string{"", "forged"} {
			form.Set("_csrf", token)
			if token == "" {
				form.Set("_csrf", "-") // the helper fills an empty token in; "-" is as good as none
			}
			res, b := worker.post(path, form)
			if res.StatusCode != http.StatusForbidden {
				t.Errorf("POST %s with token %q: %d, want 403\n%s", path, token, res.StatusCode, excerpt(b))
			}
		}
	}
	var version, events int
	_ = h.db.Pool.QueryRow(context.Background(), `SELECT version, (SELECT count(*) FROM case_event WHERE submission_id = $1) FROM submission WHERE id = $1`, id).Scan(&version, &events)
	if version != 1 || events != 1 {
		t.Errorf("a post without token changed the case: version %d, %d events", version, events)
	}
	if res, _ := worker.get("/staff/"); res.StatusCode != http.StatusOK {
		t.Errorf("a logout without token ended the session: %d", res.StatusCode)
	}
}

// TestAnswersAreEscapedEverywhereStaffReadThem puts markup into answers of
// every kind a form has and checks each place staff see them.
func TestAnswersAreEscapedEverywhereStaffReadThem(t *testing.T) {
	h := newHarness(t, nil)
	payload := `"><img src=x onerror=alert(1)><script>alert(2)</script>`
	id, token := h.submitGutachtenWith(t, "leipzig", map[string]string{"authority": payload, "file_number": "P-" + payload[:10], "medication": payload})
	doctor := h.logIn(t, "arzt@leipzig.test", h.addStaff(t, "leipzig", "arzt@leipzig.test", "physician", testTOTP))
	casePath := fmt.Sprintf("/staff/faelle/%d", id)
	doctor.get(casePath)
	doctor.post(casePath+"/notiz", url.Values{"notiz": {payload}})
	doctor.get(casePath)
	doctor.post(casePath+"/status", url.Values{"version": {"1"}, "status": {"in_bearbeitung"}, "message": {payload}})
	pages := map[string]string{}
	_, pages["inbox"] = doctor.get("/staff/")
	_, pages["search"] = doctor.post("/staff/suche", url.Values{"q": {"alert"}})
	_, pages["case"] = doctor.get(casePath)
	_, pages["status page"] = h.citizen(t).get("/status/" + token)
	for name, b := range pages {
		if strings.Contains(b, "<script>alert") || strings.Contains(b, "<img src=x") {
			t.Errorf("%s: markup from an answer is live", name)
		}
	}
	expectContains(t, pages["case"], "&lt;script&gt;alert(2)&lt;/script&gt;")
	res, b := doctor.post("/staff/export", url.Values{"format": {"csv"}})
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") || res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("export served as %q without nosniff: a browser might render it", ct)
	}
	_ = b
}
