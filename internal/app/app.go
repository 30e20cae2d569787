// Package app is the one place the portal's dependency graph is built:
// serve and the HTTP tests and Go benchmarks call New and run the same
// application (the bench tools under cmd/ measure the binary serve
// builds). Every dependency is given to its constructor; nothing is
// set after construction. What legitimately differs between production,
// tests and benchmarks is an Option.
package app

import (
	_ "time/tzdata" // Europe/Berlin also where the system has no zone files

	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/riverqueue/river"

	"github.com/gesundheitsamt/portal/forms"
	"github.com/gesundheitsamt/portal/internal/auth"
	"github.com/gesundheitsamt/portal/internal/booking"
	"github.com/gesundheitsamt/portal/internal/config"
	"github.com/gesundheitsamt/portal/internal/crypto"
	"github.com/gesundheitsamt/portal/internal/i18n"
	"github.com/gesundheitsamt/portal/internal/inbox"
	"github.com/gesundheitsamt/portal/internal/jobs"
	"github.com/gesundheitsamt/portal/internal/mail"
	"github.com/gesundheitsamt/portal/internal/office"
	"github.com/gesundheitsamt/portal/internal/retention"
	"github.com/gesundheitsamt/portal/internal/scan"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/submission"
	"github.com/gesundheitsamt/portal/internal/video"
	"github.com/gesundheitsamt/portal/internal/video/sfu"
	"github.com/gesundheitsamt/portal/internal/video/turn"
	"github.com/gesundheitsamt/portal/internal/webhook"
	"github.com/gesundheitsamt/portal/locales"
	"github.com/gesundheitsamt/portal/portal"
)

// Notifier is told of what the domain does, inside the transaction that
// does it: new submissions and answers (submission.Events), status
// changes (inbox.Events), and the resume links of saved drafts to mail
// (submission.ResumeMailer).
type Notifier interface {
	submission.Events
	inbox.Events
	submission.ResumeMailer
}

// Options are what differs between production, tests and benchmarks;
// the zero value is production's.
type Options struct {
	// Logger hears the application; nil: discarded.
	Logger *slog.Logger
	// Registry takes the metrics served at /metrics; nil: a new one with
	// the Go and process collectors.
	Registry *prometheus.Registry
	// Sender delivers mails; nil: SMTP to cfg.SMTPURL or, without one,
	// the development mailbox.
	Sender mail.Sender
	// Notifier, if set, is given the notifier New built (webhook calls
	// and mails, enqueued as jobs) and returns the one the services tell:
	// tests observe or redirect the domain's events with it.
	Notifier func(Notifier) Notifier
	// Now is the clock of the services that keep time (the closing of a
	// case, the expiry of a draft); nil: the system clock.
	Now func() time.Time
	// SpoolDir holds the files of posts in flight; empty: spool under
	// cfg.DataDir (not /tmp, which may be memory).
	SpoolDir string
	// MinSpoolFree is the room /readyz wants in SpoolDir, in bytes (0:
	// portal.Deps' default).
	MinSpoolFree uint64
	// SessionRecheck is how often an open staff call socket checks its
	// session (0: portal.Deps' default).
	SessionRecheck time.Duration
}

// App is the built application: the HTTP server, the services behind it
// and the background work (jobs, the retention sweep), which runs between
// Start and Stop.
type App struct {
	Server      *portal.Server
	DB          *store.DB
	Forms       *forms.Set
	Location    *time.Location // the offices' time zone, Europe/Berlin
	Submissions *submission.Service
	Inbox       *inbox.Service
	Video       *video.Service
	Booking     *booking.Service
	Media       *sfu.SFU     // the calls' media on this process
	Hub         *video.Hub   // who is connected to which call here
	TURN        *turn.Server // nil without TURN (production without PORTAL_TURN_PORT)
	Auth        *auth.Service
	Directory   *office.Directory
	Retention   *retention.Cases
	Registry    *prometheus.Registry
	// Jobs works the mail, webhook and retention jobs once Start ran.
	Jobs *river.Client[pgx.Tx]
	// Notifier is the notifier the services tell (after Options.Notifier).
	Notifier Notifier

	log      *slog.Logger
	closers  []func() // what New opened beside the database, closed by Stop
	stopWork context.CancelFunc
	workDone chan struct{}
}

