package sfu

import (
	"slices"
	"time"

	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/interceptor/pkg/gcc"
	"github.com/pion/logging"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// Bandwidth adaptation. A browser sizes what it sends by its own congestion
// control, fed by the server's TWCC feedback: that covers each publisher's
// uplink. The downlinks are the server's to watch: every peer connection
// runs a Google Congestion Control estimator (pion/interceptor's gcc) on the
// TWCC feedback of the browser it sends to. The estimator starts at
// Config.MaxBitrate and comes down only on rising delay or loss. Once a
// second (adaptInterval) each peer
//   - turns its estimate into a share per forwarded video track: the
//     estimate less audioAllowance per forwarded audio track, divided among
//     the video tracks;
//   - pauses the video forwarded to it when, lowTicks rounds in a row, its
//     link is congested (the estimator is decreasing, or sees more than
//     lossyShare loss) and the share is below videoFloor: audio goes on, and
//     the browser is sent a quality message. The video comes back (with a
//     keyframe, and another quality message) once the pause has lasted and
//     the link is no longer congested; a video paused again soon after it
//     came back waits twice as long (see pauses);
//   - caps what it publishes with a REMB message: per video track the least
//     share among the peers it is forwarded to (paused ones aside), at most
//     Config.MaxBitrate and at least minEstimate.
//
// So a weak subscriber makes the publisher send less (the browser lowers
// resolution or frame rate), and one too weak for any video gets audio only
// instead of frozen video. After congestion the estimate grows by 8 % a
// second (GCC's increase), so quality comes back gradually. There is no
// simulcast: in a call of several, the weakest subscriber sets the quality
// of what everyone receives. Echo rooms (the connection test) are capped but
// never paused: the test is there to measure the link as it is.
const (
	// DefaultMaxBitrate is Config.MaxBitrate when it is 0: what a browser
	// sends for a 720p camera at most.
	DefaultMaxBitrate = 2_500_000
	adaptInterval     = time.Second
	audioAllowance    = 50_000 // bits per second of one Opus track with its headers
	minEstimate       = 30_000 // the least the estimator and a REMB cap go down to
	videoFloor        = 60_000 // a share below this gives no usable video
	lowTicks          = 3
	lossyShare        = 0.1 // of packets lost, in the estimator's average
)

// pauses say how long video stays paused: at least min, twice as long as
// the last pause when the video had come back less than steady ago, at
// most max.
type pauses struct{ min, max, steady time.Duration }

// defaultPauses are Config.pauses unless a test shortens them.
func defaultPauses() pauses {
	return pauses{min: 8 * time.Second, max: 64 * time.Second, steady: 30 * time.Second}
}

// adaptState is what adaptLoop remembers between its rounds.
type adaptState struct {
	low       int // rounds in a row with the share below videoFloor
	paused    bool
	resuming  bool // paused, but the share is shown: video comes back next round
	pausedAt  time.Time
	pause     time.Duration // the least length of the current pause
	resumedAt time.Time
	// stopped are the video senders whose track was taken off for the
	// pause, with the track to put back; guarded by Peer.mu.
	stopped map[*webrtc.RTPSender]*track
}

// newEstimators makes the factory of the per-connection estimators. An
// estimator starts at MaxBitrate (it only comes down on delay or loss, so a
// call starts at full quality) and sends nothing itself: no pacer, the
// server forwards packets as they come.
func newEstimators(cfg Config, logs logging.LoggerFactory) (*cc.InterceptorFactory, error) {
	return cc.NewInterceptor(func() (cc.BandwidthEstimator, error) {
		return gcc.NewSendSideBWE(
			gcc.SendSideBWEInitialBitrate(cfg.MaxBitrate+audioAllowance),
			gcc.SendSideBWEMinBitrate(minEstimate),
			gcc.SendSideBWEMaxBitrate(MaxTracks*cfg.MaxBitrate),
			gcc.SendSideBWEPacer(gcc.NewNoOpPacer()),
			gcc.WithLoggerFactory(logs),
		)
	})
}

// adaptLoop runs the adaptation rounds until the peer ends.
func (p *Peer) adaptLoop() {
	defer p.wg.Done()
	tick := time.NewTicker(adaptInterval)
	defer tick.Stop()
	for {
		select {
		case <-p.done:
			return
		case now := <-tick.C:
			p.adaptDownlink(now)
			p.capUplink()
		}
	}
}

// adaptDownlink updates p.share from the estimate and pauses or resumes
// the video forwarded to p.
func (p *Peer) adaptDownlink(now time.Time) {
	est := p.bwe.GetTargetBitrate()
	stats := p.bwe.GetStats()
	loss, _ := stats["averageLoss"].(float64)
	congested := stats["state"] == "decrease" || loss > lossyShare
	p.mu.Lock()
	echo := p.room != nil && p.room.echo
	audio, video := 0, 0
	for t := range p.senders {
		if t.remote.Kind() == webrtc.RTPCodecTypeVideo {
			video++
		} else {
			audio++
		}
	}
	p.mu.Unlock()
	share := est - audioAllowance*audio
	if video > 1 {
		share /= video
	}

	a := &p.adapt
	pauses := p.s.cfg.pauses
	switch {
	case echo:
	case !a.paused:
		if video > 0 && congested && share < videoFloor {
			a.low++
		} else {
			a.low = 0
		}
		if a.low < lowTicks {
			break
		}
		if !a.resumedAt.IsZero() && now.Sub(a.resumedAt) < pauses.steady {
			a.pause = min(2*a.pause, pauses.max)
		} else {
			a.pause = pauses.min
		}
		a.paused, a.pausedAt, a.low = true, now, 0
		p.stopVideo(true)
		p.log.Info("sfu: video paused, link too weak", "estimate", est, "loss", loss)
		p.send(Message{Type: TypeQuality, Video: VideoPaused})
	case a.resuming && !congested:
		a.paused, a.resuming, a.resumedAt = false, false, now
		p.stopVideo(false)
		p.log.Info("sfu: video resumed", "estimate", est)
		p.send(Message{Type: TypeQuality, Video: VideoOn})
	case now.Sub(a.pausedAt) >= a.pause && !congested:
		// The publishers see this link's share one round before the
		// video comes back, so that they are capped to it by then.
		a.resuming = true
	default:
		// Still paused: video tracks forwarded since are paused too.
		a.resuming = false
		p.stopVideo(true)
	}
	if a.paused && !a.resuming {
		p.share.Store(-1)
	} else {
		p.share.Store(int64(share))
	}
}

// stopVideo takes the tracks off p's video senders (stop) or puts them
// back and asks their publishers for a keyframe. Senders of an offer not
// yet answered are left alone: a sender only stops and restarts once it has
// started. The transceivers stay, so nothing is renegotiated.
func (p *Peer) stopVideo(stop bool) {
	var resumed []*track
	p.mu.Lock()
	if p.adapt.stopped == nil {
		p.adapt.stopped = map[*webrtc.RTPSender]*track{}
	}
	for t, sender := range p.senders {
		if p.closed || t.remote.Kind() != webrtc.RTPCodecTypeVideo ||
			slices.Contains(p.added, t) || slices.Contains(p.offered, t) {
			continue
		}
		_, stopped := p.adapt.stopped[sender]
		switch {
		case stop && !stopped:
			if err := sender.ReplaceTrack(nil); err != nil {
				p.log.Debug("sfu: pause video", "err", err)
				continue
			}
			p.adapt.stopped[sender] = t
		case !stop && stopped:
			if err := sender.ReplaceTrack(t.local); err != nil {
				p.log.Debug("sfu: resume video", "err", err)
				continue
			}
			resumed = append(resumed, t)
		}
	}
	if !stop {
		// Senders of tracks removed meanwhile are gone with them.
		clear(p.adapt.stopped)
	}
	p.mu.Unlock()
	for _, t := range resumed {
		t.keyframe()
	}
}

// capUplink sends p a REMB message that caps its published video at what
// its subscribers' links take.
func (p *Peer) capUplink() {
	p.mu.Lock()
	room := p.room
	tracks := slices.Clone(p.video)
	p.mu.Unlock()
	if room == nil || len(tracks) == 0 {
		return
	}
	peers := room.snapshot()
	total := 0
	ssrcs := make([]uint32, 0, len(tracks))
	for _, t := range tracks {
		limit := p.s.cfg.MaxBitrate
		for _, q := range peers {
			if share := q.share.Load(); q != p && share >= 0 && q.forwards(t) {
				limit = min(limit, int(share))
			}
		}
		total += max(limit, minEstimate)
		ssrcs = append(ssrcs, uint32(t.remote.SSRC()))
	}
	_ = p.pc.WriteRTCP([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{
		Bitrate: float32(total),
		SSRCs:   ssrcs,
	}})
}

// forwards reports whether t is forwarded to p.
func (p *Peer) forwards(t *track) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.senders[t] != nil
}
