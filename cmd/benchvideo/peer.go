package main

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// The kinds of track, as indexes of per-kind arrays.
const (
	audio = 0
	video = 1
)

// rtpHeaderSize is the fixed RTP header, counted with the payload in
// bitrates on both ends; header extensions, which differ between the
// sender's and each SFU's, are not.
const rtpHeaderSize = 12

// window is the measured interval, in Unix nanoseconds of the send time:
// only packets written in it count, on both ends.
type window struct{ start, end int64 }

func (w *window) holds(t int64) bool { return w != nil && t >= w.start && t < w.end }

// endpoint is one participant of a call, whatever the SFU: it writes
// stamped audio and video to its two local tracks, which a driver attaches
// to a peer connection, and reads every remote track the driver hands to
// readTrack.
type endpoint struct {
	id       uint32
	win      *atomic.Pointer[window]
	vsize    int
	tracks   [2]*webrtc.TrackLocalStaticRTP
	sent     [2]atomic.Int64 // packets written in the window
	sentAll  [2]atomic.Int64 // packets written at all
	recv     [2]received
	firstPkt chan struct{} // closed when both kinds have arrived once
	once     sync.Once
}

// received is what arrived on one kind of track, from the partner.
type received struct {
	mu     sync.Mutex
	any    bool
	seen   []uint64 // a bit per packet number, in the window only
	n      int64    // distinct packets of the window
	bytes  int64    // payload and fixed RTP header bytes of those
	delays []uint32 // microseconds from write to read, one per distinct packet
	second []uint16 // the second of the window each of those was written in
	errors int64    // packets without a stamp
}

func newEndpoint(id uint32, win *atomic.Pointer[window], bitrate int) (*endpoint, error) {
	e := &endpoint{id: id, win: win, vsize: videoSize(bitrate), firstPkt: make(chan struct{})}
	var err error
	stream := "bench" + string(rune('a'+id%26))
	if e.tracks[audio], err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "audio", stream); err != nil {
		return nil, err
	}
	if e.tracks[video], err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", stream); err != nil {
		return nil, err
	}
	return e, nil
}

// send writes the endpoint's media until ctx ends. Packets written before a
// peer connection carries the tracks go nowhere, as a browser's would.
func (e *endpoint) send(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); e.sendVideo(ctx) }()
	go func() { defer wg.Done(); e.sendAudio(ctx) }()
	wg.Wait()
}

func (e *endpoint) sendVideo(ctx context.Context) {
	frame := time.Second / videoFPS
	tick := time.NewTicker(frame)
	defer tick.Stop()
	buf := make([]byte, e.vsize)
	keyEvery := int(keyframeEvery / frame)
	var rseq uint16
	var n uint64
	for f := 0; ; f++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		ts := uint32(f * videoClock / videoFPS)
		for i := range packetsPerFrame {
			vp8Payload(buf, uint16(f), i, f%keyEvery == 0)
			rseq++
			e.write(video, buf, &rtp.Header{Version: 2, Marker: i == packetsPerFrame-1, SequenceNumber: rseq, Timestamp: ts}, n)
			n++
		}
	}
}

func (e *endpoint) sendAudio(ctx context.Context) {
	tick := time.NewTicker(audioInterval)
	defer tick.Stop()
	buf := make([]byte, audioSize)
	opusPayload(buf)
	for n := uint64(0); ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		e.write(audio, buf, &rtp.Header{Version: 2, Marker: n == 0, SequenceNumber: uint16(n), Timestamp: uint32(n) * audioClock / 50}, n)
	}
}

// write stamps buf as packet n of kind and writes it to the track.
func (e *endpoint) write(kind int, buf []byte, h *rtp.Header, n uint64) {
	now := time.Now().UnixNano()
	putStamp(buf, stamp{from: e.id, seq: n, sent: now})
	if e.win.Load().holds(now) {
		e.sent[kind].Add(1)
	}
	e.sentAll[kind].Add(1)
	_ = e.tracks[kind].WriteRTP(&rtp.Packet{Header: *h, Payload: buf})
}

// readTrack reads one remote track until it ends, counting what its
// partner wrote in the window.
func (e *endpoint) readTrack(remote *webrtc.TrackRemote) {
	kind := video
	if remote.Kind() == webrtc.RTPCodecTypeAudio {
		kind = audio
	}
	r := &e.recv[kind]
	buf := make([]byte, 1600)
	var pkt rtp.Packet
	for {
		n, _, err := remote.Read(buf)
		if err != nil {
			return
		}
		now := time.Now().UnixNano()
		if pkt.Unmarshal(buf[:n]) != nil {
			continue
		}
		s, ok := readStamp(pkt.Payload)
		w := e.win.Load()
		r.mu.Lock()
		switch {
		case !ok:
			r.errors++
		case w.holds(s.sent) && !r.has(s.seq):
			r.n++
			r.bytes += int64(len(pkt.Payload) + rtpHeaderSize)
			r.delays = append(r.delays, uint32(max(now-s.sent, 0)/1000))
			r.second = append(r.second, uint16((s.sent-w.start)/int64(time.Second)))
		}
		first := !r.any
		r.any = true
		r.mu.Unlock()
		if first && e.recv[1-kind].arrived() {
			e.once.Do(func() { close(e.firstPkt) })
		}
	}
}

// has reports whether packet seq was seen before, and marks it seen.
// r.mu is held.
func (r *received) has(seq uint64) bool {
	w, bit := int(seq/64), uint64(1)<<(seq%64)
	for len(r.seen) <= w {
		r.seen = append(r.seen, 0)
	}
	if r.seen[w]&bit != 0 {
		return true
	}
	r.seen[w] |= bit
	return false
}

func (r *received) arrived() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.any
}

// readRTCP drains what the SFU sends back on a sender (receiver reports,
// NACKs, PLIs), so that the interceptors see it; the load ignores keyframe
// requests, as it sends a keyframe every 2 s anyway.
func readRTCP(s *webrtc.RTPSender) {
	buf := make([]byte, 1500)
	for {
		if _, _, err := s.Read(buf); err != nil {
			return
		}
	}
}
