package sfu

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Simulcast. The server offers every browser's camera slot with three
// receive encodings (simulcastOffer): a browser that can answers with
// "a=simulcast:send" and encodes the camera three times, at full, half
// and quarter resolution (Chromium scales them 1/4, 1/2, 1 in the order
// of the rids). pion, as the offerer, cannot put simulcast into its own
// description, so the browser gets a copy of the offer with the lines
// added while pion keeps the one it made; pion reads the encodings from
// the answer. A client that does not send simulcast answers without it
// (pion clients answer with "a=simulcast:recv", which simulcastAnswer
// removes). After the first answer with simulcast, pion offers it itself.
//
// Each encoding arrives as a track of its own (OnTrack with its rid).
// They make one published track with layers; every subscriber gets its
// own local track of it (a subscription), fed from one layer at a time
// and rewritten into one continuous stream (rewriter). Which layer: the
// best that fits the subscriber's share of its link (chooseLayer, in
// the adaptation round). A change takes effect at the next keyframe of
// the new layer, which the server asks for at once. So a weak subscriber
// gets the small encoding without lowering what the others see, and its
// publisher is not capped for it (capUplink).

// simulcastRIDs are the rids offered, the smallest encoding first as
// Chromium assigns them. The server ranks layers by their bitrate, never
// by these names.
var simulcastRIDs = []string{"q", "h", "f"}

// simulcastOffer returns the offer for the browser: sdp with the
// simulcast receive lines in the video m-section of mid, when it is
// recvonly and has none. Once an answer sent simulcast in it, pion's own
// offers carry the lines, with the rids answered, and the section is left
// as it is (a second a=simulcast is an error for the browser).
func simulcastOffer(sdp, mid string) string {
	if mid == "" {
		return sdp
	}
	var out []string
	for _, section := range sections(sdp) {
		out = append(out, section...)
		if strings.HasPrefix(section[0], "m=video ") && slices.Contains(section, "a=mid:"+mid) && slices.Contains(section, "a=recvonly") &&
			!slices.ContainsFunc(section, func(l string) bool { return strings.HasPrefix(l, "a=simulcast:") }) {
			for _, r := range simulcastRIDs {
				out = append(out, "a=rid:"+r+" recv")
			}
			out = append(out, "a=simulcast:recv "+strings.Join(simulcastRIDs, ";"))
		}
	}
	return strings.Join(out, "\r\n") + "\r\n"
}

// simulcastAnswer returns the answer without rid and simulcast lines in
// the m-sections that do not send simulcast as offered: a client that
// answers the offered encodings with "recv" (pion does) sends one stream,
// which pion would otherwise wait for under those rids; and an answer
// with rids the server did not offer (each would be a track of its own,
// with its goroutines) is taken as one without simulcast.
func simulcastAnswer(sdp string) string {
	if !strings.Contains(sdp, "a=simulcast:") {
		return sdp
	}
	var out []string
	for _, section := range sections(sdp) {
		sends := slices.ContainsFunc(section, func(l string) bool { return strings.HasPrefix(l, "a=simulcast:send ") }) &&
			!slices.ContainsFunc(section, func(l string) bool {
				rid, ok := strings.CutPrefix(l, "a=rid:")
				rid, _, _ = strings.Cut(rid, " ")
				return ok && !slices.Contains(simulcastRIDs, rid)
			})
		for _, l := range section {
			if sends || !(strings.HasPrefix(l, "a=rid:") || strings.HasPrefix(l, "a=simulcast:")) {
				out = append(out, l)
			}
		}
	}
	return strings.Join(out, "\r\n") + "\r\n"
}

