package portal_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gesundheitsamt/portal/internal/crypto"
	"github.com/gesundheitsamt/portal/internal/mail"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/submission"
	"github.com/gesundheitsamt/portal/internal/webhook"
)

// appointment books the first free place of office slug's calendar for
// service through the booking service, as a citizen does (hold, contact
// details, the mail's link), and returns it booked.
func (h *harness) appointment(t testing.TB, slug, calendar, service string, c store.BookingContact) store.Booking {
	t.Helper()
	o, cal := h.calendar(t, slug, calendar)
	return h.appointmentAt(t, o, cal.ID, service, h.freeSlot(t, o, cal.ID, h.clock.now(), 1), c)
}

// calendar returns office slug and its calendar.
func (h *harness) calendar(t testing.TB, slug, calendar string) (store.Office, store.Calendar) {
	t.Helper()
	ctx := context.Background()
	o, err := store.GetOfficeBySlug(ctx, h.db, slug)
	if err != nil {
		t.Fatal(err)
	}
	cal, err := store.GetCalendarBySlug(ctx, h.db, o.ID, calendar)
	if err != nil {
		t.Fatal(err)
	}
	return o, cal
}

// freeSlot returns the start of the first slot of the office's calendar
// from from on with at least places free places.
func (h *harness) freeSlot(t testing.TB, o store.Office, calendarID int64, from time.Time, places int) time.Time {
	t.Helper()
	_, days, err := h.app.Booking.Availability(context.Background(), o, calendarID, from, from.AddDate(0, 0, 28))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range days {
		for _, sl := range d.Slots {
			if sl.Free >= places {
				return sl.Start
			}
		}
	}
	t.Fatalf("no slot with %d free places at %s", places, o.Slug)
	return time.Time{}
}

