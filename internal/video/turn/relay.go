package turn

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/pion/turn/v5"
)

// Why a relay is not made or a packet not relayed. pion/turn answers a
// failed allocation with 508 (Insufficient Capacity) and logs the error at
// debug level; a refused packet is dropped.
var (
	errNoTCPRelay      = errors.New("turn: TCP relays (RFC 6062) are not offered")
	errFamily          = errors.New("turn: relays are offered in the relay address's family only")
	errNoUser          = errors.New("turn: relay without a user (EVEN-PORT is not offered)")
	errAllocationLimit = errors.New("turn: allocation limit reached")
	errPortOutOfRange  = errors.New("turn: requested relay port outside the configured range")
	errNoFreePort      = errors.New("turn: no free relay port in the configured range")
	errQuotaUsedUp     = errors.New("turn: relay quota of the allocation used up")
	errToTURNPort      = errors.New("turn: relaying to the TURN port itself is refused")
	errNotMediaPort    = errors.New("turn: a media address is reachable on its media ports only")
	errClosing         = errors.New("turn: server closing")
)

// allocLimits counts allocations in total and per user (the <user> of the
// credentials, so all credentials handed to one participant count
// together). take and release bracket a relay socket's life.
type allocLimits struct {
	mu         sync.Mutex
	maxTotal   int
	maxPerUser int
	total      int
	perUser    map[string]int
}

// room reports whether user could allocate now. pion/turn's QuotaHandler
// calls it before an allocation, which lets pion answer 486 (Allocation
// Quota Reached), the code clients understand. It reserves nothing: take
// is the binding check.
func (l *allocLimits) room(user string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total < l.maxTotal && l.perUser[user] < l.maxPerUser
}

// take reserves one allocation for user, or reports false.
func (l *allocLimits) take(user string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= l.maxTotal || l.perUser[user] >= l.maxPerUser {
		return false
	}
	l.total++
	l.perUser[user]++
	return true
}

func (l *allocLimits) release(user string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.perUser[user]--; l.perUser[user] <= 0 {
		delete(l.perUser, user)
	}
}

// relays is the pion/turn RelayAddressGenerator: it opens each
// allocation's relay socket within the port range, announces it under the
// public IP and wraps it in a relayConn that enforces the byte quota.
type relays struct {
	network  string // "udp4" or "udp6", the family of announce
	listenIP netip.Addr
	announce netip.Addr
	portMin  int // 0: any port
	portMax  int
	quota    int64
	turnPort []netip.AddrPort // the TURN listener, never a relay destination
	limits   *allocLimits
	policy   peerPolicy // the ports reachable at media addresses
	track    *tracker
	log      *slog.Logger

	mu     sync.Mutex
	byAddr map[netip.AddrPort]*relayConn // by announced address, for permission events
}

var _ turn.RelayAddressGenerator = (*relays)(nil)

// Validate is called by turn.NewServer; New has validated the config.
func (r *relays) Validate() error { return nil }

