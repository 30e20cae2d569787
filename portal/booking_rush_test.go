package portal_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gesundheitsamt/portal/portal"
)

// rushHarness is the app with a rush threshold of 3 holds a minute, so
// one visitor is admitted every 20 seconds (3/60 a second), and with the
// in-memory connection's address (0.0.0.0) a trusted proxy, so that a
// visitor's X-Forwarded-For is its address.
func rushHarness(t testing.TB) *harness {
	t.Helper()
	return newHarness(t, map[string]string{"PORTAL_BOOKING_RUSH_HOLDS": "3", "PORTAL_TRUSTED_PROXIES": "0.0.0.0"})
}

// visitor is a browser at a client address of its own.
type visitor struct {
	*citizen
	addr string
}

func (h *harness) visitor(t testing.TB, addr string) visitor {
	return visitor{citizen: h.citizen(t), addr: addr}
}

func (v visitor) get(path string) (*http.Response, string) {
	v.t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("X-Forwarded-For", v.addr)
	return v.send(req)
}

func (v visitor) post(path string, form url.Values) (*http.Response, string) {
	v.t.Helper()
	if form.Get("_csrf") == "" {
		form.Set("_csrf", v.token)
	}
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", v.addr)
	return v.send(req)
}

// hold holds n different slots of the booking page, each a 303, and
// returns the page's slots.
func (v visitor) hold(t testing.TB, n int) []string {
	t.Helper()
	_, b := v.get(bookPath)
	free := slots(t, b)
	for i := range n {
		res, b := v.post(bookPath, url.Values{"kalender": {"vor-ort"}, "beginn": {free[i%len(free)]}})
		expectStatus(t, res, b, http.StatusSeeOther)
	}
	return free
}

// expectWaiting checks that b is the waiting room at position (German).
func expectWaiting(t testing.TB, b, position string) {
	t.Helper()
	expectContains(t, b, `role="status"`, "Sie sind auf Platz "+position+" der Warteschlange.", "Lassen Sie diese Seite geöffnet")
	expectNotContains(t, b, `name="beginn"`, `<form`)
}

// moveRush changes the rush rows (an SQL SET clause) and waits until the
// app sees it.
func (h *harness) moveRush(t testing.TB, set string) {
	t.Helper()
	if _, err := h.db.Exec(context.Background(), `UPDATE booking_rush SET `+set); err != nil {
		t.Fatal(err)
	}
	time.Sleep(portal.RushTTL + 100*time.Millisecond)
}

// TestRushBelowThreshold: holds up to the threshold leave the pages as
// they are.
func TestRushBelowThreshold(t *testing.T) {
	h := rushHarness(t)
	h.visitor(t, "192.0.2.1").hold(t, 3)
	res, b := h.visitor(t, "192.0.2.2").get(bookPath)
	expectStatus(t, res, b, http.StatusOK)
	slots(t, b)
	expectNotContains(t, b, "Warteschlange", `role="status"`)
	if n := h.count(t, "booking_rush"); n != 0 {
		t.Errorf("%d rushes below the threshold", n)
	}
}

