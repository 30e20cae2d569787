package booking_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gesundheitsamt/portal/internal/booking"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/mail"
	"github.com/gesundheitsamt/portal/internal/store"
)

// fullWorld is a world whose calendar books one day ahead only, with
// every place of that day held: nothing is free within the horizon. It
// returns the holds.
func fullWorld(t *testing.T) (*world, []booking.Hold) {
	t.Helper()
	w := newWorld(t, 1)
	if _, err := w.db.Exec(context.Background(), `UPDATE calendar SET horizon_days = 1 WHERE id = $1`, w.calendar); err != nil {
		t.Fatal(err)
	}
	var holds []booking.Hold
	for _, sl := range w.slots(t, 2) {
		holds = append(holds, w.hold(t, sl.Start))
	}
	if len(holds) == 0 {
		t.Fatal("no slots to fill")
	}
	return w, holds
}

func (w *world) join(t *testing.T, c store.BookingContact) string {
	t.Helper()
	token, err := w.svc.JoinWaitlist(context.Background(), w.office, w.calendar, "terminanfrage", c)
	if err != nil {
		t.Fatalf("%s joins: %v", c.Name, err)
	}
	return token
}

func (w *world) sweep(t *testing.T) int {
	t.Helper()
	n, err := w.svc.SweepWaitlist(context.Background(), w.office.ID, w.calendar)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// offerOf returns the booking offered to the entry of token, checking it
// is one: unconfirmed, with the entry's address, held about OfferTTL, its
// offer mail queued.
func (w *world) offerOf(t *testing.T, token, email string) store.Booking {
	t.Helper()
	e, err := w.svc.OpenWaitlist(context.Background(), token)
	if err != nil {
		t.Fatal(err)
	}
	if e.State != store.WaitlistOffered || e.BookingID == 0 {
		t.Fatalf("%s: entry %s, booking %d; want an offer", email, e.State, e.BookingID)
	}
	b, err := store.GetBooking(context.Background(), w.db, w.office.ID, e.BookingID)
	if err != nil {
		t.Fatal(err)
	}
	if b.State != store.BookingUnconfirmed || b.Email != email || time.Until(b.Expires) < booking.OfferTTL-time.Minute {
		t.Fatalf("the offer: %s for %s until %v", b.State, b.Email, b.Expires)
	}
	if got := w.mails(t, b.ID); len(got) != 1 || got[0] != mail.TemplateBookingOffer {
		t.Fatalf("mails of the offer: %v", got)
	}
	return b
}

var (
	bernd = store.BookingContact{Name: "Bernd Weber", Email: "bernd@example.org", Lang: "de"}
	clara = store.BookingContact{Name: "Clara Roth", Email: "clara@example.org", Lang: "en"}
)

// TestWaitlistServedInOrder: three citizens join a full calendar's list.
// A place that frees is offered to the first, and held for her; when her
// offer lapses it goes to the second, whose confirmation books it and
// ends his entry. The third still waits, now first in line.
func TestWaitlistServedInOrder(t *testing.T) {
	w, holds := fullWorld(t)
	ctx := context.Background()
	annaT, berndT, claraT := w.join(t, anna), w.join(t, bernd), w.join(t, clara)
	if e, err := w.svc.OpenWaitlist(ctx, claraT); err != nil || e.Ahead != 2 || e.State != store.WaitlistWaiting {
		t.Fatalf("clara's entry: %+v, %v; want two ahead, waiting", e, err)
	}
	if n := w.sweep(t); n != 0 {
		t.Fatalf("a sweep of a full calendar made %d offers", n)
	}

	if _, err := w.svc.Release(ctx, holds[3].Token); err != nil {
		t.Fatal(err)
	}
	if got := w.texts(t, `SELECT args->>'calendar_id' FROM river_job WHERE kind = 'waitlist.sweep'`); len(got) != 1 {
		t.Fatalf("the freed place queued sweeps %v, want one", got)
	}
	if n := w.sweep(t); n != 1 {
		t.Fatalf("the sweep made %d offers, want 1", n)
	}
	offer := w.offerOf(t, annaT, anna.Email)
	if !offer.Start.Equal(holds[3].Slot.Start) {
		t.Fatalf("anna was offered %v, the place freed was %v", offer.Start, holds[3].Slot.Start)
	}
	if n := w.sweep(t); n != 0 {
		t.Fatalf("a second sweep made %d offers: the place is anna's", n)
	}
	if e, _ := w.svc.OpenWaitlist(ctx, berndT); e.State != store.WaitlistWaiting {
		t.Fatalf("bernd's entry is %s", e.State)
	}

	// Anna does not confirm in time.
	if _, err := w.db.Exec(ctx, `UPDATE booking SET expires_at = now() - interval '1 second' WHERE id = $1`, offer.ID); err != nil {
		t.Fatal(err)
	}
	if n := w.sweep(t); n != 1 {
		t.Fatalf("after anna's offer lapsed the sweep made %d offers, want 1", n)
	}
	if _, err := w.svc.OpenWaitlist(ctx, annaT); fault.KindOf(err) != fault.NotFound {
		t.Fatalf("anna's lapsed entry: %v, want NotFound", err)
	}
	second := w.offerOf(t, berndT, bernd.Email)
	if !second.Start.Equal(offer.Start) {
		t.Fatalf("bernd was offered %v, want the lapsed %v", second.Start, offer.Start)
	}
	b, err := w.svc.Confirm(ctx, w.mailToken(t, second.ID))
	if err != nil || b.State != store.BookingBooked {
		t.Fatalf("bernd confirms: %s, %v", b.State, err)
	}
	if _, err := w.svc.OpenWaitlist(ctx, berndT); fault.KindOf(err) != fault.NotFound {
		t.Fatalf("bernd's entry after booking: %v, want NotFound", err)
	}
	if e, err := w.svc.OpenWaitlist(ctx, claraT); err != nil || e.Ahead != 0 || e.State != store.WaitlistWaiting {
		t.Fatalf("clara's entry: %+v, %v; want first in line, waiting", e, err)
	}
	if n := w.count(t, store.BookingBooked); n != 1 {
		t.Fatalf("%d bookings booked, want bernd's", n)
	}
	var entries int
	if err := w.db.QueryRow(ctx, `SELECT count(*) FROM booking_waitlist`).Scan(&entries); err != nil || entries != 1 {
		t.Fatalf("%d entries left (%v), want clara's", entries, err)
	}
}

// TestWaitlistJoinRefused: no list while a slot is free; an address
// joins once; contact details are checked; a calendar of another office,
// or one that does not serve the service, has no list; a full list
// takes no more.
func TestWaitlistJoinRefused(t *testing.T) {
	ctx := context.Background()
	free := newWorld(t, 1)
	if _, err := free.svc.JoinWaitlist(ctx, free.office, free.calendar, "terminanfrage", anna); messageOf(err) != "booking.waitlist.error.free" {
		t.Fatalf("joining with slots free: %v", err)
	}

	w, _ := fullWorld(t)
	w.join(t, anna)
	again := anna
	again.Email = "ANNA@example.org"
	if _, err := w.svc.JoinWaitlist(ctx, w.office, w.calendar, "terminanfrage", again); messageOf(err) != "booking.waitlist.error.twice" {
		t.Fatalf("the address again: %v", err)
	}
	bad := store.BookingContact{Name: "", Email: "nicht-an-adresse", Lang: "de"}
	_, err := w.svc.JoinWaitlist(ctx, w.office, w.calendar, "terminanfrage", bad)
	if fe, ok := booking.AsFieldsError(err); !ok || fe.Fields["name"] == "" || fe.Fields["email"] == "" {
		t.Fatalf("bad contact details: %v", err)
	}
	for name, tc := range map[string]struct {
		office  store.Office
		service string
	}{"another office": {w.other, "terminanfrage"}, "another service": {w.office, "reiseimpfberatung"}} {
		if _, err := w.svc.JoinWaitlist(ctx, tc.office, w.calendar, tc.service, bernd); fault.KindOf(err) != fault.NotFound {
			t.Errorf("%s: %v, want NotFound", name, err)
		}
	}
	if _, err := w.db.Exec(ctx, `
INSERT INTO booking_waitlist (office_id, calendar_id, service_slug, name, email, token_hash)
SELECT $1, $2, 'terminanfrage', 'X', 'x' || i || '@example.org', sha256(convert_to('w' || i, 'UTF8'))
FROM generate_series(1, $3::int - 1) AS i`, w.office.ID, w.calendar, booking.WaitlistMax); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.JoinWaitlist(ctx, w.office, w.calendar, "terminanfrage", bernd); messageOf(err) != "booking.waitlist.error.full" {
		t.Fatalf("a full list: %v", err)
	}
}

// TestWaitlistLeave: leaving ends the entry; leaving with an offer out
// gives the place back, and the next in line gets it.
func TestWaitlistLeave(t *testing.T) {
	w, holds := fullWorld(t)
	ctx := context.Background()
	annaT, berndT := w.join(t, anna), w.join(t, bernd)
	if _, err := w.svc.Release(ctx, holds[0].Token); err != nil {
		t.Fatal(err)
	}
	w.sweep(t)
	offer := w.offerOf(t, annaT, anna.Email)
	if _, err := w.svc.LeaveWaitlist(ctx, annaT); err != nil {
		t.Fatal(err)
	}
	if b, _ := store.GetBooking(ctx, w.db, w.office.ID, offer.ID); b.State != store.BookingCancelled {
		t.Fatalf("anna's offer after she left: %s", b.State)
	}
	if _, err := w.svc.LeaveWaitlist(ctx, annaT); fault.KindOf(err) != fault.NotFound {
		t.Fatalf("leaving twice: %v", err)
	}
	w.sweep(t)
	if b := w.offerOf(t, berndT, bernd.Email); !b.Start.Equal(offer.Start) {
		t.Fatalf("bernd was offered %v, want anna's %v", b.Start, offer.Start)
	}
}

// TestWaitlistSweepsAtOnce: four sweeps at once over three free places
// and five waiting entries make three offers, to the first three.
func TestWaitlistSweepsAtOnce(t *testing.T) {
	w, holds := fullWorld(t)
	ctx := context.Background()
	var tokens []string
	for _, c := range []store.BookingContact{anna, bernd, clara, {Name: "D", Email: "d@example.org", Lang: "de"}, {Name: "E", Email: "e@example.org", Lang: "de"}} {
		tokens = append(tokens, w.join(t, c))
	}
	for _, h := range holds[:3] {
		if _, err := w.svc.Release(ctx, h.Token); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for range 4 {
		wg.Go(func() {
			n, err := w.svc.SweepWaitlist(ctx, w.office.ID, w.calendar)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			total += n
			mu.Unlock()
		})
	}
	wg.Wait()
	if total != 3 || w.count(t, store.BookingUnconfirmed) != 3 {
		t.Fatalf("%d offers made, %d unconfirmed bookings; want 3", total, w.count(t, store.BookingUnconfirmed))
	}
	for i, token := range tokens {
		e, err := w.svc.OpenWaitlist(ctx, token)
		if err != nil {
			t.Fatal(err)
		}
		if want := i < 3; (e.State == store.WaitlistOffered) != want {
			t.Errorf("entry %d is %s", i, e.State)
		}
	}
}

// TestWaitlistEntriesLapse: an entry waiting longer than WaitlistKeep
// ends at the next sweep; a younger one stays.
func TestWaitlistEntriesLapse(t *testing.T) {
	w, _ := fullWorld(t)
	ctx := context.Background()
	old, young := w.join(t, anna), w.join(t, bernd)
	if _, err := w.db.Exec(ctx, `UPDATE booking_waitlist SET created_at = $1 WHERE lower(email) = 'anna@example.org'`,
		w.now.Add(-booking.WaitlistKeep-time.Hour)); err != nil {
		t.Fatal(err)
	}
	w.sweep(t)
	if _, err := w.svc.OpenWaitlist(ctx, old); fault.KindOf(err) != fault.NotFound {
		t.Fatalf("the old entry after the sweep: %v, want NotFound", err)
	}
	if e, err := w.svc.OpenWaitlist(ctx, young); err != nil || e.Ahead != 0 {
		t.Fatalf("the young entry: %+v, %v", e, err)
	}
}
