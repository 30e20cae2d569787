package video

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/video/sfu"
)

// The messages of the hub, beside the media's (sfu.Type*): see
// docs/video.md for who sends which when.
const (
	TypeHello    = "hello"    // link holder → server, first: the landing page's ticket
	TypeWaiting  = "waiting"  // server → link holder: in the waiting room
	TypeAdmitted = "admitted" // server → link holder: let in; the media's offer follows
	TypeDenied   = "denied"   // server → link holder: turned away; the socket closes
	TypeEnded    = "ended"    // server → everyone: the call was ended or cancelled; the socket closes
	TypeReplaced = "replaced" // server → an older tab: the same link joined from elsewhere
	TypeLobby    = "lobby"    // server → staff: who waits now
	TypeAdmit    = "admit"    // staff → server: let link ID in
	TypeDeny     = "deny"     // staff → server: turn link ID away
	TypeEnd      = "end"      // staff → server: end the call for everyone
	TypeRelay    = "relay"    // both ways: opaque data for one other peer of the call (key exchange)
	TypeError    = "error"    // server → client: Code says what was refused
	TypeJoined   = "joined"   // server → staff: in the call; the media's offer follows
)

// Error codes of TypeError messages.
const (
	CodeBadMessage = "bad_message" // not understood, or not allowed now
	CodeTooFast    = "too_fast"    // more messages than the rate allows; the socket closes
	CodeFull       = "full"        // the call or its waiting room has no room for another
	CodeClosed     = "closed"      // the link does not open now (early, over, cancelled, ended)
	CodeDenied     = "denied"      // staff turned this link away from this call
)

// Errors of entering a call, each a Conflict.
var (
	ErrFull   = errors.New("video: no room left")
	ErrDenied = errors.New("video: turned away")
)

// MaxRelay is the most bytes of data one relay message carries.
const MaxRelay = 4 << 10

// Rejoin is how long after dropping out someone who was let in comes
// back without being admitted again (a network change, a reload), and
// how long an ended call's room refuses those still on their way in.
const Rejoin = 60 * time.Second

// MaxWaiting is how many link holders one waiting room holds; a
// consultation has at most 1+MaxGuests links, each waiting once.
const MaxWaiting = 1 + MaxGuests

// Message is one message of a call's websocket, in either direction: the
// media's (sfu.Message) and the hub's own fields. Fields a type does not
// use are omitted.
type Message struct {
	sfu.Message
	Ticket     string          `json:"ticket,omitempty"`     // hello
	ID         int64           `json:"id,omitempty"`         // admit, deny: the link
	Waiting    []Waiting       `json:"waiting,omitempty"`    // lobby
	Start      string          `json:"start,omitempty"`      // waiting: the planned start, RFC 3339
	Self       string          `json:"self,omitempty"`       // admitted, joined: one's own peer id
	ICEServers []ICEServer     `json:"iceServers,omitempty"` // admitted, joined: for the browser's peer connection
	To         string          `json:"to,omitempty"`         // relay: the receiving peer's id
	From       string          `json:"from,omitempty"`       // relay: the sending peer's id, set by the server
	Data       json.RawMessage `json:"data,omitempty"`       // relay: opaque to the server
	Code       string          `json:"code,omitempty"`       // error
	Echo       bool            `json:"echo,omitempty"`       // the connection test's media messages, both ways
}

// ICEServer is one entry of RTCConfiguration.iceServers: a TURN server
// with short-lived credentials for one participant.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// Waiting is a link holder in the waiting room, as staff see them.
type Waiting struct {
	ID    int64  `json:"id"` // the link
	Name  string `json:"name"`
	Guest bool   `json:"guest"`
}

// Conn is one participant's websocket as the hub uses it. Send queues a
// message and must not block; an error means the connection is gone (or
// cannot keep up) and the hub forgets it. Close ends the connection
// without waiting for it.
type Conn interface {
	Send(Message) error
	Close()
}

