package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/gesundheitsamt/portal/internal/crypto"
	"github.com/gesundheitsamt/portal/internal/mail"
	"github.com/gesundheitsamt/portal/internal/mail/mailtest"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/store/storetest"
	"github.com/gesundheitsamt/portal/internal/submission"
)

// process is the real portal binary running as its own process.
type process struct {
	cmd   *exec.Cmd
	ready chan struct{}
}

func startProcess(t *testing.T, bin string, env []string) *process {
	t.Helper()
	cmd := exec.Command(bin, "serve")
	cmd.Env = env
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, ready: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(out)
		once := false
		for sc.Scan() {
			if !once && strings.Contains(sc.Text(), "portal ready") {
				close(p.ready)
				once = true
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case <-p.ready:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("the portal did not become ready")
	}
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGKILL); _ = cmd.Wait() })
	return p
}

// TestKilledMidBurstLosesNoMail queues a burst of receipts, kills the
// portal process (SIGKILL: no shutdown) while it sends them, starts it
// again, and counts what the SMTP server got: every mail arrives. A mail
// the server accepted just before the kill, but whose job was not yet
// marked done, is sent again after the restart with the same Message-ID
// (SMTP gives no exactly-once; the receiving server can drop the copy):
// such copies are at most the mails in flight at the kill.
func TestKilledMidBurstLosesNoMail(t *testing.T) {
	ctx := context.Background()
	bin := filepath.Join(t.TempDir(), "portal")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	sink := mailtest.Start(t)
	sink.SetDelay(5 * time.Millisecond)
	dsn := storetest.DSN(t)
	key := "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	env := append(os.Environ(), "DATABASE_URL="+dsn, "PORTAL_DATA_DIR="+t.TempDir(), "PORTAL_ADDR=127.0.0.1:0", "PORTAL_DEMO=1",
		"SMTP_URL=smtp://"+sink.Addr, "PORTAL_SECRET_KEY="+strings.Repeat("kill-test-", 4), "PORTAL_ENCRYPTION_KEY="+key,
		"PORTAL_JOBS_RESCUE_AFTER=10s")
	p := startProcess(t, bin, env)

	// A burst: receipts of 400 submissions, queued at once.
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	box, err := crypto.NewBox([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	const n = 400
	var officeID int64
	var formID, hash string
	if err := db.QueryRow(ctx, `SELECT o.id, d.form_id, d.hash FROM office o, form_definition d
		WHERE o.slug = 'leipzig' AND d.form_id = 'terminanfrage' LIMIT 1`).Scan(&officeID, &formID, &hash); err != nil {
		t.Fatal(err)
	}
	rows := make([][]any, n)
	for i := range rows {
		token := submission.NewToken()
		sealed, err := submission.SealAccessToken(box, officeID, token)
		if err != nil {
			t.Fatal(err)
		}
		rows[i] = []any{officeID, "terminanfrage", formID, 1, hash, "de", submission.NewReference("LEJ", 2026), submission.HashToken(token),
			-int64(i) - 1, []byte(`{"answers":{}}`), []byte{0}, fmt.Sprintf("b%d@example.org", i), sealed}
	}
	if _, err := db.CopyFrom(ctx, pgx.Identifier{"submission"}, []string{"office_id", "service_slug", "form_id", "form_version", "form_hash",
		"locale", "reference", "access_token_hash", "draft_id", "data", "record_sha256", "contact_email", "access_token_sealed"}, pgx.CopyFromRows(rows)); err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(must(db.Query(ctx, `SELECT id FROM submission WHERE draft_id < 0 ORDER BY id`)), pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	client, err := river.NewClient(db.RiverDriver(), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	params := make([]river.InsertManyParams, len(ids))
	for i, id := range ids {
		params[i] = river.InsertManyParams{
			Args:       mail.Args{Key: "burst:" + strconv.FormatInt(id, 10), Template: mail.TemplateReceipt, OfficeID: officeID, SubmissionID: id},
			InsertOpts: &river.InsertOpts{Queue: mail.Queue, MaxAttempts: mail.MaxAttempts},
		}
	}
	if _, err := client.InsertMany(ctx, params); err != nil {
		t.Fatal(err)
	}

	// Kill it in the middle.
	for deadline := time.Now().Add(60 * time.Second); len(sink.Mails()) < n/4; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d mails before the kill", len(sink.Mails()))
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	atKill := len(sink.Mails())
	if atKill >= n {
		t.Fatalf("the burst was over (%d mails) before the kill", atKill)
	}
	var running int
	_ = db.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'mail.send' AND state = 'running'`).Scan(&running)
	time.Sleep(time.Second) // the rescue waits for PORTAL_JOBS_RESCUE_AFTER and the jobs' own timeout (half of it)
	startProcess(t, bin, env)

	var ids2 map[string]int
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if ids2 = sink.MessageIDs(); len(ids2) >= n || time.Now().After(deadline) {
			break
		}
	}
	copies := 0
	for _, k := range ids2 {
		copies += k - 1
	}
	t.Logf("%d of %d mails before the kill, %d jobs left running by it, %d mails sent twice (same Message-ID)", atKill, n, running, copies)
	if len(ids2) != n {
		var states string
		_ = db.QueryRow(ctx, `SELECT string_agg(state || ':' || n, ' ') FROM (SELECT state::text, count(*) n FROM river_job WHERE kind = 'mail.send' GROUP BY 1) s`).Scan(&states)
		var sched string
		_ = db.QueryRow(ctx, `SELECT coalesce(min(scheduled_at)::text, '') || ' .. ' || coalesce(max(scheduled_at)::text, '') || ' now ' || now()::text FROM river_job WHERE kind = 'mail.send' AND state <> 'completed'`).Scan(&sched)
		var lastErr string
		_ = db.QueryRow(ctx, `SELECT coalesce(string_agg(DISTINCT (errors[array_length(errors, 1)]->>'error') || ' @' || attempt, ' | '), '') FROM river_job WHERE state = 'retryable'`).Scan(&lastErr)
		t.Logf("errors: %s", lastErr)
		var leader string
		_ = db.QueryRow(ctx, `SELECT coalesce(string_agg(leader_id || ' ' || elected_at::text || ' → ' || expires_at::text, '; '), 'none') FROM river_leader`).Scan(&leader)
		var attempted string
		_ = db.QueryRow(ctx, `SELECT min(attempted_at)::text || ' attempted_by ' || coalesce(min(attempted_by[1]), '') FROM river_job WHERE state = 'running'`).Scan(&attempted)
		t.Fatalf("%d distinct mails arrived, want %d: mail was lost (jobs: %s; scheduled %s; leader %s; running since %s)", len(ids2), n, states, sched, leader, attempted)
	}
	if copies > running {
		t.Errorf("%d mails sent twice, more than the %d in flight at the kill", copies, running)
	}
}
