package sfu_test

import (
	"errors"
	"testing"
	"time"

	"github.com/gesundheitsamt/portal/internal/video/sfu"
	"github.com/gesundheitsamt/portal/internal/video/sfu/sfutest"
)

// TestEcho: in an echo room a participant receives what they publish,
// byte for byte; nobody else gets in; it is a room apart from the call
// with the same id, and it goes when they leave.
func TestEcho(t *testing.T) {
	s := newSFU(t, sfu.Config{})
	call := join(t, s.Room("7"), "link-1", "in the call", "staff", av)
	me := join(t, s.Echo("link-1"), "link-1", "patient", "patient", av)
	receiving(t, me, me, "video", 30)
	receiving(t, me, me, "audio", 15)
	checkIntact(t, me)
	if n := len(call.Tracks()); n != 0 {
		t.Errorf("the call with the same id receives %d tracks of the echo", n)
	}
	if _, _, err := sfutest.Join(s.Echo("link-1"), "link-2", sfu.PeerInfo{Name: "intruder"}, av); !errors.Is(err, sfu.ErrRoomFull) {
		t.Errorf("a second peer in an echo room: %v, want ErrRoomFull", err)
	}
	me.leave()
	waitFor(t, 5*time.Second, "the echo room to go", func() bool { return s.RoomCount() == 1 })
}
