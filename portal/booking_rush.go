package portal

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/office"
	"github.com/gesundheitsamt/portal/internal/store"
)

// Rush mode (docs/booking.md#rush-mode): when an office's service takes
// more holds a minute than PORTAL_BOOKING_RUSH_HOLDS, its availability
// page and its holds queue new visitors in a FIFO waiting room. Every
// figure lives in PostgreSQL (the hold counter, the rush row, the ticket
// numbers), so any number of portal processes agree.
const (
	// rushTTL is how long a process keeps whether a service is in rush
	// mode: a page view costs no query for it, and a rush started by
	// another process is seen within it.
	rushTTL = time.Second
	// rushMinimum is how long a rush lasts at least after the last hold
	// over the threshold.
	rushMinimum = 5 * time.Minute
	// rushLinger keeps a rush on after its last ticket is admitted, so
	// that whoever follows still queues behind it.
	rushLinger = time.Minute
	// rushCookieGrace is how long a ticket's cookie outlives the rush as
	// known when it was set.
	rushCookieGrace = 30 * time.Minute
	// rushRefresh is the longest a waiting room page waits before it
	// reloads itself.
	rushRefresh = 10 * time.Second
	// rushCookie carries the visitor's ticket, on the service's booking
	// path only.
	rushCookie = "warteschlange"
)

// rushKey is an office's service.
type rushKey struct {
	office  int64
	service string
}

// rushEntry is what a process knows of a service's rush mode, as read at
// read.
type rushEntry struct {
	read       time.Time
	on         bool
	rush       store.Rush
	refreshing bool // one request reads it again; the others use this
}

// rushes keeps, per office and service, whether it is in rush mode, for
// rushTTL. Only pairs that bookingAt found (an office that books the
// service) get an entry, so its size is bounded by the directory,
// whatever the requests ask for.
type rushes struct {
	mu sync.Mutex
	m  map[rushKey]*rushEntry
	// answers counts the requests of services in rush mode, by whether
	// they were let through ("admitted") or waited ("waiting"); tickets
	// the tickets this process handed out.
	answers *prometheus.CounterVec
	tickets prometheus.Counter
}

func newRushes() *rushes {
	return &rushes{
		m: map[rushKey]*rushEntry{},
		answers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portal_booking_rush_requests_total", Help: "Requests of booking pages in rush mode, by whether they were admitted or waited.",
		}, []string{"outcome"}),
		tickets: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "portal_booking_rush_tickets_total", Help: "Waiting room tickets handed out (or found again for an address) by this process.",
		}),
	}
}

// registerRushMetrics puts rush mode's counters on /metrics, with the
// number of services this process knows to be in rush mode.
func (s *Server) registerRushMetrics(reg *prometheus.Registry) {
	reg.MustRegister(s.rushes.answers, s.rushes.tickets, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "portal_booking_rushes", Help: "Services of offices in rush mode, as this process last read them.",
	}, func() float64 {
		s.rushes.mu.Lock()
		defer s.rushes.mu.Unlock()
		n := 0
		for _, e := range s.rushes.m {
			if e.on && time.Now().Before(e.rush.Until) {
				n++
			}
		}
		return float64(n)
	}))
}

// state returns the rush of the office's service that is on at now, read
// through db when the entry is older than rushTTL; false when there is
// none. Errors: Unavailable.
func (r *rushes) state(ctx context.Context, db store.Querier, k rushKey, now time.Time) (store.Rush, bool, error) {
	r.mu.Lock()
	e, ok := r.m[k]
	if ok && (now.Sub(e.read) < rushTTL || e.refreshing) {
		rush, on := e.rush, e.on
		r.mu.Unlock()
		return rush, on && now.Before(rush.Until), nil
	}
	if ok {
		e.refreshing = true
	}
	r.mu.Unlock()
	rush, on, err := store.GetRush(ctx, db, k.office, k.service)
	r.mu.Lock()
	defer r.mu.Unlock()
	if ok {
		e.refreshing = false
	}
	if err != nil {
		return store.Rush{}, false, fault.Wrap(fault.Unavailable, "portal: rush", err)
	}
	r.m[k] = &rushEntry{read: now, on: on, rush: rush}
	return rush, on, nil
}

