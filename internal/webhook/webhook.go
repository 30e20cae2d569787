// Package webhook tells a Fachverfahren that a submission of its office
// arrived or changed, or that an appointment was booked or cancelled: a
// signed HTTP POST per event and subscribed webhook, delivered by River
// jobs that are inserted in the transaction of the change (nothing is
// sent for a change that rolled back, nothing is lost when the process
// dies after the commit) and retried with backoff.
//
// A call carries no personal data: the event, the submission's id,
// reference, service, status and version; or the appointment's id,
// calendar, service, times and state, never the name, address or
// telephone number of who booked it (the service alone may say something
// about their health). The receiver reads the rest through the API with
// its token.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/gesundheitsamt/portal/internal/crypto"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/store"
)

// The events a webhook may subscribe to.
const (
	EventCreated       = "submission.created"
	EventStatusChanged = "submission.status_changed"
	// EventAppointmentBooked: the citizen confirmed an appointment with
	// the link of its mail.
	EventAppointmentBooked = "appointment.booked"
	// EventAppointmentCancelled: the citizen or the office cancelled an
	// unconfirmed or booked appointment; its place is free.
	EventAppointmentCancelled = "appointment.cancelled"
	// EventAppointmentMoved: the citizen moved a booked appointment to
	// another time (or calendar); the call carries the new start.
	EventAppointmentMoved = "appointment.moved"
)

// Events are all events.
var Events = []string{EventCreated, EventStatusChanged, EventAppointmentBooked, EventAppointmentCancelled, EventAppointmentMoved}

// Payload is the JSON body of a call: the submission of a submission.*
// event, the appointment of an appointment.* one.
type Payload struct {
	ID          string             `json:"id"` // unique per event and webhook: receivers drop repeats by it
	Event       string             `json:"event"`
	OccurredAt  time.Time          `json:"occurred_at"`
	Submission  PayloadSubmission  `json:"submission,omitzero"`
	Appointment PayloadAppointment `json:"appointment,omitzero"`
}

// PayloadSubmission is what a call says about the submission.
type PayloadSubmission struct {
	ID        int64  `json:"id"`
	Reference string `json:"reference"`
	Service   string `json:"service"`
	Status    string `json:"status"`
	Version   int    `json:"version"`
}

// PayloadAppointment is what a call says about an appointment: no name,
// e-mail address or telephone number.
type PayloadAppointment struct {
	ID       int64           `json:"id"`
	Calendar PayloadCalendar `json:"calendar"`
	Service  string          `json:"service"`
	Start    time.Time       `json:"start"` // UTC
	End      time.Time       `json:"end"`
	State    string          `json:"state"` // booked, cancelled
	// CancelledBy is "citizen" or "office" (store.CancelledBy*); empty
	// while not cancelled.
	CancelledBy string `json:"cancelled_by,omitempty"`
}

// PayloadCalendar is the calendar an appointment is in.
type PayloadCalendar struct {
	ID   int64  `json:"id"`
	Slug string `json:"slug"`
	Name string `json:"name"`
	Kind string `json:"kind"` // onsite, video
}

// Args are a delivery job's arguments: the webhook and the body, fixed
// when the event happened.
type Args struct {
	WebhookID int64 `json:"webhook_id" river:"unique"`
	// EventID is Payload.ID: the event and the submission's version. With
	// the webhook it makes the job unique (the body's time does not).
	EventID string          `json:"event_id" river:"unique"`
	Body    json.RawMessage `json:"body"`
}

// Kind names the job kind in River.
func (Args) Kind() string { return "webhook.deliver" }

// MaxAttempts is how often a delivery is tried: with the backoff of
// Worker.NextRetry, for about two days.
const MaxAttempts = 15

// Notifier enqueues the deliveries of case events. The zero value is not
// usable; make one with NewNotifier.
type Notifier struct {
	client *river.Client[pgx.Tx]
}

// NewNotifier returns a Notifier inserting jobs through client (which may
// be insert-only).
func NewNotifier(client *river.Client[pgx.Tx]) *Notifier { return &Notifier{client: client} }

// Submitted enqueues submission.created for every webhook of sub's office,
// in tx.
func (n *Notifier) Submitted(ctx context.Context, tx pgx.Tx, sub store.Submission) error {
	return n.enqueue(ctx, tx, EventCreated, sub)
}

// StatusChanged enqueues submission.status_changed, in tx.
func (n *Notifier) StatusChanged(ctx context.Context, tx pgx.Tx, sub store.Submission) error {
	return n.enqueue(ctx, tx, EventStatusChanged, sub)
}

// Answered enqueues submission.status_changed: for the Fachverfahren the
// citizen's answer is a status change like any other.
func (n *Notifier) Answered(ctx context.Context, tx pgx.Tx, sub store.Submission) error {
	return n.enqueue(ctx, tx, EventStatusChanged, sub)
}

