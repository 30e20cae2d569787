package bwe_test

import (
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/interceptor/pkg/gcc"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"

	"github.com/gesundheitsamt/portal/internal/video/bwe"
)

var cfg = bwe.Config{Initial: 2_500_000, Min: 30_000, Max: 10_000_000}

// TestEstimateFollowsTheLink narrows a link under a 1 Mbit/s source and
// widens it again: on a wide link the estimate stays above what is sent;
// on 300 kbit/s it comes down below the link's capacity, but not to
// nothing; when the link is wide again it grows back.
func TestEstimateFollowsTheLink(t *testing.T) {
	l := newLink(10_000_000)
	s := newSim(t, cfg, l, 1_000_000)
	s.run(10 * time.Second)
	if got := s.est.GetTargetBitrate(); got < 1_000_000 {
		t.Fatalf("on a 10 Mbit/s link the estimate is %d, want at least the 1 Mbit/s sent", got)
	}

	l.capacity = 300_000
	s.run(10 * time.Second)
	got := s.est.GetTargetBitrate()
	t.Logf("on 300 kbit/s: estimate %d, stats %v", got, s.est.GetStats())
	if got >= 300_000 || got < 100_000 {
		t.Fatalf("on a 300 kbit/s link the estimate is %d, want between 100k and 300k", got)
	}
	if sent := s.rateOver(10 * time.Second); sent > 300_000 {
		t.Errorf("at the estimate the sender sent %d bit/s into a 300 kbit/s link", sent)
	}

	l.capacity = 3_000_000
	s.run(30 * time.Second)
	if got := s.est.GetTargetBitrate(); got < 1_000_000 {
		t.Fatalf("30 s after the link widened to 3 Mbit/s the estimate is %d, want at least 1 Mbit/s", got)
	}
}

// TestEstimateOnLoss: a link that loses a fifth of all packets (without
// queueing) brings the estimate down; one that loses 1 % does not.
func TestEstimateOnLoss(t *testing.T) {
	for _, tc := range []struct {
		loss     float64
		min, max int
	}{
		{0.01, 1_000_000, cfg.Max},
		{0.2, cfg.Min, 500_000},
	} {
		l := newLink(50_000_000)
		l.loss = tc.loss
		s := newSim(t, cfg, l, 1_000_000)
		s.run(20 * time.Second)
		got := s.est.GetTargetBitrate()
		loss, _ := s.est.GetStats()["averageLoss"].(float64)
		t.Logf("%.0f %% lost: estimate %d, average loss %.3f", 100*tc.loss, got, loss)
		if got < tc.min || got > tc.max {
			t.Errorf("%.0f %% lost: estimate %d, want %d to %d", 100*tc.loss, got, tc.min, tc.max)
		}
		if loss > 3*tc.loss || (tc.loss > 0.1 && loss < tc.loss/4) {
			t.Errorf("%.0f %% lost: average loss %.3f", 100*tc.loss, loss)
		}
	}
}

// TestEstimateChangeCallback: the callback sees each new estimate.
func TestEstimateChangeCallback(t *testing.T) {
	l := newLink(200_000)
	s := newSim(t, cfg, l, 1_000_000)
	var last, calls int
	s.est.OnTargetBitrateChange(func(r int) { last, calls = r, calls+1 })
	s.run(5 * time.Second)
	if calls == 0 || last != s.est.GetTargetBitrate() {
		t.Fatalf("%d calls, the last with %d; the estimate is %d", calls, last, s.est.GetTargetBitrate())
	}
}

