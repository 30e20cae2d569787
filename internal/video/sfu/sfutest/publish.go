package sfutest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// pump writes one packet of kind every interval until the client closes.
func (c *Client) pump(t *webrtc.TrackLocalStaticRTP, kind string, interval time.Duration, size int) {
	defer c.wg.Done()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-tick.C:
			n := size
			if kind == "video" && c.opt.FollowREMB {
				if r := c.REMB(); r > 0 {
					n = min(size, max(64, int(float64(r)/8*interval.Seconds())))
				}
			}
			_ = c.write(t, kind, n)
		}
	}
}

// WriteVideo writes one video packet with a payload of size bytes now.
func (c *Client) WriteVideo(size int) error {
	if c.video == nil {
		return errors.New("sfutest: client publishes no video")
	}
	return c.write(c.video, "video", size)
}

func (c *Client) write(t *webrtc.TrackLocalStaticRTP, kind string, size int) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	n := c.count[kind]
	c.count[kind] = n + 1
	c.seq[kind]++
	c.buf[kind] = appendPayload(c.buf[kind], c.opt.Name, n, size)
	clock := uint32(48)
	if kind == "video" {
		clock = 90
	}
	return t.WriteRTP(&rtp.Packet{
		Header: rtp.Header{
			Version:        2,
			Marker:         kind == "audio" || n%4 == 3,
			SequenceNumber: c.seq[kind],
			Timestamp:      n * clock * 10,
		},
		Payload: c.buf[kind],
	})
}

// Sent returns how many packets of kind ("audio", "video") the client has
// written; those written before the connection was up went nowhere.
func (c *Client) Sent(kind string) uint32 {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	return c.count[kind]
}

// Payload returns the payload a client named from writes as its packet
// number n: "SFUT", n (4 bytes), len(from), from, then bytes that depend on
// n and their position, size bytes in all (at least as many as the header).
func Payload(from string, n uint32, size int) []byte {
	return appendPayload(nil, from, n, size)
}

func appendPayload(b []byte, from string, n uint32, size int) []byte {
	b = append(b[:0], "SFUT"...)
	b = binary.BigEndian.AppendUint32(b, n)
	b = append(b, byte(len(from)))
	b = append(b, from...)
	for i := len(b); i < size; i++ {
		b = append(b, fill(n, i))
	}
	return b
}

func fill(n uint32, i int) byte { return byte(n*31 + uint32(i)*7) }

// parsePayload returns the sender and packet number of a payload, and
// whether the payload is exactly what that sender wrote.
func parsePayload(b []byte) (from []byte, n uint32, ok bool) {
	if len(b) < 9 || !bytes.Equal(b[:4], []byte("SFUT")) || len(b) < 9+int(b[8]) {
		return nil, 0, false
	}
	n = binary.BigEndian.Uint32(b[4:])
	from = b[9 : 9+int(b[8])]
	for i := 9 + len(from); i < len(b); i++ {
		if b[i] != fill(n, i) {
			return from, n, false
		}
	}
	return from, n, true
}

func (c *Client) readRTCP(sender *webrtc.RTPSender) {
	defer c.wg.Done()
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		c.mu.Lock()
		for _, p := range pkts {
			switch p := p.(type) {
			case *rtcp.PictureLossIndication:
				c.plis++
			case *rtcp.ReceiverEstimatedMaximumBitrate:
				c.remb = p.Bitrate
			}
		}
		c.mu.Unlock()
	}
}
