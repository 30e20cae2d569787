package portal

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/forms"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/formpost"
	"github.com/gesundheitsamt/portal/internal/office"
	"github.com/gesundheitsamt/portal/internal/submission"
)

// formContext is what every handler of a form needs: the office, the
// service, its form, and the citizen's draft (nil when there is none yet).
type formContext struct {
	snap    *office.Snapshot
	office  *office.Entry
	service string
	form    *forms.Form
	base    string // /amt/<office>/leistungen/<service>/antrag
	draft   *submission.Draft
	// submitted is the cookie's draft when it was submitted already (for a
	// few minutes after): a repeated submit finds its receipt; anything
	// else starts afresh, so the next person at a shared computer sees
	// nothing of it.
	submitted *submission.Draft
}

// loadForm resolves the office, service and form of the request, and the
// draft its cookie names. Errors: NotFound when the office does not offer
// the service; Unavailable when the draft cannot be read, and then the
// context is returned too, without the draft (a step's post can still
// show what it carries).
func (s *Server) loadForm(c *fiber.Ctx) (*formContext, error) {
	snap, err := s.dir.Snapshot(c.UserContext())
	if err != nil {
		return nil, err
	}
	slug := c.Params("service")
	e, ok := snap.Office(c.Params("office"))
	if !ok || !e.Offers(slug) {
		return nil, fiber.ErrNotFound
	}
	svc, _ := snap.Service(slug)
	f, ok := s.forms.Form(svc.FormRef)
	if !ok {
		return nil, fiber.ErrNotFound
	}
	fc := &formContext{snap: snap, office: e, service: slug, form: f, base: "/amt/" + e.Slug + "/leistungen/" + slug + "/antrag"}
	if token := c.Cookies(s.draftCookie(e.Slug, slug)); token != "" {
		d, err := s.subs.OpenDraft(c.UserContext(), token)
		switch {
		case err == nil && d.OfficeID == e.ID && d.ServiceSlug == slug && d.FormID == f.ID && d.Submitted != nil:
			fc.submitted = d
		case err == nil && d.OfficeID == e.ID && d.ServiceSlug == slug && d.FormID == f.ID:
			fc.draft = d
		case fault.KindOf(err) == fault.Unavailable:
			return fc, err
		case err != nil && fault.KindOf(err) != fault.NotFound:
			return nil, err
		}
	}
	return fc, nil
}

// loadStep is loadForm plus the step the path names. Errors: NotFound;
// Unavailable, with context and step, as loadForm's.
func (s *Server) loadStep(c *fiber.Ctx) (*formContext, *forms.Step, error) {
	fc, err := s.loadForm(c)
	if fc == nil {
		return nil, nil, err
	}
	st, ok := fc.form.Step(c.Params("step"))
	if !ok {
		return nil, nil, fiber.ErrNotFound
	}
	return fc, st, err
}

// answers returns the draft's answers, or empty ones.
func (fc *formContext) answers() *forms.Answers {
	if fc.draft != nil {
		return fc.draft.Answers
	}
	return forms.NewAnswers()
}

// firstOpenStep returns the first step not yet passed: a citizen may not
// jump ahead of it.
func (fc *formContext) firstOpenStep() *forms.Step {
	a := fc.answers()
	for _, st := range fc.form.Steps {
		if !a.StepDone(st.ID) {
			return st
		}
	}
	return nil
}

func (fc *formContext) stepURL(st *forms.Step) string { return fc.base + "/" + st.ID }

// draftCookie names the cookie holding the draft token of a service at an
// office; a citizen may fill in several forms at once.
func (s *Server) draftCookie(officeSlug, service string) string {
	name := "draft-" + officeSlug + "-" + service
	if s.cfg.SecureCookies() {
		return "__Host-" + name
	}
	return name
}

// setDraftCookie (re)sets the draft cookie: its life starts anew with each
// save, like the draft's.
func (s *Server) setDraftCookie(c *fiber.Ctx, fc *formContext) {
	c.Cookie(&fiber.Cookie{
		Name: s.draftCookie(fc.office.Slug, fc.service), Value: fc.draft.Token, Path: "/",
		MaxAge: int(submission.DraftTTL.Seconds()), Secure: s.cfg.SecureCookies(), HTTPOnly: true,
		SameSite: fiber.CookieSameSiteLaxMode,
	})
}

