package portal_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/internal/audit"
	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/video"
)

// isolation is what keeping one office's data from another's staff and
// tokens means for a route.
type isolation int

const (
	// notFound: a route about one thing of an office (a case, its file,
	// an account) answers another office's thing 404, exactly as one that
	// does not exist.
	notFound isolation = iota + 1
	// showsNothing: a list, search or export answers, and nothing of
	// another office is in it.
	showsNothing
	// asForNothing: a route naming things by id in its form (the bulk
	// change) answers for another office's ids exactly as for ids that
	// exist nowhere, and changes nothing.
	asForNothing
	// ownOffice: a change of the caller's own office (its accounts, its
	// settings); another office's stay as they were.
	ownOffice
)

// isolationCase is how the matrix tries one route as an admin of Halle
// (under /api/: as a token of Halle with every scope) on Leipzig's data.
// In params (path parameter → value), form and body, "{case}", "{file}",
// "{account}", "{ref}" and "{appointment}" stand for Leipzig's case, its
// attachment, an account of Leipzig, the case's reference number and
// Leipzig's appointment, or, in the second run of a case that names
// them, for ids that exist nowhere; "{day}" is the appointment's day.
type isolationCase struct {
	want   isolation
	params map[string]string
	form   url.Values     // of a back-office post; of a GET, its query
	body   map[string]any // of an API post, as JSON
	status int            // what a route that is not notFound answers
	// shows is what the list shows Leipzig's own staff or token (with
	// placeholders, and "{closed}" for the case due for deletion): proof
	// that there is something for it to leave out.
	shows string
}

