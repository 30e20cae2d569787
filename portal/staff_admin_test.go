package portal_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

var oneTimePassword = regexp.MustCompile(`<p class="panel__code">([0-9a-z]{20})</p>`)

// firstLogin signs in with a password on an account without a second
// factor, enrols (the code of the next time step, as an app shows it half
// a minute later), and returns the client, past the recovery codes.
func firstLogin(t *testing.T, h *harness, email, password string) *citizen {
	t.Helper()
	c := h.citizen(t)
	c.get("/staff/login")
	res, _ := c.post("/staff/login", url.Values{"email": {email}, "password": {password}})
	expectLocation(t, res, "/staff/login/einrichten")
	_, b := c.get("/staff/login/einrichten")
	secret := regexp.MustCompile(`<p class="panel__code">([A-Z2-7]+)</p>`).FindStringSubmatch(b)
	if secret == nil {
		t.Fatalf("no enrolment secret\n%s", excerpt(b))
	}
	code, _ := totp.GenerateCode(secret[1], time.Now())
	res, b = c.post("/staff/login/einrichten", url.Values{"code": {code}})
	expectStatus(t, res, b, http.StatusOK)
	return c
}

func staffID(t *testing.T, h *harness, email string) int64 {
	t.Helper()
	var id int64
	if err := h.db.QueryRow(context.Background(), `SELECT id FROM staff WHERE email = $1`, email).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestAdminCreatesAccountWithOneTimePassword(t *testing.T) {
	h := newHarness(t, nil)
	admin := h.logIn(t, "admin@leipzig.test", h.addStaff(t, "leipzig", "admin@leipzig.test", "admin", testTOTP))
	admin.get("/staff/verwaltung")
	res, b := admin.post("/staff/verwaltung/konten", url.Values{"email": {"Neu@Leipzig.test"}, "name": {"Nora <b>Neu</b>"}, "role": {"caseworker"}})
	expectStatus(t, res, b, http.StatusOK)
	expectContains(t, b, "Einmalpasswort für Nora &lt;b&gt;Neu&lt;/b&gt;", "neu@leipzig.test")
	pw := oneTimePassword.FindStringSubmatch(b)
	if pw == nil {
		t.Fatalf("no one-time password shown\n%s", excerpt(b))
	}
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Error("the page with a password may be cached")
	}
	// The same address again: a clear error, the input kept.
	res, b = admin.post("/staff/verwaltung/konten", url.Values{"email": {"neu@leipzig.test"}, "name": {"Zweite"}, "role": {"physician"}})
	expectStatus(t, res, b, http.StatusUnprocessableEntity)
	expectContains(t, b, "schon ein Konto", `value="Zweite"`, `value="physician" selected`)

	// The new person enrols, and must then choose a password before anything else.
	nora := firstLogin(t, h, "neu@leipzig.test", pw[1])
	for _, path := range []string{"/staff/", "/staff/faelle/1"} {
		res, _ := nora.get(path)
		expectLocation(t, res, "/staff/passwort")
	}
	_, b = nora.get("/staff/passwort")
	expectContains(t, b, "Legen Sie jetzt ein eigenes fest")
	for _, tc := range []struct {
		current, next, repeat, says string
	}{
		{"falsch", "ein neues langes Passwort", "ein neues langes Passwort", "bisherige Passwort stimmt nicht"},
		{pw[1], "kurz", "kurz", "mindestens 12 Zeichen"},
		{pw[1], "ein neues langes Passwort", "ein anderes langes Passwort", "stimmen nicht überein"},
		{pw[1], pw[1], pw[1], "muss sich vom bisherigen unterscheiden"},
	} {
		res, b := nora.post("/staff/passwort", url.Values{"current": {tc.current}, "new": {tc.next}, "repeat": {tc.repeat}})
		expectStatus(t, res, b, http.StatusUnprocessableEntity)
		expectContains(t, b, tc.says)
	}
	res, _ = nora.post("/staff/passwort", url.Values{"current": {pw[1]}, "new": {"ein neues langes Passwort"}, "repeat": {"ein neues langes Passwort"}})
	expectLocation(t, res, "/staff/passwort?geaendert=1")
	if res, _ := nora.get("/staff/"); res.StatusCode != http.StatusOK {
		t.Errorf("after the change the inbox answers %d", res.StatusCode)
	}
}

