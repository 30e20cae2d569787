package turn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// tracker lets Close end every goroutine that runs on the server's
// sockets. pion/turn's Server.Close closes its listening sockets but
// neither the TCP connections it accepted (their read loops run until the
// client hangs up) nor waits for anything. So every socket pion uses is
// one of our wrappers, and every goroutine that must end before Close
// returns holds a loop from the tracker:
//
//   - pion's read loop on the UDP socket, its accept loop on a listener and
//     its relay loop on an allocation's socket: from the socket's creation
//     (pion starts the goroutine at once) to the read or accept that failed,
//     after which pion's goroutine returns;
//   - pion's goroutine on an accepted TCP or TLS connection: to the
//     connection's Close, which pion calls last;
//   - our own TLS accept loop and handshakes: to their return.
//
// closeAll closes what pion leaves open and waits for the loops to end.
type tracker struct {
	mu      sync.Mutex
	closing bool
	loops   int
	idle    chan struct{}        // closed once closing and no loop runs
	open    map[aborter]struct{} // connections and relays pion may leave open
}

// aborter is a socket closeAll can close under its owner's goroutine.
type aborter interface{ abort() }

func newTracker() *tracker {
	return &tracker{idle: make(chan struct{}), open: make(map[aborter]struct{})}
}

// loop is a goroutine the tracker waits for; end may be called any number
// of times.
type loop struct {
	t    *tracker
	once sync.Once
}

func (t *tracker) loop() *loop {
	t.mu.Lock()
	t.loops++
	t.mu.Unlock()
	return &loop{t: t}
}

func (l *loop) end() {
	l.once.Do(func() {
		l.t.mu.Lock()
		l.t.loops--
		l.t.signalLocked()
		l.t.mu.Unlock()
	})
}

func (t *tracker) signalLocked() {
	if t.closing && t.loops == 0 {
		select {
		case <-t.idle:
		default:
			close(t.idle)
		}
	}
}

// add registers c for closeAll. It reports false once closing has begun;
// the caller then closes c itself.
func (t *tracker) add(c aborter) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing {
		return false
	}
	t.open[c] = struct{}{}
	return true
}

func (t *tracker) remove(c aborter) {
	t.mu.Lock()
	delete(t.open, c)
	t.mu.Unlock()
}

// closeAll aborts every registered socket and waits up to timeout for the
// loops to end. It returns an error saying how many did not.
func (t *tracker) closeAll(timeout time.Duration) error {
	t.mu.Lock()
	t.closing = true
	open := make([]aborter, 0, len(t.open))
	for c := range t.open {
		open = append(open, c)
	}
	clear(t.open)
	t.signalLocked()
	t.mu.Unlock()

	for _, c := range open {
		c.abort()
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-t.idle:
		return nil
	case <-timer.C:
		t.mu.Lock()
		n := t.loops
		t.mu.Unlock()
		return fmt.Errorf("turn: close: %d goroutines still running after %v", n, timeout)
	}
}

// trackedPacketConn is the UDP socket the TURN server listens on.
type trackedPacketConn struct {
	net.PacketConn
	l *loop
}

func (c *trackedPacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, addr, err := c.PacketConn.ReadFrom(p)
	if err != nil {
		c.l.end()
	}
	return n, addr, err
}

// trackedListener accepts TCP connections for TURN over TCP (read by
// pion) or TLS (read by tlsListener), and retries failed accepts. It holds
// at most maxConns at once: each allocation over TCP needs one, and a
// client that opens connections without allocating must not exhaust the
// server's file descriptors. A connection must send something within
// firstRead and then at least every idle; pion sets no deadlines of its
// own.
type trackedListener struct {
	net.Listener
	t         *tracker
	l         *loop // of the goroutine that calls Accept
	maxConns  int64
	conns     atomic.Int64
	firstRead time.Duration
	idle      time.Duration
}

func (ln *trackedListener) Accept() (net.Conn, error) {
	var backoff time.Duration
	for {
		c, err := ln.Listener.Accept()
		if errors.Is(err, net.ErrClosed) {
			ln.l.end()
			return nil, err
		}
		if err != nil {
			// Out of file descriptors, a connection aborted before it was
			// accepted: pion would end its accept loop for good on any
			// error, so wait and try again as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if ln.conns.Add(1) > ln.maxConns {
			ln.conns.Add(-1)
			_ = c.Close()
			continue
		}
		tc := &trackedConn{Conn: c, ln: ln, l: ln.t.loop()}
		if !ln.t.add(tc) {
			_ = tc.Close()
			continue
		}
		_ = c.SetReadDeadline(time.Now().Add(ln.firstRead))
		return tc, nil
	}
}

// trackedConn is one accepted TCP connection. Its loop ends at Close, the
// last thing the goroutine serving it does.
type trackedConn struct {
	net.Conn
	ln    *trackedListener
	l     *loop
	reads atomic.Int64
	once  sync.Once
}

func (c *trackedConn) Read(p []byte) (int, error) {
	if c.reads.Add(1) > 1 {
		// The first read keeps the short deadline Accept set; a client that
		// has spoken may then be silent for idle.
		_ = c.Conn.SetReadDeadline(time.Now().Add(c.ln.idle))
	}
	return c.Conn.Read(p)
}

// abort closes the socket so that the goroutine reading it fails and
// closes the connection itself.
func (c *trackedConn) abort() { _ = c.Conn.Close() }

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.ln.conns.Add(-1)
		c.ln.t.remove(c)
		c.l.end()
	})
	return err
}

// tlsListener is the TURN-over-TLS listener pion accepts from. It does the
// handshakes itself, each in a goroutine with a deadline, and hands pion
// only connections whose handshake is done: pion's own handshake, inline
// in its connection goroutine, returns without closing the connection when
// it fails.
type tlsListener struct {
	raw       *trackedListener
	config    *tls.Config
	t         *tracker
	l         *loop // of pion's accept loop
	ready     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

const tlsHandshakeTimeout = 10 * time.Second

// newTLSListener starts accepting on raw.
func newTLSListener(raw *trackedListener, config *tls.Config, t *tracker) *tlsListener {
	ln := &tlsListener{raw: raw, config: config, t: t, l: t.loop(), ready: make(chan net.Conn), done: make(chan struct{})}
	raw.l = t.loop()
	go ln.acceptLoop(raw.l)
	return ln
}

func (ln *tlsListener) acceptLoop(l *loop) {
	defer l.end()
	for {
		c, err := ln.raw.Accept()
		if err != nil {
			return
		}
		hl := ln.t.loop()
		go ln.handshake(c, hl)
	}
}

func (ln *tlsListener) handshake(c net.Conn, l *loop) {
	defer l.end()
	tc := tls.Server(c, ln.config)
	ctx, cancel := context.WithTimeout(context.Background(), tlsHandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = c.Close()
		return
	}
	select {
	case ln.ready <- tc:
	case <-ln.done:
		_ = c.Close()
	}
}

func (ln *tlsListener) Accept() (net.Conn, error) {
	select {
	case c := <-ln.ready:
		return c, nil
	case <-ln.done:
		ln.l.end()
		return nil, net.ErrClosed
	}
}

func (ln *tlsListener) Close() error {
	var err error
	ln.closeOnce.Do(func() {
		close(ln.done)
		err = ln.raw.Close()
	})
	return err
}

func (ln *tlsListener) Addr() net.Addr { return ln.raw.Addr() }
