package video

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	TypeEnded    = "ended"    // server → everyone: staff ended the call; the socket closes
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
)

// ErrFull is the Conflict of a call or waiting room with no room left.
var ErrFull = errors.New("video: no room left")

// MaxRelay is the most bytes of data one relay message carries.
const MaxRelay = 4 << 10

// Rejoin is how long after dropping out someone who was let in comes
// back without being admitted again (a network change, a reload).
const Rejoin = 60 * time.Second

// MaxWaiting is how many link holders one waiting room holds.
const MaxWaiting = 8

// Message is one message of a call's websocket, in either direction: the
// media's (sfu.Message) and the hub's own fields. Fields a type does not
// use are omitted.
type Message struct {
	sfu.Message
	Ticket  string          `json:"ticket,omitempty"`  // hello
	ID      int64           `json:"id,omitempty"`      // admit, deny: the link
	Waiting []Waiting       `json:"waiting,omitempty"` // lobby
	Start   string          `json:"start,omitempty"`   // waiting: the planned start, RFC 3339
	Self    string          `json:"self,omitempty"`    // admitted, joined: one's own peer id
	To      string          `json:"to,omitempty"`      // relay: the receiving peer's id
	From    string          `json:"from,omitempty"`    // relay: the sending peer's id, set by the server
	Data    json.RawMessage `json:"data,omitempty"`    // relay: opaque to the server
	Code    string          `json:"code,omitempty"`    // error
}

// Waiting is a link holder in the waiting room, as staff see them.
type Waiting struct {
	ID    int64  `json:"id"` // the link
	Name  string `json:"name"`
	Guest bool   `json:"guest"`
}

// Conn is one participant's websocket as the hub uses it. Send queues a
// message and must not block; an error means the connection is gone (or
// cannot keep up) and the hub forgets it. Close ends the connection.
type Conn interface {
	Send(Message) error
	Close()
}

// Hub holds the people connected to the calls this process runs: each
// call's waiting room, who is in it, and the media (sfu). It is built
// once per process and safe for concurrent use.
type Hub struct {
	svc   *Service
	media *sfu.SFU
	log   *slog.Logger
	now   func() time.Time

	mu    sync.Mutex
	rooms map[int64]*room
}

// NewHub returns the hub of svc's consultations, forwarding media
// through media.
func NewHub(svc *Service, media *sfu.SFU, log *slog.Logger) *Hub {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Hub{svc: svc, media: media, log: log, now: svc.now, rooms: map[int64]*room{}}
}

// room is one consultation's people on this process.
type room struct {
	c        store.Consultation
	waiting  map[int64]*Member    // by link
	call     map[string]*Member   // by peer id
	admitted map[int64]time.Time  // link → until when it rejoins without admission (zero: while in the call)
	staff    map[*Member]struct{} // staff members, told of the waiting room
	order    []int64              // the waiting links in order of arrival
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
	left   bool
}

// Signal passes the media's messages to the member's socket
// (sfu.Signaler).
func (m *Member) Signal(s sfu.Message) error { return m.conn.Send(Message{Message: s}) }

// EnterLink connects the holder of token (with the landing page's
// ticket) to its consultation's waiting room, or, when staff let them in
// less than Rejoin ago, straight into the call. A second connection of
// the same link replaces the first, which is told so. Errors: those of
// Service.Enter; Conflict (the waiting room is full).
func (h *Hub) EnterLink(ctx context.Context, token, ticket string, conn Conn) (*Member, error) {
	j, name, err := h.svc.Enter(ctx, token, ticket)
	if err != nil {
		return nil, err
	}
	role := "patient"
	if j.Link.Kind == store.LinkGuest {
		role = "guest"
	}
	m := &Member{hub: h, conn: conn, id: "link-" + strconv.FormatInt(j.Link.ID, 10), name: name, role: role, linkID: j.Link.ID}

	h.mu.Lock()
	r := h.roomLocked(j.Consultation)
	m.room = r
	var old *Member
	if o := r.waiting[m.linkID]; o != nil {
		old = o
	} else if o := r.call[m.id]; o != nil {
		old = o
	}
	if old != nil {
		h.dropLocked(old)
	}
	until, wasAdmitted := r.admitted[m.linkID]
	rejoin := wasAdmitted && (until.IsZero() || h.now().Before(until))
	if !rejoin && len(r.waiting) >= MaxWaiting {
		h.mu.Unlock()
		if old != nil {
			old.replaced()
		}
		return nil, fault.Wrap(fault.Conflict, "video: enter", ErrFull)
	}
	if !rejoin {
		r.waiting[m.linkID] = m
		r.order = append(r.order, m.linkID)
	}
	h.mu.Unlock()
	if old != nil {
		old.replaced()
	}

	if rejoin {
		if err := h.join(m); err != nil {
			return nil, err
		}
		return m, h.svc.Present(ctx, j.Consultation, m.linkID, 0, store.PresenceAdmitted)
	}
	if err := h.svc.Present(ctx, j.Consultation, m.linkID, 0, store.PresenceWaiting); err != nil {
		h.Leave(m)
		return nil, err
	}
	_ = conn.Send(Message{Message: sfu.Message{Type: TypeWaiting}, Start: j.Consultation.StartsAt.UTC().Format(time.RFC3339)})
	h.tellStaff(r)
	return m, nil
}

