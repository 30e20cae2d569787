package video

import (
	"context"
	"errors"
	"time"

	"github.com/gesundheitsamt/portal/internal/store"
)

// Several portal processes (nodes) serve one installation; a
// consultation's call, its waiting room and its media, lives on one of
// them, recorded in video_consultation.node. A node that gets a socket
// of a call another node holds passes the socket on to it (the portal's
// websocket layer), so the people of one call meet on one node whichever
// node the load balancer picked.
const (
	// NodeLease is how long a node holds a call without renewing its
	// hold: a node that died loses its calls to the next node a socket
	// reaches after that.
	NodeLease = 30 * time.Second
	// NodeBeat is how often a node renews its hold on its calls.
	NodeBeat = 10 * time.Second
)

// Claim returns the node that runs the call of consultation c: node
// itself when no other node holds it (or its holder has not renewed its
// hold for NodeLease), after recording it. The websocket layer calls it
// once the socket's holder is known to belong to the call. Errors:
// NotFound, Unavailable.
func (s *Service) Claim(ctx context.Context, c store.Consultation, node string) (string, error) {
	return store.ClaimConsultationNode(ctx, s.db, c.OfficeID, c.ID, node, NodeLease)
}

// KeepNode renews node's hold on the calls ids, which it runs; the
// wiring calls it every NodeBeat with Hub.Rooms.
func (s *Service) KeepNode(ctx context.Context, node string, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	return store.TouchConsultationNodes(ctx, s.db, node, ids)
}

// Keep renews what PostgreSQL knows of the calls this hub holds while
// they run: node's hold on them (KeepNode; "" with one process, which
// holds every call), and, for each link's holder in a call, that they
// come back without admission until Rejoin from now, so that they need
// none on the process that takes the call over should this one die. The
// wiring calls it every NodeBeat. Errors: those of the database.
func (h *Hub) Keep(ctx context.Context, node string) error {
	var held error
	if node != "" {
		held = h.svc.KeepNode(ctx, node, h.Rooms())
	}
	h.mu.Lock()
	var links []store.LinkRef
	for _, r := range h.rooms {
		for _, m := range r.call {
			if m.linkID != 0 && !r.closed {
				links = append(links, store.LinkRef{OfficeID: r.c.OfficeID, ID: m.linkID})
			}
		}
	}
	h.mu.Unlock()
	if len(links) == 0 {
		return held
	}
	return errors.Join(held, store.RenewVideoLinks(ctx, h.svc.db, links, h.now().Add(Rejoin)))
}

// Rooms returns the consultations whose calls this hub holds: someone
// is connected, or an end is still being refused.
func (h *Hub) Rooms() []int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	ids := make([]int64, 0, len(h.rooms))
	for id := range h.rooms {
		ids = append(ids, id)
	}
	return ids
}
