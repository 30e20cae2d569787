package auth

import (
	"time"

	"github.com/gesundheitsamt/portal/internal/store"
)

// SetClock makes s read the time from now (tests of time steps and
// timeouts).
func SetClock(s *Service, now func() time.Time) { s.now = now }

// SlowThrottles makes every delay of s's throttles at least a minute, so
// a test's attempts spread over seconds meet only the free ones.
func SlowThrottles(s *Service) {
	for _, th := range []*store.Throttle{&s.throttles.perClient, &s.throttles.perDevice, &s.throttles.perAccount,
		&s.throttles.secondFactor, &s.throttles.currentPassword} {
		th.Base = max(th.Base, time.Minute)
	}
}