// clearDraftCookie removes the draft cookie (after submit).
func (s *Server) clearDraftCookie(c *fiber.Ctx, fc *formContext) {
	c.Cookie(&fiber.Cookie{
		Name: s.draftCookie(fc.office.Slug, fc.service), Value: "", Path: "/", MaxAge: -1,
		Secure: s.cfg.SecureCookies(), HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode,
	})
}

// saveDraft stores the draft and renews its cookie.
func (s *Server) saveDraft(c *fiber.Ctx, fc *formContext) error {
	if err := s.subs.SaveDraft(c.UserContext(), fc.draft); err != nil {
		return err
	}
	s.setDraftCookie(c, fc)
	return nil
}

// startForm answers GET .../antrag: the first step not yet done.
func (s *Server) startForm(c *fiber.Ctx) error {
	fc, err := s.loadForm(c)
	if err != nil {
		return err
	}
	if st := fc.firstOpenStep(); st != nil {
		return c.Redirect(fc.stepURL(st), fiber.StatusSeeOther)
	}
	return c.Redirect(fc.base+"/pruefen", fiber.StatusSeeOther)
}

// stepPage is the data of templates/form_step.html.
type stepPage struct {
	page
	Office        officeView
	ServiceURL    string
	FormTitle     string
	StepTitle     string
	Intro         string
	StepNumber    int
	StepCount     int
	Action        string
	Multipart     bool
	Last          bool
	BackURL       string
	Fields        []fieldView
	Warnings      []fieldError
	Ack           string
	MoreQuestions bool
	// Unsaved: the post could not be stored (the database is away); the
	// page shows what it carried. UnsavedFiles: its files, if any, are
	// not kept.
	Unsaved, UnsavedFiles bool
}

// showStep answers GET .../antrag/:step with the step's questions and the
// answers given so far.
func (s *Server) showStep(c *fiber.Ctx) error {
	fc, st, err := s.loadStep(c)
	if err != nil {
		return err
	}
	if open := fc.firstOpenStep(); open != nil && st.Index() > open.Index() {
		return c.Redirect(fc.stepURL(open), fiber.StatusSeeOther)
	}
	if fc.draft == nil && onlyLangQuery(c) { // a new visitor: the same page for everyone
		key := fc.form.Hash + "\x00" + routeKey(c) + "\x00" + s.localizerFor(c).Lang().Code
		// The page is rebuilt each day: date inputs carry today as their
		// min or max.
		done, err := s.renderSpliced(c, fc.snap, s.today(), key, func() (string, any) {
			p := s.stepPage(c, fc, st, nil, nil, false)
			p.CSRF = csrfPlaceholder
			return "form_step", p
		})
		if done || err != nil {
			return err
		}
	}
	return s.renderStep(c, fc, st, fiber.StatusOK, nil, nil, false)
}

// today is the date in the offices' time zone (ISO).
func (s *Server) today() string { return s.now().In(s.loc).Format(time.DateOnly) }

// stepBodyLimit is the largest post step st takes: its uploads and the
// answers, or a text form's.
func (s *Server) stepBodyLimit(st *forms.Step) int {
	if !st.Multipart() {
		return formBodySize
	}
	return int(st.UploadBytes()) + bodySlack
}

// onlyLangQuery reports whether the request has no query apart from lang.
func onlyLangQuery(c *fiber.Ctx) bool {
	args := c.Request().URI().QueryArgs()
	n := args.Len()
	return n == 0 || (n == 1 && args.Has("lang"))
}

// renderStep renders step st with the context's answers and the given
// errors and warnings beside their fields.
func (s *Server) renderStep(c *fiber.Ctx, fc *formContext, st *forms.Step, status int, errs, warns []forms.Issue, more bool) error {
	p := s.stepPage(c, fc, st, errs, warns, more)
	p.CSRF = s.csrf.token(c)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return s.views.render(c, status, "form_step", p)
}