// set records a rush this process started or extended, at once.
func (r *rushes) set(k rushKey, rush store.Rush, now time.Time) {
	r.mu.Lock()
	r.m[k] = &rushEntry{read: now, on: true, rush: rush}
	r.mu.Unlock()
}

// forget drops what is known of k: the rush it had is over.
func (r *rushes) forget(k rushKey) {
	r.mu.Lock()
	delete(r.m, k)
	r.mu.Unlock()
}

// rushPage is the data of templates/booking_rush.html, the waiting room.
type rushPage struct {
	page
	Office      officeView
	Service     serviceView
	Position    int64 // 1: next
	WaitMinutes int64 // rounded up; 0: under a minute
	Refresh     int   // seconds until the page reloads itself; 0: it does not
	RefreshURL  string
	// AutoURL switches the reloading off (Refresh > 0) or on again: a
	// page that reloads itself must let the visitor stop it (WCAG 2.2.1).
	AutoURL string
}

// rushManual is the query that turns the waiting room's reloading off.
const rushManual = "neuladen=aus"

// rushGate answers a request of the booking page or its hold with the
// waiting room when the office's service is in rush mode and the visitor
// is not admitted yet, and reports whether it answered. A hold that
// passes counts towards the threshold. With no rush on it reads nothing
// (rushes); an admitted visitor's cookie is checked by arithmetic alone.
func (s *Server) rushGate(c *fiber.Ctx, e *office.Entry, service string) (bool, error) {
	if s.cfg.BookingRushHolds == 0 {
		return false, nil
	}
	k := rushKey{office: e.ID, service: service}
	now := s.now()
	r, on, err := s.rushes.state(c.UserContext(), s.db, k, now)
	if err != nil {
		return false, err
	}
	if on {
		if done, err := s.queue(c, e, k, r, now, false); done || err != nil {
			return done, err
		}
	}
	if c.Method() == fiber.MethodPost {
		return false, s.countHold(c, k, now)
	}
	return false, nil
}

// queue lets an admitted visitor of rush r through (false), or answers
// with the waiting room (true). A visitor without a valid ticket gets
// its address's ticket, a new one at the back when it has none.
func (s *Server) queue(c *fiber.Ctx, e *office.Entry, k rushKey, r store.Rush, now time.Time, retried bool) (bool, error) {
	client := s.keyed("booking-rush", s.clientKey(c))
	n, ok := s.checkRushTicket(c.Cookies(rushCookie), r.ID, client)
	if !ok {
		// Never below what a refresh's worth of admissions leaves: a
		// queue that ran empty lets in that many at once, not everyone
		// who comes after a quiet spell.
		burst := max(1, int64(r.AdmitRate*rushRefresh.Seconds()))
		var on bool
		var err error
		n, on, err = store.TakeTicket(c.UserContext(), s.db, r.ID, client, r.Admitted(now)-burst+1, rushLinger)
		if err != nil {
			return false, fault.Wrap(fault.Unavailable, "portal: rush ticket", err)
		}
		if !on {
			// Over, or replaced by the next rush since this process read
			// it: once more with what the database says now.
			s.rushes.forget(k)
			next, on, err := s.rushes.state(c.UserContext(), s.db, k, now)
			if err != nil || !on || next.ID == r.ID || retried {
				return false, err
			}
			return s.queue(c, e, k, next, now, true)
		}
		s.rushes.tickets.Inc()
	}
	path := "/amt/" + e.Slug + "/leistungen/" + k.service + "/termin"
	admittedAt := r.Started.Add(time.Duration(float64(n) / r.AdmitRate * float64(time.Second)))
	c.Cookie(&fiber.Cookie{
		Name: rushCookie, Value: s.rushTicket(r.ID, n, client), Path: path,
		MaxAge:   int((maxTime(r.Until, admittedAt.Add(rushLinger)).Sub(now) + rushCookieGrace).Seconds()),
		Secure:   s.cfg.SecureCookies(),
		HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode,
	})
	admitted := r.Admitted(now)
	if n <= admitted {
		s.rushes.answers.WithLabelValues("admitted").Inc()
		return false, nil
	}
	s.rushes.answers.WithLabelValues("waiting").Inc()
	return true, s.views.render(c, fiber.StatusOK, "booking_rush", s.waitingRoom(c, e, k.service, path, n-admitted, admittedAt.Sub(now)))
}

