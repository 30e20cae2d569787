package portal

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/forms"
	"github.com/gesundheitsamt/portal/internal/submission"
)

// checkPage is the data of templates/form_check.html.
type checkPage struct {
	page
	Office       officeView
	ServiceURL   string
	FormTitle    string
	Sections     []sectionView
	Action       string
	ConsentError string
	BackURL      string
}

type sectionView struct {
	Title     string
	ChangeURL string
	Items     []forms.Item
}

// showCheck answers GET .../antrag/pruefen: every answer, with a change
// link per step, the consent to the privacy notice and the submit button.
func (s *Server) showCheck(c *fiber.Ctx) error {
	fc, err := s.loadForm(c)
	if err != nil {
		return err
	}
	if open := fc.firstOpenStep(); open != nil {
		return c.Redirect(fc.stepURL(open), fiber.StatusSeeOther)
	}
	// A changed answer can open questions on a later step: show that step
	// with what is missing.
	if st, issues := s.engine.ValidateAll(fc.form, fc.answers(), s.now()); st != nil {
		return s.renderStep(c, fc, st, fiber.StatusOK, issues, nil, false)
	}
	return s.renderCheck(c, fc, fiber.StatusOK, false)
}

func (s *Server) renderCheck(c *fiber.Ctx, fc *formContext, status int, consentMissing bool) error {
	p := checkPage{page: s.newPage(c, "form.check.title")}
	lang := p.Lang.Code
	p.Office = officeOf(fc.office)
	p.ServiceURL = "/amt/" + fc.office.Slug + "/leistungen/" + fc.service
	p.FormTitle = fc.form.Title.In(lang)
	p.Title = p.L.T("form.check.title") + " – " + p.FormTitle
	p.Action = fc.base + "/absenden"
	p.BackURL = fc.stepURL(fc.form.Steps[len(fc.form.Steps)-1])
	for _, sec := range forms.Summarize(fc.form, fc.answers(), lang, s.words(p.L)) {
		p.Sections = append(p.Sections, sectionView{Title: sec.Title, ChangeURL: fc.stepURL(sec.Step), Items: sec.Items})
	}
	if consentMissing {
		p.ConsentError = p.L.T("form.error.consent")
		p.Errors = []fieldError{{Field: "f-consent", Message: p.ConsentError}}
	}
	p.CSRF = s.csrf.token(c)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return s.views.render(c, status, "form_check", p)
}

// submitForm answers POST .../antrag/absenden: with consent given and every
// step valid, the draft becomes a submission and the citizen goes to the
// receipt. A repeated post finds the first submission and shows its receipt
// with a note.
func (s *Server) submitForm(c *fiber.Ctx) error {
	fc, err := s.loadForm(c)
	if err != nil {
		return err
	}
	d := fc.draft
	switch {
	case d == nil && fc.submitted != nil: // a double click or a resent post
		d = fc.submitted
	case d == nil:
		return c.Redirect(fc.base, fiber.StatusSeeOther)
	case c.FormValue("consent") != forms.CheckboxOn:
		return s.renderCheck(c, fc, fiber.StatusUnprocessableEntity, true)
	}
	lang := s.localizerFor(c).Lang().Code
	r, err := s.subs.Submit(c.UserContext(), d, fc.form, fc.office.Code, lang)
	var invalid *submission.InvalidAnswers
	if errors.As(err, &invalid) {
		return s.renderStep(c, fc, invalid.Step, fiber.StatusUnprocessableEntity, invalid.Issues, nil, false)
	}
	if err != nil {
		return err
	}
	// The draft is done: the browser forgets it, so the next person at a
	// shared computer starts with an empty form.
	s.clearDraftCookie(c, fc)
	to := "/status/" + r.AccessToken + "/eingang"
	if r.Duplicate {
		to += "?erneut=1"
	}
	return c.Redirect(to, fiber.StatusSeeOther)
}

// words are the few localized words forms.Summarize needs.
func (s *Server) words(l interface{ T(string) string }) forms.Words {
	return forms.Words{Yes: l.T("form.yes"), NotAnswered: l.T("form.not_answered")}
}
