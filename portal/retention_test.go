package portal_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/inbox"
	"github.com/gesundheitsamt/portal/internal/store"
)

// TestDeletionHoldOnTheCasePage: staff set a hold with a reason (none is
// refused, with the page again), see it with its reason, lift it; the
// audit log names the actions, never the reason.
func TestDeletionHoldOnTheCasePage(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, nil)
	id, _ := h.submitGutachten(t, "leipzig")
	h.closeCase(t, "leipzig", id, time.Date(2026, 2, 2, 10, 0, 0, 0, time.UTC))
	worker := h.logIn(t, "sb@leipzig.test", h.addStaff(t, "leipzig", "sb@leipzig.test", "caseworker", testTOTP))
	page := fmt.Sprintf("/staff/faelle/%d", id)
	_, b := worker.get(page)
	expectContains(t, b, "Löschsperre setzen", "Abgeschlossen am", "am 02.02.2036 (Aufbewahrungsfrist 10 Jahre ab Abschluss)")

	res, b := worker.post(page+"/loeschsperre", url.Values{"grund": {"   "}})
	expectStatus(t, res, b, http.StatusUnprocessableEntity)
	expectContains(t, b, `href="#hold-reason"`, "Geben Sie den Grund der Löschsperre ein", `aria-invalid="true"`)

	reason := "Widerspruch von Frau Ó Briain <anhängig>"
	res, _ = worker.post(page+"/loeschsperre", url.Values{"grund": {reason}})
	expectLocation(t, res, page+"?geaendert=1")
	_, b = worker.get(page + "?geaendert=1")
	expectContains(t, b, "Für diesen Vorgang besteht eine Löschsperre", "Widerspruch von Frau Ó Briain &lt;anhängig&gt;",
		"ausgesetzt: Löschsperre", "Löschsperre gesetzt", "Löschsperre aufheben", "Test caseworker")
	if res, err := h.cases.DeleteDue(ctx, time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC), time.Time{}); err != nil || res.Cases != 0 {
		t.Fatalf("a held case was deleted: %+v %v", res, err)
	}
	res, _ = worker.post(page+"/loeschsperre/aufheben", url.Values{})
	expectLocation(t, res, page+"?geaendert=1")
	_, b = worker.get(page)
	expectContains(t, b, "Löschsperre setzen", "Löschsperre aufgehoben")
	// Lifting again (a second tab): the page says why nothing happened.
	res, b = worker.post(page+"/loeschsperre/aufheben", url.Values{})
	expectStatus(t, res, b, http.StatusConflict)
	expectContains(t, b, "inzwischen von jemand anderem gesetzt oder aufgehoben")

	var actions string
	var leaks int
	if err := h.db.QueryRow(ctx, `SELECT string_agg(action, ',' ORDER BY id) FILTER (WHERE action LIKE 'case.hold.%'),
		count(*) FILTER (WHERE audit_log::text LIKE '%Widerspruch%' OR audit_log::text LIKE '%Briain%') FROM audit_log`).Scan(&actions, &leaks); err != nil {
		t.Fatal(err)
	}
	if actions != "case.hold.set,case.hold.lift" || leaks != 0 {
		t.Errorf("audit %q, %d entries with the reason", actions, leaks)
	}
}

