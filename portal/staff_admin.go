package portal

import (
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/internal/audit"
	"github.com/gesundheitsamt/portal/internal/auth"
	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/i18n"
	"github.com/gesundheitsamt/portal/internal/scan"
)

// staffPage is what every back-office page shows around its content: who
// is signed in where, and the navigation (templates/partials.html,
// "staff-bar").
type staffPage struct {
	page
	Staff  auth.Staff
	Office string
}

// IsAdmin reports whether the page's reader administers the office.
func (p staffPage) IsAdmin() bool { return p.Staff.Role == domain.Admin }

func (s *Server) newStaffPage(c *fiber.Ctx, titleID string) (staffPage, error) {
	st := staffOf(c)
	p := staffPage{page: s.newPage(c, titleID), Staff: st}
	snap, err := s.dir.Snapshot(c.UserContext())
	if err != nil {
		return p, err
	}
	if e, ok := snap.OfficeByID(st.OfficeID); ok {
		p.Office = e.Name
	}
	return p, nil
}

// passwordPage is the data of templates/staff_password.html.
type passwordPage struct {
	staffPage
	Forced  bool // a generated or reset password must be replaced
	Changed bool
	Error   string
}

// showPassword answers GET /staff/passwort.
func (s *Server) showPassword(c *fiber.Ctx) error {
	return s.renderPassword(c, fiber.StatusOK, "")
}

func (s *Server) renderPassword(c *fiber.Ctx, status int, msgID string) error {
	sp, err := s.newStaffPage(c, "staff.password.title")
	if err != nil {
		return err
	}
	p := passwordPage{staffPage: sp, Forced: sp.Staff.MustChangePassword, Changed: c.Query("geaendert") == "1"}
	if msgID != "" {
		p.Error = p.L.T(msgID)
		field := "password-new"
		if msgID == auth.MsgPasswordWrong {
			field = "password-current"
		}
		p.Errors = []fieldError{{Field: field, Message: p.Error}}
	}
	p.CSRF = s.csrf.token(c)
	return s.views.render(c, status, "staff_password", p)
}

// changePassword answers POST /staff/passwort: every session of the
// account ends, this one goes on under a new id.
func (s *Server) changePassword(c *fiber.Ctx) error {
	if ok, err := s.allow(c, loginLimit); err != nil || !ok {
		if err != nil {
			return err
		}
		return fiber.ErrTooManyRequests
	}
	token, err := s.auth.ChangePassword(c.UserContext(), c.Cookies(s.staffCookie()),
		c.FormValue("current"), c.FormValue("new"), c.FormValue("repeat"))
	switch fault.KindOf(err) {
	case fault.Invalid:
		return s.renderPassword(c, fiber.StatusUnprocessableEntity, fault.MessageOf(err))
	case fault.NotFound: // guessing the current password was throttled: the session has ended
		s.clearStaffCookie(c)
		return c.Redirect("/staff/login", fiber.StatusSeeOther)
	}
	if err != nil {
		return err
	}
	s.setStaffCookie(c, token)
	return c.Redirect("/staff/passwort?geaendert=1", fiber.StatusSeeOther)
}

// adminPage is the data of templates/staff_admin.html.
type adminPage struct {
	staffPage
	Accounts []accountView
	Roles    []optionView
	// What an action produced, shown once on this answer: a generated
	// password for Name.
	Password, PasswordFor string
	Done                  string // a message id: what happened
	Error                 string
	Form                  struct{ Email, Name, Role string }
	Scan                  scan.Status // whether uploads are scanned for viruses
}

// requireAdmin lets only the office's admins through; others get 403.
func requireAdmin(c *fiber.Ctx) error {
	if staffOf(c).Role != domain.Admin {
		return fiber.ErrForbidden
	}
	return c.Next()
}

// showAdmin answers GET /staff/verwaltung: the office's accounts, and
// whether uploads are scanned for viruses.
func (s *Server) showAdmin(c *fiber.Ctx) error {
	return s.renderAdmin(c, fiber.StatusOK, func(p *adminPage) { p.Done = doneMessages[c.Query("erledigt")] })
}

