package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gesundheitsamt/portal/forms"
	"github.com/gesundheitsamt/portal/internal/mail/mailtest"
	"github.com/gesundheitsamt/portal/internal/pgembed"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/submission"
)

// make drill runs TestDrill with -drill.full (and the binary make built);
// make test runs the short form.
var (
	drillFull = flag.Bool("drill.full", false, "run the drill at full size: 3,000 submissions, PostgreSQL down 10 s, SMTP down 60 s, a 500 ms relay")
	drillBin  = flag.String("drill.bin", "", "the portal binary to drill (default: built by the test)")
)

// drillSize is how big a drill is.
type drillSize struct {
	submissions int           // drafts submitted in the storm
	rate        int           // new submits a second
	relayDelay  time.Duration // how long the relay takes to accept a mail
	pgDown      time.Duration // PostgreSQL stopped this long
	smtpDown    time.Duration // the relay stopped this long
}

var (
	drillShort = drillSize{submissions: 300, rate: 40, relayDelay: 100 * time.Millisecond, pgDown: 3 * time.Second, smtpDown: 5 * time.Second}
	drillLong  = drillSize{submissions: 3000, rate: 75, relayDelay: 500 * time.Millisecond, pgDown: 10 * time.Second, smtpDown: 60 * time.Second}
)