// EnterStaff connects staff member a to consultation id: into the call,
// told who waits. Errors: those of Service.EnterStaff; Conflict (the call
// is full).
func (h *Hub) EnterStaff(ctx context.Context, a Access, id int64, conn Conn) (*Member, error) {
	c, err := h.svc.EnterStaff(ctx, a, id)
	if err != nil {
		return nil, err
	}
	m := &Member{hub: h, conn: conn, id: "staff-" + strconv.FormatInt(a.StaffID, 10), name: a.Name, role: "staff", access: a}
	h.mu.Lock()
	r := h.roomLocked(c)
	m.room = r
	old := r.call[m.id]
	if old != nil {
		h.dropLocked(old)
	}
	r.staff[m] = struct{}{}
	h.mu.Unlock()
	if old != nil {
		old.replaced()
	}
	if err := h.join(m); err != nil {
		h.Leave(m)
		return nil, err
	}
	if err := h.svc.Present(ctx, c, 0, a.StaffID, store.PresenceJoined); err != nil {
		h.Leave(m)
		return nil, err
	}
	h.tellStaff(r)
	return m, nil
}

// join puts m into the call's media; the media's peers and offer follow
// the hub's own message.
func (h *Hub) join(m *Member) error {
	t := TypeAdmitted
	if m.role == "staff" {
		t = TypeJoined
	}
	_ = m.conn.Send(Message{Message: sfu.Message{Type: t}, Self: m.id})
	p, err := h.media.Room(strconv.FormatInt(m.room.c.ID, 10)).Join(m.id, sfu.PeerInfo{Name: m.name, Role: m.role}, m)
	if err != nil {
		if fault.KindOf(err) == fault.Conflict {
			_ = m.conn.Send(Message{Message: sfu.Message{Type: TypeError}, Code: CodeFull})
		}
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if m.left {
		p.Close()
		return errors.New("video: left while joining")
	}
	m.peer = p
	m.room.call[m.id] = m
	if m.linkID != 0 {
		m.room.admitted[m.linkID] = time.Time{}
	}
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

// Handle acts on one message m's socket sent. An error concerns that
// message only; the handler tells the client CodeBadMessage.
func (h *Hub) Handle(ctx context.Context, m *Member, msg Message) error {
	switch msg.Type {
	case sfu.TypeAnswer, sfu.TypeCandidate, sfu.TypeRestart, sfu.TypePublish:
		h.mu.Lock()
		p := m.peer
		h.mu.Unlock()
		if p == nil {
			return fault.New(fault.Invalid, "video: handle", "")
		}
		return p.Handle(msg.Message)
	case TypeRelay:
		return h.relay(m, msg)
	case TypeAdmit, TypeDeny:
		return h.decide(ctx, m, msg.ID, msg.Type == TypeAdmit)
	case TypeEnd:
		return h.end(ctx, m)
	}
	return fault.New(fault.Invalid, "video: handle", "")
}

// relay passes msg's data to the peer it names, with the sender's id.
func (h *Hub) relay(m *Member, msg Message) error {
	if len(msg.Data) == 0 || len(msg.Data) > MaxRelay {
		return fault.New(fault.Invalid, "video: relay", "")
	}
	h.mu.Lock()
	to := m.room.call[msg.To]
	inCall := m.room.call[m.id] == m
	h.mu.Unlock()
	if to == nil || !inCall || to == m {
		return fault.New(fault.Invalid, "video: relay", "")
	}
	return to.conn.Send(Message{Message: sfu.Message{Type: TypeRelay}, From: m.id, Data: msg.Data})
}

// decide lets the holder of link linkID in or turns them away, for a
// staff member m.
func (h *Hub) decide(ctx context.Context, m *Member, linkID int64, admit bool) error {
	if m.role != "staff" {
		return fault.New(fault.Forbidden, "video: decide", "")
	}
	h.mu.Lock()
	w := m.room.waiting[linkID]
	c := m.room.c
	h.mu.Unlock()
	if w == nil {
		return fault.New(fault.Invalid, "video: decide", "") // left meanwhile, or decided by a colleague
	}
	var err error
	if admit {
		err = h.svc.Admit(ctx, m.access, c, linkID)
	} else {
		err = h.svc.Deny(ctx, m.access, c, linkID)
	}
	if err != nil {
		return err
	}
	h.mu.Lock()
	if m.room.waiting[linkID] != w {
		h.mu.Unlock()
		return nil
	}
	h.unwaitLocked(w)
	h.mu.Unlock()
	h.tellStaff(m.room)
	if !admit {
		_ = w.conn.Send(Message{Message: sfu.Message{Type: TypeDenied}})
		w.conn.Close()
		return nil
	}
	if err := h.join(w); err != nil {
		w.conn.Close()
		return fmt.Errorf("video: admit: %w", err)
	}
	return nil
}

// end ends the call for everyone, for a staff member m.
func (h *Hub) end(ctx context.Context, m *Member) error {
	if m.role != "staff" {
		return fault.New(fault.Forbidden, "video: end", "")
	}
	if err := h.svc.End(ctx, m.access, m.room.c.ID); err != nil {
		return err
	}
	h.mu.Lock()
	r := m.room
	var all []*Member
	for _, w := range r.waiting {
		all = append(all, w)
	}
	for _, p := range r.call {
		all = append(all, p)
	}
	for _, x := range all {
		h.dropLocked(x)
	}
	delete(h.rooms, r.c.ID)
	h.mu.Unlock()
	for _, x := range all {
		_ = x.conn.Send(Message{Message: sfu.Message{Type: TypeEnded}})
		x.conn.Close()
	}
	return nil
}

// Leave forgets m when its socket ends: out of the waiting room or the
// call (a link holder let in rejoins without admission for Rejoin).
func (h *Hub) Leave(m *Member) {
	h.mu.Lock()
	if m.left {
		h.mu.Unlock()
		return
	}
	wasWaiting := m.room.waiting[m.linkID] == m && m.linkID != 0
	inCall := m.room.call[m.id] == m
	h.dropLocked(m)
	if inCall && m.linkID != 0 {
		m.room.admitted[m.linkID] = h.now().Add(Rejoin)
		// Forget the room once nobody can rejoin it any more.
		r := m.room
		time.AfterFunc(Rejoin+time.Second, func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.forgetLocked(r)
		})
	}
	h.mu.Unlock()
	if wasWaiting || inCall {
		// A record of who left; a failure to write it loses only metadata.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := h.svc.Present(ctx, m.room.c, m.linkID, m.access.StaffID, store.PresenceLeft); err != nil {
			h.log.Warn("video: record a departure", "consultation", m.room.c.ID, "err", err)
		}
		cancel()
	}
	h.tellStaff(m.room)
}

