package sfu

import (
	"bytes"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/logging"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

const testSSRC = 0x1234

// sink keeps what reaches the writer below the responder.
type sink struct{ packets []rtp.Packet }

func (s *sink) Write(h *rtp.Header, payload []byte, _ interceptor.Attributes) (int, error) {
	s.packets = append(s.packets, rtp.Packet{Header: h.Clone(), Payload: bytes.Clone(payload)})
	return h.MarshalSize() + len(payload), nil
}

// responderWorld is a responder on one video stream, with a clock of its
// own and a reader that hands it the RTCP packets of feed.
type responderWorld struct {
	r     *responder
	out   sink
	write interceptor.RTPWriter
	read  interceptor.RTCPReader
	now   time.Time
	feed  []rtcp.Packet
}

func newResponderWorld(t *testing.T, target func() int) *responderWorld {
	t.Helper()
	w := &responderWorld{now: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)}
	f := &responderFactory{log: logging.NewDefaultLoggerFactory().NewLogger("nack")}
	if target != nil {
		f.estimator = func() func() int { return target }
	}
	i, err := f.NewInterceptor("")
	if err != nil {
		t.Fatal(err)
	}
	w.r = i.(*responder)
	w.r.now = func() time.Time { return w.now }
	info := &interceptor.StreamInfo{SSRC: testSSRC, MimeType: "video/VP8",
		RTCPFeedback: []interceptor.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}}}
	w.write = w.r.BindLocalStream(info, &w.out)
	w.read = w.r.BindRTCPReader(interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		raw, err := rtcp.Marshal(w.feed)
		if err != nil {
			return 0, nil, err
		}
		return copy(b, raw), a, nil
	}))
	return w
}

// send writes packets first..last, each with a payload of size bytes that
// names its sequence number, and a header extension.
func (w *responderWorld) send(t *testing.T, first, last uint16, size int) {
	t.Helper()
	for seq := first; ; seq++ {
		h := rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: uint32(seq) * 3000, SSRC: testSSRC}
		if seq%7 == 0 { // padded, as a browser's probing packets are
			h.Padding, h.PaddingSize = true, 4
		}
		if err := h.SetExtension(3, []byte{byte(seq), byte(seq >> 8), 7}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.write.Write(&h, payloadOf(seq, size), nil); err != nil {
			t.Fatal(err)
		}
		if seq == last {
			return
		}
	}
}

func payloadOf(seq uint16, size int) []byte {
	p := make([]byte, size)
	for i := range p {
		p[i] = byte(seq) + byte(i)
	}
	return p
}

// nack hands the responder a NACK for seqs and returns the sequence
// numbers it resent.
func (w *responderWorld) nack(t *testing.T, seqs ...uint16) []uint16 {
	t.Helper()
	w.feed = []rtcp.Packet{&rtcp.TransportLayerNack{MediaSSRC: testSSRC, Nacks: rtcp.NackPairsFromSequenceNumbers(seqs)}}
	before := len(w.out.packets)
	if _, _, err := w.read.Read(make([]byte, 1500), nil); err != nil {
		t.Fatal(err)
	}
	var got []uint16
	for _, p := range w.out.packets[before:] {
		got = append(got, p.SequenceNumber)
	}
	return got
}

func TestResponderResendsWhatItKept(t *testing.T) {
	w := newResponderWorld(t, nil)
	w.send(t, 65400, 100, 1000) // 237 packets, across the wrap of the sequence numbers
	sent := map[uint16]rtp.Packet{}
	for _, p := range w.out.packets {
		sent[p.SequenceNumber] = p
	}
	got := w.nack(t, 65500, 50, 98, 101, 200)
	if len(got) != 3 || got[0] != 65500 || got[1] != 50 || got[2] != 98 {
		t.Fatalf("resent %v, want 65500, 50 and 98 (padded) (101 and 200 were never sent)", got)
	}
	for _, p := range w.out.packets[len(w.out.packets)-3:] {
		want := sent[p.SequenceNumber]
		if !bytes.Equal(p.Payload, want.Payload) || p.Timestamp != want.Timestamp || p.SSRC != testSSRC ||
			p.Padding != want.Padding || p.Header.PaddingSize != want.Header.PaddingSize ||
			!bytes.Equal(p.GetExtension(3), want.GetExtension(3)) {
			t.Errorf("resent %d differs from what was sent: %+v, want %+v", p.SequenceNumber, p.Header, want.Header)
		}
	}

	// The ring keeps the last nackHistory packets: once 256 more have
	// been sent, 50 is gone and its slot holds 306.
	w.send(t, 101, 101+nackHistory, 100)
	if got := w.nack(t, 50, 306); len(got) != 1 || got[0] != 306 {
		t.Errorf("after the ring went round: resent %v, want only 306", got)
	}
}

