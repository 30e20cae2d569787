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
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/logging"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
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
	// Net replaces the operating system's network (a pion vnet); nil means
	// real UDP on loopback.
	Net transport.Net
	// TCP connects over ICE-TCP only, on loopback (the SFU needs a
	// Config.TCPPort).
	TCP bool
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

	mu      sync.Mutex
	holding bool
	held    []sfu.Message
	peers   []sfu.PeerInfo
	tracks  map[string]*trackState
	plis    int
	remb    float32
	offers  int
	errs    []error
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
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
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

// pump writes one packet of kind every interval until the client closes.
func (c *Client) pump(t *webrtc.TrackLocalStaticRTP, kind string, interval time.Duration, size int) {
	defer c.wg.Done()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-tick.C:
			_ = c.write(t, kind, size)
		}
	}
}

// WriteVideo writes one video packet with a payload of size bytes now.
func (c *Client) WriteVideo(size int) error {
	if c.video == nil {
		return errors.New("sfutest: client publishes no video")
	}
	return c.write(c.video, "video", size)
}

func (c *Client) write(t *webrtc.TrackLocalStaticRTP, kind string, size int) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	n := c.count[kind]
	c.count[kind] = n + 1
	c.seq[kind]++
	c.buf[kind] = appendPayload(c.buf[kind], c.opt.Name, n, size)
	clock := uint32(48)
	if kind == "video" {
		clock = 90
	}
	return t.WriteRTP(&rtp.Packet{
		Header: rtp.Header{
			Version:        2,
			Marker:         kind == "audio" || n%4 == 3,
			SequenceNumber: c.seq[kind],
			Timestamp:      n * clock * 10,
		},
		Payload: c.buf[kind],
	})
}

// Sent returns how many packets of kind ("audio", "video") the client has
// written; those written before the connection was up went nowhere.
func (c *Client) Sent(kind string) uint32 {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	return c.count[kind]
}

// Payload returns the payload a client named from writes as its packet
// number n: "SFUT", n (4 bytes), len(from), from, then bytes that depend on
// n and their position, size bytes in all (at least as many as the header).
func Payload(from string, n uint32, size int) []byte {
	return appendPayload(nil, from, n, size)
}

func appendPayload(b []byte, from string, n uint32, size int) []byte {
	b = append(b[:0], "SFUT"...)
	b = binary.BigEndian.AppendUint32(b, n)
	b = append(b, byte(len(from)))
	b = append(b, from...)
	for i := len(b); i < size; i++ {
		b = append(b, fill(n, i))
	}
	return b
}

func fill(n uint32, i int) byte { return byte(n*31 + uint32(i)*7) }

// parsePayload returns the sender and packet number of a payload, and
// whether the payload is exactly what that sender wrote.
func parsePayload(b []byte) (from []byte, n uint32, ok bool) {
	if len(b) < 9 || !bytes.Equal(b[:4], []byte("SFUT")) || len(b) < 9+int(b[8]) {
		return nil, 0, false
	}
	n = binary.BigEndian.Uint32(b[4:])
	from = b[9 : 9+int(b[8])]
	for i := 9 + len(from); i < len(b); i++ {
		if b[i] != fill(n, i) {
			return from, n, false
		}
	}
	return from, n, true
}

func (c *Client) readRTCP(sender *webrtc.RTPSender) {
	defer c.wg.Done()
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		c.mu.Lock()
		for _, p := range pkts {
			switch p := p.(type) {
			case *rtcp.PictureLossIndication:
				c.plis++
			case *rtcp.ReceiverEstimatedMaximumBitrate:
				c.remb = p.Bitrate
			}
		}
		c.mu.Unlock()
	}
}

func (c *Client) onTrack(remote *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	c.mu.Lock()
	select {
	case <-c.done:
		c.mu.Unlock()
		return
	default:
	}
	c.wg.Add(1)
	c.mu.Unlock()
	defer c.wg.Done()
	st := &trackState{
		TrackStats: TrackStats{TrackID: remote.ID(), StreamID: remote.StreamID(), Kind: remote.Kind().String()},
		seen:       map[uint32]bool{},
	}
	c.mu.Lock()
	c.tracks[remote.ID()] = st
	c.mu.Unlock()
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	for {
		n, _, err := remote.Read(buf)
		if err != nil {
			break
		}
		err = pkt.Unmarshal(buf[:n])
		from, num, ok := parsePayload(pkt.Payload)
		c.mu.Lock()
		st.Packets++
		switch {
		case err != nil || !ok:
			st.Corrupt++
		default:
			if st.From != string(from) {
				st.From = string(from)
			}
			if !st.seen[num] {
				st.seen[num] = true
				st.Distinct++
			}
			if st.Distinct == 1 || num < st.First {
				st.First = num
			}
			st.Last = max(st.Last, num)
		}
		c.mu.Unlock()
	}
	c.mu.Lock()
	st.Ended = true
	c.mu.Unlock()
}

// Tracks returns what the client received, one entry per remote track it
// has seen, ended ones included.
func (c *Client) Tracks() []TrackStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]TrackStats, 0, len(c.tracks))
	for _, t := range c.tracks {
		out = append(out, t.TrackStats)
	}
	return out
}

// Received returns the stats of the live track of kind from the named
// sender, and whether there is one.
func (c *Client) Received(from, kind string) (TrackStats, bool) {
	for _, t := range c.Tracks() {
		if t.From == from && t.Kind == kind && !t.Ended {
			return t, true
		}
	}
	return TrackStats{}, false
}

// Missing returns how many packet numbers between first and last (both
// included) of the named sender's live track of kind never arrived.
func (c *Client) Missing(from, kind string, first, last uint32) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.tracks {
		if t.From == from && t.Kind == kind && !t.Ended {
			missing := 0
			for n := first; n <= last; n++ {
				if !t.seen[n] {
					missing++
				}
			}
			return missing
		}
	}
	return int(last - first + 1)
}

// Peers returns the last peers message's list.
func (c *Client) Peers() []sfu.PeerInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peers
}

// PLIs returns how many picture loss indications the server sent.
func (c *Client) PLIs() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.plis
}

// REMB returns the bitrate of the last REMB message the server sent, 0
// before the first.
func (c *Client) REMB() float32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.remb
}

// Offers returns how many offers the client has answered.
func (c *Client) Offers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offers
}

// Errors returns what went wrong handling the server's messages.
func (c *Client) Errors() []error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]error(nil), c.errs...)
}

// State returns the peer connection's state.
func (c *Client) State() webrtc.PeerConnectionState { return c.pc.ConnectionState() }

// RemoteUfrag returns the ICE username fragment of the server's current
// description, which an ICE restart changes.
func (c *Client) RemoteUfrag() string {
	d := c.pc.CurrentRemoteDescription()
	if d == nil {
		return ""
	}
	for _, line := range strings.Split(d.SDP, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "a=ice-ufrag:"); ok {
			return v
		}
	}
	return ""
}

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