// TestDrill is the fault drill against the real binary: two `portal
// serve` processes on one PostgreSQL, an SMTP relay over TCP that takes
// its time, and a storm of submissions posted over HTTP to both. During
// the storm one process is killed (SIGKILL) and started again,
// PostgreSQL is stopped and started again, then the relay. A submit that
// fails is posted again, to the other process, as a citizen (or a load
// balancer) would. At the end it counts submissions acknowledged, stored
// and duplicated, and mails expected, delivered and doubled.
//
// It fails when an acknowledged submission is not stored, a submission
// is stored twice, a request gets a 500, a mail does not arrive, or a
// mail arrives twice other than one the killed process had in flight at
// the relay (SMTP has no exactly-once: the relay accepted it, the process
// died before it could write that down; the Message-ID is the same, so
// the receiving side can drop the copy).
func TestDrill(t *testing.T) {
	size := drillShort
	if *drillFull {
		size = drillLong
	}
	ctx := context.Background()
	bin := *drillBin
	if bin == "" {
		bin = filepath.Join(t.TempDir(), "portal")
		if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}

	// PostgreSQL of the drill's own, so that it can be stopped.
	pgDir := t.TempDir()
	cluster, err := pgembed.Start(ctx, pgembed.Options{Dir: pgDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cluster.Stop() })
	if err := cluster.EnsureDatabase(ctx, "portal"); err != nil {
		t.Fatal(err)
	}
	sink := mailtest.Start(t)
	sink.SetDelay(size.relayDelay)

	logDir := t.TempDir()
	env := append(os.Environ(), "DATABASE_URL="+cluster.DSN("portal"), "PORTAL_DEMO=1", "SMTP_URL=smtp://"+sink.Addr,
		"PORTAL_SECRET_KEY="+strings.Repeat("drill-key-", 4), "PORTAL_ENCRYPTION_KEY=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		"PORTAL_JOBS_RESCUE_AFTER=30s", "PORTAL_DATA_DIR="+t.TempDir())
	a := &drillInstance{t: t, name: "a", bin: bin, env: env, logDir: logDir}
	b := &drillInstance{t: t, name: "b", bin: bin, env: env, logDir: logDir}
	a.start() // seeds the demo data alone, then b finds it there
	b.start()
	t.Cleanup(a.kill)
	t.Cleanup(b.kill)

	db, err := store.Open(ctx, cluster.DSN("portal"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tokens := drillDrafts(t, db, size.submissions)
	client := newDrillClient(t, a.url(), size.submissions)

	// The storm, and the faults in its course; /readyz of one process is
	// asked all along, as a load balancer would.
	stopPolling := make(chan struct{})
	readyz := pollReadyz(a, stopPolling)
	storm := client.storm([]*drillInstance{a, b}, tokens, size.rate)
	client.waitAcked(size.submissions / 5)
	b.kill()
	inFlightAtKill := runningMailJobs(t, db)
	mailsAtKill := len(sink.Mails())
	time.Sleep(2 * time.Second)
	b.start()
	client.waitAcked(size.submissions * 9 / 20)
	mailsAtPGStop, pgStopped := len(sink.Mails()), time.Now()
	if err := cluster.Stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(size.pgDown)
	if cluster, err = pgembed.Start(ctx, pgembed.Options{Dir: pgDir}); err != nil {
		t.Fatal(err)
	}
	mailsAtPGStart, pgStarted := len(sink.Mails()), time.Now()
	time.Sleep(time.Second)
	sink.Stop()
	time.Sleep(size.smtpDown)
	sink.Restart()
	<-storm
	close(stopPolling)
	notReady := (<-readyz).between(pgStopped, pgStarted)

	// Submissions: what was acknowledged is stored, nothing twice.
	var stored, drafts, references int
	if err := db.QueryRow(ctx, `SELECT count(*), count(DISTINCT draft_id), count(DISTINCT reference) FROM submission`).Scan(&stored, &drafts, &references); err != nil {
		t.Fatal(err)
	}
	acked := client.ackedTokens()
	var lost int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM draft d WHERE d.token_hash = ANY($1) AND NOT EXISTS (SELECT 1 FROM submission s WHERE s.draft_id = d.id)`,
		hashes(acked)).Scan(&lost); err != nil {
		t.Fatal(err)
	}
	duplicated := stored - drafts + (stored - references)

	// Mails: a receipt and an office notice per stored submission.
	ids, err := pgx.CollectRows(must(db.Query(ctx, `SELECT id FROM submission`)), pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	expected := map[string]string{} // Message-ID → job key
	for _, id := range ids {
		for _, kind := range []string{"receipt", "office"} {
			expected[fmt.Sprintf("<%s.%d.%d@localhost>", kind, id, id)] = fmt.Sprintf("%s:%d", kind, id)
		}
	}
	var got map[string]int
	for deadline := time.Now().Add(size.smtpDown + 3*time.Minute); ; time.Sleep(250 * time.Millisecond) {
		got = sink.MessageIDs()
		if len(got) >= len(expected) || time.Now().After(deadline) {
			break
		}
	}
	time.Sleep(2 * time.Second) // a copy sent late would arrive now
	got = sink.MessageIDs()
	var delivered, doubled, doubledElsewhere int
	for id, key := range expected {
		if got[id] > 0 {
			delivered++
		}
		if got[id] > 1 {
			doubled += got[id] - 1
			if !inFlightAtKill[key] {
				doubledElsewhere++
				t.Errorf("mail %s arrived %d times, and was not in flight at the kill", id, got[id])
			}
		}
	}
	unexpected := 0
	for id := range got {
		if _, ok := expected[id]; !ok {
			unexpected++
		}
	}

	t.Logf("drill: %d submissions at %d/s to two processes, one killed (SIGKILL) at %d acknowledged; PostgreSQL down %v; relay (%v a mail) down %v",
		size.submissions, size.rate, size.submissions/5, size.pgDown, size.relayDelay, size.smtpDown)
	t.Logf("submissions: acknowledged %d, stored %d, lost %d, duplicated %d; posts %d, failed: no connection %d, %s",
		len(acked), stored, lost, duplicated, client.posts.Load(), client.refused.Load(), client.failedStatuses())
	t.Logf("mails: expected %d, delivered %d, doubled %d (jobs in flight at the kill: %d), doubled otherwise %d, unexpected %d; accepted by the relay before the kill %d, while PostgreSQL stopped and was down %d",
		len(expected), delivered, doubled, len(inFlightAtKill), doubledElsewhere, unexpected, mailsAtKill, mailsAtPGStart-mailsAtPGStop)
	t.Logf("readyz of process a while PostgreSQL was down: %s", notReady)
	t.Logf("logs: %s", a.logSummary()+"; "+b.logSummary())

	switch {
	case len(acked) != size.submissions:
		t.Errorf("%d of %d submissions were acknowledged in the end", len(acked), size.submissions)
	case lost > 0:
		t.Errorf("%d acknowledged submissions were not stored", lost)
	case duplicated > 0:
		t.Errorf("%d submissions stored twice", duplicated)
	}
	if n := client.status500.Load(); n > 0 {
		t.Errorf("%d submits answered 500", n)
	}
	if notReady.unavailable == 0 {
		t.Errorf("/readyz never said 503 while PostgreSQL was down")
	}
	if delivered != len(expected) || unexpected > 0 {
		t.Errorf("%d of %d mails delivered, %d unexpected", delivered, len(expected), unexpected)
	}
	for _, in := range []*drillInstance{a, b} {
		if n := in.count("check SMTP_URL"); n > 0 {
			t.Errorf("process %s: the relay's outage was logged %d times as the relay refusing the portal", in.name, n)
		}
	}
}

// drillInstance is one `portal serve` process of the drill, on a fixed
// port so that it comes back where it was.
type drillInstance struct {
	t      *testing.T
	name   string
	bin    string
	env    []string
	logDir string
	addr   string

	mu   sync.Mutex
	cmd  *exec.Cmd
	runs int
}

func (in *drillInstance) url() string { return "http://" + in.addr }

// start runs the process and waits for it to be ready.
func (in *drillInstance) start() {
	t := in.t
	t.Helper()
	if in.addr == "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		in.addr = ln.Addr().String()
		ln.Close()
	}
	in.runs++
	logFile, err := os.Create(filepath.Join(in.logDir, fmt.Sprintf("%s.%d.log", in.name, in.runs)))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(in.bin, "serve")
	cmd.Env = append(slices.Clone(in.env), "PORTAL_ADDR="+in.addr)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		defer logFile.Close()
		sc := bufio.NewScanner(io.TeeReader(out, logFile))
		once := false
		for sc.Scan() {
			if !once && strings.Contains(sc.Text(), "portal ready") {
				close(ready)
				once = true
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(90 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("process %s did not become ready", in.name)
	}
	in.mu.Lock()
	in.cmd = cmd
	in.mu.Unlock()
}

// kill ends the process with SIGKILL: no shutdown at all.
func (in *drillInstance) kill() {
	in.mu.Lock()
	cmd := in.cmd
	in.cmd = nil
	in.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
	}
}

// count counts the log lines of every run that contain s.
func (in *drillInstance) count(s string) int {
	n := 0
	for run := 1; run <= in.runs; run++ {
		b, _ := os.ReadFile(filepath.Join(in.logDir, fmt.Sprintf("%s.%d.log", in.name, run)))
		n += strings.Count(string(b), s)
	}
	return n
}

func (in *drillInstance) logSummary() string {
	return fmt.Sprintf("process %s: %d starts, relay unreachable said %d times, back %d; records of sent mails written after the database came back %d, kept in memory %d; not ready %d",
		in.name, in.runs, in.count("the SMTP relay cannot be reached"), in.count("the SMTP relay accepts mail again"),
		in.count("written after the database came back"), in.count("kept in memory"), in.count("msg=\"not ready"))
}

// drillDrafts writes n completed drafts of the appointment request at
// Leipzig, each with its own address, and returns their tokens.
func drillDrafts(t *testing.T, db *store.DB, n int) []string {
	t.Helper()
	ctx := context.Background()
	var officeID int64
	if err := db.QueryRow(ctx, `SELECT id FROM office WHERE slug = 'leipzig'`).Scan(&officeID); err != nil {
		t.Fatal(err)
	}
	tokens := make([]string, n)
	rows := make([][]any, n)
	expires := time.Now().Add(24 * time.Hour)
	for i := range tokens {
		answers, err := json.Marshal(forms.Answers{
			Values: map[string][]string{
				"topic": {"impfung"}, "message": {"Bitte um Beratung vor einer Reise."},
				"mode": {"video"}, "days": {"mo", "mi"}, "time_of_day": {"vormittags"},
				"given_name": {"Łukasz"}, "family_name": {"Müller"}, "email": {fmt.Sprintf("drill%d@example.org", i)},
			},
			Done: []string{"anliegen", "termin", "kontakt"},
		})
		if err != nil {
			t.Fatal(err)
		}
		tokens[i] = submission.NewToken()
		rows[i] = []any{submission.HashToken(tokens[i]), officeID, "terminanfrage", "terminanfrage", answers, expires}
	}
	if _, err := db.CopyFrom(ctx, pgx.Identifier{"draft"},
		[]string{"token_hash", "office_id", "service_slug", "form_id", "answers", "expires_at"}, pgx.CopyFromRows(rows)); err != nil {
		t.Fatal(err)
	}
	return tokens
}

func hashes(tokens []string) [][]byte {
	out := make([][]byte, len(tokens))
	for i, tok := range tokens {
		out[i] = submission.HashToken(tok)
	}
	return out
}

// runningMailJobs returns the keys of the mail jobs River has as running.
func runningMailJobs(t *testing.T, db *store.DB) map[string]bool {
	t.Helper()
	keys, err := pgx.CollectRows(must(db.Query(context.Background(),
		`SELECT args->>'key' FROM river_job WHERE kind = 'mail.send' AND state = 'running'`)), pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]bool, len(keys))
	for _, k := range keys {
		out[k] = true
	}
	return out
}
