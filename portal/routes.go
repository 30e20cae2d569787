package portal

import (
	"fmt"
	"runtime/debug"

	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/middleware/compress"
	"github.com/gofiber/fiber/v2/middleware/recover"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gesundheitsamt/portal/internal/auth"
)

// routes registers every route of the portal: this table is the map of the
// application. The comment of each route names the service method its
// handler calls, and so where the rule it applies lives: inbox is the case
// service (internal/inbox), submission the citizen's drafts and
// submissions, booking the appointments, video the video consultations,
// auth the staff accounts and logins, office.Directory the catalogue of
// offices and services, retention the retention periods, audit and mail
// the admin's audited reads; "(page only)" renders without a service.
// docs/adding-a-feature.md follows one route through the layers.
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
	app.Get("/", s.showStart)                                        // office.Directory (catalogue, postal code search)
	app.Get("/amt/:office", s.showOffice)                            // office.Directory
	app.Get("/leistungen/:service", s.showService)                   // office.Directory
	app.Get("/amt/:office/leistungen/:service", s.showOfficeService) // office.Directory

	// A form: its steps, the check page, submit; then receipt and status,
	// reached only through the access token.
	const form = "/amt/:office/leistungen/:service/antrag"
	app.Get(form, noStore, s.startForm)                                       // submission.OpenDraft
	app.Get(form+"/pruefen", noStore, s.showCheck)                            // submission.OpenDraft, forms.Engine
	app.Post(form+"/absenden", noStore, s.submitForm)                         // submission.Submit
	app.Get(form+"/gespeichert", noStore, s.showSaved)                        // (page only)
	app.Post(form+"/gespeichert", noStore, s.mailResumeLink)                  // submission.SendResumeLink; resumeMailLimit
	app.Get(form+"/:step", noStore, s.showStep)                               // submission.OpenDraft
	app.Post(form+"/:step", noStore, s.postStep)                              // submission.SaveDraft, AddFile, RemoveFile; draftLimit
	app.Get("/status/:token", noStore, s.showStatus)                          // submission.Lookup
	app.Post("/status/:token/antwort", noStore, s.answerQuestion)             // submission.Answer
	app.Post("/status/:token/termin", noStore, s.bookOffer)                   // booking.BookOffered
	app.Get("/status/:token/eingang", noStore, s.showReceipt)                 // submission.Lookup
	app.Get("/status/:token/eingangsbestaetigung.pdf", noStore, s.receiptPDF) // submission.Lookup, receipt
	app.Get("/fortsetzen", noStore, s.showResume)                             // (page only)
	app.Get("/fortsetzen/:token", noStore, s.showResume)                      // (page only)
	app.Post("/fortsetzen", noStore, s.limit(resumeLimit), s.resume)          // submission.OpenDraft

	// Booking an appointment: the week's free slots, a slot held for the
	// browser (/buchung/<hold token>), then the mail's link to confirm,
	// cancel and move (/termin/<mail token>); with no slot free, the
	// waiting list (/warteliste/<entry token>). Each link shows a page on
	// GET and acts only on POST.
	const book = "/amt/:office/leistungen/:service/termin"
	app.Get(book, noStore, s.showBooking)                                                        // booking.Availability, FirstFree
	app.Post(book, noStore, s.limit(holdLimit), s.holdSlot)                                      // booking.Hold; holdLimit
	app.Post(book+"/warteliste", noStore, s.limit(bookingMailLimit), s.joinWaitlist)             // booking.JoinWaitlist; bookingMailLimit (an offer mails the address)
	app.Get("/warteliste/:token", noStore, s.showWaitlist)                                       // booking.OpenWaitlist
	app.Post("/warteliste/:token/verlassen", noStore, s.leaveWaitlist)                           // booking.LeaveWaitlist
	app.Get("/buchung/:token", noStore, s.showHold)                                              // booking.OpenHold
	app.Post("/buchung/:token", noStore, s.limit(bookingMailLimit), s.giveContact)               // booking.Contact; bookingMailLimit
	app.Post("/buchung/:token/erneut", noStore, s.limit(bookingMailLimit), s.resendConfirmation) // booking.Resend; bookingMailLimit
	app.Post("/buchung/:token/freigeben", noStore, s.releaseHold)                                // booking.Release
	app.Get("/termin/:token", noStore, s.showAppointment)                                        // booking.OpenLink
	app.Post("/termin/:token", noStore, s.confirmAppointment)                                    // booking.Confirm
	app.Get("/termin/:token/termin.ics", noStore, s.appointmentICS)                              // booking.OpenLink, mail.BookingICS
	app.Get("/termin/:token/absagen", noStore, s.showCancel)                                     // booking.OpenLink
	app.Post("/termin/:token/absagen", noStore, s.cancelAppointment)                             // booking.Cancel
	app.Get("/termin/:token/verschieben", noStore, s.showMove)                                   // booking.OpenLink, Availability
	app.Post("/termin/:token/verschieben", noStore, s.limit(holdLimit), s.moveAppointment)       // booking.Move; holdLimit

	// A video consultation's join link: the token in the path is the
	// holder's whole authority, for that one consultation.
	app.Get("/video/:token", noStore, s.showVideo)                                                                       // video.OpenLink
	app.Post("/video/:token", noStore, s.limit(videoJoinLimit), s.joinVideo)                                             // video.Consent
	app.Get("/video/:token/ws", requireSocket, s.limit(videoSocketLimit), websocket.New(s.linkSocket, s.socketConfig())) // video.Hub.EnterLink, Handle

	// Staff: the login steps, then everything behind requireStaff.
	app.Get("/staff/login", noStore, s.showLogin)            // (page only)
	app.Post("/staff/login", noStore, s.login)               // auth.Login; loginLimit
	app.Get("/staff/login/code", noStore, s.showCode)        // (page only)
	app.Post("/staff/login/code", noStore, s.verifyCode)     // auth.VerifyCode; loginLimit
	app.Get("/staff/login/einrichten", noStore, s.showEnrol) // auth.NewEnrolment
	app.Post("/staff/login/einrichten", noStore, s.enrol)    // auth.Enrol
	app.Post("/staff/logout", noStore, s.logout)             // auth.Logout
	if s.devMailbox() {
		app.Get("/dev/mail", noStore, s.onlyFrom(nil), s.showDevMail) // store.ListDevMail
	}

	// The REST API for Fachverfahren: bearer tokens, JSON, no cookies.
	app.Get("/api/v1/openapi.json", s.showOpenAPI)
	api := app.Group("/api/v1", noStore)
	api.Get("/submissions", s.requireToken(auth.ScopeSubmissionsRead), s.apiListSubmissions)                  // inbox.List
	api.Get("/submissions/:id", s.requireToken(auth.ScopeSubmissionsRead), s.apiGetSubmission)                // inbox.Open, Row
	api.Get("/submissions/:id/events", s.requireToken(auth.ScopeSubmissionsRead), s.apiListEvents)            // inbox.Open
	api.Get("/submissions/:id/attachments/:file", s.requireToken(auth.ScopeAttachmentsRead), s.apiAttachment) // inbox.OpenFile
	api.Post("/submissions/:id/status", s.requireToken(auth.ScopeSubmissionsWrite), s.apiChangeStatus)        // inbox.Change, Get, Row
	api.Get("/appointments", s.requireToken(auth.ScopeAppointmentsRead), s.apiListAppointments)               // booking.ListAppointments
	api.Get("/appointments/:id", s.requireToken(auth.ScopeAppointmentsRead), s.apiGetAppointment)             // booking.GetAppointment
	api.Post("/appointments/:id/cancel", s.requireToken(auth.ScopeAppointmentsWrite), s.apiCancelAppointment) // booking.CancelAppointment

	staff := app.Group("/staff", noStore, s.requireStaff)
	staff.Get("/", s.showInbox)                                                               // inbox.List, Counts
	staff.Post("/suche", s.searchInbox)                                                       // inbox.List (search)
	staff.Post("/export", s.exportCases)                                                      // inbox.StartExport, Export.Each
	staff.Post("/faelle/sammel", s.bulkChange)                                                // inbox.Change, Assign (per case)
	staff.Get("/faelle/:id", s.showCase)                                                      // inbox.Open, Colleagues
	staff.Get("/faelle/:id/anlagen/:file", s.downloadAttachment)                              // inbox.OpenFile
	staff.Post("/faelle/:id/status", s.changeStatus)                                          // inbox.Change (also the Rückfrage)
	staff.Post("/faelle/:id/notiz", s.addNote)                                                // inbox.AddNote
	staff.Post("/faelle/:id/zuweisung", s.assignCase)                                         // inbox.Assign
	staff.Post("/faelle/:id/loeschsperre", s.setHold)                                         // inbox.SetHold
	staff.Post("/faelle/:id/loeschsperre/aufheben", s.liftHold)                               // inbox.LiftHold
	staff.Post("/faelle/:id/video", s.planConsultation)                                       // video.Plan
	staff.Post("/faelle/:id/angebot", s.makeOffer)                                            // booking.Offer
	staff.Post("/faelle/:id/angebot/zurueckziehen", s.withdrawOffer)                          // booking.Withdraw
	staff.Get("/video", s.showConsultations)                                                  // video.List
	staff.Get("/video/:id", s.showConsultation)                                               // video.Get
	staff.Get("/video/:id/ws", requireSocket, websocket.New(s.staffSocket, s.socketConfig())) // video.Hub.EnterStaff, Handle
	staff.Post("/video/:id/verschieben", s.rescheduleConsultation)                            // video.Reschedule
	staff.Post("/video/:id/erneut-senden", s.resendInvitation)                                // video.Resend
	staff.Post("/video/:id/absagen", s.cancelConsultation)                                    // video.Cancel
	staff.Post("/video/:id/gast", s.addGuest)                                                 // video.AddGuest
	staff.Get("/termine", s.showAppointments)                                                 // booking.OfficeCalendars, ListAppointments, Schedule
	staff.Get("/termine/neu", s.showWalkIn)                                                   // booking.CalendarServices (before /termine/:id)
	staff.Post("/termine/neu", s.bookWalkIn)                                                  // booking.WalkIn
	staff.Get("/termine/absagen", s.showCancelDay)                                            // booking.ListAppointments (before /termine/:id)
	staff.Post("/termine/absagen", s.cancelDay)                                               // booking.CancelDay
	staff.Get("/termine/:id", s.showStaffAppointment)                                         // booking.GetAppointment, store.GetBookingConsultation
	staff.Post("/termine/:id/anwesenheit", s.setAttendance)                                   // booking.SetAttendance
	staff.Post("/termine/:id/absagen", s.cancelStaffAppointment)                              // booking.CancelAppointment
	staff.Post("/logout/ueberall", s.logoutEverywhere)                                        // auth.LogoutEverywhere
	staff.Get("/passwort", s.showPassword)                                                    // (page only)
	staff.Post("/passwort", s.changePassword)                                                 // auth.ChangePassword; loginLimit
	admin := staff.Group("/verwaltung", requireAdmin)
	admin.Get("", s.showAdmin)                                                  // auth.Accounts
	admin.Post("/konten", s.createAccount)                                      // auth.CreateAccount
	admin.Post("/konten/:id/passwort", s.resetPassword)                         // auth.ResetPassword
	admin.Post("/konten/:id/zweiter-faktor", s.resetSecondFactor)               // auth.ResetSecondFactor
	admin.Post("/konten/:id/sperre", s.setDisabled)                             // auth.SetDisabled
	admin.Post("/konten/:id/zweiter-faktor-pflicht", s.setSecondFactorRequired) // auth.SetSecondFactorRequired
	admin.Get("/protokoll", s.showAudit)                                        // audit.ReadLog
	admin.Get("/mail", s.showMail)                                              // mail.ListRefusals
	admin.Post("/mail", s.setNotify)                                            // mail.SetOfficeNotify
	admin.Get("/aufbewahrung", s.showRetention)                                 // retention.Cases.Periods
	admin.Post("/aufbewahrung", s.setRetention)                                 // retention.Cases.SetPeriod
	admin.Get("/kalender", s.showCalendars)                                     // booking.OfficeCalendars
	admin.Get("/kalender/:slug", s.showCalendar)                                // booking.Setup
	admin.Post("/kalender/:slug/woche", s.setWeek)                              // booking.SetWeek
	admin.Post("/kalender/:slug/zeiten", s.setTimes)                            // booking.SetTimes
	admin.Post("/kalender/:slug/schliessung", s.addClosure)                     // booking.AddClosure
	admin.Post("/kalender/:slug/schliessung/:id/entfernen", s.removeClosure)    // booking.RemoveClosure
	admin.Get("/loeschung", s.showDue)                                          // retention.Cases.Due
	admin.Post("/loeschung/export", s.exportDue)                                // retention.Cases.DueCuts, inbox.StartExport, Export.Each

	// The pages a German public body must have.
	app.Get("/impressum", s.showImprint)                                           // (page only)
	app.Get("/datenschutz", s.showPrivacy)                                         // (page only)
	app.Get("/leichte-sprache", s.showEasyLanguage)                                // (page only)
	app.Get("/barrierefreiheit", noStore, s.showAccessibility)                     // (page only)
	app.Post("/barrierefreiheit", noStore, s.limit(feedbackLimit), s.sendFeedback) // store.InsertFeedback
	app.Get("/barrierefreiheit/danke", s.showFeedbackThanks)                       // (page only)

	app.Use(func(c *fiber.Ctx) error {
		c.Locals(localRouteLabel, labelUnmatched)
		return fiber.ErrNotFound
	})
}

func (s *Server) logPanic(c *fiber.Ctx, e any) {
	s.log.Error("panic", "request_id", requestIDOf(c), "route", routeLabel(c), "panic", fmt.Sprint(e), "stack", string(debug.Stack()))
}
