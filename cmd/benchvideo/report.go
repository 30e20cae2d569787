package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"text/tabwriter"
)

// result is the figures of one SFU under the load, as written to -json.
type result struct {
	SFU     string `json:"sfu"`
	Version string `json:"version,omitempty"` // of Galène: the commit it was built from
	Skipped string `json:"skipped,omitempty"` // why the SFU was not measured
	Error   string `json:"error,omitempty"`   // why its measurement failed
	*figures
}

// figures are what a measurement found; a skipped or failed SFU has none.
type figures struct {
	Calls       int     `json:"calls,omitempty"`
	Seconds     float64 `json:"seconds,omitempty"`      // the measured window
	VideoTracks int     `json:"video_tracks,omitempty"` // forwarded video tracks (2 per call)

	CPUSeconds     float64 `json:"cpu_seconds,omitempty"`       // the SFU process's user+system time in the window
	CPUPercent     float64 `json:"cpu_percent,omitempty"`       // of one core, the whole SFU
	CPUPerTrackPct float64 `json:"cpu_per_video_track_percent"` // of one core per forwarded video track (its audio included)
	RSSBaseMiB     float64 `json:"rss_base_mib,omitempty"`      // VmRSS before anyone joined
	RSSMiB         float64 `json:"rss_mib,omitempty"`           // VmRSS at the end of the window
	RSSPerPeerMiB  float64 `json:"rss_per_participant_mib"`     // (RSS - base) / participants
	VideoLossPct   float64 `json:"video_loss_percent"`          // of the video packets written in the window
	AudioLossPct   float64 `json:"audio_loss_percent"`          // of the audio packets written in the window
	WorstLossPct   float64 `json:"worst_track_loss_percent"`    // the video track that lost most
	VideoP50Ms     float64 `json:"video_delay_p50_ms"`          // write to read, through the SFU
	VideoP99Ms     float64 `json:"video_delay_p99_ms"`          //
	VideoMaxMs     float64 `json:"video_delay_max_ms"`          //
	AudioP50Ms     float64 `json:"audio_delay_p50_ms"`          //
	AudioP99Ms     float64 `json:"audio_delay_p99_ms"`          //
	ForwardedMbps  float64 `json:"forwarded_video_mbps"`        // video received by all participants
	PerTrackKbps   float64 `json:"forwarded_kbps_per_video_track"`
	SentMbps       float64 `json:"sent_video_mbps"`       // video written by all participants
	ExpectedMbps   float64 `json:"expected_video_mbps"`   // what they were to write; less sent means the generator fell behind
	GeneratorCPU   float64 `json:"generator_cpu_percent"` // this process, of one core
	MachineBusyPct float64 `json:"machine_busy_percent"`  // all cores, every process
	NoStamp        int64   `json:"packets_without_stamp"` // received packets whose payload was changed

	// Second by second through the window, to tell a steady tail from
	// episodes: the video delay's p99 (ms), the SFU's CPU (% of one core)
	// and the machine's (% of all cores).
	VideoP99PerSecond []float64 `json:"video_delay_p99_ms_per_second"`
	SFUCPUPerSecond   []float64 `json:"sfu_cpu_percent_per_second"`
	MachinePerSecond  []float64 `json:"machine_busy_percent_per_second"`
	SlowSeconds       int       `json:"seconds_over_p99_target"`          // seconds whose video p99 missed the target
	SlowBusySeconds   int       `json:"seconds_over_p99_target_busy"`     // of those, seconds the machine was ≥ 90 % busy
	BusySeconds       int       `json:"seconds_machine_busy"`             // seconds the machine was ≥ 90 % busy
	MedianSecondP99Ms float64   `json:"video_delay_p99_ms_median_second"` // the typical second's p99
}

