package turn

import (
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun/v4"

	"github.com/gesundheitsamt/portal/internal/fault"
)

func TestConfigInvalid(t *testing.T) {
	valid := Config{Secret: testSecret, ListenIP: "127.0.0.1"}
	tests := []struct {
		name string
		edit func(*Config)
	}{
		{"no secret", func(c *Config) { c.Secret = nil }},
		{"short secret", func(c *Config) { c.Secret = []byte("too short") }},
		{"listen IP not an IP", func(c *Config) { c.ListenIP = "localhost" }},
		{"listen IP with zone", func(c *Config) { c.ListenIP = "fe80::1%eth0" }},
		{"wildcard without public IP", func(c *Config) { c.ListenIP = "" }},
		{"wildcard v6 without public IP", func(c *Config) { c.ListenIP = "::" }},
		{"unspecified public IP", func(c *Config) { c.PublicIP = net.IPv4zero }},
		{"multicast public IP", func(c *Config) { c.PublicIP = net.IPv4(224, 0, 0, 1) }},
		{"malformed public IP", func(c *Config) { c.PublicIP = net.IP{1, 2} }},
		{"families differ", func(c *Config) { c.PublicIP = net.ParseIP("2001:db8::1") }},
		{"UDP port negative", func(c *Config) { c.UDPPort = -2 }},
		{"TCP port too big", func(c *Config) { c.TCPPort = 65536 }},
		{"TLS port without TLS", func(c *Config) { c.TLSPort = 5349 }},
		{"TLS without certificate", func(c *Config) { c.TLS = &tls.Config{} }},
		{"relay range reversed", func(c *Config) { c.RelayPortMin, c.RelayPortMax = 50000, 49999 }},
		{"relay range half", func(c *Config) { c.RelayPortMin = 50000 }},
		{"relay range too big", func(c *Config) { c.RelayPortMin, c.RelayPortMax = 50000, 70000 }},
		{"negative quota", func(c *Config) { c.QuotaBytes = -1 }},
		{"negative limit", func(c *Config) { c.MaxAllocations = -1 }},
		{"negative per-user limit", func(c *Config) { c.MaxAllocationsPerUser = -1 }},
		{"negative TTL", func(c *Config) { c.CredentialTTL = -1 }},
		{"media address without port", func(c *Config) { c.Media = []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:0")} }},
		{"media address unspecified", func(c *Config) { c.Media = []netip.AddrPort{netip.MustParseAddrPort("0.0.0.0:5000")} }},
		{"media address zero", func(c *Config) { c.Media = []netip.AddrPort{{}} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.edit(&cfg)
			s, err := New(cfg, nil)
			if err == nil {
				_ = s.Close()
				t.Fatal("New accepted it")
			}
			if k := fault.KindOf(err); k != fault.Invalid {
				t.Errorf("error %v is of kind %v, want invalid", err, k)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := Config{Secret: testSecret, ListenIP: "0.0.0.0", PublicIP: net.IPv4(203, 0, 113, 7)}.validate()
	if err != nil {
		t.Fatal(err)
	}
	if c.Realm != DefaultRealm || c.QuotaBytes != DefaultQuotaBytes || c.MaxAllocations != DefaultMaxAllocations ||
		c.MaxAllocationsPerUser != DefaultMaxAllocationsPerUser || c.CredentialTTL != DefaultCredentialTTL {
		t.Errorf("defaults not filled in: %+v", c.Config)
	}
	if c.udpNet != "udp4" || c.publicIP.String() != "203.0.113.7" {
		t.Errorf("network %s, public IP %v", c.udpNet, c.publicIP)
	}

	// A specific listen IP is the relay address when no public IP is set.
	s := newServer(t, func(c *Config) { c.TCPPort, c.TLS = 0, nil })
	udp, tcp, tlsAddr := s.Addrs()
	if tcp != "" || tlsAddr != "" {
		t.Errorf("TCP %q and TLS %q without being configured", tcp, tlsAddr)
	}
	if host, _, _ := net.SplitHostPort(udp); host != "127.0.0.1" {
		t.Errorf("UDP on %s", udp)
	}
	if urls := s.ICEServers("p", "")[0].URLs; len(urls) != 1 {
		t.Errorf("URLs %q, want UDP only", urls)
	}
}

// TestPublicIP checks that the relayed address announced is PublicIP
// while the relay socket listens on ListenIP.
func TestPublicIP(t *testing.T) {
	s := newServer(t, func(c *Config) { c.PublicIP = net.IPv4(198, 51, 100, 9) })
	relay, err := freshClient(t, s, "udp", "patient").Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	if ip := relay.LocalAddr().(*net.UDPAddr).IP; !ip.Equal(net.IPv4(198, 51, 100, 9)) {
		t.Errorf("relayed address %v, want the public IP", ip)
	}
	// Relaying works all the same: the peer answers the socket's real
	// address, and the permissions pion reports under the public one
	// reach the socket.
	peer := newEchoPeer(t)
	if err := roundTrip(relay, peer.addr(), []byte("durch die Wand"), 2*time.Second); err != nil {
		t.Errorf("round trip: %v", err)
	}
}

// TestRelayPortRange allocates within a range of two ports: both
// allocations lie in it, and a third finds no port (508, Insufficient
// Capacity).
func TestRelayPortRange(t *testing.T) {
	l, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	lo := l.LocalAddr().(*net.UDPAddr).Port // free a moment ago; so, most likely, is the next
	_ = l.Close()
	if lo >= 65535 {
		t.Skip("ephemeral port at the top of the range")
	}
	s := newServer(t, func(c *Config) { c.RelayPortMin, c.RelayPortMax = lo, lo+1 })
	for i := range 2 {
		relay, err := freshClient(t, s, "udp", "patient").Allocate()
		if err != nil {
			t.Skipf("allocation %d in %d-%d: %v (a port was taken meanwhile)", i, lo, lo+1, err)
		}
		defer relay.Close()
		if p := relay.LocalAddr().(*net.UDPAddr).Port; p < lo || p > lo+1 {
			t.Errorf("relay port %d outside %d-%d", p, lo, lo+1)
		}
	}
	_, err = freshClient(t, s, "udp", "patient").Allocate()
	var turnErr *stun.TurnError
	if !errors.As(err, &turnErr) || turnErr.ErrorCodeAttr.Code != stun.CodeInsufficientCapacity {
		t.Errorf("a third allocation in two ports: %v, want error 508", err)
	}
}
