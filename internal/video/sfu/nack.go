package sfu

import (
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// nackHistory is how many sent packets each forwarded stream keeps for
// retransmission (a power of two): three seconds of 1 Mbit/s video, far
// beyond any retransmission that still helps.
const nackHistory = 256

// resendWindow is the span over which retransmissions may add up to the
// connection's estimated bitrate (libwebrtc's kRetransmitWindowSizeMs).
const resendWindow = 500 * time.Millisecond

// responderFactory makes the NACK responder of every connection.
// estimator, when set, gives the bitrate the connection's estimator
// allows at the moment the responder is made: the cc factory, registered
// before it, has just made that connection's estimator (SFU.newPC
// serialises the making of connections).
type responderFactory struct {
	log       logging.LeveledLogger
	estimator func() func() int
}

// NewInterceptor implements interceptor.Factory.
func (f *responderFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	r := &responder{log: f.log, now: time.Now, streams: map[uint32]*history{}}
	if f.estimator != nil {
		r.target = f.estimator()
	}
	return r, nil
}

// responder answers a subscriber's NACKs (RFC 4585 generic NACK) from the
// history of what its connection sent on each stream that negotiated
// them, the video streams. It does what pion's nack.ResponderInterceptor
// does, without its per-packet allocations: every stream keeps a ring of
// nackHistory slots, and a sent packet is marshalled into its slot, whose
// buffer is reused for the packet nackHistory later. pion copies each
// packet into a pooled, reference-counted object with a cloned header
// instead; that copy was a third of the SFU's own work per packet.
//
// Like pion's, it resends a packet at most once per round-trip time (plus
// 5 ms), from the receiver reports' delay, and keeps retransmissions
// within the connection's estimated bitrate over resendWindow, so that a
// NACK storm cannot make the server send more than the link carries.
// NACKs are answered on the goroutine that reads the connection's RTCP,
// so that no amount of them starts goroutines.
type responder struct {
	interceptor.NoOp
	log    logging.LeveledLogger
	now    func() time.Time
	target func() int // bits per second; nil for no limit

	mu      sync.Mutex
	streams map[uint32]*history // by SSRC

	budget resendBudget
}

// history is a stream's ring of sent packets.
type history struct {
	w interceptor.RTPWriter // the writer below the responder

	mu    sync.Mutex
	rtt   time.Duration // mean of the reports' round-trip times
	nrtt  int64
	slots [nackHistory]sentPacket
}

// sentPacket is a slot of the ring: the packet as written (header
// marshalled, then the payload), n bytes of buf, or none when n is 0.
type sentPacket struct {
	seq     uint16
	header  int  // length of the marshalled header
	padding byte // the header's PaddingSize, which marshalling leaves out
	n       int
	resent  time.Time
	buf     []byte
}

// BindLocalStream implements interceptor.Interceptor.
func (r *responder) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	if !negotiatesNack(info) {
		return w
	}
	h := &history{w: w}
	r.mu.Lock()
	r.streams[info.SSRC] = h
	r.mu.Unlock()
	ssrc := info.SSRC
	return interceptor.RTPWriterFunc(func(hdr *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if hdr.SSRC == ssrc {
			h.add(hdr, payload)
		}
		return w.Write(hdr, payload, a)
	})
}

// negotiatesNack reports whether a stream negotiated generic NACKs.
func negotiatesNack(info *interceptor.StreamInfo) bool {
	for _, fb := range info.RTCPFeedback {
		if fb.Type == "nack" && fb.Parameter == "" {
			return true
		}
	}
	return false
}

// add keeps a packet in its slot. A packet whose header does not marshal
// empties the slot (it is not kept) and is written on all the same.
func (h *history) add(hdr *rtp.Header, payload []byte) {
	size := hdr.MarshalSize() + len(payload)
	h.mu.Lock()
	defer h.mu.Unlock()
	s := &h.slots[hdr.SequenceNumber%nackHistory]
	if cap(s.buf) < size {
		s.buf = make([]byte, size, max(size, 1280))
	}
	s.buf = s.buf[:size]
	n, err := hdr.MarshalTo(s.buf)
	if err != nil {
		s.n = 0
		return
	}
	copy(s.buf[n:], payload)
	s.seq, s.header, s.padding, s.n, s.resent = hdr.SequenceNumber, n, hdr.PaddingSize, size, time.Time{}
}

// take copies the packet of seq into b, if the ring has it and it was not
// resent within the last round-trip time (plus 5 ms), and marks it resent
// at now. It returns the length of the header and of the packet, or 0, 0,
// and the header's padding size.
func (h *history) take(seq uint16, now time.Time, b []byte) (header, n int, padding byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := &h.slots[seq%nackHistory]
	if s.n == 0 || s.seq != seq || s.n > len(b) {
		return 0, 0, 0
	}
	if !s.resent.IsZero() && now.Sub(s.resent) < h.rtt+5*time.Millisecond {
		return 0, 0, 0
	}
	s.resent = now
	return s.header, copy(b, s.buf[:s.n]), s.padding
}

