package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gesundheitsamt/portal/internal/booking"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/submission"
)

// confirmResult is what the confirmations print, as JSON.
type confirmResult struct {
	Processes int  `json:"processes"`
	Bookings  int  `json:"bookings"` // unconfirmed, made in the database before the clock starts
	Slots     int  `json:"slots"`    // of confirmCalendar.places places each
	Conns     int  `json:"conns"`    // clients, each sending one request after another
	Visit     bool `json:"visit"`    // each confirmation with the page before it and the redirect after it
	Confirmed int  `json:"confirmed"`
	Failed    int  `json:"failed"`
	// Seconds runs from the first request to the last answer; PerSecond
	// is Confirmed over it; SlowestSecond is how many confirmations were
	// answered in the slowest whole second of the run.
	Seconds       float64 `json:"seconds"`
	PerSecond     float64 `json:"per_second"`
	SlowestSecond int     `json:"slowest_second"`
	// The latency of the POST that confirms, and with -visit of the
	// whole visit (page, POST, redirect).
	P50      float64 `json:"p50_ms"`
	P99      float64 `json:"p99_ms"`
	Max      float64 `json:"max_ms"`
	VisitP50 float64 `json:"visit_p50_ms,omitempty"`
	VisitP99 float64 `json:"visit_p99_ms,omitempty"`
	// Counted in the database afterwards: the calendar's bookings booked
	// and in any other state, the bench's mail tokens whose booking is
	// booked with a time of confirmation, places held twice.
	RowsBooked   int `json:"rows_booked"`
	RowsOther    int `json:"rows_other"`
	TokensBooked int `json:"tokens_booked"`
	SeatsDoubled int `json:"seats_doubled"`
	// The booked mails: jobs queued (river_job, kind mail.send, key
	// booking:<id>:booked), the bookings they are of, and the mails the
	// SMTP server accepted (mail_sent) by the end of the run and by the
	// end of the wait for them, MailSeconds after the first request.
	MailJobs         int     `json:"mail_jobs"`
	MailJobBookings  int     `json:"mail_job_bookings"`
	MailsSentInRun   int     `json:"mails_sent_in_run"`
	MailsSent        int     `json:"mails_sent"`
	MailSeconds      float64 `json:"mail_seconds"`
	SinkDelivered    int     `json:"sink_delivered"`  // with -sink: mails the sink received during the run and the wait
	SinkDuplicates   int     `json:"sink_duplicates"` // with -sink: of them, received twice
	MailJobsUnworked int     `json:"mail_jobs_unworked"`
}

// confirmOptions are the flags of -mode=confirm.
type confirmOptions struct {
	bookings int
	conns    int
	visit    bool
	mailWait time.Duration
	sink     string // the SMTP sink's address (cmd/benchmail -serve); empty: not asked
}

