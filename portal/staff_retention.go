package portal

import (
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/retention"
)

// retentionPage is the data of templates/staff_retention.html: the
// office's retention period of each service.
type retentionPage struct {
	staffPage
	Services      []periodView
	Saved         string // the service whose period was just saved
	DeletedRecent int64  // cases deleted in the last retention.DueWithin
}

// periodView is one service's period, with its form.
type periodView struct {
	Slug, Title   string
	Default, Own  string // "" for none
	Amount        string // what the form shows in the field
	Years         bool   // the field counts years
	Saved, Failed bool
	Error         string
}

// showRetention answers GET /staff/verwaltung/aufbewahrung.
func (s *Server) showRetention(c *fiber.Ctx) error {
	return s.renderRetention(c, fiber.StatusOK, "", "", "", false)
}

// renderRetention renders the page; for a refused change, the service,
// the message id and what was typed come back.
func (s *Server) renderRetention(c *fiber.Ctx, status int, failed, msgID, typed string, years bool) error {
	sp, err := s.newStaffPage(c, "staff.retention.title")
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	periods, err := s.cases.Periods(ctx, sp.Staff.OfficeID)
	if err != nil {
		return err
	}
	p := retentionPage{staffPage: sp, Saved: c.Query("gespeichert")}
	if p.DeletedRecent, err = s.cases.DeletedSince(ctx, sp.Staff.OfficeID, s.now().Add(-retention.DueWithin)); err != nil {
		return err
	}
	for _, pr := range periods {
		v := periodView{Slug: pr.Service, Title: serviceOf(p.L, pr.Service, "").Title, Saved: pr.Service == p.Saved, Years: true}
		if pr.Default > 0 {
			v.Default = periodText(p.L, pr.Default)
		}
		if pr.Override > 0 {
			v.Own = periodText(p.L, pr.Override)
			v.Amount, v.Years = strconv.Itoa(pr.Override), false
			if pr.Override%12 == 0 {
				v.Amount, v.Years = strconv.Itoa(pr.Override/12), true
			}
		}
		if pr.Service == failed {
			v.Failed, v.Error, v.Amount, v.Years = true, p.L.T(msgID), typed, years
			p.Errors = []fieldError{{Field: "period-" + pr.Service, Message: v.Error}}
		}
		p.Services = append(p.Services, v)
	}
	p.CSRF = s.csrf.token(c)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return s.views.render(c, status, "staff_retention", p)
}

// setRetention answers POST /staff/verwaltung/aufbewahrung: the office's
// own period of one service (frist and einheit: monate or jahre), or the
// form's default when frist is empty. A period out of bounds shows the
// page again with the input kept. Every change is audited.
func (s *Server) setRetention(c *fiber.Ctx) error {
	st := staffOf(c)
	slug := c.FormValue("leistung")
	typed := strings.TrimSpace(cleanText(c.FormValue("frist")))
	years := c.FormValue("einheit") == "jahre"
	months := 0
	if typed != "" {
		n, err := strconv.Atoi(typed)
		switch {
		case err != nil || n < 1 || n > 1000:
			months = -1 // refused below, with the message
		case years:
			months = 12 * n
		default:
			months = n
		}
	}
	err := s.cases.SetPeriod(c.UserContext(), st.OfficeID, st.Actor(), slug, months)
	if fault.KindOf(err) == fault.Invalid {
		return s.renderRetention(c, fiber.StatusUnprocessableEntity, slug, fault.MessageOf(err), typed, years)
	}
	if err != nil {
		return err
	}
	return c.Redirect("/staff/verwaltung/aufbewahrung?gespeichert="+slug+"#service-"+slug, fiber.StatusSeeOther)
}
