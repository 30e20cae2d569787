package portal

import (
	"context"

	"github.com/valyala/fasthttp"
)

// RushTTL is how long a process keeps a service's rush state (rushTTL):
// tests that change a rush in the database wait that long.
const RushTTL = rushTTL

// RushAdmits runs the rush check of the booking page of office's service
// as a GET from 0.0.0.0 with the ticket cookie (empty: none) would, with
// ctx, and reports whether it let the request through to the slots.
func (s *Server) RushAdmits(ctx context.Context, office, service, cookie string) (bool, error) {
	snap, err := s.dir.Snapshot(context.Background())
	if err != nil {
		return false, err
	}
	e, _ := snap.Office(office)
	var fc fasthttp.RequestCtx
	fc.Request.Header.SetMethod(fasthttp.MethodGet)
	fc.Request.SetRequestURI("/amt/" + office + "/leistungen/" + service + "/termin")
	if cookie != "" {
		fc.Request.Header.SetCookie(rushCookie, cookie)
	}
	c := s.app.AcquireCtx(&fc)
	defer s.app.ReleaseCtx(c)
	c.SetUserContext(ctx)
	done, err := s.rushGate(c, e, service)
	return !done, err
}
