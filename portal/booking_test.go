package portal_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gesundheitsamt/portal/internal/mail/mailtest"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/submission"
)

var (
	slotButton = regexp.MustCompile(`name="beginn" value="(\d+)"`)
	mailLink   = regexp.MustCompile(`http://localhost:8080/termin/([A-Za-z0-9]+)`)
)

// bookingHarness is the app with its own job workers sending through a
// real SMTP server.
func bookingHarness(t *testing.T) (*harness, *mailtest.Sink) {
	t.Helper()
	sink := mailtest.Start(t)
	h := newHarness(t, map[string]string{"SMTP_URL": "smtp://" + sink.Addr})
	if err := h.app.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return h, sink
}

// slots returns the slot values of a booking page, in page order (the
// first free slot first).
func slots(t testing.TB, b string) []string {
	t.Helper()
	var out []string
	for _, m := range slotButton.FindAllStringSubmatch(b, -1) {
		// The first free slot is offered twice: on top and in its day.
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	if len(out) < 3 {
		t.Fatalf("%d slots on the page:\n%s", len(out), excerpt(b))
	}
	return out
}

// bookingOf returns the state and the slot's start (Unix seconds) of the
// booking the browser's hold path (/buchung/<token>) belongs to.
func (h *harness) bookingOf(t *testing.T, holdPath string) (state, start string) {
	t.Helper()
	var at time.Time
	err := h.db.QueryRow(context.Background(), `SELECT state, starts_at FROM booking WHERE token_hash = $1`,
		submission.HashToken(strings.TrimPrefix(holdPath, "/buchung/"))).Scan(&state, &at)
	if err != nil {
		t.Fatal(err)
	}
	return state, strconv.FormatInt(at.Unix(), 10)
}

const bookPath = "/amt/leipzig/leistungen/belehrung-infektionsschutz/termin"

// TestBookingWithoutJavaScript walks the whole way as a citizen does,
// with links and forms only: the service page's link, the week, a slot,
// the contact form (with a mistake first), the mail, whose link shows
// before it confirms, the booked page and its calendar file, a move and a
// cancellation, each a page on GET and a change on POST.
func TestBookingWithoutJavaScript(t *testing.T) {
	h, sink := bookingHarness(t)
	c := h.citizen(t)

	_, b := c.get("/amt/leipzig/leistungen/belehrung-infektionsschutz")
	expectContains(t, b, `href="`+bookPath+`"`, "Termin vereinbaren")
	_, b = c.get("/amt/leipzig/leistungen/belehrung-infektionsschutz?lang=en")
	expectContains(t, b, "Book an appointment")
	_, b = c.get("/amt/leipzig/leistungen/belehrung-infektionsschutz?lang=de")

	res, b := c.get(bookPath)
	expectStatus(t, res, b, http.StatusOK)
	expectContains(t, b, "Nächster freier Termin", "Sprechstunde vor Ort", `name="kalender" value="vor-ort"`)
	free := slots(t, b)
	first := free[0]

	res, b = c.post(bookPath, url.Values{"kalender": {"vor-ort"}, "beginn": {first}})
	expectStatus(t, res, b, http.StatusSeeOther)
	hold := res.Header.Get("Location")
	if !strings.HasPrefix(hold, "/buchung/") {
		t.Fatalf("hold went to %q", hold)
	}
	res, b = c.get(hold)
	expectStatus(t, res, b, http.StatusOK)
	expectContains(t, b, "Wir halten diesen Termin bis", `name="email"`)
	if s, _ := h.bookingOf(t, hold); s != store.BookingHeld {
		t.Fatalf("after choosing: %s", s)
	}

	// Others take the slot's other places; then it is taken, said so,
	// and the week shown again.
	other := h.citizen(t)
	other.get(bookPath)
	for range 50 {
		if res, b = other.post(bookPath, url.Values{"kalender": {"vor-ort"}, "beginn": {first}}); res.StatusCode != http.StatusSeeOther {
			break
		}
	}
	expectStatus(t, res, b, http.StatusConflict)
	expectContains(t, b, "gerade vergeben", `name="beginn"`)

	res, b = c.post(hold, url.Values{"name": {"Anna Schmidt"}, "email": {"anna@"}, "phone": {""}})
	expectStatus(t, res, b, http.StatusUnprocessableEntity)
	expectContains(t, b, "name@beispiel.de", `value="Anna Schmidt"`, `value="anna@"`, `aria-invalid="true"`, `href="#booking-email"`)

	res, b = c.post(hold, url.Values{"name": {"Anna Schmidt"}, "email": {"anna@example.org"}, "phone": {"0341 123456"}})
	expectStatus(t, res, b, http.StatusSeeOther)
	_, b = c.follow(res, b)
	expectContains(t, b, "Bitte bestätigen Sie Ihren Termin", "E-Mail noch einmal senden")

	confirm := waitMails(t, sink, "anna@example.org", 1)[0]
	m := mailLink.FindStringSubmatch(confirm.Text)
	if m == nil {
		t.Fatalf("no link in the confirmation mail:\n%s", confirm.Text)
	}
	link := "/termin/" + m[1]
	if strings.Contains(hold, m[1]) {
		t.Fatal("the mail's link carries the browser's token: no double opt-in")
	}

	// A scanner opening the link confirms nothing.
	scanner := h.citizen(t)
	res, b = scanner.get(link)
	expectStatus(t, res, b, http.StatusOK)
	expectContains(t, b, "Termin verbindlich buchen")
	if s, _ := h.bookingOf(t, hold); s != store.BookingUnconfirmed {
		t.Fatalf("after the GET of the mail's link: %s", s)
	}
	c.get(link)
	res, b = c.post(link, url.Values{})
	expectStatus(t, res, b, http.StatusSeeOther)
	_, b = c.follow(res, b)
	expectContains(t, b, "Ihr Termin ist verbindlich gebucht", "Bitte mitbringen", link+"/absagen", link+"/verschieben", link+"/termin.ics")
	if s, _ := h.bookingOf(t, hold); s != store.BookingBooked {
		t.Fatalf("after the confirmation: %s", s)
	}
	if got := waitMails(t, sink, "anna@example.org", 2); !strings.Contains(got[1].Text, "gebucht") || !strings.Contains(got[1].Text, link+"/absagen") {
		t.Errorf("the booked mail:\n%s", got[1].Text)
	}
	// The link used twice: still booked, no error.
	res, b = c.post(link, url.Values{"_csrf": {c.token}})
	expectStatus(t, res, b, http.StatusSeeOther)

	res, b = c.get(link + "/termin.ics")
	expectStatus(t, res, b, http.StatusOK)
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/calendar") || !strings.Contains(b, "BEGIN:VEVENT") {
		t.Errorf("calendar file: %s\n%s", ct, excerpt(b))
	}

	// The same address for another slot of the same service: refused.
	second := h.citizen(t)
	second.get(bookPath)
	res, b = second.post(bookPath, url.Values{"kalender": {"vor-ort"}, "beginn": {free[2]}})
	expectStatus(t, res, b, http.StatusSeeOther)
	again := res.Header.Get("Location")
	second.get(again)
	res, b = second.post(again, url.Values{"name": {"Anna Schmidt"}, "email": {"ANNA@example.org"}})
	expectStatus(t, res, b, http.StatusConflict)
	expectContains(t, b, "schon ein Termin", `value="ANNA@example.org"`)

	// Move: the page shows the weeks; the POST moves.
	res, b = c.get(link + "/verschieben")
	expectStatus(t, res, b, http.StatusOK)
	expectContains(t, b, "Termin verschieben", "Bisheriger Termin")
	target := ""
	for _, v := range slots(t, b) {
		if v != first && v != free[2] {
			target = v
			break
		}
	}
	res, b = c.post(link+"/verschieben", url.Values{"kalender": {"vor-ort"}, "beginn": {first}})
	expectStatus(t, res, b, http.StatusUnprocessableEntity)
	expectContains(t, b, "schon Ihr Termin")
	res, b = c.post(link+"/verschieben", url.Values{"kalender": {"vor-ort"}, "beginn": {target}})
	expectStatus(t, res, b, http.StatusSeeOther)
	_, b = c.follow(res, b)
	expectContains(t, b, "Ihr Termin ist verschoben")
	if s, at := h.bookingOf(t, hold); s != store.BookingBooked || at != target {
		t.Errorf("after the move: %s at %s, want booked at %s", s, at, target)
	}
	if got := waitMails(t, sink, "anna@example.org", 3); !strings.Contains(got[2].Text, link+"/verschieben") {
		t.Errorf("the move's mail:\n%s", got[2].Text)
	}

	// Cancel: the GET asks, the POST cancels and frees the slot.
	res, b = c.get(link + "/absagen")
	expectStatus(t, res, b, http.StatusOK)
	expectContains(t, b, "Möchten Sie diesen Termin absagen?")
	if s, _ := h.bookingOf(t, hold); s != store.BookingBooked {
		t.Fatalf("after the GET of the cancel link: %s", s)
	}
	res, b = c.post(link+"/absagen", url.Values{})
	expectStatus(t, res, b, http.StatusSeeOther)
	_, b = c.follow(res, b)
	expectContains(t, b, "Ihr Termin ist abgesagt")
	if s, _ := h.bookingOf(t, hold); s != store.BookingCancelled {
		t.Errorf("after the cancellation: %s", s)
	}
	res, b = c.post(link+"/verschieben", url.Values{"kalender": {"vor-ort"}, "beginn": {free[1]}})
	expectStatus(t, res, b, http.StatusConflict)
	expectContains(t, b, "abgesagt", `href="#booking-error"`, `id="booking-error"`)
	// The move's page of a cancelled booking says why there is nothing
	// to choose; an old "confirmed" address says nothing of a
	// confirmation.
	_, b = c.get(link + "/verschieben")
	expectContains(t, b, "Dieser Termin lässt sich nicht mehr verschieben.")
	_, b = c.get(link + "?erledigt=bestaetigt")
	expectNotContains(t, b, "Ihr Termin ist verbindlich gebucht.")

	if got := waitMails(t, sink, "anna@example.org", 4); !strings.Contains(got[3].Text, "abgesagt") || strings.Contains(got[3].Text, link) {
		t.Errorf("the cancellation mail:\n%s", got[3].Text)
	}
}

