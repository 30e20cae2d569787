package portal

import (
	"github.com/gofiber/fiber/v2"
)

// officePage is the data of templates/office.html.
type officePage struct {
	page
	Office   officeView
	Services []serviceView
}

// showOffice answers GET /amt/:office: an office's contact, its postal-code
// areas and the services it offers.
func (s *Server) showOffice(c *fiber.Ctx) error {
	snap, err := s.dir.Snapshot(c.UserContext())
	if err != nil {
		return err
	}
	e, ok := snap.Office(c.Params("office"))
	if !ok {
		return fiber.ErrNotFound
	}
	return s.renderShared(c, snap, "office", func() any {
		p := officePage{page: s.newPage(c, ""), Office: officeOf(e)}
		p.Title = e.Name
		for _, slug := range e.Services {
			p.Services = append(p.Services, serviceOf(p.L, slug, "/amt/"+e.Slug+"/leistungen/"+slug))
		}
		return p
	})
}

// servicePage is the data of templates/service.html. Office is nil until
// the responsible office is known.
type servicePage struct {
	page
	Service serviceView
	Office  *officeView
	Search  postalSearch
	// NotOffered names the responsible office when it does not offer the
	// service online.
	NotOffered *officeView
	// FormURL starts the online form, when the office offers it.
	FormURL string
	// BookURL lists the free appointments, when the office books the
	// service directly.
	BookURL string
}

// showService answers GET /leistungen/:service: what the service is, and
// the postal-code search that leads to the responsible office's page for it.
func (s *Server) showService(c *fiber.Ctx) error {
	snap, err := s.dir.Snapshot(c.UserContext())
	if err != nil {
		return err
	}
	svc, ok := snap.Service(c.Params("service"))
	if !ok {
		return fiber.ErrNotFound
	}
	build := func() servicePage {
		p := servicePage{page: s.newPage(c, "")}
		p.Service = serviceOf(p.L, svc.Slug, "/leistungen/"+svc.Slug)
		p.Title = p.Service.Title
		p.Search.Action = p.Service.URL
		return p
	}
	if !c.Request().URI().QueryArgs().Has("plz") {
		return s.renderShared(c, snap, "service", func() any { return build() })
	}
	p := build()
	found, err := s.searchPostal(c, &p.page, &p.Search, snap, p.Service.URL)
	if err != nil {
		return err
	}
	if len(found) == 1 {
		if found[0].Offers(svc.Slug) {
			return c.Redirect("/amt/"+found[0].Slug+"/leistungen/"+svc.Slug, fiber.StatusSeeOther)
		}
		v := officeOf(found[0])
		p.NotOffered = &v
	}
	for i, e := range found { // several offices: link to the service where an office offers it
		if len(found) > 1 && e.Offers(svc.Slug) {
			p.Search.Choices[i].URL += "/leistungen/" + svc.Slug
		}
	}
	return s.views.render(c, fiber.StatusOK, "service", p)
}

// showOfficeService answers GET /amt/:office/leistungen/:service: the
// service at one office, with how to reach the office.
func (s *Server) showOfficeService(c *fiber.Ctx) error {
	snap, err := s.dir.Snapshot(c.UserContext())
	if err != nil {
		return err
	}
	e, ok := snap.Office(c.Params("office"))
	if !ok || !e.Offers(c.Params("service")) {
		return fiber.ErrNotFound
	}
	slug := c.Params("service")
	return s.renderShared(c, snap, "service", func() any {
		p := servicePage{page: s.newPage(c, "")}
		p.Service = serviceOf(p.L, slug, "/amt/"+e.Slug+"/leistungen/"+slug)
		p.Title = p.Service.Title
		v := officeOf(e)
		p.Office = &v
		if e.Books(slug) {
			p.BookURL = p.Service.URL + "/termin"
		}
		if svc, ok := snap.Service(slug); ok {
			if _, ok := s.forms.Form(svc.FormRef); ok {
				p.FormURL = p.Service.URL + "/antrag"
			}
		}
		return p
	})
}
