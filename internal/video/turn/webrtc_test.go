package turn

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/gesundheitsamt/portal/internal/video/pionlog"
)

// TestWebRTCRelayOnly connects two pion/webrtc PeerConnections whose only
// ICE server is ours, with ICETransportPolicy relay, and exchanges a data
// channel message: ICE, DTLS and SCTP all run through two allocations on
// the server, as between two browsers that cannot reach each other (or
// the SFU) directly. It runs once with the turn:…?transport=udp URL and
// once with …?transport=tcp, as ICEServers hands them out.
func TestWebRTCRelayOnly(t *testing.T) {
	s := newServer(t, nil)
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			offerer := newPeerConnection(t, s, "doctor", transport)
			answerer := newPeerConnection(t, s, "patient", transport)

			got := make(chan string, 1)
			answerer.OnDataChannel(func(dc *webrtc.DataChannel) {
				dc.OnMessage(func(msg webrtc.DataChannelMessage) {
					select {
					case got <- string(msg.Data):
					default:
					}
				})
			})
			dc, err := offerer.CreateDataChannel("chat", nil)
			if err != nil {
				t.Fatal(err)
			}
			dc.OnOpen(func() {
				if err := dc.SendText("Guten Tag über " + transport); err != nil {
					t.Errorf("SendText: %v", err)
				}
			})

			offer := describe(t, offerer, nil)
			answer := describe(t, answerer, offer)
			if err := offerer.SetRemoteDescription(*answer); err != nil {
				t.Fatal(err)
			}
			for _, sdp := range []string{offer.SDP, answer.SDP} {
				if !strings.Contains(sdp, "typ relay") || strings.Contains(sdp, "typ host") || strings.Contains(sdp, "typ srflx") {
					t.Fatalf("want relay candidates only:\n%s", sdp)
				}
			}

			select {
			case msg := <-got:
				if msg != "Guten Tag über "+transport {
					t.Errorf("received %q", msg)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("no data channel message within 20 s")
			}
			pair, err := offerer.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
			if err != nil || pair == nil {
				t.Fatalf("selected pair: %v, %v", pair, err)
			}
			if pair.Local.Typ != webrtc.ICECandidateTypeRelay || pair.Remote.Typ != webrtc.ICECandidateTypeRelay {
				t.Errorf("selected pair %s, want relay on both sides", pair)
			}
			if n := s.turn.AllocationCount(); n < 2 {
				t.Errorf("%d allocations on the server, want one per peer at least", n)
			}

			// Closing the PeerConnections deallocates.
			for _, pc := range []*webrtc.PeerConnection{offerer, answerer} {
				if err := pc.Close(); err != nil {
					t.Error(err)
				}
			}
			if err := eventually(5*time.Second, func() error {
				if n := s.turn.AllocationCount(); n != 0 {
					return fmt.Errorf("%d allocations left", n)
				}
				return nil
			}); err != nil {
				t.Error(err)
			}
		})
	}
}

// newPeerConnection returns a PeerConnection for user that may use only
// the turn: URL of transport from s.ICEServers, and only relay candidates.
func newPeerConnection(t *testing.T, s *testServer, user, transport string) *webrtc.PeerConnection {
	t.Helper()
	ours := s.ICEServers(user, "127.0.0.1")[0]
	server := webrtc.ICEServer{Username: ours.Username, Credential: ours.Credential}
	for _, u := range ours.URLs {
		if strings.HasPrefix(u, "turn:") && strings.HasSuffix(u, "?transport="+transport) {
			server.URLs = append(server.URLs, u)
		}
	}
	if len(server.URLs) != 1 {
		t.Fatalf("no single turn: URL for %s in %v", transport, ours.URLs)
	}
	var se webrtc.SettingEngine
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeTCP4})
	se.LoggerFactory = pionlog.Factory{Log: slog.New(slog.DiscardHandler)}
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{
		ICEServers:         []webrtc.ICEServer{server},
		ICETransportPolicy: webrtc.ICETransportPolicyRelay,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	return pc
}

// describe makes pc's offer (remote nil) or its answer to remote, waits
// until all candidates are gathered and returns the description with them.
func describe(t *testing.T, pc *webrtc.PeerConnection, remote *webrtc.SessionDescription) *webrtc.SessionDescription {
	t.Helper()
	var (
		sd  webrtc.SessionDescription
		err error
	)
	if remote == nil {
		sd, err = pc.CreateOffer(nil)
	} else {
		if err := pc.SetRemoteDescription(*remote); err != nil {
			t.Fatal(err)
		}
		sd, err = pc.CreateAnswer(nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(sd); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gathered:
	case <-time.After(10 * time.Second):
		t.Fatal("ICE gathering did not complete within 10 s")
	}
	return pc.LocalDescription()
}
