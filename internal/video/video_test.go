package video_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gesundheitsamt/portal/internal/auth"
	"github.com/gesundheitsamt/portal/internal/crypto"
	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/mail"
	"github.com/gesundheitsamt/portal/internal/retention"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/store/storetest"
	"github.com/gesundheitsamt/portal/internal/submission"
	"github.com/gesundheitsamt/portal/internal/submission/submissiontest"
	"github.com/gesundheitsamt/portal/internal/video"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

// mails records what the service asks the mailer to send, in the
// transaction's order; a rolled-back transaction's mails stay recorded,
// which the tests that refuse a change check for.
type mails struct {
	mu   sync.Mutex
	sent []mail.VideoMail
}

func (m *mails) Video(_ context.Context, _ pgx.Tx, v mail.VideoMail) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, v)
	return nil
}

func (m *mails) all() []mail.VideoMail {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]mail.VideoMail(nil), m.sent...)
}

type world struct {
	db      *store.DB
	svc     *video.Service
	mails   *mails
	now     time.Time
	leipzig store.Office
	halle   store.Office
	kase    submissiontest.Case

	caseworker, physician, admin, halleWorker video.Access
}

func newWorld(t *testing.T) *world {
	t.Helper()
	sw := submissiontest.New(t)
	box, err := crypto.NewBox(submissiontest.EncryptionKey)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{db: sw.DB, mails: &mails{}, now: time.Date(2026, 12, 3, 9, 0, 0, 0, sw.Location)}
	w.svc = video.New(video.Options{DB: sw.DB, Box: box, Mail: w.mails, Now: func() time.Time { return w.now }})
	ctx := context.Background()
	if w.leipzig, err = store.GetOfficeBySlug(ctx, sw.DB, "leipzig"); err != nil {
		t.Fatal(err)
	}
	if w.halle, err = store.GetOfficeBySlug(ctx, sw.DB, "halle"); err != nil {
		t.Fatal(err)
	}
	w.caseworker = w.addStaff(t, w.leipzig, "sb@leipzig.test", domain.Caseworker)
	w.physician = w.addStaff(t, w.leipzig, "arzt@leipzig.test", domain.Physician)
	w.admin = w.addStaff(t, w.leipzig, "admin@leipzig.test", domain.Admin)
	w.halleWorker = w.addStaff(t, w.halle, "sb@halle.test", domain.Caseworker)
	w.kase = sw.SubmitGutachten(t, sw.Service(t, submission.Options{}), w.leipzig, "Krüger", "Ibuprofen", "auftrag.pdf")
	return w
}

func (w *world) addStaff(t *testing.T, o store.Office, email string, role domain.Role) video.Access {
	t.Helper()
	st := auth.Staff{OfficeID: o.ID, Email: email, Name: "Name " + email, Role: role}
	if err := w.db.QueryRow(context.Background(), `INSERT INTO staff (office_id, email, name, role, password_hash)
		VALUES ($1, $2, $3, $4, 'x') RETURNING id`, o.ID, email, st.Name, string(role)).Scan(&st.ID); err != nil {
		t.Fatal(err)
	}
	return video.StaffAccess(st)
}