// Hub holds the people connected to the calls this process runs: each
// call's waiting room, who is in it, and the media (sfu). It is built
// once per process and safe for concurrent use. Its lock is never held
// while the database, the media or a socket is waited for.
type Hub struct {
	svc   *Service
	media *sfu.SFU
	ice   func(user string) []ICEServer // TURN servers for a participant; nil: none
	log   *slog.Logger
	now   func() time.Time

	mu    sync.Mutex
	rooms map[int64]*room
}

// NewHub returns the hub of svc's consultations, forwarding media
// through media; ice, when not nil, gives each participant its TURN
// servers.
func NewHub(svc *Service, media *sfu.SFU, ice func(user string) []ICEServer, log *slog.Logger) *Hub {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Hub{svc: svc, media: media, ice: ice, log: log, now: svc.now, rooms: map[int64]*room{}}
}

// room is one consultation's people on this process.
type room struct {
	c        store.Consultation
	waiting  map[int64]*Member    // by link
	order    []int64              // the waiting links in order of arrival
	call     map[string]*Member   // by peer id, from before the media join
	staff    map[*Member]struct{} // staff members, told of the waiting room
	admitted map[int64]time.Time  // link → until when it rejoins without admission (zero: while in the call); kept in PostgreSQL too
	denied   map[int64]bool       // links turned away: they do not wait again; kept in PostgreSQL too
	closed   bool                 // ended or cancelled: nobody enters
	// lobby orders the lobby messages: one list is made and sent before
	// the next is made, so that the last one staff get is who waits now.
	// It is taken before the hub's lock, never while holding it.
	lobby sync.Mutex
}

// Member is one connected person: a link holder (patient or guest) or a
// staff member. The websocket handler passes each message it reads to
// Handle and calls Leave when the socket ends.
type Member struct {
	hub    *Hub
	room   *room
	conn   Conn
	id     string // the peer id in the call: "link-12", "staff-3"
	name   string
	role   string // "patient", "guest", "staff"
	linkID int64
	access Access // staff only
	peer   *sfu.Peer
	ready  chan struct{} // closed once the media join ended, with peer set or not
	left   bool
	echo   *echo // the running connection test
	echoes int   // connection tests started
}

// The roles of a call's participants, as the others see them.
const (
	rolePatient = "patient"
	roleGuest   = "guest"
	roleStaff   = "staff"
)

// Signal passes the media's messages to the member's socket
// (sfu.Signaler).
func (m *Member) Signal(s sfu.Message) error { return m.conn.Send(Message{Message: s}) }

// EnterLink connects the holder of token (with the landing page's
// ticket) to its consultation's waiting room, or, when staff let them in
// less than Rejoin ago, straight into the call: Service.Enter, then
// Connect. Errors: those of both.
func (h *Hub) EnterLink(ctx context.Context, token, ticket string, conn Conn) (*Member, error) {
	e, err := h.svc.Enter(ctx, token, ticket)
	if err != nil {
		return nil, err
	}
	return h.Connect(ctx, e, conn)
}

// EnterStaff connects staff member a to consultation id: into the call,
// told who waits: Service.EnterStaff, then Connect. Errors: those of
// both.
func (h *Hub) EnterStaff(ctx context.Context, a Access, id int64, conn Conn) (*Member, error) {
	e, err := h.svc.EnterStaff(ctx, a, id)
	if err != nil {
		return nil, err
	}
	return h.Connect(ctx, e, conn)
}

// Connect connects e, checked a moment ago by Service.Enter or
// Service.EnterStaff, to the call on this process, over conn. A link's
// holder goes to the waiting room, or, when staff let them in less than
// Rejoin ago, straight into the call; a staff member into the call, told
// who waits. A second connection of the same link (or staff member)
// replaces the first, which is told so. Errors: Invalid (e is no
// entry), Conflict (ErrFull, ErrDenied, or the call was ended), and those
// of the metadata and the media.
func (h *Hub) Connect(ctx context.Context, e Entry, conn Conn) (*Member, error) {
	switch {
	case e.c.ID == 0:
		return nil, fault.New(fault.Invalid, "video: connect", "")
	case e.link.ID == 0:
		return h.connectStaff(ctx, e, conn)
	}
	return h.connectLink(ctx, e, conn)
}

