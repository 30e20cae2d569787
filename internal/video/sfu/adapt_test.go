package sfu_test

import (
	"slices"
	"testing"
	"time"

	"github.com/pion/transport/v5/vnet"

	"github.com/gesundheitsamt/portal/internal/video/sfu"
	"github.com/gesundheitsamt/portal/internal/video/sfu/sfutest"
)

// TestWeakDownlink narrows the link to one subscriber on a virtual
// network, step by step, while the publisher's video follows the server's
// REMB cap as a browser's does: on a good link the publisher is not held
// back; on a link of 300 kbit/s it is capped below that and video still
// flows; on 80 kbit/s, too little for any video beside the audio, the
// subscriber gets audio only and is told so; when the link is good again,
// video comes back.
func TestWeakDownlink(t *testing.T) {
	track(t)
	wan := newWAN(t)
	serverNet, aliceNet, bobNet := newHost(t, "10.0.0.1"), newHost(t, "10.0.0.2"), newHost(t, "10.0.0.3")
	// What reaches bob queues in 8 kB and leaves at the link's rate.
	link := vnet.NewTBFQueue(10_000_000, 8_000, 8_000)
	bobLink, err := vnet.NewQueue(bobNet, link)
	if err != nil {
		t.Fatal(err)
	}
	startWAN(t, wan, serverNet, aliceNet, bobLink)

	cfg := sfu.Config{Net: serverNet}
	sfu.ShortPauses(&cfg, 2*time.Second)
	s, err := sfu.New(cfg, testLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	room := s.Room("r1")
	alice := join(t, room, "a", "alice", "staff", sfutest.Options{Audio: true, Video: true, FollowREMB: true, Net: aliceNet})
	bob := join(t, room, "b", "bob", "patient", sfutest.Options{Net: bobNet})
	receiving(t, bob, alice, "video", 30)

	waitFor(t, 10*time.Second, "a REMB of at least 1 Mbit/s on the good link", func() bool { return alice.REMB() >= 1_000_000 })

	link.SetRate(300_000)
	waitFor(t, 20*time.Second, "a REMB under 300 kbit/s", func() bool { return alice.REMB() < 300_000 })
	more(t, bob, alice, "video", 50)
	if q := bob.Quality(); len(q) != 0 {
		t.Fatalf("on 300 kbit/s bob was sent quality messages %v; video should go on", q)
	}

	link.SetRate(80_000)
	waitFor(t, 20*time.Second, "bob told his video is paused", func() bool { return slices.Contains(bob.Quality(), sfu.VideoPaused) })
	if got := bob.Quality(); !slices.Equal(got, []string{sfu.VideoPaused}) {
		t.Fatalf("quality messages %v, want one %q", got, sfu.VideoPaused)
	}
	time.Sleep(time.Second) // what was queued on the link arrives
	video, _ := bob.Received("alice", "video")
	audio, _ := bob.Received("alice", "audio")
	time.Sleep(time.Second)
	videoAfter, _ := bob.Received("alice", "video")
	audioAfter, _ := bob.Received("alice", "audio")
	t.Logf("paused for a second: bob got %d video and %d audio packets", videoAfter.Packets-video.Packets, audioAfter.Packets-audio.Packets)
	if n := videoAfter.Packets - video.Packets; n > 2 {
		t.Errorf("bob got %d video packets in a second of pause", n)
	}
	if n := audioAfter.Packets - audio.Packets; n < 25 {
		t.Errorf("bob got %d audio packets in a second of pause, want about 50", n)
	}

	link.SetRate(10_000_000)
	waitFor(t, 20*time.Second, "bob told video is on again", func() bool { return slices.Contains(bob.Quality(), sfu.VideoOn) })
	more(t, bob, alice, "video", 50)
	checkIntact(t, bob)
}
