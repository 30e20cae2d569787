package sfu

// Keyframes, as the server sees them in the RTP payload: only the codec's
// first bytes, which the browsers' end-to-end encryption leaves in clear
// for this purpose (static/video-e2ee.js: VP8's first 10 bytes of a
// keyframe). A simulcast subscriber changes layers at a keyframe of the
// layer it changes to (simulcast.go): the frames before it would
// reference pictures the subscriber never got.

// vp8Keyframe reports whether a VP8 RTP payload (RFC 7741) is the first
// packet of a keyframe: the start of partition 0 with the payload
// header's P bit clear.
func vp8Keyframe(payload []byte) bool {
	if len(payload) < 1 {
		return false
	}
	// The payload descriptor: X, R, N, S, R, PID (3 bits).
	b0 := payload[0]
	if b0&0x10 == 0 || b0&0x07 != 0 { // not the start of partition 0
		return false
	}
	i := 1
	if b0&0x80 != 0 { // X: the extension byte follows
		if len(payload) < 2 {
			return false
		}
		x := payload[1]
		i = 2
		if x&0x80 != 0 { // I: a picture ID of 7 or 15 bits
			if len(payload) <= i {
				return false
			}
			if payload[i]&0x80 != 0 {
				i++
			}
			i++
		}
		if x&0x40 != 0 { // L: TL0PICIDX
			i++
		}
		if x&0x30 != 0 { // T or K: TID, Y, KEYIDX
			i++
		}
	}
	// The payload header's first byte: size (3 bits), show frame, version
	// (3 bits), P (0: keyframe).
	return len(payload) > i && payload[i]&0x01 == 0
}

// h264Keyframe reports whether an H.264 RTP payload (RFC 6184) carries
// the start of an IDR picture or a sequence parameter set, which begins
// every keyframe a browser sends.
func h264Keyframe(payload []byte) bool {
	if len(payload) < 2 {
		return false
	}
	switch nal := payload[0] & 0x1f; {
	case nal == 5 || nal == 7: // IDR slice, SPS
		return true
	case nal == 24: // STAP-A: 16-bit sizes, each followed by a NAL unit
		for i := 1; i+2 < len(payload); {
			size := int(payload[i])<<8 | int(payload[i+1])
			if t := payload[i+2] & 0x1f; t == 5 || t == 7 {
				return true
			}
			i += 2 + size
		}
	case nal == 28: // FU-A: the start of a fragmented IDR slice
		return payload[1]&0x80 != 0 && payload[1]&0x1f == 5
	}
	return false
}
