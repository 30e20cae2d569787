package turn

import (
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

// TestPermissionRefused checks, with AllowLoopback and AllowPrivate off,
// what a client gets when it asks to reach the host or the internal
// network through the relay, and that no packet reaches such a peer.
func TestPermissionRefused(t *testing.T) {
	s := newServer(t, func(c *Config) { c.AllowLoopback = false })
	peer := newEchoPeer(t) // on 127.0.0.1, which the server must not reach

	t.Run("pion client", func(t *testing.T) {
		client := freshClient(t, s, "udp", "patient")
		relay, err := client.Allocate()
		if err != nil {
			t.Fatalf("Allocate: %v", err)
		}
		defer relay.Close()
		tests := []struct {
			ip   string
			code stun.ErrorCode
		}{
			{"127.0.0.1", stun.CodeForbidden},
			{"10.1.2.3", stun.CodeForbidden},
			{"192.168.178.1", stun.CodeForbidden},
			{"169.254.169.254", stun.CodeForbidden},
			{"100.64.0.1", stun.CodeForbidden},
			{"172.16.0.1", stun.CodeForbidden},
			{"0.0.0.0", stun.CodeForbidden},
			{"224.0.0.251", stun.CodeForbidden},
			// pion's client encodes every address with a 4-byte form as
			// IPv4, so this is 127.0.0.1 on the wire (the raw client below
			// sends the IPv6 form).
			{"::ffff:127.0.0.1", stun.CodeForbidden},
			// An IPv4 allocation cannot have an IPv6 peer: pion answers
			// 443 before asking the filter (which refuses ::1 as well,
			// see TestPeerPolicy).
			{"::1", stun.CodePeerAddrFamilyMismatch},
		}
		for _, tt := range tests {
			err := client.CreatePermission(&net.UDPAddr{IP: net.ParseIP(tt.ip), Port: 9})
			var turnErr *stun.TurnError
			if !errors.As(err, &turnErr) || turnErr.ErrorCodeAttr.Code != tt.code {
				t.Errorf("CreatePermission(%s) = %v, want error %d", tt.ip, err, tt.code)
			}
		}
		// WriteTo asks for the permission first and fails with it.
		if _, err := relay.WriteTo([]byte("hello"), peer.addr()); err == nil {
			t.Error("WriteTo a loopback peer succeeded")
		}
	})

	t.Run("raw", func(t *testing.T) {
		username, password := Credentials(testSecret, "patient-raw", time.Hour, time.Now())
		c := newRawClient(t, s, username, password)
		c.allocate()
		port := peer.addr().Port
		tests := []struct {
			name   string
			method stun.Method
			peer   peerAddress
			code   stun.ErrorCode
		}{
			{"permission for ::ffff:127.0.0.1 as IPv6", stun.MethodCreatePermission,
				peerAddress{ip: net.ParseIP("::ffff:127.0.0.1"), port: port, v6: true}, stun.CodeForbidden},
			{"permission for ::ffff:10.0.0.1 as IPv6", stun.MethodCreatePermission,
				peerAddress{ip: net.ParseIP("::ffff:10.0.0.1"), port: port, v6: true}, stun.CodeForbidden},
			{"permission for ::1", stun.MethodCreatePermission,
				peerAddress{ip: net.IPv6loopback, port: port, v6: true}, stun.CodePeerAddrFamilyMismatch},
			// pion answers a refused ChannelBind with 401, not 403.
			{"channel to 127.0.0.1", stun.MethodChannelBind,
				peerAddress{ip: net.IPv4(127, 0, 0, 1), port: port}, stun.CodeUnauthorized},
			{"channel to ::ffff:127.0.0.1 as IPv6", stun.MethodChannelBind,
				peerAddress{ip: net.ParseIP("::ffff:127.0.0.1"), port: port, v6: true}, stun.CodeUnauthorized},
			{"channel to 192.168.0.1", stun.MethodChannelBind,
				peerAddress{ip: net.IPv4(192, 168, 0, 1), port: port}, stun.CodeUnauthorized},
		}
		for i, tt := range tests {
			attrs := []stun.Setter{tt.peer}
			if tt.method == stun.MethodChannelBind {
				attrs = append([]stun.Setter{channelNumber(0x4000 + i)}, attrs...)
			}
			if got := errorCode(c.request(tt.method, attrs...)); got != tt.code {
				t.Errorf("%s: error %d, want %d", tt.name, got, tt.code)
			}
		}

		// Data sent to the peer without a permission, in either form,
		// is dropped by the server: nothing arrives.
		for _, p := range []peerAddress{
			{ip: net.IPv4(127, 0, 0, 1), port: port},
			{ip: net.ParseIP("::ffff:127.0.0.1"), port: port, v6: true},
		} {
			c.send(stun.NewType(stun.MethodSend, stun.ClassIndication), p, data("smuggled"), stun.Fingerprint)
		}
		time.Sleep(200 * time.Millisecond)
		if n := peer.bytes(); n != 0 {
			t.Errorf("the loopback peer received %d bytes", n)
		}
	})
}

// TestRelayToTURNPort checks that a relay refuses to send into the TURN
// listener itself, even where loopback peers are allowed.
func TestRelayToTURNPort(t *testing.T) {
	s := newServer(t, nil)
	client := freshClient(t, s, "udp", "patient")
	relay, err := client.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	udp, _, _ := s.Addrs()
	turnAddr, _ := net.ResolveUDPAddr("udp4", udp)
	// The permission (per IP) is fine: other relays on this IP are peers.
	if err := client.CreatePermission(turnAddr); err != nil {
		t.Fatalf("CreatePermission(own IP): %v", err)
	}
	for range 3 {
		if _, err := relay.WriteTo([]byte("loop"), turnAddr); err != nil {
			t.Fatal(err) // the client cannot know; the server drops it
		}
	}
	if err := eventually(2*time.Second, func() error {
		if !strings.Contains(s.debug.String(), errToTURNPort.Error()) {
			return errNotYet
		}
		return nil
	}); err != nil {
		t.Errorf("the server did not refuse to relay into its own port; debug log:\n%s", s.debug.String())
	}
}

// TestMedia checks Config.Media: a relay reaches the media port on
// 127.0.0.1 with loopback refused, and only that port there; with
// MediaOnly nothing else at all, not even a peer the networks allow.
func TestMedia(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*Config)
		refused []string
	}{
		{"on a refused network", func(c *Config) { c.AllowLoopback = false }, []string{"127.0.0.2"}},
		{"media only", func(c *Config) { c.MediaOnly = true }, []string{"127.0.0.2", "192.0.2.10", "8.8.8.8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			media, other := newEchoPeer(t), newEchoPeer(t)
			s := newServer(t, func(c *Config) {
				tt.edit(c)
				c.Media = []netip.AddrPort{media.addr().AddrPort()}
			})
			client := freshClient(t, s, "udp", "patient")
			relay, err := client.Allocate()
			if err != nil {
				t.Fatal(err)
			}
			defer relay.Close()
			for i := range 5 {
				if err := roundTrip(relay, media.addr(), []byte("media "+strconv.Itoa(i)), 2*time.Second); err != nil {
					t.Fatalf("round trip to the media port %d: %v", i, err)
				}
			}
			// The permission is per IP, so the client may send to another
			// port of it; the server drops what goes there.
			for range 3 {
				if _, err := relay.WriteTo([]byte("elsewhere"), other.addr()); err != nil {
					t.Fatal(err)
				}
			}
			if err := eventually(2*time.Second, func() error {
				if !strings.Contains(s.debug.String(), errNotMediaPort.Error()) {
					return errNotYet
				}
				return nil
			}); err != nil {
				t.Errorf("the server did not refuse another port of the media address; debug log:\n%s", s.debug.String())
			}
			if n := other.bytes(); n != 0 {
				t.Errorf("another port of the media address received %d bytes", n)
			}
			var turnErr *stun.TurnError
			for _, ip := range tt.refused {
				if err := client.CreatePermission(&net.UDPAddr{IP: net.ParseIP(ip), Port: 9}); !errors.As(err, &turnErr) {
					t.Errorf("CreatePermission(%s) = %v, want a refusal", ip, err)
				}
			}
		})
	}
}
