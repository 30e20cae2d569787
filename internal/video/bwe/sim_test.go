package bwe_test

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/gesundheitsamt/portal/internal/video/bwe"
)

// The tests run the estimator against a simulated link: a sender of video
// frames at the estimate (at most the source's rate), a bottleneck of
// some capacity with a drop-tail queue and a fixed propagation delay,
// random loss, and a receiver that sends TWCC feedback every 50 ms, over
// the wire format (marshalled and parsed by pion/rtcp). The clock is
// simulated, so a minute of link runs in milliseconds.

const (
	extID      = 5
	packetSize = 1200 // bytes of payload per packet
	fps        = 30
)

// link is the simulated path from the sender to the receiver.
type link struct {
	capacity int     // bits per second
	queue    int     // bytes the bottleneck queues at most
	delay    int64   // ns of propagation
	loss     float64 // random share lost, before the queue
	rng      *rand.Rand
	freeAt   int64 // ns: when the bottleneck has sent what is queued
}

// arrive returns when a packet of size bytes sent at ns arrives, or -1.
func (l *link) arrive(at int64, size int) int64 {
	if l.loss > 0 && l.rng.Float64() < l.loss {
		return -1
	}
	l.freeAt = max(l.freeAt, at)
	queued := (l.freeAt - at) * int64(l.capacity) / 8 / 1e9
	if int(queued)+size > l.queue {
		return -1
	}
	l.freeAt += int64(size) * 8 * 1e9 / int64(l.capacity)
	return l.freeAt + l.delay
}

// sim is a sender, a link and a receiver around one estimator.
type sim struct {
	t      *testing.T
	now    int64 // ns
	est    *bwe.Estimator
	write  interceptor.RTPWriter
	link   *link
	source int // the most the sender has to send, bits per second
	seq    uint16
	// What the receiver has seen since its last feedback: arrival (ns)
	// by TWCC sequence number, or -1 for a packet lost.
	pending   []arrival
	nextFrame int64
	nextFB    int64
	fbCount   uint8
	sentBytes int
}

type arrival struct {
	seq uint16
	at  int64
}

func newSim(t *testing.T, cfg bwe.Config, l *link, source int) *sim {
	s := &sim{t: t, link: l, source: source}
	cfg.Now = func() time.Time { return time.Unix(0, s.now) }
	s.est = bwe.New(cfg)
	s.write = s.est.AddStream(streamInfo(), nop)
	return s
}

// run advances the simulation by d.
func (s *sim) run(d time.Duration) {
	end := s.now + int64(d)
	payload := make([]byte, packetSize)
	for s.now < end {
		if s.now >= s.nextFrame {
			rate := min(s.est.GetTargetBitrate(), s.source)
			frame := rate / 8 / fps
			for frame > 0 {
				n := min(frame, packetSize)
				frame -= n
				s.send(payload[:n])
			}
			s.nextFrame += int64(time.Second) / fps
		}
		if s.now >= s.nextFB {
			s.feedback()
			s.nextFB += int64(50 * time.Millisecond)
		}
		s.now = min(s.nextFrame, s.nextFB)
	}
}

func (s *sim) send(payload []byte) {
	h := &rtp.Header{Version: 2, SSRC: 1, SequenceNumber: s.seq}
	ext := make([]byte, 2)
	binary.BigEndian.PutUint16(ext, s.seq)
	if err := h.SetExtension(extID, ext); err != nil {
		s.t.Fatal(err)
	}
	if _, err := s.write.Write(h, payload, nil); err != nil {
		s.t.Fatal(err)
	}
	size := h.MarshalSize() + len(payload)
	s.sentBytes += size
	s.pending = append(s.pending, arrival{seq: s.seq, at: s.link.arrive(s.now, size)})
	s.seq++
}

// feedback sends the estimator the TWCC feedback on every packet that has
// arrived by now, and on the lost ones before them.
func (s *sim) feedback() {
	var report []arrival
	last := -1
	for i, a := range s.pending {
		if a.at >= 0 && a.at <= s.now {
			last = i
		}
	}
	if last < 0 {
		return
	}
	report, s.pending = append(report, s.pending[:last+1]...), s.pending[last+1:]
	var firstAt int64 = -1
	for _, a := range report {
		if a.at >= 0 && a.at <= s.now && (firstAt < 0 || a.at < firstAt) {
			firstAt = a.at
		}
	}
	refUnits := firstAt / int64(64*time.Millisecond)
	fb := &rtcp.TransportLayerCC{
		Header:             rtcp.Header{Count: rtcp.FormatTCC, Type: rtcp.TypeTransportSpecificFeedback},
		MediaSSRC:          1,
		BaseSequenceNumber: report[0].seq,
		PacketStatusCount:  uint16(len(report)),
		ReferenceTime:      uint32(refUnits) & (1<<24 - 1),
		FbPktCount:         s.fbCount,
	}
	s.fbCount++
	prev := refUnits * 64_000 // µs, in 250 µs steps from here
	for _, a := range report {
		if a.at < 0 || a.at > s.now {
			fb.PacketChunks = append(fb.PacketChunks, &rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketNotReceived, RunLength: 1})
			continue
		}
		us := a.at / 1000
		d := (us - prev) / 250 * 250
		prev += d
		symbol := uint16(rtcp.TypeTCCPacketReceivedSmallDelta)
		if d > 255*250 {
			symbol = rtcp.TypeTCCPacketReceivedLargeDelta
		}
		fb.PacketChunks = append(fb.PacketChunks, &rtcp.RunLengthChunk{PacketStatusSymbol: symbol, RunLength: 1})
		fb.RecvDeltas = append(fb.RecvDeltas, &rtcp.RecvDelta{Type: symbol, Delta: d})
	}
	fb.Header.Length = uint16(fb.MarshalSize()/4 - 1)
	raw, err := fb.Marshal()
	if err != nil {
		s.t.Fatalf("marshal feedback: %v", err)
	}
	pkts, err := rtcp.Unmarshal(raw)
	if err != nil {
		s.t.Fatalf("parse feedback: %v", err)
	}
	if err := s.est.WriteRTCP(pkts, nil); err != nil {
		s.t.Fatal(err)
	}
}

// rateOver runs the simulation for d and returns what the sender sent, in
// bits per second.
func (s *sim) rateOver(d time.Duration) int {
	s.sentBytes = 0
	s.run(d)
	return int(float64(s.sentBytes) * 8 / d.Seconds())
}

func newLink(capacity int) *link {
	return &link{capacity: capacity, queue: 30_000, delay: int64(20 * time.Millisecond), rng: rand.New(rand.NewPCG(1, 2))}
}
