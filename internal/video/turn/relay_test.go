package turn

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"

	"github.com/gesundheitsamt/portal/internal/video/pionlog"
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

// TestRelayIPv6 runs a server on ::1: the allocation is IPv6, relays to an
// IPv6 echo peer with AllowLoopback, and without it the filter refuses
// loopback and unique local peers while pion refuses IPv4(-mapped) ones
// for the family.
func TestRelayIPv6(t *testing.T) {
	for _, allowLoopback := range []bool{true, false} {
		s := newServer(t, func(c *Config) { c.ListenIP, c.TCPPort, c.TLS, c.AllowLoopback = "::1", 0, nil, allowLoopback })
		conn, err := net.ListenPacket("udp6", "[::1]:0")
		if err != nil {
			t.Skipf("no IPv6 loopback: %v", err)
		}
		defer conn.Close()
		udp, _, _ := s.Addrs()
		username, password := Credentials(testSecret, "patient", time.Hour, time.Now())
		client, err := turn.NewClient(&turn.ClientConfig{
			STUNServerAddr: udp, TURNServerAddr: udp, Username: username, Password: password,
			Conn: conn, LoggerFactory: pionlog.Factory{Log: slog.New(slog.DiscardHandler)},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		if err := client.Listen(); err != nil {
			t.Fatal(err)
		}
		relay, err := client.Allocate()
		if err != nil {
			t.Fatalf("Allocate: %v", err)
		}
		defer relay.Close()
		if ip := relay.LocalAddr().(*net.UDPAddr).IP; !ip.Equal(net.IPv6loopback) {
			t.Errorf("relayed address %v, want ::1", ip)
		}

		if allowLoopback {
			peerConn, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
			if err != nil {
				t.Fatal(err)
			}
			defer peerConn.Close()
			go func() {
				buf := make([]byte, 2048)
				for {
					n, from, err := peerConn.ReadFromUDP(buf)
					if err != nil {
						return
					}
					_, _ = peerConn.WriteToUDP(buf[:n], from)
				}
			}()
			if err := roundTrip(relay, peerConn.LocalAddr(), []byte("hallo über IPv6"), 2*time.Second); err != nil {
				t.Errorf("round trip: %v", err)
			}
			continue
		}
		for _, tt := range []struct {
			ip   string
			code stun.ErrorCode
		}{
			{"::1", stun.CodeForbidden},
			{"fd00::2", stun.CodeForbidden},
			{"fe80::1", stun.CodeForbidden},
			{"64:ff9b::a00:1", stun.CodeForbidden},
			{"ff02::1", stun.CodeForbidden},
			{"127.0.0.1", stun.CodePeerAddrFamilyMismatch},
			{"::ffff:127.0.0.1", stun.CodePeerAddrFamilyMismatch},
		} {
			err := client.CreatePermission(&net.UDPAddr{IP: net.ParseIP(tt.ip), Port: 9})
			var turnErr *stun.TurnError
			if !errors.As(err, &turnErr) || turnErr.ErrorCodeAttr.Code != tt.code {
				t.Errorf("CreatePermission(%s) = %v, want error %d", tt.ip, err, tt.code)
			}
		}
	}
}
