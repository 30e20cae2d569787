// Package jobs runs the portal's background work on River, the job queue
// in PostgreSQL: jobs are rows inserted in the transaction of the change
// that causes them, and any portal process works them.
package jobs

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/gesundheitsamt/portal/internal/booking"
	"github.com/gesundheitsamt/portal/internal/crypto"
	"github.com/gesundheitsamt/portal/internal/mail"
	"github.com/gesundheitsamt/portal/internal/retention"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/webhook"
)

// Options tune a client; the zero value is production's.
type Options struct {
	Workers int // concurrent webhook calls per process (default 10; they wait on the network)
	// MailWorkers is how many mails a process handles at once (default
	// 32: mostly waiting for the SMTP server; River fetches at most this
	// many jobs per fetch, every 100 ms). The CPU part, writing the mail
	// and its PDF, is bounded separately (mail.Worker.CPU).
	MailWorkers int
	// WebhookRetryBase is the first wait after a failed webhook call
	// (default 30 s; tests shorten it).
	WebhookRetryBase time.Duration
	HTTP             *http.Client // for webhook calls (default: 10 s timeout, no redirects)
	Mail             *mail.Worker // writes and sends mails; nil: no mail jobs are worked
	// RescueAfter is how long a job a dead process left running waits
	// before it runs again (default 5 minutes; River's own is an hour).
	RescueAfter time.Duration
	// Retention deletes the cases past their retention period, daily at
	// retention.DeleteAt in Loc; nil: no cases are deleted.
	Retention *retention.Worker
	// Loc is the offices' time zone, for the daily jobs (default UTC).
	Loc *time.Location
	// Waitlist sweeps the booking waiting lists: when a place frees, and
	// every list once a minute; nil: the lists are not served.
	Waitlist *booking.WaitlistWorker
}

// New returns a River client on db that works the portal's jobs once
// started. encKey opens webhook secrets.
func New(db *store.DB, encKey []byte, log *slog.Logger, opts Options) (*river.Client[pgx.Tx], error) {
	box, err := crypto.NewBox(encKey)
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	if opts.Workers == 0 {
		opts.Workers = 10
	}
	if opts.MailWorkers == 0 {
		opts.MailWorkers = 32
	}
	// The wiring (internal/app) builds the workers with these; a test
	// that builds a worker by hand gets the same defaults here.
	if opts.Mail != nil && opts.Mail.JobTimeout == 0 {
		opts.Mail.JobTimeout = JobTimeout(opts.RescueAfter)
	}
	if opts.Mail != nil && opts.Mail.CPU == nil {
		opts.Mail.CPU = MailCPU()
	}
	if opts.HTTP == nil {
		opts.HTTP = &http.Client{
			Timeout: 15 * time.Second,
			// A webhook answers where it was registered; a redirect is
			// not followed to wherever it points.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if opts.RescueAfter == 0 {
		opts.RescueAfter = 5 * time.Minute
	}
	if opts.Retention != nil && opts.Retention.JobTimeout == 0 {
		opts.Retention.JobTimeout = JobTimeout(opts.RescueAfter)
	}
	// River wants a rescue later than the client's job timeout; every job
	// kind sets its own (mail 2 min, webhook 15 s) anyway.
	jobTimeout := min(time.Minute, opts.RescueAfter/2)
	workers := river.NewWorkers()
	river.AddWorker(workers, &webhook.Worker{DB: db, Box: box, HTTP: opts.HTTP, RetryBase: opts.WebhookRetryBase})
	var periodic []*river.PeriodicJob
	if opts.Mail != nil {
		river.AddWorker(workers, opts.Mail)
		river.AddWorker(workers, &mail.DigestPlanner{DB: db})
		loc := cmp.Or(opts.Mail.Loc, opts.Loc, time.UTC)
		periodic = append(periodic, mail.PeriodicDigest(loc))
	}
	if opts.Retention != nil {
		loc := cmp.Or(opts.Loc, time.UTC)
		river.AddWorker(workers, opts.Retention)
		periodic = append(periodic, retention.PeriodicDelete(mail.DailyAt{At: retention.DeleteAt, Loc: loc}, loc))
	}
	if opts.Waitlist != nil {
		river.AddWorker(workers, opts.Waitlist)
		periodic = append(periodic, booking.PeriodicWaitlist())
	}
	client, err := river.NewClient(db.RiverDriver(), &river.Config{
		PeriodicJobs: periodic,
		Logger:       log.With("component", "jobs"),
		Queues: map[string]river.QueueConfig{
			river.QueueDefault: {MaxWorkers: opts.Workers},
			// River fetches at most MaxWorkers jobs a fetch, by default at
			// most every 100 ms: 320 mails a second whatever the CPU. A
			// burst of confirmations or reminders due at once is sent
			// faster with a shorter cooldown; an idle queue costs nothing
			// more (fetches follow inserts and the poll interval).
			mail.Queue: {MaxWorkers: opts.MailWorkers, FetchCooldown: MailFetchCooldown},
		},
		Workers: workers,
		// A job left running by a process that died (killed, power cut)
		// runs again after this; River's default is an hour.
		RescueStuckJobsAfter: opts.RescueAfter,
		JobTimeout:           jobTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	return client, nil
}

// MailFetchCooldown is the shortest wait between two fetches of mail
// jobs.
const MailFetchCooldown = 20 * time.Millisecond

// JobTimeout is the timeout of a mail or retention job when a job left
// running by a dead process runs again after rescueAfter
// (PORTAL_JOBS_RESCUE_AFTER): half of it, between a second and two
// minutes. River rescues such a job only after the job's own timeout, so
// a short rescue time asks for a short one.
func JobTimeout(rescueAfter time.Duration) time.Duration {
	return min(2*time.Minute, max(time.Second, rescueAfter/2))
}

// MailCPU is the semaphore of the mails written at once: half the CPUs
// at most, so that a burst of receipts does not make the citizens'
// requests wait.
func MailCPU() chan struct{} { return make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2)) }

// NewInserter returns a River client on db that only inserts jobs: it has
// no workers and is never started. The notifiers enqueue through it, so
// they need not wait for the client New returns, whose mail worker needs
// the submission service the notifiers are given to. A job inserted here
// is worked by the started clients of every portal process, as one
// inserted by them would be.
func NewInserter(db *store.DB, log *slog.Logger) (*river.Client[pgx.Tx], error) {
	client, err := river.NewClient(db.RiverDriver(), &river.Config{Logger: log.With("component", "jobs")})
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	return client, nil
}

// Stop lets running jobs finish (up to timeout), then cancels them; River
// retries a cancelled job later, so nothing is lost.
func Stop(client *river.Client[pgx.Tx], timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := client.Stop(ctx); err != nil {
		return client.StopAndCancel(context.Background())
	}
	return nil
}
