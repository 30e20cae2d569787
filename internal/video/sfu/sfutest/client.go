// Package sfutest is a browser stand-in for tests of the video
// consultation: a pion peer connection that speaks the sfu package's
// signalling, publishes synthetic audio and video and checks what it
// receives. The sfu package's own tests use it over loopback UDP, and tests
// of the layers above it can use it over a real websocket.
//
// Every packet a Client publishes carries a payload that names its sender
// and its position (see Payload), so a receiver can tell which participant
// a packet came from and whether a single byte of it changed on the way.
package sfutest

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/logging"
	"github.com/pion/transport/v5"
	"github.com/pion/webrtc/v4"

	"github.com/gesundheitsamt/portal/internal/video/sfu"
)

// Options says what a Client publishes and how it connects.
type Options struct {
	// Name is written into every payload the client publishes; receivers
	// report it per track (TrackStats.From). At most 255 bytes.
	Name string
	// Audio and Video publish an Opus and a VP8 track.
	Audio, Video bool
	// Interval is the time between two video packets (audio: twice as
	// long); 0 means 10 ms. A negative Interval sends nothing by itself:
	// the test calls WriteVideo.
	Interval time.Duration
	// VideoSize is the payload size of video packets, 0 means 1000 bytes;
	// audio payloads are 100 bytes.
	VideoSize int
	// FollowREMB makes the video follow the server's REMB cap, as a
	// browser's encoder does: packets shrink so that the video's bitrate
	// stays under the last REMB's (down to 64-byte payloads).
	FollowREMB bool
	// Net replaces the operating system's network (a pion vnet); nil means
	// real UDP on loopback.
	Net transport.Net
	// TCP connects over ICE-TCP only, on loopback (the SFU needs a
	// Config.TCPPort).
	TCP bool
	// ICEServers are the STUN and TURN servers of the peer connection,
	// as the portal hands them to a browser; RelayOnly restricts it to
	// relayed candidates (ICETransportPolicy "relay"), so that media
	// flows through TURN or not at all.
	ICEServers []webrtc.ICEServer
	RelayOnly  bool
}

// TrackStats is what a Client received on one remote track.
type TrackStats struct {
	TrackID  string
	StreamID string
	Kind     string // "audio" or "video"
	From     string // the sender's Options.Name, from the payloads
	Packets  int    // packets read, retransmissions included
	Distinct int    // different packets read
	Corrupt  int    // packets whose payload was not what the sender wrote
	First    uint32 // the lowest packet number seen
	Last     uint32 // the highest packet number seen
	Ended    bool   // the track's reading ended
}

// Client is one test participant. Create it with New, pass it to Room.Join
// as the Signaler (or feed it the server's messages with Handle), and Close
// it at the end.
type Client struct {
	opt  Options
	send func(sfu.Message) error
	pc   *webrtc.PeerConnection

	audio, video *webrtc.TrackLocalStaticRTP
	sendMu       sync.Mutex // serialises writes per client, and seq
	seq          map[string]uint16
	buf          map[string][]byte // the payload being written, reused
	count        map[string]uint32

	inbox chan sfu.Message
	done  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once

	mu        sync.Mutex
	holding   bool
	held      []sfu.Message
	peers     []sfu.PeerInfo
	tracks    map[string]*trackState
	plis      int
	remb      float32
	quality   []string
	offers    int
	lastOffer string
	errs      []error
}

type trackState struct {
	TrackStats
	seen map[uint32]bool
}

// New creates a client that sends its messages to the server with send
// (Peer.Handle, or a websocket write). It fails when pion cannot create
// the peer connection.
func New(send func(sfu.Message) error, opt Options) (*Client, error) {
	if opt.Interval == 0 {
		opt.Interval = 10 * time.Millisecond
	}
	if opt.VideoSize == 0 {
		opt.VideoSize = 1000
	}
	if len(opt.Name) > 255 {
		return nil, errors.New("sfutest: name too long")
	}
	api, err := newAPI(opt.Net, opt.TCP)
	if err != nil {
		return nil, err
	}
	conf := webrtc.Configuration{ICEServers: opt.ICEServers}
	if opt.RelayOnly {
		conf.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	pc, err := api.NewPeerConnection(conf)
	if err != nil {
		return nil, err
	}
	c := &Client{
		opt:    opt,
		send:   send,
		pc:     pc,
		seq:    map[string]uint16{},
		buf:    map[string][]byte{},
		count:  map[string]uint32{},
		inbox:  make(chan sfu.Message, 1024),
		done:   make(chan struct{}),
		tracks: map[string]*trackState{},
	}
	if opt.Audio {
		if c.audio, err = c.addTrack(webrtc.MimeTypeOpus, "audio"); err != nil {
			_ = pc.Close()
			return nil, err
		}
	}
	if opt.Video {
		if c.video, err = c.addTrack(webrtc.MimeTypeVP8, "video"); err != nil {
			_ = pc.Close()
			return nil, err
		}
	}
	pc.OnICECandidate(c.onCandidate)
	pc.OnTrack(c.onTrack)
	c.wg.Add(1)
	go c.loop()
	if opt.Interval > 0 {
		if c.audio != nil {
			c.wg.Add(1)
			go c.pump(c.audio, "audio", 2*opt.Interval, 100)
		}
		if c.video != nil {
			c.wg.Add(1)
			go c.pump(c.video, "video", opt.Interval, opt.VideoSize)
		}
	}
	return c, nil
}

func newAPI(nw transport.Net, tcp bool) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2},
		PayloadType:        111,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000},
		PayloadType:        96,
	}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, err
	}
	quiet := logging.NewDefaultLoggerFactory()
	quiet.DefaultLogLevel = logging.LogLevelDisabled
	r := &interceptor.Registry{}
	err := webrtc.ConfigureNackWithOptions(m, r,
		[]nack.GeneratorOption{nack.WithGeneratorLoggerFactory(quiet)},
		nack.WithResponderLoggerFactory(quiet))
	if err != nil {
		return nil, err
	}
	err = webrtc.ConfigureRTCPReportsWithOptions(r,
		[]report.ReceiverOption{report.WithReceiverLoggerFactory(quiet)},
		report.WithSenderLoggerFactory(quiet))
	if err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureTWCCSenderWithOptions(m, r, twcc.WithLoggerFactory(quiet)); err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{LoggerFactory: quiet}
	if tcp {
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeTCP4})
	} else {
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if nw != nil {
		se.SetNet(nw)
	} else {
		se.SetIncludeLoopbackCandidate(true)
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(r), webrtc.WithSettingEngine(se)), nil
}

