package mail

import (
	"context"
	"sync"
	"time"

	"github.com/gesundheitsamt/portal/internal/store"
)

// recordMinTime is how long recordSent keeps trying at least, however
// little of the job's time the sending left (but never longer than a
// job's time).
const recordMinTime = 30 * time.Second

// recordLaterFor is how long a record that missed its job's time is
// still tried in the background.
const recordLaterFor = time.Hour

// recordSent writes down that the relay accepted the mail of key. The
// mail is out, so this must not fail for a passing reason: were the
// record lost to a database outage (the drill: PostgreSQL stopped right
// after the relay's answer), the job would fail, run again and send the
// mail a second time. So it tries again, with waits growing to 2 s, until
// the database takes it or the job's time is up (at least recordMinTime
// or the job's timeout, whichever is shorter).
// The job succeeds either way. A key still unrecorded then is kept in
// memory, so that a run of the same job in this process (River runs a job
// again if it could not mark it done) records it instead of sending, and
// is tried in the background for recordLaterFor, so that a run in another
// process, which River starts only after PORTAL_JOBS_RESCUE_AFTER (at
// least twice the job's time), finds the record once the database is
// back.
func (w *Worker) recordSent(ctx context.Context, key string) error {
	deadline, ok := ctx.Deadline()
	if floor := time.Now().Add(min(recordMinTime, w.Timeout(nil))); !ok || deadline.Before(floor) {
		deadline = floor
	}
	ctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer cancel()
	if err := w.tryRecord(ctx, key); err != nil {
		w.unrecorded.add(key)
		if w.Log != nil {
			w.Log.Warn("mail: sent, but the database did not take the record in time; kept in memory and tried in the background",
				"key", key, "error", err.Error())
		}
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), recordLaterFor)
			defer cancel()
			_ = w.tryRecord(ctx, key)
		}()
	}
	return nil
}

// tryRecord writes the record of key until the database takes it (then
// forgets key from memory) or ctx ends, with waits growing to 2 s.
func (w *Worker) tryRecord(ctx context.Context, key string) error {
	for tries, wait := 1, 50*time.Millisecond; ; tries, wait = tries+1, min(2*wait, 2*time.Second) {
		try, cancelTry := context.WithTimeout(ctx, 5*time.Second)
		err := store.RecordMailSent(try, w.DB, key)
		cancelTry()
		if err == nil {
			w.unrecorded.remove(key)
			if tries > 1 && w.Log != nil {
				w.Log.Info("mail: the record of a sent mail is written after the database came back", "key", key, "tries", tries)
			}
			return nil
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return err
		}
	}
}

// keySet is a set of job keys, safe for concurrent use; the zero value is
// empty.
type keySet struct {
	mu   sync.Mutex
	keys map[string]struct{}
}

func (k *keySet) add(key string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.keys == nil {
		k.keys = map[string]struct{}{}
	}
	k.keys[key] = struct{}{}
}

func (k *keySet) remove(key string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.keys, key)
}

func (k *keySet) has(key string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	_, ok := k.keys[key]
	return ok
}
