// Package sfu is the media core of video consultations: a selective
// forwarding unit on pion/webrtc. Every participant has one PeerConnection
// to the server; what a participant publishes is forwarded, packet by
// packet and byte for byte in its payload, to every other participant of
// the same room. Nothing is decoded or stored, so media that browsers
// encrypt end to end (encoded transforms) passes through as ciphertext.
//
// The package knows nothing of people, rooms in the database, waiting rooms
// or HTTP. The video service admits a person and calls
//
//	p, err := sfu.Room(roomID).Join(personID, sfu.PeerInfo{Name: n, Role: r}, ws)
//
// where ws implements Signaler by writing JSON to the person's websocket;
// it then passes every message read from the websocket to p.Handle, and
// calls p.Close when the person leaves or the websocket ends. p.Done tells
// it when the peer ended by itself: its Signaler failed, its queue of 256
// unsent messages overflowed, or the browser closed the connection. An
// error from Handle concerns one message; the peer goes on.
//
// # Signalling
//
// Messages are JSON objects {"type": ..., ...} (see Message), one per
// websocket frame. The server is always the offerer; the browser only ever
// answers. Renegotiation is driven by the server, so there is no glare and
// the browser never needs onnegotiationneeded.
//
// Server → browser:
//
//	{"type":"peers","peers":[{"id":"…","name":"…","role":"staff","streamId":"s1a2b…"}, …]}
//	    Everyone in the room, the receiver included, in join order. Sent on
//	    join (before the first offer) and whenever someone joins or leaves.
//	    A remote track belongs to the peer whose streamId equals
//	    RTCTrackEvent.streams[0].id.
//	{"type":"offer","sdp":"v=0…","slots":["0","1"]}
//	    Apply with setRemoteDescription, then createAnswer,
//	    setLocalDescription and send the answer. At most one offer is
//	    outstanding: the next one comes only after the answer. slots are
//	    the mids of the m-sections the browser may publish on.
//	{"type":"candidate","candidate":{"candidate":"candidate:…","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"…"}}
//	    A server candidate for addIceCandidate. Candidates of an offer are
//	    always sent after that offer.
//	{"type":"quality","video":"paused"}  /  {"type":"quality","video":"on"}
//	    The browser's link is too weak for video: the server forwards only
//	    audio to it until a second message says video is on again. The
//	    tracks and m-sections stay; nothing is renegotiated.
//
// Browser → server:
//
//	{"type":"answer","sdp":"v=0…"}     the answer to the last offer
//	{"type":"candidate","candidate":{…}}  RTCIceCandidate.toJSON(), after the first answer
//	{"type":"restart"}                 re-offer with new ICE credentials (after a network
//	                                   change, or when iceConnectionState is "failed")
//	{"type":"publish","kind":"video"}  offer one more receiving slot ("audio" or "video"),
//	                                   e.g. for screen sharing; at most MaxTracks slots
//
// Order on join:
//
//  1. server: peers, then offer. The first offer has one recvonly audio and
//     one recvonly video m-section (the browser's slots to publish in),
//     followed by one sendonly m-section per track already published in the
//     room.
//  2. browser: after setRemoteDescription and before createAnswer, attach
//     its microphone and camera to the slots: for the transceiver t whose
//     t.mid is a slot of the track's kind, t.sender.replaceTrack(track)
//     and t.direction = "sendonly". (On the
//     first offer pc.addTrack(track, stream) does the same: the two slots
//     are the first audio and the first video m-section.) Then answer; a
//     slot left empty is answered inactive. A slot asked for with publish
//     comes in the next offer as the last entry of slots.
//  3. both: trickle candidates. The server is reachable on its host
//     candidates (Config.UDPPort, Config.TCPPort), so the browser's
//     candidates may be mDNS names or relayed ones; both work.
//
// Renegotiation: when another peer starts publishing, the server adds a
// sendonly m-section (stream id = that peer's streamId) to everyone else and
// sends them a new offer; when a peer leaves (or stops a track), its
// m-sections in everyone else's connection become inactive in the next
// offer, and the browser's track ends (the stream gets a removetrack
// event). Inactive m-sections are not reused. Answers are processed one at
// a time per peer; changes that happen while an offer is outstanding are
// collected into one further offer.
//
// When the server forwards a new track to a browser, it asks the track's
// publisher for a keyframe once the browser's answer is in, so that the
// video appears at once. Keyframe requests of subscribers (PLI, FIR) reach
// the publisher as a PLI, at most one per track every 500 ms.
//
// # Media
//
// Codecs: Opus (payload type 111), VP8 (96), H.264 constrained baseline
// profile-level-id=42e01f, packetization-mode=1 (102), offered in this
// order, so browsers send VP8, which every browser can also receive; a
// subscriber that cannot decode a publisher's codec gets no video of it. No RTX and no FEC;
// lost packets are retransmitted on NACK by the browser towards the server
// and by the server (from its per-sender history) towards subscribers.
// Congestion control, on video only (audio carries no TWCC sequence
// numbers): the server sends TWCC feedback to publishers, whose browsers
// size what they send by it, and adds its own TWCC sequence numbers on
// the video it forwards, whose feedback drives one bandwidth estimator
// per subscriber. Every second each publisher gets a REMB cap:
// what its weakest subscriber's link takes, at most Config.MaxBitrate. A
// subscriber whose link cannot carry any video beside the audio gets audio
// only, and a quality message (Message.Video "paused", later "on"). See
// adapt.go.
//
// Simulcast: the browser gets its camera slot offered with three receive
// encodings; one that sends them has each subscriber get the best that
// fits its link, changed at keyframes (simulcast.go). The MID and RID
// header extensions are negotiated on what the server receives only and
// dropped from what it forwards.
//
// # Limits
//
// Config.MaxPeers (DefaultMaxPeers) peers per room, MaxTracks published
// tracks per peer, answers of at most MaxSDP bytes, candidates of at most
// MaxCandidate bytes. Messages of unknown type are refused with
// ErrUnknownType; no input panics.
package sfu
