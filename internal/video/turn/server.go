package turn

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/pion/turn/v5"

	"github.com/gesundheitsamt/portal/internal/video/pionlog"
)

// Timeouts of the sockets the server owns.
const (
	// closeWait bounds how long Close waits for pion's read loops.
	closeWait = 5 * time.Second
	// tcpFirstRead is how long a TCP or TLS client may take to send its
	// first bytes (a TLS ClientHello, a STUN request).
	tcpFirstRead = 10 * time.Second
	// tcpIdle is how long a TCP or TLS client may then be silent: longer
	// than the refresh interval of a live allocation (browsers keep the
	// default lifetime of 10 minutes and refresh permissions every few).
	tcpIdle = 15 * time.Minute
)

// Server is a running TURN server. Its methods are safe for concurrent use.
type Server struct {
	cfg    settings
	log    *slog.Logger
	policy peerPolicy
	limits *allocLimits
	relays *relays
	track  *tracker

	udp      net.PacketConn
	tcp, tls net.Listener // nil when not configured
	turn     *turn.Server

	closeOnce sync.Once
	closeErr  error
}

// ICEServer is one entry of RTCConfiguration.iceServers, in the JSON form
// browsers take (RTCIceServer), so the websocket layer can send it as is.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// New binds the configured ports and starts serving TURN on them. The
// video wiring calls it once at start and Close at shutdown. log receives
// the server's own lines (info: limits reached, quotas used up; debug:
// pion/turn's lines and refusals); nil discards them.
//
// It returns an error of kind fault.Invalid for a Config that validate
// refuses, and an internal error (wrapping the net error) when a port
// cannot be bound.
func New(cfg Config, log *slog.Logger) (*Server, error) {
	c, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:    c,
		log:    log,
		policy: newPeerPolicy(c.Config),
		limits: &allocLimits{maxTotal: c.MaxAllocations, maxPerUser: c.MaxAllocationsPerUser, perUser: make(map[string]int)},
		track:  newTracker(),
	}
	if err := s.listen(); err != nil {
		s.closeSockets()
		return nil, err
	}
	s.relays = &relays{
		network:  c.udpNet,
		listenIP: c.listenIP,
		announce: c.publicIP,
		portMin:  c.RelayPortMin,
		portMax:  c.RelayPortMax,
		quota:    c.QuotaBytes,
		turnPort: s.turnPorts(),
		limits:   s.limits,
		policy:   s.policy,
		track:    s.track,
		log:      log,
		byAddr:   make(map[netip.AddrPort]*relayConn),
	}

	sc := turn.ServerConfig{
		Realm:         c.Realm,
		LoggerFactory: pionlog.Factory{Log: log},
		AuthHandler:   s.authenticate,
		QuotaHandler:  s.allocationRoom,
		EventHandler: turn.EventHandler{
			OnAllocationCreated: func(_, _ net.Addr, protocol, user, _ string, _ net.Addr, _ int) {
				log.Debug("turn: allocation created", "user", user, "transport", protocol)
			},
			OnAllocationDeleted: func(_, _ net.Addr, protocol, user, _ string) {
				log.Debug("turn: allocation deleted", "user", user, "transport", protocol)
			},
			OnPermissionCreated: func(_, _ net.Addr, _, _, _ string, relayAddr net.Addr, peer net.IP) {
				s.relays.permission(relayAddr, peer, true)
			},
			OnPermissionDeleted: func(_, _ net.Addr, _, _, _ string, relayAddr net.Addr, peer net.IP) {
				s.relays.permission(relayAddr, peer, false)
			},
		},
		PacketConnConfigs: []turn.PacketConnConfig{{
			PacketConn:            s.udp,
			RelayAddressGenerator: s.relays,
			PermissionHandler:     s.permit,
		}},
	}
	for _, ln := range []net.Listener{s.tcp, s.tls} {
		if ln != nil {
			sc.ListenerConfigs = append(sc.ListenerConfigs, turn.ListenerConfig{
				Listener:              ln,
				RelayAddressGenerator: s.relays,
				PermissionHandler:     s.permit,
			})
		}
	}
	s.turn, err = turn.NewServer(sc)
	if err != nil {
		s.closeSockets()
		return nil, fmt.Errorf("turn: start: %w", err)
	}
	udp, tcp, tls := s.Addrs()
	log.Info("turn: serving", "udp", udp, "tcp", tcp, "tls", tls, "relay_ip", c.publicIP.String())
	return s, nil
}

// listen binds the UDP socket and the TCP and TLS listeners.
func (s *Server) listen() error {
	c := s.cfg
	host := c.listenIP.String()
	pc, err := net.ListenPacket(c.udpNet, net.JoinHostPort(host, strconv.Itoa(c.UDPPort))) //nolint:noctx
	if err != nil {
		return fmt.Errorf("turn: listen udp: %w", err)
	}
	s.udp = &trackedPacketConn{PacketConn: pc, l: s.track.loop()}

	tcpListener := func(port int) (*trackedListener, error) {
		ln, err := net.Listen(c.tcpNet, net.JoinHostPort(host, strconv.Itoa(port))) //nolint:noctx
		if err != nil {
			return nil, err
		}
		return &trackedListener{
			Listener:  ln,
			t:         s.track,
			maxConns:  int64(c.MaxAllocations) + 32,
			firstRead: tcpFirstRead,
			idle:      tcpIdle,
		}, nil
	}
	if c.TCPPort != 0 {
		ln, err := tcpListener(max(c.TCPPort, 0))
		if err != nil {
			return fmt.Errorf("turn: listen tcp: %w", err)
		}
		ln.l = s.track.loop() // pion's accept loop
		s.tcp = ln
	}
	if c.TLS != nil {
		ln, err := tcpListener(c.TLSPort)
		if err != nil {
			return fmt.Errorf("turn: listen tls: %w", err)
		}
		tc := c.TLS.Clone()
		tc.MinVersion = max(tc.MinVersion, tls.VersionTLS12)
		s.tls = newTLSListener(ln, tc, s.track)
	}
	return nil
}

