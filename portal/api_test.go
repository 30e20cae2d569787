package portal_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/gesundheitsamt/portal/internal/auth"
	"github.com/gesundheitsamt/portal/internal/store"
)

// openAPI checks responses against the portal's own OpenAPI document, as
// served at /api/v1/openapi.json.
type openAPI struct {
	doc      map[string]any
	compiler *jsonschema.Compiler
	mu       sync.Mutex
	schemas  map[string]*jsonschema.Schema
}

const openAPIURL = "https://portal.test/api/v1/openapi.json"

func loadOpenAPI(t testing.TB, h *harness) *openAPI {
	t.Helper()
	res, b := h.get("/api/v1/openapi.json")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("openapi.json: %d", res.StatusCode)
	}
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(b))
	if err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	m := doc.(map[string]any)
	if m["openapi"] != "3.1.0" {
		t.Fatalf("openapi version %v", m["openapi"])
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(openAPIURL, doc); err != nil {
		t.Fatal(err)
	}
	return &openAPI{doc: m, compiler: c, schemas: map[string]*jsonschema.Schema{}}
}

func pointerEscape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// check validates a response of method path (a concrete path under
// /api/v1) against the document: the path and method must be described,
// the status must be one of the operation's responses, and a JSON body
// must match its schema.
func (o *openAPI) check(t testing.TB, method, path string, status int, contentType string, body []byte) {
	t.Helper()
	path, _, _ = strings.Cut(strings.TrimPrefix(path, "/api/v1"), "?")
	paths := o.doc["paths"].(map[string]any)
	template := ""
	for tpl := range paths {
		if matchTemplate(tpl, path) {
			template = tpl
		}
	}
	var ptr string
	if template == "" {
		// No such path: the error must still be the documented Error.
		ptr = "#/components/schemas/Error"
	} else {
		op, ok := paths[template].(map[string]any)[strings.ToLower(method)].(map[string]any)
		if !ok {
			t.Errorf("%s %s: method not in the document", method, template)
			return
		}
		responses := op["responses"].(map[string]any)
		resp, ok := responses[strconv.Itoa(status)].(map[string]any)
		if !ok {
			t.Errorf("%s %s: status %d not in the document", method, template, status)
			return
		}
		base := "#/paths/" + pointerEscape(template) + "/" + strings.ToLower(method) + "/responses/" + strconv.Itoa(status)
		if ref, ok := resp["$ref"].(string); ok {
			base = ref
			name := strings.TrimPrefix(ref, "#/components/responses/")
			resp = o.doc["components"].(map[string]any)["responses"].(map[string]any)[name].(map[string]any)
		}
		content, _ := resp["content"].(map[string]any)
		if content == nil {
			if len(body) > 0 {
				t.Errorf("%s %s %d: a body where the document says none", method, template, status)
			}
			return
		}
		mediaType, _, _ := strings.Cut(contentType, ";")
		media, ok := content[mediaType].(map[string]any)
		if !ok {
			t.Errorf("%s %s %d: content type %q not in the document", method, template, status, contentType)
			return
		}
		if _, ok := media["schema"]; !ok {
			return // a file
		}
		ptr = base + "/content/" + pointerEscape(mediaType) + "/schema"
	}
	o.mu.Lock()
	sch, ok := o.schemas[ptr]
	if !ok {
		var err error
		if sch, err = o.compiler.Compile(openAPIURL + ptr); err != nil {
			o.mu.Unlock()
			t.Fatalf("compile %s: %v", ptr, err)
		}
		o.schemas[ptr] = sch
	}
	o.mu.Unlock()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Errorf("%s %s %d: body is not JSON: %v\n%s", method, path, status, err, body)
		return
	}
	if err := sch.Validate(inst); err != nil {
		t.Errorf("%s %s %d: response does not match the document: %v\n%s", method, path, status, err, body)
	}
}

func matchTemplate(tpl, path string) bool {
	a, b := strings.Split(tpl, "/"), strings.Split(path, "/")
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !strings.HasPrefix(a[i], "{") && a[i] != b[i] {
			return false
		}
	}
	return true
}

// apiClient is a Fachverfahren calling the API with one token; every
// response it gets is checked against the OpenAPI document.
type apiClient struct {
	t     testing.TB
	h     *harness
	spec  *openAPI
	token string
}

