package sfu_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/gesundheitsamt/portal/internal/video/sfu"
	"github.com/gesundheitsamt/portal/internal/video/sfu/sfutest"
)

// testLog is where the SFU logs during tests: nowhere, or stderr with
// SFU_TEST_LOG=1 (debug with SFU_TEST_LOG=debug).
func testLog() *slog.Logger {
	switch os.Getenv("SFU_TEST_LOG") {
	case "":
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	case "debug":
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug - 4}))
	default:
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
}

func newSFU(t testing.TB, cfg sfu.Config) *sfu.SFU {
	t.Helper()
	track(t)
	cfg.Loopback = true
	s, err := sfu.New(cfg, testLog())
	if err != nil {
		t.Fatalf("sfu.New: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("sfu.Close: %v", err)
		}
	})
	return s
}

// participant is one test client joined to a room.
type participant struct {
	*sfutest.Client
	peer *sfu.Peer
	name string
}

func join(t testing.TB, room *sfu.Room, id, name, role string, opt sfutest.Options) *participant {
	t.Helper()
	track(t)
	opt.Name = name
	c, p, err := sfutest.Join(room, id, sfu.PeerInfo{Name: name, Role: role}, opt)
	if err != nil {
		t.Fatalf("join %s: %v", id, err)
	}
	t.Cleanup(func() {
		c.Close()
		p.Close()
		for _, err := range c.Errors() {
			t.Errorf("client %s: %v", name, err)
		}
	})
	return &participant{Client: c, peer: p, name: name}
}

// leave ends the participant as a closing browser tab does, followed by
// the websocket layer's Close.
func (p *participant) leave() {
	p.Client.Close()
	p.peer.Close()
}

var av = sfutest.Options{Audio: true, Video: true}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// receiving waits until to has received at least n distinct packets of
// kind from from, and returns the track's stats.
func receiving(t testing.TB, to, from *participant, kind string, n int) sfutest.TrackStats {
	t.Helper()
	var st sfutest.TrackStats
	waitFor(t, 15*time.Second, fmt.Sprintf("%s to receive %d %s packets from %s", to.name, n, kind, from.name), func() bool {
		var ok bool
		st, ok = to.Received(from.name, kind)
		return ok && st.Distinct >= n
	})
	return st
}

// more waits until to has received n more distinct packets of kind from
// from than it has now.
func more(t testing.TB, to, from *participant, kind string, n int) {
	t.Helper()
	st, _ := to.Received(from.name, kind)
	receiving(t, to, from, kind, st.Distinct+n)
}

func checkIntact(t testing.TB, ps ...*participant) {
	t.Helper()
	for _, p := range ps {
		for _, st := range p.Tracks() {
			if st.Corrupt > 0 {
				t.Errorf("%s: track %s from %s: %d of %d packets changed on the way", p.name, st.TrackID, st.From, st.Corrupt, st.Packets)
			}
		}
	}
}

func streamOf(t testing.TB, p *participant, name string) string {
	t.Helper()
	for _, info := range p.Peers() {
		if info.Name == name {
			return info.StreamID
		}
	}
	t.Fatalf("%s's peers %+v lack %s", p.name, p.Peers(), name)
	return ""
}

func TestTwoPeersExchangeMedia(t *testing.T) {
	s := newSFU(t, sfu.Config{})
	room := s.Room("r1")
	alice := join(t, room, "a", "alice", "staff", av)
	bob := join(t, room, "b", "bob", "patient", av)

	for _, pair := range [][2]*participant{{alice, bob}, {bob, alice}} {
		to, from := pair[0], pair[1]
		v := receiving(t, to, from, "video", 30)
		a := receiving(t, to, from, "audio", 15)
		// The stream id in the peers message is what labels the video.
		if want := streamOf(t, to, from.name); v.StreamID != want || a.StreamID != want {
			t.Errorf("%s: streams of %s's tracks are %q, %q; peers message says %q", to.name, from.name, v.StreamID, a.StreamID, want)
		}
	}
	checkIntact(t, alice, bob)

	got := room.Peers()
	if len(got) != 2 || got[0].ID != "a" || got[0].Name != "alice" || got[0].Role != "staff" ||
		got[1].ID != "b" || got[1].Role != "patient" || got[0].StreamID == "" || got[0].StreamID == got[1].StreamID {
		t.Errorf("room.Peers() = %+v", got)
	}
	if n := len(alice.Tracks()); n != 2 {
		t.Errorf("alice receives %d tracks, want 2 (she must not get her own back)", n)
	}
}

