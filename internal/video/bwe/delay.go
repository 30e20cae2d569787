package bwe

import "math"

// The delay part of the estimator: are the packets queueing somewhere on
// the way? Packets are grouped by when they were sent (a video frame's
// packets leave together), and the growth of the delay from one group to
// the next is filtered into a trend that an adaptive threshold calls
// overuse (queues growing), underuse (queues draining) or normal. The
// constants are libwebrtc's (TrendlineEstimator, InterArrival).
const (
	burstNs       = 5_000_000 // packets sent within 5 ms form one group
	burstArrival  = 5_000     // µs: ... or arrive that close with a shrinking delay
	burstSpan     = 100_000   // µs: but a group spans at most 100 ms of arrivals
	trendWindow   = 20        // groups in the trend's regression
	smoothing     = 0.9       // of the accumulated delay
	thresholdGain = 4.0
	maxDeltas     = 60   // the trend weighs at most this many groups' worth
	overuseTimeMs = 10.0 // a trend over the threshold this long is overuse
	thresholdInit = 12.5 // ms
	thresholdMin  = 6.0
	thresholdMax  = 600.0
	kUp           = 0.0087 // how fast the threshold follows a trend above it
	kDown         = 0.039  // ... and below it
)

// group is the packets sent within a burst.
type group struct {
	firstSend, lastSend       int64 // ns on the estimator's clock
	firstArrival, lastArrival int64 // µs on the peer's clock
}

// groups cuts the acknowledged packets into groups and compares each
// finished group with the one before.
type groups struct {
	cur, prev         group
	haveCur, havePrev bool
}

// delta compares two groups.
type delta struct {
	sendMs    float64 // between the groups' last departures
	arrivalMs float64 // between their last arrivals
	atMs      float64 // the later group's last arrival
}

// add takes one acknowledged packet, sent at send (ns) and arrived at
// arrival (µs). When it starts a new group, the group it ends is compared
// with the one before (ok).
func (g *groups) add(send, arrival int64) (d delta, ok bool) {
	if !g.haveCur {
		g.cur = group{send, send, arrival, arrival}
		g.haveCur = true
		return delta{}, false
	}
	if send < g.cur.firstSend {
		return delta{}, false // sent before the current group: reordered
	}
	if g.sameGroup(send, arrival) {
		g.cur.lastSend = max(g.cur.lastSend, send)
		g.cur.lastArrival = max(g.cur.lastArrival, arrival)
		return delta{}, false
	}
	if g.havePrev {
		arrivalUs := g.cur.lastArrival - g.prev.lastArrival
		if arrivalUs >= 0 {
			d = delta{
				sendMs:    float64(g.cur.lastSend-g.prev.lastSend) / 1e6,
				arrivalMs: float64(arrivalUs) / 1e3,
				atMs:      float64(g.cur.lastArrival) / 1e3,
			}
			ok = true
		}
	}
	g.prev, g.havePrev = g.cur, true
	g.cur = group{send, send, arrival, arrival}
	return d, ok
}

// sameGroup says whether a packet belongs to the current group: sent
// within the burst, or arriving in a burst (queued behind the group and
// released with it).
func (g *groups) sameGroup(send, arrival int64) bool {
	if send-g.cur.firstSend <= burstNs {
		return true
	}
	arrivalUs := arrival - g.cur.lastArrival
	propagationUs := arrivalUs - (send-g.cur.lastSend)/1000
	return arrivalUs < burstArrival && propagationUs < 0 && arrival-g.cur.firstArrival < burstSpan
}

// trendline fits a line through the smoothed accumulated delay of the last
// trendWindow groups; its slope is the trend.
type trendline struct {
	n         int
	firstAt   float64
	acc       float64
	smooth    float64
	xs, ys    [trendWindow]float64
	filled    int
	head      int
	lastSlope float64
}

// update takes one delta and returns the trend, scaled to be compared
// with the threshold.
func (t *trendline) update(d delta) float64 {
	if t.n == 0 {
		t.firstAt = d.atMs
	}
	t.n++
	t.acc += d.arrivalMs - d.sendMs
	t.smooth = smoothing*t.smooth + (1-smoothing)*t.acc
	t.xs[t.head], t.ys[t.head] = d.atMs-t.firstAt, t.smooth
	t.head = (t.head + 1) % trendWindow
	t.filled = min(t.filled+1, trendWindow)
	if t.filled == trendWindow {
		if s, ok := slope(t.xs[:], t.ys[:]); ok {
			t.lastSlope = s
		}
	}
	return t.lastSlope * float64(min(t.n, maxDeltas)) * thresholdGain
}

// slope is the least-squares slope of y over x.
func slope(xs, ys []float64) (float64, bool) {
	var mx, my float64
	for i := range xs {
		mx += xs[i]
		my += ys[i]
	}
	mx /= float64(len(xs))
	my /= float64(len(ys))
	var num, den float64
	for i := range xs {
		num += (xs[i] - mx) * (ys[i] - my)
		den += (xs[i] - mx) * (xs[i] - mx)
	}
	if den == 0 {
		return 0, false
	}
	return num / den, true
}

// usage is what the detector makes of the trend.
type usage int

const (
	normal usage = iota
	overusing
	underusing
)

func (u usage) String() string {
	switch u {
	case overusing:
		return "overuse"
	case underusing:
		return "underuse"
	}
	return "normal"
}

// detector compares the trend with a threshold that adapts to it, so that
// the estimator neither starves beside a loss-based flow (a TCP download)
// nor reacts to every jitter.
type detector struct {
	threshold float64
	lastMs    float64 // when the threshold was last adapted
	overMs    float64 // how long the trend has been over it; -1: it is not
	overCount int
	prevTrend float64
	state     usage
}

func newDetector() detector { return detector{threshold: thresholdInit, overMs: -1} }

// detect takes a trend, the send time between its groups and the arrival
// time of the later one (ms).
func (d *detector) detect(trend, sendMs, nowMs float64) {
	switch {
	case trend > d.threshold:
		if d.overMs < 0 {
			d.overMs = sendMs / 2
		} else {
			d.overMs += sendMs
		}
		d.overCount++
		if d.overMs > overuseTimeMs && d.overCount > 1 && trend >= d.prevTrend {
			d.overMs, d.overCount = 0, 0
			d.state = overusing
		}
	case trend < -d.threshold:
		d.overMs, d.overCount = -1, 0
		d.state = underusing
	default:
		d.overMs, d.overCount = -1, 0
		d.state = normal
	}
	d.prevTrend = trend
	d.adapt(trend, nowMs)
}

// adapt moves the threshold towards the trend's size, faster down than up;
// a trend far above the threshold (a sudden spike) leaves it alone.
func (d *detector) adapt(trend, nowMs float64) {
	if d.lastMs == 0 {
		d.lastMs = nowMs
	}
	abs := math.Abs(trend)
	if abs > d.threshold+15 {
		d.lastMs = nowMs
		return
	}
	k := kUp
	if abs < d.threshold {
		k = kDown
	}
	dt := min(nowMs-d.lastMs, 100)
	d.threshold = min(max(d.threshold+k*(abs-d.threshold)*dt, thresholdMin), thresholdMax)
	d.lastMs = nowMs
}
