package retention_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/gesundheitsamt/portal/forms"
	"github.com/gesundheitsamt/portal/internal/audit"
	"github.com/gesundheitsamt/portal/internal/demo"
	"github.com/gesundheitsamt/portal/internal/retention"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/store/storetest"
)

// seedDue adds n closed cases of office officeID (closed 11 years before
// now), each with a 4 KB attachment, three events, a refused mail, a
// finished mail job and a finished webhook call; and as many open cases
// and unrelated finished jobs beside them. from keeps reference numbers
// and tokens apart between calls.
func seedDue(b *testing.B, db *store.DB, officeID int64, hash string, from, n int, closed time.Time) {
	b.Helper()
	ctx := context.Background()
	first := true
	for _, q := range []string{`
INSERT INTO submission (office_id, service_slug, form_id, form_version, form_hash, locale, reference,
                        access_token_hash, draft_id, status, data, record_sha256, applicant, contact_email,
                        search, search_all, closed_at)
SELECT $1, 'amtsaerztliche-untersuchung', 'amtsaerztliches-gutachten', 1, $2, 'de',
       'LEJ-2026-' || upper(lpad(to_hex(i >> 16), 4, '0')) || '-' || upper(lpad(to_hex(i & 65535), 4, '0')),
       sha256(convert_to('token' || i, 'UTF8')), -i,
       CASE WHEN i % 2 = 0 THEN 'abgeschlossen' ELSE 'in_bearbeitung' END,
       jsonb_build_object('answers', jsonb_build_object('family_name', 'Müller' || i, 'medication', repeat('Tabletten ', 150))),
       '\x00', 'Zoë Müller' || i, 'zoe' || i || '@example.org',
       to_tsvector('german', 'Zoë Müller Leipzig Dienstfähigkeit'), to_tsvector('german', 'Zoë Müller Leipzig Dienstfähigkeit Tabletten'),
       CASE WHEN i % 2 = 0 THEN $5::timestamptz END
FROM generate_series($3::bigint, $3::bigint + 2 * $4::bigint - 1) AS i`,
		`INSERT INTO case_event (submission_id, office_id, kind, status, message)
SELECT s.id, s.office_id, k.kind, k.status, 'Nachricht an Frau Müller' FROM submission s
CROSS JOIN (VALUES ('eingegangen', 'eingegangen'), ('status', 'in_bearbeitung'), ('note', '')) AS k(kind, status)
WHERE s.draft_id <= -$1::bigint AND s.draft_id > -($1::bigint + 2 * $2::bigint)`,
		`INSERT INTO attachment (submission_id, office_id, field_id, name, media_type, size, sha256, content)
SELECT id, office_id, 'request_letter', 'Auftrag.pdf', 'application/pdf', 4096, '\x00', decode(repeat('ab', 4096), 'hex')
FROM submission WHERE draft_id <= -$1::bigint AND draft_id > -($1::bigint + 2 * $2::bigint)`,
		`INSERT INTO mail_refusal (office_id, submission_id, template, recipient, answer)
SELECT office_id, id, 'status', contact_email, '550 unknown' FROM submission
WHERE draft_id <= -$1::bigint AND draft_id > -($1::bigint + 2 * $2::bigint)`,
		`INSERT INTO river_job (state, max_attempts, finalized_at, args, kind, queue)
SELECT 'completed', 31, now(), a.args, a.kind, a.queue FROM submission s
CROSS JOIN LATERAL (VALUES
    (jsonb_build_object('key', 'receipt:' || s.id, 'template', 'receipt', 'office_id', s.office_id, 'submission_id', s.id), 'mail.send', 'mail'),
    (jsonb_build_object('webhook_id', 1, 'event_id', 'submission.created.' || s.id, 'body', jsonb_build_object('submission', jsonb_build_object('id', s.id))), 'webhook.deliver', 'default'),
    (jsonb_build_object('key', 'digest:' || s.office_id || ':' || s.id, 'template', 'digest', 'office_id', s.office_id), 'mail.send', 'mail')
) AS a(args, kind, queue)
WHERE s.draft_id <= -$1::bigint AND s.draft_id > -($1::bigint + 2 * $2::bigint)`,
	} {
		args := []any{from, n}
		if first {
			args, first = []any{officeID, hash, from, n, closed}, false
		}
		if _, err := db.Exec(ctx, q, args...); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := db.Exec(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkDeleteDue10000 deletes 10,000 due cases, each with its
// attachment, events, refused mail and jobs, beside 10,000 open cases and
// 10,000 unrelated jobs, in batches of 500 with an audit entry per case
// (one op: all 10,000).
func BenchmarkDeleteDue10000(b *testing.B) {
	ctx := context.Background()
	db := storetest.New(b)
	if err := demo.Seed(ctx, db); err != nil {
		b.Fatal(err)
	}
	set, err := forms.Builtin()
	if err != nil {
		b.Fatal(err)
	}
	f, _ := set.Form("amtsaerztliches-gutachten")
	if err := store.SaveFormDefinition(ctx, db, store.FormDefinition{FormID: f.ID, Hash: f.Hash, Version: f.Version, Source: string(f.Source)}); err != nil {
		b.Fatal(err)
	}
	office, err := store.GetOfficeBySlug(ctx, db, "leipzig")
	if err != nil {
		b.Fatal(err)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	cases := retention.NewCases(db, set, berlin, slog.New(slog.DiscardHandler))
	now := time.Now()
	const n = 10000
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		seedDue(b, db, office.ID, f.Hash, 1+i*2*n, n, now.AddDate(-11, 0, 0))
		b.StartTimer()
		res, err := cases.DeleteDue(ctx, now, time.Time{})
		if err != nil || res.Cases != n {
			b.Fatalf("deleted %d, %v", res.Cases, err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "cases/s")
	var left int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE args ? 'submission_id' AND NOT EXISTS
		(SELECT 1 FROM submission s WHERE s.id = (args->>'submission_id')::bigint)`).Scan(&left); err != nil || left != 0 {
		b.Errorf("%d jobs of deleted cases left, %v", left, err)
	}
	if _, err := audit.Verify(ctx, db, 0); err != nil {
		b.Error(err)
	}
}
