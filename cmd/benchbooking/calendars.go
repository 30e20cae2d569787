package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gesundheitsamt/portal/internal/booking"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/submission"
)

// realisticWeeks is the horizon of the realistic calendars, in weeks.
const realisticWeeks = 8

// A realistic calendar: a consulting room open on weekdays, 08:00-12:00
// and 13:00-15:00 (Thursday to 18:00), 20-minute slots with two places
// (two staff in one room), a day's notice, eight weeks ahead. full is
// how many of its first weeks are booked out; after them, busy[w] of the
// places of week w are taken (the near weeks fill first).
type realisticCalendar struct {
	slug, name string
	full       int
	busy       []float64
}

var realisticCalendars = []realisticCalendar{
	{"sprechstunde-1", "Sprechstunde Zimmer 1", 0, []float64{0.85, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1}},
	{"sprechstunde-2", "Sprechstunde Zimmer 2", 3, []float64{1, 1, 1, 0.6, 0.5, 0.3, 0.2, 0.1}},
	{"sprechstunde-3", "Sprechstunde Zimmer 3", 0, []float64{0.9, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1}},
}

// calendarsResult is what -mode=calendars prints, as JSON: the paths of
// the availability pages to load and what the calendars hold.
type calendarsResult struct {
	Calendars int    `json:"calendars"`
	Weeks     int    `json:"weeks"`
	Slots     int    `json:"slots"`  // in the horizon, all calendars
	Places    int    `json:"places"` // in the horizon, all calendars
	Taken     int    `json:"taken"`  // booked or unconfirmed bookings made
	Week      string `json:"week"`   // this week of a calendar with free places in it
	Full      string `json:"full"`   // this week of a calendar booked out for three weeks
	Later     string `json:"later"`  // the sixth week of the first calendar
}

// calendars makes the realistic calendars of the demo office, all
// serving the §43 instruction, books them as realisticCalendars says
// (COPY; nine in ten booked, the rest unconfirmed with a mail on its
// way), and prints the pages to measure.
func calendars(ctx context.Context, db *store.DB) error {
	office, err := demoOffice(ctx, db)
	if err != nil {
		return err
	}
	svc, err := booking.New(booking.Options{DB: db})
	if err != nil {
		return err
	}
	res := calendarsResult{Calendars: len(realisticCalendars), Weeks: realisticWeeks}
	rng := rand.New(rand.NewPCG(43, 20))
	now := time.Now()
	for _, rc := range realisticCalendars {
		id, err := store.UpsertCalendar(ctx, db, store.Calendar{OfficeID: office.ID, Slug: rc.slug, Name: rc.name, Kind: store.CalendarOnsite,
			Place: "Raum " + rc.slug[len(rc.slug)-1:], Slot: 20 * time.Minute, Notice: 24 * time.Hour, Horizon: realisticWeeks * 7 * 24 * time.Hour})
		if err != nil {
			return err
		}
		var rules []store.Rule
		for d := time.Monday; d <= time.Friday; d++ {
			afternoon := 15 * time.Hour
			if d == time.Thursday {
				afternoon = 18 * time.Hour
			}
			rules = append(rules,
				store.Rule{Weekday: d, Starts: 8 * time.Hour, Ends: 12 * time.Hour, Capacity: 2},
				store.Rule{Weekday: d, Starts: 13 * time.Hour, Ends: afternoon, Capacity: 2})
		}
		if err := store.ReplaceCalendarRules(ctx, db, office.ID, id, rules); err != nil {
			return err
		}
		if err := store.ReplaceCalendarServices(ctx, db, office.ID, id, []string{service}); err != nil {
			return err
		}
		if _, err := db.Exec(ctx, `DELETE FROM booking WHERE calendar_id = $1`, id); err != nil {
			return err
		}
		_, days, err := svc.Availability(ctx, office, id, now, now.AddDate(0, 0, 7*realisticWeeks+1))
		if err != nil {
			return err
		}
		var rows [][]any
		for _, d := range days {
			week := int(d.Date.Sub(midnightOf(now)) / (7 * 24 * time.Hour))
			for _, sl := range d.Slots {
				res.Slots++
				res.Places += sl.Capacity
				for seat := range sl.Capacity {
					if week >= len(rc.busy) || rng.Float64() >= rc.busy[week] {
						continue
					}
					rows = append(rows, realisticBooking(office.ID, id, sl.Start, seat, len(rows), rng))
				}
			}
		}
		_, err = db.CopyFrom(ctx, pgx.Identifier{"booking"},
			[]string{"office_id", "calendar_id", "service_slug", "starts_at", "seat", "state", "expires_at", "token_hash", "name", "email", "lang", "mail_token_hash", "confirmed_at"},
			pgx.CopyFromRows(rows))
		if err != nil {
			return fmt.Errorf("seed the bookings of %s: %w", rc.slug, err)
		}
		res.Taken += len(rows)
	}
	page := "/amt/" + officeSlug + "/leistungen/" + service + "/termin?kalender="
	res.Week = page + realisticCalendars[0].slug
	res.Full = page + realisticCalendars[1].slug
	res.Later = page + realisticCalendars[0].slug + "&ab=" + midnightOf(now).AddDate(0, 0, 5*7).Format(time.DateOnly)
	return json.NewEncoder(os.Stdout).Encode(res)
}

// realisticBooking is the row of the i-th booking of a calendar: nine in
// ten booked, the rest unconfirmed.
func realisticBooking(officeID, calID int64, start time.Time, seat, i int, rng *rand.Rand) []any {
	state, expires, confirmed := store.BookingBooked, any(nil), any(time.Now())
	if rng.IntN(10) == 0 {
		state, expires, confirmed = store.BookingUnconfirmed, time.Now().Add(booking.ConfirmTTL), nil
	}
	return []any{officeID, calID, service, start, seat, state, expires,
		submission.HashToken(submission.NewToken()),
		fmt.Sprintf("Bürger %d", i), fmt.Sprintf("termin-%d-%d@example.org", calID, i), "de",
		submission.HashToken(submission.NewToken()), confirmed}
}

// midnightOf is the start of t's day in t's location.
func midnightOf(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location())
}
