package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/pquerna/otp/totp"

	"github.com/gesundheitsamt/portal/internal/audit"
	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/store/storetest"
)

func TestStaffAddCommand(t *testing.T) {
	dsn := storetest.DSN(t)
	env := map[string]string{"DATABASE_URL": dsn, "PORTAL_DEMO": "1", "PORTAL_DATA_DIR": t.TempDir()}
	getenv := func(k string) string { return env[k] }
	// The command works beside a running portal (which seeds the offices).
	startPortal(t, env)

	var out bytes.Buffer
	args := []string{"portal", "staff", "add", "--office", "leipzig", "--email", "Neu@Leipzig.test", "--name", "Nora Neu", "--role", "caseworker"}
	if err := run(context.Background(), args, getenv, &out); err != nil {
		t.Fatalf("staff add: %v", err)
	}
	password := strings.TrimSpace(out.String())
	if !regexp.MustCompile(`^[0-9a-z]{20}$`).MatchString(password) {
		t.Errorf("stdout is %q, want the generated password alone", out.String())
	}
	// The same address again is refused with a clear message.
	err := run(context.Background(), args, getenv, &out)
	if err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("second add: %v", err)
	}
	for _, bad := range [][]string{
		{"portal", "staff", "add", "--office", "nowhere", "--email", "a@b.test", "--name", "N", "--role", "admin"},
		{"portal", "staff", "add", "--office", "leipzig", "--email", "a@b.test", "--name", "N", "--role", "boss"},
		{"portal", "staff", "add", "--office", "leipzig", "--email", "a@b.test", "--name", "N", "--role", "admin", "--totp-secret", "not base32!"},
		{"portal", "staff", "add", "--email", "a@b.test"},
	} {
		if err := run(context.Background(), bad, getenv, &out); err == nil {
			t.Errorf("%v: accepted", bad[3:])
		}
	}
}

