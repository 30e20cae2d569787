package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/pion/webrtc/v4"

	"github.com/gesundheitsamt/portal/internal/video/sfu"
)

// serveSFU is the "sfu" subcommand: the portal's SFU (internal/video/sfu)
// alone in its own process, so that its CPU and memory can be measured
// apart from the load. Its signalling is a websocket at /ws?room=R&id=P
// that carries sfu.Message values, one JSON object per frame, between the
// socket and the room's peer as the portal's video hub does: Join on
// connect, Handle for every message, Close when the socket ends, and the
// socket closed when the peer ends by itself. It prints its address as the
// first line of stdout and serves until ctx ends.
func serveSFU(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("benchvideo sfu", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "the signalling `address`")
	udpPort := fs.Int("udp", 0, "the media's UDP `port` (0: a free one)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	media, err := sfu.New(sfu.Config{UDPPort: *udpPort, Loopback: true, MaxPeers: 2}, log)
	if err != nil {
		return err
	}
	defer media.Close()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	handler := signalling(media, log)
	if os.Getenv("BENCHVIDEO_PPROF") != "" {
		// For profiling the SFU under the load: go tool pprof
		// http://ADDR/debug/pprof/profile (ADDR in the -logs file).
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		mux.Handle("/", handler)
		handler = mux
		fmt.Fprintf(stderr, "benchvideo sfu: profiles at http://%s/debug/pprof/\n", ln.Addr())
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	fmt.Fprintln(stdout, ln.Addr())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func signalling(media *sfu.SFU, log *slog.Logger) http.Handler {
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		room, id := r.URL.Query().Get("room"), r.URL.Query().Get("id")
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		ws.SetReadLimit(sfu.MaxSDP + 16<<10)
		conn := &socket{ws: ws}
		defer conn.close()
		p, err := media.Room(room).Join(id, sfu.PeerInfo{Name: id, Role: "guest"}, sfuSignaler{conn})
		if err != nil {
			log.Warn("join", "room", room, "id", id, "err", err)
			return
		}
		defer p.Close()
		go func() {
			<-p.Done()
			conn.close()
		}()
		for {
			var m sfu.Message
			if err := ws.ReadJSON(&m); err != nil {
				return
			}
			if err := p.Handle(m); err != nil {
				log.Warn("handle", "room", room, "id", id, "type", m.Type, "err", err)
			}
		}
	})
}

// socket is a websocket with one writer at a time, for both SFUs'
// signalling.
type socket struct {
	ws   *websocket.Conn
	mu   sync.Mutex
	once sync.Once
}

func (s *socket) send(v any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return s.ws.WriteJSON(v)
}

func (s *socket) close() { s.once.Do(func() { _ = s.ws.Close() }) }

type sfuSignaler struct{ s *socket }

func (s sfuSignaler) Signal(m sfu.Message) error { return s.s.send(m) }

// ours drives the portal's SFU, run as "benchvideo sfu" in a child process.
type ours struct {
	proc *child
	addr string
	api  *webrtc.API
}

// startOurs starts this executable's sfu subcommand and waits for its
// address.
func startOurs(api *webrtc.API, logs io.Writer) (*ours, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	proc, first, err := startChild(exe, []string{"sfu", "-listen", "127.0.0.1:0"}, logs)
	if err != nil {
		return nil, err
	}
	return &ours{proc: proc, addr: first, api: api}, nil
}

func (o *ours) pid() int { return o.proc.pid() }

func (o *ours) stop() error { return o.proc.stop() }

// join connects e as a browser does: it publishes its two tracks on the
// first offer's slots (pion's AddTrack before the first remote description
// takes the first audio and video m-sections) and answers every offer.
func (o *ours) join(ctx context.Context, call, side int, e *endpoint) (func(), error) {
	u := url.URL{Scheme: "ws", Host: o.addr, Path: "/ws", RawQuery: url.Values{
		"room": {"call" + strconv.Itoa(call)}, "id": {"p" + strconv.Itoa(side)},
	}.Encode()}
	ws, _, err := websocket.DefaultDialer.DialContext(ctx, u.String(), nil)
	if err != nil {
		return nil, err
	}
	conn := &socket{ws: ws}
	pc, err := o.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		conn.close()
		return nil, err
	}
	leave := func() { conn.close(); _ = pc.Close() }
	for _, t := range e.tracks {
		s, err := pc.AddTrack(t)
		if err != nil {
			leave()
			return nil, err
		}
		go readRTCP(s)
	}
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { e.readTrack(t) })
	held := &heldCandidates{send: func(c webrtc.ICECandidateInit) error {
		return conn.send(sfu.Message{Type: sfu.TypeCandidate, Candidate: &c})
	}}
	pc.OnICECandidate(held.add)
	go func() {
		defer leave()
		for {
			var m sfu.Message
			if err := ws.ReadJSON(&m); err != nil {
				return
			}
			var err error
			switch m.Type {
			case sfu.TypeOffer:
				held.hold()
				err = answer(pc, m.SDP, func(sdp string) error {
					return conn.send(sfu.Message{Type: sfu.TypeAnswer, SDP: sdp})
				})
				held.release()
			case sfu.TypeCandidate:
				if m.Candidate != nil {
					err = pc.AddICECandidate(*m.Candidate)
				}
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "benchvideo: call %d, side %d: %s: %v\n", call, side, m.Type, err)
				return
			}
		}
	}()
	return leave, nil
}

// answer applies a remote offer and sends the answer.
func answer(pc *webrtc.PeerConnection, offer string, send func(sdp string) error) error {
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return err
	}
	a, err := pc.CreateAnswer(nil)
	if err != nil {
		return err
	}
	if err := pc.SetLocalDescription(a); err != nil {
		return err
	}
	return send(a.SDP)
}

// heldCandidates sends local candidates, except while an answer is being
// made: pion gathers from SetLocalDescription on, and the server must see
// the answer before its candidates, as a browser's event loop ensures.
type heldCandidates struct {
	send    func(webrtc.ICECandidateInit) error
	mu      sync.Mutex
	holding bool
	held    []webrtc.ICECandidateInit
}

func (h *heldCandidates) add(c *webrtc.ICECandidate) {
	if c == nil {
		return
	}
	init := c.ToJSON()
	h.mu.Lock()
	if h.holding {
		h.held = append(h.held, init)
		h.mu.Unlock()
		return
	}
	h.mu.Unlock()
	_ = h.send(init)
}

func (h *heldCandidates) hold() {
	h.mu.Lock()
	h.holding = true
	h.mu.Unlock()
}

func (h *heldCandidates) release() {
	h.mu.Lock()
	held := h.held
	h.held, h.holding = nil, false
	h.mu.Unlock()
	for _, c := range held {
		_ = h.send(c)
	}
}