// TestStreamsWithoutTWCC: a stream without the TWCC extension gets the
// writer it came with, and feedback on packets never recorded moves
// nothing.
func TestStreamsWithoutTWCC(t *testing.T) {
	e := bwe.New(cfg)
	written := 0
	w := interceptor.RTPWriterFunc(func(*rtp.Header, []byte, interceptor.Attributes) (int, error) { written++; return 0, nil })
	got := e.AddStream(&interceptor.StreamInfo{SSRC: 7}, w)
	if _, err := got.Write(&rtp.Header{}, nil, nil); err != nil || written != 1 {
		t.Fatalf("write through: %d writes, %v", written, err)
	}
	fb := &rtcp.TransportLayerCC{
		PacketStatusCount: 3, BaseSequenceNumber: 10,
		PacketChunks: []rtcp.PacketStatusChunk{&rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketNotReceived, RunLength: 3}},
	}
	for range 20 {
		if err := e.WriteRTCP([]rtcp.Packet{fb}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if r := e.GetTargetBitrate(); r != cfg.Initial {
		t.Fatalf("feedback on unknown packets moved the estimate to %d", r)
	}
}

// TestRecordingAllocatesNothing: recording a sent packet is the cost paid
// for every packet forwarded; it allocates nothing.
func TestRecordingAllocatesNothing(t *testing.T) {
	write, h, payload := benchWriter(t)
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := write.Write(h, payload, nil); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per packet", allocs)
	}
}

func benchWriter(tb testing.TB) (interceptor.RTPWriter, *rtp.Header, []byte) {
	tb.Helper()
	w := bwe.New(cfg).AddStream(streamInfo(), nop)
	h := &rtp.Header{Version: 2, SSRC: 1}
	if err := h.SetExtension(extID, []byte{0, 1}); err != nil {
		tb.Fatal(err)
	}
	return w, h, make([]byte, packetSize)
}

// streamInfo describes a stream that carries TWCC sequence numbers.
func streamInfo() *interceptor.StreamInfo {
	return &interceptor.StreamInfo{SSRC: 1, RTPHeaderExtensions: []interceptor.RTPHeaderExtension{{URI: sdp.TransportCCURI, ID: extID}}}
}

// nop is the writer under the estimator's: it sends nothing.
var nop = interceptor.RTPWriterFunc(func(*rtp.Header, []byte, interceptor.Attributes) (int, error) { return 0, nil })

// BenchmarkSent is the estimator's cost per packet forwarded, beside that
// of pion's gcc.SendSideBWE in the same place.
func BenchmarkSent(b *testing.B) {
	pionBWE, err := gcc.NewSendSideBWE(gcc.SendSideBWEPacer(gcc.NewNoOpPacer()))
	if err != nil {
		b.Fatal(err)
	}
	for _, est := range []struct {
		name string
		e    cc.BandwidthEstimator
	}{{"bwe", bwe.New(cfg)}, {"pion-gcc", pionBWE}} {
		b.Run(est.name, func(b *testing.B) {
			w := est.e.AddStream(streamInfo(), nop)
			h := &rtp.Header{Version: 2, SSRC: 1}
			payload := make([]byte, packetSize)
			ext := make([]byte, 2)
			b.ReportAllocs()
			for i := range b.N {
				ext[0], ext[1] = byte(i>>8), byte(i)
				if err := h.SetExtension(extID, ext); err != nil {
					b.Fatal(err)
				}
				if _, err := w.Write(h, payload, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestEstimateRecoversAfterLoss: heavy loss takes the estimate to the
// floor; once the loss ends it climbs back to the source's rate.
func TestEstimateRecoversAfterLoss(t *testing.T) {
	l := newLink(50_000_000)
	l.loss = 0.3
	s := newSim(t, cfg, l, 1_000_000)
	s.run(10 * time.Second)
	if got := s.est.GetTargetBitrate(); got != cfg.Min {
		t.Fatalf("after 10 s of 30 %% loss the estimate is %d, want the floor %d", got, cfg.Min)
	}
	l.loss = 0
	s.run(20 * time.Second)
	if got := s.est.GetTargetBitrate(); got < 1_000_000 {
		t.Fatalf("20 s after the loss ended the estimate is %d, want at least 1 Mbit/s", got)
	}
}
