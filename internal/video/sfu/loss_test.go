package sfu_test

import (
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v5/vnet"

	"github.com/gesundheitsamt/portal/internal/video/sfu"
	"github.com/gesundheitsamt/portal/internal/video/sfu/sfutest"
)

// lossy drops a share of the UDP packets one address sends, with a fixed
// seed so that a failure can be reproduced.
type lossy struct {
	mu      sync.Mutex
	rnd     *rand.Rand
	from    string
	share   float64
	dropped int
	passed  int
}

func (l *lossy) filter(c vnet.Chunk) bool {
	if c.Network() != "udp" || c.SourceAddr().(*net.UDPAddr).IP.String() != l.from {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rnd.Float64() < l.share {
		l.dropped++
		return false
	}
	l.passed++
	return true
}

// TestLossRecoveredByNACK puts the SFU and two clients on a virtual
// network where 5 % of everything the publisher sends is lost; NACKs from
// the SFU make the publisher retransmit, and the subscriber still gets at
// least 99 % of the video packets.
func TestLossRecoveredByNACK(t *testing.T) {
	track(t)
	wan := newWAN(t)
	serverNet, aliceNet, bobNet := newHost(t, "10.0.0.1"), newHost(t, "10.0.0.2"), newHost(t, "10.0.0.3")
	loss := &lossy{rnd: rand.New(rand.NewPCG(1, 2)), from: "10.0.0.2", share: 0.05}
	wan.AddChunkFilter(loss.filter)
	startWAN(t, wan, serverNet, aliceNet, bobNet)

	s, err := sfu.New(sfu.Config{Net: serverNet}, testLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	room := s.Room("r1")
	alice := join(t, room, "a", "alice", "staff", sfutest.Options{Video: true, Net: aliceNet})
	bob := join(t, room, "b", "bob", "patient", sfutest.Options{Net: bobNet})

	first := receiving(t, bob, alice, "video", 10).First
	receiving(t, bob, alice, "video", 300) // 3 s of video at 100 packets/s
	// Retransmissions of the newest packets may still be under way.
	time.Sleep(300 * time.Millisecond)
	st, _ := bob.Received("alice", "video")
	last := st.Last - 30
	missing := bob.Missing("alice", "video", first, last)
	total := int(last - first + 1)
	loss.mu.Lock()
	dropped, passed := loss.dropped, loss.passed
	loss.mu.Unlock()
	t.Logf("link dropped %d of %d packets from alice; bob misses %d of %d video packets, read %d (retransmissions included)",
		dropped, dropped+passed, missing, total, st.Packets)
	if dropped < total/40 {
		t.Fatalf("the link dropped only %d packets; the test proves nothing", dropped)
	}
	if missing*100 > total {
		t.Errorf("bob misses %d of %d packets, more than 1 %%", missing, total)
	}
	checkIntact(t, bob)
}

// newWAN returns a virtual network, 10.0.0.0/24, with its logs off.
func newWAN(t *testing.T) *vnet.Router {
	t.Helper()
	quiet := logging.NewDefaultLoggerFactory()
	quiet.DefaultLogLevel = logging.LogLevelDisabled
	wan, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "10.0.0.0/24", LoggerFactory: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return wan
}

// newHost returns the network of a host with address ip, for startWAN.
func newHost(t *testing.T, ip string) *vnet.Net {
	t.Helper()
	n, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ip}})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// startWAN puts the hosts' networks (or what wraps them) on wan and starts
// it until the test ends.
func startWAN(t *testing.T, wan *vnet.Router, nics ...vnet.NIC) {
	t.Helper()
	for _, n := range nics {
		if err := wan.AddNet(n); err != nil {
			t.Fatal(err)
		}
	}
	if err := wan.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = wan.Stop() })
}