// TestBookingRefusals: what is not a slot, not a link or not in the
// horizon gets a clear answer, never a 500.
func TestBookingRefusals(t *testing.T) {
	h := newHarness(t, nil)
	c := h.citizen(t)
	_, b := c.get(bookPath)
	free := slots(t, b)
	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		want   string
	}{
		{"not a number", url.Values{"kalender": {"vor-ort"}, "beginn": {"morgen"}}, http.StatusUnprocessableEntity, "gibt es nicht"},
		{"not at a slot's start", url.Values{"kalender": {"vor-ort"}, "beginn": {strconv.FormatInt(time.Now().Add(50*time.Hour).Unix()|1, 10)}}, http.StatusUnprocessableEntity, "gibt es nicht"},
		{"beyond the horizon", url.Values{"kalender": {"vor-ort"}, "beginn": {strconv.FormatInt(time.Now().AddDate(1, 0, 0).Truncate(time.Hour).Unix(), 10)}}, http.StatusUnprocessableEntity, "gibt es nicht"},
		{"in the past", url.Values{"kalender": {"vor-ort"}, "beginn": {strconv.FormatInt(time.Now().Add(-24*time.Hour).Truncate(time.Hour).Unix(), 10)}}, http.StatusUnprocessableEntity, "gibt es nicht"},
		{"another office's calendar", url.Values{"kalender": {"nirgendwo"}, "beginn": {free[0]}}, http.StatusUnprocessableEntity, "gibt es nicht"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, b := c.post(bookPath, tc.form)
			expectStatus(t, res, b, tc.status)
			expectContains(t, b, tc.want)
		})
	}
	for _, path := range []string{"/buchung/AAAAAAAAAAAAAAAAAAAAAAAAAA", "/termin/AAAAAAAAAAAAAAAAAAAAAAAAAA", "/termin/x/absagen", "/termin/x/verschieben", "/termin/x/termin.ics"} {
		if res, b := c.get(path); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d\n%s", path, res.StatusCode, excerpt(b))
		}
	}
	if res, b := c.post("/termin/AAAAAAAAAAAAAAAAAAAAAAAAAA", url.Values{}); res.StatusCode != http.StatusNotFound {
		t.Errorf("POST an unknown link: %d\n%s", res.StatusCode, excerpt(b))
	}
	// A service the office does not book directly has no booking pages.
	if res, _ := c.get("/amt/leipzig/leistungen/masernschutz-nachweis/termin"); res.StatusCode != http.StatusNotFound {
		t.Errorf("a service without calendars: %d", res.StatusCode)
	}
	_, b = c.get("/amt/leipzig/leistungen/masernschutz-nachweis")
	if strings.Contains(b, "/termin\"") {
		t.Error("a service without calendars offers booking")
	}
	// Without the CSRF token nothing is held.
	res, _ := c.post(bookPath, url.Values{"_csrf": {"x"}, "kalender": {"vor-ort"}, "beginn": {free[0]}})
	if res.StatusCode != http.StatusForbidden || h.count(t, "booking") != 0 {
		t.Errorf("a post without the token: %d, %d bookings", res.StatusCode, h.count(t, "booking"))
	}
	// Contact details, wrong ones even, for a hold that lapsed: the
	// lapse is what the page says, not the fields of a form it no longer
	// shows.
	res, b = c.post(bookPath, url.Values{"kalender": {"vor-ort"}, "beginn": {free[0]}})
	expectStatus(t, res, b, http.StatusSeeOther)
	hold := res.Header.Get("Location")
	if _, err := h.db.Exec(context.Background(), `UPDATE booking SET expires_at = now() - interval '1 minute' WHERE token_hash = $1`,
		submission.HashToken(strings.TrimPrefix(hold, "/buchung/"))); err != nil {
		t.Fatal(err)
	}
	c.get(hold)
	res, b = c.post(hold, url.Values{"name": {""}, "email": {"kein-at"}})
	expectStatus(t, res, b, http.StatusConflict)
	expectContains(t, b, "Die Reservierung dieses Termins ist abgelaufen.", `href="#booking-state"`)
	expectNotContains(t, b, `href="#booking-name"`, `href="#booking-email"`)
}

