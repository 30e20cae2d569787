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
	"github.com/gesundheitsamt/portal/internal/mail"
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

// BenchmarkContact gives held bookings their citizens: the lock of the
// hold by its token's hash, the check of the address against its other
// appointments of the service, the update to unconfirmed and the
// confirmation mail's job (sealed). Each iteration has its own hold and
// address, copied into the database before the clock starts as Hold
// leaves them.
func BenchmarkContact(b *testing.B) {
	w := newWorld(b, 50)
	ctx := context.Background()
	tokens := w.copied(b, b.N, 50, store.BookingHeld)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		c := store.BookingContact{Name: "Anna Schmidt", Email: "anna-" + strconv.Itoa(i) + "@example.org", Lang: "de"}
		if bk, err := w.svc.Contact(ctx, tokens[i], c); err != nil || bk.State != store.BookingUnconfirmed {
			b.Fatalf("contact %d: %s, %v", i, bk.State, err)
		}
	}
	b.StopTimer()
	w.counted(b, store.BookingUnconfirmed, b.N)
	w.mailed(b, mail.TemplateBookingConfirm, b.N)
}

// BenchmarkMove moves booked bookings, 25 to a slot, each to the next
// slot, whose other 25 places are free: the lock by the mail token's
// hash, the check of the new slot against the calendar, the statement
// that takes the new place before it frees the old, and the jobs of the
// moved mail and of the reminder for the new time.
func BenchmarkMove(b *testing.B) {
	w := newWorld(b, 50)
	ctx := context.Background()
	slots := w.slots(b, 56)
	tokens := w.copied(b, b.N, 25, store.BookingBooked)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		to := slots[i/25+1].Start
		if bk, err := w.svc.Move(ctx, tokens[i], w.calendar, to); err != nil || !bk.Start.Equal(to) || bk.Sequence != 1 {
			b.Fatalf("move %d: %v seq %d, %v", i, bk.Start, bk.Sequence, err)
		}
	}
	b.StopTimer()
	var moved int
	if err := w.db.QueryRow(ctx, `SELECT count(*) FROM booking WHERE calendar_id = $1 AND state = 'booked' AND sequence = 1`, w.calendar).Scan(&moved); err != nil || moved != b.N {
		b.Fatalf("%d bookings moved once, want %d: %v", moved, b.N, err)
	}
	w.mailed(b, mail.TemplateBookingMoved, b.N)
}

// BenchmarkCancel cancels booked bookings by their mail tokens: the lock
// by the token's hash, the update that frees the place, and the
// cancellation mail's job.
func BenchmarkCancel(b *testing.B) {
	w := newWorld(b, 50)
	ctx := context.Background()
	tokens := w.copied(b, b.N, 50, store.BookingBooked)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if bk, err := w.svc.Cancel(ctx, tokens[i]); err != nil || bk.State != store.BookingCancelled {
			b.Fatalf("cancel %d: %s, %v", i, bk.State, err)
		}
	}
	b.StopTimer()
	w.counted(b, store.BookingCancelled, b.N)
	w.mailed(b, mail.TemplateBookingCancelled, b.N)
}

// unconfirmed copies n unconfirmed bookings into the calendar, 50 to a
// slot, as the contact step leaves them, and returns their mail tokens.
func (w *world) unconfirmed(b *testing.B, n int) []string {
	b.Helper()
	return w.copied(b, n, 50, store.BookingUnconfirmed)
}

// copied copies n bookings in state into the calendar, perSlot to a
// slot (seats 0 to perSlot-1), and returns their tokens: the browser's
// of a hold, which expires in HoldTTL; else the mail's, each booking
// with its own address, an unconfirmed one expiring in ConfirmTTL. The
// last slot stays free for what moves there.
func (w *world) copied(b *testing.B, n, perSlot int, state string) []string {
	b.Helper()
	slots := w.slots(b, 56)
	if n > perSlot*(len(slots)-1) {
		b.Fatalf("%d bookings, but %d places in the calendar: a shorter -benchtime", n, perSlot*(len(slots)-1))
	}
	tokens := make([]string, n)
	rows := make([][]any, n)
	now := time.Now()
	for i := range n {
		tokens[i] = submission.NewToken()
		row := []any{w.office.ID, w.calendar, "terminanfrage", slots[i/perSlot].Start, i % perSlot, state}
		switch state {
		case store.BookingHeld:
			row = append(row, now.Add(booking.HoldTTL), submission.HashToken(tokens[i]), "", "", "de", nil, nil)
		case store.BookingUnconfirmed:
			row = append(row, now.Add(booking.ConfirmTTL), submission.HashToken(submission.NewToken()),
				"Anna Schmidt", "anna-"+strconv.Itoa(i)+"@example.org", "de", submission.HashToken(tokens[i]), nil)
		default:
			row = append(row, nil, submission.HashToken(submission.NewToken()),
				"Anna Schmidt", "anna-"+strconv.Itoa(i)+"@example.org", "de", submission.HashToken(tokens[i]), now)
		}
		rows[i] = row
	}
	_, err := w.db.CopyFrom(context.Background(), pgx.Identifier{"booking"},
		[]string{"office_id", "calendar_id", "service_slug", "starts_at", "seat", "state", "expires_at", "token_hash", "name", "email", "lang", "mail_token_hash", "confirmed_at"},
		pgx.CopyFromRows(rows))
	if err != nil {
		b.Fatal(err)
	}
	return tokens
}

// counted fails b unless the calendar has want bookings in state.
func (w *world) counted(b *testing.B, state string, want int) {
	b.Helper()
	var n int
	if err := w.db.QueryRow(context.Background(), `SELECT count(*) FROM booking WHERE calendar_id = $1 AND state = $2`, w.calendar, state).Scan(&n); err != nil || n != want {
		b.Fatalf("%d bookings %s, want %d: %v", n, state, want, err)
	}
}

// mailed fails b unless want mail jobs of template were enqueued, each
// for another booking.
func (w *world) mailed(b *testing.B, template string, want int) {
	b.Helper()
	var n int
	if err := w.db.QueryRow(context.Background(), `SELECT count(DISTINCT args->>'booking_id') FROM river_job WHERE kind = 'mail.send' AND args->>'template' = $1`, template).Scan(&n); err != nil || n != want {
		b.Fatalf("%d bookings with a %s mail, want %d: %v", n, template, want, err)
	}
}
