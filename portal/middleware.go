package portal

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/internal/i18n"
	"github.com/gesundheitsamt/portal/internal/request"
)

// Keys of request-scoped values in fiber's Locals.
const (
	localRequestID = "request_id"
	localLocalizer = "localizer"
)

// requestID gives every request an id, logged on every line and shown on
// error pages. An incoming X-Request-ID is kept only from a trusted proxy
// and only when it looks like an id, so nobody can write into our logs.
func (s *Server) requestID(c *fiber.Ctx) error {
	id := c.Get(fiber.HeaderXRequestID)
	if id == "" || !s.fromTrustedProxy(c) || !isRequestID(id) {
		id = newRequestID()
	}
	c.Locals(localRequestID, id)
	c.Set(fiber.HeaderXRequestID, id)
	// Services log with it too (internal/request).
	c.SetUserContext(request.WithID(c.UserContext(), id))
	return c.Next()
}

func newRequestID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func isRequestID(s string) bool {
	if len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

func requestIDOf(c *fiber.Ctx) string {
	if id, ok := c.Locals(localRequestID).(string); ok {
		return id
	}
	return ""
}

// accessLog logs one line per request and records its metrics. It logs the
// route pattern, never the path or query: paths carry access tokens
// (/status/:token) and queries what people typed. No client address either:
// it is personal data. Errors from the chain are rendered here, through the
// one error handler, so the line carries the final status.
func (s *Server) accessLog(c *fiber.Ctx) error {
	start := time.Now()
	if err := c.Next(); err != nil {
		if herr := s.handleError(c, err); herr != nil {
			s.log.Error("error handler failed", "request_id", requestIDOf(c), "err", herr)
			_ = c.SendStatus(fiber.StatusInternalServerError)
		}
	}
	took := time.Since(start)
	status := c.Response().StatusCode()
	route := routeLabel(c)
	method := methodLabel(c)
	s.metrics.observe(method, route, status, took)
	if route == "/healthz" || route == "/readyz" || route == "/metrics" {
		return nil
	}
	s.log.LogAttrs(c.UserContext(), levelFor(status), "request",
		slog.String("request_id", requestIDOf(c)),
		slog.String("method", method),
		slog.String("route", route),
		slog.Int("status", status),
		slog.Duration("took", took),
		slog.Int("bytes", len(c.Response().Body())),
	)
	return nil
}

// localRouteLabel overrides the route a request is logged and counted
// under, for answers that no route gave.
const localRouteLabel = "route_label"

// Route labels of answers that no route gave.
const (
	labelUnmatched = "(unmatched)" // the catch-all 404
	labelCSRF      = "(csrf)"      // refused by the CSRF check
	labelRefused   = "(refused)"   // refused by the server before routing (headers too large, a malformed request)
)

// routeLabel is the route pattern a request is logged and counted under:
// never the raw path, which carries tokens and is whatever a client sent.
func routeLabel(c *fiber.Ctx) string {
	if l, ok := c.Locals(localRouteLabel).(string); ok {
		return l
	}
	return c.Route().Path
}

// methodLabel is the request method as a constant string: c.Method()
// points into a buffer the server reuses, and metrics keep their labels.
func methodLabel(c *fiber.Ctx) string {
	m := c.Method()
	for _, known := range [...]string{fiber.MethodGet, fiber.MethodHead, fiber.MethodPost, fiber.MethodPut,
		fiber.MethodPatch, fiber.MethodDelete, fiber.MethodOptions} {
		if m == known {
			return known
		}
	}
	return "OTHER"
}

// contentSecurityPolicy allows only our own scripts, styles and images:
// no inline script or style anywhere, no third-party host, no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; manifest-src 'self'"

// permissionsPolicy turns off every powerful feature: no page of the portal
// uses camera, microphone or the like.
const permissionsPolicy = "accelerometer=(), autoplay=(), camera=(), display-capture=(), encrypted-media=(), " +
	"fullscreen=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), midi=(), payment=(), " +
	"picture-in-picture=(), publickey-credentials-get=(), screen-wake-lock=(), serial=(), usb=(), " +
	"xr-spatial-tracking=(), interest-cohort=()"

// setSecurityHeaders sets the headers every response carries. It is a
// function, not only a middleware, because the error handler also answers
// requests that never reached the middleware (a body over the server limit).
func (s *Server) setSecurityHeaders(c *fiber.Ctx) {
	h := &c.Response().Header
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Permissions-Policy", permissionsPolicy)
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("X-Permitted-Cross-Domain-Policies", "none")
	if s.cfg.Production() {
		// Two years; production is served over https only (config checks
		// PORTAL_BASE_URL), so there is no plain-http page to protect.
		h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
	}
}

func (s *Server) securityHeaders(c *fiber.Ctx) error {
	s.setSecurityHeaders(c)
	return c.Next()
}

// noStore marks responses that show personal data (or may show what a
// person typed) as not to be stored by any cache.
func noStore(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Next()
}

// langCookie is the cookie that remembers a language chosen with ?lang=.
func (s *Server) langCookie() string {
	if s.cfg.SecureCookies() {
		return "__Host-lang"
	}
	return "lang"
}

// language chooses the request's language (see i18n.Bundle.Negotiate) and
// remembers an explicit choice in a cookie for a year.
func (s *Server) language(c *fiber.Ctx) error {
	loc := s.localizerFor(c)
	c.Locals(localLocalizer, loc)
	if q := c.Query("lang"); q != "" {
		if _, ok := s.bundle.Supported(q); ok {
			c.Cookie(&fiber.Cookie{
				Name: s.langCookie(), Value: q, Path: "/", MaxAge: 365 * 24 * 3600,
				Secure: s.cfg.SecureCookies(), HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode,
			})
		}
	}
	c.Set(fiber.HeaderContentLanguage, loc.Lang().Code)
	c.Vary(fiber.HeaderAcceptLanguage, fiber.HeaderCookie)
	return c.Next()
}

// localizerFor returns the request's localizer: the one language() chose,
// or, for requests that never reached it, one negotiated now.
func (s *Server) localizerFor(c *fiber.Ctx) *i18n.Localizer {
	if loc, ok := c.Locals(localLocalizer).(*i18n.Localizer); ok {
		return loc
	}
	lang := s.bundle.Negotiate(c.Query("lang"), c.Cookies(s.langCookie()), c.Get(fiber.HeaderAcceptLanguage))
	return s.bundle.Localizer(lang.Code)
}

// newPage returns the layout data for the request: its localizer, the
// language switch (the current URL with lang set), and the request id.
func (s *Server) newPage(c *fiber.Ctx, titleID string) page {
	loc := s.localizerFor(c)
	p := page{L: loc, Lang: loc.Lang(), RequestID: requestIDOf(c)}
	if titleID != "" {
		p.Title = loc.T(titleID)
	}
	path := c.Path()
	// "//host" and "/\host" are links to another site in a browser: a
	// request for such a path must not make the switch point there.
	if !strings.HasPrefix(path, "/") || strings.HasPrefix(path, "//") || strings.HasPrefix(path, "/\\") {
		path = "/"
	}
	var q []string
	c.Request().URI().QueryArgs().VisitAll(func(k, v []byte) {
		if string(k) != "lang" {
			q = append(q, url.QueryEscape(string(k))+"="+url.QueryEscape(string(v)))
		}
	})
	for _, l := range s.bundle.Languages() {
		p.Langs = append(p.Langs, langLink{
			Code: l.Code, Name: l.Name, Current: l.Code == loc.Lang().Code,
			URL: path + "?" + strings.Join(append(q, "lang="+l.Code), "&"),
		})
	}
	return p
}

// fromTrustedProxy reports whether the peer is one of the configured
// proxies.
func (s *Server) fromTrustedProxy(c *fiber.Ctx) bool {
	if len(s.proxies) == 0 {
		return false
	}
	addr, ok := netip.AddrFromSlice(c.Context().RemoteIP())
	return ok && s.trusted(addr.Unmap())
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientIP is the address rate limits key on. From a trusted proxy it is the
// right-most X-Forwarded-For entry that is not itself a trusted proxy (the
// left part of the header is whatever the client sent, and spoofable);
// otherwise, or when the proxy names no such entry, the peer address. It
// is never logged or stored as is.
func (s *Server) clientIP(c *fiber.Ctx) string {
	peer, ok := netip.AddrFromSlice(c.Context().RemoteIP())
	if !ok {
		return c.Context().RemoteIP().String()
	}
	if a, ok := s.forwardedFor(c, peer.Unmap()); ok {
		return a.String()
	}
	return peer.Unmap().String()
}

// forwardedFor returns the client a trusted proxy peer relays: the
// right-most X-Forwarded-For entry that is not a trusted proxy. It
// reports false when peer is no trusted proxy or names no such entry.
func (s *Server) forwardedFor(c *fiber.Ctx, peer netip.Addr) (netip.Addr, bool) {
	if !s.trusted(peer) {
		return netip.Addr{}, false
	}
	var hops []string // every header line: a proxy may add its own after the client's
	for _, line := range c.Request().Header.PeekAll(fiber.HeaderXForwardedFor) {
		hops = append(hops, strings.Split(string(line), ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // garbage: trust nothing further left
		}
		if !s.trusted(a.Unmap()) {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

// clientKey is what limits count a client under: its address, or for
// IPv6 its /64, which one household or device usually has whole (a client
// must not get past a limit by changing its last 64 bits).
func (s *Server) clientKey(c *fiber.Ctx) string {
	ip := s.clientIP(c)
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is6() || a.Is4In6() {
		return ip
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// levelFor is the log level of an answer: an error for a server error, a
// warning for a refusal (503 too: a dependency away, or too much at once,
// not a bug), info otherwise.
func levelFor(status int) slog.Level {
	switch {
	case status >= 500 && status != fiber.StatusServiceUnavailable:
		return slog.LevelError
	case status >= 400 && status != fiber.StatusNotFound:
		return slog.LevelWarn
	default:
		return slog.LevelInfo
	}
}

// isFormStep reports whether path is /amt/<office>/leistungen/<service>/antrag/<step>.
func isFormStep(path string) bool {
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	return len(parts) == 6 && parts[0] == "amt" && parts[2] == "leistungen" && parts[4] == "antrag"
}

// isAnswer reports whether path is /status/<token>/antwort.
func isAnswer(path string) bool {
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	return len(parts) == 3 && parts[0] == "status" && parts[2] == "antwort"
}

// acceptsEncoding reports whether an Accept-Encoding header value takes
// coding, honouring ";q=0" (refused).
func acceptsEncoding(header, coding string) bool {
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), coding) {
			continue
		}
		q := strings.TrimSpace(params)
		if v, ok := strings.CutPrefix(q, "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil && f == 0 {
				return false
			}
		}
		return true
	}
	return false
}