// sections splits an SDP into the session part and its m-sections, each
// starting with its m= line. Lines may end in CRLF or, as pion also
// reads them, in LF alone.
func sections(sdp string) [][]string {
	lines := strings.Split(strings.TrimRight(sdp, "\r\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	var out [][]string
	i := 0
	for j := 1; j <= len(lines); j++ {
		if j == len(lines) || strings.HasPrefix(lines[j], "m=") {
			out = append(out, lines[i:j])
			i = j
		}
	}
	return out
}

// layer is one encoding of a simulcast track.
type layer struct {
	remote  *webrtc.TrackRemote
	lastKey atomic.Int64 // unix nanoseconds of the last keyframe request
	rate    atomic.Int64 // bits per second over the last full second
	last    atomic.Int64 // unix nanoseconds of the last packet

	// The forwarding goroutine's own: the bytes of the second begun at
	// since (unix nanoseconds).
	since, bytes int64
}

// count adds a packet of n bytes received at now to the layer's rate.
func (l *layer) count(n int, now int64) {
	if l.since == 0 {
		l.since = now
	}
	l.bytes += int64(n)
	l.last.Store(now)
	if d := now - l.since; d >= int64(time.Second) {
		l.rate.Store(l.bytes * 8 * int64(time.Second) / d)
		l.since, l.bytes = now, 0
	}
}

// subscription is a simulcast track forwarded to one subscriber: its
// own local track, which carries one layer at a time.
type subscription struct {
	t      *track
	peer   *Peer
	local  *webrtc.TrackLocalStaticRTP
	out    rtpWriter    // local, but for tests
	target atomic.Int32 // the layer to change to at its next keyframe; -1: any

	mu      sync.Mutex
	current int // the layer forwarded; -1 before the first keyframe
	rw      rewriter
}

// forward writes pkt, of layer i, to the subscriber if that is the layer
// it gets, or starts the layer it is to get at a keyframe of it (before
// the layers' rates are known: the first layer with a keyframe).
func (s *subscription) forward(i int, pkt *rtp.Packet, key bool, now int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i != s.current {
		if target := int(s.target.Load()); (target >= 0 && i != target) || !key {
			return
		}
		// Before the rates are known: the first layer with a keyframe,
		// and no other until the adaptation round chooses.
		s.target.CompareAndSwap(-1, int32(i))
		s.current = i
		s.rw.start(pkt.SequenceNumber, pkt.Timestamp, now)
	}
	seq, ts, ok := s.rw.rewrite(pkt.SequenceNumber, pkt.Timestamp, now)
	if !ok {
		return
	}
	out := rtp.Packet{Header: pkt.Header, Payload: pkt.Payload, PaddingSize: pkt.PaddingSize}
	out.SequenceNumber, out.Timestamp = seq, ts
	// The publisher's MID and RID name its own m-section; the
	// subscriber's connection adds what it negotiated (TWCC).
	out.Extension, out.Extensions = false, nil
	// An error names a subscriber whose connection is closing; it leaves
	// through its own Close.
	_ = s.out.WriteRTP(&out)
}

// rtpWriter is where a subscription writes.
type rtpWriter interface {
	WriteRTP(*rtp.Packet) error
}

// rewriter makes one continuous RTP stream of the layers a subscriber
// gets in turn: sequence numbers go on by one across a change of layer,
// and timestamps go on from the last packet sent by the time that passed
// since (each encoding has its own random starting points).
type rewriter struct {
	sent     bool
	first    uint16 // the first sequence number of the current layer, as received
	seqDelta uint16
	tsDelta  uint32
	maxSeq   uint16 // the highest sequence number sent
	lastTS   uint32 // its timestamp
	lastAt   int64  // when it was sent, unix nanoseconds
}

// rewriteWindow is how far behind the newest packet of a layer a packet
// is still forwarded: seconds of video, longer than any retransmission.
const rewriteWindow = 0x1000

// videoClock is the RTP clock rate of VP8 and H.264.
const videoClock = 90000

// start makes the packet (seq, ts), of a new layer and received at now,
// the next of the stream.
func (r *rewriter) start(seq uint16, ts uint32, now int64) {
	r.first = seq
	if !r.sent {
		r.seqDelta, r.tsDelta = 0, 0
		return
	}
	r.seqDelta = r.maxSeq + 1 - seq
	gap := uint32(max(now-r.lastAt, 0) * videoClock / int64(time.Second))
	r.tsDelta = r.lastTS + max(gap, 1) - ts
}

// rewrite maps a packet of the current layer; false for one from before
// the change to it (reordered or retransmitted), which is dropped, or one
// more than rewriteWindow behind the newest (too late to show).
func (r *rewriter) rewrite(seq uint16, ts uint32, now int64) (uint16, uint32, bool) {
	if int16(seq-r.first) < 0 {
		return 0, 0, false
	}
	// first follows the stream at rewriteWindow behind, so that the
	// comparison above never wraps (sequence numbers are 16 bits).
	if d := seq - r.first; d > rewriteWindow && d < 0x8000 {
		r.first = seq - rewriteWindow
	}
	out, outTS := seq+r.seqDelta, ts+r.tsDelta
	if !r.sent || int16(out-r.maxSeq) > 0 {
		r.sent, r.maxSeq, r.lastTS, r.lastAt = true, out, outTS, now
	}
	return out, outTS, true
}

// chooseLayer returns the layer a subscriber is to get: the best (by
// bitrate) whose rate fits its share, current the one it gets (-1: none).
// A layer better than the current one must fit with a fifth to spare, so
// that a share near a layer's rate does not flip between two layers. A
// negative share (the link holds nothing back) gets the best layer; when
// none fits, the smallest. Layers without a rate (not sent now) are never
// chosen; with none sending, current stays.
func chooseLayer(rates []int64, current int, share int64) int {
	best, smallest := -1, -1
	for i, r := range rates {
		if r <= 0 {
			continue
		}
		if smallest < 0 || r < rates[smallest] {
			smallest = i
		}
		fits := share < 0 || r <= share
		if fits && i != current && current >= 0 && current < len(rates) && r > rates[current] {
			fits = share < 0 || r*5 <= share*4
		}
		if fits && (best < 0 || r > rates[best]) {
			best = i
		}
	}
	switch {
	case best >= 0:
		return best
	case smallest >= 0:
		return smallest
	default:
		return current
	}
}

// onLayer runs, in pion's goroutine, for every encoding of a simulcast
// track the browser sends: the first makes the track and publishes it,
// each forwards its layer until it ends, and the last to end unpublishes
// the track.
func (p *Peer) onLayer(remote *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
	p.layerMu.Lock()
	t := p.simulcast[receiver]
	if t == nil {
		room, id := p.nextTrack(remote.Kind())
		if room == nil {
			p.layerMu.Unlock()
			return
		}
		t = &track{owner: p, remote: remote, id: id, simulcast: true}
		t.layers, t.live = []*layer{{remote: remote}}, 1
		if err := room.add(p, t); err != nil {
			p.layerMu.Unlock()
			p.log.Info("sfu: track not forwarded", "kind", remote.Kind().String(), "err", err)
			return
		}
		p.simulcast[receiver] = t
		p.mu.Lock()
		p.video = append(p.video, t)
		p.mu.Unlock()
		p.log.Debug("sfu: forwarding simulcast", "track", id, "codec", remote.Codec().MimeType)
	} else {
		t.mu.Lock()
		// More than offered, or one pion reports again (a rid on a new
		// SSRC re-binds its track, which its goroutine reads on): not read
		// a second time.
		if len(t.layers) >= len(simulcastRIDs) || slices.ContainsFunc(t.layers, func(l *layer) bool { return l.remote == remote }) {
			t.mu.Unlock()
			p.layerMu.Unlock()
			return
		}
		t.layers = append(t.layers, &layer{remote: remote})
		t.live++
		t.mu.Unlock()
	}
	t.mu.Lock()
	i := len(t.layers) - 1
	l := t.layers[i]
	t.mu.Unlock()
	p.layerMu.Unlock()

	p.wg.Add(1)
	go p.readLayerRTCP(receiver, remote.RID())
	t.forwardLayer(i, l)

	t.mu.Lock()
	t.live--
	last := t.live == 0
	t.mu.Unlock()
	if !last {
		return
	}
	p.mu.Lock()
	room := p.room
	p.video = slices.DeleteFunc(p.video, func(v *track) bool { return v == t })
	p.mu.Unlock()
	p.layerMu.Lock()
	delete(p.simulcast, receiver)
	p.layerMu.Unlock()
	if room != nil {
		room.unpublish(t)
	}
}

// readLayerRTCP reads the publisher's sender reports of one layer, so
// that the receiver reports the server sends back carry round-trip
// timing (as readReceiverRTCP does for a track of one encoding).
func (p *Peer) readLayerRTCP(receiver *webrtc.RTPReceiver, rid string) {
	defer p.wg.Done()
	buf := make([]byte, rtpBufSize)
	for {
		if _, _, err := receiver.ReadSimulcast(buf, rid); err != nil {
			return
		}
	}
}

// forwardLayer copies the packets of layer i to the subscribers that get
// it, until the layer ends.
func (t *track) forwardLayer(i int, l *layer) {
	buf := make([]byte, rtpBufSize)
	attrs := t.owner.s.attrs
	key := vp8Keyframe
	if strings.EqualFold(t.remote.Codec().MimeType, webrtc.MimeTypeH264) {
		key = h264Keyframe
	}
	var pkt rtp.Packet
	for {
		n, a, err := l.remote.Read(buf)
		if err != nil {
			return
		}
		attrs.release(a)
		// Padding alone (the browser probing its uplink, on the media
		// SSRC as no RTX is negotiated) is forwarded like the rest: it
		// takes sequence numbers, and a gap would be loss to the
		// subscriber.
		if pkt.Unmarshal(buf[:n]) != nil {
			continue
		}
		now := time.Now().UnixNano()
		l.count(n, now)
		k := key(pkt.Payload)
		for _, s := range t.subscribers() {
			s.forward(i, &pkt, k, now)
		}
	}
}

// keyframeOf asks the publisher for a keyframe of layer i, at most once
// per keyframeGap.
func (t *track) keyframeOf(i int) {
	t.mu.Lock()
	if i < 0 || i >= len(t.layers) {
		t.mu.Unlock()
		return
	}
	l := t.layers[i]
	t.mu.Unlock()
	now := time.Now().UnixNano()
	last := l.lastKey.Load()
	if now-last < int64(keyframeGap) || !l.lastKey.CompareAndSwap(last, now) {
		return
	}
	_ = t.owner.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(l.remote.SSRC())}})
}