// Appointment enqueues event (EventAppointmentBooked,
// EventAppointmentCancelled or EventAppointmentMoved) about booking id of office officeID for
// every webhook of the office subscribed to it, in tx: the transaction
// of the change, after it, so the call says what the change made. The
// booking is read only when a webhook is subscribed. Errors: NotFound
// (no such booking of the office), Invalid (another event).
func (n *Notifier) Appointment(ctx context.Context, tx pgx.Tx, event string, officeID, id int64) error {
	if event != EventAppointmentBooked && event != EventAppointmentCancelled && event != EventAppointmentMoved {
		return fault.Wrap(fault.Invalid, "webhook: appointment", fmt.Errorf("event %q", event))
	}
	hooks, err := subscribed(ctx, tx, officeID, event)
	if err != nil || len(hooks) == 0 {
		return err
	}
	b, err := store.GetBooking(ctx, tx, officeID, id)
	if err != nil {
		return err
	}
	a := PayloadAppointment{
		ID:       b.ID,
		Calendar: PayloadCalendar{ID: b.Calendar.ID, Slug: b.Calendar.Slug, Name: b.Calendar.Name, Kind: b.Calendar.Kind},
		Service:  b.Service, Start: b.Start.UTC(), End: b.End().UTC(), State: b.State, CancelledBy: b.CancelledBy,
	}
	return n.insert(ctx, tx, event, hooks, func(p *Payload, h int64) {
		// A booking is booked once and cancelled once; its sequence
		// tells the two apart from any later event.
		p.ID, p.Appointment = fmt.Sprintf("%s.%d.%d.%d", event, b.ID, b.Sequence, h), a
	})
}

func (n *Notifier) enqueue(ctx context.Context, tx pgx.Tx, event string, sub store.Submission) error {
	var hooks []int64
	if event == EventCreated && sub.CreatedHooks != nil {
		hooks = sub.CreatedHooks // read with the insert: one round trip less per submission
	} else {
		var err error
		if hooks, err = subscribed(ctx, tx, sub.OfficeID, event); err != nil {
			return err
		}
	}
	return n.insert(ctx, tx, event, hooks, func(p *Payload, h int64) {
		p.ID = fmt.Sprintf("%s.%d.%d.%d", event, sub.ID, sub.Version, h)
		p.Submission = PayloadSubmission{ID: sub.ID, Reference: sub.Reference, Service: sub.ServiceSlug, Status: string(sub.Status), Version: sub.Version}
	})
}

// subscribed returns the ids of the office's live webhooks subscribed to
// event.
func subscribed(ctx context.Context, tx pgx.Tx, officeID int64, event string) ([]int64, error) {
	list, err := store.ListWebhooks(ctx, tx, officeID, event)
	if err != nil {
		return nil, err
	}
	hooks := make([]int64, 0, len(list))
	for _, h := range list {
		hooks = append(hooks, h.ID)
	}
	return hooks, nil
}

// insert enqueues one delivery of event per webhook in hooks, in tx, with
// the body fill makes of the payload for each.
func (n *Notifier) insert(ctx context.Context, tx pgx.Tx, event string, hooks []int64, fill func(p *Payload, hook int64)) error {
	if len(hooks) == 0 {
		return nil
	}
	now := time.Now().UTC()
	params := make([]river.InsertManyParams, 0, len(hooks))
	for _, h := range hooks {
		p := Payload{Event: event, OccurredAt: now}
		fill(&p, h)
		body, err := json.Marshal(p)
		if err != nil {
			return err
		}
		params = append(params, river.InsertManyParams{
			Args: Args{WebhookID: h, EventID: p.ID, Body: body},
			// One delivery per event and webhook, however often the
			// enqueuing is retried.
			InsertOpts: &river.InsertOpts{MaxAttempts: MaxAttempts, UniqueOpts: river.UniqueOpts{ByArgs: true}},
		})
	}
	if _, err := n.client.InsertManyTx(ctx, tx, params); err != nil {
		return fmt.Errorf("webhook: enqueue %s: %w", event, err)
	}
	return nil
}

// Worker delivers calls.
type Worker struct {
	river.WorkerDefaults[Args]
	DB   *store.DB
	Box  *crypto.Box
	HTTP *http.Client
	// RetryBase is the first wait after a failure; each further one
	// doubles it, up to six hours (defaults to 30 s).
	RetryBase time.Duration
}

// deliveryTimeout bounds one call.
const deliveryTimeout = 10 * time.Second

// Timeout bounds a job run: one call and its bookkeeping.
func (w *Worker) Timeout(*river.Job[Args]) time.Duration { return deliveryTimeout + 5*time.Second }

