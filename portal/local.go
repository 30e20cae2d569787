package portal

import (
	"net"
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gesundheitsamt/portal/internal/connlimit"
)

// onlyFrom lets a request through when its client is on loopback or in
// allowed, and answers 404 otherwise (nothing tells that the page
// exists). Through a trusted proxy the client is the one its
// X-Forwarded-For names, and a proxy that names none is refused (its own
// address says nothing of the client). A request relayed by a proxy that
// is not trusted counts as from outside, whatever its peer: a proxy on
// the same machine would otherwise make every client look local. (One
// that adds no header at all cannot be told from a local client: list it
// in PORTAL_TRUSTED_PROXIES.)
func (s *Server) onlyFrom(allowed []netip.Prefix) fiber.Handler {
	return func(c *fiber.Ctx) error {
		peer, ok := netip.AddrFromSlice(c.Context().RemoteIP())
		if !ok {
			return fiber.ErrNotFound
		}
		a := peer.Unmap()
		h := &c.Request().Header
		switch relayed := len(h.Peek(fiber.HeaderXForwardedFor)) > 0 || len(h.Peek("Forwarded")) > 0; {
		case s.trusted(a):
			if a, ok = s.forwardedFor(c, a); !ok {
				return fiber.ErrNotFound
			}
		case relayed:
			return fiber.ErrNotFound
		}
		if a.IsLoopback() {
			return c.Next()
		}
		for _, p := range allowed {
			if p.Contains(a) {
				return c.Next()
			}
		}
		return fiber.ErrNotFound
	}
}

// Serve answers requests on ln, under the connection limits of the
// configuration (PORTAL_MAX_CONNS, PORTAL_MAX_CONNS_PER_CLIENT), until
// Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	var texts []string
	for _, lang := range s.bundle.Languages() {
		texts = append(texts, s.bundle.Localizer(lang.Code).T("error.connections"))
	}
	l := connlimit.Wrap(ln, connlimit.Limits{Total: s.cfg.MaxConns, PerClient: s.cfg.MaxConnsPerClient, Exempt: s.cfg.TrustedProxies,
		Refusal: strings.Join(texts, " / ")})
	s.conns.Store(l)
	return s.app.Listener(l)
}

// registerConnMetrics publishes the open and refused connections of the
// listener Serve runs on.
func (s *Server) registerConnMetrics(reg *prometheus.Registry) {
	of := func(f func(*connlimit.Listener) float64) func() float64 {
		return func() float64 {
			if l := s.conns.Load(); l != nil {
				return f(l)
			}
			return 0
		}
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "portal_connections_open", Help: "Client connections open now."},
			of(func(l *connlimit.Listener) float64 { return float64(l.Open()) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "portal_connections_refused_total", Help: "Client connections refused by the connection limits."},
			of(func(l *connlimit.Listener) float64 { return float64(l.Refused()) })),
	)
}