// isolationCases holds a case for every route under /staff/ and /api/ in
// the app's route table (routes.go) that is about an office's data, by
// "METHOD path" as fiber registered it. TestEveryRouteHasAnIsolationCase
// fails for a route without one.
var isolationCases = map[string]isolationCase{
	// The inbox and what works on many cases.
	"GET /staff/":               {want: showsNothing, status: 200, shows: "{ref}"},
	"POST /staff/suche":         {want: showsNothing, status: 200, form: url.Values{"q": {"{ref}"}}, shows: "/staff/faelle/{case}"},
	"POST /staff/export":        {want: showsNothing, status: 200, form: url.Values{"format": {"json"}}, shows: "{ref}"},
	"POST /staff/faelle/sammel": {want: asForNothing, status: 303, form: url.Values{"aktion": {"status:in_bearbeitung"}, "fall": {"{case}:1"}}},

	// One case.
	"GET /staff/faelle/:id":               {want: notFound, params: map[string]string{"id": "{case}"}},
	"GET /staff/faelle/:id/anlagen/:file": {want: notFound, params: map[string]string{"id": "{case}", "file": "{file}"}},
	"POST /staff/faelle/:id/status": {want: notFound, params: map[string]string{"id": "{case}"},
		form: url.Values{"version": {"1"}, "status": {"in_bearbeitung"}}},
	"POST /staff/faelle/:id/notiz": {want: notFound, params: map[string]string{"id": "{case}"}, form: url.Values{"notiz": {"Notiz"}}},
	"POST /staff/faelle/:id/zuweisung": {want: notFound, params: map[string]string{"id": "{case}"},
		form: url.Values{"version": {"1"}, "bearbeitung": {"0"}}},
	"POST /staff/faelle/:id/loeschsperre":          {want: notFound, params: map[string]string{"id": "{case}"}, form: url.Values{"grund": {"Klage"}}},
	"POST /staff/faelle/:id/loeschsperre/aufheben": {want: notFound, params: map[string]string{"id": "{case}"}},
	"POST /staff/faelle/:id/angebot":               {want: notFound, params: map[string]string{"id": "{case}"}, form: url.Values{"termin": {"1-1893456000"}}},
	"POST /staff/faelle/:id/angebot/zurueckziehen": {want: notFound, params: map[string]string{"id": "{case}"}},
	"POST /staff/faelle/:id/video": {want: notFound, params: map[string]string{"id": "{case}"},
		form: url.Values{"datum": {"2030-01-02"}, "uhrzeit": {"10:00"}, "dauer": {"20"}}},

	// Video consultations.
	"GET /staff/video":     {want: showsNothing, status: 200, shows: "/staff/video/{video}"},
	"GET /staff/video/:id": {want: notFound, params: map[string]string{"id": "{video}"}},
	// Without an upgrade the call's socket is refused before anything is
	// looked up; TestCallSocketsRefuse tries it upgraded as Halle.
	"GET /staff/video/:id/ws": {want: asForNothing, status: 426, params: map[string]string{"id": "{video}"}},
	"POST /staff/video/:id/verschieben": {want: notFound, params: map[string]string{"id": "{video}"},
		form: url.Values{"datum": {"2030-01-02"}, "uhrzeit": {"10:00"}, "dauer": {"20"}}},
	"POST /staff/video/:id/erneut-senden": {want: notFound, params: map[string]string{"id": "{video}"}},
	"POST /staff/video/:id/absagen":       {want: notFound, params: map[string]string{"id": "{video}"}},
	"POST /staff/video/:id/gast":          {want: notFound, params: map[string]string{"id": "{video}"}, form: url.Values{"name": {"Gast"}}},

	// Appointments: the day (and with ?woche= the week), one appointment,
	// its check-in and the office's cancellation.
	"GET /staff/termine":     {want: showsNothing, status: 200, form: url.Values{"tag": {"{day}"}}, shows: "/staff/termine/{appointment}"},
	"GET /staff/termine/:id": {want: notFound, params: map[string]string{"id": "{appointment}"}},
	"GET /staff/termine/neu": {want: notFound, form: url.Values{"kalender": {"{calendar}"}, "beginn": {"1900000000"}}},
	"POST /staff/termine/neu": {want: notFound, form: url.Values{"kalender": {"{calendar}"}, "beginn": {"1900000000"},
		"leistung": {"belehrung-infektionsschutz"}, "name": {"Halle"}}},
	"GET /staff/termine/absagen":  {want: showsNothing, status: 200, form: url.Values{"tag": {"{day}"}}, shows: "Briain"},
	"POST /staff/termine/absagen": {want: ownOffice, status: 303, form: url.Values{"tag": {"{day}"}, "grund": {"Halle"}}},
	"POST /staff/termine/:id/anwesenheit": {want: notFound, params: map[string]string{"id": "{appointment}"},
		form: url.Values{"erschienen": {"ja"}}},
	"POST /staff/termine/:id/absagen": {want: notFound, params: map[string]string{"id": "{appointment}"}, form: url.Values{"grund": {"Halle"}}},

	// The office's administration.
	"GET /staff/verwaltung": {want: showsNothing, status: 200, shows: "sb@leipzig.test"},
	"POST /staff/verwaltung/konten": {want: ownOffice, status: 200,
		form: url.Values{"email": {"neu@halle.test"}, "name": {"Nora Neu"}, "role": {"caseworker"}}},
	"POST /staff/verwaltung/konten/:id/passwort":       {want: notFound, params: map[string]string{"id": "{account}"}},
	"POST /staff/verwaltung/konten/:id/zweiter-faktor": {want: notFound, params: map[string]string{"id": "{account}"}},
	"POST /staff/verwaltung/konten/:id/sperre": {want: notFound, params: map[string]string{"id": "{account}"},
		form: url.Values{"sperren": {"1"}}},
	"POST /staff/verwaltung/konten/:id/zweiter-faktor-pflicht": {want: notFound, params: map[string]string{"id": "{account}"},
		form: url.Values{"pflicht": {"0"}}},
	"GET /staff/verwaltung/protokoll":    {want: showsNothing, status: 200, shows: "submission:{case}"},
	"GET /staff/verwaltung/mail":         {want: showsNothing, status: 200, shows: "Postfach in Leipzig"},
	"POST /staff/verwaltung/mail":        {want: ownOffice, status: 303, form: url.Values{"notify": {"daily"}}},
	"GET /staff/verwaltung/aufbewahrung": {want: showsNothing, status: 200, shows: "7 Jahre und 5 Monate"},
	"POST /staff/verwaltung/aufbewahrung": {want: ownOffice, status: 303,
		form: url.Values{"leistung": {"reiseimpfberatung"}, "frist": {"3"}, "einheit": {"jahre"}}},
	"GET /staff/verwaltung/kalender":       {want: showsNothing, status: 200, shows: "Kalender nur in Leipzig"},
	"GET /staff/verwaltung/kalender/:slug": {want: notFound, params: map[string]string{"slug": "{calendar}"}},
	"POST /staff/verwaltung/kalender/:slug/woche": {want: notFound, params: map[string]string{"slug": "{calendar}"},
		form: url.Values{"von-1-1": {"08:00"}, "bis-1-1": {"09:00"}, "plaetze-1-1": {"1"}}},
	"POST /staff/verwaltung/kalender/:slug/zeiten": {want: notFound, params: map[string]string{"slug": "{calendar}"},
		form: url.Values{"dauer": {"30"}, "puffer": {"0"}, "vorlauf": {"2"}, "horizont": {"30"}}},
	"POST /staff/verwaltung/kalender/:slug/schliessung": {want: notFound, params: map[string]string{"slug": "{calendar}"},
		form: url.Values{"von": {"2030-01-02"}, "grund": {"Halle"}}},
	"POST /staff/verwaltung/kalender/:slug/schliessung/:id/entfernen": {want: notFound, params: map[string]string{"slug": "{calendar}", "id": "{closure}"}},
	"GET /staff/verwaltung/loeschung":                                 {want: showsNothing, status: 200, shows: "{closed}"},
	"POST /staff/verwaltung/loeschung/export":                         {want: showsNothing, status: 200, form: url.Values{"format": {"csv"}}, shows: "{closed}"},

	// The API.
	"GET /api/v1/submissions":                       {want: showsNothing, status: 200, shows: "{ref}"},
	"GET /api/v1/submissions/:id":                   {want: notFound, params: map[string]string{"id": "{case}"}},
	"GET /api/v1/submissions/:id/events":            {want: notFound, params: map[string]string{"id": "{case}"}},
	"GET /api/v1/submissions/:id/attachments/:file": {want: notFound, params: map[string]string{"id": "{case}", "file": "{file}"}},
	"POST /api/v1/submissions/:id/status": {want: notFound, params: map[string]string{"id": "{case}"},
		body: map[string]any{"status": "in_bearbeitung", "version": 1}},
	"GET /api/v1/appointments":     {want: showsNothing, status: 200, form: url.Values{"from": {"{day}"}}, shows: `"id":{appointment},`},
	"GET /api/v1/appointments/:id": {want: notFound, params: map[string]string{"id": "{appointment}"}},
	"POST /api/v1/appointments/:id/cancel": {want: notFound, params: map[string]string{"id": "{appointment}"},
		body: map[string]any{"reason": "Halle"}},
}