func (h *Hub) connectLink(ctx context.Context, e Entry, conn Conn) (*Member, error) {
	const op = "video: enter"
	role := rolePatient
	if e.link.Kind == store.LinkGuest {
		role = roleGuest
	}
	m := &Member{hub: h, conn: conn, id: "link-" + strconv.FormatInt(e.link.ID, 10), name: e.name, role: role, linkID: e.link.ID,
		ready: make(chan struct{})}

	h.mu.Lock()
	r := h.roomLocked(e.c)
	m.room = r
	// Staff's decisions are this room's while it lives, and PostgreSQL's
	// from before it (another process held the call, and died).
	switch {
	case r.closed:
		h.mu.Unlock()
		return nil, fault.New(fault.Conflict, op, "")
	case r.denied[m.linkID] || e.link.Denied:
		h.forgetLocked(r)
		h.mu.Unlock()
		return nil, fault.Wrap(fault.Conflict, op, ErrDenied)
	}
	old := r.waiting[m.linkID]
	if old == nil {
		old = r.call[m.id]
	}
	var closeOld *sfu.Peer
	if old != nil {
		closeOld = h.dropLocked(old)
	}
	now := h.now()
	until, wasAdmitted := r.admitted[m.linkID]
	rejoin := wasAdmitted && (until.IsZero() || now.Before(until)) ||
		e.link.RejoinUntil != nil && now.Before(*e.link.RejoinUntil)
	full := !rejoin && len(r.waiting) >= MaxWaiting
	switch {
	case rejoin:
		// In the call from here, not in neither place until join: a
		// later tab replaces it, an End tells it.
		r.call[m.id] = m
	case !full:
		r.waiting[m.linkID] = m
		r.order = append(r.order, m.linkID)
	}
	if !full {
		// Dropping the tab m replaces forgets r when that tab was all it
		// held; m is in it now, and a Close must find it.
		h.rooms[r.c.ID] = r
	}
	h.mu.Unlock()
	closeMedia(closeOld)
	if old != nil {
		old.tell(TypeReplaced)
	}
	if full {
		return nil, fault.Wrap(fault.Conflict, op, ErrFull)
	}

	if rejoin {
		if err := h.svc.presentLink(ctx, e.c, m.linkID, store.PresenceRejoined, now.Add(Rejoin)); err != nil {
			h.Leave(m)
			return nil, err
		}
		if err := h.join(m); err != nil {
			h.Leave(m) // nobody else will: the caller gets no member
			return nil, err
		}
		return m, nil
	}
	if err := h.svc.Present(ctx, e.c, m.linkID, 0, store.PresenceWaiting); err != nil {
		h.Leave(m)
		return nil, err
	}
	waiting := Message{Message: sfu.Message{Type: TypeWaiting}, Start: e.c.StartsAt.UTC().Format(time.RFC3339)}
	if h.ice != nil {
		waiting.ICEServers = h.ice(m.id) // for the connection test
	}
	_ = conn.Send(waiting)
	h.tellStaff(r)
	return m, nil
}

func (h *Hub) connectStaff(ctx context.Context, e Entry, conn Conn) (*Member, error) {
	a, c := e.access, e.c
	m := &Member{hub: h, conn: conn, id: "staff-" + strconv.FormatInt(a.StaffID, 10), name: a.Name, role: roleStaff, access: a,
		ready: make(chan struct{})}
	h.mu.Lock()
	r := h.roomLocked(c)
	m.room = r
	if r.closed {
		h.mu.Unlock()
		return nil, fault.New(fault.Conflict, "video: enter", "")
	}
	old := r.call[m.id]
	var closeOld *sfu.Peer
	if old != nil {
		closeOld = h.dropLocked(old)
	}
	r.staff[m] = struct{}{}
	h.rooms[r.c.ID] = r // dropping the replaced tab may have forgotten r
	h.mu.Unlock()
	closeMedia(closeOld)
	if old != nil {
		old.tell(TypeReplaced)
	}
	if err := h.svc.Present(ctx, c, 0, a.StaffID, store.PresenceJoined); err != nil {
		h.Leave(m)
		return nil, err
	}
	if err := h.join(m); err != nil {
		h.Leave(m)
		return nil, err
	}
	h.tellStaff(r)
	return m, nil
}

