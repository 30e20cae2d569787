package portal

import (
	"fmt"

	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/internal/booking"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/store"
)

// citizenOfferView is the status page's list of the appointments the
// office offers in answer to an appointment request, one button each.
type citizenOfferView struct {
	Action string
	Slots  []offeredSlotView // empty: every slot offered is over, out of notice or taken
	Error  string
}

// statusOffer adds to p the open offer of sub, an appointment request,
// if it has one.
func (s *Server) statusOffer(c *fiber.Ctx, p *statusPage, sub store.Submission) error {
	if sub.FormID != booking.RequestForm {
		return nil
	}
	o, err := s.booking.OpenOffer(c.UserContext(), sub.OfficeID, sub.ID)
	if fault.KindOf(err) == fault.NotFound {
		return nil
	}
	if err != nil {
		return err
	}
	p.Offer = &citizenOfferView{Action: offerURL(c.Params("token")), Slots: offeredSlots(p.L, o, s.loc)}
	return nil
}

// bookOffer answers POST /status/:token/termin (termin): the citizen
// books one of the slots offered, at once (the status link proves the
// address), and the status page says it is booked; a slot taken
// meanwhile, or an offer withdrawn or booked already, is said on the page
// with what is still on offer.
func (s *Server) bookOffer(c *fiber.Ctx) error {
	token := c.Params("token")
	sl, ok := parseOfferValue(cleanText(c.FormValue("termin")))
	var err error
	if ok {
		_, err = s.booking.BookOffered(c.UserContext(), token, sl.CalendarID, sl.Start)
	} else {
		err = fault.New(fault.Invalid, "portal: book offer", "booking.error.offer_not_there")
	}
	if err == nil {
		return c.Redirect("/status/"+token+"?termin=gebucht", fiber.StatusSeeOther)
	}
	k := fault.KindOf(err)
	if k != fault.Invalid && k != fault.Conflict {
		return s.orDeleted(c, err)
	}
	_, p, _, lerr := s.submissionView(c)
	if lerr != nil {
		return s.orDeleted(c, lerr)
	}
	p.Title = p.L.T("status.title")
	msg := p.L.T(fault.MessageOf(err))
	field := "status-current"
	if p.Offer != nil {
		p.Offer.Error, field = msg, "offer-heading"
	}
	p.Errors = []fieldError{{Field: field, Message: msg}}
	p.CSRF = s.csrf.token(c)
	c.Set(fiber.HeaderCacheControl, "no-store")
	status := fiber.StatusUnprocessableEntity
	if k == fault.Conflict {
		status = fiber.StatusConflict
	}
	return s.views.render(c, status, "status", p)
}

// offerURL is where the status page's offer form posts.
func offerURL(token string) string { return fmt.Sprintf("/status/%s/termin", token) }