// reduce turns a measurement into its figures.
func reduce(name string, s *sample) result {
	r := result{SFU: name, figures: &figures{Calls: len(s.pairs), Seconds: s.window.Seconds(), VideoTracks: 2 * len(s.pairs)}}
	secs := s.window.Seconds()
	r.CPUSeconds = s.sfuCPU
	r.CPUPercent = 100 * s.sfuCPU / secs
	r.CPUPerTrackPct = r.CPUPercent / float64(r.VideoTracks)
	r.RSSBaseMiB = mib(s.rssBase)
	r.RSSMiB = mib(s.rss)
	r.RSSPerPeerMiB = mib(s.rss-s.rssBase) / float64(2*len(s.pairs))
	r.GeneratorCPU = 100 * s.selfCPU / secs
	r.MachineBusyPct = 100 * s.machineBusy

	var sent, got [2]int64
	var bytes int64
	var delays [2][]uint32
	perSecond := make([][]uint32, len(s.seconds))
	for _, pair := range s.pairs {
		for side, e := range pair {
			from := pair[1-side]
			for k := range 2 {
				rc := &e.recv[k]
				rc.mu.Lock()
				n, w := rc.n, from.sent[k].Load()
				got[k] += n
				sent[k] += w
				delays[k] = append(delays[k], rc.delays...)
				r.NoStamp += rc.errors
				if k == video {
					for i, sec := range rc.second {
						if int(sec) < len(perSecond) {
							perSecond[sec] = append(perSecond[sec], rc.delays[i])
						}
					}
					bytes += rc.bytes
					r.WorstLossPct = max(r.WorstLossPct, lossPct(w, n))
				}
				rc.mu.Unlock()
			}
		}
	}
	r.VideoLossPct = lossPct(sent[video], got[video])
	r.AudioLossPct = lossPct(sent[audio], got[audio])
	r.VideoP50Ms = percentile(delays[video], 50)
	r.VideoP99Ms = percentile(delays[video], 99)
	r.VideoMaxMs = percentile(delays[video], 100)
	r.AudioP50Ms = percentile(delays[audio], 50)
	r.AudioP99Ms = percentile(delays[audio], 99)
	for i, c := range s.seconds {
		p99 := percentile(perSecond[i], 99)
		r.VideoP99PerSecond = append(r.VideoP99PerSecond, p99)
		r.SFUCPUPerSecond = append(r.SFUCPUPerSecond, 100*c.sfu)
		r.MachinePerSecond = append(r.MachinePerSecond, 100*c.machineBusy)
		busy := c.machineBusy >= 0.9
		if busy {
			r.BusySeconds++
		}
		if p99 >= goals.p99Ms {
			r.SlowSeconds++
			if busy {
				r.SlowBusySeconds++
			}
		}
	}
	if len(r.VideoP99PerSecond) > 0 {
		r.MedianSecondP99Ms = slices.Sorted(slices.Values(r.VideoP99PerSecond))[len(r.VideoP99PerSecond)/2]
	}
	r.ForwardedMbps = float64(bytes) * 8 / secs / 1e6
	r.PerTrackKbps = r.ForwardedMbps * 1000 / float64(r.VideoTracks)
	var sentBytes int64
	for _, pair := range s.pairs {
		for _, e := range pair {
			sentBytes += e.sent[video].Load() * int64(e.vsize+rtpHeaderSize)
			r.ExpectedMbps += float64((e.vsize+rtpHeaderSize)*8*packetsPerFrame*videoFPS) / 1e6
		}
	}
	r.SentMbps = float64(sentBytes) * 8 / secs / 1e6
	return r
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// lossPct returns the share of sent packets that did not arrive, in
// percent; more arrivals than writes (a stamp counted twice) count as none
// lost.
func lossPct(sent, got int64) float64 {
	if sent == 0 {
		return 0
	}
	return max(0, 100*float64(sent-got)/float64(sent))
}

// percentile returns the p-th percentile (0 < p ≤ 100, nearest rank) of
// delays in microseconds, in milliseconds; 0 when there are none (JSON has
// no NaN). It sorts delays.
func percentile(delays []uint32, p float64) float64 {
	if len(delays) == 0 {
		return 0
	}
	slices.Sort(delays)
	rank := int(math.Ceil(p / 100 * float64(len(delays))))
	return float64(delays[min(max(rank, 1), len(delays))-1]) / 1000
}

// targets are the requirements the figures are held against.
type targets struct {
	calls      int
	lossPct    float64
	p99Ms      float64
	cpuPerTrck float64
}

var goals = targets{calls: 50, lossPct: 1, p99Ms: 10, cpuPerTrck: 1}

// verdict is "ok" or "MISSED".
func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISSED"
}

