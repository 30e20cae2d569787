package retention_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/gesundheitsamt/portal/forms"
	"github.com/gesundheitsamt/portal/internal/audit"
	"github.com/gesundheitsamt/portal/internal/crypto"
	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/inbox"
	"github.com/gesundheitsamt/portal/internal/jobs"
	"github.com/gesundheitsamt/portal/internal/mail"
	"github.com/gesundheitsamt/portal/internal/retention"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/submission"
	"github.com/gesundheitsamt/portal/internal/submission/submissiontest"
	"github.com/gesundheitsamt/portal/internal/webhook"
)

const pdf = submissiontest.PDF

// clock is a time the test sets.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// world is the real domain on a fresh database: submissions that enqueue
// their mail and webhook jobs, the workflow on a clock the test sets, the
// deletion of cases.
type world struct {
	sw      submissiontest.World
	db      *store.DB
	set     *forms.Set
	berlin  *time.Location
	subs    *submission.Service
	inbox   *inbox.Service
	cases   *retention.Cases
	clock   *clock
	offices map[string]store.Office
	staff   int64 // a caseworker of Leipzig
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	sw := submissiontest.New(t)
	db, set, berlin, key := sw.DB, sw.Forms, sw.Location, submissiontest.EncryptionKey
	// An insert-only River client: the jobs stay in river_job, where the
	// deletion must find them.
	client, err := river.NewClient(db.RiverDriver(), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	box, err := crypto.NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	events := jobs.Events{webhook.NewNotifier(client), mail.NewNotifier(client, box, []byte("retention-test-secret"))}
	subs := sw.Service(t, submission.Options{Events: events})
	c := &clock{t: time.Now()}
	w := &world{sw: sw, db: db, set: set, berlin: berlin, subs: subs, inbox: inbox.New(inbox.Options{DB: db, Submissions: subs, Forms: set, Events: events, Now: c.now}), clock: c,
		cases: retention.NewCases(db, set, berlin, slog.New(slog.DiscardHandler)), offices: map[string]store.Office{}}
	for _, slug := range []string{"leipzig", "halle"} {
		o, err := store.GetOfficeBySlug(ctx, db, slug)
		if err != nil {
			t.Fatal(err)
		}
		w.offices[slug] = o
		// Each office has a webhook: every submission and change enqueues
		// a call naming the submission.
		if _, err := store.InsertWebhook(ctx, db, store.Webhook{OfficeID: o.ID, URL: "https://fv.example/hook", Secret: []byte("x"),
			Events: webhook.Events}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.QueryRow(ctx, `INSERT INTO staff (office_id, email, name, role, password_hash)
		VALUES ($1, 'sb@leipzig.test', 'Sam', 'caseworker', 'x') RETURNING id`, w.offices["leipzig"].ID).Scan(&w.staff); err != nil {
		t.Fatal(err)
	}
	return w
}

// kase is a submission made through the real path.
type kase struct {
	id     int64
	token  string
	ref    string
	office string
}

// submit makes a medical report submission at office slug from a citizen
// named family, with the authority's letter attached.
func (w *world) submit(t *testing.T, slug, family string) kase {
	t.Helper()
	k := w.sw.SubmitGutachten(t, w.subs, w.offices[slug], family, "Tabletten gegen "+family+"-Syndrom", "Auftrag "+family+".pdf")
	return kase{id: k.ID, token: k.Token, ref: k.Ref, office: slug}
}

// move takes case k through the workflow at the clock's time.
func (w *world) move(t *testing.T, k kase, to ...domain.Status) {
	t.Helper()
	ctx := context.Background()
	for _, status := range to {
		sub, err := store.GetSubmission(ctx, w.db, w.offices[k.office].ID, k.id)
		if err != nil {
			t.Fatal(err)
		}
		tr := inbox.Transition{To: status}
		if status == domain.Question {
			tr.Message, tr.RequestFiles = "Bitte senden Sie den Befund.", true
		}
		if err := w.inbox.Change(ctx, inbox.Access{OfficeID: sub.OfficeID, Actor: domain.StaffMember(w.staff)}, k.id, sub.Version, tr); err != nil {
			t.Fatalf("%s → %s: %v", sub.Status, status, err)
		}
	}
}

// close takes case k from eingegangen to status (abgeschlossen or
// abgelehnt) on day.
func (w *world) close(t *testing.T, k kase, status domain.Status, day time.Time) {
	t.Helper()
	w.clock.set(day)
	w.move(t, k, domain.InProgress, status)
}

// exists reports whether case k is still a submission.
func (w *world) exists(t *testing.T, k kase) bool {
	t.Helper()
	var n int
	if err := w.db.QueryRow(context.Background(), `SELECT count(*) FROM submission WHERE id = $1`, k.id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func (w *world) deleteDue(t *testing.T, at time.Time) int {
	t.Helper()
	res, err := w.cases.DeleteDue(context.Background(), at, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Cases
}

// traces counts what names case k anywhere: its rows in every table that
// refers to it, and any row of any table whose text carries the
// citizen's family name.
func (w *world) traces(t *testing.T, k kase, family string) map[string]int {
	t.Helper()
	ctx := context.Background()
	id := fmt.Sprint(k.id)
	out := map[string]int{}
	for name, q := range map[string]string{
		"submission":   `SELECT count(*) FROM submission WHERE id = $1::bigint`,
		"attachment":   `SELECT count(*) FROM attachment WHERE submission_id = $1::bigint`,
		"case_event":   `SELECT count(*) FROM case_event WHERE submission_id = $1::bigint`,
		"mail_refusal": `SELECT count(*) FROM mail_refusal WHERE submission_id = $1::bigint`,
		"draft":        `SELECT count(*) FROM draft WHERE submission_id = $1::bigint`,
		"mail jobs":    `SELECT count(*) FROM river_job WHERE args->>'submission_id' = $1`,
		"webhook jobs": `SELECT count(*) FROM river_job WHERE args->'body'->'submission'->>'id' = $1`,
		"search":       `SELECT count(*) FROM submission WHERE search_all @@ plainto_tsquery('german', 'Syndrom') AND id = $1::bigint`,
	} {
		var n int
		if err := w.db.QueryRow(ctx, q, id).Scan(&n); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = n
	}
	rows, err := w.db.Query(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for _, table := range tables {
		var n int
		if err := w.db.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{table}.Sanitize()+` t WHERE t::text ILIKE '%' || $1 || '%'`, family).Scan(&n); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		if n > 0 {
			out["name in "+table] = n
		}
	}
	return out
}

var (
	day        = 24 * time.Hour
	closingDay = time.Date(2026, 3, 31, 10, 15, 0, 0, time.UTC)
)

// TestCasesAreDeletedWhenTheirPeriodIsOver: with a real calendar (the
// medical report's 10 years from the closing on 31 March 2026), nothing
// goes a day early, everything a day late; a held case and an open one
// stay; what goes leaves no trace but its tombstone and an audit entry,
// and the audit chain still verifies.
func TestCasesAreDeletedWhenTheirPeriodIsOver(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.clock.set(closingDay.Add(-10 * day))
	done := w.submit(t, "leipzig", "Löschmann")
	// The citizen answered a Rückfrage with a file (an attachment of an
	// event), a note was written, a mail was refused.
	w.move(t, done, domain.InProgress, domain.Question)
	if err := w.subs.Answer(ctx, done.token, "Anbei der Befund von Löschmann.", []submission.Upload{{Name: "Befund.pdf", Content: []byte(pdf)}}); err != nil {
		t.Fatal(err)
	}
	if err := w.inbox.AddNote(ctx, inbox.Access{OfficeID: w.offices["leipzig"].ID, Actor: domain.StaffMember(w.staff)}, done.id, "Herr Löschmann rief an."); err != nil {
		t.Fatal(err)
	}
	if err := store.InsertMailRefusal(ctx, w.db, store.MailRefusal{OfficeID: w.offices["leipzig"].ID, SubmissionID: done.id,
		Template: "status", Recipient: "loeschmann@example.org", Answer: "550 Löschmann unknown"}); err != nil {
		t.Fatal(err)
	}
	w.clock.set(closingDay)
	w.move(t, done, domain.Done)

	rejected := w.submit(t, "halle", "Abweiser")
	w.close(t, rejected, domain.Rejected, closingDay)
	held := w.submit(t, "leipzig", "Sperrling")
	w.close(t, held, domain.Done, closingDay)
	if err := w.inbox.SetHold(ctx, inbox.Access{OfficeID: w.offices["leipzig"].ID, Actor: domain.StaffMember(w.staff)}, held.id, "Widerspruchsverfahren anhängig"); err != nil {
		t.Fatal(err)
	}
	w.clock.set(closingDay.AddDate(-20, 0, 0))
	open := w.submit(t, "leipzig", "Offenbach")
	w.move(t, open, domain.InProgress)

	before := w.traces(t, done, "Löschmann")
	for _, what := range []string{"submission", "attachment", "case_event", "mail_refusal", "draft", "mail jobs", "webhook jobs", "search",
		"name in submission", "name in case_event", "name in mail_refusal"} {
		if before[what] == 0 {
			t.Fatalf("the case has no %s before its deletion; the test proves nothing (%v)", what, before)
		}
	}
	if before["attachment"] != 2 {
		t.Fatalf("%d attachments, want the letter and the answer's file", before["attachment"])
	}

	// Ten years are 31 March 2036: on 30 March nothing goes.
	due := time.Date(2036, 3, 31, 10, 15, 0, 0, time.UTC)
	if n := w.deleteDue(t, due.Add(-day)); n != 0 {
		t.Fatalf("%d cases deleted a day before their period is over", n)
	}
	for _, k := range []kase{done, rejected, held, open} {
		if !w.exists(t, k) {
			t.Fatalf("case %s was deleted early", k.ref)
		}
	}
	// On 1 April 2036 the closed ones go, in both offices; the held one and
	// the open one stay.
	deletedAt := due.Add(day)
	if n := w.deleteDue(t, deletedAt); n != 2 {
		t.Errorf("%d cases deleted, want the 2 closed ones without a hold", n)
	}
	if w.exists(t, done) || w.exists(t, rejected) {
		t.Error("a closed case is still there a day after its period ended")
	}
	if !w.exists(t, held) || !w.exists(t, open) {
		t.Error("the held case or the open one was deleted")
	}
	after := w.traces(t, done, "Löschmann")
	for what, n := range after {
		if n != 0 {
			t.Errorf("after the deletion: %d rows of %s", n, what)
		}
	}

	// The tombstone keeps reference, office, service, form and dates.
	tomb, err := store.GetTombstone(ctx, w.db, w.offices["leipzig"].ID, done.id)
	if err != nil {
		t.Fatal(err)
	}
	if tomb.Reference != done.ref || tomb.ServiceSlug != "amtsaerztliche-untersuchung" || tomb.FormID != "amtsaerztliches-gutachten" ||
		!tomb.ClosedAt.Equal(closingDay) || !tomb.DeletedAt.Equal(deletedAt) || tomb.SubmittedAt.IsZero() {
		t.Errorf("tombstone %+v", tomb)
	}
	if _, err := store.GetTombstone(ctx, w.db, w.offices["halle"].ID, done.id); fault.KindOf(err) != fault.NotFound {
		t.Errorf("another office reads the tombstone: %v", err)
	}
	if tomb, err := store.GetTombstoneByToken(ctx, w.db, submission.HashToken(done.token)); err != nil || tomb.ID != done.id {
		t.Errorf("the citizen's link does not find the tombstone: %+v %v", tomb, err)
	}
	// One audit entry per deleted case, naming only its id; the chains of
	// both offices verify.
	var entries int
	if err := w.db.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE actor = 'system' AND action = 'case.deleted'
		AND object IN ($1, $2)`, fmt.Sprintf("submission:%d", done.id), fmt.Sprintf("submission:%d", rejected.id)).Scan(&entries); err != nil {
		t.Fatal(err)
	}
	if entries != 2 {
		t.Errorf("%d audit entries of the deletion, want 2", entries)
	}
	if n, err := audit.Verify(ctx, w.db, 0); err != nil || n == 0 {
		t.Errorf("audit chain after the deletion: %d entries, %v", n, err)
	}

	// Lifted, the hold lets the next run delete the case; the open one
	// stays however old.
	if err := w.inbox.LiftHold(ctx, inbox.Access{OfficeID: w.offices["leipzig"].ID, Actor: domain.StaffMember(w.staff)}, held.id); err != nil {
		t.Fatal(err)
	}
	if n := w.deleteDue(t, deletedAt.Add(day)); n != 1 || w.exists(t, held) {
		t.Errorf("after the hold was lifted: %d deleted, still there: %v", n, w.exists(t, held))
	}
	if n := w.deleteDue(t, time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)); n != 0 || !w.exists(t, open) {
		t.Errorf("an open case was deleted (%d)", n)
	}
	if _, err := audit.Verify(ctx, w.db, 0); err != nil {
		t.Errorf("audit chain: %v", err)
	}
}

// TestClosingIsRecordedAndHoldsNeedAReason: entering abgeschlossen or
// abgelehnt records when (the period counts from it); a hold needs a
// reason, which stays on the case and out of the audit log.
func TestClosingIsRecordedAndHoldsNeedAReason(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	k := w.submit(t, "leipzig", "Schlussmann")
	office := w.offices["leipzig"].ID
	w.clock.set(closingDay.Add(-day))
	w.move(t, k, domain.InProgress)
	sub, _ := store.GetSubmission(ctx, w.db, office, k.id)
	if sub.ClosedAt != nil {
		t.Errorf("an open case has a closing time %v", sub.ClosedAt)
	}
	w.clock.set(closingDay)
	w.move(t, k, domain.Rejected)
	sub, _ = store.GetSubmission(ctx, w.db, office, k.id)
	if sub.ClosedAt == nil || !sub.ClosedAt.Equal(closingDay) {
		t.Errorf("closed_at %v, want %v", sub.ClosedAt, closingDay)
	}

	by := domain.StaffMember(w.staff)
	for _, reason := range []string{"", "   ", strings.Repeat("x", inbox.MaxHoldReason+1)} {
		if err := w.inbox.SetHold(ctx, inbox.Access{OfficeID: office, Actor: by}, k.id, reason); fault.MessageOf(err) != inbox.MsgHoldReason {
			t.Errorf("hold with reason %.10q: %v", reason, err)
		}
	}
	if err := w.inbox.SetHold(ctx, inbox.Access{OfficeID: w.offices["halle"].ID, Actor: by}, k.id, "Akteneinsicht"); fault.KindOf(err) != fault.NotFound {
		t.Errorf("another office held the case: %v", err)
	}
	if err := w.inbox.SetHold(ctx, inbox.Access{OfficeID: office, Actor: by}, k.id, "Akteneinsicht durch Herrn Schlussmann"); err != nil {
		t.Fatal(err)
	}
	if err := w.inbox.SetHold(ctx, inbox.Access{OfficeID: office, Actor: by}, k.id, "zweimal"); fault.MessageOf(err) != inbox.MsgHoldState {
		t.Errorf("a second hold: %v", err)
	}
	sub, _ = store.GetSubmission(ctx, w.db, office, k.id)
	if sub.HoldAt == nil || sub.HoldReason != "Akteneinsicht durch Herrn Schlussmann" || sub.HoldBy != w.staff {
		t.Errorf("hold %v %q %d", sub.HoldAt, sub.HoldReason, sub.HoldBy)
	}
	if err := w.inbox.LiftHold(ctx, inbox.Access{OfficeID: office, Actor: by}, k.id); err != nil {
		t.Fatal(err)
	}
	if err := w.inbox.LiftHold(ctx, inbox.Access{OfficeID: office, Actor: by}, k.id); fault.MessageOf(err) != inbox.MsgHoldState {
		t.Errorf("lifting no hold: %v", err)
	}
	var actions string
	var leaks int
	if err := w.db.QueryRow(ctx, `SELECT string_agg(action, ',' ORDER BY id) FILTER (WHERE action LIKE 'case.hold.%'),
		count(*) FILTER (WHERE audit_log::text ILIKE '%Schlussmann%' OR audit_log::text ILIKE '%Akteneinsicht%')
		FROM audit_log WHERE office_id = $1`, office).Scan(&actions, &leaks); err != nil {
		t.Fatal(err)
	}
	if actions != "case.hold.set,case.hold.lift" || leaks != 0 {
		t.Errorf("audit: %q, %d entries with the reason", actions, leaks)
	}
}

// TestOfficePeriodReplacesTheDefault: an office's own period (here one
// month instead of ten years) decides for its cases alone; periods out of
// bounds are refused; each change is audited.
func TestOfficePeriodReplacesTheDefault(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	leipzig := w.offices["leipzig"].ID
	const service = "amtsaerztliche-untersuchung"
	for _, months := range []int{-1, 361} {
		if err := w.cases.SetPeriod(ctx, leipzig, domain.StaffMember(1), service, months); fault.MessageOf(err) != retention.MsgPeriod {
			t.Errorf("period of %d months: %v", months, err)
		}
	}
	if err := w.cases.SetPeriod(ctx, leipzig, domain.StaffMember(1), "gibt-es-nicht", 12); fault.KindOf(err) != fault.NotFound {
		t.Errorf("period of an unknown service: %v", err)
	}
	if err := w.cases.SetPeriod(ctx, leipzig, domain.StaffMember(1), service, 1); err != nil {
		t.Fatal(err)
	}
	p, err := w.cases.Period(ctx, leipzig, service)
	if err != nil || p.Default != 120 || p.Override != 1 || p.Months() != 1 {
		t.Errorf("period %+v, %v", p, err)
	}

	// Closed on 31 January: one month ends on 28 February (no 31st), so
	// the case stays on 27 February and goes on 1 March.
	closed := time.Date(2027, 1, 31, 9, 0, 0, 0, w.berlin)
	lej := w.submit(t, "leipzig", "Kurzfrist")
	w.close(t, lej, domain.Done, closed)
	hal := w.submit(t, "halle", "Langfrist")
	w.close(t, hal, domain.Done, closed)
	if due := w.cases.DueAt(closed, 1); !due.Equal(time.Date(2027, 2, 28, 9, 0, 0, 0, w.berlin)) {
		t.Errorf("due %v", due)
	}
	if n := w.deleteDue(t, time.Date(2027, 2, 27, 9, 0, 0, 0, w.berlin)); n != 0 {
		t.Errorf("%d deleted a day early", n)
	}
	if n := w.deleteDue(t, time.Date(2027, 3, 1, 9, 0, 0, 0, w.berlin)); n != 1 || w.exists(t, lej) || !w.exists(t, hal) {
		t.Errorf("%d deleted; Leipzig's still there: %v, Halle's (ten years) gone: %v", n, w.exists(t, lej), !w.exists(t, hal))
	}
	if err := w.cases.SetPeriod(ctx, leipzig, domain.StaffMember(1), service, 0); err != nil {
		t.Fatal(err)
	}
	if p, _ := w.cases.Period(ctx, leipzig, service); p.Override != 0 || p.Months() != 120 {
		t.Errorf("back to the default: %+v", p)
	}
	var actions string
	if err := w.db.QueryRow(ctx, `SELECT string_agg(action || ' ' || object, ',' ORDER BY id) FROM audit_log
		WHERE office_id = $1 AND action LIKE 'retention.period.%'`, leipzig).Scan(&actions); err != nil {
		t.Fatal(err)
	}
	if actions != "retention.period.1m service:"+service+",retention.period.default service:"+service {
		t.Errorf("audit: %s", actions)
	}
}

// TestDeletionRunsInBatches: many due cases go in several bounded
// transactions, each case with its audit entry in chain order; a run that
// reaches its deadline stops between batches and says there is more.
func TestDeletionRunsInBatches(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.cases.SetBatchSize(2)
	for i := range 5 {
		k := w.submit(t, "leipzig", "Stapel"+string(rune('a'+i)))
		w.close(t, k, domain.Done, closingDay)
	}
	late := closingDay.AddDate(11, 0, 0)
	res, err := w.cases.DeleteDue(ctx, late, time.Now().Add(-time.Second))
	if err != nil || res.Cases != 0 || !res.More {
		t.Errorf("a run past its deadline: %+v, %v", res, err)
	}
	if n := w.deleteDue(t, late); n != 5 {
		t.Errorf("%d deleted, want 5", n)
	}
	var batches int
	if err := w.db.QueryRow(ctx, `SELECT count(DISTINCT at) FROM audit_log WHERE action = 'case.deleted'`).Scan(&batches); err != nil {
		t.Fatal(err)
	}
	if batches != 3 {
		t.Errorf("%d transactions, want 3 of at most 2 cases", batches)
	}
	if n, err := audit.Verify(ctx, w.db, 0); err != nil || n == 0 {
		t.Errorf("audit chain: %d, %v", n, err)
	}
}

func TestAddMonthsNeverMakesACaseDueEarly(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	at := func(y int, m time.Month, d, h int) time.Time { return time.Date(y, m, d, h, 0, 0, 0, berlin) }
	for _, tt := range []struct {
		from   time.Time
		months int
		want   time.Time
	}{
		{at(2026, 1, 31, 10), 1, at(2026, 2, 28, 10)},
		{at(2028, 1, 31, 10), 1, at(2028, 2, 29, 10)},
		{at(2026, 3, 31, 10), -1, at(2026, 2, 28, 10)},
		{at(2026, 3, 31, 10), 120, at(2036, 3, 31, 10)},
		{at(2026, 10, 25, 1), 12, at(2027, 10, 25, 1)}, // across daylight saving time, same wall clock
		{at(2026, 12, 15, 8), 2, at(2027, 2, 15, 8)},
	} {
		if got := retention.AddMonths(tt.from, tt.months, berlin); !got.Equal(tt.want) {
			t.Errorf("%v %+d months: %v, want %v", tt.from, tt.months, got, tt.want)
		}
	}
	// For every day of a leap year and periods up to 30 years: a case
	// closed by the cut of a day is due on or before that day.
	for d := at(2028, 1, 1, 12); d.Year() == 2028; d = d.AddDate(0, 0, 1) {
		for _, m := range []int{1, 6, 13, 120, 360} {
			cut := retention.AddMonths(d, -m, berlin)
			if due := retention.AddMonths(cut, m, berlin); due.After(d) {
				t.Fatalf("closed %v, %d months: due %v, after the run on %v", cut, m, due, d)
			}
		}
	}
}

// TestDeletionJobRunsOnRiver: the periodic job, wired as serve wires it,
// runs when its process becomes leader and deletes what is due, once per
// day however often it is planned.
func TestDeletionJobRunsOnRiver(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	k := w.submit(t, "leipzig", "Riverberg")
	w.close(t, k, domain.Done, closingDay)
	worker := &retention.Worker{Cases: w.cases, Now: func() time.Time { return closingDay.AddDate(10, 0, 2) }}
	client, err := jobs.New(w.db, []byte("0123456789abcdef0123456789abcdef"), slog.New(slog.DiscardHandler),
		jobs.Options{Retention: worker, Loc: w.berlin})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = jobs.Stop(client, 5*time.Second) }()
	for deadline := time.Now().Add(20 * time.Second); w.exists(t, k); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the deletion job did not run")
		}
	}
	today := time.Now().In(w.berlin).Format("2006-01-02")
	if _, err := client.Insert(ctx, retention.DeleteArgs{Day: today}, nil); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := w.db.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'retention.delete'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("%d deletion jobs for one day", n)
	}
}

// TestHoldBeingSetWinsOverTheDeletion: a colleague is putting a due case
// on hold at the very moment the deletion runs (the hold's transaction
// holds the row): the deletion neither waits for it nor deletes the case,
// and once the hold is committed the case stays.
func TestHoldBeingSetWinsOverTheDeletion(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	k := w.submit(t, "leipzig", "Gleichzeitig")
	w.close(t, k, domain.Done, closingDay)
	tx, err := w.db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	if ok, err := store.SetHold(ctx, tx, w.offices["leipzig"].ID, k.id, w.staff, "Klage eingegangen", time.Now()); err != nil || !ok {
		t.Fatalf("hold: %v %v", ok, err)
	}
	runCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := w.cases.DeleteDue(runCtx, closingDay.AddDate(11, 0, 0), time.Time{})
	if err != nil || res.Cases != 0 {
		t.Fatalf("deletion beside a hold being set: %+v, %v", res, err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if n := w.deleteDue(t, closingDay.AddDate(11, 0, 0)); n != 0 || !w.exists(t, k) {
		t.Errorf("the held case was deleted (%d)", n)
	}
}
