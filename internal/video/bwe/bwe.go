// Package bwe estimates what a WebRTC connection may send to its peer from
// the peer's transport-wide congestion control feedback (TWCC,
// draft-holmer-rmcat-transport-wide-cc-extensions-01): the sender side of
// Google Congestion Control (draft-ietf-rmcat-gcc-02) as libwebrtc runs it
// today, with a trendline filter on the delay, an adaptive overuse
// threshold, an AIMD rate controller and a loss controller.
//
// An Estimator is a cc.BandwidthEstimator (pion/interceptor/pkg/cc), so it
// plugs into pion's interceptor chain where pion's own gcc.SendSideBWE
// would. It exists for its cost per packet, the one an SFU pays for every
// packet it forwards: recording a sent packet is one store into a fixed
// ring under an uncontended lock, with no allocation. pion's estimator
// keeps a map and a linked list of every sent packet (two allocations, a
// map insert and a delete per packet), which measured about 6 % of the
// SFU's CPU under load, the largest share after the system calls. Feedback
// (about ten packets a second per connection) does the rest of the work.
package bwe

import (
	"encoding/binary"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
)

// history is how many sent packets the estimator remembers, by TWCC
// sequence number (a power of two). Feedback comes every 50 to 100 ms; at
// 1,000 packets a second (10 Mbit/s) the ring holds a second.
const history = 1024

// Config bounds an Estimator. Rates are in bits per second.
type Config struct {
	Initial int // the estimate before any feedback
	Min     int // the least the estimate goes down to
	Max     int // the most it goes up to
	// Now is the clock; time.Now when nil (tests give a simulated one).
	Now func() time.Time
}

// Estimator is the bandwidth estimator of one connection. Its methods are
// safe for concurrent use: every stream's writer records sent packets
// while the RTCP reader feeds it the feedback.
type Estimator struct {
	cfg   Config
	now   func() time.Time
	epoch time.Time

	sentMu sync.Mutex
	sent   [history]sent

	target atomic.Int64

	mu       sync.Mutex // guards what the feedback updates
	ref      refClock
	groups   groups
	trend    trendline
	detector detector
	rate     aimd
	loss     lossControl
	acked    ackedRate
	onChange func(int)
}

// sent is the record of one sent packet.
type sent struct {
	at   int64  // departure, in ns after epoch; 0: the slot is empty
	size uint32 // bytes on the wire (header and payload)
	seq  uint16 // the TWCC sequence number that owns the slot
}

// New makes an estimator starting at cfg.Initial (Max when 0).
func New(cfg Config) *Estimator {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Max <= 0 {
		cfg.Max = math.MaxInt32
	}
	if cfg.Initial <= 0 {
		cfg.Initial = cfg.Max
	}
	cfg.Initial = min(max(cfg.Initial, cfg.Min), cfg.Max)
	e := &Estimator{cfg: cfg, now: cfg.Now, epoch: cfg.Now()}
	e.detector = newDetector()
	e.rate = aimd{rate: float64(cfg.Initial), state: rateHold}
	e.loss = lossControl{rate: float64(cfg.Initial)}
	e.target.Store(int64(cfg.Initial))
	return e
}

// AddStream implements cc.BandwidthEstimator: the returned writer records
// every packet that carries a TWCC sequence number, then writes it. A
// stream without the TWCC header extension passes as it is.
func (e *Estimator) AddStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	var id uint8
	for _, x := range info.RTPHeaderExtensions {
		if x.URI == sdp.TransportCCURI {
			id = uint8(x.ID) //nolint:gosec // extension ids are 1 to 255
		}
	}
	if id == 0 {
		return w
	}
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if b := h.GetExtension(id); len(b) >= 2 {
			e.onSent(binary.BigEndian.Uint16(b), h.MarshalSize()+len(payload))
		}
		return w.Write(h, payload, a)
	})
}

// onSent records that the packet of TWCC sequence number seq left now.
func (e *Estimator) onSent(seq uint16, size int) {
	at := max(int64(e.now().Sub(e.epoch)), 1)
	e.sentMu.Lock()
	e.sent[seq%history] = sent{at: at, size: uint32(size), seq: seq} //nolint:gosec // a packet's size
	e.sentMu.Unlock()
}

// lookup returns the record of seq, if the ring still holds it.
func (e *Estimator) lookup(seq uint16) (sent, bool) {
	e.sentMu.Lock()
	s := e.sent[seq%history]
	e.sentMu.Unlock()
	return s, s.at != 0 && s.seq == seq
}

// WriteRTCP implements cc.BandwidthEstimator: it reads the TWCC feedback
// among pkts and updates the estimate. Other packets are ignored.
func (e *Estimator) WriteRTCP(pkts []rtcp.Packet, _ interceptor.Attributes) error {
	for _, p := range pkts {
		if fb, ok := p.(*rtcp.TransportLayerCC); ok {
			e.feedback(fb)
		}
	}
	return nil
}

// feedback runs one TWCC feedback packet through the estimator.
func (e *Estimator) feedback(fb *rtcp.TransportLayerCC) {
	now := int64(e.now().Sub(e.epoch))
	e.mu.Lock()
	var lost, received int
	decode(fb, &e.ref, func(seq uint16, arrival int64, ok bool) {
		s, known := e.lookup(seq)
		if !known {
			return
		}
		if !ok {
			lost++
			return
		}
		received++
		e.acked.add(arrival, int(s.size))
		if d, ok := e.groups.add(s.at, arrival); ok {
			trend := e.trend.update(d)
			e.detector.detect(trend, d.sendMs, d.arrivalMs)
		}
	})
	if lost+received == 0 {
		e.mu.Unlock()
		return
	}
	acked := e.acked.rate()
	delayRate := e.rate.update(e.detector.state, acked, now)
	rate := e.loss.update(lost, received, delayRate, now)
	// Both controllers stay within the bounds, so that either comes back
	// from the floor at its own pace rather than from far below it.
	rate = e.clamp(rate)
	e.loss.rate, e.rate.rate = rate, e.clamp(e.rate.rate)
	onChange := e.onChange
	e.mu.Unlock()

	if old := e.target.Swap(int64(rate)); old != int64(rate) && onChange != nil {
		onChange(int(rate))
	}
}

func (e *Estimator) clamp(r float64) float64 {
	return min(max(r, float64(e.cfg.Min)), float64(e.cfg.Max))
}

// GetTargetBitrate implements cc.BandwidthEstimator: what the connection
// may send, in bits per second.
func (e *Estimator) GetTargetBitrate() int { return int(e.target.Load()) }

// OnTargetBitrateChange implements cc.BandwidthEstimator: f is called with
// every new estimate, outside the estimator's locks.
func (e *Estimator) OnTargetBitrateChange(f func(int)) {
	e.mu.Lock()
	e.onChange = f
	e.mu.Unlock()
}

// GetStats implements cc.BandwidthEstimator. averageLoss is the share of
// packets lost, averaged over the last feedback (the key and meaning of
// pion's gcc); the others say what the parts of the estimator think.
func (e *Estimator) GetStats() map[string]any {
	e.mu.Lock()
	defer e.mu.Unlock()
	return map[string]any{
		"averageLoss":        e.loss.average,
		"lossTargetBitrate":  int(e.loss.rate),
		"delayTargetBitrate": int(e.rate.rate),
		"ackedBitrate":       int(e.acked.rate()),
		"delayThreshold":     e.detector.threshold,
		"usage":              e.detector.state.String(),
	}
}

// Close implements cc.BandwidthEstimator; there is nothing to release.
func (e *Estimator) Close() error { return nil }
