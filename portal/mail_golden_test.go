package portal_test

import (
	"context"
	"encoding/json"
	"flag"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	gomail "github.com/emersion/go-message/mail"
	"github.com/jackc/pgx/v5"

	"github.com/gesundheitsamt/portal/internal/crypto"
	"github.com/gesundheitsamt/portal/internal/i18n"
	"github.com/gesundheitsamt/portal/internal/jobs"
	"github.com/gesundheitsamt/portal/internal/mail"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/submission"
	"github.com/gesundheitsamt/portal/locales"
)

// messageID finds a message id shown instead of its text.
var messageID = regexp.MustCompile(`\b(mail|receipt|status|staff|service)\.[a-z_]+(\.[a-z_]+)+\b`)

var updateMail = flag.Bool("update-mail", false, "rewrite the golden mails in testdata/mail")

// TestMailGoldenFiles renders every mail in German and English and
// compares subject, text and HTML (and a video mail's calendar file) with
// testdata/mail/<template>.<lang>.golden (reference numbers, tokens, ids
// and time stamps replaced by placeholders). Run with
// -update-mail after an intended change, and read the diff.
func TestMailGoldenFiles(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	bundle, err := i18n.New(locales.FS)
	if err != nil {
		t.Fatal(err)
	}
	base, _ := url.Parse("https://portal.example")
	berlin, _ := time.LoadLocation("Europe/Berlin")
	key := []byte("0123456789abcdef0123456789abcdef")
	box, err := crypto.NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	w := &mail.Worker{DB: h.db, Subs: h.subs, Bundle: bundle, BaseURL: base, From: "portal@gesundheitsamt.example", Loc: berlin, Box: box}
	// The resume mail's job carries its data sealed: made by the notifier
	// (through a client that only inserts) and read back from the queue.
	client, err := jobs.New(h.db, key, slog.New(slog.DiscardHandler), jobs.Options{Mail: w})
	if err != nil {
		t.Fatal(err)
	}
	resumeArgs := func(officeID int64, lang string) mail.Args {
		t.Helper()
		err := h.db.InTx(ctx, func(tx pgx.Tx) error {
			return mail.NewNotifier(client, box, []byte(mailTestKey)).ResumeLink(ctx, tx, submission.ResumeRequest{
				OfficeID: officeID, ServiceSlug: "reiseimpfberatung", DraftID: map[string]int64{"de": 1, "en": 2}[lang], Token: "RESUMETOKEN", To: "later@example.org",
				Lang: lang, Expires: time.Date(2026, 12, 24, 12, 0, 0, 0, time.UTC),
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		var raw []byte
		if err := h.db.QueryRow(ctx, `SELECT args FROM river_job WHERE kind = 'mail.send' ORDER BY id DESC LIMIT 1`).Scan(&raw); err != nil {
			t.Fatal(err)
		}
		var a mail.Args
		if err := json.Unmarshal(raw, &a); err != nil {
			t.Fatal(err)
		}
		return a
	}
	leipzig, err := store.GetOfficeBySlug(ctx, h.db, "leipzig")
	if err != nil {
		t.Fatal(err)
	}
	id, token := h.submitGutachten(t, "leipzig")
	var ref string
	if err := h.db.QueryRow(ctx, `UPDATE submission SET status = 'in_bearbeitung', submitted_at = '2026-11-24 09:30:00+01'
		WHERE id = $1 RETURNING reference`, id).Scan(&ref); err != nil {
		t.Fatal(err)
	}
	for _, lang := range []string{"de", "en"} {
		if _, err := h.db.Exec(ctx, `UPDATE submission SET locale = $2 WHERE id = $1`, id, lang); err != nil {
			t.Fatal(err)
		}
		for _, tmpl := range []string{mail.TemplateReceipt, mail.TemplateStatus, mail.TemplateQuestion, mail.TemplateOffered, mail.TemplateOfficeNew, mail.TemplateResume, mail.TemplateDigest} {
			// Keys shaped like the notifier's ("status:<id>:<version>").
			a := mail.Args{Key: tmpl + ":" + strconv.FormatInt(id, 10) + ":2", Template: tmpl, OfficeID: leipzig.ID, SubmissionID: id}
			notify := store.NotifyEach
			switch tmpl {
			case mail.TemplateResume:
				a = resumeArgs(leipzig.ID, lang)
			case mail.TemplateDigest:
				a = mail.Args{Key: "digest:" + strconv.FormatInt(leipzig.ID, 10) + ":2026-11-24", Template: tmpl, OfficeID: leipzig.ID, Day: "2026-11-24"}
				notify = store.NotifyDaily
			}
			if err := store.SetOfficeNotify(ctx, h.db, leipzig.ID, notify); err != nil {
				t.Fatal(err)
			}
			m, err := w.Compose(ctx, a)
			if err != nil {
				t.Fatalf("%s %s: %v", tmpl, lang, err)
			}
			got := "Subject: " + m.Subject + "\nTo: " + m.To.Email + "\n\n" + m.Text + "\n----\n" + m.HTML
			got = strings.NewReplacer(ref, "<REFERENCE>", token, "<TOKEN>", "/faelle/"+strconv.FormatInt(id, 10), "/faelle/<ID>").Replace(got)
			if (tmpl == mail.TemplateOfficeNew || tmpl == mail.TemplateDigest) && lang == "en" {
				checkMail(t, w, a, m, got, "") // the office's mails are German, whatever the citizen's language
				continue
			}
			checkMail(t, w, a, m, got, filepath.Join("..", "testdata", "mail", tmpl+"."+lang+".golden"))
		}
	}

	// The video consultation's mails: composed from the job the notifier
	// queues (address and link sealed), with the calendar file, whose
	// DTSTAMP (when the job was queued) becomes a placeholder.
	stamp := regexp.MustCompile(`DTSTAMP:\d{8}T\d{6}Z`)
	notifier := mail.NewNotifier(client, box, []byte(mailTestKey))
	for _, lang := range []string{"de", "en"} {
		for n, tmpl := range []string{mail.TemplateVideoInvite, mail.TemplateVideoMoved, mail.TemplateVideoCancelled, mail.TemplateVideoGuest} {
			v := mail.VideoMail{
				Key: "video:7:" + lang + ":" + strconv.Itoa(n), Template: tmpl, OfficeID: leipzig.ID, ConsultationID: 7,
				Sequence: map[string]int{mail.TemplateVideoMoved: 1, mail.TemplateVideoCancelled: 2}[tmpl],
				To:       "zoe@example.org", Name: "Zoë Ó Briain", Lang: lang, Token: "JOINTOKEN",
				Start: time.Date(2026, 12, 3, 10, 0, 0, 0, berlin), Length: 45 * time.Minute, Reference: ref,
			}
			switch tmpl {
			case mail.TemplateVideoCancelled:
				v.Token = ""
			case mail.TemplateVideoGuest:
				// Given the reference as a careless caller might: the
				// golden file shows the guest's mail has none.
				v.To, v.Name = "dolmetsch@example.org", "Ana Dolmetsch"
			}
			if err := h.db.InTx(ctx, func(tx pgx.Tx) error { return notifier.Video(ctx, tx, v) }); err != nil {
				t.Fatal(err)
			}
			var raw []byte
			if err := h.db.QueryRow(ctx, `SELECT args FROM river_job WHERE kind = 'mail.send' AND args->>'key' = $1`, v.Key).Scan(&raw); err != nil {
				t.Fatal(err)
			}
			var a mail.Args
			if err := json.Unmarshal(raw, &a); err != nil {
				t.Fatal(err)
			}
			m, err := w.Compose(ctx, a)
			if err != nil {
				t.Fatalf("%s %s: %v", tmpl, lang, err)
			}
			if len(m.Attachments) != 1 {
				t.Fatalf("%s %s: %d attachments, want the calendar", tmpl, lang, len(m.Attachments))
			}
			cal := m.Attachments[0]
			got := "Subject: " + m.Subject + "\nTo: " + m.To.Email + "\n\n" + m.Text + "\n----\n" + m.HTML +
				"\n----\n" + cal.Name + " (" + cal.MediaType + ")\n" + stamp.ReplaceAllString(strings.ReplaceAll(string(cal.Content), "\r\n", "\n"), "DTSTAMP:<STAMP>")
			got = strings.ReplaceAll(got, ref, "<REFERENCE>")
			checkMail(t, w, a, m, got, filepath.Join("..", "testdata", "mail", tmpl+"."+lang+".golden"))
		}
	}
}

// checkMail checks a composed mail: a Message-ID a receiving system can
// parse, the same at every attempt; no message id or template field
// unfilled in got (the mail as its golden file shows it); and got the same
// as the golden file (none: not compared), or written to it with
// -update-mail.
func checkMail(t *testing.T, w *mail.Worker, a mail.Args, m mail.Message, got, file string) {
	t.Helper()
	ctx := context.Background()
	var head gomail.Header
	head.SetMessageID(m.MessageID)
	if parsed, err := head.MessageID(); err != nil || parsed != m.MessageID {
		t.Errorf("%s: Message-ID %q does not parse: %v", a.Key, m.MessageID, err)
	}
	if again, err := w.Compose(ctx, a); err != nil || again.MessageID != m.MessageID {
		t.Errorf("%s: Message-ID %q, then %q: not stable across attempts", a.Key, m.MessageID, again.MessageID)
	}
	if messageID.MatchString(got) || strings.Contains(got, "<no value>") {
		t.Errorf("%s: a message id or template field is missing:\n%s", a.Key, got)
	}
	if file == "" {
		return
	}
	if *updateMail {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test ./portal -run TestMailGoldenFiles -update-mail)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file; run with -update-mail and read the diff\n--- got\n%s", file, got)
	}
}
