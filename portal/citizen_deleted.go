package portal

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/internal/submission"
)

// deletedPage is the data of templates/status_deleted.html: what the
// citizen's link shows of a case deleted when its retention period ended.
type deletedPage struct {
	page
	Reference   string
	Service     string
	Office      officeView
	SubmittedAt string
	ClosedAt    string
	DeletedOn   string // the day, for the sentence
	DeletedAt   string
}

// orDeleted renders, for an error that says the citizen's case was
// deleted, the page that says so and when (410 Gone): the status link,
// the receipt page and the PDF receipt of a deleted case all show it.
// Any other error it returns as it is.
func (s *Server) orDeleted(c *fiber.Ctx, err error) error {
	var d *submission.DeletedError
	if !errors.As(err, &d) {
		return err
	}
	t := d.Tombstone
	p := deletedPage{page: s.newPage(c, "status.deleted.title"), Reference: t.Reference}
	p.Service = serviceOf(p.L, t.ServiceSlug, "").Title
	snap, serr := s.dir.Snapshot(c.UserContext())
	if serr != nil {
		return serr
	}
	if e, ok := snap.OfficeByID(t.OfficeID); ok {
		p.Office = officeOf(e)
	}
	p.SubmittedAt = formatTime(p.L, t.SubmittedAt, s.loc)
	p.ClosedAt = formatTime(p.L, t.ClosedAt, s.loc)
	p.DeletedAt = formatTime(p.L, t.DeletedAt, s.loc)
	p.DeletedOn = formatDate(p.L, t.DeletedAt, s.loc)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return s.views.render(c, fiber.StatusGone, "status_deleted", p)
}
