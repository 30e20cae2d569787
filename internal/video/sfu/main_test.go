package sfu_test

import (
	"fmt"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// hangLimit is how long one test may run before the watchdog ends the
// package; the longest test takes about ten seconds, also under -race on
// a loaded machine.
const hangLimit = 2 * time.Minute

// running holds the tests that created an SFU and have not finished
// their cleanup, by name, with their start.
var running sync.Map

// TestMain runs the tests under a watchdog: a test that hangs (a peer that
// never closes, a lock never released) ends the package after hangLimit
// with the SFU's goroutines grouped by stack, printed last so that the
// tail of a CI log shows them, instead of go test's timeout many minutes
// later with a dump whose informative part scrolled away.
func TestMain(m *testing.M) {
	done := make(chan struct{})
	go watch(done)
	code := m.Run()
	close(done)
	os.Exit(code)
}

// track registers t with the watchdog until its cleanup has run. The first
// call counts: make it before any other Cleanup of t, so that t leaves the
// watch after all of them.
func track(t testing.TB) {
	name := t.Name()
	if _, again := running.LoadOrStore(name, time.Now()); again {
		return
	}
	t.Cleanup(func() { running.Delete(name) })
}

func watch(done <-chan struct{}) {
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		var hung []string
		running.Range(func(k, v any) bool {
			if d := time.Since(v.(time.Time)); d > hangLimit {
				hung = append(hung, fmt.Sprintf("%s (%v)", k, d.Round(time.Second)))
			}
			return true
		})
		if len(hung) == 0 {
			continue
		}
		buf := make([]byte, 16<<20)
		buf = buf[:runtime.Stack(buf, true)]
		fmt.Fprintf(os.Stderr, "\n=== all goroutines\n%s\n", buf)
		fmt.Fprintf(os.Stderr, "\n=== the SFU's goroutines, grouped by stack\n%s", groupStacks(string(buf), "internal/video/sfu"))
		fmt.Fprintf(os.Stderr, "\n=== watchdog: hung after %v: %s\n", hangLimit, strings.Join(hung, ", "))
		os.Exit(3)
	}
}

var stackArgs = regexp.MustCompile(`\(0x[^)]*\)| \+0x[0-9a-f]+`)

// groupStacks returns the goroutines of dump whose stack mentions pkg,
// one entry per distinct stack (arguments and offsets left out) with how
// many goroutines share it and their longest wait.
func groupStacks(dump, pkg string) string {
	type group struct {
		n      int
		header string
	}
	groups := map[string]*group{}
	var order []string
	for _, g := range strings.Split(dump, "\n\n") {
		if !strings.Contains(g, pkg) {
			continue
		}
		header, stack, _ := strings.Cut(g, "\n")
		key := stackArgs.ReplaceAllString(stack, "")
		if groups[key] == nil {
			groups[key] = &group{header: header}
			order = append(order, key)
		}
		groups[key].n++
	}
	slices.SortStableFunc(order, func(a, b string) int { return groups[b].n - groups[a].n })
	var out strings.Builder
	for _, key := range order {
		fmt.Fprintf(&out, "%d× %s\n%s\n\n", groups[key].n, groups[key].header, key)
	}
	return out.String()
}

func TestGroupStacks(t *testing.T) {
	dump := "goroutine 1 [select, 19 minutes]:\nx/internal/video/sfu.(*Peer).readRTCP(0xc000123)\n\tpeer.go:1 +0x1f\n\n" +
		"goroutine 2 [select, 3 minutes]:\nx/internal/video/sfu.(*Peer).readRTCP(0xc000456)\n\tpeer.go:1 +0x2f\n\n" +
		"goroutine 3 [running]:\nmain.main()\n\tmain.go:1 +0x1\n\n" +
		"goroutine 4 [sync.Mutex.Lock]:\nx/internal/video/sfu.(*Peer).Close(0xc000789)\n\tpeer.go:9 +0x3"
	got := groupStacks(dump, "internal/video/sfu")
	if !strings.HasPrefix(got, "2× goroutine 1 [select, 19 minutes]:\n") {
		t.Errorf("two goroutines with one stack are not grouped first:\n%s", got)
	}
	if !strings.Contains(got, "1× goroutine 4 [sync.Mutex.Lock]:\nx/internal/video/sfu.(*Peer).Close\n\tpeer.go:9\n") {
		t.Errorf("the lone stack is missing or keeps its arguments:\n%s", got)
	}
	if strings.Contains(got, "main.main") {
		t.Errorf("a goroutine outside the package is listed:\n%s", got)
	}
}
