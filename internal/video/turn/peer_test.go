package turn

import (
	"net"
	"testing"
)

func TestPeerPolicy(t *testing.T) {
	const (
		public   = iota // allowed by every policy
		loopback        // allowed with AllowLoopback only
		private         // allowed with AllowPrivate only
		never           // refused by every policy
	)
	tests := []struct {
		ip   string
		kind int
	}{
		{"203.0.113.7", public}, // documentation ranges are not refused: they harm nobody
		{"2001:db8::1", public},
		{"8.8.8.8", public},
		{"172.32.0.1", public}, // just outside 172.16/12
		{"100.128.0.1", public},
		{"2a01:4f8::1", public},
		{"::ffff:8.8.8.8", public},
		{"64:ff9b::808:808", public}, // NAT64 of 8.8.8.8
		{"2002:808:808::1", public},  // 6to4 of 8.8.8.8

		{"127.0.0.1", loopback},
		{"127.255.255.254", loopback},
		{"::1", loopback},
		{"::ffff:127.0.0.1", loopback},
		{"64:ff9b::7f00:1", loopback},
		{"::127.0.0.1", loopback}, // IPv4-compatible, deprecated

		{"10.0.0.1", private},
		{"10.255.255.255", private},
		{"172.16.0.1", private},
		{"172.31.255.255", private},
		{"192.168.1.1", private},
		{"169.254.169.254", private}, // the cloud metadata service
		{"100.64.0.1", private},
		{"100.127.255.255", private},
		{"198.18.0.1", private},
		{"fd00::1", private},
		{"fc00::1", private},
		{"fe80::1", private},
		{"fec0::1", private},
		{"64:ff9b:1::a00:1", private},
		{"::ffff:10.0.0.1", private},
		{"::ffff:192.168.0.1", private},
		{"::ffff:169.254.0.1", private},
		{"::ffff:100.64.0.1", private},
		{"64:ff9b::a00:1", private},   // NAT64 of 10.0.0.1
		{"2002:c0a8:101::1", private}, // 6to4 of 192.168.1.1

		{"0.0.0.0", never},
		{"0.1.2.3", never},
		{"::", never},
		{"::ffff:0.0.0.0", never},
		{"255.255.255.255", never},
		{"240.0.0.1", never},
		{"224.0.0.1", never},
		{"239.255.255.250", never}, // SSDP
		{"::ffff:224.0.0.251", never},
		{"ff02::1", never},
		{"ff05::1:3", never},
		{"192.0.0.170", never},
		{"100::1", never},
		{"64:ff9b::e000:1", never}, // NAT64 of multicast
	}
	policies := []struct {
		name   string
		policy peerPolicy
		allows func(kind int) bool
	}{
		{"default", peerPolicy{}, func(k int) bool { return k == public }},
		{"loopback", peerPolicy{allowLoopback: true}, func(k int) bool { return k == public || k == loopback }},
		{"private", peerPolicy{allowPrivate: true}, func(k int) bool { return k == public || k == private }},
		{"both", peerPolicy{allowLoopback: true, allowPrivate: true}, func(k int) bool { return k != never }},
	}
	for _, p := range policies {
		t.Run(p.name, func(t *testing.T) {
			for _, tt := range tests {
				ip := net.ParseIP(tt.ip)
				if ip == nil {
					t.Fatalf("bad test address %q", tt.ip)
				}
				if got, want := p.policy.allowed(ip), p.allows(tt.kind); got != want {
					t.Errorf("allowed(%s) = %v, want %v", tt.ip, got, want)
				}
				// pion hands over 4-byte and 16-byte forms alike.
				if v4 := ip.To4(); v4 != nil {
					if got, want := p.policy.allowed(v4), p.allows(tt.kind); got != want {
						t.Errorf("allowed(4-byte %s) = %v, want %v", tt.ip, got, want)
					}
				}
			}
			if p.policy.allowed(nil) || p.policy.allowed(net.IP{1, 2, 3}) {
				t.Error("a malformed IP was allowed")
			}
		})
	}
}
