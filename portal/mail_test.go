package portal_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/gesundheitsamt/portal/forms"
	"github.com/gesundheitsamt/portal/internal/crypto"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/i18n"
	"github.com/gesundheitsamt/portal/internal/jobs"
	"github.com/gesundheitsamt/portal/internal/mail"
	"github.com/gesundheitsamt/portal/internal/mail/mailtest"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/submission"
	"github.com/gesundheitsamt/portal/locales"
)

// mailsTo returns the mails of the sink addressed to addr, parsed.
func mailsTo(t *testing.T, sink *mailtest.Sink, addr string) []mail.Read {
	t.Helper()
	var out []mail.Read
	for _, m := range sink.Mails() {
		if len(m.To) == 1 && m.To[0] == addr {
			r, err := mail.Parse(m.Data)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
		}
	}
	return out
}

func waitMails(t *testing.T, sink *mailtest.Sink, addr string, n int) []mail.Read {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if m := mailsTo(t, sink, addr); len(m) >= n {
			return m
		}
	}
	t.Fatalf("%d mails to %s after 30 s, want %d", len(mailsTo(t, sink, addr)), addr, n)
	return nil
}

// mailTestKey is the encryption key of the mail tests' workers.
const mailTestKey = "0123456789abcdef0123456789abcdef"

// newMailWorker returns a mail worker of h sending through sender, with a
// short first retry, and the box that seals its jobs.
func newMailWorker(t *testing.T, h *harness, sender mail.Sender) (*mail.Worker, *crypto.Box) {
	t.Helper()
	bundle, err := i18n.New(locales.FS)
	if err != nil {
		t.Fatal(err)
	}
	base, _ := url.Parse("http://localhost:8080")
	box, err := crypto.NewBox([]byte(mailTestKey))
	if err != nil {
		t.Fatal(err)
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	return &mail.Worker{
		DB: h.db, Subs: h.subs, Sender: sender, Bundle: bundle, BaseURL: base, From: "portal@gesundheitsamt.example",
		RetryBase: 100 * time.Millisecond, Box: box, Loc: berlin, Log: slog.New(slog.NewTextHandler(h.log, nil)),
	}, box
}

// startMail runs the mail jobs of h against a real SMTP sink until the
// test ends: submissions, status changes and saved drafts send mail.
// login ("user:password@" or "") goes into SMTP_URL; the workers count
// days in Europe/Berlin, as in production.
func startMail(t *testing.T, h *harness, login string) (*mailtest.Sink, *river.Client[pgx.Tx], *mail.Notifier) {
	t.Helper()
	sink := mailtest.Start(t)
	sender, err := mail.NewSMTP("smtp://"+login+sink.Addr, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sender.Close)
	worker, box := newMailWorker(t, h, sender)
	client, err := jobs.New(h.db, []byte(mailTestKey), slog.New(slog.DiscardHandler), jobs.Options{Mail: worker})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = jobs.Stop(client, 5*time.Second) })
	notifier := mail.NewNotifier(client, box, []byte(mailTestKey))
	h.events.set(notifier)
	return sink, client, notifier
}

