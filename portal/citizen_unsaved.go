package portal

import (
	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/forms"
	"github.com/gesundheitsamt/portal/internal/fault"
)

// keepUnsaved answers a step's post whose answers could not be stored
// (err): while the database is unavailable, the step comes back with
// everything this post carried and a note that nothing is saved yet, so
// the citizen loses nothing by waiting and sending it again. The form
// definition is in memory: the page needs no database. Uploads of the
// post are not kept (the note says so). Any other error goes to the error
// handler.
func (s *Server) keepUnsaved(c *fiber.Ctx, fc *formContext, st *forms.Step, err error, errs, warns []forms.Issue, more bool) error {
	if fault.KindOf(err) != fault.Unavailable {
		return err
	}
	s.log.Warn("form step not saved: a dependency is unavailable", "request_id", requestIDOf(c), "route", routeLabel(c), "err", err)
	p := s.stepPage(c, fc, st, errs, warns, more)
	p.Unsaved, p.UnsavedFiles = true, st.Multipart()
	p.CSRF = s.csrf.token(c)
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderRetryAfter, retryAfterUnavailable)
	return s.views.render(c, fiber.StatusServiceUnavailable, "form_step", p)
}
