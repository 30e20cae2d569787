package sfu

import (
	"crypto/rand"
	"encoding/hex"
	"slices"
	"sync"
	"unicode/utf8"

	"github.com/pion/webrtc/v4"

	"github.com/gesundheitsamt/portal/internal/fault"
)

// Room is one call: everything a participant publishes is forwarded to every
// other participant of the same room. Get one with SFU.Room.
type Room struct {
	s    *SFU
	id   string
	echo bool // SFU.Echo's: one peer, who receives what they publish

	// mu orders every change of membership and of the published tracks.
	// It may be held while taking a Peer's mu, never the other way round.
	mu     sync.Mutex
	peers  []*Peer  // in join order
	tracks []*track // published by some peer, forwarded to all others
}

// Signaler carries messages from the server to one browser. The websocket
// layer implements it. Signal is called from one goroutine per peer, in
// order; it must not block for long (write with a deadline) and must not
// call the Peer's Close itself: returning an error ends the peer as Close
// does, and closes Done.
type Signaler interface {
	Signal(Message) error
}

// Join puts a participant into the room and starts the negotiation: the
// participant's first messages are a peers message and an offer (see the
// package comment). id identifies the participant among the room's peers
// (at most 64 bytes); info's Name and Role are shown to the others, its ID
// and StreamID are set by Join. The video service calls Join once it has
// admitted a person, and must call the Peer's Close when the person leaves
// or the websocket ends.
//
// Errors: ErrInvalidPeer (fault.Invalid), ErrRoomFull and ErrPeerExists
// (fault.Conflict), ErrClosed after SFU.Close (fault.Unavailable), or an
// internal error creating the peer connection.
func (r *Room) Join(id string, info PeerInfo, out Signaler) (*Peer, error) {
	const op = "sfu: join"
	if id == "" || len(id) > maxIDLen || len(info.Name) > maxNameLen || len(info.Role) > maxRoleLen ||
		!utf8.ValidString(id) || !utf8.ValidString(info.Name) || !utf8.ValidString(info.Role) || out == nil {
		return nil, fault.Wrap(fault.Invalid, op, ErrInvalidPeer)
	}
	info.ID = id
	info.StreamID = newStreamID()
	p, err := r.s.newPeer(info, out)
	if err != nil {
		return nil, fault.Wrap(fault.Internal, op, err)
	}
	room, err := r.enter(p)
	if err != nil {
		p.Close()
		return nil, err
	}
	defer room.mu.Unlock()
	for _, t := range room.tracks {
		p.addTrack(t, false)
	}
	room.announceLocked()
	p.negotiate()
	return p, nil
}

// enter adds p to the room the SFU holds for r's id (r itself, unless
// another Room value for the same id was joined first) and returns that
// room with its mu held.
func (r *Room) enter(p *Peer) (*Room, error) {
	const op = "sfu: join"
	s := r.s
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, fault.Wrap(fault.Unavailable, op, ErrClosed)
	}
	room := s.rooms[r.id]
	if room == nil {
		room = r
		s.rooms[r.id] = r
	}
	room.mu.Lock()
	s.mu.Unlock()
	if len(room.peers) >= s.cfg.MaxPeers || (room.echo && len(room.peers) > 0) {
		room.mu.Unlock()
		return nil, fault.Wrap(fault.Conflict, op, ErrRoomFull)
	}
	for _, q := range room.peers {
		if q.info.ID == p.info.ID {
			room.mu.Unlock()
			return nil, fault.Wrap(fault.Conflict, op, ErrPeerExists)
		}
	}
	p.mu.Lock()
	p.room = room
	p.mu.Unlock()
	room.peers = append(room.peers, p)
	return room, nil
}

// Peers returns everyone in the room, in join order. The video service
// calls it to show staff who is in a call.
func (r *Room) Peers() []PeerInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.infosLocked()
}

func (r *Room) infosLocked() []PeerInfo {
	infos := make([]PeerInfo, len(r.peers))
	for i, p := range r.peers {
		infos[i] = p.info
	}
	return infos
}

// announceLocked sends everyone the current list of peers.
func (r *Room) announceLocked() {
	infos := r.infosLocked()
	for _, p := range r.peers {
		p.send(Message{Type: TypePeers, Peers: infos})
	}
}

func (r *Room) snapshot() []*Peer {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.peers)
}

// publish makes remote, received from p, a track forwarded to every other
// peer. It fails when p has left or has published MaxTracks already.
func (r *Room) publish(p *Peer, remote *webrtc.TrackRemote, id string) (*track, error) {
	local, err := webrtc.NewTrackLocalStaticRTP(remote.Codec().RTPCodecCapability, id, p.info.StreamID)
	if err != nil {
		return nil, err
	}
	t := &track{owner: p, remote: remote, local: local, id: id}
	return t, r.add(p, t)
}

// add forwards t, published by p, to every other peer. It fails when p
// has left or has published MaxTracks already.
func (r *Room) add(p *Peer, t *track) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !slices.Contains(r.peers, p) {
		return ErrClosed
	}
	n := 0
	for _, t := range r.tracks {
		if t.owner == p {
			n++
		}
	}
	if n >= MaxTracks {
		return ErrTooManyTracks
	}
	r.tracks = append(r.tracks, t)
	for _, q := range r.peers {
		if q != p || r.echo {
			q.addTrack(t, true)
		}
	}
	return nil
}

// unpublish stops forwarding t: every subscriber's sender of it is removed
// and the subscriber renegotiated. It is a no-op for a track already gone.
func (r *Room) unpublish(t *track) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := slices.Index(r.tracks, t)
	if i < 0 {
		return
	}
	r.tracks = slices.Delete(r.tracks, i, i+1)
	for _, q := range r.peers {
		q.removeTrack(t)
	}
}

// leave removes p and everything it published; the others are renegotiated
// and told the new list of peers. The room is dropped from the SFU when p
// was the last one.
func (r *Room) leave(p *Peer) {
	r.mu.Lock()
	i := slices.Index(r.peers, p)
	if i < 0 {
		r.mu.Unlock()
		return
	}
	r.peers = slices.Delete(r.peers, i, i+1)
	var gone []*track
	r.tracks = slices.DeleteFunc(r.tracks, func(t *track) bool {
		if t.owner == p {
			gone = append(gone, t)
			return true
		}
		return false
	})
	for _, q := range r.peers {
		for _, t := range gone {
			q.removeTrack(t)
		}
	}
	// p's own simulcast subscriptions: the tracks write to them directly.
	for _, t := range r.tracks {
		if t.simulcast {
			t.unsubscribe(p)
		}
	}
	r.announceLocked()
	empty := len(r.peers) == 0
	r.mu.Unlock()
	if empty {
		r.s.drop(r)
	}
}

// newStreamID returns a random id that is a valid msid token and says
// nothing about the person.
func newStreamID() string {
	b := make([]byte, streamIDBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return streamIDPrefix + hex.EncodeToString(b)
}