func TestMailsReachTheCitizenOnceWithoutTheirAnswers(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	sink, _, notifier := startMail(t, h, "")

	// The receipt: reference, link to the status page, the PDF without
	// answers, Reply-To the office. No answer appears anywhere in it.
	answers := map[string]string{"given_name": "Zoë", "family_name": "Ó Briain", "email": "zoe@example.org",
		"authority": "Landesamt für Schulaufsicht", "medication": "Metformin retard", "street": "Markt 17"}
	id, token := h.submitGutachtenWith(t, "leipzig", answers)
	var ref string
	_ = h.db.QueryRow(ctx, `SELECT reference FROM submission WHERE id = $1`, id).Scan(&ref)
	got := waitMails(t, sink, "zoe@example.org", 1)[0]
	if !strings.Contains(got.Subject, "Ihr Antrag ist eingegangen: "+ref) || len(got.Attachments) != 1 ||
		!strings.Contains(got.Text, "http://localhost:8080/status/"+token) {
		t.Fatalf("receipt mail: %+v", got)
	}
	var raw string
	for _, m := range sink.Mails() {
		if m.To[0] == "zoe@example.org" {
			raw = string(m.Data)
		}
	}
	if !strings.Contains(raw, "Reply-To: \"Gesundheitsamt Leipzig\" <gesundheitsamt@leipzig.example>") {
		t.Errorf("no Reply-To of the office:\n%s", raw[:min(len(raw), 800)])
	}
	for field, v := range answers {
		if field == "email" {
			continue // the address the mail goes to
		}
		for _, part := range []string{got.Text, raw} {
			if strings.Contains(part, v) {
				t.Errorf("the answer to %s (%q) is in the receipt mail", field, v)
			}
		}
	}
	if res, b := h.citizen(t).get(strings.TrimPrefix(got.Links[0], "http://localhost:8080")); res.StatusCode != http.StatusOK || !strings.Contains(b, ref) {
		t.Errorf("the mail's link: %d", res.StatusCode)
	}

	// The office hears of it too: reference and link, nobody's name.
	notice := waitMails(t, sink, "gesundheitsamt@leipzig.example", 1)[0]
	if !strings.Contains(notice.Subject, "Neuer Antrag "+ref) || !strings.Contains(notice.Text, fmt.Sprintf("http://localhost:8080/staff/faelle/%d", id)) {
		t.Errorf("office notice: %+v", notice)
	}
	for field, v := range answers {
		if strings.Contains(notice.Text, v) {
			t.Errorf("the answer to %s (%q) is in the office notice", field, v)
		}
	}

	// Told again of the same event (a retried transaction): still one mail.
	leipzig, err := store.GetOfficeBySlug(ctx, h.db, "leipzig")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := store.GetSubmission(ctx, h.db, leipzig.ID, id)
	if err == nil {
		err = h.db.InTx(ctx, func(tx pgx.Tx) error { return notifier.Submitted(ctx, tx, sub) })
	}
	if err != nil {
		t.Fatal(err)
	}

	// A Rückfrage and a status change: one mail each, link only.
	worker := h.logIn(t, "sb@leipzig.test", h.addStaff(t, "leipzig", "sb@leipzig.test", "caseworker", testTOTP))
	casePath := fmt.Sprintf("/staff/faelle/%d", id)
	worker.get(casePath)
	worker.post(casePath+"/status", url.Values{"version": {"1"}, "status": {"in_bearbeitung"}})
	worker.get(casePath)
	worker.post(casePath+"/status", url.Values{"version": {"2"}, "status": {"rueckfrage"}, "message": {"Bitte senden Sie den Impfpass."}})
	mails := waitMails(t, sink, "zoe@example.org", 3)
	// Two jobs, worked side by side: in either order.
	subjects := mails[1].Subject + " | " + mails[2].Subject
	if !strings.Contains(subjects, "Neuer Stand Ihres Antrags "+ref) || !strings.Contains(subjects, "Rückfrage zu Ihrem Antrag "+ref) {
		t.Errorf("subjects: %s", subjects)
	}
	for _, m := range mails {
		if strings.Contains(m.Text, "Impfpass") {
			t.Error("the question itself is in a mail: it may hold health data")
		}
	}

	// A refused address: no retries, and the case shows it to staff.
	sink.Refuse("weg@example.org")
	refused, _ := h.submitGutachtenWith(t, "leipzig", map[string]string{"email": "weg@example.org"})
	refusedPath := fmt.Sprintf("/staff/faelle/%d", refused)
	var b string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if _, b = worker.get(refusedPath); strings.Contains(b, "E-Mail an die antragstellende Person abgewiesen") {
			break
		}
	}
	expectContains(t, b, "E-Mail an die antragstellende Person abgewiesen", "weg@example.org: ")

	// A saved draft's resume link by mail: a wrong address keeps what was
	// typed; a right one gets the link, which opens the resume page.
	saver := h.citizen(t)
	saver.get(terminBase + "/anliegen")
	saver.post(terminBase+"/anliegen", url.Values{"topic": {"beratung"}, "message": {"Gelbfieber-Impfung für Kenia"}, "_action": {"save"}})
	_, b = saver.get(terminBase + "/gespeichert")
	res, b := saver.post(terminBase+"/gespeichert", url.Values{"email": {"später at example"}})
	expectStatus(t, res, b, http.StatusUnprocessableEntity)
	expectContains(t, b, `value="später at example"`, `href="#saved-email"`)
	res, _ = saver.post(terminBase+"/gespeichert", url.Values{"email": {"later@example.org"}})
	expectLocation(t, res, terminBase+"/gespeichert?gesendet=1")
	resume := waitMails(t, sink, "later@example.org", 1)[0]
	if len(resume.Links) != 1 || !strings.HasPrefix(resume.Links[0], "http://localhost:8080/fortsetzen/") || strings.Contains(resume.Text, "Gelbfieber") {
		t.Fatalf("resume mail: %+v", resume)
	}
	if res, b := h.citizen(t).get(strings.TrimPrefix(resume.Links[0], "http://localhost:8080")); res.StatusCode != http.StatusOK || !strings.Contains(b, "name=\"code\"") {
		t.Errorf("the resume link: %d", res.StatusCode)
	}
	var jobs int
	_ = h.db.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'mail.send' AND args::text LIKE '%later@example.org%'`).Scan(&jobs)
	if jobs != 0 {
		t.Error("the address is readable in the job queue")
	}

	// The SMTP server down for a while: the submission is accepted, the
	// mail arrives once the server is back, once.
	sink.Stop()
	h.submitGutachtenWith(t, "leipzig", map[string]string{"email": "spaet@example.org"})
	time.Sleep(500 * time.Millisecond)
	sink.Restart()
	waitMails(t, sink, "spaet@example.org", 1)
	time.Sleep(1500 * time.Millisecond)
	if n := len(mailsTo(t, sink, "zoe@example.org")); n != 3 {
		t.Errorf("%d mails to zoe@example.org, want 3 (receipt, status, Rückfrage)", n)
	}
	if n := len(mailsTo(t, sink, "gesundheitsamt@leipzig.example")); n != 3 {
		t.Errorf("%d notices to the office, want 3 (one per submission)", n)
	}
	if n := len(mailsTo(t, sink, "spaet@example.org")); n != 1 {
		t.Errorf("%d mails after the outage, want 1", n)
	}
}

func TestDevMailboxListsMailsWithTheirLinks(t *testing.T) {
	h := newHarness(t, nil)
	raw, _, err := mail.Message{From: mail.Address{Name: "Gesundheitsamt Leipzig", Email: "portal@localhost"}, To: mail.Address{Email: "zoe@example.org"},
		Subject: "Ihr Antrag ist eingegangen: LEJ-2026-7K3M-Q9TX <b>", Text: "Guten Tag,\nhttp://localhost:8080/status/ABC\n", HTML: "<p>x</p>"}.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if err := (mail.Mailbox{DB: h.db}).Send(context.Background(), "portal@localhost", "zoe@example.org", raw); err != nil {
		t.Fatal(err)
	}
	res, b := h.local("/dev/mail")
	expectStatus(t, res, b, http.StatusOK)
	expectContains(t, b, "Ihr Antrag ist eingegangen: LEJ-2026-7K3M-Q9TX &lt;b&gt;", `href="http://localhost:8080/status/ABC"`, "zoe@example.org")

	// With an SMTP server configured (and in production) there is no mailbox.
	withSMTP := newHarness(t, map[string]string{"SMTP_URL": "smtp://127.0.0.1:2525"})
	if res, _ := withSMTP.local("/dev/mail"); res.StatusCode != http.StatusNotFound {
		t.Errorf("/dev/mail with SMTP_URL: %d", res.StatusCode)
	}
}

// A relay that refuses the portal's login is the portal's problem, not the
// citizen's: nothing is recorded as refused, the mail waits, and once the
// relay takes the password it arrives, once.
func TestRelayRefusingThePortalIsNotARefusedMail(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	sink, _, _ := startMail(t, h, "portal:altes-passwort@")
	sink.RequireAuth("portal", "neues-passwort", "PLAIN")
	id, _ := h.submitGutachtenWith(t, "leipzig", nil)
	var errs int
	for deadline := time.Now().Add(30 * time.Second); errs < 2 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		_ = h.db.QueryRow(ctx, `SELECT coalesce(sum(cardinality(errors)), 0) FROM river_job WHERE queue = 'mail'`).Scan(&errs)
	}
	if errs < 2 {
		t.Fatal("the mail jobs never tried the relay")
	}
	var refusals, failedEvents, cancelled int
	_ = h.db.QueryRow(ctx, `SELECT count(*) FROM mail_refusal`).Scan(&refusals)
	_ = h.db.QueryRow(ctx, `SELECT count(*) FROM case_event WHERE submission_id = $1 AND kind = 'mail_failed'`, id).Scan(&failedEvents)
	_ = h.db.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE queue = 'mail' AND state IN ('cancelled', 'discarded')`).Scan(&cancelled)
	if refusals != 0 || failedEvents != 0 || cancelled != 0 {
		t.Errorf("a wrong relay password: %d refusals, %d timeline entries, %d jobs given up; want none", refusals, failedEvents, cancelled)
	}
	sink.RequireAuth("portal", "altes-passwort", "PLAIN") // the relay is fixed
	waitMails(t, sink, "zoe@example.org", 1)
	waitMails(t, sink, "gesundheitsamt@leipzig.example", 1)
	waitJobsDone(t, h)
	if n := len(sink.Mails()); n != 2 {
		t.Errorf("%d mails after the relay was fixed, want 2 (receipt and notice)", n)
	}
	// Said once when it began, once when it ended; not per attempt.
	logs := h.log.String()
	if n, m := strings.Count(logs, "the SMTP relay refuses the portal"), strings.Count(logs, "the SMTP relay accepts mail again"); n != 1 || m != 1 {
		t.Errorf("%d lines of the relay refusing over %d attempts, %d of it accepting again; want 1 and 1", n, errs, m)
	}
}

