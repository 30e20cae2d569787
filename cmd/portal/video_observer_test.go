package main

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"golang.org/x/image/vp8"

	"github.com/gesundheitsamt/portal/internal/video"
	"github.com/gesundheitsamt/portal/internal/video/sfu"
)

// observer is a participant of a call written in Go: let in like anyone
// through a guest link, it takes part in the key exchange as a browser
// does (video.js) and keeps every video frame the SFU forwards to it as
// it came, to show that the server forwards ciphertext, which only the
// room key, held by the participants, turns into VP8 again.
type observer struct {
	t    *testing.T
	ws   *websocket.Conn
	wmu  sync.Mutex
	pc   *webrtc.PeerConnection
	self string

	mu     sync.Mutex
	peers  []sfu.PeerInfo
	pairs  map[string]*pair    // peer id → this round's keys with them
	keys   map[byte][]byte     // epoch → room key
	chats  []string            // chat messages read, "<from>: <text>"
	frames map[string][][]byte // stream id → forwarded VP8 frames, as they came
	got    map[string]bool     // message types seen
	// closed: the test is over and closes the socket and the connection;
	// a message still being handled may fail on them, which is no error,
	// nor is one that fails on a connection the server closed.
	closed bool
}

var dataTicket = regexp.MustCompile(`data-ticket="([^"]+)"`)
var csrfInput = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// joinAsGuest goes through the guest link's landing page with a name and
// consent, as a person would, and opens the call's socket with the
// ticket; it returns once the guest waits.
func joinAsGuest(t *testing.T, base, link, name string) *observer {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	res, err := hc.Get(base + link)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := csrfInput.FindSubmatch(b)
	if res.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("guest landing page: %d", res.StatusCode)
	}
	res, err = hc.PostForm(base+link, url.Values{"_csrf": {string(m[1])}, "einwilligung": {"1"}, "name": {name}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(res.Body)
	res.Body.Close()
	tk := dataTicket.FindSubmatch(b)
	if res.StatusCode != http.StatusOK || tk == nil {
		t.Fatalf("guest call page: %d", res.StatusCode)
	}
	ticket := strings.ReplaceAll(string(tk[1]), "&#43;", "+")
	u, _ := url.Parse(base)
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+u.Host+link+"/ws", http.Header{"Origin": {base}})
	if err != nil {
		t.Fatal(err)
	}
	o := &observer{t: t, ws: ws, pairs: map[string]*pair{}, keys: map[byte][]byte{}, frames: map[string][][]byte{}, got: map[string]bool{}}
	t.Cleanup(func() {
		o.mu.Lock()
		o.closed = true
		o.mu.Unlock()
		_ = ws.Close()
		if o.pc != nil {
			_ = o.pc.Close()
		}
	})
	o.send(video.Message{Message: sfu.Message{Type: video.TypeHello}, Ticket: ticket})
	go o.read()
	o.wait(video.TypeWaiting)
	return o
}

func (o *observer) send(m video.Message) {
	o.wmu.Lock()
	defer o.wmu.Unlock()
	_ = o.ws.WriteJSON(m)
}

func (o *observer) wait(typ string) {
	o.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		o.mu.Lock()
		ok := o.got[typ]
		o.mu.Unlock()
		if ok {
			return
		}
	}
	o.t.Fatalf("the observer got no %q message", typ)
}

func (o *observer) read() {
	for {
		var m video.Message
		if err := o.ws.ReadJSON(&m); err != nil {
			return
		}
		o.mu.Lock()
		o.got[m.Type] = true
		o.mu.Unlock()
		if err := o.handle(m); err != nil {
			o.mu.Lock()
			// Also when the server ended the connection: as the call ends,
			// the offer that takes the others' tracks away can arrive
			// after the server's DTLS close_notify closed the connection.
			closed := o.closed || errors.Is(err, webrtc.ErrConnectionClosed)
			o.mu.Unlock()
			if !closed {
				o.t.Errorf("observer: %s: %v", m.Type, err)
			}
		}
	}
}

