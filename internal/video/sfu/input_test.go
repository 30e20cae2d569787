package sfu_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/video/sfu"
	"github.com/gesundheitsamt/portal/internal/video/sfu/sfutest"
)

// recorder is a Signaler that keeps what the server sends, and passes it
// on to a client once one is attached.
type recorder struct {
	mu   sync.Mutex
	msgs []sfu.Message
	to   *sfutest.Client
}

func (r *recorder) Signal(m sfu.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
	if r.to != nil {
		r.to.Handle(m)
	}
	return nil
}

func (r *recorder) count(typ string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if m.Type == typ {
			n++
		}
	}
	return n
}

func (r *recorder) last(typ string) (sfu.Message, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.msgs) - 1; i >= 0; i-- {
		if r.msgs[i].Type == typ {
			return r.msgs[i], true
		}
	}
	return sfu.Message{}, false
}

func (r *recorder) attach(c *sfutest.Client) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.to = c
	for _, m := range r.msgs {
		c.Handle(m)
	}
}

func TestBadInput(t *testing.T) {
	s := newSFU(t, sfu.Config{})
	room := s.Room("r1")
	bob := join(t, room, "b", "bob", "patient", av)
	rec := &recorder{}
	peer, err := room.Join("a", sfu.PeerInfo{Name: "alice", Role: "staff"}, rec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(peer.Close)
	waitFor(t, 5*time.Second, "the first offer", func() bool { return rec.count(sfu.TypeOffer) == 1 })

	cand := &webrtc.ICECandidateInit{Candidate: "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host"}
	tests := []struct {
		name string
		msg  sfu.Message
		want error
	}{
		{"unknown type", sfu.Message{Type: "bogus"}, sfu.ErrUnknownType},
		{"empty type", sfu.Message{}, sfu.ErrUnknownType},
		{"offer from the browser", sfu.Message{Type: sfu.TypeOffer, SDP: "v=0"}, sfu.ErrUnknownType},
		{"peers from the browser", sfu.Message{Type: sfu.TypePeers}, sfu.ErrUnknownType},
		{"garbage sdp", sfu.Message{Type: sfu.TypeAnswer, SDP: "not an sdp \x00\xff"}, sfu.ErrNegotiation},
		{"empty sdp", sfu.Message{Type: sfu.TypeAnswer}, sfu.ErrInvalidMessage},
		{"huge sdp", sfu.Message{Type: sfu.TypeAnswer, SDP: "v=0\r\n" + strings.Repeat("a=x\r\n", sfu.MaxSDP/5)}, sfu.ErrInvalidMessage},
		{"candidate before the answer", sfu.Message{Type: sfu.TypeCandidate, Candidate: cand}, sfu.ErrNegotiation},
		{"candidate missing", sfu.Message{Type: sfu.TypeCandidate}, sfu.ErrInvalidMessage},
		{"candidate too long", sfu.Message{Type: sfu.TypeCandidate, Candidate: &webrtc.ICECandidateInit{Candidate: strings.Repeat("x", 2000)}}, sfu.ErrInvalidMessage},
		{"publish of an unknown kind", sfu.Message{Type: sfu.TypePublish, Kind: "smell"}, sfu.ErrInvalidMessage},
		{"publish", sfu.Message{Type: sfu.TypePublish, Kind: "video"}, nil},
		{"publish again", sfu.Message{Type: sfu.TypePublish, Kind: "audio"}, nil},
		{"publish a fifth", sfu.Message{Type: sfu.TypePublish, Kind: "video"}, sfu.ErrTooManyTracks},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := peer.Handle(tt.msg)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Handle(%s) = %v, want %v", tt.msg.Type, err, tt.want)
			}
			if err != nil && fault.KindOf(err) != fault.Invalid {
				t.Errorf("kind %s, want invalid", fault.KindOf(err))
			}
		})
	}

	// Still usable: a client takes over the offers so far and answers the
	// last one; the media flows both ways.
	c, err := sfutest.New(peer.Handle, sfutest.Options{Name: "alice", Audio: true, Video: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	rec.attach(c)
	alice := &participant{Client: c, peer: peer, name: "alice"}
	receiving(t, alice, bob, "video", 20)
	receiving(t, bob, alice, "video", 20)
	checkIntact(t, alice, bob)

	// The publish requests came while the first offer was outstanding: the
	// next offer has their slots.
	if m, _ := rec.last(sfu.TypeOffer); len(m.Slots) != 4 || m.Slots[0] != "0" || m.Slots[1] != "1" {
		t.Errorf("last offer's slots %q, want 4, the first audio and video m-sections first", m.Slots)
	}
	if n := rec.count(sfu.TypeOffer); n < 2 {
		t.Errorf("%d offers, want at least 2", n)
	}
	// A stable connection: an answer now answers nothing.
	waitFor(t, 5*time.Second, "the last offer to be answered", func() bool {
		err := peer.Handle(sfu.Message{Type: sfu.TypeAnswer, SDP: "v=0\r\n"})
		return errors.Is(err, sfu.ErrNoOffer)
	})
	// Errors other than the expected ones would show here.
	for _, err := range c.Errors() {
		t.Errorf("client: %v", err)
	}
}

func TestJoinErrors(t *testing.T) {
	s := newSFU(t, sfu.Config{MaxPeers: 2})
	room := s.Room("r1")
	if _, err := room.Join("a", sfu.PeerInfo{}, &recorder{}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		id   string
		info sfu.PeerInfo
		out  sfu.Signaler
		want error
		kind fault.Kind
	}{
		{"empty id", "", sfu.PeerInfo{}, &recorder{}, sfu.ErrInvalidPeer, fault.Invalid},
		{"long id", strings.Repeat("x", 65), sfu.PeerInfo{}, &recorder{}, sfu.ErrInvalidPeer, fault.Invalid},
		{"long name", "x", sfu.PeerInfo{Name: strings.Repeat("x", 201)}, &recorder{}, sfu.ErrInvalidPeer, fault.Invalid},
		{"bad utf-8", "x\xff", sfu.PeerInfo{}, &recorder{}, sfu.ErrInvalidPeer, fault.Invalid},
		{"no signaler", "x", sfu.PeerInfo{}, nil, sfu.ErrInvalidPeer, fault.Invalid},
		{"same id", "a", sfu.PeerInfo{}, &recorder{}, sfu.ErrPeerExists, fault.Conflict},
		{"second", "b", sfu.PeerInfo{}, &recorder{}, nil, 0},
		{"full", "c", sfu.PeerInfo{}, &recorder{}, sfu.ErrRoomFull, fault.Conflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := room.Join(tt.id, tt.info, tt.out)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Join = %v, want %v", err, tt.want)
			}
			if err != nil && fault.KindOf(err) != tt.kind {
				t.Errorf("kind %s, want %s", fault.KindOf(err), tt.kind)
			}
		})
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Room("r2").Join("a", sfu.PeerInfo{}, &recorder{}); !errors.Is(err, sfu.ErrClosed) || fault.KindOf(err) != fault.Unavailable {
		t.Errorf("Join after Close = %v, want ErrClosed (unavailable)", err)
	}
	if n := s.RoomCount(); n != 0 {
		t.Errorf("%d rooms after Close", n)
	}
}

// failing is a Signaler whose websocket has gone.
type failing struct{}

func (failing) Signal(sfu.Message) error { return errors.New("websocket closed") }

func TestSignalerFailureEndsPeer(t *testing.T) {
	s := newSFU(t, sfu.Config{})
	room := s.Room("r1")
	peer, err := room.Join("a", sfu.PeerInfo{}, failing{})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-peer.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("peer did not end when its Signaler failed")
	}
	waitFor(t, 5*time.Second, "the room to empty", func() bool { return s.RoomCount() == 0 })
}
