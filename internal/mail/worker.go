package mail

import (
	"cmp"
	"context"
	"log/slog"
	"net/url"
	"regexp"
	"time"

	"github.com/riverqueue/river"

	"github.com/gesundheitsamt/portal/internal/crypto"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/i18n"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/submission"
)

// Worker works the mail jobs: it writes a job's mail (compose.go), sends
// it, and records that it went out (record.go) or was refused for good
// (refusal.go).
type Worker struct {
	river.WorkerDefaults[Args]
	DB      *store.DB
	Subs    *submission.Service
	Sender  Sender
	Bundle  *i18n.Bundle
	BaseURL *url.URL
	From    string
	Loc     *time.Location
	DKIM    *DKIM       // signs every mail when set
	Box     *crypto.Box // opens what resume, video and booking jobs carry
	// CPU bounds how many mails are written (composed, PDF, signed) at
	// once; nil: no bound. Sending waits on the network outside it.
	CPU chan struct{}
	// RetryBase is the first wait after a temporary failure; each further
	// one doubles it, at most RetryCap (default 30 s).
	RetryBase time.Duration
	// Log hears when the relay becomes unreachable (a warning), refuses
	// the portal (a wrong password: an error, no mail leaves until
	// someone fixes it) and accepts mail again (info): once per change,
	// not per attempt. nil: River's own log only.
	Log *slog.Logger
	// JobTimeout bounds one mail job (default 2 minutes: the SMTP
	// timeouts of a slow server). River rescues a job a dead process left
	// running only once this has passed too.
	JobTimeout time.Duration

	relay relayState

	// unrecorded holds the keys of mails the relay accepted whose record
	// the database did not take within the job's time (record.go).
	unrecorded keySet
}

// NextRetry waits RetryBase, doubling, at most RetryCap: with MaxAttempts
// about 24 hours in all.
func (w *Worker) NextRetry(job *river.Job[Args]) time.Time {
	base := w.RetryBase
	if base == 0 {
		base = 30 * time.Second
	}
	return time.Now().Add(min(base<<min(max(job.Attempt-1, 0), 20), RetryCap))
}

// Timeout bounds writing and sending one mail.
func (w *Worker) Timeout(*river.Job[Args]) time.Duration { return cmp.Or(w.JobTimeout, 2*time.Minute) }

// Work writes the mail and sends it. A permanent refusal (5xx) stops the
// retries and goes into the case's timeline, where staff see it.
func (w *Worker) Work(ctx context.Context, job *river.Job[Args]) error {
	if w.unrecorded.has(job.Args.Key) {
		// Sent by this process while the database was away for longer
		// than the job's time: the mail is out. Its record is being
		// tried in the background; try it here too.
		_ = w.tryRecord(ctx, job.Args.Key)
		return nil
	}
	// Run again after its process died between the server's "250 OK" and
	// River's record of the job: the mail went out already.
	if sent, err := store.MailSent(ctx, w.DB, job.Args.Key); err != nil || sent {
		return err
	}
	m, msg, err := w.write(ctx, job.Args)
	if fault.KindOf(err) == fault.NotFound {
		return nil // the submission is gone, or has no address
	}
	if err != nil {
		return err
	}
	err = w.Sender.Send(ctx, m.From.Email, m.To.Email, msg)
	if err == nil {
		w.relay.saw(ctx, w.Log, nil)
		// At once, not with River's batched completion: the window in
		// which a kill makes a second copy shrinks to this one write.
		return w.recordSent(ctx, job.Args.Key)
	}
	// A server's answer may quote the address; River logs the error and
	// keeps it with the job, so it goes without the address.
	err = redact(err, m.To.Email)
	w.relay.saw(ctx, w.Log, err)
	if Permanent(err) {
		if rerr := w.recordRefusal(ctx, job.Args, m, err); rerr != nil {
			return rerr // try again: the refusal must be recorded
		}
		return river.JobCancel(err)
	}
	return err
}

// redacted is an error whose text has an address taken out; errors.As
// still sees what it wraps.
type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.err }

// redact returns err with addr (in any case) replaced in its text.
func redact(err error, addr string) error {
	if addr == "" {
		return err
	}
	re := regexp.MustCompile("(?i)" + regexp.QuoteMeta(addr))
	if !re.MatchString(err.Error()) {
		return err
	}
	return &redacted{msg: re.ReplaceAllString(err.Error(), "<recipient>"), err: err}
}

// write composes, encodes and signs the mail of a, within the CPU bound.
func (w *Worker) write(ctx context.Context, a Args) (Message, []byte, error) {
	if w.CPU != nil {
		select {
		case w.CPU <- struct{}{}:
			defer func() { <-w.CPU }()
		case <-ctx.Done():
			return Message{}, nil, ctx.Err()
		}
	}
	m, err := w.Compose(ctx, a)
	if err != nil {
		return Message{}, nil, err
	}
	msg, _, err := m.Bytes()
	if err != nil {
		return Message{}, nil, river.JobCancel(err)
	}
	if w.DKIM != nil {
		if msg, err = w.DKIM.Sign(msg); err != nil {
			return Message{}, nil, river.JobCancel(err)
		}
	}
	return m, msg, nil
}

// location is the time zone of the dates a mail shows: Loc, else UTC.
func (w *Worker) location() *time.Location {
	if w.Loc == nil {
		return time.UTC
	}
	return w.Loc
}