// TestBookingChoosesACalendar: a service two calendars serve asks first
// how the appointment is to be held.
// TestBookingPageAtOnce asks for a week's page from many new visitors at
// once, as a rush does when the page kept for everyone turns over: each
// gets the whole page with a CSRF token of its own, all see the same free
// slots, and a token works.
func TestBookingPageAtOnce(t *testing.T) {
	h := newHarness(t, nil)
	const n = 24
	visitors := make([]*citizen, n)
	pages := make([]string, n)
	var wg sync.WaitGroup
	for i := range visitors {
		visitors[i] = h.citizen(t)
		wg.Go(func() {
			res, b := visitors[i].get(bookPath + "?kalender=vor-ort")
			if res.StatusCode != http.StatusOK {
				t.Errorf("visitor %d: status %d", i, res.StatusCode)
			}
			pages[i] = b
		})
	}
	wg.Wait()
	want := slots(t, pages[0])
	tokens := map[string]bool{}
	for i, v := range visitors {
		if got := slots(t, pages[i]); !slices.Equal(got, want) {
			t.Errorf("visitor %d sees slots %v, the first %v", i, got[:3], want[:3])
		}
		tokens[v.token] = true
	}
	if len(tokens) != n || tokens[""] {
		t.Fatalf("%d distinct CSRF tokens for %d visitors", len(tokens), n)
	}
	last := visitors[n-1]
	res, b := last.post(bookPath, url.Values{"kalender": {"vor-ort"}, "beginn": {want[0]}})
	expectStatus(t, res, b, http.StatusSeeOther)
}

