package mail

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// relayCondition is what the last attempt showed of the relay.
type relayCondition int

const (
	relayAccepts     relayCondition = iota // mail went out (or nothing is known yet)
	relayUnreachable                       // an OutageError: no connection, or it went away
	relayRefuses                           // a RelayError: it refuses the portal itself
)

// relayState follows the relay's condition as this process's mail jobs
// see it, so that the log says when it changes, not at every attempt: a
// relay down for a minute under a burst meant thousands of identical
// lines. The zero value is a relay that accepts. Safe for concurrent use.
type relayState struct {
	mu     sync.Mutex
	cond   relayCondition
	since  time.Time
	failed int // attempts that failed since the condition began
}

// saw records the outcome of a delivery attempt (err nil: accepted) and
// logs to log when the condition changes. Errors that concern one mail
// (a refused recipient, a 4xx to it) say nothing about the relay.
func (r *relayState) saw(ctx context.Context, log *slog.Logger, err error) {
	var outage *OutageError
	var refusal *RelayError
	cond := relayAccepts
	switch {
	case errors.As(err, &outage):
		cond = relayUnreachable
	case errors.As(err, &refusal):
		cond = relayRefuses
	case err != nil:
		return
	}
	r.mu.Lock()
	prev, since, failed := r.cond, r.since, r.failed
	if cond != prev {
		r.cond, r.since, r.failed = cond, time.Now(), 0
	}
	if cond != relayAccepts {
		r.failed++
	}
	r.mu.Unlock()
	if cond == prev || log == nil {
		return
	}
	switch cond {
	case relayUnreachable:
		log.WarnContext(ctx, "mail: the SMTP relay cannot be reached; mails wait and are retried", "error", err.Error())
	case relayRefuses:
		log.ErrorContext(ctx, "mail: the SMTP relay refuses the portal; mails wait and are retried (check SMTP_URL and MAIL_FROM)", "error", err.Error())
	default:
		log.InfoContext(ctx, "mail: the SMTP relay accepts mail again", "after", time.Since(since).Round(time.Second).String(), "failed_attempts", failed)
	}
}
