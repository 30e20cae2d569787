// Package retention deletes personal data whose retention period has
// ended. Sweep (accessibility feedback, drafts, sessions, mail
// bookkeeping, video consultations' metadata, appointment bookings) runs
// in every portal process; deleting is idempotent, so
// several processes doing it at once is harmless. Cases (submissions with
// their files, events and everything derived from them) are deleted by a
// daily River job, once across all processes (cases.go, job.go).
package retention

import (
	"context"
	"log/slog"
	"time"

	"github.com/gesundheitsamt/portal/internal/store"
)

// FeedbackPeriod is how long messages of the accessibility feedback form
// are kept (the privacy notice says so).
const FeedbackPeriod = 2 * 365 * 24 * time.Hour

// SessionIdle is how long a staff session may be idle (auth.IdleTimeout);
// a session idle for longer is dead and deleted.
const SessionIdle = 30 * time.Minute

// Sweep deletes everything past its retention period as of now.
func Sweep(ctx context.Context, db *store.DB, now time.Time, log *slog.Logger) error {
	n, err := store.DeleteFeedbackBefore(ctx, db, now.Add(-FeedbackPeriod))
	if err != nil {
		return err
	}
	if n > 0 {
		log.Info("retention: deleted old accessibility feedback", "count", n)
	}
	// Drafts (with their uploads) end 30 days after their last change;
	// submitted drafts hold only the link to their submission by then.
	if n, err = store.DeleteExpiredDrafts(ctx, db, now); err != nil {
		return err
	}
	if n > 0 {
		log.Info("retention: deleted expired drafts", "count", n)
	}
	if _, err = store.DeleteExpiredSessions(ctx, db, now, now.Add(-SessionIdle)); err != nil {
		return err
	}
	// Rate windows that ended, tickets of rushes that are over, and login
	// attempts nobody made for a day.
	if err = store.DeleteStaleCounters(ctx, db, now); err != nil {
		return err
	}
	// Accepted-mail keys matter only while a job could run again: a mail
	// job gives up after about a day.
	if _, err = store.DeleteOldMailSent(ctx, db, now.Add(-MailSentPeriod)); err != nil {
		return err
	}
	// Refused mails name an address: kept long enough for the office to
	// reach the citizen another way, no longer.
	if _, err = store.DeleteOldMailRefusals(ctx, db, now.Add(-MailRefusalPeriod)); err != nil {
		return err
	}
	// Video consultations' metadata (who joined when, admissions): 90
	// days after each consultation's end.
	if n, err = store.DeleteOldVideo(ctx, db, now.Add(-VideoPeriod)); err != nil {
		return err
	}
	if n > 0 {
		log.Info("retention: deleted the metadata of old video consultations", "count", n)
	}
	if n, err = store.DeleteOldBookings(ctx, db, BookingCuts(now)); err != nil {
		return err
	}
	if n > 0 {
		log.Info("retention: deleted old appointment bookings", "count", n)
	}
	return nil
}

// How long an appointment booking is kept with its citizen's name,
// address and telephone number, by what became of it.
const (
	// BookingLapsedPeriod: a hold or an unconfirmed booking whose time
	// ran out, or a hold given up. Its pages say for a day that it
	// lapsed; nobody else ever needs it.
	BookingLapsedPeriod = 24 * time.Hour
	// BookingCancelledPeriod: after the cancellation, so that the office
	// can answer "did I cancel?" for a month.
	BookingCancelledPeriod = 30 * 24 * time.Hour
	// BookingPastPeriod: after the appointment, as long as a video
	// consultation's metadata (who came, for questions about the visit).
	BookingPastPeriod = VideoPeriod
)

// BookingCuts are the times before which bookings are deleted, as of now.
func BookingCuts(now time.Time) store.BookingCuts {
	return store.BookingCuts{
		Lapsed: now.Add(-BookingLapsedPeriod), Cancelled: now.Add(-BookingCancelledPeriod), Past: now.Add(-BookingPastPeriod),
	}
}

// VideoPeriod is how long a video consultation's metadata is kept after
// its end (Anlage 31b BMV-Ä: at most three months).
const VideoPeriod = 90 * 24 * time.Hour

// MailSentPeriod is how long the keys of accepted mails are kept.
const MailSentPeriod = 3 * 24 * time.Hour

// MailRefusalPeriod is how long refused mails stay in the admin's list.
const MailRefusalPeriod = 90 * 24 * time.Hour

// Run sweeps at once and then every interval until ctx ends. A failed
// sweep is logged and tried again at the next interval.
func Run(ctx context.Context, db *store.DB, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := Sweep(ctx, db, time.Now(), log); err != nil && ctx.Err() == nil {
			log.Warn("retention: sweep failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
