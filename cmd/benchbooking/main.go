// Command benchbooking measures the rush on a release of appointments
// against one or more running portal processes on one database: it
// makes a calendar of the demo office Leipzig with one place per slot,
// sends concurrent holds over HTTP (-c in flight at once, like the
// connections of a proxy, or all at once), several for every slot,
// spread over the processes, then counts the bookings in the database. Every hold
// comes from its own client address (X-Forwarded-For; the portals must
// trust 127.0.0.1 as their proxy), as it would behind a load balancer.
// .ci/bench-booking runs it; it is not part of the portal.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
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
	officeSlug   = "leipzig"
	service      = "belehrung-infektionsschutz"
	calendarSlug = "ansturm"
)

// result is what the command prints, as JSON.
type result struct {
	Processes    int     `json:"processes"`
	Slots        int     `json:"slots"`
	Holds        int     `json:"holds"`
	Conns        int     `json:"conns"`     // in flight at once; 0: all at once
	Held         int     `json:"held"`      // 303 answers
	Refused      int     `json:"refused"`   // 409 answers saying the slot is taken
	Failed       int     `json:"failed"`    // anything else
	RowsHeld     int     `json:"rows_held"` // bookings in the database afterwards
	SlotsDoubled int     `json:"slots_doubled"`
	P50          float64 `json:"p50_ms"`
	P99          float64 `json:"p99_ms"`
	Max          float64 `json:"max_ms"`
	Seconds      float64 `json:"seconds"`
}

func run() error {
	urls := flag.String("url", "http://127.0.0.1:18080", "the portals, comma-separated; holds go to them in turn")
	dataDir := flag.String("data", "./var", "the portals' PORTAL_DATA_DIR (their embedded PostgreSQL)")
	slots := flag.Int("slots", 500, "slots of one place each")
	holds := flag.Int("holds", 2000, "holds sent")
	conns := flag.Int("c", 64, "holds in flight at once (connections of the proxy); 0: all at once")
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
	calID, starts, err := prepare(ctx, db, *slots)
	if err != nil {
		return err
	}

	type portal struct{ base, cookie, token string }
	var portals []portal
	for _, b := range bases {
		cookie, token, err := csrf(b)
		if err != nil {
			return err
		}
		portals = append(portals, portal{b, cookie, token})
	}
	client := &http.Client{
		Transport:     &http.Transport{MaxIdleConnsPerHost: *holds, IdleConnTimeout: time.Minute},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
	res := result{Processes: len(portals), Slots: len(starts), Holds: *holds, Conns: *conns}
	if *conns <= 0 {
		*conns = *holds
	}
	inFlight := make(chan struct{}, *conns)
	var (
		mu      sync.Mutex
		took    []time.Duration
		wg      sync.WaitGroup
		release = make(chan struct{})
		fails   []string
	)
	for i := range *holds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := portals[i%len(portals)]
			form := url.Values{"_csrf": {p.token}, "kalender": {calendarSlug}, "beginn": {strconv.FormatInt(starts[i%len(starts)].Unix(), 10)}}
			req, _ := http.NewRequest(http.MethodPost, p.base+"/amt/"+officeSlug+"/leistungen/"+service+"/termin", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Cookie", p.cookie)
			req.Header.Set("X-Forwarded-For", fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
			<-release
			inFlight <- struct{}{}
			t0 := time.Now()
			r, err := client.Do(req)
			d := time.Since(t0)
			<-inFlight
			status := 0
			body := ""
			if err == nil {
				b, _ := io.ReadAll(r.Body)
				r.Body.Close()
				status, body = r.StatusCode, string(b)
			}
			mu.Lock()
			defer mu.Unlock()
			took = append(took, d)
			switch {
			case status == http.StatusSeeOther && strings.HasPrefix(r.Header.Get("Location"), "/buchung/"):
				res.Held++
			case status == http.StatusConflict && strings.Contains(body, "booking-error"):
				res.Refused++
			default:
				res.Failed++
				if len(fails) < 5 {
					fails = append(fails, fmt.Sprintf("status %d, %v", status, err))
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond) // every request built and waiting
	t0 := time.Now()
	close(release)
	wg.Wait()
	res.Seconds = time.Since(t0).Seconds()
	slices.Sort(took)
	q := func(f float64) float64 { return float64(took[int(f*float64(len(took)-1))]) / 1e6 }
	res.P50, res.P99, res.Max = q(0.5), q(0.99), q(1)
	if err := db.QueryRow(ctx, `SELECT count(*) FROM booking WHERE calendar_id = $1 AND state = 'held'`, calID).Scan(&res.RowsHeld); err != nil {
		return err
	}
	if err := db.QueryRow(ctx, `SELECT count(*) FROM (SELECT starts_at FROM booking WHERE calendar_id = $1 AND state = 'held' GROUP BY starts_at HAVING count(*) > 1) d`, calID).Scan(&res.SlotsDoubled); err != nil {
		return err
	}
	for _, f := range fails {
		fmt.Fprintln(os.Stderr, "benchbooking: failed hold:", f)
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// prepare makes (or empties) the rush calendar of the demo office: slots
// of 20 minutes with one place, every day from 06:00 to 22:00, no
// notice, serving the §43 instruction; and returns its id and the starts
// of its first n slots.
func prepare(ctx context.Context, db *store.DB, n int) (int64, []time.Time, error) {
	var office store.Office
	offices, err := store.ListOffices(ctx, db)
	if err != nil {
		return 0, nil, err
	}
	for _, o := range offices {
		if o.Slug == officeSlug {
			office = o
		}
	}
	if office.ID == 0 {
		return 0, nil, errors.New("no demo office leipzig: start the portal with PORTAL_DEMO=1")
	}
	id, err := store.UpsertCalendar(ctx, db, store.Calendar{OfficeID: office.ID, Slug: calendarSlug, Name: "Ansturm", Kind: store.CalendarOnsite,
		Place: "Raum 1", Slot: 20 * time.Minute, Horizon: 60 * 24 * time.Hour})
	if err != nil {
		return 0, nil, err
	}
	var rules []store.Rule
	for d := time.Sunday; d <= time.Saturday; d++ {
		rules = append(rules, store.Rule{Weekday: d, Starts: 6 * time.Hour, Ends: 22 * time.Hour, Capacity: 1})
	}
	if err := store.ReplaceCalendarRules(ctx, db, office.ID, id, rules); err != nil {
		return 0, nil, err
	}
	if err := store.ReplaceCalendarServices(ctx, db, office.ID, id, []string{service}); err != nil {
		return 0, nil, err
	}
	if _, err := db.Exec(ctx, `DELETE FROM booking WHERE calendar_id = $1`, id); err != nil {
		return 0, nil, err
	}
	svc, err := booking.New(booking.Options{DB: db})
	if err != nil {
		return 0, nil, err
	}
	now := time.Now()
	_, days, err := svc.Availability(ctx, office, id, now.Add(time.Hour), now.AddDate(0, 0, 59))
	if err != nil {
		return 0, nil, err
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
		return 0, nil, fmt.Errorf("only %d slots in the horizon, want %d", len(starts), n)
	}
	return id, starts, nil
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
