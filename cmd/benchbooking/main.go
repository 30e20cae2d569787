// Command benchbooking measures booking over HTTP against one or more
// running portal processes on one database, in one of two modes, and
// counts the bookings in the database afterwards. Every request comes
// from its own client address (X-Forwarded-For; the portals must trust
// 127.0.0.1 as their proxy), as it would behind a load balancer.
//
// -mode=rush, the rush on a release of appointments: it makes a
// calendar of the demo office Leipzig with one place per slot, sends
// concurrent holds (-c in flight at once, like the connections of a
// proxy, or all at once), several for every slot, spread over the
// processes, then counts the holds.
//
// -mode=confirm, the double opt-in's second step: it makes -bookings
// unconfirmed bookings in the database (a calendar of the demo office
// with 50 places per slot, each booking with an address of its own and a
// mail token the bench knows), confirms each once over HTTP (POST
// /termin/<mail token>) from -c clients, each sending one request after
// another, then counts the booked bookings and their booked mail jobs
// and waits for the portal's mail worker to send the mails (-mail-wait).
// Without -visit every POST carries one CSRF cookie and token fetched
// per portal before the clock starts, as the rush does (a token is not
// bound to the page it came with); with -visit each confirmation is the
// citizen's whole visit: the mail's page with the button (which sets the
// browser's CSRF cookie), the POST, and the booked page it redirects to.
//
// -mode=calendars, realistic calendars for the availability page: three
// calendars of the demo office serving the §43 instruction, 20-minute
// slots eight weeks ahead, booked the more the nearer (one of them booked
// out for three weeks); it prints the pages to load, as JSON.
//
// .ci/bench-booking runs it; it is not part of the portal.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/gesundheitsamt/portal/internal/booking"
	"github.com/gesundheitsamt/portal/internal/pgembed"
	"github.com/gesundheitsamt/portal/internal/store"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "benchbooking:", err)
		os.Exit(1)
	}
}

const (
	officeSlug = "leipzig"
	service    = "belehrung-infektionsschutz"
)

func run() error {
	mode := flag.String("mode", "rush", "rush, confirm or calendars")
	urls := flag.String("url", "http://127.0.0.1:18080", "the portals, comma-separated; requests go to them in turn")
	dataDir := flag.String("data", "./var", "the portals' PORTAL_DATA_DIR (their embedded PostgreSQL)")
	slots := flag.Int("slots", 500, "rush: slots of one place each")
	holds := flag.Int("holds", 2000, "rush: holds sent")
	conns := flag.Int("c", 64, "requests in flight at once (connections of the proxy); rush: 0 is all at once")
	bookings := flag.Int("bookings", 30000, "confirm: unconfirmed bookings made and confirmed")
	visit := flag.Bool("visit", false, "confirm: each confirmation with the page before it and the redirect after it")
	mailWait := flag.Duration("mail-wait", 3*time.Minute, "confirm: how long to wait for the booked mails after the run")
	sink := flag.String("sink", "", "confirm: the SMTP sink of benchmail -serve the portals send to, to count what it received")
	flag.Parse()
	ctx := context.Background()
	bases := strings.Split(*urls, ",")

	cluster, err := pgembed.Start(ctx, pgembed.Options{Dir: *dataDir + "/pg"})
	if err != nil {
		return err
	}
	defer cluster.Stop()
	db, err := store.Open(ctx, cluster.DSN("portal"))
	if err != nil {
		return err
	}
	defer db.Close()
	switch *mode {
	case "rush":
		return rush(ctx, db, bases, *slots, *holds, *conns)
	case "confirm":
		if *conns <= 0 || *bookings <= 0 {
			return errors.New("confirm needs -c and -bookings above 0")
		}
		return confirm(ctx, db, bases, confirmOptions{bookings: *bookings, conns: *conns, visit: *visit, mailWait: *mailWait, sink: *sink})
	case "calendars":
		return calendars(ctx, db)
	default:
		return fmt.Errorf("no mode %q: rush, confirm or calendars", *mode)
	}
}

// calendarSpec is a calendar of the demo office that a mode books in.
type calendarSpec struct {
	slug, name string
	places     int // per slot
}

var (
	rushCalendar    = calendarSpec{slug: "ansturm", name: "Ansturm", places: 1}
	confirmCalendar = calendarSpec{slug: "bestaetigung", name: "Bestätigung", places: 50}
)

// prepare makes (or empties) the calendar cal of the demo office: slots
// of 20 minutes with cal.places places, every day from 06:00 to 22:00, no
// notice, serving the §43 instruction; and returns the office, the
// calendar's id and the starts of its first n slots.
func prepare(ctx context.Context, db *store.DB, cal calendarSpec, n int) (store.Office, int64, []time.Time, error) {
	office, err := demoOffice(ctx, db)
	if err != nil {
		return store.Office{}, 0, nil, err
	}
	id, err := store.UpsertCalendar(ctx, db, store.Calendar{OfficeID: office.ID, Slug: cal.slug, Name: cal.name, Kind: store.CalendarOnsite,
		Place: "Raum 1", Slot: 20 * time.Minute, Horizon: 60 * 24 * time.Hour})
	if err != nil {
		return store.Office{}, 0, nil, err
	}
	var rules []store.Rule
	for d := time.Sunday; d <= time.Saturday; d++ {
		rules = append(rules, store.Rule{Weekday: d, Starts: 6 * time.Hour, Ends: 22 * time.Hour, Capacity: cal.places})
	}
	if err := store.ReplaceCalendarRules(ctx, db, office.ID, id, rules); err != nil {
		return store.Office{}, 0, nil, err
	}
	if err := store.ReplaceCalendarServices(ctx, db, office.ID, id, []string{service}); err != nil {
		return store.Office{}, 0, nil, err
	}
	if _, err := db.Exec(ctx, `DELETE FROM booking WHERE calendar_id = $1`, id); err != nil {
		return store.Office{}, 0, nil, err
	}
	svc, err := booking.New(booking.Options{DB: db})
	if err != nil {
		return store.Office{}, 0, nil, err
	}
	now := time.Now()
	_, days, err := svc.Availability(ctx, office, id, now.Add(time.Hour), now.AddDate(0, 0, 59))
	if err != nil {
		return store.Office{}, 0, nil, err
	}
	var starts []time.Time
	for _, d := range days {
		for _, s := range d.Slots {
			if len(starts) < n {
				starts = append(starts, s.Start)
			}
		}
	}
	if len(starts) < n {
		return store.Office{}, 0, nil, fmt.Errorf("only %d slots in the horizon, want %d", len(starts), n)
	}
	return office, id, starts, nil
}

// demoOffice is the demo office the modes book in.
func demoOffice(ctx context.Context, db *store.DB) (store.Office, error) {
	offices, err := store.ListOffices(ctx, db)
	if err != nil {
		return store.Office{}, err
	}
	for _, o := range offices {
		if o.Slug == officeSlug {
			return o, nil
		}
	}
	return store.Office{}, errors.New("no demo office leipzig: start the portal with PORTAL_DEMO=1")
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// csrf returns the cookie header and the token of a page with a form.
func csrf(base string) (cookie, token string, err error) {
	res, err := http.Get(base + "/fortsetzen")
	if err != nil {
		return "", "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return "", "", err
	}
	m := csrfField.FindSubmatch(b)
	for _, c := range res.Cookies() {
		if strings.HasSuffix(c.Name, "csrf") && m != nil {
			return c.Name + "=" + c.Value, string(m[1]), nil
		}
	}
	return "", "", fmt.Errorf("no CSRF cookie and token from %s/fortsetzen", base)
}
