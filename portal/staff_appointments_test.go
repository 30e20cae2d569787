package portal_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/store"
)

// bookAfterToday books the first free place of office slug's on-site
// calendar from tomorrow on (a morning slot of two places) for the
// Belehrung, as appointment does, and returns it with the path of its
// staff page and its day (YYYY-MM-DD).
func (h *harness) bookAfterToday(t testing.TB, slug string, c store.BookingContact) (store.Booking, string, string) {
	t.Helper()
	o, cal := h.calendar(t, slug, "vor-ort")
	now := time.Now().In(h.app.Location)
	tomorrow := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, h.app.Location)
	b := h.appointmentAt(t, o, cal.ID, "belehrung-infektionsschutz", h.freeSlot(t, o, cal.ID, tomorrow, 2), c)
	return b, fmt.Sprintf("/staff/termine/%d", b.ID), b.Start.In(h.app.Location).Format(time.DateOnly)
}

// dayOf is the clock at hour on the day of b in the offices' zone.
func (h *harness) dayOf(b store.Booking, hour int) time.Time {
	s := b.Start.In(h.app.Location)
	return time.Date(s.Year(), s.Month(), s.Day(), hour, 0, 0, 0, h.app.Location)
}

// TestStaffAppointmentsDay: the day view lists the office's
// appointments of the day by calendar and slot, with name, service,
// state and the free places, places held by someone still booking, and
// nothing of another office; the other calendar, the week and a day
// typed wrong.
func TestStaffAppointmentsDay(t *testing.T) {
	h := newHarness(t, nil)
	b, detail, day := h.bookAfterToday(t, "leipzig", store.BookingContact{Name: "Siobhán Ó Briain", Email: "siobhan@example.org"})
	hb, halleDetail, _ := h.bookAfterToday(t, "halle", store.BookingContact{Name: "Hanna Halle", Email: "hanna@example.org"})
	o, cal := h.calendar(t, "leipzig", "vor-ort")
	slot := b.Start.In(h.app.Location).Format("15:04") + "–" + b.End().In(h.app.Location).Format("15:04")

	c := h.logIn(t, "sb@leipzig.test", h.addStaff(t, "leipzig", "sb@leipzig.test", "caseworker", testTOTP))
	_, b0 := c.get("/staff/")
	expectContains(t, b0, `href="/staff/termine"`, ">Termine</a>")

	res, page := c.get("/staff/termine?tag=" + day)
	expectStatus(t, res, page, http.StatusOK)
	expectContains(t, page, "Termine am ", "Sprechstunde vor Ort", "Videosprechstunde", `<caption class="visually-hidden">Termine im Kalender Sprechstunde vor Ort`,
		`<th scope="row">`+slot+`</th>`, `href="`+detail+`">Siobhán Ó Briain</a>`,
		"Belehrung", ">gebucht<", "1 frei", "Vorheriger Tag", "Nächster Tag", `name="tag" type="date" value="`+day+`"`)
	expectNotContains(t, page, "Hanna Halle", halleDetail, "gerade in Buchung")
	if n := strings.Count(page, `href="`+detail+`"`); n != 1 {
		t.Errorf("the appointment is listed %d times on the day of every calendar, want once: in its own", n)
	}

	// Someone chooses the slot's other place and is still typing: no
	// free place, one being booked.
	if _, err := h.app.Booking.Hold(context.Background(), o, cal.ID, "belehrung-infektionsschutz", b.Start); err != nil {
		t.Fatal(err)
	}
	_, page = c.get("/staff/termine?tag=" + day + "&kalender=vor-ort")
	expectContains(t, page, "0 frei", "1 gerade in Buchung", "Siobhán")
	expectNotContains(t, page, "Videosprechstunde</h2>", `id="kalender-video"`)
	_, page = c.get("/staff/termine?tag=" + day + "&kalender=video")
	expectNotContains(t, page, "Siobhán", `id="kalender-vor-ort"`)
	expectContains(t, page, `id="kalender-video"`)

	_, page = c.get("/staff/termine?tag=" + day + "&lang=en")
	expectContains(t, page, "Appointments on ", "0 free", "1 being booked just now", ">booked<", "Previous day")
	c.get("/staff/termine?lang=de")

	// The week: the day's counts link to the day.
	res, page = c.get("/staff/termine?woche=" + day)
	expectStatus(t, res, page, http.StatusOK)
	expectContains(t, page, "Wochenübersicht", `<h2 class="week__heading" id="tag-`+day+`">`,
		`Sprechstunde vor Ort: <a href="/staff/termine?kalender=vor-ort&amp;tag=`+day+`">1 gebucht, `, "Montag, ", "Freitag, ")
	expectNotContains(t, page, "Siobhán", "Hanna")

	// A day typed wrong: said where, the typed text kept, today shown.
	res, page = c.get("/staff/termine?tag=morgen")
	expectStatus(t, res, page, http.StatusUnprocessableEntity)
	expectContains(t, page, `href="#appointments-day"`, "zum Beispiel 08.12.2026", `value="morgen"`, `aria-invalid="true"`)
	// A typed German date is a day too; an unknown calendar is nobody's.
	d, _ := time.Parse(time.DateOnly, day)
	_, page = c.get("/staff/termine?tag=" + d.Format("02.01.2006"))
	expectContains(t, page, "Siobhán", `value="`+day+`"`)
	if res, _ := c.get("/staff/termine?kalender=nirgendwo"); res.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown calendar: %d", res.StatusCode)
	}

	// Halle's staff: Leipzig's appointment is not on their day and its
	// page is 404; their own is there.
	halle := h.logIn(t, "sb@halle.test", h.addStaff(t, "halle", "sb@halle.test", "caseworker", testTOTP))
	_, page = halle.get("/staff/termine?tag=" + hb.Start.In(h.app.Location).Format(time.DateOnly))
	expectContains(t, page, "Hanna Halle")
	_, page = halle.get("/staff/termine?tag=" + day)
	expectNotContains(t, page, "Siobhán", detail)
	if res, _ := halle.get(detail); res.StatusCode != http.StatusNotFound {
		t.Errorf("Halle opens Leipzig's appointment: %d", res.StatusCode)
	}
	if res, _ := c.get(halleDetail); res.StatusCode != http.StatusNotFound {
		t.Errorf("Leipzig opens Halle's appointment: %d", res.StatusCode)
	}
}

