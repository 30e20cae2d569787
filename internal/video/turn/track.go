package turn

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// tracker lets Close end every goroutine pion/turn starts on our sockets.
// pion's Server.Close closes its listening sockets but neither the TCP
// connections it accepted (their read loops run until the client hangs up)
// nor waits for anything. Every socket pion reads from is therefore one of
// our wrappers: the tracker can close them all, and it counts read loops,
// a loop being a socket between its first read and the read that returned
// an error, after which pion's goroutine on it returns (pion stops at the
// first read error on every socket it owns).
type tracker struct {
	mu      sync.Mutex
	closing bool
	loops   int
	idle    chan struct{} // closed when closing and no loop runs
	open    map[io.Closer]struct{}
}

func newTracker() *tracker {
	return &tracker{idle: make(chan struct{}), open: make(map[io.Closer]struct{})}
}

// loop is the per-socket state of a read loop.
type loop struct{ started, ended atomic.Bool }

// begin is called before every read; only the first one counts.
func (t *tracker) begin(l *loop) {
	if l.started.Load() || !l.started.CompareAndSwap(false, true) {
		return
	}
	t.mu.Lock()
	t.loops++
	t.mu.Unlock()
}

// end is called when a read returned an error.
func (t *tracker) end(l *loop) {
	if !l.started.Load() || !l.ended.CompareAndSwap(false, true) {
		return
	}
	t.mu.Lock()
	t.loops--
	t.signalLocked()
	t.mu.Unlock()
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

// add registers c to be closed by closeAll. It reports false once closing
// has begun; the caller then closes c itself.
func (t *tracker) add(c io.Closer) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing {
		return false
	}
	t.open[c] = struct{}{}
	return true
}

// remove forgets c (it was closed by its owner).
func (t *tracker) remove(c io.Closer) {
	t.mu.Lock()
	delete(t.open, c)
	t.mu.Unlock()
}

// closeAll closes every registered socket and waits up to timeout for the
// read loops to end. It returns an error naming how many did not.
func (t *tracker) closeAll(timeout time.Duration) error {
	t.mu.Lock()
	t.closing = true
	open := make([]io.Closer, 0, len(t.open))
	for c := range t.open {
		open = append(open, c)
	}
	clear(t.open)
	t.signalLocked()
	t.mu.Unlock()

	for _, c := range open {
		_ = c.Close() // each is already closed, or closes now; either way its reader fails
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
		return fmt.Errorf("turn: close: %d read loops still running after %v", n, timeout)
	}
}

// trackedPacketConn is the UDP socket the TURN server listens on.
type trackedPacketConn struct {
	net.PacketConn
	t *tracker
	l loop
}

func (c *trackedPacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	c.t.begin(&c.l)
	n, addr, err := c.PacketConn.ReadFrom(p)
	if err != nil {
		c.t.end(&c.l)
	}
	return n, addr, err
}

// trackedListener accepts TURN-over-TCP (and, beneath crypto/tls,
// TURN-over-TLS) connections and retries failed accepts. It holds at most maxConns at once: each
// allocation over TCP needs one, and a client that opens connections
// without allocating must not exhaust the server's file descriptors. A
// connection must send something within firstRead and then at least every
// idle; pion sets no deadlines of its own.
type trackedListener struct {
	net.Listener
	t         *tracker
	l         loop
	maxConns  int64
	conns     atomic.Int64
	firstRead time.Duration
	idle      time.Duration
}

func (ln *trackedListener) Accept() (net.Conn, error) {
	ln.t.begin(&ln.l)
	var backoff time.Duration
	for {
		c, err := ln.Listener.Accept()
		if errors.Is(err, net.ErrClosed) {
			ln.t.end(&ln.l)
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
		tc := &trackedConn{Conn: c, ln: ln}
		if !ln.t.add(tc) {
			_ = tc.Close()
			continue
		}
		_ = c.SetReadDeadline(time.Now().Add(ln.firstRead))
		return tc, nil
	}
}

// trackedConn is one accepted TCP connection.
type trackedConn struct {
	net.Conn
	ln     *trackedListener
	l      loop
	reads  atomic.Int64
	closed sync.Once
}

func (c *trackedConn) Read(p []byte) (int, error) {
	c.ln.t.begin(&c.l)
	if c.reads.Add(1) > 1 {
		// The first read keeps the short deadline Accept set; a client that
		// has spoken may then be silent for idle.
		_ = c.Conn.SetReadDeadline(time.Now().Add(c.ln.idle))
	}
	n, err := c.Conn.Read(p)
	if err != nil {
		c.ln.t.end(&c.l)
	}
	return n, err
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.closed.Do(func() {
		c.ln.conns.Add(-1)
		c.ln.t.remove(c)
	})
	return err
}
