package portal_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/gesundheitsamt/portal/internal/scan/clamdtest"
	"github.com/gesundheitsamt/portal/internal/scan/scantest"
)

// letterForm is what the medical report form's step with the
// authority's letter needs besides the file.
func letterForm() url.Values {
	return url.Values{"authority": {"Landesamt für Schule und Bildung"}, "authority_contact": {"Frau Beispiel"}, "_action": {"next"}}
}

// openLetterStep walks a new citizen to the step with the letter.
func openLetterStep(t *testing.T, h *harness, lang string) *citizen {
	t.Helper()
	c := h.citizen(t)
	c.get(gutachtenBase + "/anlass?lang=" + lang)
	res, _ := c.post(gutachtenBase+"/anlass", url.Values{"reason": {"dienstfaehigkeit"}, "file_number": {"P-12/2026"}, "_action": {"next"}})
	expectLocation(t, res, gutachtenBase+"/auftrag")
	c.get(gutachtenBase + "/auftrag")
	return c
}

// A refused file is an issue of its field with its own message, in
// German and English; the rest of the step is kept, nothing is stored,
// and the log names the finding and the request, never the file.
func TestFormUploadChecks(t *testing.T) {
	h := newHarness(t, nil)
	for _, tt := range []struct {
		name, lang, file string
		content          []byte
		msg, finding     string
	}{
		{"JavaScript", "de", "auftrag.pdf", scantest.JavaScriptPDF(), "Die PDF-Datei „auftrag.pdf“ enthält aktive Inhalte", "active_content"},
		{"JavaScript, English", "en", "auftrag.pdf", scantest.JavaScriptPDF(), "The PDF file “auftrag.pdf” contains active content", "active_content"},
		{"launch action", "de", "auftrag.pdf", scantest.LaunchPDF(), "enthält aktive Inhalte", "active_content"},
		{"embedded file", "de", "auftrag.pdf", scantest.EmbeddedFilePDF(), "Die PDF-Datei „auftrag.pdf“ enthält eingebettete Dateien", "embedded_file"},
		{"embedded file, English", "en", "auftrag.pdf", scantest.EmbeddedFilePDF(), "contains embedded files", "embedded_file"},
		{"password", "de", "auftrag.pdf", scantest.PasswordPDF(), "ist mit einem Passwort geschützt", "encrypted"},
		{"damaged photo", "de", "auftrag.jpg", scantest.Photo(640, 480)[:4000], "Die Datei „auftrag.jpg“ lässt sich nicht lesen", "damaged"},
		{"damaged photo, English", "en", "auftrag.jpg", scantest.Photo(640, 480)[:4000], "The file “auftrag.jpg” cannot be read", "damaged"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := openLetterStep(t, h, tt.lang)
			res, b := c.postFiles(gutachtenBase+"/auftrag", letterForm(), map[string]map[string][]byte{"request_letter": {tt.file: tt.content}})
			expectStatus(t, res, b, http.StatusUnprocessableEntity)
			expectContains(t, b, tt.msg, `value="Landesamt für Schule und Bildung"`, `value="Frau Beispiel"`, `href="#f-request_letter"`)
			if n := h.count(t, "draft_file"); n != 0 {
				t.Fatalf("%d files stored", n)
			}
			rid := res.Header.Get("X-Request-ID")
			line := logLine(h.log.String(), "request_id="+rid, "upload refused")
			if line == "" || !strings.Contains(line, "finding="+tt.finding) {
				t.Fatalf("no log line of the finding %s for request %s:\n%s", tt.finding, rid, h.log.String())
			}
			if strings.Contains(line, tt.file) {
				t.Errorf("log line names the file: %s", line)
			}
		})
	}
}

// logLine returns the first line of log containing every one of parts.
func logLine(log string, parts ...string) string {
next:
	for _, line := range strings.Split(log, "\n") {
		for _, p := range parts {
			if !strings.Contains(line, p) {
				continue next
			}
		}
		return line
	}
	return ""
}

// A phone photo goes in without its GPS position and appended video; the
// office downloads what is stored.
func TestFormUploadPhotoIsStoredWithoutMetadata(t *testing.T) {
	h := newHarness(t, nil)
	c := openLetterStep(t, h, "de")
	photo := scantest.Photo(640, 480)
	res, b := c.postFiles(gutachtenBase+"/auftrag", letterForm(), map[string]map[string][]byte{"request_letter": {"Auftrag.jpg": photo}})
	expectLocation(t, res, gutachtenBase+"/gesundheit")
	_ = b
	var size int64
	if err := h.db.QueryRow(context.Background(), `SELECT size FROM draft_file`).Scan(&size); err != nil {
		t.Fatal(err)
	}
	if size == int64(len(photo)) {
		t.Fatal("the photo was stored as sent")
	}
	_, b = c.get(gutachtenBase + "/auftrag")
	expectContains(t, b, "Auftrag.jpg")
}

