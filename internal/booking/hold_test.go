package booking_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gesundheitsamt/portal/internal/booking"
	"github.com/gesundheitsamt/portal/internal/crypto"
	"github.com/gesundheitsamt/portal/internal/demo"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/jobs"
	"github.com/gesundheitsamt/portal/internal/mail"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/store/storetest"
	"github.com/gesundheitsamt/portal/internal/webhook"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

// world is an office with a calendar of Monday-to-Friday mornings, 20
// minute slots, serving "terminanfrage", and a clock on a Monday
// evening. Its service enqueues mails, webhook calls (for the office's
// webhooks, which a test adds) and the sweeps of its waiting list.
type world struct {
	db       *store.DB
	svc      *booking.Service
	office   store.Office
	other    store.Office
	calendar int64
	now      time.Time
}

func newWorld(t testing.TB, capacity int) *world {
	t.Helper()
	ctx := context.Background()
	db := storetest.New(t)
	berlin, err := time.LoadLocation(booking.Zone)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{db: db, now: time.Date(2026, 12, 7, 18, 0, 0, 0, berlin)}
	if err := store.UpsertService(ctx, db, store.Service{Slug: "terminanfrage", FormRef: "terminanfrage"}); err != nil {
		t.Fatal(err)
	}
	for i, o := range []store.Office{{Slug: "leipzig", Code: "LEJ", Name: "Gesundheitsamt Leipzig", State: "SN"}, {Slug: "halle", Code: "HAL", Name: "Gesundheitsamt Halle", State: "ST"}} {
		id, err := store.UpsertOffice(ctx, db, o)
		if err != nil {
			t.Fatal(err)
		}
		o.ID = id
		if i == 0 {
			w.office = o
		} else {
			w.other = o
		}
	}
	w.calendar, err = store.UpsertCalendar(ctx, db, store.Calendar{OfficeID: w.office.ID, Slug: "vor-ort", Name: "Vor Ort", Kind: store.CalendarOnsite,
		Slot: 20 * time.Minute, Notice: time.Hour, Horizon: 56 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var rules []store.Rule
	for d := time.Monday; d <= time.Friday; d++ {
		rules = append(rules, store.Rule{Weekday: d, Starts: 8 * time.Hour, Ends: 12 * time.Hour, Capacity: capacity})
	}
	if err := store.ReplaceCalendarRules(ctx, db, w.office.ID, w.calendar, rules); err != nil {
		t.Fatal(err)
	}
	if err := store.ReplaceCalendarServices(ctx, db, w.office.ID, w.calendar, []string{"terminanfrage"}); err != nil {
		t.Fatal(err)
	}
	inserter, err := jobs.NewInserter(db, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	box, err := crypto.NewBox(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	w.svc, err = booking.New(booking.Options{DB: db, Mail: mail.NewNotifier(inserter, box, []byte("secret")), Hooks: webhook.NewNotifier(inserter),
		Queue: inserter, Now: func() time.Time { return w.now }})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// slots returns the slots of the calendar on the next days.
func (w *world) slots(t testing.TB, days int) []booking.Slot {
	t.Helper()
	_, ds, err := w.svc.Availability(context.Background(), w.office, w.calendar, w.now, w.now.AddDate(0, 0, days))
	if err != nil {
		t.Fatal(err)
	}
	var out []booking.Slot
	for _, d := range ds {
		out = append(out, d.Slots...)
	}
	return out
}

// count returns how many bookings of the calendar are in state.
func (w *world) count(t *testing.T, state string) int {
	t.Helper()
	var n int
	if err := w.db.QueryRow(context.Background(), `SELECT count(*) FROM booking WHERE calendar_id = $1 AND state = $2`, w.calendar, state).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// messageOf returns the message id of a classified error.
func messageOf(err error) string {
	var e *fault.Error
	if errors.As(err, &e) {
		return e.MessageID
	}
	return ""
}

// TestHoldRace: 200 citizens at once hold 50 slots of one place, four for
// each slot. Exactly one of every four gets it; the others are told the
// slot is taken. The database rows say the same: 50 holds, one a slot.
func TestHoldRace(t *testing.T) {
	w := newWorld(t, 1)
	slots := w.slots(t, 7)[:50]
	var wg sync.WaitGroup
	var mu sync.Mutex
	held, taken := map[time.Time]int{}, 0
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := slots[i%50]
			_, err := w.svc.Hold(context.Background(), w.office, w.calendar, "terminanfrage", s.Start)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				held[s.Start]++
			case fault.KindOf(err) == fault.Conflict && messageOf(err) == "booking.error.slot_taken":
				taken++
			default:
				t.Errorf("hold %v: %v", s.Start, err)
			}
		}()
	}
	wg.Wait()
	if len(held) != 50 || taken != 150 {
		t.Errorf("%d slots held, %d refusals; want 50 and 150", len(held), taken)
	}
	for at, n := range held {
		if n != 1 {
			t.Errorf("slot %v held %d times", at, n)
		}
	}
	if n := w.count(t, store.BookingHeld); n != 50 {
		t.Errorf("%d held bookings in the database, want 50", n)
	}
	var doubled int
	if err := w.db.QueryRow(context.Background(), `SELECT count(*) FROM (SELECT starts_at FROM booking WHERE state = 'held' GROUP BY starts_at HAVING count(*) > 1) d`).Scan(&doubled); err != nil || doubled != 0 {
		t.Errorf("%d slots with more than one hold (%v)", doubled, err)
	}
	for _, s := range w.slots(t, 7)[:50] {
		if s.Free != 0 {
			t.Errorf("slot %v shows %d free places after it was held", s.Start, s.Free)
		}
	}
}

// TestHoldCapacity: a slot of three places takes three holds of ten.
func TestHoldCapacity(t *testing.T) {
	w := newWorld(t, 3)
	slot := w.slots(t, 7)[0]
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := w.svc.Hold(context.Background(), w.office, w.calendar, "terminanfrage", slot.Start)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				ok++
			} else if fault.KindOf(err) != fault.Conflict {
				t.Errorf("hold: %v", err)
			}
		}()
	}
	wg.Wait()
	if ok != 3 || w.count(t, store.BookingHeld) != 3 {
		t.Errorf("%d holds succeeded, %d in the database; want 3", ok, w.count(t, store.BookingHeld))
	}
	if free := w.slots(t, 7)[0].Free; free != 0 {
		t.Errorf("%d free places shown", free)
	}
}

