package portal

import (
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/internal/booking"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/i18n"
	"github.com/gesundheitsamt/portal/internal/store"
)

// offerDays is how far ahead the case page lists the free slots to offer
// from an appointment request, and offerListed how many of each
// calendar: the first ones are what a request is answered with.
const (
	offerDays   = 14
	offerListed = 40
)

// offerView is the case page's section on an appointment request
// (Terminanfrage): the open offer with the slots of it that can still be
// booked, or the office's free slots to choose up to booking.MaxOfferSlots
// from.
type offerView struct {
	Open    bool
	OpenAt  string
	Offered []offeredSlotView // of the open offer
	NoEmail bool              // the request gave no address: no offer can go out
	Groups  []offerGroup
	Max     int
	Days    int // how far ahead Groups reach
}

// offeredSlotView is a slot of an offer as the pages show it.
type offeredSlotView struct {
	When  string // "Montag, 7. Dezember 2026, 10:00 Uhr"
	Place string // the calendar's name and place, or Video
	Value string // <calendar id>-<Unix seconds>, as the forms send it
}

// offerGroup is the free slots of one calendar on one day: a fieldset of
// checkboxes.
type offerGroup struct {
	Legend string
	Slots  []optionView
}

// offerValue is the form value of a slot: its calendar and start.
func offerValue(calendarID int64, start time.Time) string {
	return strconv.FormatInt(calendarID, 10) + "-" + strconv.FormatInt(start.Unix(), 10)
}

// parseOfferValue reads an offerValue.
func parseOfferValue(v string) (store.OfferSlot, bool) {
	cal, at, ok := strings.Cut(v, "-")
	if !ok {
		return store.OfferSlot{}, false
	}
	id, ok := parseID(cal)
	start, ok2 := unixTime(at)
	if !ok || !ok2 {
		return store.OfferSlot{}, false
	}
	return store.OfferSlot{CalendarID: id, Start: start}, true
}

// placeOf is where a calendar's appointment takes place, as the pages
// say it.
func placeOf(l *i18n.Localizer, k store.Calendar) string {
	if k.Kind == store.CalendarVideo {
		return k.Name + " (" + l.T("booking.kind.video") + ")"
	}
	if k.Place != "" {
		return k.Name + ", " + k.Place
	}
	return k.Name
}

// offeredSlots are the slots of an open offer that can still be booked
// (booking.Service.OpenOffer: with a place free).
func offeredSlots(l *i18n.Localizer, o booking.CaseOffer, loc *time.Location) []offeredSlotView {
	out := make([]offeredSlotView, 0, len(o.Slots))
	for _, sl := range o.Slots {
		v := slotOf(l, sl.Slot, loc)
		out = append(out, offeredSlotView{When: v.Day + ", " + v.Time, Place: placeOf(l, sl.Calendar), Value: offerValue(sl.Calendar.ID, sl.Slot.Start)})
	}
	return out
}

// caseOffer builds the offer section of the case page of sub, an
// appointment request; chosen are the slots ticked in a form that failed.
func (s *Server) caseOffer(c *fiber.Ctx, l *i18n.Localizer, sub store.Submission, chosen []string) (*offerView, error) {
	v := &offerView{Max: booking.MaxOfferSlots, Days: offerDays}
	open, err := s.booking.OpenOffer(c.UserContext(), sub.OfficeID, sub.ID)
	switch {
	case err == nil:
		v.Open, v.OpenAt = true, formatTime(l, open.Offer.CreatedAt, s.loc)
		v.Offered = offeredSlots(l, open, s.loc)
		return v, nil
	case fault.KindOf(err) != fault.NotFound:
		return nil, err
	}
	if sub.ContactEmail == "" {
		v.NoEmail = true
		return v, nil
	}
	office, cals, err := s.appointmentCalendars(c, "")
	if err != nil {
		return nil, err
	}
	ticked := make(map[string]bool, len(chosen))
	for _, val := range chosen {
		ticked[val] = true
	}
	now := s.now()
	for _, k := range cals {
		_, days, err := s.booking.Availability(c.UserContext(), office, k.ID, now, now.AddDate(0, 0, offerDays))
		if err != nil {
			return nil, err
		}
		listed := 0
		for _, d := range days {
			if listed == offerListed {
				break
			}
			g := offerGroup{Legend: placeOf(l, k) + " – " + dayName(l, d.Date, true)}
			for _, sl := range d.Slots {
				if sl.Free == 0 || listed == offerListed {
					continue
				}
				listed++
				val := offerValue(k.ID, sl.Start)
				g.Slots = append(g.Slots, optionView{Value: val, ID: "offer-" + val, Checked: ticked[val], Label: slotOf(l, sl, s.loc).Time})
			}
			if len(g.Slots) > 0 {
				v.Groups = append(v.Groups, g)
			}
		}
	}
	return v, nil
}

// makeOffer answers POST /staff/faelle/:id/angebot (termin, repeated): the
// citizen of the appointment request is offered the slots ticked, by mail
// and on the status page; the case page says what was wrong, with the
// slots still ticked.
func (s *Server) makeOffer(c *fiber.Ctx) error {
	id, err := caseID(c)
	if err != nil {
		return err
	}
	form := caseForm{Name: "offer"}
	var slots []store.OfferSlot
	for _, raw := range c.Request().PostArgs().PeekMulti("termin") {
		if len(slots) > booking.MaxOfferSlots {
			break // the service refuses more than MaxOfferSlots
		}
		form.Offered = append(form.Offered, string(raw))
		sl, ok := parseOfferValue(string(raw))
		if !ok {
			return s.afterCaseChange(c, id, form, fault.New(fault.Invalid, "portal: offer", "booking.error.offer_slot"))
		}
		slots = append(slots, sl)
	}
	_, err = s.booking.Offer(c.UserContext(), staffBookingAccess(c), id, slots)
	return s.afterCaseChange(c, id, form, err)
}

// withdrawOffer answers POST /staff/faelle/:id/angebot/zurueckziehen: the
// open offer's slots disappear from the status page; one booked or
// withdrawn meanwhile leaves nothing to withdraw, and the case page shows
// what happened.
func (s *Server) withdrawOffer(c *fiber.Ctx) error {
	id, err := caseID(c)
	if err != nil {
		return err
	}
	err = s.booking.Withdraw(c.UserContext(), staffBookingAccess(c), id)
	if fault.KindOf(err) == fault.NotFound {
		// Booked or withdrawn meanwhile; renderCase answers 404 for a
		// case that is not the office's.
		err = fault.New(fault.Conflict, "portal: withdraw offer", "staff.offer.gone")
	}
	return s.afterCaseChange(c, id, caseForm{Name: "offer"}, err)
}