// unmark forgets that the packet of seq was resent: take marked it, and
// the budget then kept it back.
func (h *history) unmark(seq uint16) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s := &h.slots[seq%nackHistory]; s.seq == seq {
		s.resent = time.Time{}
	}
}

// UnbindLocalStream implements interceptor.Interceptor.
func (r *responder) UnbindLocalStream(info *interceptor.StreamInfo) {
	r.mu.Lock()
	delete(r.streams, info.SSRC)
	r.mu.Unlock()
}

// Close implements interceptor.Interceptor.
func (r *responder) Close() error {
	r.mu.Lock()
	clear(r.streams)
	r.mu.Unlock()
	return nil
}

func (r *responder) stream(ssrc uint32) *history {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.streams[ssrc]
}

// BindRTCPReader implements interceptor.Interceptor: it answers the NACKs
// and takes the round-trip times of the reports.
func (r *responder) BindRTCPReader(rd interceptor.RTCPReader) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, attr, err := rd.Read(b, a)
		if err != nil {
			return n, attr, err
		}
		if attr == nil {
			attr = make(interceptor.Attributes)
		}
		pkts, err := attr.GetRTCPPackets(b[:n])
		if err != nil {
			return 0, nil, err
		}
		for _, p := range pkts {
			switch p := p.(type) {
			case *rtcp.TransportLayerNack:
				r.resend(p)
			case *rtcp.ReceiverReport:
				r.noteRTT(p.Reports)
			case *rtcp.SenderReport:
				r.noteRTT(p.Reports)
			}
		}
		return n, attr, nil
	})
}

// resend writes again the packets a NACK asks for that the stream's
// history has, until the budget runs out.
func (r *responder) resend(nack *rtcp.TransportLayerNack) {
	h := r.stream(nack.MediaSSRC)
	if h == nil {
		return
	}
	buf := make([]byte, 1500)
	for _, pair := range nack.Nacks {
		more := true
		pair.Range(func(seq uint16) bool {
			now := r.now()
			header, n, padding := h.take(seq, now, buf)
			if n == 0 {
				return true
			}
			if r.target != nil && !r.budget.spend(now, n, r.target()) {
				h.unmark(seq)
				more = false
				return false
			}
			var hdr rtp.Header
			if _, err := hdr.Unmarshal(buf[:header]); err != nil {
				return true
			}
			hdr.PaddingSize = padding // the writer below appends the padding
			if _, err := h.w.Write(&hdr, buf[header:n], nil); err != nil {
				r.log.Debugf("resend %d: %v", seq, err)
			}
			return true
		})
		if !more {
			return
		}
	}
}

// noteRTT averages the round-trip times of the reports on the streams
// kept, from the last sender report's time and the delay since
// (RFC 3550 6.4.1), both in 1/65536 s.
func (r *responder) noteRTT(reports []rtcp.ReceptionReport) {
	now := ntp32(r.now())
	for _, rep := range reports {
		if rep.LastSenderReport == 0 {
			continue
		}
		h := r.stream(rep.SSRC)
		rtt := now - rep.LastSenderReport - rep.Delay
		if h == nil || rtt >= 1<<31 {
			continue
		}
		h.mu.Lock()
		h.nrtt++
		h.rtt += (time.Duration(rtt)*time.Second/(1<<16) - h.rtt) / time.Duration(h.nrtt)
		h.mu.Unlock()
	}
}

// ntp32 is the middle 32 bits of t's NTP timestamp: seconds since 1900 in
// the upper 16, the fraction of a second in the lower.
func ntp32(t time.Time) uint32 {
	const unixToNTP = 2_208_988_800
	secs := uint64(t.Unix() + unixToNTP)
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return uint32(secs<<16 | frac>>16)
}

// resendBudget keeps a connection's retransmissions within its estimated
// bitrate: a bucket that fills at the bitrate and holds resendWindow's
// worth of it.
type resendBudget struct {
	mu    sync.Mutex
	last  time.Time
	bytes float64
}

// spend takes size bytes from the bucket, if it holds them, at a target
// of bits per second.
func (b *resendBudget) spend(now time.Time, size, target int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	perSecond := float64(max(target, 0)) / 8
	limit := perSecond * resendWindow.Seconds()
	if b.last.IsZero() {
		b.bytes = limit
	} else {
		b.bytes = min(limit, b.bytes+perSecond*now.Sub(b.last).Seconds())
	}
	b.last = now
	if b.bytes < float64(size) {
		return false
	}
	b.bytes -= float64(size)
	return true
}
