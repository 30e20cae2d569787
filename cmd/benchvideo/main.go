// Command benchvideo measures the portal's SFU (internal/video/sfu) under
// the load of many 1:1 video calls and, in the same run on the same
// machine, Galène (github.com/jech/galene), a pion-based SFU, under the
// same load.
//
// Each call is two pion peers that each send 1 Mbit/s of VP8-shaped video
// (27 frames a second of 4 packets, a keyframe every 2 s) and 50 Opus-sized
// packets a second, and receive the other's. Every payload ends with a
// stamp (sender, packet number, write time), so the receivers measure the
// loss and the forwarding delay per track. Each SFU runs in its own
// process; its CPU time (user and system, from /proc/<pid>/stat) over the
// measured window is divided by the number of forwarded video tracks, and
// its resident memory (VmRSS) above its idle start by the number of
// participants. The load generator shares the machine, so its own CPU and
// the machine's are reported beside.
//
// Usage:
//
//	benchvideo [-calls 50] [-duration 60s] [-warmup 5s] [-galene PATH] [-json FILE]
//	benchvideo sfu [-listen 127.0.0.1:0] [-udp 0]
//
// The second form is the portal's SFU alone, which the first starts as its
// child (see serveSFU). .ci/bench-video builds Galène and runs this; it is
// not part of the portal.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/pion/webrtc/v4"
)

// The names of the SFUs in the results.
const (
	sfuOurs   = "portal"
	sfuGalene = "galene"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "benchvideo:", err)
		os.Exit(1)
	}
}

// report is the JSON file of -json.
type report struct {
	Time     string   `json:"time"`
	Cores    int      `json:"cores"`
	Load1    string   `json:"load_average_before"` // of /proc/loadavg, before the first SFU started
	Calls    int      `json:"calls"`
	Duration float64  `json:"duration_seconds"`
	Warmup   float64  `json:"warmup_seconds"`
	Bitrate  int      `json:"video_bitrate"`
	Results  []result `json:"results"`
	// Pooled are each SFU's figures over its windows (see pool).
	Pooled []pooled `json:"pooled"`
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "sfu" {
		return serveSFU(ctx, args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("benchvideo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := loadOptions{progress: stderr}
	fs.IntVar(&o.calls, "calls", 50, "simultaneous 1:1 calls")
	fs.DurationVar(&o.duration, "duration", 60*time.Second, "the measured window")
	fs.DurationVar(&o.warmup, "warmup", 5*time.Second, "load before the window, once every call has media")
	fs.IntVar(&o.bitrate, "bitrate", 1_000_000, "video `bits` per second of each peer")
	fs.DurationVar(&o.stagger, "stagger", 50*time.Millisecond, "pause between two calls' joins")
	fs.DurationVar(&o.connect, "connect-timeout", 60*time.Second, "the longest wait for every call's media")
	sfus := fs.String("sfus", sfuOurs+","+sfuGalene, "the SFUs to measure, in order; one named twice is measured in two windows")
	galeneBin := fs.String("galene", "", "Galène's `binary`; without it Galène is skipped")
	galeneVersion := fs.String("galene-version", "", "Galène's `version` (a commit), reported beside its figures")
	galeneSkip := fs.String("galene-skipped", "no -galene binary given", "the `reason` reported when Galène is skipped")
	jsonPath := fs.String("json", "", "write the figures to this `file`")
	logPath := fs.String("logs", "", "append the SFUs' output to this `file` (default: discard)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.calls < 1 || o.duration <= 0 || o.bitrate < 8*minVideoSize*videoFPS*packetsPerFrame {
		return errors.New("-calls, -duration and -bitrate must be positive, -bitrate at least 56 kbit/s")
	}
	logs := io.Discard
	if *logPath != "" {
		f, err := os.OpenFile(*logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		defer f.Close()
		logs = f
	}
	api, err := newLoadAPI()
	if err != nil {
		return err
	}
	load, _ := os.ReadFile("/proc/loadavg")
	rep := report{
		Time: time.Now().UTC().Format(time.RFC3339), Cores: runtime.NumCPU(), Load1: strings.TrimSpace(string(load)),
		Calls: o.calls, Duration: o.duration.Seconds(), Warmup: o.warmup.Seconds(), Bitrate: o.bitrate,
	}
	for i, name := range strings.Split(*sfus, ",") {
		if i > 0 {
			time.Sleep(2 * time.Second) // let the previous SFU's sockets and CPU settle
		}
		fmt.Fprintf(stderr, "%s: %d calls\n", name, o.calls)
		r, err := measureSFU(ctx, name, api, o, *galeneBin, *galeneSkip, logs)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r = result{SFU: name, Error: err.Error()}
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
		}
		if name == sfuGalene {
			r.Version = *galeneVersion
		}
		rep.Results = append(rep.Results, r)
	}
	fmt.Fprintf(stdout, "\n== video SFUs, %d calls, %v measured after %v warm-up (%d cores, load before %s) ==\n",
		o.calls, o.duration, o.warmup, rep.Cores, rep.Load1)
	printTable(stdout, rep.Results)
	for _, name := range []string{sfuOurs, sfuGalene} {
		if p := pool(rep.Results, name); p != nil && p.figures != nil {
			rep.Pooled = append(rep.Pooled, *p)
		}
	}
	if *jsonPath != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*jsonPath, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// measureSFU starts one SFU in its own process, measures it and stops it.
func measureSFU(ctx context.Context, name string, api *webrtc.API, o loadOptions, galeneBin, galeneSkip string, logs io.Writer) (result, error) {
	var (
		d    driver
		stop func() error
	)
	switch name {
	case sfuOurs:
		s, err := startOurs(api, logs)
		if err != nil {
			return result{}, err
		}
		d, stop = s, s.stop
	case sfuGalene:
		if galeneBin == "" {
			return result{SFU: name, Skipped: galeneSkip}, nil
		}
		g, err := startGalene(galeneBin, o.calls, api, logs)
		if err != nil {
			return result{}, err
		}
		d, stop = g, g.stop
	default:
		return result{}, fmt.Errorf("unknown SFU %q (want %s or %s)", name, sfuOurs, sfuGalene)
	}
	s, err := measure(ctx, d, o)
	if stopErr := stop(); err == nil && stopErr != nil {
		err = stopErr
	}
	if err != nil {
		return result{}, err
	}
	return reduce(name, s), nil
}
