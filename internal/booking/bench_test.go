package booking_test

import (
	"context"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gesundheitsamt/portal/internal/booking"
	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/submission"
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

// BenchmarkConfirm confirms unconfirmed bookings by their mail tokens:
// the lookup by the token's hash, then the transaction that locks the
// booking, books it and queues its booked mail (sealed). One at a time,
// and 64 at once (as the 64 clients of cmd/benchbooking -mode=confirm;
// the pool has its production size). The bookings are copied into the
// database before the clock starts, as the contact step leaves them.
// The test cluster runs without fsync (storetest); with TEST_DATABASE_URL
// on a durable server each commit also waits for the WAL's flush.
func BenchmarkConfirm(b *testing.B) {
	for _, c := range []struct {
		name string
		at   int
	}{{"one at a time", 1}, {"64 at once", 64}} {
		b.Run(c.name, func(b *testing.B) {
			w := newWorld(b, 50)
			ctx := context.Background()
			tokens := w.unconfirmed(b, b.N)
			var next atomic.Int64
			confirm := func() {
				token := tokens[next.Add(1)-1]
				if bk, err := w.svc.Confirm(ctx, token); err != nil || bk.State != store.BookingBooked {
					b.Errorf("confirm: %s, %v", bk.State, err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			if c.at == 1 {
				for range b.N {
					confirm()
				}
				return
			}
			b.SetParallelism((c.at + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					confirm()
				}
			})
		})
	}
}

// unconfirmed copies n unconfirmed bookings into the calendar, 50 to a
// slot, each with its own address and a mail token that expires in an
// hour, and returns the tokens.
func (w *world) unconfirmed(b *testing.B, n int) []string {
	b.Helper()
	slots := w.slots(b, 56)
	if n > 50*len(slots) {
		b.Fatalf("%d bookings, but %d places in the calendar: a shorter -benchtime", n, 50*len(slots))
	}
	tokens := make([]string, n)
	rows := make([][]any, n)
	expires := time.Now().Add(booking.ConfirmTTL)
	for i := range n {
		tokens[i] = submission.NewToken()
		rows[i] = []any{w.office.ID, w.calendar, "terminanfrage", slots[i/50].Start, i % 50, store.BookingUnconfirmed, expires,
			submission.HashToken(submission.NewToken()), "Anna Schmidt", "anna-" + strconv.Itoa(i) + "@example.org", "de", submission.HashToken(tokens[i])}
	}
	_, err := w.db.CopyFrom(context.Background(), pgx.Identifier{"booking"},
		[]string{"office_id", "calendar_id", "service_slug", "starts_at", "seat", "state", "expires_at", "token_hash", "name", "email", "lang", "mail_token_hash"},
		pgx.CopyFromRows(rows))
	if err != nil {
		b.Fatal(err)
	}
	return tokens
}
