package turn

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/turn/v5"

	"github.com/gesundheitsamt/portal/internal/testlog"
	"github.com/gesundheitsamt/portal/internal/video/pionlog"
)

var testSecret = []byte("test-secret-of-sixteen-bytes-or-more")

// testServer is a Server on 127.0.0.1 with all three transports, relaying
// to loopback peers, and the log it writes.
type testServer struct {
	*Server
	log   *testlog.Buffer // the lines at info level and above
	debug *testlog.Buffer // all lines, pion's included
	pool  *x509.CertPool  // trusts the TLS listener's certificate
}

// newServer starts a test server with edit applied to its config and
// closes it at the end of the test, failing it if Close reports an error.
func newServer(t testing.TB, edit func(*Config)) *testServer {
	t.Helper()
	cert, pool := newCert(t)
	cfg := Config{
		Secret:        testSecret,
		ListenIP:      "127.0.0.1",
		TCPPort:       AnyPort,
		TLS:           &tls.Config{Certificates: []tls.Certificate{cert}},
		AllowLoopback: true,
	}
	if edit != nil {
		edit(&cfg)
	}
	info, debug := &testlog.Buffer{}, &testlog.Buffer{}
	s, err := New(cfg, slog.New(slog.NewMultiHandler(
		slog.NewTextHandler(info, &slog.HandlerOptions{Level: slog.LevelInfo}),
		slog.NewTextHandler(debug, &slog.HandlerOptions{Level: slog.LevelDebug}),
	)))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &testServer{Server: s, log: info, debug: debug, pool: pool}
}

// newCert returns a self-signed certificate for 127.0.0.1 and a pool
// trusting it.
func newCert(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "turn test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// echoPeer is a UDP peer on 127.0.0.1 that sends every datagram back to
// its sender and counts the bytes it received.
type echoPeer struct {
	conn     *net.UDPConn
	mu       sync.Mutex
	received int
	done     chan struct{}
}

func newEchoPeer(t testing.TB) *echoPeer {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &echoPeer{conn: conn, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		buf := make([]byte, 2048)
		for {
			n, from, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			p.mu.Lock()
			p.received += n
			p.mu.Unlock()
			_, _ = conn.WriteToUDP(buf[:n], from)
		}
	}()
	t.Cleanup(func() {
		_ = conn.Close()
		<-p.done
	})
	return p
}

func (p *echoPeer) addr() *net.UDPAddr { return p.conn.LocalAddr().(*net.UDPAddr) }

func (p *echoPeer) bytes() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.received
}

// newClient returns a pion/turn client that reaches s over transport
// ("udp", "tcp" or "tls") with the given credentials, listening. It is
// closed at the end of the test.
func newClient(t testing.TB, s *testServer, transport, username, password string) *turn.Client {
	t.Helper()
	udp, tcp, tlsAddr := s.Addrs()
	var (
		conn   net.PacketConn
		server = udp
	)
	switch transport {
	case "udp":
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		conn = c
	case "tcp":
		c, err := net.Dial("tcp4", tcp)
		if err != nil {
			t.Fatal(err)
		}
		conn, server = turn.NewSTUNConn(c), tcp
	case "tls":
		c, err := tls.Dial("tcp4", tlsAddr, &tls.Config{RootCAs: s.pool, ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		conn, server = turn.NewSTUNConn(c), tlsAddr
	default:
		t.Fatalf("unknown transport %q", transport)
	}
	client, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: server,
		TURNServerAddr: server,
		Username:       username,
		Password:       password,
		Realm:          DefaultRealm,
		Conn:           conn,
		RTO:            100 * time.Millisecond,
		LoggerFactory:  pionlog.Factory{Log: slog.New(slog.DiscardHandler)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.Close()
		_ = conn.Close()
	})
	return client
}

// freshClient is newClient with fresh credentials for user.
func freshClient(t testing.TB, s *testServer, transport, user string) *turn.Client {
	t.Helper()
	username, password := Credentials(testSecret, user, time.Hour, time.Now())
	return newClient(t, s, transport, username, password)
}

// roundTrip sends payload from relay to peer and waits up to wait for it
// to come back through the relay. Over TCP and TLS the payload must be
// longer than 4 bytes: pion's STUNConn takes a ChannelData frame shorter
// than 9 bytes (1 to 4 bytes of data, padded to 8) for an incomplete one
// and holds it until more bytes arrive. Media packets are never that short.
func roundTrip(relay net.PacketConn, peer net.Addr, payload []byte, wait time.Duration) error {
	if _, err := relay.WriteTo(payload, peer); err != nil {
		return err
	}
	buf := make([]byte, 2048)
	deadline := time.Now().Add(wait)
	for {
		if err := relay.SetReadDeadline(deadline); err != nil {
			return err
		}
		n, from, err := relay.ReadFrom(buf)
		if err != nil {
			return err
		}
		if from.String() == peer.String() && bytes.Equal(buf[:n], payload) {
			return nil
		}
	}
}

// eventually retries check until it returns nil or wait has passed.
func eventually(wait time.Duration, check func() error) error {
	deadline := time.Now().Add(wait)
	for {
		err := check()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var errNotYet = errors.New("not yet")
