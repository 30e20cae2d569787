package portal

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/internal/auth"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/video"
	"github.com/gesundheitsamt/portal/internal/video/sfu"
)

// The limits of a call's websocket: the largest message (an SDP answer
// with room to spare), how long a link holder has to say hello, how
// long a silent socket lives (pings keep a live one talking), the
// messages a socket may send per second and at once, and how many the
// server queues for a slow reader before it gives up on it.
const (
	socketMaxMessage = sfu.MaxSDP + 16<<10
	socketHello      = 10 * time.Second
	socketIdle       = 60 * time.Second
	socketPing       = 20 * time.Second
	socketWrite      = 10 * time.Second
	socketRate       = 20  // messages per second, on average
	socketBurst      = 100 // messages at once (a burst of ICE candidates)
	socketQueue      = 256
)

// socketConfig is the upgrade of both call sockets: no compression (it
// buys little on SDP and costs memory per socket), a panic logged and
// the socket closed, never the panic sent to the client.
func (s *Server) socketConfig() websocket.Config {
	return websocket.Config{
		HandshakeTimeout: 10 * time.Second,
		RecoverHandler: func(ws *websocket.Conn) {
			if e := recover(); e != nil {
				s.log.Error("panic in a call socket", "panic", e)
				_ = ws.Close()
			}
		},
	}
}

// requireSocket lets only websocket upgrades from the portal's own pages
// through: a page of another site may open a websocket to us with the
// staff member's cookies (cross-site websocket hijacking), so the Origin
// must be this request's own.
func requireSocket(c *fiber.Ctx) error {
	if !websocket.IsWebSocketUpgrade(c) {
		return fiber.ErrUpgradeRequired
	}
	origin, err := url.Parse(c.Get(fiber.HeaderOrigin))
	if err != nil || origin.Host != c.Hostname() || origin.Scheme != c.Protocol() {
		return fiber.ErrForbidden
	}
	return c.Next()
}

// linkSocket is the websocket of a join link's holder (GET
// /video/:token/ws): hello with the landing page's ticket, then the
// waiting room, then the call.
func (s *Server) linkSocket(ws *websocket.Conn) {
	token := ws.Params("token")
	_ = ws.SetReadDeadline(time.Now().Add(socketHello))
	ws.SetReadLimit(4 << 10) // the hello of someone not yet known is small
	_, raw, err := ws.ReadMessage()
	var hello video.Message
	if err == nil {
		err = json.Unmarshal(raw, &hello)
	}
	if err != nil || hello.Type != video.TypeHello {
		newSocket(ws, s.log).refuse(video.CodeBadMessage)
		return
	}
	path := "/video/" + token + "/ws"
	// Checked here once, whether the call is this node's or another's
	// (which checks it once more, trusting no node with who may enter).
	s.routeSocket(ws, path, "", raw, func(ctx context.Context) (video.Entry, error) {
		return s.video.Enter(ctx, token, hello.Ticket)
	}, nil)
}

// routeSocket enters a socket into its call: enter checks who it is; the
// socket then goes on to the node holding the call (with cookie or the
// hello it opened with) or joins here, with watch (may be nil) running
// beside it until it ends.
func (s *Server) routeSocket(ws *websocket.Conn, path, cookie string, hello []byte, enter func(context.Context) (video.Entry, error), watch func(*socket, <-chan struct{})) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	e, err := enter(ctx)
	var holder string
	if err == nil {
		holder, err = s.holder(ctx, ws, path, e.Consultation())
	}
	cancel()
	if err != nil {
		newSocket(ws, s.log).refuse(refusal(err))
		return
	}
	if holder != "" {
		if !s.passOn(ws, holder, path, cookie, hello) {
			newSocket(ws, s.log).refuse(video.CodeClosed)
		}
		return
	}
	sock := newSocket(ws, s.log)
	defer sock.Close()
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	m, err := s.hub.Connect(ctx, e, sock)
	cancel()
	if err != nil {
		sock.refuse(refusal(err))
		return
	}
	defer s.hub.Leave(m)
	if watch != nil {
		stop := make(chan struct{})
		defer close(stop)
		go watch(sock, stop)
	}
	s.serveSocket(ws, sock, m)
}

// staffSocket is a staff member's websocket of consultation :id (GET
// /staff/video/:id/ws), behind the staff login: the call and its waiting
// room.
func (s *Server) staffSocket(ws *websocket.Conn) {
	st, _ := ws.Locals(localStaff).(auth.Staff)
	id, ok := parseID(ws.Params("id"))
	if !ok || st.ID == 0 {
		newSocket(ws, s.log).refuse(video.CodeBadMessage)
		return
	}
	path := "/staff/video/" + strconv.FormatInt(id, 10) + "/ws"
	s.routeSocket(ws, path, ws.Headers(fiber.HeaderCookie), nil, func(ctx context.Context) (video.Entry, error) {
		return s.video.EnterStaff(ctx, video.StaffAccess(st), id)
	}, func(sock *socket, stop <-chan struct{}) {
		s.watchSession(ws.Cookies(s.staffCookie()), st, sock, stop)
	})
}

