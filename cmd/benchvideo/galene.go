package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/pion/webrtc/v4"
)

// galene drives Galène (github.com/jech/galene), a pion-based SFU, started
// from a binary built from its source: one group per call, open to any
// username and password with the right to present, media on one UDP port
// as ours has. The load peers speak Galène's websocket protocol
// (galene-protocol.md, version 2): handshake, join, request, one offered
// "up" peer connection per participant carrying its audio and video, and
// one "down" peer connection per stream the server offers.
type galene struct {
	proc *child
	dir  string
	addr string
	api  *webrtc.API
}

// galeneMessage is a message of Galène's protocol, the fields the load
// uses.
type galeneMessage struct {
	Type        string                   `json:"type"`
	Kind        string                   `json:"kind,omitempty"`
	Version     []string                 `json:"version,omitempty"`
	ID          string                   `json:"id,omitempty"`
	Source      string                   `json:"source,omitempty"`
	Group       string                   `json:"group,omitempty"`
	Username    *string                  `json:"username,omitempty"`
	Password    string                   `json:"password,omitempty"`
	Label       string                   `json:"label,omitempty"`
	SDP         string                   `json:"sdp,omitempty"`
	Candidate   *webrtc.ICECandidateInit `json:"candidate,omitempty"`
	Request     map[string][]string      `json:"request,omitempty"`
	Permissions []string                 `json:"permissions,omitempty"`
	Error       string                   `json:"error,omitempty"`
	Value       any                      `json:"value,omitempty"`
}

// startGalene writes a data directory with one group per call and starts
// the Galène binary on it, plain HTTP on loopback, without its TURN
// server.
func startGalene(bin string, calls int, api *webrtc.API, logs io.Writer) (*galene, error) {
	dir, err := os.MkdirTemp("", "benchvideo-galene.")
	if err != nil {
		return nil, err
	}
	g := &galene{dir: dir, api: api}
	group, err := json.Marshal(map[string]any{
		"wildcard-user": map[string]any{"password": map[string]string{"type": "wildcard"}, "permissions": "present"},
		"max-clients":   2,
	})
	if err != nil {
		return nil, err
	}
	for _, d := range []string{"data", "groups", "static", "recordings"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			g.clean()
			return nil, err
		}
	}
	for c := range calls {
		if err := os.WriteFile(filepath.Join(dir, "groups", groupName(c)+".json"), group, 0o600); err != nil {
			g.clean()
			return nil, err
		}
	}
	httpPort, udpPort, err := freePorts()
	if err != nil {
		g.clean()
		return nil, err
	}
	g.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(httpPort))
	args := []string{
		"-insecure", "-http", g.addr, "-turn", "", "-udp-range", strconv.Itoa(udpPort),
		"-data", "data", "-groups", "groups", "-static", "static", "-recordings", "recordings",
	}
	if file := os.Getenv("BENCHVIDEO_GALENE_CPUPROFILE"); file != "" {
		// For comparing where the two SFUs spend their CPU: Galène writes
		// the profile of its whole run (joins included) when it stops.
		args = append(args, "-cpuprofile", file)
	}
	g.proc, err = spawn(bin, args, dir, logs)
	if err != nil {
		g.clean()
		return nil, err
	}
	status := "http://" + g.addr + "/group/" + groupName(0) + "/.status"
	for range 300 {
		if resp, err := http.Get(status); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return g, nil
			}
		}
		if g.proc.exited() {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = g.stop()
	return nil, fmt.Errorf("galene did not answer at %s", status)
}

func groupName(call int) string { return "bench-" + strconv.Itoa(call) }

// freePorts returns a free TCP and a free UDP port of loopback.
func freePorts() (int, int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, err
	}
	defer ln.Close()
	pc, err := net.ListenPacket("udp4", ":0")
	if err != nil {
		return 0, 0, err
	}
	defer pc.Close()
	return ln.Addr().(*net.TCPAddr).Port, pc.LocalAddr().(*net.UDPAddr).Port, nil
}

func (g *galene) pid() int { return g.proc.pid() }

func (g *galene) clean() { _ = os.RemoveAll(g.dir) }

func (g *galene) stop() error {
	defer g.clean()
	return g.proc.stop()
}

// galeneClient is one participant's session with Galène.
type galeneClient struct {
	id   string
	conn *socket
	api  *webrtc.API
	e    *endpoint
	up   *webrtc.PeerConnection

	offered atomic.Bool // the server has offered a down stream

	mu      sync.Mutex
	down    map[string]*downConn
	pending []webrtc.ICECandidateInit // the server's candidates for up, before its answer
}

// join logs e in to the call's group, requests everyone's audio and video,
// and offers its own.
func (g *galene) join(ctx context.Context, call, side int, e *endpoint) (func(), error) {
	ws, _, err := websocket.DefaultDialer.DialContext(ctx, "ws://"+g.addr+"/ws", nil)
	if err != nil {
		return nil, err
	}
	c := &galeneClient{
		id:   fmt.Sprintf("c%d-%d", call, side),
		conn: &socket{ws: ws},
		api:  g.api,
		e:    e,
		down: map[string]*downConn{},
	}
	name := "p" + strconv.Itoa(side)
	if err := c.conn.send(galeneMessage{Type: "handshake", Version: []string{"2"}, ID: c.id}); err != nil {
		c.leave()
		return nil, err
	}
	if err := c.conn.send(galeneMessage{Type: "join", Kind: "join", Group: groupName(call), Username: &name, Password: "bench"}); err != nil {
		c.leave()
		return nil, err
	}
	_ = ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	for joined := false; !joined; {
		var m galeneMessage
		if err := ws.ReadJSON(&m); err != nil {
			c.leave()
			return nil, err
		}
		switch {
		case m.Type == "joined" && m.Kind == "join":
			joined = true
		case m.Type == "joined":
			c.leave()
			return nil, fmt.Errorf("galene: joined %s: %v", m.Kind, m.Value)
		}
	}
	_ = ws.SetReadDeadline(time.Time{})
	if err := c.conn.send(galeneMessage{Type: "request", Request: map[string][]string{"": {"audio", "video"}}}); err != nil {
		c.leave()
		return nil, err
	}
	if err := c.offer(); err != nil {
		c.leave()
		return nil, err
	}
	go c.read(call, side)
	go c.rerequest(ctx)
	return c.leave, nil
}

