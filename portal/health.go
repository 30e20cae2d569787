package portal

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"
)

// healthz answers 200 while the process runs.
func (s *Server) healthz(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.SendString("ok\n")
}

// readyz answers 200 when this process can store a submission now, else
// 503 with the reason: a load balancer then sends requests elsewhere. See
// readiness for what it checks; it takes at most two seconds.
func (s *Server) readyz(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	if reason := s.ready.check(ctx); reason != "" {
		return c.Status(fiber.StatusServiceUnavailable).SendString("not ready: " + reason + "\n")
	}
	return c.SendString("ok\n")
}