// TestLastSlotIsCounted: the last slot of a range counts its taken
// places like every other (PostgreSQL keeps microseconds: a range's end
// a nanosecond after the last start is that start, which the range
// leaves out).
func TestLastSlotIsCounted(t *testing.T) {
	w := newWorld(t, 1)
	ctx := context.Background()
	slots := w.slots(t, 1)
	last := slots[len(slots)-1]
	w.hold(t, last.Start)
	if got := w.slots(t, 1); got[len(got)-1].Free != 0 {
		t.Errorf("the range's last slot, held: %+v", got[len(got)-1])
	}
	from := last.Start.Add(-2 * time.Hour)
	_, days, err := w.svc.Schedule(ctx, w.office, w.calendar, from, last.Start.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if got := days[0].Slots; got[len(got)-1].Free != 0 {
		t.Errorf("the schedule's last slot, held: %+v", got[len(got)-1])
	}
	// Every other slot of the horizon taken: the first free one is none.
	for _, d := range func() []booking.Day {
		_, ds, err := w.svc.Availability(ctx, w.office, w.calendar, w.now, w.now.Add(56*24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return ds
	}() {
		for _, sl := range d.Slots {
			if sl.Free > 0 {
				w.hold(t, sl.Start)
			}
		}
	}
	if sl, ok, err := w.svc.FirstFree(ctx, w.office, w.calendar, w.now); err != nil || ok {
		t.Errorf("every place held, FirstFree finds %+v, %v, %v", sl, ok, err)
	}
}

// TestHoldLapses: a hold whose time has passed frees its place for the
// next one, and is marked expired.
func TestHoldLapses(t *testing.T) {
	w := newWorld(t, 1)
	ctx := context.Background()
	slot := w.slots(t, 7)[0]
	first, err := w.svc.Hold(ctx, w.office, w.calendar, "terminanfrage", slot.Start)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(first.Until); d < booking.HoldTTL-time.Minute || d > booking.HoldTTL+time.Minute {
		t.Errorf("the hold lasts %v, want %v", d, booking.HoldTTL)
	}
	if _, err := w.svc.Hold(ctx, w.office, w.calendar, "terminanfrage", slot.Start); fault.KindOf(err) != fault.Conflict {
		t.Fatalf("a second hold while the first lasts: %v", err)
	}
	if _, err := w.db.Exec(ctx, `UPDATE booking SET expires_at = now() - interval '1 second' WHERE id = $1`, first.ID); err != nil {
		t.Fatal(err)
	}
	if free := w.slots(t, 7)[0].Free; free != 1 {
		t.Errorf("a lapsed hold leaves %d free places, want 1", free)
	}
	second, err := w.svc.Hold(ctx, w.office, w.calendar, "terminanfrage", slot.Start)
	if err != nil {
		t.Fatalf("a hold after the first lapsed: %v", err)
	}
	if second.Token == first.Token || len(second.Token) != 26 {
		t.Errorf("tokens %q and %q", first.Token, second.Token)
	}
	if w.count(t, store.BookingExpired) != 1 || w.count(t, store.BookingHeld) != 1 {
		t.Errorf("expired %d, held %d; want 1 and 1", w.count(t, store.BookingExpired), w.count(t, store.BookingHeld))
	}
}

// TestHoldRefuses: what is no slot, another office's calendar, a service
// the calendar does not serve.
func TestHoldRefuses(t *testing.T) {
	w := newWorld(t, 1)
	ctx := context.Background()
	slot := w.slots(t, 7)[0]
	tests := []struct {
		name     string
		office   store.Office
		service  string
		start    time.Time
		kind     fault.Kind
		message  string
		calendar int64
	}{
		{"between two slots", w.office, "terminanfrage", slot.Start.Add(5 * time.Minute), fault.Invalid, "booking.error.no_such_slot", w.calendar},
		{"a Sunday", w.office, "terminanfrage", time.Date(2026, 12, 13, 9, 0, 0, 0, slot.Start.Location()), fault.Invalid, "booking.error.no_such_slot", w.calendar},
		{"before the notice", w.office, "terminanfrage", w.now.Add(30 * time.Minute).Truncate(20 * time.Minute), fault.Invalid, "booking.error.no_such_slot", w.calendar},
		{"beyond the horizon", w.office, "terminanfrage", slot.Start.AddDate(0, 0, 70), fault.Invalid, "booking.error.no_such_slot", w.calendar},
		{"another office's calendar", w.other, "terminanfrage", slot.Start, fault.NotFound, "", w.calendar},
		{"a service not served", w.office, "masernschutz", slot.Start, fault.NotFound, "", w.calendar},
		{"no such calendar", w.office, "terminanfrage", slot.Start, fault.NotFound, "", w.calendar + 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := w.svc.Hold(ctx, tt.office, tt.calendar, tt.service, tt.start)
			if fault.KindOf(err) != tt.kind || messageOf(err) != tt.message {
				t.Errorf("hold: %v; want %v %q", err, tt.kind, tt.message)
			}
		})
	}
	if n := w.count(t, store.BookingHeld); n != 0 {
		t.Errorf("%d holds in the database after refusals", n)
	}
	if _, _, err := w.svc.Availability(ctx, w.other, w.calendar, w.now, w.now.AddDate(0, 0, 7)); fault.KindOf(err) != fault.NotFound {
		t.Errorf("another office's availability: %v", err)
	}
}

// TestHoldMeetsAnUncommittedHold shows the mechanism under the race: a
// hold that picks the seat another, not yet committed, hold has taken
// waits in the unique index until the other commits, and then takes the
// next seat, or is refused when there is none. Without the unique index
// both would have the same seat.
func TestHoldMeetsAnUncommittedHold(t *testing.T) {
	for _, capacity := range []int{1, 2} {
		t.Run(strconv.Itoa(capacity), func(t *testing.T) {
			w := newWorld(t, capacity)
			ctx := context.Background()
			slot := w.slots(t, 7)[0]
			hold := func(q store.Querier, token byte) error {
				_, _, err := store.HoldPlace(ctx, q, store.PlaceHold{OfficeID: w.office.ID, CalendarID: w.calendar, Service: "terminanfrage",
					Start: slot.Start, Capacity: capacity, TTL: booking.HoldTTL, TokenHash: bytes.Repeat([]byte{token}, 32)})
				return err
			}
			tx, err := w.db.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			if err := hold(tx, 1); err != nil {
				t.Fatal(err)
			}
			second := make(chan error, 1)
			go func() { second <- hold(w.db, 2) }()
			select {
			case err := <-second:
				t.Fatalf("the second hold did not wait for the first: %v", err)
			case <-time.After(300 * time.Millisecond):
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			err = <-second
			switch {
			case capacity == 1 && !errors.Is(err, store.ErrSlotFull):
				t.Errorf("the second hold of a one-place slot: %v, want ErrSlotFull", err)
			case capacity == 2 && err != nil:
				t.Errorf("the second hold of a two-place slot: %v", err)
			}
			var seats []int
			rows, err := w.db.Query(ctx, `SELECT seat FROM booking WHERE calendar_id = $1 AND state = 'held' ORDER BY seat`, w.calendar)
			if err != nil {
				t.Fatal(err)
			}
			seats, err = pgx.CollectRows(rows, pgx.RowTo[int])
			if err != nil {
				t.Fatal(err)
			}
			if want := []int{0, 1}[:capacity]; !slices.Equal(seats, want) {
				t.Errorf("seats %v, want %v", seats, want)
			}
		})
	}
}

// TestDemoCalendars: the demo data give both offices free on-site and
// video slots on the working days of the coming weeks, and Saxony's
// closes on Buß- und Bettag while Saxony-Anhalt's does not.
func TestDemoCalendars(t *testing.T) {
	ctx := context.Background()
	db := storetest.New(t)
	if err := demo.Seed(ctx, db); err != nil {
		t.Fatal(err)
	}
	if err := demo.Seed(ctx, db); err != nil {
		t.Fatalf("seeding again: %v", err)
	}
	berlin, _ := time.LoadLocation(booking.Zone)
	now := time.Date(2026, 11, 16, 7, 0, 0, 0, berlin) // a Monday
	svc, err := booking.New(booking.Options{DB: db, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	for _, slug := range []string{"leipzig", "halle"} {
		office, err := store.GetOfficeBySlug(ctx, db, slug)
		if err != nil {
			t.Fatal(err)
		}
		cals, err := store.ListServiceCalendars(ctx, db, office.ID, "reiseimpfberatung")
		if err != nil || len(cals) != 2 || cals[0].Kind != store.CalendarOnsite || cals[1].Kind != store.CalendarVideo {
			t.Fatalf("%s: calendars %+v, %v", slug, cals, err)
		}
		for _, c := range cals {
			_, days, err := svc.Availability(ctx, office, c.ID, now, now.AddDate(0, 0, 14))
			if err != nil {
				t.Fatal(err)
			}
			free, bettag := 0, false
			for _, d := range days {
				if d.Date.Weekday() == time.Saturday || d.Date.Weekday() == time.Sunday {
					t.Errorf("%s %s: slots on %v", slug, c.Slug, d.Date)
				}
				bettag = bettag || d.Date.Format("01-02") == "11-18"
				for _, s := range d.Slots {
					free += s.Free
				}
			}
			if free < 30 {
				t.Errorf("%s %s: %d free places in two weeks", slug, c.Slug, free)
			}
			if want := slug == "halle"; bettag != want {
				t.Errorf("%s %s: slots on Buß- und Bettag %v, want %v", slug, c.Slug, bettag, want)
			}
		}
	}
}

// TestClosure: a closure of the office's calendar takes its days out of
// the availability and makes their slots unholdable; another office
// cannot close it.
func TestClosure(t *testing.T) {
	w := newWorld(t, 1)
	ctx := context.Background()
	first := w.slots(t, 7)[0]
	day := time.Date(first.Start.Year(), first.Start.Month(), first.Start.Day(), 0, 0, 0, 0, time.UTC)
	if err := store.AddClosure(ctx, w.db, w.other.ID, w.calendar, store.Closure{FirstDay: day, LastDay: day}); fault.KindOf(err) != fault.NotFound {
		t.Fatalf("another office's closure: %v", err)
	}
	if err := store.AddClosure(ctx, w.db, w.office.ID, w.calendar, store.Closure{FirstDay: day, LastDay: day, Reason: "Betriebsausflug"}); err != nil {
		t.Fatal(err)
	}
	for _, s := range w.slots(t, 7) {
		if s.Start.Format("2006-01-02") == day.Format("2006-01-02") {
			t.Fatalf("a slot on the closed day: %v", s.Start)
		}
	}
	if _, err := w.svc.Hold(ctx, w.office, w.calendar, "terminanfrage", first.Start); messageOf(err) != "booking.error.no_such_slot" {
		t.Errorf("a hold on the closed day: %v", err)
	}
}

// TestPlanTTL: with a PlanTTL, a calendar's rules and closures are read
// once for that long (a closure added meanwhile shows after it); a
// calendar that does not exist is NotFound every time.
func TestPlanTTL(t *testing.T) {
	w := newWorld(t, 1)
	ctx := context.Background()
	kept, err := booking.New(booking.Options{DB: w.db, Now: func() time.Time { return w.now }, PlanTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	week := func(svc *booking.Service) int {
		_, days, err := svc.Availability(ctx, w.office, w.calendar, w.now, w.now.AddDate(0, 0, 7))
		if err != nil {
			t.Fatal(err)
		}
		return len(days)
	}
	before := week(kept)
	day := dateOf(w.now.AddDate(0, 0, 1))
	if err := store.AddClosure(ctx, w.db, w.office.ID, w.calendar, store.Closure{FirstDay: day, LastDay: day}); err != nil {
		t.Fatal(err)
	}
	if got := week(kept); got != before {
		t.Errorf("within the TTL: %d days, want the %d read before", got, before)
	}
	if got := week(w.svc); got != before-1 {
		t.Errorf("without a TTL: %d days, want %d", got, before-1)
	}
	for i := range 3 {
		if _, _, err := kept.Availability(ctx, w.office, w.calendar+int64(100+i), w.now, w.now.AddDate(0, 0, 7)); fault.KindOf(err) != fault.NotFound {
			t.Errorf("no such calendar: %v", err)
		}
	}
}

func dateOf(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// TestFirstFree: the first slot with a free place, past full slots and
// closed weeks; none when every day of the horizon is closed.
func TestFirstFree(t *testing.T) {
	w := newWorld(t, 2)
	ctx := context.Background()
	slots := w.slots(t, 7)
	first := slots[0]
	if _, err := w.svc.Hold(ctx, w.office, w.calendar, "terminanfrage", first.Start); err != nil {
		t.Fatal(err)
	}
	got, ok, err := w.svc.FirstFree(ctx, w.office, w.calendar, w.now)
	if err != nil || !ok || !got.Start.Equal(first.Start) || got.Free != 1 {
		t.Fatalf("one of two places held: %v %v free %d, %v; want %v free 1", ok, got.Start, got.Free, err, first.Start)
	}
	if _, err := w.svc.Hold(ctx, w.office, w.calendar, "terminanfrage", first.Start); err != nil {
		t.Fatal(err)
	}
	// The next three weeks closed: the first free slot is in the fourth.
	start := dateOf(first.Start)
	if err := store.AddClosure(ctx, w.db, w.office.ID, w.calendar, store.Closure{FirstDay: start.AddDate(0, 0, 1), LastDay: start.AddDate(0, 0, 21)}); err != nil {
		t.Fatal(err)
	}
	got, ok, err = w.svc.FirstFree(ctx, w.office, w.calendar, w.now)
	if err != nil || !ok || !got.Start.Equal(slots[1].Start) {
		t.Fatalf("first slot full: %v %v, %v; want %v", ok, got.Start, err, slots[1].Start)
	}
	for _, s := range w.slots(t, 1) {
		for range 2 {
			if _, err := w.svc.Hold(ctx, w.office, w.calendar, "terminanfrage", s.Start); err != nil && messageOf(err) != "booking.error.slot_taken" {
				t.Fatal(err)
			}
		}
	}
	got, ok, err = w.svc.FirstFree(ctx, w.office, w.calendar, w.now)
	if want := start.AddDate(0, 0, 22); err != nil || !ok || dateOf(got.Start).Before(want) {
		t.Fatalf("the first day full, three weeks closed: %v %v, %v; want on or after %v", ok, got.Start, err, want)
	}
	if err := store.AddClosure(ctx, w.db, w.office.ID, w.calendar, store.Closure{FirstDay: start, LastDay: start.AddDate(0, 0, 60)}); err != nil {
		t.Fatal(err)
	}
	if got, ok, err = w.svc.FirstFree(ctx, w.office, w.calendar, w.now); err != nil || ok {
		t.Fatalf("all closed: %v %v, %v; want none", ok, got.Start, err)
	}
}