// join puts m into the call: it counts as in the call at once (so the
// others' key messages reach it), and into the media, whose peers and
// offer follow the hub's own message.
func (h *Hub) join(m *Member) error {
	defer close(m.ready)
	h.mu.Lock()
	if m.left || m.room.closed {
		untold := !m.left // the room's Close did not reach m
		h.mu.Unlock()
		if untold {
			m.tell(TypeEnded)
		}
		return fault.New(fault.Conflict, "video: join", "")
	}
	m.room.call[m.id] = m
	if m.linkID != 0 {
		m.room.admitted[m.linkID] = time.Time{}
	}
	h.stopEchoLocked(m)
	h.mu.Unlock()

	t := TypeAdmitted
	if m.role == roleStaff {
		t = TypeJoined
	}
	msg := Message{Message: sfu.Message{Type: t}, Self: m.id}
	if h.ice != nil {
		msg.ICEServers = h.ice(m.id)
	}
	_ = m.conn.Send(msg)
	p, err := h.joinMedia(m)
	h.mu.Lock()
	if err != nil {
		if m.room.call[m.id] == m {
			delete(m.room.call, m.id)
			if m.linkID != 0 {
				m.room.admitted[m.linkID] = h.now().Add(Rejoin)
			}
		}
		untold := m.room.closed && !m.left
		h.mu.Unlock()
		switch {
		case untold:
			m.tell(TypeEnded)
		case errors.Is(err, sfu.ErrRoomFull):
			_ = m.conn.Send(Message{Message: sfu.Message{Type: TypeError}, Code: CodeFull})
		}
		return err
	}
	if m.left || m.room.closed {
		untold := !m.left
		h.mu.Unlock()
		p.Close()
		if untold {
			m.tell(TypeEnded)
		}
		return fault.New(fault.Conflict, "video: join", "")
	}
	m.peer = p
	h.mu.Unlock()
	go func() {
		<-p.Done()
		h.mu.Lock()
		dropped := m.left // the hub closed the media itself, and tells the socket why
		h.mu.Unlock()
		if !dropped {
			m.conn.Close() // the media gave up (a failed negotiation, a socket that stopped reading)
		}
	}()
	return nil
}

// joinMedia puts m into its call's media. The tab m replaced may still
// be leaving the media under the same peer id (its Close runs once the
// hub's lock is released); m waits for that, a second at most.
func (h *Hub) joinMedia(m *Member) (*sfu.Peer, error) {
	room := h.media.Room(strconv.FormatInt(m.room.c.ID, 10))
	for try := 0; ; try++ {
		p, err := room.Join(m.id, sfu.PeerInfo{Name: m.name, Role: m.role}, m)
		if !errors.Is(err, sfu.ErrPeerExists) || try == 20 {
			return p, err
		}
		time.Sleep(50 * time.Millisecond)
		h.mu.Lock()
		gone := m.left || m.room.closed
		h.mu.Unlock()
		if gone {
			return nil, err
		}
	}
}

// Leave forgets m when its socket ends: out of the waiting room or the
// call (a link holder let in rejoins without admission for Rejoin).
func (h *Hub) Leave(m *Member) {
	h.mu.Lock()
	if m.left {
		h.mu.Unlock()
		return
	}
	r := m.room
	wasWaiting := m.linkID != 0 && r.waiting[m.linkID] == m
	inCall := r.call[m.id] == m
	p := h.dropLocked(m)
	var until time.Time // when a link's holder, out of the call, needs admission again
	if inCall && m.linkID != 0 {
		until = r.admitted[m.linkID]
	}
	h.mu.Unlock()
	closeMedia(p)
	if wasWaiting || inCall {
		h.record(r.c, m, store.PresenceLeft, until)
	}
	h.tellStaff(r)
}