// TestStaffCheckIn: the check-in is refused before the appointment's day
// (and the page does not offer it), works on the day by either button,
// can be changed, is shown on the day view and the appointment's page,
// is audited and mails nothing; its notice shows only while it is so.
func TestStaffCheckIn(t *testing.T) {
	h := newHarness(t, nil)
	b, detail, day := h.bookAfterToday(t, "leipzig", store.BookingContact{Name: "Kim Kommt", Email: "kim@example.org"})
	c := h.logIn(t, "sb@leipzig.test", h.addStaff(t, "leipzig", "sb@leipzig.test", "caseworker", testTOTP))
	mails := func() (n int) {
		if err := h.db.QueryRow(context.Background(), `SELECT count(*) FROM river_job WHERE kind = 'mail.send'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	attendance := func() (a string) {
		if err := h.db.QueryRow(context.Background(), `SELECT attendance FROM booking WHERE id = $1`, b.ID).Scan(&a); err != nil {
			t.Fatal(err)
		}
		return a
	}
	before := mails()

	res, page := c.get(detail)
	expectStatus(t, res, page, http.StatusOK)
	expectContains(t, page, "Kim Kommt", "kim@example.org", "noch nicht erfasst", "erfassen Sie ab dem Tag des Termins")
	expectNotContains(t, page, `name="erschienen"`)
	res, page = c.post(detail+"/anwesenheit", url.Values{"erschienen": {"ja"}})
	expectStatus(t, res, page, http.StatusConflict)
	expectContains(t, page, "erst ab dem Tag des Termins", `href="#attendance-heading"`, `id="attendance-heading"`)
	if a := attendance(); a != "" {
		t.Fatalf("before the day: %q", a)
	}

	// On the day, before the time: the buttons are there.
	h.clock.set(h.dayOf(b, 7))
	defer h.clock.set(time.Time{})
	_, page = c.get(detail)
	expectContains(t, page, `action="`+detail+`/anwesenheit"`, `name="erschienen" value="ja"`, `name="erschienen" value="nein"`)
	res, page = c.post(detail+"/anwesenheit", url.Values{"erschienen": {"vielleicht"}})
	expectStatus(t, res, page, http.StatusUnprocessableEntity)
	expectContains(t, page, "Wählen Sie „Erschienen“ oder „Nicht erschienen“.")
	res, page = c.post(detail+"/anwesenheit", url.Values{"erschienen": {"ja"}})
	expectLocation(t, res, detail+"?erledigt=erschienen")
	_, page = c.follow(res, page)
	expectContains(t, page, "Gespeichert: Die Person ist erschienen.", "erschienen (erfasst am ", "Sie können die Angabe ändern.")
	if a := attendance(); a != store.AttendanceCame {
		t.Errorf("after ja: %q", a)
	}
	_, page = c.get("/staff/termine?tag=" + day)
	expectContains(t, page, `<span class="tag tag--quiet">erschienen</span>`)

	res, _ = c.post(detail+"/anwesenheit", url.Values{"erschienen": {"nein"}})
	expectLocation(t, res, detail+"?erledigt=nicht-erschienen")
	_, page = c.get(detail + "?erledigt=erschienen") // an old notice: not what is so now
	expectNotContains(t, page, "Gespeichert: Die Person ist erschienen.")
	expectContains(t, page, "nicht erschienen (erfasst am ")
	_, page = c.get("/staff/termine?tag=" + day + "&lang=en")
	expectContains(t, page, "did not come")

	if a := attendance(); a != store.AttendanceNoShow {
		t.Errorf("after nein: %q", a)
	}
	if n := mails(); n != before {
		t.Errorf("the check-in queued %d mails", n-before)
	}
	var came, noShow int
	if err := h.db.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE action = $2), count(*) FILTER (WHERE action = $3)
		FROM audit_log WHERE object = $1`, string(domain.AppointmentObject(b.ID)), string(domain.AppointmentCame), string(domain.AppointmentNoShow)).Scan(&came, &noShow); err != nil {
		t.Fatal(err)
	}
	if came != 1 || noShow != 1 {
		t.Errorf("audit: %d came, %d no-show", came, noShow)
	}
}

// TestStaffCancelsAppointment: the appointment's page warns before the
// office's cancellation; a reason too long is refused and kept; the
// cancellation mails the citizen without the reason, frees the place
// (rows counted) and shows who cancelled and why; one that has begun
// cannot be cancelled.
func TestStaffCancelsAppointment(t *testing.T) {
	h, sink := bookingHarness(t)
	const email = "lea@example.org"
	b, detail, day := h.bookAfterToday(t, "leipzig", store.BookingContact{Name: "Lea Absage", Email: email})
	// The booked mail (the confirmation's was for a link the test
	// replaced, and is not sent).
	waitMails(t, sink, email, 1)
	c := h.logIn(t, "sb@leipzig.test", h.addStaff(t, "leipzig", "sb@leipzig.test", "caseworker", testTOTP))
	places := func() (n int) {
		if err := h.db.QueryRow(context.Background(), `SELECT count(*) FROM booking
			WHERE calendar_id = $1 AND starts_at = $2 AND state IN ('held', 'unconfirmed', 'booked')`, b.Calendar.ID, b.Start).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := places(); n != 1 {
		t.Fatalf("%d places taken before", n)
	}

	_, page := c.get(detail)
	expectContains(t, page, "Termin absagen", "erhält sofort eine Absage per E-Mail", "Der Grund wird nicht an die Person geschickt",
		`name="grund"`, `maxlength="500"`, `action="`+detail+`/absagen"`, `name="_csrf"`)

	long := strings.Repeat("zu lang ", 63) // 504 characters
	res, page := c.post(detail+"/absagen", url.Values{"grund": {long}})
	expectStatus(t, res, page, http.StatusUnprocessableEntity)
	expectContains(t, page, `href="#cancel-reason"`, "höchstens 500 Zeichen", strings.TrimSpace(long)+"</textarea>", `aria-invalid="true"`)
	if n := places(); n != 1 {
		t.Fatalf("a refused cancellation freed the place")
	}

	const reason = "Frau A. liegt im Krankenhaus"
	res, page = c.post(detail+"/absagen", url.Values{"grund": {reason}})
	expectLocation(t, res, detail+"?erledigt=abgesagt")
	_, page = c.follow(res, page)
	expectContains(t, page, "Die Person erhält eine Absage per E-Mail", ">abgesagt<", "von Ihrem Amt", reason)
	expectNotContains(t, page, `action="`+detail+`/absagen"`, `name="erschienen"`)
	if n := places(); n != 0 {
		t.Errorf("%d places taken after the cancellation", n)
	}
	got := waitMails(t, sink, email, 2)[1]
	if !strings.Contains(got.Text, "abgesagt") || strings.Contains(got.Text, "Krankenhaus") || strings.Contains(got.Subject, "Krankenhaus") {
		t.Errorf("the cancellation mail:\n%s\n%s", got.Subject, got.Text)
	}
	_, page = c.get("/staff/termine?tag=" + day + "&kalender=vor-ort")
	expectContains(t, page, "Lea Absage", `<span class="tag tag--quiet">abgesagt</span>`, "2 frei")

	// One that has begun: the page offers no cancellation; a post says why.
	other, otherDetail, _ := h.bookAfterToday(t, "leipzig", store.BookingContact{Name: "Max Vorbei", Email: "max@example.org"})
	h.clock.set(other.Start.Add(time.Minute))
	defer h.clock.set(time.Time{})
	_, page = c.get(otherDetail)
	expectNotContains(t, page, `action="`+otherDetail+`/absagen"`)
	res, page = c.post(otherDetail+"/absagen", url.Values{"grund": {"zu spät"}})
	expectStatus(t, res, page, http.StatusConflict)
	expectContains(t, page, `href="#cancel-heading"`, `id="cancel-heading"`, "in der Vergangenheit")
}

// TestStaffVideoAppointment: a video appointment's page links to the
// consultation its booking made, on the staff's video pages; an on-site
// one has none.
func TestStaffVideoAppointment(t *testing.T) {
	h := newHarness(t, nil)
	b := h.appointment(t, "leipzig", "video", "reiseimpfberatung", store.BookingContact{Name: "Vera Video", Email: "vera@example.org"})
	var consultation int64
	if err := h.db.QueryRow(context.Background(), `SELECT id FROM video_consultation WHERE booking_id = $1`, b.ID).Scan(&consultation); err != nil {
		t.Fatal(err)
	}
	_, onsite, _ := h.bookAfterToday(t, "leipzig", store.BookingContact{Name: "Otto Ort", Email: "otto@example.org"})
	c := h.logIn(t, "sb@leipzig.test", h.addStaff(t, "leipzig", "sb@leipzig.test", "caseworker", testTOTP))
	link := fmt.Sprintf("/staff/video/%d", consultation)
	_, page := c.get(fmt.Sprintf("/staff/termine/%d", b.ID))
	expectContains(t, page, "Vera Video", "Videosprechstunde", `href="`+link+`">Zur Videosprechstunde dieses Termins</a>`)
	if res, _ := c.get(link); res.StatusCode != http.StatusOK {
		t.Errorf("the consultation's page: %d", res.StatusCode)
	}
	_, page = c.get(onsite)
	expectContains(t, page, "Otto Ort")
	expectNotContains(t, page, `href="/staff/video/`)
}

// TestStaffAppointmentPostsNeedTheCSRFToken: without the token neither
// the check-in nor the cancellation changes the appointment.
func TestStaffAppointmentPostsNeedTheCSRFToken(t *testing.T) {
	h := newHarness(t, nil)
	b, detail, _ := h.bookAfterToday(t, "leipzig", store.BookingContact{Name: "Cem", Email: "cem@example.org"})
	h.clock.set(h.dayOf(b, 7))
	defer h.clock.set(time.Time{})
	c := h.logIn(t, "sb@leipzig.test", h.addStaff(t, "leipzig", "sb@leipzig.test", "caseworker", testTOTP))
	c.get(detail)
	for path, form := range map[string]url.Values{
		detail + "/anwesenheit": {"erschienen": {"ja"}, "_csrf": {"-"}},
		detail + "/absagen":     {"grund": {"x"}, "_csrf": {"forged"}},
	} {
		if res, page := c.post(path, form); res.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s without the token: %d\n%s", path, res.StatusCode, excerpt(page))
		}
	}
	var state, attendance string
	if err := h.db.QueryRow(context.Background(), `SELECT state, attendance FROM booking WHERE id = $1`, b.ID).Scan(&state, &attendance); err != nil {
		t.Fatal(err)
	}
	if state != store.BookingBooked || attendance != "" {
		t.Errorf("posts without the token changed the appointment: %s, %q", state, attendance)
	}
	// With it, the same post goes through: the refusal was the token's.
	if res, _ := c.post(detail+"/anwesenheit", url.Values{"erschienen": {"ja"}}); res.StatusCode != http.StatusSeeOther {
		t.Errorf("with the token: %d", res.StatusCode)
	}
}

// BenchmarkStaffDay is the day view of an office with three calendars of
// thirty appointments each (one a slot, 08:00 to 18:00), as a logged-in
// caseworker: the calendars, the list and its audit entry, each
// calendar's slots and free places, and the render.
func BenchmarkStaffDay(b *testing.B) {
	h := newHarness(b, nil)
	ctx := context.Background()
	o, err := store.GetOfficeBySlug(ctx, h.db, "leipzig")
	if err != nil {
		b.Fatal(err)
	}
	var rules []store.Rule
	for d := time.Sunday; d <= time.Saturday; d++ {
		rules = append(rules, store.Rule{Weekday: d, Starts: 8 * time.Hour, Ends: 18 * time.Hour, Capacity: 3})
	}
	var cals []int64
	for _, slug := range []string{"vor-ort", "video", "labor"} {
		id, err := store.UpsertCalendar(ctx, h.db, store.Calendar{OfficeID: o.ID, Slug: slug, Name: "Kalender " + slug, Kind: store.CalendarOnsite,
			Slot: 20 * time.Minute, Notice: 2 * time.Hour, Horizon: 56 * 24 * time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		if err := store.ReplaceCalendarRules(ctx, h.db, o.ID, id, rules); err != nil {
			b.Fatal(err)
		}
		cals = append(cals, id)
	}
	// A day after tomorrow with thirty slots in every calendar (not a
	// holiday).
	now := time.Now().In(h.app.Location)
	day := time.Date(now.Year(), now.Month(), now.Day()+2, 0, 0, 0, 0, h.app.Location)
	for ; ; day = day.AddDate(0, 0, 1) {
		_, days, err := h.app.Booking.Schedule(ctx, o, cals[0], day, day.AddDate(0, 0, 1))
		if err != nil {
			b.Fatal(err)
		}
		if len(days) == 1 && len(days[0].Slots) == 30 {
			break
		}
	}
	for _, id := range cals {
		_, err := h.db.Exec(ctx, `
INSERT INTO booking (office_id, calendar_id, service_slug, starts_at, seat, state, token_hash, name, email, lang, confirmed_at)
SELECT $1, $2::bigint, 'belehrung-infektionsschutz', $3::timestamptz + i * interval '20 minutes', 0, 'booked',
       sha256(convert_to($2::text || ':' || i, 'UTF8')), 'Person ' || i, 'person' || i || '@example.org', 'de', now()
FROM generate_series(0, 29) AS i`, o.ID, id, day.Add(8*time.Hour))
		if err != nil {
			b.Fatal(err)
		}
	}
	c := h.logIn(b, "sb@leipzig.test", h.addStaff(b, "leipzig", "sb@leipzig.test", "caseworker", testTOTP))
	path := "/staff/termine?tag=" + day.Format(time.DateOnly)
	if _, page := c.get(path); strings.Count(page, `href="/staff/termine/`) != 90 || strings.Count(page, "2 frei") != 90 {
		b.Fatalf("the day shows %d appointments and %d slots with two places free, want 90 each\n%s",
			strings.Count(page, `href="/staff/termine/`), strings.Count(page, "2 frei"), excerpt(page))
	}
	var cookies []string
	for k, v := range c.cookies {
		cookies = append(cookies, k+"="+v)
	}
	handler := h.srv.App().Handler()
	b.ReportAllocs()
	for b.Loop() {
		ctx := newFastCtx(http.MethodGet, path, "")
		ctx.Request.Header.Set("Cookie", strings.Join(cookies, "; "))
		handler(ctx)
		if ctx.Response.StatusCode() != http.StatusOK {
			b.Fatalf("status %d", ctx.Response.StatusCode())
		}
	}
}

// TestStaffCancelsADay: the day's cancellation lists what it cancels,
// refuses a reason too long with what was typed, then cancels every
// appointment of the day, each citizen mailed, and leaves the next day's
// as it was.
func TestStaffCancelsADay(t *testing.T) {
	h, sink := bookingHarness(t)
	anna, _, day := h.bookAfterToday(t, "leipzig", store.BookingContact{Name: "Anna Ausfall", Email: "anna@example.org"})
	o, cal := h.calendar(t, "leipzig", "vor-ort")
	// The other place of Anna's slot (bookAfterToday takes a slot with two).
	bert := h.appointmentAt(t, o, cal.ID, "belehrung-infektionsschutz", anna.Start, store.BookingContact{Name: "Bert Ausfall", Email: "bert@example.org"})
	next := h.appointmentAt(t, o, cal.ID, "belehrung-infektionsschutz", h.freeSlot(t, o, cal.ID, h.dayOf(anna, 24), 1),
		store.BookingContact{Name: "Cem Morgen", Email: "cem@example.org"})
	waitMails(t, sink, "anna@example.org", 1)
	waitMails(t, sink, "bert@example.org", 1)
	c := h.logIn(t, "sb@leipzig.test", h.addStaff(t, "leipzig", "sb@leipzig.test", "caseworker", testTOTP))

	_, page := c.get("/staff/termine?tag=" + day)
	expectContains(t, page, `href="/staff/termine/absagen?tag=`+day+`"`)
	_, page = c.get("/staff/termine/absagen?tag=" + day)
	expectContains(t, page, "Anna Ausfall", "Bert Ausfall", "2 Termine absagen", "2 Personen mit gebuchtem Termin", `name="_csrf"`)
	expectNotContains(t, page, "Cem Morgen")

	long := strings.Repeat("zu lang ", 63)
	res, page := c.post("/staff/termine/absagen", url.Values{"tag": {day}, "grund": {long}})
	expectStatus(t, res, page, http.StatusUnprocessableEntity)
	expectContains(t, page, `href="#cancel-day-reason"`, strings.TrimSpace(long)+"</textarea>")

	res, page = c.post("/staff/termine/absagen", url.Values{"tag": {day}, "grund": {"Ärztin erkrankt"}})
	expectLocation(t, res, "/staff/termine?abgesagt=2&tag="+day)
	_, page = c.follow(res, page)
	expectContains(t, page, "2 Termine sind abgesagt.")
	var states string
	if err := h.db.QueryRow(context.Background(), `SELECT string_agg(state || ':' || coalesce(cancelled_by, ''), ',' ORDER BY id) FROM booking WHERE id = ANY($1)`,
		[]int64{anna.ID, bert.ID, next.ID}).Scan(&states); err != nil {
		t.Fatal(err)
	}
	if states != "cancelled:office,cancelled:office,booked:" {
		t.Errorf("after the day's cancellation: %s", states)
	}
	for _, to := range []string{"anna@example.org", "bert@example.org"} {
		if got := waitMails(t, sink, to, 2)[1]; !strings.Contains(got.Text, "abgesagt") || strings.Contains(got.Text, "erkrankt") {
			t.Errorf("the cancellation mail to %s:\n%s", to, got.Text)
		}
	}
	// Again: nothing left to cancel.
	_, page = c.get("/staff/termine/absagen?tag=" + day)
	expectContains(t, page, "keinen Termin, der sich noch absagen lässt")
}

// TestStaffBooksAWalkIn: a free place of the day view leads to the
// walk-in form; a missing name is named with what was typed kept; the
// walk-in without an address is booked at once and mails nobody; a full
// slot refuses the next.
func TestStaffBooksAWalkIn(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	anna, _, day := h.bookAfterToday(t, "leipzig", store.BookingContact{Name: "Anna Gebucht", Email: "anna@example.org"})
	c := h.logIn(t, "sb@leipzig.test", h.addStaff(t, "leipzig", "sb@leipzig.test", "caseworker", testTOTP))
	_, page := c.get("/staff/termine?tag=" + day + "&kalender=vor-ort")
	start := strconv.FormatInt(anna.Start.Unix(), 10)
	form := "/staff/termine/neu?beginn=" + start + "&amp;kalender=vor-ort"
	expectContains(t, page, `href="`+form+`"`)
	_, page = c.get("/staff/termine/neu?kalender=vor-ort&beginn=" + start)
	expectContains(t, page, "Termin für eine Person vor Ort eintragen", `name="leistung"`, `id="walk-in-name"`, `name="_csrf"`)

	walkIn := url.Values{"kalender": {"vor-ort"}, "beginn": {start}, "leistung": {"belehrung-infektionsschutz"}, "phone": {"0341 99"}}
	res, page := c.post("/staff/termine/neu", walkIn)
	expectStatus(t, res, page, http.StatusUnprocessableEntity)
	expectContains(t, page, `href="#walk-in-name"`, `value="0341 99"`)

	walkIn.Set("name", "Otto Tresen")
	res, page = c.post("/staff/termine/neu", walkIn)
	if res.StatusCode != http.StatusSeeOther || !strings.HasSuffix(res.Header.Get("Location"), "?erledigt=eingetragen") {
		t.Fatalf("the walk-in: %d %s\n%s", res.StatusCode, res.Header.Get("Location"), excerpt(page))
	}
	_, page = c.follow(res, page)
	expectContains(t, page, "Der Termin ist eingetragen.", "Otto Tresen")
	var walkIns, mails int
	if err := h.db.QueryRow(ctx, `SELECT count(*) FROM booking WHERE walk_in AND state = 'booked' AND name = 'Otto Tresen' AND starts_at = $1`, anna.Start).Scan(&walkIns); err != nil || walkIns != 1 {
		t.Errorf("%d walk-ins booked (%v), want 1", walkIns, err)
	}
	if err := h.db.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'mail.send' AND (args->>'booking_id')::bigint IN (SELECT id FROM booking WHERE walk_in)`).Scan(&mails); err != nil || mails != 0 {
		t.Errorf("%d mails for a walk-in without an address (%v)", mails, err)
	}
	// Both places of the slot are taken now.
	walkIn.Set("name", "Paula Zuviel")
	res, page = c.post("/staff/termine/neu", walkIn)
	expectStatus(t, res, page, http.StatusConflict)
	expectContains(t, page, `href="#walk-in-slot"`, `id="walk-in-slot"`, `value="Paula Zuviel"`)
}
