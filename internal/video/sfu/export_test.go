package sfu

import "time"

// RoomCount returns how many rooms the SFU holds, for the tests.
func (s *SFU) RoomCount() int { return s.roomCount() }

// ShortPauses makes video pauses last from min to four times min, so that
// tests of the adaptation need not wait for the real ones.
func ShortPauses(cfg *Config, min time.Duration) {
	cfg.pauses = pauses{min: min, max: 4 * min, steady: 4 * min}
}

// StopVideo pauses (stop) or resumes the video forwarded to p, as the
// adaptation does for a weak link.
func StopVideo(p *Peer, stop bool) { p.stopVideo(stop) }
