package sfu

import (
	"errors"

	"github.com/pion/webrtc/v4"
)

// The message types. See the package comment for who sends which and when.
const (
	TypeOffer     = "offer"     // server → browser: an SDP offer to answer
	TypeAnswer    = "answer"    // browser → server: the answer to the last offer
	TypeCandidate = "candidate" // both ways: one trickled ICE candidate
	TypeRestart   = "restart"   // browser → server: please re-offer with new ICE credentials
	TypePublish   = "publish"   // browser → server: please offer one more receiving slot of Kind
	TypePeers     = "peers"     // server → browser: everyone in the room now
	TypeQuality   = "quality"   // server → browser: video to the browser paused or on again (Message.Video)
)

// The values of Message.Video in a quality message.
const (
	VideoPaused = "paused" // the browser's link is too weak for video: it gets audio only
	VideoOn     = "on"     // video is forwarded again
)

// The limits this package enforces on every room and peer.
const (
	DefaultMaxPeers = 6        // peers in one room when Config.MaxPeers is 0
	MaxTracks       = 4        // tracks one peer may publish (receiving slots the server offers it)
	MaxSDP          = 64 << 10 // bytes of SDP accepted in an answer
	MaxCandidate    = 1024     // bytes of one ICE candidate line
)

const (
	maxIDLen       = 64      // bytes of a peer id
	maxNameLen     = 200     // bytes of a display name
	maxRoleLen     = 32      // bytes of a role
	outQueueLen    = 256     // messages queued for a browser before the peer is given up
	kindAudio      = "audio" // Message.Kind of a publish request
	kindVideo      = "video" // Message.Kind of a publish request
	streamIDBytes  = 8       // random bytes in a stream id
	streamIDPrefix = "s"     // stream ids are valid msid tokens: "s" + hex
	udpPortTries   = 5       // attempts to find one free ephemeral port on every interface
)

// Message is one signalling message, in either direction. It is meant to be
// sent as JSON, one message per websocket frame; fields a type does not use
// are omitted.
type Message struct {
	Type string `json:"type"`
	// SDP is the session description of an offer or an answer.
	SDP string `json:"sdp,omitempty"`
	// Candidate is the trickled ICE candidate of a candidate message, as the
	// browser's RTCIceCandidate.toJSON() gives it and
	// RTCPeerConnection.addIceCandidate() takes it.
	Candidate *webrtc.ICECandidateInit `json:"candidate,omitempty"`
	// Peers lists everyone in the room, the receiver included, in the order
	// they joined; only in peers messages.
	Peers []PeerInfo `json:"peers,omitempty"`
	// Kind is "audio" or "video" in a publish message.
	Kind string `json:"kind,omitempty"`
	// Slots are, in an offer, the mids of the m-sections the browser may
	// publish on (recvonly on the server's side), in the order they were
	// offered: one audio, one video, then one per publish message.
	Slots []string `json:"slots,omitempty"`
	// Video is VideoPaused or VideoOn in a quality message.
	Video string `json:"video,omitempty"`
}

// PeerInfo describes a participant to the others so that their user
// interface can label the participant's audio and video.
type PeerInfo struct {
	// ID is the participant's id as given to Room.Join.
	ID string `json:"id"`
	// Name is the display name shown beside the video.
	Name string `json:"name"`
	// Role is the participant's role in the call ("staff", "patient",
	// "guest", ...); the package only passes it on.
	Role string `json:"role"`
	// StreamID is the id of the MediaStream in which every track this
	// participant publishes reaches the others (RTCTrackEvent.streams[0].id
	// in the browser). Join sets it; whatever the caller put there is
	// ignored.
	StreamID string `json:"streamId"`
}

// Errors returned by this package. They come wrapped in a fault.Error that
// gives their kind; test for them with errors.Is.
var (
	ErrClosed         = errors.New("sfu: closed")                              // the SFU, room or peer is closed (fault.Unavailable)
	ErrRoomFull       = errors.New("sfu: room is full")                        // Join: the room has MaxPeers peers (fault.Conflict)
	ErrPeerExists     = errors.New("sfu: a peer with this id is in the room")  // Join: Close the old peer first (fault.Conflict)
	ErrInvalidPeer    = errors.New("sfu: invalid peer id, name or role")       // Join: empty or too long (fault.Invalid)
	ErrUnknownType    = errors.New("sfu: unknown message type")                // Handle (fault.Invalid)
	ErrInvalidMessage = errors.New("sfu: invalid message")                     // Handle: missing or oversized field (fault.Invalid)
	ErrNoOffer        = errors.New("sfu: answer without an outstanding offer") // Handle (fault.Invalid)
	ErrTooManyTracks  = errors.New("sfu: too many tracks")                     // Handle publish (fault.Invalid)
	ErrNegotiation    = errors.New("sfu: negotiation failed")                  // Handle: the SDP or candidate was refused (fault.Invalid)
)