// openRueckfrage makes a submission whose case asks the citizen for
// documents and returns the status page's path and a citizen on it.
func openRueckfrage(t *testing.T, h *harness) (string, *citizen) {
	t.Helper()
	id, token := h.submitGutachten(t, "leipzig")
	casePath := "/staff/faelle/" + strconv.FormatInt(id, 10)
	worker := h.logIn(t, "sb@leipzig.test", h.addStaff(t, "leipzig", "sb@leipzig.test", "caseworker", testTOTP))
	worker.get(casePath)
	worker.post(casePath+"/status", url.Values{"version": {"1"}, "status": {"in_bearbeitung"}})
	worker.get(casePath)
	res, _ := worker.post(casePath+"/status", url.Values{"version": {"2"}, "status": {"rueckfrage"}, "unterlagen": {"1"}, "message": {"Bitte senden Sie den Befund."}})
	expectLocation(t, res, casePath+"?geaendert=1")
	statusPath := "/status/" + token
	c := h.citizen(t)
	c.get(statusPath)
	return statusPath, c
}

// With PORTAL_CLAMD set, every upload is scanned by a real clamd: EICAR
// is refused on a form step and in an answer to a Rückfrage, with what
// the citizen typed kept and nothing stored; clean files are taken; the
// admin page says the scan is active.
func TestVirusScanOverHTTP(t *testing.T) {
	addr := clamdtest.Start(t, clamdtest.Options{})
	h := newHarness(t, map[string]string{"PORTAL_CLAMD": addr})
	infected := scantest.PDF("", scantest.Stream("", clamdtest.EICAR))

	c := openLetterStep(t, h, "de")
	res, b := c.postFiles(gutachtenBase+"/auftrag", letterForm(), map[string]map[string][]byte{"request_letter": {"auftrag.pdf": infected}})
	expectStatus(t, res, b, http.StatusUnprocessableEntity)
	expectContains(t, b, "In der Datei „auftrag.pdf“ wurde ein Virus oder andere Schadsoftware gefunden.", `value="Frau Beispiel"`)
	if n := h.count(t, "draft_file"); n != 0 {
		t.Fatalf("%d infected files stored", n)
	}
	line := logLine(h.log.String(), "request_id="+res.Header.Get("X-Request-ID"), "finding=infected")
	if !strings.Contains(line, "detail="+clamdtest.Signature) {
		t.Fatalf("no log line naming the signature:\n%s", h.log.String())
	}
	res, _ = c.postFiles(gutachtenBase+"/auftrag", letterForm(), map[string]map[string][]byte{"request_letter": {"auftrag.pdf": scantest.PDF("")}})
	expectLocation(t, res, gutachtenBase+"/gesundheit")

	statusPath, citizen := openRueckfrage(t, h)
	attachments := h.count(t, "attachment")
	res, b = citizen.postFiles(statusPath+"/antwort", url.Values{"antwort": {"Anbei der Befund."}}, map[string]map[string][]byte{"dateien": {"befund.pdf": infected}})
	expectStatus(t, res, b, http.StatusUnprocessableEntity)
	expectContains(t, b, "In der Datei „befund.pdf“ wurde ein Virus", "Anbei der Befund.", `href="#answer-files"`)
	if n := h.count(t, "attachment"); n != attachments {
		t.Fatalf("%d attachments after a refused answer, %d before", n, attachments)
	}
	res, _ = citizen.postFiles(statusPath+"/antwort", url.Values{"antwort": {"Anbei der Befund."}}, map[string]map[string][]byte{"dateien": {"befund.pdf": scantest.PDF("")}})
	expectLocation(t, res, statusPath+"?beantwortet=1")

	admin := h.logIn(t, "admin@leipzig.test", h.addStaff(t, "leipzig", "admin@leipzig.test", "admin", testTOTP))
	_, b = admin.get("/staff/verwaltung")
	expectContains(t, b, "Virenscan aktiv (ClamAV ")
}

// Without PORTAL_CLAMD the admin page says there is no virus scan; with
// one that does not answer, it says so, and uploads are refused with
// "try again in a few minutes" (fail closed) while the rest stays.
func TestAdminPageShowsTheVirusScan(t *testing.T) {
	h := newHarness(t, nil)
	admin := h.logIn(t, "admin@leipzig.test", h.addStaff(t, "leipzig", "admin@leipzig.test", "admin", testTOTP))
	_, b := admin.get("/staff/verwaltung")
	expectContains(t, b, "Kein Virenscan eingerichtet")
	_, b = admin.get("/staff/verwaltung?lang=en")
	expectContains(t, b, "No virus scan configured")

	down := newHarness(t, map[string]string{"PORTAL_CLAMD": "unix:/nonexistent/clamd.sock"})
	admin = down.logIn(t, "admin@leipzig.test", down.addStaff(t, "leipzig", "admin@leipzig.test", "admin", testTOTP))
	_, b = admin.get("/staff/verwaltung")
	expectContains(t, b, "Virenscan eingerichtet, er antwortet aber gerade nicht")

	c := openLetterStep(t, down, "de")
	res, b := c.postFiles(gutachtenBase+"/auftrag", letterForm(), map[string]map[string][]byte{"request_letter": {"auftrag.pdf": scantest.PDF("")}})
	expectStatus(t, res, b, http.StatusUnprocessableEntity)
	expectContains(t, b, "konnte gerade nicht auf Viren geprüft werden", "in einigen Minuten noch einmal", `value="Landesamt für Schule und Bildung"`)
	if n := down.count(t, "draft_file"); n != 0 {
		t.Fatalf("%d files stored without a scan", n)
	}
	if !bytes.Contains([]byte(down.log.String()), []byte("finding=unavailable")) {
		t.Errorf("no warning logged:\n%s", down.log.String())
	}
}