// New builds the application from cfg on db, an open and migrated
// database: the forms (kept in db), the services, the mail worker, the
// job client and the HTTP server. Nothing runs in the background until
// Start. Errors: whatever a constructor refuses (a bad key, SMTP_URL or
// DKIM key file, a template that does not parse).
func New(ctx context.Context, cfg config.Config, db *store.DB, opts Options) (a *App, err error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a = &App{DB: db, log: log}
	built := a // a is nil once an error is returned
	defer func() {
		if err != nil {
			built.close()
		}
	}()
	if a.Forms, err = forms.Builtin(); err != nil {
		return nil, err
	}
	if a.Location, err = time.LoadLocation("Europe/Berlin"); err != nil {
		return nil, err
	}
	checker, err := scan.New(scan.Options{Clamd: cfg.Clamd, Log: log})
	if err != nil {
		return nil, err
	}
	if cfg.Clamd == "" {
		log.Info("no virus scan of uploads: PORTAL_CLAMD is not set")
	} else if st := checker.Status(ctx); st.Version != "" { // Status warns when clamd does not answer
		log.Info("uploads are scanned for viruses", "clamd", st.Version)
	}
	box, err := crypto.NewBox(cfg.EncryptionKey)
	if err != nil {
		return nil, err
	}

	// Background jobs (mails, webhook calls) are inserted with the changes
	// that cause them and worked by every portal process. The client that
	// works them needs the mail worker, the mail worker the submission
	// service (it opens access tokens for the links it sends), and the
	// submission service the notifiers. Inserting needs no workers, so
	// the notifiers insert through a client that only inserts, built
	// first; the working client, built last, works the same queues.
	inserter, err := jobs.NewInserter(db, log)
	if err != nil {
		return nil, err
	}
	mails := mail.NewNotifier(inserter, box, cfg.SecretKey)
	a.Notifier = notifier{Events: jobs.Events{webhook.NewNotifier(inserter), mails}, resume: mails}
	if opts.Notifier != nil {
		a.Notifier = opts.Notifier(a.Notifier)
	}

	a.Submissions, err = submission.New(submission.Options{
		DB: db, Engine: forms.NewEngine(forms.NewValidator(), a.Location), Secret: cfg.SecretKey, EncryptionKey: cfg.EncryptionKey,
		Location: a.Location, Scan: checker, Events: a.Notifier, Resume: a.Notifier, Now: opts.Now,
	})
	if err != nil {
		return nil, err
	}
	// Submissions refer to their form definition by hash.
	if err := a.Submissions.SaveDefinitions(ctx, a.Forms); err != nil {
		return nil, err
	}
	if a.Auth, err = auth.New(db, cfg.EncryptionKey); err != nil {
		return nil, err
	}
	a.Inbox = inbox.New(inbox.Options{DB: db, Submissions: a.Submissions, Forms: a.Forms, Events: a.Notifier, Now: opts.Now})
	a.Video = video.New(video.Options{DB: db, Box: box, Mail: mails, Secret: cfg.SecretKey, Now: opts.Now})
	a.Booking, err = booking.New(booking.Options{
		DB: db, Mail: mails, Hooks: webhook.NewNotifier(inserter), Rooms: a.Video, Now: opts.Now, PlanTTL: booking.DefaultPlanTTL, PerAddress: cfg.BookingPerAddress,
		Queue: inserter,
	})
	if err != nil {
		return nil, err
	}
	if err := a.startMedia(cfg, log); err != nil {
		return nil, err
	}
	// Cases past their retention period go daily, by one job for all
	// processes.
	a.Retention = retention.NewCases(db, a.Forms, a.Location, log)

	mailWorker, err := a.mailWorker(cfg, opts, box)
	if err != nil {
		return nil, err
	}
	if a.Jobs, err = jobs.New(db, cfg.EncryptionKey, log, jobs.Options{
		Mail: mailWorker, RescueAfter: cfg.JobsRescueAfter, Retention: &retention.Worker{Cases: a.Retention, JobTimeout: jobs.JobTimeout(cfg.JobsRescueAfter)}, Loc: a.Location,
		Waitlist: &booking.WaitlistWorker{Booking: a.Booking},
	}); err != nil {
		return nil, err
	}

	spoolDir := opts.SpoolDir
	if spoolDir == "" {
		// Files of posts in flight wait on disk under the data directory,
		// unlinked and sealed.
		spoolDir = filepath.Join(cfg.DataDir, "spool")
	}
	if err := os.MkdirAll(spoolDir, 0o700); err != nil {
		return nil, fmt.Errorf("spool dir: %w", err)
	}
	a.Registry = opts.Registry
	if a.Registry == nil {
		a.Registry = prometheus.NewRegistry()
		a.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	a.Directory = office.NewDirectory(db, 30*time.Second, log)
	a.Server, err = portal.New(portal.Deps{
		Config:         cfg,
		DB:             db,
		Directory:      a.Directory,
		Logger:         log,
		Registry:       a.Registry,
		Forms:          a.Forms,
		Submissions:    a.Submissions,
		Location:       a.Location,
		Auth:           a.Auth,
		Inbox:          a.Inbox,
		Video:          a.Video,
		Booking:        a.Booking,
		Hub:            a.Hub,
		Retention:      a.Retention,
		SpoolDir:       spoolDir,
		MinSpoolFree:   opts.MinSpoolFree,
		SessionRecheck: opts.SessionRecheck,
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// mailWorker builds the worker that writes and sends the mails, through
// opts.Sender or the sender cfg names, signing with cfg's DKIM key.
func (a *App) mailWorker(cfg config.Config, opts Options, box *crypto.Box) (*mail.Worker, error) {
	bundle, err := i18n.New(locales.FS)
	if err != nil {
		return nil, err
	}
	sender := opts.Sender
	switch {
	case sender != nil:
	case cfg.SMTPURL != "":
		smtp, err := mail.NewSMTP(cfg.SMTPURL, cfg.Production(), nil)
		if err != nil {
			return nil, err
		}
		a.closers = append(a.closers, smtp.Close)
		sender = smtp
	default:
		a.log.Info("mails go to the development mailbox", "url", cfg.BaseURL.JoinPath("dev", "mail").String())
		sender = mail.Mailbox{DB: a.DB}
	}
	var dkim *mail.DKIM
	if cfg.DKIMKeyFile != "" {
		if dkim, err = mail.LoadDKIM(cfg.DKIMKeyFile, cfg.DKIMSelector, cfg.MailFrom); err != nil {
			return nil, err
		}
	}
	return &mail.Worker{
		DB: a.DB, Subs: a.Submissions, Sender: sender, Bundle: bundle, BaseURL: cfg.BaseURL, From: cfg.MailFrom,
		Loc: a.Location, DKIM: dkim, Box: box, Log: a.log,
		JobTimeout: jobs.JobTimeout(cfg.JobsRescueAfter), CPU: jobs.MailCPU(),
	}, nil
}

// Start runs the background work: the job client and the retention
// sweep (retention.Run, every six hours). The work runs until Stop,
// not until ctx ends, so that requests still in flight at shutdown
// enqueue their jobs and running jobs finish. Call Start at most once.
func (a *App) Start(ctx context.Context) error {
	workCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	a.stopWork, a.workDone = stop, make(chan struct{})
	go func() {
		defer close(a.workDone)
		var calls sync.WaitGroup
		calls.Go(func() { a.Server.KeepCalls(workCtx) })
		retention.Run(workCtx, a.DB, 6*time.Hour, a.log)
		calls.Wait()
	}()
	if err := a.Jobs.Start(workCtx); err != nil {
		stop()
		<-a.workDone
		a.stopWork = nil
		return fmt.Errorf("jobs: %w", err)
	}
	return nil
}

// Stop ends what Start began (running jobs get up to 10 s, then are
// cancelled and retried later) and closes what New opened beside the
// database, which stays the caller's to close. Stop without Start only
// closes.
func (a *App) Stop() {
	if a.stopWork != nil {
		if err := jobs.Stop(a.Jobs, 10*time.Second); err != nil {
			a.log.Warn("jobs: stop", "err", err)
		}
		a.stopWork()
		<-a.workDone
		a.stopWork = nil
	}
	a.close()
}

func (a *App) close() {
	for _, c := range a.closers {
		c()
	}
	a.closers = nil
}

// notifier is the production Notifier: webhook calls and mails for the
// case events, mails for resume links.
type notifier struct {
	jobs.Events
	resume submission.ResumeMailer
}

func (n notifier) ResumeLink(ctx context.Context, tx pgx.Tx, r submission.ResumeRequest) error {
	return n.resume.ResumeLink(ctx, tx, r)
}