func (w *world) plan(t *testing.T, start time.Time) video.Created {
	t.Helper()
	c, err := w.svc.Plan(context.Background(), w.caseworker, w.kase.ID, start, 20)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func wantKind(t *testing.T, what string, err error, kind fault.Kind, msg string) {
	t.Helper()
	if fault.KindOf(err) != kind || fault.MessageOf(err) != msg {
		t.Errorf("%s: %v (kind %v, message %q), want %v %q", what, err, fault.KindOf(err), fault.MessageOf(err), kind, msg)
	}
}

func auditActions(t *testing.T, db *store.DB, object domain.Object) []string {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT action FROM audit_log WHERE object = $1 ORDER BY id`, string(object))
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPlanInvitesTheCitizenAndTheLinkOpensOnlyItsConsultation(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	start := w.now.Add(2 * time.Hour)
	c := w.plan(t, start)
	if !c.Mailed || len(c.Token) != submission.TokenLen {
		t.Fatalf("planned %+v", c)
	}

	sent := w.mails.all()
	if len(sent) != 1 {
		t.Fatalf("mails %+v, want one invitation", sent)
	}
	m := sent[0]
	if m.Template != mail.TemplateVideoInvite || m.To != "krüger@example.org" || m.Lang != "de" || m.Token != c.Token ||
		m.Reference != w.kase.Ref || !m.Start.Equal(start) || m.Length != 20*time.Minute || m.Sequence != 0 || m.OfficeID != w.leipzig.ID {
		t.Errorf("invitation %+v", m)
	}

	// Only the token's hash finds the link; the token is nowhere in clear.
	var hash, sealed []byte
	if err := w.db.QueryRow(ctx, `SELECT token_hash, token_sealed FROM video_link WHERE consultation_id = $1`, c.Consultation.ID).Scan(&hash, &sealed); err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256([]byte(c.Token)); !bytes.Equal(hash, sum[:]) || bytes.Contains(sealed, []byte(c.Token)) {
		t.Errorf("stored hash %x, sealed %q", hash, sealed)
	}

	j, err := w.svc.OpenLink(ctx, c.Token)
	if err != nil {
		t.Fatal(err)
	}
	if j.Consultation.ID != c.Consultation.ID || j.Office.ID != w.leipzig.ID || j.Link.Kind != store.LinkPatient || j.Window != video.Early {
		t.Errorf("link opens %+v", j)
	}
	for _, bad := range []string{"", "x", c.Token[:len(c.Token)-1], submission.NewToken()} {
		if _, err := w.svc.OpenLink(ctx, bad); fault.KindOf(err) != fault.NotFound {
			t.Errorf("OpenLink(%q): %v, want NotFound", bad, err)
		}
	}

	// The citizen's status page shows it; the audit log records it.
	evs, err := store.ListCitizenEvents(ctx, w.db, w.leipzig.ID, w.kase.ID)
	if err != nil {
		t.Fatal(err)
	}
	if last := evs[len(evs)-1]; last.Kind != store.EventVideoPlanned || last.Message != start.UTC().Format(time.RFC3339) {
		t.Errorf("last citizen event %+v", last)
	}
	if got := auditActions(t, w.db, domain.VideoObject(c.Consultation.ID)); len(got) != 1 || got[0] != string(domain.VideoCreate) {
		t.Errorf("audit %v", got)
	}

	rows, err := w.svc.List(ctx, w.admin, w.now.Truncate(24*time.Hour), 7)
	if err != nil || len(rows) != 1 || rows[0].ID != c.Consultation.ID || rows[0].Reference != w.kase.Ref || rows[0].Waiting != 0 {
		t.Errorf("list %+v, %v", rows, err)
	}
}

func TestJoinWindow(t *testing.T) {
	start := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	c := store.Consultation{StartsAt: start, Minutes: 20, State: store.VideoPlanned}
	for _, tc := range []struct {
		at    time.Time
		state string
		want  video.Window
	}{
		{start.Add(-31 * time.Minute), store.VideoPlanned, video.Early},
		{start.Add(-30 * time.Minute), store.VideoPlanned, video.Open},
		{start.Add(2*time.Hour - time.Second), store.VideoPlanned, video.Open},
		{start.Add(2 * time.Hour), store.VideoPlanned, video.Over},
		{start, store.VideoCancelled, video.Cancelled},
		{start, store.VideoEnded, video.Ended},
	} {
		c.State = tc.state
		if got := video.WindowOf(c, tc.at); got != tc.want {
			t.Errorf("at %v (%s): %v, want %v", tc.at, tc.state, got, tc.want)
		}
	}
}

func TestRescheduleKeepsTheLinkAndCancelClosesIt(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	c := w.plan(t, w.now.Add(time.Hour))
	later := w.now.Add(26 * time.Hour)
	// Turned away at the old time: at the new one the holder waits again.
	before, err := w.svc.OpenLink(ctx, c.Token)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := store.DenyVideoLink(ctx, w.db, before.Consultation.OfficeID, c.Consultation.ID, before.Link.ID); !ok || err != nil {
		t.Fatalf("deny: %v %v", ok, err)
	}
	if err := w.svc.Reschedule(ctx, w.physician, c.Consultation.ID, later, 45); err != nil {
		t.Fatal(err)
	}
	j, err := w.svc.OpenLink(ctx, c.Token)
	if err != nil || !j.Consultation.StartsAt.Equal(later) || j.Consultation.Minutes != 45 || j.Window != video.Early {
		t.Fatalf("after reschedule %+v, %v", j.Consultation, err)
	}
	if j.Link.Denied || j.Link.RejoinUntil != nil {
		t.Errorf("after reschedule the link keeps the old call's decision: denied %v, rejoin until %v", j.Link.Denied, j.Link.RejoinUntil)
	}
	w.now = later.Add(-10 * time.Minute)
	if j, _ = w.svc.OpenLink(ctx, c.Token); j.Window != video.Open {
		t.Errorf("window ten minutes before the new start: %v", j.Window)
	}

	if err := w.svc.Resend(ctx, w.caseworker, c.Consultation.ID); err != nil {
		t.Fatal(err)
	}
	if err := w.svc.Cancel(ctx, w.caseworker, c.Consultation.ID); err != nil {
		t.Fatal(err)
	}
	if j, _ = w.svc.OpenLink(ctx, c.Token); j.Window != video.Cancelled {
		t.Errorf("window after cancel: %v", j.Window)
	}
	wantKind(t, "reschedule a cancelled one", w.svc.Reschedule(ctx, w.caseworker, c.Consultation.ID, later, 30), fault.Conflict, video.MsgState)
	wantKind(t, "cancel twice", w.svc.Cancel(ctx, w.caseworker, c.Consultation.ID), fault.Conflict, video.MsgState)
	wantKind(t, "resend a cancelled one", w.svc.Resend(ctx, w.caseworker, c.Consultation.ID), fault.Conflict, video.MsgState)

	sent := w.mails.all()
	want := []struct {
		template string
		seq      int
		token    bool
	}{{mail.TemplateVideoInvite, 0, true}, {mail.TemplateVideoMoved, 1, true}, {mail.TemplateVideoInvite, 1, true}, {mail.TemplateVideoCancelled, 2, false}}
	if len(sent) != len(want) {
		t.Fatalf("mails %+v", sent)
	}
	keys := map[string]bool{}
	for i, m := range sent {
		if m.Template != want[i].template || m.Sequence != want[i].seq || (m.Token == c.Token) != want[i].token || (m.Token != "" && m.Token != c.Token) {
			t.Errorf("mail %d: %+v, want %+v", i, m, want[i])
		}
		keys[m.Key] = true
	}
	if len(keys) != len(sent) {
		t.Errorf("mail keys repeat: %v", keys)
	}
	got := auditActions(t, w.db, domain.VideoObject(c.Consultation.ID))
	if len(got) != 4 || got[1] != string(domain.VideoReschedule) || got[2] != string(domain.VideoResend) || got[3] != string(domain.VideoCancel) {
		t.Errorf("audit %v", got)
	}
	evs, _ := store.ListCitizenEvents(ctx, w.db, w.leipzig.ID, w.kase.ID)
	if n := len(evs); n < 3 || evs[n-2].Kind != store.EventVideoMoved || evs[n-1].Kind != store.EventVideoCancelled {
		t.Errorf("citizen events %+v", evs)
	}
}

func TestGuestLinks(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	c := w.plan(t, w.now.Add(time.Hour))
	id := c.Consultation.ID

	_, err := w.svc.AddGuest(ctx, w.caseworker, id, "  ", "", "de")
	wantKind(t, "guest without a name", err, fault.Invalid, video.MsgGuestName)
	_, err = w.svc.AddGuest(ctx, w.caseworker, id, "Dolmetscherin", "Name <a@b.example>", "de")
	wantKind(t, "guest with a display name in the address", err, fault.Invalid, video.MsgEmail)

	token, err := w.svc.AddGuest(ctx, w.caseworker, id, " Olena   Kovalenko ", "olena@example.org", "uk")
	if err != nil {
		t.Fatal(err)
	}
	j, err := w.svc.OpenLink(ctx, token)
	if err != nil || j.Link.Kind != store.LinkGuest || j.Link.Name != "Olena Kovalenko" || j.Consultation.ID != id {
		t.Fatalf("guest link opens %+v, %v", j, err)
	}
	sent := w.mails.all()
	g := sent[len(sent)-1]
	if g.Template != mail.TemplateVideoGuest || g.To != "olena@example.org" || g.Name != "Olena Kovalenko" || g.Token != token || g.Reference != "" {
		t.Errorf("guest mail %+v (a guest learns no reference number)", g)
	}
	// A guest without an address: the link is for staff to pass on.
	if _, err := w.svc.AddGuest(ctx, w.physician, id, "Begleitung", "", "de"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.AddGuest(ctx, w.physician, id, "Dritte", "", "de"); err != nil {
		t.Fatal(err)
	}
	_, err = w.svc.AddGuest(ctx, w.physician, id, "Vierte", "", "de")
	wantKind(t, "a fourth guest", err, fault.Invalid, video.MsgGuests)
	if n := len(w.mails.all()); n != len(sent) {
		t.Errorf("guests without addresses got mail: %d mails, want %d", n, len(sent))
	}

	// Rescheduling tells the patient and the guest with an address, each
	// with their own link.
	if err := w.svc.Reschedule(ctx, w.caseworker, id, w.now.Add(3*time.Hour), 30); err != nil {
		t.Fatal(err)
	}
	moved := w.mails.all()[len(sent):]
	if len(moved) != 2 || moved[0].Token != c.Token || moved[0].Template != mail.TemplateVideoMoved ||
		moved[1].Token != token || moved[1].Name != "Olena Kovalenko" || moved[1].Reference != "" {
		t.Errorf("reschedule mails %+v", moved)
	}
	d, err := w.svc.Get(ctx, w.admin, id)
	if err != nil || len(d.Links) != 4 || d.Links[0].Kind != store.LinkPatient {
		t.Errorf("detail links %+v, %v", d.Links, err)
	}
}

func TestRulesOfWhoAndWhen(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	start := w.now.Add(time.Hour)

	_, err := w.svc.Plan(ctx, w.admin, w.kase.ID, start, 20)
	wantKind(t, "an admin plans", err, fault.Forbidden, video.MsgRole)
	_, err = w.svc.Plan(ctx, w.halleWorker, w.kase.ID, start, 20)
	wantKind(t, "Halle plans for Leipzig's case", err, fault.NotFound, "")
	for _, tc := range []struct {
		start   time.Time
		minutes int
		msg     string
	}{
		{w.now.Add(-time.Hour), 20, video.MsgStart},
		{w.now.Add(400 * 24 * time.Hour), 20, video.MsgStart},
		{time.Time{}, 20, video.MsgStart},
		{start, 4, video.MsgMinutes},
		{start, 241, video.MsgMinutes},
	} {
		_, err := w.svc.Plan(ctx, w.caseworker, w.kase.ID, tc.start, tc.minutes)
		wantKind(t, "plan "+tc.start.String(), err, fault.Invalid, tc.msg)
	}
	// "jetzt starten": a start a few minutes ago is fine.
	c, err := w.svc.Plan(ctx, w.caseworker, w.kase.ID, w.now.Add(-5*time.Minute), 20)
	if err != nil {
		t.Fatal(err)
	}
	id := c.Consultation.ID

	// Another office's staff reach nothing of it.
	if _, err := w.svc.Get(ctx, w.halleWorker, id); fault.KindOf(err) != fault.NotFound {
		t.Errorf("Halle reads Leipzig's consultation: %v", err)
	}
	wantKind(t, "Halle reschedules", w.svc.Reschedule(ctx, w.halleWorker, id, start, 20), fault.NotFound, "")
	wantKind(t, "Halle cancels", w.svc.Cancel(ctx, w.halleWorker, id), fault.NotFound, "")
	wantKind(t, "Halle resends", w.svc.Resend(ctx, w.halleWorker, id), fault.NotFound, "")
	_, err = w.svc.AddGuest(ctx, w.halleWorker, id, "Gast", "", "de")
	wantKind(t, "Halle adds a guest", err, fault.NotFound, "")
	if rows, err := w.svc.List(ctx, w.halleWorker, w.now.Add(-24*time.Hour), 7); err != nil || len(rows) != 0 {
		t.Errorf("Halle's list %+v, %v", rows, err)
	}
	wantKind(t, "an admin cancels", w.svc.Cancel(ctx, w.admin, id), fault.Forbidden, video.MsgRole)

	// Past its window, no guest can be added.
	w.now = w.now.Add(3 * time.Hour)
	_, err = w.svc.AddGuest(ctx, w.caseworker, id, "Gast", "", "de")
	wantKind(t, "a guest after the window", err, fault.Conflict, video.MsgState)
}

func TestResendWithoutAnAddress(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	if _, err := w.db.Exec(ctx, `UPDATE submission SET contact_email = '' WHERE id = $1`, w.kase.ID); err != nil {
		t.Fatal(err)
	}
	c := w.plan(t, w.now.Add(time.Hour))
	if c.Mailed || len(w.mails.all()) != 0 {
		t.Errorf("a case without an address: mailed %v, %d mails", c.Mailed, len(w.mails.all()))
	}
	wantKind(t, "resend without an address", w.svc.Resend(ctx, w.caseworker, c.Consultation.ID), fault.Invalid, video.MsgNoAddress)
	if _, err := w.svc.OpenLink(ctx, c.Token); err != nil {
		t.Errorf("the link shown to staff: %v", err)
	}
}

func TestOldMetadataIsDeleted(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	old := w.plan(t, w.now.Add(time.Hour))
	recent := w.plan(t, w.now.Add(2*time.Hour))
	if _, err := store.InsertPresence(ctx, w.db, store.Presence{ConsultationID: old.Consultation.ID, OfficeID: w.leipzig.ID, StaffID: w.caseworker.StaffID, Kind: store.PresenceJoined}); err != nil {
		t.Fatal(err)
	}
	// The first ended 91 days ago, the second 89.
	if _, err := w.db.Exec(ctx, `UPDATE video_consultation SET starts_at = now() - interval '91 days' WHERE id = $1`, old.Consultation.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := w.db.Exec(ctx, `UPDATE video_consultation SET starts_at = now() - interval '91 days', ended_at = now() - interval '89 days' WHERE id = $1`, recent.Consultation.ID); err != nil {
		t.Fatal(err)
	}
	n, err := store.DeleteOldVideo(ctx, w.db, time.Now().Add(-retention.VideoPeriod))
	if err != nil || n != 1 {
		t.Fatalf("deleted %d, %v; want 1", n, err)
	}
	if _, err := w.svc.OpenLink(ctx, old.Token); fault.KindOf(err) != fault.NotFound {
		t.Errorf("the old link: %v", err)
	}
	var left int
	if err := w.db.QueryRow(ctx, `SELECT count(*) FROM video_presence WHERE consultation_id = $1`, old.Consultation.ID).Scan(&left); err != nil || left != 0 {
		t.Errorf("metadata left: %d, %v", left, err)
	}
	if _, err := w.svc.OpenLink(ctx, recent.Token); err != nil {
		t.Errorf("the recent link: %v", err)
	}
}
