package bwe

import "github.com/pion/rtcp"

// refClock unwraps the feedback's 24-bit reference time (in units of
// 64 ms, so it wraps every 12 days) into one growing clock.
type refClock struct {
	started bool
	last    uint32
	base    int64 // in 64 ms units
}

// unwrap returns ref on the unwrapped clock, in µs.
func (c *refClock) unwrap(ref uint32) int64 {
	ref &= 1<<24 - 1
	if !c.started {
		c.started = true
		c.last = ref
		c.base = int64(ref)
		return c.base * 64_000
	}
	// The signed distance from the last reference, modulo 2^24.
	d := int64((ref - c.last) & (1<<24 - 1)) //nolint:gosec // 24 bits
	if d >= 1<<23 {
		d -= 1 << 24
	}
	c.last = ref
	c.base += d
	return c.base * 64_000
}

// decode calls visit for each packet the feedback reports, in sequence
// order: its TWCC sequence number, its arrival in µs on the peer's clock,
// and whether it arrived. A feedback reports at most history packets (no
// more can be matched to the ring), and decoding stops where the chunks or
// the deltas run out, so a malformed feedback costs no more than a long
// one.
func decode(fb *rtcp.TransportLayerCC, ref *refClock, visit func(seq uint16, arrival int64, ok bool)) {
	count := min(int(fb.PacketStatusCount), history)
	if count == 0 {
		return
	}
	arrival := ref.unwrap(fb.ReferenceTime)
	seq := fb.BaseSequenceNumber
	deltas := fb.RecvDeltas
	status := func(symbol uint16) bool {
		switch symbol {
		case rtcp.TypeTCCPacketReceivedSmallDelta, rtcp.TypeTCCPacketReceivedLargeDelta:
			if len(deltas) == 0 {
				return false
			}
			arrival += deltas[0].Delta
			deltas = deltas[1:]
			visit(seq, arrival, true)
		case rtcp.TypeTCCPacketNotReceived:
			visit(seq, 0, false)
		}
		// TypeTCCPacketReceivedWithoutDelta says a packet came without
		// a time: it counts neither way.
		seq++
		count--
		return count > 0
	}
	for _, chunk := range fb.PacketChunks {
		switch c := chunk.(type) {
		case *rtcp.RunLengthChunk:
			for range c.RunLength {
				if !status(c.PacketStatusSymbol) {
					return
				}
			}
		case *rtcp.StatusVectorChunk:
			for _, s := range c.SymbolList {
				if !status(s) {
					return
				}
			}
		}
		if count <= 0 {
			return
		}
	}
}