// offer creates the up connection, with the endpoint's tracks sendonly,
// and offers it as a camera stream.
func (c *galeneClient) offer() error {
	upID := c.upID()
	pc, err := c.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.up = pc
	c.mu.Unlock()
	for _, t := range c.e.tracks {
		tr, err := pc.AddTransceiverFromTrack(t, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return err
		}
		go readRTCP(tr.Sender())
	}
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand != nil {
			init := cand.ToJSON()
			_ = c.conn.send(galeneMessage{Type: "ice", ID: upID, Candidate: &init})
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		return err
	}
	return c.conn.send(galeneMessage{Type: "offer", ID: upID, Label: "camera", Source: c.id, SDP: offer.SDP})
}

// rerequest sends the request again every second until the server has
// offered a stream. Galène answers a request with the streams whose tracks
// it has at that moment, and pushes a stream whose tracks arrive later only
// to the clients present when its first track arrived: a participant that
// requests between the partner's offer and its first packets would
// otherwise never get the partner's stream.
func (c *galeneClient) rerequest(ctx context.Context) {
	for range 60 {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		if c.offered.Load() {
			return
		}
		if c.conn.send(galeneMessage{Type: "request", Request: map[string][]string{"": {"audio", "video"}}}) != nil {
			return
		}
	}
}

// upID is the id of the client's stream. Galène gives a down stream the
// id of the up stream it carries, and a client's up and down ids share one
// name space, so ids are unique in the whole server.
func (c *galeneClient) upID() string { return c.id + "-up" }

// read handles the server's messages until the socket ends.
func (c *galeneClient) read(call, side int) {
	defer c.leave()
	for {
		var m galeneMessage
		if err := c.conn.ws.ReadJSON(&m); err != nil {
			return
		}
		if err := c.handle(m); err != nil {
			fmt.Fprintf(os.Stderr, "benchvideo: galene call %d, side %d: %s: %v\n", call, side, m.Type, err)
			return
		}
	}
}

func (c *galeneClient) handle(m galeneMessage) error {
	switch m.Type {
	case "ping":
		return c.conn.send(galeneMessage{Type: "pong"})
	case "answer":
		if err := c.up.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP}); err != nil {
			return err
		}
		c.mu.Lock()
		pending := c.pending
		c.pending = nil
		c.mu.Unlock()
		for _, cand := range pending {
			if err := c.up.AddICECandidate(cand); err != nil {
				return err
			}
		}
	case "offer":
		c.offered.Store(true)
		return c.answerDown(m)
	case "ice":
		if m.Candidate == nil {
			return nil
		}
		if m.ID == c.upID() {
			if c.up.RemoteDescription() == nil {
				c.mu.Lock()
				c.pending = append(c.pending, *m.Candidate)
				c.mu.Unlock()
				return nil
			}
			return c.up.AddICECandidate(*m.Candidate)
		}
		c.mu.Lock()
		d := c.down[m.ID]
		c.mu.Unlock()
		if d != nil {
			return d.pc.AddICECandidate(*m.Candidate)
		}
	case "close":
		c.mu.Lock()
		d := c.down[m.ID]
		delete(c.down, m.ID)
		c.mu.Unlock()
		if d != nil {
			return d.pc.Close()
		}
	case "abort":
		return fmt.Errorf("the server aborted stream %s", m.ID)
	case "usermessage":
		if m.Kind == "error" || m.Kind == "warning" {
			return fmt.Errorf("%s: %v", m.Kind, m.Value)
		}
	}
	return nil
}

// downConn is the connection of one stream the server offered.
type downConn struct {
	pc   *webrtc.PeerConnection
	held *heldCandidates
}

// answerDown answers an offer of a down stream, on a new connection or,
// for a renegotiation, on the stream's connection.
func (c *galeneClient) answerDown(m galeneMessage) error {
	c.mu.Lock()
	d := c.down[m.ID]
	c.mu.Unlock()
	if d == nil {
		pc, err := c.api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			return err
		}
		id := m.ID
		d = &downConn{pc: pc, held: &heldCandidates{send: func(cand webrtc.ICECandidateInit) error {
			return c.conn.send(galeneMessage{Type: "ice", ID: id, Candidate: &cand})
		}}}
		pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { c.e.readTrack(t) })
		pc.OnICECandidate(d.held.add)
		c.mu.Lock()
		c.down[m.ID] = d
		c.mu.Unlock()
	}
	d.held.hold()
	defer d.held.release()
	return answer(d.pc, m.SDP, func(sdp string) error {
		return c.conn.send(galeneMessage{Type: "answer", ID: m.ID, SDP: sdp})
	})
}

// leave closes the socket and every connection; Galène then drops the
// client.
func (c *galeneClient) leave() {
	c.conn.close()
	c.mu.Lock()
	pcs := []*webrtc.PeerConnection{c.up}
	for id, d := range c.down {
		pcs = append(pcs, d.pc)
		delete(c.down, id)
	}
	c.mu.Unlock()
	for _, pc := range pcs {
		if pc != nil {
			_ = pc.Close()
		}
	}
}