// stepPage builds the data of a step's page (all but the CSRF token).
func (s *Server) stepPage(c *fiber.Ctx, fc *formContext, st *forms.Step, errs, warns []forms.Issue, more bool) stepPage {
	p := stepPage{page: s.newPage(c, "")}
	lang := p.Lang.Code
	p.Office = officeOf(fc.office)
	p.ServiceURL = "/amt/" + fc.office.Slug + "/leistungen/" + fc.service
	p.FormTitle = fc.form.Title.In(lang)
	p.StepTitle = st.Title.In(lang)
	p.Title = p.StepTitle + " – " + p.FormTitle
	p.Intro = st.Intro.In(lang)
	p.StepNumber, p.StepCount = st.Index()+1, len(fc.form.Steps)
	p.Action = fc.stepURL(st)
	p.Multipart = st.Multipart()
	p.Last = st.Index() == len(fc.form.Steps)-1
	if st.Index() > 0 {
		p.BackURL = fc.stepURL(fc.form.Steps[st.Index()-1])
	}
	p.MoreQuestions = more
	b := stepBuilder{loc: p.L, lang: lang, answers: fc.answers(), errs: map[string]string{}, warns: map[string]string{}, today: s.today()}
	for _, is := range errs {
		if _, dup := b.errs[is.Name]; dup {
			continue
		}
		msg := issueText(p.L, lang, is)
		b.errs[is.Name] = msg
		p.Errors = append(p.Errors, fieldError{Field: elementID(is.Name), Message: msg})
	}
	for _, is := range warns {
		msg := issueText(p.L, lang, is)
		b.warns[is.Name] = msg
		p.Warnings = append(p.Warnings, fieldError{Field: elementID(is.Name), Message: msg})
	}
	p.Ack = ackOf(warns)
	p.Fields = b.fields(st.Fields, 0)
	return p
}

