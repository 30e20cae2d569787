package booking_test

import (
	"context"
	"testing"

	"github.com/gesundheitsamt/portal/internal/booking"
	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/submission"
)

// newRequest stores a Terminanfrage case of office officeID and returns
// its id and the status link's token.
func (w *world) newRequest(t *testing.T, officeID int64) (int64, string) {
	t.Helper()
	ctx := context.Background()
	if _, err := w.db.Exec(ctx, `INSERT INTO form_definition (form_id, hash, version, source)
		VALUES ('terminanfrage', repeat('0', 64), 1, '') ON CONFLICT DO NOTHING`); err != nil {
		t.Fatal(err)
	}
	token := submission.NewToken()
	s := store.Submission{OfficeID: officeID, ServiceSlug: "terminanfrage", FormID: "terminanfrage", FormVersion: 1, FormHash: "0000000000000000000000000000000000000000000000000000000000000000",
		Locale: "de", Reference: submission.NewReference("LEJ", 2026), AccessTokenHash: submission.HashToken(token), Data: []byte(`{}`), RecordSHA256: []byte{0},
		Applicant: "Ria Anfrage", ContactEmail: "ria@example.org"}
	if ok, err := store.InsertSubmission(ctx, w.db, &s, nil); err != nil || !ok {
		t.Fatalf("insert case: %v %v", ok, err)
	}
	return s.ID, token
}

// TestOfferBookedOnce: staff offer three slots of a case; the citizen
// books one (booked at once, the booked mail queued, the offer closed);
// a second booking from the offer is refused, as is another office's
// staff; a slot taken meanwhile is no longer listed, and booking it
// anyway is refused with the offer left open.
func TestOfferBookedOnce(t *testing.T) {
	w := newWorld(t, 1)
	ctx := context.Background()
	a := booking.Access{OfficeID: w.office.ID, Actor: domain.StaffMember(0)}
	caseID, token := w.newRequest(t, w.office.ID)
	slots := w.slots(t, 7)
	offered := []store.OfferSlot{{CalendarID: w.calendar, Start: slots[0].Start}, {CalendarID: w.calendar, Start: slots[1].Start}, {CalendarID: w.calendar, Start: slots[2].Start}}

	if _, err := w.svc.Offer(ctx, booking.Access{OfficeID: w.other.ID, Actor: domain.StaffMember(0)}, caseID, offered); fault.KindOf(err) != fault.NotFound {
		t.Errorf("another office's offer: %v, want NotFound", err)
	}
	if _, err := w.svc.Offer(ctx, a, caseID, nil); messageOf(err) != "booking.error.offer_count" {
		t.Errorf("an offer of nothing: %v", err)
	}
	if _, err := w.svc.Offer(ctx, a, caseID, offered); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Offer(ctx, a, caseID, offered); messageOf(err) != "booking.error.offer_open" {
		t.Errorf("a second open offer: %v", err)
	}
	var offerMails int
	if err := w.db.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'mail.send' AND args->>'template' = 'offered'`).Scan(&offerMails); err != nil || offerMails != 1 {
		t.Errorf("%d offer mails (%v), want 1", offerMails, err)
	}
	open, err := w.svc.OpenOffer(ctx, w.office.ID, caseID)
	if err != nil || len(open.Slots) != 3 {
		t.Fatalf("open offer: %d slots, %v", len(open.Slots), err)
	}

	// Someone else takes the first slot meanwhile: refused, the offer stays.
	if _, err := w.svc.Hold(ctx, w.office, w.calendar, "terminanfrage", slots[0].Start); err != nil {
		t.Fatal(err)
	}
	open, err = w.svc.OpenOffer(ctx, w.office.ID, caseID)
	if err != nil || len(open.Slots) != 2 || !open.Slots[0].Slot.Start.Equal(slots[1].Start) || open.Slots[0].Slot.Free != 1 {
		t.Errorf("the open offer lists the taken slot, or not the others: %+v, %v", open.Slots, err)
	}
	if _, err := w.svc.BookOffered(ctx, token, w.calendar, slots[0].Start); messageOf(err) != "booking.error.slot_taken" {
		t.Errorf("a taken slot: %v", err)
	}
	if _, err := w.svc.BookOffered(ctx, token, w.calendar, slots[5].Start); messageOf(err) != "booking.error.offer_not_there" {
		t.Errorf("a slot not offered: %v", err)
	}
	b, err := w.svc.BookOffered(ctx, token, w.calendar, slots[1].Start)
	if err != nil {
		t.Fatal(err)
	}
	if b.State != store.BookingBooked || b.Email != "ria@example.org" || b.Name != "Ria Anfrage" {
		t.Errorf("the booking: %+v", b)
	}
	if got := w.mails(t, b.ID); len(got) == 0 || got[0] != "booking_booked" {
		t.Errorf("mails %v, want the booked mail first", got)
	}
	if _, err := w.svc.BookOffered(ctx, token, w.calendar, slots[2].Start); messageOf(err) != "booking.error.offer_closed" {
		t.Errorf("a second booking from the offer: %v", err)
	}
	var booked, openOffers, closed int
	if err := w.db.QueryRow(ctx, `SELECT (SELECT count(*) FROM booking WHERE state = 'booked'),
		(SELECT count(*) FROM booking_offer WHERE state = 'open'),
		(SELECT count(*) FROM booking_offer WHERE state = 'booked' AND booking_id = $1)`, b.ID).Scan(&booked, &openOffers, &closed); err != nil {
		t.Fatal(err)
	}
	if booked != 1 || openOffers != 0 || closed != 1 {
		t.Errorf("%d booked, %d open offers, %d closed by the booking; want 1, 0, 1", booked, openOffers, closed)
	}
	if _, err := w.svc.OpenOffer(ctx, w.office.ID, caseID); fault.KindOf(err) != fault.NotFound {
		t.Errorf("the closed offer is still open: %v", err)
	}
	if err := w.svc.Withdraw(ctx, a, caseID); fault.KindOf(err) != fault.NotFound {
		t.Errorf("withdrawing a closed offer: %v", err)
	}
}