func TestResponderResendsOncePerRoundTrip(t *testing.T) {
	w := newResponderWorld(t, nil)
	w.send(t, 1, 100, 500)
	if got := w.nack(t, 10); len(got) != 1 {
		t.Fatalf("first NACK: resent %v", got)
	}
	if got := w.nack(t, 10); len(got) != 0 {
		t.Errorf("second NACK at once: resent %v, want nothing within 5 ms", got)
	}
	w.now = w.now.Add(6 * time.Millisecond)
	if got := w.nack(t, 10); len(got) != 1 {
		t.Errorf("after 6 ms: resent %v, want 10 again", got)
	}

	// A receiver report measuring 100 ms of round trip widens the
	// interval to 105 ms.
	lsr := ntp32(w.now.Add(-130 * time.Millisecond))
	w.feed = []rtcp.Packet{&rtcp.ReceiverReport{Reports: []rtcp.ReceptionReport{{SSRC: testSSRC, LastSenderReport: lsr, Delay: 30 * 65536 / 1000}}}}
	if _, _, err := w.read.Read(make([]byte, 1500), nil); err != nil {
		t.Fatal(err)
	}
	if rtt := w.r.stream(testSSRC).rtt; rtt < 99*time.Millisecond || rtt > 101*time.Millisecond {
		t.Fatalf("round trip taken as %v, want 100 ms", rtt)
	}
	w.now = w.now.Add(50 * time.Millisecond)
	if got := w.nack(t, 10); len(got) != 0 {
		t.Errorf("50 ms after the last resend with 100 ms round trip: resent %v", got)
	}
	w.now = w.now.Add(60 * time.Millisecond)
	if got := w.nack(t, 10); len(got) != 1 {
		t.Errorf("110 ms after the last resend: resent %v, want 10", got)
	}
}

func TestResponderKeepsWithinTheEstimate(t *testing.T) {
	// 16 kbit/s: 2,000 bytes a second, 1,000 over the 500 ms window.
	w := newResponderWorld(t, func() int { return 16_000 })
	w.send(t, 1, 50, 288) // 300 bytes with the header
	if got := w.nack(t, 1, 2, 3, 4, 5); len(got) != 3 {
		t.Fatalf("resent %v, want 3 packets of 300 bytes within 1,000", got)
	}
	// 4 was kept back, not resent: it goes out once the budget refills,
	// without waiting for a round trip.
	w.now = w.now.Add(300 * time.Millisecond)
	if got := w.nack(t, 4, 5); len(got) != 2 {
		t.Errorf("after 300 ms: resent %v, want 4 and 5", got)
	}
}

func TestResponderLeavesStreamsWithoutNack(t *testing.T) {
	r := &responder{streams: map[uint32]*history{}}
	var out sink
	w := r.BindLocalStream(&interceptor.StreamInfo{SSRC: 9, MimeType: "audio/opus"}, &out)
	h := rtp.Header{Version: 2, SSRC: 9, SequenceNumber: 1}
	if _, err := w.Write(&h, []byte{1}, nil); err != nil {
		t.Fatal(err)
	}
	if len(out.packets) != 1 || r.stream(9) != nil {
		t.Errorf("audio stream: %d packets written, kept %v", len(out.packets), r.stream(9) != nil)
	}
}

func TestResponderWritesWithoutAllocating(t *testing.T) {
	r := &responder{streams: map[uint32]*history{}}
	w := r.BindLocalStream(&interceptor.StreamInfo{SSRC: testSSRC, RTCPFeedback: []interceptor.RTCPFeedback{{Type: "nack"}}},
		interceptor.RTPWriterFunc(func(*rtp.Header, []byte, interceptor.Attributes) (int, error) { return 0, nil }))
	h := rtp.Header{Version: 2, PayloadType: 96, SSRC: testSSRC}
	if err := h.SetExtension(3, []byte{1, 2}); err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, 1100)
	write := func() {
		h.SequenceNumber++
		_, _ = w.Write(&h, payload, nil)
	}
	for range nackHistory { // every slot gets its buffer
		write()
	}
	if n := testing.AllocsPerRun(1000, write); n != 0 {
		t.Errorf("%v allocations per packet written, want 0", n)
	}
}

// BenchmarkResponderWrite is what keeping a sent packet costs: this
// package's responder, and pion's for comparison.
func BenchmarkResponderWrite(b *testing.B) {
	info := &interceptor.StreamInfo{SSRC: testSSRC, MimeType: "video/VP8",
		RTCPFeedback: []interceptor.RTCPFeedback{{Type: "nack"}}}
	discard := interceptor.RTPWriterFunc(func(*rtp.Header, []byte, interceptor.Attributes) (int, error) { return 0, nil })
	own, err := (&responderFactory{log: logging.NewDefaultLoggerFactory().NewLogger("nack")}).NewInterceptor("")
	if err != nil {
		b.Fatal(err)
	}
	pf, err := nack.NewResponderInterceptor(nack.ResponderSize(nackHistory))
	if err != nil {
		b.Fatal(err)
	}
	theirs, err := pf.NewInterceptor("")
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		i    interceptor.Interceptor
	}{{"own", own}, {"pion", theirs}} {
		b.Run(c.name, func(b *testing.B) {
			w := c.i.BindLocalStream(info, discard)
			h := rtp.Header{Version: 2, PayloadType: 96, SSRC: testSSRC}
			if err := h.SetExtension(3, []byte{1, 2}); err != nil {
				b.Fatal(err)
			}
			payload := make([]byte, 1100)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				h.SequenceNumber = uint16(i)
				_, _ = w.Write(&h, payload, nil)
			}
		})
	}
}
