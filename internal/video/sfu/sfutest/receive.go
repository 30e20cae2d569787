package sfutest

import (
	"slices"
	"strings"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/gesundheitsamt/portal/internal/video/sfu"
)

// onTrack counts and checks every packet of one remote track until the
// track ends.
func (c *Client) onTrack(remote *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	c.mu.Lock()
	select {
	case <-c.done:
		c.mu.Unlock()
		return
	default:
	}
	c.wg.Add(1)
	c.mu.Unlock()
	defer c.wg.Done()
	st := &trackState{
		TrackStats: TrackStats{TrackID: remote.ID(), StreamID: remote.StreamID(), Kind: remote.Kind().String()},
		seen:       map[uint32]bool{},
	}
	c.mu.Lock()
	c.tracks[remote.ID()] = st
	c.mu.Unlock()
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	for {
		n, _, err := remote.Read(buf)
		if err != nil {
			break
		}
		err = pkt.Unmarshal(buf[:n])
		from, num, ok := parsePayload(pkt.Payload)
		c.mu.Lock()
		st.Packets++
		switch {
		case err != nil || !ok:
			st.Corrupt++
		default:
			if st.From != string(from) {
				st.From = string(from)
			}
			if !st.seen[num] {
				st.seen[num] = true
				st.Distinct++
			}
			if st.Distinct == 1 || num < st.First {
				st.First = num
			}
			st.Last = max(st.Last, num)
		}
		c.mu.Unlock()
	}
	c.mu.Lock()
	st.Ended = true
	c.mu.Unlock()
}

// Tracks returns what the client received, one entry per remote track it
// has seen, ended ones included.
func (c *Client) Tracks() []TrackStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]TrackStats, 0, len(c.tracks))
	for _, t := range c.tracks {
		out = append(out, t.TrackStats)
	}
	return out
}

// Received returns the stats of the live track of kind from the named
// sender, and whether there is one.
func (c *Client) Received(from, kind string) (TrackStats, bool) {
	for _, t := range c.Tracks() {
		if t.From == from && t.Kind == kind && !t.Ended {
			return t, true
		}
	}
	return TrackStats{}, false
}

// Missing returns how many packet numbers between first and last (both
// included) of the named sender's live track of kind never arrived.
func (c *Client) Missing(from, kind string, first, last uint32) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.tracks {
		if t.From == from && t.Kind == kind && !t.Ended {
			missing := 0
			for n := first; n <= last; n++ {
				if !t.seen[n] {
					missing++
				}
			}
			return missing
		}
	}
	return int(last - first + 1)
}

// Peers returns the last peers message's list.
func (c *Client) Peers() []sfu.PeerInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peers
}

// PLIs returns how many picture loss indications the server sent.
func (c *Client) PLIs() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.plis
}

// REMB returns the bitrate of the last REMB message the server sent, 0
// before the first.
func (c *Client) REMB() float32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.remb
}

// Quality returns the Video values of the quality messages the server
// sent, in order.
func (c *Client) Quality() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.quality)
}

// LastOffer returns the SDP of the last offer the client answered.
func (c *Client) LastOffer() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastOffer
}

// Offers returns how many offers the client has answered.
func (c *Client) Offers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offers
}

// Errors returns what went wrong handling the server's messages.
func (c *Client) Errors() []error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]error(nil), c.errs...)
}

// State returns the peer connection's state.
func (c *Client) State() webrtc.PeerConnectionState { return c.pc.ConnectionState() }

// RemoteUfrag returns the ICE username fragment of the server's current
// description, which an ICE restart changes.
func (c *Client) RemoteUfrag() string {
	d := c.pc.CurrentRemoteDescription()
	if d == nil {
		return ""
	}
	for _, line := range strings.Split(d.SDP, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "a=ice-ufrag:"); ok {
			return v
		}
	}
	return ""
}
