package portal

import (
	"encoding/base64"
	"errors"
	"html/template"
	"math"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/internal/auth"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/i18n"
	"github.com/gesundheitsamt/portal/internal/inbox"
)

// Keys of request-scoped values of the back office.
const localStaff = "staff"

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

// deviceCookie marks a browser that completed a login: its password
// attempts count apart from a stranger's (see internal/auth).
func (s *Server) deviceCookie() string {
	if s.cfg.SecureCookies() {
		return "__Host-staff-device"
	}
	return "staff-device"
}

// setDeviceCookie keeps a device token for 180 days; empty: none.
func (s *Server) setDeviceCookie(c *fiber.Ctx, token string) {
	if token == "" {
		return
	}
	c.Cookie(&fiber.Cookie{
		Name: s.deviceCookie(), Value: token, Path: "/", MaxAge: 180 * 24 * 3600, Secure: s.cfg.SecureCookies(), HTTPOnly: true,
		SameSite: fiber.CookieSameSiteStrictMode,
	})
}

// loginClient is what internal/auth knows of the browser attempting a
// login.
func (s *Server) loginClient(c *fiber.Ctx) auth.Client {
	return auth.Client{Addr: s.clientKey(c), Device: c.Cookies(s.deviceCookie())}
}

// loginRefusal renders page (staff_login or staff_code, data p) for a
// refused attempt: a wrong password or code (422), a throttled attempt
// (429, with how long to wait), too many logins at once (503). It
// reports false for other errors.
func (s *Server) loginRefusal(c *fiber.Ctx, err error, name, field string, p *loginPage) (bool, error) {
	status := fiber.StatusUnprocessableEntity
	var te *auth.ThrottledError
	switch fault.KindOf(err) {
	case fault.Invalid:
		p.Error = p.L.T(fault.MessageOf(err))
	case fault.TooMany:
		if !errors.As(err, &te) {
			return false, nil
		}
		status = fiber.StatusTooManyRequests
		secs := int(math.Ceil(te.Wait.Seconds()))
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(secs))
		p.Error = p.L.Tf(auth.MsgThrottled, "Wait", waitText(p.L, secs))
	case fault.Unavailable:
		if fault.MessageOf(err) != auth.MsgBusy {
			return false, nil
		}
		status = fiber.StatusServiceUnavailable
		c.Set(fiber.HeaderRetryAfter, "5")
		p.Error = p.L.T(auth.MsgBusy)
	default:
		return false, nil
	}
	p.Errors = []fieldError{{Field: field, Message: p.Error}}
	p.CSRF = s.csrf.token(c)
	return true, s.views.render(c, status, name, p)
}

// waitText says secs seconds as a person would: seconds under two
// minutes, minutes above.
func waitText(l *i18n.Localizer, secs int) string {
	switch {
	case secs <= 1:
		return l.T("staff.login.wait.second")
	case secs < 120:
		return l.Tf("staff.login.wait.seconds", "N", strconv.Itoa(secs))
	}
	return l.Tf("staff.login.wait.minutes", "N", strconv.Itoa((secs+59)/60))
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

// staffAccess is how the logged-in staff member works on cases
// (inbox.Access).
func staffAccess(c *fiber.Ctx) inbox.Access { return inbox.StaffAccess(staffOf(c)) }

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
	if ok, err := s.allow(c, loginLimit); err != nil || !ok {
		if err != nil {
			return err
		}
		return fiber.ErrTooManyRequests
	}
	token, next, device, err := s.auth.Login(c.UserContext(), email, c.FormValue("password"), s.loginClient(c))
	p := loginPage{page: s.newPage(c, "staff.login.title"), Email: email}
	if done, rerr := s.loginRefusal(c, err, "staff_login", "login-email", &p); done {
		return rerr
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
	s.setDeviceCookie(c, device)
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
	if ok, err := s.allow(c, loginLimit); err != nil || !ok {
		if err != nil {
			return err
		}
		return fiber.ErrTooManyRequests
	}
	token, device, err := s.auth.VerifyCode(c.UserContext(), c.Cookies(s.staffCookie()), c.FormValue("code"), s.loginClient(c))
	if fault.KindOf(err) == fault.NotFound { // no half-finished login (expired, or never): start over
		s.clearStaffCookie(c)
		return c.Redirect("/staff/login", fiber.StatusSeeOther)
	}
	p := loginPage{page: s.newPage(c, "staff.code.title"), Recovery: c.FormValue("wiederherstellung") == "1"}
	if done, rerr := s.loginRefusal(c, err, "staff_code", "login-code", &p); done {
		return rerr
	}
	if err != nil {
		return err
	}
	s.setStaffCookie(c, token)
	s.setDeviceCookie(c, device)
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
// authenticator holds the secret the page showed (kept with the session,
// never taken from the post); the login is then complete.
func (s *Server) enrol(c *fiber.Ctx) error {
	token, device, codes, err := s.auth.Enrol(c.UserContext(), c.Cookies(s.staffCookie()), c.FormValue("code"), s.loginClient(c))
	switch fault.KindOf(err) {
	case fault.NotFound:
		return c.Redirect("/staff/login", fiber.StatusSeeOther)
	case fault.Invalid:
		e, eerr := s.auth.NewEnrolment(c.UserContext(), c.Cookies(s.staffCookie()))
		if eerr != nil {
			return eerr
		}
		return s.renderEnrol(c, fiber.StatusUnprocessableEntity, e.Secret, e.QRPNG, fault.MessageOf(err))
	}
	if err != nil {
		return err
	}
	s.setStaffCookie(c, token)
	s.setDeviceCookie(c, device)
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