func (h *harness) apiToken(t testing.TB, spec *openAPI, slug string, scopes ...string) *apiClient {
	t.Helper()
	o, err := store.GetOfficeBySlug(context.Background(), h.db, slug)
	if err != nil {
		t.Fatal(err)
	}
	_, token, err := h.auth.AddToken(context.Background(), o.ID, "Fachverfahren "+slug, scopes)
	if err != nil {
		t.Fatal(err)
	}
	return &apiClient{t: t, h: h, spec: spec, token: token}
}

func (a *apiClient) do(method, path string, body any) (*http.Response, []byte) {
	a.t.Helper()
	var r io.Reader
	if body != nil {
		if s, ok := body.(string); ok {
			r = strings.NewReader(s)
		} else {
			b, _ := json.Marshal(body)
			r = bytes.NewReader(b)
		}
	}
	req := httptest.NewRequest(method, path, r)
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res := a.h.do(req)
	b, err := io.ReadAll(res.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	a.spec.check(a.t, method, path, res.StatusCode, res.Header.Get("Content-Type"), b)
	return res, b
}

func (a *apiClient) get(path string, into any) int {
	a.t.Helper()
	res, b := a.do(http.MethodGet, path, nil)
	if into != nil && res.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, into); err != nil {
			a.t.Fatalf("GET %s: %v", path, err)
		}
	}
	return res.StatusCode
}

type apiList struct {
	Data []struct {
		ID        int64  `json:"id"`
		Reference string `json:"reference"`
		Status    string `json:"status"`
		Version   int    `json:"version"`
	} `json:"data"`
	NextCursor *string `json:"next_cursor"`
}

func TestAPIListsPagesAndFilters(t *testing.T) {
	h := newHarness(t, nil)
	spec := loadOpenAPI(t, h)
	var ids []int64
	for range 3 {
		id, _ := h.submitGutachten(t, "leipzig")
		ids = append(ids, id)
	}
	h.submitGutachten(t, "halle")
	api := h.apiToken(t, spec, "leipzig", "submissions:read", "submissions:write")

	// Pages of one: newest first, every case once, then no cursor.
	var seen []int64
	path := "/api/v1/submissions?limit=1"
	for range 5 {
		var page apiList
		if got := api.get(path, &page); got != http.StatusOK {
			t.Fatalf("GET %s: %d", path, got)
		}
		for _, d := range page.Data {
			seen = append(seen, d.ID)
		}
		if page.NextCursor == nil {
			break
		}
		path = "/api/v1/submissions?limit=1&cursor=" + *page.NextCursor
	}
	if fmt.Sprint(seen) != fmt.Sprint([]int64{ids[2], ids[1], ids[0]}) {
		t.Errorf("pages: %v, want %v (newest first, no Halle case)", seen, ids)
	}

	// A change through the API, then the status filter finds it.
	res, b := api.do(http.MethodPost, fmt.Sprintf("/api/v1/submissions/%d/status", ids[1]), map[string]any{"status": "in_bearbeitung", "version": 1, "message": "Wir prüfen."})
	if res.StatusCode != http.StatusOK || !strings.Contains(string(b), `"version":2`) {
		t.Fatalf("status change: %d %s", res.StatusCode, b)
	}
	var page apiList
	api.get("/api/v1/submissions?status=in_bearbeitung", &page)
	if len(page.Data) != 1 || page.Data[0].ID != ids[1] {
		t.Errorf("status filter: %+v", page.Data)
	}
	api.get("/api/v1/submissions?order=oldest&assignee=none&received_from=2020-01-01T00:00:00Z", &page)
	if len(page.Data) != 3 || page.Data[0].ID != ids[0] {
		t.Errorf("oldest first: %+v", page.Data)
	}

	// Malformed filters are 400 and say which.
	for _, q := range []string{"limit=0", "limit=201", "status=offen", "cursor=abc", "received_from=gestern", "assignee=-1", "order=random"} {
		res, b := api.do(http.MethodGet, "/api/v1/submissions?"+q, nil)
		param, _, _ := strings.Cut(q, "=")
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), param) {
			t.Errorf("?%s: %d %s", q, res.StatusCode, b)
		}
	}
}

