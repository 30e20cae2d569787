package sfu

import (
	"testing"

	"github.com/pion/rtp/codecs"
)

func TestVP8Keyframe(t *testing.T) {
	for _, c := range []struct {
		name    string
		payload []byte
		key     bool
	}{
		{"start, no extension, keyframe", []byte{0x10, 0x00, 0x9d, 0x01, 0x2a}, true},
		{"start, no extension, interframe", []byte{0x10, 0x01, 0x00}, false},
		{"not a start", []byte{0x00, 0x00}, false},
		{"start of partition 1", []byte{0x11, 0x00}, false},
		{"7-bit picture ID, keyframe", []byte{0x90, 0x80, 0x05, 0x00}, true},
		{"15-bit picture ID, keyframe", []byte{0x90, 0x80, 0x81, 0x23, 0x00}, true},
		{"15-bit picture ID, interframe", []byte{0x90, 0x80, 0x81, 0x23, 0x01}, false},
		{"picture ID, TL0PICIDX, TID", []byte{0x90, 0xe0, 0x81, 0x23, 0x07, 0x40, 0x00}, true},
		{"picture ID, TL0PICIDX, TID, interframe", []byte{0x90, 0xe0, 0x81, 0x23, 0x07, 0x40, 0x01}, false},
		{"cut in the descriptor", []byte{0x90, 0x80, 0x81}, false},
		{"extension byte missing", []byte{0x90}, false},
		{"empty", nil, false},
	} {
		if got := vp8Keyframe(c.payload); got != c.key {
			t.Errorf("%s: %v, want %v", c.name, got, c.key)
		}
	}
}

// The payloads pion's VP8 packetizer makes (with a picture ID, as
// browsers send) of a keyframe and of an interframe: only the first packet
// of the keyframe is one.
func TestVP8KeyframePacketized(t *testing.T) {
	key := append([]byte{0x50, 0x2a, 0x00, 0x9d, 0x01, 0x2a}, make([]byte, 3000)...) // P bit 0
	inter := append([]byte{0x51, 0x2a, 0x00}, make([]byte, 3000)...)                 // P bit 1
	p := &codecs.VP8Payloader{EnablePictureID: true}
	for _, c := range []struct {
		frame []byte
		first bool
	}{{key, true}, {inter, false}} {
		for i, pl := range p.Payload(1200, c.frame) {
			if got, want := vp8Keyframe(pl), c.first && i == 0; got != want {
				t.Errorf("frame %x…, packet %d: %v, want %v", c.frame[:1], i, got, want)
			}
		}
	}
}

func TestH264Keyframe(t *testing.T) {
	for _, c := range []struct {
		name    string
		payload []byte
		key     bool
	}{
		{"IDR slice", []byte{0x65, 0x88, 0x84}, true},
		{"SPS", []byte{0x67, 0x42, 0xe0}, true},
		{"non-IDR slice", []byte{0x41, 0x9a}, false},
		{"STAP-A with SPS and PPS", []byte{0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce}, true},
		{"STAP-A without", []byte{0x78, 0x00, 0x02, 0x41, 0x9a, 0x00, 0x02, 0x06, 0x05}, false},
		{"STAP-A cut", []byte{0x78, 0x00, 0x09}, false},
		{"FU-A start of IDR", []byte{0x7c, 0x85, 0x00}, true},
		{"FU-A middle of IDR", []byte{0x7c, 0x05, 0x00}, false},
		{"FU-A start of non-IDR", []byte{0x5c, 0x81, 0x00}, false},
		{"one byte", []byte{0x65}, false},
	} {
		if got := h264Keyframe(c.payload); got != c.key {
			t.Errorf("%s: %v, want %v", c.name, got, c.key)
		}
	}
}

// FuzzKeyframe: no payload makes the keyframe checks panic.
func FuzzKeyframe(f *testing.F) {
	f.Add([]byte{0x90, 0x80, 0x81, 0x23, 0x00})
	f.Add([]byte{0x78, 0x00, 0x02, 0x67, 0x42})
	f.Add([]byte{0x7c, 0x85})
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = vp8Keyframe(b)
		_ = h264Keyframe(b)
	})
}