// replaced tells an older connection of the same person that a newer one
// took its place, and ends it.
func (m *Member) replaced() {
	_ = m.conn.Send(Message{Message: sfu.Message{Type: TypeReplaced}})
	m.conn.Close()
}

// roomLocked returns the room of c, made when nobody is connected to it.
func (h *Hub) roomLocked(c store.Consultation) *room {
	r := h.rooms[c.ID]
	if r == nil {
		r = &room{c: c, waiting: map[int64]*Member{}, call: map[string]*Member{}, admitted: map[int64]time.Time{},
			staff: map[*Member]struct{}{}}
		h.rooms[c.ID] = r
	}
	return r
}

// dropLocked takes m out of its room, closing its media, and the room out
// of the hub when nobody is left and nobody may rejoin.
func (h *Hub) dropLocked(m *Member) {
	m.left = true
	r := m.room
	if m.linkID != 0 && r.waiting[m.linkID] == m {
		h.unwaitLocked(m)
	}
	if r.call[m.id] == m {
		delete(r.call, m.id)
	}
	delete(r.staff, m)
	if m.peer != nil {
		m.peer.Close()
	}
	h.forgetLocked(r)
}

// forgetLocked takes r out of the hub when nobody is connected to it and
// nobody may rejoin it.
func (h *Hub) forgetLocked(r *room) {
	if len(r.waiting) > 0 || len(r.call) > 0 || len(r.staff) > 0 {
		return
	}
	now := h.now()
	for link, until := range r.admitted {
		if !until.IsZero() && !now.Before(until) {
			delete(r.admitted, link)
		}
	}
	if len(r.admitted) == 0 && h.rooms[r.c.ID] == r {
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
	h.mu.Lock()
	list := make([]Waiting, 0, len(r.order))
	for _, id := range r.order {
		if w := r.waiting[id]; w != nil {
			list = append(list, Waiting{ID: id, Name: w.name, Guest: w.role == "guest"})
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
