package portal_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gesundheitsamt/portal/internal/mail"
	"github.com/gesundheitsamt/portal/internal/store"
)

// waitJobsDone waits until no mail job is waiting or running.
func waitJobsDone(t *testing.T, h *harness) {
	t.Helper()
	var n int
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if err := h.db.QueryRow(context.Background(), `SELECT count(*) FROM river_job
			WHERE queue = 'mail' AND state NOT IN ('completed', 'cancelled', 'discarded')`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
	t.Fatalf("%d mail jobs still open after 30 s", n)
}

// TestDailyDigestInsteadOfAMailPerSubmission: Leipzig's admin chooses the
// daily summary. Leipzig's inbox address then gets no mail per submission
// but one summary a day, with counts and links and nothing from the
// applications; Halle, still on a mail per submission, gets its notices
// and no summary. Refused mails are listed for the admin of their office.
func TestDailyDigestInsteadOfAMailPerSubmission(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	sink, client, _ := startMail(t, h, "")
	const leipzigInbox, halleInbox = "gesundheitsamt@leipzig.example", "gesundheitsamt@halle.example"

	admin := h.logIn(t, "admin@leipzig.test", h.addStaff(t, "leipzig", "admin@leipzig.test", "admin", testTOTP))
	res, b := admin.get("/staff/verwaltung/mail")
	expectStatus(t, res, b, http.StatusOK)
	expectContains(t, b, leipzigInbox, `value="each" checked`, "Keine abgewiesenen E-Mails")
	res, b = admin.post("/staff/verwaltung/mail", url.Values{"notify": {"hourly"}})
	expectStatus(t, res, b, http.StatusUnprocessableEntity)
	res, _ = admin.post("/staff/verwaltung/mail", url.Values{"notify": {"daily"}})
	expectLocation(t, res, "/staff/verwaltung/mail?gespeichert=1")
	_, b = admin.get("/staff/verwaltung/mail?gespeichert=1")
	expectContains(t, b, `value="daily" checked`, "Die Einstellung ist gespeichert.")
	var audited int
	_ = h.db.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'office.notify.daily'`).Scan(&audited)
	if audited != 1 {
		t.Errorf("the choice is audited %d times, want once", audited)
	}
	worker := h.logIn(t, "sb@leipzig.test", h.addStaff(t, "leipzig", "sb@leipzig.test", "caseworker", testTOTP))
	if res, _ := worker.get("/staff/verwaltung/mail"); res.StatusCode != http.StatusForbidden {
		t.Errorf("a caseworker on the mail page: %d, want 403", res.StatusCode)
	}
	if res, _ := worker.post("/staff/verwaltung/mail", url.Values{"notify": {"off"}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("a caseworker changed the office's notifications: %d, want 403", res.StatusCode)
	}

	// Three submissions at Leipzig, one of them to an address that does
	// not exist; one at Halle. A saved draft's link to a refused address
	// too.
	sink.Refuse("weg@example.org")
	lateID, _ := h.submitGutachtenWith(t, "leipzig", map[string]string{"family_name": "Vogelsang", "medication": "Marcumar"})
	refusedID, _ := h.submitGutachtenWith(t, "leipzig", map[string]string{"email": "weg@example.org"})
	nextDayID, _ := h.submitGutachtenWith(t, "leipzig", nil)
	h.submitGutachtenWith(t, "halle", map[string]string{"postal_code": "06108", "city": "Halle"})
	saver := h.citizen(t)
	saver.get(terminBase + "/anliegen")
	saver.post(terminBase+"/anliegen", url.Values{"topic": {"beratung"}, "message": {"Reise"}, "_action": {"save"}})
	saver.get(terminBase + "/gespeichert")
	saver.post(terminBase+"/gespeichert", url.Values{"email": {"weg@example.org"}})
	waitMails(t, sink, halleInbox, 1)
	waitJobsDone(t, h)
	if n := len(mailsTo(t, sink, leipzigInbox)); n != 0 {
		t.Fatalf("%d mails to Leipzig's inbox address, which chose the daily summary", n)
	}

	// Both refusals are recorded once, neither retried: the draft's has no
	// case (it used to fail its record and retry for a day) and keeps no
	// address, as the form promised. The server's answer quoted the
	// address: River's log and job rows get it without.
	var refusals, attempts, leaked int
	_ = h.db.QueryRow(ctx, `SELECT count(*) FROM mail_refusal`).Scan(&refusals)
	_ = h.db.QueryRow(ctx, `SELECT coalesce(max(attempt), 0) FROM river_job WHERE queue = 'mail' AND state = 'cancelled'`).Scan(&attempts)
	if refusals != 2 || attempts != 1 {
		t.Errorf("%d refusals recorded after at most %d attempts, want 2 after 1", refusals, attempts)
	}
	_ = h.db.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE errors::text LIKE '%weg@example.org%'`).Scan(&leaked)
	if leaked != 0 {
		t.Errorf("the refused address is in %d job rows", leaked)
	}
	_ = h.db.QueryRow(ctx, `SELECT count(*) FROM mail_refusal WHERE template = 'resume'
		AND (recipient <> '' OR answer LIKE '%weg@example.org%')`).Scan(&leaked)
	if leaked != 0 {
		t.Error("a draft's refused resume link kept its address")
	}
	_, b = admin.get("/staff/verwaltung/mail")
	expectContains(t, b, "weg@example.org", "Eingangsbestätigung", "Link zum gespeicherten Antrag", "ohne Vorgang",
		"nicht gespeichert", fmt.Sprintf(`href="/staff/faelle/%d"`, refusedID), "No such user here")
	halleAdmin := h.logIn(t, "admin@halle.test", h.addStaff(t, "halle", "admin@halle.test", "admin", testTOTP))
	_, b = halleAdmin.get("/staff/verwaltung/mail")
	if strings.Contains(b, "weg@example.org") || !strings.Contains(b, "Keine abgewiesenen E-Mails") {
		t.Error("Halle's admin sees Leipzig's refused mails")
	}

	// A fixed day on the office's clock (Europe/Berlin): one submission
	// just after its midnight, one late in the evening, one just after
	// the next midnight (still the same day in UTC: not counted).
	const day = "2026-11-20"
	for id, at := range map[int64]string{refusedID: "2026-11-20 00:05", lateID: "2026-11-20 23:30", nextDayID: "2026-11-21 00:15"} {
		if _, err := h.db.Exec(ctx, `UPDATE submission SET submitted_at = ($2::timestamp AT TIME ZONE 'Europe/Berlin') WHERE id = $1`, id, at); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.db.Exec(ctx, `UPDATE mail_refusal SET at = '2026-11-20 12:00+01'`); err != nil {
		t.Fatal(err)
	}

	// The daily job plans the summaries: Leipzig's arrives, once however
	// often the day is planned; Halle gets none.
	first, err := client.Insert(ctx, mail.DigestPlanArgs{Day: day}, nil)
	if err != nil {
		t.Fatal(err)
	}
	digest := waitMails(t, sink, leipzigInbox, 1)[0]
	if err := mail.PlanDigests(ctx, h.db, client, day); err != nil {
		t.Fatal(err)
	}
	again, err := client.Insert(ctx, mail.DigestPlanArgs{Day: day}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if first.UniqueSkippedAsDuplicate || !again.UniqueSkippedAsDuplicate {
		t.Errorf("the day's plan: first skipped %v, second skipped %v; want only the second", first.UniqueSkippedAsDuplicate, again.UniqueSkippedAsDuplicate)
	}
	waitJobsDone(t, h)
	if n := len(mailsTo(t, sink, leipzigInbox)); n != 1 {
		t.Errorf("%d summaries for one day, want 1", n)
	}
	for _, m := range mailsTo(t, sink, halleInbox) {
		if strings.Contains(m.Subject, "Tageszusammenfassung") {
			t.Error("Halle, which wants a mail per submission, got a summary")
		}
	}
	if digest.Subject != "Tageszusammenfassung für den 20.11.2026 – neue Anträge: 2" {
		t.Errorf("subject %q", digest.Subject)
	}
	expectContains(t, digest.Text, "Neue Anträge: 2", "Amtsärztliche Untersuchung und Gutachten: 2", "Antworten auf Rückfragen: 0",
		"Abgewiesene E-Mails: 2", "http://localhost:8080/staff/verwaltung/mail", "Eingegangen: 3", "http://localhost:8080/staff/")
	var refs []string
	rows, _ := h.db.Query(ctx, `SELECT reference FROM submission`)
	for rows.Next() {
		var r string
		_ = rows.Scan(&r)
		refs = append(refs, r)
	}
	var raw string // with the HTML part
	for _, m := range sink.Mails() {
		if m.To[0] == leipzigInbox {
			raw = string(m.Data)
		}
	}
	for _, nope := range append(refs, "Vogelsang", "Marcumar", "Zoë", "weg@example.org", "zoe@example.org") {
		if strings.Contains(digest.Text, nope) || strings.Contains(raw, nope) {
			t.Errorf("%q is in the summary", nope)
		}
	}

	// A quiet day gets no summary: a mail that says nothing is noise.
	if err := mail.PlanDigests(ctx, h.db, client, "2026-11-19"); err != nil {
		t.Fatal(err)
	}
	waitJobsDone(t, h)
	if n := len(mailsTo(t, sink, leipzigInbox)); n != 1 {
		t.Errorf("a quiet day was summarised: %d mails", n)
	}

	// Back to a mail per submission: the next one is announced at once.
	res, _ = admin.post("/staff/verwaltung/mail", url.Values{"notify": {"each"}})
	expectLocation(t, res, "/staff/verwaltung/mail?gespeichert=1")
	h.submitGutachtenWith(t, "leipzig", nil)
	if m := waitMails(t, sink, leipzigInbox, 2)[1]; !strings.HasPrefix(m.Subject, "Neuer Antrag ") {
		t.Errorf("after switching back: %q", m.Subject)
	}
	o, err := store.GetOfficeBySlug(ctx, h.db, "leipzig")
	if err != nil || o.Notify != store.NotifyEach {
		t.Errorf("Leipzig notifies %q (%v)", o.Notify, err)
	}
}
