package portal

import (
	"fmt"
	"runtime/debug"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/middleware/compress"
	"github.com/gofiber/fiber/v2/middleware/recover"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gesundheitsamt/portal/internal/auth"
)

// routes registers every route of the portal: this table is the map of the
// application.
func (s *Server) routes(reg *prometheus.Registry) {
	app := s.app

	// Outermost first: an id for the request, the access log (which also
	// renders errors), panics turned into errors, security headers on
	// everything, the body read under its route's limit before anything
	// looks at it (body.go), one address per page (canonical.go),
	// compression of dynamic pages.
	app.Use(s.requestID, s.accessLog, recover.New(recover.Config{EnableStackTrace: true, StackTraceHandler: s.logPanic}))
	app.Use(s.securityHeaders, s.takeBody, s.canonicalPath)

	// Operations: plain text, no language, no compression.
	app.Get("/healthz", s.healthz)
	app.Get("/readyz", s.readyz)
	app.Get("/metrics", s.onlyFrom(s.cfg.MetricsAllow), adaptor.HTTPHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	app.Get("/static/*", s.assets.serve)

	app.Use(compress.New(compress.Config{Level: compress.LevelBestSpeed}), s.language, s.csrf.protect)

	// Citizens.
	app.Get("/", s.showStart)
	app.Get("/amt/:office", s.showOffice)
	app.Get("/leistungen/:service", s.showService)
	app.Get("/amt/:office/leistungen/:service", s.showOfficeService)

	// A form: its steps, the check page, submit; then receipt and status,
	// reached only through the access token.
	const form = "/amt/:office/leistungen/:service/antrag"
	app.Get(form, noStore, s.startForm)
	app.Get(form+"/pruefen", noStore, s.showCheck)
	app.Post(form+"/absenden", noStore, s.submitForm)
	app.Get(form+"/gespeichert", noStore, s.showSaved)
	app.Post(form+"/gespeichert", noStore, s.mailResumeLink)
	app.Get(form+"/:step", noStore, s.showStep)
	app.Post(form+"/:step", noStore, s.postStep)
	app.Get("/status/:token", noStore, s.showStatus)
	app.Post("/status/:token/antwort", noStore, s.answerQuestion)
	app.Get("/status/:token/eingang", noStore, s.showReceipt)
	app.Get("/status/:token/eingangsbestaetigung.pdf", noStore, s.receiptPDF)
	app.Get("/fortsetzen", noStore, s.showResume)
	app.Get("/fortsetzen/:token", noStore, s.showResume)
	app.Post("/fortsetzen", noStore, s.limit(resumeLimit), s.resume)

	// Staff: the login steps, then everything behind requireStaff.
	app.Get("/staff/login", noStore, s.showLogin)
	app.Post("/staff/login", noStore, s.login)
	app.Get("/staff/login/code", noStore, s.showCode)
	app.Post("/staff/login/code", noStore, s.verifyCode)
	app.Get("/staff/login/einrichten", noStore, s.showEnrol)
	app.Post("/staff/login/einrichten", noStore, s.enrol)
	app.Post("/staff/logout", noStore, s.logout)
	if s.devMailbox() {
		app.Get("/dev/mail", noStore, s.onlyFrom(nil), s.showDevMail)
	}

	// The REST API for Fachverfahren: bearer tokens, JSON, no cookies.
	app.Get("/api/v1/openapi.json", s.showOpenAPI)
	api := app.Group("/api/v1", noStore)
	api.Get("/submissions", s.requireToken(auth.ScopeSubmissionsRead), s.apiListSubmissions)
	api.Get("/submissions/:id", s.requireToken(auth.ScopeSubmissionsRead), s.apiGetSubmission)
	api.Get("/submissions/:id/events", s.requireToken(auth.ScopeSubmissionsRead), s.apiListEvents)
	api.Get("/submissions/:id/attachments/:file", s.requireToken(auth.ScopeAttachmentsRead), s.apiAttachment)
	api.Post("/submissions/:id/status", s.requireToken(auth.ScopeSubmissionsWrite), s.apiChangeStatus)

	staff := app.Group("/staff", noStore, s.requireStaff)
	staff.Get("/", s.showInbox)
	staff.Post("/suche", s.searchInbox)
	staff.Post("/export", s.exportCases)
	staff.Post("/faelle/sammel", s.bulkChange)
	staff.Get("/faelle/:id", s.showCase)
	staff.Get("/faelle/:id/anlagen/:file", s.downloadAttachment)
	staff.Post("/faelle/:id/status", s.changeStatus)
	staff.Post("/faelle/:id/notiz", s.addNote)
	staff.Post("/faelle/:id/zuweisung", s.assignCase)
	staff.Post("/faelle/:id/loeschsperre", s.setHold)
	staff.Post("/faelle/:id/loeschsperre/aufheben", s.liftHold)
	staff.Post("/logout/ueberall", s.logoutEverywhere)
	staff.Get("/passwort", s.showPassword)
	staff.Post("/passwort", s.changePassword)
	admin := staff.Group("/verwaltung", requireAdmin)
	admin.Get("", s.showAdmin)
	admin.Post("/konten", s.createAccount)
	admin.Post("/konten/:id/passwort", s.resetPassword)
	admin.Post("/konten/:id/zweiter-faktor", s.resetSecondFactor)
	admin.Post("/konten/:id/sperre", s.setDisabled)
	admin.Post("/konten/:id/zweiter-faktor-pflicht", s.setSecondFactorRequired)
	admin.Get("/protokoll", s.showAudit)
	admin.Get("/mail", s.showMail)
	admin.Post("/mail", s.setNotify)
	admin.Get("/aufbewahrung", s.showRetention)
	admin.Post("/aufbewahrung", s.setRetention)
	admin.Get("/loeschung", s.showDue)
	admin.Post("/loeschung/export", s.exportDue)

	// The pages a German public body must have.
	app.Get("/impressum", s.showImprint)
	app.Get("/datenschutz", s.showPrivacy)
	app.Get("/leichte-sprache", s.showEasyLanguage)
	app.Get("/barrierefreiheit", noStore, s.showAccessibility)
	app.Post("/barrierefreiheit", noStore, s.limit(feedbackLimit), s.sendFeedback)
	app.Get("/barrierefreiheit/danke", s.showFeedbackThanks)

	app.Use(func(c *fiber.Ctx) error {
		c.Locals(localRouteLabel, labelUnmatched)
		return fiber.ErrNotFound
	})
}

func (s *Server) logPanic(c *fiber.Ctx, e any) {
	s.log.Error("panic", "request_id", requestIDOf(c), "route", routeLabel(c), "panic", fmt.Sprint(e), "stack", string(debug.Stack()))
}