// watchSession closes a staff member's call socket once the session it
// was opened with no longer holds as it did: logged out, expired, the
// account disabled, moved to another office or role, or asked to change
// its password (which is all requireStaff then lets it do). A socket
// outlives the request that authenticated it, so it asks again every
// s.recheck; a database that does not answer keeps the call (the next
// check decides). Each check renews the session's idle timer: someone
// in a call is not idle.
func (s *Server) watchSession(cookie string, st auth.Staff, sock *socket, stop <-chan struct{}) {
	tick := time.NewTicker(s.recheck)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		now, err := s.auth.Session(ctx, cookie)
		cancel()
		if err != nil && fault.KindOf(err) != fault.NotFound {
			continue
		}
		if err != nil || now.ID != st.ID || now.OfficeID != st.OfficeID || now.Role != st.Role || now.MustChangePassword {
			sock.refuse(video.CodeClosed)
			return
		}
	}
}

// refusal is the error code a refused entry is told.
func refusal(err error) string {
	switch {
	case errors.Is(err, video.ErrFull) || errors.Is(err, sfu.ErrRoomFull):
		return video.CodeFull
	case fault.KindOf(err) == fault.Conflict:
		return video.CodeClosed
	}
	return video.CodeBadMessage
}

// serveSocket reads m's messages until the socket ends: each within the
// rate, each handed to the hub. A message the hub refuses is answered
// with an error and the socket stays; one too many closes it.
func (s *Server) serveSocket(ws *websocket.Conn, sock *socket, m *video.Member) {
	ws.SetReadLimit(socketMaxMessage)
	_ = ws.SetReadDeadline(time.Now().Add(socketIdle))
	ws.SetPongHandler(func(string) error { return ws.SetReadDeadline(time.Now().Add(socketIdle)) })
	bucket := newBucket(socketRate, socketBurst)
	for {
		_, raw, err := ws.ReadMessage()
		if err != nil {
			return
		}
		_ = ws.SetReadDeadline(time.Now().Add(socketIdle))
		if !bucket.take(time.Now()) {
			sock.refuse(video.CodeTooFast)
			return
		}
		var msg video.Message
		if err := json.Unmarshal(raw, &msg); err != nil {
			_ = sock.Send(errorMessage(video.CodeBadMessage))
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = s.hub.Handle(ctx, m, msg)
		cancel()
		if err != nil {
			if fault.KindOf(err) == fault.Internal {
				s.log.Warn("video: a call message failed", "type", msg.Type, "err", err)
			}
			_ = sock.Send(errorMessage(video.CodeBadMessage))
		}
	}
}

func errorMessage(code string) video.Message {
	return video.Message{Message: sfu.Message{Type: video.TypeError}, Code: code}
}

// socket is one websocket as the hub writes to it (video.Conn): messages
// are queued and written by one goroutine, with a deadline each, and
// pings keep the connection alive. A reader that falls socketQueue
// messages behind is given up.
type socket struct {
	ws      *websocket.Conn
	log     *slog.Logger
	out     chan video.Message
	closing chan struct{}
	done    chan struct{}
	once    sync.Once
}

var errSocketGone = errors.New("portal: the socket is closed or too slow")

func newSocket(ws *websocket.Conn, log *slog.Logger) *socket {
	s := &socket{ws: ws, log: log, out: make(chan video.Message, socketQueue), closing: make(chan struct{}), done: make(chan struct{})}
	go s.write()
	return s
}

// Send queues m; it never blocks.
func (s *socket) Send(m video.Message) error {
	select {
	case <-s.closing:
		return errSocketGone
	default:
	}
	select {
	case s.out <- m:
		return nil
	default:
		s.Close()
		return errSocketGone
	}
}

// Close writes what is queued, then closes the connection, and waits
// until it is closed.
func (s *socket) Close() {
	s.once.Do(func() { close(s.closing) })
	<-s.done
}

// refuse tells the client code and closes.
func (s *socket) refuse(code string) {
	_ = s.Send(errorMessage(code))
	s.Close()
}

func (s *socket) write() {
	defer close(s.done)
	defer s.ws.Close()
	ping := time.NewTicker(socketPing)
	defer ping.Stop()
	send := func(m video.Message) bool {
		_ = s.ws.SetWriteDeadline(time.Now().Add(socketWrite))
		return s.ws.WriteJSON(m) == nil
	}
	for {
		select {
		case m := <-s.out:
			if !send(m) {
				return
			}
		case <-ping.C:
			if s.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(socketWrite)) != nil {
				return
			}
		case <-s.closing:
			for {
				select {
				case m := <-s.out:
					if !send(m) {
						return
					}
				default:
					_ = s.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
					return
				}
			}
		}
	}
}

// bucket is a token bucket: rate tokens a second, at most burst.
type bucket struct {
	rate, burst, tokens float64
	at                  time.Time
}

func newBucket(rate, burst int) *bucket {
	return &bucket{rate: float64(rate), burst: float64(burst), tokens: float64(burst)}
}

func (b *bucket) take(now time.Time) bool {
	if !b.at.IsZero() {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.at).Seconds()*b.rate)
	}
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