// doneMessages are the outcomes a redirect to the admin page may name.
var doneMessages = map[string]string{
	"zweiter-faktor": "staff.admin.done.totp", "gesperrt": "staff.admin.done.disabled", "entsperrt": "staff.admin.done.enabled",
	"pflicht": "staff.admin.done.totp_required", "optional": "staff.admin.done.totp_optional",
}

func (s *Server) renderAdmin(c *fiber.Ctx, status int, fill func(*adminPage)) error {
	sp, err := s.newStaffPage(c, "staff.admin.title")
	if err != nil {
		return err
	}
	p := adminPage{staffPage: sp}
	accounts, err := s.auth.Accounts(c.UserContext(), sp.Staff)
	if err != nil {
		return err
	}
	for _, a := range accounts {
		p.Accounts = append(p.Accounts, accountView{Account: a, RoleLabel: roleLabel(p.L, a.Role)})
	}
	p.Scan = s.subs.VirusScan(c.UserContext())
	fill(&p)
	for _, r := range domain.Roles {
		p.Roles = append(p.Roles, optionView{Value: string(r), Label: roleLabel(p.L, r), Checked: string(r) == p.Form.Role})
	}
	if p.Done != "" {
		p.Done = p.L.T(p.Done)
	}
	if p.Error != "" {
		p.Error = p.L.T(p.Error)
		p.Errors = []fieldError{{Field: "account-email", Message: p.Error}}
	}
	p.CSRF = s.csrf.token(c)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return s.views.render(c, status, "staff_admin", p)
}

// accountView is an account as the admin page lists it.
type accountView struct {
	auth.Account
	RoleLabel string
}

func roleLabel(l *i18n.Localizer, role domain.Role) string {
	switch role {
	case domain.Admin:
		return l.T("staff.role.admin")
	case domain.Physician:
		return l.T("staff.role.physician")
	default:
		return l.T("staff.role.caseworker")
	}
}

// createAccount answers POST /staff/verwaltung/konten: a new account with
// a one-time password, shown once on the answer.
func (s *Server) createAccount(c *fiber.Ctx) error {
	admin := staffOf(c)
	email, name, role := cleanText(c.FormValue("email")), cleanText(c.FormValue("name")), cleanText(c.FormValue("role"))
	password, err := s.auth.CreateAccount(c.UserContext(), admin, email, name, domain.Role(role))
	if k := fault.KindOf(err); k == fault.Invalid || k == fault.Conflict {
		return s.renderAdmin(c, fiber.StatusUnprocessableEntity, func(p *adminPage) {
			p.Error = fault.MessageOf(err)
			p.Form.Email, p.Form.Name, p.Form.Role = email, name, role
		})
	}
	if err != nil {
		return err
	}
	return s.renderAdmin(c, fiber.StatusOK, func(p *adminPage) { p.Password, p.PasswordFor = password, name })
}

// accountID reads the path's account id.
func accountID(c *fiber.Ctx) (int64, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, fiber.ErrNotFound
	}
	return id, nil
}

// resetPassword answers POST /staff/verwaltung/konten/:id/passwort: a new
// one-time password, shown once; the account's sessions end.
func (s *Server) resetPassword(c *fiber.Ctx) error {
	id, err := accountID(c)
	if err != nil {
		return err
	}
	password, err := s.auth.ResetPassword(c.UserContext(), staffOf(c), id)
	if err != nil {
		return err
	}
	return s.renderAdmin(c, fiber.StatusOK, func(p *adminPage) {
		p.Password = password
		for _, a := range p.Accounts {
			if a.ID == id {
				p.PasswordFor = a.Name
			}
		}
	})
}

