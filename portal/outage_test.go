package portal_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gesundheitsamt/portal/forms"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/store/storetest"
)

// outageHarness is a harness whose database is reached through a relay
// the test can cut: connections drop and new ones are refused, as when
// PostgreSQL stops or the network to it fails.
func outageHarness(t *testing.T) (*harness, *storetest.Proxy) {
	t.Helper()
	proxy := storetest.NewProxy(t, storetest.DSN(t))
	db, err := store.Open(context.Background(), proxy.DSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return newHarnessOn(t, nil, db), proxy
}

// During a database outage every page that needs the database answers 503
// with Retry-After and the localized "briefly unavailable" page (JSON
// under /api/), never the 500 of a bug; pages the office directory's
// snapshot can answer stay up; afterwards everything works again and
// nothing submitted before is lost.
func TestDatabaseOutageAnswers503(t *testing.T) {
	h, proxy := outageHarness(t)
	_, token := h.submitGutachten(t, "leipzig")
	staff := h.logIn(t, "sb@leipzig.test", h.addStaff(t, "leipzig", "sb@leipzig.test", "caseworker", testTOTP))
	api := h.apiToken(t, loadOpenAPI(t, h), "leipzig", "submissions:read")
	citizen := h.citizen(t)
	fillTermin(t, citizen)
	// The start page reads the office directory once; it is kept.
	if res, b := h.get("/"); res.StatusCode != http.StatusOK {
		t.Fatalf("start page before the outage: %d\n%s", res.StatusCode, excerpt(b))
	}

	proxy.Cut()
	unavailable := func(name string, res *http.Response, b string, lang string) {
		t.Helper()
		if res.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("%s: status %d, want 503\n%s", name, res.StatusCode, excerpt(b))
			return
		}
		if ra := res.Header.Get("Retry-After"); ra != "30" {
			t.Errorf("%s: Retry-After %q, want 30", name, ra)
		}
		rid := res.Header.Get("X-Request-ID")
		if rid == "" || !strings.Contains(b, rid) {
			t.Errorf("%s: the request id %q is not shown", name, rid)
		}
		heading := map[string]string{"de": "Der Dienst ist vorübergehend nicht erreichbar", "en": "The service is temporarily unavailable"}[lang]
		if lang != "" && !strings.Contains(b, heading) {
			t.Errorf("%s: no %q\n%s", name, heading, excerpt(b))
		}
		if strings.Contains(b, "technischer Fehler") || strings.Contains(b, "technical error") {
			t.Errorf("%s: the page of a bug", name)
		}
	}
	res, b := h.get("/status/" + token)
	unavailable("status page", res, b, "de")
	res, b = h.get("/status/"+token, "Accept-Language", "en")
	unavailable("status page in English", res, b, "en")
	res, b = staff.get("/staff/")
	unavailable("inbox", res, b, "de")
	res, b = citizen.get(terminBase + "/kontakt")
	unavailable("a form step with a saved draft", res, b, "de")
	res, b = citizen.get(terminBase + "/pruefen")
	unavailable("the check page", res, b, "de")
	res, b = citizen.post(terminBase+"/absenden", url.Values{"consent": {forms.CheckboxOn}})
	unavailable("submit", res, b, "de")
	res, b = h.get("/readyz")
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("readyz: %d %s", res.StatusCode, b)
	}

	// The API: the same status and header, and its JSON shape.
	req := httptest.NewRequest(http.MethodGet, "/api/v1/submissions", nil)
	req.Header.Set("Authorization", "Bearer "+api.token)
	res = h.do(req)
	b = body(t, res)
	unavailable("API", res, b, "")
	api.spec.check(t, http.MethodGet, "/api/v1/submissions", res.StatusCode, res.Header.Get("Content-Type"), []byte(b))
	var apiErr struct {
		Error struct{ Code, Message, RequestID string } `json:"error"`
	}
	if err := json.Unmarshal([]byte(b), &apiErr); err != nil || apiErr.Error.Code != "service_unavailable" || apiErr.Error.Message == "" {
		t.Errorf("API error: %s (%v)", b, err)
	}

	// What the directory's snapshot answers stays up, even once it is
	// due for a reload: the last good snapshot is served.
	h.dir.Invalidate()
	for _, path := range []string{"/", "/amt/leipzig", "/leistungen/reiseimpfberatung", "/impressum"} {
		if res, b := h.get(path); res.StatusCode != http.StatusOK {
			t.Errorf("%s during the outage: %d\n%s", path, res.StatusCode, excerpt(b))
		}
	}
	if !strings.Contains(h.log.String(), "a dependency is unavailable") || strings.Contains(h.log.String(), "level=ERROR msg=\"request failed\"") {
		t.Errorf("an outage is logged as a warning, not as a failed request:\n%s", h.log.String())
	}

	// Back: the same requests succeed; the submission made before the
	// outage is there, the one refused during it goes through once.
	proxy.Restore()
	if res, b := h.get("/status/" + token); res.StatusCode != http.StatusOK {
		t.Errorf("status page after the outage: %d\n%s", res.StatusCode, excerpt(b))
	}
	if res, b := staff.get("/staff/"); res.StatusCode != http.StatusOK {
		t.Errorf("inbox after the outage: %d\n%s", res.StatusCode, excerpt(b))
	}
	citizen.get(terminBase + "/pruefen")
	res, _ = citizen.post(terminBase+"/absenden", url.Values{"consent": {forms.CheckboxOn}})
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/status/") {
		t.Errorf("submit after the outage: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	if n := h.count(t, "submission"); n != 2 {
		t.Errorf("%d submissions after the outage, want 2", n)
	}
	if res, b := h.get("/readyz"); res.StatusCode != http.StatusOK {
		t.Errorf("readyz after the outage: %d %s", res.StatusCode, b)
	}
}