// keyframeFor asks the publisher of t for a keyframe of what p gets of
// it: of a simulcast track, only the layer p gets (or waits for).
func (p *Peer) keyframeFor(t *track) {
	if !t.simulcast {
		t.keyframe()
		return
	}
	p.mu.Lock()
	s := p.subs[t]
	p.mu.Unlock()
	if s == nil {
		return
	}
	s.mu.Lock()
	i := s.current
	s.mu.Unlock()
	if target := int(s.target.Load()); target >= 0 {
		i = target
	}
	if i < 0 {
		t.keyframe()
		return
	}
	t.keyframeOf(i)
}

// rates returns each layer's bitrate; 0 for one that sent nothing for
// layerIdle (the browser stops an encoding its uplink cannot carry).
func (t *track) rates() []int64 {
	now := time.Now().UnixNano()
	t.mu.Lock()
	defer t.mu.Unlock()
	r := make([]int64, len(t.layers))
	for i, l := range t.layers {
		if now-l.last.Load() < int64(layerIdle) {
			r[i] = l.rate.Load()
		}
	}
	return r
}

// layerIdle is how long a layer that sends nothing still counts as sent.
const layerIdle = 1500 * time.Millisecond

// ssrcs returns the SSRCs the publisher sends the track on.
func (t *track) ssrcs() []uint32 {
	if !t.simulcast {
		return []uint32{uint32(t.remote.SSRC())}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]uint32, len(t.layers))
	for i, l := range t.layers {
		out[i] = uint32(l.remote.SSRC())
	}
	return out
}