func TestAdminResetsDisablesAndIsConfinedToTheOffice(t *testing.T) {
	h := newHarness(t, nil)
	admin := h.logIn(t, "admin@leipzig.test", h.addStaff(t, "leipzig", "admin@leipzig.test", "admin", testTOTP))
	worker := h.logIn(t, "sb@leipzig.test", h.addStaff(t, "leipzig", "sb@leipzig.test", "caseworker", testTOTP))
	h.addStaff(t, "halle", "sb@halle.test", "caseworker", testTOTP)
	workerID, adminID, halleID := staffID(t, h, "sb@leipzig.test"), staffID(t, h, "admin@leipzig.test"), staffID(t, h, "sb@halle.test")
	account := func(id int64, action string) string {
		return "/staff/verwaltung/konten/" + strconv.FormatInt(id, 10) + "/" + action
	}
	admin.get("/staff/verwaltung")

	// Disabling ends the worker's session at once; enabling lets them in again.
	res, _ := admin.post(account(workerID, "sperre"), url.Values{"sperren": {"1"}})
	expectLocation(t, res, "/staff/verwaltung?erledigt=gesperrt")
	if res, _ := worker.get("/staff/"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("a disabled account's session still works: %d", res.StatusCode)
	}
	admin.get("/staff/verwaltung")
	admin.post(account(workerID, "sperre"), url.Values{})
	// Resetting the password: a new one-time password, the old one is void.
	admin.get("/staff/verwaltung")
	res, b := admin.post(account(workerID, "passwort"), url.Values{})
	expectStatus(t, res, b, http.StatusOK)
	pw := oneTimePassword.FindStringSubmatch(b)
	if pw == nil {
		t.Fatalf("no password after the reset\n%s", excerpt(b))
	}
	// Resetting the second factor: the next login enrols again.
	admin.get("/staff/verwaltung")
	res, _ = admin.post(account(workerID, "zweiter-faktor"), url.Values{})
	expectLocation(t, res, "/staff/verwaltung?erledigt=zweiter-faktor")
	again := firstLogin(t, h, "sb@leipzig.test", pw[1])
	res, _ = again.get("/staff/")
	expectLocation(t, res, "/staff/passwort")

	// An admin cannot lock themselves out, nor touch another office's staff.
	admin.get("/staff/verwaltung")
	res, b = admin.post(account(adminID, "sperre"), url.Values{"sperren": {"1"}})
	expectStatus(t, res, b, http.StatusUnprocessableEntity)
	expectContains(t, b, "eigenes Konto nicht sperren")
	for _, action := range []string{"sperre", "passwort", "zweiter-faktor"} {
		if res, _ := admin.post(account(halleID, action), url.Values{"sperren": {"1"}}); res.StatusCode != http.StatusNotFound {
			t.Errorf("%s on Halle's account: %d, want 404", action, res.StatusCode)
		}
	}
	var disabled bool
	_ = h.db.QueryRow(context.Background(), `SELECT disabled FROM staff WHERE id = $1`, halleID).Scan(&disabled)
	if disabled {
		t.Error("Leipzig's admin disabled a Halle account")
	}

	// Every action is in Leipzig's audit log, which the admin can read.
	res, b = admin.get("/staff/verwaltung/protokoll")
	expectStatus(t, res, b, http.StatusOK)
	expectContains(t, b, "staff.disable", "staff.enable", "staff.password_reset", "staff.totp_reset", "staff:"+strconv.FormatInt(workerID, 10))

	// Nobody but an admin gets there.
	doctor := h.logIn(t, "arzt@leipzig.test", h.addStaff(t, "leipzig", "arzt@leipzig.test", "physician", testTOTP))
	doctor.get("/staff/")
	for _, path := range []string{"/staff/verwaltung", "/staff/verwaltung/protokoll"} {
		if res, _ := doctor.get(path); res.StatusCode != http.StatusForbidden {
			t.Errorf("a physician on %s: %d, want 403", path, res.StatusCode)
		}
	}
	if res, _ := doctor.post(account(workerID, "sperre"), url.Values{"sperren": {"1"}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("a physician disabled an account: %d", res.StatusCode)
	}
}

func TestAdminMakesACaseworkersSecondFactorOptional(t *testing.T) {
	h := newHarness(t, nil)
	admin := h.logIn(t, "admin@leipzig.test", h.addStaff(t, "leipzig", "admin@leipzig.test", "admin", testTOTP))
	pw := h.addStaff(t, "leipzig", "sb@leipzig.test", "caseworker", "")
	h.addStaff(t, "leipzig", "arzt@leipzig.test", "physician", "")
	worker, doctor := staffID(t, h, "sb@leipzig.test"), staffID(t, h, "arzt@leipzig.test")
	path := func(id int64) string {
		return "/staff/verwaltung/konten/" + strconv.FormatInt(id, 10) + "/zweiter-faktor-pflicht"
	}
	admin.get("/staff/verwaltung")
	res, b := admin.post(path(doctor), url.Values{})
	expectStatus(t, res, b, http.StatusUnprocessableEntity)
	expectContains(t, b, "brauchen ihn immer")
	res, _ = admin.post(path(worker), url.Values{})
	expectLocation(t, res, "/staff/verwaltung?erledigt=optional")

	// The caseworker now signs in with the password alone.
	c := h.citizen(t)
	c.get("/staff/login")
	res, _ = c.post("/staff/login", url.Values{"email": {"sb@leipzig.test"}, "password": {pw}})
	expectLocation(t, res, "/staff/")
	// Required again: the next login enrols.
	admin.get("/staff/verwaltung")
	res, _ = admin.post(path(worker), url.Values{"pflicht": {"1"}})
	expectLocation(t, res, "/staff/verwaltung?erledigt=pflicht")
	if res, _ := c.get("/staff/"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("the session survived requiring the second factor: %d", res.StatusCode)
	}
	c.get("/staff/login")
	res, _ = c.post("/staff/login", url.Values{"email": {"sb@leipzig.test"}, "password": {pw}})
	expectLocation(t, res, "/staff/login/einrichten")
}

func TestGuessingTheCurrentPasswordEndsTheSession(t *testing.T) {
	h := newHarness(t, nil)
	worker := h.logIn(t, "sb@leipzig.test", h.addStaff(t, "leipzig", "sb@leipzig.test", "caseworker", testTOTP))
	worker.get("/staff/passwort")
	for range 5 {
		res, b := worker.post("/staff/passwort", url.Values{"current": {"geraten-geraten"}, "new": {"ein neues langes Passwort"}, "repeat": {"ein neues langes Passwort"}})
		expectStatus(t, res, b, http.StatusUnprocessableEntity)
	}
	res, _ := worker.post("/staff/passwort", url.Values{"current": {"noch-ein-versuch"}, "new": {"ein neues langes Passwort"}, "repeat": {"ein neues langes Passwort"}})
	expectLocation(t, res, "/staff/login")
	if res, _ := worker.get("/staff/"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("the session survived the lockout: %d", res.StatusCode)
	}
}
