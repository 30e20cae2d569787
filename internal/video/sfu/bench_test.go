//go:build unix

package sfu_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/gesundheitsamt/portal/internal/video/sfu"
	"github.com/gesundheitsamt/portal/internal/video/sfu/sfutest"
)

// BenchmarkForward measures one 1200-byte video packet's way from a
// publisher through the SFU to one subscriber, over loopback UDP: the
// publisher's SRTP encryption, the SFU's decryption, forwarding and
// re-encryption, the subscriber's decryption and payload check. All three
// run in this process, so allocs/op are those of the whole path, the two
// pion clients included; cpu-ns/op is the process's CPU time (user and
// system, both cores) per packet, ns/op mostly the latency of the window:
// at most window packets are in flight, so that socket buffers do not
// overflow.
func BenchmarkForward(b *testing.B) {
	const (
		size   = 1200
		window = 64
	)
	s := newSFU(b, sfu.Config{})
	room := s.Room("bench")
	alice := join(b, room, "a", "alice", "staff", sfutest.Options{Video: true, Interval: -1})
	bob := join(b, room, "b", "bob", "patient", sfutest.Options{})
	got := func() int {
		st, _ := bob.Received("alice", "video")
		return st.Packets
	}
	// The SFU sees alice's track only once packets come; send until bob
	// receives them.
	waitFor(b, 10*time.Second, "bob to receive alice's video", func() bool {
		_ = alice.WriteVideo(size)
		return got() > 10
	})
	time.Sleep(100 * time.Millisecond)
	base := got()

	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := range b.N {
		if err := alice.WriteVideo(size); err != nil {
			b.Fatal(err)
		}
		if i%16 == 0 {
			deadline := time.Now().Add(2 * time.Second)
			for got()-base < i-window && time.Now().Before(deadline) {
				time.Sleep(20 * time.Microsecond)
			}
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for got()-base < b.N && time.Now().Before(deadline) {
		time.Sleep(100 * time.Microsecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	if lost := b.N - (got() - base); lost > 0 {
		b.ReportMetric(float64(lost)/float64(b.N)*100, "%lost")
	}
	checkIntact(b, bob)
}

// cpuTime returns the CPU time the process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
