package portal

import (
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"github.com/gesundheitsamt/portal/internal/fault"
)

// errorPage is the data of templates/error.html.
type errorPage struct {
	page
	Status  int
	Heading string
	Text    string
}

// handleError is the one place where errors become responses: a kind
// becomes a status, the status a localized page (JSON under /api/). Server
// errors are logged in full with the request id; the person sees a generic
// text and the request id to quote, never a detail or a stack trace.
func (s *Server) handleError(c *fiber.Ctx, err error) error {
	status, msgID := classify(err)
	rid := requestIDOf(c)
	if rid == "" { // refused by the server before routing (body or headers too large)
		rid = newRequestID()
		c.Locals(localRequestID, rid)
		c.Locals(localRouteLabel, labelRefused)
		c.Set(fiber.HeaderXRequestID, rid)
		s.log.Warn("request refused before routing", "request_id", rid, "method", methodLabel(c), "status", status)
		s.metrics.observe(methodLabel(c), labelRefused, status, 0)
	}
	switch {
	case status == fiber.StatusServiceUnavailable:
		// The database or another dependency is away: an operations
		// matter, said once per request at warning level, not a bug.
		s.log.Warn("request failed: a dependency is unavailable", "request_id", rid, "route", routeLabel(c), "status", status, "err", err)
	case status >= 500:
		s.log.Error("request failed", "request_id", rid, "route", routeLabel(c), "status", status, "err", err)
	}
	s.setSecurityHeaders(c)
	c.Set(fiber.HeaderCacheControl, "no-store")
	if c.GetRespHeader(fiber.HeaderRetryAfter) == "" {
		switch status {
		case fiber.StatusTooManyRequests:
			c.Set(fiber.HeaderRetryAfter, "60")
		case fiber.StatusServiceUnavailable:
			c.Set(fiber.HeaderRetryAfter, retryAfterUnavailable)
		}
	}

	loc := s.localizerFor(c)
	heading, text := errorTexts(status)
	if msgID != "" {
		text = msgID
	}
	if strings.HasPrefix(c.Path(), "/api/") {
		msg := loc.T(text)
		// A 4xx the API raised itself names what is wrong (a parameter).
		var fe *fiber.Error
		if errors.As(err, &fe) && status < 500 && fe.Message != utils.StatusMessage(fe.Code) {
			msg += " (" + fe.Message + ")"
		}
		return c.Status(status).JSON(fiber.Map{"error": fiber.Map{
			"code":       strings.ReplaceAll(strings.ToLower(utils.StatusMessage(status)), " ", "_"),
			"message":    msg,
			"request_id": rid,
		}})
	}
	p := errorPage{page: s.newPage(c, heading), Status: status, Heading: loc.T(heading), Text: loc.T(text)}
	if c.Method() == fiber.MethodHead {
		return c.SendStatus(status)
	}
	return s.views.render(c, status, "error", p)
}

// retryAfterUnavailable is the Retry-After of a 503, in seconds: a
// database restart or failover takes about that long.
const retryAfterUnavailable = "30"

// classify maps an error to a status and, for errors people must read, a
// message id. fault.KindOf also finds the errors of a database that went
// away (a dropped connection, a refused connect, a full disk): 503.
func classify(err error) (status int, msgID string) {
	var fe *fiber.Error
	if errors.As(err, &fe) {
		return fe.Code, ""
	}
	switch fault.KindOf(err) {
	case fault.NotFound:
		return fiber.StatusNotFound, fault.MessageOf(err)
	case fault.Invalid:
		return fiber.StatusBadRequest, fault.MessageOf(err)
	case fault.Conflict:
		return fiber.StatusConflict, fault.MessageOf(err)
	case fault.Forbidden:
		return fiber.StatusForbidden, fault.MessageOf(err)
	case fault.Unavailable:
		return fiber.StatusServiceUnavailable, fault.MessageOf(err)
	case fault.TooMany:
		return fiber.StatusTooManyRequests, ""
	case fault.Gone:
		return fiber.StatusGone, fault.MessageOf(err)
	}
	return fiber.StatusInternalServerError, ""
}

// errorTexts returns the message ids of heading and text for a status.
func errorTexts(status int) (heading, text string) {
	switch status {
	case 400, 403, 404, 405, 409, 410, 413, 415, 429, 431, 503:
		code := itoa3(status)
		return "error." + code + ".heading", "error." + code + ".text"
	}
	if status >= 500 {
		return "error.500.heading", "error.500.text"
	}
	return "error.400.heading", "error.400.text"
}

func itoa3(n int) string {
	return string([]byte{byte('0' + n/100), byte('0' + n/10%10), byte('0' + n%10)})
}
