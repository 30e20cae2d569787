package sfu

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// keyframeGap is the least time between two keyframe requests the server
// sends a publisher for one track, however many subscribers ask: a keyframe
// costs several times an ordinary frame, and one answers them all.
const keyframeGap = 500 * time.Millisecond

// maxReadErrors is how many failed reads in a row end the reading of a
// sender's RTCP.
const maxReadErrors = 100

// rtpBufSize fits any packet pion accepts (its receive MTU is 1460).
const rtpBufSize = 1500

// track is one published track: what arrives from the owner's browser on
// remote is written, unchanged but for SSRC and payload type, to local,
// which every subscriber's sender is bound to.
//
// A simulcast track (simulcast.go) has layers instead, and no local track
// of its own: each subscriber has one (subs).
type track struct {
	owner   *Peer
	remote  *webrtc.TrackRemote // of a simulcast track: its first layer's
	local   *webrtc.TrackLocalStaticRTP
	lastKey atomic.Int64 // unix nanoseconds of the last keyframe request

	id        string
	simulcast bool
	subs      atomic.Pointer[[]*subscription] // copied on change, under mu
	mu        sync.Mutex
	layers    []*layer // in the order they arrived
	live      int      // layers still being forwarded
}

// onTrack runs, in a goroutine of pion's, for every track the browser
// starts sending; it forwards the track until it ends.
func (p *Peer) onTrack(remote *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
	if !p.enter() {
		return
	}
	defer p.wg.Done()
	if remote.RID() != "" {
		p.onLayer(remote, receiver)
		return
	}
	room, id := p.nextTrack(remote.Kind())
	if room == nil {
		return
	}
	t, err := room.publish(p, remote, id)
	if err != nil {
		p.log.Info("sfu: track not forwarded", "kind", remote.Kind().String(), "err", err)
		return
	}
	if remote.Kind() == webrtc.RTPCodecTypeVideo {
		p.mu.Lock()
		p.video = append(p.video, t)
		p.mu.Unlock()
	}
	p.log.Debug("sfu: forwarding", "track", id, "codec", remote.Codec().MimeType)

	p.wg.Add(1)
	go p.readReceiverRTCP(receiver)
	t.forward()
	room.unpublish(t)

	p.mu.Lock()
	p.video = slices.DeleteFunc(p.video, func(v *track) bool { return v == t })
	p.mu.Unlock()
}

// nextTrack returns the peer's room (nil once it left) and the id of the
// next track it publishes.
func (p *Peer) nextTrack(kind webrtc.RTPCodecType) (*Room, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.published++
	return p.room, fmt.Sprintf("%s-%s-%d", p.info.StreamID, kind, p.published)
}

// forward copies packets until the remote track ends (the browser stopped
// sending on it, or the connection closed). One buffer serves all packets;
// TrackLocalStaticRTP.Write parses only the header, rewrites SSRC and
// payload type per subscriber and sends the payload bytes as they came: the
// browsers' end-to-end encrypted frames pass untouched.
func (t *track) forward() {
	buf := make([]byte, rtpBufSize)
	attrs := t.owner.s.attrs
	for {
		n, a, err := t.remote.Read(buf)
		if err != nil {
			return
		}
		// An error names subscribers whose connection is closing; they
		// leave through their own Close.
		_, _ = t.local.Write(buf[:n])
		attrs.release(a)
	}
}

// keyframe asks the publisher for a keyframe of a video track, at most once
// per keyframeGap.
func (t *track) keyframe() {
	if t.remote.Kind() != webrtc.RTPCodecTypeVideo {
		return
	}
	if t.simulcast {
		t.mu.Lock()
		n := len(t.layers)
		t.mu.Unlock()
		for i := range n {
			t.keyframeOf(i)
		}
		return
	}
	now := time.Now().UnixNano()
	last := t.lastKey.Load()
	if now-last < int64(keyframeGap) || !t.lastKey.CompareAndSwap(last, now) {
		return
	}
	_ = t.owner.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(t.remote.SSRC())}})
}

// readRTCP reads what a subscriber's browser reports about t. Reading is
// also what drives the interceptors: NACKs are answered from the sender's
// history as they are read. Picture loss and full intra requests become one
// rate-limited keyframe request to the publisher.
func (p *Peer) readRTCP(sender *webrtc.RTPSender, t *track) {
	defer p.wg.Done()
	buf := make([]byte, rtpBufSize)
	failed := 0
	for {
		n, attr, err := sender.Read(buf)
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) {
			return
		}
		if err != nil {
			// An interceptor refused one packet (a malformed feedback):
			// the next ones still count. A run of errors means the
			// sender is gone in a way that says so differently.
			if failed++; failed >= maxReadErrors {
				return
			}
			continue
		}
		failed = 0
		// The interceptors parsed the packets already (attr keeps them).
		pkts, err := attr.GetRTCPPackets(buf[:n])
		if err != nil {
			continue
		}
		for _, pkt := range pkts {
			switch pkt.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				p.keyframeFor(t)
			}
		}
	}
}

// readReceiverRTCP reads the publisher's sender reports so that the
// receiver reports the server sends back carry round-trip timing.
func (p *Peer) readReceiverRTCP(receiver *webrtc.RTPReceiver) {
	defer p.wg.Done()
	buf := make([]byte, rtpBufSize)
	for {
		if _, _, err := receiver.Read(buf); err != nil {
			return
		}
	}
}
