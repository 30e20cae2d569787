package turn

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/gesundheitsamt/portal/internal/fault"
)

// AnyPort as Config.TCPPort (or UDPPort, TLSPort) binds an ephemeral port;
// tests use it, Server.Addrs reports the port bound.
const AnyPort = -1

// The defaults of Config's zero values.
const (
	// DefaultQuotaBytes covers a long consultation: 720p video at about
	// 1.5 Mbit/s each way through one allocation is 1.35 GB an hour.
	DefaultQuotaBytes = 4 << 30
	// DefaultMaxAllocations bounds what the server holds in all.
	DefaultMaxAllocations = 500
	// DefaultMaxAllocationsPerUser leaves room for what one browser does:
	// it allocates once per TURN URL (ICEServers gives three) on each of
	// its network interfaces, and again after an ICE restart.
	DefaultMaxAllocationsPerUser = 10
	// DefaultCredentialTTL covers a consultation of the longest length
	// staff can plan (4 hours) from its admission. Every request is
	// authenticated, so an allocation whose credentials expire can no
	// longer be refreshed and ends with its lifetime (10 minutes by
	// default, under an hour if the client asks); a browser that rejoins
	// gets fresh credentials with its admission.
	DefaultCredentialTTL = 4 * time.Hour
	// DefaultRealm is the realm when Config.Realm is empty.
	DefaultRealm = "portal"
)

// Config configures New. The zero value of each optional field is a sane
// production default; Secret is required, and so is PublicIP when
// ListenIP is a wildcard.
type Config struct {
	Realm  string // the TURN realm; DefaultRealm when empty
	Secret []byte // shared secret of the TURN REST credentials, at least 16 bytes, derived by the caller from the portal's secret key

	// PublicIP is the relay address announced to clients
	// (XOR-RELAYED-ADDRESS). Required when ListenIP is a wildcard; when
	// ListenIP is a specific address it defaults to it.
	PublicIP net.IP
	ListenIP string // the address all sockets bind; "0.0.0.0" when empty

	UDPPort int         // TURN over UDP; 0 or AnyPort: an ephemeral port
	TCPPort int         // TURN over TCP for networks that block UDP; 0: none, AnyPort: ephemeral
	TLS     *tls.Config // TURN over TLS (turns:) when set; needs a certificate for the host in ICEServers
	TLSPort int         // with TLS: 0 or AnyPort: ephemeral

	// RelayPortMin and RelayPortMax bound the relay sockets' ports
	// (inclusive), for a firewall that opens only that range; 0, 0: any.
	RelayPortMin, RelayPortMax int

	AllowLoopback bool // relay to 127.0.0.0/8 and ::1 (tests, development on one machine)
	AllowPrivate  bool // relay to RFC 1918, ULA, link-local and CGNAT peers (a portal inside the office's network)

	// Media are the addresses (IP and port) of the portal's own media
	// server, which a relay may always reach, even in a network the
	// settings above refuse: a portal whose media port sits on a private
	// or loopback address is still reachable through TURN, without
	// opening the rest of that address's ports to every participant.
	Media []netip.AddrPort
	// MediaOnly relays to Media and nowhere else: a TURN server beside
	// an SFU, whose participants never talk to each other directly,
	// needs no other peer, and is then no relay for anything else.
	MediaOnly bool

	QuotaBytes            int64         // bytes one allocation may relay, both directions together; DefaultQuotaBytes when 0
	MaxAllocations        int           // allocations at once in all; DefaultMaxAllocations when 0
	MaxAllocationsPerUser int           // allocations at once per <user> of the credentials; DefaultMaxAllocationsPerUser when 0
	CredentialTTL         time.Duration // lifetime of the credentials ICEServers hands out; DefaultCredentialTTL when 0
}

// settings is a validated Config with its defaults filled in.
type settings struct {
	Config
	listenIP, publicIP netip.Addr
	udpNet, tcpNet     string
}