// The relay down (connections refused) under a burst: an outage, said
// once as a warning when it begins and once when mail goes out again,
// however many attempts fail meanwhile; never the relay refusing the
// portal.
func TestRelayOutageLoggedOncePerChange(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	sink, _, _ := startMail(t, h, "")
	sink.Stop()
	const n = 6
	for i := range n {
		h.submitGutachtenWith(t, "leipzig", map[string]string{"email": fmt.Sprintf("b%d@example.org", i)})
	}
	var errs int
	for deadline := time.Now().Add(30 * time.Second); errs < 4*n && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		_ = h.db.QueryRow(ctx, `SELECT coalesce(sum(cardinality(errors)), 0) FROM river_job WHERE queue = 'mail'`).Scan(&errs)
	}
	if errs < 4*n {
		t.Fatalf("%d failed attempts, want at least %d", errs, 4*n)
	}
	sink.Restart()
	sink.Wait(2*n, 30*time.Second)
	waitJobsDone(t, h)
	logs := h.log.String()
	counts := map[string]int{}
	for _, line := range strings.Split(logs, "\n") {
		switch {
		case strings.Contains(line, "level=WARN") && strings.Contains(line, "the SMTP relay cannot be reached"):
			counts["unreachable"]++
		case strings.Contains(line, "level=INFO") && strings.Contains(line, "the SMTP relay accepts mail again"):
			counts["back"]++
		case strings.Contains(line, "level=ERROR"):
			counts["error"]++
		}
	}
	if counts["unreachable"] != 1 || counts["back"] != 1 || counts["error"] != 0 {
		t.Errorf("over %d failed attempts: %d warnings of an unreachable relay, %d lines of it back, %d errors; want 1, 1, 0\n%s",
			errs, counts["unreachable"], counts["back"], counts["error"], logs)
	}
}