// ackOf identifies a set of warnings: a post carrying it has seen them, and
// goes on.
func ackOf(warns []forms.Issue) string {
	if len(warns) == 0 {
		return ""
	}
	h := sha256.New()
	for _, w := range warns {
		h.Write([]byte(w.Name + "\x00"))
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// postStep answers POST .../antrag/:step: it keeps the posted answers and
// uploads in the draft, then acts on the button pressed: next (validate
// this step), back, save for later, add or remove a group entry or a file.
func (s *Server) postStep(c *fiber.Ctx) error {
	fc, st, loadErr := s.loadStep(c)
	if loadErr != nil && (fc == nil || fault.KindOf(loadErr) != fault.Unavailable) {
		return loadErr
	}
	if bodySize(c) > s.stepBodyLimit(st) {
		return fiber.ErrRequestEntityTooLarge
	}
	get, files := postedValues(c)
	if loadErr != nil {
		// The draft could not be read: show what this post carries, and
		// save nothing (a new draft would hide the stored one).
		fc.draft = submission.NewDraft(fc.office.ID, fc.service, fc.form.ID)
		fc.draft.Answers.DecodeCounts(st, get)
		fc.draft.Answers.Decode(st, get)
		return s.keepUnsaved(c, fc, st, loadErr, nil, nil, false)
	}
	if fc.draft == nil {
		// Each new draft is a row (and room for files) for 30 days: a
		// client address may start a bounded number of them. Without
		// the count (the database is away) the save below fails too,
		// and the page keeps what was typed.
		ok, err := s.allow(c, draftLimit)
		switch {
		case err != nil && fault.KindOf(err) != fault.Unavailable:
			return err
		case err == nil && !ok:
			return fiber.ErrTooManyRequests
		}
		fc.draft = submission.NewDraft(fc.office.ID, fc.service, fc.form.ID)
	}
	a := fc.draft.Answers
	a.DecodeCounts(st, get) // the entries the page showed, so "before" is what the citizen saw
	before := a.VisibleSet(st)
	a.Decode(st, get)
	action := firstValue(get("_action"))
	if open := fc.firstOpenStep(); open != nil && st.Index() > open.Index() {
		// Not reachable yet (the definition changed, or a forged post):
		// keep what was posted, then go to the step that comes first.
		if err := s.saveDraft(c, fc); err != nil {
			return s.keepUnsaved(c, fc, st, err, nil, nil, false)
		}
		return c.Redirect(fc.stepURL(open), fiber.StatusSeeOther)
	}

	// Uploads belong to a stored draft: a new draft with files is stored
	// first (otherwise the one save at the end does).
	if fc.draft.ID == 0 && len(files) > 0 {
		if err := s.saveDraft(c, fc); err != nil {
			return s.keepUnsaved(c, fc, st, err, nil, nil, false)
		}
	}
	uploadErrs, err := s.takeUploads(c, fc, st, files)
	if err != nil {
		return s.keepUnsaved(c, fc, st, err, nil, nil, false)
	}
	// Whatever happens next, the answers are saved first: nothing the
	// citizen entered is lost (while the database is away, the page
	// keeps it).
	show := func(status int, errs, warns []forms.Issue, more bool) error {
		if err := s.saveDraft(c, fc); err != nil {
			return s.keepUnsaved(c, fc, st, err, errs, warns, more)
		}
		return s.renderStep(c, fc, st, status, errs, warns, more)
	}
	redirect := func(to string) error {
		if err := s.saveDraft(c, fc); err != nil {
			return s.keepUnsaved(c, fc, st, err, nil, nil, false)
		}
		return c.Redirect(to, fiber.StatusSeeOther)
	}

	switch {
	case strings.HasPrefix(action, "add:"):
		// Back to the page at the new entry, so a keyboard or screen
		// reader user does not start over at the top.
		if g, ok := fc.form.Field(strings.TrimPrefix(action, "add:")); ok && g.Repeats() && g.Step() == st && a.AddInstance(g) {
			return redirect(fc.stepURL(st) + "#" + instanceID(g.ID, a.Count(g)-1))
		}
		return redirect(fc.stepURL(st))
	case strings.HasPrefix(action, "remove:"):
		if g, i, ok := groupEntry(fc.form, st, action); ok && a.RemoveInstance(g, i) {
			return redirect(fc.stepURL(st) + "#" + instanceID(g.ID, max(i-1, 0)))
		}
		return redirect(fc.stepURL(st))
	case strings.HasPrefix(action, "remove-file:"):
		parts := strings.Split(action, ":")
		if len(parts) == 3 {
			id, _ := strconv.ParseInt(parts[2], 10, 64)
			if err := s.subs.RemoveFile(c.UserContext(), fc.draft, parts[1], id); err != nil {
				return s.keepUnsaved(c, fc, st, err, nil, nil, false)
			}
			return redirect(fc.stepURL(st) + "#" + elementID(parts[1]))
		}
		return redirect(fc.stepURL(st))
	case action == "save":
		return redirect(fc.base + "/gespeichert")
	case action == "back" && st.Index() == 0:
		return redirect("/amt/" + fc.office.Slug + "/leistungen/" + fc.service)
	case action == "back":
		return redirect(fc.stepURL(fc.form.Steps[st.Index()-1]))
	}

	// Next. An answer that opened new questions on this page shows them
	// first (the round trip that replaces the script).
	if after := a.VisibleSet(st); !slices.Equal(before, after) && opensEmpty(before, after, a) {
		return show(fiber.StatusOK, nil, nil, true)
	}
	errs, warns := s.engine.Validate(st, a, s.now())
	if errs = append(uploadErrs, errs...); len(errs) > 0 {
		return show(fiber.StatusUnprocessableEntity, errs, nil, false)
	}
	if len(warns) > 0 && firstValue(get("_ack")) != ackOf(warns) {
		return show(fiber.StatusOK, nil, warns, false)
	}
	a.MarkDone(st.ID)
	// Back from the check page ("Ändern"): when every step is done, the
	// check page follows; it sends the citizen to any step that now lacks
	// an answer.
	if st.Index()+1 < len(fc.form.Steps) && fc.firstOpenStep() != nil {
		return redirect(fc.stepURL(fc.form.Steps[st.Index()+1]))
	}
	return redirect(fc.base + "/pruefen")
}

// groupEntry parses "remove:<group>:<n>" for a repeating group of step st.
func groupEntry(f *forms.Form, st *forms.Step, action string) (*forms.Field, int, bool) {
	parts := strings.Split(action, ":")
	if len(parts) != 3 {
		return nil, 0, false
	}
	i, err := strconv.Atoi(parts[2])
	g, ok := f.Field(parts[1])
	if err != nil || !ok || !g.Repeats() || g.Step() != st {
		return nil, 0, false
	}
	return g, i, true
}

// opensEmpty reports whether after shows an input that before did not and
// that has no answer yet.
func opensEmpty(before, after []string, a *forms.Answers) bool {
	for _, name := range after {
		if !slices.Contains(before, name) && len(a.Values[name]) == 0 {
			return true
		}
	}
	return false
}

// postedValues returns a lookup of the posted values and the uploaded
// files by input name: from the spooled form of a post with uploads
// (takeBody), or from a text body. Values are copied out of fiber's
// buffers.
func postedValues(c *fiber.Ctx) (func(string) []string, map[string][]*formpost.File) {
	if form, ok := c.Locals(localPost).(*formpost.Form); ok {
		return func(name string) []string { return form.Values[name] }, form.Files
	}
	args := c.Request().PostArgs()
	return func(name string) []string {
		raw := args.PeekMulti(name)
		out := make([]string, len(raw))
		for i, v := range raw {
			out[i] = string(v)
		}
		return out
	}, nil
}

func firstValue(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// takeUploads stores the files posted for the step's visible file fields.
// A rejected file becomes an issue of its field; every other answer and
// every file taken before stays.
func (s *Server) takeUploads(c *fiber.Ctx, fc *formContext, st *forms.Step, files map[string][]*formpost.File) ([]forms.Issue, error) {
	var issues []forms.Issue
	for _, fd := range st.Fields {
		if fd.Type != forms.TypeFile || !fc.draft.Answers.Visible(fd, 0) {
			continue
		}
		for _, fh := range files[fd.ID] {
			err := s.withUploads(c, []*formpost.File{fh}, fd.Upload.MaxBytes(), func(u []submission.Upload) error {
				_, err := s.subs.AddFile(c.UserContext(), fc.draft, fd, u[0].Name, u[0].Content)
				return err
			})
			if err != nil {
				if fault.KindOf(err) != fault.Invalid {
					return nil, err
				}
				issues = append(issues, forms.Issue{Name: fd.ID, Field: fd, Code: fault.MessageOf(err), Args: map[string]any{
					"File": fh.Name, "Size": fd.Upload.MaxSizeMB, "Max": fd.Upload.MaxFiles,
					"Types": strings.ToUpper(strings.Join(fd.Upload.Types, ", ")),
				}})
			}
		}
	}
	return issues, nil
}

// uploadWait is how long an upload waits for one of the slots before the
// post is answered "try again shortly".
const uploadWait = 20 * time.Second

// withUploads reads uploaded files, each at most limit+1 bytes (one more
// than allowed, so the size check can tell), and gives them to use. The
// files of at most uploadSlots posts are held in memory at once: the rest
// wait their turn.
func (s *Server) withUploads(c *fiber.Ctx, files []*formpost.File, limit int64, use func([]submission.Upload) error) error {
	if len(files) == 0 {
		return use(nil)
	}
	t := time.NewTimer(uploadWait)
	defer t.Stop()
	select {
	case s.uploadSlots <- struct{}{}:
	case <-t.C:
		c.Set(fiber.HeaderRetryAfter, "30")
		return fault.New(fault.Unavailable, "portal: upload slots", "")
	case <-c.UserContext().Done():
		return fault.Wrap(fault.Unavailable, "portal: upload slots", c.UserContext().Err())
	}
	defer func() { <-s.uploadSlots }()
	uploads := make([]submission.Upload, len(files))
	for i, fh := range files {
		content, err := io.ReadAll(io.LimitReader(fh.Open(), limit+1))
		if err != nil {
			return err
		}
		uploads[i] = submission.Upload{Name: fh.Name, Content: content}
	}
	return use(uploads)
}
