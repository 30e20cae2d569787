package booking_test

import (
	"context"
	"testing"

	"github.com/gesundheitsamt/portal/internal/booking"
	"github.com/gesundheitsamt/portal/internal/domain"
)

// BenchmarkAvailability computes a week of a calendar's slots (Monday to
// Friday, 08:00 to 12:00, 20-minute slots, two places each) with what is
// taken, from the database: the availability page's query.
func BenchmarkAvailability(b *testing.B) {
	w := newWorld(b, 2)
	ctx := context.Background()
	for _, s := range w.slots(b, 7)[:20] {
		if _, err := w.svc.Hold(ctx, w.office, w.calendar, "terminanfrage", s.Start); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, days, err := w.svc.Availability(ctx, w.office, w.calendar, w.now, w.now.AddDate(0, 0, 7)); err != nil || len(days) != 5 {
			b.Fatalf("%d days, %v", len(days), err)
		}
	}
}

// BenchmarkHold takes a place of a free slot: the check of the slot
// against the calendar and the insert that claims its seat.
func BenchmarkHold(b *testing.B) {
	w := newWorld(b, 50)
	ctx := context.Background()
	slots := w.slots(b, 56)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s := slots[i/50%len(slots)]
		i++
		if _, err := w.svc.Hold(ctx, w.office, w.calendar, "terminanfrage", s.Start); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkListAppointments lists a day of 500 booked appointments of
// one office (a busy vaccination day), with who booked them, by start:
// the API's GET /api/v1/appointments, its audit entry included.
func BenchmarkListAppointments(b *testing.B) {
	w := newWorld(b, 1)
	ctx := context.Background()
	start := w.slots(b, 7)[0].Start
	w.fill(b, start, 500)
	w.fill(b, start.AddDate(0, 0, 1), 500) // the next day, not listed
	a := booking.Access{OfficeID: w.office.ID, Actor: domain.Token(1)}
	f := booking.AppointmentFilter{Calendar: "vor-ort", FirstDay: start}
	b.ReportAllocs()
	for b.Loop() {
		if list, err := w.svc.ListAppointments(ctx, a, f); err != nil || len(list) != 500 {
			b.Fatalf("%d appointments, %v", len(list), err)
		}
	}
}
