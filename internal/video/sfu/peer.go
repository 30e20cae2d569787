package sfu

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/webrtc/v4"

	"github.com/gesundheitsamt/portal/internal/fault"
)

// Peer is one participant's connection to the SFU: one PeerConnection that
// carries what the participant publishes and everything forwarded to it.
// Room.Join creates it; the websocket layer feeds it the browser's messages
// with Handle and ends it with Close.
type Peer struct {
	s    *SFU
	info PeerInfo
	log  *slog.Logger
	pc   *webrtc.PeerConnection
	bwe  cc.BandwidthEstimator // estimates what the server may send the browser
	gate *outbound             // drops the packets of paused video
	out  Signaler

	queue     chan Message  // to out, in order, by writeLoop
	done      chan struct{} // closed by Close
	closeOnce sync.Once
	wg        sync.WaitGroup // every goroutine the peer started

	// candMu holds back local candidates while an offer is being made, so
	// that a browser never gets a candidate of a description it has not
	// seen yet.
	candMu  sync.Mutex
	holding bool
	held    []Message

	// mu orders everything done to pc and the negotiation state.
	mu        sync.Mutex
	room      *Room
	closed    bool
	offering  bool // an offer awaits its answer
	again     bool // something changed while offering: offer again once answered
	restart   bool // the next offer restarts ICE
	slots     int  // receiving transceivers offered to the browser
	published int  // tracks received so far, for their ids
	video     []*track
	senders   map[*track]*webrtc.RTPSender
	subs      map[*track]*subscription // of the simulcast tracks in senders
	camera    string                   // the mid of the video slot offered with simulcast
	added     []*track                 // forwarded since the last offer was made
	offered   []*track                 // forwarded in the outstanding offer

	// layerMu orders the arrival of a simulcast track's layers
	// (onLayer); simulcast holds the tracks by their receiver.
	layerMu   sync.Mutex
	simulcast map[*webrtc.RTPReceiver]*track

	// share is the bitrate the server may send this browser per forwarded
	// video track, kept by adaptLoop for the publishers' caps; it is
	// negative while video to the browser is paused.
	share atomic.Int64
	// adapt is adaptLoop's own state; only it touches it.
	adapt adaptState
}

// newPeer creates the peer connection with one receiving slot for audio and
// one for video, and starts the peer's signalling goroutine.
func (s *SFU) newPeer(info PeerInfo, out Signaler) (*Peer, error) {
	s.newPC.Lock()
	s.nextBWE, s.nextOut = nil, nil
	pc, err := s.api.NewPeerConnection(webrtc.Configuration{})
	bwe, gate := s.nextBWE, s.nextOut
	s.newPC.Unlock()
	if err != nil {
		return nil, fmt.Errorf("new peer connection: %w", err)
	}
	p := &Peer{
		s:         s,
		info:      info,
		log:       s.log.With("peer", info.ID),
		pc:        pc,
		bwe:       bwe,
		gate:      gate,
		out:       out,
		queue:     make(chan Message, outQueueLen),
		done:      make(chan struct{}),
		senders:   map[*track]*webrtc.RTPSender{},
		subs:      map[*track]*subscription{},
		simulcast: map[*webrtc.RTPReceiver]*track{},
	}
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{
			Direction: webrtc.RTPTransceiverDirectionRecvonly,
		}); err != nil {
			_ = pc.Close()
			return nil, fmt.Errorf("add %s transceiver: %w", kind, err)
		}
		p.slots++
	}
	pc.OnICECandidate(p.onCandidate)
	pc.OnTrack(p.onTrack)
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		p.log.Debug("sfu: connection state", "state", st.String())
		if st == webrtc.PeerConnectionStateClosed {
			// The browser said goodbye (DTLS close_notify): leave as Close
			// does, so that the others stop waiting for its media.
			go p.Close()
		}
	})
	p.share.Store(int64(s.cfg.MaxBitrate))
	p.wg.Add(2)
	go p.writeLoop()
	go p.adaptLoop()
	return p, nil
}

// Info returns what the others are told about this peer.
func (p *Peer) Info() PeerInfo { return p.info }

// Done is closed when the peer has ended: by Close, or by itself because its
// Signaler failed, the browser stopped reading or closed the connection. The websocket layer
// watches it to end the websocket.
func (p *Peer) Done() <-chan struct{} { return p.done }

// Handle processes one message from the browser. The websocket layer calls
// it for every message it reads, from one goroutine at a time or several:
// Handle serialises them. An error concerns that message only (log it, or
// send the browser a generic error); the peer stays usable unless Done is
// closed.
//
// Errors (fault.Invalid): ErrUnknownType, ErrInvalidMessage, ErrNoOffer,
// ErrTooManyTracks, ErrNegotiation when the SDP or candidate is refused;
// ErrClosed (fault.Unavailable) once the peer has ended.
func (p *Peer) Handle(m Message) error {
	switch m.Type {
	case TypeAnswer:
		return p.answer(m.SDP)
	case TypeCandidate:
		return p.candidate(m.Candidate)
	case TypeRestart:
		return p.locked(func() error {
			p.restart = true
			p.negotiateLocked()
			return nil
		})
	case TypePublish:
		return p.publish(m.Kind)
	default:
		t := m.Type
		if len(t) > 32 {
			t = t[:32]
		}
		return fault.Wrap(fault.Invalid, "sfu: handle", fmt.Errorf("%w %q", ErrUnknownType, t))
	}
}