// record writes metadata from outside a request: a failure loses only
// that entry, and is logged. until, when not zero, is until when m, a
// link's holder who was let in, comes back without admission.
func (h *Hub) record(c store.Consultation, m *Member, kind string, until time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var err error
	if until.IsZero() {
		err = h.svc.Present(ctx, c, m.linkID, m.access.StaffID, kind)
	} else {
		err = h.svc.presentLink(ctx, c, m.linkID, kind, until)
	}
	if err != nil {
		h.log.Warn("video: record metadata", "consultation", c.ID, "kind", kind, "err", err)
	}
}

// tell sends m one message of type t and closes its socket.
func (m *Member) tell(t string) {
	_ = m.conn.Send(Message{Message: sfu.Message{Type: t}})
	m.conn.Close()
}

// roomLocked returns the room of c, made when nobody is connected to it.
func (h *Hub) roomLocked(c store.Consultation) *room {
	r := h.rooms[c.ID]
	if r == nil {
		r = &room{c: c, waiting: map[int64]*Member{}, call: map[string]*Member{}, admitted: map[int64]time.Time{},
			staff: map[*Member]struct{}{}, denied: map[int64]bool{}}
		h.rooms[c.ID] = r
	}
	return r
}

// dropLocked takes m out of its room and returns its media to close once
// the lock is released. A link holder who was in the call may rejoin for
// Rejoin; the room is forgotten once nobody is connected.
func (h *Hub) dropLocked(m *Member) *sfu.Peer {
	m.left = true
	h.stopEchoLocked(m)
	r := m.room
	if m.linkID != 0 && r.waiting[m.linkID] == m {
		h.unwaitLocked(m)
	}
	if r.call[m.id] == m {
		delete(r.call, m.id)
		if m.linkID != 0 && !r.closed {
			r.admitted[m.linkID] = h.now().Add(Rejoin)
		}
	}
	delete(r.staff, m)
	h.forgetLocked(r)
	return m.peer
}

// forgetLocked takes r out of the hub when nobody is connected to it. Who
// may rejoin it and who was turned away are in PostgreSQL too, which the
// next room of the consultation reads, on this process or another.
func (h *Hub) forgetLocked(r *room) {
	if len(r.waiting) > 0 || len(r.call) > 0 || len(r.staff) > 0 || r.closed {
		return
	}
	if h.rooms[r.c.ID] == r {
		delete(h.rooms, r.c.ID)
	}
}

func (h *Hub) unwaitLocked(m *Member) {
	r := m.room
	delete(r.waiting, m.linkID)
	for i, id := range r.order {
		if id == m.linkID {
			r.order = append(r.order[:i], r.order[i+1:]...)
			break
		}
	}
}

// tellStaff sends every staff member of r who waits now, in order of
// arrival.
func (h *Hub) tellStaff(r *room) {
	r.lobby.Lock()
	defer r.lobby.Unlock()
	h.mu.Lock()
	list := make([]Waiting, 0, len(r.order))
	for _, id := range r.order {
		if w := r.waiting[id]; w != nil {
			list = append(list, Waiting{ID: id, Name: w.name, Guest: w.role == roleGuest})
		}
	}
	staff := make([]*Member, 0, len(r.staff))
	for m := range r.staff {
		staff = append(staff, m)
	}
	h.mu.Unlock()
	for _, m := range staff {
		_ = m.conn.Send(Message{Message: sfu.Message{Type: TypeLobby}, Waiting: list})
	}
}

func closeMedia(p *sfu.Peer) {
	if p != nil {
		p.Close()
	}
}
