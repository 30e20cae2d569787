package portal_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/gesundheitsamt/portal/internal/audit"
	"github.com/gesundheitsamt/portal/internal/auth"
)

func TestStaffLoginAndOfficeIsolation(t *testing.T) {
	h := newHarness(t, nil)
	// One submission at each office.
	for _, base := range []string{terminBase, strings.Replace(terminBase, "leipzig", "halle", 1)} {
		c := h.citizen(t)
		fillTerminAt(t, c, base)
		c.get(base + "/pruefen")
		if res, _ := c.post(base+"/absenden", url.Values{"consent": {"ja"}}); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("submit at %s: %d", base, res.StatusCode)
		}
	}
	var lej, hal string
	if err := h.db.QueryRow(context.Background(), `SELECT
		(SELECT reference FROM submission WHERE reference LIKE 'LEJ-%'), (SELECT reference FROM submission WHERE reference LIKE 'HAL-%')`).Scan(&lej, &hal); err != nil {
		t.Fatal(err)
	}

	pw := h.addStaff(t, "leipzig", "Sachbearbeitung@Leipzig.test", "caseworker", testTOTP)

	// Without a session the inbox is the login.
	anon := h.citizen(t)
	res, _ := anon.get("/staff/")
	expectLocation(t, res, "/staff/login")

	// Unknown address and wrong password: the same answer, the address kept.
	anon.get("/staff/login")
	_, unknown := anon.post("/staff/login", url.Values{"email": {"niemand@leipzig.test"}, "password": {"x"}})
	_, wrong := anon.post("/staff/login", url.Values{"email": {"sachbearbeitung@leipzig.test"}, "password": {"falsch"}})
	msg := regexp.MustCompile(`class="field__error"[^>]*>(.*?)</p>`)
	if mu, mw := msg.FindStringSubmatch(unknown), msg.FindStringSubmatch(wrong); mu == nil || mw == nil || mu[1] != mw[1] {
		t.Errorf("unknown address and wrong password answered differently")
	}
	expectContains(t, wrong, `value="sachbearbeitung@leipzig.test"`)

	// A half-finished login (password only) opens nothing.
	half := h.citizen(t)
	half.get("/staff/login")
	res, _ = half.post("/staff/login", url.Values{"email": {"sachbearbeitung@leipzig.test"}, "password": {pw}})
	expectLocation(t, res, "/staff/login/code")
	res, _ = half.get("/staff/")
	expectLocation(t, res, "/staff/login")
	half.get("/staff/login/code")
	res, b := half.post("/staff/login/code", url.Values{"code": {"000000"}})
	expectStatus(t, res, b, http.StatusUnprocessableEntity)
	expectContains(t, b, "Der Code stimmt nicht")

	// The whole login: the office's submissions, and only its own.
	c := h.logIn(t, "sachbearbeitung@leipzig.test", pw)
	before := c.cookies["__Host-staff"]
	res, b = c.get("/staff/")
	expectStatus(t, res, b, http.StatusOK)
	expectContains(t, b, lej, "Gesundheitsamt Leipzig")
	if strings.Contains(b, hal) {
		t.Fatal("a Leipzig caseworker sees a Halle submission")
	}
	if before == "" || before == half.cookies["__Host-staff"] {
		t.Error("the session id was not renewed at login")
	}
	// The audit log of Leipzig holds the failed and the good login and
	// the read of the inbox, in a chain that verifies; Halle's holds none.
	var actions string
	if err := h.db.QueryRow(context.Background(), `SELECT string_agg(action, ',' ORDER BY id) FROM audit_log
		WHERE office_id = (SELECT id FROM office WHERE slug = 'leipzig')`).Scan(&actions); err != nil {
		t.Fatal(err)
	}
	if actions != "login.failed,login,inbox.read" {
		t.Errorf("audit log of Leipzig: %s", actions)
	}
	if n, err := audit.Verify(context.Background(), h.db, 0); err != nil || n != 3 {
		t.Errorf("audit chain: %d entries, %v", n, err)
	}

	// Logout ends the session: the old cookie opens nothing.
	res, _ = c.post("/staff/logout", url.Values{})
	expectLocation(t, res, "/staff/login?abgemeldet=1")
	_, b = c.get("/staff/login?abgemeldet=1")
	expectContains(t, b, "Sie sind abgemeldet.")
	c.cookies["__Host-staff"] = before
	res, _ = c.get("/staff/")
	expectLocation(t, res, "/staff/login")
}