func (c *Client) addTrack(mime, kind string) (*webrtc.TrackLocalStaticRTP, error) {
	t, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: mime}, kind, "client")
	if err != nil {
		return nil, err
	}
	sender, err := c.pc.AddTrack(t)
	if err != nil {
		return nil, err
	}
	c.wg.Add(1)
	go c.readRTCP(sender)
	return t, nil
}

// Join creates a client and joins it to room as id; the client's messages
// go to the returned peer's Handle.
func Join(room *sfu.Room, id string, info sfu.PeerInfo, opt Options) (*Client, *sfu.Peer, error) {
	ready := make(chan struct{})
	var peer *sfu.Peer
	c, err := New(func(m sfu.Message) error {
		<-ready
		if peer == nil {
			return sfu.ErrClosed
		}
		return peer.Handle(m)
	}, opt)
	if err != nil {
		return nil, nil, err
	}
	peer, err = room.Join(id, info, c)
	close(ready)
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	return c, peer, nil
}

// Signal implements sfu.Signaler: it queues m for the client to handle.
func (c *Client) Signal(m sfu.Message) error {
	c.Handle(m)
	return nil
}

// Handle queues one message from the server; the client processes them in
// order in its own goroutine.
func (c *Client) Handle(m sfu.Message) {
	select {
	case c.inbox <- m:
	case <-c.done:
	}
}

func (c *Client) loop() {
	defer c.wg.Done()
	for {
		select {
		case <-c.done:
			return
		case m := <-c.inbox:
			if err := c.process(m); err != nil {
				c.fail(fmt.Errorf("sfutest %s: %s: %w", c.opt.Name, m.Type, err))
			}
		}
	}
}

func (c *Client) process(m sfu.Message) error {
	switch m.Type {
	case sfu.TypePeers:
		c.mu.Lock()
		c.peers = m.Peers
		c.mu.Unlock()
		return nil
	case sfu.TypeQuality:
		c.mu.Lock()
		c.quality = append(c.quality, m.Video)
		c.mu.Unlock()
		return nil
	case sfu.TypeCandidate:
		if m.Candidate == nil {
			return errors.New("no candidate")
		}
		return c.pc.AddICECandidate(*m.Candidate)
	case sfu.TypeOffer:
		// An offer that restarts ICE makes pion gather from
		// SetRemoteDescription on: hold candidates until the answer is out,
		// as a browser's event loop does.
		c.mu.Lock()
		c.holding = true
		c.offers++
		c.lastOffer = m.SDP
		c.mu.Unlock()
		err := c.answer(m.SDP)
		c.mu.Lock()
		held := c.held
		c.held, c.holding = nil, false
		c.mu.Unlock()
		if err != nil {
			return err
		}
		for _, h := range held {
			c.sendOrFail(h)
		}
		return nil
	default:
		return fmt.Errorf("unexpected message type %q", m.Type)
	}
}

func (c *Client) answer(sdp string) error {
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return err
	}
	answer, err := c.pc.CreateAnswer(nil)
	if err != nil {
		return err
	}
	if err := c.pc.SetLocalDescription(answer); err != nil {
		return err
	}
	return c.send(sfu.Message{Type: sfu.TypeAnswer, SDP: answer.SDP})
}

func (c *Client) onCandidate(cand *webrtc.ICECandidate) {
	if cand == nil {
		return
	}
	init := cand.ToJSON()
	m := sfu.Message{Type: sfu.TypeCandidate, Candidate: &init}
	c.mu.Lock()
	if c.holding {
		c.held = append(c.held, m)
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.sendOrFail(m)
}

func (c *Client) sendOrFail(m sfu.Message) {
	if err := c.send(m); err != nil {
		c.fail(fmt.Errorf("sfutest %s: send %s: %w", c.opt.Name, m.Type, err))
	}
}

func (c *Client) fail(err error) {
	select {
	case <-c.done:
		return // errors while closing are expected
	default:
	}
	if c.pc.ConnectionState() == webrtc.PeerConnectionStateClosed {
		return // the server ended the connection (DTLS close_notify)
	}
	c.mu.Lock()
	c.errs = append(c.errs, err)
	c.mu.Unlock()
}

// Send sends m to the server as the browser would, e.g. a restart.
func (c *Client) Send(m sfu.Message) error { return c.send(m) }

// Close ends the client's connection and goroutines. It is idempotent.
func (c *Client) Close() {
	c.once.Do(func() {
		c.mu.Lock()
		close(c.done)
		c.mu.Unlock()
		_ = c.pc.Close()
		c.wg.Wait()
	})
}
