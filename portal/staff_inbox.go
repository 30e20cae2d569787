package portal

import (
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/internal/auth"
	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/i18n"
	"github.com/gesundheitsamt/portal/internal/inbox"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/submission"
)

// inboxPage is the data of templates/staff_inbox.html.
type inboxPage struct {
	staffPage
	Filter      inboxFilter
	Services    []optionView
	Statuses    []optionView
	Assignees   []optionView
	Counts      []countView
	Rows        []inboxRow
	NextURL     string       // the next page of a filtered list (GET)
	Next        string       // the cursor of the next page of a search (POST)
	FilterURL   string       // the list without search, for "clear search" and bulk's way back
	Actions     []optionView // bulk actions
	Done        int          // cases a bulk action changed
	Skipped     int          // cases it could not change
	BulkError   string
	SearchError string
	// Said once per page, not per row.
	UnreadLabel, NobodyLabel string
}

type inboxRow struct {
	URL       string
	ID        int64
	Version   int
	Pick      string // the checkbox's label: "<reference> auswählen"
	Reference string
	Applicant string
	Service   string
	Received  string
	Status    string
	Assignee  string
	Unread    bool
}

type countView struct {
	Label   string
	N       int64
	URL     string
	Current bool
}

// inboxFilter is a filter as the inbox's forms and links carry it. Its
// values are no personal data, so they may go in a URL; the search text
// (names, answers) travels only in POST bodies.
type inboxFilter struct {
	Service  string // dienst
	Status   string // status
	Assignee string // bearbeitung: "ich", "keine" or a staff id
	From, To string // von, bis: YYYY-MM-DD
	Unread   bool   // ungelesen
	Oldest   bool   // sort=alt
	Text     string // q, POST only
}

// inboxSize is how many cases an inbox page lists.
const inboxSize = 50

// readFilter reads the inbox filter from get (query or form values).
func readFilter(get func(string) string) inboxFilter {
	return inboxFilter{
		Service: cleanText(get("dienst")), Status: cleanText(get("status")), Assignee: cleanText(get("bearbeitung")),
		From: cleanText(get("von")), To: cleanText(get("bis")),
		Unread: get("ungelesen") == "1", Oldest: get("sort") == "alt",
		Text: strings.TrimSpace(cleanText(get("q"))),
	}
}

// query encodes f without its search text, for links.
func (f inboxFilter) query() url.Values {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("dienst", f.Service)
	set("status", f.Status)
	set("bearbeitung", f.Assignee)
	set("von", f.From)
	set("bis", f.To)
	if f.Unread {
		v.Set("ungelesen", "1")
	}
	if f.Oldest {
		v.Set("sort", "alt")
	}
	return v
}

// url returns the inbox link of f with extra parameters.
func (f inboxFilter) url(extra ...string) string {
	v := f.query()
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	if len(v) == 0 {
		return "/staff/"
	}
	return "/staff/?" + v.Encode()
}

// caseFilter turns f into the store's filter for staff member st.
// Unknown values select nothing rather than everything.
func (f inboxFilter) caseFilter(st auth.Staff, loc *time.Location) store.CaseFilter {
	cf := store.CaseFilter{OfficeID: st.OfficeID, Service: f.Service, Status: domain.Status(f.Status), Unread: f.Unread, Oldest: f.Oldest}
	switch f.Assignee {
	case "":
	case "ich":
		cf.Assignee = st.ID
	case "keine":
		cf.Assignee = store.AssigneeNone
	default:
		if id, err := strconv.ParseInt(f.Assignee, 10, 64); err == nil && id > 0 {
			cf.Assignee = id
		} else {
			cf.Assignee = math.MaxInt64 // nobody has that id: the list is empty
		}
	}
	if t, err := time.ParseInLocation(time.DateOnly, f.From, loc); err == nil {
		cf.From = t
	}
	if t, err := time.ParseInLocation(time.DateOnly, f.To, loc); err == nil {
		cf.To = t.AddDate(0, 0, 1) // "bis" includes that day
	}
	if f.Text != "" {
		// A reference number is found exactly, however it is typed.
		if ref, ok := submission.ParseReference(f.Text); ok {
			cf.Reference = ref
		} else {
			cf.Text = f.Text // the medical answers too for physicians (inbox.List)
		}
	}
	return cf
}

// encodeCursor and decodeCursor carry a keyset position in links: the
// received time in microseconds and the id, neither of them personal.
func encodeCursor(c store.Cursor) string {
	return strconv.FormatInt(c.At.UnixMicro(), 10) + "-" + strconv.FormatInt(c.ID, 10)
}

