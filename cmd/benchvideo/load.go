package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	rtcpreport "github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/stats"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"
)

// driver connects load peers to one SFU, in that SFU's own signalling.
type driver interface {
	// join connects e as side 0 or 1 of call; the returned function
	// disconnects it.
	join(ctx context.Context, call, side int, e *endpoint) (leave func(), err error)
	// pid is the SFU's process, whose CPU and memory are measured.
	pid() int
}

// loadOptions are the load of one measurement.
type loadOptions struct {
	calls    int
	duration time.Duration
	warmup   time.Duration
	bitrate  int
	stagger  time.Duration // between two calls' joins
	connect  time.Duration // the longest wait for every call's media
	progress io.Writer
}

// newLoadAPI returns the pion API of every load peer, for either SFU: Opus
// (111) and VP8 (96) with the RTCP feedback browsers offer, pion's default
// interceptors (NACK, RTCP reports, stats, TWCC) with their logs off, host
// candidates over UDP on IPv4, loopback included, no mDNS.
func newLoadAPI() (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	fb := []webrtc.RTCPFeedback{{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"}}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"},
		PayloadType:        111,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: fb},
		PayloadType:        96,
	}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, err
	}
	quiet := logging.NewDefaultLoggerFactory()
	quiet.DefaultLogLevel = logging.LogLevelDisabled
	// pion's default interceptors, without its MID and RID header
	// extensions: pion would send them in every packet to an SFU that
	// negotiates them (the portal's does, for simulcast), where a browser
	// sends them only until the first receiver report. Both SFUs thus get
	// what browsers send.
	r := &interceptor.Registry{}
	if err := webrtc.ConfigureNackWithOptions(m, r,
		[]nack.GeneratorOption{nack.WithGeneratorLoggerFactory(quiet)}, nack.WithResponderLoggerFactory(quiet)); err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureRTCPReportsWithOptions(r,
		[]rtcpreport.ReceiverOption{rtcpreport.WithReceiverLoggerFactory(quiet)}, rtcpreport.WithSenderLoggerFactory(quiet)); err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureStatsInterceptorWithOptions(r, stats.WithLoggerFactory(quiet)); err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureTWCCSenderWithOptions(m, r, twcc.WithLoggerFactory(quiet)); err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{LoggerFactory: quiet}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(r), webrtc.WithSettingEngine(se)), nil
}

// sample is what one measurement collected, before it is reduced to a
// result.
type sample struct {
	pairs       [][2]*endpoint
	window      time.Duration
	sfuCPU      float64 // seconds of the SFU process in the window
	selfCPU     float64 // seconds of this process in the window
	machineBusy float64 // share of all cores busy in the window, 0..1
	rssBase     int64   // bytes of the SFU process before anyone joined
	rss         int64   // bytes at the end of the window
	seconds     []cpuSecond
}

// cpuSecond is the CPU of one second of the window.
type cpuSecond struct {
	sfu         float64 // seconds of the SFU process
	machineBusy float64 // share of all cores busy, 0..1
}

// measure runs o.calls calls through d: it joins them one after another,
// waits until every participant receives its partner's audio and video,
// lets the load settle for o.warmup, and measures for o.duration.
func measure(ctx context.Context, d driver, o loadOptions) (*sample, error) {
	rssBase, err := readRSS(d.pid())
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	win := &atomic.Pointer[window]{}
	var (
		wg     sync.WaitGroup
		leaves []func()
		pairs  [][2]*endpoint
	)
	defer func() {
		for _, leave := range leaves {
			leave()
		}
		cancel()
		wg.Wait()
	}()
	for c := range o.calls {
		var pair [2]*endpoint
		for side := range 2 {
			e, err := newEndpoint(uint32(2*c+side), win, o.bitrate)
			if err != nil {
				return nil, err
			}
			leave, err := d.join(ctx, c, side, e)
			if err != nil {
				return nil, fmt.Errorf("call %d, side %d: %w", c, side, err)
			}
			leaves = append(leaves, leave)
			pair[side] = e
			wg.Add(1)
			go func() { defer wg.Done(); e.send(ctx) }()
		}
		pairs = append(pairs, pair)
		if err := sleep(ctx, o.stagger); err != nil {
			return nil, err
		}
	}
	deadline := time.After(o.connect)
	for c, pair := range pairs {
		for side, e := range pair {
			select {
			case <-e.firstPkt:
			case <-deadline:
				return nil, fmt.Errorf("call %d, side %d: no media from its partner after %v (%d of %d calls connected)", c, side, o.connect, c, len(pairs))
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	}
	fmt.Fprintf(o.progress, "  %d calls connected; warming up for %v, measuring for %v\n", len(pairs), o.warmup, o.duration)

	start := time.Now().Add(o.warmup)
	w := &window{start: start.UnixNano(), end: start.Add(o.duration).UnixNano()}
	win.Store(w)
	if err := sleep(ctx, time.Until(start)); err != nil {
		return nil, err
	}
	before, err := readCPU(d.pid())
	if err != nil {
		return nil, err
	}
	var seconds []cpuSecond
	for prev, next := before, start.Add(time.Second); !next.After(time.Unix(0, w.end)); next = next.Add(time.Second) {
		if err := sleep(ctx, time.Until(next)); err != nil {
			return nil, err
		}
		now, err := readCPU(d.pid())
		if err != nil {
			return nil, err
		}
		seconds = append(seconds, cpuSecond{sfu: now.process - prev.process, machineBusy: now.busyShare(prev)})
		prev = now
	}
	if err := sleep(ctx, time.Until(time.Unix(0, w.end))); err != nil {
		return nil, err
	}
	after, err := readCPU(d.pid())
	if err != nil {
		return nil, err
	}
	rss, err := readRSS(d.pid())
	if err != nil {
		return nil, err
	}
	// Packets written at the end of the window are still on their way.
	if err := sleep(ctx, time.Second); err != nil {
		return nil, err
	}
	s := &sample{
		pairs:       pairs,
		window:      time.Duration(w.end - w.start),
		sfuCPU:      after.process - before.process,
		selfCPU:     after.self - before.self,
		machineBusy: after.busyShare(before),
		rssBase:     rssBase,
		rss:         rss,
		seconds:     seconds,
	}
	if s.sfuCPU < 0 {
		return nil, errors.New("the SFU's CPU time went backwards")
	}
	return s, nil
}

// sleep waits for d or until ctx ends, whichever comes first.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
