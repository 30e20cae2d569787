package portal

import (
	"net/url"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/retention"
	"github.com/gesundheitsamt/portal/internal/store"
)

// duePage is the data of templates/staff_due.html: the office's cases
// that are deleted within retention.DueWithin, held ones included.
type duePage struct {
	staffPage
	Services []optionView
	Service  string
	Cases    []dueRow
	NextURL  string
}

type dueRow struct {
	Reference, URL, Service, Status, ClosedAt, DueAt string
	HeldSince                                        string // "" without a hold
}

// duePageSize is how many cases one page of the list shows.
const duePageSize = 100

// showDue answers GET /staff/verwaltung/loeschung: what the nightly
// deletion takes within the next 30 days, in the order it goes, page by
// page (?nach=), for one service (?leistung=) or all. The read is
// recorded in the audit log.
func (s *Server) showDue(c *fiber.Ctx) error {
	sp, err := s.newStaffPage(c, "staff.due.title")
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	p := duePage{staffPage: sp, Service: c.Query("leistung")}
	periods, err := s.cases.Periods(ctx, sp.Staff.OfficeID)
	if err != nil {
		return err
	}
	known := p.Service == ""
	p.Services = append(p.Services, optionView{Value: "", Label: p.L.T("staff.due.all"), Checked: p.Service == ""})
	for _, pr := range periods {
		p.Services = append(p.Services, optionView{Value: pr.Service, Label: serviceOf(p.L, pr.Service, "").Title, Checked: pr.Service == p.Service})
		known = known || pr.Service == p.Service
	}
	if !known {
		p.Service = "" // a service that does not exist: the whole list
	}
	rows, err := s.cases.Due(ctx, sp.Staff.OfficeID, sp.Staff.Actor(), s.now(), p.Service, decodeCursor(c.Query("nach")), duePageSize+1)
	if err != nil {
		return err
	}
	if len(rows) > duePageSize {
		rows = rows[:duePageSize]
		last := rows[duePageSize-1]
		q := url.Values{"nach": {encodeCursor(store.Cursor{At: last.Due, ID: last.ID})}}
		if p.Service != "" {
			q.Set("leistung", p.Service)
		}
		p.NextURL = "/staff/verwaltung/loeschung?" + q.Encode()
	}
	for _, r := range rows {
		v := dueRow{
			Reference: r.Reference, URL: "/staff/faelle/" + strconv.FormatInt(r.ID, 10), Service: serviceOf(p.L, r.ServiceSlug, "").Title,
			Status: statusText(p.L, r.Status), ClosedAt: formatDate(p.L, r.ClosedAt, s.loc), DueAt: formatDate(p.L, r.DueAt, s.loc),
		}
		if r.HoldAt != nil {
			v.HeldSince = formatDate(p.L, *r.HoldAt, s.loc)
		}
		p.Cases = append(p.Cases, v)
	}
	p.CSRF = s.csrf.token(c)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return s.views.render(c, fiber.StatusOK, "staff_due", p)
}

// exportDue answers POST /staff/verwaltung/loeschung/export: the cases of
// the list (of service leistung, or all) as CSV or JSON, with the
// inbox's export, before they are deleted. Recorded in the audit log.
func (s *Server) exportDue(c *fiber.Ctx) error {
	st := staffOf(c)
	slug := c.FormValue("leistung")
	cuts, err := s.cases.DueCuts(c.UserContext(), st.OfficeID, s.now().Add(retention.DueWithin), slug)
	if err != nil {
		return err
	}
	var columns []exportColumn
	if svc, ok := s.serviceForm(c, slug); ok {
		columns = exportColumns(svc)
	}
	cf := store.CaseFilter{OfficeID: st.OfficeID, Due: cuts, Oldest: true}
	return s.streamExport(c, cf, c.FormValue("format"), columns, domain.RetentionDueExport, "loeschung")
}
