package portal

import (
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/store"
)

// clientLimit bounds how often one client address may do something in a
// fixed window. The accounts have throttles of their own (internal/auth);
// these bound what an address may make the portal do for anybody.
type clientLimit struct {
	purpose string // keyed into the counter with the address
	max     int
	window  time.Duration
}

// The limits per client address.
var (
	// draftLimit: forms started (each a draft row and room for files for
	// 30 days): plenty for a family or an office behind one address,
	// little for a script filling the database.
	draftLimit = clientLimit{purpose: "draft", max: 120, window: time.Hour}
	// resumeMailLimit: resume links asked for; the form must not become a
	// way to send mail to strangers.
	resumeMailLimit = clientLimit{purpose: "resume-mail", max: 10, window: time.Hour}
	// loginLimit: login attempts (password or code), whatever the
	// account; internal/auth throttles them per account too.
	loginLimit = clientLimit{purpose: "login", max: 30, window: 15 * time.Minute}
	// resumeLimit: resume codes tried (POST /fortsetzen); a code is
	// unguessable, this bounds the guessing all the same.
	resumeLimit = clientLimit{purpose: "resume", max: 20, window: 10 * time.Minute}
	// feedbackLimit: accessibility feedback sent (POST /barrierefreiheit).
	feedbackLimit = clientLimit{purpose: "feedback", max: 10, window: 10 * time.Minute}
	// videoJoinLimit: consents given on a join link's landing page (POST
	// /video/:token), each a signed ticket; a family or a practice
	// behind one address joins a few times, a script guessing links
	// gets nowhere faster.
	videoJoinLimit = clientLimit{purpose: "video-join", max: 30, window: 10 * time.Minute}
	// videoSocketLimit: a link holder's call sockets opened; a dropped
	// network reconnects every two seconds for a minute, so this leaves
	// room for several drops.
	videoSocketLimit = clientLimit{purpose: "video-socket", max: 120, window: 10 * time.Minute}
	// holdLimit: slots held or moved to (each holds a place for ten
	// minutes); a person trying a few times gets through, a script
	// holding a day's slots does not.
	holdLimit = clientLimit{purpose: "booking-hold", max: 30, window: 10 * time.Minute}
	// bookingMailLimit: contact details given and confirmations sent
	// again, each a mail to the address typed in: booking must not
	// become a way to send mail to strangers.
	bookingMailLimit = clientLimit{purpose: "booking-mail", max: 10, window: time.Hour}
)

// allow counts an event of limit l for the request's client address and
// reports whether it stays within l. It counts in PostgreSQL, in one
// statement (store.CountEvent), so the bound holds across portal
// processes and under parallel requests, and keys by an HMAC of the
// address, which is personal data and never stored. Errors: Unavailable.
func (s *Server) allow(c *fiber.Ctx, l clientLimit) (bool, error) {
	n, err := store.CountEvent(c.UserContext(), s.db, s.keyed(l.purpose, s.clientKey(c)), l.window)
	if err != nil {
		return false, fault.Wrap(fault.Unavailable, "portal: rate count", err)
	}
	return n <= l.max, nil
}

// limit is a route's handler that answers 429, with Retry-After, to a
// client past l (see allow).
func (s *Server) limit(l clientLimit) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if s.hopped(c) {
			return c.Next() // counted by the node that passed it on
		}
		ok, err := s.allow(c, l)
		if err != nil {
			return err
		}
		if !ok {
			c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(l.window.Seconds())))
			return fiber.ErrTooManyRequests
		}
		return c.Next()
	}
}