func TestLateJoinerGetsEverythingAndKeyframes(t *testing.T) {
	s := newSFU(t, sfu.Config{})
	room := s.Room("r1")
	alice := join(t, room, "a", "alice", "staff", av)
	bob := join(t, room, "b", "bob", "patient", av)
	receiving(t, alice, bob, "video", 10)
	receiving(t, bob, alice, "video", 10)
	time.Sleep(600 * time.Millisecond) // past the keyframe request gap
	alicePLIs, bobPLIs := alice.PLIs(), bob.PLIs()

	ines := join(t, room, "i", "ines", "guest", av) // the interpreter
	for _, from := range []*participant{alice, bob} {
		receiving(t, ines, from, "video", 20)
		receiving(t, ines, from, "audio", 10)
	}
	for _, to := range []*participant{alice, bob} {
		receiving(t, to, ines, "video", 20)
		receiving(t, to, ines, "audio", 10)
		if n := len(to.Peers()); n != 3 {
			t.Errorf("%s's peers list has %d entries, want 3", to.name, n)
		}
	}
	waitFor(t, 5*time.Second, "a keyframe request to both publishers", func() bool {
		return alice.PLIs() > alicePLIs && bob.PLIs() > bobPLIs
	})
	checkIntact(t, alice, bob, ines)
}

func TestLeave(t *testing.T) {
	s := newSFU(t, sfu.Config{})
	room := s.Room("r1")
	alice := join(t, room, "a", "alice", "staff", av)
	bob := join(t, room, "b", "bob", "patient", av)
	ines := join(t, room, "i", "ines", "guest", av)
	for _, to := range []*participant{alice, bob} {
		receiving(t, to, ines, "video", 10)
		receiving(t, to, ines, "audio", 5)
	}
	offers := alice.Offers()

	ines.peer.Close()
	ines.peer.Close() // idempotent
	for _, to := range []*participant{alice, bob} {
		waitFor(t, 10*time.Second, to.name+" to drop ines's tracks", func() bool {
			_, v := to.Received("ines", "video")
			_, a := to.Received("ines", "audio")
			return !v && !a
		})
		// The offer that ends ines's tracks and the peers message without
		// her come one after the other; the test may look between them.
		waitFor(t, 5*time.Second, to.name+"'s peers list without ines", func() bool { return len(to.Peers()) == 2 })
	}
	if alice.Offers() <= offers {
		t.Errorf("alice answered no new offer after ines left")
	}
	// The others go on.
	more(t, alice, bob, "video", 20)
	more(t, bob, alice, "video", 20)
	if err := ines.peer.Handle(sfu.Message{Type: sfu.TypeRestart}); !errors.Is(err, sfu.ErrClosed) {
		t.Errorf("Handle on a closed peer: %v, want ErrClosed", err)
	}

	if n := s.RoomCount(); n != 1 {
		t.Errorf("%d rooms, want 1", n)
	}
	alice.leave()
	bob.leave()
	if n := s.RoomCount(); n != 0 {
		t.Errorf("%d rooms after everyone left, want 0", n)
	}
	if n := len(room.Peers()); n != 0 {
		t.Errorf("empty room lists %d peers", n)
	}
	// The same id makes a new room.
	carl := join(t, s.Room("r1"), "c", "carl", "staff", sfutest.Options{})
	waitFor(t, 5*time.Second, "carl's first offer", func() bool { return carl.Offers() > 0 })
	if n := s.RoomCount(); n != 1 {
		t.Errorf("%d rooms after a new join, want 1", n)
	}
	// Joining through the old Room value reaches the same, new room.
	dora := join(t, room, "d", "dora", "patient", sfutest.Options{})
	_ = dora
	if n := len(s.Room("r1").Peers()); n != 2 {
		t.Errorf("room r1 has %d peers, want 2", n)
	}
}

func TestICERestart(t *testing.T) {
	s := newSFU(t, sfu.Config{})
	room := s.Room("r1")
	alice := join(t, room, "a", "alice", "staff", av)
	bob := join(t, room, "b", "bob", "patient", av)
	receiving(t, alice, bob, "video", 10)
	receiving(t, bob, alice, "video", 10)
	ufrag := alice.RemoteUfrag()

	if err := alice.Send(sfu.Message{Type: sfu.TypeRestart}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "an offer with new ICE credentials", func() bool {
		u := alice.RemoteUfrag()
		return u != "" && u != ufrag
	})
	more(t, alice, bob, "video", 30)
	more(t, bob, alice, "video", 30)
	more(t, alice, bob, "audio", 15)
	checkIntact(t, alice, bob)
	if st := alice.State(); st != webrtc.PeerConnectionStateConnected {
		t.Errorf("alice's connection is %s after the restart", st)
	}
}

