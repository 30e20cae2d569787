package turn

import (
	"bytes"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkRelay measures datagrams through one UDP allocation: the client
// sends 1000-byte datagrams (a video packet's size) through the relay to
// an echo peer, which sends them back through the relay, with up to 32 in
// flight. One op is one round trip, two relayed datagrams; relayed_pkts/s
// counts both directions. The server logs at info level, as in production.
func BenchmarkRelay(b *testing.B) {
	srv, err := New(Config{
		Secret: testSecret, ListenIP: "127.0.0.1", AllowLoopback: true, QuotaBytes: 1 << 50,
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = srv.Close() })
	s := &testServer{Server: srv}
	peer := newEchoPeer(b)
	relay, err := freshClient(b, s, "udp", "bench").Allocate()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = relay.Close() })
	payload := bytes.Repeat([]byte("v"), 1000)
	// Let the client bind a channel, so that the run measures ChannelData.
	for range 10 {
		if err := roundTrip(relay, peer.addr(), payload, time.Second); err != nil {
			b.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}

	const window = 32
	tokens := make(chan struct{}, window)
	for range window {
		tokens <- struct{}{}
	}
	var received atomic.Int64
	_ = relay.SetReadDeadline(time.Time{}) // roundTrip left one
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			if _, _, err := relay.ReadFrom(buf); err != nil {
				return // the deadline set at the end
			}
			received.Add(1)
			select {
			case tokens <- struct{}{}:
			default: // its token was given up as lost
			}
		}
	}()

	b.SetBytes(int64(2 * len(payload)))
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		select {
		case <-tokens:
		case <-time.After(100 * time.Millisecond): // a datagram was lost: go on without its token
		}
		if _, err := relay.WriteTo(payload, peer.addr()); err != nil {
			b.Fatal(err)
		}
	}
	for wait := time.Now().Add(time.Second); received.Load() < int64(b.N) && time.Now().Before(wait); {
		time.Sleep(100 * time.Microsecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(2*received.Load())/elapsed.Seconds(), "relayed_pkts/s")
	b.ReportMetric(float64(b.N-int(received.Load()))/float64(b.N), "lost/op")
	_ = relay.SetReadDeadline(time.Now())
	<-done
}