// NextRetry waits RetryBase, twice as long after each further failure,
// at most six hours: 30 s, 1 min, 2 min, … then every six hours.
func (w *Worker) NextRetry(job *river.Job[Args]) time.Time {
	base := w.RetryBase
	if base == 0 {
		base = 30 * time.Second
	}
	wait := base << min(job.Attempt-1, 20)
	return time.Now().Add(min(wait, 6*time.Hour))
}

// Work sends one call. A webhook that was removed or disabled meanwhile
// is dropped; anything but a 2xx answer is an error, and River retries.
func (w *Worker) Work(ctx context.Context, job *river.Job[Args]) error {
	h, err := store.GetWebhook(ctx, w.DB, job.Args.WebhookID)
	if fault.KindOf(err) == fault.NotFound {
		return nil
	}
	if err != nil {
		return err
	}
	secret, err := w.Box.Open(h.Secret, SecretAAD(h.OfficeID))
	if err != nil {
		return river.JobCancel(fmt.Errorf("webhook %d: secret: %w", h.ID, err))
	}
	status, callErr := w.call(ctx, h, secret, job)
	errText := ""
	if callErr != nil {
		errText = callErr.Error()
	}
	if err := store.RecordDelivery(ctx, w.DB, h.ID, status, errText); err != nil {
		return errors.Join(callErr, err)
	}
	return callErr
}

func (w *Worker) call(ctx context.Context, h store.Webhook, secret []byte, job *river.Job[Args]) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, deliveryTimeout)
	defer cancel()
	now := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(job.Args.Body))
	if err != nil {
		return 0, river.JobCancel(err)
	}
	var p Payload
	_ = json.Unmarshal(job.Args.Body, &p)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Gesundheitsamt-Portal-Webhook/1")
	req.Header.Set("X-Portal-Event", p.Event)
	req.Header.Set("X-Portal-Delivery", strconv.FormatInt(job.ID, 10))
	req.Header.Set("X-Portal-Signature", Sign(secret, now, job.Args.Body))
	client := w.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	res, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may hold a token; the log and the row need not
		}
		return 0, fmt.Errorf("webhook %d: %w", h.ID, err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return res.StatusCode, fmt.Errorf("webhook %d: answered %d", h.ID, res.StatusCode)
	}
	return res.StatusCode, nil
}

// Sign returns the X-Portal-Signature of body sent at t: "t=<unix>,v1=<hex
// HMAC-SHA256 of "<unix>.<body>">". The time in the signed text lets a
// receiver refuse old calls replayed.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts + "."))
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a signature header against body with secret, refusing one
// older than maxAge. It is what a receiver does (and what the tests do).
func Verify(secret []byte, header string, body []byte, now time.Time, maxAge time.Duration) bool {
	var ts, sig string
	for _, part := range bytes.Split([]byte(header), []byte(",")) {
		k, v, _ := bytes.Cut(part, []byte("="))
		switch string(k) {
		case "t":
			ts = string(v)
		case "v1":
			sig = string(v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || now.Sub(time.Unix(sec, 0)) > maxAge {
		return false
	}
	want := Sign(secret, time.Unix(sec, 0), body)
	return hmac.Equal([]byte(want), []byte("t="+ts+",v1="+sig))
}

// SecretAAD binds a sealed webhook secret to its office.
func SecretAAD(officeID int64) []byte {
	return []byte("portal-webhook\x00" + strconv.FormatInt(officeID, 10))
}

// Add creates a webhook of office officeID for events at rawURL and
// returns its id and signing secret, which exists nowhere else afterwards.
// requireHTTPS refuses plain http (production). Errors: Invalid.
func Add(ctx context.Context, db *store.DB, box *crypto.Box, officeID int64, rawURL string, events []string, requireHTTPS bool) (int64, string, error) {
	const op = "webhook: add"
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && (u.Scheme != "http" || requireHTTPS)) {
		return 0, "", fault.Wrap(fault.Invalid, op, fmt.Errorf("url %q: want an absolute https URL", rawURL))
	}
	if len(events) == 0 {
		return 0, "", fault.Wrap(fault.Invalid, op, errors.New("no events"))
	}
	for _, e := range events {
		if !slices.Contains(Events, e) {
			return 0, "", fault.Wrap(fault.Invalid, op, fmt.Errorf("unknown event %q", e))
		}
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return 0, "", err
	}
	secret := "whsec_" + hex.EncodeToString(raw)
	sealed, err := box.Seal([]byte(secret), SecretAAD(officeID))
	if err != nil {
		return 0, "", err
	}
	id, err := store.InsertWebhook(ctx, db, store.Webhook{OfficeID: officeID, URL: u.String(), Secret: sealed, Events: events})
	return id, secret, err
}
