package booking_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gesundheitsamt/portal/internal/booking"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/mail"
	"github.com/gesundheitsamt/portal/internal/retention"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/submission"
)

// mails returns the templates of the mail jobs enqueued for booking id,
// in the order they were enqueued.
func (w *world) mails(t *testing.T, id int64) []string {
	t.Helper()
	return w.texts(t, `SELECT args->>'template' FROM river_job WHERE kind = 'mail.send' AND (args->>'booking_id')::bigint = $1 ORDER BY id`, id)
}

// texts returns the one text column of what query selects.
func (w *world) texts(t *testing.T, query string, args ...any) []string {
	t.Helper()
	rows, err := w.db.Query(context.Background(), query, args...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// hold holds the slot at start for terminanfrage.
func (w *world) hold(t *testing.T, start time.Time) booking.Hold {
	t.Helper()
	h, err := w.svc.Hold(context.Background(), w.office, w.calendar, "terminanfrage", start)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// mailToken sets a known mail token on booking id (the test's stand-in
// for reading the confirmation mail, whose token only the sealed job
// carries) and returns it.
func (w *world) mailToken(t *testing.T, id int64) string {
	t.Helper()
	token := submission.NewToken()
	if _, err := w.db.Exec(context.Background(), `UPDATE booking SET mail_token_hash = $2 WHERE id = $1`, id, submission.HashToken(token)); err != nil {
		t.Fatal(err)
	}
	return token
}

var anna = store.BookingContact{Name: "Anna Schmidt", Email: "anna@example.org", Lang: "de"}

// TestConfirmNeedsTheMail: giving the contact sends the confirmation
// mail and keeps the place; the browser's own token confirms nothing
// (double opt-in); the mail's link books, once, however often it is
// used.
func TestConfirmNeedsTheMail(t *testing.T) {
	w := newWorld(t, 1)
	ctx := context.Background()
	h := w.hold(t, w.slots(t, 7)[0].Start)
	b, err := w.svc.Contact(ctx, h.Token, anna)
	if err != nil {
		t.Fatal(err)
	}
	if b.State != store.BookingUnconfirmed || b.Expires.Before(time.Now().Add(booking.ConfirmTTL-time.Minute)) {
		t.Fatalf("after the contact: %s until %v", b.State, b.Expires)
	}
	if got := w.mails(t, h.ID); len(got) != 1 || got[0] != mail.TemplateBookingConfirm {
		t.Fatalf("mails %v, want one confirmation", got)
	}
	if _, err := w.svc.Confirm(ctx, h.Token); fault.KindOf(err) != fault.NotFound {
		t.Fatalf("confirm with the browser's token: %v, want NotFound", err)
	}
	if _, err := w.svc.Contact(ctx, h.Token, anna); messageOf(err) != "booking.error.hold_lapsed" {
		t.Errorf("a second contact: %v", err)
	}
	token := w.mailToken(t, h.ID)
	for i := range 2 {
		b, err := w.svc.Confirm(ctx, token)
		if err != nil || b.State != store.BookingBooked {
			t.Fatalf("confirm %d: %s, %v", i, b.State, err)
		}
	}
	if got := w.mails(t, h.ID); len(got) != 2 || got[1] != mail.TemplateBookingBooked {
		t.Errorf("mails %v, want the confirmation and one booked", got)
	}
	if n := w.count(t, store.BookingBooked); n != 1 {
		t.Errorf("%d booked rows", n)
	}
}

// TestContactRefused: each wrong detail names its field; nothing changes.
func TestContactRefused(t *testing.T) {
	w := newWorld(t, 1)
	h := w.hold(t, w.slots(t, 7)[0].Start)
	for _, c := range []struct {
		in          store.BookingContact
		field, want string
	}{
		{store.BookingContact{Email: "a@example.org"}, "name", "booking.error.name_required"},
		{store.BookingContact{Name: "A\x00B", Email: "a@example.org"}, "name", "booking.error.name_invalid"},
		{store.BookingContact{Name: strings.Repeat("a", 201), Email: "a@example.org"}, "name", "booking.error.name_invalid"},
		{store.BookingContact{Name: "Anna"}, "email", "booking.error.email_required"},
		{store.BookingContact{Name: "Anna", Email: "anna"}, "email", "booking.error.email_invalid"},
		{store.BookingContact{Name: "Anna", Email: "Anna <a@example.org>"}, "email", "booking.error.email_invalid"},
		{store.BookingContact{Name: "Anna", Email: "a@localhost"}, "email", "booking.error.email_invalid"},
		{store.BookingContact{Name: "Anna", Email: "a@example.org", Phone: "call me"}, "phone", "booking.error.phone_invalid"},
	} {
		_, err := w.svc.Contact(context.Background(), h.Token, c.in)
		bad, ok := booking.AsFieldsError(err)
		if fault.KindOf(err) != fault.Invalid || !ok || bad.Fields[c.field] != c.want {
			t.Errorf("%+v: %v (%v), want %s on %s", c.in, err, bad, c.want, c.field)
		}
	}
	if w.count(t, store.BookingHeld) != 1 || len(w.mails(t, h.ID)) != 0 {
		t.Error("a refused contact changed the booking or sent a mail")
	}
	// Any script is a name; a phone number as people write it is one.
	if _, err := w.svc.Contact(context.Background(), h.Token, store.BookingContact{Name: "Олена  Коваленко", Email: "olena@example.org", Phone: "+49 341 123456"}); err != nil {
		t.Errorf("a Cyrillic name: %v", err)
	}
}

// TestAddressLimit: an address has one appointment of a service at a
// time, whatever the case of its letters, also when twenty holds give it
// at once; a cancellation frees the address.
func TestAddressLimit(t *testing.T) {
	w := newWorld(t, 1)
	ctx := context.Background()
	slots := w.slots(t, 7)
	holds := make([]booking.Hold, 20)
	for i := range holds {
		holds[i] = w.hold(t, slots[i].Start)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ok []booking.Hold
	limited := 0
	for i, h := range holds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := anna
			if i%2 == 1 {
				c.Email = "ANNA@example.org"
			}
			_, err := w.svc.Contact(ctx, h.Token, c)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok = append(ok, h)
			case messageOf(err) == "booking.error.address_limit" && fault.KindOf(err) == fault.Conflict:
				limited++
			default:
				t.Errorf("contact: %v", err)
			}
		}()
	}
	wg.Wait()
	if len(ok) != 1 || limited != 19 || w.count(t, store.BookingUnconfirmed) != 1 {
		t.Fatalf("%d accepted, %d refused, %d unconfirmed rows; want 1, 19, 1", len(ok), limited, w.count(t, store.BookingUnconfirmed))
	}
	if _, err := w.svc.Cancel(ctx, w.mailToken(t, ok[0].ID)); err != nil {
		t.Fatal(err)
	}
	free := w.hold(t, slots[25].Start)
	if _, err := w.svc.Contact(ctx, free.Token, anna); err != nil {
		t.Errorf("after the cancellation: %v", err)
	}
}

// TestConfirmLapsed: a confirmation after the booking's hour finds the
// place given back, says so, and books nothing; the place is free for
// the next citizen.
func TestConfirmLapsed(t *testing.T) {
	w := newWorld(t, 1)
	ctx := context.Background()
	start := w.slots(t, 7)[0].Start
	h := w.hold(t, start)
	if _, err := w.svc.Contact(ctx, h.Token, anna); err != nil {
		t.Fatal(err)
	}
	token := w.mailToken(t, h.ID)
	if _, err := w.db.Exec(ctx, `UPDATE booking SET expires_at = now() - interval '1 second' WHERE id = $1`, h.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Confirm(ctx, token); messageOf(err) != "booking.error.confirm_lapsed" || fault.KindOf(err) != fault.Conflict {
		t.Fatalf("a late confirmation: %v", err)
	}
	if err := w.svc.Resend(ctx, h.Token); messageOf(err) != "booking.error.confirm_lapsed" {
		t.Errorf("resend after the hour: %v", err)
	}
	if w.slots(t, 7)[0].Free != 1 {
		t.Error("the lapsed place is not shown free")
	}
	w.hold(t, start)
	if w.count(t, store.BookingBooked) != 0 || w.count(t, store.BookingExpired) != 1 {
		t.Errorf("%d booked, %d expired", w.count(t, store.BookingBooked), w.count(t, store.BookingExpired))
	}
}

// TestResend: the confirmation goes again with a new link, at most
// MaxResends times; the old link stops working.
func TestResend(t *testing.T) {
	w := newWorld(t, 1)
	ctx := context.Background()
	h := w.hold(t, w.slots(t, 7)[0].Start)
	if _, err := w.svc.Contact(ctx, h.Token, anna); err != nil {
		t.Fatal(err)
	}
	old := w.mailToken(t, h.ID)
	for range booking.MaxResends {
		if err := w.svc.Resend(ctx, h.Token); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.svc.Resend(ctx, h.Token); messageOf(err) != "booking.error.resend_limit" {
		t.Errorf("one resend too many: %v", err)
	}
	if got := w.mails(t, h.ID); len(got) != 1+booking.MaxResends {
		t.Errorf("%d mails, want %d", len(got), 1+booking.MaxResends)
	}
	if _, err := w.svc.Confirm(ctx, old); fault.KindOf(err) != fault.NotFound {
		t.Errorf("the replaced link: %v", err)
	}
}

// TestConfirmRacesResend: a confirmation with the old link that waits for
// the row while the confirmation is sent again finds nothing once the
// new link is in: the link is checked on the locked row.
func TestConfirmRacesResend(t *testing.T) {
	w := newWorld(t, 1)
	ctx := context.Background()
	h := w.hold(t, w.slots(t, 7)[0].Start)
	if _, err := w.svc.Contact(ctx, h.Token, anna); err != nil {
		t.Fatal(err)
	}
	old := w.mailToken(t, h.ID)
	tx, err := w.db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	// The resend's transaction: the row locked, the new link written.
	if _, err := tx.Exec(ctx, `UPDATE booking SET mail_token_hash = $2 WHERE id = $1`, h.ID, submission.HashToken(submission.NewToken())); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := w.svc.Confirm(ctx, old)
		done <- err
	}()
	var waiting bool
	for deadline := time.Now().Add(10 * time.Second); !waiting && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if err := w.db.QueryRow(ctx, `SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%FOR UPDATE OF b%'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
	}
	if !waiting {
		t.Fatal("the confirmation never waited for the row")
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; fault.KindOf(err) != fault.NotFound {
		t.Fatalf("the old link after the resend: %v, want NotFound", err)
	}
	if n := w.count(t, store.BookingBooked); n != 0 {
		t.Errorf("%d booked, want 0", n)
	}
}

// TestReminder: booking an appointment queues its reminder for a day
// before it; a move queues one for the new time; one booked less than a
// day ahead gets none.
func TestReminder(t *testing.T) {
	w := newWorld(t, 1)
	ctx := context.Background()
	slots := w.slots(t, 7)
	reminders := func(id int64) map[string]time.Time {
		t.Helper()
		rows, err := w.db.Query(ctx, `SELECT args->>'key', scheduled_at FROM river_job
			WHERE kind = 'mail.send' AND args->>'template' = $1 AND (args->>'booking_id')::bigint = $2`, mail.TemplateBookingReminder, id)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]time.Time{}
		for rows.Next() {
			var k string
			var at time.Time
			if err := rows.Scan(&k, &at); err != nil {
				t.Fatal(err)
			}
			out[k] = at
		}
		return out
	}
	var soon, later booking.Slot
	for _, sl := range slots {
		switch ahead := sl.Start.Sub(w.now); {
		case ahead < booking.ReminderLead && soon.Start.IsZero():
			soon = sl
		case ahead > booking.ReminderLead+time.Hour && later.Start.IsZero():
			later = sl
		}
	}
	book := func(sl booking.Slot) (int64, string) {
		h := w.hold(t, sl.Start)
		if _, err := w.svc.Contact(ctx, h.Token, store.BookingContact{Name: "Anna Schmidt", Email: strconv.FormatInt(sl.Start.Unix(), 10) + "@example.org"}); err != nil {
			t.Fatal(err)
		}
		token := w.mailToken(t, h.ID)
		if _, err := w.svc.Confirm(ctx, token); err != nil {
			t.Fatal(err)
		}
		return h.ID, token
	}
	id, token := book(later)
	key := "booking:" + strconv.FormatInt(id, 10) + ":reminder:"
	if got := reminders(id); len(got) != 1 || !got[key+"0"].Equal(later.Start.Add(-booking.ReminderLead)) {
		t.Fatalf("reminders %v, want %s0 at %v", got, key, later.Start.Add(-booking.ReminderLead))
	}
	var to booking.Slot
	for _, sl := range slots {
		if sl.Start.After(later.Start) {
			to = sl
			break
		}
	}
	if _, err := w.svc.Move(ctx, token, w.calendar, to.Start); err != nil {
		t.Fatal(err)
	}
	if got := reminders(id); len(got) != 2 || !got[key+"1"].Equal(to.Start.Add(-booking.ReminderLead)) {
		t.Fatalf("after the move: reminders %v, want %s1 at %v", got, key, to.Start.Add(-booking.ReminderLead))
	}
	if id, _ := book(soon); len(reminders(id)) != 0 {
		t.Errorf("an appointment %v ahead got a reminder", soon.Start.Sub(w.now))
	}
}

// TestCancel: a cancellation frees the place at once and sends a
// cancellation for a booked appointment; a second one changes nothing; an
// unconfirmed booking is cancelled without a mail.
func TestCancel(t *testing.T) {
	w := newWorld(t, 1)
	ctx := context.Background()
	slots := w.slots(t, 7)
	h := w.hold(t, slots[0].Start)
	if _, err := w.svc.Contact(ctx, h.Token, anna); err != nil {
		t.Fatal(err)
	}
	token := w.mailToken(t, h.ID)
	if _, err := w.svc.Confirm(ctx, token); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		b, err := w.svc.Cancel(ctx, token)
		if err != nil || b.State != store.BookingCancelled || b.CancelledBy != store.CancelledByCitizen {
			t.Fatalf("cancel: %s by %q, %v", b.State, b.CancelledBy, err)
		}
	}
	if got := w.mails(t, h.ID); len(got) != 3 || got[2] != mail.TemplateBookingCancelled {
		t.Errorf("mails %v", got)
	}
	if w.slots(t, 7)[0].Free != 1 {
		t.Error("the cancelled place is not free")
	}
	if _, err := w.svc.Confirm(ctx, token); messageOf(err) != "booking.error.cancelled" {
		t.Errorf("confirming a cancelled booking: %v", err)
	}

	u := w.hold(t, slots[1].Start)
	if _, err := w.svc.Contact(ctx, u.Token, anna); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Cancel(ctx, w.mailToken(t, u.ID)); err != nil {
		t.Fatal(err)
	}
	if got := w.mails(t, u.ID); len(got) != 1 {
		t.Errorf("an unconfirmed cancellation sent %v", got)
	}
}

// TestMove: a move to a full slot leaves the booking where it was; a
// move to a free one takes it and frees the old place, with a new
// calendar sequence; a move to the same time is refused.
func TestMove(t *testing.T) {
	w := newWorld(t, 1)
	ctx := context.Background()
	slots := w.slots(t, 7)
	h := w.hold(t, slots[0].Start)
	if _, err := w.svc.Contact(ctx, h.Token, anna); err != nil {
		t.Fatal(err)
	}
	token := w.mailToken(t, h.ID)
	if _, err := w.svc.Move(ctx, token, w.calendar, slots[2].Start); messageOf(err) != "booking.error.not_confirmed" {
		t.Errorf("moving an unconfirmed booking: %v", err)
	}
	if _, err := w.svc.Confirm(ctx, token); err != nil {
		t.Fatal(err)
	}
	w.hold(t, slots[1].Start)
	if _, err := w.svc.Move(ctx, token, w.calendar, slots[1].Start); messageOf(err) != "booking.error.slot_taken" {
		t.Errorf("moving to a held slot: %v", err)
	}
	if _, err := w.svc.Move(ctx, token, w.calendar, slots[0].Start); messageOf(err) != "booking.error.same_slot" {
		t.Errorf("moving to its own slot: %v", err)
	}
	if _, err := w.svc.Move(ctx, token, w.calendar, slots[0].Start.Add(7*time.Minute)); messageOf(err) != "booking.error.no_such_slot" {
		t.Errorf("moving to no slot: %v", err)
	}
	if _, err := w.svc.Move(ctx, token, w.calendar+1000, slots[2].Start); fault.KindOf(err) != fault.NotFound {
		t.Errorf("moving to no calendar: %v", err)
	}
	b, err := w.svc.OpenLink(ctx, token)
	if err != nil || !b.Start.Equal(slots[0].Start) {
		t.Fatalf("after the refused moves: %v, %v", b.Start, err)
	}
	b, err = w.svc.Move(ctx, token, w.calendar, slots[2].Start)
	if err != nil || !b.Start.Equal(slots[2].Start) || b.Sequence != 1 {
		t.Fatalf("move: %v seq %d, %v", b.Start, b.Sequence, err)
	}
	now := w.slots(t, 7)
	if now[0].Free != 1 || now[2].Free != 0 {
		t.Errorf("after the move: old slot %d free, new %d free", now[0].Free, now[2].Free)
	}
	if got := w.mails(t, h.ID); len(got) == 0 || got[len(got)-1] != mail.TemplateBookingMoved {
		t.Errorf("mails %v", got)
	}
}

// TestMoveRace: ten booked citizens move to the same one-place slot at
// once; one gets it, the others stay where they were.
func TestMoveRace(t *testing.T) {
	w := newWorld(t, 1)
	ctx := context.Background()
	slots := w.slots(t, 7)
	target := slots[15].Start
	tokens := make([]string, 10)
	for i := range tokens {
		h := w.hold(t, slots[i].Start)
		c := anna
		c.Email = "p" + string(rune('a'+i)) + "@example.org"
		if _, err := w.svc.Contact(ctx, h.Token, c); err != nil {
			t.Fatal(err)
		}
		tokens[i] = w.mailToken(t, h.ID)
		if _, err := w.svc.Confirm(ctx, tokens[i]); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	moved := 0
	for _, token := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := w.svc.Move(ctx, token, w.calendar, target)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				moved++
			} else if messageOf(err) != "booking.error.slot_taken" {
				t.Errorf("move: %v", err)
			}
		}()
	}
	wg.Wait()
	var at int
	if err := w.db.QueryRow(ctx, `SELECT count(*) FROM booking WHERE starts_at = $1 AND state = 'booked'`, target).Scan(&at); err != nil {
		t.Fatal(err)
	}
	if moved != 1 || at != 1 || w.count(t, store.BookingBooked) != 10 {
		t.Errorf("%d moves succeeded, %d booked at the target, %d booked in all; want 1, 1, 10", moved, at, w.count(t, store.BookingBooked))
	}
}

// TestRelease: giving up a hold frees its place at once.
func TestRelease(t *testing.T) {
	w := newWorld(t, 1)
	ctx := context.Background()
	h := w.hold(t, w.slots(t, 7)[0].Start)
	if _, err := w.svc.Release(ctx, h.Token); err != nil {
		t.Fatal(err)
	}
	if w.slots(t, 7)[0].Free != 1 {
		t.Error("the released place is not free")
	}
	if _, err := w.svc.Contact(ctx, h.Token, anna); messageOf(err) != "booking.error.hold_lapsed" {
		t.Errorf("contact after the release: %v", err)
	}
}

// TestOldBookingsAreDeleted: the retention sweep deletes lapsed holds a
// day after they lapsed, cancellations a month after, and booked
// appointments 90 days after they took place, with the citizen's details;
// what is younger stays, and a deleted booking's link finds nothing.
func TestOldBookingsAreDeleted(t *testing.T) {
	w := newWorld(t, 1)
	ctx := context.Background()
	slots := w.slots(t, 7)
	booked := func(i int) (int64, string) {
		h := w.hold(t, slots[i].Start)
		if _, err := w.svc.Contact(ctx, h.Token, store.BookingContact{Name: "Anna Schmidt", Email: strconv.Itoa(i) + "@example.org"}); err != nil {
			t.Fatal(err)
		}
		token := w.mailToken(t, h.ID)
		if _, err := w.svc.Confirm(ctx, token); err != nil {
			t.Fatal(err)
		}
		return h.ID, token
	}
	set := func(id int64, sql string) {
		t.Helper()
		if _, err := w.db.Exec(ctx, `UPDATE booking SET `+sql+` WHERE id = $1`, id); err != nil {
			t.Fatal(err)
		}
	}
	lapsedOld, lapsedNew := w.hold(t, slots[0].Start), w.hold(t, slots[1].Start)
	set(lapsedOld.ID, `expires_at = now() - interval '25 hours'`)
	set(lapsedNew.ID, `expires_at = now() - interval '23 hours'`)
	released := w.hold(t, slots[2].Start)
	if _, err := w.svc.Release(ctx, released.Token); err != nil {
		t.Fatal(err)
	}
	set(released.ID, `updated_at = now() - interval '25 hours'`)
	cancelledOld, tokenCancelled := booked(3)
	if _, err := w.svc.Cancel(ctx, tokenCancelled); err != nil {
		t.Fatal(err)
	}
	set(cancelledOld, `cancelled_at = now() - interval '31 days'`)
	cancelledNew, tokenNew := booked(4)
	if _, err := w.svc.Cancel(ctx, tokenNew); err != nil {
		t.Fatal(err)
	}
	set(cancelledNew, `cancelled_at = now() - interval '29 days'`)
	pastOld, tokenPast := booked(5)
	set(pastOld, `starts_at = now() - interval '91 days'`)
	pastNew, _ := booked(6)
	set(pastNew, `starts_at = now() - interval '89 days'`)
	coming, _ := booked(7)

	n, err := store.DeleteOldBookings(ctx, w.db, retention.BookingCuts(time.Now()))
	if err != nil || n != 4 {
		t.Fatalf("deleted %d, %v; want 4", n, err)
	}
	var left []int64
	rows, err := w.db.Query(ctx, `SELECT id FROM booking ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	if left, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil {
		t.Fatal(err)
	}
	if want := []int64{lapsedNew.ID, cancelledNew, pastNew, coming}; !slices.Equal(left, want) {
		t.Errorf("left %v, want %v", left, want)
	}
	if _, err := w.svc.OpenLink(ctx, tokenPast); fault.KindOf(err) != fault.NotFound {
		t.Errorf("the link of a deleted booking: %v", err)
	}
}
