package portal

import (
	"errors"
	"slices"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/forms"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/submission"
)

// answerQuestion answers POST /status/:token/antwort: the citizen's answer
// to a Rückfrage, text and files. It goes back to the office's inbox as
// unread; a bad file or a missing text shows the page again with the text
// kept.
func (s *Server) answerQuestion(c *fiber.Ctx) error {
	values, files := postedValues(c)
	text := cleanText(firstValue(values("antwort")))
	err := s.withUploads(c, files["dateien"], forms.MaxUploadMB<<20, func(uploads []submission.Upload) error {
		return s.subs.Answer(c.UserContext(), c.Params("token"), text, uploads)
	})
	if k := fault.KindOf(err); k == fault.Invalid || k == fault.Conflict {
		return s.renderAnswerError(c, err, text)
	}
	if err != nil {
		return s.orDeleted(c, err)
	}
	return c.Redirect("/status/"+c.Params("token")+"?beantwortet=1", fiber.StatusSeeOther)
}

// renderAnswerError shows the status page again with why the answer was
// not taken and the text typed.
func (s *Server) renderAnswerError(c *fiber.Ctx, err error, text string) error {
	_, p, _, lerr := s.submissionView(c)
	if lerr != nil {
		return lerr
	}
	p.Title = p.L.T("status.title")
	msg := fault.MessageOf(err)
	if p.Question == nil { // answered meanwhile, or no question open
		p.Errors = []fieldError{{Field: "status-current", Message: p.L.T(submission.MsgAnswerClosed)}}
		return s.views.render(c, fiber.StatusConflict, "status", p)
	}
	q := p.Question
	q.Answer = text
	q.ErrorField = "answer-text"
	if slices.Contains(submission.FileMessages(), msg) {
		q.ErrorField = "answer-files"
	}
	var fe *submission.FileError
	file := ""
	if errors.As(err, &fe) {
		file = fe.Name
	}
	q.Error = p.L.Tf(msg, "Size", strconv.Itoa(forms.MaxUploadMB), "Max", strconv.Itoa(submission.AnswerMaxFiles),
		"Types", "PDF, JPEG, PNG", "File", file, "Label", p.L.T("status.answer.files"))
	p.Errors = []fieldError{{Field: q.ErrorField, Message: q.Error}}
	p.CSRF = s.csrf.token(c)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return s.views.render(c, fiber.StatusUnprocessableEntity, "status", p)
}
