package connlimit

import (
	"bufio"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"
)

// serve accepts on a Listener under lim and keeps every connection open
// until the test ends; it returns the listener and its address.
func serve(t *testing.T, lim Limits) (*Listener, string) {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Wrap(raw, lim)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { // hold it until the client goes
				_, _ = c.Read(make([]byte, 1))
				c.Close()
			}()
		}
	}()
	return l, raw.Addr().String()
}

// dial connects from the loopback address from (127.0.0.0/8 is all
// local) and reports whether the connection was refused with a 503.
func dial(t *testing.T, from, addr string) (net.Conn, bool) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err == nil {
		return c, res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == ""
	}
	_ = c.SetReadDeadline(time.Time{})
	return c, true // nothing to read: accepted and waiting for a request
}

func waitOpen(t *testing.T, l *Listener, want int) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); l.Open() != want; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections open, want %d", l.Open(), want)
		}
	}
}

func TestLimitsPerClientAndInAll(t *testing.T) {
	l, addr := serve(t, Limits{Total: 6, PerClient: 3, Exempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.9/32")}, Refusal: "Zu viele. / Too many."})
	var held []net.Conn
	for i := 0; i < 3; i++ {
		c, ok := dial(t, "127.0.0.2", addr)
		if !ok {
			t.Fatalf("connection %d of a client refused", i+1)
		}
		held = append(held, c)
	}
	if _, ok := dial(t, "127.0.0.2", addr); ok {
		t.Error("a client's fourth connection was accepted")
	}
	if _, ok := dial(t, "127.0.0.3", addr); !ok {
		t.Error("another client was refused")
	}
	// A proxy counts only towards the total: 4 and 5 of 6.
	for i := 0; i < 2; i++ {
		if _, ok := dial(t, "127.0.0.9", addr); !ok {
			t.Fatalf("exempt connection %d refused", i+1)
		}
	}
	waitOpen(t, l, 6)
	if _, ok := dial(t, "127.0.0.4", addr); ok {
		t.Error("a connection over the total was accepted")
	}
	if l.Refused() != 2 {
		t.Errorf("%d refused, want 2", l.Refused())
	}
	// A closed connection gives its place back.
	held[0].Close()
	waitOpen(t, l, 5)
	if _, ok := dial(t, "127.0.0.2", addr); !ok {
		t.Error("the client's place was not given back")
	}
}

func TestIPv6CountsPerPrefix(t *testing.T) {
	l := Wrap(nil, Limits{PerClient: 1})
	a, _ := l.clientOf(&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2::1"), Port: 1})
	b, _ := l.clientOf(&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:ffff::9"), Port: 2})
	c, _ := l.clientOf(&net.TCPAddr{IP: net.ParseIP("2001:db8:1:3::1"), Port: 3})
	d, _ := l.clientOf(&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.7"), Port: 4})
	if a != b || a == c || d.String() != "192.0.2.7/32" {
		t.Errorf("keys %v %v %v %v", a, b, c, d)
	}
}
