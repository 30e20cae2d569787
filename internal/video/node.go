package video

import (
	"context"
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

// Rooms returns the consultations whose calls this hub holds: someone
// is connected, may rejoin, or an end is still being refused.
func (h *Hub) Rooms() []int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	ids := make([]int64, 0, len(h.rooms))
	for id := range h.rooms {
		ids = append(ids, id)
	}
	return ids
}
