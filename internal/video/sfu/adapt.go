package sfu

import (
	"math/bits"
	"slices"
	"time"

	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/gesundheitsamt/portal/internal/video/bwe"
)

// Bandwidth adaptation. A browser sizes what it sends by its own congestion
// control, fed by the server's TWCC feedback: that covers each publisher's
// uplink. The downlinks are the server's to watch: every peer connection
// runs a Google Congestion Control estimator (package bwe) on the TWCC
// feedback of the browser it sends to. The estimator starts at
// Config.MaxBitrate and comes down only on rising delay or loss. Once a
// second (adaptInterval) each peer takes a sample of its link (see
// adaptState.round):
//   - its share per forwarded video track: the estimate divided among
//     the video tracks. Only video carries TWCC sequence numbers
//     (configureTWCC), so the estimate is what the link takes beside the
//     audio;
//   - whether the link limits the publishers: only once it stays
//     congested, so that passing jitter costs no quality;
//   - whether video to it pauses: when, lowTicks rounds in a row, the link
//     is congested and the share is below videoFloor. Audio goes on, and
//     the browser is sent a quality message. The video comes back (with a
//     keyframe, and another quality message) once the pause has lasted and
//     the link is no longer congested; a video paused again soon after it
//     came back waits twice as long (see pauses).
//
// Then it caps what it publishes with a REMB message: per video track the
// least share among the limiting links it is forwarded to, at most
// Config.MaxBitrate and at least minCap.
//
// So a weak subscriber makes the publisher send less (the browser lowers
// resolution or frame rate), and one too weak for any video gets audio only
// instead of frozen video. After congestion the estimate grows by 8 % a
// second (GCC's increase), so quality comes back gradually. A publisher
// that sends simulcast is not capped for its subscribers: each gets the
// layer its share takes (chooseLayers, simulcast.go). Without simulcast,
// in a call of several, the weakest subscriber sets the quality of what
// everyone receives. Echo rooms (the connection test) are capped at
// Config.MaxBitrate but never paused: the test is there to measure the link
// as it is.
const (
	// DefaultMaxBitrate is Config.MaxBitrate when it is 0: what a browser
	// sends for a 720p camera at most.
	DefaultMaxBitrate = 2_500_000
	adaptInterval     = time.Second
	minEstimate       = 30_000  // the least the estimator goes down to
	videoFloor        = 100_000 // a share below this gives no usable video
	// minCap is the least a REMB cap goes down to. It is above the
	// browser's own rule (video-quality.js: a camera pauses when its
	// estimate stays under 100 kbit/s), so that one weak subscriber makes
	// a publisher send less but never stop its camera for everyone; a
	// subscriber that cannot take even this much gets audio only.
	minCap      = 150_000
	lowTicks    = 3
	cleanRounds = 10
	lossyShare  = 0.1 // of packets lost, in the estimator's average
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
	last      int   // the estimate of the last round
	feedback  int64 // outbound.feedback at the last round
	recent    uint8 // one bit per round, the newest lowest: congested
	limiting  bool  // the link caps the publishers
	clean     int   // rounds in a row without congestion
	low       int   // rounds in a row congested with the share below videoFloor
	paused    bool
	resuming  bool // paused, but the share is shown: video comes back next round
	pausedAt  time.Time
	pause     time.Duration // the least length of the current pause
	resumedAt time.Time
	// stopped are the SSRCs of the video streams paused (by the gate);
	// guarded by Peer.mu.
	stopped map[uint32]bool
}

