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
// compares subject, text and HTML with testdata/mail/<template>.<lang>.golden
// (reference numbers, tokens and ids replaced by placeholders). Run with
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
		for _, tmpl := range []string{mail.TemplateReceipt, mail.TemplateStatus, mail.TemplateQuestion, mail.TemplateOfficeNew, mail.TemplateResume, mail.TemplateDigest} {
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
			// The Message-ID is the job's, the same at every attempt, and
			// one a receiving system can parse (and so drop a copy by).
			var head gomail.Header
			head.SetMessageID(m.MessageID)
			if parsed, err := head.MessageID(); err != nil || parsed != m.MessageID {
				t.Errorf("%s: Message-ID %q does not parse: %v", tmpl, m.MessageID, err)
			}
			if again, err := w.Compose(ctx, a); err != nil || again.MessageID != m.MessageID {
				t.Errorf("%s: Message-ID %q, then %q: not stable across attempts", tmpl, m.MessageID, again.MessageID)
			}
			got := "Subject: " + m.Subject + "\nTo: " + m.To.Email + "\n\n" + m.Text + "\n----\n" + m.HTML
			got = strings.NewReplacer(ref, "<REFERENCE>", token, "<TOKEN>", "/faelle/"+strconv.FormatInt(id, 10), "/faelle/<ID>").Replace(got)
			if messageID.MatchString(got) || strings.Contains(got, "<no value>") {
				t.Errorf("%s %s: a message id or template field is missing:\n%s", tmpl, lang, got)
			}
			if (tmpl == mail.TemplateOfficeNew || tmpl == mail.TemplateDigest) && lang == "en" {
				continue // the office's mails are German, whatever the citizen's language
			}
			file := filepath.Join("..", "testdata", "mail", tmpl+"."+lang+".golden")
			if *updateMail {
				if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run go test ./portal -run TestMailGoldenFiles -update-mail)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from the golden file; run with -update-mail and read the diff\n--- got\n%s", file, got)
			}
		}
	}
}
