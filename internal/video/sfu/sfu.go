package sfu

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/webrtc/v4"

	"github.com/gesundheitsamt/portal/internal/video/pionlog"
)

// Config says how the SFU's peer connections reach browsers. The zero value
// is usable: media on one ephemeral UDP port on every non-loopback
// interface, no ICE-TCP, no bitrate cap.
type Config struct {
	// UDPPort is the one UDP port all media of all calls share (ICE UDP
	// mux), bound on every interface address. 0 picks a free port at New;
	// UDPAddr reports it.
	UDPPort int
	// TCPPort is the port of passive ICE-TCP candidates, for browsers whose
	// network blocks UDP but allows this TCP port. 0 means no ICE-TCP (TURN
	// over TLS is the usual way out of such networks).
	TCPPort int
	// PublicIPs replace the interface addresses in the server's host
	// candidates, for a server behind 1:1 NAT (a cloud VM's public IP).
	PublicIPs []string
	// Loopback includes loopback addresses in the server's candidates: for
	// tests and development on one machine, never in production.
	Loopback bool
	// MaxBitrate, in bits per second, caps the video each publisher sends,
	// in the REMB messages the server sends it every second (see adapt.go).
	// 0 means DefaultMaxBitrate.
	MaxBitrate int
	// MaxPeers is the most participants in one room; 0 means
	// DefaultMaxPeers.
	MaxPeers int
	// Net replaces the operating system's network, for tests that put the
	// SFU on a pion/transport vnet with loss. nil means the real network.
	// ICE-TCP needs the real network.
	Net transport.Net

	// pauses are the lengths of video pauses (adapt.go); zero means
	// defaultPauses. Tests shorten them through export_test.go.
	pauses pauses
}

// SFU forwards the media of every room it holds. It is built once per
// process by the video service's wiring, safe for concurrent use, and
// closed at shutdown.
type SFU struct {
	cfg     Config
	log     *slog.Logger
	api     *webrtc.API
	udp     ice.UDPMux
	udpPort int
	tcp     ice.TCPMux
	tcpAddr net.Addr

	// newPC serialises the creation of peer connections, so that the
	// estimator and the outbound interceptor made for the next one land in
	// nextBWE and nextOut.
	newPC   sync.Mutex
	bwe     *cc.InterceptorFactory
	nextBWE cc.BandwidthEstimator
	nextOut *outbound
	// attrs pools the interceptor attributes of packets in flight (see
	// inbound).
	attrs *outboundFactory

	mu     sync.Mutex
	rooms  map[string]*Room
	closed bool
}

// New opens the SFU's media ports and returns it ready for rooms. log may be
// nil (nothing is logged). It fails when a port cannot be bound or the
// configuration is inconsistent (ICE-TCP with a replaced Net, a malformed
// public IP).
func New(cfg Config, log *slog.Logger) (*SFU, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxPeers <= 0 {
		cfg.MaxPeers = DefaultMaxPeers
	}
	if cfg.MaxBitrate <= 0 {
		cfg.MaxBitrate = DefaultMaxBitrate
	}
	if cfg.pauses == (pauses{}) {
		cfg.pauses = defaultPauses()
	}
	if cfg.TCPPort != 0 && cfg.Net != nil {
		return nil, errors.New("sfu: ICE-TCP needs the real network, not Config.Net")
	}
	nw := cfg.Net
	if nw == nil {
		var err error
		if nw, err = stdnet.NewNet(); err != nil {
			return nil, fmt.Errorf("sfu: network: %w", err)
		}
	}
	logs := pionlog.Factory{Log: log, Errors: true}
	s := &SFU{cfg: cfg, log: log, rooms: map[string]*Room{}}

	var err error
	s.udp, s.udpPort, err = listenUDP(nw, cfg, logs)
	if err != nil {
		return nil, err
	}
	if cfg.TCPPort != 0 {
		ln, err := net.ListenTCP("tcp", &net.TCPAddr{Port: cfg.TCPPort})
		if err != nil {
			_ = s.udp.Close()
			return nil, fmt.Errorf("sfu: listen tcp: %w", err)
		}
		s.tcpAddr = ln.Addr()
		s.tcp = webrtc.NewICETCPMux(logs.NewLogger("ice-tcp"), ln, 8)
	}
	s.bwe, err = newEstimators(cfg)
	if err != nil {
		s.closeMuxes()
		return nil, fmt.Errorf("sfu: %w", err)
	}
	s.bwe.OnNewPeerConnection(func(_ string, e cc.BandwidthEstimator) { s.nextBWE = e })
	out := newOutboundFactory()
	out.created = func(o *outbound) { s.nextOut = o }
	s.attrs = out
	s.api, err = newAPI(cfg, s.udp, s.tcp, s.bwe, out, logs)
	if err != nil {
		s.closeMuxes()
		return nil, fmt.Errorf("sfu: %w", err)
	}
	return s, nil
}

