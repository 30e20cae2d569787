// Package connlimit bounds the connections a listener keeps open: in all,
// and per client address, so that one client (or a few) cannot take every
// connection the server is willing to hold. A connection over a limit is
// answered with a short "503, try again" and closed before the server
// reads a byte of it.
package connlimit

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Limits are the bounds of a Listener. A zero field is no bound.
type Limits struct {
	Total     int // connections open at once
	PerClient int // connections open at once from one client address
	// Exempt are peers whose connections count only towards Total:
	// reverse proxies, whose connections carry many clients.
	Exempt []netip.Prefix
	// Refusal is the text a refused connection reads (plain text, UTF-8;
	// before a request is read, so in every language the portal speaks).
	Refusal string
}

// Listener is a net.Listener under Limits. It is safe for concurrent use.
type Listener struct {
	net.Listener
	lim     Limits
	mu      sync.Mutex
	total   int
	clients map[netip.Prefix]int
	refused atomic.Int64
	refusal []byte // what a connection over a limit reads before it is closed
}

// Wrap returns ln under lim.
func Wrap(ln net.Listener, lim Limits) *Listener {
	text := lim.Refusal + "\n"
	refusal := fmt.Sprintf("HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nRetry-After: 10\r\n"+
		"Connection: close\r\nContent-Length: %d\r\n\r\n%s", len(text), text)
	return &Listener{Listener: ln, lim: lim, clients: make(map[netip.Prefix]int), refusal: []byte(refusal)}
}

// Accept returns the next connection within the limits; connections over
// them are answered and closed here.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		client, counted := l.clientOf(c.RemoteAddr())
		if l.take(client, counted) {
			return &conn{Conn: c, l: l, client: client, counted: counted}, nil
		}
		l.refused.Add(1)
		_ = c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
		_, _ = c.Write(l.refusal)
		_ = c.Close()
	}
}

// Open returns the connections open now.
func (l *Listener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// Refused returns how many connections were refused so far.
func (l *Listener) Refused() int64 { return l.refused.Load() }

// clientOf returns the key a connection counts under: its address, or for
// IPv6 its /64 (what one household or device usually has); and whether it
// counts per client at all.
func (l *Listener) clientOf(addr net.Addr) (netip.Prefix, bool) {
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return netip.Prefix{}, false
	}
	a := ap.Addr().Unmap()
	for _, p := range l.lim.Exempt {
		if p.Contains(a) {
			return netip.Prefix{}, false
		}
	}
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p, true
}

func (l *Listener) take(client netip.Prefix, counted bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lim.Total > 0 && l.total >= l.lim.Total {
		return false
	}
	if counted && l.lim.PerClient > 0 && l.clients[client] >= l.lim.PerClient {
		return false
	}
	l.total++
	if counted {
		l.clients[client]++
	}
	return true
}

func (l *Listener) release(client netip.Prefix, counted bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if !counted {
		return
	}
	if l.clients[client]--; l.clients[client] <= 0 {
		delete(l.clients, client)
	}
}

// conn gives its place back when it is closed, once.
type conn struct {
	net.Conn
	l       *Listener
	client  netip.Prefix
	counted bool
	once    sync.Once
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.client, c.counted) })
	return err
}
