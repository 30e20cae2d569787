package portal_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gesundheitsamt/portal/internal/crypto"
	"github.com/gesundheitsamt/portal/internal/jobs"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/webhook"
)

// receiver is a Fachverfahren's webhook endpoint: it checks signatures,
// records calls, and fails the first call of chosen events with a 500.
type receiver struct {
	t      *testing.T
	secret []byte
	mu     sync.Mutex
	calls  []webhook.Payload
	bodies []string       // of the calls, as sent
	fails  map[string]int // event → calls to refuse first
	bad    int            // calls with a wrong signature
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if !webhook.Verify(r.secret, req.Header.Get("X-Portal-Signature"), body, time.Now(), 5*time.Minute) {
		r.bad++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var p webhook.Payload
	if err := json.Unmarshal(body, &p); err != nil || p.Event != req.Header.Get("X-Portal-Event") {
		r.bad++
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if r.fails[p.Event] > 0 {
		r.fails[p.Event]--
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	if strings.Contains(string(body), "Briain") || strings.Contains(string(body), "Zoë") {
		r.t.Errorf("a webhook call carries personal data: %s", body)
	}
	r.calls = append(r.calls, p)
	r.bodies = append(r.bodies, string(body))
	w.WriteHeader(http.StatusNoContent)
}

// wait returns the calls once there are n, or fails after a while.
func (r *receiver) wait(n int) []webhook.Payload {
	r.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		r.mu.Lock()
		if len(r.calls) >= n {
			out := append([]webhook.Payload(nil), r.calls...)
			r.mu.Unlock()
			return out
		}
		r.mu.Unlock()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.t.Fatalf("%d webhook calls after 30 s, want %d: %+v", len(r.calls), n, r.calls)
	return nil
}

func TestWebhooksAreSignedRetriedAndSentOncePerEvent(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	key := []byte("0123456789abcdef0123456789abcdef")
	box, err := crypto.NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	leipzig, err := store.GetOfficeBySlug(ctx, h.db, "leipzig")
	if err != nil {
		t.Fatal(err)
	}
	rec := &receiver{t: t, fails: map[string]int{webhook.EventStatusChanged: 1}}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	_, secret, err := webhook.Add(ctx, h.db, box, leipzig.ID, srv.URL+"/hook", webhook.Events, false)
	if err != nil {
		t.Fatal(err)
	}
	rec.secret = []byte(secret)
	if _, _, err := webhook.Add(ctx, h.db, box, leipzig.ID, "ftp://example.org/", webhook.Events, false); err == nil {
		t.Error("an ftp webhook was accepted")
	}
	if _, _, err := webhook.Add(ctx, h.db, box, leipzig.ID, "http://example.org/", webhook.Events, true); err == nil {
		t.Error("a plain http webhook was accepted in production")
	}

	client, err := jobs.New(h.db, key, slog.New(slog.DiscardHandler), jobs.Options{WebhookRetryBase: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = jobs.Stop(client, 5*time.Second) }()
	h.events.set(webhook.NewNotifier(client))

	// A submission at Leipzig is announced; one at Halle is not.
	id, _ := h.submitGutachten(t, "leipzig")
	h.submitGutachten(t, "halle")
	calls := rec.wait(1)
	if c := calls[0]; c.Event != webhook.EventCreated || c.Submission.ID != id || c.Submission.Status != "eingegangen" || !strings.HasPrefix(c.Submission.Reference, "LEJ-") {
		t.Errorf("created: %+v", c)
	}

	// A status change: the first call fails, the retry arrives.
	worker := h.logIn(t, "sb@leipzig.test", h.addStaff(t, "leipzig", "sb@leipzig.test", "caseworker", testTOTP))
	casePath := fmt.Sprintf("/staff/faelle/%d", id)
	worker.get(casePath)
	res, _ := worker.post(casePath+"/status", url.Values{"version": {"1"}, "status": {"in_bearbeitung"}})
	expectLocation(t, res, casePath+"?geaendert=1")
	// A change that is refused (an old version) announces nothing.
	worker.get(casePath)
	if res, _ := worker.post(casePath+"/status", url.Values{"version": {"1"}, "status": {"rueckfrage"}, "message": {"?"}}); res.StatusCode != http.StatusConflict {
		t.Fatalf("stale change: %d", res.StatusCode)
	}
	calls = rec.wait(2)
	if c := calls[1]; c.Event != webhook.EventStatusChanged || c.Submission.Status != "in_bearbeitung" || c.Submission.Version != 2 {
		t.Errorf("status changed: %+v", c)
	}

	// Told again of the same change (a retried transaction): no second call.
	sub, err := store.GetSubmission(ctx, h.db, leipzig.ID, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.db.InTx(ctx, func(tx pgx.Tx) error { return webhook.NewNotifier(client).StatusChanged(ctx, tx, sub) }); err != nil {
		t.Fatal(err)
	}

	// Nothing more comes, and nothing twice.
	time.Sleep(1500 * time.Millisecond)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.calls) != 2 || rec.bad != 0 || rec.fails[webhook.EventStatusChanged] != 0 {
		t.Errorf("calls %d (want 2), bad signatures %d, failures left %d", len(rec.calls), rec.bad, rec.fails[webhook.EventStatusChanged])
	}
	seen := map[string]bool{}
	for _, c := range rec.calls {
		if seen[c.ID] {
			t.Errorf("call %s delivered twice", c.ID)
		}
		seen[c.ID] = true
	}
	var status int
	if err := h.db.QueryRow(ctx, `SELECT last_status FROM webhook WHERE office_id = $1 AND url LIKE '%/hook'`, leipzig.ID).Scan(&status); err != nil || status != http.StatusNoContent {
		t.Errorf("last delivery recorded as %d (%v)", status, err)
	}
}