func (t *track) subscribers() []*subscription {
	if s := t.subs.Load(); s != nil {
		return *s
	}
	return nil
}

// subscribe makes p a subscriber of the simulcast track t, with a local
// track of its own, and returns the subscription. It starts with the
// layer that fits p's share best, or, before the layers' rates are known,
// the first to send a keyframe.
func (t *track) subscribe(p *Peer) (*subscription, error) {
	local, err := webrtc.NewTrackLocalStaticRTP(t.remote.Codec().RTPCodecCapability, t.id, t.owner.info.StreamID)
	if err != nil {
		return nil, err
	}
	s := &subscription{t: t, peer: p, local: local, out: local, current: -1}
	s.target.Store(int32(chooseLayer(t.rates(), -1, p.share.Load())))
	t.mu.Lock()
	subs := append(slices.Clone(t.subscribers()), s)
	t.subs.Store(&subs)
	t.mu.Unlock()
	return s, nil
}

// unsubscribe stops forwarding t to p.
func (t *track) unsubscribe(p *Peer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	subs := slices.DeleteFunc(slices.Clone(t.subscribers()), func(s *subscription) bool { return s.peer == p })
	t.subs.Store(&subs)
}

// chooseLayers points each simulcast track forwarded to p at the layer
// that fits share (see chooseLayer), and asks again for the keyframe of a
// layer it still waits for.
func (p *Peer) chooseLayers(share int64) {
	p.mu.Lock()
	subs := make([]*subscription, 0, len(p.subs))
	for _, s := range p.subs {
		subs = append(subs, s)
	}
	p.mu.Unlock()
	for _, s := range subs {
		s.mu.Lock()
		current := s.current
		s.mu.Unlock()
		i := chooseLayer(s.t.rates(), current, share)
		if i < 0 {
			continue
		}
		s.target.Store(int32(i))
		if i != current {
			s.t.keyframeOf(i)
		}
	}
}