// A form step posted while the database is away comes back with
// everything typed and a note that it is not saved yet (503), whether the
// draft could not be read, a new draft could not be counted and stored,
// or the save failed; a step with a file says the file must be chosen
// again. Sent again afterwards, the step goes on as usual and the steps
// saved before are still there.
func TestStepKeptDuringOutage(t *testing.T) {
	h, proxy := outageHarness(t)
	unsaved := func(name string, res *http.Response, b string, want ...string) {
		t.Helper()
		if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") != "30" {
			t.Errorf("%s: status %d, Retry-After %q; want 503, 30\n%s", name, res.StatusCode, res.Header.Get("Retry-After"), excerpt(b))
		}
		want = append(want, "Ihre Angaben sind noch nicht gespeichert", "in einigen Minuten erneut ab", `name="_csrf" value="`)
		expectContains(t, b, want...)
	}

	// A returning citizen: the first step is saved, the second typed.
	c := h.citizen(t)
	c.get(terminBase + "/anliegen")
	res, _ := c.post(terminBase+"/anliegen", url.Values{"topic": {"impfung"}, "message": {"Reise nach Peru"}, "_action": {"next"}})
	expectLocation(t, res, terminBase+"/termin")
	c.get(terminBase + "/termin")
	proxy.Cut()
	termin := url.Values{"mode": {"video"}, "days": {"mo", "mi"}, "time_of_day": {"vormittags"}, "_action": {"next"}}
	res, b := c.post(terminBase+"/termin", cloneValues(termin))
	unsaved("a step whose draft cannot be read", res, b, `value="video" checked`, `value="mo" checked`, `value="mi" checked`)
	if strings.Contains(b, "Dateien, die Sie") {
		t.Error("a step without files speaks of files")
	}

	// A new visitor: nothing stored yet, the draft cannot be started.
	fresh := h.citizen(t)
	proxy.Restore()
	fresh.get(terminBase + "/anliegen")
	proxy.Cut()
	res, b = fresh.post(terminBase+"/anliegen", url.Values{"topic": {"beratung"}, "message": {"Gelbfieber <Kenia>"}, "_action": {"next"}})
	unsaved("a new draft", res, b, `<option value="beratung" selected>`, "Gelbfieber &lt;Kenia&gt;")

	// A step with a file: the answers stay, the file must be chosen again.
	g := h.citizen(t)
	proxy.Restore()
	g.get(gutachtenBase + "/anlass")
	res, _ = g.post(gutachtenBase+"/anlass", url.Values{"reason": {"dienstfaehigkeit"}, "file_number": {"P-12/2026"}, "_action": {"next"}})
	expectLocation(t, res, gutachtenBase+"/auftrag")
	g.get(gutachtenBase + "/auftrag")
	proxy.Cut()
	res, b = g.postFiles(gutachtenBase+"/auftrag", url.Values{"authority": {"Landesamt für Schule"}, "_action": {"next"}},
		map[string]map[string][]byte{"request_letter": {"Auftrag.pdf": []byte(minimalPDF)}})
	unsaved("a step with a file", res, b, `value="Landesamt für Schule"`, "Bitte wählen Sie sie vor dem erneuten Absenden noch einmal aus.")

	// In English too.
	res, b = c.post(terminBase+"/termin?lang=en", cloneValues(termin))
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(b, "Your details are not saved yet") {
		t.Errorf("in English: %d\n%s", res.StatusCode, excerpt(b))
	}

	// Back: the same posts go on, and the first step was kept.
	proxy.Restore()
	res, _ = c.post(terminBase+"/termin", cloneValues(termin))
	expectLocation(t, res, terminBase+"/kontakt")
	_, b = c.get(terminBase + "/anliegen")
	expectContains(t, b, "Reise nach Peru")
	res, _ = fresh.post(terminBase+"/anliegen", url.Values{"topic": {"beratung"}, "message": {"Gelbfieber <Kenia>"}, "_action": {"next"}})
	expectLocation(t, res, terminBase+"/termin")
	if !strings.Contains(h.log.String(), "form step not saved") {
		t.Error("the unsaved steps are not logged")
	}
}