// TestRetentionAdminPages: the admin sets a service's period (out of
// bounds refused, with the input kept), sees what is due within 30 days
// (holds marked) and exports exactly those cases; others may not.
func TestRetentionAdminPages(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, nil)
	admin := h.logIn(t, "admin@leipzig.test", h.addStaff(t, "leipzig", "admin@leipzig.test", "admin", testTOTP))
	worker := h.logIn(t, "sb@leipzig.test", h.addStaff(t, "leipzig", "sb@leipzig.test", "caseworker", testTOTP))
	for _, path := range []string{"/staff/verwaltung/aufbewahrung", "/staff/verwaltung/loeschung"} {
		if res, _ := worker.get(path); res.StatusCode != http.StatusForbidden {
			t.Errorf("a caseworker opens %s: %d", path, res.StatusCode)
		}
	}
	_, b := admin.get("/staff/verwaltung/aufbewahrung")
	expectContains(t, b, "Amtsärztliche Untersuchung", "Vorgabe des Formulars: 10 Jahre.", "Vorgabe des Formulars: 6 Monate.",
		"Ihr Amt verwendet die Vorgabe.", `href="/staff/verwaltung/loeschung"`)
	const service = "amtsaerztliche-untersuchung"
	for _, bad := range []url.Values{
		{"leistung": {service}, "frist": {"31"}, "einheit": {"jahre"}},
		{"leistung": {service}, "frist": {"0"}, "einheit": {"monate"}},
		{"leistung": {service}, "frist": {"zehn"}, "einheit": {"jahre"}},
	} {
		res, b := admin.post("/staff/verwaltung/aufbewahrung", bad)
		expectStatus(t, res, b, http.StatusUnprocessableEntity)
		expectContains(t, b, "Geben Sie eine ganze Zahl ein", `href="#period-`+service+`"`, `value="`+bad.Get("frist")+`"`)
	}
	res, b := admin.post("/staff/verwaltung/aufbewahrung?lang=en", url.Values{"leistung": {service}, "frist": {"-2"}, "einheit": {"jahre"}})
	expectStatus(t, res, b, http.StatusUnprocessableEntity)
	expectContains(t, b, "Enter a whole number: at least 1 month, at most 30 years")
	res, _ = admin.post("/staff/verwaltung/aufbewahrung", url.Values{"leistung": {service}, "frist": {"2"}, "einheit": {"jahre"}})
	expectLocation(t, res, "/staff/verwaltung/aufbewahrung?gespeichert="+service+"#service-"+service)
	_, b = admin.get("/staff/verwaltung/aufbewahrung?lang=de&gespeichert=" + service)
	expectContains(t, b, "Die Frist ist gespeichert.", "Frist Ihres Amts: 2 Jahre.", `value="2"`)

	// Two years from now, three cases: closed 2 years minus 10 days ago
	// (due in 10 days), the same but held, and closed a year ago.
	now := time.Now()
	soon, _ := h.submitGutachten(t, "leipzig")
	held, _ := h.submitGutachten(t, "leipzig")
	later, _ := h.submitGutachten(t, "leipzig")
	h.closeCase(t, "leipzig", soon, now.AddDate(-2, 0, 10))
	h.closeCase(t, "leipzig", held, now.AddDate(-2, 0, 5))
	h.closeCase(t, "leipzig", later, now.AddDate(-1, 0, 0))
	o, _ := store.GetOfficeBySlug(ctx, h.db, "leipzig")
	if err := h.inbox.SetHold(ctx, inbox.Access{OfficeID: o.ID, Actor: domain.StaffMember(0)}, held, "Klage"); err != nil {
		t.Fatal(err)
	}
	refs := map[int64]string{}
	for _, id := range []int64{soon, held, later} {
		var r string
		_ = h.db.QueryRow(ctx, `SELECT reference FROM submission WHERE id = $1`, id).Scan(&r)
		refs[id] = r
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	_, b = admin.get("/staff/verwaltung/loeschung")
	expectContains(t, b, refs[soon], refs[held], "seit "+now.In(berlin).Format("02.01.2006"), "<caption", "Vor der Löschung exportieren",
		now.AddDate(0, 0, 10).In(berlin).Format("02.01.2006"))
	if strings.Contains(b, refs[later]) {
		t.Error("a case due in a year is listed")
	}
	if i, j := strings.Index(b, refs[held]), strings.Index(b, refs[soon]); i > j {
		t.Error("the list is not in the order the cases are due")
	}
	res, b = admin.post("/staff/verwaltung/loeschung/export", url.Values{"leistung": {service}, "format": {"csv"}})
	expectStatus(t, res, b, http.StatusOK)
	if !strings.Contains(b, refs[soon]) || !strings.Contains(b, refs[held]) || strings.Contains(b, refs[later]) ||
		!strings.Contains(b, "Ó Briain") || strings.Contains(b, "Ibuprofen") {
		t.Errorf("the export holds other cases than the due ones, or a medical answer:\n%s", b)
	}
	if !strings.HasPrefix(res.Header.Get("Content-Disposition"), `attachment; filename="loeschung-`) {
		t.Errorf("Content-Disposition %q", res.Header.Get("Content-Disposition"))
	}
	var actions string
	if err := h.db.QueryRow(ctx, `SELECT string_agg(action || ' ' || object, ',' ORDER BY id) FROM audit_log
		WHERE action LIKE 'retention.%'`).Scan(&actions); err != nil {
		t.Fatal(err)
	}
	if actions != "retention.period.24m service:"+service+",retention.due.read ,retention.due.export.csv " {
		t.Errorf("audit: %s", actions)
	}
	res, _ = worker.post("/staff/verwaltung/loeschung/export", url.Values{"format": {"csv"}})
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("a caseworker exports the due list: %d", res.StatusCode)
	}
}
