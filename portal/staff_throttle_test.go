package portal_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// The rate limit of logins per client address is counted in one
// statement: of 60 logins sent at once over real connections, exactly 30
// (the limit) reach the password check; the others are refused before
// it. Before, each request read the count and then wrote it, and all 60
// went through.
func TestParallelLoginsMeetTheRateLimit(t *testing.T) {
	h := newHarness(t, nil)
	h.addStaff(t, "leipzig", "ziel@leipzig.test", "caseworker", testTOTP)
	base := h.listen()
	s := h.openFeedbackForm(t) // any page: the CSRF cookie and a token
	var wg sync.WaitGroup
	statuses := make(chan int, 60)
	for range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			form := url.Values{"_csrf": {s.token}, "email": {"ziel@leipzig.test"}, "password": {"falsch-falsch"}}
			req, _ := http.NewRequest(http.MethodPost, base+"/staff/login", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Cookie", s.cookie)
			res, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Error(err)
				return
			}
			res.Body.Close()
			statuses <- res.StatusCode
		}()
	}
	wg.Wait()
	close(statuses)
	var checked int
	if err := h.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE action IN ('login.failed', 'login.throttled')`).Scan(&checked); err != nil {
		t.Fatal(err)
	}
	n := 0
	for range statuses {
		n++
	}
	if checked != 30 || n != 60 {
		t.Errorf("%d of %d parallel logins reached the password check, want the limit of 30", checked, n)
	}
}

// A stranger who knows an address and guesses from the same network
// address as its owner holds up only browsers without the owner's device
// cookie: the owner, who logged in before, logs in at once.
func TestAStrangerCannotKeepTheOwnerOut(t *testing.T) {
	h := newHarness(t, nil)
	pw := h.addStaff(t, "leipzig", "aerztin@leipzig.test", "physician", testTOTP)
	owner := h.logIn(t, "aerztin@leipzig.test", pw)
	if owner.cookies["__Host-staff-device"] == "" {
		t.Fatal("no device cookie after a complete login")
	}
	owner.post("/staff/logout", url.Values{})

	stranger := h.citizen(t)
	stranger.get("/staff/login")
	for range 8 {
		stranger.post("/staff/login", url.Values{"email": {"aerztin@leipzig.test"}, "password": {"geraten-geraten"}})
	}
	res, b := stranger.post("/staff/login", url.Values{"email": {"aerztin@leipzig.test"}, "password": {pw}})
	expectStatus(t, res, b, http.StatusTooManyRequests)

	owner.get("/staff/login")
	res, _ = owner.post("/staff/login", url.Values{"email": {"aerztin@leipzig.test"}, "password": {pw}})
	expectLocation(t, res, "/staff/login/code")
}