// TestRushQueue: past the threshold new visitors queue in the order they
// came, one place per address; the first is admitted first and sees the
// slots while the second waits; a forged ticket is no admission; when
// the rush is over everybody sees the slots.
func TestRushQueue(t *testing.T) {
	h := rushHarness(t)
	trigger := h.visitor(t, "192.0.2.1")
	held := trigger.hold(t, 4)
	if n := h.count(t, "booking_rush"); n != 1 {
		t.Fatalf("%d rushes after 4 holds", n)
	}

	a := h.visitor(t, "198.51.100.1")
	res, b := a.get(bookPath)
	expectStatus(t, res, b, http.StatusOK)
	expectWaiting(t, b, "1")
	expectContains(t, b, "in weniger als einer Minute an der Reihe", `<meta http-equiv="refresh" content="10; url=`+bookPath+`">`)
	var cookie *http.Cookie
	for _, ck := range res.Cookies() {
		if ck.Name == "warteschlange" {
			cookie = ck
		}
	}
	if cookie == nil || !cookie.HttpOnly || !cookie.Secure || cookie.SameSite != http.SameSiteLaxMode || cookie.Path != bookPath || cookie.MaxAge < 60 {
		t.Fatalf("ticket cookie %+v", cookie)
	}
	if strings.Contains(cookie.Value, "198.51") {
		t.Errorf("the ticket carries the address: %s", cookie.Value)
	}

	bee := h.visitor(t, "198.51.100.2")
	_, b = bee.get(bookPath + "?lang=en")
	expectContains(t, b, `role="status"`, "You are number 2 in the queue.", "Keep this page open")
	_, b = bee.get(bookPath + "?lang=de")
	expectWaiting(t, b, "2")

	// The reloading turned off and on again, the query kept.
	_, b = bee.get(bookPath + "?kalender=vor-ort&neuladen=aus")
	expectWaiting(t, b, "2")
	expectNotContains(t, b, `http-equiv="refresh"`)
	expectContains(t, b, "lädt sich nicht von selbst neu", `href="`+bookPath+`?kalender=vor-ort&amp;neuladen=aus">Jetzt neu laden`,
		`href="`+bookPath+`?kalender=vor-ort">Automatisches Neuladen einschalten`)
	_, b = bee.get(bookPath + "?kalender=vor-ort")
	expectContains(t, b, `http-equiv="refresh"`, `href="`+bookPath+`?kalender=vor-ort&amp;neuladen=aus">Automatisches Neuladen ausschalten`)

	// The same address, a new session (no cookie): the same place.
	_, b = h.visitor(t, "198.51.100.1").get(bookPath)
	expectWaiting(t, b, "1")
	_, b = a.get(bookPath)
	expectWaiting(t, b, "1")

	// A hold without admission gets the waiting room, not a place.
	before := h.count(t, "booking")
	res, b = trigger.post(bookPath, url.Values{"kalender": {"vor-ort"}, "beginn": {held[5]}})
	expectStatus(t, res, b, http.StatusOK)
	expectWaiting(t, b, "3")
	expectContains(t, b, `url=`+bookPath+`"`)
	if n := h.count(t, "booking"); n != before {
		t.Errorf("%d bookings after a hold in the waiting room, want %d", n, before)
	}

	// 21 seconds in: one admitted.
	h.moveRush(t, `started_at = started_at - interval '21 seconds'`)
	res, b = a.get(bookPath)
	expectStatus(t, res, b, http.StatusOK)
	free := slots(t, b)
	expectNotContains(t, b, `role="status"`)
	_, b = bee.get(bookPath)
	expectWaiting(t, b, "1")
	res, b = a.post(bookPath, url.Values{"kalender": {"vor-ort"}, "beginn": {free[len(free)-1]}})
	expectStatus(t, res, b, http.StatusSeeOther)

	// The admitted ticket at another address, and a ticket claiming
	// number 1 with a made-up signature: new tickets at the back.
	c := h.visitor(t, "203.0.113.7")
	c.cookies["warteschlange"] = a.cookies["warteschlange"]
	_, b = c.get(bookPath)
	expectWaiting(t, b, "3")
	d := h.visitor(t, "203.0.113.8")
	rush, _, _ := strings.Cut(a.cookies["warteschlange"], ".")
	d.cookies["warteschlange"] = rush + ".1.AAAA"
	_, b = d.get(bookPath)
	expectWaiting(t, b, "4")
	expectContains(t, b, "voraussichtlich in etwa 2 Minuten") // number 5 at 100 s, 21 s in
	// The second's own address with a forged number 1: its own place.
	bee.cookies["warteschlange"] = rush + ".1." + strings.SplitN(bee.cookies["warteschlange"], ".", 3)[2]
	_, b = bee.get(bookPath)
	expectWaiting(t, b, "1")

	_, m := h.local("/metrics")
	expectContains(t, m, `portal_booking_rush_requests_total{outcome="admitted"} 2`, `portal_booking_rush_requests_total{outcome="waiting"}`,
		"portal_booking_rushes 1", "portal_booking_rush_tickets_total")

	// Over: the slots for everybody.
	h.moveRush(t, `until = now() - interval '1 second'`)
	for _, v := range []visitor{bee, d, h.visitor(t, "203.0.113.9")} {
		res, b = v.get(bookPath)
		expectStatus(t, res, b, http.StatusOK)
		slots(t, b)
	}
}

// TestRushReplaced: a rush that another process ended and started anew
// within the second this one keeps the old: a new visitor still queues,
// in the new rush.
func TestRushReplaced(t *testing.T) {
	h := rushHarness(t)
	h.visitor(t, "192.0.2.1").hold(t, 4)
	_, b := h.visitor(t, "198.51.100.1").get(bookPath) // the rush is kept
	expectWaiting(t, b, "1")
	if _, err := h.db.Exec(context.Background(), `UPDATE booking_rush SET rush = nextval('booking_rush_seq'), issued = 0`); err != nil {
		t.Fatal(err)
	}
	_, b = h.visitor(t, "198.51.100.2").get(bookPath)
	expectWaiting(t, b, "1")
}

// TestRushQuietReadsNothing: with no rush on, the check of a booking
// page asks the database once a second at most: a request with a
// cancelled context passes.
func TestRushQuietReadsNothing(t *testing.T) {
	h := rushHarness(t)
	if ok, err := h.srv.RushAdmits(context.Background(), "leipzig", "belehrung-infektionsschutz", ""); !ok || err != nil {
		t.Fatalf("first check: %v, %v", ok, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if ok, err := h.srv.RushAdmits(ctx, "leipzig", "belehrung-infektionsschutz", ""); !ok || err != nil {
		t.Errorf("check within a second with a cancelled context: %v, %v", ok, err)
	}
	time.Sleep(portal.RushTTL + 100*time.Millisecond)
	if _, err := h.srv.RushAdmits(ctx, "leipzig", "belehrung-infektionsschutz", ""); err == nil {
		t.Error("a second later the check read nothing: the state never expires")
	}
}

// BenchmarkRushAdmit is the check on the hot path: a quiet service, and
// an admitted visitor of a rush (signature and arithmetic).
func BenchmarkRushAdmit(b *testing.B) {
	h := rushHarness(b)
	ctx := context.Background()
	b.Run("quiet", func(b *testing.B) {
		for b.Loop() {
			if ok, err := h.srv.RushAdmits(ctx, "leipzig", "belehrung-infektionsschutz", ""); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
	h.visitor(b, "192.0.2.1").hold(b, 4)
	res, _ := h.get(bookPath) // from 0.0.0.0, as RushAdmits
	var ticket string
	for _, ck := range res.Cookies() {
		if ck.Name == "warteschlange" {
			ticket = ck.Value
		}
	}
	h.moveRush(b, `started_at = started_at - interval '1 hour'`)
	b.Run("admitted", func(b *testing.B) {
		for b.Loop() {
			if ok, err := h.srv.RushAdmits(ctx, "leipzig", "belehrung-infektionsschutz", ticket); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
}