func TestStaffLockoutAndEnrolment(t *testing.T) {
	h := newHarness(t, nil)
	pw := h.addStaff(t, "halle", "aerztin@halle.test", "physician", "")
	c := h.citizen(t)
	c.get("/staff/login")

	// First login of an account without TOTP: enrolment, then the inbox.
	res, _ := c.post("/staff/login", url.Values{"email": {"aerztin@halle.test"}, "password": {pw}})
	expectLocation(t, res, "/staff/login/einrichten")
	_, b := c.get("/staff/login/einrichten")
	expectContains(t, b, `src="data:image/png;base64,`, `autocomplete="one-time-code"`)
	secret := regexp.MustCompile(`<p class="panel__code">([A-Z2-7]+)</p>`).FindStringSubmatch(b)
	if secret == nil {
		t.Fatalf("no secret on the enrolment page\n%s", excerpt(b))
	}
	// A secret of the browser's choosing is not taken: the code must be of
	// the one the server offered, which the page shows again.
	zeros := "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	forged, _ := totp.GenerateCode(zeros, time.Now())
	res, b = c.post("/staff/login/einrichten", url.Values{"secret": {zeros}, "code": {forged}})
	expectStatus(t, res, b, http.StatusUnprocessableEntity)
	expectContains(t, b, `<p class="panel__code">`+secret[1]+`</p>`, `src="data:image/png;base64,`)
	code, _ := totp.GenerateCode(secret[1], time.Now())
	res, b = c.post("/staff/login/einrichten", url.Values{"code": {code}})
	expectStatus(t, res, b, http.StatusOK)
	codes := regexp.MustCompile(`<code>([0-9A-Z]{5}-[0-9A-Z]{5})</code>`).FindAllStringSubmatch(b, -1)
	if len(codes) != auth.RecoveryCodes || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("%d recovery codes shown, Cache-Control %q\n%s", len(codes), res.Header.Get("Cache-Control"), excerpt(b))
	}
	if res, _ := c.get("/staff/"); res.StatusCode != http.StatusOK {
		t.Fatalf("after enrolment the inbox answers %d", res.StatusCode)
	}

	// The same TOTP code again, in the same 30 seconds: refused (replay).
	login := func(who *citizen, second url.Values) (*http.Response, string) {
		who.get("/staff/login")
		who.post("/staff/login", url.Values{"email": {"aerztin@halle.test"}, "password": {pw}})
		who.get("/staff/login/code")
		return who.post("/staff/login/code", second)
	}
	res, b = login(h.citizen(t), url.Values{"code": {code}})
	expectStatus(t, res, b, http.StatusUnprocessableEntity)
	// A recovery code works once, typed carelessly; then it is spent.
	careless := strings.ToLower(strings.ReplaceAll(codes[3][1], "-", " "))
	res, _ = login(h.citizen(t), url.Values{"code": {careless}, "wiederherstellung": {"1"}})
	expectLocation(t, res, "/staff/")
	res, b = login(h.citizen(t), url.Values{"code": {codes[3][1]}, "wiederherstellung": {"1"}})
	expectStatus(t, res, b, http.StatusUnprocessableEntity)
	expectContains(t, b, `name="wiederherstellung" value="1"`)

	// Five wrong passwords from a browser without the account's device
	// cookie: its next attempt waits, even with the right password, and
	// the page says how long.
	other := h.citizen(t)
	other.get("/staff/login")
	for range 5 {
		other.post("/staff/login", url.Values{"email": {"aerztin@halle.test"}, "password": {"falsch-falsch"}})
	}
	res, b = other.post("/staff/login", url.Values{"email": {"aerztin@halle.test"}, "password": {pw}})
	expectStatus(t, res, b, http.StatusTooManyRequests)
	expectContains(t, b, "Zu viele Versuche hintereinander. Bitte warten Sie 1 Sekunde und", `value="aerztin@halle.test"`)
	if res.Header.Get("Retry-After") != "1" {
		t.Errorf("Retry-After %q", res.Header.Get("Retry-After"))
	}
}

// fillTerminAt is fillTermin at another office's form.
func fillTerminAt(t *testing.T, c *citizen, base string) {
	t.Helper()
	c.get(base + "/anliegen")
	c.post(base+"/anliegen", url.Values{"topic": {"impfung"}, "message": {"x"}, "_action": {"next"}})
	c.get(base + "/termin")
	c.post(base+"/termin", url.Values{"mode": {"video"}, "days": {"mo"}, "time_of_day": {"egal"}, "_action": {"next"}})
	c.get(base + "/kontakt")
	res, _ := c.post(base+"/kontakt", url.Values{"given_name": {"Anna"}, "family_name": {"Muster"}, "email": {"anna@example.org"}, "_action": {"next"}})
	expectLocation(t, res, base+"/pruefen")
}