// locked runs f with p.mu held, unless the peer is closed.
func (p *Peer) locked(f func() error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return fault.Wrap(fault.Unavailable, "sfu: handle", ErrClosed)
	}
	return f()
}

func (p *Peer) answer(sdp string) error {
	const op = "sfu: handle answer"
	if sdp == "" || len(sdp) > MaxSDP {
		return fault.Wrap(fault.Invalid, op, fmt.Errorf("%w: sdp of %d bytes", ErrInvalidMessage, len(sdp)))
	}
	return p.locked(func() error {
		if !p.offering {
			return fault.Wrap(fault.Invalid, op, ErrNoOffer)
		}
		err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: simulcastAnswer(sdp)})
		if err != nil {
			// The offer stays outstanding: a correct answer may still come.
			return fault.Wrap(fault.Invalid, op, fmt.Errorf("%w: %w", ErrNegotiation, err))
		}
		p.offering = false
		// The senders of the answered offer are bound now; a keyframe
		// lets the browser show their video at once.
		for _, t := range p.offered {
			t.keyframe()
		}
		p.offered = nil
		if p.again {
			p.negotiateLocked()
		}
		return nil
	})
}

func (p *Peer) candidate(c *webrtc.ICECandidateInit) error {
	const op = "sfu: handle candidate"
	if c == nil || len(c.Candidate) > MaxCandidate {
		return fault.Wrap(fault.Invalid, op, fmt.Errorf("%w: candidate missing or too long", ErrInvalidMessage))
	}
	return p.locked(func() error {
		if p.pc.RemoteDescription() == nil {
			return fault.Wrap(fault.Invalid, op, fmt.Errorf("%w: candidate before the first answer", ErrNegotiation))
		}
		if err := p.pc.AddICECandidate(*c); err != nil {
			return fault.Wrap(fault.Invalid, op, fmt.Errorf("%w: %w", ErrNegotiation, err))
		}
		return nil
	})
}

func (p *Peer) publish(kind string) error {
	const op = "sfu: handle publish"
	var k webrtc.RTPCodecType
	switch kind {
	case kindAudio:
		k = webrtc.RTPCodecTypeAudio
	case kindVideo:
		k = webrtc.RTPCodecTypeVideo
	default:
		return fault.Wrap(fault.Invalid, op, fmt.Errorf("%w: kind must be audio or video", ErrInvalidMessage))
	}
	return p.locked(func() error {
		if p.slots >= MaxTracks {
			return fault.Wrap(fault.Invalid, op, ErrTooManyTracks)
		}
		_, err := p.pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{
			Direction: webrtc.RTPTransceiverDirectionRecvonly,
		})
		if err != nil {
			return fault.Wrap(fault.Internal, op, err)
		}
		p.slots++
		p.negotiateLocked()
		return nil
	})
}

// negotiate makes an offer now, or once the outstanding one is answered.
func (p *Peer) negotiate() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.negotiateLocked()
}

func (p *Peer) negotiateLocked() {
	if p.closed {
		return
	}
	if p.offering {
		p.again = true
		return
	}
	p.again = false
	// An ICE restart gathers new candidates from CreateOffer on, and the
	// first offer from SetLocalDescription on; none may overtake the offer.
	p.holdCandidates()
	offer, err := p.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: p.restart})
	if err != nil {
		p.releaseCandidates(nil)
		p.fail("create offer", err)
		return
	}
	p.restart = false
	if err := p.pc.SetLocalDescription(offer); err != nil {
		p.releaseCandidates(nil)
		p.fail("set local description", err)
		return
	}
	p.offering = true
	p.offered = append(p.offered, p.added...)
	p.added = nil
	p.releaseCandidates(&Message{Type: TypeOffer, SDP: p.browserOffer(offer.SDP), Slots: p.slotMids()})
}

// browserOffer is the offer as the browser gets it: with simulcast
// offered on the camera's slot (the first video slot), except in an echo
// room, whose connection test measures the link with one encoding.
func (p *Peer) browserOffer(sdp string) string {
	if p.room != nil && p.room.echo {
		return sdp
	}
	if p.camera == "" {
		for _, tr := range p.pc.GetTransceivers() {
			if tr.Kind() == webrtc.RTPCodecTypeVideo && tr.Direction() == webrtc.RTPTransceiverDirectionRecvonly {
				p.camera = tr.Mid()
				break
			}
		}
	}
	return simulcastOffer(sdp, p.camera)
}

