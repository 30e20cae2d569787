package portal

import (
	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/submission"
)

// savedPage is the data of templates/form_saved.html.
type savedPage struct {
	page
	FormTitle string
	Link      string
	Code      string
	Expires   string
	StepURL   string
	Action    string // where the mail form posts
	Email     string // typed, kept on error
	Error     string
	Sent      bool // the link went out by mail
}

// showSaved answers GET .../antrag/gespeichert: the link and the code that
// bring the citizen back to the saved draft, from any browser.
func (s *Server) showSaved(c *fiber.Ctx) error {
	return s.renderSaved(c, fiber.StatusOK, "", "")
}

// renderSaved renders the saved page, with an error (message id) and the
// address typed when mailing the link failed.
func (s *Server) renderSaved(c *fiber.Ctx, status int, msgID, email string) error {
	fc, err := s.loadForm(c)
	if err != nil {
		return err
	}
	if fc.draft == nil {
		return c.Redirect(fc.base, fiber.StatusSeeOther)
	}
	p := savedPage{page: s.newPage(c, "form.saved.title"), Email: email, Action: fc.base + "/gespeichert",
		Sent: c.Query("gesendet") == "1" && msgID == ""}
	if msgID != "" {
		p.Error = p.L.T(msgID)
		p.Errors = []fieldError{{Field: "saved-email", Message: p.Error}}
	}
	p.CSRF = s.csrf.token(c)
	p.FormTitle = fc.form.Title.In(p.Lang.Code)
	p.Link = s.cfg.BaseURL.String() + "/fortsetzen/" + fc.draft.Token
	p.Code = submission.FormatCode(fc.draft.Token)
	p.Expires = formatTime(p.L, s.now().Add(submission.DraftTTL), s.loc)
	p.StepURL = fc.base
	c.Set(fiber.HeaderCacheControl, "no-store")
	return s.views.render(c, status, "form_saved", p)
}

// mailResumeLink answers POST .../antrag/gespeichert: the resume link by
// mail to the address given (not kept anywhere but in the sealed job).
func (s *Server) mailResumeLink(c *fiber.Ctx) error {
	email := cleanText(c.FormValue("email"))
	fc, err := s.loadForm(c)
	if err != nil {
		return err
	}
	if fc.draft == nil {
		return c.Redirect(fc.base, fiber.StatusSeeOther)
	}
	if ok, err := s.allow(c, resumeMailLimit); err != nil || !ok {
		if err != nil {
			return err
		}
		return fiber.ErrTooManyRequests
	}
	err = s.subs.SendResumeLink(c.UserContext(), fc.draft, email, s.localizerFor(c).Lang().Code)
	if fault.KindOf(err) == fault.Invalid {
		return s.renderSaved(c, fiber.StatusUnprocessableEntity, fault.MessageOf(err), email)
	}
	if err != nil {
		return err
	}
	return c.Redirect(fc.base+"/gespeichert?gesendet=1", fiber.StatusSeeOther)
}

// resumePage is the data of templates/resume.html.
type resumePage struct {
	page
	Code  string
	Error string
}

// showResume answers GET /fortsetzen and GET /fortsetzen/:token: a form
// for the resume code, filled in when the link carried it. Following the
// link changes nothing (mail scanners follow links); the button does.
func (s *Server) showResume(c *fiber.Ctx) error {
	p := resumePage{page: s.newPage(c, "resume.title")}
	if t, ok := submission.ParseToken(c.Params("token")); ok {
		p.Code = submission.FormatCode(t)
	}
	p.CSRF = s.csrf.token(c)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return s.views.render(c, fiber.StatusOK, "resume", p)
}

// resume answers POST /fortsetzen: a valid code sets the draft cookie and
// leads to the first open step of the draft's form.
func (s *Server) resume(c *fiber.Ctx) error {
	code := cleanText(c.FormValue("code"))
	d, err := s.subs.OpenDraft(c.UserContext(), code)
	if fault.KindOf(err) == fault.NotFound {
		p := resumePage{page: s.newPage(c, "resume.title"), Code: code}
		p.Error = p.L.T("resume.error.unknown")
		if code == "" {
			p.Error = p.L.T("resume.error.required")
		}
		p.Errors = []fieldError{{Field: "resume-code", Message: p.Error}}
		p.CSRF = s.csrf.token(c)
		c.Set(fiber.HeaderCacheControl, "no-store")
		return s.views.render(c, fiber.StatusUnprocessableEntity, "resume", p)
	}
	if err != nil {
		return err
	}
	snap, err := s.dir.Snapshot(c.UserContext())
	if err != nil {
		return err
	}
	e, ok := snap.OfficeByID(d.OfficeID)
	if !ok {
		return fiber.ErrNotFound
	}
	fc := &formContext{office: e, service: d.ServiceSlug, draft: d}
	s.setDraftCookie(c, fc)
	return c.Redirect("/amt/"+e.Slug+"/leistungen/"+d.ServiceSlug+"/antrag", fiber.StatusSeeOther)
}