// notOfficeData are the routes under /staff/ and /api/ that read or
// change no office's data, each with why.
var notOfficeData = map[string]string{
	"GET /staff/login":             "the login form: nobody is signed in yet",
	"POST /staff/login":            "checks one's own password",
	"GET /staff/login/code":        "the second step of one's own login",
	"POST /staff/login/code":       "checks one's own second factor",
	"GET /staff/login/einrichten":  "enrols one's own second factor",
	"POST /staff/login/einrichten": "enrols one's own second factor",
	"POST /staff/logout":           "ends one's own session",
	"POST /staff/logout/ueberall":  "ends one's own account's sessions",
	"GET /staff/passwort":          "the form for one's own password",
	"POST /staff/passwort":         "changes one's own password",
	"GET /api/v1/openapi.json":     "the public description of the API",
}

// officeRoutes are the routes of the app under /staff/ and /api/, by
// "METHOD path"; the HEAD routes fiber adds for every GET are left out.
func officeRoutes(h *harness) map[string]fiber.Route {
	routes := map[string]fiber.Route{}
	for _, r := range h.srv.App().GetRoutes(true) {
		if r.Method == http.MethodHead {
			continue
		}
		if r.Path == "/staff" || strings.HasPrefix(r.Path, "/staff/") || strings.HasPrefix(r.Path, "/api/") {
			routes[r.Method+" "+r.Path] = r
		}
	}
	return routes
}

