package portal

import (
	"github.com/gofiber/fiber/v2"
)

// imprintPage is the data of templates/impressum.html.
type imprintPage struct {
	page
	Offices []officeView
}

// showImprint answers GET /impressum: who runs the portal and, for the
// services, each office with its contact (§ 5 DDG).
func (s *Server) showImprint(c *fiber.Ctx) error {
	snap, err := s.dir.Snapshot(c.UserContext())
	if err != nil {
		return err
	}
	return s.renderShared(c, snap, "impressum", func() any {
		p := imprintPage{page: s.newPage(c, "imprint.title")}
		for _, e := range snap.Offices {
			p.Offices = append(p.Offices, officeOf(e))
		}
		return p
	})
}

// showPrivacy answers GET /datenschutz: the privacy notice (Art. 13 GDPR).
func (s *Server) showPrivacy(c *fiber.Ctx) error {
	return s.views.render(c, fiber.StatusOK, "datenschutz", s.newPage(c, "privacy.title"))
}

// showEasyLanguage answers GET /leichte-sprache: the portal explained in
// Leichte Sprache, as BITV 2.0 § 4 asks of every public body's site.
func (s *Server) showEasyLanguage(c *fiber.Ctx) error {
	return s.views.render(c, fiber.StatusOK, "leichte-sprache", s.newPage(c, "easy.title"))
}
