package booking_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gesundheitsamt/portal/internal/audit"
	"github.com/gesundheitsamt/portal/internal/booking"
	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/mail"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/webhook"
)

// access is the world's office as an API token works on it.
func (w *world) access() booking.Access {
	return booking.Access{OfficeID: w.office.ID, Actor: domain.Token(1)}
}

// book takes the slot at start for c and confirms it with the mail's
// link: a booked appointment.
func (w *world) book(t *testing.T, start time.Time, c store.BookingContact) store.Booking {
	t.Helper()
	ctx := context.Background()
	h, err := w.svc.Hold(ctx, w.office, w.calendar, "terminanfrage", start)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Contact(ctx, h.Token, c); err != nil {
		t.Fatal(err)
	}
	b, err := w.svc.Confirm(ctx, w.mailToken(t, h.ID))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fill books n places of the calendar from start on, 50 a slot, straight
// into the database: a busy day without the checks of a hold.
func (w *world) fill(t testing.TB, start time.Time, n int) {
	t.Helper()
	_, err := w.db.Exec(context.Background(), `
INSERT INTO booking (office_id, calendar_id, service_slug, starts_at, seat, state, token_hash, name, email, lang, confirmed_at)
SELECT $1, $2, 'terminanfrage', $3::timestamptz + (i / 50) * interval '20 minutes', i % 50, 'booked',
       sha256(convert_to($3::timestamptz::text || ':' || i, 'UTF8')), 'Person ' || i, 'person' || i || '@example.org', 'de', now()
FROM generate_series(0, $4 - 1) AS i`, w.office.ID, w.calendar, start, n)
	if err != nil {
		t.Fatal(err)
	}
}

// audited returns how many audit entries of the world's office record
// action.
func (w *world) audited(t *testing.T, action domain.Action) int {
	t.Helper()
	var n int
	if err := w.db.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE office_id = $1 AND action = $2`, w.office.ID, string(action)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// calls returns the bodies of the webhook calls enqueued, in order.
func (w *world) calls(t *testing.T) []string {
	t.Helper()
	return w.texts(t, `SELECT args->>'body' FROM river_job WHERE kind = 'webhook.deliver' ORDER BY id`)
}

func ids(list []store.Booking) string {
	var out []string
	for _, b := range list {
		out = append(out, fmt.Sprint(b.ID))
	}
	return strings.Join(out, ",")
}

// TestListAppointments: an office's list shows the days asked for, in
// Europe/Berlin, by start; the appointments that hold a place unless
// cancelled ones are asked for; never a hold, a lapsed confirmation or
// another office's booking. Every list is in the audit log.
func TestListAppointments(t *testing.T) {
	w := newWorld(t, 2)
	ctx := context.Background()
	slots := w.slots(t, 7) // Tuesday 8 December 2026 on
	tuesday, wednesday := slots[0].Start, slots[12].Start
	if tuesday.Day() != 8 || wednesday.Day() != 9 || wednesday.Hour() != 8 {
		t.Fatalf("slots at %v and %v", tuesday, wednesday)
	}
	late := w.book(t, slots[3].Start, anna)
	early := w.book(t, tuesday, store.BookingContact{Name: "Ben", Email: "ben@example.org"})
	second := w.book(t, tuesday, store.BookingContact{Name: "Cem", Email: "cem@example.org"})
	next := w.book(t, wednesday, store.BookingContact{Name: "Dana", Email: "dana@example.org"})
	w.hold(t, slots[5].Start) // a hold: nobody's appointment yet
	u := w.hold(t, slots[6].Start)
	unconfirmed, err := w.svc.Contact(ctx, u.Token, store.BookingContact{Name: "Emil", Email: "emil@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	l := w.hold(t, slots[7].Start)
	if _, err := w.svc.Contact(ctx, l.Token, store.BookingContact{Name: "Fee", Email: "fee@example.org"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.db.Exec(ctx, `UPDATE booking SET expires_at = now() - interval '1 second' WHERE id = $1`, l.ID); err != nil {
		t.Fatal(err)
	}
	cancelled := w.book(t, slots[8].Start, store.BookingContact{Name: "Gül", Email: "guel@example.org"})
	if _, err := w.svc.CancelAppointment(ctx, w.access(), cancelled.ID, ""); err != nil {
		t.Fatal(err)
	}
	// Another office's calendar, the same day.
	otherCal, err := store.UpsertCalendar(ctx, w.db, store.Calendar{OfficeID: w.other.ID, Slug: "vor-ort", Name: "Halle", Kind: store.CalendarOnsite, Slot: 20 * time.Minute, Horizon: 56 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.db.Exec(ctx, `INSERT INTO booking (office_id, calendar_id, service_slug, starts_at, seat, state, token_hash, name, email)
		VALUES ($1, $2, 'terminanfrage', $3, 0, 'booked', sha256('halle'), 'Hanna', 'hanna@example.org')`, w.other.ID, otherCal, tuesday); err != nil {
		t.Fatal(err)
	}

	day := func(d int) time.Time { return time.Date(2026, 12, d, 0, 0, 0, 0, time.UTC) }
	for _, tc := range []struct {
		name string
		f    booking.AppointmentFilter
		want []store.Booking
	}{
		{"today, Monday", booking.AppointmentFilter{}, nil},
		{"Tuesday", booking.AppointmentFilter{FirstDay: day(8)}, []store.Booking{early, second, late, unconfirmed}},
		{"Tuesday of the calendar", booking.AppointmentFilter{Calendar: "vor-ort", FirstDay: day(8), LastDay: day(8)}, []store.Booking{early, second, late, unconfirmed}},
		{"Tuesday with the cancelled", booking.AppointmentFilter{FirstDay: day(8), States: []string{"booked", "cancelled"}}, []store.Booking{early, second, late, cancelled}},
		{"cancelled only", booking.AppointmentFilter{FirstDay: day(1), LastDay: day(31), States: []string{"cancelled", "cancelled"}}, []store.Booking{cancelled}},
		{"unconfirmed only", booking.AppointmentFilter{FirstDay: day(8), States: []string{"unconfirmed"}}, []store.Booking{unconfirmed}},
		{"Wednesday", booking.AppointmentFilter{FirstDay: day(9)}, []store.Booking{next}},
		{"the whole month", booking.AppointmentFilter{FirstDay: day(1), LastDay: day(31)}, []store.Booking{early, second, late, unconfirmed, next}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := w.svc.ListAppointments(ctx, w.access(), tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if ids(got) != ids(tc.want) {
				t.Errorf("ids %s, want %s", ids(got), ids(tc.want))
			}
			for _, b := range got {
				if b.OfficeID != w.office.ID || b.Email == "" {
					t.Errorf("%d: office %d, address %q", b.ID, b.OfficeID, b.Email)
				}
			}
		})
	}
	// Two days that meet at midnight, Berlin time: 00:00 of Wednesday is
	// 23:00 UTC of Tuesday, and belongs to Wednesday.
	if _, err := w.db.Exec(ctx, `UPDATE booking SET starts_at = $2 WHERE id = $1`, next.ID, time.Date(2026, 12, 8, 23, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	if got, _ := w.svc.ListAppointments(ctx, w.access(), booking.AppointmentFilter{FirstDay: day(9)}); ids(got) != ids([]store.Booking{next}) {
		t.Errorf("Wednesday after midnight: %s", ids(got))
	}
	lists := w.audited(t, domain.AppointmentsList)

	for _, tc := range []struct {
		name string
		f    booking.AppointmentFilter
		want string
	}{
		{"32 days", booking.AppointmentFilter{FirstDay: day(1), LastDay: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}, "booking.error.range"},
		{"backwards", booking.AppointmentFilter{FirstDay: day(9), LastDay: day(8)}, "booking.error.range"},
		{"a hold", booking.AppointmentFilter{States: []string{"held"}}, "booking.error.state_filter"},
		{"expired", booking.AppointmentFilter{States: []string{"booked", "expired"}}, "booking.error.state_filter"},
		{"no such calendar", booking.AppointmentFilter{Calendar: "video"}, "booking.error.unknown_calendar"},
	} {
		if _, err := w.svc.ListAppointments(ctx, w.access(), tc.f); fault.KindOf(err) != fault.Invalid || messageOf(err) != tc.want {
			t.Errorf("%s: %v, want Invalid %s", tc.name, err, tc.want)
		}
	}
	if _, err := w.svc.ListAppointments(ctx, w.access(), booking.AppointmentFilter{FirstDay: day(1), LastDay: time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)}); err != nil {
		t.Errorf("31 days: %v", err)
	}
	if n := w.audited(t, domain.AppointmentsList); lists != 9 || n != 10 {
		t.Errorf("%d lists audited, then %d; want 9, then 10 (a refused filter reads nothing)", lists, n)
	}
}

// TestListAppointmentsIsBounded: a list of more than MaxList says so and
// shows none; a calendar or a shorter range gets under it.
func TestListAppointmentsIsBounded(t *testing.T) {
	w := newWorld(t, 1)
	ctx := context.Background()
	start := w.slots(t, 7)[0].Start
	w.fill(t, start, booking.MaxList)
	w.fill(t, start.AddDate(0, 0, 1), 1)
	tuesday := booking.AppointmentFilter{FirstDay: start}
	if got, err := w.svc.ListAppointments(ctx, w.access(), tuesday); err != nil || len(got) != booking.MaxList {
		t.Fatalf("a day of %d: %d, %v", booking.MaxList, len(got), err)
	}
	two := booking.AppointmentFilter{FirstDay: start, LastDay: start.AddDate(0, 0, 1)}
	if got, err := w.svc.ListAppointments(ctx, w.access(), two); fault.KindOf(err) != fault.Invalid || messageOf(err) != "booking.error.too_many" || got != nil {
		t.Errorf("%d appointments: %d, %v", booking.MaxList+1, len(got), err)
	}
}

// TestGetAppointment: the office reads its appointment, and each read is
// audited; another office's, a hold and a lapsed confirmation are
// NotFound alike.
func TestGetAppointment(t *testing.T) {
	w := newWorld(t, 1)
	ctx := context.Background()
	slots := w.slots(t, 7)
	b := w.book(t, slots[0].Start, anna)
	got, err := w.svc.GetAppointment(ctx, w.access(), b.ID)
	if err != nil || got.Email != anna.Email || got.State != store.BookingBooked || got.Calendar.Slug != "vor-ort" || got.Confirmed.IsZero() {
		t.Fatalf("get: %+v, %v", got, err)
	}
	h := w.hold(t, slots[1].Start)
	halle := booking.Access{OfficeID: w.other.ID, Actor: domain.Token(2)}
	for name, try := range map[string]func() error{
		"another office's": func() error { _, err := w.svc.GetAppointment(ctx, halle, b.ID); return err },
		"a hold":           func() error { _, err := w.svc.GetAppointment(ctx, w.access(), h.ID); return err },
		"none":             func() error { _, err := w.svc.GetAppointment(ctx, w.access(), b.ID+1000); return err },
	} {
		if err := try(); fault.KindOf(err) != fault.NotFound {
			t.Errorf("%s: %v, want NotFound", name, err)
		}
	}
	var object string
	if err := w.db.QueryRow(ctx, `SELECT string_agg(actor || ' ' || object, ',') FROM audit_log WHERE action = 'appointment.read'`).Scan(&object); err != nil || object != fmt.Sprintf("token:1 appointment:%d", b.ID) {
		t.Errorf("audited reads: %q, %v", object, err)
	}
}

// TestCancelAppointment: the office's cancellation frees the place at
// once, keeps the reason with the appointment only, mails the citizen
// of a booked appointment, is audited, and changes nothing the second
// time; a past appointment, another office's and a bad reason are
// refused and change nothing.
func TestCancelAppointment(t *testing.T) {
	w := newWorld(t, 1)
	ctx := context.Background()
	slots := w.slots(t, 7)
	b := w.book(t, slots[0].Start, anna)
	halle := booking.Access{OfficeID: w.other.ID, Actor: domain.Token(2)}
	if _, err := w.svc.CancelAppointment(ctx, halle, b.ID, ""); fault.KindOf(err) != fault.NotFound {
		t.Errorf("Halle cancels Leipzig's: %v", err)
	}
	if _, err := w.svc.CancelAppointment(ctx, w.access(), b.ID, strings.Repeat("x", booking.MaxCancelReason+1)); messageOf(err) != "booking.error.reason" {
		t.Errorf("a long reason: %v", err)
	}
	if w.count(t, store.BookingBooked) != 1 {
		t.Fatal("a refused cancellation cancelled")
	}
	const reason = "Die  Ärztin ist\nerkrankt."
	for i := range 2 {
		got, err := w.svc.CancelAppointment(ctx, w.access(), b.ID, reason)
		if err != nil || got.State != store.BookingCancelled || got.CancelledBy != store.CancelledByOffice ||
			got.CancelReason != "Die Ärztin ist erkrankt." || got.Cancelled.IsZero() || got.Sequence != 1 {
			t.Fatalf("cancel %d: %+v, %v", i, got, err)
		}
	}
	if got := w.mails(t, b.ID); len(got) != 3 || got[2] != mail.TemplateBookingCancelled {
		t.Errorf("mails %v, want confirmation, booked, one cancellation", got)
	}
	if n := w.audited(t, domain.AppointmentCancel); n != 1 {
		t.Errorf("%d cancellations audited, want 1", n)
	}
	var audit string
	if err := w.db.QueryRow(ctx, `SELECT string_agg(concat_ws(' ', actor, action, object), ',') FROM audit_log`).Scan(&audit); err != nil || strings.Contains(audit, "erkrankt") {
		t.Errorf("the audit log: %q, %v", audit, err)
	}
	// The place is free: a new hold takes it.
	w.hold(t, slots[0].Start)
	if w.count(t, store.BookingHeld) != 1 || w.count(t, store.BookingCancelled) != 1 {
		t.Errorf("%d held, %d cancelled", w.count(t, store.BookingHeld), w.count(t, store.BookingCancelled))
	}

	// An unconfirmed appointment: cancelled, no mail.
	u := w.hold(t, slots[1].Start)
	if _, err := w.svc.Contact(ctx, u.Token, store.BookingContact{Name: "Ben", Email: "ben@example.org"}); err != nil {
		t.Fatal(err)
	}
	if got, err := w.svc.CancelAppointment(ctx, w.access(), u.ID, ""); err != nil || got.State != store.BookingCancelled {
		t.Errorf("unconfirmed: %s, %v", got.State, err)
	}
	if got := w.mails(t, u.ID); len(got) != 1 {
		t.Errorf("an unconfirmed cancellation mailed %v", got)
	}
	// A hold is nobody's appointment.
	h := w.hold(t, slots[2].Start)
	if _, err := w.svc.CancelAppointment(ctx, w.access(), h.ID, ""); fault.KindOf(err) != fault.NotFound {
		t.Errorf("a hold: %v", err)
	}

	// Once the appointment has begun it stays as it was.
	p := w.book(t, slots[3].Start, store.BookingContact{Name: "Cem", Email: "cem@example.org"})
	w.now = slots[3].Start.Add(time.Minute)
	if _, err := w.svc.CancelAppointment(ctx, w.access(), p.ID, ""); fault.KindOf(err) != fault.Conflict || messageOf(err) != "booking.error.past" {
		t.Errorf("a past appointment: %v", err)
	}
	if got, _ := w.svc.GetAppointment(ctx, w.access(), p.ID); got.State != store.BookingBooked {
		t.Errorf("after the refusal: %s", got.State)
	}
}

// TestAppointmentHooksRideTheChange: with a webhook of the office, a
// confirmation, the citizen's and the office's cancellations each
// enqueue their call in the change's transaction, without the citizen's
// name or address; a refused change enqueues none, and a webhook of
// submissions only, or of another office, hears nothing.
func TestAppointmentHooksRideTheChange(t *testing.T) {
	w := newWorld(t, 1)
	ctx := context.Background()
	for _, h := range []store.Webhook{
		{OfficeID: w.office.ID, URL: "https://fachverfahren.example/hook", Secret: []byte("sealed"), Events: []string{webhook.EventAppointmentBooked, webhook.EventAppointmentCancelled, webhook.EventAppointmentMoved}},
		{OfficeID: w.office.ID, URL: "https://fachverfahren.example/cases", Secret: []byte("sealed"), Events: []string{webhook.EventCreated}},
		{OfficeID: w.other.ID, URL: "https://halle.example/hook", Secret: []byte("sealed"), Events: webhook.Events},
	} {
		if _, err := store.InsertWebhook(ctx, w.db, h); err != nil {
			t.Fatal(err)
		}
	}
	slots := w.slots(t, 7)
	b := w.book(t, slots[0].Start, anna)
	c := w.book(t, slots[1].Start, store.BookingContact{Name: "Ben Bauer", Email: "ben@example.org", Phone: "0341 123456"})
	if _, err := w.svc.Cancel(ctx, w.mailToken(t, b.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.CancelAppointment(ctx, w.access(), c.ID, "Raum gesperrt"); err != nil {
		t.Fatal(err)
	}
	// Refused: a cancelled one again (no change), a past one.
	if _, err := w.svc.CancelAppointment(ctx, w.access(), c.ID, ""); err != nil {
		t.Fatal(err)
	}
	d := w.book(t, slots[3].Start, store.BookingContact{Name: "Dora", Email: "dora@example.org"})
	if _, err := w.svc.Move(ctx, w.mailToken(t, d.ID), w.calendar, slots[4].Start); err != nil {
		t.Fatal(err)
	}
	p := w.book(t, slots[2].Start, store.BookingContact{Name: "Cem", Email: "cem@example.org"})
	w.now = slots[2].Start.Add(time.Minute)
	if _, err := w.svc.CancelAppointment(ctx, w.access(), p.ID, ""); fault.KindOf(err) != fault.Conflict {
		t.Fatalf("past: %v", err)
	}

	calls := w.calls(t)
	type call struct {
		event, by string
		id        int64
	}
	want := []call{
		{webhook.EventAppointmentBooked, "", b.ID},
		{webhook.EventAppointmentBooked, "", c.ID},
		{webhook.EventAppointmentCancelled, store.CancelledByCitizen, b.ID},
		{webhook.EventAppointmentCancelled, store.CancelledByOffice, c.ID},
		{webhook.EventAppointmentBooked, "", d.ID},
		{webhook.EventAppointmentMoved, "", d.ID},
		{webhook.EventAppointmentBooked, "", p.ID},
	}
	if len(calls) != len(want) {
		t.Fatalf("%d calls, want %d:\n%s", len(calls), len(want), strings.Join(calls, "\n"))
	}
	for i, body := range calls {
		var got webhook.Payload
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatal(err)
		}
		a := got.Appointment
		if (call{got.Event, a.CancelledBy, a.ID}) != want[i] || got.Submission.ID != 0 {
			t.Errorf("call %d: %s, want %+v", i, body, want[i])
		}
		wantID := fmt.Sprintf("%s.%d.0.", got.Event, a.ID)
		if got.Event == webhook.EventAppointmentCancelled || got.Event == webhook.EventAppointmentMoved {
			wantID = fmt.Sprintf("%s.%d.1.", got.Event, a.ID)
		}
		if !strings.HasPrefix(got.ID, wantID) {
			t.Errorf("call %d: id %s, want %s<webhook>", i, got.ID, wantID)
		}
		for _, personal := range []string{"Anna", "anna@", "Ben", "ben@", "0341", "Raum gesperrt", "Cem"} {
			if strings.Contains(body, personal) {
				t.Errorf("call %d carries %q: %s", i, personal, body)
			}
		}
	}
	var first webhook.Payload
	if err := json.Unmarshal([]byte(calls[0]), &first); err != nil {
		t.Fatal(err)
	}
	wantFirst := webhook.PayloadAppointment{
		ID: b.ID, Calendar: webhook.PayloadCalendar{ID: w.calendar, Slug: "vor-ort", Name: "Vor Ort", Kind: store.CalendarOnsite},
		Service: "terminanfrage", Start: slots[0].Start.UTC(), End: slots[0].End.UTC(), State: store.BookingBooked,
	}
	if first.Appointment != wantFirst {
		t.Errorf("the booked call: %+v, want %+v", first.Appointment, wantFirst)
	}
}

// TestCancelDayMeetsACheckIn: a day's cancellation that meets a change
// of one of its appointments in flight (which locked the booking and
// then writes its audit entry, as a check-in does) waits for it instead
// of deadlocking, then cancels the day; with closeDay the day is closed,
// so its places are not offered again.
func TestCancelDayMeetsACheckIn(t *testing.T) {
	w := newWorld(t, 1)
	ctx := context.Background()
	slots := w.slots(t, 7)
	day := slots[0].Start
	first := w.book(t, slots[0].Start, anna)
	second := w.book(t, slots[1].Start, store.BookingContact{Name: "Ben", Email: "ben@example.org"})

	tx, err := w.db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := store.LockBooking(ctx, tx, w.office.ID, second.ID); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	var n int
	go func() {
		var err error
		n, err = w.svc.CancelDay(ctx, w.access(), "", day, "Ärztin erkrankt", true)
		done <- err
	}()
	var waiting bool
	for deadline := time.Now().Add(10 * time.Second); !waiting && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if err := w.db.QueryRow(ctx, `SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%FOR UPDATE OF b%'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
	}
	if !waiting {
		t.Fatal("the day's cancellation never waited for the locked booking")
	}
	// The change in flight writes its audit entry: it must not wait for
	// the day's cancellation.
	auditCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := audit.Append(auditCtx, tx, audit.Entry{OfficeID: w.office.ID, Actor: domain.Token(1), Action: domain.AppointmentCame, Object: domain.AppointmentObject(second.ID)}); err != nil {
		t.Fatalf("the check-in's audit entry waited for the day: %v", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil || n != 2 {
		t.Fatalf("the day's cancellation: %d, %v; want 2", n, err)
	}
	for _, b := range []store.Booking{first, second} {
		got, err := store.GetBooking(ctx, w.db, w.office.ID, b.ID)
		if err != nil || got.State != store.BookingCancelled || got.CancelledBy != store.CancelledByOffice {
			t.Errorf("booking %d: %s by %s, %v", b.ID, got.State, got.CancelledBy, err)
		}
	}
	if _, err := w.svc.Hold(ctx, w.office, w.calendar, "terminanfrage", slots[0].Start); messageOf(err) != "booking.error.no_such_slot" {
		t.Errorf("a hold on the closed day: %v", err)
	}
}