// validate checks cfg and fills in the defaults. Every error is of kind
// fault.Invalid.
func (cfg Config) validate() (settings, error) {
	invalid := func(format string, args ...any) (settings, error) {
		return settings{}, fault.Wrap(fault.Invalid, "turn: config", fmt.Errorf(format, args...))
	}
	s := settings{Config: cfg}
	if s.Realm == "" {
		s.Realm = DefaultRealm
	}
	if len(s.Secret) < 16 {
		return invalid("the secret has %d bytes, at least 16 are needed", len(s.Secret))
	}
	s.Secret = append([]byte(nil), s.Secret...)

	listen := s.ListenIP
	if listen == "" {
		listen = "0.0.0.0"
	}
	ip, err := netip.ParseAddr(listen)
	if err != nil || ip.Zone() != "" {
		return invalid("listen IP %q is not an IP address", s.ListenIP)
	}
	s.listenIP = ip.Unmap()
	switch {
	case s.PublicIP != nil:
		pub, ok := netip.AddrFromSlice(s.PublicIP)
		if !ok || pub.Unmap().IsUnspecified() || pub.IsMulticast() {
			return invalid("public IP %v cannot be a relay address", s.PublicIP)
		}
		s.publicIP = pub.Unmap()
	case s.listenIP.IsUnspecified():
		return invalid("a public IP is needed when listening on %v", s.listenIP)
	default:
		s.publicIP = s.listenIP
	}
	if s.listenIP.Is4() != s.publicIP.Is4() {
		return invalid("listen IP %v and public IP %v are of different families", s.listenIP, s.publicIP)
	}
	s.udpNet, s.tcpNet = "udp4", "tcp4"
	if s.listenIP.Is6() {
		s.udpNet, s.tcpNet = "udp6", "tcp6"
	}

	for _, p := range []struct {
		name string
		port *int
	}{{"UDP", &s.UDPPort}, {"TCP", &s.TCPPort}, {"TLS", &s.TLSPort}} {
		if *p.port < AnyPort || *p.port > 65535 {
			return invalid("%s port %d is out of range", p.name, *p.port)
		}
	}
	if s.UDPPort == AnyPort {
		s.UDPPort = 0
	}
	if s.TLSPort == AnyPort {
		s.TLSPort = 0
	}
	if s.TLS == nil && s.TLSPort != 0 {
		return invalid("a TLS port without a TLS config")
	}
	if s.TLS != nil && len(s.TLS.Certificates) == 0 && s.TLS.GetCertificate == nil && s.TLS.GetConfigForClient == nil {
		return invalid("the TLS config has no certificate")
	}

	switch {
	case s.RelayPortMin == 0 && s.RelayPortMax == 0:
	case s.RelayPortMin < 1 || s.RelayPortMax > 65535 || s.RelayPortMin > s.RelayPortMax:
		return invalid("relay port range %d-%d is not within 1-65535", s.RelayPortMin, s.RelayPortMax)
	}

	for _, m := range s.Media {
		if !m.IsValid() || m.Port() == 0 || m.Addr().IsUnspecified() {
			return invalid("media address %v needs an IP address and a port", m)
		}
	}
	s.Media = append([]netip.AddrPort(nil), s.Media...)

	if s.QuotaBytes < 0 || s.MaxAllocations < 0 || s.MaxAllocationsPerUser < 0 || s.CredentialTTL < 0 {
		return settings{}, fault.Wrap(fault.Invalid, "turn: config", errors.New("quota, limits and TTL must not be negative"))
	}
	if s.QuotaBytes == 0 {
		s.QuotaBytes = DefaultQuotaBytes
	}
	if s.MaxAllocations == 0 {
		s.MaxAllocations = DefaultMaxAllocations
	}
	if s.MaxAllocationsPerUser == 0 {
		s.MaxAllocationsPerUser = DefaultMaxAllocationsPerUser
	}
	if s.CredentialTTL == 0 {
		s.CredentialTTL = DefaultCredentialTTL
	}
	return s, nil
}
