package portal

import (
	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/office"
)

// startPage is the data of templates/start.html.
type startPage struct {
	page
	Search   postalSearch
	Services []serviceView
}

// showStart answers GET /: the catalogue of the installation and the
// postal-code search. With ?plz= it looks the code up: one responsible
// office redirects to that office's page; none or several are said on this
// page; an invalid code is an error beside the field, the input kept.
func (s *Server) showStart(c *fiber.Ctx) error {
	snap, err := s.dir.Snapshot(c.UserContext())
	if err != nil {
		return err
	}
	build := func() startPage {
		p := startPage{page: s.newPage(c, "")} // the start page's title is the site name alone
		p.Search.Action = "/"
		for _, svc := range snap.Catalogue {
			p.Services = append(p.Services, serviceOf(p.L, svc.Slug, "/leistungen/"+svc.Slug))
		}
		return p
	}
	if !c.Request().URI().QueryArgs().Has("plz") {
		return s.renderShared(c, snap, "start", func() any { return build() })
	}
	p := build()
	found, err := s.searchPostal(c, &p.page, &p.Search, snap, "/")
	if err != nil {
		return err
	}
	if len(found) == 1 {
		return c.Redirect("/amt/"+found[0].Slug, fiber.StatusSeeOther)
	}
	return s.views.render(c, fiber.StatusOK, "start", p)
}

// searchPostal handles the plz query parameter of a page with the
// postal-code form: it fills the form's outcome into ps and returns the
// responsible offices. A wrong code is added to the page's errors.
func (s *Server) searchPostal(c *fiber.Ctx, p *page, ps *postalSearch, snap *office.Snapshot, action string) ([]*office.Entry, error) {
	ps.Action = action
	if !c.Request().URI().QueryArgs().Has("plz") {
		return nil, nil
	}
	// The answer shows (or, redirecting, reveals) what the person typed.
	c.Set(fiber.HeaderCacheControl, "no-store")
	ps.Value = cleanText(c.Query("plz"))
	if r := []rune(ps.Value); len(r) > 100 { // keep what was typed, within reason
		ps.Value = string(r[:100])
	}
	found, err := snap.Responsible(ps.Value)
	if fault.KindOf(err) == fault.Invalid {
		ps.Error = p.L.T(fault.MessageOf(err))
		p.Errors = append(p.Errors, fieldError{Field: "plz", Message: ps.Error})
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ps.Searched = true
	ps.Code, _ = office.ParsePostalCode(ps.Value)
	switch len(found) {
	case 0:
		ps.NoOffice = true
	case 1:
	default:
		for _, e := range found {
			ps.Choices = append(ps.Choices, officeOf(e))
		}
	}
	return found, nil
}