func decodeCursor(s string) store.Cursor {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return store.Cursor{}
	}
	us, err1 := strconv.ParseInt(a, 10, 64)
	id, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || id <= 0 {
		return store.Cursor{}
	}
	return store.Cursor{At: time.UnixMicro(us), ID: id}
}

// showInbox answers GET /staff/: the office's cases, filtered, a page at
// a time, with counts per status. Only the office's own cases, ever.
func (s *Server) showInbox(c *fiber.Ctx) error {
	return s.renderInbox(c, readFilter(func(k string) string { return c.Query(k) }), c.Query("nach"))
}

// searchInbox answers POST /staff/suche: the same list narrowed by a search
// text, which is kept out of URLs (it is usually a name).
func (s *Server) searchInbox(c *fiber.Ctx) error {
	return s.renderInbox(c, readFilter(func(k string) string { return c.FormValue(k) }), c.FormValue("nach"))
}

func (s *Server) renderInbox(c *fiber.Ctx, f inboxFilter, after string) error {
	st := staffOf(c)
	ctx := c.UserContext()
	cf := f.caseFilter(st, s.loc)
	cf.After, cf.Limit = decodeCursor(after), inboxSize+1
	access := staffAccess(c)
	var searchErr string
	rows, err := s.inbox.List(ctx, access, cf)
	if fault.KindOf(err) == fault.Invalid && cf.Text != "" { // too broad to answer in time
		searchErr, err = fault.MessageOf(err), nil
	}
	if err != nil {
		return err
	}
	counts, err := s.inbox.Counts(ctx, access)
	if err != nil {
		return err
	}
	colleagues, err := s.inbox.Colleagues(ctx, access)
	if err != nil {
		return err
	}
	snap, err := s.dir.Snapshot(ctx)
	if err != nil {
		return err
	}
	sp, err := s.newStaffPage(c, "staff.inbox.title")
	if err != nil {
		return err
	}
	p := inboxPage{staffPage: sp, Filter: f, FilterURL: f.url()}
	if e, ok := snap.OfficeByID(st.OfficeID); ok {
		for _, slug := range e.Services {
			p.Services = append(p.Services, optionView{Value: slug, Label: serviceOf(p.L, slug, "").Title, Checked: slug == f.Service})
		}
	}
	for _, status := range domain.Statuses {
		current := string(status) == f.Status
		p.Statuses = append(p.Statuses, optionView{Value: string(status), Label: statusText(p.L, status), Checked: current})
		all := f
		all.Status = string(status)
		p.Counts = append(p.Counts, countView{Label: statusText(p.L, status), N: counts[status], URL: all.url(), Current: current})
	}
	p.Assignees = append(p.Assignees,
		optionView{Value: "ich", Label: p.L.T("staff.inbox.filter.mine"), Checked: f.Assignee == "ich"},
		optionView{Value: "keine", Label: p.L.T("staff.inbox.filter.nobody"), Checked: f.Assignee == "keine"})
	for _, co := range colleagues {
		id := strconv.FormatInt(co.ID, 10)
		p.Assignees = append(p.Assignees, optionView{Value: id, Label: co.Name, Checked: f.Assignee == id})
	}
	p.Actions = bulkActions(p.L, colleagues)
	if len(rows) > inboxSize {
		last := rows[inboxSize-1]
		rows = rows[:inboxSize]
		cur := encodeCursor(store.Cursor{At: last.SubmittedAt, ID: last.ID})
		if f.Text != "" {
			p.Next = cur
		} else {
			p.NextURL = f.url("nach", cur)
		}
	}
	// A page lists up to 200 cases of a few services and states: each
	// text is looked up once, not per row.
	services, statuses := map[string]string{}, map[domain.Status]string{}
	pick := p.L.Tf("staff.inbox.bulk.pick", "Reference", "\x00")
	p.UnreadLabel, p.NobodyLabel = p.L.T("staff.inbox.unread"), p.L.T("staff.inbox.nobody")
	p.Rows = make([]inboxRow, 0, len(rows))
	for _, r := range rows {
		service, ok := services[r.ServiceSlug]
		if !ok {
			service = serviceOf(p.L, r.ServiceSlug, "").Title
			services[r.ServiceSlug] = service
		}
		status, ok := statuses[r.Status]
		if !ok {
			status = statusText(p.L, r.Status)
			statuses[r.Status] = status
		}
		p.Rows = append(p.Rows, inboxRow{
			URL: "/staff/faelle/" + strconv.FormatInt(r.ID, 10), ID: r.ID, Version: r.Version,
			Pick: strings.Replace(pick, "\x00", r.Reference, 1), Reference: r.Reference, Applicant: r.Applicant,
			Service: service, Received: formatTime(p.L, r.SubmittedAt, s.loc), Status: status,
			Assignee: r.AssigneeName, Unread: r.Unread,
		})
	}
	p.Done, _ = strconv.Atoi(c.Query("erledigt"))
	p.Skipped, _ = strconv.Atoi(c.Query("uebersprungen"))
	if c.Query("fehler") == "auswahl" {
		p.BulkError = p.L.T("staff.inbox.bulk.none")
		p.Errors = []fieldError{{Field: "bulk-action", Message: p.BulkError}}
	}
	if searchErr != "" {
		p.SearchError = p.L.T(searchErr)
		p.Errors = append(p.Errors, fieldError{Field: "inbox-q", Message: p.SearchError})
	}
	p.CSRF = s.csrf.token(c)
	return s.views.render(c, fiber.StatusOK, "staff_inbox", p)
}

