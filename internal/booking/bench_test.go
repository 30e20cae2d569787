package booking_test

import (
	"context"
	"testing"
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
