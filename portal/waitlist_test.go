package portal_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gesundheitsamt/portal/internal/booking"
	"github.com/gesundheitsamt/portal/internal/store"
)

var waitlistPath = regexp.MustCompile(`^/warteliste/[A-Za-z0-9]+$`)

// fillCalendar makes Leipzig's on-site calendar book only as far ahead
// as its first free slot, in whole days, with every place within that
// horizon held, and returns the holds. The horizon follows the first
// free slot so that a Friday, a weekend or a holiday still leaves places
// to fill.
func fillCalendar(t *testing.T, h *harness) []booking.Hold {
	t.Helper()
	ctx := context.Background()
	o, err := store.GetOfficeBySlug(ctx, h.db, "leipzig")
	if err != nil {
		t.Fatal(err)
	}
	cal, err := store.GetCalendarBySlug(ctx, h.db, o.ID, "vor-ort")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	first, ok, err := h.app.Booking.FirstFree(ctx, o, cal.ID, now)
	if err != nil || !ok {
		t.Fatalf("the calendar had no places to fill (%v)", err)
	}
	horizon := int(first.Start.Sub(now)/(24*time.Hour)) + 1
	if _, err := h.db.Exec(ctx, `UPDATE calendar SET horizon_days = $2 WHERE id = $1`, cal.ID, horizon); err != nil {
		t.Fatal(err)
	}
	time.Sleep(booking.DefaultPlanTTL + 100*time.Millisecond) // the calendar as read before is forgotten
	_, days, err := h.app.Booking.Availability(ctx, o, cal.ID, now, now.AddDate(0, 0, horizon+1))
	if err != nil {
		t.Fatal(err)
	}
	var holds []booking.Hold
	for _, d := range days {
		for _, sl := range d.Slots {
			for range sl.Free {
				hold, err := h.app.Booking.Hold(ctx, o, cal.ID, "belehrung-infektionsschutz", sl.Start)
				if err != nil {
					t.Fatal(err)
				}
				holds = append(holds, hold)
			}
		}
	}
	if len(holds) == 0 {
		t.Fatal("the calendar had no places to fill")
	}
	return holds
}

// TestWaitlistWithoutJavaScript: a full calendar offers its waiting list;
// wrong details are shown with what was typed; two citizens join and see
// their place. A place that frees is offered to the first by mail, whose
// link books it; the second leaves the list.
func TestWaitlistWithoutJavaScript(t *testing.T) {
	h, sink := bookingHarness(t)
	holds := fillCalendar(t, h)
	anna, bernd := h.citizen(t), h.citizen(t)

	res, b := anna.get(bookPath)
	expectStatus(t, res, b, http.StatusOK)
	expectContains(t, b, "Auf die Warteliste", `action="`+bookPath+`/warteliste"`, `id="waitlist-email"`, "2 Stunden")
	expectNotContains(t, b, `name="beginn"`)
	_, en := h.citizen(t).get(bookPath + "?lang=en")
	expectContains(t, en, "Join the waiting list", "2 hours")

	res, b = anna.post(bookPath+"/warteliste", url.Values{"kalender": {"vor-ort"}, "name": {"Anna Schmidt"}, "email": {"anna@"}})
	expectStatus(t, res, b, http.StatusUnprocessableEntity)
	expectContains(t, b, `value="Anna Schmidt"`, `value="anna@"`, `aria-invalid="true"`, `href="#waitlist-email"`)
	res, b = anna.post(bookPath+"/warteliste", url.Values{"kalender": {"unbekannt"}, "name": {"Anna Schmidt"}, "email": {"anna@example.org"}})
	expectStatus(t, res, b, http.StatusNotFound)

	join := func(c *citizen, name, email string) string {
		t.Helper()
		c.get(bookPath)
		res, b := c.post(bookPath+"/warteliste", url.Values{"kalender": {"vor-ort"}, "name": {name}, "email": {email}})
		expectStatus(t, res, b, http.StatusSeeOther)
		entry := res.Header.Get("Location")
		if !waitlistPath.MatchString(entry) {
			t.Fatalf("joining went to %q", entry)
		}
		return entry
	}
	annaEntry := join(anna, "Anna Schmidt", "anna@example.org")
	berndEntry := join(bernd, "Bernd Weber", "bernd@example.org")
	res, b = bernd.get(berndEntry)
	expectStatus(t, res, b, http.StatusOK)
	expectContains(t, b, "Sie stehen auf der Warteliste", "Ihr Platz in der Reihe</dt><dd>2<", "Von der Warteliste löschen")
	res, b = anna.post(bookPath+"/warteliste", url.Values{"kalender": {"vor-ort"}, "name": {"Anna S."}, "email": {"ANNA@example.org"}})
	expectStatus(t, res, b, http.StatusConflict)
	expectContains(t, b, "schon auf der Warteliste")

	// A place frees: the sweep it queues offers it to anna.
	if _, err := h.app.Booking.Release(context.Background(), holds[0].Token); err != nil {
		t.Fatal(err)
	}
	offer := waitMails(t, sink, "anna@example.org", 1)[0]
	if !strings.Contains(offer.Subject, "Ein Termin ist für Sie frei geworden") {
		t.Fatalf("the offer mail: %s", offer.Subject)
	}
	m := mailLink.FindStringSubmatch(offer.Text)
	if m == nil {
		t.Fatalf("no link in the offer mail:\n%s", offer.Text)
	}
	_, b = anna.get(annaEntry)
	expectContains(t, b, "Für Sie ist ein Termin reserviert")
	link := "/termin/" + m[1]
	res, b = anna.get(link)
	expectStatus(t, res, b, http.StatusOK)
	expectContains(t, b, "Termin verbindlich buchen")
	res, b = anna.post(link, url.Values{})
	expectStatus(t, res, b, http.StatusSeeOther)
	_, b = anna.follow(res, b)
	expectContains(t, b, "Ihr Termin ist verbindlich gebucht")
	res, b = anna.get(annaEntry)
	expectStatus(t, res, b, http.StatusNotFound)

	_, b = bernd.get(berndEntry)
	expectContains(t, b, "Ihr Platz in der Reihe</dt><dd>1<")
	res, b = bernd.post(berndEntry+"/verlassen", url.Values{})
	expectStatus(t, res, b, http.StatusOK)
	expectContains(t, b, "Ihr Eintrag ist gelöscht", `href="`+bookPath+`"`)
	res, b = bernd.get(berndEntry)
	expectStatus(t, res, b, http.StatusNotFound)
	var entries int
	if err := h.db.QueryRow(context.Background(), `SELECT count(*) FROM booking_waitlist`).Scan(&entries); err != nil || entries != 0 {
		t.Fatalf("%d entries left (%v)", entries, err)
	}
}
