package webhook_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gesundheitsamt/portal/internal/webhook"
)

func TestSignatures(t *testing.T) {
	secret := []byte("whsec_test")
	body := []byte(`{"event":"submission.created"}`)
	now := time.Unix(1_790_000_000, 0)
	sig := webhook.Sign(secret, now, body)
	for _, tc := range []struct {
		name   string
		secret []byte
		header string
		body   []byte
		at     time.Time
		want   bool
	}{
		{"as sent", secret, sig, body, now.Add(time.Minute), true},
		{"another body", secret, sig, []byte(`{"event":"submission.status_changed"}`), now, false},
		{"another secret", []byte("whsec_other"), sig, body, now, false},
		{"replayed an hour later", secret, sig, body, now.Add(time.Hour), false},
		{"another time claimed", secret, "t=1790000001," + sig[len("t=1790000000,"):], body, now, false},
		{"garbage", secret, "v1=abc", body, now, false},
	} {
		if got := webhook.Verify(tc.secret, tc.header, tc.body, tc.at, 5*time.Minute); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestPayloadCarriesOneSubject: a call about a submission has no
// appointment in its body, and one about an appointment no submission
// (and, having none in its type, nobody's name or address).
func TestPayloadCarriesOneSubject(t *testing.T) {
	for _, tc := range []struct {
		p          webhook.Payload
		has, lacks string
	}{
		{webhook.Payload{Event: webhook.EventCreated, Submission: webhook.PayloadSubmission{ID: 1, Reference: "LEJ-2026-0000-0000"}}, `"submission":`, `"appointment"`},
		{webhook.Payload{Event: webhook.EventAppointmentCancelled, Appointment: webhook.PayloadAppointment{ID: 2, State: "cancelled", CancelledBy: "office"}}, `"appointment":`, `"submission"`},
	} {
		b, err := json.Marshal(tc.p)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), tc.has) || strings.Contains(string(b), tc.lacks) {
			t.Errorf("%s: %s", tc.p.Event, b)
		}
	}
}
