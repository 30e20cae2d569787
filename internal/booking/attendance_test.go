package booking_test

import (
	"context"
	"testing"
	"time"

	"github.com/gesundheitsamt/portal/internal/booking"
	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/store"
)

// TestSetAttendance: the check-in of a booked appointment from its day
// on, changed from one answer to the other, each change audited once and
// nothing mailed; refused before the day, for a cancelled or an
// unconfirmed appointment, and for another office; a cancellation clears
// what was recorded.
func TestSetAttendance(t *testing.T) {
	w := newWorld(t, 3)
	ctx := context.Background()
	berlin := w.now.Location()
	slots := w.slots(t, 1) // Tuesday 8 December 2026, 08:00 on
	b := w.book(t, slots[0].Start, anna)
	mailed := len(w.mails(t, b.ID))

	// Monday evening: the day has not come.
	_, err := w.svc.SetAttendance(ctx, w.access(), b.ID, true)
	if fault.KindOf(err) != fault.Conflict || messageOf(err) != "booking.error.attendance_early" {
		t.Fatalf("the evening before: %v", err)
	}
	// Tuesday, one minute past midnight: the day has come, the time not.
	w.now = time.Date(2026, 12, 8, 0, 1, 0, 0, berlin)
	got, err := w.svc.SetAttendance(ctx, w.access(), b.ID, false)
	if err != nil || got.Attendance != store.AttendanceNoShow || got.AttendanceAt.IsZero() {
		t.Fatalf("no-show on the day: %+v %v", got, err)
	}
	w.now = time.Date(2026, 12, 8, 8, 5, 0, 0, berlin)
	got, err = w.svc.SetAttendance(ctx, w.access(), b.ID, true)
	if err != nil || got.Attendance != store.AttendanceCame {
		t.Fatalf("came after all: %+v %v", got, err)
	}
	if _, err := w.svc.SetAttendance(ctx, w.access(), b.ID, true); err != nil {
		t.Fatal(err)
	}
	if came, noShow := w.audited(t, domain.AppointmentCame), w.audited(t, domain.AppointmentNoShow); came != 1 || noShow != 1 {
		t.Errorf("audited %d came, %d no-show; want one each (the repeat changes nothing)", came, noShow)
	}
	if n := len(w.mails(t, b.ID)); n != mailed {
		t.Errorf("%d mails after the check-in, %d before", n, mailed)
	}
	read, err := w.svc.GetAppointment(ctx, w.access(), b.ID)
	if err != nil || read.Attendance != store.AttendanceCame {
		t.Errorf("read back: %q %v", read.Attendance, err)
	}
	// A week later it can still be put right.
	w.now = w.now.AddDate(0, 0, 7)
	if got, err := w.svc.SetAttendance(ctx, w.access(), b.ID, false); err != nil || got.Attendance != store.AttendanceNoShow {
		t.Errorf("a week later: %+v %v", got, err)
	}

	w.now = time.Date(2026, 12, 8, 7, 0, 0, 0, berlin)
	other := booking.Access{OfficeID: w.other.ID, Actor: domain.Token(2)}
	if _, err := w.svc.SetAttendance(ctx, other, b.ID, true); fault.KindOf(err) != fault.NotFound {
		t.Errorf("another office: %v", err)
	}
	if _, err := w.svc.SetAttendance(ctx, w.access(), 99999999, true); fault.KindOf(err) != fault.NotFound {
		t.Errorf("no such appointment: %v", err)
	}
	hold := w.hold(t, slots[1].Start)
	if _, err := w.svc.SetAttendance(ctx, w.access(), hold.ID, true); fault.KindOf(err) != fault.NotFound {
		t.Errorf("a hold: %v", err)
	}
	u := w.hold(t, slots[2].Start)
	if _, err := w.svc.Contact(ctx, u.Token, store.BookingContact{Name: "Emil", Email: "emil@example.org"}); err != nil {
		t.Fatal(err)
	}
	_, err = w.svc.SetAttendance(ctx, w.access(), u.ID, true)
	if fault.KindOf(err) != fault.Conflict || messageOf(err) != "booking.error.attendance_unconfirmed" {
		t.Errorf("unconfirmed: %v", err)
	}

	// Recorded, then cancelled (the appointment is later that day): the
	// cancellation takes the check-in with it.
	c := w.book(t, slots[3].Start, store.BookingContact{Name: "Cem", Email: "cem@example.org"})
	if _, err := w.svc.SetAttendance(ctx, w.access(), c.ID, true); err != nil {
		t.Fatal(err)
	}
	cancelled, err := w.svc.CancelAppointment(ctx, w.access(), c.ID, "")
	if err != nil || cancelled.State != store.BookingCancelled || cancelled.Attendance != "" || !cancelled.AttendanceAt.IsZero() {
		t.Fatalf("cancelled after the check-in: %+v %v", cancelled, err)
	}
	_, err = w.svc.SetAttendance(ctx, w.access(), c.ID, true)
	if fault.KindOf(err) != fault.Conflict || messageOf(err) != "booking.error.attendance_cancelled" {
		t.Errorf("cancelled: %v", err)
	}
	// The citizen's own move and cancellation do the same.
	for i, act := range []string{"move", "cancel"} {
		d := w.book(t, slots[4+i].Start, store.BookingContact{Name: "Dana", Email: act + "@example.org"})
		if _, err := w.svc.SetAttendance(ctx, w.access(), d.ID, false); err != nil {
			t.Fatal(err)
		}
		token := w.mailToken(t, d.ID)
		if act == "move" {
			_, err = w.svc.Move(ctx, token, w.calendar, slots[8].Start)
		} else {
			_, err = w.svc.Cancel(ctx, token)
		}
		if err != nil {
			t.Fatalf("%s: %v", act, err)
		}
		if got, err := w.svc.GetAppointment(ctx, w.access(), d.ID); err != nil || got.Attendance != "" {
			t.Errorf("after the citizen's %s: attendance %q, %v", act, got.Attendance, err)
		}
	}
}

