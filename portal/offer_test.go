package portal_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/store"
)

// offerBox is a slot checkbox of the case page's offer form.
var offerBox = regexp.MustCompile(`name="termin" type="checkbox" value="([0-9]+-[0-9]+)"`)

// submitTermin submits an appointment request at Leipzig and returns
// its case id and status page.
func submitTermin(t *testing.T, h *harness) (int64, string) {
	t.Helper()
	c := h.citizen(t)
	fillTermin(t, c)
	res, b := c.post(terminBase+"/absenden", url.Values{"consent": {"ja"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("submit: %d\n%s", res.StatusCode, excerpt(b))
	}
	status := strings.TrimSuffix(res.Header.Get("Location"), "/eingang")
	var id int64
	if err := h.db.QueryRow(context.Background(), `SELECT max(id) FROM submission WHERE form_id = 'terminanfrage'`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id, status
}

// fillSlot holds every place of the Leipzig slot of value (an offer's
// <calendar id>-<Unix seconds>) for other citizens.
func fillSlot(t *testing.T, h *harness, value string) {
	t.Helper()
	ctx := context.Background()
	o, err := store.GetOfficeBySlug(ctx, h.db, "leipzig")
	if err != nil {
		t.Fatal(err)
	}
	cal, at, _ := strings.Cut(value, "-")
	calID, err1 := strconv.ParseInt(cal, 10, 64)
	unix, err2 := strconv.ParseInt(at, 10, 64)
	services, err := store.ListCalendarServices(ctx, h.db, o.ID, calID)
	if err1 != nil || err2 != nil || err != nil || len(services) == 0 {
		t.Fatalf("slot %q: %v %v %v, services %v", value, err1, err2, err, services)
	}
	for n := 0; ; n++ {
		_, err := h.app.Booking.Hold(ctx, o, calID, services[0], time.Unix(unix, 0))
		if fault.KindOf(err) == fault.Conflict && n > 0 {
			return
		}
		if err != nil || n > 50 {
			t.Fatalf("hold %d of %s: %v", n, value, err)
		}
	}
}

// TestOfferFromRequest: a caseworker answers an appointment request with
// three of the office's free slots; the citizen is told by mail, finds
// them on the status page (a slot others took meanwhile no longer among
// them) and books one with its button, at once; a second booking from
// the offer is refused, with the page saying why.
// Another office's staff get 404 for the case and its offer forms; a
// form without the CSRF token changes nothing.
func TestOfferFromRequest(t *testing.T) {
	h, sink := bookingHarness(t)
	ctx := context.Background()
	caseID, status := submitTermin(t, h)
	staff := h.logIn(t, "sb@leipzig.test", h.addStaff(t, "leipzig", "sb@leipzig.test", "caseworker", testTOTP))
	casePath := fmt.Sprintf("/staff/faelle/%d", caseID)

	res, b := staff.get(casePath)
	expectStatus(t, res, b, http.StatusOK)
	expectContains(t, b, "Termine anbieten", `action="`+casePath+`/angebot"`, "Sprechstunde vor Ort")
	boxes := offerBox.FindAllStringSubmatch(b, -1)
	if len(boxes) < 6 {
		t.Fatalf("%d free slots on the case page, want at least 6\n%s", len(boxes), excerpt(b))
	}
	chosen := []string{boxes[0][1], boxes[1][1], boxes[2][1]}

	// None ticked, and six: refused, with the ticked ones kept.
	res, b = staff.post(casePath+"/angebot", url.Values{})
	expectStatus(t, res, b, http.StatusUnprocessableEntity)
	expectContains(t, b, "Wählen Sie mindestens einen und höchstens fünf Termine.", `href="#offer-heading"`)
	six := url.Values{"termin": {boxes[0][1], boxes[1][1], boxes[2][1], boxes[3][1], boxes[4][1], boxes[5][1]}}
	res, b = staff.post(casePath+"/angebot", six)
	expectStatus(t, res, b, http.StatusUnprocessableEntity)
	expectContains(t, b, `value="`+boxes[5][1]+`" checked`)
	res, b = staff.post(casePath+"/angebot", url.Values{"termin": {"1-1"}})
	expectStatus(t, res, b, http.StatusUnprocessableEntity)
	expectContains(t, b, "nicht mehr buchbar")

	// Another office's admin: 404 for the case and both forms.
	halle := h.logIn(t, "admin@halle.test", h.addStaff(t, "halle", "admin@halle.test", "admin", testTOTP))
	for _, p := range []string{"/angebot", "/angebot/zurueckziehen"} {
		res, b = halle.post(casePath+p, url.Values{"termin": chosen})
		expectStatus(t, res, b, http.StatusNotFound)
	}
	// A wrong CSRF token: refused.
	if res, _ := staff.post(casePath+"/angebot", url.Values{"termin": chosen, "_csrf": {"x"}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("an offer with a wrong CSRF token: %d, want 403", res.StatusCode)
	}
	if n := h.count(t, "booking_offer"); n != 0 {
		t.Fatalf("%d offers after the refused forms, want 0", n)
	}

	res, b = staff.post(casePath+"/angebot", url.Values{"termin": chosen})
	expectLocation(t, res, casePath+"?geaendert=1")
	_, b = staff.get(casePath)
	expectContains(t, b, "Termine angeboten am", "Angebot zurückziehen", "Das Gesundheitsamt hat Ihnen Termine angeboten.")
	expectNotContains(t, b, `name="termin" type="checkbox"`)
	var audited int
	if err := h.db.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'appointment.offer'`).Scan(&audited); err != nil || audited != 1 {
		t.Errorf("%d audit entries of the offer (%v), want 1", audited, err)
	}

	// The citizen: a mail with the status link, the slots with buttons.
	offer := waitMails(t, sink, "lukasz@example.org", 1)[0]
	if !strings.HasPrefix(offer.Subject, "Terminangebot") || !strings.Contains(offer.Text, status) {
		t.Errorf("the offer mail %q has no link to the status page:\n%s", offer.Subject, offer.Text)
	}
	anna := h.citizen(t)
	res, b = anna.get(status)
	expectStatus(t, res, b, http.StatusOK)
	expectContains(t, b, "Angebotene Termine", "Diesen Termin buchen", `name="termin" value="`+chosen[0]+`"`, `value="`+chosen[2]+`"`)
	_, en := h.citizen(t).get(status + "?lang=en")
	expectContains(t, en, "Appointments offered", "Book this appointment")
	// Every place of the third slot taken by others: no longer listed.
	fillSlot(t, h, chosen[2])
	_, b = anna.get(status)
	expectContains(t, b, `value="`+chosen[0]+`"`)
	expectNotContains(t, b, `value="`+chosen[2]+`"`)

	res, b = anna.post(status+"/termin", url.Values{"termin": {boxes[4][1]}})
	expectStatus(t, res, b, http.StatusUnprocessableEntity)
	expectContains(t, b, "gehört nicht zu dem Angebot", `href="#offer-heading"`)
	res, b = anna.post(status+"/termin", url.Values{"termin": {chosen[1]}})
	expectLocation(t, res, status+"?termin=gebucht")
	_, b = anna.follow(res, b)
	expectContains(t, b, "Ihr Termin ist gebucht.", "Termin gebucht für")
	expectNotContains(t, b, "Diesen Termin buchen")
	booked := waitMails(t, sink, "lukasz@example.org", 2)[1]
	if len(booked.Attachments) == 0 || !strings.HasSuffix(booked.Attachments[0], ".ics") {
		t.Errorf("the booked mail: %q with attachments %v, want an ICS", booked.Subject, booked.Attachments)
	}

	// A second booking from the offer (another tab): refused, said.
	res, b = anna.post(status+"/termin", url.Values{"termin": {chosen[2]}})
	expectStatus(t, res, b, http.StatusConflict)
	expectContains(t, b, "Dieses Terminangebot gilt nicht mehr")
	var bookings int
	if err := h.db.QueryRow(ctx, `SELECT count(*) FROM booking WHERE state = 'booked'`).Scan(&bookings); err != nil || bookings != 1 {
		t.Errorf("%d bookings (%v), want 1", bookings, err)
	}
	// The case page offers new slots again; withdrawing has nothing left.
	res, b = staff.post(casePath+"/angebot/zurueckziehen", url.Values{})
	expectStatus(t, res, b, http.StatusConflict)
	expectContains(t, b, "Es gibt kein offenes Angebot mehr", `name="termin" type="checkbox"`)
}

// TestOfferWithdrawnAndWithoutEmail: a withdrawn offer leaves the status
// page, and its slots cannot be booked; a request without an e-mail
// address gets no offer form, only the reason.
func TestOfferWithdrawnAndWithoutEmail(t *testing.T) {
	h, _ := bookingHarness(t)
	caseID, status := submitTermin(t, h)
	staff := h.logIn(t, "sb@leipzig.test", h.addStaff(t, "leipzig", "sb@leipzig.test", "caseworker", testTOTP))
	casePath := fmt.Sprintf("/staff/faelle/%d", caseID)
	_, b := staff.get(casePath)
	boxes := offerBox.FindAllStringSubmatch(b, -1)
	if len(boxes) == 0 {
		t.Fatalf("no free slots on the case page\n%s", excerpt(b))
	}
	res, b := staff.post(casePath+"/angebot", url.Values{"termin": {boxes[0][1]}})
	expectLocation(t, res, casePath+"?geaendert=1")
	anna := h.citizen(t)
	_, b = anna.get(status) // a tab open while the offer is withdrawn
	expectContains(t, b, "Diesen Termin buchen")
	res, b = staff.post(casePath+"/angebot/zurueckziehen", url.Values{})
	expectLocation(t, res, casePath+"?geaendert=1")

	_, b = h.citizen(t).get(status)
	expectContains(t, b, "Das Gesundheitsamt hat das Terminangebot zurückgezogen.")
	expectNotContains(t, b, "Diesen Termin buchen")
	res, b = anna.post(status+"/termin", url.Values{"termin": {boxes[0][1]}})
	expectStatus(t, res, b, http.StatusConflict)
	expectContains(t, b, "Dieses Terminangebot gilt nicht mehr")
	if n := h.count(t, "booking"); n != 0 {
		t.Errorf("%d bookings from a withdrawn offer", n)
	}

	if _, err := h.db.Exec(context.Background(), `UPDATE submission SET contact_email = '' WHERE id = $1`, caseID); err != nil {
		t.Fatal(err)
	}
	_, b = staff.get(casePath)
	expectContains(t, b, "Die Anfrage enthält keine E-Mail-Adresse.")
	expectNotContains(t, b, `name="termin" type="checkbox"`)
	res, b = staff.post(casePath+"/angebot", url.Values{"termin": {boxes[1%len(boxes)][1]}})
	expectStatus(t, res, b, http.StatusUnprocessableEntity)
	expectContains(t, b, "ein Terminangebot lässt sich nur per E-Mail senden")
}
