// Command benchmail measures the delivery of a burst of mail against a running
// portal: it runs an SMTP sink (emersion/go-smtp) that the portal sends to
// (SMTP_URL=smtp://<-sink>), seeds -n submissions with an address directly
// in the portal's database, queues one receipt mail (with its PDF) for each
// in one transaction, and times until the sink has them all. It also
// checks that none arrived twice. .ci/bench-mail runs it; it is not part
// of the portal.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/gesundheitsamt/portal/internal/config"
	"github.com/gesundheitsamt/portal/internal/crypto"
	"github.com/gesundheitsamt/portal/internal/mail"
	"github.com/gesundheitsamt/portal/internal/pgembed"
	"github.com/gesundheitsamt/portal/internal/submission"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "benchmail:", err)
		os.Exit(1)
	}
}

func run() error {
	sinkAddr := flag.String("sink", "127.0.0.1:18125", "where the SMTP sink listens (the portal's SMTP_URL)")
	n := flag.Int("n", 10000, "mails to queue")
	timeout := flag.Duration("timeout", 5*time.Minute, "give up after")
	serveOnly := flag.Bool("serve", false, "only run the sink (start it before the portal)")
	kind := flag.String("kind", "receipt", "receipt: receipts queued at once; reminder: appointment reminders all due at the same moment")
	flag.Parse()
	if *serveOnly {
		s := &sink{seen: map[string]int{}}
		return s.serve(*sinkAddr)
	}
	switch *kind {
	case "receipt":
		return measure(*sinkAddr, *n, *timeout)
	case "reminder":
		return measureReminders(*sinkAddr, *n, *timeout)
	}
	return fmt.Errorf("unknown -kind %q", *kind)
}

// sink counts the mails it receives by Message-Id.
type sink struct {
	mu   sync.Mutex
	seen map[string]int
	n    int
}

func (s *sink) serve(addr string) error {
	srv := smtp.NewServer(s)
	srv.Domain = "sink.bench"
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	// A tiny control port: "count" answers how many mails and duplicates.
	ctl, err := net.Listen("tcp", controlAddr(addr))
	if err != nil {
		return err
	}
	go func() {
		for {
			c, err := ctl.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			dup := 0
			for _, k := range s.seen {
				dup += k - 1
			}
			fmt.Fprintf(c, "%d %d\n", s.n, dup)
			s.mu.Unlock()
			c.Close()
		}
	}()
	return srv.Serve(ln)
}

func controlAddr(addr string) string {
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	return net.JoinHostPort(host, strconv.Itoa(p+1))
}

func (s *sink) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{s: s}, nil }

type session struct{ s *sink }

func (x *session) Reset()                               {}
func (x *session) Logout() error                        { return nil }
func (x *session) Mail(string, *smtp.MailOptions) error { return nil }
func (x *session) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (x *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	id := ""
	for _, line := range strings.Split(string(b), "\r\n") {
		if v, ok := strings.CutPrefix(line, "Message-Id: "); ok {
			id = v
			break
		}
	}
	x.s.mu.Lock()
	x.s.seen[id]++
	x.s.n++
	x.s.mu.Unlock()
	return nil
}

func count(addr string) (int, int, error) {
	c, err := net.Dial("tcp", controlAddr(addr))
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	var n, dup int
	_, err = fmt.Fscan(c, &n, &dup)
	return n, dup, err
}

// portalDB opens the database of the portal that runs with the same
// PORTAL_DATA_DIR, and the box of its encryption key.
func portalDB(ctx context.Context) (*pgxpool.Pool, *crypto.Box, config.Config, func(), error) {
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		return nil, nil, cfg, nil, err
	}
	if _, err := cfg.LoadOrCreateSecrets(); err != nil {
		return nil, nil, cfg, nil, err
	}
	box, err := crypto.NewBox(cfg.EncryptionKey)
	if err != nil {
		return nil, nil, cfg, nil, err
	}
	cluster, err := pgembed.Start(ctx, pgembed.Options{Dir: cfg.DataDir + "/pg"})
	if err != nil {
		return nil, nil, cfg, nil, err
	}
	pool, err := pgxpool.New(ctx, cluster.DSN("portal"))
	if err != nil {
		cluster.Stop()
		return nil, nil, cfg, nil, err
	}
	return pool, box, cfg, func() { pool.Close(); cluster.Stop() }, nil
}

