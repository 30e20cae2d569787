package turn

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

// rawClient speaks TURN over UDP message by message, for what pion's
// client will not send: a XOR-PEER-ADDRESS of the IPv6 family holding an
// IPv4-mapped address, a ChannelBind without a prior permission, a Refresh
// after the credentials expired, a foreign realm.
type rawClient struct {
	t        testing.TB
	conn     net.PacketConn
	server   net.Addr
	username string
	password string
	realm    string // as learnt from the server's 401, unless set
	nonce    string
}

func newRawClient(t testing.TB, s *testServer, username, password string) *rawClient {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	udp, _, _ := s.Addrs()
	server, err := net.ResolveUDPAddr("udp4", udp)
	if err != nil {
		t.Fatal(err)
	}
	return &rawClient{t: t, conn: conn, server: server, username: username, password: password}
}

// errorCode returns the STUN error code of res, or 0 for a success.
func errorCode(res *stun.Message) stun.ErrorCode {
	if res.Type.Class != stun.ClassErrorResponse {
		return 0
	}
	var code stun.ErrorCodeAttribute
	if err := code.GetFrom(res); err != nil {
		return -1
	}
	return code.Code
}

// request sends an authenticated request of method with attrs, first
// fetching a nonce (and the realm) with an unauthenticated one, and returns
// the response.
func (c *rawClient) request(method stun.Method, attrs ...stun.Setter) *stun.Message {
	c.t.Helper()
	if c.nonce == "" {
		res := c.exchange(append([]stun.Setter{stun.TransactionID, stun.NewType(method, stun.ClassRequest)}, attrs...)...)
		var nonce stun.Nonce
		var realm stun.Realm
		if errorCode(res) != stun.CodeUnauthorized || nonce.GetFrom(res) != nil || realm.GetFrom(res) != nil {
			c.t.Fatalf("unauthenticated %v: got %v, want 401 with nonce and realm", method, res)
		}
		c.nonce = nonce.String()
		if c.realm == "" {
			c.realm = realm.String()
		}
	}
	setters := append([]stun.Setter{stun.TransactionID, stun.NewType(method, stun.ClassRequest)}, attrs...)
	setters = append(setters,
		stun.NewUsername(c.username), stun.NewRealm(c.realm), stun.NewNonce(c.nonce),
		stun.NewLongTermIntegrity(c.username, c.realm, c.password), stun.Fingerprint)
	return c.exchange(setters...)
}

// exchange sends one request and returns the response with its
// transaction id, skipping anything else (Data indications).
func (c *rawClient) exchange(setters ...stun.Setter) *stun.Message {
	c.t.Helper()
	req, err := stun.Build(setters...)
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.conn.WriteTo(req.Raw, c.server); err != nil {
		c.t.Fatal(err)
	}
	buf := make([]byte, 2048)
	_ = c.conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	for {
		n, _, err := c.conn.ReadFrom(buf)
		if err != nil {
			c.t.Fatalf("%v: no response: %v", req.Type, err)
		}
		res := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if res.Decode() == nil && res.TransactionID == req.TransactionID {
			return res
		}
	}
}

// send sends an indication, which has no response.
func (c *rawClient) send(setters ...stun.Setter) {
	c.t.Helper()
	m, err := stun.Build(append([]stun.Setter{stun.TransactionID}, setters...)...)
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.conn.WriteTo(m.Raw, c.server); err != nil {
		c.t.Fatal(err)
	}
}

// allocate makes a UDP allocation and fails the test unless it succeeds.
func (c *rawClient) allocate() {
	c.t.Helper()
	if res := c.request(stun.MethodAllocate, requestedUDP{}); errorCode(res) != 0 {
		c.t.Fatalf("Allocate: %v", errorOf(res))
	}
}

// errorOf describes res's error code for test failures.
func errorOf(res *stun.Message) error {
	var code stun.ErrorCodeAttribute
	if err := code.GetFrom(res); err != nil {
		return fmt.Errorf("%v", res.Type)
	}
	return errors.New(code.String())
}

// requestedUDP is REQUESTED-TRANSPORT UDP (pion's attribute type is internal).
type requestedUDP struct{}

func (requestedUDP) AddTo(m *stun.Message) error {
	m.Add(stun.AttrRequestedTransport, []byte{17, 0, 0, 0})
	return nil
}

// peerAddress is a XOR-PEER-ADDRESS written byte by byte: family IPv6
// when v6 is set, whatever ip holds (stun's own encoder writes every
// address with a 4-byte form as IPv4, so it cannot send ::ffff:127.0.0.1
// as the IPv6 address it is).
type peerAddress struct {
	ip   net.IP
	port int
	v6   bool
}

func (p peerAddress) AddTo(m *stun.Message) error {
	var key [16]byte
	binary.BigEndian.PutUint32(key[:4], magicCookie)
	copy(key[4:], m.TransactionID[:])
	ip, family := p.ip.To4(), byte(1)
	if p.v6 {
		ip, family = p.ip.To16(), 2
	}
	v := make([]byte, 4+len(ip))
	v[1] = family
	binary.BigEndian.PutUint16(v[2:], uint16(p.port)^uint16(magicCookie>>16))
	for i := range ip {
		v[4+i] = ip[i] ^ key[i]
	}
	m.Add(stun.AttrXORPeerAddress, v)
	return nil
}

// magicCookie is STUN's fixed cookie (RFC 5389), unexported in pion/stun.
const magicCookie = 0x2112A442

// channelNumber is CHANNEL-NUMBER n.
type channelNumber uint16

func (n channelNumber) AddTo(m *stun.Message) error {
	v := make([]byte, 4)
	binary.BigEndian.PutUint16(v, uint16(n))
	m.Add(stun.AttrChannelNumber, v)
	return nil
}

// data is a DATA attribute.
type data []byte

func (d data) AddTo(m *stun.Message) error {
	m.Add(stun.AttrData, d)
	return nil
}
