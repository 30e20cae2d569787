package turn

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"runtime/pprof"
	"strings"
	"testing"
	"time"
)

// serverGoroutines returns the stacks of the goroutines pion/turn's server
// and this package's sockets run, one per paragraph.
func serverGoroutines() []string {
	var buf bytes.Buffer
	_ = pprof.Lookup("goroutine").WriteTo(&buf, 2)
	var found []string
	for _, g := range strings.Split(buf.String(), "\n\n") {
		for _, marker := range []string{
			"github.com/pion/turn/v5.(*Server)",
			"github.com/pion/turn/v5.NewServer",
			"github.com/pion/turn/v5/internal/allocation.",
			"github.com/pion/turn/v5/internal/server.",
			"internal/video/turn.(*tracked",
			"internal/video/turn.(*relayConn)",
		} {
			if strings.Contains(g, marker) {
				found = append(found, g)
				break
			}
		}
	}
	return found
}

// TestCloseEndsGoroutines leaves clients of every kind connected, some
// mid-handshake or silent, and checks that when Close returns no goroutine
// of the server is left, though the clients are still there.
func TestCloseEndsGoroutines(t *testing.T) {
	if err := eventually(time.Second, func() error {
		if g := serverGoroutines(); len(g) != 0 {
			return fmt.Errorf("server goroutines before the test:\n%s", strings.Join(g, "\n\n"))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	cert, pool := newCert(t)
	s, err := New(Config{
		Secret: testSecret, ListenIP: "127.0.0.1", TCPPort: AnyPort,
		TLS: &tls.Config{Certificates: []tls.Certificate{cert}}, AllowLoopback: true,
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: s, pool: pool}
	peer := newEchoPeer(t)
	for _, transport := range []string{"udp", "tcp", "tls"} {
		relay, err := freshClient(t, ts, transport, "patient-"+transport).Allocate()
		if err != nil {
			t.Fatalf("Allocate over %s: %v", transport, err)
		}
		if err := roundTrip(relay, peer.addr(), []byte("hello"), 2*time.Second); err != nil {
			t.Fatalf("round trip over %s: %v", transport, err)
		}
	}
	_, tcp, tlsAddr := s.Addrs()
	for _, addr := range []string{tcp, tlsAddr} { // connected, never a byte sent
		c, err := net.Dial("tcp4", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	if err := eventually(2*time.Second, func() error {
		if n := len(serverGoroutines()); n < 8 {
			return fmt.Errorf("%d server goroutines", n)
		}
		return nil
	}); err != nil {
		t.Fatalf("the server is not running what the test means to stop: %v", err)
	}

	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// What runs after a loop's last read (pion deleting the allocation)
	// may take a moment more.
	if err := eventually(time.Second, func() error {
		if g := serverGoroutines(); len(g) != 0 {
			return fmt.Errorf("%d server goroutines after Close:\n%s", len(g), strings.Join(g, "\n\n"))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
}

// TestLogHoldsNoCredentialsOrAddresses runs allocations, refusals and a
// used-up quota and checks that the log at info level names neither
// credentials nor the addresses of clients and peers.
func TestLogHoldsNoCredentialsOrAddresses(t *testing.T) {
	s := newServer(t, func(c *Config) { c.QuotaBytes = 4 << 10; c.MaxAllocationsPerUser = 1 })
	peer := newEchoPeer(t)
	username, password := Credentials(testSecret, "patient", time.Hour, time.Now())
	client := newClient(t, s, "udp", username, password)
	relay, err := client.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	_ = client.CreatePermission(&net.UDPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 9})
	_, _ = freshClient(t, s, "tcp", "patient").Allocate() // over the limit
	_, _ = newClient(t, s, "udp", username, "wrong").Allocate()
	for range 5 { // past the quota
		_ = roundTrip(relay, peer.addr(), bytes.Repeat([]byte("x"), 1000), 200*time.Millisecond)
	}

	log := s.log.String()
	for _, want := range []string{"relay quota used up", "allocation refused, limit reached"} {
		if !strings.Contains(log, want) {
			t.Errorf("the info log lacks %q:\n%s", want, log)
		}
	}
	mapped, err := client.SendBindingRequest() // the client's address as the server sees it
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{
		password, username, sign(testSecret, username),
		peer.addr().String(), mapped.String(), "10.0.0.1",
		fmt.Sprint(peer.addr().Port), fmt.Sprint(mapped.(*net.UDPAddr).Port),
	} {
		if strings.Contains(log, secret) {
			t.Errorf("the info log contains %q:\n%s", secret, log)
		}
	}
	// The debug log does name them, so the check above can fail.
	if !strings.Contains(s.debug.String(), "10.0.0.1") {
		t.Errorf("the debug log lacks the refused peer; is pion's log wired?")
	}
}
