// Package portal is the HTTP layer: the citizen pages, later the back office,
// the REST API and video signaling. It is the only package that imports
// fiber. Handlers are thin: they decode the request, call a domain package,
// and render a typed page; errors travel to the one error handler.
package portal

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"log/slog"
	"net/netip"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/go-playground/validator/v10"
	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/gesundheitsamt/portal/forms"
	"github.com/gesundheitsamt/portal/internal/auth"
	"github.com/gesundheitsamt/portal/internal/booking"
	"github.com/gesundheitsamt/portal/internal/config"
	"github.com/gesundheitsamt/portal/internal/connlimit"
	"github.com/gesundheitsamt/portal/internal/formpost"
	"github.com/gesundheitsamt/portal/internal/i18n"
	"github.com/gesundheitsamt/portal/internal/inbox"
	"github.com/gesundheitsamt/portal/internal/office"
	"github.com/gesundheitsamt/portal/internal/retention"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/submission"
	"github.com/gesundheitsamt/portal/internal/video"
	"github.com/gesundheitsamt/portal/locales"
	"github.com/gesundheitsamt/portal/static"
)

// Body limits (see body.go): a text post takes at most formBodySize; only
// the posts with uploads take more, up to maxBody.
const formBodySize = 32 << 10 // a text-only form post

// bodySlack is what a step's post takes beyond its files: the answers and
// the multipart framing.
const bodySlack = 64 << 10

// answerBodySize is the limit of a citizen's answer to a Rückfrage: its
// files and text.
const answerBodySize = submission.AnswerMaxFiles*forms.MaxUploadMB<<20 + bodySlack

// Deps are what the HTTP layer needs, wired once in cmd/portal.
type Deps struct {
	Config      config.Config
	DB          *store.DB
	Directory   *office.Directory
	Logger      *slog.Logger
	Registry    *prometheus.Registry // metrics are registered here and served at /metrics
	Forms       *forms.Set           // the loaded form definitions
	Submissions *submission.Service  // drafts and submissions
	Location    *time.Location       // the offices' time zone (Europe/Berlin)
	Auth        *auth.Service        // staff accounts and sessions
	Inbox       *inbox.Service       // the workflow of cases
	Video       *video.Service       // video consultations
	Booking     *booking.Service     // calendars, slots and appointments
	Hub         *video.Hub           // the calls' waiting rooms and media on this process
	Retention   *retention.Cases     // retention periods, cases due for deletion
	// SpoolDir holds the files of posts in flight (unlinked and sealed at
	// once); empty: the system's temporary directory.
	SpoolDir string
	// MinSpoolFree is the room /readyz wants in SpoolDir, in bytes (0:
	// eight of the largest posts, at least 256 MiB).
	MinSpoolFree uint64
	// SessionRecheck is how often a staff member's open call socket
	// checks that their session still holds (0: every minute).
	SessionRecheck time.Duration
}

// spoolBudget is the most the files of all posts in flight may take on
// disk; a post beyond it is answered "try again shortly".
const spoolBudget = 1 << 30

// Server is the portal's HTTP application.
type Server struct {
	cfg      config.Config
	db       *store.DB
	dir      *office.Directory
	log      *slog.Logger
	bundle   *i18n.Bundle
	views    *renderer
	assets   *assets
	csrf     *csrfGuard
	metrics  *httpMetrics
	proxies  []netip.Prefix
	validate *validator.Validate
	shared   sharedPages
	spliced  splicedPages
	// bookingBuilds lets one request at a time build a kept booking page
	// (showBooking).
	bookingBuilds singleflight.Group
	refusedWeeks  keptWeeks                          // the weeks shown with refused holds (weekRefused)
	rushes        *rushes                            // which services are in rush mode (booking_rush.go)
	conns         atomic.Pointer[connlimit.Listener] // the listener Serve runs on
	// slashRoutes are the static routes spelled with a trailing slash,
	// by their path without it (canonical.go).
	slashRoutes map[string]bool
	maxBody     int             // the largest body of any route: a form step with uploads
	maxFiles    int             // the most file parts of a post
	spool       *formpost.Spool // files of posts in flight
	pdfSlots    chan struct{}   // PDF receipts rendered at once
	// uploadSlots bounds the uploads held in memory at once (read from
	// the spool, checked, sealed, stored).
	uploadSlots chan struct{}
	// uploadIdle, uploadTimeout, uploadGrace and uploadRate end uploads
	// whose client stops sending, or sends too slowly (body.go).
	uploadIdle, uploadTimeout, uploadGrace time.Duration
	uploadRate                             float64
	forms                                  *forms.Set
	subs                                   *submission.Service
	auth                                   *auth.Service
	inbox                                  *inbox.Service
	video                                  *video.Service
	booking                                *booking.Service
	hub                                    *video.Hub
	recheck                                time.Duration // Deps.SessionRecheck
	cases                                  *retention.Cases
	engine                                 *forms.Engine
	loc                                    *time.Location
	now                                    func() time.Time
	ready                                  *readiness

	app *fiber.App
}