// AllocatePacketConn opens the relay socket of a UDP allocation for
// conf.UserID, or fails when a limit is reached.
func (r *relays) AllocatePacketConn(conf turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	switch {
	case conf.Network != r.network:
		return nil, nil, errFamily
	case conf.UserID == "":
		// pion asks without a user only to probe for an even port.
		return nil, nil, errNoUser
	case !r.limits.take(conf.UserID):
		return nil, nil, errAllocationLimit
	}
	pc, err := r.listen(conf.RequestedPort)
	if err != nil {
		r.limits.release(conf.UserID)
		return nil, nil, err
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	c := &relayConn{
		PacketConn: pc,
		r:          r,
		user:       conf.UserID,
		addr:       netip.AddrPortFrom(r.announce, uint16(port)),
		permits:    make(map[netip.Addr]struct{}),
		l:          r.track.loop(), // pion starts the relay loop on c at once
	}
	r.mu.Lock()
	r.byAddr[c.addr] = c
	r.mu.Unlock()
	if !r.track.add(c) {
		c.l.end()
		_ = c.Close()
		return nil, nil, errClosing
	}
	return c, net.UDPAddrFromAddrPort(c.addr), nil
}

func (r *relays) listen(requested int) (net.PacketConn, error) {
	open := func(port int) (net.PacketConn, error) {
		return net.ListenPacket(r.network, net.JoinHostPort(r.listenIP.String(), strconv.Itoa(port))) //nolint:noctx
	}
	switch {
	case requested != 0 && r.portMin != 0 && (requested < r.portMin || requested > r.portMax):
		return nil, errPortOutOfRange
	case requested != 0:
		return open(requested)
	case r.portMin == 0:
		return open(0)
	}
	span := r.portMax - r.portMin + 1
	for range min(span, 32) {
		if pc, err := open(r.portMin + rand.IntN(span)); err == nil {
			return pc, nil
		}
	}
	return nil, fmt.Errorf("%w (%d-%d)", errNoFreePort, r.portMin, r.portMax)
}

// AllocateListener refuses TCP allocations: browsers never ask for them,
// and a TCP relay would let a client open TCP connections from the
// server's network position.
func (r *relays) AllocateListener(turn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	return nil, nil, errNoTCPRelay
}

// AllocateConn refuses RFC 6062 Connect requests, for the same reason.
func (r *relays) AllocateConn(turn.AllocateConnConfig) (net.Conn, error) {
	return nil, errNoTCPRelay
}

// permission records that the allocation at relayAddr got (or lost) a
// permission for peer. pion/turn reports it through its EventHandler.
func (r *relays) permission(relayAddr net.Addr, peer net.IP, granted bool) {
	ua, ok := relayAddr.(*net.UDPAddr)
	if !ok {
		return
	}
	ip, ok := netip.AddrFromSlice(peer)
	if !ok {
		return
	}
	r.mu.Lock()
	c := r.byAddr[netip.AddrPortFrom(unmap(ua.IP), uint16(ua.Port))]
	r.mu.Unlock()
	if c == nil {
		return
	}
	c.pmu.Lock()
	if granted {
		c.permits[ip.Unmap()] = struct{}{}
	} else {
		delete(c.permits, ip.Unmap())
	}
	c.pmu.Unlock()
}

func (r *relays) isTURNPort(addr *net.UDPAddr) bool {
	ap := netip.AddrPortFrom(unmap(addr.IP), uint16(addr.Port))
	for _, own := range r.turnPort {
		if ap == own {
			return true
		}
	}
	return false
}

func unmap(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}

// relayConn is one allocation's relay socket. It counts the bytes relayed
// in both directions (data from the client to a peer in WriteTo, data from
// permitted peers to the client in ReadFrom) and closes itself once the
// quota is used up; pion/turn then deletes the allocation, because its
// relay loop ends at the first read error.
type relayConn struct {
	net.PacketConn
	r    *relays
	user string
	addr netip.AddrPort // as announced
	used atomic.Int64
	over atomic.Bool
	l    *loop // of pion's relay loop, which ends at the first read error
	once sync.Once

	pmu     sync.RWMutex
	permits map[netip.Addr]struct{}
}

// ReadFrom returns the next datagram from a permitted peer. Datagrams from
// anyone else are dropped here, as pion would drop them, so that strangers
// sending to a relay port cannot use up its quota.
func (c *relayConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, from, err := c.PacketConn.ReadFrom(p)
		if err != nil {
			c.l.end()
			return n, from, err
		}
		ua, ok := from.(*net.UDPAddr)
		if !ok || !c.permitted(unmap(ua.IP)) || !c.r.policy.reaches(unmap(ua.IP), uint16(ua.Port)) || !c.charge(n) {
			continue // after a failed charge the socket is closed and the next read fails
		}
		return n, from, nil
	}
}

// WriteTo sends the client's data to a peer, within the quota.
func (c *relayConn) WriteTo(p []byte, to net.Addr) (int, error) {
	if ua, ok := to.(*net.UDPAddr); ok {
		if c.r.isTURNPort(ua) {
			return 0, errToTURNPort
		}
		if !c.r.policy.reaches(unmap(ua.IP), uint16(ua.Port)) {
			return 0, errNotMediaPort
		}
	}
	if !c.charge(len(p)) {
		return 0, errQuotaUsedUp
	}
	return c.PacketConn.WriteTo(p, to)
}

func (c *relayConn) permitted(ip netip.Addr) bool {
	c.pmu.RLock()
	_, ok := c.permits[ip]
	c.pmu.RUnlock()
	return ok
}

// charge adds n bytes to the allocation's count. The datagram that would
// exceed the quota is not relayed, so an allocation relays at most quota
// bytes; the first such datagram closes the socket.
func (c *relayConn) charge(n int) bool {
	if c.used.Add(int64(n)) <= c.r.quota {
		return true
	}
	if c.over.CompareAndSwap(false, true) {
		c.r.log.Info("turn: relay quota used up, closing the allocation", "user", c.user, "quota_bytes", c.r.quota)
		_ = c.Close()
	}
	return false
}

// abort is Server.Close closing the relay.
func (c *relayConn) abort() { _ = c.Close() }

// Close closes the socket once and gives its allocation back to the
// limits. pion/turn closes it when the allocation ends, Server.Close when
// the server does; the second close is a no-op without error, so that
// pion's manager, which stops closing allocations at the first error,
// closes all of them.
func (c *relayConn) Close() error {
	var err error
	c.once.Do(func() {
		err = c.PacketConn.Close()
		c.r.mu.Lock()
		delete(c.r.byAddr, c.addr)
		c.r.mu.Unlock()
		c.r.track.remove(c)
		c.r.limits.release(c.user)
	})
	return err
}
