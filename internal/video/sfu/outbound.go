package sfu

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// outbound is the outermost interceptor of what a connection sends, one
// per connection (registered last). It does two things to every packet
// before the others see it:
//
//   - it drops the header extensions not negotiated for the stream
//     (extensions.drop), which a forwarded packet carries from its
//     publisher;
//   - it drops the packets of streams whose video is paused (Peer.stopVideo):
//     the sender keeps its track, so every offer still describes the
//     stream (its SSRC and msid) and the browser keeps the track, which
//     simply gets no frames until the pause ends. Dropped packets get no
//     TWCC sequence number and no place in the NACK history.
//
// Packets are written on without attributes, as pion hands them over:
// nothing in the chain below reads or sets any (the bandwidth estimator,
// package bwe, reads the TWCC sequence number from the header).
//
// It also reads what the browser reports of the link as its RTCP passes
// (BindRTCPReader): how many TWCC feedback packets came so far, and the
// audio's loss in its latest receiver report. A round of the adaptation
// without new feedback (no video flows, as in a pause) takes the loss
// from there.
type outbound struct {
	interceptor.NoOp

	feedback  atomic.Int64  // TWCC feedback packets read
	audioLost atomic.Uint32 // fraction lost (of 256) in the latest report on audio

	mu      sync.Mutex
	paused  map[uint32]bool // by SSRC
	npaused atomic.Int32    // len(paused), read without mu on every packet
	audio   map[uint32]bool // SSRCs of the audio streams sent
}

// outboundFactory makes the outbound interceptor of every connection, and
// the pool of attributes the inbound interceptors share. created, when
// set, is called with each new outbound interceptor.
type outboundFactory struct {
	pool    sync.Pool
	created func(*outbound)
}

func newOutboundFactory() *outboundFactory {
	f := &outboundFactory{}
	f.pool.New = func() any { return make(interceptor.Attributes, 2) }
	return f
}

// NewInterceptor implements interceptor.Factory.
func (f *outboundFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	o := &outbound{paused: map[uint32]bool{}, audio: map[uint32]bool{}}
	if f.created != nil {
		f.created(o)
	}
	return o, nil
}

// pause stops (or, with false, resumes) sending the stream of ssrc.
func (o *outbound) pause(ssrc uint32, paused bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if paused {
		o.paused[ssrc] = true
	} else {
		delete(o.paused, ssrc)
	}
	o.npaused.Store(int32(len(o.paused)))
}

// isPaused reports whether the stream of ssrc is paused.
func (o *outbound) isPaused(ssrc uint32) bool {
	if o.npaused.Load() == 0 {
		return false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.paused[ssrc]
}

// BindLocalStream implements interceptor.Interceptor.
func (o *outbound) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	if strings.HasPrefix(info.MimeType, "audio/") {
		o.mu.Lock()
		o.audio[info.SSRC] = true
		o.mu.Unlock()
	}
	exts := extensionsOf(info)
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if o.isPaused(h.SSRC) {
			return h.MarshalSize() + len(payload), nil
		}
		if h.Extension {
			exts.drop(h)
		}
		return w.Write(h, payload, a)
	})
}

// extensions are the one-byte header extension ids (1-14) negotiated for
// a stream, and the others.
type extensions struct{ negotiated, foreign []uint8 }

func extensionsOf(info *interceptor.StreamInfo) extensions {
	var is [15]bool
	for _, e := range info.RTPHeaderExtensions {
		if e.ID > 0 && e.ID < len(is) {
			is[e.ID] = true
		}
	}
	var x extensions
	for id := uint8(1); id < 15; id++ {
		if is[id] {
			x.negotiated = append(x.negotiated, id)
		} else {
			x.foreign = append(x.foreign, id)
		}
	}
	return x
}

// drop drops from h the header extensions not negotiated for the stream:
// a forwarded packet carries the publisher's, and its MID and RID name
// the publisher's m-section. Every subscriber's stream of a track
// negotiates the same extensions, so that TrackLocalStaticRTP handing
// them all the same header is no matter. A packet with only negotiated
// ones (nearly all: browsers send MID and RID in a stream's first packets
// only) costs a lookup per negotiated extension.
func (x extensions) drop(h *rtp.Header) {
	n := 0
	for _, id := range x.negotiated {
		if h.GetExtension(id) != nil {
			n++
		}
	}
	if n == len(h.Extensions) {
		return
	}
	for _, id := range x.foreign {
		if h.GetExtension(id) != nil {
			_ = h.DelExtension(id)
		}
	}
}

// UnbindLocalStream implements interceptor.Interceptor.
func (o *outbound) UnbindLocalStream(info *interceptor.StreamInfo) {
	o.mu.Lock()
	delete(o.audio, info.SSRC)
	o.mu.Unlock()
}

// BindRTCPReader implements interceptor.Interceptor. It is the outermost
// reader, so the packets are parsed already (the attributes keep them).
func (o *outbound) BindRTCPReader(r interceptor.RTCPReader) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, attr, err := r.Read(b, a)
		if err != nil {
			return n, attr, err
		}
		if attr == nil {
			attr = make(interceptor.Attributes)
		}
		pkts, perr := attr.GetRTCPPackets(b[:n])
		if perr != nil {
			return n, attr, nil
		}
		for _, pkt := range pkts {
			switch pkt := pkt.(type) {
			case *rtcp.TransportLayerCC:
				o.feedback.Add(1)
			case *rtcp.ReceiverReport:
				o.noteLoss(pkt.Reports)
			case *rtcp.SenderReport:
				o.noteLoss(pkt.Reports)
			}
		}
		return n, attr, nil
	})
}

// noteLoss keeps the fraction lost of the reports on audio streams.
func (o *outbound) noteLoss(reports []rtcp.ReceptionReport) {
	if len(reports) == 0 {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, r := range reports {
		if o.audio[r.SSRC] {
			o.audioLost.Store(uint32(r.FractionLost))
		}
	}
}

// audioLoss returns the audio's share of packets lost in the browser's
// latest receiver report, 0 before the first.
func (o *outbound) audioLoss() float64 { return float64(o.audioLost.Load()) / 256 }

// inbound is the innermost interceptor of what a connection receives
// (registered first), sharing the factory's pool. pion reads
// every packet with no attributes, and the NACK generator or the receiver
// reports would make a map for each (with its garbage about 2 % of the
// SFU's CPU under the load of cmd/benchvideo); so inbound starts each
// read with a map from the pool. The map comes back
// with the packet to track.forward, which returns it, emptied, once the
// packet is forwarded: the interceptors of the read keep nothing of it
// (they note sequence numbers and times as the packet passes).
type inbound struct {
	interceptor.NoOp
	pool *sync.Pool
}

// inbound returns the factory of the inbound interceptors.
func (f *outboundFactory) inbound() interceptor.Factory { return inboundFactory{&f.pool} }

type inboundFactory struct{ pool *sync.Pool }

// NewInterceptor implements interceptor.Factory.
func (f inboundFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &inbound{pool: f.pool}, nil
}

// BindRemoteStream implements interceptor.Interceptor.
func (i *inbound) BindRemoteStream(_ *interceptor.StreamInfo, r interceptor.RTPReader) interceptor.RTPReader {
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		if a == nil {
			a = i.pool.Get().(interceptor.Attributes)
		}
		return r.Read(b, a)
	})
}

// release returns the attributes of a packet read to the pool.
func (f *outboundFactory) release(a interceptor.Attributes) {
	if a != nil {
		clear(a)
		f.pool.Put(a)
	}
}
