package sfu_test

import (
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/gesundheitsamt/portal/internal/video/sfu"
)

// FuzzHandle feeds one peer arbitrary browser messages: none may panic, and
// every one either works or is refused with an error. Run longer with
// go test -fuzz FuzzHandle ./internal/video/sfu/.
func FuzzHandle(f *testing.F) {
	f.Add("answer", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n", "", "")
	f.Add("candidate", "", "", "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host")
	f.Add("candidate", "", "", "candidate:x")
	f.Add("publish", "", "video", "")
	f.Add("publish", "", "audio\x00", "")
	f.Add("restart", "", "", "")
	f.Add("answer", "\xff\xfe", "", "")
	f.Add("peers", "", "", "")
	s := newSFU(f, sfu.Config{})
	rec := &recorder{}
	peer, err := s.Room("fuzz").Join("a", sfu.PeerInfo{Name: "fuzz"}, rec)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(peer.Close)
	f.Fuzz(func(t *testing.T, typ, sdp, kind, cand string) {
		m := sfu.Message{Type: typ, SDP: sdp, Kind: kind}
		if cand != "" {
			m.Candidate = &webrtc.ICECandidateInit{Candidate: cand}
		}
		_ = peer.Handle(m)
	})
}