// resetSecondFactor answers POST /staff/verwaltung/konten/:id/zweiter-faktor.
func (s *Server) resetSecondFactor(c *fiber.Ctx) error {
	id, err := accountID(c)
	if err != nil {
		return err
	}
	if err := s.auth.ResetSecondFactor(c.UserContext(), staffOf(c), id); err != nil {
		return err
	}
	return c.Redirect("/staff/verwaltung?erledigt=zweiter-faktor", fiber.StatusSeeOther)
}

// setDisabled answers POST /staff/verwaltung/konten/:id/sperre: sperren=1
// disables the account (its sessions end), anything else enables it.
func (s *Server) setDisabled(c *fiber.Ctx) error {
	id, err := accountID(c)
	if err != nil {
		return err
	}
	disable := c.FormValue("sperren") == "1"
	err = s.auth.SetDisabled(c.UserContext(), staffOf(c), id, disable)
	if fault.KindOf(err) == fault.Invalid {
		return s.renderAdmin(c, fiber.StatusUnprocessableEntity, func(p *adminPage) { p.Error = fault.MessageOf(err) })
	}
	if err != nil {
		return err
	}
	done := "entsperrt"
	if disable {
		done = "gesperrt"
	}
	return c.Redirect("/staff/verwaltung?erledigt="+done, fiber.StatusSeeOther)
}

// setSecondFactorRequired answers POST
// /staff/verwaltung/konten/:id/zweiter-faktor-pflicht: pflicht=1 requires
// the second factor, anything else makes a caseworker's optional.
func (s *Server) setSecondFactorRequired(c *fiber.Ctx) error {
	id, err := accountID(c)
	if err != nil {
		return err
	}
	required := c.FormValue("pflicht") == "1"
	err = s.auth.SetSecondFactorRequired(c.UserContext(), staffOf(c), id, required)
	if fault.KindOf(err) == fault.Invalid {
		return s.renderAdmin(c, fiber.StatusUnprocessableEntity, func(p *adminPage) { p.Error = fault.MessageOf(err) })
	}
	if err != nil {
		return err
	}
	done := "optional"
	if required {
		done = "pflicht"
	}
	return c.Redirect("/staff/verwaltung?erledigt="+done, fiber.StatusSeeOther)
}

// auditPage is the data of templates/staff_audit.html.
type auditPage struct {
	staffPage
	Entries []auditRow
	NextURL string
}

type auditRow struct {
	At, Actor, Action, Object string
}

// auditPageSize is how many entries one page of the audit log shows.
const auditPageSize = 100

// showAudit answers GET /staff/verwaltung/protokoll: the office's audit
// log, newest first; ?vor=<id> pages back. Reading it is itself recorded.
func (s *Server) showAudit(c *fiber.Ctx) error {
	sp, err := s.newStaffPage(c, "staff.audit.title")
	if err != nil {
		return err
	}
	before, _ := strconv.ParseInt(c.Query("vor"), 10, 64)
	entries, err := audit.ReadLog(c.UserContext(), s.db, sp.Staff.OfficeID, sp.Staff.Actor(), before, auditPageSize+1)
	if err != nil {
		return err
	}
	p := auditPage{staffPage: sp}
	if len(entries) > auditPageSize {
		entries = entries[:auditPageSize]
		p.NextURL = "/staff/verwaltung/protokoll?vor=" + strconv.FormatInt(entries[auditPageSize-1].ID, 10)
	}
	names := map[string]string{}
	accounts, err := s.auth.Accounts(c.UserContext(), sp.Staff)
	if err != nil {
		return err
	}
	for _, a := range accounts {
		names[domain.StaffMember(a.ID).String()] = a.Name
	}
	for _, e := range entries {
		actor := e.Actor
		if n, ok := names[actor]; ok {
			actor = n + " (" + e.Actor + ")"
		}
		p.Entries = append(p.Entries, auditRow{At: formatTime(p.L, e.At, s.loc), Actor: actor, Action: e.Action, Object: e.Object})
	}
	return s.views.render(c, fiber.StatusOK, "staff_audit", p)
}