// listenUDP binds port on every interface address of nw (loopback too when
// cfg.Loopback). Port 0 means one free port, the same on every address: one
// is picked on the unspecified address and then bound everywhere, and picked
// anew when another process took it in between.
func listenUDP(nw transport.Net, cfg Config, logs pionlog.Factory) (ice.UDPMux, int, error) {
	opts := []ice.UDPMuxFromPortOption{
		ice.UDPMuxFromPortWithNet(nw),
		ice.UDPMuxFromPortWithLogger(logs.NewLogger("ice-udp")),
		ice.UDPMuxFromPortWithReadBufferSize(4 << 20),
		ice.UDPMuxFromPortWithWriteBufferSize(4 << 20),
	}
	if cfg.Loopback {
		opts = append(opts, ice.UDPMuxFromPortWithLoopback())
	}
	if cfg.UDPPort != 0 {
		mux, err := ice.NewMultiUDPMuxFromPort(cfg.UDPPort, opts...)
		if err != nil {
			return nil, 0, fmt.Errorf("sfu: listen udp %d: %w", cfg.UDPPort, err)
		}
		return mux, cfg.UDPPort, nil
	}
	var err error
	for range udpPortTries {
		var probe net.PacketConn
		probe, err = nw.ListenUDP("udp4", &net.UDPAddr{})
		if err != nil {
			return nil, 0, fmt.Errorf("sfu: listen udp: %w", err)
		}
		port := probe.LocalAddr().(*net.UDPAddr).Port
		_ = probe.Close()
		var mux *ice.MultiUDPMuxDefault
		if mux, err = ice.NewMultiUDPMuxFromPort(port, opts...); err == nil {
			return mux, port, nil
		}
	}
	return nil, 0, fmt.Errorf("sfu: listen udp: %w", err)
}

// UDPAddr returns the port all UDP media use, with an unspecified IP: the
// port is bound on every interface address. The caller (the wiring) logs it
// or opens it in a firewall.
func (s *SFU) UDPAddr() *net.UDPAddr { return &net.UDPAddr{Port: s.udpPort} }

// TCPAddr returns the ICE-TCP listener's address, or nil without ICE-TCP.
func (s *SFU) TCPAddr() net.Addr { return s.tcpAddr }

// Room returns the room with this id, creating it when nobody is in it.
// A room exists in the SFU from its first Join to its last peer's Close, so
// an unused Room value costs nothing; Room never fails. The video service
// calls it with its own room id (any string; it is not sent to browsers).
func (s *SFU) Room(id string) *Room {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.rooms[id]; r != nil {
		return r
	}
	return &Room{s: s, id: id}
}

// echoPrefix keys echo rooms apart from the rooms of Room, whose ids
// the video service makes from numbers.
const echoPrefix = "echo\x00"

// Echo returns the echo room of participant id: one peer, who receives
// back what they publish, through the same ports, interceptors and
// forwarding as a call, so that the browser can measure its connection
// (round-trip time, loss, bitrate, whether it needed TURN) before a call.
// Join it like a Room; a second Join while someone is in it fails with
// ErrRoomFull.
func (s *SFU) Echo(id string) *Room {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.rooms[echoPrefix+id]; r != nil {
		return r
	}
	return &Room{s: s, id: echoPrefix + id, echo: true}
}

// Close ends every call (every peer is closed as by Peer.Close) and releases
// the media ports. It is idempotent; later Joins fail with ErrClosed. It
// returns the error of closing the ports, if any.
func (s *SFU) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	rooms := s.rooms
	s.rooms = map[string]*Room{}
	s.mu.Unlock()
	for _, r := range rooms {
		for _, p := range r.snapshot() {
			p.Close()
		}
	}
	return s.closeMuxes()
}

func (s *SFU) closeMuxes() error {
	var errs []error
	if s.tcp != nil {
		errs = append(errs, s.tcp.Close())
	}
	errs = append(errs, s.udp.Close())
	return errors.Join(errs...)
}

// drop removes r from the SFU if nobody joined it again since it emptied.
func (s *SFU) drop(r *Room) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.peers) == 0 && s.rooms[r.id] == r {
		delete(s.rooms, r.id)
	}
}

// roomCount returns how many rooms are open, for tests.
func (s *SFU) roomCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.rooms)
}