func TestBookingChoosesACalendar(t *testing.T) {
	h := newHarness(t, nil)
	c := h.citizen(t)
	res, b := c.get("/amt/halle/leistungen/reiseimpfberatung/termin")
	expectStatus(t, res, b, http.StatusOK)
	expectContains(t, b, "Wie möchten Sie den Termin wahrnehmen?", "?kalender=vor-ort", "?kalender=video")
	if strings.Contains(b, `name="beginn"`) {
		t.Error("slots shown before the choice")
	}
	_, b = c.get("/amt/halle/leistungen/reiseimpfberatung/termin?kalender=video")
	expectContains(t, b, "Videosprechstunde", `name="kalender" value="video"`)
	slots(t, b)
}

// TestHoldOfAFullSlot: a hold of a slot whose places are all held is
// refused with the week again, which no longer offers the slot, also
// when the week was kept from an earlier refusal that offered it.
func TestHoldOfAFullSlot(t *testing.T) {
	h := newHarness(t, map[string]string{"PORTAL_BOOKING_RUSH_HOLDS": "0"})
	c := h.citizen(t)
	_, b := c.get(bookPath)
	free := slots(t, b)
	fill := func(slot string) string {
		t.Helper()
		for n := 0; n < 12; n++ {
			res, b := c.post(bookPath, url.Values{"kalender": {"vor-ort"}, "beginn": {slot}})
			if res.StatusCode == http.StatusConflict {
				expectContains(t, b, "Dieser Termin ist gerade vergeben worden.", `href="#booking-error"`)
				return b
			}
			expectStatus(t, res, b, http.StatusSeeOther)
		}
		t.Fatalf("slot %s never full", slot)
		return ""
	}
	// Two slots of one day, so that their refusals show the same week.
	at := func(v string) time.Time {
		n, _ := strconv.ParseInt(v, 10, 64)
		return time.Unix(n, 0).In(h.app.Location)
	}
	x, y := free[0], ""
	for _, v := range free[1:] {
		if at(v).YearDay() == at(x).YearDay() {
			y = v
			break
		}
	}
	if y == "" {
		t.Fatalf("no second slot on the day of %s among %v", x, free)
	}
	b = fill(x)
	if strings.Contains(b, `value="`+x+`"`) || !strings.Contains(b, `value="`+y+`"`) {
		t.Errorf("the refusal's week offers the full slot %s, or not the free %s:\n%s", x, y, excerpt(b))
	}
	res, b := c.post(bookPath, url.Values{"kalender": {"vor-ort"}, "beginn": {x}})
	expectStatus(t, res, b, http.StatusConflict)
	if strings.Contains(b, `value="`+x+`"`) {
		t.Errorf("the second refusal offers the full slot %s", x)
	}
	b = fill(y)
	if strings.Contains(b, `value="`+y+`"`) {
		t.Errorf("the refusal of %s shows a kept week that offers it:\n%s", y, excerpt(b))
	}
	var held int
	if err := h.db.QueryRow(context.Background(), `SELECT count(*) FROM booking WHERE starts_at = to_timestamp($1)`, x).Scan(&held); err != nil || held == 0 {
		t.Errorf("bookings of %s: %d, %v", x, held, err)
	}
}
