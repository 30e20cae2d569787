package bwe

import "math"

// The rate part of the estimator: the delay's verdict moves a delay-based
// rate (AIMD), the share of packets lost moves a loss-based one, and the
// estimate is the lesser.
const (
	increasePerSecond = 1.08 // the delay-based rate grows by 8 % a second
	decreaseFactor    = 0.85 // on overuse it drops to 85 % of what arrives
	decreaseGapNs     = 200_000_000
	ackedWindowUs     = 300_000 // the arrival rate is measured over 300 ms
	ackedGapUs        = 1_000_000

	lossLow         = 0.02 // below this share lost the loss-based rate grows
	lossHigh        = 0.10 // above it, it shrinks
	lossGrowth      = 1.05
	lossStepNs      = 200_000_000 // at most one step up and one down per 200 ms
	lossAverageMs   = 200.0
	growthCapFactor = 1.5    // the rate grows only up to 1.5 times what arrives ...
	growthCapExtra  = 10_000 // ... and 10 kbit/s
)

// rateState is the AIMD controller's state.
type rateState int

const (
	rateHold rateState = iota
	rateIncrease
	rateDecrease
)

// aimd is the delay-based rate controller.
type aimd struct {
	rate         float64
	state        rateState
	lastNs       int64 // the last update
	lastDecrease int64
}

// update moves the rate by the detector's verdict, with acked the rate at
// which packets arrive (0: not known yet), at now (ns).
func (a *aimd) update(u usage, acked float64, now int64) float64 {
	switch u {
	case overusing:
		a.state = rateDecrease
	case underusing:
		a.state = rateHold // let the queues drain
	default:
		if a.state == rateHold {
			a.state = rateIncrease
		}
	}
	dt := 1.0
	if a.lastNs != 0 {
		dt = min(float64(now-a.lastNs)/1e9, 1)
	}
	a.lastNs = now
	switch a.state {
	case rateIncrease:
		// Growth stops short of far more than actually arrives: a
		// publisher sending less than the link takes proves nothing
		// about the link above that.
		limit := math.Inf(1)
		if acked > 0 {
			limit = growthCapFactor*acked + growthCapExtra
		}
		if a.rate < limit {
			a.rate = min(a.rate*math.Pow(increasePerSecond, dt), limit)
		}
	case rateDecrease:
		// Once per 200 ms, unless the rate is still far above what
		// arrives: the first cut has had no time to show yet.
		if now-a.lastDecrease >= decreaseGapNs || (acked > 0 && a.rate > 2*acked) {
			next := decreaseFactor * a.rate
			if acked > 0 {
				next = decreaseFactor * acked
			}
			a.rate = min(a.rate, next)
			a.lastDecrease = now
		}
		a.state = rateHold
	}
	return a.rate
}

// lossControl is the loss-based rate controller (pion's and libwebrtc's
// older one): at most the delay-based rate, up 5 % per 200 ms while under
// 2 % is lost, down by half the share lost while over 10 % is lost.
type lossControl struct {
	rate     float64
	average  float64 // share of packets lost, averaged over about 200 ms
	lastNs   int64
	lastUp   int64
	lastDown int64
}

// update takes one feedback's count of packets lost and received at now
// (ns) and returns the estimate.
func (l *lossControl) update(lost, received int, delayRate float64, now int64) float64 {
	share := float64(lost) / float64(lost+received)
	if l.lastNs == 0 {
		l.average = share
	} else {
		ms := float64(now-l.lastNs) / 1e6
		l.average = share + math.Exp(-ms/lossAverageMs)*(l.average-share)
	}
	l.lastNs = now
	up, down := max(l.average, share), min(l.average, share)
	switch {
	case up < lossLow && now-l.lastUp >= lossStepNs:
		l.rate *= lossGrowth
		l.lastUp = now
	case down > lossHigh && now-l.lastDown >= lossStepNs:
		l.rate *= 1 - down/2
		l.lastDown = now
	}
	l.rate = min(l.rate, delayRate)
	return l.rate
}

// ackedRate measures the rate at which acknowledged packets arrived, over
// windows of the peer's arrival clock.
type ackedRate struct {
	start, last int64 // µs: the window's first and latest arrival
	bytes       int
	bps         float64
	started     bool
}

// add counts a packet of size bytes that arrived at arrival (µs).
func (r *ackedRate) add(arrival int64, size int) {
	if !r.started || arrival-r.last > ackedGapUs || arrival < r.start {
		// The first packet, or after a gap (no video flowed): a new
		// window; the last rate stands until it is full.
		r.start, r.last, r.bytes, r.started = arrival, arrival, 0, true
	}
	r.bytes += size
	r.last = max(r.last, arrival)
	if span := r.last - r.start; span >= ackedWindowUs {
		r.bps = float64(r.bytes) * 8 * 1e6 / float64(span)
		r.start, r.bytes = r.last, 0
	}
}

// rate is the latest full window's rate in bits per second, 0 before the
// first.
func (r *ackedRate) rate() float64 { return r.bps }
