package portal

import (
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/i18n"
	"github.com/gesundheitsamt/portal/internal/store"
)

// holdView is a case's deletion hold as the case page shows it.
type holdView struct {
	At, By, Reason string
}

// caseDeletion fills in what the case page says about the case's end:
// when it closed, when it will be deleted (or why not), and its hold.
// names are the office's staff by id.
func (s *Server) caseDeletion(c *fiber.Ctx, p *casePage, sub store.Submission, names map[int64]string) error {
	period, err := s.cases.Period(c.UserContext(), sub.OfficeID, sub.ServiceSlug)
	if err != nil && fault.KindOf(err) != fault.NotFound {
		return err
	}
	months := period.Months()
	if sub.ClosedAt != nil {
		p.ClosedAt = formatTime(p.L, *sub.ClosedAt, s.loc)
	}
	switch {
	case sub.HoldAt != nil:
		p.Hold = &holdView{At: formatTime(p.L, *sub.HoldAt, s.loc), By: names[sub.HoldBy], Reason: sub.HoldReason}
		p.Deletion = p.L.T("staff.case.deletion.held")
	case months == 0:
		p.Deletion = p.L.T("staff.case.deletion.unknown")
	case sub.ClosedAt == nil:
		p.Deletion = p.L.Tf("staff.case.deletion.open", "Period", periodText(p.L, months))
	default:
		p.Deletion = p.L.Tf("staff.case.deletion.due", "Date", formatDate(p.L, s.cases.DueAt(*sub.ClosedAt, months), s.loc),
			"Period", periodText(p.L, months))
	}
	return nil
}

// periodText names a retention period of months: "10 Jahre", "6 Monate",
// "1 Jahr und 6 Monate".
func periodText(l *i18n.Localizer, months int) string {
	part := func(n int, one, many string) string {
		if n == 1 {
			return l.T(one)
		}
		return l.Tf(many, "N", strconv.Itoa(n))
	}
	y, m := months/12, months%12
	years := part(y, "staff.retention.period.year", "staff.retention.period.years")
	rest := part(m, "staff.retention.period.month", "staff.retention.period.months")
	switch {
	case m == 0:
		return years
	case y == 0:
		return rest
	}
	return l.Tf("staff.retention.period.both", "Years", years, "Months", rest)
}

// setHold answers POST /staff/faelle/:id/loeschsperre: a deletion hold
// with its reason, or the page again with why not and the reason kept.
func (s *Server) setHold(c *fiber.Ctx) error {
	id, err := caseID(c)
	if err != nil {
		return err
	}
	form := caseForm{Name: "hold", HoldReason: cleanText(c.FormValue("grund"))}
	err = s.inbox.SetHold(c.UserContext(), staffAccess(c), id, form.HoldReason)
	return s.afterCaseChange(c, id, form, err)
}

// liftHold answers POST /staff/faelle/:id/loeschsperre/aufheben.
func (s *Server) liftHold(c *fiber.Ctx) error {
	id, err := caseID(c)
	if err != nil {
		return err
	}
	err = s.inbox.LiftHold(c.UserContext(), staffAccess(c), id)
	return s.afterCaseChange(c, id, caseForm{Name: "hold"}, err)
}
