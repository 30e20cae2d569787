package turn

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// TestRelay allocates over each transport with fresh credentials and
// proves the relay by a round trip to a UDP echo peer on loopback: the
// payload goes client → server → relay socket → peer and back.
func TestRelay(t *testing.T) {
	s := newServer(t, nil)
	peer := newEchoPeer(t)
	for _, transport := range []string{"udp", "tcp", "tls"} {
		t.Run(transport, func(t *testing.T) {
			client := freshClient(t, s, transport, "patient-"+transport)
			relay, err := client.Allocate()
			if err != nil {
				t.Fatalf("Allocate: %v", err)
			}
			defer relay.Close()
			if ip := relay.LocalAddr().(*net.UDPAddr).IP; !ip.Equal(net.IPv4(127, 0, 0, 1)) {
				t.Errorf("relayed address %v, want the listen IP", ip)
			}
			// The first packets go as Send indications while the client
			// binds a channel; later ones as ChannelData. Both must work.
			for i := range 20 {
				msg := []byte(fmt.Sprintf("%s packet %d", transport, i))
				if err := roundTrip(relay, peer.addr(), msg, 2*time.Second); err != nil {
					t.Fatalf("round trip %d: %v", i, err)
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
}

// TestICEServers checks the URLs and credentials a browser receives and
// that their JSON is an RTCIceServer.
func TestICEServers(t *testing.T) {
	s := newServer(t, nil)
	udp, tcp, tlsAddr := s.Addrs()
	port := func(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }

	servers := s.ICEServers("patient-1", "video.gesundheitsamt.example")
	if len(servers) != 1 {
		t.Fatalf("got %d ICE servers, want 1", len(servers))
	}
	want := []string{
		"turn:video.gesundheitsamt.example:" + port(udp) + "?transport=udp",
		"turn:video.gesundheitsamt.example:" + port(tcp) + "?transport=tcp",
		"turns:video.gesundheitsamt.example:" + port(tlsAddr) + "?transport=tcp",
	}
	if got := servers[0].URLs; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("URLs = %q, want %q", got, want)
	}
	expiry, user, err := parseUsername(servers[0].Username)
	if err != nil || user != "patient-1" {
		t.Fatalf("username %q: %q, %v", servers[0].Username, user, err)
	}
	if ttl := time.Until(expiry); ttl < DefaultCredentialTTL-time.Minute || ttl > DefaultCredentialTTL {
		t.Errorf("credentials expire in %v, want about %v", ttl, DefaultCredentialTTL)
	}
	if servers[0].Credential != sign(testSecret, servers[0].Username) {
		t.Error("credential is not the username's signature")
	}

	raw, err := json.Marshal(servers[0])
	if err != nil {
		t.Fatal(err)
	}
	var asBrowser map[string]any
	if err := json.Unmarshal(raw, &asBrowser); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"urls", "username", "credential"} {
		if _, ok := asBrowser[key]; !ok {
			t.Errorf("JSON %s lacks %q", raw, key)
		}
	}

	// Without a host the public IP stands in; IPv6 hosts are bracketed.
	if got := s.ICEServers("p", "")[0].URLs[0]; got != "turn:127.0.0.1:"+port(udp)+"?transport=udp" {
		t.Errorf("URL without host = %q", got)
	}
	if got := s.ICEServers("p", "2001:db8::1")[0].URLs[0]; got != "turn:[2001:db8::1]:"+port(udp)+"?transport=udp" {
		t.Errorf("URL with IPv6 host = %q", got)
	}
}
