package turn

import (
	"net"
	"net/netip"
)

// peerPolicy decides which peer addresses an allocation may relay to. A
// TURN server relays from its own network position; without this filter a
// participant could create a permission for 10.0.0.5 or 127.0.0.1 and send
// UDP to the office's internal services (SSRF). It runs for CreatePermission
// and ChannelBind (pion/turn's PermissionHandler); data to a peer without a
// permission is never relayed.
type peerPolicy struct {
	allowLoopback bool
	allowPrivate  bool
	// media are the ports of Config.Media by IP, for the IPs the networks
	// above refuse (all of them with mediaOnly): only those ports are
	// reachable there.
	media     map[netip.Addr][]uint16
	mediaOnly bool // Config.MediaOnly: nothing but media
}

// newPeerPolicy returns the policy of cfg.
func newPeerPolicy(cfg Config) peerPolicy {
	p := peerPolicy{allowLoopback: cfg.AllowLoopback, allowPrivate: cfg.AllowPrivate, mediaOnly: cfg.MediaOnly}
	for _, m := range cfg.Media {
		ip := m.Addr().Unmap().WithZone("")
		if !p.mediaOnly && p.allowed(ip.AsSlice()) {
			continue
		}
		if p.media == nil {
			p.media = make(map[netip.Addr][]uint16)
		}
		p.media[ip] = append(p.media[ip], m.Port())
	}
	return p
}

// permits reports whether ip may get a permission: a peer in an allowed
// network, or a media address's IP.
func (p peerPolicy) permits(ip net.IP) bool {
	if a, ok := netip.AddrFromSlice(ip); ok {
		if _, media := p.media[a.Unmap().WithZone("")]; media {
			return true
		}
	}
	return !p.mediaOnly && p.allowed(ip)
}

// reaches reports whether a datagram may go to or come from ip and port
// under a permission for ip: any port of an allowed network's peer, only
// the media ports of a media address that no network allows.
func (p peerPolicy) reaches(ip netip.Addr, port uint16) bool {
	ports, media := p.media[ip]
	if !media {
		return !p.mediaOnly
	}
	for _, q := range ports {
		if q == port {
			return true
		}
	}
	return false
}

// The address blocks peerPolicy knows. IPv4-mapped IPv6 addresses
// (::ffff:a.b.c.d) are unmapped before they are looked up, so they fall
// under the IPv4 blocks.
var (
	// privateBlocks are networks inside an organisation or a provider:
	// refused unless allowPrivate.
	privateBlocks = prefixes(
		"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", // RFC 1918
		"100.64.0.0/10",  // RFC 6598 carrier-grade NAT
		"169.254.0.0/16", // RFC 3927 link-local
		"198.18.0.0/15",  // RFC 2544 benchmarking, used as internal space in practice
		"fc00::/7",       // RFC 4193 unique local
		"fe80::/10",      // link-local
		"fec0::/10",      // deprecated site-local, still routed internally somewhere
		"64:ff9b:1::/48", // RFC 8215 local-use NAT64
	)
	// loopbackBlocks are the host itself: refused unless allowLoopback.
	loopbackBlocks = prefixes("127.0.0.0/8", "::1/128")
	// reservedBlocks are never a peer: "this network", broadcast and the
	// reserved class E, IETF protocol assignments, multicast, the
	// unspecified address and the discard-only prefix.
	reservedBlocks = prefixes(
		"0.0.0.0/8", "192.0.0.0/24", "240.0.0.0/4", "224.0.0.0/4",
		"::/128", "100::/64", "ff00::/8",
	)
)

// prefixes parses the literal CIDRs above; a typo there is a bug, so it
// panics (when the package is loaded, which every test does).
func prefixes(cidrs ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(cidrs))
	for i, c := range cidrs {
		out[i] = netip.MustParsePrefix(c)
	}
	return out
}

// allowed reports whether ip may be a peer. Addresses that carry an IPv4
// address inside IPv6 in a way a router acts on (NAT64's 64:ff9b::/96,
// 6to4's 2002::/16, the deprecated IPv4-compatible ::/96) are judged by
// that IPv4 address too, so 64:ff9b::10.0.0.1 is as private as 10.0.0.1.
func (p peerPolicy) allowed(ip net.IP) bool {
	addr, ok := netip.AddrFromSlice(ip)
	if !ok {
		return false
	}
	addr = addr.Unmap().WithZone("")
	if !p.allowedAddr(addr) {
		return false
	}
	if v4, ok := embeddedIPv4(addr); ok {
		return p.allowedAddr(v4)
	}
	return true
}

func (p peerPolicy) allowedAddr(addr netip.Addr) bool {
	switch {
	case in(addr, reservedBlocks):
		return false
	case in(addr, loopbackBlocks):
		return p.allowLoopback
	case in(addr, privateBlocks):
		return p.allowPrivate
	}
	return true
}

func in(addr netip.Addr, blocks []netip.Prefix) bool {
	for _, b := range blocks {
		if b.Contains(addr) {
			return true
		}
	}
	return false
}

var (
	nat64Prefix  = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour    = netip.MustParsePrefix("2002::/16")
	v4Compatible = netip.MustParsePrefix("::/96")
)

// embeddedIPv4 returns the IPv4 address an IPv6 address routes to, for the
// translation and tunnelling prefixes that embed one.
func embeddedIPv4(addr netip.Addr) (netip.Addr, bool) {
	if !addr.Is6() {
		return netip.Addr{}, false
	}
	b := addr.As16()
	switch {
	case nat64Prefix.Contains(addr):
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), true
	case v4Compatible.Contains(addr) && b[12] != 0: // not ::, ::1 and the like
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), true
	case sixToFour.Contains(addr):
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), true
	}
	return netip.Addr{}, false
}