// measure seeds n submissions, queues their receipts in one transaction,
// and waits for the sink to have them.
func measure(sinkAddr string, n int, timeout time.Duration) error {
	ctx := context.Background()
	pool, box, _, done, err := portalDB(ctx)
	if err != nil {
		return err
	}
	defer done()
	var officeID int64
	var formID, hash string
	if err := pool.QueryRow(ctx, `SELECT o.id, d.form_id, d.hash FROM office o, form_definition d
		WHERE o.slug = 'leipzig' AND d.form_id = 'terminanfrage' LIMIT 1`).Scan(&officeID, &formID, &hash); err != nil {
		return fmt.Errorf("the portal must run with PORTAL_DEMO=1: %w", err)
	}
	before, _, err := count(sinkAddr)
	if err != nil {
		return fmt.Errorf("the sink does not answer (start it with -serve): %w", err)
	}

	// Seed: submissions with an address and a sealed access token.
	var minDraft int64
	_ = pool.QueryRow(ctx, `SELECT coalesce(min(draft_id), 0) FROM submission`).Scan(&minDraft)
	rows := make([][]any, n)
	for i := range rows {
		token := submission.NewToken()
		sealed, err := submission.SealAccessToken(box, officeID, token)
		if err != nil {
			return err
		}
		ref := submission.NewReference("LEJ", time.Now().Year())
		rows[i] = []any{officeID, "terminanfrage", formID, 1, hash, "de", ref, submission.HashToken(token), minDraft - int64(i) - 1,
			[]byte(`{"answers":{}}`), []byte{0}, fmt.Sprintf("buerger%d@example.org", i), sealed}
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"submission"}, []string{"office_id", "service_slug", "form_id", "form_version", "form_hash",
		"locale", "reference", "access_token_hash", "draft_id", "data", "record_sha256", "contact_email", "access_token_sealed"}, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	ids, err := pgxIDs(ctx, pool, `SELECT id FROM submission WHERE draft_id < $1 ORDER BY id`, minDraft)
	if err != nil {
		return err
	}

	// Queue the receipts in one transaction, as a burst of submissions would.
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		return err
	}
	params := make([]river.InsertManyParams, len(ids))
	for i, id := range ids {
		params[i] = river.InsertManyParams{
			Args:       mail.Args{Key: "bench:" + strconv.FormatInt(id, 10), Template: mail.TemplateReceipt, OfficeID: officeID, SubmissionID: id},
			InsertOpts: &river.InsertOpts{Queue: mail.Queue, MaxAttempts: mail.MaxAttempts},
		}
	}
	start := time.Now()
	if _, err := client.InsertMany(ctx, params); err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	queued := time.Since(start)
	var got, dup int
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if got, dup, err = count(sinkAddr); err != nil {
			return err
		}
		if got-before >= len(ids) {
			break
		}
	}
	took := time.Since(start)
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"mails": len(ids), "delivered": got - before, "duplicates": dup, "queue_ms": queued.Milliseconds(),
		"seconds": took.Seconds(), "per_second": float64(got-before) / took.Seconds(),
	})
}

