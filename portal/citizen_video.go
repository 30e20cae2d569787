package portal

import (
	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/video"
)

// callPermissions is the Permissions-Policy of the call pages: camera,
// microphone and (for staff) the screen for this origin, everything else
// off as on every other page.
const callPermissions = "accelerometer=(), autoplay=(self), camera=(self), display-capture=(self), encrypted-media=(), " +
	"fullscreen=(self), geolocation=(), gyroscope=(), magnetometer=(), microphone=(self), midi=(), payment=(), " +
	"picture-in-picture=(self), publickey-credentials-get=(), screen-wake-lock=(self), serial=(), usb=(), " +
	"xr-spatial-tracking=(), interest-cohort=()"

// videoPage is the data of templates/video.html: a join link's landing
// page, which says what the consultation is, when its link opens or that
// it is over, and asks for consent and a name while it is open.
type videoPage struct {
	page
	Office  officeView
	When    string
	Length  int
	Opens   string // when the link opens (Early)
	Early   bool
	Open    bool
	Over    bool // over, or ended by staff
	Guest   bool // an interpreter's or companion's link
	Name    string
	Consent bool
	Action  string
	Error   string
	Ticket  string // set once consent and name are given: the call page
}

// showVideo answers GET /video/:token: the landing page of a join link.
// The token in the path is the holder's whole authority; an unknown one
// is 404 like any unknown page.
func (s *Server) showVideo(c *fiber.Ctx) error {
	j, err := s.video.OpenLink(c.UserContext(), c.Params("token"))
	if err != nil {
		return err
	}
	p, err := s.videoPage(c, j)
	if err != nil {
		return err
	}
	if j.Link.Kind == store.LinkGuest {
		p.Name = j.Link.Name
	}
	return s.views.render(c, fiber.StatusOK, "video", p)
}

// joinVideo answers POST /video/:token: consent and name given, the call
// page (tech check, waiting room, call) follows, which needs JavaScript
// and WebRTC; without consent or a name the landing page says what is
// missing and keeps what was typed.
func (s *Server) joinVideo(c *fiber.Ctx) error {
	name := cleanText(c.FormValue("name"))
	consent := c.FormValue("einwilligung") == "1"
	j, ticket, err := s.video.Consent(c.UserContext(), c.Params("token"), consent, name)
	switch fault.KindOf(err) {
	case fault.NotFound:
		return err
	case fault.Conflict, fault.Invalid: // not open (any more), or something missing
		p, perr := s.videoPage(c, j)
		if perr != nil {
			return perr
		}
		p.Name, p.Consent = name, consent
		status := fiber.StatusConflict
		if msg := fault.MessageOf(err); msg != "" {
			p.Error, status = p.L.T(msg), fiber.StatusUnprocessableEntity
			field := "video-name"
			if msg == video.MsgConsent {
				field = "video-consent"
			}
			p.Errors = []fieldError{{Field: field, Message: p.Error}}
		}
		return s.views.render(c, status, "video", p)
	}
	if err != nil {
		return err
	}
	p, err := s.videoPage(c, j)
	if err != nil {
		return err
	}
	p.Name, p.Ticket = name, ticket
	c.Set("Permissions-Policy", callPermissions)
	return s.views.render(c, fiber.StatusOK, "video_call", p)
}

// videoPage fills what every page of a join link shows.
func (s *Server) videoPage(c *fiber.Ctx, j video.Join) (videoPage, error) {
	p := videoPage{page: s.newPage(c, "video.title"), Action: "/video/" + c.Params("token")}
	snap, err := s.dir.Snapshot(c.UserContext())
	if err != nil {
		return p, err
	}
	e, ok := snap.OfficeByID(j.Consultation.OfficeID)
	if !ok {
		return p, fiber.ErrNotFound
	}
	p.Office = officeOf(e)
	k := j.Consultation
	p.When, p.Length = formatTime(p.L, k.StartsAt, s.loc), k.Minutes
	p.Opens = formatTime(p.L, video.OpensAt(k), s.loc)
	p.Guest = j.Link.Kind == store.LinkGuest
	switch j.Window {
	case video.Early:
		p.Early = true
	case video.Open:
		p.Open = true
		p.CSRF = s.csrf.token(c)
	case video.Cancelled:
		p.Title = p.L.T("video.cancelled.title")
	default:
		p.Over = true
	}
	return p, nil
}