func (o *observer) handle(m video.Message) error {
	switch m.Type {
	case video.TypeAdmitted:
		o.self = m.Self
		pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			return err
		}
		pc.OnICECandidate(func(c *webrtc.ICECandidate) {
			if c != nil {
				init := c.ToJSON()
				o.send(video.Message{Message: sfu.Message{Type: sfu.TypeCandidate, Candidate: &init}})
			}
		})
		pc.OnTrack(o.onTrack)
		o.mu.Lock()
		o.pc = pc
		o.mu.Unlock()
	case sfu.TypePeers:
		o.mu.Lock()
		o.peers = m.Peers
		var start []string
		for _, p := range m.Peers {
			if p.ID != o.self && o.pairs[p.ID] == nil {
				start = append(start, p.ID)
			}
		}
		o.mu.Unlock()
		for _, id := range start {
			if o.self < id {
				o.commit(id)
			} else {
				o.relay(id, map[string]any{"k": "ask"})
			}
		}
	case sfu.TypeOffer:
		if err := o.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: m.SDP}); err != nil {
			return err
		}
		answer, err := o.pc.CreateAnswer(nil)
		if err != nil {
			return err
		}
		if err := o.pc.SetLocalDescription(answer); err != nil {
			return err
		}
		o.send(video.Message{Message: sfu.Message{Type: sfu.TypeAnswer, SDP: answer.SDP}})
	case sfu.TypeCandidate:
		if m.Candidate != nil && o.pc != nil {
			return o.pc.AddICECandidate(*m.Candidate)
		}
	case video.TypeRelay:
		return o.onRelay(m.From, m.Data)
	}
	return nil
}

// pair is one round of the observer's key agreement with another
// participant, as video-keys.js runs it.
type pair struct {
	n         string // the round id
	priv      *ecdh.PrivateKey
	committed bool   // this side committed first
	commit    string // their commitment (base64 SHA-256 of their key)
	theirs    *ecdh.PublicKey
}

func (o *observer) fresh(id, n string) *pair {
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		o.t.Fatal(err)
	}
	p := &pair{n: n, priv: priv}
	o.mu.Lock()
	o.pairs[id] = p
	o.mu.Unlock()
	return p
}

func (o *observer) commit(id string) {
	n := make([]byte, 12)
	_, _ = rand.Read(n)
	p := o.fresh(id, base64.StdEncoding.EncodeToString(n))
	p.committed = true
	h := sha256.Sum256(p.priv.PublicKey().Bytes())
	o.relay(id, map[string]any{"k": "commit", "n": p.n, "hash": base64.StdEncoding.EncodeToString(h[:])})
}

func (o *observer) reveal(id string, p *pair) {
	o.relay(id, map[string]any{"k": "pub", "n": p.n, "key": base64.StdEncoding.EncodeToString(p.priv.PublicKey().Bytes())})
}

// codeWith is the security code of the observer's pair with peer id, as
// both pages must show it: SHA-256 of "portal-video-code" and the two
// public keys in byte order, the first three bytes modulo a million.
func (o *observer) codeWith(id string) string {
	o.mu.Lock()
	p := o.pairs[id]
	o.mu.Unlock()
	if p == nil || p.theirs == nil {
		return ""
	}
	a, b := p.priv.PublicKey().Bytes(), p.theirs.Bytes()
	if bytes.Compare(b, a) < 0 {
		a, b = b, a
	}
	h := sha256.Sum256(append(append([]byte("portal-video-code"), a...), b...))
	n := (int(h[0])<<16 | int(h[1])<<8 | int(h[2])) % 1000000
	s := fmt.Sprintf("%06d", n)
	return s[:3] + " " + s[3:]
}

func (o *observer) relay(to string, data any) {
	raw, _ := json.Marshal(data)
	o.send(video.Message{Message: sfu.Message{Type: video.TypeRelay}, To: to, Data: raw})
}

