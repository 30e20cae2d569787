package portal_test

import (
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
	pages := make(chan string, 60)
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
			pages <- body(t, res)
		}()
	}
	wg.Wait()
	close(pages)
	// An attempt the rate limit let through is answered with the login
	// page (wrong password, or wait: the account's throttle); one it
	// refused with the page "Zu viele Anfragen".
	checked, refused := 0, 0
	for b := range pages {
		switch {
		case strings.Contains(b, `name="password"`):
			checked++
		case strings.Contains(b, "Zu viele Anfragen"):
			refused++
		}
	}
	if checked != 30 || refused != 30 {
		t.Errorf("%d of 60 parallel logins passed the rate limit and %d were refused by it, want 30 and 30", checked, refused)
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
