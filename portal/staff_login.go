package portal

import (
	"encoding/base64"
	"html/template"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/internal/auth"
	"github.com/gesundheitsamt/portal/internal/fault"
)

// Keys of request-scoped values of the back office.
const localStaff = "staff"

// loginsPerClient bounds login attempts (password or code) per client
// address; the account lockout (auth.MaxFailures) bounds them per account.
const loginsPerClient = 30

// staffCookie is the back office's session cookie. SameSite=Strict: no
// staff request needs to come from another site.
func (s *Server) staffCookie() string {
	if s.cfg.SecureCookies() {
		return "__Host-staff"
	}
	return "staff"
}

func (s *Server) setStaffCookie(c *fiber.Ctx, token string) {
	c.Cookie(&fiber.Cookie{
		Name: s.staffCookie(), Value: token, Path: "/", Secure: s.cfg.SecureCookies(), HTTPOnly: true,
		SameSite: fiber.CookieSameSiteStrictMode, SessionOnly: true,
	})
}

func (s *Server) clearStaffCookie(c *fiber.Ctx) {
	c.Cookie(&fiber.Cookie{
		Name: s.staffCookie(), Value: "", Path: "/", MaxAge: -1, Secure: s.cfg.SecureCookies(), HTTPOnly: true,
		SameSite: fiber.CookieSameSiteStrictMode,
	})
}

// requireStaff lets only requests with a complete staff session through;
// others go to the login.
func (s *Server) requireStaff(c *fiber.Ctx) error {
	st, err := s.auth.Session(c.UserContext(), c.Cookies(s.staffCookie()))
	if fault.KindOf(err) == fault.NotFound {
		return c.Redirect("/staff/login", fiber.StatusSeeOther)
	}
	if err != nil {
		return err
	}
	c.Locals(localStaff, st)
	// A generated or reset password opens nothing but its change (and
	// the logout).
	if st.MustChangePassword && c.Path() != "/staff/passwort" && !strings.HasPrefix(c.Path(), "/staff/logout") {
		return c.Redirect("/staff/passwort", fiber.StatusSeeOther)
	}
	return c.Next()
}

func staffOf(c *fiber.Ctx) auth.Staff {
	st, _ := c.Locals(localStaff).(auth.Staff)
	return st
}

// loginPage is the data of templates/staff_login.html, staff_code.html and
// staff_enrol.html.
type loginPage struct {
	page
	LoggedOut bool
	Email     string
	Error     string
	QR        template.URL // data: URL of the enrolment QR code
	Secret    string       // the enrolment secret, also as text
	Recovery  bool         // the code page asks for a recovery code
	Codes     []string     // the recovery codes, shown once after enrolment
}

// showLogin answers GET /staff/login.
func (s *Server) showLogin(c *fiber.Ctx) error {
	p := loginPage{page: s.newPage(c, "staff.login.title"), LoggedOut: c.Query("abgemeldet") == "1"}
	p.CSRF = s.csrf.token(c)
	return s.views.render(c, fiber.StatusOK, "staff_login", p)
}

// login answers POST /staff/login: a correct password leads to the code
// (or to setting up TOTP); anything else to the same message, with the
// address kept.
func (s *Server) login(c *fiber.Ctx) error {
	email := cleanText(c.FormValue("email"))
	if ok, err := s.allow(c, "login", loginsPerClient, 15*time.Minute); err != nil || !ok {
		if err != nil {
			return err
		}
		return fiber.ErrTooManyRequests
	}
	token, next, err := s.auth.Login(c.UserContext(), email, c.FormValue("password"))
	if msg := fault.MessageOf(err); fault.KindOf(err) == fault.Invalid {
		p := loginPage{page: s.newPage(c, "staff.login.title"), Email: email}
		p.Error = p.L.T(msg)
		p.Errors = []fieldError{{Field: "login-email", Message: p.Error}}
		p.CSRF = s.csrf.token(c)
		return s.views.render(c, fiber.StatusUnprocessableEntity, "staff_login", p)
	}
	if err != nil {
		return err
	}
	s.setStaffCookie(c, token) // a new session id at every step: no fixation
	switch next {
	case auth.NeedCode:
		return c.Redirect("/staff/login/code", fiber.StatusSeeOther)
	case auth.NeedEnrol:
		return c.Redirect("/staff/login/einrichten", fiber.StatusSeeOther)
	}
	return c.Redirect("/staff/", fiber.StatusSeeOther)
}

