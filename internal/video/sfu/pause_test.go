package sfu_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gesundheitsamt/portal/internal/video/sfu"
)

// TestPausedVideoRenegotiates: while the video to bob is paused, others
// join and leave, which renegotiates bob's connection; it stays up, every
// offer still describes the paused streams (a browser would otherwise
// drop their tracks), and once resumed bob gets the video of everyone
// still there.
func TestPausedVideoRenegotiates(t *testing.T) {
	s := newSFU(t, sfu.Config{})
	room := s.Room("r1")
	alice := join(t, room, "a", "alice", "staff", av)
	bob := join(t, room, "b", "bob", "patient", av)
	receiving(t, bob, alice, "video", 20)
	sfu.StopVideo(bob.peer, true)
	time.Sleep(300 * time.Millisecond)
	carl := join(t, room, "c", "carl", "guest", av)
	receiving(t, bob, carl, "audio", 20)
	if offer := bob.LastOffer(); !strings.Contains(offer, "msid:"+streamOf(t, bob, "alice")) {
		t.Errorf("the offer made while alice's video was paused lacks its msid:\n%s", offer)
	}
	sfu.StopVideo(bob.peer, true) // carl's video, negotiated since
	carl.leave()
	waitFor(t, 5*time.Second, "bob renegotiated without carl", func() bool { return len(bob.Peers()) == 2 })
	select {
	case <-bob.peer.Done():
		t.Fatal("bob's peer ended while his video was paused")
	default:
	}
	sfu.StopVideo(bob.peer, false)
	more(t, bob, alice, "video", 30)
	checkIntact(t, bob)
	if errs := bob.Errors(); len(errs) > 0 {
		t.Errorf("bob's client: %v", errs)
	}
}
