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

// readyz answers 200 when the database answers within two seconds, else
// 503: a load balancer then sends requests elsewhere.
func (s *Server) readyz(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	if err := s.db.Ping(ctx); err != nil {
		s.log.Warn("not ready: database does not answer", "request_id", requestIDOf(c), "err", err)
		return c.Status(fiber.StatusServiceUnavailable).SendString("database unavailable\n")
	}
	return c.SendString("ok\n")
}