// TestSchedule: the office's view of a day has every slot the rules
// make, also those a citizen can no longer book (begun, within the
// notice, past days) or not yet (beyond the horizon), with their free
// places; closures and holidays take days out, also past ones.
func TestSchedule(t *testing.T) {
	w := newWorld(t, 2)
	ctx := context.Background()
	berlin := w.now.Location()
	slots := w.slots(t, 1)
	w.book(t, slots[0].Start, anna)
	day := func(d int) (time.Time, time.Time) {
		from := time.Date(2026, 12, d, 0, 0, 0, 0, berlin)
		return from, from.AddDate(0, 0, 1)
	}
	schedule := func(from, to time.Time) []booking.Slot {
		t.Helper()
		_, days, err := w.svc.Schedule(ctx, w.office, w.calendar, from, to)
		if err != nil {
			t.Fatal(err)
		}
		var out []booking.Slot
		for _, d := range days {
			out = append(out, d.Slots...)
		}
		return out
	}

	// Tuesday at 09:10: the citizen's week has the slots from 10:20 on
	// (an hour's notice), the office's day all twelve.
	w.now = time.Date(2026, 12, 8, 9, 10, 0, 0, berlin)
	from, to := day(8)
	_, bookable, err := w.svc.Availability(ctx, w.office, w.calendar, from, to)
	if err != nil {
		t.Fatal(err)
	}
	all := schedule(from, to)
	if len(bookable) != 1 || len(bookable[0].Slots) != 5 || len(all) != 12 {
		t.Fatalf("bookable %v, the office's day %d slots", bookable, len(all))
	}
	if first := all[0]; first.Start.Hour() != 8 || first.Capacity != 2 || first.Free != 1 {
		t.Errorf("08:00 with an appointment: %+v", first)
	}
	if all[1].Free != 2 {
		t.Errorf("08:20: %+v", all[1])
	}

	// Past days and days beyond the horizon; a closure a week ago and
	// Christmas Day take theirs out.
	if err := store.AddClosure(ctx, w.db, w.office.ID, w.calendar, store.Closure{
		FirstDay: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), LastDay: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), Reason: "Betriebsausflug"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		d    time.Time
		want int
	}{
		{"yesterday", time.Date(2026, 12, 7, 0, 0, 0, 0, berlin), 12},
		{"closed a week ago", time.Date(2026, 12, 1, 0, 0, 0, 0, berlin), 0},
		{"the day after", time.Date(2026, 12, 2, 0, 0, 0, 0, berlin), 12},
		{"Christmas Day", time.Date(2026, 12, 25, 0, 0, 0, 0, berlin), 0},
		{"beyond the horizon", time.Date(2027, 3, 1, 0, 0, 0, 0, berlin), 12},
		{"a Saturday", time.Date(2026, 12, 12, 0, 0, 0, 0, berlin), 0},
	} {
		if n := len(schedule(tc.d, tc.d.AddDate(0, 0, 1))); n != tc.want {
			t.Errorf("%s: %d slots, want %d", tc.name, n, tc.want)
		}
	}
	if n := len(schedule(day(7))) + len(schedule(day(8))); n != len(schedule(time.Date(2026, 12, 7, 0, 0, 0, 0, berlin), time.Date(2026, 12, 9, 0, 0, 0, 0, berlin))) {
		t.Errorf("two days at once differ from one by one: %d", n)
	}

	if _, _, err := w.svc.Schedule(ctx, w.office, w.calendar, from, from.AddDate(0, 0, 40)); fault.KindOf(err) != fault.Invalid {
		t.Errorf("40 days: %v", err)
	}
	if _, _, err := w.svc.Schedule(ctx, w.other, w.calendar, from, to); fault.KindOf(err) != fault.NotFound {
		t.Errorf("another office's calendar: %v", err)
	}
	cals, err := w.svc.OfficeCalendars(ctx, w.access())
	if err != nil || len(cals) != 1 || cals[0].ID != w.calendar {
		t.Errorf("the office's calendars: %+v %v", cals, err)
	}
	if cals, err := w.svc.OfficeCalendars(ctx, booking.Access{OfficeID: w.other.ID}); err != nil || len(cals) != 0 {
		t.Errorf("the other office's calendars: %+v %v", cals, err)
	}
}