// Anyone can type a stranger's address: receipts and resume links to one
// address are counted in the day, in the transaction that enqueues them,
// and beyond mail.RecipientPerDay nothing more is sent there. A resume
// link then says so; a receipt's case notes it for staff. Another address
// is not held up.
func TestMailsToOneAddressAreCappedPerDay(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	sink, _, _ := startMail(t, h, "")
	set, _ := forms.Builtin()
	f, _ := set.Form("terminanfrage")
	o, err := store.GetOfficeBySlug(ctx, h.db, "leipzig")
	if err != nil {
		t.Fatal(err)
	}
	send := func(to string) error {
		d := submission.NewDraft(o.ID, "terminanfrage", f.ID)
		if err := h.subs.SaveDraft(ctx, d); err != nil {
			t.Fatal(err)
		}
		return h.subs.SendResumeLink(ctx, d, to, "de")
	}
	for i := range mail.RecipientPerDay {
		if err := send("opfer@example.org"); err != nil {
			t.Fatalf("resume link %d: %v", i+1, err)
		}
	}
	if err := send("Opfer@Example.ORG"); fault.MessageOf(err) != mail.MsgRecipientCapped {
		t.Errorf("one more to the same address (spelled otherwise): %v", err)
	}
	if err := send("jemand@example.org"); err != nil {
		t.Errorf("another address: %v", err)
	}
	waitMails(t, sink, "opfer@example.org", mail.RecipientPerDay)

	id, _ := h.submitGutachtenWith(t, "leipzig", map[string]string{"email": "opfer@example.org"})
	var capped int
	if err := h.db.QueryRow(ctx, `SELECT count(*) FROM case_event WHERE submission_id = $1 AND kind = 'mail_capped' AND NOT citizen_visible`, id).Scan(&capped); err != nil {
		t.Fatal(err)
	}
	if capped != 1 {
		t.Errorf("%d notes of an unsent receipt in the case", capped)
	}
	time.Sleep(500 * time.Millisecond) // a receipt, if enqueued, would be out by now
	if n := len(mailsTo(t, sink, "opfer@example.org")); n != mail.RecipientPerDay {
		t.Errorf("%d mails to the address, want the cap of %d", n, mail.RecipientPerDay)
	}
}
