package portal

import (
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/mail"
	"github.com/gesundheitsamt/portal/internal/store"
)

// mailPage is the data of templates/staff_mail.html: how the office hears
// of new submissions, and the mails receiving servers refused.
type mailPage struct {
	staffPage
	Email    string // the office's inbox address; "" for none
	Modes    []optionView
	Saved    bool
	Refusals []refusalRow
	NextURL  string
}

type refusalRow struct {
	At, What, Reference, Recipient, Answer string
	CaseURL                                string // "" without a case
}

// refusalPageSize is how many refused mails one page lists.
const refusalPageSize = 50

// notifyModes are the choices of how an office hears of new submissions.
var notifyModes = []string{store.NotifyEach, store.NotifyDaily, store.NotifyOff}

// showMail answers GET /staff/verwaltung/mail; ?vor=<id> pages back
// through the refused mails. Reading addresses is recorded.
func (s *Server) showMail(c *fiber.Ctx) error {
	sp, err := s.newStaffPage(c, "staff.mail.title")
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	office, err := store.GetOffice(ctx, s.db, sp.Staff.OfficeID)
	if err != nil {
		return err
	}
	before, _ := strconv.ParseInt(c.Query("vor"), 10, 64)
	refusals, err := mail.ListRefusals(ctx, s.db, sp.Staff.OfficeID, sp.Staff.Actor(), before, refusalPageSize+1)
	if err != nil {
		return err
	}
	p := mailPage{staffPage: sp, Email: office.Email, Saved: c.Query("gespeichert") == "1"}
	for _, m := range notifyModes {
		o := optionView{Value: m, ID: "notify-" + m, Label: p.L.T("staff.mail." + m), Checked: m == office.Notify}
		if m == store.NotifyDaily {
			o.Help = p.L.T("staff.mail.daily_hint")
		}
		p.Modes = append(p.Modes, o)
	}
	if len(refusals) > refusalPageSize {
		refusals = refusals[:refusalPageSize]
		p.NextURL = "/staff/verwaltung/mail?vor=" + strconv.FormatInt(refusals[refusalPageSize-1].ID, 10)
	}
	for _, r := range refusals {
		row := refusalRow{
			At: formatTime(p.L, r.At, s.loc), What: r.Template,
			Reference: r.Reference, Recipient: r.Recipient, Answer: r.Answer,
		}
		if id := "staff.mail.template." + r.Template; p.L.Has(id) {
			row.What = p.L.T(id)
		}
		if r.SubmissionID != 0 {
			row.CaseURL = "/staff/faelle/" + strconv.FormatInt(r.SubmissionID, 10)
		}
		p.Refusals = append(p.Refusals, row)
	}
	p.CSRF = s.csrf.token(c)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return s.views.render(c, fiber.StatusOK, "staff_mail", p)
}

// setNotify answers POST /staff/verwaltung/mail: the office's choice of a
// mail per submission, a daily summary or none. Recorded in the audit log.
func (s *Server) setNotify(c *fiber.Ctx) error {
	st := staffOf(c)
	mode := c.FormValue("notify")
	err := mail.SetOfficeNotify(c.UserContext(), s.db, st.OfficeID, st.Actor(), mode)
	if fault.KindOf(err) == fault.Invalid {
		return fiber.ErrUnprocessableEntity // the form offers only valid choices
	}
	if err != nil {
		return err
	}
	return c.Redirect("/staff/verwaltung/mail?gespeichert=1", fiber.StatusSeeOther)
}
