package portal

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/fasthttp/websocket"
	fws "github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/video"
)

// A call lives on one portal process (node; see internal/video's
// NodeLease). A socket that reaches another node is passed on: that node
// checks who it is (the ticket or the staff session), then opens the
// same socket path on the holder, presenting the person's own hello or
// cookie, and copies the frames both ways. The holder treats it as any
// socket; the media goes straight between the browser and the holder's
// SFU, whose candidates the offers carry. The hop header says that a
// node opened it: the holder counts the client's limits no second time
// and never passes it on again.
const (
	hopHeader = "X-Portal-Hop"
	hopMaxAge = time.Minute
)

// node is this process's name in video_consultation.node, "" with one
// process (no PORTAL_NODE_URL).
func (s *Server) node() string {
	if s.cfg.NodeURL == nil {
		return ""
	}
	return s.cfg.NodeURL.String()
}

// hopMAC signs a hop to path at unix time at.
func (s *Server) hopMAC(path string, at int64) string {
	m := hmac.New(sha256.New, s.cfg.SecretKey)
	m.Write([]byte("portal-node-hop\x00" + path + "\x00" + strconv.FormatInt(at, 10)))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// validHop reports whether value is a fresh hop header for path, made by
// a node of this installation (which shares the secret key).
func (s *Server) validHop(path, value string) bool {
	at, mac, ok := strings.Cut(value, ".")
	if !ok || s.node() == "" {
		return false
	}
	n, err := strconv.ParseInt(at, 10, 64)
	if err != nil {
		return false
	}
	if age := time.Since(time.Unix(n, 0)); age < -hopMaxAge || age > hopMaxAge {
		return false
	}
	return hmac.Equal([]byte(mac), []byte(s.hopMAC(path, n)))
}

// hopped reports whether the request is a socket another node passed on.
func (s *Server) hopped(c *fiber.Ctx) bool {
	v := c.Get(hopHeader)
	return v != "" && s.validHop(c.Path(), v)
}

// holder returns the node that runs consultation c's call when it is
// another one than this; "" when the call is (or becomes) this node's.
// A socket passed on by a node is this node's in any case, so that a
// stale view of the holder never sends it round in circles.
func (s *Server) holder(ctx context.Context, ws *fws.Conn, path string, c store.Consultation) (string, error) {
	if s.node() == "" || s.validHop(path, ws.Headers(hopHeader)) {
		return "", nil
	}
	h, err := s.video.Claim(ctx, c, s.node())
	if err != nil || h == s.node() {
		return "", err
	}
	return h, nil
}

// passOn copies the frames of ws to the same path on node holder and
// back, until either side ends; first, when set, is sent ahead (the
// hello already read). It returns false when the holder cannot be
// reached.
func (s *Server) passOn(ws *fws.Conn, holder, path, cookie string, first []byte) bool {
	u, err := url.Parse(holder)
	if err != nil {
		return false
	}
	origin := u.Scheme + "://" + u.Host
	u.Scheme = map[string]string{"http": "ws", "https": "wss"}[u.Scheme]
	u.Path = path
	header := http.Header{"Origin": {origin}, hopHeader: {s.hop(path)}}
	if cookie != "" {
		header.Set("Cookie", cookie)
	}
	dialer := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	up, res, err := dialer.Dial(u.String(), header)
	if res != nil && res.Body != nil {
		_ = res.Body.Close()
	}
	if err != nil {
		s.log.Warn("video: the node holding a call does not answer", "node", holder, "err", err)
		return false
	}
	defer up.Close()
	up.SetReadLimit(1 << 20) // the holder's offers, already bounded there
	if first != nil && up.WriteMessage(websocket.TextMessage, first) != nil {
		return true
	}
	// The holder's pings reach the browser, whose pongs keep both alive.
	up.SetPingHandler(func(data string) error {
		return ws.WriteControl(websocket.PingMessage, []byte(data), time.Now().Add(socketWrite))
	})
	ws.SetPongHandler(func(data string) error {
		_ = ws.SetReadDeadline(time.Now().Add(socketIdle))
		return up.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(socketWrite))
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer ws.Close()
		for {
			t, b, err := up.ReadMessage()
			if err != nil {
				return
			}
			_ = ws.SetWriteDeadline(time.Now().Add(socketWrite))
			if ws.WriteMessage(t, b) != nil {
				return
			}
		}
	}()
	ws.SetReadLimit(socketMaxMessage)
	for {
		_ = ws.SetReadDeadline(time.Now().Add(socketIdle))
		t, b, err := ws.ReadMessage()
		if err != nil {
			break
		}
		_ = up.SetWriteDeadline(time.Now().Add(socketWrite))
		if up.WriteMessage(t, b) != nil {
			break
		}
	}
	_ = up.Close()
	<-done
	return true
}

// hop is the hop header for path, now.
func (s *Server) hop(path string) string {
	at := time.Now().Unix()
	return strconv.FormatInt(at, 10) + "." + s.hopMAC(path, at)
}

// KeepCalls renews what the database knows of the calls this process
// runs (video.Hub.Keep: its hold on them, with several processes, and
// who in them comes back without admission), every video.NodeBeat,
// until ctx ends; the wiring runs it with the background work.
func (s *Server) KeepCalls(ctx context.Context) {
	tick := time.NewTicker(video.NodeBeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := s.hub.Keep(c, s.node()); err != nil {
			s.log.Warn("video: renew what the database knows of this node's calls", "err", err)
		}
		cancel()
	}
}