// waitingRoom is the waiting room at position, whose turn comes in wait,
// for the booking page path.
func (s *Server) waitingRoom(c *fiber.Ctx, e *office.Entry, service, path string, position int64, wait time.Duration) rushPage {
	p := rushPage{page: s.newPage(c, "booking.rush.title"), Office: officeOf(e), Position: position}
	p.Service = serviceOf(p.L, service, "/amt/"+e.Slug+"/leistungen/"+service)
	if wait >= time.Minute {
		p.WaitMinutes = int64(math.Ceil(wait.Minutes()))
	}
	p.Refresh = max(2, int(math.Ceil(min(wait, rushRefresh).Seconds())))
	var q []string // the GET's query but the switch, so the slots come up as asked for
	if c.Method() == fiber.MethodGet {
		c.Request().URI().QueryArgs().VisitAll(func(k, v []byte) {
			if kv := string(k) + "=" + string(v); kv == rushManual {
				p.Refresh = 0
			} else {
				q = append(q, url.QueryEscape(string(k))+"="+url.QueryEscape(string(v)))
			}
		})
	}
	auto, manual := pathQuery(path, q), pathQuery(path, append(slices.Clip(q), rushManual))
	p.RefreshURL, p.AutoURL = auto, manual
	if p.Refresh == 0 {
		p.RefreshURL, p.AutoURL = manual, auto
	}
	return p
}

func pathQuery(path string, q []string) string {
	if len(q) == 0 {
		return path
	}
	return path + "?" + strings.Join(q, "&")
}

// countHold counts a hold of the office's service in the current minute
// and, past the threshold, starts or extends its rush.
func (s *Server) countHold(c *fiber.Ctx, k rushKey, now time.Time) error {
	ctx := c.UserContext()
	n, err := store.CountEvent(ctx, s.db, s.keyed("booking-rush-holds", strconv.FormatInt(k.office, 10)+"/"+k.service), time.Minute)
	if err != nil {
		return fault.Wrap(fault.Unavailable, "portal: rush count", err)
	}
	if n <= s.cfg.BookingRushHolds {
		return nil
	}
	r, err := store.StartRush(ctx, s.db, k.office, k.service, rushMinimum, float64(s.cfg.BookingRushHolds)/60)
	if err != nil {
		return fault.Wrap(fault.Unavailable, "portal: rush", err)
	}
	s.rushes.set(k, r, now)
	return nil
}

// rushTicket signs ticket n of rush for client (the keyed hash of its
// address): "<rush>.<n>.<mac>". It carries no personal data; bound to
// the address, a ticket passed around a farm of bots admits none of
// them.
func (s *Server) rushTicket(rush, n int64, client []byte) string {
	v := strconv.FormatInt(rush, 10) + "." + strconv.FormatInt(n, 10)
	return v + "." + s.rushMAC(v, client)
}

func (s *Server) rushMAC(v string, client []byte) string {
	m := hmac.New(sha256.New, s.cfg.SecretKey)
	m.Write([]byte("portal-booking-rush\x00" + v + "\x00"))
	m.Write(client)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkRushTicket returns the number of ticket when this portal signed it
// for rush and client.
func (s *Server) checkRushTicket(ticket string, rush int64, client []byte) (int64, bool) {
	if ticket == "" || len(ticket) > 100 {
		return 0, false
	}
	i := strings.LastIndexByte(ticket, '.')
	if i < 0 || !hmac.Equal([]byte(ticket[i+1:]), []byte(s.rushMAC(ticket[:i], client))) {
		return 0, false
	}
	r, n, ok := strings.Cut(ticket[:i], ".")
	if !ok || r != strconv.FormatInt(rush, 10) {
		return 0, false
	}
	num, err := strconv.ParseInt(n, 10, 64)
	if err != nil || num < 1 {
		return 0, false
	}
	return num, true
}