// TestBrowserStaffLogin logs a demo account in with password and TOTP code
// through the browser and checks the staff pages with axe.
func TestBrowserStaffLogin(t *testing.T) {
	dsn := storetest.DSN(t)
	p := startPortal(t, map[string]string{
		"DATABASE_URL": dsn, "PORTAL_DEMO": "1", "PORTAL_DATA_DIR": t.TempDir(),
		"PORTAL_DEMO_PASSWORD": "demo-passwort-123", "PORTAL_DEMO_TOTP": demoTOTP,
	})
	if out := p.log.String(); !strings.Contains(out, "admin@leipzig.example") || !strings.Contains(out, "demo-passwort-123") {
		t.Errorf("the demo logins are not printed:\n%s", out)
	}
	ctx := newBrowser(t)
	axe := axeScript(t)

	// A citizen sends an appointment request to Halle, so there is a case;
	// a server refused its receipt, so the admin's mail page lists one.
	sendTerminInBrowser(t, ctx, p.base+"/amt/halle/leistungen/terminanfrage/antrag")
	// Its mails are in the development mailbox.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		step(t, ctx, "open the mailbox", chromedp.Navigate(p.base+"/dev/mail"))
		if strings.Contains(eval[string](t, ctx, `document.body.innerText`), "/status/") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no receipt in the development mailbox")
		}
	}
	checkAccessibility(t, ctx, axe, "/dev/mail")
	checkNoHorizontalScroll(t, ctx, "/dev/mail", 320)
	db, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(context.Background(), `INSERT INTO mail_refusal (office_id, submission_id, template, recipient, answer)
		SELECT office_id, id, 'receipt', 'tippfehler@example.org', '550 5.1.1 No such user here' FROM submission LIMIT 1`); err != nil {
		t.Fatal(err)
	}

	// One account per language: a TOTP code counts once per account, and
	// both logins fall into the same 30 seconds.
	for lang, email := range map[string]string{"de": "admin@halle.example", "en": "aerztin@halle.example"} {
		step(t, ctx, "open", chromedp.Navigate(p.base+"/staff/login?lang="+lang))
		checkAccessibility(t, ctx, axe, "/staff/login "+lang)
		step(t, ctx, "email", chromedp.SendKeys(chromedp.ID("login-email"), email))
		markPage(t, ctx)
		step(t, ctx, "password", chromedp.SendKeys(chromedp.ID("login-password"), "demo-passwort-123"+kb.Enter))
		waitLoaded(t, ctx)
		waitPath(t, ctx, "/staff/login/code")
		checkAccessibility(t, ctx, axe, "/staff/login/code "+lang)
		code, err := totp.GenerateCode(demoTOTP, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		markPage(t, ctx)
		step(t, ctx, "code", chromedp.SendKeys(chromedp.ID("login-code"), code+kb.Enter))
		waitLoaded(t, ctx)
		waitPath(t, ctx, "/staff/")
		checkAccessibility(t, ctx, axe, "/staff/ "+lang)
		checkNoHorizontalScroll(t, ctx, "/staff/", 320)
		clickAndWait(t, ctx, "open the case", chromedp.CSS(`.table a[href^="/staff/faelle/"]`))
		if h1 := eval[string](t, ctx, `document.querySelector("h1").textContent`); !strings.Contains(h1, "HAL-") {
			t.Errorf("case page heading %q", h1)
		}
		checkAccessibility(t, ctx, axe, "case page "+lang)
		checkNoHorizontalScroll(t, ctx, "case page", 320)
		if strings.HasPrefix(email, "admin@") {
			// The admin pages in both languages (the account's language
			// is German; ?lang= switches, as for every page).
			for _, path := range []string{"/staff/verwaltung", "/staff/verwaltung/protokoll", "/staff/verwaltung/mail"} {
				for _, l := range []string{"de", "en"} {
					step(t, ctx, "open "+path, chromedp.Navigate(p.base+path+"?lang="+l))
					waitLoaded(t, ctx)
					checkAccessibility(t, ctx, axe, path+" "+l)
					checkNoHorizontalScroll(t, ctx, path, 320)
				}
			}
			if !strings.Contains(eval[string](t, ctx, `document.body.innerText`), "tippfehler@example.org") {
				t.Error("the refused mail is not on the admin's mail page")
			}
		}
		step(t, ctx, "back to the inbox", chromedp.Navigate(p.base+"/staff/"))
		waitLoaded(t, ctx)
		clickAndWait(t, ctx, "log out", chromedp.CSS(`form[action="/staff/logout"] button`))
		waitPath(t, ctx, "/staff/login?abgemeldet=1")
	}
}

func TestAuditVerifyCommand(t *testing.T) {
	ctx := context.Background()
	dsn := storetest.DSN(t)
	env := map[string]string{"DATABASE_URL": dsn, "PORTAL_DEMO": "1", "PORTAL_DATA_DIR": t.TempDir()}
	getenv := func(k string) string { return env[k] }
	startPortal(t, env)
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	office, err := store.GetOfficeBySlug(ctx, db, "halle")
	if err != nil {
		t.Fatal(err)
	}
	for _, action := range []domain.Action{domain.Login, domain.CaseRead, domain.Logout} {
		if err := audit.AppendNow(ctx, db, audit.Entry{OfficeID: office.ID, Actor: domain.StaffMember(1), Action: action}); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	if err := run(ctx, []string{"portal", "audit", "verify", "--office", "halle"}, getenv, &out); err != nil || !strings.Contains(out.String(), "3 entries") {
		t.Fatalf("verify: %v %q", err, out.String())
	}
	var second int64
	if err := db.QueryRow(ctx, `SELECT id FROM audit_log WHERE action = 'case.read'`).Scan(&second); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `ALTER TABLE audit_log DISABLE TRIGGER USER;
		UPDATE audit_log SET actor = 'staff:2' WHERE action = 'case.read';
		ALTER TABLE audit_log ENABLE TRIGGER USER`); err != nil {
		t.Fatal(err)
	}
	err = run(ctx, []string{"portal", "audit", "verify"}, getenv, &out)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("entry %d", second)) {
		t.Fatalf("a changed entry passed or was not named: %v", err)
	}
}