// TestEveryRouteHasAnIsolationCase: each route under /staff/ and /api/ of
// the app's own route table is tried by the isolation matrix or named as
// not about office data; the tables name no route the app does not have.
func TestEveryRouteHasAnIsolationCase(t *testing.T) {
	routes := officeRoutes(newHarness(t, nil))
	keys := make([]string, 0, len(routes))
	for k := range routes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		_, tried := isolationCases[k]
		_, exempt := notOfficeData[k]
		switch {
		case tried && exempt:
			t.Errorf("%s is both in isolationCases and in notOfficeData", k)
		case !tried && !exempt:
			t.Errorf("%s has no isolation case: add one to isolationCases (isolation_test.go), or to notOfficeData with the reason it touches no office's data", k)
		}
		if c, ok := isolationCases[k]; ok {
			for _, p := range routes[k].Params {
				if _, ok := c.params[p]; !ok {
					t.Errorf("%s: the isolation case does not fill :%s", k, p)
				}
			}
		}
	}
	for k := range isolationCases {
		if _, ok := routes[k]; !ok {
			t.Errorf("%s has an isolation case but is not a route of the app", k)
		}
	}
	for k := range notOfficeData {
		if _, ok := routes[k]; !ok {
			t.Errorf("%s is in notOfficeData but not a route of the app", k)
		}
	}
	t.Logf("%d routes under /staff/ and /api/: %d with an isolation case, %d not about office data",
		len(routes), len(isolationCases), len(notOfficeData))
}

// target is what the placeholders of a case stand for.
type target struct {
	name string
	vals map[string]string
}

func (tg target) replace(s string) string {
	for k, v := range tg.vals {
		s = strings.ReplaceAll(s, k, v)
	}
	return s
}

// names reports whether the case uses a placeholder, so that trying it on
// ids that exist nowhere asks something else.
func (c isolationCase) names() bool {
	if len(c.params) > 0 {
		return true
	}
	for _, vs := range c.form {
		for _, v := range vs {
			if strings.Contains(v, "{") {
				return true
			}
		}
	}
	for _, v := range c.body {
		if s, ok := v.(string); ok && strings.Contains(s, "{") {
			return true
		}
	}
	return false
}

// request fills route's parameters, the form and the body for tg.
func (c isolationCase) request(route fiber.Route, tg target) (path string, form url.Values, body map[string]any, err error) {
	segments := strings.Split(route.Path, "/")
	for i, s := range segments {
		if strings.HasPrefix(s, ":") {
			v, ok := c.params[s[1:]]
			if !ok {
				return "", nil, nil, fmt.Errorf("%s %s: no value for %s", route.Method, route.Path, s)
			}
			segments[i] = tg.replace(v)
		}
	}
	form = url.Values{}
	for k, vs := range c.form {
		for _, v := range vs {
			form.Add(k, tg.replace(v))
		}
	}
	if route.Method == http.MethodGet && len(form) > 0 {
		return strings.Join(segments, "/") + "?" + form.Encode(), nil, nil, nil
	}
	if c.body != nil {
		body = map[string]any{}
		for k, v := range c.body {
			if s, ok := v.(string); ok {
				v = tg.replace(s)
			}
			body[k] = v
		}
	}
	return strings.Join(segments, "/"), form, body, nil
}

// isolationWorld is an app with data at Leipzig that Halle must never see
// or change: an open case with a file, a closed one due for deletion, an
// account, an audit entry, a refused mail and an own retention period.
type isolationWorld struct {
	h        *harness
	leipzig  int64
	routes   map[string]fiber.Route
	targets  []target // Leipzig's, then ids that exist nowhere
	ref      string   // of the open case, which a search repeats
	markers  []string // what no answer to Halle may contain
	openCase int64
	objects  []string // audit objects of Leipzig's data
}