// newEstimators makes the factory of the per-connection estimators
// (package bwe: GCC's sender side on the TWCC feedback). An estimator
// starts at MaxBitrate (it only comes down on delay or loss, so a call
// starts at full quality) and sends nothing itself: the server forwards
// packets as they come.
func newEstimators(cfg Config) (*cc.InterceptorFactory, error) {
	return cc.NewInterceptor(func() (cc.BandwidthEstimator, error) {
		return bwe.New(bwe.Config{Initial: cfg.MaxBitrate, Min: minEstimate, Max: MaxTracks * cfg.MaxBitrate}), nil
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

// adaptDownlink runs one round of the adaptation of p's link.
func (p *Peer) adaptDownlink(now time.Time) {
	stats := p.bwe.GetStats()
	in := linkSample{now: now, estimate: p.bwe.GetTargetBitrate()}
	in.loss, _ = stats["averageLoss"].(float64)
	if f := p.gate.feedback.Load(); f == p.adapt.feedback {
		// No TWCC feedback since the last round: no video flows (a
		// pause, or none published), and the estimator's figures are
		// those of before. The audio's receiver reports tell the loss.
		in.loss = p.gate.audioLoss()
	} else {
		p.adapt.feedback = f
	}
	p.mu.Lock()
	in.echo = p.room != nil && p.room.echo
	for t := range p.senders {
		if t.remote.Kind() == webrtc.RTPCodecTypeVideo {
			in.video++
		}
	}
	p.mu.Unlock()

	v, share := p.adapt.round(in, p.s.cfg.pauses)
	switch v {
	case pauseVideo:
		p.stopVideo(true)
		p.log.Info("sfu: video paused, link too weak", "estimate", in.estimate, "loss", in.loss)
		p.send(Message{Type: TypeQuality, Video: VideoPaused})
	case stillPaused:
		// Video tracks forwarded since the pause began are paused too.
		p.stopVideo(true)
	case resumeVideo:
		p.stopVideo(false)
		p.log.Info("sfu: video resumed", "estimate", in.estimate)
		p.send(Message{Type: TypeQuality, Video: VideoOn})
	}
	p.share.Store(int64(share))
	p.chooseLayers(int64(share))
}

// linkSample is what one round knows of a subscriber's link.
type linkSample struct {
	now      time.Time
	estimate int     // the estimator's target, bits per second
	loss     float64 // the estimator's average share of packets lost, or the audio's (see adaptDownlink)
	video    int     // video tracks forwarded to the subscriber
	echo     bool    // an echo room: never pause
}

// verdict is what a round does with the video forwarded to a subscriber.
type verdict int

const (
	keep        verdict = iota
	pauseVideo          // pause it now
	stillPaused         // keep it paused
	resumeVideo         // forward it again now
)

// round takes one sample of the link and says what to do with its video
// and which share of it the publishers are capped to (-1: none, the link
// does not hold them back).
//
// A round is congested when the estimate fell since the last round or
// the loss is above lossyShare. The link limits the publishers once it
// was congested in three of the last five rounds, or lost more than
// lossyShare; it stops limiting them after cleanRounds rounds without
// congestion. Passing jitter (a keyframe's burst, a busy machine) thus
// costs no quality; a link that stays congested caps the publishers.
func (a *adaptState) round(in linkSample, ps pauses) (verdict, int) {
	share := in.estimate
	if in.video > 1 {
		share /= in.video
	}
	congested := in.loss > lossyShare || in.estimate < a.last
	a.last = in.estimate
	a.recent <<= 1
	if congested {
		a.recent |= 1
	}
	switch {
	case in.loss > lossyShare || bits.OnesCount8(a.recent&0b11111) >= 3:
		a.limiting, a.clean = true, 0
	case congested:
		a.clean = 0
	default:
		if a.clean++; a.clean >= cleanRounds {
			a.limiting = false
		}
	}

	v := keep
	switch {
	case !a.paused:
		if !in.echo && in.video > 0 && a.limiting && congested && share < videoFloor {
			a.low++
		} else {
			a.low = 0
		}
		if a.low < lowTicks {
			break
		}
		if !a.resumedAt.IsZero() && in.now.Sub(a.resumedAt) < ps.steady {
			a.pause = min(2*a.pause, ps.max)
		} else {
			a.pause = ps.min
		}
		a.paused, a.pausedAt, a.low = true, in.now, 0
		v = pauseVideo
	case a.resuming && !congested:
		a.paused, a.resuming, a.resumedAt = false, false, in.now
		v = resumeVideo
	case in.now.Sub(a.pausedAt) >= a.pause && !congested:
		// The publishers see this link's share one round before the
		// video comes back, so that they are capped to it by then.
		a.resuming = true
		v = stillPaused
	default:
		a.resuming = false
		v = stillPaused
	}
	if !a.limiting || a.paused && !a.resuming {
		return v, -1
	}
	return v, share
}

// stopVideo pauses (stop) the video forwarded to p, or resumes it and
// asks the publishers for a keyframe. The gate interceptor drops the
// paused streams' packets; senders keep their tracks, so an offer made
// during the pause still describes every stream, and the browser keeps
// the tracks, which get no frames until the pause ends. Video tracks
// forwarded during a pause are paused by the next round (stillPaused).
func (p *Peer) stopVideo(stop bool) {
	var resumed []*track
	p.mu.Lock()
	if p.adapt.stopped == nil {
		p.adapt.stopped = map[uint32]bool{}
	}
	for t, sender := range p.senders {
		if t.remote.Kind() != webrtc.RTPCodecTypeVideo {
			continue
		}
		for _, e := range sender.GetParameters().Encodings {
			ssrc := uint32(e.SSRC)
			switch {
			case stop && !p.adapt.stopped[ssrc]:
				p.adapt.stopped[ssrc] = true
				p.gate.pause(ssrc, true)
			case !stop && p.adapt.stopped[ssrc]:
				resumed = append(resumed, t)
			}
		}
	}
	if !stop {
		// Also the streams of tracks removed meanwhile.
		for ssrc := range p.adapt.stopped {
			p.gate.pause(ssrc, false)
		}
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
			// A simulcast track's weak subscribers get a smaller layer
			// instead (chooseLayers).
			if share := q.share.Load(); !t.simulcast && q != p && share >= 0 && q.forwards(t) {
				limit = min(limit, int(share))
			}
		}
		total += max(limit, minCap)
		ssrcs = append(ssrcs, t.ssrcs()...)
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
