package portal

import (
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/internal/audit"
	"github.com/gesundheitsamt/portal/internal/auth"
	"github.com/gesundheitsamt/portal/internal/store"
)

// inboxPage is the data of templates/staff_inbox.html.
type inboxPage struct {
	page
	Staff  auth.Staff
	Office string
	Rows   []inboxRow
}

type inboxRow struct {
	URL       string
	Reference string
	Service   string
	Received  string
	Status    string
}

// inboxSize is how many submissions the first inbox page lists (filters
// and paging come with the rest of the back office).
const inboxSize = 50

// showInbox answers GET /staff/: the newest submissions of the staff
// member's office, and only of that office.
func (s *Server) showInbox(c *fiber.Ctx) error {
	st := staffOf(c)
	rows, err := store.ListSubmissions(c.UserContext(), s.db.Pool, st.OfficeID, inboxSize)
	if err != nil {
		return err
	}
	// The list shows who applied for what: a read, recorded like one.
	if err := audit.AppendNow(c.UserContext(), s.db, audit.Entry{OfficeID: st.OfficeID, Actor: auth.Actor(st.ID), Action: "inbox.read"}); err != nil {
		return err
	}
	snap, err := s.dir.Snapshot(c.UserContext())
	if err != nil {
		return err
	}
	p := inboxPage{page: s.newPage(c, "staff.inbox.title"), Staff: st}
	if e, ok := snap.OfficeByID(st.OfficeID); ok {
		p.Office = e.Name
	}
	for _, r := range rows {
		p.Rows = append(p.Rows, inboxRow{
			URL: "/staff/faelle/" + strconv.FormatInt(r.ID, 10), Reference: r.Reference, Service: serviceOf(p.L, r.ServiceSlug, "").Title,
			Received: formatTime(p.L, r.SubmittedAt, s.loc), Status: statusText(p.L, r.Status),
		})
	}
	p.CSRF = s.csrf.token(c)
	return s.views.render(c, fiber.StatusOK, "staff_inbox", p)
}
