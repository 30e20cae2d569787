package portal_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestStaffCaseView(t *testing.T) {
	h := newHarness(t, nil)
	id, _ := h.submitGutachten(t, "leipzig")
	worker := h.logIn(t, "sb@leipzig.test", h.addStaff(t, "leipzig", "sb@leipzig.test", "caseworker", testTOTP))

	// From the inbox to the case.
	_, b := worker.get("/staff/")
	link := regexp.MustCompile(`href="(/staff/faelle/\d+)"`).FindStringSubmatch(b)
	if link == nil {
		t.Fatalf("no case link in the inbox\n%s", excerpt(b))
	}
	res, b := worker.get(link[1])
	expectStatus(t, res, b, http.StatusOK)
	expectContains(t, b, "Landesamt &lt;b&gt;fett&lt;/b&gt;", "Welche Medikamente nehmen Sie zurzeit?", "Vertrauliche ärztliche Angabe", "Auftrag Dienststelle.pdf")
	if strings.Contains(b, "Ibuprofen") {
		t.Fatal("a caseworker sees a medical answer")
	}

	// The letter downloads decrypted, as a download no browser runs.
	file := regexp.MustCompile(`href="(/staff/faelle/\d+/anlagen/\d+)"`).FindStringSubmatch(b)
	if file == nil {
		t.Fatalf("no attachment link\n%s", excerpt(b))
	}
	res, body := worker.get(file[1])
	expectStatus(t, res, body, http.StatusOK)
	if body != minimalPDF || res.Header.Get("Content-Type") != "application/pdf" ||
		!strings.HasPrefix(res.Header.Get("Content-Disposition"), `attachment; filename="Auftrag Dienststelle.pdf"`) ||
		!strings.Contains(res.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("download: %q %v", body[:min(10, len(body))], res.Header)
	}

	// A physician sees the medical answer, escaped.
	doctor := h.logIn(t, "arzt@leipzig.test", h.addStaff(t, "leipzig", "arzt@leipzig.test", "physician", testTOTP))
	_, b = doctor.get(link[1])
	expectContains(t, b, "Ibuprofen &lt;script&gt;alert(1)&lt;/script&gt;")

	// Another office: the case and its file do not exist.
	other := h.logIn(t, "sb@halle.test", h.addStaff(t, "halle", "sb@halle.test", "caseworker", testTOTP))
	for _, path := range []string{link[1], file[1], "/staff/faelle/abc", "/staff/faelle/999999"} {
		if res, _ := other.get(path); res.StatusCode != http.StatusNotFound {
			t.Errorf("Halle: GET %s: %d, want 404", path, res.StatusCode)
		}
	}
	_, b = other.get("/staff/")
	if strings.Contains(b, "/staff/faelle/") {
		t.Error("Halle's inbox lists a Leipzig case")
	}

	// Each read and the download are in Leipzig's audit log.
	var reads, downloads int
	if err := h.db.QueryRow(context.Background(), `SELECT
		count(*) FILTER (WHERE action = 'case.read' AND object = 'submission:' || $1::bigint),
		count(*) FILTER (WHERE action = 'attachment.download')
		FROM audit_log WHERE office_id = (SELECT id FROM office WHERE slug = 'leipzig')`, id).Scan(&reads, &downloads); err != nil {
		t.Fatal(err)
	}
	if reads != 2 || downloads != 1 {
		t.Errorf("audit: %d case reads, %d downloads", reads, downloads)
	}
}

func TestStaffWorkflow(t *testing.T) {
	h := newHarness(t, nil)
	id, token := h.submitGutachten(t, "leipzig")
	casePath := "/staff/faelle/" + strconv.FormatInt(id, 10)
	worker := h.logIn(t, "sb@leipzig.test", h.addStaff(t, "leipzig", "sb@leipzig.test", "caseworker", testTOTP))
	_, b := worker.get(casePath)
	expectContains(t, b, `name="version" value="1"`, `value="in_bearbeitung" checked`)

	res, _ := worker.post(casePath+"/status", url.Values{"version": {"1"}, "status": {"in_bearbeitung"}, "message": {"Wir prüfen <i>Ihren</i> Antrag."}})
	expectLocation(t, res, casePath+"?geaendert=1")
	_, b = worker.get(casePath + "?geaendert=1")
	expectContains(t, b, "Der Stand wurde geändert.", "In Bearbeitung", `name="version" value="2"`, "Wir prüfen &lt;i&gt;Ihren&lt;/i&gt; Antrag.")

	// A second change made against the old version: a clear conflict,
	// nothing overwritten, the message kept.
	res, b = worker.post(casePath+"/status", url.Values{"version": {"1"}, "status": {"in_bearbeitung"}, "message": {"Zweite Nachricht"}})
	expectStatus(t, res, b, http.StatusConflict)
	expectContains(t, b, "inzwischen von jemand anderem geändert", "Zweite Nachricht", `href="#status-0"`)
	// A step the workflow does not allow.
	res, b = worker.post(casePath+"/status", url.Values{"version": {"2"}, "status": {"eingegangen"}})
	expectStatus(t, res, b, http.StatusUnprocessableEntity)
	expectContains(t, b, "nicht möglich")

	// Another office cannot change it.
	other := h.logIn(t, "sb@halle.test", h.addStaff(t, "halle", "sb@halle.test", "caseworker", testTOTP))
	other.get("/staff/")
	if res, _ := other.post(casePath+"/status", url.Values{"version": {"2"}, "status": {"rueckfrage"}}); res.StatusCode != http.StatusNotFound {
		t.Errorf("Halle changed a Leipzig case: %d", res.StatusCode)
	}

	// The citizen sees the new status and the message, escaped.
	citizen := h.citizen(t)
	_, b = citizen.get("/status/" + token)
	expectContains(t, b, "In Bearbeitung", "Wir prüfen &lt;i&gt;Ihren&lt;/i&gt; Antrag.")

	var n int
	if err := h.db.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE action = 'case.status.in_bearbeitung'`).Scan(&n); err != nil || n != 1 {
		t.Errorf("audit entries of the change: %d %v", n, err)
	}
}