func TestTokenAddCommand(t *testing.T) {
	dsn := storetest.DSN(t)
	env := map[string]string{"DATABASE_URL": dsn, "PORTAL_DEMO": "1", "PORTAL_DATA_DIR": t.TempDir()}
	getenv := func(k string) string { return env[k] }
	p := startPortal(t, env)

	var out bytes.Buffer
	args := []string{"portal", "token", "add", "--office", "leipzig", "--name", "Fachverfahren Octoware", "--scopes", "submissions:read,attachments:read"}
	if err := run(context.Background(), args, getenv, &out); err != nil {
		t.Fatalf("token add: %v", err)
	}
	token := strings.TrimSuffix(out.String(), "\n")
	if !regexp.MustCompile(`^gap_[A-Za-z0-9_-]{43}$`).MatchString(token) {
		t.Fatalf("stdout is %q, want the token alone", out.String())
	}
	// The printed token opens the API of its office, within its scopes.
	call := func(method, path, bearer string) int {
		req, _ := http.NewRequest(method, p.base+path, strings.NewReader(`{"status":"in_bearbeitung","version":1}`))
		req.Header.Set("Authorization", "Bearer "+bearer)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if got := call(http.MethodGet, "/api/v1/submissions", token); got != http.StatusOK {
		t.Errorf("list with the new token: %d", got)
	}
	if got := call(http.MethodPost, "/api/v1/submissions/1/status", token); got != http.StatusForbidden {
		t.Errorf("change without submissions:write: %d, want 403", got)
	}
	if got := call(http.MethodGet, "/api/v1/submissions", token+"x"); got != http.StatusUnauthorized {
		t.Errorf("a wrong token: %d, want 401", got)
	}
	if got := call(http.MethodGet, "/api/v1/appointments", token); got != http.StatusForbidden {
		t.Errorf("appointments without appointments:read: %d, want 403", got)
	}
	out.Reset()
	args = []string{"portal", "token", "add", "--office", "leipzig", "--name", "Terminverwaltung", "--scopes", "appointments:read,appointments:write"}
	if err := run(context.Background(), args, getenv, &out); err != nil {
		t.Fatalf("token add with the appointment scopes: %v", err)
	}
	if got := call(http.MethodGet, "/api/v1/appointments", strings.TrimSuffix(out.String(), "\n")); got != http.StatusOK {
		t.Errorf("appointments with appointments:read: %d", got)
	}
	for _, bad := range [][]string{
		{"portal", "token", "add", "--office", "nowhere", "--name", "N", "--scopes", "submissions:read"},
		{"portal", "token", "add", "--office", "leipzig", "--name", "N", "--scopes", "everything"},
		{"portal", "token", "add", "--office", "leipzig", "--name", "N"},
		{"portal", "token", "add", "--office", "leipzig", "--scopes", "submissions:read"},
	} {
		out.Reset()
		if err := run(context.Background(), bad, getenv, &out); err == nil || out.Len() != 0 {
			t.Errorf("%v: accepted (%q)", bad[3:], out.String())
		}
	}
}

// TestBrowserRueckfrage goes through a query as the people involved do:
// the caseworker asks (first forgetting the question), the citizen answers
// on the status page (first sending nothing), the case comes back unread.
// Every page on the way is checked with axe.
func TestBrowserRueckfrage(t *testing.T) {
	p := startPortal(t, map[string]string{
		"DATABASE_URL": storetest.DSN(t), "PORTAL_DEMO": "1", "PORTAL_DATA_DIR": t.TempDir(),
		"PORTAL_DEMO_PASSWORD": "demo-passwort-123", "PORTAL_DEMO_TOTP": demoTOTP,
	})
	ctx := newBrowser(t)
	axe := axeScript(t)

	sendTerminInBrowser(t, ctx, p.base+"/amt/leipzig/leistungen/terminanfrage/antrag?lang=de")
	statusURL := eval[string](t, ctx, `document.querySelector('main a[href^="/status/"]:not([download])').href`)

	loginInBrowser(t, ctx, p.base, "sachbearbeitung@leipzig.example")

	// The inbox with its filters open, and a search.
	step(t, ctx, "open filters", chromedp.Click(chromedp.CSS(".filters summary")))
	checkAccessibility(t, ctx, axe, "inbox with filters")
	markPage(t, ctx)
	step(t, ctx, "search", chromedp.SendKeys(chromedp.ID("inbox-q"), "Müller"+kb.Enter))
	waitLoaded(t, ctx)
	checkAccessibility(t, ctx, axe, "search results")
	if n := eval[int](t, ctx, `document.querySelectorAll('.table a[href^="/staff/faelle/"]').length`); n != 1 {
		t.Errorf("search for the applicant lists %d cases", n)
	}
	clickAndWait(t, ctx, "open the case", chromedp.CSS(`.table a[href^="/staff/faelle/"]`))
	clickAndWait(t, ctx, "in Bearbeitung", chromedp.CSS(`form[action$="/status"] button`))

	// A Rückfrage without its question: the error leads to the field.
	step(t, ctx, "choose Rückfrage", chromedp.Click(chromedp.CSS(`input[value="rueckfrage"]`)))
	step(t, ctx, "request files", chromedp.Click(chromedp.ID("status-files")))
	clickAndWait(t, ctx, "ask without a question", chromedp.CSS(`form[action$="/status"] button`))
	checkAccessibility(t, ctx, axe, "case page with an error")
	if !eval[bool](t, ctx, `document.title.startsWith("Fehler:") && document.querySelector('input[value="rueckfrage"]').checked && document.getElementById("status-files").checked`) {
		t.Errorf("the error page lost the choices or has no error title: %q %v %v", eval[string](t, ctx, `document.title`), eval[bool](t, ctx, `document.querySelector('input[value="rueckfrage"]').checked`), eval[bool](t, ctx, `document.getElementById("status-files").checked`))
	}
	step(t, ctx, "question", chromedp.SendKeys(chromedp.ID("status-message"), "Bitte senden Sie Ihren Impfpass."))
	clickAndWait(t, ctx, "ask", chromedp.CSS(`form[action$="/status"] button`))
	checkAccessibility(t, ctx, axe, "case page after the Rückfrage")

	// The citizen answers, first with nothing.
	step(t, ctx, "status page", chromedp.Navigate(statusURL))
	waitLoaded(t, ctx)
	checkAccessibility(t, ctx, axe, "status page with a question")
	checkNoHorizontalScroll(t, ctx, "status page with a question", 320)
	clickAndWait(t, ctx, "send nothing", chromedp.CSS(`form[action$="/antwort"] button`))
	checkAccessibility(t, ctx, axe, "status page with an error")
	if got := eval[string](t, ctx, `document.activeElement.className`); !strings.Contains(got, "error-summary") {
		t.Errorf("focus after the error is on %q, want the error summary", got)
	}
	step(t, ctx, "answer", chromedp.SendKeys(chromedp.ID("answer-text"), "Der Impfpass kommt per Post."))
	step(t, ctx, "file", chromedp.SetUploadFiles(chromedp.ID("answer-files"), []string{writeTestPDF(t)}))
	clickAndWait(t, ctx, "send the answer", chromedp.CSS(`form[action$="/antwort"] button`))
	checkAccessibility(t, ctx, axe, "status page after the answer")
	if !eval[bool](t, ctx, `document.body.textContent.includes("Ihre Antwort ist beim Gesundheitsamt eingegangen")`) {
		t.Error("no confirmation of the answer")
	}

	// Back in the office: the case is unread again, the answer and file in it.
	step(t, ctx, "inbox", chromedp.Navigate(p.base+"/staff/?ungelesen=1"))
	waitLoaded(t, ctx)
	clickAndWait(t, ctx, "open the answered case", chromedp.CSS(`.table a[href^="/staff/faelle/"]`))
	if !eval[bool](t, ctx, `document.body.textContent.includes("Der Impfpass kommt per Post.") && !!document.querySelector('.files a[download]')`) {
		t.Error("the answer or its file is missing from the case")
	}
	checkAccessibility(t, ctx, axe, "case page with the answer")
}

func TestWebhookAddCommand(t *testing.T) {
	env := map[string]string{"DATABASE_URL": storetest.DSN(t), "PORTAL_DEMO": "1", "PORTAL_DATA_DIR": t.TempDir()}
	getenv := func(k string) string { return env[k] }
	startPortal(t, env)
	var out bytes.Buffer
	for _, events := range []string{"submission.created,submission.status_changed", "appointment.booked,appointment.cancelled"} {
		out.Reset()
		args := []string{"portal", "webhook", "add", "--office", "leipzig", "--url", "https://octoware.example/hook", "--events", events}
		if err := run(context.Background(), args, getenv, &out); err != nil {
			t.Fatalf("webhook add %s: %v", events, err)
		}
		if !regexp.MustCompile(`^whsec_[0-9a-f]{64}\n$`).MatchString(out.String()) {
			t.Errorf("stdout is %q, want the secret alone", out.String())
		}
	}
	for _, bad := range [][]string{
		{"portal", "webhook", "add", "--office", "leipzig", "--url", "ftp://x.example/", "--events", "submission.created"},
		{"portal", "webhook", "add", "--office", "leipzig", "--url", "https://x.example/", "--events", "submission.deleted"},
		{"portal", "webhook", "add", "--office", "nowhere", "--url", "https://x.example/", "--events", "submission.created"},
		{"portal", "webhook", "add", "--office", "leipzig", "--url", "https://x.example/"},
	} {
		out.Reset()
		if err := run(context.Background(), bad, getenv, &out); err == nil || out.Len() != 0 {
			t.Errorf("%v: accepted (%q)", bad[3:], out.String())
		}
	}
}

// TestBrowserSavedPageIsAccessible: the page after "save and continue
// later", with its mail form, and the same with an error.
func TestBrowserSavedPageIsAccessible(t *testing.T) {
	p := startPortal(t, map[string]string{"DATABASE_URL": storetest.DSN(t), "PORTAL_DEMO": "1", "PORTAL_DATA_DIR": t.TempDir()})
	ctx := newBrowser(t)
	axe := axeScript(t)
	step(t, ctx, "start a form", chromedp.Navigate(p.base+"/amt/leipzig/leistungen/terminanfrage/antrag?lang=de"))
	waitLoaded(t, ctx)
	clickAndWait(t, ctx, "save", chromedp.CSS(`button[value="save"]`))
	waitPath(t, ctx, "/amt/leipzig/leistungen/terminanfrage/antrag/gespeichert")
	checkAccessibility(t, ctx, axe, "saved page")
	checkNoHorizontalScroll(t, ctx, "saved page", 320)
	step(t, ctx, "address", chromedp.SendKeys(chromedp.ID("saved-email"), "keine adresse"))
	clickAndWait(t, ctx, "send", chromedp.CSS(`form[action$="/gespeichert"] button`))
	checkAccessibility(t, ctx, axe, "saved page with an error")
	if got := eval[string](t, ctx, `document.getElementById("saved-email").value`); got != "keine adresse" {
		t.Errorf("the address typed is gone: %q", got)
	}
}