func newIsolationWorld(t *testing.T) *isolationWorld {
	t.Helper()
	ctx := context.Background()
	h := newHarness(t, nil)
	w := &isolationWorld{h: h, routes: officeRoutes(h)}
	o, err := store.GetOfficeBySlug(ctx, h.db, "leipzig")
	if err != nil {
		t.Fatal(err)
	}
	w.leipzig = o.ID
	open, _ := h.submitGutachten(t, "leipzig")
	closed, _ := h.submitGutachten(t, "leipzig")
	h.closeCase(t, "leipzig", closed, time.Now().AddDate(-10, 0, 10)) // due in ten days: on the deletion list
	w.openCase = open
	var file int64
	var closedRef string
	if err := h.db.QueryRow(ctx, `SELECT a.id, s.reference, (SELECT reference FROM submission WHERE id = $2)
		FROM attachment a JOIN submission s ON s.id = a.submission_id WHERE s.id = $1`, open, closed).Scan(&file, &w.ref, &closedRef); err != nil {
		t.Fatal(err)
	}
	h.addStaff(t, "leipzig", "sb@leipzig.test", "caseworker", testTOTP)
	account := staffID(t, h, "sb@leipzig.test")
	if err := audit.AppendNow(ctx, h.db, audit.Entry{OfficeID: o.ID, Actor: domain.StaffMember(account), Action: domain.CaseRead, Object: domain.CaseObject(open)}); err != nil {
		t.Fatal(err)
	}
	if err := store.InsertMailRefusal(ctx, h.db, store.MailRefusal{OfficeID: o.ID, SubmissionID: open, Template: "receipt",
		Recipient: "zoe@example.org", Answer: "550 Postfach in Leipzig voll"}); err != nil {
		t.Fatal(err)
	}
	if err := h.cases.SetPeriod(ctx, o.ID, domain.StaffMember(account), "reiseimpfberatung", 89); err != nil {
		t.Fatal(err)
	}
	// A consultation about the open case, starting within the hour: the
	// office's list shows it today.
	planned, err := h.app.Video.Plan(ctx, video.Access{OfficeID: o.ID, StaffID: account, Role: domain.Caseworker}, open, time.Now().Add(time.Hour), 20)
	if err != nil {
		t.Fatal(err)
	}
	consultation := planned.Consultation.ID
	// An appointment at Leipzig, by someone whose name and address no
	// answer to Halle may show.
	appointment := h.appointment(t, "leipzig", "vor-ort", "belehrung-infektionsschutz", store.BookingContact{Name: "Siobhán Ó Briain", Email: "patientin@leipzig.test"})
	day := appointment.Start.In(h.app.Location).Format(time.DateOnly)
	// A calendar only Leipzig has, closed one day.
	calendar, err := store.UpsertCalendar(ctx, h.db, store.Calendar{OfficeID: o.ID, Slug: "nur-leipzig", Name: "Kalender nur in Leipzig", Kind: store.CalendarOnsite,
		Slot: 20 * time.Minute, Horizon: 30 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	closedDay := time.Now().AddDate(0, 0, 7).UTC().Truncate(24 * time.Hour)
	if err := store.AddClosure(ctx, h.db, o.ID, calendar, store.Closure{FirstDay: closedDay, LastDay: closedDay, Reason: "Schließung nur in Leipzig"}); err != nil {
		t.Fatal(err)
	}
	var closure int64
	if err := h.db.QueryRow(ctx, `SELECT id FROM calendar_closure WHERE calendar_id = $1`, calendar).Scan(&closure); err != nil {
		t.Fatal(err)
	}
	w.markers = []string{w.ref, closedRef, "Briain", "zoe@example.org", "@leipzig.test", "Postfach in Leipzig", "7 Jahre und 5 Monate", "nur in Leipzig",
		string(domain.CaseObject(open)), string(domain.CaseObject(closed))}
	w.objects = []string{string(domain.CaseObject(open)), string(domain.CaseObject(closed)), string(domain.AttachmentObject(file)),
		string(domain.StaffObject(account)), string(domain.VideoObject(consultation)), string(domain.AppointmentObject(appointment.ID)), string(domain.CalendarObject(calendar))}
	w.targets = []target{
		{"Leipzig's data", map[string]string{"{case}": fmt.Sprint(open), "{file}": fmt.Sprint(file), "{account}": fmt.Sprint(account), "{ref}": w.ref,
			"{closed}": closedRef, "{video}": fmt.Sprint(consultation), "{appointment}": fmt.Sprint(appointment.ID), "{day}": day,
			"{calendar}": "nur-leipzig", "{closure}": fmt.Sprint(closure)}},
		{"ids that exist nowhere", map[string]string{"{case}": "99999999", "{file}": "99999999", "{account}": "99999999", "{ref}": "LEJ-0000-0000",
			"{closed}": "99999999", "{video}": "99999999", "{appointment}": "99999999", "{day}": day,
			"{calendar}": "gibt-es-nicht", "{closure}": "99999999"}},
	}
	return w
}

// sender makes one request as one caller (a staff session, a token) and
// returns its answer.
type sender func(method, path string, form url.Values, body map[string]any) (*http.Response, string)

// casesUnder are the keys of the cases of routes under prefix, sorted.
func casesUnder(t *testing.T, prefix string) []string {
	t.Helper()
	var keys []string
	for k := range isolationCases {
		if _, path, _ := strings.Cut(k, " "); strings.HasPrefix(path, prefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	if len(keys) == 0 {
		t.Fatalf("no isolation case under %s", prefix)
	}
	return keys
}

// control sends the reads under prefix as Leipzig's own staff or token
// (send): each list shows what it must leave out for Halle, and a read of
// one of Leipzig's things answers 200. Without it, a list showing nothing
// to Halle would prove nothing.
func (w *isolationWorld) control(t *testing.T, prefix string, send sender) {
	t.Helper()
	own := w.targets[0]
	for _, k := range casesUnder(t, prefix) {
		c, route := isolationCases[k], w.routes[k]
		if c.shows == "" && (c.want != notFound || route.Method != http.MethodGet) {
			continue // a change, tried only by Halle
		}
		path, form, body, err := c.request(route, own)
		if err != nil {
			t.Fatal(err)
		}
		res, b := send(route.Method, path, form, body)
		want := c.status
		if want == 0 {
			want = http.StatusOK
		}
		if res.StatusCode != want {
			t.Errorf("%s %s as Leipzig: %d, want %d\n%s", route.Method, path, res.StatusCode, want, excerpt(b))
		}
		if shows := own.replace(c.shows); !strings.Contains(strings.ReplaceAll(b, `value="`+w.ref+`"`, ""), shows) {
			t.Errorf("%s %s as Leipzig does not show %q: the case proves nothing for Halle\n%s", route.Method, path, shows, excerpt(b))
		}
	}
}

// try runs every case of a route under prefix as Halle through send: the
// answer names nothing of Leipzig, a notFound route answers 404, the
// others their status, and a case naming Leipzig's ids answers as for
// ids that exist nowhere.
func (w *isolationWorld) try(t *testing.T, prefix string, send sender) {
	t.Helper()
	for _, k := range casesUnder(t, prefix) {
		c := isolationCases[k]
		route, ok := w.routes[k]
		if !ok {
			t.Errorf("%s: not a route of the app", k)
			continue
		}
		type answer struct {
			status   int
			location string
		}
		var answers []answer
		for _, tg := range w.targets {
			if tg.name != w.targets[0].name && !c.names() {
				break
			}
			path, form, body, err := c.request(route, tg)
			if err != nil {
				t.Fatal(err)
			}
			res, b := send(route.Method, path, form, body)
			answers = append(answers, answer{res.StatusCode, res.Header.Get("Location")})
			// A search page repeats what was searched; nothing else may name Leipzig's data.
			seen := strings.ReplaceAll(b, `value="`+w.ref+`"`, "") + "\n" + res.Header.Get("Location")
			for _, m := range w.markers {
				if strings.Contains(seen, m) {
					t.Errorf("%s %s (%s): the answer shows Leipzig's %q\n%s", route.Method, path, tg.name, m, excerpt(b))
				}
			}
			want := c.status
			if c.want == notFound {
				want = http.StatusNotFound
			}
			if res.StatusCode != want {
				t.Errorf("%s %s (%s): %d, want %d\n%s", route.Method, path, tg.name, res.StatusCode, want, excerpt(b))
			}
		}
		if len(answers) == 2 && answers[0] != answers[1] {
			t.Errorf("%s: Leipzig's ids answer %+v, ids that exist nowhere %+v", k, answers[0], answers[1])
		}
	}
}

// leipzigState is, by part, everything of Leipzig's that a request of
// Halle could change, as text.
func (w *isolationWorld) leipzigState(t *testing.T) map[string]string {
	t.Helper()
	state := map[string]string{}
	for part, query := range map[string]string{
		"cases":     `SELECT string_agg(x::text, ',' ORDER BY x.id) FROM submission x WHERE office_id = $1`,
		"events":    `SELECT string_agg(x::text, ',' ORDER BY x.id) FROM case_event x WHERE office_id = $1`,
		"accounts":  `SELECT string_agg(x::text, ',' ORDER BY x.id) FROM staff x WHERE office_id = $1`,
		"sessions":  `SELECT count(*)::text FROM staff_session WHERE office_id = $1`,
		"office":    `SELECT x::text FROM office x WHERE id = $1`,
		"retention": `SELECT string_agg(x::text, ',' ORDER BY x.service_slug) FROM office_retention x WHERE office_id = $1`,
		"refusals":  `SELECT string_agg(x::text, ',' ORDER BY x.id) FROM mail_refusal x WHERE office_id = $1`,
		"video":     `SELECT string_agg(x::text, ',' ORDER BY x.id) FROM video_consultation x WHERE office_id = $1`,
		"links":     `SELECT string_agg(x::text, ',' ORDER BY x.id) FROM video_link x WHERE office_id = $1`,
		"bookings":  `SELECT string_agg(x::text, ',' ORDER BY x.id) FROM booking x WHERE office_id = $1`,
		"calendars": `SELECT string_agg(x::text, ',' ORDER BY x.id) FROM calendar x WHERE office_id = $1`,
		"rules":     `SELECT string_agg(x::text, ',' ORDER BY x.id) FROM calendar_rule x JOIN calendar c ON c.id = x.calendar_id WHERE c.office_id = $1`,
		"closures":  `SELECT string_agg(x::text, ',' ORDER BY x.id) FROM calendar_closure x JOIN calendar c ON c.id = x.calendar_id WHERE c.office_id = $1`,
		"audit":     `SELECT count(*)::text FROM audit_log WHERE office_id = $1 OR object = ANY($2)`,
	} {
		var s *string
		args := []any{w.leipzig}
		if strings.Contains(query, "$2") {
			args = append(args, w.objects)
		}
		if err := w.h.db.QueryRow(context.Background(), query, args...).Scan(&s); err != nil {
			t.Fatalf("%s: %v", part, err)
		}
		if s != nil {
			state[part] = *s
		}
	}
	return state
}

func (w *isolationWorld) expectUnchanged(t *testing.T, before map[string]string) {
	t.Helper()
	after := w.leipzigState(t)
	for part := range before {
		if before[part] != after[part] {
			t.Errorf("Halle changed Leipzig's %s:\nbefore %s\nafter  %s", part, before[part], after[part])
		}
	}
}

// TestStaffIsolationMatrix: an admin of Halle tries every back-office
// route of the app on Leipzig's data. Routes about one case or account
// answer 404, exactly as for one that does not exist; lists, searches
// and exports show nothing of Leipzig; changes reach only Halle's own
// settings; and Leipzig's data are unchanged afterwards.
func TestStaffIsolationMatrix(t *testing.T) {
	w := newIsolationWorld(t)
	as := func(c *citizen) sender {
		c.get("/staff/")
		return func(method, path string, form url.Values, _ map[string]any) (*http.Response, string) {
			if method == http.MethodGet {
				return c.get(path)
			}
			return c.post(path, form)
		}
	}
	w.control(t, "/staff/", as(w.h.logIn(t, "admin@leipzig.test", w.h.addStaff(t, "leipzig", "admin@leipzig.test", "admin", testTOTP))))
	halle := as(w.h.logIn(t, "admin@halle.test", w.h.addStaff(t, "halle", "admin@halle.test", "admin", testTOTP)))
	before := w.leipzigState(t)
	w.try(t, "/staff/", halle)
	w.expectUnchanged(t, before)
}

// TestStaffPostsNeedTheCSRFToken: every post of the app under /staff/
// refuses a request without a valid token, and changes nothing.
func TestStaffPostsNeedTheCSRFToken(t *testing.T) {
	h := newHarness(t, nil)
	id, _ := h.submitGutachten(t, "leipzig")
	worker := h.logIn(t, "sb@leipzig.test", h.addStaff(t, "leipzig", "sb@leipzig.test", "caseworker", testTOTP))
	worker.get("/staff/")
	own := target{"own", map[string]string{"{case}": fmt.Sprint(id), "{file}": "1", "{account}": fmt.Sprint(staffID(t, h, "sb@leipzig.test")), "{ref}": "x"}}
	posts := 0
	for k, r := range officeRoutes(h) {
		if r.Method != http.MethodPost || strings.HasPrefix(r.Path, "/api/") {
			continue
		}
		posts++
		path, form, _, err := isolationCases[k].request(r, own)
		if err != nil {
			t.Fatal(err)
		}
		for _, token := range []string{"", "forged"} {
			form.Set("_csrf", token)
			if token == "" {
				form.Set("_csrf", "-") // the helper fills an empty token in; "-" is as good as none
			}
			res, b := worker.post(path, form)
			if res.StatusCode != http.StatusForbidden {
				t.Errorf("POST %s with token %q: %d, want 403\n%s", path, token, res.StatusCode, excerpt(b))
			}
		}
	}
	if posts < 10 {
		t.Fatalf("only %d posts under /staff/ in the app's routes", posts)
	}
	var version, events int
	_ = h.db.QueryRow(context.Background(), `SELECT version, (SELECT count(*) FROM case_event WHERE submission_id = $1) FROM submission WHERE id = $1`, id).Scan(&version, &events)
	if version != 1 || events != 1 {
		t.Errorf("a post without token changed the case: version %d, %d events", version, events)
	}
	if res, _ := worker.get("/staff/"); res.StatusCode != http.StatusOK {
		t.Errorf("a logout without token ended the session: %d", res.StatusCode)
	}
}

// TestAnswersAreEscapedEverywhereStaffReadThem puts markup into answers of
// every kind a form has and checks each place staff see them.
func TestAnswersAreEscapedEverywhereStaffReadThem(t *testing.T) {
	h := newHarness(t, nil)
	payload := `"><img src=x onerror=alert(1)><script>alert(2)</script>`
	id, token := h.submitGutachtenWith(t, "leipzig", map[string]string{"authority": payload, "file_number": "P-" + payload[:10], "medication": payload})
	doctor := h.logIn(t, "arzt@leipzig.test", h.addStaff(t, "leipzig", "arzt@leipzig.test", "physician", testTOTP))
	casePath := fmt.Sprintf("/staff/faelle/%d", id)
	doctor.get(casePath)
	doctor.post(casePath+"/notiz", url.Values{"notiz": {payload}})
	doctor.get(casePath)
	doctor.post(casePath+"/status", url.Values{"version": {"1"}, "status": {"in_bearbeitung"}, "message": {payload}})
	pages := map[string]string{}
	_, pages["inbox"] = doctor.get("/staff/")
	_, pages["search"] = doctor.post("/staff/suche", url.Values{"q": {"alert"}})
	_, pages["case"] = doctor.get(casePath)
	_, pages["status page"] = h.citizen(t).get("/status/" + token)
	for name, b := range pages {
		if strings.Contains(b, "<script>alert") || strings.Contains(b, "<img src=x") {
			t.Errorf("%s: markup from an answer is live", name)
		}
	}
	expectContains(t, pages["case"], "&lt;script&gt;alert(2)&lt;/script&gt;")
	res, b := doctor.post("/staff/export", url.Values{"format": {"csv"}})
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") || res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("export served as %q without nosniff: a browser might render it", ct)
	}
	_ = b
}