// onRelay runs the observer's side of the key agreement (see
// video-keys.js): the commitment, the public keys, and the room key the
// host wraps for this participant, ECDH P-256, HKDF-SHA-256 with the info
// "portal-video-room-key", AES-256-GCM with "<epoch>|<from>|<to>|<n>" as
// additional data.
func (o *observer) onRelay(from string, raw json.RawMessage) error {
	var d struct {
		K     string `json:"k"`
		N     string `json:"n"`
		Hash  string `json:"hash"`
		Key   string `json:"key"`
		IV    string `json:"iv"`
		Epoch int    `json:"epoch"`
		CT    string `json:"ct"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return err
	}
	o.mu.Lock()
	p := o.pairs[from]
	o.mu.Unlock()
	if d.K == "chat" {
		return o.readChat(from, d.Epoch, d.IV, d.CT)
	}
	switch d.K {
	case "ask":
		if o.self < from {
			o.commit(from)
		}
	case "commit":
		if o.self > from {
			p = o.fresh(from, d.N)
			p.commit = d.Hash
			o.reveal(from, p)
		}
	case "pub":
		if p == nil || p.n != d.N || p.theirs != nil {
			return nil // of an earlier round: a repeated ask or commit crossed it
		}
		key, err := base64.StdEncoding.DecodeString(d.Key)
		if err != nil {
			return err
		}
		if !p.committed {
			if h := sha256.Sum256(key); base64.StdEncoding.EncodeToString(h[:]) != p.commit {
				return fmt.Errorf("the public key of %s does not match its commitment", from)
			}
		}
		pub, err := ecdh.P256().NewPublicKey(key)
		if err != nil {
			return err
		}
		o.mu.Lock()
		p.theirs = pub
		o.mu.Unlock()
		if p.committed {
			o.reveal(from, p)
		}
	case "room":
		if p == nil || p.theirs == nil || p.n != d.N {
			return nil // of an earlier round
		}
		key, err := base64.StdEncoding.DecodeString(d.Key)
		if err != nil {
			return err
		}
		secret, err := p.priv.ECDH(p.theirs)
		if err != nil {
			return err
		}
		wrap, err := hkdf.Key(sha256.New, secret, nil, "portal-video-room-key", 32)
		if err != nil {
			return err
		}
		iv, err := base64.StdEncoding.DecodeString(d.IV)
		if err != nil {
			return err
		}
		plain, err := gcmOpen(wrap, iv, key, []byte(fmt.Sprintf("%d|%s|%s|%s", d.Epoch, from, o.self, p.n)))
		if err != nil {
			return fmt.Errorf("unwrap the room key: %w", err)
		}
		o.mu.Lock()
		o.keys[byte(d.Epoch)] = plain
		o.mu.Unlock()
	}
	return nil
}

func gcmOpen(key, iv, ct, aad []byte) ([]byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return gcm.Open(nil, iv, ct, aad)
}

// onTrack keeps the VP8 frames of a forwarded video track, reassembled
// from its RTP packets exactly as they arrived.
func (o *observer) onTrack(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	if t.Kind() != webrtc.RTPCodecTypeVideo {
		// Read and drop: packets left unread never reach the interceptors,
		// and the transport feedback would report them lost.
		buf := make([]byte, 1500)
		for {
			if _, _, err := t.Read(buf); err != nil {
				return
			}
		}
	}
	// Ask for a keyframe until one came: the publisher's answer to the
	// server's request may have left before this track was read.
	keyed := make(chan struct{})
	var once sync.Once
	go func() {
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-keyed:
				return
			case <-tick.C:
				if o.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(t.SSRC())}}) != nil {
					return
				}
			}
		}
	}()
	// A frame counts only when its packets came in order without a gap: a
	// lost packet (retransmitted later, out of order) would make a frame
	// that fails authentication for no fault of the encryption.
	var frame []byte
	var pkt rtp.Packet
	var last uint16
	whole := false
	buf := make([]byte, 1500)
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			return
		}
		if pkt.Unmarshal(buf[:n]) != nil {
			continue
		}
		var vp codecs.VP8Packet
		payload, err := vp.Unmarshal(pkt.Payload)
		if err != nil {
			continue
		}
		switch {
		case vp.S == 1 && vp.PID == 0:
			frame, whole = frame[:0], true
		case pkt.SequenceNumber != last+1:
			whole = false
		}
		last = pkt.SequenceNumber
		frame = append(frame, payload...)
		if pkt.Marker && !whole {
			frame = frame[:0]
			continue
		}
		if pkt.Marker {
			key := len(frame) > 10 && frame[0]&1 == 0
			o.mu.Lock()
			if fs := o.frames[t.StreamID()]; len(fs) < 300 || key && len(fs) < 400 {
				o.frames[t.StreamID()] = append(fs, bytes.Clone(frame))
			}
			o.mu.Unlock()
			if key {
				once.Do(func() { close(keyed) })
			}
			frame = frame[:0]
		}
	}
}

// checkCiphertext reports, for the video of every other participant,
// that the frames the SFU forwarded are encrypted under the room key:
// none is VP8 as it came, each keyframe decrypts (authenticated) to a
// VP8 keyframe that decodes to the size its clear header names.
func (o *observer) checkCiphertext(t *testing.T, streams int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		o.mu.Lock()
		ready := len(o.keys) > 0 && len(o.frames) >= streams
		for _, fs := range o.frames {
			ready = ready && len(fs) >= 30 && hasKeyframe(fs)
		}
		o.mu.Unlock()
		if ready {
			break
		}
		if time.Now().After(deadline) {
			o.mu.Lock()
			defer o.mu.Unlock()
			var seen []string
			for s, fs := range o.frames {
				first := ""
				if len(fs) > 0 && len(fs[0]) > 0 {
					first = fmt.Sprintf("%x", fs[0][:min(12, len(fs[0]))])
				}
				seen = append(seen, fmt.Sprintf("%s: %d frames, keyframe %v, first %s", s, len(fs), hasKeyframe(fs), first))
			}
			t.Fatalf("the observer holds %d room keys and frames of %d streams (want %d, with a keyframe each): %v", len(o.keys), len(o.frames), streams, seen)
		}
		time.Sleep(100 * time.Millisecond)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for stream, fs := range o.frames {
		decoded := 0
		for _, f := range fs {
			clear := 3
			if f[0]&1 == 0 {
				clear = 10
			}
			if len(f) < clear+16+13 {
				t.Errorf("%s: a forwarded frame of %d bytes is too short to be one of ours", stream, len(f))
				continue
			}
			key := o.keys[f[len(f)-1]]
			if key == nil {
				continue // sent under a key from before the observer came
			}
			plain, err := gcmOpen(key, f[len(f)-13:len(f)-1], f[clear:len(f)-13], f[:clear])
			if err != nil {
				t.Errorf("%s: a forwarded frame does not decrypt under the room key: %v", stream, err)
				continue
			}
			frame := append(bytes.Clone(f[:clear]), plain...)
			if bytes.Equal(frame, f) {
				t.Errorf("%s: the SFU forwarded a frame in clear", stream)
			}
			if clear == 10 {
				if err := decodes(frame); err != nil {
					t.Errorf("%s: a decrypted keyframe does not decode: %v", stream, err)
				} else if decodes(f) == nil && bytes.Equal(f[clear:clear+16], frame[clear:clear+16]) {
					t.Errorf("%s: the forwarded keyframe decodes as it came", stream)
				} else {
					decoded++
				}
			}
		}
		if decoded == 0 {
			t.Errorf("%s: no forwarded keyframe decrypted and decoded", stream)
		}
	}
}

func hasKeyframe(fs [][]byte) bool {
	for _, f := range fs {
		if len(f) > 10 && f[0]&1 == 0 {
			return true
		}
	}
	return false
}

// decodes decodes a VP8 keyframe with golang.org/x/image/vp8 and checks
// the picture is as large as its header says.
func decodes(frame []byte) error {
	d := vp8.NewDecoder()
	d.Init(bytes.NewReader(frame), len(frame))
	fh, err := d.DecodeFrameHeader()
	if err != nil {
		return err
	}
	img, err := d.DecodeFrame()
	if err != nil {
		return err
	}
	if b := img.Bounds(); b.Dx() != fh.Width || b.Dy() != fh.Height {
		return fmt.Errorf("decoded %v, header says %dx%d", b, fh.Width, fh.Height)
	}
	return nil
}

// peerOf returns the peer id of the call's first participant with role.
func (o *observer) peerOf(t *testing.T, role string) string {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, p := range o.peers {
		if p.Role == role && p.ID != o.self {
			return p.ID
		}
	}
	t.Fatalf("no %s among the peers %+v", role, o.peers)
	return ""
}

// readChat decrypts a chat message from peer id from, sealed under the
// room key of epoch with "chat|<epoch>|<from>" as additional data, as
// video-keys.js does.
func (o *observer) readChat(from string, epoch int, iv64, ct64 string) error {
	o.mu.Lock()
	key := o.keys[byte(epoch)]
	o.mu.Unlock()
	iv, err1 := base64.StdEncoding.DecodeString(iv64)
	ct, err2 := base64.StdEncoding.DecodeString(ct64)
	if key == nil || err1 != nil || err2 != nil {
		return fmt.Errorf("a chat message of %s under epoch %d, which this guest has no key of", from, epoch)
	}
	text, err := gcmOpen(key, iv, ct, []byte(fmt.Sprintf("chat|%d|%s", epoch, from)))
	if err != nil {
		return fmt.Errorf("open a chat message: %w", err)
	}
	o.mu.Lock()
	o.chats = append(o.chats, from+": "+string(text))
	o.mu.Unlock()
	return nil
}

// chatted reports whether a chat message with text reached the guest.
func (o *observer) chatted(text string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, c := range o.chats {
		if strings.HasSuffix(c, ": "+text) {
			return true
		}
	}
	return false
}
