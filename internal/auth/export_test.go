package auth

import "time"

// SetClock makes s read the time from now (tests of time steps and
// timeouts).
func SetClock(s *Service, now func() time.Time) { s.now = now }