// slotMids returns the mids of the receiving transceivers.
func (p *Peer) slotMids() []string {
	var mids []string
	for _, tr := range p.pc.GetTransceivers() {
		if tr.Direction() == webrtc.RTPTransceiverDirectionRecvonly && tr.Mid() != "" {
			mids = append(mids, tr.Mid())
		}
	}
	return mids
}

// addTrack forwards t to this peer, renegotiating at once when negotiate.
func (p *Peer) addTrack(t *track, negotiate bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.senders[t] != nil {
		return
	}
	var local webrtc.TrackLocal = t.local
	var sub *subscription
	if t.simulcast {
		var err error
		if sub, err = t.subscribe(p); err != nil {
			p.log.Error("sfu: forward track", "err", err)
			return
		}
		local = sub.local
	}
	tr, err := p.pc.AddTransceiverFromTrack(local, webrtc.RTPTransceiverInit{
		Direction: webrtc.RTPTransceiverDirectionSendonly,
	})
	if err != nil {
		if sub != nil {
			t.unsubscribe(p)
		}
		p.log.Error("sfu: forward track", "err", err)
		return
	}
	sender := tr.Sender()
	p.senders[t] = sender
	if sub != nil {
		p.subs[t] = sub
	}
	p.added = append(p.added, t)
	p.wg.Add(1)
	go p.readRTCP(sender, t)
	if negotiate {
		p.negotiateLocked()
	}
}

// removeTrack stops forwarding t to this peer and renegotiates.
func (p *Peer) removeTrack(t *track) {
	p.mu.Lock()
	defer p.mu.Unlock()
	sender := p.senders[t]
	if sender == nil {
		return
	}
	delete(p.senders, t)
	if p.subs[t] != nil {
		delete(p.subs, t)
		t.unsubscribe(p)
	}
	if p.closed {
		return
	}
	if err := p.pc.RemoveTrack(sender); err != nil {
		p.log.Debug("sfu: remove track", "err", err)
	}
	p.negotiateLocked()
}

// onCandidate sends the server's trickled candidates; nil marks the end of
// gathering, which the browser does not need to hear.
func (p *Peer) onCandidate(c *webrtc.ICECandidate) {
	if c == nil {
		return
	}
	init := c.ToJSON()
	m := Message{Type: TypeCandidate, Candidate: &init}
	p.candMu.Lock()
	defer p.candMu.Unlock()
	if p.holding {
		p.held = append(p.held, m)
		return
	}
	p.send(m)
}

func (p *Peer) holdCandidates() {
	p.candMu.Lock()
	p.holding = true
	p.candMu.Unlock()
}

// releaseCandidates sends offer (when not nil) and then the candidates
// gathered while it was made.
func (p *Peer) releaseCandidates(offer *Message) {
	p.candMu.Lock()
	defer p.candMu.Unlock()
	if offer != nil {
		p.send(*offer)
	}
	for _, m := range p.held {
		p.send(m)
	}
	p.held = nil
	p.holding = false
}

// send queues m for the browser. A browser that does not take its messages
// is given up: the queue holds outQueueLen messages, far more than a
// renegotiation produces.
func (p *Peer) send(m Message) {
	select {
	case <-p.done:
	case p.queue <- m:
	default:
		p.log.Warn("sfu: signalling queue full, closing peer")
		go p.Close()
	}
}

func (p *Peer) writeLoop() {
	defer p.wg.Done()
	for {
		select {
		case <-p.done:
			return
		case m := <-p.queue:
			if err := p.out.Signal(m); err != nil {
				p.log.Info("sfu: signal failed, closing peer", "err", err)
				go p.Close()
				return
			}
		}
	}
}

// fail ends a peer whose connection cannot be negotiated any more. A
// connection the browser closed (DTLS close_notify) is no error: the peer
// is leaving already.
func (p *Peer) fail(what string, err error) {
	if errors.Is(err, webrtc.ErrConnectionClosed) {
		p.log.Debug("sfu: "+what+" on a closed connection", "err", err)
	} else {
		p.log.Error("sfu: "+what, "err", err)
	}
	go p.Close()
}

// enter registers one more goroutine of the peer unless it is closed.
func (p *Peer) enter() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.wg.Add(1)
	return true
}

// Close takes the participant out of the call: the others stop receiving
// its tracks (they are renegotiated and sent a new peers message), its
// connection is closed and all its goroutines have ended when Close returns.
// It is idempotent and safe to call from any goroutine, also concurrently
// with Handle.
func (p *Peer) Close() {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		room := p.room
		p.mu.Unlock()
		if room != nil {
			room.leave(p)
		}
		if err := p.pc.Close(); err != nil && !errors.Is(err, webrtc.ErrConnectionClosed) {
			p.log.Debug("sfu: close peer connection", "err", err)
		}
		close(p.done)
		p.wg.Wait()
	})
}