// showCode answers GET /staff/login/code: the TOTP code, or with
// ?wiederherstellung=1 a recovery code (a lost phone).
func (s *Server) showCode(c *fiber.Ctx) error {
	p := loginPage{page: s.newPage(c, "staff.code.title"), Recovery: c.Query("wiederherstellung") == "1"}
	p.CSRF = s.csrf.token(c)
	return s.views.render(c, fiber.StatusOK, "staff_code", p)
}

// verifyCode answers POST /staff/login/code.
func (s *Server) verifyCode(c *fiber.Ctx) error {
	if ok, err := s.allow(c, "login", loginsPerClient, 15*time.Minute); err != nil || !ok {
		if err != nil {
			return err
		}
		return fiber.ErrTooManyRequests
	}
	token, err := s.auth.VerifyCode(c.UserContext(), c.Cookies(s.staffCookie()), c.FormValue("code"))
	switch fault.KindOf(err) {
	case fault.NotFound: // no half-finished login (expired, or never): start over
		s.clearStaffCookie(c)
		return c.Redirect("/staff/login", fiber.StatusSeeOther)
	case fault.Invalid:
		p := loginPage{page: s.newPage(c, "staff.code.title"), Recovery: c.FormValue("wiederherstellung") == "1"}
		p.Error = p.L.T(fault.MessageOf(err))
		p.Errors = []fieldError{{Field: "login-code", Message: p.Error}}
		p.CSRF = s.csrf.token(c)
		return s.views.render(c, fiber.StatusUnprocessableEntity, "staff_code", p)
	}
	if err != nil {
		return err
	}
	s.setStaffCookie(c, token)
	return c.Redirect("/staff/", fiber.StatusSeeOther)
}

// showEnrol answers GET /staff/login/einrichten: a new TOTP secret as QR
// code and text, and the field for the first code.
func (s *Server) showEnrol(c *fiber.Ctx) error {
	e, err := s.auth.NewEnrolment(c.UserContext(), c.Cookies(s.staffCookie()))
	if fault.KindOf(err) == fault.NotFound {
		return c.Redirect("/staff/login", fiber.StatusSeeOther)
	}
	if err != nil {
		return err
	}
	return s.renderEnrol(c, fiber.StatusOK, e.Secret, e.QRPNG, "")
}

func (s *Server) renderEnrol(c *fiber.Ctx, status int, secret string, png []byte, msgID string) error {
	p := loginPage{page: s.newPage(c, "staff.enrol.title"), Secret: secret}
	if png != nil {
		// Built here from our own PNG: a data URL html/template would
		// otherwise refuse.
		p.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
	}
	if msgID != "" {
		p.Error = p.L.T(msgID)
		p.Errors = []fieldError{{Field: "login-code", Message: p.Error}}
	}
	p.CSRF = s.csrf.token(c)
	return s.views.render(c, status, "staff_enrol", p)
}

// enrol answers POST /staff/login/einrichten: the first code proves the
// authenticator holds the secret; the login is then complete.
func (s *Server) enrol(c *fiber.Ctx) error {
	secret := strings.Clone(c.FormValue("secret"))
	token, codes, err := s.auth.Enrol(c.UserContext(), c.Cookies(s.staffCookie()), secret, c.FormValue("code"))
	switch fault.KindOf(err) {
	case fault.NotFound:
		return c.Redirect("/staff/login", fiber.StatusSeeOther)
	case fault.Invalid:
		return s.renderEnrol(c, fiber.StatusUnprocessableEntity, secret, nil, fault.MessageOf(err))
	}
	if err != nil {
		return err
	}
	s.setStaffCookie(c, token)
	// The recovery codes are shown once, on this answer, never again.
	p := loginPage{page: s.newPage(c, "staff.recovery.title"), Codes: codes}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return s.views.render(c, fiber.StatusOK, "staff_recovery", p)
}

// logout answers POST /staff/logout: the session ends here and now.
func (s *Server) logout(c *fiber.Ctx) error {
	if err := s.auth.Logout(c.UserContext(), c.Cookies(s.staffCookie())); err != nil {
		return err
	}
	s.clearStaffCookie(c)
	return c.Redirect("/staff/login?abgemeldet=1", fiber.StatusSeeOther)
}

// logoutEverywhere answers POST /staff/logout/ueberall: every session of
// the account ends.
func (s *Server) logoutEverywhere(c *fiber.Ctx) error {
	if err := s.auth.LogoutEverywhere(c.UserContext(), staffOf(c)); err != nil {
		return err
	}
	s.clearStaffCookie(c)
	return c.Redirect("/staff/login?abgemeldet=1", fiber.StatusSeeOther)
}
