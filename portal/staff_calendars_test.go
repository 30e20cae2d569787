package portal_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestAdminSetsUpACalendar: the office's admin sets a calendar's weekly
// slots, its times and a closed day; a wrong entry is named, where it
// was, with what was typed; each change is stored, audited and shows in
// what citizens are offered; caseworkers do not reach the pages.
func TestAdminSetsUpACalendar(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	admin := h.logIn(t, "admin@leipzig.test", h.addStaff(t, "leipzig", "admin@leipzig.test", "admin", testTOTP))
	_, b := admin.get("/staff/verwaltung/kalender")
	expectContains(t, b, `href="/staff/verwaltung/kalender/vor-ort"`)
	const page = "/staff/verwaltung/kalender/vor-ort"
	_, b = admin.get(page)
	expectContains(t, b, "Sprechzeiten in der Woche", `id="von-1-1"`, "Feiertage")

	// Monday's first range ends before it starts; Tuesday's two overlap.
	week := url.Values{
		"von-1-1": {"10:00"}, "bis-1-1": {"09:00"}, "plaetze-1-1": {"2"},
		"von-2-1": {"08:00"}, "bis-2-1": {"10:00"}, "plaetze-2-1": {"1"},
		"von-2-2": {"09:30"}, "bis-2-2": {"11:00"}, "plaetze-2-2": {"1"},
	}
	res, b := admin.post(page+"/woche", week)
	expectStatus(t, res, b, http.StatusUnprocessableEntity)
	expectContains(t, b, `href="#von-1-1"`, `href="#von-2-2"`, "das Ende muss nach dem Beginn liegen", "überschneidet sich", `value="09:30"`)
	before := h.rules(t, "leipzig", "vor-ort")

	// Mondays 08:00 to 09:00, two places; nothing else.
	res, b = admin.post(page+"/woche", url.Values{"von-1-1": {"08:00"}, "bis-1-1": {"09:00"}, "plaetze-1-1": {"2"}})
	expectStatus(t, res, b, http.StatusSeeOther)
	_, b = admin.follow(res, b)
	expectContains(t, b, "Die Sprechzeiten sind gespeichert.", `value="08:00"`)
	if got := h.rules(t, "leipzig", "vor-ort"); got != "1 08:00:00-09:00:00 x2" {
		t.Errorf("rules %q, were %q", got, before)
	}
	// What citizens are offered follows within the plans' second.
	time.Sleep(1100 * time.Millisecond)
	_, b = h.citizen(t).get(bookPath + "?kalender=vor-ort&ab=" + nextMonday().Format(time.DateOnly))
	if !strings.Contains(b, "08:40") || strings.Contains(b, "09:00</button>") || strings.Contains(b, "10:00</button>") {
		t.Errorf("the week after the change:\n%s", excerpt(b))
	}

	// Times: a slot of 3 minutes is refused; 30 minutes are kept.
	res, b = admin.post(page+"/zeiten", url.Values{"dauer": {"3"}, "puffer": {"0"}, "vorlauf": {"2"}, "horizont": {"56"}})
	expectStatus(t, res, b, http.StatusUnprocessableEntity)
	expectContains(t, b, `href="#zeiten-dauer"`, "zwischen 5 und 240 Minuten", `value="3"`)
	res, b = admin.post(page+"/zeiten", url.Values{"dauer": {"30"}, "puffer": {"0"}, "vorlauf": {"2"}, "horizont": {"56"}})
	expectStatus(t, res, b, http.StatusSeeOther)
	var slot int
	if err := h.db.QueryRow(ctx, `SELECT slot_minutes FROM calendar WHERE slug = 'vor-ort' AND office_id = (SELECT id FROM office WHERE slug = 'leipzig')`).Scan(&slot); err != nil || slot != 30 {
		t.Errorf("slot %d, %v; want 30", slot, err)
	}

	// A closed day: one in the past is refused; one ahead is listed, and
	// can be lifted.
	res, b = admin.post(page+"/schliessung", url.Values{"von": {"2020-01-02"}, "grund": {"Betriebsausflug"}})
	expectStatus(t, res, b, http.StatusUnprocessableEntity)
	expectContains(t, b, "in der Vergangenheit", `value="Betriebsausflug"`)
	day := nextMonday().AddDate(0, 0, 7).Format(time.DateOnly)
	res, b = admin.post(page+"/schliessung", url.Values{"von": {day}, "grund": {"Betriebsausflug"}})
	expectStatus(t, res, b, http.StatusSeeOther)
	_, b = admin.follow(res, b)
	expectContains(t, b, day+": Betriebsausflug", "Die Schließtage sind eingetragen.")
	var closure string
	if err := h.db.QueryRow(ctx, `SELECT id::text FROM calendar_closure WHERE reason = 'Betriebsausflug'`).Scan(&closure); err != nil {
		t.Fatal(err)
	}
	res, b = admin.post(page+"/schliessung/"+closure+"/entfernen", url.Values{})
	expectStatus(t, res, b, http.StatusSeeOther)
	if n := h.count(t, "calendar_closure"); n != 0 {
		t.Errorf("%d closures after lifting it", n)
	}
	var audited int
	if err := h.db.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action LIKE 'calendar.%'`).Scan(&audited); err != nil || audited != 4 {
		t.Errorf("%d calendar changes audited (%v), want 4", audited, err)
	}

	caseworker := h.logIn(t, "sb@leipzig.test", h.addStaff(t, "leipzig", "sb@leipzig.test", "caseworker", testTOTP))
	for _, path := range []string{"/staff/verwaltung/kalender", page} {
		if res, _ := caseworker.get(path); res.StatusCode != http.StatusForbidden {
			t.Errorf("a caseworker at %s: %d", path, res.StatusCode)
		}
	}
}

// rules returns the weekly rules of the office's calendar as text:
// "<weekday> <from>-<until> x<places>", by weekday and start.
func (h *harness) rules(t *testing.T, office, calendar string) string {
	t.Helper()
	var s *string
	err := h.db.QueryRow(context.Background(), `SELECT string_agg(r.weekday || ' ' || r.starts || '-' || r.ends || ' x' || r.capacity, ', ' ORDER BY r.weekday, r.starts)
		FROM calendar_rule r JOIN calendar c ON c.id = r.calendar_id JOIN office o ON o.id = c.office_id WHERE o.slug = $1 AND c.slug = $2`, office, calendar).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	if s == nil {
		return ""
	}
	return *s
}

// nextMonday is the Monday after the coming one (past any notice), as a
// date in Berlin.
func nextMonday() time.Time {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	d := time.Now().In(berlin).AddDate(0, 0, 7)
	for d.Weekday() != time.Monday {
		d = d.AddDate(0, 0, 1)
	}
	return time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, berlin)
}
