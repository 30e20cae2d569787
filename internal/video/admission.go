package video

import (
	"context"
	"fmt"
	"time"

	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/video/sfu"
)

// Handle acts on one message m's socket sent. An error concerns that
// message only; the handler tells the client CodeBadMessage.
func (h *Hub) Handle(ctx context.Context, m *Member, msg Message) error {
	if msg.Echo || msg.Type == TypeEcho {
		return h.handleEcho(m, msg)
	}
	switch msg.Type {
	case sfu.TypeAnswer, sfu.TypeCandidate, sfu.TypeRestart, sfu.TypePublish:
		// The browser answers the first offer as soon as it has it, which
		// may be before the media join has returned the peer; someone not
		// (yet) let in has no media at all.
		h.mu.Lock()
		joining := m.room.call[m.id] == m
		h.mu.Unlock()
		if !joining {
			return fault.New(fault.Invalid, "video: handle", "")
		}
		select {
		case <-m.ready:
		case <-ctx.Done():
			return ctx.Err()
		}
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
// Both must be in the call.
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

// decide lets the holder of link linkID in, or turns them away for the
// rest of the call, for staff member m.
func (h *Hub) decide(ctx context.Context, m *Member, linkID int64, admit bool) error {
	if m.role != roleStaff {
		return fault.New(fault.Forbidden, "video: decide", "")
	}
	h.mu.Lock()
	w := m.room.waiting[linkID]
	id := m.room.c.ID
	h.mu.Unlock()
	if w == nil {
		return fault.New(fault.Invalid, "video: decide", "") // left meanwhile, or decided by a colleague
	}
	var err error
	if admit {
		err = h.svc.Admit(ctx, m.access, id, linkID)
	} else {
		err = h.svc.Deny(ctx, m.access, id, linkID)
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
	if admit {
		// In the call from here, not in neither place until join: an End
		// meanwhile tells w too, and a second tab replaces it.
		m.room.call[w.id] = w
	} else {
		m.room.denied[linkID] = true
		w.left = true
	}
	h.mu.Unlock()
	h.tellStaff(m.room)
	if !admit {
		w.tell(TypeDenied)
		return nil
	}
	if err := h.join(w); err != nil {
		// Dropped meanwhile (an end, a second tab): whoever dropped it
		// tells it why and closes it.
		h.mu.Lock()
		dropped := w.left
		h.mu.Unlock()
		if !dropped {
			w.conn.Close()
		}
		return fmt.Errorf("video: admit: %w", err)
	}
	return nil
}

// end ends the call for everyone, for staff member m.
func (h *Hub) end(ctx context.Context, m *Member) error {
	if m.role != roleStaff {
		return fault.New(fault.Forbidden, "video: end", "")
	}
	if err := h.svc.End(ctx, m.access, m.room.c.ID); err != nil {
		return err
	}
	h.Close(m.room.c.ID)
	return nil
}

// Close ends consultation id's call on this process, after it was ended
// or cancelled: everyone connected is told and disconnected, the waiting
// with a record that they left, and for Rejoin the room refuses those
// still on their way in.
func (h *Hub) Close(id int64) {
	h.mu.Lock()
	r := h.rooms[id]
	if r == nil {
		// Nobody is connected, but someone may be on the way in, past the
		// database's check: a closed room refuses them as any other.
		r = h.roomLocked(store.Consultation{ID: id})
	}
	r.closed = true
	var waiting, all []*Member
	for _, w := range r.waiting {
		waiting = append(waiting, w)
	}
	for _, p := range r.call {
		all = append(all, p)
	}
	for s := range r.staff {
		if r.call[s.id] != s {
			all = append(all, s)
		}
	}
	all = append(all, waiting...)
	var media []*sfu.Peer
	for _, x := range all {
		media = append(media, h.dropLocked(x))
	}
	h.mu.Unlock()
	for _, p := range media {
		closeMedia(p)
	}
	for _, w := range waiting {
		h.record(r.c, w, store.PresenceLeft, time.Time{})
	}
	for _, x := range all {
		x.tell(TypeEnded)
	}
	time.AfterFunc(Rejoin, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.rooms[id] == r {
			delete(h.rooms, id)
		}
	})
}