func TestAPISubmissionDetailWithholdsMedicalAnswers(t *testing.T) {
	h := newHarness(t, nil)
	spec := loadOpenAPI(t, h)
	id, _ := h.submitGutachtenWith(t, "leipzig", map[string]string{"medication": "Metformin <b>500</b>"})
	plain := h.apiToken(t, spec, "leipzig", "submissions:read", "attachments:read")
	medical := h.apiToken(t, spec, "leipzig", "submissions:read", "attachments:read", "medical:read")
	path := fmt.Sprintf("/api/v1/submissions/%d", id)

	var d struct {
		Reference   string         `json:"reference"`
		Answers     map[string]any `json:"answers"`
		Withheld    []string       `json:"withheld"`
		Attachments []struct {
			ID   int64  `json:"id"`
			Name string `json:"name"`
		} `json:"attachments"`
	}
	if got := plain.get(path, &d); got != http.StatusOK {
		t.Fatalf("GET %s: %d", path, got)
	}
	if _, ok := d.Answers["medication"]; ok || !strings.Contains(strings.Join(d.Withheld, ","), "medication") || d.Answers["family_name"] != "Ó Briain" {
		t.Errorf("without medical:read: %+v", d)
	}
	d.Answers = nil
	medical.get(path, &d)
	if d.Answers["medication"] != "Metformin <b>500</b>" || len(d.Withheld) != 0 {
		t.Errorf("with medical:read: %+v", d)
	}
	if len(d.Attachments) != 1 {
		t.Fatalf("attachments: %+v", d.Attachments)
	}
	res, b := plain.do(http.MethodGet, fmt.Sprintf("%s/attachments/%d", path, d.Attachments[0].ID), nil)
	if res.StatusCode != http.StatusOK || string(b) != minimalPDF || res.Header.Get("Content-Type") != "application/pdf" {
		t.Errorf("attachment: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	var events struct {
		Data []struct {
			Kind string `json:"kind"`
		} `json:"data"`
	}
	if got := plain.get(path+"/events", &events); got != http.StatusOK || len(events.Data) != 1 || events.Data[0].Kind != "eingegangen" {
		t.Errorf("events: %d %+v", got, events)
	}
	// Reads through the API are in the audit log, by token.
	var n int
	_ = h.db.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE actor LIKE 'token:%' AND action IN ('case.read', 'attachment.download')`).Scan(&n)
	if n != 4 {
		t.Errorf("%d audited API reads, want 4", n)
	}
}

func TestAPIStatusChanges(t *testing.T) {
	h := newHarness(t, nil)
	spec := loadOpenAPI(t, h)
	id, token := h.submitGutachten(t, "leipzig")
	api := h.apiToken(t, spec, "leipzig", "submissions:write", "submissions:read")
	path := fmt.Sprintf("/api/v1/submissions/%d/status", id)
	for _, tc := range []struct {
		body any
		want int
		says string
	}{
		{map[string]any{"status": "abgeschlossen", "version": 1}, http.StatusBadRequest, "nicht möglich"},
		{`{"status": "in_bearbeitung"`, http.StatusBadRequest, "body"},
		{map[string]any{"status": "in_bearbeitung", "version": 1, "extra": true}, http.StatusBadRequest, "body"},
		{map[string]any{"status": "in_bearbeitung", "version": 1}, http.StatusOK, `"status":"in_bearbeitung"`},
		{map[string]any{"status": "rueckfrage", "version": 1, "message": "Frage"}, http.StatusConflict, "geändert"},
		{map[string]any{"status": "rueckfrage", "version": 2}, http.StatusBadRequest, "Frage"},
		{map[string]any{"status": "rueckfrage", "version": 2, "message": "Bitte den Impfpass.", "request_files": true}, http.StatusOK, `"version":3`},
	} {
		res, b := api.do(http.MethodPost, path, tc.body)
		if res.StatusCode != tc.want || !strings.Contains(string(b), tc.says) {
			t.Errorf("%v: %d %s, want %d with %q", tc.body, res.StatusCode, b, tc.want, tc.says)
		}
	}
	// A token that may only write reads nothing back.
	writeOnly := h.apiToken(t, spec, "leipzig", "submissions:write")
	if res, b := writeOnly.do(http.MethodPost, path, map[string]any{"status": "rueckfrage", "version": 99, "message": "x"}); res.StatusCode != http.StatusConflict {
		t.Errorf("write-only, stale: %d %s", res.StatusCode, b)
	}

	// The citizen sees the question; the timeline names the token.
	_, b := h.citizen(t).get("/status/" + token)
	expectContains(t, b, "Bitte den Impfpass.", "Bitte senden Sie die erbetenen Unterlagen mit.")
	var events struct {
		Data []struct {
			Author string `json:"author"`
		} `json:"data"`
	}
	api.get(fmt.Sprintf("/api/v1/submissions/%d/events", id), &events)
	if len(events.Data) != 3 || events.Data[2].Author != "Fachverfahren leipzig" {
		t.Errorf("events: %+v", events.Data)
	}
}

// Another office's token, a missing scope or a bad token never reach a
// case: 404 for what belongs to another office, exactly as for what does
// not exist, and lists without it (every route under /api/ of the app,
// by its case in isolationCases); 401 and 403 for the token itself.
func TestAPITokensAreBoundToOfficeAndScopes(t *testing.T) {
	w := newIsolationWorld(t)
	h := w.h
	spec := loadOpenAPI(t, h)
	w.control(t, "/api/", apiSender(h.apiToken(t, spec, "leipzig", auth.Scopes...)))
	halle := h.apiToken(t, spec, "halle", auth.Scopes...)
	before := w.leipzigState(t)
	w.try(t, "/api/", apiSender(halle))

	readOnly := h.apiToken(t, spec, "leipzig", "submissions:read")
	none := &apiClient{t: t, h: h, spec: spec}
	wrong := &apiClient{t: t, h: h, spec: spec, token: "gap_" + strings.Repeat("A", 43)}
	c := fmt.Sprintf("/api/v1/submissions/%d", w.openCase)
	attachment := w.targets[0].vals["{file}"]
	for _, tc := range []struct {
		who          *apiClient
		method, path string
		body         any
		want         int
	}{
		{readOnly, http.MethodPost, c + "/status", map[string]any{"status": "in_bearbeitung", "version": 1}, 403},
		{readOnly, http.MethodGet, c + "/attachments/" + attachment, nil, 403},
		{none, http.MethodGet, "/api/v1/submissions", nil, 401},
		{wrong, http.MethodGet, "/api/v1/submissions", nil, 401},
		{wrong, http.MethodGet, c, nil, 401},
		{readOnly, http.MethodGet, "/api/v1/gibt-es-nicht", nil, 404},
	} {
		res, b := tc.who.do(tc.method, tc.path, tc.body)
		if res.StatusCode != tc.want {
			t.Errorf("%s %s: %d, want %d: %s", tc.method, tc.path, res.StatusCode, tc.want, b)
		}
		if bytes.Contains(b, []byte("LEJ-")) || bytes.Contains(b, []byte("Briain")) {
			t.Errorf("%s %s: the answer names the case: %s", tc.method, tc.path, b)
		}
		if res.StatusCode == 401 && !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s %s: 401 without a Bearer challenge", tc.method, tc.path)
		}
	}
	w.expectUnchanged(t, before)
}

// apiSender sends as the API client a, the body as JSON.
func apiSender(a *apiClient) sender {
	return func(method, path string, _ url.Values, body map[string]any) (*http.Response, string) {
		var payload any
		if body != nil {
			payload = body
		}
		res, b := a.do(method, path, payload)
		return res, string(b)
	}
}

// TestOpenAPIDescribesEveryAPIRoute: each route of the app under /api/v1
// is a path and method of the OpenAPI document, and the document
// describes no route the app does not have.
func TestOpenAPIDescribesEveryAPIRoute(t *testing.T) {
	h := newHarness(t, nil)
	spec := loadOpenAPI(t, h)
	paths := spec.doc["paths"].(map[string]any)
	// A route's path with its parameters as {}: "/submissions/{}".
	shape := func(path string) string {
		segments := strings.Split(path, "/")
		for i, s := range segments {
			if strings.HasPrefix(s, ":") || strings.HasPrefix(s, "{") {
				segments[i] = "{}"
			}
		}
		return strings.Join(segments, "/")
	}
	described := map[string]bool{}
	for tpl, item := range paths {
		for method := range item.(map[string]any) {
			described[strings.ToUpper(method)+" "+shape(tpl)] = true
		}
	}
	routes := map[string]bool{}
	for _, r := range h.srv.App().GetRoutes(true) {
		path, ok := strings.CutPrefix(r.Path, "/api/v1/")
		if !ok || r.Method == http.MethodHead || path == "openapi.json" {
			continue
		}
		k := r.Method + " " + shape("/"+path)
		routes[k] = true
		if !described[k] {
			t.Errorf("%s %s is not in api_openapi.json", r.Method, r.Path)
		}
	}
	for k := range described {
		if !routes[k] {
			t.Errorf("api_openapi.json describes %s, which the app does not have", k)
		}
	}
	if len(routes) < 8 {
		t.Fatalf("only %d API routes found", len(routes))
	}
}
