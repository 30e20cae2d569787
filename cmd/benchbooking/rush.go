package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gesundheitsamt/portal/internal/store"
)

// rushResult is what the rush prints, as JSON.
type rushResult struct {
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

// rush holds slots of the rush calendar (one place each) over HTTP,
// several for every slot, and counts the bookings in the database.
func rush(ctx context.Context, db *store.DB, bases []string, slots, holds, conns int) error {
	_, calID, starts, err := prepare(ctx, db, rushCalendar, slots)
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
		Transport:     &http.Transport{MaxIdleConnsPerHost: holds, IdleConnTimeout: time.Minute},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
	res := rushResult{Processes: len(portals), Slots: len(starts), Holds: holds, Conns: conns}
	if conns <= 0 {
		conns = holds
	}
	inFlight := make(chan struct{}, conns)
	var (
		mu      sync.Mutex
		took    []time.Duration
		wg      sync.WaitGroup
		release = make(chan struct{})
		fails   []string
	)
	for i := range holds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := portals[i%len(portals)]
			form := url.Values{"_csrf": {p.token}, "kalender": {rushCalendar.slug}, "beginn": {strconv.FormatInt(starts[i%len(starts)].Unix(), 10)}}
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
