package portal

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/internal/auth"
	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/inbox"
	"github.com/gesundheitsamt/portal/internal/store"
)

// The API's representations (api_openapi.json describes them).
type (
	apiStaff struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	}
	apiSubmission struct {
		ID          int64         `json:"id"`
		Reference   string        `json:"reference"`
		Service     string        `json:"service"`
		Status      domain.Status `json:"status"`
		SubmittedAt time.Time     `json:"submitted_at"`
		UpdatedAt   time.Time     `json:"updated_at"`
		Applicant   string        `json:"applicant"`
		Assignee    *apiStaff     `json:"assignee"`
		Unread      bool          `json:"unread"`
		Version     int           `json:"version"`
	}
	apiSubmissionList struct {
		Data       []apiSubmission `json:"data"`
		NextCursor *string         `json:"next_cursor"`
	}
	apiForm struct {
		ID      string `json:"id"`
		Version int    `json:"version"`
		Hash    string `json:"hash"`
	}
	apiAttachment struct {
		ID        int64  `json:"id"`
		Field     string `json:"field"`
		Name      string `json:"name"`
		MediaType string `json:"media_type"`
		Size      int64  `json:"size"`
		SHA256    string `json:"sha256"`
		Withheld  bool   `json:"withheld"`
	}
	apiSubmissionDetail struct {
		apiSubmission
		Form        apiForm         `json:"form"`
		Locale      string          `json:"locale"`
		Answers     map[string]any  `json:"answers"`
		Withheld    []string        `json:"withheld"`
		Attachments []apiAttachment `json:"attachments"`
	}
	apiEvent struct {
		ID           int64         `json:"id"`
		Kind         string        `json:"kind"`
		Status       domain.Status `json:"status"`
		Message      string        `json:"message"`
		At           time.Time     `json:"at"`
		Internal     bool          `json:"internal"`
		RequestFiles bool          `json:"request_files,omitempty"`
		Author       string        `json:"author"`
		Confidential bool          `json:"confidential,omitempty"` // its message is withheld without medical:read
	}
	apiEventList struct {
		Data []apiEvent `json:"data"`
	}
	apiStatusChange struct {
		Status       string `json:"status"`
		Version      int    `json:"version"`
		Message      string `json:"message"`
		RequestFiles bool   `json:"request_files"`
	}
)

// apiBadRequest is a 400 whose message says what is wrong with the request.
func apiBadRequest(what string) error {
	return fiber.NewError(fiber.StatusBadRequest, what)
}

const (
	apiDefaultLimit = 50
	apiMaxLimit     = 200
)

// apiFilter reads the list filters of GET /api/v1/submissions. Unlike the
// inbox, the API says when a filter is malformed instead of showing
// nothing.
func apiFilter(c *fiber.Ctx, officeID int64) (store.CaseFilter, error) {
	f := store.CaseFilter{OfficeID: officeID, Limit: apiDefaultLimit}
	if v := c.Query("status"); v != "" {
		st, ok := domain.ParseStatus(v)
		if !ok {
			return f, apiBadRequest("status")
		}
		f.Status = st
	}
	f.Service = c.Query("service")
	switch v := c.Query("assignee"); v {
	case "":
	case "none":
		f.Assignee = store.AssigneeNone
	default:
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			return f, apiBadRequest("assignee")
		}
		f.Assignee = id
	}
	for key, dst := range map[string]*time.Time{"received_from": &f.From, "received_to": &f.To} {
		if v := c.Query(key); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return f, apiBadRequest(key)
			}
			*dst = t
		}
	}
	switch c.Query("order") {
	case "", "newest":
	case "oldest":
		f.Oldest = true
	default:
		return f, apiBadRequest("order")
	}
	if v := c.Query("cursor"); v != "" {
		if f.After = decodeCursor(v); f.After.IsZero() {
			return f, apiBadRequest("cursor")
		}
	}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > apiMaxLimit {
			return f, apiBadRequest("limit")
		}
		f.Limit = n
	}
	return f, nil
}

func apiSubmissionOf(r store.CaseRow) apiSubmission {
	out := apiSubmission{
		ID: r.ID, Reference: r.Reference, Service: r.ServiceSlug, Status: r.Status, SubmittedAt: r.SubmittedAt,
		UpdatedAt: r.UpdatedAt, Applicant: r.Applicant, Unread: r.Unread, Version: r.Version,
	}
	if r.AssigneeID != 0 {
		out.Assignee = &apiStaff{ID: r.AssigneeID, Name: r.AssigneeName}
	}
	return out
}