// measureReminders seeds n booked appointments of the demo office's
// on-site calendar for tomorrow and queues their reminders as the
// booking service does when they are booked (mail.Notifier.Booking,
// sealed token and all), every one scheduled for the same moment a few
// seconds ahead; it times from that moment until the sink has them all.
func measureReminders(sinkAddr string, n int, timeout time.Duration) error {
	ctx := context.Background()
	pool, box, cfg, done, err := portalDB(ctx)
	if err != nil {
		return err
	}
	defer done()
	var officeID, calendarID int64
	var service string
	if err := pool.QueryRow(ctx, `SELECT c.office_id, c.id, s.service_slug FROM calendar c JOIN office o ON o.id = c.office_id
		JOIN calendar_service s ON s.calendar_id = c.id WHERE o.slug = 'leipzig' AND c.kind = 'onsite' ORDER BY c.id, s.service_slug LIMIT 1`).Scan(&officeID, &calendarID, &service); err != nil {
		return fmt.Errorf("the portal must run with PORTAL_DEMO=1: %w", err)
	}
	before, _, err := count(sinkAddr)
	if err != nil {
		return fmt.Errorf("the sink does not answer (start it with -serve): %w", err)
	}
	// Seed: n booked appointments, one a minute from 25 hours ahead
	// (only the database's constraint on places applies here, not the
	// calendar's rules), each with its own address and mail token.
	first := time.Now().Add(25 * time.Hour).Truncate(time.Minute)
	var minStart time.Time
	_ = pool.QueryRow(ctx, `SELECT coalesce(max(starts_at), $1) FROM booking WHERE calendar_id = $2`, first, calendarID).Scan(&minStart)
	if minStart.After(first) {
		first = minStart.Add(time.Minute)
	}
	tokens := make([]string, n)
	rows := make([][]any, n)
	for i := range rows {
		tokens[i] = submission.NewToken()
		rows[i] = []any{officeID, calendarID, service, first.Add(time.Duration(i) * time.Minute), 0, "booked",
			submission.HashToken(submission.NewToken()), submission.HashToken(tokens[i]), "Bench Bürgerin", fmt.Sprintf("termin%d@example.org", i), "de", time.Now()}
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"booking"}, []string{"office_id", "calendar_id", "service_slug", "starts_at", "seat", "state",
		"token_hash", "mail_token_hash", "name", "email", "lang", "confirmed_at"}, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	ids, err := pgxIDs(ctx, pool, `SELECT id FROM booking WHERE calendar_id = $1 AND starts_at >= $2 ORDER BY starts_at`, calendarID, first)
	if err != nil {
		return err
	}
	if len(ids) != n {
		return fmt.Errorf("seeded %d bookings, want %d", len(ids), n)
	}
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		return err
	}
	notifier := mail.NewNotifier(client, box, cfg.SecretKey)
	due := time.Now().Add(30 * time.Second).Truncate(time.Second)
	for lo := 0; lo < n; lo += 1000 {
		tx, err := pool.Begin(ctx)
		if err != nil {
			return err
		}
		for i := lo; i < min(n, lo+1000); i++ {
			if err := notifier.Booking(ctx, tx, mail.BookingMail{
				Key: "booking:" + strconv.FormatInt(ids[i], 10) + ":reminder:0", Template: mail.TemplateBookingReminder,
				OfficeID: officeID, BookingID: ids[i], Token: tokens[i], At: due,
			}); err != nil {
				tx.Rollback(ctx)
				return fmt.Errorf("queue: %w", err)
			}
		}
		if err := tx.Commit(ctx); err != nil {
			return err
		}
	}
	if wait := time.Until(due); wait > 0 {
		time.Sleep(wait)
	} else {
		return fmt.Errorf("queueing took past the due time (%v late): raise the lead", -wait)
	}
	start := time.Now()
	var got, dup int
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if got, dup, err = count(sinkAddr); err != nil {
			return err
		}
		if got-before >= n {
			break
		}
	}
	took := time.Since(start)
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"mails": n, "delivered": got - before, "duplicates": dup, "queue_ms": 0,
		"seconds": took.Seconds(), "per_second": float64(got-before) / took.Seconds(),
	})
}

func pgxIDs(ctx context.Context, pool *pgxpool.Pool, sql string, args ...any) ([]int64, error) {
	rows, err := pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}
