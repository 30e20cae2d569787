// Package demo seeds the demonstration data README.md describes: two offices with
// their postal-code areas and the service catalogue, every service enabled
// in both. Seeding is idempotent: running it again changes nothing.
package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/store"
)

// Office is a demo office with its postal-code areas.
type Office struct {
	Office store.Office
	Areas  []store.PostalArea
}

// Offices returns the demo offices (Leipzig and Halle).
func Offices() []Office {
	return []Office{
		{
			Office: store.Office{
				Slug: "leipzig", Code: "LEJ", Name: "Gesundheitsamt Leipzig",
				Street: "Friedrich-Ebert-Straße 19a", PostalCode: "04109", City: "Leipzig",
				Phone: "+49 341 123-6700", Email: "gesundheitsamt@leipzig.example", Website: "https://www.leipzig.example/gesundheitsamt",
				State: "SN",
			},
			Areas: []store.PostalArea{{FirstCode: "04103", LastCode: "04357"}},
		},
		{
			Office: store.Office{
				Slug: "halle", Code: "HAL", Name: "Gesundheitsamt Halle (Saale)",
				Street: "Niemeyerstraße 1", PostalCode: "06110", City: "Halle (Saale)",
				Phone: "+49 345 221-3210", Email: "gesundheitsamt@halle.example", Website: "https://www.halle.example/gesundheitsamt",
				State: "ST",
			},
			Areas: []store.PostalArea{{FirstCode: "06108", LastCode: "06132"}},
		},
	}
}

// Services returns the catalogue: slug, the form definition that will serve
// it, and display position. Titles and descriptions live in locales/
// (service.<slug>.title, .summary, .body, .legal).
func Services() []store.Service {
	return []store.Service{
		{Slug: "belehrung-infektionsschutz", FormRef: "belehrung-43-ifsg", Position: 10},
		{Slug: "amtsaerztliche-untersuchung", FormRef: "amtsaerztliches-gutachten", Position: 20},
		{Slug: "reiseimpfberatung", FormRef: "reiseimpfberatung", Position: 30},
		{Slug: "masernschutz-nachweis", FormRef: "masernschutz-20-ifsg", Position: 40},
		{Slug: "terminanfrage", FormRef: "terminanfrage", Position: 50},
	}
}

// Seed writes the demo data in one transaction.
func Seed(ctx context.Context, db *store.DB) error {
	return db.InTx(ctx, func(tx pgx.Tx) error {
		for _, s := range Services() {
			if err := store.UpsertService(ctx, tx, s); err != nil {
				return err
			}
		}
		for _, o := range Offices() {
			id, err := store.UpsertOffice(ctx, tx, o.Office)
			if err != nil {
				return err
			}
			if err := store.ReplacePostalAreas(ctx, tx, id, o.Areas); err != nil {
				return err
			}
			for _, s := range Services() {
				if err := store.EnableService(ctx, tx, id, s.Slug); err != nil {
					return err
				}
			}
			o.Office.ID = id
			if err := seedCalendars(ctx, tx, o.Office); err != nil {
				return err
			}
		}
		return nil
	})
}

// Calendar is a demo calendar with its weekly rules and the services it
// serves.
type Calendar struct {
	Calendar store.Calendar
	Rules    []store.Rule
	Services []string
}

// Calendars returns the demo calendars of an office: on site, mornings on
// every working day with two places a slot and Tuesday and Thursday
// afternoons with one; and video consultations, Monday to Thursday
// mornings.
func Calendars(o store.Office) []Calendar {
	weekly := func(days []time.Weekday, from, to time.Duration, capacity int) []store.Rule {
		var rules []store.Rule
		for _, d := range days {
			rules = append(rules, store.Rule{Weekday: d, Starts: from, Ends: to, Capacity: capacity})
		}
		return rules
	}
	workdays := []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}
	return []Calendar{
		{
			Calendar: store.Calendar{OfficeID: o.ID, Slug: "vor-ort", Name: "Sprechstunde vor Ort", Kind: store.CalendarOnsite,
				Place: o.Name + ", " + o.Street + ", " + o.PostalCode + " " + o.City,
				Slot:  20 * time.Minute, Notice: 2 * time.Hour, Horizon: 56 * 24 * time.Hour},
			Rules: append(weekly(workdays, 8*time.Hour, 12*time.Hour, 2),
				weekly([]time.Weekday{time.Tuesday, time.Thursday}, 14*time.Hour, 18*time.Hour, 1)...),
			Services: []string{"belehrung-infektionsschutz", "amtsaerztliche-untersuchung", "reiseimpfberatung"},
		},
		{
			Calendar: store.Calendar{OfficeID: o.ID, Slug: "video", Name: "Videosprechstunde", Kind: store.CalendarVideo,
				Slot: 30 * time.Minute, Notice: 2 * time.Hour, Horizon: 56 * 24 * time.Hour},
			Rules:    weekly([]time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday}, 9*time.Hour, 12*time.Hour, 1),
			Services: []string{"reiseimpfberatung"},
		},
	}
}

// seedCalendars writes the demo calendars of office o.
func seedCalendars(ctx context.Context, tx pgx.Tx, o store.Office) error {
	for _, c := range Calendars(o) {
		id, err := store.UpsertCalendar(ctx, tx, c.Calendar)
		if err != nil {
			return err
		}
		if err := store.ReplaceCalendarRules(ctx, tx, o.ID, id, c.Rules); err != nil {
			return err
		}
		if err := store.ReplaceCalendarServices(ctx, tx, o.ID, id, c.Services); err != nil {
			return err
		}
	}
	return nil
}

// Describe returns one line per demo office for the start-up message.
func Describe() []string {
	var lines []string
	for _, o := range Offices() {
		lines = append(lines, fmt.Sprintf("%s (%s, postal codes %s–%s)", o.Office.Name, o.Office.Slug, o.Areas[0].FirstCode, o.Areas[0].LastCode))
	}
	return lines
}

// StaffAccount is a demo staff account (without its password).
type StaffAccount struct {
	Email, Name string
	Role        domain.Role
}

// Staff returns the demo accounts of an office: an admin, a caseworker and
// a physician, addressed admin@, sachbearbeitung@ and aerztin@<slug>.example.
func Staff(officeSlug string) []StaffAccount {
	return []StaffAccount{
		{Email: "admin@" + officeSlug + ".example", Name: "Alex Admin", Role: domain.Admin},
		{Email: "sachbearbeitung@" + officeSlug + ".example", Name: "Sam Sachbearbeitung", Role: domain.Caseworker},
		{Email: "aerztin@" + officeSlug + ".example", Name: "Dr. Dana Ärztin", Role: domain.Physician},
	}
}