func TestNoGoroutineLeak(t *testing.T) {
	track(t)
	before := runtime.NumGoroutine()
	s, err := sfu.New(sfu.Config{Loopback: true}, testLog())
	if err != nil {
		t.Fatal(err)
	}
	room := s.Room("r1")
	var ps []*participant
	for _, name := range []string{"alice", "bob"} {
		c, p, err := sfutest.Join(room, name, sfu.PeerInfo{Name: name}, sfutest.Options{Name: name, Audio: true, Video: true})
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, &participant{Client: c, peer: p, name: name})
	}
	receiving(t, ps[0], ps[1], "video", 10)
	receiving(t, ps[1], ps[0], "video", 10)
	ps[0].peer.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		p.Client.Close()
	}
	const slack = 3
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before+slack {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("%d goroutines before, %d after closing everything:\n%s", before, runtime.NumGoroutine(), buf[:n])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestICETCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	s := newSFU(t, sfu.Config{TCPPort: port})
	if a := s.TCPAddr(); a == nil || a.(*net.TCPAddr).Port != port {
		t.Fatalf("TCPAddr() = %v, want port %d", a, port)
	}
	room := s.Room("r1")
	tcp := sfutest.Options{Audio: true, Video: true, TCP: true}
	alice := join(t, room, "a", "alice", "staff", tcp)
	bob := join(t, room, "b", "bob", "patient", av) // UDP
	receiving(t, alice, bob, "video", 30)
	receiving(t, bob, alice, "video", 30)
	checkIntact(t, alice, bob)
}

// TestBitrateCap checks the cap of a good link: the publisher is held to
// Config.MaxBitrate, or DefaultMaxBitrate without one (adapt_test.go
// narrows the link).
func TestBitrateCap(t *testing.T) {
	s := newSFU(t, sfu.Config{MaxBitrate: 800_000})
	room := s.Room("r1")
	alice := join(t, room, "a", "alice", "staff", av)
	bob := join(t, room, "b", "bob", "patient", av)
	receiving(t, bob, alice, "video", 10)
	waitFor(t, 5*time.Second, "a REMB of 800 kbit/s to alice", func() bool { return alice.REMB() == 800_000 })

	s2 := newSFU(t, sfu.Config{})
	carl := join(t, s2.Room("r1"), "c", "carl", "staff", av)
	dora := join(t, s2.Room("r1"), "d", "dora", "patient", av)
	receiving(t, dora, carl, "video", 10)
	waitFor(t, 5*time.Second, "a REMB of DefaultMaxBitrate to carl", func() bool { return carl.REMB() == sfu.DefaultMaxBitrate })
}

// TestChurn lets participants join and leave concurrently while one stays:
// every renegotiation must complete, and in the end the one who stayed
// receives nothing of those who left.
func TestChurn(t *testing.T) {
	s := newSFU(t, sfu.Config{})
	room := s.Room("r1")
	alice := join(t, room, "a", "alice", "staff", av)
	var wg sync.WaitGroup
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 3 {
				name := fmt.Sprintf("guest%d-%d", g, i)
				opt := av
				opt.Name = name
				c, p, err := sfutest.Join(room, name, sfu.PeerInfo{Name: name, Role: "guest"}, opt)
				if err != nil {
					t.Errorf("join %s: %v", name, err)
					return
				}
				guest := &participant{Client: c, peer: p, name: name}
				deadline := time.Now().Add(10 * time.Second)
				for {
					st, ok := guest.Received("alice", "video")
					if ok && st.Distinct >= 5 {
						break
					}
					if time.Now().After(deadline) {
						t.Errorf("%s got no video from alice", name)
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
				for _, err := range c.Errors() {
					t.Errorf("%s: %v", name, err)
				}
				guest.leave()
			}
		}()
	}
	wg.Wait()
	waitFor(t, 10*time.Second, "alice to receive no track any more", func() bool {
		for _, st := range alice.Tracks() {
			if !st.Ended {
				return false
			}
		}
		return true
	})
	if n := len(room.Peers()); n != 1 {
		t.Errorf("%d peers left, want 1", n)
	}
	waitFor(t, 5*time.Second, "alice's peers message to list her alone", func() bool { return len(alice.Peers()) == 1 })
	// Alice's connection still negotiates: a newcomer gets her media.
	bob := join(t, room, "b", "bob", "patient", av)
	receiving(t, bob, alice, "video", 10)
	receiving(t, alice, bob, "video", 10)
}