// appointmentAt books a place of the slot of calendar calendarID at
// start, as appointment does.
func (h *harness) appointmentAt(t testing.TB, o store.Office, calendarID int64, service string, start time.Time, c store.BookingContact) store.Booking {
	t.Helper()
	ctx := context.Background()
	hold, err := h.app.Booking.Hold(ctx, o, calendarID, service, start)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.app.Booking.Contact(ctx, hold.Token, c); err != nil {
		t.Fatal(err)
	}
	// The mail's token is only in the sealed mail job: the test sets one.
	token := submission.NewToken()
	if _, err := h.db.Exec(ctx, `UPDATE booking SET mail_token_hash = $2 WHERE id = $1`, hold.ID, submission.HashToken(token)); err != nil {
		t.Fatal(err)
	}
	b, err := h.app.Booking.Confirm(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// apiAppointments is the body of GET /api/v1/appointments.
type apiAppointments struct {
	Data []apiAppointment `json:"data"`
}

type apiAppointment struct {
	ID       int64 `json:"id"`
	Calendar struct {
		ID   int64  `json:"id"`
		Slug string `json:"slug"`
		Kind string `json:"kind"`
	} `json:"calendar"`
	Service      string     `json:"service"`
	Start        time.Time  `json:"start"`
	End          time.Time  `json:"end"`
	State        string     `json:"state"`
	ConfirmedAt  *time.Time `json:"confirmed_at"`
	CancelledAt  *time.Time `json:"cancelled_at"`
	CancelledBy  *string    `json:"cancelled_by"`
	CancelReason string     `json:"cancel_reason"`
	Name         string     `json:"name"`
	Email        string     `json:"email"`
	Phone        string     `json:"phone"`
	Language     string     `json:"language"`
}

func appointmentIDs(list apiAppointments) string {
	var out []string
	for _, a := range list.Data {
		out = append(out, strconv.FormatInt(a.ID, 10))
	}
	return strings.Join(out, ",")
}

func idList(bs ...store.Booking) string {
	var out []string
	for _, b := range bs {
		out = append(out, strconv.FormatInt(b.ID, 10))
	}
	return strings.Join(out, ",")
}

// TestAPIListsAppointmentsByDayAndCalendar: a day's appointments of the
// token's office, all calendars or one, with who booked them; a range of
// more than 31 days and a malformed day are 400 and say why.
func TestAPIListsAppointmentsByDayAndCalendar(t *testing.T) {
	h := newHarness(t, nil)
	spec := loadOpenAPI(t, h)
	ctx := context.Background()
	leipzig, vorOrt := h.calendar(t, "leipzig", "vor-ort")
	// Both places of a slot, and the first place of a later day.
	at := h.freeSlot(t, leipzig, vorOrt.ID, h.clock.now(), 2)
	first := h.appointmentAt(t, leipzig, vorOrt.ID, "belehrung-infektionsschutz", at, store.BookingContact{Name: "Anna Schmidt", Email: "anna@example.org", Phone: "0341 123456", Lang: "en"})
	second := h.appointmentAt(t, leipzig, vorOrt.ID, "amtsaerztliche-untersuchung", at, store.BookingContact{Name: "Ben Bauer", Email: "ben@example.org"})
	y, m, d := at.In(h.app.Location).Date()
	nextDay := time.Date(y, m, d+1, 0, 0, 0, 0, h.app.Location)
	later := h.appointmentAt(t, leipzig, vorOrt.ID, "reiseimpfberatung", h.freeSlot(t, leipzig, vorOrt.ID, nextDay, 1), store.BookingContact{Name: "Cem", Email: "cem@example.org"})
	video := h.appointment(t, "leipzig", "video", "reiseimpfberatung", store.BookingContact{Name: "Dana", Email: "dana@example.org"})
	halle := h.appointment(t, "halle", "vor-ort", "belehrung-infektionsschutz", store.BookingContact{Name: "Emil", Email: "emil@example.org"})
	day := first.Start.In(h.app.Location).Format(time.DateOnly)
	videoDay := video.Start.In(h.app.Location).Format(time.DateOnly)

	api := h.apiToken(t, spec, "leipzig", "appointments:read")
	var list apiAppointments
	if got := api.get("/api/v1/appointments?from="+day, &list); got != http.StatusOK {
		t.Fatalf("list: %d", got)
	}
	want := []store.Booking{first, second}
	if videoDay == day {
		want = append(want, video)
		slices.SortStableFunc(want, func(a, b store.Booking) int { return a.Start.Compare(b.Start) })
	}
	if appointmentIDs(list) != idList(want...) {
		t.Errorf("the day: %s, want %s (not Halle's %d)", appointmentIDs(list), idList(want...), halle.ID)
	}
	// The video appointment may come first on the day: find Anna's.
	var a apiAppointment
	for _, x := range list.Data {
		if x.ID == first.ID {
			a = x
		}
	}
	if a.Name != "Anna Schmidt" || a.Email != "anna@example.org" || a.Phone != "0341 123456" || a.Language != "en" || a.State != "booked" ||
		a.Service != "belehrung-infektionsschutz" || a.Calendar.Slug != "vor-ort" || a.Calendar.Kind != "onsite" ||
		!a.Start.Equal(first.Start) || a.End.Sub(a.Start) != 20*time.Minute || a.ConfirmedAt == nil || a.CancelledAt != nil || a.CancelledBy != nil {
		t.Errorf("the first appointment: %+v", a)
	}

	for _, tc := range []struct{ query, want string }{
		{"calendar=vor-ort&from=" + videoDay + "&to=" + videoDay, ""},
		{"calendar=video&from=" + videoDay, idList(video)},
		{"from=" + day + "&to=" + later.Start.In(h.app.Location).Format(time.DateOnly) + "&calendar=vor-ort", idList(first, second, later)},
	} {
		list = apiAppointments{}
		api.get("/api/v1/appointments?"+tc.query, &list)
		got := appointmentIDs(list)
		if tc.want == "" { // the vor-ort calendar on the video's day: whatever is there, not the video
			if strings.Contains(","+got+",", fmt.Sprintf(",%d,", video.ID)) {
				t.Errorf("?%s: %s has the video appointment", tc.query, got)
			}
			continue
		}
		if got != tc.want {
			t.Errorf("?%s: %s, want %s", tc.query, got, tc.want)
		}
	}

	start, _ := time.Parse(time.DateOnly, day)
	for _, tc := range []struct{ query, says string }{
		{"from=" + day + "&to=" + start.AddDate(0, 0, 31).Format(time.DateOnly), "31 Tagen"},
		{"from=" + day + "&to=" + start.AddDate(0, 0, -1).Format(time.DateOnly), "31 Tagen"},
		{"from=morgen", "(from)"},
		{"to=2026-02-30", "(to)"},
		{"state=held", "unconfirmed, booked oder cancelled"},
		{"calendar=gibt-es-nicht", "keinen Kalender"},
	} {
		res, b := api.do(http.MethodGet, "/api/v1/appointments?"+tc.query, nil)
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), tc.says) || !strings.Contains(string(b), `"code":"bad_request"`) {
			t.Errorf("?%s: %d %s, want 400 saying %q", tc.query, res.StatusCode, b, tc.says)
		}
	}
	if res, _ := api.do(http.MethodGet, "/api/v1/appointments?from="+day+"&to="+start.AddDate(0, 0, 30).Format(time.DateOnly), nil); res.StatusCode != http.StatusOK {
		t.Errorf("31 days: %d", res.StatusCode)
	}

	var one apiAppointment
	if got := api.get(fmt.Sprintf("/api/v1/appointments/%d", second.ID), &one); got != http.StatusOK || one.Name != "Ben Bauer" || one.Service != "amtsaerztliche-untersuchung" {
		t.Errorf("GET one: %d %+v", got, one)
	}
	// Reads of who booked are in the audit log, by token.
	var lists, reads int
	_ = h.db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE action = 'appointments.list'), count(*) FILTER (WHERE action = 'appointment.read')
		FROM audit_log WHERE office_id = $1 AND actor LIKE 'token:%'`, leipzig.ID).Scan(&lists, &reads)
	if lists != 5 || reads != 1 {
		t.Errorf("%d lists and %d reads audited, want 5 and 1", lists, reads)
	}
}

// TestAPIAppointmentsAreTheOfficesAndNeedTheirScopes: another office's
// appointment is 404 for reading and cancelling and is not in its list;
// a token without the scope is 403, none 401; nothing changes.
func TestAPIAppointmentsAreTheOfficesAndNeedTheirScopes(t *testing.T) {
	h := newHarness(t, nil)
	spec := loadOpenAPI(t, h)
	b := h.appointment(t, "leipzig", "vor-ort", "belehrung-infektionsschutz", store.BookingContact{Name: "Anna Schmidt", Email: "anna@example.org"})
	path := fmt.Sprintf("/api/v1/appointments/%d", b.ID)
	day := b.Start.In(h.app.Location).Format(time.DateOnly)
	halle := h.apiToken(t, spec, "halle", "appointments:read", "appointments:write")
	cases := h.apiToken(t, spec, "leipzig", "submissions:read", "submissions:write")
	reader := h.apiToken(t, spec, "leipzig", "appointments:read")
	writer := h.apiToken(t, spec, "leipzig", "appointments:write")
	none := &apiClient{t: t, h: h, spec: spec}
	for _, tc := range []struct {
		name         string
		who          *apiClient
		method, path string
		want         int
	}{
		{"Halle reads Leipzig's", halle, http.MethodGet, path, 404},
		{"Halle cancels Leipzig's", halle, http.MethodPost, path + "/cancel", 404},
		{"Halle reads one that is nowhere", halle, http.MethodGet, "/api/v1/appointments/99999999", 404},
		{"Halle lists the day", halle, http.MethodGet, "/api/v1/appointments?from=" + day, 200},
		{"a cases token lists", cases, http.MethodGet, "/api/v1/appointments?from=" + day, 403},
		{"a cases token reads", cases, http.MethodGet, path, 403},
		{"a cases token cancels", cases, http.MethodPost, path + "/cancel", 403},
		{"a reader cancels", reader, http.MethodPost, path + "/cancel", 403},
		{"a writer lists", writer, http.MethodGet, "/api/v1/appointments?from=" + day, 403},
		{"a writer reads", writer, http.MethodGet, path, 403},
		{"no token", none, http.MethodGet, path, 401},
		{"no token cancels", none, http.MethodPost, path + "/cancel", 401},
	} {
		res, body := tc.who.do(tc.method, tc.path, nil)
		if res.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d: %s", tc.name, res.StatusCode, tc.want, body)
		}
		if strings.Contains(string(body), "anna@") || strings.Contains(string(body), "Schmidt") {
			t.Errorf("%s: the answer names who booked: %s", tc.name, body)
		}
		if tc.want == 403 && !strings.Contains(res.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
			t.Errorf("%s: 403 without the scope's challenge: %q", tc.name, res.Header.Get("WWW-Authenticate"))
		}
	}
	var state string
	if err := h.db.QueryRow(context.Background(), `SELECT state FROM booking WHERE id = $1`, b.ID).Scan(&state); err != nil || state != store.BookingBooked {
		t.Errorf("Leipzig's appointment is %s (%v)", state, err)
	}
}

// TestAPICancelsAppointments: a cancellation by the office frees the
// place at once (a citizen holds it next), mails the citizen without the
// reason, is audited, answers the same when repeated, and is refused for
// an appointment that has begun; a write-only token reads nothing back.
func TestAPICancelsAppointments(t *testing.T) {
	h, sink := bookingHarness(t)
	spec := loadOpenAPI(t, h)
	ctx := context.Background()
	leipzig, vorOrt := h.calendar(t, "leipzig", "vor-ort")
	// Both places of a slot are taken.
	at := h.freeSlot(t, leipzig, vorOrt.ID, h.clock.now(), 2)
	b := h.appointmentAt(t, leipzig, vorOrt.ID, "belehrung-infektionsschutz", at, store.BookingContact{Name: "Anna Schmidt", Email: "anna@example.org"})
	h.appointmentAt(t, leipzig, vorOrt.ID, "belehrung-infektionsschutz", at, store.BookingContact{Name: "Ben Bauer", Email: "ben@example.org"})
	slot := url.Values{"kalender": {"vor-ort"}, "beginn": {strconv.FormatInt(b.Start.Unix(), 10)}}
	c := h.citizen(t)
	c.get(bookPath)
	if res, body := c.post(bookPath, slot); res.StatusCode != http.StatusConflict {
		t.Fatalf("a hold on the full slot: %d\n%s", res.StatusCode, excerpt(body))
	}

	api := h.apiToken(t, spec, "leipzig", "appointments:read", "appointments:write")
	path := fmt.Sprintf("/api/v1/appointments/%d/cancel", b.ID)
	for _, tc := range []struct {
		body any
		says string
	}{
		{`{"reason": 1}`, "body"},
		{`{"grund": "x"}`, "body"},
		{map[string]any{"reason": strings.Repeat("x", 501)}, "500 Zeichen"},
	} {
		if res, body := api.do(http.MethodPost, path, tc.body); res.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), tc.says) {
			t.Errorf("%v: %d %s", tc.body, res.StatusCode, body)
		}
	}
	const reason = "Die Ärztin ist erkrankt."
	var answers []apiAppointment
	for range 2 {
		res, body := api.do(http.MethodPost, path, map[string]any{"reason": reason})
		var a apiAppointment
		if err := json.Unmarshal(body, &a); err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("cancel: %d %s", res.StatusCode, body)
		}
		answers = append(answers, a)
	}
	for _, a := range answers {
		if a.State != "cancelled" || a.CancelledBy == nil || *a.CancelledBy != "office" || a.CancelReason != reason || a.CancelledAt == nil || !a.CancelledAt.Equal(*answers[0].CancelledAt) {
			t.Errorf("after the cancellation: %+v", a)
		}
	}

	// The place is free at once: the citizen's hold takes it.
	if res, body := c.post(bookPath, slot); res.StatusCode != http.StatusSeeOther {
		t.Errorf("a hold on the freed place: %d\n%s", res.StatusCode, excerpt(body))
	}
	var held, booked, cancelled int
	if err := h.db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE state = 'held'), count(*) FILTER (WHERE state = 'booked'), count(*) FILTER (WHERE state = 'cancelled')
		FROM booking WHERE calendar_id = $1 AND starts_at = $2`, b.Calendar.ID, b.Start).Scan(&held, &booked, &cancelled); err != nil {
		t.Fatal(err)
	}
	if held != 1 || booked != 1 || cancelled != 1 {
		t.Errorf("the slot's rows: %d held, %d booked, %d cancelled; want 1 each", held, booked, cancelled)
	}

	// One mail tells the citizen, without the reason.
	cancellations := func() []mail.Read {
		var out []mail.Read
		for _, m := range mailsTo(t, sink, "anna@example.org") {
			if strings.HasPrefix(m.Subject, "Abgesagt") {
				out = append(out, m)
			}
		}
		return out
	}
	for deadline := time.Now().Add(30 * time.Second); len(cancellations()) == 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	if got := cancellations(); len(got) != 1 || !strings.Contains(got[0].Text, "abgesagt") || strings.Contains(got[0].Subject+got[0].Text, "erkrankt") {
		t.Errorf("the cancellation mails: %+v", got)
	}
	var audited int
	_ = h.db.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE office_id = $1 AND action = 'appointment.cancel' AND object = $2 AND actor LIKE 'token:%'`,
		leipzig.ID, fmt.Sprintf("appointment:%d", b.ID)).Scan(&audited)
	if audited != 1 {
		t.Errorf("%d audited cancellations, want 1", audited)
	}

	// An appointment that has begun stays booked.
	p := h.appointment(t, "leipzig", "vor-ort", "amtsaerztliche-untersuchung", store.BookingContact{Name: "Cem", Email: "cem@example.org"})
	h.clock.set(p.Start.Add(time.Minute))
	res, body := api.do(http.MethodPost, fmt.Sprintf("/api/v1/appointments/%d/cancel", p.ID), nil)
	h.clock.set(time.Time{})
	if res.StatusCode != http.StatusConflict || !strings.Contains(string(body), "Vergangenheit") {
		t.Errorf("cancelling one that has begun: %d %s", res.StatusCode, body)
	}
	var one apiAppointment
	if api.get(fmt.Sprintf("/api/v1/appointments/%d", p.ID), &one); one.State != "booked" {
		t.Errorf("after the refusal: %s", one.State)
	}

	// A token that may only cancel reads nothing back.
	writeOnly := h.apiToken(t, spec, "leipzig", "appointments:write")
	if res, body := writeOnly.do(http.MethodPost, fmt.Sprintf("/api/v1/appointments/%d/cancel", p.ID), nil); res.StatusCode != http.StatusNoContent || len(body) != 0 {
		t.Errorf("write-only: %d %s", res.StatusCode, body)
	}
}

// TestAppointmentWebhooks: a citizen's confirmation through the mail's
// link and the office's cancellation through the API each reach the
// office's webhook, signed, with the appointment and without anyone's
// name, address, telephone number or the reason; Halle's webhook hears
// nothing of Leipzig.
func TestAppointmentWebhooks(t *testing.T) {
	h, sink := bookingHarness(t)
	spec := loadOpenAPI(t, h)
	ctx := context.Background()
	box, err := crypto.NewBox([]byte(mailTestKey)) // the harness's PORTAL_ENCRYPTION_KEY
	if err != nil {
		t.Fatal(err)
	}
	rec := &receiver{t: t}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	other := &receiver{t: t}
	otherSrv := httptest.NewServer(other)
	defer otherSrv.Close()
	for _, hook := range []struct {
		office string
		rec    *receiver
		url    string
	}{{"leipzig", rec, srv.URL + "/hook"}, {"halle", other, otherSrv.URL + "/hook"}} {
		o, err := store.GetOfficeBySlug(ctx, h.db, hook.office)
		if err != nil {
			t.Fatal(err)
		}
		_, secret, err := webhook.Add(ctx, h.db, box, o.ID, hook.url, []string{webhook.EventAppointmentBooked, webhook.EventAppointmentCancelled}, false)
		if err != nil {
			t.Fatal(err)
		}
		hook.rec.secret = []byte(secret)
	}

	// The citizen books through the pages and the mail's link.
	c := h.citizen(t)
	_, b := c.get(bookPath)
	res, b := c.post(bookPath, url.Values{"kalender": {"vor-ort"}, "beginn": {slots(t, b)[0]}})
	expectStatus(t, res, b, http.StatusSeeOther)
	hold := res.Header.Get("Location")
	c.get(hold)
	res, b = c.post(hold, url.Values{"name": {"Zoë Ó Briain"}, "email": {"zoe.briain@example.org"}, "phone": {"0341 987654"}})
	expectStatus(t, res, b, http.StatusSeeOther)
	m := mailLink.FindStringSubmatch(waitMails(t, sink, "zoe.briain@example.org", 1)[0].Text)
	if m == nil {
		t.Fatal("no link in the confirmation mail")
	}
	link := "/termin/" + m[1]
	c.get(link)
	res, b = c.post(link, url.Values{})
	expectStatus(t, res, b, http.StatusSeeOther)
	calls := rec.wait(1)
	booked := calls[0]
	if booked.Event != webhook.EventAppointmentBooked || booked.Appointment.ID == 0 || booked.Appointment.State != "booked" ||
		booked.Appointment.Service != "belehrung-infektionsschutz" || booked.Appointment.Calendar.Slug != "vor-ort" ||
		booked.Appointment.End.Sub(booked.Appointment.Start) != 20*time.Minute || booked.Submission.ID != 0 {
		t.Errorf("booked: %+v", booked)
	}

	// The office cancels through the API.
	api := h.apiToken(t, spec, "leipzig", "appointments:read", "appointments:write")
	res2, body := api.do(http.MethodPost, fmt.Sprintf("/api/v1/appointments/%d/cancel", booked.Appointment.ID), map[string]any{"reason": "Ärztin erkrankt"})
	if res2.StatusCode != http.StatusOK {
		t.Fatalf("cancel: %d %s", res2.StatusCode, body)
	}
	calls = rec.wait(2)
	if c := calls[1]; c.Event != webhook.EventAppointmentCancelled || c.Appointment.ID != booked.Appointment.ID || c.Appointment.State != "cancelled" ||
		c.Appointment.CancelledBy != "office" || !c.Appointment.Start.Equal(booked.Appointment.Start) || c.ID == booked.ID {
		t.Errorf("cancelled: %+v", c)
	}

	time.Sleep(500 * time.Millisecond)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.calls) != 2 || rec.bad != 0 {
		t.Errorf("%d calls (want 2), %d with a bad signature", len(rec.calls), rec.bad)
	}
	for _, body := range rec.bodies {
		for _, personal := range []string{"@", "Zo", "Briain", "0341", "erkrankt"} {
			if strings.Contains(body, personal) {
				t.Errorf("a call carries %q: %s", personal, body)
			}
		}
	}
	other.mu.Lock()
	defer other.mu.Unlock()
	if len(other.calls) != 0 {
		t.Errorf("Halle's webhook heard of Leipzig's appointment: %+v", other.calls)
	}
}