// turnPorts are the addresses of the UDP listener a relay must not send
// to: a relay looping back into the server would let one allocation stack
// others on top of it, beyond the limits' view of who asked.
func (s *Server) turnPorts() []netip.AddrPort {
	port := uint16(s.udp.LocalAddr().(*net.UDPAddr).Port)
	ips := []netip.Addr{s.cfg.publicIP, s.cfg.listenIP}
	if s.cfg.listenIP.IsUnspecified() || s.cfg.listenIP.IsLoopback() {
		ips = append(ips, netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback())
	}
	out := make([]netip.AddrPort, len(ips))
	for i, ip := range ips {
		out[i] = netip.AddrPortFrom(ip, port)
	}
	return out
}

func (s *Server) closeSockets() {
	for _, c := range []interface{ Close() error }{s.udp, s.tcp, s.tls} {
		if c != nil {
			_ = c.Close()
		}
	}
}

// Close stops the server: it closes the listening sockets, every client
// connection and every relay, and returns once the read loops on them have
// ended, so that no goroutine of the server outlives it. It returns an
// error when a socket failed to close or a loop did not end within five
// seconds. Calls after the first return the first call's result.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		err := s.turn.Close()
		s.closeErr = errors.Join(err, s.track.closeAll(closeWait))
	})
	return s.closeErr
}

// Addrs returns the bound addresses (host:port) of TURN over UDP, TCP and
// TLS; "" for a transport not configured. Tests and the startup log call
// it; with port 0 or AnyPort it is the only way to learn the port.
func (s *Server) Addrs() (udp, tcp, tls string) {
	udp = s.udp.LocalAddr().String()
	if s.tcp != nil {
		tcp = s.tcp.Addr().String()
	}
	if s.tls != nil {
		tls = s.tls.Addr().String()
	}
	return udp, tcp, tls
}

// ICEServers returns what the websocket layer sends one participant for
// its RTCPeerConnection: one ICEServer with a turn: URL per configured
// transport (turn:host:port?transport=udp, …?transport=tcp,
// turns:host:port?transport=tcp) and fresh credentials for user, valid for
// Config.CredentialTTL. host is the name browsers reach the server by (for
// turns: the name in the TLS certificate); "" uses the public IP. user
// should identify the participant (it keys the per-user allocation limit);
// see Credentials for what the server refuses.
func (s *Server) ICEServers(user, host string) []ICEServer {
	if host == "" {
		host = s.cfg.publicIP.String()
	}
	url := func(scheme string, addr net.Addr, transport string) string {
		_, port, _ := net.SplitHostPort(addr.String())
		return scheme + ":" + net.JoinHostPort(host, port) + "?transport=" + transport
	}
	urls := []string{url("turn", s.udp.LocalAddr(), "udp")}
	if s.tcp != nil {
		urls = append(urls, url("turn", s.tcp.Addr(), "tcp"))
	}
	if s.tls != nil {
		urls = append(urls, url("turns", s.tls.Addr(), "tcp"))
	}
	username, password := Credentials(s.cfg.Secret, user, s.cfg.CredentialTTL, time.Now())
	return []ICEServer{{URLs: urls, Username: username, Credential: password}}
}

// authenticate is pion/turn's AuthHandler, called for every authenticated
// request (Allocate, Refresh, CreatePermission, ChannelBind). It returns
// the key of the long-term credential mechanism for a well-formed,
// unexpired username of our realm, and the <user> part as the user id
// pion reports with the allocation. The password is never compared here:
// pion/stun checks the request's MESSAGE-INTEGRITY against the key with
// hmac.Equal, in constant time. Refusals are logged at debug level, with
// the <user> at most, never the username or anything derived from the
// secret.
func (s *Server) authenticate(ra *turn.RequestAttributes) (user string, key []byte, ok bool) {
	if ra.Realm != s.cfg.Realm {
		s.log.Debug("turn: credentials refused", "reason", "foreign realm")
		return "", nil, false
	}
	expiry, user, err := parseUsername(ra.Username)
	if err != nil {
		s.log.Debug("turn: credentials refused", "reason", err.Error())
		return "", nil, false
	}
	if !time.Now().Before(expiry) {
		s.log.Debug("turn: credentials refused", "reason", "expired", "user", user)
		return "", nil, false
	}
	return user, turn.GenerateAuthKey(ra.Username, ra.Realm, sign(s.cfg.Secret, ra.Username)), true
}

// allocationRoom is pion/turn's QuotaHandler: a user at a limit gets 486
// (Allocation Quota Reached).
func (s *Server) allocationRoom(user, _ string, _ net.Addr) bool {
	if s.limits.room(user) {
		return true
	}
	s.log.Info("turn: allocation refused, limit reached", "user", user,
		"max_total", s.cfg.MaxAllocations, "max_per_user", s.cfg.MaxAllocationsPerUser)
	return false
}

// permit is pion/turn's PermissionHandler for CreatePermission, ChannelBind
// and Connect. pion answers a refusal with 403 (Forbidden) to
// CreatePermission and 401 (Unauthorized) to ChannelBind.
func (s *Server) permit(_ net.Addr, peer net.IP) bool {
	if s.policy.permits(peer) {
		return true
	}
	s.log.Debug("turn: permission refused for a peer outside the allowed networks")
	return false
}
