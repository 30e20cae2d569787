package retention

import (
	"cmp"
	"context"
	"time"

	"github.com/riverqueue/river"
)

// DeleteAt is when the daily deletion runs, in the offices' time zone: at
// night, when nobody works the cases.
const DeleteAt = 2*time.Hour + 30*time.Minute

// DeleteArgs is the daily deletion job. Day makes it unique: however many
// processes or leaders plan it, a day's deletion is one job.
type DeleteArgs struct {
	Day string `json:"day" river:"unique"` // YYYY-MM-DD
}

// Kind names the job kind in River.
func (DeleteArgs) Kind() string { return "retention.delete" }

// InsertOpts makes the job unique per day, however inserted.
func (DeleteArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// PeriodicDelete is the River periodic job that deletes what is due, on
// schedule (daily at DeleteAt in loc), and also when a process becomes
// leader: River keeps its schedule only in memory, so a restart over
// DeleteAt would skip a day; the unique Day makes the extra run harmless.
func PeriodicDelete(schedule river.PeriodicSchedule, loc *time.Location) *river.PeriodicJob {
	return river.NewPeriodicJob(schedule, func() (river.JobArgs, *river.InsertOpts) {
		return DeleteArgs{Day: time.Now().In(loc).Format("2006-01-02")}, nil
	}, &river.PeriodicJobOpts{ID: "retention.delete", RunOnStart: true})
}

// Worker works DeleteArgs: it deletes every case due now.
type Worker struct {
	river.WorkerDefaults[DeleteArgs]
	Cases *Cases
	// Now is the deletion's clock (nil: the system clock); tests set the
	// dates they check.
	Now func() time.Time
	// JobTimeout bounds one run (default 2 minutes; below the time after
	// which River gives a job of a dead process to another). A run that
	// has more to delete at half of it stops after its transaction and
	// goes on at once as the same job (a snooze, which costs no attempt).
	JobTimeout time.Duration
}

// Timeout bounds one run.
func (w *Worker) Timeout(*river.Job[DeleteArgs]) time.Duration {
	return cmp.Or(w.JobTimeout, 2*time.Minute)
}

// Work deletes what is due, batch by batch, until done or half its time
// is used.
func (w *Worker) Work(ctx context.Context, job *river.Job[DeleteArgs]) error {
	now := time.Now()
	if w.Now != nil {
		now = w.Now()
	}
	res, err := w.Cases.DeleteDue(ctx, now, time.Now().Add(w.Timeout(job)/2))
	if err != nil {
		return err
	}
	if res.More {
		return river.JobSnooze(0)
	}
	return nil
}