// New builds the application: it parses and checks every template and
// message id, hashes the static files, and registers the routes. An error
// here is a bug or a broken installation, never a request's fault.
func New(d Deps) (*Server, error) {
	bundle, err := i18n.New(locales.FS)
	if err != nil {
		return nil, err
	}
	assets, err := loadAssets(static.FS)
	if err != nil {
		return nil, err
	}
	views, err := newRenderer(templateFS, bundle, assets)
	if err != nil {
		return nil, err
	}
	maxBody := max(int(d.Forms.MaxUploadBytes())+bodySlack, answerBodySize, 1<<20) // the largest limit of any route
	s := &Server{
		maxBody: maxBody,
		// A post may carry twice the files its fields take, so that a
		// citizen who chose too many is told so beside the field.
		maxFiles:    2 * max(d.Forms.MaxStepFiles(), submission.AnswerMaxFiles),
		spool:       formpost.NewSpool(d.SpoolDir, spoolBudget),
		pdfSlots:    make(chan struct{}, runtime.GOMAXPROCS(0)),
		uploadSlots: make(chan struct{}, runtime.GOMAXPROCS(0)),
		uploadIdle:  uploadIdle, uploadTimeout: uploadTimeout, uploadGrace: uploadGrace, uploadRate: uploadRate,
		cfg:      d.Config,
		db:       d.DB,
		dir:      d.Directory,
		log:      d.Logger,
		bundle:   bundle,
		views:    views,
		assets:   assets,
		csrf:     newCSRFGuard(d.Config),
		metrics:  newHTTPMetrics(d.Registry),
		proxies:  d.Config.TrustedProxies,
		validate: forms.NewValidator(),
		shared:   sharedPages{pages: make(map[string]sharedPage)},
		spliced:  splicedPages{pages: make(map[string]*splicedPage)},
		rushes:   newRushes(),
		forms:    d.Forms,
		subs:     d.Submissions,
		auth:     d.Auth,
		inbox:    d.Inbox,
		video:    d.Video,
		booking:  d.Booking,
		hub:      d.Hub,
		recheck:  cmp.Or(d.SessionRecheck, time.Minute),
		cases:    d.Retention,
		engine:   d.Submissions.Engine(),
		loc:      d.Location,
		now:      time.Now,
		ready:    &readiness{db: d.DB, log: d.Logger, dir: cmp.Or(d.SpoolDir, os.TempDir()), minFree: cmp.Or(d.MinSpoolFree, max(256<<20, 8*uint64(maxBody)))},
	}
	proxies := make([]string, len(d.Config.TrustedProxies))
	for i, p := range d.Config.TrustedProxies {
		proxies[i] = p.String()
	}
	s.app = fiber.New(fiber.Config{
		AppName:               "portal",
		DisableStartupMessage: true,
		ErrorHandler:          s.handleError,
		// Bodies are streamed: the server reserves nothing for a body
		// before it arrives, and takeBody reads each under its route's
		// limit. BodyLimit is then only how much the server reads ahead
		// (at most 8 KiB); multipart bodies are never parsed by fasthttp.
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		BodyLimit:                    formBodySize,
		// The headers and a text body must arrive within ReadTimeout; an
		// upload may take longer while bytes keep coming (idleReader).
		ReadTimeout:    10 * time.Second,
		WriteTimeout:   60 * time.Second,
		IdleTimeout:    60 * time.Second,
		ReadBufferSize: 8192,
		// X-Forwarded-Proto and friends count only from these peers; c.IP()
		// stays the peer address (clientIP below reads X-Forwarded-For).
		EnableTrustedProxyCheck: true,
		TrustedProxies:          proxies,
		// html/template does the escaping; fiber must not mangle paths.
		UnescapePath:  false,
		CaseSensitive: true,
		StrictRouting: false,
	})
	s.app.Server().Handler = closeUnread(s.app.Server().Handler)
	s.app.Server().ContinueHandler = s.continueBody
	s.routes(d.Registry)
	s.slashRoutes = slashRoutesOf(s.app)
	s.registerCacheMetrics(d.Registry)
	s.registerRushMetrics(d.Registry)
	s.registerConnMetrics(d.Registry)
	return s, nil
}

// App returns the fiber application (for listening and for tests).
func (s *Server) App() *fiber.App { return s.app }

// Shutdown stops accepting connections and waits up to timeout for
// requests in flight.
func (s *Server) Shutdown(timeout time.Duration) error {
	return s.app.ShutdownWithTimeout(timeout)
}

// keyed returns an opaque key for a client address: rate-limit records must
// not store addresses, which are personal data.
func (s *Server) keyed(purpose, addr string) []byte {
	m := hmac.New(sha256.New, s.cfg.SecretKey)
	m.Write([]byte(purpose + "\x00" + addr))
	return m.Sum(nil)[:20]
}
