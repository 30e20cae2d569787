package portal

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/internal/store"
)

// feedbackForm is the feedback form of the accessibility statement.
type feedbackForm struct {
	Page    string
	Message string
	Name    string
	Email   string
}

// accessibilityPage is the data of templates/barrierefreiheit.html.
type accessibilityPage struct {
	page
	Form        feedbackForm
	FieldErrors map[string]string // field name → localized message
}

// feedbackRules are the checks of each field, in the order of the form
// (and so of the error summary), with the message id shown for each.
var feedbackRules = []struct {
	field, rule, msgID string
	value              func(*feedbackForm) string
}{
	{"page", "max=500", "feedback.error.page", func(f *feedbackForm) string { return f.Page }},
	{"message", "required", "feedback.error.message.required", func(f *feedbackForm) string { return f.Message }},
	{"message", "max=5000", "feedback.error.message.long", func(f *feedbackForm) string { return f.Message }},
	{"name", "max=200", "feedback.error.name", func(f *feedbackForm) string { return f.Name }},
	{"email", "omitempty,email,max=254", "feedback.error.email", func(f *feedbackForm) string { return f.Email }},
}

// showAccessibility answers GET /barrierefreiheit: the accessibility
// statement (Erklärung zur Barrierefreiheit) with its feedback form.
func (s *Server) showAccessibility(c *fiber.Ctx) error {
	p := accessibilityPage{page: s.newPage(c, "a11y.title")}
	p.CSRF = s.csrf.token(c)
	return s.views.render(c, fiber.StatusOK, "barrierefreiheit", p)
}

// sendFeedback answers POST /barrierefreiheit: it checks the form and
// stores the message, or shows the form again with every value kept and
// each problem beside its field.
func (s *Server) sendFeedback(c *fiber.Ctx) error {
	f := feedbackForm{
		Page:    cleanText(c.FormValue("page")),
		Message: cleanText(c.FormValue("message")),
		Name:    cleanText(c.FormValue("name")),
		Email:   cleanText(c.FormValue("email")),
	}
	p := accessibilityPage{page: s.newPage(c, "a11y.title"), Form: f, FieldErrors: map[string]string{}}
	for _, r := range feedbackRules {
		if _, failed := p.FieldErrors[r.field]; failed {
			continue
		}
		if err := s.validate.Var(r.value(&f), r.rule); err != nil {
			msg := p.L.T(r.msgID)
			p.FieldErrors[r.field] = msg
			p.Errors = append(p.Errors, fieldError{Field: "feedback-" + r.field, Message: msg})
		}
	}
	if len(p.Errors) > 0 {
		p.CSRF = s.csrf.token(c)
		return s.views.render(c, fiber.StatusUnprocessableEntity, "barrierefreiheit", p)
	}
	if _, err := store.InsertFeedback(c.UserContext(), s.db, store.Feedback{
		Lang: p.Lang.Code, Page: f.Page, Message: f.Message, Name: f.Name, Email: f.Email,
	}); err != nil {
		return err
	}
	return c.Redirect("/barrierefreiheit/danke", fiber.StatusSeeOther)
}

// showFeedbackThanks answers GET /barrierefreiheit/danke after a sent
// message (post/redirect/get: a reload sends nothing twice).
func (s *Server) showFeedbackThanks(c *fiber.Ctx) error {
	return s.views.render(c, fiber.StatusOK, "danke", s.newPage(c, "feedback.thanks.title"))
}

// cleanText makes form input storable: valid UTF-8, no NUL bytes, no
// surrounding space. fiber's values point into a reused buffer, so this also
// copies them.
func cleanText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "")
	return strings.Clone(strings.TrimSpace(s))
}

// inputField is what the "feedback-field" template takes: one text input
// with its label, hint and error.
type inputField struct {
	Name, ID, Type, Autocomplete string
	Label, Hint, Error, Value    string
	ErrorPrefix                  string
}

// Field describes the input for form field name, with its localized label
// and hint, for the "feedback-field" template.
func (p accessibilityPage) Field(name, label, hint, value string) inputField {
	f := inputField{
		Name: name, ID: "feedback-" + name, Type: "text",
		Label: label, Hint: hint, Value: value,
		Error: p.FieldErrors[name], ErrorPrefix: p.L.T("form.error_prefix"),
	}
	switch name {
	case "email":
		f.Type, f.Autocomplete = "email", "email"
	case "name":
		f.Autocomplete = "name"
	}
	return f
}