// apiListSubmissions answers GET /api/v1/submissions.
func (s *Server) apiListSubmissions(c *fiber.Ctx) error {
	t := tokenOf(c)
	f, err := apiFilter(c, t.OfficeID)
	if err != nil {
		return err
	}
	limit := f.Limit
	f.Limit++
	rows, err := s.inbox.List(c.UserContext(), tokenAccess(c), f)
	if err != nil {
		return err
	}
	out := apiSubmissionList{Data: make([]apiSubmission, 0, min(len(rows), limit))}
	if len(rows) > limit {
		rows = rows[:limit]
		last := rows[limit-1]
		cur := encodeCursor(store.Cursor{At: last.SubmittedAt, ID: last.ID})
		out.NextCursor = &cur
	}
	for _, r := range rows {
		out.Data = append(out.Data, apiSubmissionOf(r))
	}
	return c.JSON(out)
}

// apiCase opens the path's submission for the token (inbox.Open).
// Another office's submission is 404, like one that does not exist.
func (s *Server) apiCase(c *fiber.Ctx) (*inbox.Case, error) {
	id, err := caseID(c)
	if err != nil {
		return nil, err
	}
	return s.inbox.Open(c.UserContext(), tokenAccess(c), id)
}

// apiGetSubmission answers GET /api/v1/submissions/:id.
func (s *Server) apiGetSubmission(c *fiber.Ctx) error {
	k, err := s.apiCase(c)
	if err != nil {
		return err
	}
	sub := k.Submission
	row, err := s.inbox.Row(c.UserContext(), sub)
	if err != nil {
		return err
	}
	answers, withheld := k.Record()
	out := apiSubmissionDetail{
		apiSubmission: apiSubmissionOf(row),
		Form:          apiForm{ID: sub.FormID, Version: sub.FormVersion, Hash: sub.FormHash},
		Locale:        sub.Locale, Answers: answers, Withheld: withheld, Attachments: []apiAttachment{},
	}
	if out.Withheld == nil {
		out.Withheld = []string{}
	}
	for _, a := range k.Files() {
		v := apiAttachment{ID: a.ID, Field: a.FieldID, MediaType: a.MediaType, Size: a.Size, Withheld: a.Withheld, Name: a.Name}
		if !a.Withheld {
			v.SHA256 = hex.EncodeToString(a.SHA256)
		}
		out.Attachments = append(out.Attachments, v)
	}
	return c.JSON(out)
}

// apiListEvents answers GET /api/v1/submissions/:id/events.
func (s *Server) apiListEvents(c *fiber.Ctx) error {
	k, err := s.apiCase(c)
	if err != nil {
		return err
	}
	events := k.Events()
	out := apiEventList{Data: make([]apiEvent, 0, len(events))}
	for _, ev := range events {
		author := ev.StaffName
		if ev.TokenName != "" {
			author = ev.TokenName
		}
		out.Data = append(out.Data, apiEvent{
			ID: ev.ID, Kind: ev.Kind, Status: ev.Status, Message: ev.Message, At: ev.At, Internal: ev.Internal,
			RequestFiles: ev.RequestFiles, Author: author, Confidential: ev.Confidential,
		})
	}
	return c.JSON(out)
}

// apiAttachment answers GET /api/v1/submissions/:id/attachments/:file:
// the file decrypted, recorded in the audit log. A medical file without
// the medical:read scope is 404, as the case page hides it from
// caseworkers.
func (s *Server) apiAttachment(c *fiber.Ctx) error {
	return s.sendAttachment(c, tokenAccess(c))
}

// apiChangeStatus answers POST /api/v1/submissions/:id/status.
func (s *Server) apiChangeStatus(c *fiber.Ctx) error {
	t := tokenOf(c)
	id, err := caseID(c)
	if err != nil {
		return err
	}
	var req apiStatusChange
	dec := json.NewDecoder(bytes.NewReader(c.Body()))
	dec.DisallowUnknownFields()
	err = dec.Decode(&req)
	to, ok := domain.ParseStatus(req.Status)
	if err != nil || !ok || req.Version < 1 {
		return apiBadRequest("body: want {\"status\", \"version\"[, \"message\", \"request_files\"]}")
	}
	access := tokenAccess(c)
	err = s.inbox.Change(c.UserContext(), access, id, req.Version,
		inbox.Transition{To: to, Message: cleanText(req.Message), RequestFiles: req.RequestFiles})
	if err == nil && !t.Has(auth.ScopeSubmissionsRead) {
		return c.SendStatus(fiber.StatusNoContent) // a write-only token reads nothing back
	}
	if err != nil { // Invalid is 400 with the reason, Conflict 409
		return err
	}
	sub, err := s.inbox.Get(c.UserContext(), access, id)
	if err != nil {
		return err
	}
	row, err := s.inbox.Row(c.UserContext(), sub)
	if err != nil {
		return err
	}
	return c.JSON(apiSubmissionOf(row))
}