// confirm makes o.bookings unconfirmed bookings with known mail tokens
// in the confirmation calendar, confirms each once over HTTP from
// o.conns clients, counts the bookings and their booked mail jobs in the
// database, and waits for the mails.
func confirm(ctx context.Context, db *store.DB, bases []string, o confirmOptions) error {
	slots := (o.bookings + confirmCalendar.places - 1) / confirmCalendar.places
	office, calID, starts, err := prepare(ctx, db, confirmCalendar, slots)
	if err != nil {
		return err
	}
	tokens, err := seedUnconfirmed(ctx, db, office.ID, calID, starts, o.bookings)
	if err != nil {
		return err
	}
	res := confirmResult{Processes: len(bases), Bookings: o.bookings, Slots: slots, Conns: o.conns, Visit: o.visit}
	type portal struct{ base, cookie, token string }
	var portals []portal
	for _, b := range bases {
		p := portal{base: b}
		if !o.visit {
			if p.cookie, p.token, err = csrf(b); err != nil {
				return err
			}
		}
		portals = append(portals, p)
	}
	sinkBefore, dupBefore, err := sinkCount(o.sink)
	if err != nil {
		return err
	}
	client := &http.Client{
		Transport:     &http.Transport{MaxIdleConnsPerHost: o.conns, IdleConnTimeout: time.Minute},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}

	var (
		next   atomic.Int64
		mu     sync.Mutex
		took   []time.Duration // of the POST
		visits []time.Duration
		done   []time.Duration // since t0, when each confirmation was answered
		fails  []string
		wg     sync.WaitGroup
	)
	t0 := time.Now()
	for range o.conns {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(tokens) {
					return
				}
				p := portals[i%len(portals)]
				addr := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
				v := confirmVisit{client: client, base: p.base, token: tokens[i], addr: addr, cookie: p.cookie, csrf: p.token}
				began := time.Now()
				post, err := v.run(o.visit)
				end := time.Now()
				mu.Lock()
				if err != nil {
					res.Failed++
					if len(fails) < 5 {
						fails = append(fails, err.Error())
					}
				} else {
					res.Confirmed++
					took = append(took, post)
					visits = append(visits, end.Sub(began))
					done = append(done, end.Sub(t0))
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.Seconds = time.Since(t0).Seconds()
	res.PerSecond = float64(res.Confirmed) / res.Seconds
	res.SlowestSecond = slowestSecond(done, res.Seconds)
	if len(took) > 0 {
		res.P50, res.P99, res.Max = quantiles(took)
		if o.visit {
			res.VisitP50, res.VisitP99, _ = quantiles(visits)
		}
	}
	if res.MailsSentInRun, _, err = mailsSent(ctx, db, calID); err != nil {
		return err
	}
	if err := countConfirmed(ctx, db, calID, tokens, &res); err != nil {
		return err
	}
	if err := waitForMails(ctx, db, calID, t0, o.mailWait, &res); err != nil {
		return err
	}
	sinkAfter, dupAfter, err := sinkCount(o.sink)
	if err != nil {
		return err
	}
	res.SinkDelivered, res.SinkDuplicates = sinkAfter-sinkBefore, dupAfter-dupBefore
	for _, f := range fails {
		fmt.Fprintln(os.Stderr, "benchbooking: failed confirmation:", f)
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// seedUnconfirmed inserts n bookings of the office's calendar calID with
// COPY, confirmCalendar.places to a slot of starts, each as the contact
// step leaves it: unconfirmed for booking.ConfirmTTL, a citizen with an
// address of its own, the SHA-256 of a mail token (and of a hold token).
// It returns the mail tokens, as the confirmation mails would carry them.
func seedUnconfirmed(ctx context.Context, db *store.DB, officeID, calID int64, starts []time.Time, n int) ([]string, error) {
	tokens := make([]string, n)
	rows := make([][]any, n)
	expires := time.Now().Add(booking.ConfirmTTL)
	for i := range n {
		tokens[i] = submission.NewToken()
		rows[i] = []any{officeID, calID, service, starts[i/confirmCalendar.places], i % confirmCalendar.places,
			store.BookingUnconfirmed, expires, submission.HashToken(submission.NewToken()),
			fmt.Sprintf("Bürgerin %d", i), fmt.Sprintf("buergerin-%d@example.org", i), "de", submission.HashToken(tokens[i])}
	}
	_, err := db.CopyFrom(ctx, pgx.Identifier{"booking"},
		[]string{"office_id", "calendar_id", "service_slug", "starts_at", "seat", "state", "expires_at", "token_hash", "name", "email", "lang", "mail_token_hash"},
		pgx.CopyFromRows(rows))
	if err != nil {
		return nil, fmt.Errorf("seed unconfirmed bookings: %w", err)
	}
	return tokens, nil
}

// confirmVisit is one citizen confirming the booking of a mail token.
type confirmVisit struct {
	client            *http.Client
	base, token, addr string
	cookie, csrf      string // without -visit: the portal's, fetched once
}

var doneConfirmed = regexp.MustCompile(`^/termin/[^/?]+\?erledigt=bestaetigt$`)

// run confirms and returns how long the POST took. With visit it first
// opens the mail's link (the page with the button, which sets the CSRF
// cookie of a browser that has none) and afterwards follows the
// redirect to the booked page, as a browser does.
func (v *confirmVisit) run(visit bool) (time.Duration, error) {
	page := v.base + "/termin/" + v.token
	if visit {
		body, cookies, err := v.get(page, "")
		if err != nil {
			return 0, err
		}
		m := csrfField.FindStringSubmatch(body)
		var c string
		for _, k := range cookies {
			if strings.HasSuffix(k.Name, "csrf") {
				c = k.Name + "=" + k.Value
			}
		}
		if m == nil || c == "" {
			return 0, fmt.Errorf("GET %s: no confirm button with a CSRF token and cookie", page)
		}
		v.csrf, v.cookie = m[1], c
	}
	req, _ := http.NewRequest(http.MethodPost, page, strings.NewReader(url.Values{"_csrf": {v.csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Cookie", v.cookie)
	req.Header.Set("X-Forwarded-For", v.addr)
	t0 := time.Now()
	r, err := v.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, r.Body)
	r.Body.Close()
	took := time.Since(t0)
	loc := r.Header.Get("Location")
	if r.StatusCode != http.StatusSeeOther || !doneConfirmed.MatchString(loc) {
		return 0, fmt.Errorf("POST /termin/…: status %d, Location %q", r.StatusCode, loc)
	}
	if visit {
		if _, _, err := v.get(v.base+loc, v.cookie); err != nil {
			return 0, err
		}
	}
	return took, nil
}

// get fetches a page that must answer 200, as the visit's browser.
func (v *confirmVisit) get(u, cookie string) (string, []*http.Cookie, error) {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("X-Forwarded-For", v.addr)
	req.Header.Set("Accept-Language", "de-DE,de;q=0.9")
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	r, err := v.client.Do(req)
	if err != nil {
		return "", nil, err
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return "", nil, err
	}
	if r.StatusCode != http.StatusOK {
		return "", nil, fmt.Errorf("GET %s: status %d", strings.TrimPrefix(u, v.base), r.StatusCode)
	}
	return string(b), r.Cookies(), nil
}

// quantiles returns the median, the 99th percentile and the maximum of
// d in milliseconds; it sorts d.
func quantiles(d []time.Duration) (p50, p99, most float64) {
	slices.Sort(d)
	q := func(f float64) float64 { return float64(d[int(f*float64(len(d)-1))]) / 1e6 }
	return q(0.5), q(0.99), q(1)
}

// slowestSecond returns the fewest answers in a whole second of a run
// of seconds; 0 for a run shorter than a second.
func slowestSecond(done []time.Duration, seconds float64) int {
	whole := int(seconds)
	if whole == 0 {
		return 0
	}
	per := make([]int, whole)
	for _, d := range done {
		if s := int(d / time.Second); s < whole {
			per[s]++
		}
	}
	return slices.Min(per)
}