// bulkActions are what the inbox can do to several cases at once: the
// status changes that need no message, and assignment.
func bulkActions(l *i18n.Localizer, colleagues []store.Colleague) []optionView {
	out := []optionView{{Value: "", Label: l.T("staff.inbox.bulk.choose")}}
	for _, status := range []domain.Status{domain.InProgress, domain.Done, domain.Rejected} {
		out = append(out, optionView{Value: "status:" + string(status), Label: l.Tf("staff.inbox.bulk.status", "Status", statusText(l, status))})
	}
	out = append(out, optionView{Value: "assign:0", Label: l.T("staff.inbox.bulk.unassign")})
	for _, co := range colleagues {
		out = append(out, optionView{Value: "assign:" + strconv.FormatInt(co.ID, 10), Label: l.Tf("staff.inbox.bulk.assign", "Name", co.Name)})
	}
	return out
}

// maxBulk is the most cases one bulk action takes (two inbox pages).
const maxBulk = 2 * inboxSize

// bulkChange answers POST /staff/faelle/sammel: one action on the chosen
// cases, each changed in its own transaction at the version the list
// showed. A case someone changed meanwhile, or whose status does not
// allow the step, is skipped and counted, never overwritten.
func (s *Server) bulkChange(c *fiber.Ctx) error {
	// The way back is rebuilt from the filter it names, never echoed: a
	// posted value could carry another site or a line break.
	back := "/staff/"
	if u, err := url.Parse(c.FormValue("zurueck")); err == nil && u.Scheme == "" && u.Host == "" && u.Path == "/staff/" {
		back = readFilter(u.Query().Get).url()
	}
	kind, arg, _ := strings.Cut(c.FormValue("aktion"), ":")
	picked := c.Request().PostArgs().PeekMulti("fall")
	if (kind != "status" && kind != "assign") || len(picked) == 0 || len(picked) > maxBulk {
		return c.Redirect(withQuery(back, "fehler", "auswahl"), fiber.StatusSeeOther)
	}
	access := staffAccess(c)
	done, skipped := 0, 0
	for _, raw := range picked {
		idText, versionText, _ := strings.Cut(string(raw), ":")
		id, err1 := strconv.ParseInt(idText, 10, 64)
		version, err2 := strconv.Atoi(versionText)
		if err1 != nil || err2 != nil {
			skipped++
			continue
		}
		var err error
		if kind == "status" {
			err = s.inbox.Change(c.UserContext(), access, id, version, inbox.Transition{To: domain.Status(arg)})
		} else {
			to, _ := strconv.ParseInt(arg, 10, 64)
			err = s.inbox.Assign(c.UserContext(), access, id, version, to)
		}
		switch {
		case err == nil:
			done++
		case isUserFault(err):
			skipped++
		default:
			return err
		}
	}
	return c.Redirect(withQuery(back, "erledigt", strconv.Itoa(done), "uebersprungen", strconv.Itoa(skipped)), fiber.StatusSeeOther)
}

// withQuery adds parameters to a local URL.
func withQuery(u string, kv ...string) string {
	path, raw, _ := strings.Cut(u, "?")
	v, _ := url.ParseQuery(raw)
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return path + "?" + v.Encode()
}

// isUserFault reports whether err is about the case or the input (gone,
// changed meanwhile, not allowed) rather than a failure of the portal.
func isUserFault(err error) bool {
	switch fault.KindOf(err) {
	case fault.NotFound, fault.Conflict, fault.Invalid:
		return true
	}
	return false
}
