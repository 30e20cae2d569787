package booking_test

import (
	"context"
	"testing"
	"time"

	"github.com/gesundheitsamt/portal/internal/booking"
	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/mail"
	"github.com/gesundheitsamt/portal/internal/store"
)

// TestWalkIn: staff book someone at the counter into a free place, with
// no address (no mail) or with one (the booked mail); the place is taken
// like any other, so a full slot refuses; a slot that is over, a name
// missing, a service the calendar does not serve and another office are
// refused.
func TestWalkIn(t *testing.T) {
	w := newWorld(t, 1)
	ctx := context.Background()
	a := booking.Access{OfficeID: w.office.ID, Actor: domain.StaffMember(1)}
	slots := w.slots(t, 7)
	b, err := w.svc.WalkIn(ctx, a, w.office, w.calendar, "terminanfrage", slots[0].Start, store.BookingContact{Name: "Oma Tresen"})
	if err != nil {
		t.Fatal(err)
	}
	if b.State != store.BookingBooked || !b.WalkIn || b.Email != "" || b.Name != "Oma Tresen" {
		t.Fatalf("the walk-in: %+v", b)
	}
	if got := w.mails(t, b.ID); len(got) != 0 {
		t.Errorf("mails %v for a walk-in without an address", got)
	}
	if _, err := w.svc.WalkIn(ctx, a, w.office, w.calendar, "terminanfrage", slots[0].Start, store.BookingContact{Name: "Zweite"}); messageOf(err) != "booking.error.slot_taken" {
		t.Errorf("a second walk-in into the full slot: %v", err)
	}
	if _, err := w.svc.Hold(ctx, w.office, w.calendar, "terminanfrage", slots[0].Start); messageOf(err) != "booking.error.slot_taken" {
		t.Errorf("a citizen's hold of the walk-in's place: %v", err)
	}
	withMail, err := w.svc.WalkIn(ctx, a, w.office, w.calendar, "terminanfrage", slots[1].Start, store.BookingContact{Name: "Pia Tresen", Email: "pia@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	if got := w.mails(t, withMail.ID); len(got) == 0 || got[0] != mail.TemplateBookingBooked {
		t.Errorf("mails %v for a walk-in with an address, want the booked mail first", got)
	}
	if n := w.count(t, store.BookingBooked); n != 2 {
		t.Errorf("%d booked, want 2", n)
	}

	over := time.Date(w.now.Year(), w.now.Month(), w.now.Day(), 8, 0, 0, 0, w.now.Location()) // this morning's first slot
	for name, tc := range map[string]struct {
		office  store.Office
		service string
		start   time.Time
		contact store.BookingContact
		kind    fault.Kind
		msg     string
	}{
		"no name":             {w.office, "terminanfrage", slots[2].Start, store.BookingContact{}, fault.Invalid, ""},
		"a slot that is over": {w.office, "terminanfrage", over, store.BookingContact{Name: "Spät"}, fault.Invalid, "booking.error.walk_in_slot"},
		"not a slot's start":  {w.office, "terminanfrage", slots[2].Start.Add(time.Minute), store.BookingContact{Name: "Schief"}, fault.Invalid, "booking.error.walk_in_slot"},
		"another service":     {w.office, "masernschutz-nachweis", slots[2].Start, store.BookingContact{Name: "Falsch"}, fault.Invalid, "booking.error.walk_in_service"},
		"another office":      {w.other, "terminanfrage", slots[2].Start, store.BookingContact{Name: "Halle"}, fault.NotFound, ""},
	} {
		if _, err := w.svc.WalkIn(ctx, a, tc.office, w.calendar, tc.service, tc.start, tc.contact); fault.KindOf(err) != tc.kind || messageOf(err) != tc.msg {
			t.Errorf("%s: %v (kind %v), want %v %q", name, err, fault.KindOf(err), tc.kind, tc.msg)
		}
	}
	if n := w.count(t, store.BookingBooked); n != 2 {
		t.Errorf("%d booked after the refusals, want 2", n)
	}
}
