package main

import (
	"encoding/binary"
	"time"
)

// The shape of what every load peer sends: VP8-like video of 27 frames a
// second, each frame 4 RTP packets of equal size (1157 bytes of payload at
// 1 Mbit/s), a keyframe every 2 s, and 50 Opus-sized audio packets a second.
// No encoder runs; the payloads only look like VP8 to an SFU that inspects
// them (Galène parses the payload descriptor and the key-frame bit).
const (
	videoFPS        = 27
	packetsPerFrame = 4
	videoClock      = 90000
	keyframeEvery   = 2 * time.Second
	audioInterval   = 20 * time.Millisecond
	audioSize       = 100
	audioClock      = 48000
	minVideoSize    = 64 // the smallest video payload: VP8 headers and the stamp fit in it
)

// videoSize returns the payload size of one video packet at bitrate bits
// per second.
func videoSize(bitrate int) int {
	return max(bitrate/8/videoFPS/packetsPerFrame, minVideoSize)
}

// A stamp ends every payload a load peer sends: who sent it, its number on
// its track (0, 1, 2, ... without gaps), and when it was written (Unix
// nanoseconds of the one machine both ends run on). The receiver takes the
// forwarding delay and the loss from it. It sits at the end of the payload
// so that the codec's headers at the start stay intact.
type stamp struct {
	from uint32
	seq  uint64
	sent int64
}

const stampSize = 4 + 4 + 8 + 8

var stampMagic = [4]byte{'B', 'V', 'I', 'D'}

// putStamp writes s into the last stampSize bytes of b, which must be at
// least that long.
func putStamp(b []byte, s stamp) {
	t := b[len(b)-stampSize:]
	copy(t, stampMagic[:])
	binary.BigEndian.PutUint32(t[4:], s.from)
	binary.BigEndian.PutUint64(t[8:], s.seq)
	binary.BigEndian.PutUint64(t[16:], uint64(s.sent))
}

// readStamp returns the stamp at the end of payload b, and false when b
// does not end with one.
func readStamp(b []byte) (stamp, bool) {
	if len(b) < stampSize {
		return stamp{}, false
	}
	t := b[len(b)-stampSize:]
	if [4]byte(t[:4]) != stampMagic {
		return stamp{}, false
	}
	return stamp{
		from: binary.BigEndian.Uint32(t[4:]),
		seq:  binary.BigEndian.Uint64(t[8:]),
		sent: int64(binary.BigEndian.Uint64(t[16:])),
	}, true
}

// vp8Payload fills b (its length is the payload size) as the packet at
// index of a VP8 frame with this picture id: the payload descriptor a
// browser writes (extended, with a 15-bit picture id) and, in the frame's
// first packet, the frame header: a key frame's start code and 640×480 when
// key, an interframe's tag otherwise. The rest is filler up to the stamp.
func vp8Payload(b []byte, picture uint16, index int, key bool) {
	start := byte(0)
	if index == 0 {
		start = 0x10 // S: the start of a partition
	}
	b[0] = 0x80 | start // X: extensions follow; PID 0
	b[1] = 0x80         // I: a picture id follows
	b[2] = 0x80 | byte(picture>>8&0x7f)
	b[3] = byte(picture)
	h := b[4:]
	for i := range h[:len(h)-stampSize] {
		h[i] = byte(i)
	}
	if index != 0 {
		return
	}
	// The frame tag: bit 0 is 0 for a key frame, bit 4 is show_frame; the
	// first partition's size does not matter to a forwarding server.
	if key {
		h[0], h[1], h[2] = 0x10, 0x02, 0x00
		h[3], h[4], h[5] = 0x9d, 0x01, 0x2a
		binary.LittleEndian.PutUint16(h[6:], 640)
		binary.LittleEndian.PutUint16(h[8:], 480)
	} else {
		h[0], h[1], h[2] = 0x11, 0x02, 0x00
	}
}

// opusPayload fills b as one 20 ms Opus packet: a TOC byte (CELT
// fullband, 20 ms, one frame) and filler up to the stamp.
func opusPayload(b []byte) {
	b[0] = 0xfc
	for i := 1; i < len(b)-stampSize; i++ {
		b[i] = byte(i)
	}
}