// printTable writes the results side by side, one column per SFU, and the
// targets with whether ours met them.
func printTable(w io.Writer, rs []result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(label string, f func(r result) string) {
		fmt.Fprint(tw, label)
		for _, r := range rs {
			switch {
			case r.Skipped != "":
				fmt.Fprint(tw, "\tskipped")
			case r.Error != "" || r.figures == nil:
				fmt.Fprint(tw, "\tfailed")
			default:
				fmt.Fprint(tw, "\t"+f(r))
			}
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprint(tw, "")
	for _, r := range rs {
		name := r.SFU
		if r.Version != "" {
			name += " " + r.Version
		}
		fmt.Fprint(tw, "\t"+name)
	}
	fmt.Fprintln(tw)
	num := func(format string, f func(r result) float64) func(result) string {
		return func(r result) string { return fmt.Sprintf(format, f(r)) }
	}
	row("calls (2 peers, 1 Mbit/s video + Opus each way)", num("%.0f", func(r result) float64 { return float64(r.Calls) }))
	row("measured window, s", num("%.0f", func(r result) float64 { return r.Seconds }))
	row("SFU CPU, % of one core", num("%.1f", func(r result) float64 { return r.CPUPercent }))
	row("SFU CPU per forwarded video track, % of a core", num("%.3f", func(r result) float64 { return r.CPUPerTrackPct }))
	row("SFU RSS before joins → at end, MiB", func(r result) string { return fmt.Sprintf("%.1f → %.1f", r.RSSBaseMiB, r.RSSMiB) })
	row("SFU RSS per participant, MiB", num("%.2f", func(r result) float64 { return r.RSSPerPeerMiB }))
	row("video loss, %", num("%.3f", func(r result) float64 { return r.VideoLossPct }))
	row("  worst video track, %", num("%.3f", func(r result) float64 { return r.WorstLossPct }))
	row("audio loss, %", num("%.3f", func(r result) float64 { return r.AudioLossPct }))
	row("video delay p50 / p99 / max, ms", func(r result) string {
		return fmt.Sprintf("%.2f / %.2f / %.1f", r.VideoP50Ms, r.VideoP99Ms, r.VideoMaxMs)
	})
	row("  seconds with video p99 ≥ 10 ms", func(r result) string {
		return fmt.Sprintf("%d of %d", r.SlowSeconds, len(r.VideoP99PerSecond))
	})
	row("  of those, the machine ≥ 90 % busy", num("%.0f", func(r result) float64 { return float64(r.SlowBusySeconds) }))
	row("  median second's video p99, ms", num("%.2f", func(r result) float64 { return r.MedianSecondP99Ms }))
	row("audio delay p50 / p99, ms", func(r result) string { return fmt.Sprintf("%.2f / %.2f", r.AudioP50Ms, r.AudioP99Ms) })
	row("video sent → forwarded, Mbit/s", func(r result) string { return fmt.Sprintf("%.1f → %.1f", r.SentMbps, r.ForwardedMbps) })
	row("  per forwarded video track, kbit/s", num("%.0f", func(r result) float64 { return r.PerTrackKbps }))
	row("load generator CPU, % of one core", num("%.0f", func(r result) float64 { return r.GeneratorCPU }))
	row("machine busy (all cores, all processes), %", num("%.0f", func(r result) float64 { return r.MachineBusyPct }))
	row("  seconds with the machine ≥ 90 % busy", num("%.0f", func(r result) float64 { return float64(r.BusySeconds) }))
	_ = tw.Flush()
	for _, r := range rs {
		if r.Skipped != "" {
			fmt.Fprintf(w, "%s: skipped: %s\n", r.SFU, r.Skipped)
		}
		if r.Error != "" {
			fmt.Fprintf(w, "%s: failed: %s\n", r.SFU, r.Error)
		}
		if r.figures != nil && r.SentMbps < 0.97*r.ExpectedMbps {
			fmt.Fprintf(w, "%s: the load generator fell behind: it wrote %.1f of %.1f Mbit/s of video\n", r.SFU, r.SentMbps, r.ExpectedMbps)
		}
	}
	ours, galene := pool(rs, sfuOurs), pool(rs, sfuGalene)
	if ours == nil || ours.figures == nil {
		return
	}
	if ours.Windows > 1 || galene != nil && galene.Windows > 1 {
		fmt.Fprintf(w, "\nover all windows: %s %.3f %% of a core per video track (%d windows), ", ours.SFU, ours.CPUPerTrackPct, ours.Windows)
		if galene != nil && galene.figures != nil {
			fmt.Fprintf(w, "%s %.3f (%d windows)\n", galene.SFU, galene.CPUPerTrackPct, galene.Windows)
		} else {
			fmt.Fprintln(w, "no Galène")
		}
	}
	fmt.Fprintf(w, "\ntargets for %s:\n", ours.SFU)
	fmt.Fprintf(w, "  ≥ %d calls                           %d   %s\n", goals.calls, ours.Calls, verdict(ours.Calls >= goals.calls))
	fmt.Fprintf(w, "  loss < %.0f %% (video and audio)        %.3f / %.3f   %s\n", goals.lossPct, ours.VideoLossPct, ours.AudioLossPct,
		verdict(ours.VideoLossPct < goals.lossPct && ours.AudioLossPct < goals.lossPct))
	fmt.Fprintf(w, "  video p99 < %.0f ms                    %.2f   %s\n", goals.p99Ms, ours.VideoP99Ms, verdict(ours.VideoP99Ms < goals.p99Ms))
	fmt.Fprintf(w, "  ≤ %.0f %% of a core per video track     %.3f   %s\n", goals.cpuPerTrck, ours.CPUPerTrackPct, verdict(ours.CPUPerTrackPct <= goals.cpuPerTrck))
	if galene != nil && galene.figures != nil {
		fmt.Fprintf(w, "  CPU per track ≤ Galène's              %.3f vs %.3f   %s\n", ours.CPUPerTrackPct, galene.CPUPerTrackPct,
			verdict(ours.CPUPerTrackPct <= galene.CPUPerTrackPct))
	}
}

// pooled is one SFU's figures over all its windows: an SFU named more
// than once in -sfus is measured in several windows, in the order given,
// so that a machine whose speed drifts during the run (a virtual machine's
// neighbours) weighs on both SFUs alike (.ci/bench-video: ABBA BAAB).
type pooled struct {
	SFU     string `json:"sfu"`
	Windows int    `json:"windows"`
	*figures
}

// pool combines the measured windows of the SFU name: its CPU over all of
// them (the seconds, the CPU seconds, the share of a core and per track:
// CPU seconds over track seconds), the worst window's loss and video
// delay p99, the fewest calls; the other figures are the first window's. It returns nil when name was not
// measured, and a pooled value without figures when no window of it has
// any (skipped or failed).
func pool(rs []result, name string) *pooled {
	var p *pooled
	var cpu, seconds, trackSeconds float64
	for _, r := range rs {
		if r.SFU != name {
			continue
		}
		if p == nil {
			p = &pooled{SFU: name}
		}
		if r.figures == nil {
			continue
		}
		if p.figures == nil {
			f := *r.figures
			p.figures = &f
		}
		p.Windows++
		cpu += r.CPUSeconds
		seconds += r.Seconds
		trackSeconds += r.Seconds * float64(r.VideoTracks)
		f := p.figures
		f.Calls = min(f.Calls, r.Calls)
		f.VideoLossPct = max(f.VideoLossPct, r.VideoLossPct)
		f.AudioLossPct = max(f.AudioLossPct, r.AudioLossPct)
		f.VideoP99Ms = max(f.VideoP99Ms, r.VideoP99Ms)
	}
	if p != nil && p.figures != nil {
		p.Seconds, p.CPUSeconds = seconds, cpu
		p.CPUPercent = 100 * cpu / seconds
		p.CPUPerTrackPct = 100 * cpu / trackSeconds
	}
	return p
}
