package portal

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gesundheitsamt/portal/internal/store"
)

// probeEvery is how long the outcome of a write probe answers /readyz:
// a load balancer asking every second costs the database one small write
// every few seconds per portal process.
const probeEvery = 5 * time.Second

// readiness decides whether this process can store a submission now: the
// database answers, took the last write probe (store.ProbeWrite: a full
// disk or a read-only server fails it, a ping does not notice), and the
// spool's directory, where uploads wait, has room. Safe for concurrent
// use.
type readiness struct {
	db      *store.DB
	log     *slog.Logger
	dir     string // the spool's directory
	minFree uint64 // bytes it must keep free

	probing sync.Mutex // one probe at a time; the others use the last outcome
	last    atomic.Pointer[probeOutcome]
	state   atomic.Pointer[string] // the last answer, to log changes only
}

type probeOutcome struct {
	at  time.Time
	err error
}

// check returns why a submission cannot be stored now, or "". The reason
// is a fixed phrase (/readyz is public); the log has the details, once
// per change.
func (r *readiness) check(ctx context.Context) string {
	reason, detail := r.reason(ctx)
	if prev := r.state.Swap(&reason); prev == nil || *prev != reason {
		switch {
		case reason != "":
			r.log.Warn("not ready: "+reason, "err", detail)
		case prev != nil:
			r.log.Info("ready again")
		}
	}
	return reason
}

func (r *readiness) reason(ctx context.Context) (string, error) {
	if err := r.db.Ping(ctx); err != nil {
		return "the database does not answer", err
	}
	free, err := freeBytes(r.dir)
	if err != nil {
		return "the upload directory cannot be checked", err
	}
	if free < r.minFree {
		return "the upload directory is nearly full", fmt.Errorf("%s: %d MiB free, less than %d MiB", r.dir, free>>20, r.minFree>>20)
	}
	if err := r.probe(ctx); err != nil {
		return "the database cannot store data", err
	}
	return "", nil
}

// probe returns the outcome of the last write probe, probing first when
// it is older than probeEvery and no other request is probing.
func (r *readiness) probe(ctx context.Context) error {
	last := r.last.Load()
	if last != nil && time.Since(last.at) < probeEvery {
		return last.err
	}
	if last != nil && !r.probing.TryLock() {
		return last.err
	}
	if last == nil {
		r.probing.Lock() // nothing to answer from yet: wait for the first
		if last = r.last.Load(); last != nil {
			r.probing.Unlock()
			return last.err
		}
	}
	defer r.probing.Unlock()
	out := &probeOutcome{at: time.Now(), err: store.ProbeWrite(ctx, r.db)}
	r.last.Store(out)
	return out.err
}

// freeBytes returns the bytes an unprivileged process may still write to
// the file system of dir.
func freeBytes(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}
